"""The paper's claims on hand-made evaluation tables whose verdicts are known: exact effects,
intervals and p-values (t-tests with 2 degrees of freedom have closed forms), Holm's correction,
the bootstrap over test examples, "not run", and the report stage end to end on hand-made
evaluation files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.image import imread

from molere.errors import MolereError
from molere.fingerprint import declared_params
from molere.methods import METHODS
from molere.params import Params
from molere.report import claims, markdown
from molere.report.claims import CONTRADICTED, HOLDS, NOT_RUN, UNRESOLVED
from molere.report.diagnostics import DIAGNOSTICS
from molere.report.evaluation import EXAMPLE_KEYS, TABLE_COLUMNS, write_evaluation
from molere import paths
from stages import report

SEEDS = (0, 1, 2)
BY_ID = {claim.id: claim for claim in claims.CLAIMS}
# two-sided p-value and 97.5% quantile of Student's t with 2 degrees of freedom, in closed form
T_975 = 0.95 / math.sqrt(2 * 0.975 * 0.025)


def p_df2(t: float) -> float:
    return 1 - abs(t) / math.sqrt(t * t + 2)


def results(accuracies: dict[str, tuple[list[float], list[float]]], seeds=SEEDS, **diagnostics) -> pd.DataFrame:
    """One row per method and seed: method -> (ID accuracies by seed, OOD accuracies by seed);
    `diagnostics`: column -> {method: values by seed} (other methods NaN)."""
    rows = [
        {"method": m, "seed": s, "id_acc": i, "ood_acc": o}
        for m, (ids, oods) in accuracies.items()
        for s, i, o in zip(seeds, ids, oods)
    ]
    frame = pd.DataFrame(rows)
    for column, values in diagnostics.items():
        missing = [math.nan] * len(seeds)
        frame[column] = [values.get(row.method, missing)[seeds.index(row.seed)] for row in frame.itertuples()]
    return frame


def margins(by_method: dict[str, np.ndarray]) -> pd.DataFrame:
    """Test margins: method -> array (seeds x examples)."""
    frames = [
        pd.DataFrame({"method": m, "seed": s, "set": "test", "shift": "", "severity": 0, "id": np.arange(len(row))})
        .assign(y=0, correct=row > 0, margin=row)
        for m, values in by_method.items()
        for s, row in enumerate(np.atleast_2d(values))
    ]
    return pd.concat(frames, ignore_index=True)


def runs_of(table: pd.DataFrame) -> pd.DataFrame:
    """A results table with one row per method and seed of a margins table."""
    return table[["method", "seed"]].drop_duplicates().assign(id_acc=0.8, ood_acc=0.6).reset_index(drop=True)


NO_MARGINS = pd.DataFrame(columns=["method", "seed", *EXAMPLE_KEYS, "y", "correct", "margin"])


def judged(claim: claims.Claim, frame: pd.DataFrame, scenario="idn-40", margin_table=NO_MARGINS):
    """The claim's verdict row in one scenario, and its comparisons indexed by name."""
    judgement = claims.judge({scenario: claims.Tables(frame, margin_table, "evaluation/x")}, (claim,))
    (verdict,) = judgement.verdicts.to_dict("records")
    return verdict, judgement.comparisons.set_index("comparison")


def easy_against_erm(id_gap: list[float], ood_gap: list[float], seeds=SEEDS) -> pd.DataFrame:
    """ERM and LRW-Easy, LRW-Easy's accuracies ERM's plus the gaps (by seed)."""
    erm_id, erm_ood = [0.80, 0.82, 0.84][: len(seeds)], [0.60, 0.61, 0.62][: len(seeds)]
    easy = ([a + g for a, g in zip(erm_id, id_gap)], [a + g for a, g in zip(erm_ood, ood_gap)])
    return results({"erm": (erm_id, erm_ood), "lrw-easy": easy}, seeds)


