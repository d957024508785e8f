"""Hardening, through the command line on a tiny study that every stage has run in: each bad input
is one line on stderr and leaves the artifacts as they were; a stage killed at any of its write
points leaves its complete previous outputs or none; identical runs give identical bytes; a study
name with shell metacharacters never reaches a shell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from molere import paths
from molere.cli import app
from molere.io import KILL_AT, KILLED
from molere.stage_cli import load_params
from molere_tools.sandbox import ROOT, make_study_repo, study_env

SCENARIO = "clean"
METHODS = ["erm", "lrw-hard"]
CLI = [sys.executable, "-m", "molere.cli"]


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=[SCENARIO], trusted_scenarios=[], methods=METHODS, search_seed=0, seeds=[1], trials=[0, 1])
    params["data"]["mnist1d"]["num_samples"] = 200
    params["ood"]["severities"] = [1, 5]
    params["train"].update(steps=None, epochs=2, device="cpu")
    return params


# every stage kind, in the pipeline's order
STAGES = [
    ["prepare"],
    *([stage, "--seed", str(seed)] for seed in (0, 1) for stage in ("corrupt", "erm", "rank", "valsets")),  # the search seed's draws, the replicate's
    *(["train", "--method", m, "--trial", str(t)] for m in METHODS for t in (0, 1)),
    *(["select", "--method", m] for m in METHODS),
    *(["replicate", "--method", m, "--seed", "1"] for m in METHODS),
    ["evaluate"],
    ["report"],
]


def run_in_process(folder: Path, args: list[str]) -> None:
    """One stage through the CLI's Typer app in this process (torch imported once for all)."""
    previous = Path.cwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(app, ["stage", *args])
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, (args, result.output, result.exception)


