"""Scenario names, and the prepare stage: a corrupted pool, untouched test and OOD sets."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from molere import paths
from molere.errors import MolereError
from molere.io import read_examples, read_table
from molere.params import Params
from molere.pipeline import declared_params
from molere.scenarios import Scenario, parse_scenario
from molere.scenarios.skew import long_tail_counts
from stages import corrupt, prepare
from stages.common import load_pool

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("clean", Scenario("clean")),
        ("idn-40", Scenario("idn-40", "idn", 0.4)),
        ("sym-20", Scenario("sym-20", "symmetric", 0.2)),
        ("pair-45", Scenario("pair-45", "pair", 0.45)),
        ("skew-50", Scenario("skew-50", imbalance=50.0)),
        ("idn-20+skew-10", Scenario("idn-20+skew-10", "idn", 0.2, 10.0)),
        ("skew-2.5+sym-10", Scenario("skew-2.5+sym-10", "symmetric", 0.1, 2.5)),
    ],
)
def test_scenario_names(name, expected):
    assert parse_scenario(name) == expected


@given(kind=st.sampled_from(["idn", "sym", "pair"]), pct=st.integers(0, 99), imbalance=st.integers(1, 1000))
def test_every_noise_and_skew_combination_parses(kind, pct, imbalance):
    scenario = parse_scenario(f"{kind}-{pct}+skew-{imbalance}")
    assert (scenario.noise_rate, scenario.imbalance) == (pct / 100, imbalance)


@pytest.mark.parametrize(
    "name, message",
    [
        ("idn-100", "scenario 'idn-100': noise rate 100% is outside the allowed range [0, 100)"),
        ("skew-0.5", "scenario 'skew-0.5': imbalance factor 0.5 is outside the allowed range [1, inf)"),
        ("gauss-20", "unknown scenario 'gauss-20'; allowed: clean, idn-<rate%>"),
        ("idn-20+sym-20", "unknown scenario 'idn-20+sym-20'; allowed:"),
    ],
)
def test_bad_scenarios_are_one_line_errors(name, message):
    with pytest.raises(MolereError) as err:
        parse_scenario(name)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


NUM_SAMPLES = 2000  # 80% pool, of which 20% the selection split: ~32 per class, enough for skew-4
TEST_SIZE = NUM_SAMPLES // 5
SEED = 1  # a replicate seed: its corrupt stage draws the training part's corruption


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The prepare stage of three scenarios of a small MNIST-1D, and one seed's corrupt stage of
    each, in a scratch directory."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["data"]["mnist1d"]["num_samples"] = NUM_SAMPLES
    data["ood"]["severities"] = [1, 5]
    work = tmp_path_factory.mktemp("prepare")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        for scenario in ["clean", "idn-40", "sym-30+skew-4"]:
            prepare.run(declared_params(Params(data), "prepare"), scenario)
            corrupt.run(declared_params(Params(data), "corrupt"), scenario, SEED)
    return work


def selection(pool):
    return pool[pool["in_selection"]]


def training(pool):
    return pool[~pool["in_selection"]]


def test_test_and_ood_labels_are_untouched(prepared):
    data = prepared / "data"
    for name in ["test", "ood"]:
        clean_meta, clean_x = read_examples(data / "clean" / f"{name}.parquet")
        assert (clean_meta["y"] == clean_meta["y_clean"]).all() and not clean_meta["is_noisy"].any()
        for scenario in ["idn-40", "sym-30+skew-4"]:
            meta, x = read_examples(data / scenario / f"{name}.parquet")
            assert meta.equals(clean_meta) and np.array_equal(x, clean_x)
    ood, _ = read_examples(data / "clean" / "ood.parquet")
    assert ood.groupby(["shift", "severity"]).size().tolist() == [TEST_SIZE] * 12  # 6 shifts x 2 severities
    assert (ood.groupby(["shift", "severity", "y"]).size() == TEST_SIZE // 10).all()  # balanced classes


def test_prepare_corrupts_the_selection_split_only(prepared):
    """prepare draws the selection split's corruption; the training part keeps its clean labels
    (and all its examples) for the corrupt stage."""
    clean, _ = read_examples(prepared / "data" / "clean" / "pool.parquet")
    for scenario in ["idn-40", "sym-30+skew-4"]:
        pool, _ = read_examples(prepared / "data" / scenario / "pool.parquet")
        assert selection(pool)["is_noisy"].any()
        assert (training(pool)["y"] == training(pool)["y_clean"]).all() and not training(pool)["is_noisy"].any()
        assert training(pool)["id"].tolist() == training(clean)["id"].tolist()


def test_info_records_the_realised_noise(prepared):
    """info.json: the selection split's realised noise (prepare's draw); the training part's is the
    seed's, in its labels.parquet (the corrupt stage's draw)."""
    info = json.loads((prepared / "data" / "idn-40" / "info.json").read_text())
    pool, _ = read_examples(prepared / "data" / "idn-40" / "pool.parquet")
    chosen = selection(pool)
    assert info["noise_rate"] == chosen["is_noisy"].mean() and abs(info["noise_rate"] - 0.4) < 0.1
    per_class = chosen.groupby("y_clean")["is_noisy"].mean().tolist()
    assert info["noise_rate_per_class"] == per_class
    assert info["class_counts"] == np.bincount(chosen["y_clean"], minlength=10).tolist()
    assert info["corruption"] == {"noise_kind": "idn", "target_noise_rate": 0.4, "imbalance": 1.0}
    assert {"dataset", "num_classes", "normalization", "pool_size"} <= set(info)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(prepared)
        seeded, _ = load_pool("idn-40", SEED)
    labels = read_table(prepared / paths.labels("idn-40", SEED))
    part = training(seeded)
    assert labels["id"].tolist() == part["id"].tolist() == training(pool)["id"].tolist()  # no skew: all kept
    assert abs(part["is_noisy"].mean() - 0.4) < 0.1 and part["is_noisy"].mean() != info["noise_rate"]
    assert (part["is_noisy"] == (labels["y"].to_numpy() != part["y_clean"].to_numpy())).all()
    assert selection(seeded).equals(chosen)  # the selection split is not redrawn


def test_skewed_pool_has_long_tail_counts(prepared):
    """Skew: the selection split's class counts (prepare, in info.json) and the training part's
    (the seed's labels.parquet) follow the long tail of the clean pool's smallest class."""
    info = json.loads((prepared / "data" / "sym-30+skew-4" / "info.json").read_text())
    clean, _ = read_examples(prepared / "data" / "clean" / "pool.parquet")
    pool, _ = read_examples(prepared / "data" / "sym-30+skew-4" / "pool.parquet")
    expected = long_tail_counts(np.bincount(selection(clean)["y_clean"]).min(), 4, 10).tolist()
    assert np.bincount(selection(pool)["y_clean"], minlength=10).tolist() == info["class_counts"] == expected
    assert info["pool_size"] == len(pool) == sum(expected) + len(training(clean))
    assert set(pool["id"]) <= set(clean["id"]) and (pool["is_noisy"] == (pool["y"] != pool["y_clean"])).all()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(prepared)
        seeded, _ = load_pool("sym-30+skew-4", SEED)
    part = training(seeded)
    expected = long_tail_counts(np.bincount(training(clean)["y_clean"]).min(), 4, 10).tolist()
    assert np.bincount(part["y_clean"], minlength=10).tolist() == expected
    assert set(part["id"]) <= set(training(clean)["id"]) and abs(part["is_noisy"].mean() - 0.3) < 0.1
    assert (part["is_noisy"] == (part["y"] != part["y_clean"])).all()
