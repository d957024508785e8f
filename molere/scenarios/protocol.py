"""The validation-label protocol: which labels a method's validation side carries.

- observed (a bare scenario name): the pool's observed labels, noisy where the scenario is, all a
  user without a trusted set has;
- trusted (`<scenario>+trusted`): the validation side, and only it, carries the clean labels, as
  Meta-Weight-Net's and L2RW's small trusted meta sets do. The train side, the selection split and
  every id stay as they are under observed: both protocols of a corruption share its draws.

Under trusted a method with a validation side holds label information plain ERM lacks, so every
trusted scenario also trains the trusted-ERM baselines (`study.trusted_baselines`): ERM on the
pool with one validation side relabelled and inside its training set
(molere/methods/zoo/erm_trusted.py). The claims compare against the baseline that holds the same
labels as the method, where they compare against ERM (`LABEL_BASELINES`, molere/report/claims.py)."""

from __future__ import annotations

import numpy as np

from molere.scenarios import parse_scenario

# under trusted, the baseline that holds the same clean labels as the method: its own side's;
# MOLERE's learned side moves every epoch, and the hard side, of the same size (delta), is the one
# its splitter seeks
LABEL_BASELINES = {
    "lrw-hard": "erm-trusted-hard",
    "lrw-easy": "erm-trusted-easy",
    "molere": "erm-trusted-hard",
}


def carried_labels(y: np.ndarray, y_clean: np.ndarray, in_val: np.ndarray, trusted: bool) -> np.ndarray:
    """The labels a run sees: the observed `y`, except on the validation side `in_val` under the
    trusted protocol, where they are the clean ones."""
    return np.where(in_val, y_clean, y) if trusted else np.asarray(y)


def scenario_methods(methods: list[str], baselines: list[str], scenario: str) -> list[str]:
    """The methods `scenario` runs: the study's, and in a trusted scenario the baselines too."""
    return [*methods, *baselines] if parse_scenario(scenario).trusted else list(methods)