def build_study(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    for args in STAGES:
        run_in_process(folder, args)
    return folder


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return build_study(tmp_path_factory.mktemp("hardening") / "study")


@pytest.fixture
def project(study, tmp_path) -> Path:
    """A copy of the study to damage."""
    return Path(shutil.copytree(study, tmp_path / "project"))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def temporaries(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*.tmp")]


def run_cli(args: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


# --- every bad input: one line, nothing written -------------------------------------------------


Damage = Callable[[Path], None]


def rewrite_table(path: str, change) -> Damage:
    def damage(project: Path) -> None:
        change(pd.read_parquet(project / path)).to_parquet(project / path)

    return damage


def write(path: str, data: bytes) -> Damage:
    def damage(project: Path) -> None:
        (project / path).write_bytes(data)

    return damage


def append_params(text: str) -> Damage:
    def damage(project: Path) -> None:
        with (project / "params.yaml").open("a") as params:
            params.write(text)

    return damage


def drop_pool_labels(project: Path) -> None:
    path = project / paths.pool(SCENARIO)
    pq.write_table(pq.read_table(path).drop(["y"]), path)


def resave_model(change) -> Damage:
    def damage(project: Path) -> None:
        import torch

        path = project / paths.erm_rank_model(SCENARIO, 0)
        torch.save(change(torch.load(path, weights_only=True)), path)

    return damage


def drop_a_weight(saved: dict) -> dict:
    saved["state_dict"].popitem()
    return saved


def text_select_acc(project: Path) -> None:
    path = project / paths.trial_dir(SCENARIO, "erm", 0) / paths.METRICS
    path.write_text(json.dumps({**json.loads(path.read_text()), "select_acc": "high"}))


TRAIN = ["stage", "train", "--method", "erm"]
TRAIN_HARD = ["stage", "train", "--method", "lrw-hard"]
MARGINS, VALSETS, INFO, MODEL = (p.as_posix() for p in (paths.margins(SCENARIO, 0), paths.valsets(SCENARIO, 0), paths.info(SCENARIO), paths.erm_rank_model(SCENARIO, 0)))
RERUN = "; re-run `molere-bench stage"
APPENDED = len(yaml.safe_dump(tiny_params()).splitlines()) + 1  # the line of what a case appends to params.yaml

# (id, damage to the project or None, command line, extra environment, the error line)
BAD_INPUTS = [
    # the first table
    ("epochs-0-cosine", None, [*TRAIN, "-S", "train.epochs=0"], {}, "error: train.epochs = 0 is outside the allowed range [1, inf)"),
    ("epochs-0-constant", None, [*TRAIN, "-S", "train.epochs=0", "-S", "train.schedule=constant"], {}, "error: train.epochs = 0 is outside the allowed range [1, inf)"),
    ("epochs-negative", None, [*TRAIN, "-S", "train.epochs=-3"], {}, "error: train.epochs = -3 is outside the allowed range [1, inf)"),
    ("steps-0", None, [*TRAIN, "-S", "train.steps=0"], {}, "error: train.steps = 0 is outside the allowed range [1, inf)"),
    ("two-budgets", None, [*TRAIN, "-S", "train.steps=5"], {},
     "error: train.epochs = 2 and train.steps = 5 both set the training budget; set one of them (train.steps=null trains by epochs)"),
    ("batch-size-0", None, [*TRAIN, "-S", "train.batch_size=0"], {}, "error: train.batch_size = 0 is outside the allowed range [1, inf)"),
    ("batch-size-negative", None, [*TRAIN, "-S", "train.batch_size=-8"], {}, "error: train.batch_size = -8 is outside the allowed range [1, inf)"),
    ("lr-negative", None, [*TRAIN, "-S", "train.lr=-0.1"], {}, "error: train.lr = -0.1 is outside the allowed range (0, inf)"),
    ("lr-nan", None, [*TRAIN, "-S", "train.lr=.nan"], {}, "error: train.lr = nan is not a number"),
    ("weight-decay-negative", None, [*TRAIN, "-S", "train.weight_decay=-1"], {}, "error: train.weight_decay = -1.0 is outside the allowed range [0, inf)"),
    ("seed-option", None, [*TRAIN, "--seed", "-1"], {}, "error: --seed = -1 is outside the allowed range [0, 4294967295]"),
    ("study-seeds", None, [*TRAIN, "-S", "study.seeds=[0, -1]"], {}, "error: study.seeds = -1 is outside the allowed range [0, 4294967295]"),
    ("search-seed-replicated", None, [*TRAIN, "-S", "study.seeds=[1, 0]"], {},
     "error: study.seeds = [1, 0] contains the search seed study.search_seed = 0; the replicates must be other seeds"),
    ("search-seed", None, ["stage", "erm", "-S", "study.search_seed=4294967296"], {}, "error: study.search_seed = 4294967296 is outside the allowed range [0, 4294967295]"),
    ("data-seed", None, ["stage", "prepare", "-S", "data.seed=-1"], {}, "error: data.seed = -1 is outside the allowed range [0, 4294967295]"),
    ("cuda-without-gpu", None, [*TRAIN, "-S", "train.device=cuda"], {"CUDA_VISIBLE_DEVICES": ""},
     "error: train.device = 'cuda' but torch finds no CUDA GPU here; allowed here: cpu, auto (the GPU where there is one)"),
    *(
        (f"num-samples-{n}", None, ["stage", "prepare", "-S", f"data.mnist1d.num_samples={n}"], {},
         f"error: data.mnist1d.num_samples = {n} is too small for MNIST-1D's splits: the minimum is 50 (its 20% test split "
         "and the OOD shifts drawn like it need a signal of each of the 10 classes)")
        for n in (5, 30)
    ),
    ("num-samples-0", None, ["stage", "prepare", "-S", "data.mnist1d.num_samples=0"], {}, "error: data.mnist1d.num_samples = 0 is outside the allowed range [1, 1000000]"),
    ("num-samples-huge", None, ["stage", "prepare", "-S", "data.mnist1d.num_samples=1000000000000"], {},
     "error: data.mnist1d.num_samples = 1000000000000 is outside the allowed range [1, 1000000]"),
    ("set-unclosed-list", None, [*TRAIN, "-S", "train.epochs=[1"], {},
     "error: malformed -S train.epochs=[1 at line 1, column 3: expected ',' or ']', but got '<stream end>'"),
    ("set-unclosed-mapping", None, [*TRAIN, "-S", "train.lr={"], {},
     "error: malformed -S train.lr={ at line 1, column 2: expected the node content, but found '<stream end>'"),
    ("set-below-a-value", None, [*TRAIN, "-S", "train.epochs.x=5"], {}, "error: cannot set train.epochs.x: params.yaml has train.epochs = 2, not a mapping of keys"),
    ("model-option", None, [*TRAIN, "-S", "model.foo=1"], {}, "error: unknown params key 'model.foo'; known: name, weights, freeze, channels"),
    ("model-option-type", None, [*TRAIN, "-S", "model.channels=many"], {}, "error: model.channels = 'many' should be of type int"),
    ("params-directory", None, [*TRAIN, "--params", "data"], {}, "error: params file data is a directory, not a file"),
    ("info-empty", write(INFO, b"{}"), ["stage", "erm"], {},
     f"error: corrupt file {INFO}: it lacks the keys num_classes{RERUN} prepare --scenario clean`"),
    ("margins-without-margin", rewrite_table(MARGINS, lambda f: f.drop(columns="margin")), TRAIN, {},
     f"error: corrupt file {MARGINS}: it lacks the columns margin{RERUN} rank --scenario clean --seed 0`"),
    ("valsets-without-hard", rewrite_table(VALSETS, lambda f: f.drop(columns="hard")), TRAIN_HARD, {},
     f"error: corrupt file {VALSETS}: it lacks the columns hard{RERUN} valsets --scenario clean --seed 0`"),
    ("valsets-text-booleans", rewrite_table(VALSETS, lambda f: f.assign(hard=f["hard"].map(str))), TRAIN_HARD, {},
     f"error: corrupt file {VALSETS}: it has str values in column hard, not booleans{RERUN} valsets --scenario clean --seed 0`"),
    ("valsets-of-other-data", rewrite_table(VALSETS, lambda f: f.iloc[1:]), TRAIN_HARD, {},
     f"error: corrupt file {VALSETS}: it does not cover the pool's examples (127 ids, the pool 128): it comes from other data{RERUN} valsets --scenario clean --seed 0`"),
    ("pool-without-y", drop_pool_labels, ["stage", "erm"], {},
     f"error: corrupt file {paths.pool(SCENARIO)}: it lacks the columns y{RERUN} prepare --scenario clean`"),
    # metrics.json holds no timings any more (timings/, apart): a trial's non-numeric metric instead
    ("metrics-text", text_select_acc, ["stage", "select", "--method", "erm"], {},
     f"error: corrupt file {paths.trial_dir(SCENARIO, 'erm', 0) / paths.METRICS}: it has select_acc = 'high', not a number"
     f"{RERUN} train --scenario clean --method erm --trial 0 --seed 0`"),
    ("model-random-bytes", write(MODEL, bytes(range(256)) * 4), ["stage", "rank"], {},
     f"error: corrupt file {MODEL}: it is not a model archive (UnpicklingError from torch.load){RERUN} erm --scenario clean --seed 0`"),
    ("model-empty", write(MODEL, b""), ["stage", "rank"], {},
     f"error: corrupt file {MODEL}: it is not a model archive (EOFError from torch.load){RERUN} erm --scenario clean --seed 0`"),
    ("model-other-keys", resave_model(lambda saved: {"weights": saved["state_dict"]}), ["stage", "rank"], {},
     f"error: corrupt file {MODEL}: it does not hold a model as save_model writes it (KeyError: 'model'){RERUN} erm --scenario clean --seed 0`"),
    ("model-other-weights", resave_model(drop_a_weight), ["stage", "rank"], {},
     f"error: corrupt file {MODEL}: it does not hold a model as save_model writes it (RuntimeError: Error(s) in loading "
     f"state_dict for ConvNet1d: Missing key(s) in state_dict: \"head.bias\".){RERUN} erm --scenario clean --seed 0`"),
    # the "silently accepted" list
    ("unknown-section", append_params("trian:\n  epochs: 1\n"), TRAIN, {},
     "error: unknown params key 'trian'; did you mean 'train'? known: study, data, noise, ood, rank, valsets, train, execution, claims, model, methods, search, embeddings"),
    ("unknown-key", None, [*TRAIN, "-S", "train.epoch=50"], {},
     "error: unknown params key 'train.epoch'; did you mean 'train.epochs'? known: epochs, steps, batch_size, optimizer, lr, weight_decay, momentum, schedule, device, augment, workers"),
    ("duplicate-key", append_params("train:\n  epochs: 1\n"), TRAIN, {}, f"error: malformed params.yaml at line {APPENDED}, column 1: duplicate key 'train'"),
    ("syntax-error", append_params("oops: [\n"), TRAIN, {},
     f"error: malformed params.yaml at line {APPENDED + 1}, column 1: expected the node content, but found '<stream end>'"),
    # names that become paths or reach shell commands
    ("scenario-path", None, ["stage", "prepare", "--scenario", "../x"], {},
     "error: unknown scenario '../x'; allowed: clean, idn-<rate%>, sym-<rate%>, pair-<rate%>, skew-<factor>, or noise+skew; noisy ones optionally +trusted"),
    ("scenario-shell", None, ["stage", "fingerprint", "-S", "study.scenarios=['clean$(touch${IFS}pwned)']"], {},
     "error: unknown scenario 'clean$(touch${IFS}pwned)'; allowed: clean, idn-<rate%>, sym-<rate%>, pair-<rate%>, skew-<factor>, or noise+skew; noisy ones optionally +trusted"),
]


@pytest.mark.parametrize("damage, args, env, expected", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_a_bad_input_is_one_line_and_leaves_the_artifacts_as_they_were(project, damage, args, env, expected):
    if damage is not None:
        damage(project)
    before = snapshot(project)
    result = run_cli(args, project, **env)
    assert (result.returncode, result.stderr.splitlines()) == (2, [expected]), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert snapshot(project) == before  # nothing changed, nothing new: no partial outputs
    assert temporaries(project) == []


def test_values_that_were_silently_dropped_are_read(study):
    previous = Path.cwd()
    os.chdir(study)
    try:
        params = load_params("params.yaml", ["train.lr=1e-3", "ood.max_examples=null", "data.cifar10.root=", "train.weight_decay=1E-5"])
    finally:
        os.chdir(previous)
    assert params.get("train.lr") == 0.001 and isinstance(params.get("train.lr"), float)
    assert params.get("train.weight_decay") == 1e-5
    assert params.get("ood.max_examples", object) is None and params.get("data.cifar10.root", object) is None


# --- all or nothing under a kill ---------------------------------------------------------------


def run_forked(folder: Path, args: list[str], kill_at: int) -> int:
    """A stage through the CLI in a fork of this process (torch already imported), which the fault
    hook (molere.io.KILL_AT) ends just before its `kill_at`-th commit; the exit status."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        status = 1
        try:
            os.chdir(folder)
            os.environ[KILL_AT] = str(kill_at)
            result = CliRunner().invoke(app, ["stage", *args])
            status = result.exit_code
            if status:
                print(result.output, repr(result.exception), file=sys.stderr)
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def restore(folder: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


# stage -> (its command with other params, so that its new outputs differ from the old; its
# output folder; what a kill at each commit leaves there: the four (seven) files inside the new
# folder, the old folder renamed aside, the new one renamed in, (train) the timing file apart)
KILLS = {
    "prepare": (["prepare", "-S", "data.seed=1"], paths.data_dir(SCENARIO), ["old"] * 5 + [None]),
    "train": (["train", "--method", "lrw-hard", "-S", "train.epochs=1"], paths.trial_dir(SCENARIO, "lrw-hard", 0), ["old"] * 8 + [None, "new"]),
}


@pytest.mark.parametrize("stage", KILLS)
def test_a_stage_killed_at_any_write_point_leaves_its_old_outputs_or_none(project, stage):
    args, out, expected = KILLS[stage]
    old = snapshot(project / out)
    elsewhere = {k: v for k, v in snapshot(project).items() if not k.startswith((out.as_posix() + "/", "timings/"))}
    states, leftovers = [], []
    for at in range(1, 20):
        status = run_forked(project, args, at)
        assert not any((project / name).exists() for name in leftovers)  # the last run's, removed by this one
        if status == 0:
            break
        assert status == KILLED
        states.append(snapshot(project / out) if (project / out).exists() else None)
        leftovers = temporaries(project)
        restore(project / out, old)  # the next kill point starts from the old outputs again
    new = snapshot(project / out)
    assert sorted(new) == sorted(old) and new != old
    assert ["old" if s == old else "new" if s == new else s for s in states] == expected  # never a mix
    assert temporaries(project) == []
    assert {k: v for k, v in snapshot(project).items() if k in elsewhere} == elsewhere


# --- identical runs, identical bytes ------------------------------------------------------------

TIMING_FILES = (paths.TIMINGS.as_posix() + "/", paths.COST_REPORT.as_posix(), paths.COST_TABLE.as_posix())


def test_identical_runs_of_every_stage_kind_give_identical_bytes(study, tmp_path):
    again = build_study(tmp_path / "again")
    mine, theirs = ({k: v for k, v in snapshot(s).items() if not k.startswith(TIMING_FILES)} for s in (study, again))
    outputs = [
        paths.pool(SCENARIO), paths.labels(SCENARIO, 1), paths.erm_rank_model(SCENARIO, 1), paths.margins(SCENARIO, 1), paths.valsets(SCENARIO, 1),
        paths.trial_dir(SCENARIO, "lrw-hard", 1) / paths.MODEL, paths.selected(SCENARIO, "lrw-hard"),
        paths.run_dir(SCENARIO, "lrw-hard", 1) / paths.PREDICTIONS, paths.eval_dir(SCENARIO) / "results.parquet", paths.REPORT,
    ]
    assert {p.as_posix() for p in outputs} <= set(mine)  # one of every stage kind's
    assert list(mine) == list(theirs)
    assert [name for name in mine if mine[name] != theirs[name]] == []


# --- no shell injection --------------------------------------------------------------------------

PAYLOAD = "$(touch${IFS}pwned)"


def test_the_payload_runs_in_a_shell(tmp_path):
    """What the tests below keep from any shell does run there."""
    subprocess.run(f"echo clean{PAYLOAD}", shell=True, cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("scenarios", f"clean{PAYLOAD}", f"unknown scenario 'clean{PAYLOAD}'; allowed: clean, idn-<rate%>"),
        ("methods", f"erm{PAYLOAD}", f"study.methods: 'erm{PAYLOAD}' is not a method name (lower-case letters, digits and '-')"),
    ],
)
@pytest.mark.parametrize("command", ["molere-bench repro", "dvc repro"])
def test_a_study_name_with_shell_metacharacters_is_refused_before_any_command_runs(tmp_path, key, value, message, command):
    params = tiny_params()
    params["study"][key] = [value]
    repo = make_study_repo(tmp_path / "repo", params)
    result = subprocess.run(command, shell=True, cwd=repo, env=study_env(), capture_output=True, text=True)
    if command == "molere-bench repro":  # checked before DVC runs anything
        assert (result.returncode, len(result.stderr.splitlines())) == (2, 1), result.stderr
        assert result.stderr.startswith(f"error: {message}")
        assert not (repo / "fingerprints").exists()
    else:  # DVC runs the fingerprint stage first, which checks the params and fails
        assert result.returncode != 0 and f"error: {message}" in result.stdout + result.stderr
        assert "failed to reproduce 'fingerprint'" in result.stdout + result.stderr
    assert list(tmp_path.rglob("pwned")) == []
    assert not (repo / "dvc.lock").exists() and not (repo / "data").exists()
