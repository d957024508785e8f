import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molere.errors import MolereError
from molere.valsets import heuristic_valsets, validation_size


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


def test_stratified_keeps_every_class():
    y = np.array([0] * 10 + [1] * 10)
    margin = np.concatenate([np.linspace(-1, 0, 10), np.linspace(0.1, 1, 10)])
    plain = heuristic_valsets(np.arange(20), margin, y, 0.2, seed=0)
    stratified = heuristic_valsets(np.arange(20), margin, y, 0.2, seed=0, stratified=True)
    assert set(y[plain["hard"]]) == {0}
    assert y[stratified["hard"]].tolist() == [0, 0, 1, 1]
    assert np.flatnonzero(stratified["hard"]).tolist() == [0, 1, 10, 11]


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
