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


def method_dir(scenario: str, method: str) -> Path:
    return RUNS / scenario / method


def trials_dir(scenario: str, method: str) -> Path:
    """Every trial of the method's search, on the study's first seed."""
    return method_dir(scenario, method) / "trials"


def trial_dir(scenario: str, method: str, trial: int) -> Path:
    return trials_dir(scenario, method) / str(trial)


def selected(scenario: str, method: str) -> Path:
    """The trial the selection rule chose, and its values."""
    return method_dir(scenario, method) / "selected.json"


def run_dir(scenario: str, method: str, seed: int) -> Path:
    """The selected configuration trained with `seed`."""
    return method_dir(scenario, method) / "seeds" / str(seed)


def timing(run: Path) -> Path:
    """The timing file of the training run whose outputs are in `run` (a folder under runs/)."""
    return TIMINGS / Path(run).relative_to(RUNS).with_suffix(".json")


def eval_dir(scenario: str) -> Path:
    return EVALUATION / scenario


def fingerprint(stage: str, method: str | None = None) -> Path:
    """A stage's fingerprint; `train`'s are one per method."""
    return FINGERPRINTS / stage / f"{method}.json" if method else FINGERPRINTS / f"{stage}.json"
