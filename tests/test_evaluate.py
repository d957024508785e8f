"""The evaluate stage on a fabricated study: fake runs written in the real file formats (as
stages/train.py writes them) into a temporary project directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from molere import paths
from molere.errors import MolereError
from molere.io import write_json, write_table
from molere.margins import prediction_table
from molere.params import Params
from molere.pipeline import declared_params
from molere.report.evaluation import TABLES
from molere.timings import write_timing
from stages import evaluate

NUM_CLASSES = 3
N_TEST = 60
N_OOD = 20  # per shift x severity
SHIFTS = ("blur", "noise")
SEVERITIES = (1, 2)
WEIGHT_LEARNERS = {"lrw-hard", "lrw-easy", "molere"}


def fake_predictions(rng: np.random.Generator, skill: float) -> pd.DataFrame:
    """Test and OOD predictions in train.py's layout; `skill` raises the true class's probability."""

    def block(n: int) -> pd.DataFrame:
        y = rng.integers(0, NUM_CLASSES, n)
        logits = rng.normal(size=(n, NUM_CLASSES))
        logits[np.arange(n), y] += skill
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return pd.DataFrame({"id": np.arange(n), "y": y}).assign(**prediction_table(probs, y))

    frames = [block(N_TEST).assign(set="test")]
    for shift in SHIFTS:
        for severity in SEVERITIES:
            frames.append(block(N_OOD).assign(shift=shift, severity=severity, set="ood"))
    return pd.concat(frames, ignore_index=True)


def write_run(out, method: str, trial: int, seed: int, rng: np.random.Generator, skill: float, select_acc: float) -> None:
    write_table(out / "predictions.parquet", fake_predictions(rng, skill))
    epochs = 3
    history = pd.DataFrame(
        {
            "epoch": range(epochs),
            "lr": 0.01,
            "train_loss": rng.uniform(0, 2, epochs),
            "train_acc": rng.uniform(0, 1, epochs),
        }
    )
    if method in WEIGHT_LEARNERS:
        history["meta_steps"] = 7
    write_table(out / "history.csv", history)
    learns = method in WEIGHT_LEARNERS
    n_train = 50
    weights = rng.uniform(0, 1, n_train) if learns else np.ones(n_train)
    noisy = rng.uniform(size=n_train) < 0.4
    margin = rng.uniform(-1, 1, n_train)
    write_table(
        out / "weights.parquet", pd.DataFrame({"id": np.arange(n_train), "weight": weights, "is_noisy": noisy, "margin": margin})
    )
    n_val = 10 if learns else 0  # the pool: the train side, then (methods that hold one out) a validation side
    validation = pd.DataFrame(
        {
            "id": np.arange(n_train + n_val),
            "y": np.r_[rng.integers(0, NUM_CLASSES, n_train), [0, 0, 0, 0, 1, 1, 1, 2, 2, 0][:n_val]],
            "is_noisy": np.r_[noisy, ([True] * 3 + [False] * 7)[:n_val]],
            "in_val": np.r_[np.zeros(n_train, bool), np.ones(n_val, bool)],
            "p_train": np.r_[np.ones(n_train), np.zeros(n_val)],
        }
    )
    write_table(out / "validation.parquet", validation)
    write_json(
        out / "metrics.json",
        {"method": method, "trial": trial, "seed": seed, "id_acc": 0.0, "ood_acc": 0.0, "select_acc": select_acc,
         "epochs": epochs, "learns_weights": learns},
    )
    write_json(out / "config.json", {"trial": trial, "seed": seed, "values": {"train.lr": 0.01 * (trial + 1)} if trial else {}})
    # the run's timing file, apart from its results: ERM 1 s per epoch with seed 0, 2 s with seed 1;
    # the others 3 s and 6 s
    per_epoch = {"erm": 1.0}.get(method, 3.0) * (1 + seed)
    write_timing(paths.timing(out), per_epoch * epochs, [per_epoch] * epochs, "a test machine")


SEARCH_SEED = 9  # the trials' seed: no replicate


def chosen_trial(m: int) -> int:
    """The trial the selection rule picks in the fabricated study: 1 for every other method."""
    return 1 if m % 2 == 0 else 0


def write_study(
    root, scenarios=("idn-40",), methods=("erm", "lrw-hard", "lrw-easy", "molere"), seeds=(0, 1), trials=(0, 1), search_seed=SEARCH_SEED
) -> Params:
    """A fabricated study in `root` (the current directory): params.yaml, data info and runs laid
    out as the pipeline lays them out: each method's trials on the search seed, its selected trial
    (`chosen_trial`, the best selection-split accuracy) on every replicate seed."""
    study = {"scenarios": list(scenarios), "methods": list(methods), "search_seed": search_seed, "seeds": list(seeds),
             "trials": list(trials), "selection": "selection"}
    (root / "params.yaml").write_text(yaml.safe_dump({"study": study}))
    for s, scenario in enumerate(scenarios):
        write_json(paths.info(scenario), {"num_classes": NUM_CLASSES, "noise_rate": 0.4, "pool_size": 50})
        for m, method in enumerate(methods):
            chosen = chosen_trial(m)
            for trial in trials:
                rng = np.random.default_rng([s, m, search_seed, trial])
                select_acc = 0.6 if trial == chosen else 0.5
                write_run(paths.trial_dir(scenario, method, trial), method, trial, search_seed, rng, 1.0 + m + trial, select_acc)
            for seed in seeds:
                rng = np.random.default_rng([s, m, seed, chosen])
                write_run(paths.run_dir(scenario, method, seed), method, chosen, seed, rng, 1.0 + m + chosen, 0.6)
    return Params.load(root / "params.yaml")


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return declared_params(write_study(tmp_path), "evaluate")


def headline_results(scenario: str = "idn-40", root: Path = Path()) -> pd.DataFrame:
    """The evaluation's rows of the runs the selection rule picked, one per method and replicate seed."""
    results = pd.read_parquet(root / paths.eval_dir(scenario) / "results.parquet")
    return results[results["selected_by_selection"] & (results["seed"] != SEARCH_SEED)].set_index(["method", "seed"])


