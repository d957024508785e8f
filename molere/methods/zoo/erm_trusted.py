"""The trusted-ERM baselines (molere/scenarios/protocol.py): ERM on the whole pool, one heuristic
validation side included, with the labels that side carries: its clean labels in a trusted
scenario. Against them a method with a validation side is credited only with what it does beyond
the labels it was given (ERM given the 640 relabelled hard examples of idn-40 gains most of
LRW-Hard's lead over plain ERM, issue 28)."""

from molere.methods import METHODS
from molere.methods.base import Method


class ERMTrusted(Method):
    holds_out = False


@METHODS.register("erm-trusted-hard")
class ERMTrustedHard(ERMTrusted):
    validation = "hard"


@METHODS.register("erm-trusted-easy")
class ERMTrustedEasy(ERMTrusted):
    validation = "easy"


@METHODS.register("erm-trusted-random")
class ERMTrustedRandom(ERMTrusted):
    validation = "random"
