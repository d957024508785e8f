"""Label noise: Xia et al.'s instance-dependent noise and the symmetric / pair controls."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax
from scipy.stats import truncnorm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score

from molere.errors import MolereError
from molere.scenarios.noise import NOISE_KINDS, add_label_noise, noise_summary


def pool(n, num_classes=10, dim=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_classes, n), rng.normal(size=(n, dim)).astype(np.float32)


def xia_reference(y, x, rate, num_classes, seed, sd=0.1):
    """The reference code's steps, one example at a time (float64 instead of its float32)."""
    np.random.seed(seed)
    flip_rate = truncnorm((0 - rate) / sd, (1 - rate) / sd, loc=rate, scale=sd).rvs(len(y))
    w = np.random.randn(num_classes, x.shape[1], num_classes)
    labels = []
    for i in range(len(y)):
        a = x[i].astype(np.float64) @ w[y[i]]
        a[y[i]] = -np.inf
        p = flip_rate[i] * softmax(a)
        p[y[i]] += 1 - flip_rate[i]
        labels.append(np.random.choice(num_classes, p=p))
    return np.array(labels)


@pytest.mark.parametrize("rate", [0.2, 0.45])
def test_idn_draws_the_same_labels_as_the_reference_code(rate):
    y, x = pool(400, num_classes=5, dim=7)
    ours = add_label_noise(y, x, "idn", rate, 5, seed=3)
    np.testing.assert_array_equal(ours, xia_reference(y, x, rate, 5, seed=3))


@pytest.mark.parametrize("rate", [0.2, 0.4])
def test_realised_idn_rate_is_within_003_of_the_target(rate):
    y, x = pool(20_000)
    noisy = add_label_noise(y, x, "idn", rate, 10, seed=0)
    assert abs((noisy != y).mean() - rate) < 0.03


@pytest.mark.parametrize("kind", ["symmetric", "pair"])
def test_every_drawn_flip_changes_the_class(kind):
    y, x = pool(5000)
    noisy = add_label_noise(y, x, kind, 0.3, 10, seed=7)
    flipped = np.random.default_rng(7).random(len(y)) < 0.3  # the generator's own flip draws
    np.testing.assert_array_equal(noisy != y, flipped)


def test_idn_flips_exactly_at_its_flip_rates():
    # a flip goes to another class (a[y] = -inf), so with q_i pinned at r the realised rate is r
    y, x = pool(20_000)
    noisy = add_label_noise(y, x, "idn", 0.5, 10, seed=1, sd=1e-6)
    assert abs((noisy != y).mean() - 0.5) < 4 * np.sqrt(0.25 / len(y))


def test_symmetric_targets_are_uniform_over_the_other_classes_and_pair_is_the_next_class():
    y, x = pool(40_000, num_classes=4)
    symmetric = add_label_noise(y, x, "symmetric", 0.5, 4, seed=0)
    steps = ((symmetric - y) % 4)[symmetric != y]
    assert np.allclose(np.bincount(steps, minlength=4)[1:] / len(steps), 1 / 3, atol=0.015)
    pair = add_label_noise(y, x, "pair", 0.5, 4, seed=0)
    assert set(((pair - y) % 4)[pair != y]) == {1}


@given(kind=st.sampled_from(NOISE_KINDS), seed=st.integers(0, 2**31 - 1), rate=st.floats(0.05, 0.95))
@settings(max_examples=30, deadline=None)
def test_same_seed_same_labels_other_seed_other_labels(kind, seed, rate):
    y, x = pool(500)
    first = add_label_noise(y, x, kind, rate, 10, seed)
    assert first.dtype == np.int64 and first.min() >= 0 and first.max() < 10
    np.testing.assert_array_equal(first, add_label_noise(y, x, kind, rate, 10, seed))
    assert not np.array_equal(first, add_label_noise(y, x, kind, rate, 10, seed + 1))


def test_zero_rate_keeps_every_label():
    y, x = pool(1000)
    for kind in NOISE_KINDS:
        np.testing.assert_array_equal(add_label_noise(y, x, kind, 0.0, 10, seed=0), y)


def flip_target_accuracy(kind):
    """Held-out accuracy of a linear model predicting where a flipped label of class 0 went."""
    y, x = pool(30_000, num_classes=5)
    noisy = add_label_noise(y, x, kind, 0.4, 5, seed=0)
    moved = (y == 0) & (noisy != 0)
    return cross_val_score(LogisticRegression(max_iter=500), x[moved], noisy[moved], cv=3).mean()


def test_where_idn_flips_to_depends_on_the_instance_and_symmetric_does_not():
    chance = 1 / 4  # four other classes
    assert flip_target_accuracy("idn") > chance + 0.3
    assert flip_target_accuracy("symmetric") < chance + 0.05


def test_whether_idn_flips_does_not_depend_on_the_instance():
    # Xia et al. draw each flip rate independently of x: is_noisy carries no signal about x
    y, x = pool(20_000)
    noisy = add_label_noise(y, x, "idn", 0.4, 10, seed=0) != y
    features = np.hstack([x, np.eye(10)[y]])
    model = LogisticRegression(max_iter=500).fit(features[:10_000], noisy[:10_000])
    auc = roc_auc_score(noisy[10_000:], model.predict_proba(features[10_000:])[:, 1])
    assert abs(auc - 0.5) < 0.03


def test_integer_images_are_scaled_to_unit_range():
    rng = np.random.default_rng(0)
    y, images = rng.integers(0, 3, 300), rng.integers(0, 256, (300, 2, 4, 4), dtype=np.uint8)
    scaled = images.reshape(300, -1) / 255.0
    from_images = add_label_noise(y, images, "idn", 0.3, 3, 5)
    np.testing.assert_array_equal(from_images, add_label_noise(y, scaled, "idn", 0.3, 3, 5))


@pytest.mark.parametrize(
    "kind, rate, message",
    [
        ("idn", 1.0, "noise rate = 1.0 is outside the allowed range [0, 1)"),
        ("symmetric", -0.1, "noise rate = -0.1 is outside the allowed range [0, 1)"),
        ("gaussian", 0.2, "unknown noise kind 'gaussian'; allowed: idn, pair, symmetric"),
    ],
)
def test_bad_input_is_a_one_line_error(kind, rate, message):
    y, x = pool(10)
    with pytest.raises(MolereError) as err:
        add_label_noise(y, x, kind, rate, 10, seed=0)
    assert str(err.value) == message


def test_noise_summary_on_a_hand_made_pool():
    summary = noise_summary(np.array([0, 0, 0, 0, 1, 1, 2]), np.array([0, 1, 2, 0, 1, 0, 2]), 4)
    assert summary == {
        "noise_rate": 3 / 7,
        "noise_rate_per_class": [0.5, 0.5, 0.0, None],
        "class_counts": [4, 2, 1, 0],
    }
