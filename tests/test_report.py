"""The report: aggregation over seeds with exact numbers on hand-made tables, then a fabricated
study run through evaluate + report whose figure data is checked against the runs' predictions."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from molere import paths
from molere.errors import MolereError
from molere.params import Params
from molere.pipeline import declared_params
from molere.report import aggregate, markdown
from molere.report.diagnostics import DIAGNOSTICS
from molere.timings import write_timing
from stages import evaluate, report
from test_evaluate import N_TEST, SEVERITIES, SHIFTS, headline_results, write_study

METHODS = ["erm", "lrw-hard", "lrw-easy", "molere"]
SCENARIO = "idn-40+skew-10"  # noisy and skewed: every part of the report applies
FIGURES = ("gain", "ood_severity", "margin_delta", "margin_buckets", "weights")


def hand_results() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": ["erm", "erm", "lrw-hard", "lrw-hard"],
            "seed": [0, 1, 1, 0],  # rows out of seed order: gains must pair by seed, not by row
            "id_acc": [0.80, 0.84, 0.87, 0.85],
            "ood_acc": [0.60, 0.70, 0.71, 0.65],
            "worst_class_acc": [0.5, 0.6, 0.7, 0.6],
            "ece": [0.1, 0.2, 0.1, 0.1],
            "noise_auc": [np.nan, np.nan, 0.7, 0.9],
            **{key: [np.nan] * 4 for key in DIAGNOSTICS},
            "meta_steps": [np.nan, np.nan, 600.0, 500.0],
        }
    )


def test_summary_mean_std_and_paired_gain():
    summary = aggregate.summarise(hand_results(), ["erm", "lrw-hard"])
    hard = summary.loc["lrw-hard"]
    assert hard["id_acc"] == pytest.approx(0.86)
    assert hard["id_acc_std"] == pytest.approx(np.sqrt(2) * 0.01)  # sample std of 0.85, 0.87
    assert hard["id_gain"] == pytest.approx(0.04)  # seed 0: +0.05, seed 1: +0.03
    assert hard["id_gain_std"] == pytest.approx(np.sqrt(2) * 0.01)
    assert hard["ood_gain"] == pytest.approx(0.03)  # +0.05, +0.01
    assert hard["worst_class_gain"] == pytest.approx(0.1)
    assert hard["noise_auc"] == pytest.approx(0.8) and hard["seeds"] == 2 and hard["meta_steps"] == 550
    erm = summary.loc["erm"]
    assert erm["id_gain"] == 0 and np.isnan(erm["noise_auc"])
    assert list(summary.index) == ["erm", "lrw-hard"]


def test_reweighting_sentences_name_mislabelled_sides_and_inert_weights():
    s = pd.DataFrame(
        {"val_noisy_share": [np.nan, 0.96, 0.41], "meta_steps": [np.nan, 600, 600], "weight_p05": [np.nan, 0.95, 0.1], "weight_p95": [np.nan, 1.04, 1.6]},
        index=["erm", "lrw-hard", "lrw-random"],
    )
    assert markdown.reweighting_sentences(s) == [
        "Mostly mislabelled validation sides (lrw-hard's 96%): doing well on them means fitting the noise.",
        "The learned weights of lrw-hard stay within 0.9–1.1 of their mean (5th–95th percentile): these runs barely reweight.",
    ]
    assert markdown.reweighting_sentences(s.drop(index="lrw-hard")) == []


def test_failure_sentences_name_the_methods_far_below_erm_with_a_reason():
    s = pd.DataFrame(
        {
            "id_acc": [0.80, 0.65, 0.12, 0.75, 0.60],
            "val_noisy_share": [np.nan, 0.96, np.nan, 0.4, np.nan],
            "noise_auc": [np.nan, 0.3, np.nan, 0.6, np.nan],
            "weight_p05": [np.nan, 0.5, np.nan, 0.5, np.nan],
        },
        index=["erm", "lrw-hard", "cvar-dro", "lrw-random", "l2rw"],
    )
    assert markdown.failure_sentences(s, num_classes=10) == [
        "**lrw-hard fails after selection**: 65.00% in distribution against ERM's 80.00% (chance 10%); "
        "its validation side is 96% mislabelled, so it learns to fit the noise.",
        "**cvar-dro fails after selection**: 12.00% in distribution against ERM's 80.00% (chance 10%); "
        "no recorded diagnostic explains it.",
        "**l2rw fails after selection**: 60.00% in distribution against ERM's 80.00% (chance 10%); "
        "no recorded diagnostic explains it.",
    ]  # lrw-random, 5 points below ERM, does not fail
    assert markdown.failure_sentences(s.drop(index="erm"), num_classes=10) == []


def test_summary_without_erm_has_no_gains():
    results = hand_results()
    summary = aggregate.summarise(results[results["method"] != "erm"], ["lrw-hard"])
    assert summary["id_gain"].isna().all()
    assert aggregate.gain_data(summary).empty


def test_metrics_json_nested_rounded_without_nan():
    metrics = aggregate.metrics_json(aggregate.summarise(hand_results(), ["erm", "lrw-hard"]))
    assert metrics["lrw-hard"]["id_acc"] == 0.86
    assert metrics["lrw-hard"]["id_acc_std"] == 0.0141
    assert metrics["lrw-hard"]["noise_auc"] == 0.8
    assert "noise_auc" not in metrics["erm"]
    assert set(metrics["erm"]) <= set(aggregate.METRIC_KEYS)
    json.dumps(metrics, allow_nan=False)


def test_gain_data_lists_every_non_baseline_method_in_and_out_of_distribution():
    data = aggregate.gain_data(aggregate.summarise(hand_results(), ["erm", "lrw-hard"]))
    assert data[["method", "where"]].values.tolist() == [["lrw-hard", "id"], ["lrw-hard", "ood"]]
    np.testing.assert_allclose(data["gain"], [0.04, 0.03])


def test_table_cells_bold_the_best_mean_unless_all_tie():
    summary = aggregate.summarise(hand_results(), ["erm", "lrw-hard"])
    assert markdown.accuracy_cells(summary, "id_acc") == ["82.00 ± 2.83", "**86.00 ± 1.41**"]
    assert markdown.cells(summary, "ece", scale=1, digits=3, best=min) == ["0.150 ± 0.071", "**0.100 ± 0.000**"]
    assert markdown.gain_cells(summary, "id_gain") == ["—", "+4.00 ± 1.41"]
    assert markdown.cells(summary, "noise_auc", scale=1, digits=3, best=max) == ["—", "0.800 ± 0.141"]
    tied = summary.assign(worst_class_acc=0.5, worst_class_acc_std=np.nan)
    assert markdown.accuracy_cells(tied, "worst_class_acc") == ["50.00", "50.00"]  # one seed: no ±; a tie: no bold


def test_paragraph_gives_the_paired_t_interval_of_the_gain():
    summary = aggregate.summarise(hand_results(), ["erm", "lrw-hard"])
    # gains +5 and +3 points: mean 4, std sqrt(2), t(0.975, 1 dof) = 12.706
    half = 12.7062 * np.sqrt(2) / np.sqrt(2)
    text = markdown.best_sentence(summary, "id_acc", "id_gain", "In distribution")
    assert text == (
        f"In distribution, **lrw-hard** is best at 86.00%, +4.00 points over ERM (95% t-interval over 2 seeds "
        f"{4 - half:+.2f} to {4 + half:+.2f}, so not a clear difference)."
    )


def hand_margins() -> pd.DataFrame:
    rows = []
    erm = {(0, 0): -0.85, (0, 1): 0.5, (1, 0): -0.95, (1, 1): 0.45}
    hard = {(0, 0): -0.55, (0, 1): 0.4, (1, 0): -0.8, (1, 1): 0.6}
    for method, margins in (("erm", erm), ("lrw-hard", hard)):
        for (seed, i), m in margins.items():
            run = {"method": method, "seed": seed, "id": i}
            rows.append({**run, "set": "test", "shift": "", "severity": 0, "margin": m})
            rows.append({**run, "set": "ood", "shift": "a", "severity": 1, "margin": 0.0})
    return pd.DataFrame(rows)


def test_paired_margin_delta_and_its_histogram():
    deltas = {"lrw-hard": aggregate.margin_deltas(hand_margins(), "lrw-hard", "here")}
    np.testing.assert_allclose(deltas["lrw-hard"]["delta"], [0.3, -0.1, 0.15, 0.15])  # ordered by seed, id
    data = aggregate.delta_histogram_data(deltas)
    assert data["count"].sum() == 4  # test examples x seeds; OOD rows are not part of it
    assert data["mean"].iloc[0] == pytest.approx(0.125) and data["median"].iloc[0] == pytest.approx(0.15)
    assert data["bin_lo"].iloc[0] == pytest.approx(-0.1) and data["bin_hi"].iloc[-1] == pytest.approx(0.3)
    assert len(data) == 40  # bins 0.01 wide over [-0.1, 0.3], 0.15 twice near [0.15, 0.16)
    assert data.loc[data["bin_lo"].between(0.135, 0.155), "count"].sum() == 2


def test_margin_bucket_gain_and_standard_error():
    deltas = {"lrw-hard": aggregate.margin_deltas(hand_margins(), "lrw-hard", "here")}
    data = aggregate.bucket_data(deltas).set_index("centre")
    assert data.loc[-0.9, "count"] == 2 and data.loc[-0.9, "gain"] == pytest.approx(0.225)
    assert data.loc[-0.9, "gain_se"] == pytest.approx(0.075)  # std(0.3, 0.15) / sqrt(2)
    assert data.loc[0.5, "count"] == 2 and data.loc[0.5, "gain"] == pytest.approx(0.025)
    assert data.loc[0.5, "gain_se"] == pytest.approx(0.125)  # std(-0.1, 0.15) / sqrt(2)
    assert data["count"].sum() == 4


def test_unpaired_margins_name_their_source():
    margins = hand_margins().drop(index=0)
    with pytest.raises(MolereError, match="evaluation/x/margins.parquet: the test margins of lrw-hard and erm do not"):
        aggregate.margin_deltas(margins, "lrw-hard", "evaluation/x/margins.parquet")


def test_learning_curves_mean_over_seeds_one_column_per_method():
    history = pd.DataFrame(
        {
            "method": ["erm", "erm", "erm", "erm", "jtt"],
            "seed": [0, 0, 1, 1, 0],
            "epoch": [0, 1, 0, 1, 0],
            "train_loss": [2.0, 1.0, 4.0, 3.0, 5.0],
        }
    )
    curves = aggregate.learning_curves(history, ["erm", "jtt", "focal"], "train_loss")
    assert list(curves.columns) == ["epoch", "erm", "jtt", "focal"]
    assert curves["erm"].tolist() == [3.0, 2.0]
    assert curves["jtt"].iloc[0] == 5.0 and np.isnan(curves["jtt"].iloc[1])  # an early-stopped run
    assert curves["focal"].isna().all()  # in the study, without runs of its own in this history


# --- a fabricated study through evaluate + report ---------------------------------------------


def run_study(root, report_too: bool = True, **study) -> Params:
    """Write a fabricated study into `root`, then run evaluate (and report) there."""
    cwd = os.getcwd()
    os.chdir(root)
    try:
        params = write_study(root, **study)
        for scenario in params.get("study.scenarios", list):
            evaluate.run(declared_params(params, "evaluate"), scenario)
        if report_too:
            report.run(declared_params(params, "report"))
        return params
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    run_study(root, scenarios=(SCENARIO,))
    return root


def run_predictions(root, method: str, seed: int, scenario: str = SCENARIO) -> pd.DataFrame:
    frame = pd.read_parquet(root / paths.run_dir(scenario, method, seed) / "predictions.parquet")
    return frame.assign(shift=frame["shift"].fillna(""), severity=frame["severity"].fillna(0))


def accuracy(root, method: str, seed: int, part: str) -> float:
    """A run's accuracy on its test or OOD predictions, straight from the file."""
    return run_predictions(root, method, seed).query("set == @part")["correct"].mean()


