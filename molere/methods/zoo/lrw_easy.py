"""LRW-Easy: learned reweighting whose validation set is the delta fraction of the pool with the
highest first-pass margins (the paper's foil)."""

from molere.methods import METHODS
from molere.methods.lrw import LRW


@METHODS.register("lrw-easy")
class LRWEasy(LRW):
    validation = "easy"
