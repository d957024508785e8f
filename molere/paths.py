"""Where every artifact lives: the layout `dvc.yaml` declares (tests/test_layout.py checks each
stage's outs against it), each training run's files, and the timing files apart from them. The one
module that names artifact paths: the stages write there, the evaluation and report read there."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RUNS = Path("runs")
REPORTS = Path("reports")
EVALUATION = Path("evaluation")
FINGERPRINTS = Path("fingerprints")
# the embed stage's folders, one per embedding; every prepare stage depends on the whole folder
# (dvc.yaml: a scenario's dataset may be an embedding's features), which holds a .gitkeep so that
# it exists in a study without embeddings
FEATURES = Path("features")
TIMINGS = Path("timings")  # wall-clock, apart from the results: no DVC output, git-ignored
# the report stage's folder, written together (molere.io.atomic_dir), the cost files included
REPORT = REPORTS / "report.md"
REPORT_METRICS = REPORTS / "metrics.json"
CLAIMS = REPORTS / "claims.json"
CLAIM_COMPARISONS = REPORTS / "claim_comparisons.csv"
RESULTS = REPORTS / "results.csv"
FIGURES = REPORTS / "figures"
CURVES = REPORTS / "curves"
COST_REPORT = REPORTS / "cost.md"  # the committed timing files, no DVC outputs
COST_TABLE = REPORTS / "cost.csv"

# the files of a scenario's data folder (`data_dir`)
POOL = "pool.parquet"  # the training pool: its supplied train and selection splits
TEST = "test.parquet"
OOD = "ood.parquet"  # the test set's shifts at every severity
INFO = "info.json"  # the dataset's classes and normalisation, the realised corruption
SIDE_PREFIX = "side-"  # side-<name>.parquet: a validation side the dataset supplies (`side`)
EMBEDDED_SPLITS = ("train", "val", "test")  # an embedding's tables besides OOD (`features_dir`)

# the files of a training run's folder (`run_dir`, `trial_dir`, `erm_rank_dir`)
MODEL = "model.pt"
PREDICTIONS = "predictions.parquet"  # test and OOD
METRICS = "metrics.json"
CONFIG = "config.json"  # its trial's values and its whole configuration
HISTORY = "history.csv"  # one row per epoch
WEIGHTS = "weights.parquet"  # the learned weight of each train-side example
VALIDATION = "validation.parquet"  # which side of the pool each example was on
RUN_FILES = (MODEL, PREDICTIONS, METRICS, CONFIG, HISTORY, WEIGHTS, VALIDATION)


def data_dir(scenario: str) -> Path:
    """The prepare stage's folder: POOL, TEST, OOD, INFO and the dataset's supplied sides (written
    together, molere.io.atomic_dir)."""
    return DATA / scenario


def pool(scenario: str) -> Path:
    return data_dir(scenario) / POOL


def test(scenario: str) -> Path:
    return data_dir(scenario) / TEST


def ood(scenario: str) -> Path:
    return data_dir(scenario) / OOD


def info(scenario: str) -> Path:
    return data_dir(scenario) / INFO


def side(scenario: str, name: str) -> Path:
    return data_dir(scenario) / f"{SIDE_PREFIX}{name}.parquet"


def draw_dir(scenario: str, seed: int) -> Path:
    """What seed `seed` draws of a scenario (molere/draws.py): its labels, first ERM pass, margins
    and heuristic validation sets, each the output of its own stage."""
    return RUNS / scenario / "draws" / str(seed)


def labels(scenario: str, seed: int) -> Path:
    """The corrupt stage's output: the kept training-part examples' ids and observed labels."""
    return draw_dir(scenario, seed) / "labels.parquet"


def valsets(scenario: str, seed: int) -> Path:
    """The valsets stage's output, outside prepare's folder (each multi-file stage owns its folder)."""
    return draw_dir(scenario, seed) / "valsets.parquet"


def erm_rank_dir(scenario: str, seed: int) -> Path:
    return draw_dir(scenario, seed) / "erm-rank"


def erm_rank_model(scenario: str, seed: int) -> Path:
    return erm_rank_dir(scenario, seed) / MODEL


def margins(scenario: str, seed: int) -> Path:
    return draw_dir(scenario, seed) / "rank" / "margins.parquet"


def method_dir(scenario: str, method: str) -> Path:
    return RUNS / scenario / method


def trials_dir(scenario: str, method: str) -> Path:
    """Every trial of the method's search, on the study's search seed."""
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
    """The evaluate stage's folder (molere.report.evaluation.TABLES, written together)."""
    return EVALUATION / scenario


def fingerprint(stage: str, key: str | None = None) -> Path:
    """A stage's fingerprint; `train`'s are one per method, `embed`'s one per embedding (`key`)."""
    return FINGERPRINTS / stage / f"{key}.json" if key else FINGERPRINTS / f"{stage}.json"


def features_dir(embedding: str) -> Path:
    """The embed stage's folder (molere/embed.py), written together: one examples table per split
    of the embedded dataset (`EMBEDDED_SPLITS`, `val` only where it has its own), its OOD shifts'
    table (OOD), one per validation side it supplies (`embedded_side`) and INFO."""
    return FEATURES / embedding


def embedded_split(embedding: str, split: str) -> Path:
    return features_dir(embedding) / f"{split}.parquet"


def embedded_side(embedding: str, name: str) -> Path:
    return features_dir(embedding) / f"{SIDE_PREFIX}{name}.parquet"