def figure_csv(root, name: str, scenario: str = SCENARIO) -> pd.DataFrame:
    return pd.read_csv(root / "reports" / "figures" / f"{scenario}_{name}.csv", keep_default_na=False, na_values=[""])


def test_metrics_json_is_nested_by_scenario_and_method(built):
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    assert set(metrics) == {SCENARIO} and set(metrics[SCENARIO]) == set(METHODS)
    hard, erm = (np.mean([accuracy(built, method, s, "test") for s in (0, 1)]) for method in ("lrw-hard", "erm"))
    assert metrics[SCENARIO]["lrw-hard"]["id_acc"] == round(hard, 4)
    assert metrics[SCENARIO]["lrw-hard"]["id_gain"] == pytest.approx(hard - erm, abs=1e-4)


def test_results_csv_has_one_row_per_scenario_method_trial_seed(built):
    results = pd.read_csv(built / "reports" / "results.csv")
    assert len(results) == len(METHODS) * 4  # trials 0 and 1 on the search seed, the selected one on seeds 0 and 1
    assert not results.duplicated(["scenario", "method", "trial", "seed"]).any()
    assert list(results.columns[:4]) == ["scenario", "method", "trial", "seed"]
    assert results.groupby("method")["selected_by_selection"].sum().eq(3).all()  # the search seed's pick too


