import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molere import paths
from molere.errors import MolereError
from molere.io import read_table, write_table
from molere.valsets import HEURISTICS, heuristic_valsets, validation_size
from test_cli import ROOT, assert_one_line_error, edit_params, run_cli


def test_hard_easy_random_on_hand_made_margins():
    ids = np.array([10, 11, 12, 13, 14, 15, 16, 17, 18, 19])
    margin = np.array([0.9, -0.5, 0.1, 0.3, -0.9, 0.5, 0.0, 0.7, -0.1, 0.2])
    splits = heuristic_valsets(ids, margin, np.zeros(10, dtype=int), delta=0.2, seed=0)
    assert splits["id"].tolist() == ids.tolist()
    assert splits.loc[splits["hard"], "id"].tolist() == [11, 14]
    assert splits.loc[splits["easy"], "id"].tolist() == [10, 17]
    assert splits["random"].sum() == 2


def test_random_split_is_seeded():
    ids, margin, y = np.arange(50), np.linspace(-1, 1, 50), np.zeros(50, dtype=int)
    a = heuristic_valsets(ids, margin, y, 0.1, seed=3)["random"]
    b = heuristic_valsets(ids, margin, y, 0.1, seed=3)["random"]
    c = heuristic_valsets(ids, margin, y, 0.1, seed=4)["random"]
    assert a.equals(b) and not a.equals(c)


def test_stratified_by_default_and_the_unbalanced_option_gives_the_paper_sets():
    # class 0 holds every low margin: the pool-wide hard set is all class 0, the easy set all class 1
    y = np.array([0] * 10 + [1] * 10)
    margin = np.concatenate([np.linspace(-1, 0, 10), np.linspace(0.1, 1, 10)])
    plain = heuristic_valsets(np.arange(20), margin, y, 0.2, seed=0, stratified=False)
    assert np.flatnonzero(plain["hard"]).tolist() == [0, 1, 2, 3]
    assert np.flatnonzero(plain["easy"]).tolist() == [16, 17, 18, 19]
    # the old random set: one draw of k positions over the whole pool
    assert np.flatnonzero(plain["random"]).tolist() == sorted(np.random.default_rng(0).choice(20, size=4, replace=False))
    balanced = heuristic_valsets(np.arange(20), margin, y, 0.2, seed=0)
    assert np.flatnonzero(balanced["hard"]).tolist() == [0, 1, 10, 11]
    assert np.flatnonzero(balanced["easy"]).tolist() == [8, 9, 18, 19]
    assert y[balanced["random"]].tolist() == [0, 0, 1, 1]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(2, 30), min_size=1, max_size=4),  # each class's size: at least 2, so its share leaves it one
    st.floats(0.01, 0.5),
    st.integers(0, 2**32 - 1),
    st.data(),
)
def test_stratified_sets_hold_the_fraction_in_every_class(sizes, delta, seed, data):
    y = np.array(data.draw(st.permutations(np.repeat(np.arange(len(sizes)), sizes).tolist())))
    margin = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=len(y), max_size=len(y))))
    splits = heuristic_valsets(np.arange(len(y)), margin, y, delta, seed)
    for name in HEURISTICS:
        chosen = splits[name].to_numpy()
        for label in np.unique(y):
            mine = y == label
            assert chosen[mine].sum() == validation_size(mine.sum(), delta), (name, label)
            if name != "random":  # within the class, the chosen margins bound the rest
                score = margin if name == "hard" else -margin
                assert score[chosen & mine].max() <= score[~chosen & mine].min()


@pytest.mark.parametrize("sizes, delta, fragment", [([1, 9], 0.1, "class 0 has 1 example"), ([4, 3, 1], 0.5, "class 2 has 1 example")])
def test_a_class_too_small_for_its_share_is_an_error(sizes, delta, fragment):
    y = np.repeat(np.arange(len(sizes)), sizes)
    ids, margin = np.arange(len(y)), np.zeros(len(y))
    with pytest.raises(MolereError, match=f"^{fragment} in the pool, .* takes 1 of them, leaving none to train on; .* set valsets.stratified: false$"):
        heuristic_valsets(ids, margin, y, delta, seed=0)
    assert heuristic_valsets(ids, margin, y, delta, seed=0, stratified=False)["hard"].sum() == validation_size(len(y), delta)


def test_the_cli_refuses_a_class_too_small_and_writes_nothing(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    margins = tmp_path / paths.margins("clean", 1)
    margins.parent.mkdir(parents=True)
    y = np.r_[np.zeros(30, dtype=np.int64), [1]]  # class 1: one example, which a 10% share would take
    write_table(margins, pd.DataFrame({"id": np.arange(31), "y": y, "margin": np.linspace(-1, 1, 31), "in_selection": np.zeros(31, bool)}))
    result = run_cli(["stage", "valsets", "--scenario", "clean", "--seed", "1"], tmp_path)
    assert_one_line_error(result, "class 1 has 1 example in the pool", "fraction 0.1 within each class takes 1", "valsets.stratified: false")
    assert not (tmp_path / paths.valsets("clean", 1)).exists()
    again = run_cli(["stage", "valsets", "--scenario", "clean", "--seed", "1", "-S", "valsets.stratified=false"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / paths.valsets("clean", 1)).exists()


@settings(max_examples=50)
@given(st.lists(st.floats(-1, 1), min_size=5, max_size=80), st.floats(0.01, 0.5))
def test_hard_set_margins_bound_the_rest(margins, delta):
    margin = np.array(margins)
    splits = heuristic_valsets(np.arange(len(margin)), margin, np.zeros(len(margin), dtype=int), delta, seed=0)
    k = validation_size(len(margin), delta)
    for name in ("hard", "easy", "random"):
        assert splits[name].sum() == k
    hard, easy = splits["hard"].to_numpy(), splits["easy"].to_numpy()
    assert margin[hard].max() <= margin[~hard].min()
    assert margin[easy].min() >= margin[~easy].max()


@pytest.mark.parametrize("delta", [0.0, -0.1, 0.6])
def test_delta_outside_range_is_an_error(delta):
    with pytest.raises(MolereError, match=r"valsets.fraction = .* outside the allowed range \(0, 0.5\]"):
        validation_size(100, delta)


def test_the_stage_takes_the_declared_fraction_when_params_yaml_leaves_it_out(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    edit_params(tmp_path, "valsets.fraction", None)  # the schema's default: 0.1 of each class
    margins = tmp_path / paths.margins("clean", 1)
    margins.parent.mkdir(parents=True)
    ids = np.arange(40)  # two classes of 20, the margin rising with the id
    write_table(margins, pd.DataFrame({"id": ids, "y": ids % 2, "margin": np.linspace(-1, 1, 40), "in_selection": np.zeros(40, bool)}))
    result = run_cli(["stage", "valsets", "--scenario", "clean", "--seed", "1"], tmp_path)
    assert result.returncode == 0, result.stderr
    splits = read_table(tmp_path / paths.valsets("clean", 1)).set_index("id")
    assert list(splits.index[splits["hard"]]) == [0, 1, 2, 3]  # each class's two lowest margins
    assert list(splits.index[splits["easy"]]) == [36, 37, 38, 39]
    assert splits["random"].sum() == 4
