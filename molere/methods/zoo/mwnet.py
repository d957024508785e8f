"""Meta-Weight-Net (Shu et al. 2019): the weight of an example is an MLP of its loss alone,
1 -> 100 -> 1 with a sigmoid, learned by LRW's meta step (one-step lookahead, exact JVP
hypergradient) on a random validation set of the same size as LRW's."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from molere.meta_nets import MetaNet
from molere.methods import METHODS
from molere.methods.lrw import LRW
from molere.params import Params
from molere.train.steps import cross_entropy
from molere.train.tensors import Batch

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
        # LRW's MLP head over a single input, the loss: no features, no label
        return MetaNet(nn.Identity(), 1, 0, self.config.get("hidden", int, 100), use_label=False)

    def raw_weights(self, batch: Batch) -> torch.Tensor:
        return self.meta_net(self.losses_at_theta(batch)[:, None])

    @torch.no_grad()
    def losses_at_theta(self, batch: Batch) -> torch.Tensor:
        """Per-example losses under the current classifier, in train mode like the step that
        follows, on cloned buffers so BatchNorm's running statistics move only in that step."""
        self.model.train()
        state = {**dict(self.model.named_parameters()), **{k: b.clone() for k, b in self.model.named_buffers()}}
        return cross_entropy(functional_call(self.model, state, (batch.x,)), batch.y)
