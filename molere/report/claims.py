"""The paper's claims, tested on a study's runs: each claim of *Improving Generalization via
Meta-Learning on Hard Samples* is one entry of `CLAIMS`, judged in every scenario of the study
from the evaluation tables, with seeds as the unit (molere/report/statistics.py).

A claim is a set of comparisons (a method against another, on one metric, with one statistic),
all claimed to go one way. Each comparison is a t-test across seeds of per-seed values: the
paired difference of accuracies, or a per-seed statistic of the paired test-margin deltas (their
mean, median, ...). Within one claim and scenario the comparisons' two-sided p-values are
Holm-corrected together, then, the first that applies:

- **contradicted**: at least one is significant (Holm-adjusted p < 0.05) against the claim;
- **holds**: every one is significant in the claimed direction;
- **equivalent**: every one lies within the declared margin (params `claims.equivalence_*`) by
  two one-sided tests at 0.05 each (an intersection-union test: every comparison must pass, so
  none needs correcting);
- **not resolved**: anything else, and always with fewer than two seeds; it states how many
  seeds would give 80% power at the deciding comparison's effect and spread;
- **not run**: a method the claim needs has no runs, or the scenario has none of its metric.

Under the trusted validation-label protocol (a `+trusted` scenario) a comparison with ERM is made
with the trusted-ERM baseline that holds the same clean labels as the method instead
(`pairs_in`, molere/scenarios/protocol.py), so reweighting is not credited with what is only
label information. Each verdict names the unstable cells among its methods
(molere/report/stability.py).

A cell shows its *deciding comparison*: of the comparisons significant against the claim
(contradicted), not significant (not resolved) or all of them (holds), the one with the smallest
effect in the claimed direction; for equivalent, the one nearest the margin (largest TOST p).
Its interval is the one its verdict used: for a difference, the t-interval at confidence
1 - 0.05 p / p_Holm, which excludes 0 exactly when the Holm-adjusted p is below 0.05; for
equivalent, the 90% t-interval, which lies inside the margin exactly when TOST passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from molere.errors import MolereError
from molere.report import diagnostics as rules
from molere.report.aggregate import margin_deltas
from molere.report.build import BUCKET_METHODS, DELTA_METHODS
from molere.report.evaluation import BASELINE
from molere.report.stability import unstable_cells
from molere.report.statistics import (
    EQUIVALENCE_CONFIDENCE,
    LEVEL,
    MIN_SEEDS,
    SeedTest,
    holm,
    holm_confidence,
    seeds_needed,
)
from molere.scenarios import parse_scenario
from molere.scenarios.protocol import LABEL_BASELINES
from molere.schema import ClaimsConfig

HOLDS, CONTRADICTED, EQUIVALENT, UNRESOLVED, NOT_RUN = "holds", "contradicted", "equivalent", "not resolved", "not run"

# how a metric reads: its name in sentences, its scale and digits in the report, its unit, and
# the ClaimsConfig field of its equivalence margin
METRICS = {
    "id_acc": ("in distribution", 100, 2, " pt", "equivalence_accuracy"),
    "ood_acc": ("OOD", 100, 2, " pt", "equivalence_accuracy"),
    "margin": ("test margin", 1, 3, "", "equivalence_margin"),
}


@dataclass(frozen=True)
class Estimate:
    """One comparison: its t-test across seeds, the equivalence margin of its metric, and the
    test examples behind each per-seed value (0 for values that are one number per seed)."""

    name: str
    test: SeedTest
    margin: float
    examples: int = 0


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedPaired:
    """The method's value of a `results` column minus the other's, paired by seed."""

    describes: str = "paired by seed: mean difference, t-test across seeds"
    needs: tuple[str, ...] = ()

    def estimates(self, method: str, other: str, metric: str, tables: "Tables", margin: float) -> list[Estimate]:
        runs = tables.results.set_index("seed")
        mine = runs.loc[runs["method"] == method, metric]
        theirs = runs.loc[runs["method"] == other, metric]
        differences = (mine - theirs).dropna()  # the seeds both methods ran
        return [Estimate(f"{method} − {other}, {METRICS[metric][0]}", SeedTest.of(differences.to_numpy()), margin)]


def subgroup_mean(values: np.ndarray, mask: np.ndarray) -> float:
    """The mean of `values` where `mask` holds; NaN for an empty subgroup (that seed then drops
    out of the comparison)."""
    return float(values[mask].mean()) if mask.any() else math.nan


def margin_shape(delta: np.ndarray, base: np.ndarray) -> dict[str, float]:
    """Fig. 3a-b, of one seed's paired margin deltas: their mean and median, and mean minus
    median (above 0 for a right-skewed distribution, in the deltas' own unit)."""
    mean, median = float(delta.mean()), float(np.median(delta))
    return {"mean": mean, "median": median, "mean − median": mean - median}


def low_margin_gain(delta: np.ndarray, base: np.ndarray) -> dict[str, float]:
    """Fig. 3c-d, of one seed: the mean margin difference over all examples, over those with ERM
    margin below 0 (the buckets -0.9 .. -0.1), and how much larger it is there than over the rest."""
    below = subgroup_mean(delta, base < 0)
    return {
        "all examples": float(delta.mean()),
        "ERM margin < 0": below,
        "ERM margin < 0 minus ≥ 0": below - subgroup_mean(delta, base >= 0),
    }


@dataclass(frozen=True)
class SeedStatistics:
    """Statistics of the method's test margin minus the other's, paired by seed and example, with
    ERM's margin of the same seed and example as `base`: each computed per seed, then t-tested
    across seeds, so one run counts once however many test examples it has."""

    summaries: Callable[[np.ndarray, np.ndarray], dict[str, float]]
    describes: str
    needs: tuple[str, ...] = (BASELINE,)

    def estimates(self, method: str, other: str, metric: str, tables: "Tables", margin: float) -> list[Estimate]:
        rows = paired_margins(tables, method, other)
        per_seed = pd.DataFrame(
            [self.summaries(seed["delta"].to_numpy(), seed["base"].to_numpy()) for _, seed in rows.groupby("seed")]
        )
        prefix = f"{method} − {other} {METRICS[metric][0]}"
        examples = rows["id"].nunique()
        return [
            Estimate(f"{prefix}: {label}", SeedTest.of(values.dropna().to_numpy()), margin, examples)
            for label, values in per_seed.items()
        ]


def paired_margins(tables: "Tables", method: str, other: str) -> pd.DataFrame:
    """Per seed and test example: `delta`, the method's margin minus the other's, and `base`,
    ERM's margin."""
    source = f"{tables.source}/margins.parquet"
    mine = margin_deltas(tables.margins, method, source)
    # both pair one to one with ERM's rows and are sorted by their keys: the same rows in order
    theirs = margin_deltas(tables.margins, other, source)
    return mine[["seed", "id", "base"]].assign(delta=mine["delta"].to_numpy() - theirs["delta"].to_numpy())


SEED_PAIRED = SeedPaired()
MARGIN_SHAPE = SeedStatistics(
    margin_shape, "per seed over its paired test examples: mean, median, mean − median; t-test across seeds"
)
LOW_MARGIN_GAIN = SeedStatistics(
    low_margin_gain, "per seed over its paired test examples, by ERM margin below / above 0; t-test across seeds"
)


# --- the claims -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """`pairs` (method, other): the method's value of each metric is claimed `higher` (or
    `lower`) than the other's, as `statistic` measures it, in every scenario."""

    id: str
    title: str
    statement: str  # the paper's words
    pairs: tuple[tuple[str, str], ...]
    metrics: tuple[str, ...]
    statistic: SeedPaired | SeedStatistics = SEED_PAIRED
    direction: str = "higher"

    def methods_in(self, scenario: str) -> list[str]:
        """The methods the claim compares in `scenario` (`pairs_in`) and those its statistic needs."""
        return list(dict.fromkeys([m for pair in pairs_in(self, scenario) for m in pair] + list(self.statistic.needs)))

    @property
    def sign(self) -> int:
        return 1 if self.direction == "higher" else -1


