"""DVC's side of the executor: which stages are out of date, and recording a finished one. Each is
made of DVC's own calls in the order `dvc repro` makes them (`dvc.repo.reproduce`,
`dvc.stage.Stage.reproduce` and `Stage.run`), only split where `dvc repro` runs the command and
where it writes dvc.lock (`dump`, which writes the entries of several stages at once), so a stage
is skipped, restored from the run cache and written to dvc.lock exactly as there.

Every call here is a step of DVC's (`locked`), made while the run holds the repository lock
(`runlock`): unlike `dvc repro`, which releases it while a command runs, the executor keeps it
while the stages run, so nothing else changes the project under it. `prepare` and `record` are
made by the Ray worker that runs the stage where it can (`onworker`), else in the driver."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from molere.errors import MolereError

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage


def open_repo() -> "Repo":
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        return Repo()
    except NotDvcRepoError:
        raise MolereError("not inside a DVC project (no .dvc folder above the current one); run from the project root") from None


@contextlib.contextmanager
def locked(repo: "Repo"):
    """One of DVC's steps, inside the run's hold of the lock: DVC's caches of the repository
    (its index, ignore rules, hash state) are dropped around it, as `lock_repo` drops them when
    it takes the lock, so each step sees the files the stages wrote meanwhile (`reset`)."""
    reset(repo)
    yield
    reset(repo)


def reset(repo: "Repo") -> None:
    """DVC's `Repo._reset`, keeping two caches that only DVC itself changes during the run, each
    rebuilt in every step before (the run holds the repository lock that `dvc config` takes):
    its config (13 ms a step to read again) and git's parsed ignore rules (7 ms a step). DVC
    appends an output's .gitignore entry only where the rules say it is not yet ignored, and
    never twice (`_add_entry_to_gitignore` skips a line the file has), so rules that miss the
    entries added during the run change nothing it writes. And its state database (the hashes
    of files by their stat, the links it made) stays open rather than closed and reopened at
    every step (1-2 ms a step): SQLite shows each connection what the others committed, so the
    run's other processes, which write it meanwhile, are seen as before."""
    from dvc_data.hashfile.state import StateNoop

    config = repo.__dict__.get("config")
    backends = list(repo.scm.backends.initialized.values()) if "scm" in repo.__dict__ else []
    ignore_rules = [backend.__dict__.get("ignore_manager") for backend in backends]
    state, repo.state = repo.state, StateNoop()  # what `_reset` closes
    repo._reset()
    repo.state = state
    if config is not None:
        repo.__dict__["config"] = config
    for backend, rules in zip(backends, ignore_rules):
        if rules is not None:
            backend.__dict__["ignore_manager"] = rules


steps_ended = 0  # `staged_for` blocks ended in this process (`hashes`: what they staged is gone)


@contextlib.contextmanager
def staged_for():
    """DVC's calls for one stage: what they leave in fsspec's process-wide in-memory filesystem
    (the listings of the folders DVC hashed, the objects it staged to commit) goes after them.
    Nothing reads it later, and a store that grew with every folder hashed made each of its
    lookups, which scan it whole, slower (fsspec/filesystem_spec#1906)."""
    global steps_ended
    from fsspec.implementations.memory import MemoryFileSystem

    files, folders = set(MemoryFileSystem.store), set(MemoryFileSystem.pseudo_dirs)
    try:
        yield
    finally:
        for path in set(MemoryFileSystem.store) - files:
            del MemoryFileSystem.store[path]
        MemoryFileSystem.pseudo_dirs[:] = [path for path in MemoryFileSystem.pseudo_dirs if path in folders]
        steps_ended += 1


@contextlib.contextmanager
def quiet():
    """DVC's per-stage lines off while the display shows the run; its warnings stay on."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def plan(repo: "Repo") -> tuple[list["Stage"], dict["Stage", list["Stage"]]]:
    """Every stage of the project in `dvc repro`'s order (dependencies first), and the stages
    each depends on (frozen stages depend on none, as in `dvc repro`)."""
    from dvc.repo.reproduce import get_active_graph, plan_repro

    with locked(repo):
        graph = get_active_graph(repo.index.graph)
        order = plan_repro(graph)
    return order, {stage: list(graph.successors(stage)) for stage in order}


def runs_command(stage: "Stage") -> bool:
    """Whether `dvc repro` would run this stage's command; the others (data sources, imports,
    frozen stages) are checked and recorded in the driver, by DVC itself."""
    return bool(stage.cmd) and not stage.frozen and not stage.is_import


def commands(stage: "Stage") -> list[str]:
    return stage.cmd if isinstance(stage.cmd, list) else stage.cmd.splitlines()


def reproduce_here(stage: "Stage", upstream: list["Stage"]) -> bool:
    """`dvc repro`'s step for a stage without a command to run; whether it did anything."""
    from dvc.repo.reproduce import _reproduce_stage

    return _reproduce_stage(stage, upstream=upstream) is not None