def predictions(method: str, seed: int, scenario: str = "idn-40") -> pd.DataFrame:
    return pd.read_parquet(paths.run_dir(scenario, method, seed) / "predictions.parquet")


def test_results_match_the_predictions(study):
    evaluate.run(study, "idn-40")
    results = headline_results()
    assert list(results.index) == [(m, s) for m in ("erm", "lrw-hard", "lrw-easy", "molere") for s in (0, 1)]
    for (method, seed), row in results.iterrows():
        p = predictions(method, seed)
        test, ood = p[p["set"] == "test"], p[p["set"] == "ood"]
        assert row["id_acc"] == pytest.approx(test["correct"].mean())
        assert row["ood_acc"] == pytest.approx(ood.groupby(["shift", "severity"])["correct"].mean().mean())
        per_class = test.groupby("y")["correct"].mean()
        assert row["worst_class_acc"] == pytest.approx(per_class.min())


def test_noise_auc_only_for_weight_learners_and_oriented_low_weight_noisy(study):
    evaluate.run(study, "idn-40")
    results = headline_results()
    assert results.loc["erm", "noise_auc"].isna().all()
    weights = pd.read_parquet(paths.run_dir("idn-40", "lrw-hard", 1) / "weights.parquet")
    expected = roc_auc_score(weights["is_noisy"], 1 - weights["weight"])
    assert results.loc[("lrw-hard", 1), "noise_auc"] == pytest.approx(expected)


