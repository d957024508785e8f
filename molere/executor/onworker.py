"""DVC's bookkeeping of a stage, made by the Ray worker that runs its command instead of the driver.

Before the command the worker removes the stage's outputs and restores them from the run cache
if DVC has this very run cached (`dvcrepo.prepare`); after it, it hashes the outputs and commits
them to the cache, and the run to the run cache (`dvcrepo.record`): DVC's own calls, in the order
`dvc repro` makes them, on a Stage built in the worker's own DVC Repo from what the driver holds
(`Handoff`: the stage's definition in dvc.yaml and what dvc.lock filled in). Two things stay in
the driver, one writer each for the project: the stage's dvc.lock entry, written from the hashes
the worker returns (`Recorded`), and the outputs' .gitignore entries.

So the driver's cost per stage no longer grows with the stage's files: the hashing and copying
run where the stage ran, on as many cores and nodes as run stages. Hashes travel both ways with
the signature they were computed for (`hashes.RunHashes.shared`): the driver hands a stage the
hashes of its dependencies it already has, and takes back the ones the worker computed, so each
input is still hashed once per run wherever it is needed next.

A worker keeps its Repo, its hashes and the per-run shortcuts (`perrun`) for the run that
`Handoff.run` names, and opens new ones for the next run (its config may have changed between).
The driver holds the repository lock for the whole run, so the workers' DVC calls take none."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from molere.executor import dvcrepo

if TYPE_CHECKING:
    from dvc.stage import Stage


@dataclass(frozen=True)
class Handoff:
    """What a worker needs to build the driver's stage and do its bookkeeping."""

    run: str  # the run's id
    root: str
    dvcfile: str  # the path of its dvc.yaml
    name: str
    definition: dict  # its entry in dvc.yaml, resolved (`foreach` and `${}` expanded)
    cmd_changed: bool  # whether dvc.lock records another command
    items: dict  # (kind, path) -> what dvc.lock filled in (`state`), for each dependency and output
    hashes: dict  # the driver's hashes of the stage's dependencies (RunHashes.shared)


@dataclass(frozen=True)
class Recorded:
    """What the worker's bookkeeping left for the driver."""

    restored: bool  # from the run cache: the command did not run
    items: dict  # (kind, path) -> the item's `state` as DVC saved it
    hashes: dict  # the hashes the worker computed or held for the stage's files (RunHashes.shared)
    computed: dict  # path -> how many times the worker computed its hash for this stage


def handles(stage: "Stage") -> bool:
    """Whether a worker can do the stage's bookkeeping: a dvc.yaml stage whose dependencies and
    outputs are all files on this project's file system (no import, no cloud versioning, no
    dataset); the driver does the others' itself."""
    from dvc.dependency import DatasetDependency
    from dvc.stage import PipelineStage

    items = [*stage.deps, *stage.outs]
    return (
        isinstance(stage, PipelineStage)
        and not stage.is_import
        and all(item.fs.protocol == "local" and not isinstance(item, DatasetDependency) for item in items)
        and not any(out.remote or getattr(out.fs, "version_aware", False) for out in stage.outs)
    )


def key(item) -> tuple[str, str]:
    return ("dep" if item.IS_DEPENDENCY else "out", item.def_path)


def state(item) -> tuple:
    """What dvc.lock's entry and DVC's `save` set on a dependency or output (`fill_from_lock`,
    `Output.save`): its hash's name, hash, meta and file list, and the object hashed (none before
    the stage is saved)."""
    return (item.hash_name, item.hash_info, item.meta, item.files, item.obj)


def set_state(item, value: tuple) -> None:
    item.hash_name, item.hash_info, item.meta, item.files, item.obj = value