ACCURACIES = ("id_acc", "ood_acc")
HEURISTICS = ("lrw-hard", "lrw-random", "lrw-easy")  # the paper's expected order
PEERS = ("mwnet", "l2rw", "jtt", "cvar-dro", "focal")

CLAIMS = (
    Claim(
        "hard-random-easy",
        "LRW-Hard > LRW-Random > LRW-Easy",
        "LRW with a hard validation set beats LRW with a random one, which beats LRW with an easy one, in "
        "distribution (Fig. 1) and out of distribution (Fig. 2).",
        pairs=(("lrw-hard", "lrw-random"), ("lrw-random", "lrw-easy")),
        metrics=ACCURACIES,
    ),
    Claim(
        "easy-below-erm",
        "LRW-Easy < ERM",
        "LRW-Easy is often below ERM.",
        pairs=(("lrw-easy", BASELINE),),
        metrics=ACCURACIES,
        direction="lower",
    ),
    Claim(
        "molere-beats-heuristics",
        "MOLERE > ERM and the LRW heuristics",
        "MOLERE (LRWOpt) beats the heuristics and ERM, in and out of distribution: on clean benchmarks, under "
        "instance-dependent noise (Table 3) and under label skew (Table 2).",
        pairs=tuple(("molere", m) for m in (BASELINE, *HEURISTICS)),
        metrics=ACCURACIES,
    ),
    Claim(
        "molere-beats-peers",
        "MOLERE > the reweighting peers",
        "MOLERE beats the reweighting peers: Meta-Weight-Net, L2RW, and here also JTT, CVaR-DRO and focal.",
        pairs=tuple(("molere", m) for m in PEERS),
        metrics=ACCURACIES,
    ),
    Claim(
        "margin-shift",
        "margin delta vs ERM: mean, median > 0, right-skewed",
        "Against ERM, the paired test-margin deltas are right-skewed, with mean and median above 0 (Fig. 3a-b).",
        pairs=tuple((m, BASELINE) for m in DELTA_METHODS),
        metrics=("margin",),
        statistic=MARGIN_SHAPE,
    ),
    Claim(
        "hard-gain-low-margin",
        "LRW-Hard's margin gain > LRW-Easy's, most at low ERM margin",
        "LRW-Hard's margin gain over ERM is larger than LRW-Easy's, most of all for examples with low ERM margin "
        "(Fig. 3c-d).",
        pairs=(tuple(BUCKET_METHODS),),
        metrics=("margin",),
        statistic=LOW_MARGIN_GAIN,
    ),
)