def changed(stage: "Stage", upstream: list["Stage"]) -> bool:
    """Whether `dvc repro` would run the stage now (its upstream stages have finished)."""
    return stage.changed(upstream=upstream)


def prepare(stage: "Stage") -> bool:
    """Before the command: remove the stage's outputs, then restore them from the run cache if
    DVC has this very run cached (and record the stage); whether the command must still run."""
    from dvc.stage.cache import RunCacheNotFoundError

    stage.remove_outs(ignore_remove=False, force=False)
    try:
        stage.repo.stage_cache.restore(stage)
    except RunCacheNotFoundError:
        stage.save_deps()
        return True
    record(stage)
    return False


def record(stage: "Stage") -> None:
    """After the command: hash the outputs and commit them to the cache (and the run to the run
    cache), as `Stage.run` does; `dump` then writes the stage's entry in dvc.lock."""
    uncached = any(not out.use_cache for out in stage.outs if not (out.is_metric or out.is_plot))
    stage.save(run_cache=not uncached)
    stage.commit()


def dump(stages: list["Stage"]) -> None:
    """Write the recorded stages' entries, in this order, as `stage.dump(update_pipeline=False)`
    does after each stage in `dvc repro`: the stages of one dvc.yaml through one call of DVC's
    `dump_stages`, which reads and rewrites the whole dvc.lock once for all of them (once per stage,
    that rewrite grows with the lock: about 2 s for the default study's)."""
    from dvc.stage import PipelineStage

    files: dict[str, list[Stage]] = {}
    for stage in stages:
        if isinstance(stage, PipelineStage):
            files.setdefault(stage.dvcfile.path, []).append(stage)
        else:  # a .dvc file holds one stage
            stage.dump(update_pipeline=False)
    for same_file in files.values():
        same_file[0].dvcfile.dump_stages(same_file, update_pipeline=False)


def log_path(repo: "Repo", stage: "Stage") -> Path:
    """Where a stage's output goes (overwritten by the next run of the stage)."""
    return Path(repo.tmp_dir, "molere-logs", f"{stage.addressing}.log")


@contextlib.contextmanager
def params_with(repo: "Repo", overrides: list[str]):
    """The path of params.yaml with `-S key=value` applied as `dvc exp run -S` writes them (Hydra's
    override syntax, `forced`); put back as it was if the block raises a MolereError (a bad value
    or key)."""
    from dvc.exceptions import DvcException
    from dvc.utils.hydra import apply_overrides

    path = Path(repo.root_dir, "params.yaml")
    before = path.read_bytes() if path.exists() else None
    if overrides:
        try:
            apply_overrides(path, [forced(override) for override in overrides])
        except DvcException as err:  # Hydra's reason is the cause; its first line names the bad override
            reason = " ".join(str(err.__cause__ or err).splitlines()[:2])
            raise MolereError(f"-S {' '.join(overrides)}: {reason}") from None
    try:
        yield path
    except MolereError:
        if before is not None:
            path.write_bytes(before)
        raise


def forced(override: str) -> str:
    """`key=value` as Hydra's `++key=value`, which sets the key whether or not params.yaml spells it
    out (`methods: {}` declares no method's keys; their configs do, and the caller checks the key
    against them); an override already in Hydra's grammar (`+key=`, `++key=`, `~key`) as written."""
    return override if override.startswith(("+", "~")) else f"++{override}"


def override_key(override: str) -> str:
    """The dotted key a Hydra override sets: `++methods.focal.gamma=1` -> methods.focal.gamma."""
    return override.partition("=")[0].lstrip("+~")


def save_experiment(repo: "Repo", name: str, stages: list["Stage"]) -> None:
    """`dvc exp save --name NAME`, staging first the files `dvc exp run` would stage (dvc.lock and
    the outputs kept in git, such as reports/), so `dvc exp show` lists the run's metrics."""
    from dvc.exceptions import DvcException
    from dvc.stage.utils import _get_stage_files

    paths = sorted({path for stage in stages for path in _get_stage_files(stage) if Path(repo.root_dir, path).exists()})
    try:
        repo.scm.add(paths)
        repo.experiments.save(name=name)
    except DvcException as err:
        raise MolereError(f"dvc exp save --name {name} failed: {str(err).splitlines()[0]}") from None

