"""LRW-Supplied: learned reweighting whose validation set is one the dataset supplies apart from
its pool, named by `methods.lrw-supplied.side`: a "naturally hard" set, as the paper's ImageNet-R /
ImageNet-A experiment uses (Camelyon17's OOD-validation hospital `ood_val`; an image folder's
`sides/<name>`). It trains on the pool's whole training part, like ERM, and its side carries the
dataset's own labels (the clean ones in a trusted scenario): a scenario's corruption draws only the
pool's (docs/datasets.md, "Supplied validation sides")."""

from dataclasses import dataclass

from molere.hparams import hparam
from molere.methods import METHODS
from molere.methods.base import SUPPLIED
from molere.methods.lrw import LRW, LRWConfig


@dataclass(frozen=True)
class LRWSuppliedConfig(LRWConfig):
    side: str | None = hparam(None)  # one of the sides the dataset supplies (the prepare stage's info.json: `sides`)


@METHODS.register("lrw-supplied")
class LRWSupplied(LRW):
    Config = LRWSuppliedConfig
    validation = SUPPLIED