# --- judging ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    """One scenario's evaluation tables, one run per method and seed; `source` names their
    directory in error messages."""

    results: pd.DataFrame
    margins: pd.DataFrame
    source: str
    chance: float | None = None  # 1 / the number of classes (None: no near-chance rule of stability)


@dataclass
class Judgement:
    """Claims x scenarios: `verdicts` one row per claim and scenario, `comparisons` one row per
    comparison made (see `VERDICT_COLUMNS`, `COMPARISON_COLUMNS`), judged with `config`."""

    verdicts: pd.DataFrame
    comparisons: pd.DataFrame
    claims: tuple[Claim, ...] = field(default=CLAIMS)
    config: ClaimsConfig = field(default_factory=ClaimsConfig)


# per cell: the deciding comparison's effect, spread across seeds, printed interval and its
# confidence, p-values; `power_level` and `seeds_needed` size a not-resolved cell (NaN: more
# than config.max_seeds, or no spread)
VERDICT_COLUMNS = ["claim", "scenario", "verdict", "deciding", "effect", "signed_effect", "sd", "low", "high"]
VERDICT_COLUMNS += ["confidence", "p_holm", "p_tost", "equivalence_margin", "seeds", "comparisons"]
VERDICT_COLUMNS += ["power_level", "seeds_needed", "note", "diagnosis", "unstable"]
COMPARISON_COLUMNS = ["claim", "scenario", "comparison", "effect", "sd", "low", "high", "confidence", "p", "p_holm"]
COMPARISON_COLUMNS += ["p_tost", "seeds", "examples", "outcome"]


def judge(tables: dict[str, Tables], claims: tuple[Claim, ...] = CLAIMS, config: ClaimsConfig = ClaimsConfig()) -> Judgement:
    """Every claim in every scenario of `tables` (scenario name -> its tables)."""
    for t in tables.values():
        check_one_run_per_method_and_seed(t)
    verdicts, comparisons = [], []
    for claim in claims:
        for scenario, t in tables.items():
            verdict, rows = judge_claim(claim, scenario, t, config)
            verdicts.append(verdict)
            comparisons += rows
    return Judgement(
        pd.DataFrame(verdicts, columns=VERDICT_COLUMNS),
        pd.DataFrame(comparisons, columns=COMPARISON_COLUMNS),
        claims,
        config,
    )


def check_one_run_per_method_and_seed(tables: Tables) -> None:
    counts = tables.results.groupby(["method", "seed"]).size()
    repeated = counts[counts > 1]
    if len(repeated):
        (method, seed), n = next(iter(repeated.items()))
        raise MolereError(
            f"{tables.source}/results.parquet: the claims take one run per method and seed, but {method} seed {seed} "
            f"has {n} rows; pass one row per method and seed"
        )


def pairs_in(claim: Claim, scenario: str) -> tuple[tuple[str, str], ...]:
    """The claim's pairs in `scenario`: under the trusted protocol ERM's place goes to the
    trusted-ERM baseline that holds the same clean labels as the method it is compared with."""
    if not parse_scenario(scenario).trusted:
        return claim.pairs
    return tuple(
        (method, LABEL_BASELINES[method] if other == BASELINE else other) for method, other in claim.pairs
    )


def judge_claim(claim: Claim, scenario: str, tables: Tables, config: ClaimsConfig) -> tuple[dict, list[dict]]:
    """The claim's verdict row in one scenario and the rows of the comparisons made."""
    pairs, methods = pairs_in(claim, scenario), claim.methods_in(scenario)
    absent = [m for m in methods if m not in set(tables.results["method"])]
    if absent:
        return not_run(claim, scenario, f"{', '.join(absent)} not in the study"), []
    metrics = [m for m in claim.metrics if has_values(tables, m)]
    left_out = [m for m in claim.metrics if m not in metrics]
    if not metrics:
        return not_run(claim, scenario, no_results(left_out)), []
    made = [
        (pair, estimate)
        for pair in pairs
        for metric in metrics
        for estimate in claim.statistic.estimates(*pair, metric, tables, getattr(config, METRICS[metric][4]))
    ]
    tests = [e.test for _, e in made]
    p = np.array([t.p for t in tests])
    p_holm = holm(p)
    p_tost = np.array([e.test.p_equivalent(e.margin) for _, e in made])
    signed = claim.sign * np.array([t.mean for t in tests])
    outcomes = [outcome(s, q) for s, q in zip(signed, p_holm)]
    confidence = [holm_confidence(a, q) for a, q in zip(p, p_holm)]
    seeds = min(t.n for t in tests)
    verdict = verdict_of(outcomes, p_tost, seeds)
    chosen = deciding(verdict, outcomes, signed, p_tost)
    pair, shown = made[chosen]
    shown_confidence = EQUIVALENCE_CONFIDENCE if verdict == EQUIVALENT else confidence[chosen]
    low, high = shown.test.interval(shown_confidence)
    # a comparison's seeds at the Bonferroni level: enough whatever order Holm then tests them in
    power_level = LEVEL / len(made)
    needed = seeds_needed(shown.test.mean, shown.test.sd, power_level, config.max_seeds)
    row = {
        "claim": claim.id,
        "scenario": scenario,
        "verdict": verdict,
        "deciding": shown.name,
        "effect": shown.test.mean,
        "signed_effect": signed[chosen],
        "sd": shown.test.sd,
        "low": low,
        "high": high,
        "confidence": shown_confidence,
        "p_holm": p_holm[chosen],
        "p_tost": p_tost[chosen],
        "equivalence_margin": shown.margin,
        "seeds": seeds,
        "comparisons": len(made),
        "power_level": power_level if verdict == UNRESOLVED else math.nan,
        "seeds_needed": needed if verdict == UNRESOLVED and needed is not None else math.nan,
        "note": no_results(left_out) if left_out else "",
        "diagnosis": explain(claim, pair, tables.results, scenario) if verdict == CONTRADICTED else "",
        "unstable": unstable_cells(tables.results, methods, tables.chance),
    }
    rows = [
        {"claim": claim.id, "scenario": scenario, "comparison": e.name, "effect": e.test.mean, "sd": e.test.sd,
         "low": e.test.interval(c)[0], "high": e.test.interval(c)[1], "confidence": c, "p": a, "p_holm": q,
         "p_tost": t, "seeds": e.test.n, "examples": e.examples, "outcome": o}
        for (_, e), c, a, q, t, o in zip(made, confidence, p, p_holm, p_tost, outcomes)
    ]
    return row, rows


