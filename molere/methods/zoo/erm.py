"""Empirical risk minimisation: plain cross-entropy on the whole pool."""

from molere.methods import METHODS
from molere.methods.base import Method


@METHODS.register("erm")
class ERM(Method):
    pass