def test_every_run_has_a_row_and_each_rule_flags_its_pick(study):
    evaluate.run(study, "idn-40")
    results = pd.read_parquet(paths.eval_dir("idn-40") / "results.parquet")
    # two trials on the search seed and the selected trial on each replicate seed, per method
    assert sorted(zip(results["method"], results["trial"], results["seed"])) == sorted(
        (m, t, s)
        for i, m in enumerate(["erm", "lrw-hard", "lrw-easy", "molere"])
        for t, s in [(0, SEARCH_SEED), (1, SEARCH_SEED), (chosen_trial(i), 0), (chosen_trial(i), 1)]
    )
    for i, method in enumerate(["erm", "lrw-hard", "lrw-easy", "molere"]):
        mine = results[results["method"] == method].set_index(["trial", "seed"])
        assert mine["selected_by_selection"].to_dict() == {(t, s): t == chosen_trial(i) for t, s in mine.index}
        search = mine.xs(SEARCH_SEED, level="seed")
        oracle = int(search["id_acc"].idxmax())  # a tie cannot happen on these predictions
        assert mine["selected_by_oracle"].to_dict() == {(t, s): t == oracle for t, s in mine.index}
        assert mine.loc[(1, SEARCH_SEED), "values"] == '{"train.lr": 0.02}' and mine.loc[(0, SEARCH_SEED), "values"] == "{}"


def test_reweighting_diagnostics_exact(study):
    evaluate.run(study, "idn-40")
    results = headline_results()
    weights = pd.read_parquet(paths.run_dir("idn-40", "lrw-hard", 0) / "weights.parquet")
    w = weights["weight"] / weights["weight"].mean()
    row = results.loc[("lrw-hard", 0)]
    assert row["meta_steps"] == 3 * 7  # 7 a epoch, 3 epochs
    assert (row["weight_p05"], row["weight_p95"]) == pytest.approx((np.percentile(w, 5), np.percentile(w, 95)))
    assert row["weight_margin_corr"] == pytest.approx(w.corr(weights["margin"], method="spearman"))
    # the validation side: 3 of 10 mislabelled, 3 classes, class 0 holds 5 of 10
    assert (row["val_noisy_share"], row["val_classes"], row["val_top_class_share"]) == (0.3, 3, 0.5)
    # the pool the side was drawn from: its 50 train-side and 10 validation-side examples
    pool = pd.read_parquet(paths.run_dir("idn-40", "lrw-hard", 0) / "validation.parquet")["y"]
    assert len(pool) == 60 and row["pool_top_class_share"] == np.bincount(pool).max() / 60
    assert np.isnan(row["gap_stop_epoch"])
    erm = results.loc[("erm", 0)]  # no weights learnt, no meta steps: no diagnostics of weights
    assert erm[["meta_steps", "weight_p05", "weight_p95", "weight_margin_corr", "val_noisy_share"]].isna().all()
    table = pd.read_parquet(paths.eval_dir("idn-40") / "weights.parquet")
    assert set(table["method"]) == WEIGHT_LEARNERS and len(table) == 50 * len(WEIGHT_LEARNERS) * 2
    mine = table[(table["method"] == "lrw-hard") & (table["seed"] == 0)]
    np.testing.assert_allclose(mine["weight"], w)
    assert mine["is_noisy"].tolist() == weights["is_noisy"].tolist()


def test_the_gap_rules_epoch_is_the_first_it_fired(study):
    path = paths.run_dir("idn-40", "molere", 1) / "history.csv"
    history = pd.read_csv(path).assign(gap_stop_epoch=[np.nan, 1.0, 1.0])
    write_table(path, history)
    evaluate.run(study, "idn-40")
    results = headline_results()
    assert results.loc[("molere", 1), "gap_stop_epoch"] == 1.0 and np.isnan(results.loc[("molere", 0), "gap_stop_epoch"])


def test_the_evaluation_holds_no_timing_and_ignores_the_timing_files(study):
    evaluate.run(study, "idn-40")
    tables = {name: (paths.eval_dir("idn-40") / f"{name}.parquet").read_bytes() for name in TABLES}
    results = pd.read_parquet(paths.eval_dir("idn-40") / "results.parquet")
    history = pd.read_parquet(paths.eval_dir("idn-40") / "history.parquet")
    assert not {"seconds", "seconds_per_epoch", "overhead"} & (set(results.columns) | set(history.columns))
    write_timing(paths.timing(paths.trial_dir("idn-40", "erm", 0)), 99.0, [33.0] * 3, "another machine")
    evaluate.run(study, "idn-40")
    assert {name: (paths.eval_dir("idn-40") / f"{name}.parquet").read_bytes() for name in TABLES} == tables