# --- seed-paired claims: every verdict, exact values --------------------------------------------


def test_holds_when_every_comparison_is_significant_after_holm():
    verdict, rows = judged(BY_ID["easy-below-erm"], easy_against_erm([-0.05, -0.06, -0.07], [-0.04, -0.05, -0.06]))
    p_id, p_ood = p_df2(-6 * math.sqrt(3)), p_df2(-5 * math.sqrt(3))  # mean / (0.01 / sqrt 3)
    assert p_id == pytest.approx(0.009133, abs=1e-6) and p_ood == pytest.approx(0.013072, abs=1e-6)
    id_row, ood_row = rows.loc["lrw-easy − erm, in distribution"], rows.loc["lrw-easy − erm, OOD"]
    assert id_row["effect"] == pytest.approx(-0.06) and ood_row["effect"] == pytest.approx(-0.05)
    assert id_row["p"] == pytest.approx(p_id, rel=1e-6) and ood_row["p"] == pytest.approx(p_ood, rel=1e-6)
    # Holm: the smaller p times 2, then the running maximum with the larger times 1
    np.testing.assert_allclose([id_row["p_holm"], ood_row["p_holm"]], [2 * p_id, 2 * p_id], rtol=1e-6)
    assert list(rows["outcome"]) == ["supports", "supports"]
    half = T_975 * 0.01 / math.sqrt(3)
    assert verdict["verdict"] == HOLDS
    # the deciding comparison: the smallest effect in the claimed (lower) direction
    assert verdict["deciding"] == "lrw-easy − erm, OOD"
    assert verdict["effect"] == pytest.approx(-0.05) and verdict["signed_effect"] == pytest.approx(0.05)
    assert (verdict["low"], verdict["high"]) == pytest.approx((-0.05 - half, -0.05 + half), rel=1e-6)
    assert verdict["seeds"] == 3 and verdict["comparisons"] == 2 and verdict["diagnosis"] == ""


def test_contradicted_when_one_comparison_is_significant_against():
    verdict, rows = judged(BY_ID["easy-below-erm"], easy_against_erm([0.05, 0.06, 0.07], [-0.04, -0.05, -0.06]))
    assert list(rows["outcome"]) == ["opposes", "supports"]
    assert verdict["verdict"] == CONTRADICTED
    assert verdict["deciding"] == "lrw-easy − erm, in distribution"
    assert verdict["effect"] == pytest.approx(0.06) and verdict["signed_effect"] == pytest.approx(-0.06)
    assert verdict["p_holm"] == pytest.approx(2 * p_df2(6 * math.sqrt(3)), rel=1e-6)


def test_not_resolved_when_a_comparison_is_not_significant():
    verdict, rows = judged(BY_ID["easy-below-erm"], easy_against_erm([-0.05, -0.06, -0.07], [-0.01, 0.01, -0.03]))
    assert list(rows["outcome"]) == ["supports", "unresolved"]
    # OOD gaps -1, +1, -3 points: mean -1, sd 2, t = -sqrt(3) / 2
    assert rows.loc["lrw-easy − erm, OOD", "p"] == pytest.approx(p_df2(-math.sqrt(3) / 2), rel=1e-6)
    assert verdict["verdict"] == UNRESOLVED and verdict["deciding"] == "lrw-easy − erm, OOD"
    half = T_975 * 0.02 / math.sqrt(3)
    assert (verdict["low"], verdict["high"]) == pytest.approx((-0.01 - half, -0.01 + half), rel=1e-6)


