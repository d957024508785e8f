"""The frozen-feature tier's whole method matrix at CIFAR's size on this machine's CPUs: a study
whose data is an embedding of 50,000 training vectors of a ViT-B's width (768), every method of the
default study on one noisy scenario, with its trials and replicate seeds, built cold by
`molere-bench repro` in a fresh repository.

    python benchmarks/frozen_tier.py                 # 10 methods x 3 seeds, 3 trials each (target: under 20 min on 2 cores)
    python benchmarks/frozen_tier.py --seeds 1 --trials 1
    python benchmarks/frozen_tier.py --trusted --methods erm,lrw-hard,lrw-random  # + idn-40+trusted
    python benchmarks/frozen_tier.py --center          # the features centred (data.features.center)
    python benchmarks/frozen_tier.py --keep /tmp/frozen                # keep the study repository
    python benchmarks/frozen_tier.py --diagnose /tmp/frozen            # only the diagnostics of a kept one

The embedding is fabricated without image files (none are downloaded here): MNIST-1D's generator
makes 62,500 examples (80% the pool, so 50,000, and 12,500 test), and the backbone is an MLP whose
one hidden layer is 768 wide, its head dropped (molere/embed.py), so the embed stage writes 768
features per example as a ViT-B's would be. The heads are linear (`model: {name: mlp, depth: 0}`).
It prints the wall time, the stage count, the time per kind of stage (from the run's `ran NAME
(S s)` lines) and, as the check that the heads learned something, each method's test accuracy from
the report against chance (10 %), and for the reweighting methods whether their weights found the
mislabelled examples (noise AUC).

Then the diagnostics of why they did or did not (docs/benchmarks.md, the frozen-feature tier):
each seed's validation sides (hard / easy / random: size and mislabelled share against the pool's
noise rate) and how well the first ERM pass's margin separates the mislabelled examples (its noise
AUC); a linear head trained here on the clean labels and on the observed ones with the study's
trial-0 recipe (is the task learnable, and what does the noise cost?); what a meta step has to go
on (each example's alignment with the validation gradient: its noise AUC with the side's observed
and clean labels, with the features raw and centred); how far each method's
learned weights spread, and on the search seed each trial's spread, noise AUC and test accuracy
with the one the selection rule picked. `--trusted` adds the `idn-40+trusted` scenario (the
validation sides carry the clean labels; docs/design.md, "The validation-label protocol") and the
`erm-trusted-hard` baseline, and prints the two protocols side by side. Run it from the project
root with the virtual environment's bin/ on PATH, on an otherwise idle machine."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from molere import paths
from molere.io import read_examples
from molere.metrics import noise_auc
from molere_tools.sandbox import ROOT, make_study_repo, study_env

POOL, WIDTH = 50_000, 768
SCENARIO = "idn-40"
TRUSTED = f"{SCENARIO}+trusted"
TRUSTED_BASELINE = "erm-trusted-hard"  # ERM with the hard side's clean labels: LRW-Hard's trusted comparison
SIDES = ("hard", "easy", "random")


def study(seeds: int, trials: int, methods: list[str] | None = None, trusted: bool = False, center: bool = False) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=[SCENARIO], trusted_scenarios=[], trusted_baselines=[], seeds=list(range(1, seeds + 1)), trials=list(range(trials)))
    if methods:
        params["study"]["methods"] = methods
    if trusted:
        params["study"].update(scenarios=[SCENARIO, TRUSTED], trusted_scenarios=[TRUSTED], trusted_baselines=[TRUSTED_BASELINE])
    backbone = {"name": "mlp", "hidden": WIDTH, "depth": 1}
    images = {"dataset": "mnist1d", "mnist1d": {"num_samples": POOL * 5 // 4}}
    params["embeddings"] = {"vitb-width": {"data": images, "model": backbone, "batch_size": 1024, "device": "cpu"}}
    params["data"] = {"dataset": "features", "features": {"embedding": "vitb-width", "center": center}}
    params["model"] = {"name": "mlp", "depth": 0}
    return params


def stage_times(log: str) -> dict[str, list[float]]:
    """Seconds of each stage that ran, by kind (`train@idn-40-erm-0` -> train)."""
    times: dict[str, list[float]] = defaultdict(list)
    for name, seconds in re.findall(r"^ran\s+(\S+) \(([\d.]+) s\)", log, flags=re.M):
        times[name.split("@")[0]].append(float(seconds))
    return times


# --- the diagnostics, read from a built study repository ---


def draw_seeds(params: dict) -> list[int]:
    """The seeds with draws of their own: the search seed (the trials') and the replicates."""
    return [params["study"]["search_seed"], *params["study"]["seeds"]]


def side_table(repo: Path, params: dict) -> pd.DataFrame:
    """Per seed: the pool's training part (the sides are drawn from it), its noise rate, the first
    ERM pass's margin AUC for the mislabelled examples and its accuracy on their clean labels, and
    each validation side's size and mislabelled share."""
    rows = []
    for seed in draw_seeds(params):
        margins = pd.read_parquet(repo / paths.margins(SCENARIO, seed))
        part = margins[~margins["in_selection"]].merge(pd.read_parquet(repo / paths.valsets(SCENARIO, seed)), on="id")
        noisy = part["is_noisy"].to_numpy(dtype=bool)
        row = {
            "seed": seed,
            "pool": len(part),
            "pool_noisy": noisy.mean(),
            "margin_auc": noise_auc(part["margin"].to_numpy(), noisy),
            "erm_clean_acc": (part["pred"] == part["y_clean"]).mean(),
            "erm_observed_acc": (part["pred"] == part["y"]).mean(),
        }
        for side in SIDES:
            row[f"{side}_n"], row[f"{side}_noisy"] = int(part[side].sum()), noisy[part[side].to_numpy()].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def linear_head(x: torch.Tensor, y: torch.Tensor, train: dict, seed: int, steps: int | None = None) -> torch.nn.Linear:
    """A linear head trained on (x, y) with the study's trial-0 recipe (Adam at `train.lr`, batches
    of `train.batch_size`, a cosine schedule over `train.steps`, no weight decay), stopped after
    `steps` (default all of them). The features go in as the study's heads see them (the pool's:
    centred where the study sets data.features.center, else as the backbone gave them)."""
    torch.manual_seed(seed)
    draw = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    optimiser = torch.optim.Adam(head.parameters(), lr=train["lr"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, train["steps"])
    for _ in range(train["steps"] if steps is None else steps):
        batch = torch.randint(0, len(y), (train["batch_size"],), generator=draw)
        loss = torch.nn.functional.cross_entropy(head(x[batch]), y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    return head


def tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(np.array(x, dtype=np.float32)), torch.as_tensor(np.array(y, dtype=np.int64))


def training_part(repo: Path, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Seed `seed`'s training part (the pool minus its selection split) with its observed labels
    `y` beside the clean `y_clean`, and its features."""
    pool, x = read_examples(repo / paths.pool(SCENARIO))
    training = ~pool["in_selection"].to_numpy()
    part, x_part = pool[training].reset_index(drop=True), x[training]
    observed = pd.read_parquet(repo / paths.labels(SCENARIO, seed)).set_index("id")["y"]
    kept = part["id"].isin(observed.index).to_numpy()
    part = part[kept].reset_index(drop=True)
    return part.assign(y=observed.loc[part["id"]].to_numpy()), x_part[kept]


def label_heads(repo: Path, params: dict) -> pd.DataFrame:
    """Per replicate seed: a linear head on the seed's training part with its clean labels and
    one with its observed (noisy) labels, both scored on the clean test labels."""
    test, x_test = read_examples(repo / paths.test(SCENARIO))
    features_test = torch.as_tensor(np.array(x_test, dtype=np.float32))
    rows = []
    for seed in params["study"]["seeds"]:
        part, x = training_part(repo, seed)
        row = {"seed": seed}
        for labels in ("clean", "observed"):
            head = linear_head(*tensors(x, part["y_clean" if labels == "clean" else "y"].to_numpy()), params["train"], seed)
            with torch.no_grad():
                row[labels] = float((head(features_test).argmax(1).numpy() == test["y_clean"].to_numpy()).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def meta_signal(repo: Path, params: dict) -> pd.DataFrame:
    """The first-order signal of a meta step, on the search seed: for a linear head trained here on
    a side's train side (observed labels, half the study's budget, where the meta steps run), each
    training example's alignment <grad l_i, grad L_val> with the validation loss's gradient (a
    one-step lookahead's hypergradient is -lr/n times it: the meta step raises the weights of the
    examples with the largest). Its noise AUC (1: every mislabelled example aligned less than every
    clean one) with the side's observed and its clean labels, and its correlation with its part
    along the features' mean, (r_i . r_val)(m . x_i + 1), where r is the softmax output minus the
    one-hot label and r_val its mean over the side: the class-marginal term, blind to which example
    is mislabelled. The features as the heads see them (raw: the pool's) and centred on the training
    part's mean (a check of the cause; data.features.center makes the heads see them centred)."""
    seed = params["study"]["search_seed"]
    part, x = training_part(repo, seed)
    sides = pd.read_parquet(repo / paths.valsets(SCENARIO, seed)).set_index("id").loc[part["id"]]
    noisy = (part["y"] != part["y_clean"]).to_numpy()
    x_all, y_observed = tensors(x, part["y"].to_numpy())
    y_clean = torch.as_tensor(np.array(part["y_clean"].to_numpy(), dtype=np.int64))
    rows = []
    for features in ("raw", "centred"):
        xs = x_all - x_all.mean(0) if features == "centred" else x_all
        for side in ("hard", "random"):
            val = torch.as_tensor(np.array(sides[side].to_numpy(), dtype=bool))
            head = linear_head(xs[~val], y_observed[~val], params["train"], seed, steps=params["train"]["steps"] // 2)
            with torch.no_grad():
                classes = head.out_features
                residual = torch.softmax(head(xs[~val]), 1) - torch.nn.functional.one_hot(y_observed[~val], classes)
                x_val, mean = xs[val], xs[val].mean(0)
                row = {"features": features, "side": side}
                for labels, y_val in (("observed", y_observed[val]), ("clean", y_clean[val])):
                    residual_val = torch.softmax(head(x_val), 1) - torch.nn.functional.one_hot(y_val, classes)
                    gradient, bias = residual_val.T @ x_val / len(x_val), residual_val.mean(0)  # of L_val, weight and bias
                    alignment = ((residual @ gradient) * xs[~val]).sum(1) + residual @ bias
                    marginal = (residual @ bias) * (xs[~val] @ mean + 1)
                    row[f"{labels}_auc"] = noise_auc(alignment.numpy(), noisy[~val.numpy()])
                    row[f"{labels}_corr"] = float(np.corrcoef(alignment.numpy(), marginal.numpy())[0, 1])
            rows.append(row)
    return pd.DataFrame(rows)


def trial_table(repo: Path, params: dict, scenario: str) -> pd.DataFrame:
    """On the search seed, each trial of each method that learns weights: its normalised weights'
    5th and 95th percentiles, the meta-network's raw mean weight in the last epoch (where it has
    one: the steps rescale each batch's weights to mean 1, so a raw mean near 0 leaves a few
    examples per batch with all the weight), their noise AUC, its test accuracy, and whether
    selection picked it."""
    rows = []
    for method in params["study"]["methods"]:
        picked = json.loads((repo / paths.selected(scenario, method)).read_text())["trial"]
        for trial in params["study"]["trials"]:
            folder = repo / paths.trial_dir(scenario, method, trial)
            metrics = json.loads((folder / paths.METRICS).read_text())
            if not metrics.get("learns_weights"):
                break
            weights = pd.read_parquet(folder / paths.WEIGHTS)
            w = weights["weight"].to_numpy(dtype=np.float64)
            p05, p95 = np.percentile(w / w.mean(), [5, 95])
            history = pd.read_csv(folder / paths.HISTORY)
            raw = history["weight_mean"].iloc[-1] if "weight_mean" in history else np.nan
            rows.append(
                {
                    "method": method,
                    "trial": trial,
                    "p05": p05,
                    "p95": p95,
                    "raw_mean": raw,
                    "noise_auc": noise_auc(w, weights["is_noisy"].to_numpy(dtype=bool)),
                    "id_acc": metrics["id_acc"],
                    "picked": trial == picked,
                }
            )
    return pd.DataFrame(rows)


def trial_cell(row) -> str:
    raw = f" (raw {row.raw_mean:.3f})" if not np.isnan(row.raw_mean) else ""
    return f"{'*' if row.picked else ' '}{row.trial}: {row.p05:.2f}-{row.p95:.2f}{raw} AUC {row.noise_auc:.3f} {100 * row.id_acc:.1f} %"


def print_diagnostics(repo: Path, params: dict) -> None:
    metrics = json.loads((repo / paths.REPORT_METRICS).read_text())
    methods = params["study"]["methods"]
    sides = side_table(repo, params)
    print(f"why (diagnostics of {SCENARIO}; docs/benchmarks.md, the frozen-feature tier):")
    print("each seed's validation sides (drawn per class from the pool's training part by the first ERM pass's margin):")
    print("size and mislabelled share; the pool's noise rate; the ERM margin's noise AUC (1: every mislabelled")
    print("example has a lower margin than every clean one) and that ERM model's accuracy on the pool's clean labels")
    for row in sides.itertuples():
        side_text = "  ".join(f"{side} {getattr(row, f'{side}_n'):,} {100 * getattr(row, f'{side}_noisy'):.1f} %" for side in SIDES)
        search = " (search)" if row.seed == params["study"]["search_seed"] else ""
        print(
            f"  seed {row.seed}{search:<9} pool {row.pool:,} {100 * row.pool_noisy:.1f} % mislabelled   {side_text}"
            f"   ERM margin AUC {row.margin_auc:.3f}, clean acc {100 * row.erm_clean_acc:.1f} %"
        )
    mean = sides.mean(numeric_only=True)
    print(
        f"  mean{'':<11} pool {100 * mean.pool_noisy:.1f} %   "
        + "  ".join(f"{side} {100 * mean[f'{side}_noisy']:.1f} %" for side in SIDES)
        + f"   ERM margin AUC {mean.margin_auc:.3f}, clean acc {100 * mean.erm_clean_acc:.1f} %"
    )
    torch.set_num_threads(1)
    heads = label_heads(repo, params)
    train = params["train"]
    print(
        f"a linear head trained here on the training part (the study's trial-0 recipe: Adam, lr {train['lr']}, {train['steps']} steps of {train['batch_size']}),"
    )
    print(
        f"  test accuracy, mean over seeds {', '.join(map(str, heads['seed']))}: clean labels {100 * heads['clean'].mean():.1f} % "
        f"({', '.join(f'{100 * a:.1f}' for a in heads['clean'])}), observed labels {100 * heads['observed'].mean():.1f} % "
        f"({', '.join(f'{100 * a:.1f}' for a in heads['observed'])}); the study's ERM {100 * metrics[SCENARIO]['erm']['id_acc']:.1f} %"
    )
    signal = meta_signal(repo, params)
    print("the first-order signal of a meta step (search seed; a linear head here at half the budget on a side's train")
    print("side): each training example's alignment with the validation gradient, its noise AUC (1: the meta step")
    print("raises every clean example's weight more than any mislabelled one's) with the side's observed / clean labels,")
    print("and (r) its correlation with its class-marginal part along the features' mean, blind to the noise")
    for row in signal.itertuples():
        print(
            f"  features {row.features:<7} {row.side:<6} side: observed labels AUC {row.observed_auc:.3f} (r {row.observed_corr:.2f})"
            f"   clean labels AUC {row.clean_auc:.3f} (r {row.clean_corr:.2f})"
        )
    learners = [method for method in methods if metrics[SCENARIO][method].get("noise_auc") is not None]
    print("each reweighting method's selected configuration, mean over seeds: its normalised weights' 5th-95th")
    print("percentiles (0.9-1.1: barely reweighted), noise AUC, its validation side's mislabelled share")
    for method in learners:
        m = metrics[SCENARIO][method]
        side = f"   val. side {100 * m['val_noisy_share']:.1f} % mislabelled" if m.get("val_noisy_share") is not None else ""
        print(f"  {method:<11} weights {m['weight_p05']:.2f}-{m['weight_p95']:.2f}   noise AUC {m['noise_auc']:.3f}{side}")
    trials = trial_table(repo, params, SCENARIO)
    print("on the search seed, each trial: weights' 5th-95th percentiles (raw: the meta-network's mean weight in the last")
    print("epoch, before each batch's rescaling to mean 1), noise AUC, test accuracy (* selection's pick)")
    for method, rows in trials.groupby("method", sort=False):
        print(f"  {method:<11}" + "   ".join(map(trial_cell, rows.itertuples())))
    if TRUSTED in metrics:
        print(f"the two protocols: {SCENARIO} (validation sides carry the observed labels) and {TRUSTED} (the clean ones; the")
        print("train side, the draws and the selection split are the same): test accuracy, noise AUC, weights' 5th-95th percentiles")
        for method in [*methods, TRUSTED_BASELINE]:
            cells = []
            for scenario in (SCENARIO, TRUSTED):
                m = metrics[scenario].get(method)
                if m is None:
                    cells.append(f"{'—':<38}")
                    continue
                extra = f"  AUC {m['noise_auc']:.3f}  weights {m['weight_p05']:.2f}-{m['weight_p95']:.2f}" if m.get("noise_auc") is not None else ""
                cells.append(f"{100 * m['id_acc']:.1f} %{extra}".ljust(38))
            print((f"  {method:<17}" + " | ".join(cells)).rstrip())
        trials = trial_table(repo, params, TRUSTED)
        if len(trials):
            print(f"{TRUSTED}, on the search seed, each trial (as above)")
            for method, rows in trials.groupby("method", sort=False):
                print(f"  {method:<11}" + "   ".join(map(trial_cell, rows.itertuples())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="replicate seeds (default 3)")
    parser.add_argument("--trials", type=int, default=3, help="trials per method (default 3: the default study's)")
    parser.add_argument("--methods", help="comma-separated methods (default: the default study's ten; erm is needed)")
    parser.add_argument("--trusted", action="store_true", help=f"also run {TRUSTED} (and the {TRUSTED_BASELINE} baseline)")
    parser.add_argument("--center", action="store_true", help="centre the features on the training split's mean (data.features.center)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="build the study repository in DIR (must not exist) and keep it")
    parser.add_argument("--diagnose", type=Path, metavar="DIR", help="run nothing: print the diagnostics of a repository kept with --keep")
    args = parser.parse_args()
    if args.diagnose:
        print_diagnostics(args.diagnose, yaml.safe_load((args.diagnose / "params.yaml").read_text()))
        return
    if args.seeds < 1 or args.trials < 1:
        print(f"error: --seeds {args.seeds} --trials {args.trials}: give at least 1 of each", file=sys.stderr)
        raise SystemExit(2)
    if args.keep and args.keep.exists():
        print(f"error: --keep {args.keep}: it exists; name a new folder", file=sys.stderr)
        raise SystemExit(2)
    params = study(args.seeds, args.trials, args.methods.split(",") if args.methods else None, args.trusted, args.center)
    env = {**study_env(), "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="molere-frozen-") as tmp:
        repo = make_study_repo(args.keep.resolve() if args.keep else Path(tmp) / "study", params)
        start = time.perf_counter()
        done = subprocess.run(["molere-bench", "repro"], cwd=repo, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"molere-bench repro failed:\n{done.stderr[-3000:]}")
        times = stage_times(done.stderr + done.stdout)
        metrics = json.loads((repo / "reports/metrics.json").read_text())[SCENARIO]
        methods = params["study"]["methods"]
        print(f"{os.cpu_count()} CPUs; {POOL:,} training vectors of width {WIDTH}; {len(methods)} methods x {args.seeds} seeds, {args.trials} trials each")
        print(f"wall {wall / 60:.1f} min for {sum(map(len, times.values()))} stages (stage times summed: {sum(map(sum, times.values())) / 60:.1f} min)")
        for kind, seconds in sorted(times.items(), key=lambda item: -sum(item[1])):
            print(f"  {kind:<18} {len(seconds):>4} stages  {sum(seconds):>8.1f} s  (mean {sum(seconds) / len(seconds):.1f} s)")
        print("each method's linear head, mean over seeds: test accuracy (chance 10 %) and, for the methods that")
        print("learn example weights, the noise AUC of those weights (0.5: blind to the mislabelled examples, 1: all below)")
        for method in methods:
            auc = metrics[method].get("noise_auc")
            print(f"  {method:<11} {100 * metrics[method]['id_acc']:.1f} %" + (f"   noise AUC {auc:.3f}" if auc is not None else ""))
        sys.stdout.flush()
        print_diagnostics(repo, params)


if __name__ == "__main__":
    main()
