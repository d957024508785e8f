"""Label skew: long-tailed class counts, and skew composed with noise (skew first)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molere.errors import MolereError
from molere.scenarios import parse_scenario
from molere.scenarios.corrupt import corrupt_pool
from molere.scenarios.noise import add_label_noise
from molere.scenarios.skew import long_tail_counts, skew_positions


@pytest.mark.parametrize(
    "n_max, imbalance, num_classes, expected",
    [
        (400, 10, 2, [400, 40]),
        (1000, 100, 3, [1000, 100, 10]),
        (500, 1, 4, [500, 500, 500, 500]),
        (100, 8, 4, [100, 50, 25, 12]),  # 8^(-1/3) = 1/2 exactly; 12.5 floors to 12
        (380, 50, 10, [380, 246, 159, 103, 66, 43, 27, 18, 11, 7]),  # by 50-digit decimals
    ],
)
def test_long_tail_counts_on_hand_computed_cases(n_max, imbalance, num_classes, expected):
    assert long_tail_counts(n_max, imbalance, num_classes).tolist() == expected


def unbalanced_labels(seed, num_classes=10):
    rng = np.random.default_rng(seed)
    return rng.permutation(np.repeat(np.arange(num_classes), rng.integers(60, 90, num_classes)))


@given(seed=st.integers(0, 10_000), imbalance=st.floats(1.0, 50.0))
@settings(max_examples=40, deadline=None)
def test_kept_class_counts_follow_the_formula_with_the_smallest_class_as_head(seed, imbalance):
    y = unbalanced_labels(seed)
    n_max = np.bincount(y).min()
    keep = skew_positions(y, imbalance, 10, seed)
    expected = [int(np.floor(n_max * imbalance ** (-c / 9) + 1e-9)) for c in range(10)]
    assert np.bincount(y[keep], minlength=10).tolist() == expected
    assert np.all(np.diff(keep) > 0)  # sorted, no repeats


def test_the_same_seed_keeps_the_same_examples():
    y = unbalanced_labels(0)
    np.testing.assert_array_equal(skew_positions(y, 10, 10, 1), skew_positions(y, 10, 10, 1))
    assert not np.array_equal(skew_positions(y, 10, 10, 1), skew_positions(y, 10, 10, 2))


def test_skew_comes_first_then_noise_on_the_kept_examples():
    y = unbalanced_labels(3)
    x = np.random.default_rng(3).normal(size=(len(y), 5))
    keep, observed = corrupt_pool(y, x, parse_scenario("idn-20+skew-10"), 10, seed=4)
    np.testing.assert_array_equal(keep, corrupt_pool(y, x, parse_scenario("skew-10"), 10, seed=4)[0])
    np.testing.assert_array_equal(observed, add_label_noise(y[keep], x[keep], "idn", 0.2, 10, seed=4))
    assert (observed != y[keep]).any()


def test_clean_scenario_keeps_the_pool_as_it_is():
    y = unbalanced_labels(5)
    keep, observed = corrupt_pool(y, np.zeros((len(y), 2)), parse_scenario("clean"), 10, seed=0)
    np.testing.assert_array_equal(keep, np.arange(len(y)))
    np.testing.assert_array_equal(observed, y)


@pytest.mark.parametrize("imbalance", [0.5, 0.0, -3.0])
def test_an_imbalance_below_one_is_a_one_line_error(imbalance):
    with pytest.raises(MolereError) as err:
        long_tail_counts(100, imbalance, 10)
    assert str(err.value) == f"imbalance factor = {imbalance!r} is outside the allowed range [1, inf)"


def test_an_imbalance_that_empties_the_tail_class_names_the_limit():
    y = np.repeat(np.arange(3), 20)
    with pytest.raises(MolereError, match=r"imbalance factor = 40 leaves class 2 empty .* allowed: \[1, 20\]"):
        skew_positions(y, 40, 3, seed=0)
