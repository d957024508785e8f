"""Meta-Weight-Net (Shu et al. 2019): the weight of an example is an MLP of its loss alone,
1 -> 100 -> 1 with a sigmoid, learned by LRW's meta step (one-step lookahead, exact JVP
hypergradient) on a random validation set of the same size as LRW's. It is LRW with the
meta-network's inputs fixed to the loss, and its paper's settings."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from molere.hparams import hparam
from molere.meta_nets import MetaNet
from molere.methods import METHODS
from molere.methods.lrw import LRW, MetaStepConfig


@dataclass(frozen=True)
class MWNetConfig(MetaStepConfig):
    """The paper's public code: a meta step on every batch from the start, weights normalised per
    batch, the real step recomputed with the updated meta-network, Adam(1e-3, wd 1e-4) on it."""

    warmup: float = hparam(0.0, low=0, high=1)
    reuse_gradient: bool = hparam(False)
    hidden: int = hparam(100, low=1)  # 1 -> hidden -> 1


@METHODS.register("mwnet")
class MetaWeightNet(LRW):
    validation = "random"
    Config = MWNetConfig

    def make_meta_net(self) -> nn.Module:
        return MetaNet(("loss",), self.data.num_classes, self.config.hidden)