def test_gain_figure_data_matches_predictions(built):
    data = figure_csv(built, "gain").set_index(["method", "where"])
    for method in METHODS[1:]:
        for where, part in (("id", "test"), ("ood", "ood")):  # OOD cells are equal-sized: one mean
            gains = [accuracy(built, method, s, part) - accuracy(built, "erm", s, part) for s in (0, 1)]
            assert data.loc[(method, where), "gain"] == pytest.approx(np.mean(gains))
            assert data.loc[(method, where), "gain_std"] == pytest.approx(np.std(gains, ddof=1))
    assert "erm" not in data.index.get_level_values("method")


def test_ood_severity_figure_data_matches_predictions(built):
    data = figure_csv(built, "ood_severity")
    assert len(data) == len(METHODS) * len(SHIFTS) * len(SEVERITIES)
    for row in data.itertuples():
        cell = "set == 'ood' and shift == @row.shift and severity == @row.severity"
        accs = [run_predictions(built, row.method, s).query(cell)["correct"].mean() for s in (0, 1)]
        assert row.acc == pytest.approx(np.mean(accs)) and row.acc_std == pytest.approx(np.std(accs, ddof=1))


def direct_deltas(root, method: str) -> pd.DataFrame:
    """Margin deltas against ERM computed straight from the predictions files."""
    frames = []
    for seed in (0, 1):
        mine = run_predictions(root, method, seed).query("set == 'test'").set_index("id")["margin"]
        base = run_predictions(root, "erm", seed).query("set == 'test'").set_index("id")["margin"]
        frames.append(pd.DataFrame({"seed": seed, "base": base, "delta": mine - base.loc[mine.index]}))
    return pd.concat(frames)


