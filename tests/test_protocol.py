"""The protocol (docs/design.md, Protocol: search and model selection): selection rules on hand-made trial tables, trial draws,
and the select / replicate stages on a fabricated search."""

from __future__ import annotations

import pandas as pd
import pytest

from molere.errors import MolereError
from molere.methods import METHODS
from molere.params import Params
from molere.schema import trial_count
from molere.selection import RULES, choose
from molere.trials import check_search_section, method_spaces, trial_values, with_values


def trials(select, test) -> pd.DataFrame:
    return pd.DataFrame({"trial": range(len(select)), "select_acc": select, "id_acc": test})


def test_rules_pick_exactly():
    table = trials([0.70, 0.80, 0.75], [0.90, 0.60, 0.95])
    assert choose("selection", table) == 1
    assert choose("oracle", table) == 2
    assert RULES.names() == ["oracle", "selection"]


def test_ties_go_to_the_lowest_trial_whatever_the_row_order():
    table = trials([0.80, 0.70, 0.80, 0.80], [0.5, 0.9, 0.5, 0.9]).iloc[[3, 2, 1, 0]]
    assert choose("selection", table) == 0
    assert choose("oracle", table) == 1


def test_unknown_rule_is_a_one_line_error():
    with pytest.raises(MolereError, match="unknown selection rule 'latest'; allowed: oracle, selection"):
        choose("latest", trials([0.5], [0.5]))


@pytest.mark.parametrize(
    "value, message",
    [
        ([], "study.trials = [] should be 0, 1, ..., K-1 with K >= 1"),
        ([0, 2], "study.trials = [0, 2] should be 0, 1, ..., K-1"),
        ([1, 2], "study.trials = [1, 2] should be 0, 1, ..., K-1"),
        (4, "study.trials = 4 should be a list of trial ids, e.g. [0, 1, 2, 3] for K = 4"),
        ([0, "1"], "should be a list of trial ids"),
    ],
)
def test_bad_trial_lists(value, message):
    with pytest.raises(MolereError) as err:
        trial_count(value)
    assert message in str(err.value)


def test_trial_count():
    assert trial_count([0]) == 1 and trial_count([0, 1, 2, 3]) == 4


def study_params(**extra) -> Params:
    return Params({"train": {"lr": 0.02, "weight_decay": 0.0}, "methods": {}, "search": {}, **extra})


def test_trial_zero_is_the_defaults_and_the_others_are_reproducible_draws():
    focal = METHODS.get("focal")
    params = study_params()
    assert trial_values(params, focal, 0, study_seed=0) == {}
    first = trial_values(params, focal, 1, study_seed=0)
    assert list(first) == ["train.lr", "train.weight_decay", "methods.focal.gamma"]
    assert first == trial_values(params, focal, 1, study_seed=0)
    assert first != trial_values(params, focal, 2, study_seed=0)
    assert first != trial_values(params, focal, 1, study_seed=1)
    spaces = method_spaces(params, focal)
    for trial in range(1, 30):
        drawn = trial_values(params, focal, trial, study_seed=0)
        assert all(drawn[key] in spaces[key] for key in spaces)


def test_a_shared_key_takes_the_same_value_in_trial_k_for_every_method():
    # each key seeded by its name (DomainBed): train.* is shared, a method's own keys carry its name
    params = study_params()
    names = ["erm", "focal", "jtt", "lrw-hard", "molere"]
    trials = {k: {m: trial_values(params, METHODS.get(m), k, study_seed=0) for m in names} for k in (1, 2, 3)}
    for k, by_method in trials.items():
        for key in ("train.lr", "train.weight_decay"):
            assert len({values[key] for values in by_method.values()}) == 1, (k, key)
    assert len({trials[k]["erm"]["train.lr"] for k in trials}) == 3  # and it differs across trials
    hard, easy = (trial_values(params, METHODS.get(m), 1, study_seed=0) for m in ("lrw-hard", "lrw-easy"))
    assert hard["methods.lrw-hard.meta_optimizer.lr"] != easy["methods.lrw-easy.meta_optimizer.lr"]


def test_a_keys_draw_does_not_depend_on_the_other_keys_searched():
    fixed = {"train": {"weight_decay": {"distribution": "fixed"}}}
    focal = METHODS.get("focal")
    assert trial_values(study_params(search=fixed), focal, 2, 0) == {
        key: value for key, value in trial_values(study_params(), focal, 2, 0).items() if key != "train.weight_decay"
    }


def test_search_overrides_replace_a_distribution_and_fixed_removes_it():
    search = {"train": {"weight_decay": {"distribution": "fixed"}}, "methods": {"focal": {"gamma": {"distribution": "uniform", "low": 1, "high": 3}}}}
    drawn = trial_values(study_params(search=search), METHODS.get("focal"), 1, 0)
    assert list(drawn) == ["train.lr", "methods.focal.gamma"] and 1 <= drawn["methods.focal.gamma"] <= 3


def test_a_user_value_outside_its_space_is_refused_before_any_training():
    with pytest.raises(MolereError, match=r"train.lr = 0.5 is outside its own search space log-uniform\(0.001, 0.05\)"):
        trial_values(Params({"train": {"lr": 0.5}}), METHODS.get("erm"), 0, 0)


def test_the_search_section_holds_train_and_registered_methods_only():
    check_search_section({"train": {}, "methods": {"focal": {}}}, METHODS.names())
    with pytest.raises(MolereError, match="unknown params key 'search.trian'; did you mean 'search.train'?"):
        check_search_section({"trian": {}}, METHODS.names())
    with pytest.raises(MolereError, match="unknown params key 'search.methods.focall'"):
        check_search_section({"methods": {"focall": {}}}, METHODS.names())


def test_with_values_sets_dotted_keys_on_a_copy():
    params = study_params()
    changed = with_values(params, {"train.lr": 0.005, "methods.focal.gamma": 1.5})
    assert changed.get("train.lr", float) == 0.005 and changed.get("methods.focal.gamma", float) == 1.5
    assert params.get("train.lr", float) == 0.02 and params.get("methods", dict) == {}
