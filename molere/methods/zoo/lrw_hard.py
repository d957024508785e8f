"""LRW-Hard: learned reweighting whose validation set is the delta fraction of the pool with the
lowest first-pass margins (the paper's proposal)."""

from molere.methods import METHODS
from molere.methods.lrw import LRW


@METHODS.register("lrw-hard")
class LRWHard(LRW):
    validation = "hard"