def test_margin_delta_figure_data_matches_predictions(built):
    data = figure_csv(built, "margin_delta")
    assert set(data["method"]) == {"lrw-hard", "molere"}
    for method, part in data.groupby("method"):
        deltas = direct_deltas(built, method)["delta"]
        assert part["count"].sum() == 2 * N_TEST
        assert part["mean"].iloc[0] == pytest.approx(deltas.mean())
        assert part["median"].iloc[0] == pytest.approx(deltas.median())
        edges = np.append(part["bin_lo"].to_numpy(), part["bin_hi"].iloc[-1])
        counts, _ = np.histogram(deltas, bins=edges)
        assert part["count"].tolist() == counts.tolist()
    every = pd.concat([direct_deltas(built, m)["delta"] for m in ("lrw-hard", "molere")])
    assert data["bin_lo"].min() == pytest.approx(every.min()) and data["bin_hi"].max() == pytest.approx(every.max())


def test_margin_bucket_figure_data_matches_predictions(built):
    data = figure_csv(built, "margin_buckets")
    assert set(data["method"]) == {"lrw-hard", "lrw-easy"}
    for method, part in data.groupby("method"):
        direct = direct_deltas(built, method)
        bucket = np.clip(np.floor((direct["base"] + 1) / 0.2).astype(int), 0, 9)
        grouped = direct.groupby(bucket)["delta"]
        counts = grouped.size().reindex(range(10), fill_value=0)
        assert part["count"].tolist() == counts.tolist()
        filled = part[part["count"] > 0]
        np.testing.assert_allclose(filled["gain"], grouped.mean().to_numpy())
        many = part["count"] > 1
        se = (grouped.std() / np.sqrt(grouped.size()))[counts > 1]
        np.testing.assert_allclose(part.loc[many, "gain_se"], se.to_numpy())