def no_results(metrics: list[str]) -> str:
    return f"no {' or '.join(METRICS[m][0] for m in metrics)} results here"


def has_values(tables: Tables, metric: str) -> bool:
    if metric == "margin":
        return bool((tables.margins["set"] == "test").any())
    return bool(tables.results[metric].notna().any())


def not_run(claim: Claim, scenario: str, why: str) -> dict:
    row = dict.fromkeys(VERDICT_COLUMNS, math.nan)
    fields = {"claim": claim.id, "scenario": scenario, "verdict": NOT_RUN, "deciding": "", "seeds": 0}
    return row | fields | {"comparisons": 0, "note": why, "diagnosis": "", "unstable": []}


def outcome(signed_effect: float, p_holm: float) -> str:
    if not p_holm < LEVEL:  # NaN too
        return "unresolved"
    return "supports" if signed_effect > 0 else "opposes"


def verdict_of(outcomes: list[str], p_tost: np.ndarray, seeds: int) -> str:
    if seeds < MIN_SEEDS:
        return UNRESOLVED
    if "opposes" in outcomes:
        return CONTRADICTED
    if all(o == "supports" for o in outcomes):
        return HOLDS
    # a difference the test resolves comes first: within the margin or not, it is the claim's answer
    return EQUIVALENT if (p_tost < LEVEL).all() else UNRESOLVED