def test_margins_are_keyed_for_pairing(study):
    evaluate.run(study, "idn-40")
    margins = pd.read_parquet(paths.eval_dir("idn-40") / "margins.parquet")
    per_run = N_TEST + N_OOD * len(SHIFTS) * len(SEVERITIES)
    assert len(margins) == 8 * per_run
    assert not margins.duplicated(["method", "seed", "set", "shift", "severity", "id"]).any()
    test = margins[margins["set"] == "test"]
    assert set(test["shift"]) == {""} and set(test["severity"]) == {0}
    p = predictions("molere", 0)
    mine = margins[(margins["method"] == "molere") & (margins["seed"] == 0)]
    np.testing.assert_allclose(mine["margin"].to_numpy(), p["margin"].to_numpy())


def test_tables_per_class_ood_history(study):
    evaluate.run(study, "idn-40")
    per_class = pd.read_parquet(paths.eval_dir("idn-40") / "per_class.parquet")
    assert len(per_class) == 8 * NUM_CLASSES
    assert per_class.groupby(["method", "seed"])["count"].sum().eq(N_TEST).all()
    ood = pd.read_parquet(paths.eval_dir("idn-40") / "ood.parquet")
    assert len(ood) == 8 * len(SHIFTS) * len(SEVERITIES)
    history = pd.read_parquet(paths.eval_dir("idn-40") / "history.parquet")
    assert len(history) == 8 * 3 and {"method", "seed", "epoch", "train_loss", "lr"} <= set(history.columns)


RUN_FILES = ["metrics.json", "predictions.parquet", "history.csv", "weights.parquet", "validation.parquet", "config.json"]


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_missing_run_file_is_named(study, name):
    path = paths.run_dir("idn-40", "lrw-easy", 1) / name
    path.unlink()
    with pytest.raises(MolereError, match=f"missing input artifact {path}") as err:
        evaluate.run(study, "idn-40")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_corrupt_run_file_is_named(study, name):
    path = paths.trial_dir("idn-40", "molere", 0) / name
    path.write_bytes(b"\x00garbage" if name != "history.csv" else b"")
    with pytest.raises(MolereError, match=f"corrupt .*{path}") as err:
        evaluate.run(study, "idn-40")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "name, damage, problem",
    [
        ("predictions.parquet", lambda f: f.drop(columns=["margin"]), "lacks the columns margin"),
        ("predictions.parquet", lambda f: f[f["set"] == "ood"], "has no test rows"),
        ("weights.parquet", lambda f: f.iloc[:0], "has no rows"),
        ("history.csv", lambda f: f.drop(columns=["train_loss"]), "lacks the columns train_loss"),
        ("validation.parquet", lambda f: f.drop(columns=["in_val"]), "lacks the columns in_val"),
    ],
)
def test_a_table_missing_content_is_named(study, name, damage, problem):
    path = paths.run_dir("idn-40", "erm", 1) / name
    frame = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
    write_table(path, damage(frame))
    with pytest.raises(MolereError, match=f"corrupt file {path}: it {problem}; re-run `molere-bench stage replicate --scenario idn-40 --method erm --seed 1`"):
        evaluate.run(study, "idn-40")


def test_metrics_json_missing_a_key_is_named(study):
    path = paths.trial_dir("idn-40", "erm", 0) / "metrics.json"
    metrics = json.loads(path.read_text())
    del metrics["epochs"]
    path.write_text(json.dumps(metrics))
    with pytest.raises(MolereError, match=f"corrupt file {path}: it lacks the keys epochs"):
        evaluate.run(study, "idn-40")
