"""The paper's claims, tested on a study's runs: each claim of *Improving Generalization via
Meta-Learning on Hard Samples* is one entry of `CLAIMS`, judged per scenario from the evaluation
tables with paired statistics.

A claim is a set of comparisons (a method against another, on one metric, with one statistic),
all claimed to go one way. Within one claim and scenario the comparisons' two-sided p-values are
Holm-corrected together, then:

- **holds**: every comparison is significant (Holm-adjusted p < 0.05) in the claimed direction;
- **contradicted**: at least one is significant in the opposite direction;
- **not resolved at this power**: anything else, and always with fewer than two seeds;
- **not run**: the scenario is outside the claim's scope, or a method it needs has no runs.

A cell shows its *deciding comparison*: of the comparisons significant against the claim
(contradicted), not significant for it (not resolved) or all of them (holds), the one with the
smallest effect in the claimed direction.

Statistics: accuracies are paired by seed (mean difference, 95% t-interval, t-test); margins are
paired by seed and test example, and resampled by example (all of an example's seeds together)
in a seeded bootstrap (95% percentile interval, bootstrap p-value). The margin intervals are
conditional on the trained runs: seed-to-seed variation enters only the accuracy claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from molere.errors import MolereError
from molere.report.aggregate import margin_deltas
from molere.report.build import BUCKET_METHODS, DELTA_METHODS
from molere.report.evaluation import BASELINE
from molere.scenarios import Scenario, parse_scenario

HOLDS, CONTRADICTED, UNRESOLVED, NOT_RUN = "holds", "contradicted", "not resolved at this power", "not run"
OUT_OF_SCOPE = "out of scope"
LEVEL = 0.05  # two-sided, after Holm; the intervals are 1 - LEVEL
MIN_SEEDS = 2  # one seed cannot tell a method from its seed: no interval, no verdict
BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 0
BOOTSTRAP_CHUNK = 250  # draws weighted at once (draws x rows floats)

# how a metric reads: its name in sentences, its scale and digits in the report, its unit
METRICS = {
    "id_acc": ("in distribution", 100, 2, " pt"),
    "ood_acc": ("OOD", 100, 2, " pt"),
    "margin": ("test margin", 1, 3, ""),
}


@dataclass(frozen=True)
class Estimate:
    """One comparison's effect (the method's value minus the other's, or a statistic of the
    paired differences), its 95% interval and two-sided p-value (NaN below `MIN_SEEDS`)."""

    name: str
    effect: float
    low: float
    high: float
    p: float
    seeds: int
    examples: int = 0  # test examples resampled; 0 for comparisons paired by seed only


# --- statistics -------------------------------------------------------------------------------


def t_estimate(name: str, differences: np.ndarray) -> Estimate:
    """Mean of the paired `differences` with its 95% t-interval and two-sided t-test p-value."""
    n = len(differences)
    mean = float(np.mean(differences)) if n else math.nan
    if n < MIN_SEEDS:
        return Estimate(name, mean, math.nan, math.nan, math.nan, n)
    se = float(np.std(differences, ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(1 - LEVEL / 2, n - 1)) * se
    if se == 0:  # identical differences: the interval is a point
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return Estimate(name, mean, mean - half, mean + half, p, n)


@dataclass(frozen=True)
class SeedPaired:
    """The method's value of a `results` column minus the other's, paired by seed."""

    describes: str = "paired over seeds: mean difference, 95% t-interval"
    needs: tuple[str, ...] = ()

    def estimates(self, method: str, other: str, metric: str, tables: "Tables") -> list[Estimate]:
        runs = tables.results.set_index("seed")
        mine = runs.loc[runs["method"] == method, metric]
        theirs = runs.loc[runs["method"] == other, metric]
        differences = (mine - theirs).dropna()  # the seeds both methods ran
        return [t_estimate(f"{method} − {other}, {METRICS[metric][0]}", differences.to_numpy())]


def weighted_mean(values: np.ndarray, mask: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Per row of a weight matrix (draws x rows), the weighted mean of `values` (over `mask`)."""
    keep = np.ones(len(values)) if mask is None else mask.astype(np.float64)

    def mean(weights: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return (weights @ (values * keep)) / (weights @ keep)

    return mean


def weighted_median(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Per row of a matrix of whole-number weights, the median of `values` repeated by their weights
    (the mean of the two middle ones for an even total), as `np.median` of the resample."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]

    def median(weights: np.ndarray) -> np.ndarray:
        cumulative = np.cumsum(weights[:, order], axis=1)
        total = cumulative[:, -1:]
        # the value at 0-based position k is the first whose cumulative weight exceeds k
        lower = (cumulative <= (total - 1) // 2).sum(axis=1)
        upper = (cumulative <= total // 2).sum(axis=1)
        return (ordered[lower] + ordered[upper]) / 2

    return median


def margin_shape(values: np.ndarray, base: np.ndarray) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """Fig. 3a-b: the paired margin deltas' mean and median, and mean minus median (above 0 for
    a right-skewed distribution, in the deltas' own unit)."""
    mean, median = weighted_mean(values), weighted_median(values)

    def summaries(weights: np.ndarray) -> dict[str, np.ndarray]:
        m, q = mean(weights), median(weights)
        return {"mean": m, "median": q, "mean − median": m - q}

    return summaries


def low_margin_gain(values: np.ndarray, base: np.ndarray) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """Fig. 3c-d: the mean margin difference over all examples, over those with ERM margin below
    0 (the buckets -0.9 .. -0.1), and how much larger it is there than over the rest."""
    every, low, high = weighted_mean(values), weighted_mean(values, base < 0), weighted_mean(values, base >= 0)

    def summaries(weights: np.ndarray) -> dict[str, np.ndarray]:
        below = low(weights)
        return {
            "all examples": every(weights),
            "ERM margin < 0": below,
            "ERM margin < 0 minus ≥ 0": below - high(weights),
        }

    return summaries


def cluster_bootstrap(clusters: np.ndarray, summaries: Callable, draws: int, seed: int) -> dict[str, np.ndarray]:
    """`draws` values of each of the `summaries` on seeded resamples of whole clusters: a
    resample draws as many clusters as there are, with replacement, and weights each row by how
    often its cluster was drawn."""
    codes, uniques = pd.factorize(clusters)
    n = len(uniques)
    picks = np.random.default_rng(seed).integers(0, n, (draws, n))
    counts = np.bincount((picks + n * np.arange(draws)[:, None]).ravel(), minlength=draws * n).reshape(draws, n)
    # float weights (exact below 2**24): numpy multiplies integer matrices without BLAS
    chunks = [
        summaries(counts[i : i + BOOTSTRAP_CHUNK][:, codes].astype(np.float32))
        for i in range(0, draws, BOOTSTRAP_CHUNK)
    ]
    return {label: np.concatenate([c[label] for c in chunks]) for label in chunks[0]}


def bootstrap_estimate(name: str, effect: float, draws: np.ndarray, seeds: int, examples: int) -> Estimate:
    """The effect with, over its bootstrap `draws`, the 95% percentile interval and the two-sided
    p-value 2 (1 + draws on the far side of 0) / (draws + 1), at most 1."""
    draws = draws[~np.isnan(draws)]  # resamples without any example of a subgroup
    if math.isnan(effect) or not len(draws):
        return Estimate(name, effect, math.nan, math.nan, math.nan, seeds, examples)
    low, high = np.quantile(draws, [LEVEL / 2, 1 - LEVEL / 2])
    far = min((draws <= 0).sum(), (draws >= 0).sum())
    p = min(1.0, 2 * (1 + far) / (len(draws) + 1))
    return Estimate(name, effect, float(low), float(high), p, seeds, examples)


@dataclass(frozen=True)
class ExamplePaired:
    """Statistics of the method's test margin minus the other's, paired by seed and example,
    with ERM's margin of the same seed and example as `base`; resampled by example."""

    summaries: Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], dict[str, np.ndarray]]]
    describes: str
    needs: tuple[str, ...] = (BASELINE,)

    def estimates(self, method: str, other: str, metric: str, tables: "Tables") -> list[Estimate]:
        rows = paired_margins(tables, method, other)
        seeds, examples = rows["seed"].nunique(), rows["id"].nunique()
        summaries = self.summaries(rows["delta"].to_numpy(), rows["base"].to_numpy())
        effects = {label: float(v[0]) for label, v in summaries(np.ones((1, len(rows)))).items()}
        if seeds < MIN_SEEDS:
            draws = {label: np.array([]) for label in effects}
        else:
            draws = cluster_bootstrap(rows["id"].to_numpy(), summaries, BOOTSTRAP_DRAWS, BOOTSTRAP_SEED)
        prefix = f"{method} − {other} {METRICS[metric][0]}"
        return [
            bootstrap_estimate(f"{prefix}: {label}", effect, draws[label], seeds, examples)
            for label, effect in effects.items()
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
MARGIN_SHAPE = ExamplePaired(margin_shape, "paired over test examples: mean, median, mean − median; bootstrap")
LOW_MARGIN_GAIN = ExamplePaired(
    low_margin_gain, "paired over test examples, by ERM margin below / above 0; bootstrap"
)


# --- the claims -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    describes: str
    covers: Callable[[Scenario], bool]


EVERY_SCENARIO = Scope("every scenario", lambda s: True)
IDN_OR_SKEW = Scope("instance-dependent noise or label skew", lambda s: s.noise_kind == "idn" or s.imbalance > 1)


@dataclass(frozen=True)
class Claim:
    """`pairs` (method, other): the method's value of each metric is claimed `higher` (or
    `lower`) than the other's, as `statistic` measures it, in the scenarios of `scope`."""

    id: str
    title: str
    statement: str  # the paper's words
    pairs: tuple[tuple[str, str], ...]
    metrics: tuple[str, ...]
    statistic: SeedPaired | ExamplePaired = SEED_PAIRED
    direction: str = "higher"
    scope: Scope = EVERY_SCENARIO

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys([m for pair in self.pairs for m in pair] + list(self.statistic.needs)))

    @property
    def sign(self) -> int:
        return 1 if self.direction == "higher" else -1


ACCURACIES = ("id_acc", "ood_acc")
HEURISTICS = ("lrw-hard", "lrw-random", "lrw-easy")
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
        "MOLERE (LRWOpt) beats the heuristics and ERM, in and out of distribution, under instance-dependent "
        "noise (Table 3) and under label skew (Table 2).",
        pairs=tuple(("molere", m) for m in (BASELINE, *HEURISTICS)),
        metrics=ACCURACIES,
        scope=IDN_OR_SKEW,
    ),
    Claim(
        "molere-beats-peers",
        "MOLERE > the reweighting peers",
        "MOLERE beats the reweighting peers: Meta-Weight-Net, L2RW, and here also JTT, CVaR-DRO and focal.",
        pairs=tuple(("molere", m) for m in PEERS),
        metrics=ACCURACIES,
        scope=IDN_OR_SKEW,  # the paper's peer comparisons are its noise and skew tables
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


@dataclass
class Judgement:
    """Claims x scenarios: `verdicts` one row per claim and scenario, `comparisons` one row per
    comparison made (see `VERDICT_COLUMNS`, `COMPARISON_COLUMNS`)."""

    verdicts: pd.DataFrame
    comparisons: pd.DataFrame
    claims: tuple[Claim, ...] = field(default=CLAIMS)


VERDICT_COLUMNS = ["claim", "scenario", "verdict", "deciding", "effect", "signed_effect", "low", "high", "p_holm"]
VERDICT_COLUMNS += ["seeds", "comparisons", "note", "diagnosis"]
COMPARISON_COLUMNS = ["claim", "scenario", "comparison", "effect", "low", "high", "p", "p_holm", "seeds"]
COMPARISON_COLUMNS += ["examples", "outcome"]


def judge(tables: dict[str, Tables], claims: tuple[Claim, ...] = CLAIMS) -> Judgement:
    """Every claim in every scenario of `tables` (scenario name -> its tables)."""
    for t in tables.values():
        check_one_run_per_method_and_seed(t)
    verdicts, comparisons = [], []
    for claim in claims:
        for scenario, t in tables.items():
            verdict, rows = judge_claim(claim, scenario, t)
            verdicts.append(verdict)
            comparisons += rows
    return Judgement(
        pd.DataFrame(verdicts, columns=VERDICT_COLUMNS), pd.DataFrame(comparisons, columns=COMPARISON_COLUMNS), claims
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


def judge_claim(claim: Claim, scenario: str, tables: Tables) -> tuple[dict, list[dict]]:
    """The claim's verdict row in one scenario and the rows of the comparisons made."""
    if not claim.scope.covers(parse_scenario(scenario)):
        return not_run(claim, scenario, OUT_OF_SCOPE), []
    absent = [m for m in claim.methods if m not in set(tables.results["method"])]
    if absent:
        return not_run(claim, scenario, f"{', '.join(absent)} not in the study"), []
    metrics = [m for m in claim.metrics if has_values(tables, m)]
    left_out = [m for m in claim.metrics if m not in metrics]
    if not metrics:
        return not_run(claim, scenario, no_results(left_out)), []
    made = [
        (pair, estimate)
        for pair in claim.pairs
        for metric in metrics
        for estimate in claim.statistic.estimates(*pair, metric, tables)
    ]
    estimates = [e for _, e in made]
    p_holm = holm(np.array([e.p for e in estimates]))
    signed = claim.sign * np.array([e.effect for e in estimates])
    outcomes = [outcome(s, p) for s, p in zip(signed, p_holm)]
    seeds = min(e.seeds for e in estimates)
    verdict = verdict_of(outcomes, seeds)
    chosen = deciding(verdict, outcomes, signed)
    shown = estimates[chosen]
    row = {
        "claim": claim.id,
        "scenario": scenario,
        "verdict": verdict,
        "deciding": shown.name,
        "effect": shown.effect,
        "signed_effect": signed[chosen],
        "low": shown.low,
        "high": shown.high,
        "p_holm": p_holm[chosen],
        "seeds": seeds,
        "comparisons": len(estimates),
        "note": no_results(left_out) if left_out else "",
        "diagnosis": explain(claim, made[chosen][0], tables.results, scenario) if verdict == CONTRADICTED else "",
    }
    rows = [
        {"claim": claim.id, "scenario": scenario, "comparison": e.name, "effect": e.effect, "low": e.low,
         "high": e.high, "p": e.p, "p_holm": q, "seeds": e.seeds, "examples": e.examples, "outcome": o}
        for e, q, o in zip(estimates, p_holm, outcomes)
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
    return row | fields | {"comparisons": 0, "note": why, "diagnosis": ""}


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: the i-th smallest of m becomes the running maximum of
    (m - j) p_(j) over j <= i, capped at 1. A NaN p (no test) counts as 1 and stays NaN."""
    filled = np.where(np.isnan(p), 1.0, p)
    order = np.argsort(filled, kind="stable")
    scaled = (len(p) - np.arange(len(p))) * filled[order]
    adjusted = np.empty(len(p))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return np.where(np.isnan(p), np.nan, adjusted)


def outcome(signed_effect: float, p_holm: float) -> str:
    if not p_holm < LEVEL:  # NaN too
        return "unresolved"
    return "supports" if signed_effect > 0 else "opposes"


def verdict_of(outcomes: list[str], seeds: int) -> str:
    if seeds < MIN_SEEDS:
        return UNRESOLVED
    if "opposes" in outcomes:
        return CONTRADICTED
    return HOLDS if all(o == "supports" for o in outcomes) else UNRESOLVED


def deciding(verdict: str, outcomes: list[str], signed: np.ndarray) -> int:
    """Index of the comparison a cell shows: among those that decide the verdict, the one with
    the smallest effect in the claimed direction (the first of equals; NaN effects last)."""
    wanted = {CONTRADICTED: "opposes", UNRESOLVED: "unresolved", HOLDS: "supports"}[verdict]
    candidates = [i for i, o in enumerate(outcomes) if o == wanted]  # never empty, by `verdict_of`
    return min(candidates, key=lambda i: (np.isnan(signed[i]), np.nan_to_num(signed[i])))


# --- diagnostics: what explains a contradiction -----------------------------------------------

MISLABELLED_MAJORITY = 0.5  # a validation side mostly mislabelled teaches the wrong labels
FLAT_WEIGHTS = 0.1  # 5th-95th percentile spread of normalised weights below which nothing was reweighted


def mislabelled_validation(method: str, d: pd.Series, scenario: str) -> str:
    share = d.get("val_noisy_share", math.nan)
    if share > MISLABELLED_MAJORITY:
        return f"{method}'s validation side is {100 * share:.0f}% mislabelled under {scenario}"
    return ""


def no_meta_steps(method: str, d: pd.Series, scenario: str) -> str:
    return f"{method} took no meta steps, so it never reweighted" if d.get("meta_steps", math.nan) == 0 else ""


def flat_weights(method: str, d: pd.Series, scenario: str) -> str:
    low, high = d.get("weight_p05", math.nan), d.get("weight_p95", math.nan)
    if high - low < FLAT_WEIGHTS:
        return f"{method}'s weights barely vary (5th-95th percentile {low:.2f}-{high:.2f}), so it hardly reweighted"
    return ""


def inverted_weights(method: str, d: pd.Series, scenario: str) -> str:
    auc = d.get("noise_auc", math.nan)
    if auc < 0.5:
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


def claims_json(judgement: Judgement) -> dict:
    """`{scenario: {claim: {verdict, effect, low, high, p_holm, seeds, comparisons}}}`, numbers
    rounded to 4 decimals, NaN left out (JSON has none), for `dvc metrics` and `dvc exp show`."""
    out: dict = {}
    for row in judgement.verdicts.itertuples():
        cell = {"verdict": row.verdict, "seeds": int(row.seeds), "comparisons": int(row.comparisons)}
        numbers = {k: round(float(getattr(row, k)), 4) for k in ("effect", "low", "high", "p_holm")}
        out.setdefault(row.scenario, {})[row.claim] = cell | {k: v for k, v in numbers.items() if not math.isnan(v)}
    return out


def claim_metric(claim: Claim) -> str:
    return claim.metrics[0]  # a claim's metrics share one unit (tests/test_claims.py checks)


def effect_text(claim: Claim, value: float) -> str:
    _, scale, digits, unit = METRICS[claim_metric(claim)]
    return f"{scale * value:+.{digits}f}{unit}"


def interval_text(claim: Claim, low: float, high: float) -> str:
    _, scale, digits, _ = METRICS[claim_metric(claim)]
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
        row.verdict.removesuffix(" at this power")
        + ("" if pd.isna(row.signed_effect) else "\n" + effect_text(by_id[row.claim], row.effect))
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
