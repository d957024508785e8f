import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from molere.margins import prediction_table, probabilistic_margin


def test_margin_exact_values():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    y = np.array([0, 2, 1])
    np.testing.assert_allclose(probabilistic_margin(probs, y), [0.5, -0.2, -0.7])


def test_margin_of_a_tie_is_zero():
    assert probabilistic_margin(np.array([[0.5, 0.5]]), np.array([1]))[0] == 0.0


@given(arrays(np.float64, (6, 4), elements=st.floats(0.01, 1.0)), st.lists(st.integers(0, 3), min_size=6, max_size=6))
def test_margin_is_in_range_and_positive_iff_correct(raw, labels):
    probs = raw / raw.sum(axis=1, keepdims=True)
    y = np.array(labels)
    margin = probabilistic_margin(probs, y)
    assert np.all((margin >= -1) & (margin <= 1))
    strict_winner = margin > 0
    assert np.all(probs.argmax(1)[strict_winner] == y[strict_winner])


def test_prediction_table_columns():
    probs = np.array([[0.6, 0.4], [0.3, 0.7]])
    table = prediction_table(probs, np.array([0, 0]))
    assert table["pred"].tolist() == [0, 1]
    assert table["correct"].tolist() == [True, False]
    np.testing.assert_allclose(table["margin"], [0.2, -0.4])
    np.testing.assert_allclose(table["p1"], [0.4, 0.7])
