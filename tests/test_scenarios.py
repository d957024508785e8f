"""Scenario names, and the prepare stage: a corrupted pool, untouched test and OOD sets."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from molere.errors import MolereError
from molere.io import read_examples
from molere.fingerprint import declared_params
from molere.params import Params
from molere.scenarios import Scenario, parse_scenario
from molere.scenarios.skew import long_tail_counts
from stages import prepare

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


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The prepare stage of three scenarios of a small MNIST-1D, in a scratch directory."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["data"]["num_samples"] = 500
    data["ood"]["severities"] = [1, 5]
    work = tmp_path_factory.mktemp("prepare")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        for scenario in ["clean", "idn-40", "sym-30+skew-4"]:
            prepare.run(declared_params(Params(data), "prepare"), scenario)
    return work / "data"


def test_test_and_ood_labels_are_untouched(prepared):
    for name in ["test", "ood"]:
        clean_meta, clean_x = read_examples(prepared / "clean" / f"{name}.parquet")
        assert (clean_meta["y"] == clean_meta["y_clean"]).all() and not clean_meta["is_noisy"].any()
        for scenario in ["idn-40", "sym-30+skew-4"]:
            meta, x = read_examples(prepared / scenario / f"{name}.parquet")
            assert meta.equals(clean_meta) and np.array_equal(x, clean_x)
    ood, _ = read_examples(prepared / "clean" / "ood.parquet")
    assert ood.groupby(["shift", "severity"]).size().tolist() == [100] * 12  # 6 shifts x 2 severities
    assert (ood.groupby(["shift", "severity", "y"]).size() == 10).all()  # balanced classes


def test_info_records_the_realised_noise(prepared):
    info = json.loads((prepared / "idn-40" / "info.json").read_text())
    pool, _ = read_examples(prepared / "idn-40" / "pool.parquet")
    assert info["noise_rate"] == pool["is_noisy"].mean() and abs(info["noise_rate"] - 0.4) < 0.1
    per_class = pool.groupby("y_clean")["is_noisy"].mean().tolist()
    assert info["noise_rate_per_class"] == per_class
    assert info["corruption"] == {"noise_kind": "idn", "target_noise_rate": 0.4, "imbalance": 1.0}
    assert {"dataset", "num_classes", "normalization", "pool_size"} <= set(info)


def test_skewed_pool_has_long_tail_counts(prepared):
    info = json.loads((prepared / "sym-30+skew-4" / "info.json").read_text())
    clean, _ = read_examples(prepared / "clean" / "pool.parquet")
    pool, _ = read_examples(prepared / "sym-30+skew-4" / "pool.parquet")
    expected = long_tail_counts(np.bincount(clean["y_clean"]).min(), 4, 10).tolist()
    assert np.bincount(pool["y_clean"], minlength=10).tolist() == info["class_counts"] == expected
    assert info["pool_size"] == len(pool) == sum(expected)
    assert set(pool["id"]) <= set(clean["id"]) and (pool["is_noisy"] == (pool["y"] != pool["y_clean"])).all()