def test_holm_turns_two_comparisons_significant_alone_into_not_resolved():
    frame = easy_against_erm([-0.02, -0.03, -0.04], [-0.02, -0.03, -0.04])
    p = p_df2(-3 * math.sqrt(3))
    assert p == pytest.approx(0.035098, abs=1e-6)  # below 0.05 alone
    verdict, rows = judged(BY_ID["easy-below-erm"], frame)
    np.testing.assert_allclose(rows["p"], [p, p], rtol=1e-6)
    np.testing.assert_allclose(rows["p_holm"], [2 * p, 2 * p], rtol=1e-6)  # 0.0702: not after Holm
    assert verdict["verdict"] == UNRESOLVED
    alone, _ = judged(claims.Claim("id", "t", "s", (("lrw-easy", "erm"),), ("id_acc",), direction="lower"), frame)
    assert alone["verdict"] == HOLDS and alone["p_holm"] == pytest.approx(p, rel=1e-6)


def test_one_seed_is_not_resolved_and_has_no_interval():
    verdict, rows = judged(BY_ID["easy-below-erm"], easy_against_erm([-0.3], [-0.3], seeds=(0,)))
    assert verdict["verdict"] == UNRESOLVED and verdict["seeds"] == 1
    assert verdict["effect"] == pytest.approx(-0.3)
    assert math.isnan(verdict["low"]) and math.isnan(verdict["high"]) and rows["p"].isna().all()
    judgement = claims.judge({"idn-40": claims.Tables(easy_against_erm([-0.3], [-0.3], seeds=(0,)), NO_MARGINS, "x")})
    cell = claims.claims_json(judgement)["idn-40"]["easy-below-erm"]
    assert cell == {"verdict": UNRESOLVED, "seeds": 1, "comparisons": 2, "effect": -0.3}


def test_seeds_pair_by_seed_not_by_row_order():
    frame = easy_against_erm([-0.05, -0.06, -0.07], [-0.04, -0.05, -0.06])
    verdict, _ = judged(BY_ID["easy-below-erm"], frame.sample(frac=1, random_state=3))
    assert verdict["verdict"] == HOLDS and verdict["low"] == pytest.approx(-0.05 - T_975 * 0.01 / math.sqrt(3))


def test_a_contradiction_names_the_diagnostic_that_explains_it():
    accuracies = {"lrw-hard": ([0.70, 0.71, 0.72], [0.5] * 3), "lrw-random": ([0.75, 0.77, 0.79], [0.5] * 3)}
    accuracies["lrw-easy"] = ([0.60, 0.61, 0.62], [0.4] * 3)
    share = {"lrw-hard": [0.95, 0.96, 0.97], "lrw-random": [0.40, 0.41, 0.39]}
    verdict, _ = judged(BY_ID["hard-random-easy"], results(accuracies, val_noisy_share=share))
    assert verdict["verdict"] == CONTRADICTED and verdict["deciding"] == "lrw-hard − lrw-random, in distribution"
    assert verdict["diagnosis"] == "lrw-hard's validation side is 96% mislabelled under idn-40"
    flat = {"weight_p05": {"lrw-hard": [0.97] * 3}, "weight_p95": {"lrw-hard": [1.02] * 3}}
    verdict, _ = judged(BY_ID["hard-random-easy"], results(accuracies, meta_steps={"lrw-hard": [0, 0, 0]}, **flat))
    assert verdict["diagnosis"] == (
        "lrw-hard took no meta steps, so it never reweighted; "
        "lrw-hard's weights barely vary (5th-95th percentile 0.97-1.02), so it hardly reweighted"
    )
    verdict, _ = judged(BY_ID["hard-random-easy"], results(accuracies))  # no diagnostic columns
    assert verdict["verdict"] == CONTRADICTED and verdict["diagnosis"] == ""


def test_a_diagnostic_within_bounds_flags_nothing():
    accuracies = {"lrw-hard": ([0.70, 0.71, 0.72], [0.5] * 3), "lrw-random": ([0.75, 0.77, 0.79], [0.5] * 3)}
    accuracies["lrw-easy"] = ([0.60, 0.61, 0.62], [0.4] * 3)
    healthy = {"val_noisy_share": {"lrw-hard": [0.45] * 3}, "noise_auc": {"lrw-hard": [0.8] * 3}}
    verdict, _ = judged(BY_ID["hard-random-easy"], results(accuracies, **healthy))
    assert verdict["verdict"] == CONTRADICTED and verdict["diagnosis"] == ""


