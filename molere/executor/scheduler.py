"""The executor's loop. DVC decides what runs; Ray runs it; DVC records it.

A stage is checked once every stage it depends on has ended: DVC says whether it changed, exactly
as `dvc repro` asks it at that point. A changed stage waits until the cluster has its CPUs (and
GPUs) free, the ones that unlock the most stages first, then goes to Ray; when it finishes, DVC
commits it to dvc.lock. A failed stage's descendants are skipped; the other stages carry on.
All DVC calls are made here, in one process, one at a time, holding DVC's repository lock; the
lock is free while the stages run, as under `dvc repro`."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from molere.executor import dvcrepo
from molere.executor.cluster import Cluster, check_reachable
from molere.executor.display import CACHED, DONE, FAILED, RAN, SKIPPED, STOPPED, UP_TO_DATE, Display
from molere import schema
from molere.executor.settings import Execution, load_execution
from molere.portable import portable_setting
from molere.executor.worker import StageResult, first_line
from molere.params import Params

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

POLL_S = 0.5  # how often the loop looks up from waiting (Ctrl-C, the display)
STOP_GRACE_S = 10.0  # how long interrupted stages get to clean up
EXIT_FAILED, EXIT_INTERRUPTED = 1, 130


def reproduce(address: str | None, experiment: str | None, overrides: list[str]) -> int:
    """`molere-bench repro`: run what is out of date; the exit code (0, 1 if a stage failed, 130
    if interrupted)."""
    if address:
        check_reachable(address)
    with dvcrepo.open_repo() as repo:
        with dvcrepo.params_with(repo, overrides) as params:
            execution = load_execution(checked_params(params))
        scheduler = Scheduler(repo, execution, Cluster(address, execution))
        with repo.scm_context(), dvcrepo.quiet():  # DVC's note of the files to `git add` comes after
            scheduler.run()
        if scheduler.interrupted:
            return EXIT_INTERRUPTED
        if scheduler.failures:
            if experiment:
                print(f"not saved as experiment {experiment}: {len(scheduler.failures)} stage(s) failed")
            return EXIT_FAILED
        if experiment:
            dvcrepo.save_experiment(repo, experiment, scheduler.order)
            print(f"saved as experiment {experiment} (`dvc exp show` lists it)")
    return 0


def checked_params(path) -> Params:
    """The study's params, checked before any stage runs: a bad value, or a scenario or method
    name that is no name (it would reach dvc.yaml's shell commands), stops here."""
    params = Params.load(path) if path.exists() else Params({})
    portable_setting(params)
    schema.validate(params.data)
    return params


class Scheduler:
    def __init__(self, repo: "Repo", execution: Execution, cluster: Cluster):
        self.repo = repo
        self.execution = execution
        self.cluster = cluster
        self.order, self.upstream = dvcrepo.plan(repo)
        self.priority = unlock_priority(self.order, self.upstream)
        self.queued: list[Stage] = list(self.order)  # not yet checked, dependencies first
        self.ready: list[Stage] = []  # changed, waiting for resources
        self.running: dict = {}  # Ray reference -> (stage, resources)
        self.outcome: dict[Stage, str] = {}
        self.failures: dict[str, str] = {}  # stage name -> one-line error
        self.interrupted = False
        self.display = Display(len(self.order))

    def run(self) -> None:
        previous = signal.signal(signal.SIGINT, self.interrupt)
        try:
            with self.display:
                while not self.interrupted:
                    progressed = self.check() | self.submit()
                    if self.running:
                        for ref in self.cluster.wait(list(self.running), POLL_S):
                            self.finish(ref)
                    elif not progressed:
                        break
                if self.interrupted:
                    self.stop()
            self.display.summary(self.failures)
        finally:
            signal.signal(signal.SIGINT, previous)
            self.cluster.shutdown()

    def interrupt(self, signum, frame) -> None:
        """Ctrl-C: stop after the current step (DVC is never cut off mid-write); twice: now."""
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def check(self) -> bool:
        """Settle each queued stage whose upstream stages have all ended: skipped if one of them
        did not succeed, else up to date or ready to run, as DVC says; whether any was settled."""
        settled = [s for s in self.queued if all(u in self.outcome for u in self.upstream[s])]
        if not settled:
            return False
        with dvcrepo.locked(self.repo):
            for stage in list(self.queued):  # dependencies first: a chain settles in one pass
                upstream = self.upstream[stage]
                if not all(u in self.outcome for u in upstream):
                    continue
                self.queued.remove(stage)
                if any(self.outcome[u] not in DONE for u in upstream):
                    self.end(stage, SKIPPED)
                else:
                    self.dvc_step(stage, lambda: self.settle(stage, upstream))
        return True

    def settle(self, stage: "Stage", upstream: list["Stage"]) -> None:
        if not dvcrepo.runs_command(stage):
            self.end(stage, RAN if dvcrepo.reproduce_here(stage, upstream) else UP_TO_DATE)
        elif dvcrepo.changed(stage, upstream):
            self.ready.append(stage)
        else:
            self.end(stage, UP_TO_DATE)

    def submit(self) -> bool:
        """Hand the ready stages that fit in the free resources to Ray, the ones that unlock the
        most stages first (restoring from the run cache what DVC has cached); whether any went."""
        if not self.ready:
            return False
        if not self.cluster.started:
            self.cluster.start()  # before anything is removed: a bad resource request stops here
        self.ready.sort(key=self.priority.__getitem__)
        went = False
        with dvcrepo.locked(self.repo):
            for stage in list(self.ready):
                resources = self.execution.resources(stage_name(stage))
                if not self.cluster.fits(resources):
                    continue
                self.ready.remove(stage)
                went = True
                self.dvc_step(stage, lambda: self.start(stage, resources))
        return went

    def start(self, stage: "Stage", resources: dict) -> None:
        if not dvcrepo.prepare(stage):
            self.end(stage, CACHED)
            return
        ref = self.cluster.submit(stage.addressing, resources, self.repo.root_dir, stage.wdir, dvcrepo.commands(stage))
        self.running[ref] = (stage, resources)
        self.display.started(stage.addressing)

    def finish(self, ref) -> None:
        """A stage's task ended: record it in dvc.lock, or note its failure."""
        stage, resources = self.running.pop(ref)
        self.cluster.release(resources)
        result = self.cluster.result(ref)
        log = dvcrepo.log_path(self.repo, stage)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.output)
        if result.error:
            where = f" (log: {log.relative_to(self.repo.root_dir)})" if result.output else ""
            self.fail(stage, result.error + where, result.seconds)
            return
        with dvcrepo.locked(self.repo):
            self.dvc_step(stage, lambda: dvcrepo.record(stage), result)

    def dvc_step(self, stage: "Stage", step, result: StageResult | None = None) -> None:
        """Run one of DVC's steps for `stage`; DVC's error (a missing dependency or output) fails
        the stage alone. After a command, the stage ran once the step has recorded it."""
        from dvc.exceptions import DvcException

        try:
            step()
        except DvcException as err:
            self.fail(stage, f"dvc: {first_line(str(err))}", result.seconds if result else None)
            return
        if result:
            self.end(stage, RAN, result.seconds)

    def fail(self, stage: "Stage", error: str, seconds: float | None = None) -> None:
        if self.interrupted:
            self.end(stage, STOPPED)
            return
        self.failures[stage.addressing] = error
        self.end(stage, FAILED, seconds, error)

    def end(self, stage: "Stage", outcome: str, seconds: float | None = None, error: str | None = None) -> None:
        self.outcome[stage] = outcome
        self.display.ended_as(stage.addressing, outcome, seconds, error)

    def stop(self) -> None:
        """After Ctrl-C: interrupt the running stages; record those that finished anyway."""
        for ref in self.cluster.cancel(list(self.running), STOP_GRACE_S):
            self.finish(ref)
        for stage, _ in self.running.values():
            self.end(stage, STOPPED)


def stage_name(stage: "Stage") -> str:
    """`train@clean-erm-0` for a dvc.yaml stage; the file's path for a .dvc stage."""
    return getattr(stage, "name", None) or stage.addressing


def unlock_priority(order: list["Stage"], upstream: dict) -> dict["Stage", tuple[int, int]]:
    """Sort key: the more stages wait on a stage (directly or not), the sooner it goes; then
    `dvc repro`'s order. So every scenario's chain up to its training runs starts early."""
    dependents: dict[Stage, set] = {stage: set() for stage in order}
    for stage in reversed(order):  # dependents come after their dependencies in `order`
        for dep in upstream[stage]:
            dependents[dep] |= {stage} | dependents[stage]
    return {stage: (-len(dependents[stage]), index) for index, stage in enumerate(order)}