def deciding(verdict: str, outcomes: list[str], signed: np.ndarray, p_tost: np.ndarray) -> int:
    """Index of the comparison a cell shows: for equivalent, the one nearest its margin (largest
    TOST p); otherwise, among those that decide the verdict, the one with the smallest effect in
    the claimed direction (the first of equals; NaN effects last)."""
    if verdict == EQUIVALENT:
        return int(np.argmax(p_tost))
    wanted = {CONTRADICTED: "opposes", UNRESOLVED: "unresolved", HOLDS: "supports"}[verdict]
    candidates = [i for i, o in enumerate(outcomes) if o == wanted]  # never empty, by `verdict_of`
    return min(candidates, key=lambda i: (np.isnan(signed[i]), np.nan_to_num(signed[i])))


# --- diagnostics: what explains a contradiction (the rules: molere/report/diagnostics.py) -------


def mislabelled_validation(method: str, d: pd.Series, scenario: str) -> str:
    share = d.get("val_noisy_share", math.nan)
    if rules.mostly_mislabelled(share):
        return f"{method}'s validation side is {100 * share:.0f}% mislabelled under {scenario}"
    return ""


def no_meta_steps(method: str, d: pd.Series, scenario: str) -> str:
    return f"{method} took no meta steps, so it never reweighted" if d.get("meta_steps", math.nan) == 0 else ""


