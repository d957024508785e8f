"""Meta-Weight-Net (Shu et al. 2019): the weight of an example is an MLP of its loss alone,
1 -> 100 -> 1 with a sigmoid, learned by LRW's meta step (one-step lookahead, exact JVP
hypergradient) on a random validation set of the same size as LRW's. It is LRW with the
meta-network's inputs fixed to the loss, and its paper's settings."""

from __future__ import annotations

from torch import nn

from molere.meta_nets import MetaNet
from molere.methods import METHODS
from molere.methods.lrw import LRW
from molere.params import Params

# the paper's public code: a meta step on every batch from the start, weights normalised per
# batch, the real step recomputed with the updated meta-network, Adam(1e-3, wd 1e-4) on it
PAPER_SETTINGS = {
    "q": 1,
    "warmup": 0.0,
    "normalize": True,
    "reuse_gradient": False,
    "meta_optimizer": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-4},
}


@METHODS.register("mwnet")
class MetaWeightNet(LRW):
    name = "mwnet"
    validation = "random"

    def __init__(self, model, optimizer, config: Params, data, seed: int):
        config = Params({**PAPER_SETTINGS, **config.data}, config.source, config.prefix)
        super().__init__(model, optimizer, config, data, seed)

    def make_meta_net(self) -> nn.Module:
        return MetaNet(("loss",), self.data.num_classes, self.config.get("hidden", int, 100))