def handoff(stage: "Stage", run: str, hashes) -> Handoff:
    """The driver's side: the stage as the worker must build it (its definition as DVC writes it
    to dvc.yaml, which loads back as the same stage: dependencies in path order aside)."""
    from dvc.stage.serialize import to_pipeline_file

    definition = to_pipeline_file(stage)[stage.name]
    deps = [dep.fs_path for dep in stage.deps]
    return Handoff(
        run=run,
        root=stage.repo.root_dir,
        dvcfile=stage.dvcfile.path,
        name=stage.name,
        definition=definition,
        cmd_changed=stage.cmd_changed,
        items={key(item): state(item) for item in [*stage.deps, *stage.outs]},
        hashes=hashes.shared(deps),
    )


def take(stage: "Stage", recorded: Recorded, hashes) -> None:
    """The driver's side, after the worker: the stage as DVC saved it there, and its hashes."""
    for item in [*stage.deps, *stage.outs]:
        set_state(item, recorded.items[key(item)])
    hashes.take(recorded.hashes, recorded.computed)


class Bookkeeping:
    """The worker's side: the stage of a Handoff in this worker's Repo for the run."""

    def __init__(self, handoff: Handoff):
        from dvc.dvcfile import ProjectFile
        from dvc.stage.loader import StageLoader

        self.repo, self.hashes = for_run(handoff)
        self.computed_before = self.hashes.computed.copy()
        with dvcrepo.locked(self.repo):
            dvcfile = ProjectFile(self.repo, handoff.dvcfile)
            self.stage = StageLoader.load_stage(dvcfile, handoff.name, handoff.definition)
        self.stage.cmd_changed = handoff.cmd_changed
        for item in [*self.stage.deps, *self.stage.outs]:
            set_state(item, handoff.items[key(item)])
        self.hashes.take(handoff.hashes, {})

    def prepare(self) -> bool:
        """`dvcrepo.prepare`: whether the command must run (else the stage was restored and recorded)."""
        with dvcrepo.locked(self.repo), dvcrepo.staged_for():
            return dvcrepo.prepare(self.stage)

    def record(self) -> None:
        """`dvcrepo.record`, after the command."""
        with dvcrepo.locked(self.repo), dvcrepo.staged_for():
            dvcrepo.record(self.stage)

    def recorded(self, restored: bool) -> Recorded:
        """What the driver takes back: the stage's items as saved, their hashes, and how often this stage computed one."""
        items = [*self.stage.deps, *self.stage.outs]
        paths = [item.fs_path for item in items]
        computed = dict(self.hashes.computed - self.computed_before)  # for this stage
        return Recorded(restored, {key(item): state(item) for item in items}, self.hashes.shared(paths), computed)


_run: dict = {}  # this worker's Repo, hashes and shortcuts for the current run


def for_run(handoff: Handoff):
    """This worker's Repo and RunHashes for the handoff's run, opened on its first stage; the
    previous run's closed. Outputs are ignored by the driver (`Output.ignore` does nothing here)."""
    if _run.get("id") != handoff.run:
        if "stack" in _run:
            _run.pop("stack").close()
        from dvc.lock import LockNoop
        from dvc.repo import Repo

        from molere.executor import hashes, perrun, sharedcache

        stack = contextlib.ExitStack()
        repo = stack.enter_context(Repo(handoff.root))
        repo.lock = LockNoop()  # the driver holds the repository's lock for the run, the workers' steps included
        repo.lock.lock()
        kept = stack.enter_context(hashes.kept_for_run())
        stack.enter_context(perrun.shortcuts())
        stack.enter_context(sharedcache.atomic_reflinks())  # other workers commit to the cache meanwhile
        stack.enter_context(ignored_by_driver())
        stack.enter_context(dvcrepo.quiet())
        _run.update(id=handoff.run, stack=stack, repo=repo, hashes=kept)
    return _run["repo"], _run["hashes"]


@contextlib.contextmanager
def ignored_by_driver():
    import dvc.output

    ignore, ignore_remove = dvc.output.Output.ignore, dvc.output.Output.ignore_remove
    dvc.output.Output.ignore = dvc.output.Output.ignore_remove = lambda out: None
    try:
        yield
    finally:
        dvc.output.Output.ignore, dvc.output.Output.ignore_remove = ignore, ignore_remove