def flat_weights(method: str, d: pd.Series, scenario: str) -> str:
    low, high = d.get("weight_p05", math.nan), d.get("weight_p95", math.nan)
    if rules.flat_weights(low, high):
        return f"{method}'s weights barely vary (5th-95th percentile {low:.2f}-{high:.2f}), so it hardly reweighted"
    return ""


def inverted_weights(method: str, d: pd.Series, scenario: str) -> str:
    auc = d.get("noise_auc", math.nan)
    if rules.inverted_weights(auc):
        return f"{method} weights mislabelled examples above clean ones (noise AUC {auc:.2f})"
    return ""


# each takes a method's diagnostics (means over seeds of the optional `results` columns) and
# says what went wrong, or ""; a column a study lacks flags nothing
DIAGNOSTICS = (mislabelled_validation, no_meta_steps, flat_weights, inverted_weights)
DIAGNOSTIC_COLUMNS = ("val_noisy_share", "noise_auc", "meta_steps", "weight_p05", "weight_p95")


def explain(claim: Claim, pair: tuple[str, str], results: pd.DataFrame, scenario: str) -> str:
    """What the diagnostics say about the methods of a contradicting comparison, the method
    claimed better first; "" when none flags anything."""
    better, worse = pair if claim.sign > 0 else pair[::-1]
    columns = [c for c in DIAGNOSTIC_COLUMNS if c in results.columns]
    means = results.groupby("method")[columns].mean()
    flags = [
        flag(method, means.loc[method], scenario)
        for method in (better, worse)
        if method in means.index
        for flag in DIAGNOSTICS
    ]
    return "; ".join(f for f in flags if f)


# --- outputs ----------------------------------------------------------------------------------

JSON_NUMBERS = ("effect", "low", "high", "confidence", "p_holm", "equivalence_margin")


def claims_json(judgement: Judgement) -> dict:
    """`{scenario: {claim: cell}}`, numbers rounded to 4 decimals, NaN left out (JSON has none),
    for `dvc metrics` and `dvc exp show`. A cell: verdict, seeds, comparisons; once run, the
    deciding comparison's effect, its interval (low, high) at `confidence`, its Holm-adjusted p
    and the equivalence margin; `p_tost` for equivalent; `seeds_needed` (or
    `seeds_needed_more_than`) for not resolved with a spread; `diagnosis` for contradicted."""
    out: dict = {}
    for row in judgement.verdicts.itertuples():
        cell = {"verdict": row.verdict, "seeds": int(row.seeds), "comparisons": int(row.comparisons)}
        cell |= {k: round(float(getattr(row, k)), 4) for k in JSON_NUMBERS if not math.isnan(getattr(row, k))}
        if row.verdict == EQUIVALENT:
            cell["p_tost"] = round(float(row.p_tost), 4)
        if row.verdict == UNRESOLVED and row.seeds >= MIN_SEEDS:
            cell |= power_json(row.seeds_needed, judgement.config.max_seeds)
        if row.diagnosis:
            cell["diagnosis"] = row.diagnosis
        if row.unstable:
            cell["unstable"] = [u.json() for u in row.unstable]
        out.setdefault(row.scenario, {})[row.claim] = cell
    return out


def power_json(needed: float, most: int) -> dict:
    return {"seeds_needed_more_than": most} if math.isnan(needed) else {"seeds_needed": int(needed)}