# --- not run, never dropped -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "covered"),
    [("idn-40", True), ("skew-50", True), ("idn-20+skew-10", True)]
    + [("clean", False), ("sym-40", False), ("pair-20", False)],
)
def test_noise_and_skew_claims_run_only_in_their_scenarios(scenario, covered):
    methods = ("erm", "lrw-hard", "lrw-random", "lrw-easy", "molere")
    accuracies = {m: ([0.8, 0.81, 0.82], [0.6, 0.61, 0.6]) for m in methods}
    verdict, rows = judged(BY_ID["molere-beats-heuristics"], results(accuracies), scenario)
    assert (verdict["verdict"] != NOT_RUN) == covered
    assert len(rows) == (8 if covered else 0)
    if not covered:
        assert verdict["note"] == "out of scope" and verdict["comparisons"] == 0


def test_a_claim_whose_methods_are_absent_is_not_run_and_says_which():
    frame = results({m: ([0.8] * 3, [0.6] * 3) for m in ("erm", "lrw-hard", "lrw-easy", "molere")})
    judgement = claims.judge({"idn-40": claims.Tables(frame, NO_MARGINS, "x")})
    cells = judgement.verdicts.set_index("claim")
    assert list(cells.index) == [c.id for c in claims.CLAIMS]  # every claim listed
    assert cells.loc["hard-random-easy", "verdict"] == NOT_RUN
    assert cells.loc["hard-random-easy", "note"] == "lrw-random not in the study"
    assert cells.loc["molere-beats-peers", "note"] == "mwnet, l2rw, jtt, cvar-dro, focal not in the study"
    assert cells.loc["easy-below-erm", "verdict"] != NOT_RUN
    cell = claims.claims_json(judgement)["idn-40"]["hard-random-easy"]
    assert cell == {"verdict": NOT_RUN, "seeds": 0, "comparisons": 0}


def test_without_ood_results_a_claim_is_tested_in_distribution_and_says_so():
    frame = easy_against_erm([-0.05, -0.06, -0.07], [0, 0, 0]).assign(ood_acc=np.nan)
    verdict, rows = judged(BY_ID["easy-below-erm"], frame)
    assert list(rows.index) == ["lrw-easy − erm, in distribution"]
    assert verdict["verdict"] == HOLDS and verdict["note"] == "no OOD results here"
    ood_only = claims.Claim("ood", "t", "s", pairs=(("lrw-easy", "erm"),), metrics=("ood_acc",))
    verdict, rows = judged(ood_only, frame)
    assert verdict["verdict"] == NOT_RUN and verdict["note"] == "no OOD results here" and rows.empty


def test_more_than_one_run_per_method_and_seed_is_refused():
    frame = easy_against_erm([-0.05, -0.06, -0.07], [0, 0, 0])
    doubled = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    expected = "evaluation/x/results.parquet: the claims take one run per method and seed, but erm seed 0 has 2 rows"
    with pytest.raises(MolereError, match=expected):
        judged(BY_ID["easy-below-erm"], doubled)


# --- statistics -----------------------------------------------------------------------------------


def test_holm_adjusts_step_down_and_caps_at_one():
    np.testing.assert_allclose(claims.holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(claims.holm(np.array([0.5, 0.4])), [0.8, 0.8])
    np.testing.assert_allclose(claims.holm(np.array([0.9, 0.6])), [1.0, 1.0])
    adjusted = claims.holm(np.array([0.01, np.nan]))  # a missing test counts in m
    assert adjusted[0] == pytest.approx(0.02) and np.isnan(adjusted[1])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1, 1), min_size=1, max_size=12).flatmap(
        lambda v: st.tuples(st.just(v), st.lists(st.integers(0, 4), min_size=len(v), max_size=len(v)))
    )
)
def test_weighted_median_is_the_median_of_the_repeated_values(case):
    values, weights = np.array(case[0]), np.array(case[1], dtype=float)
    if weights.sum() == 0:
        weights[0] = 1
    expected = np.median(np.repeat(values, weights.astype(int)))
    assert claims.weighted_median(values)(weights[None, :])[0] == pytest.approx(expected)


