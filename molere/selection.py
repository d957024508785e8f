"""Model selection (docs/design.md, Protocol: search and model selection), pluggable after DomainBed's `model_selection.py`: a
rule picks, among one seed's trials of a method, the trial whose configuration counts. Rules see
a table with one row per trial (`trial`, `select_acc`: accuracy on the selection split, whose
labels are the observed ones, noisy when the pool is; `id_acc`: test accuracy) and return a trial
id. Ties go to the lowest trial id, so the defaults (trial 0) win a tie.

- `selection`: the best accuracy on the selection split: what a user could do; the headline.
- `oracle`: the best test accuracy: an upper bound on any rule, never a result.
"""

from __future__ import annotations

import pandas as pd

from molere.errors import MolereError
from molere.registry import Registry

RULES: Registry = Registry("selection rule")


@RULES.register("selection")
def best_on_selection_split(trials: pd.DataFrame) -> int:
    return best_trial(trials, "select_acc")


@RULES.register("oracle")
def best_on_test(trials: pd.DataFrame) -> int:
    return best_trial(trials, "id_acc")


def best_trial(trials: pd.DataFrame, column: str) -> int:
    """The trial with the highest `column`, the lowest trial id among ties."""
    if trials.empty:
        raise MolereError("no trials to select from")
    ordered = trials.sort_values("trial", kind="stable")
    return int(ordered.loc[ordered[column].idxmax(), "trial"])


def choose(rule: str, trials: pd.DataFrame) -> int:
    return RULES.get(rule)(trials)