def inconsistencies(data: dict, claims: tuple[Claim, ...] = CLAIMS) -> list[str]:
    """Each cell of a claims.json (`claims_json`'s content) whose printed interval disagrees with
    its verdict: holds / contradicted must exclude 0 on the claimed / other side with a
    Holm-adjusted p below 0.05, not resolved must include 0 (or have no interval, one seed),
    equivalent must lie inside its margin with a TOST p below 0.05; every interval must hold its
    effect. Bounds are compared as rounded, ties allowed. [] when every cell agrees."""
    signs = {c.id: c.sign for c in claims}
    problems = []
    for scenario, cells in data.items():
        for claim, cell in cells.items():
            problem = cell_inconsistency(cell, signs[claim])
            if problem:
                problems.append(f"{scenario} / {claim}: {problem} ({cell})")
    return problems


def cell_inconsistency(cell: dict, sign: int) -> str:
    verdict = cell["verdict"]
    if verdict == NOT_RUN:
        return ""
    if "low" not in cell:
        return "" if verdict == UNRESOLVED and cell["seeds"] < MIN_SEEDS else "no interval"
    low, high = cell["low"], cell["high"]
    if not low <= cell["effect"] <= high:
        return "the effect lies outside its interval"
    claimed_low, claimed_high = (low, high) if sign > 0 else (-high, -low)  # the interval as claimed: > 0
    p_holm = cell.get("p_holm", math.nan)
    if verdict == HOLDS and not (claimed_low >= 0 and p_holm < LEVEL):
        return "holds, but the interval reaches below 0 in the claimed direction"
    if verdict == CONTRADICTED and not (claimed_high <= 0 and p_holm < LEVEL):
        return "contradicted, but the interval reaches above 0 in the claimed direction"
    if verdict == UNRESOLVED and not (low <= 0 <= high and p_holm >= LEVEL):
        return "not resolved, but the interval excludes 0"
    margin = cell.get("equivalence_margin", math.nan)
    if verdict == EQUIVALENT and not (-margin <= low and high <= margin and cell.get("p_tost", math.nan) < LEVEL):
        return "equivalent, but the interval leaves the margin"
    return ""


def claim_metric(claim: Claim) -> str:
    return claim.metrics[0]  # a claim's metrics share one unit (tests/test_claims.py checks)


def effect_text(claim: Claim, value: float) -> str:
    _, scale, digits, unit, _ = METRICS[claim_metric(claim)]
    return f"{scale * value:+.{digits}f}{unit}"


def interval_text(claim: Claim, low: float, high: float) -> str:
    _, scale, digits, _, _ = METRICS[claim_metric(claim)]
    return f"[{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"


def heatmap_data(judgement: Judgement) -> pd.DataFrame:
    """Per claim and scenario: the verdict, the signed effect (positive = the claimed direction)
    and `shade`, the signed effect over the largest absolute one of its claim (so claims in
    different units share one colour scale), whether it is `hatched` (not resolved), and the
    cell's label (verdict and effect)."""
    verdicts = judgement.verdicts
    largest = verdicts.groupby("claim")["signed_effect"].transform(lambda s: s.abs().max())
    by_id = {c.id: c for c in judgement.claims}
    labels = [
        row.verdict + ("" if pd.isna(row.signed_effect) else "\n" + effect_text(by_id[row.claim], row.effect))
        for row in verdicts.itertuples()
    ]
    with np.errstate(invalid="ignore", divide="ignore"):
        shade = (verdicts["signed_effect"] / largest).fillna(0).where(verdicts["verdict"] != NOT_RUN)
    return pd.DataFrame(
        {
            "claim": verdicts["claim"],
            "scenario": verdicts["scenario"],
            "verdict": verdicts["verdict"],
            "effect": verdicts["effect"],
            "signed_effect": verdicts["signed_effect"],
            "shade": shade,
            "hatched": verdicts["verdict"] == UNRESOLVED,
            "label": labels,
        }
    )