def test_the_bootstrap_resamples_whole_examples():
    # example 0 has delta 1 under both seeds, example 1 delta 3: a resample of whole examples has
    # mean 1, 2 or 3; one of rows would also give 1.5 and 2.5
    mean = claims.weighted_mean(np.array([1.0, 1, 3, 3]))
    draws = claims.cluster_bootstrap(np.array([0, 0, 1, 1]), lambda w: {"mean": mean(w)}, 400, 0)
    assert set(np.round(draws["mean"], 9)) == {1.0, 2.0, 3.0}
    shares = [np.mean(draws["mean"] == v) for v in (1.0, 2.0, 3.0)]
    assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.07)
    again = claims.cluster_bootstrap(np.array([0, 0, 1, 1]), lambda w: {"mean": mean(w)}, 400, 0)
    np.testing.assert_array_equal(draws["mean"], again["mean"])  # seeded


N_EXAMPLES = 100


def skewed_deltas(sign: float = 1.0) -> np.ndarray:
    """75 examples at 0.1 and 25 at 0.5 (times `sign`), the same under two seeds: mean 0.2,
    median 0.1, right-skewed."""
    return sign * np.tile(np.r_[np.full(75, 0.1), np.full(25, 0.5)], (2, 1))


def test_margin_deltas_right_skewed_above_zero_hold_with_exact_values():
    erm = np.zeros((2, N_EXAMPLES))
    table = margins({"erm": erm, "lrw-hard": erm + skewed_deltas(), "molere": erm + skewed_deltas()})
    verdict, rows = judged(BY_ID["margin-shift"], runs_of(table), margin_table=table)
    hard = rows.loc[[f"lrw-hard − erm test margin: {s}" for s in ("mean", "median", "mean − median")]]
    np.testing.assert_allclose(hard["effect"], [0.2, 0.1, 0.1])
    assert (hard["seeds"] == 2).all() and (hard["examples"] == N_EXAMPLES).all()
    # every resample lies above 0: the smallest bootstrap p-value, Holm over 6 comparisons
    smallest = 2 / (claims.BOOTSTRAP_DRAWS + 1)
    np.testing.assert_allclose(rows["p"], smallest)
    np.testing.assert_allclose(rows["p_holm"], 6 * smallest)
    assert (hard["low"] > 0).all() and (hard["low"] <= hard["effect"]).all() and (hard["effect"] <= hard["high"]).all()
    assert rows.loc["lrw-hard − erm test margin: median", "low"] == pytest.approx(0.1)  # the median is 0.1 or more
    assert verdict["verdict"] == HOLDS and verdict["comparisons"] == 6


def test_margin_deltas_below_zero_contradict():
    erm = np.zeros((2, N_EXAMPLES))
    table = margins({"erm": erm, "lrw-hard": erm + skewed_deltas(-1), "molere": erm + skewed_deltas()})
    verdict, rows = judged(BY_ID["margin-shift"], runs_of(table), margin_table=table)
    assert verdict["verdict"] == CONTRADICTED
    assert verdict["deciding"] == "lrw-hard − erm test margin: mean" and verdict["effect"] == pytest.approx(-0.2)
    assert rows.loc["lrw-hard − erm test margin: mean − median", "effect"] == pytest.approx(-0.1)  # left-skewed


