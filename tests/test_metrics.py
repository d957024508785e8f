"""molere.metrics on hand-made inputs with exact answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from molere.metrics import (
    MARGIN_BUCKET_EDGES,
    accuracy_by,
    bucket_statistics,
    expected_calibration_error,
    histogram,
    noise_auc,
    paired_delta,
    per_class_accuracy,
    spanning_edges,
    worst_class_accuracy,
    worst_group_accuracy,
)


def test_per_class_and_worst_class_accuracy():
    y = np.array([0, 0, 1, 1, 1, 3])
    correct = np.array([True, False, True, True, False, True])
    np.testing.assert_allclose(per_class_accuracy(y, correct, 4), [0.5, 2 / 3, np.nan, 1.0])
    assert worst_class_accuracy(y, correct, 4) == 0.5  # class 2 has no example: not counted


def test_worst_group_accuracy_exact():
    # Waterbirds-style groups (bird, background): 3/4, 1/3, 2/2 and 1/2 right
    groups = np.array(["land/land"] * 4 + ["land/water"] * 3 + ["water/water"] * 2 + ["water/land"] * 2)
    correct = np.array([1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0], dtype=bool)
    assert worst_group_accuracy(groups, correct) == ("land/water", 1 / 3)
    assert worst_group_accuracy(np.array([2, 2, 7, 7]), np.array([True, False, False, True])) == (2, 0.5)  # a tie: the first
    with pytest.raises(ValueError, match="no example"):
        worst_group_accuracy(np.array([]), np.array([], dtype=bool))


def test_accuracy_by_groups():
    frame = pd.DataFrame({"shift": list("aabb"), "severity": [1, 1, 1, 2], "correct": [True, False, True, True]})
    by = accuracy_by(frame, ["shift", "severity"]).to_dict("list")
    assert by == {"shift": ["a", "b", "b"], "severity": [1, 1, 2], "acc": [0.5, 1.0, 1.0]}


def test_ece_exact():
    # bin (0.8, 0.867]: confidence 0.85 twice, one hit -> |0.5 - 0.85| * 2/4
    # bin (0.533, 0.6]: confidence 0.55 twice, two hits -> |1 - 0.55| * 2/4
    ece = expected_calibration_error(np.array([0.85, 0.85, 0.55, 0.55]), np.array([1, 0, 1, 1]))
    assert ece == pytest.approx(0.35 / 2 + 0.45 / 2)


def test_ece_zero_when_calibrated_and_one_when_always_wrong_with_certainty():
    assert expected_calibration_error(np.array([0.7] * 10), np.array([1] * 7 + [0] * 3)) == pytest.approx(0.0)
    assert expected_calibration_error(np.ones(5), np.zeros(5)) == pytest.approx(1.0)


def test_ece_pools_examples_of_one_bin_only():
    # 0.61 and 0.99 fall in different bins of 15: errors do not cancel across bins
    ece = expected_calibration_error(np.array([0.61, 0.99]), np.array([1, 0]))
    assert ece == pytest.approx((0.39 + 0.99) / 2)


def test_noise_auc_orientation_low_weight_means_noisy():
    noisy = np.array([True, True, False, False])
    assert noise_auc(np.array([0.1, 0.2, 0.8, 0.9]), noisy) == 1.0
    assert noise_auc(np.array([0.9, 0.8, 0.2, 0.1]), noisy) == 0.0
    assert noise_auc(np.ones(4), noisy) == 0.5  # methods that learn no weights: chance
    # one noisy example below both clean ones, the other tied with one of them: (1 + 1 + 1 + 0.5) / 4
    assert noise_auc(np.array([0.1, 0.5, 0.5, 0.9]), noisy) == 0.875


def test_noise_auc_undefined_without_both_kinds():
    assert np.isnan(noise_auc(np.array([0.1, 0.2]), np.array([False, False])))
    assert np.isnan(noise_auc(np.array([0.1, 0.2]), np.array([True, True])))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=2, max_size=40))
def test_noise_auc_is_roc_auc_of_one_minus_weight(pairs):
    weights = np.array([w for w, _ in pairs])
    noisy = np.array([n for _, n in pairs])
    if noisy.all() or not noisy.any():
        return
    # -w orders examples as 1 - w does, without the ties that rounding 1 - w creates near 0
    assert noise_auc(weights, noisy) == pytest.approx(roc_auc_score(noisy, -weights))


def test_paired_delta_matches_rows_by_key_not_by_order():
    base = pd.DataFrame({"seed": [0, 0, 1], "id": [0, 1, 0], "margin": [0.1, -0.2, 0.5]})
    method = pd.DataFrame({"seed": [1, 0, 0], "id": [0, 1, 0], "margin": [0.4, 0.3, 0.6]})
    delta = paired_delta(method, base, ["seed", "id"], "margin")
    assert delta[["seed", "id"]].values.tolist() == [[0, 0], [0, 1], [1, 0]]
    np.testing.assert_allclose(delta["base"], [0.1, -0.2, 0.5])
    np.testing.assert_allclose(delta["delta"], [0.5, 0.5, -0.1])


def test_paired_delta_refuses_unmatched_rows():
    base = pd.DataFrame({"id": [0, 1], "margin": [0.0, 0.0]})
    with pytest.raises(ValueError, match="1 rows match no row"):
        paired_delta(pd.DataFrame({"id": [0], "margin": [1.0]}), base, ["id"], "margin")
    with pytest.raises(ValueError):  # a duplicated example cannot be paired either
        paired_delta(pd.DataFrame({"id": [0, 0, 1], "margin": [1.0, 1.0, 1.0]}), base, ["id"], "margin")


def test_margin_buckets_are_the_papers():
    np.testing.assert_allclose((MARGIN_BUCKET_EDGES[:-1] + MARGIN_BUCKET_EDGES[1:]) / 2, np.arange(-0.9, 0.91, 0.2))


def test_bucket_statistics_exact():
    base = np.array([-0.95, -0.85, 0.1, 0.95, 1.0])
    delta = np.array([0.1, 0.3, -0.2, 0.5, 0.7])
    stats = bucket_statistics(base, delta).set_index("centre")
    assert stats["count"].tolist() == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]  # 1.0 falls in the last, closed bucket
    assert stats.loc[-0.9, "mean"] == pytest.approx(0.2)
    assert stats.loc[-0.9, "se"] == pytest.approx(np.std([0.1, 0.3], ddof=1) / np.sqrt(2))  # = 0.1
    assert stats.loc[0.1, "mean"] == pytest.approx(-0.2) and np.isnan(stats.loc[0.1, "se"])
    assert stats.loc[0.9, "mean"] == pytest.approx(0.6) and stats.loc[0.9, "se"] == pytest.approx(0.1)
    assert stats.loc[-0.7, ["mean", "se"]].isna().all()


def test_histogram_counts_every_value_once():
    values = np.array([-2.0, -0.05, 0.0, 0.05, 2.0])
    edges = spanning_edges(values)
    assert edges[0] == -2.0 and edges[-1] == 2.0 and len(edges) == 41
    counts = histogram(values, edges)
    assert counts["count"].sum() == 5
    assert counts.loc[counts["bin_lo"] == -2.0, "count"].item() == 1
    assert counts.loc[np.isclose(counts["bin_lo"], 0.0), "count"].item() == 2  # [0, 0.1) holds 0 and 0.05
    assert counts.loc[np.isclose(counts["bin_hi"], 2.0), "count"].item() == 1  # the last bin is closed


def test_spanning_edges_of_equal_values_are_not_empty():
    np.testing.assert_allclose(spanning_edges(np.array([0.3, 0.3]), bins=2), [0.25, 0.3, 0.35])