@pytest.mark.parametrize("name", FIGURES)
def test_every_png_opens_and_shows_data(built, name):
    image = imread(built / "reports" / "figures" / f"{SCENARIO}_{name}.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    rgb = image[..., :3].reshape(-1, 3)
    coloured = (rgb.max(axis=1) - rgb.min(axis=1)) > 0.2  # bars, lines: not white, grey or black
    assert coloured.mean() > 0.005
    packed = (rgb * 255).round().astype(np.int64) @ np.array([65536, 256, 1])
    assert len(np.unique(packed)) > 10


def test_weight_figure_data_matches_the_runs_weights(built):
    data = figure_csv(built, "weights")
    assert set(data["method"]) == {"lrw-hard", "molere"}  # mwnet is not in this study
    for (method, kind), part in data.groupby(["method", "kind"]):
        frames = [pd.read_parquet(built / paths.run_dir(SCENARIO, method, s) / "weights.parquet") for s in (0, 1)]
        weights = pd.concat([f.assign(weight=f["weight"] / f["weight"].mean()) for f in frames])
        mine = weights.loc[weights["is_noisy"] == (kind == "mislabelled"), "weight"]
        edges = np.append(part["bin_lo"].to_numpy(), part["bin_hi"].iloc[-1])
        assert part["count"].tolist() == np.histogram(mine, bins=edges)[0].tolist()
        assert part["share"].sum() == pytest.approx(1.0)


def test_reweighting_table_shows_the_diagnostics(built):
    text = (built / "reports" / "report.md").read_text()
    results = headline_results(SCENARIO, built).groupby("method").mean(numeric_only=True)
    hard = results.loc["lrw-hard"]
    assert "**Did reweighting happen?**" in text
    row = next(line for line in text.splitlines() if line.startswith("| lrw-hard | 21 |"))
    assert f"| {hard['weight_p05']:.2f}–{hard['weight_p95']:.2f} |" in row
    assert f"| {100 * hard['val_noisy_share']:.1f} | 3 (50%) | {100 * hard['pool_top_class_share']:.0f} |" in row
    assert 0 < hard["pool_top_class_share"] < 0.5  # the pool's largest class is a smaller share than the side's
    assert not any(line.startswith("| erm | —") for line in text.splitlines())  # erm learns nothing, holds nothing out


def test_report_md_embeds_every_figure_and_a_table_per_scenario(built):
    text = (built / "reports" / "report.md").read_text()
    assert f"## {SCENARIO}" in text
    for name in FIGURES:
        assert f"(figures/{SCENARIO}_{name}.png)" in text
    for method in METHODS:
        assert f"| {method} |" in text
    assert "**" in text and "noise AUC" in text
    assert "Per-class test accuracy" in text  # the scenario is skewed


def test_claims_are_judged_from_the_runs(built):
    comparisons = pd.read_csv(built / "reports" / "claim_comparisons.csv").set_index(["scenario", "comparison"])
    gaps = [accuracy(built, "lrw-easy", s, "test") - accuracy(built, "erm", s, "test") for s in (0, 1)]
    assert comparisons.loc[(SCENARIO, "lrw-easy − erm, in distribution"), "effect"] == pytest.approx(np.mean(gaps))
    deltas = direct_deltas(built, "lrw-hard")["delta"]
    assert comparisons.loc[(SCENARIO, "lrw-hard − erm test margin: mean"), "effect"] == pytest.approx(deltas.mean())
    # seeds are the unit: the mean over seeds of each seed's median delta
    median = comparisons.loc[(SCENARIO, "lrw-hard − erm test margin: median"), "effect"]
    per_seed = direct_deltas(built, "lrw-hard").groupby("seed")["delta"].median()
    assert median == pytest.approx(per_seed.mean()) and comparisons.loc[(SCENARIO, "lrw-hard − erm test margin: median"), "seeds"] == 2
    verdicts = json.loads((built / "reports" / "claims.json").read_text())[SCENARIO]
    assert verdicts["molere-beats-peers"]["verdict"] == "not run"  # the peers are not in this study
    assert verdicts["margin-shift"]["comparisons"] == 6 and verdicts["margin-shift"]["seeds"] == 2
    text = (built / "reports" / "report.md").read_text()
    assert text.split("\n## ")[1].startswith("The paper's claims") and "(figures/claims.png)" in text


def test_report_paragraph_names_the_best_method(built):
    summary = aggregate.summarise(headline_results(SCENARIO, built).reset_index(), METHODS)
    best = summary["id_acc"].idxmax()
    text = (built / "reports" / "report.md").read_text()
    assert f"In distribution, **{best}** is best at {100 * summary.loc[best, 'id_acc']:.2f}%" in text


def test_learning_curves_for_dvc_plots(built):
    curves = pd.read_csv(built / "reports" / "curves" / "train_loss" / f"{SCENARIO}.csv")
    assert list(curves.columns) == ["epoch", *METHODS]
    history = pd.read_csv(built / paths.run_dir(SCENARIO, "molere", 0) / "history.csv")
    other = pd.read_csv(built / paths.run_dir(SCENARIO, "molere", 1) / "history.csv")
    np.testing.assert_allclose(curves["molere"], (history["train_loss"] + other["train_loss"]) / 2)


def test_methods_absent_from_the_study_skip_their_figures_with_a_note(tmp_path):
    run_study(tmp_path, methods=("erm", "lrw-hard"))
    text = (tmp_path / "reports" / "report.md").read_text()
    figures = tmp_path / "reports" / "figures"
    assert set(pd.read_csv(figures / "idn-40_margin_buckets.csv")["method"]) == {"lrw-hard"}
    assert "*Not drawn: lrw-easy not in study.methods.*" in text
    assert "*Not drawn: molere not in study.methods.*" in text
    assert "Per-class test accuracy" not in text  # idn-40 is balanced


def test_a_study_without_erm_reports_without_gains(tmp_path):
    run_study(tmp_path, methods=("lrw-hard", "molere"))
    text = (tmp_path / "reports" / "report.md").read_text()
    assert "accuracy gain over ERM (mean over seeds, 95% t-interval paired by seed): skipped, needs erm" in text
    assert "margin gain over ERM by ERM-margin bucket: skipped, needs erm in study.methods to pair with" in text
    assert not any((tmp_path / "reports" / "figures").glob("*margin*"))
    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    assert "id_gain" not in metrics["idn-40"]["lrw-hard"]


def test_report_is_deterministic(tmp_path, monkeypatch):
    params = run_study(tmp_path, methods=("erm", "molere"))
    first = (tmp_path / "reports" / "report.md").read_text()
    monkeypatch.chdir(tmp_path)
    report.run(declared_params(params, "report"))
    assert (tmp_path / "reports" / "report.md").read_text() == first


# --- the cost: timing files apart from the results ------------------------------------------------


def test_cost_csv_has_each_runs_time_per_epoch_and_its_ratio_to_erm(built):
    costs = pd.read_csv(built / paths.COST_TABLE).set_index(["method", "seed"])
    assert len(costs) == len(METHODS) * 2 and set(costs["scenario"]) == {SCENARIO}
    # write_study: ERM 1 s and 2 s per epoch (mean 1.5); the others 3 s and 6 s
    assert costs["seconds_per_epoch"].to_dict() == {(m, s): (1 + s) * (1.0 if m == "erm" else 3.0) for m, s in costs.index}
    assert costs["overhead"].to_dict() == pytest.approx({(m, s): (1 + s) * (1.0 if m == "erm" else 3.0) / 1.5 for m, s in costs.index})
    assert set(costs["machine"]) == {"a test machine"}


def test_cost_md_is_linked_from_the_report_which_has_no_timing(built):
    cost_md = (built / paths.COST_REPORT).read_text()
    assert "| erm | 3 | 1.500 ± 0.707 | 1.00 ± 0.47 | 4.5 ± 2.1 |" in cost_md
    assert "| lrw-hard | 3 | 4.500 ± 2.121 | 3.00 ± 1.41 | 13.5 ± 6.4 |" in cost_md
    assert "The costliest per epoch is lrw-hard, at 3.00× ERM's time (4.500 s)." in cost_md
    assert "Measured on: a test machine." in cost_md and "No timing for" not in cost_md
    text = (built / "reports" / "report.md").read_text()
    assert "[cost.md](cost.md)" in text
    assert "s / epoch" not in text and "costliest" not in text
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    assert not {"seconds", "seconds_per_epoch", "overhead"} & set(metrics[SCENARIO]["erm"])
    assert "seconds" not in pd.read_csv(built / "reports" / "results.csv").columns


def test_other_timings_change_the_cost_files_only(tmp_path, monkeypatch):
    params = run_study(tmp_path, methods=("erm", "molere"))
    monkeypatch.chdir(tmp_path)
    reports = {p: p.read_bytes() for p in sorted(paths.REPORTS.rglob("*")) if p.is_file()}
    write_timing(paths.timing(paths.run_dir("idn-40", "molere", 1)), 60.0, [20.0] * 3, "a slower machine")
    paths.timing(paths.run_dir("idn-40", "erm", 0)).unlink()  # as after a stage restored from DVC's cache
    report.run(declared_params(params, "report"))
    changed = {p for p in reports if p.read_bytes() != reports[p]}
    assert changed == {paths.COST_REPORT, paths.COST_TABLE}
    cost_md = paths.COST_REPORT.read_text()
    assert "No timing for: idn-40 erm seed 0:" in cost_md
    assert "| molere | 3 | 11.500 ± 12.021 | 5.75 ± 6.01 | 34.5 ± 36.1 |" in cost_md  # 3 s and 20 s over ERM's 2 s
    assert "Measured on: a slower machine; a test machine." in cost_md


@pytest.fixture
def evaluated(tmp_path, monkeypatch):
    run_study(tmp_path, report_too=False, methods=("erm", "molere"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_evaluation_lacking_a_run_is_named_not_silently_smaller(evaluated):
    params = declared_params(Params.load().override("study.seeds", [0, 1, 2]), "report")
    expected = (
        r"corrupt file evaluation/idn-40/results.parquet: it has no rows for erm seed 2, molere seed 2; "
        r"re-run `molere-bench stage evaluate --scenario idn-40`"
    )
    with pytest.raises(MolereError, match=expected):
        report.run(params)


@pytest.mark.parametrize("name", ["results", "per_class", "ood", "margins", "history"])
def test_a_missing_or_corrupt_evaluation_file_is_named(evaluated, name):
    path = paths.eval_dir("idn-40") / f"{name}.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(MolereError, match=f"^corrupt file {path}: not a readable table: .*; re-run `molere-bench stage evaluate --scenario idn-40`$"):
        report.run(declared_params(Params.load(), "report"))
    path.unlink()
    expected = f"missing input artifact {path}; run `molere-bench stage evaluate --scenario idn-40` first"
    with pytest.raises(MolereError, match=expected):
        report.run(declared_params(Params.load(), "report"))