def low_margin_study(low_gain: float, high_gain: float) -> pd.DataFrame:
    """ERM margin -0.5 on half the examples and +0.5 on the rest; LRW-Hard's margin exceeds
    LRW-Easy's by `low_gain` on the first half and `high_gain` on the second."""
    erm = np.tile(np.r_[np.full(N_EXAMPLES // 2, -0.5), np.full(N_EXAMPLES // 2, 0.5)], (2, 1))
    gain = np.tile(np.r_[np.full(N_EXAMPLES // 2, low_gain), np.full(N_EXAMPLES // 2, high_gain)], (2, 1))
    return margins({"erm": erm, "lrw-easy": erm + 0.05, "lrw-hard": erm + 0.05 + gain})


def test_hard_gains_most_at_low_erm_margin_holds_with_exact_values():
    table = low_margin_study(0.3, 0.1)
    verdict, rows = judged(BY_ID["hard-gain-low-margin"], runs_of(table), margin_table=table)
    prefix = "lrw-hard − lrw-easy test margin: "
    effects = rows.loc[[prefix + s for s in ("all examples", "ERM margin < 0", "ERM margin < 0 minus ≥ 0")], "effect"]
    np.testing.assert_allclose(effects, [0.2, 0.3, 0.2])
    np.testing.assert_allclose(rows["p_holm"], 3 * 2 / (claims.BOOTSTRAP_DRAWS + 1))
    assert verdict["verdict"] == HOLDS


def test_a_gain_largest_at_high_erm_margin_contradicts_most_of_all():
    table = low_margin_study(0.1, 0.3)  # larger everywhere, but most at high ERM margin
    verdict, rows = judged(BY_ID["hard-gain-low-margin"], runs_of(table), margin_table=table)
    assert list(rows["outcome"]) == ["supports", "supports", "opposes"]
    assert verdict["verdict"] == CONTRADICTED
    assert verdict["deciding"] == "lrw-hard − lrw-easy test margin: ERM margin < 0 minus ≥ 0"
    assert verdict["effect"] == pytest.approx(-0.2)


def test_margin_claims_need_erm():
    table = low_margin_study(0.3, 0.1)
    table = table[table["method"] != "erm"]
    verdict, _ = judged(BY_ID["hard-gain-low-margin"], runs_of(table), margin_table=table)
    assert verdict["verdict"] == NOT_RUN and verdict["note"] == "erm not in the study"


# --- the declarations -----------------------------------------------------------------------------


def test_claims_are_declared_with_known_methods_and_one_unit_each():
    assert len({c.id for c in claims.CLAIMS}) == len(claims.CLAIMS) == 6
    for claim in claims.CLAIMS:
        assert set(claim.methods) <= set(METHODS.names()), claim.id
        units = {claims.METRICS[m][1:] for m in claim.metrics}
        assert len(units) == 1, claim.id  # one scale, digits and unit: cells and heatmap compare
        assert claim.direction in ("higher", "lower")


def test_adding_a_claim_is_one_entry():
    mine = claims.Claim("jtt-beats-erm", "JTT > ERM", "JTT beats ERM.", pairs=(("jtt", "erm"),), metrics=("id_acc",))
    frame = results({"erm": ([0.80, 0.82, 0.84], [0.6] * 3), "jtt": ([0.85, 0.88, 0.91], [0.6] * 3)})
    judgement = claims.judge({"clean": claims.Tables(frame, NO_MARGINS, "x")}, (mine,))
    assert judgement.verdicts["verdict"].tolist() == [HOLDS]
    lines = markdown.claims_section(judgement, report_figure_skipped(), paths.REPORTS)
    assert "| 1. JTT > ERM | **holds** +6.00 pt [+3.52, +8.48], 3 seeds |" in lines


def report_figure_skipped():
    from molere.report.build import FigureEntry

    return FigureEntry("claims", None)


def test_claims_json_is_nested_numbers_and_verdict_strings():
    frame = easy_against_erm([-0.05, -0.06, -0.07], [-0.04, -0.05, -0.06])
    judgement = claims.judge({s: claims.Tables(frame, NO_MARGINS, "x") for s in ("idn-40", "clean")})
    data = claims.claims_json(judgement)
    assert set(data) == {"idn-40", "clean"} and set(data["idn-40"]) == set(BY_ID)
    cell = data["idn-40"]["easy-below-erm"]
    assert cell["verdict"] == HOLDS and cell["effect"] == -0.05 and cell["seeds"] == 3 and cell["comparisons"] == 2
    assert cell["low"] == round(-0.05 - T_975 * 0.01 / math.sqrt(3), 4)
    assert data["clean"]["molere-beats-heuristics"]["verdict"] == NOT_RUN
    json.dumps(data, allow_nan=False)


def test_heatmap_shades_relative_to_the_claims_largest_effect():
    frame = easy_against_erm([-0.05, -0.06, -0.07], [-0.04, -0.05, -0.06])
    weaker = easy_against_erm([-0.02, -0.03, -0.04], [-0.02, -0.03, -0.04])
    tables = {"idn-40": claims.Tables(frame, NO_MARGINS, "x"), "skew-50": claims.Tables(weaker, NO_MARGINS, "x")}
    data = claims.heatmap_data(claims.judge(tables)).set_index(["claim", "scenario"])
    assert data.loc[("easy-below-erm", "idn-40"), "shade"] == pytest.approx(1.0)  # +5 points as claimed, the largest
    assert data.loc[("easy-below-erm", "skew-50"), "shade"] == pytest.approx(0.6)  # +3 of 5
    assert not data.loc[("easy-below-erm", "idn-40"), "hatched"] and data.loc[("easy-below-erm", "skew-50"), "hatched"]
    assert data.loc[("easy-below-erm", "idn-40"), "label"] == "holds\n-5.00 pt"
    assert np.isnan(data.loc[("hard-random-easy", "idn-40"), "shade"])  # not run: no colour
    assert data.loc[("hard-random-easy", "idn-40"), "label"] == "not run"


# --- the report stage on hand-made evaluation files -----------------------------------------------

SCENARIOS = ("idn-40", "clean")


def full_results(frame: pd.DataFrame) -> pd.DataFrame:
    """The hand-made accuracies with the other columns the evaluation stage writes."""
    filler = {"worst_class_acc": 0.5, "ece": 0.1, "noise_auc": np.nan, "learns_weights": False, **dict.fromkeys(DIAGNOSTICS, np.nan)}
    frame = frame.assign(**filler, trial=0, values="{}", select_acc=0.7, seconds=10.0, seconds_per_epoch=1.0, overhead=1.0)
    return frame[[*TABLE_COLUMNS["results"], "values"]].assign(selected_by_selection=True, selected_by_oracle=True)


def write_hand_study(root) -> Params:
    """evaluation/<scenario>/ for ERM, LRW-Easy and LRW-Hard, 3 seeds: LRW-Easy clearly below ERM
    in idn-40 (holds) and above it in clean (contradicted); LRW-Hard's margins above ERM's."""
    methods = ["erm", "lrw-easy", "lrw-hard"]
    gaps = {"idn-40": -0.05, "clean": +0.05}
    spread = (0.0, 0.01, 0.02)
    for scenario in SCENARIOS:
        step = gaps[scenario]
        accuracies = {
            "erm": ([0.80, 0.82, 0.84], [0.60, 0.61, 0.62]),
            "lrw-easy": ([a + step + d for a, d in zip([0.80, 0.82, 0.84], spread)],
                         [a + step + d for a, d in zip([0.60, 0.61, 0.62], spread)]),
            "lrw-hard": ([0.81, 0.83, 0.85], [0.61, 0.62, 0.63]),
        }
        base = np.tile(np.linspace(-0.9, 0.9, N_EXAMPLES), (3, 1))
        table = margins({"erm": base, "lrw-easy": base, "lrw-hard": base + np.tile(skewed_deltas()[0], (3, 1))})
        keys = pd.MultiIndex.from_product([methods, SEEDS], names=["method", "seed"]).to_frame(index=False)
        write_evaluation(
            paths.eval_dir(scenario),
            {
                "results": full_results(results(accuracies)),
                "per_class": keys.assign(**{"class": 0, "count": N_EXAMPLES, "acc": 0.8}),
                "ood": keys.assign(shift="blur", severity=1, acc=0.6),
                "margins": table,
                "history": keys.assign(epoch=0, train_loss=1.0, train_acc=0.5),
                "weights": pd.DataFrame(columns=TABLE_COLUMNS["weights"]),
            },
        )
    study = {"scenarios": list(SCENARIOS), "methods": methods, "seeds": list(SEEDS), "trials": [0], "selection": "selection"}
    (root / "params.yaml").write_text(yaml.safe_dump({"study": study}))
    return Params.load(root / "params.yaml")


@pytest.fixture(scope="module")
def hand_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("claims")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        report.run(declared_params(write_hand_study(root), "report"))
    return root


def test_report_stage_writes_the_known_verdicts_to_claims_json(hand_report):
    data = json.loads((hand_report / "reports" / "claims.json").read_text())
    assert set(data) == set(SCENARIOS)
    assert data["idn-40"]["easy-below-erm"]["verdict"] == HOLDS
    assert data["clean"]["easy-below-erm"]["verdict"] == CONTRADICTED
    assert data["idn-40"]["easy-below-erm"]["effect"] == -0.04  # gaps -5, -4, -3 points in distribution and OOD
    assert data["clean"]["easy-below-erm"]["effect"] == 0.06
    assert data["idn-40"]["hard-random-easy"] == {"verdict": NOT_RUN, "seeds": 0, "comparisons": 0}
    assert data["clean"]["molere-beats-heuristics"]["verdict"] == NOT_RUN
    comparisons = pd.read_csv(hand_report / "reports" / "claim_comparisons.csv")
    assert len(comparisons) == (2 + 3) * len(SCENARIOS)  # easy-below-erm and hard-gain-low-margin run
    assert set(comparisons.columns) == set(claims.COMPARISON_COLUMNS)


def test_report_md_opens_with_the_claims_table(hand_report):
    text = (hand_report / "reports" / "report.md").read_text()
    assert text.split("\n## ")[1].startswith("The paper's claims")
    first_table = next(line for line in text.splitlines() if line.startswith("|"))
    assert first_table == "| claim | idn-40 | clean |"
    rows = [line for line in text.splitlines() if line.startswith("| 2. LRW-Easy < ERM |")]
    cells = "**holds** -4.00 pt [-6.48, -1.52], 3 seeds | **contradicted** +6.00 pt [+3.52, +8.48], 3 seeds"
    assert rows == [f"| 2. LRW-Easy < ERM | {cells} |"]
    assert "it is contradicted in clean: lrw-easy − erm, in distribution +6.00 pt" in text
    assert "not run (lrw-random not in the study)" in text
    assert "(figures/claims.png)" in text and text.index("## The paper's claims") < text.index("## Headline")


def test_claims_heatmap_and_its_data(hand_report):
    data = pd.read_csv(hand_report / "reports" / "figures" / "claims.csv")
    assert len(data) == len(claims.CLAIMS) * len(SCENARIOS)
    cell = data.set_index(["claim", "scenario"]).loc[("easy-below-erm", "clean")]
    assert cell["verdict"] == CONTRADICTED and cell["shade"] == pytest.approx(-1.0)
    image = imread(hand_report / "reports" / "figures" / "claims.png")
    rgb = image[..., :3].reshape(-1, 3)
    assert image.shape[0] > 200 and ((rgb.max(axis=1) - rgb.min(axis=1)) > 0.2).mean() > 0.02  # coloured cells
