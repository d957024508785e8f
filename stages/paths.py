"""Where each stage's artifacts live (the layout `dvc.yaml` declares)."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RUNS = Path("runs")
REPORTS = Path("reports")
EVALUATION = Path("evaluation")
FINGERPRINTS = Path("fingerprints")
TIMINGS = Path("timings")  # wall-clock, apart from the results: no DVC output, git-ignored
COST_REPORT = REPORTS / "cost.md"  # the committed timing files
COST_TABLE = REPORTS / "cost.csv"


def data_dir(scenario: str) -> Path:
    return DATA / scenario


def pool(scenario: str) -> Path:
    return data_dir(scenario) / "pool.parquet"


def test(scenario: str) -> Path:
    return data_dir(scenario) / "test.parquet"


def ood(scenario: str) -> Path:
    return data_dir(scenario) / "ood.parquet"


def info(scenario: str) -> Path:
    return data_dir(scenario) / "info.json"


def splits(scenario: str) -> Path:
    return data_dir(scenario) / "splits.parquet"


def erm_rank_dir(scenario: str) -> Path:
    return RUNS / scenario / "erm-rank"


def margins(scenario: str) -> Path:
    return RUNS / scenario / "rank" / "margins.parquet"


def run_dir(scenario: str, method: str, seed: int) -> Path:
    return RUNS / scenario / method / f"seed{seed}"


def run_timing(scenario: str, method: str, seed: int) -> Path:
    return TIMINGS / scenario / method / f"seed{seed}.json"


def erm_rank_timing(scenario: str) -> Path:
    return TIMINGS / scenario / "erm-rank.json"


def eval_dir(scenario: str) -> Path:
    return EVALUATION / scenario


def fingerprint(stage: str, method: str | None = None) -> Path:
    """A stage's fingerprint; `train`'s are one per method."""
    return FINGERPRINTS / stage / f"{method}.json" if method else FINGERPRINTS / f"{stage}.json"
