"""The rank stage's modes: in-sample (the erm stage's model) and cross-fit (K fold models)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import molere.ranking
from molere import paths
from molere.draws import stream_seed
from molere.errors import MolereError
from molere.io import read_table, write_examples, write_json, write_table
from molere.params import Params
from molere.pipeline import declared_params
from molere.ranking import cross_fit_folds
from stages import erm, rank

SCENARIO = "clean"
SEED = 2  # its first ERM pass (the rank stream of seed 2) keeps a late, memorising epoch


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=4, max_size=80),
    folds=st.integers(2, 6),
    seed=st.integers(0, 2**16),
)
def test_folds_are_balanced_overall_and_per_class(labels, folds, seed):
    y = np.array(labels)
    folds = min(folds, len(y))
    fold = cross_fit_folds(y, folds, seed)
    sizes = np.bincount(fold, minlength=folds)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == len(y)
    for label in np.unique(y):
        per_class = np.bincount(fold[y == label], minlength=folds)
        assert per_class.max() - per_class.min() <= 1
    assert np.array_equal(fold, cross_fit_folds(y, folds, seed))


def test_folds_on_a_hand_made_example():
    fold = cross_fit_folds(np.array([0, 0, 0, 1, 1]), 2, seed=0)
    # class 0 is dealt to folds 0, 1, 0 and class 1 continues with 1, 0
    assert sorted(fold[:3]) == [0, 0, 1] and sorted(fold[3:]) == [0, 1]


@pytest.mark.parametrize("folds", [1, 0, 6])
def test_fold_count_outside_range(folds):
    with pytest.raises(MolereError, match=rf"rank.folds = {folds} is outside the allowed range \[2, 5\]"):
        cross_fit_folds(np.zeros(5, int), folds, seed=0)


def make_scenario(tmp_path, monkeypatch, labels: np.ndarray, x: np.ndarray) -> None:
    """A pool on disk in the prepare stage's format and seed SEED's labels (the corrupt stage's:
    here the clean ones), the working directory at `tmp_path`."""
    monkeypatch.chdir(tmp_path)
    n = len(labels)
    pool = pd.DataFrame(
        {
            "id": np.arange(n) * 7 + 3,
            "y": labels,
            "y_clean": labels,
            "is_noisy": np.zeros(n, bool),
            "in_selection": np.arange(n) % 4 == 0,
        }
    )
    write_examples(paths.pool(SCENARIO), pool, x)
    write_table(paths.labels(SCENARIO, SEED), pool.loc[~pool["in_selection"], ["id", "y"]])
    write_json(paths.info(SCENARIO), {"num_classes": int(labels.max()) + 1, "normalization": None})


def stage_params(mode: str, epochs: int = 2) -> Params:
    """The rank stage's declared params (so a key it reads undeclared fails here too)."""
    return declared_params(all_params(mode, epochs), "rank")


def all_params(mode: str, epochs: int = 2) -> Params:
    return Params(
        {
            "model": {"name": "mlp", "hidden": 64},
            "train": {"epochs": epochs, "batch_size": 16, "optimizer": "adam", "lr": 0.01, "schedule": "constant", "device": "cpu"},
            "rank": {"mode": mode, "folds": 3},
        }
    )


def blobs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.normal(0, 1, (n, 8)) + 2 * np.eye(3, 8)[y]).astype(np.float32)
    return y, x


def test_cross_fit_scores_each_example_with_a_model_that_never_saw_it(tmp_path, monkeypatch):
    y, x = blobs(60)
    make_scenario(tmp_path, monkeypatch, y, x)
    trained_on = []
    real_train_method = molere.ranking.train_method

    def recording(name, params, x, y, ids, val_mask, *args, **kwargs):
        trained_on.append(set(ids[~val_mask]))
        return real_train_method(name, params, x, y, ids, val_mask, *args, **kwargs)

    monkeypatch.setattr(molere.ranking, "train_method", recording)
    rank.run(stage_params("cross-fit"), SCENARIO, SEED)
    margins = read_table(paths.margins(SCENARIO, SEED))
    assert len(trained_on) == 3
    assert list(margins["id"]) == list(np.arange(60) * 7 + 3)
    for k, ids in enumerate(trained_on):
        scored = set(margins.loc[margins["fold"] == k, "id"])
        assert scored and not scored & ids and scored | ids == set(margins["id"])
    assert margins["margin"].between(-1, 1).all()
    assert set(margins.columns) == {"id", "y", "y_clean", "is_noisy", "in_selection", "fold", "margin", "pred"}


def test_cross_fit_does_not_find_memorised_random_labels_easy(tmp_path, monkeypatch):
    # labels independent of the features: in-sample, the examples the ERM model trained on (and
    # memorised) look easy; cross-fit sees them as they are, at chance
    rng = np.random.default_rng(1)
    y, x = rng.integers(0, 3, 90), rng.normal(0, 1, (90, 30)).astype(np.float32)
    make_scenario(tmp_path, monkeypatch, y, x)
    erm.run(declared_params(all_params("in-sample", epochs=20), "erm"), SCENARIO, SEED)
    rank.run(stage_params("in-sample", epochs=20), SCENARIO, SEED)
    in_sample = read_table(paths.margins(SCENARIO, SEED))
    rank.run(stage_params("cross-fit", epochs=20), SCENARIO, SEED)
    cross_fit = read_table(paths.margins(SCENARIO, SEED))
    trained = ~in_sample["in_selection"].to_numpy()
    assert "fold" not in in_sample
    assert in_sample["margin"][trained].mean() > 0.3  # 0.97 measured
    assert cross_fit["margin"][trained].mean() < 0.0  # -0.50 measured


def test_unknown_mode(tmp_path, monkeypatch):
    y, x = blobs(12)
    make_scenario(tmp_path, monkeypatch, y, x)
    with pytest.raises(MolereError, match="unknown rank.mode 'k-fold'; allowed: in-sample, cross-fit"):
        rank.run(stage_params("k-fold"), SCENARIO, SEED)


def test_cross_fit_takes_the_declared_folds_when_params_leave_them_out(tmp_path, monkeypatch):
    y, x = blobs(60)
    make_scenario(tmp_path, monkeypatch, y, x)
    params = all_params("cross-fit", epochs=1)
    del params.data["rank"]["folds"]  # the schema's default: 5
    rank.run(declared_params(params, "rank"), SCENARIO, SEED)
    margins = read_table(paths.margins(SCENARIO, SEED))
    expected = cross_fit_folds(margins["y"].to_numpy(), 5, stream_seed(SEED, "rank"))
    np.testing.assert_array_equal(margins["fold"].to_numpy(), expected)
    assert sorted(set(margins["fold"])) == [0, 1, 2, 3, 4]
