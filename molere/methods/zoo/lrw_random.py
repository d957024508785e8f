"""LRW-Random: learned reweighting whose validation set is a seeded random delta fraction of the
pool."""

from molere.methods import METHODS
from molere.methods.lrw import LRW


@METHODS.register("lrw-random")
class LRWRandom(LRW):
    validation = "random"
