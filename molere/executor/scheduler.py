"""The executor's loop. DVC decides what runs; Ray runs it; DVC records it.

A stage is checked once every stage it depends on has ended: DVC says whether it changed, exactly
as `dvc repro` asks it at that point. A changed stage waits until the cluster has its CPUs (and
GPUs) free, or a place in Ray's queue behind the running stages (one CPU stage per CPU: a worker
then starts it the moment its stage ends), the ones that unlock the most stages first, then goes
to Ray, whose worker also makes DVC's calls around the command (`onworker`: restored from the run
cache, or run, then its outputs committed to the cache); when it finishes, its entry joins the
ones dvc.lock is due to get. A failed stage's descendants are skipped; the other stages carry on.
The driver's DVC calls (the checks, dvc.lock, the .gitignore entries) are made here, in one
process, one at a time; the run holds DVC's repository lock from start to end, the stages' runs
and their workers' calls included (`runlock`), so it is the only run in the project.

The driver shares the cores with the stages, so it keeps its own work off their way: the CPUs a
stage frees go to the stages already waiting before the driver records the one that ended; each
input is hashed once per run (`hashes`); and dvc.lock, which DVC reads and rewrites whole for each
write, is written by a thread of its own while the driver goes on submitting and recording
stages, every LOCK_EVERY_S seconds at most (or longer, so writing it takes at most 1/LOCK_RATIO of
the time), and always before the run returns, however it ends (done, failed, Ctrl-C, an error).
A stage's entry is only delayed, never lost, unless the driver itself is killed (SIGKILL, power):
then what it ran since the last write is in the cache and the run cache, so the next run restores
it rather than running it. Only that thread writes dvc.lock during the run (a stage that DVC
records in the driver, without a command, waits for it): the driver's own steps never read it.

A run with nothing to do does none of this: a run that settled every stage records the project
as DVC judged it (`uptodate`), and the next run, if nothing in that record changed, reports every
stage up to date without loading DVC's index. For the checks it does make, DVC's read-write lock
and its per-stage parse of the params files are cut for the run (`perrun`)."""

from __future__ import annotations

import heapq
import secrets
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from molere import schema
from molere.executor import dvcrepo, hashes, onworker, perrun, runlock, sharedcache, uptodate
from molere.executor.cluster import RECORD, Cluster, check_reachable, end_leftovers
from molere.executor.display import CACHED, DONE, FAILED, RAN, SKIPPED, STOPPED, UP_TO_DATE, Display
from molere.executor.settings import Execution, load_execution, resources
from molere.executor.worker import StageResult, first_line
from molere.params import Params
from molere.portable import portable_setting

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

POLL_S = 0.5  # how often the loop looks up from waiting (Ctrl-C, the display)
LOCK_EVERY_S = 5.0  # the least time between two writes of dvc.lock while stages run
LOCK_RATIO = 20  # and at least this many times as long as the last write took
STOP_GRACE_S = 10.0  # how long interrupted stages get to clean up
EXIT_FAILED, EXIT_INTERRUPTED = 1, 130


def reproduce(address: str | None, experiment: str | None, overrides: list[str], wait: bool) -> int:
    """`molere-bench repro`: run what is out of date, once no other run has the project (`wait`)
    or it stops; the exit code (0, 1 if a stage failed, 130 if interrupted)."""
    if address:
        check_reachable(address)
    with dvcrepo.open_repo() as repo:
        with runlock.held(repo, wait):
            scheduler = run(repo, address, overrides)
        if scheduler and scheduler.interrupted:
            return EXIT_INTERRUPTED
        if scheduler and scheduler.failures:
            if experiment:
                print(f"not saved as experiment {experiment}: {len(scheduler.failures)} stage(s) failed")
            return EXIT_FAILED
        if experiment:  # DVC's own command, which takes the lock itself (in a Repo of its own)
            dvcrepo.save_experiment(repo, experiment, scheduler.order if scheduler else dvcrepo.plan(repo)[0])
            print(f"saved as experiment {experiment} (`dvc exp show` lists it)")
    return 0


def run(repo: "Repo", address: str | None, overrides: list[str]) -> "Scheduler | None":
    """The run, while it holds the project: what an earlier run whose driver was killed left of
    its Ray instance ended, params.yaml edited (`-S`) and checked, then every stage up to date at
    once if nothing changed since the last complete run (None), else the stages checked, run and
    recorded, and the project recorded for the next run if they all succeeded (`uptodate`)."""
    record = Path(repo.tmp_dir, RECORD)
    end_leftovers(record)
    with dvcrepo.params_with(repo, overrides) as path:
        params = checked_params(path)
        schema.check_overrides(params, [dvcrepo.override_key(override) for override in overrides])
        execution = load_execution(params)
    names = uptodate.unchanged(repo)
    if names is not None:
        show_up_to_date(names)
        return None
    uptodate.forget(repo)
    # DVC's note of the files to `git add` comes after
    with repo.scm_context(), dvcrepo.quiet(), hashes.kept_for_run() as kept, perrun.shortcuts(), sharedcache.atomic_reflinks():
        scheduler = Scheduler(repo, execution, Cluster(address, execution, record), kept)
        scheduler.run()
        if scheduler.complete():
            uptodate.record(repo, scheduler.order, kept)
    return scheduler


def show_up_to_date(names: list[str]) -> None:
    """The summary line of a run whose stages are all up to date."""
    display = Display(len(names))
    for name in names:
        display.ended_as(name, UP_TO_DATE)
    display.summary({})


def checked_params(path) -> Params:
    """The study's params, checked before any stage runs: a bad value, or a scenario or method
    name that is no name (it would reach dvc.yaml's shell commands), stops here."""
    params = Params.load(path) if path.exists() else Params({})
    portable_setting(params)
    schema.validate(params.data)
    return params


class Scheduler:
    def __init__(self, repo: "Repo", execution: Execution, cluster: Cluster, hashes: hashes.RunHashes):
        self.repo = repo
        self.execution = execution
        self.cluster = cluster
        self.hashes = hashes
        self.run_id = secrets.token_hex(8)  # a worker keeps its DVC Repo for one run (onworker)
        self.order, self.upstream = dvcrepo.plan(repo)
        self.position = {stage: k for k, stage in enumerate(self.order)}
        self.priority = unlock_priority(self.order, self.upstream)
        self.downstream: dict[Stage, list[Stage]] = {stage: [] for stage in self.order}
        for stage in self.order:
            for dep in self.upstream[stage]:
                self.downstream[dep].append(stage)
        # A heap of positions in `order` of the stages whose upstream stages have all ended, not
        # yet checked (so a check looks at those alone); how many upstream stages each still waits on.
        self.waiting = {stage: len(self.upstream[stage]) for stage in self.order}
        self.checkable = [k for k, stage in enumerate(self.order) if not self.waiting[stage]]
        self.ready: list[tuple] = []  # a heap of (priority, position): changed, waiting for resources
        self.smallest = {"num_cpus": execution.cpus_per_stage, "num_gpus": 0.0}  # what every stage reserves at least
        self.running: dict = {}  # Ray reference -> (stage, resources)
        self.outcome: dict[Stage, str] = {}
        self.failures: dict[str, str] = {}  # stage name -> one-line error
        self.nodes: set[str] = set()  # the Ray nodes that ran a stage's command
        self.unwritten: list[Stage] = []  # recorded, their dvc.lock entries not yet written
        self.written_at = time.monotonic()
        self.writing_s = 0.0  # how long the last write of dvc.lock took
        self.writing = False
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dvc.lock")
        self.lock_write: Future | None = None  # the write in progress
        self.killed = False  # a second Ctrl-C came while dvc.lock was being written
        self.interrupted = False
        self.display = Display(len(self.order))

    def run(self) -> None:
        previous = signal.signal(signal.SIGINT, self.interrupt)
        try:
            with self.display:
                try:
                    while not self.interrupted:
                        progressed = self.check() | self.submit()
                        self.write_lock()  # once the stages that can go have gone
                        if self.running:
                            ended = [self.collect(ref) for ref in self.cluster.wait(list(self.running), POLL_S)]
                            if ended:  # the freed CPUs first, then the driver's bookkeeping
                                self.submit(before=self.best_unlocked([stage for stage, _ in ended]))
                            for stage, result in ended:
                                self.record(stage, result)
                        elif not progressed:
                            break
                    if self.interrupted:
                        self.stop()
                finally:
                    self.write_lock(now=True, wait=False)
                    self.cluster.shutdown()  # while the last entries are written
                    self.write_lock(now=True)
            self.display.summary(self.failures, len(self.nodes))
        finally:
            signal.signal(signal.SIGINT, previous)
            self.writer.shutdown()
            self.cluster.shutdown()

    def complete(self) -> bool:
        """Whether every stage ended up to date, ran or was restored, and dvc.lock was written."""
        return len(self.outcome) == len(self.order) and all(o in DONE for o in self.outcome.values()) and not self.failures

    def interrupt(self, signum, frame) -> None:
        """Ctrl-C: stop after the current step (DVC is never cut off mid-write); twice: now."""
        if self.interrupted and self.writing:
            self.killed = True  # once dvc.lock is whole again
        elif self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def check(self) -> bool:
        """Settle each stage whose upstream stages have all ended: skipped if one of them did not
        succeed, else up to date or ready to run, as DVC says; whether any was settled."""
        if not self.checkable:
            return False
        with dvcrepo.locked(self.repo):
            while self.checkable:  # dependencies first: a chain settles in one pass
                stage = self.order[heapq.heappop(self.checkable)]
                upstream = self.upstream[stage]
                if any(self.outcome[u] not in DONE for u in upstream):
                    self.end(stage, SKIPPED)
                else:
                    self.dvc_step(stage, lambda: self.settle(stage, upstream))
        return True

    def settle(self, stage: "Stage", upstream: list["Stage"]) -> None:
        if not dvcrepo.runs_command(stage):
            self.write_lock(now=True)  # DVC writes its entry itself, as the writer may be doing
            self.end(stage, RAN if dvcrepo.reproduce_here(stage, upstream) else UP_TO_DATE)
        elif dvcrepo.changed(stage, upstream):
            heapq.heappush(self.ready, (self.priority[stage], self.position[stage]))
        else:
            self.end(stage, UP_TO_DATE)

    def best_unlocked(self, ended: list["Stage"]) -> tuple[int, int] | None:
        """The best priority among the stages that `ended` may unlock once they are recorded."""
        done = set(ended).union(self.outcome)
        unlocked = [s for e in ended for s in self.downstream[e] if all(u in done for u in self.upstream[s])]
        return min((self.priority[s] for s in unlocked), default=None)

    def submit(self, before: tuple[int, int] | None = None) -> bool:
        """Hand the ready stages that fit in the free resources, or in Ray's queue behind them
        (`Cluster.fits`), to Ray, the ones that unlock the most stages first (restoring from the
        run cache what DVC has cached), only those that go `before` that priority if given;
        whether any went."""
        if not self.ready:
            return False
        if not self.cluster.started:
            self.cluster.start()  # before anything is removed: a bad resource request stops here
        if not self.cluster.fits(self.smallest, queued=True):
            return False
        went, passed = False, []  # passed: the ready stages that do not fit now
        with dvcrepo.locked(self.repo):
            # Into Ray's queue only while no stage before it in priority is passed over.
            while self.ready and self.cluster.fits(self.smallest, queued=not passed):
                priority, position = self.ready[0]
                if before is not None and priority > before:
                    break  # the rest go after the stages about to be unlocked
                heapq.heappop(self.ready)
                stage = self.order[position]
                reserved = resources(self.execution, stage_name(stage))
                if not self.cluster.fits(reserved, queued=not passed):
                    passed.append((priority, position))
                    continue
                went = True
                self.dvc_step(stage, lambda: self.start(stage, reserved))
        for item in passed:
            heapq.heappush(self.ready, item)
        return went

    def start(self, stage: "Stage", resources: dict) -> None:
        """Hand the stage to Ray, with its DVC bookkeeping where a worker can do it (`onworker`);
        else do that here first: restored from the run cache, it need not go."""
        handoff = onworker.handoff(stage, self.run_id, self.hashes) if onworker.handles(stage) else None
        if handoff is None and not dvcrepo.prepare(stage):
            self.unwritten.append(stage)
            self.end(stage, CACHED)
            return
        ref = self.cluster.submit(stage.addressing, resources, self.repo.root_dir, stage.wdir, dvcrepo.commands(stage), handoff)
        self.running[ref] = (stage, resources)
        self.display.started(stage.addressing)

    def finish(self, ref) -> None:
        """A stage's task ended: record it, or note its failure."""
        self.record(*self.collect(ref))

    def collect(self, ref) -> tuple["Stage", StageResult]:
        """A stage's task ended: its resources are free again; its result and its log."""
        stage, resources = self.running.pop(ref)
        self.cluster.release(resources)
        result = self.cluster.result(ref)
        if result.node:  # None when Ray lost the task
            self.nodes.add(result.node)
        log = dvcrepo.log_path(self.repo, stage)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.output)
        return stage, result

    def record(self, stage: "Stage", result: StageResult) -> None:
        """Take what the stage's worker recorded, or commit the stage to the cache here; its
        dvc.lock entry is then due (`write_lock`). Or note its failure."""
        if result.error:
            log = dvcrepo.log_path(self.repo, stage)
            where = f" (log: {log.relative_to(self.repo.root_dir)})" if result.output else ""
            self.fail(stage, result.error + where, result.seconds)
            return
        with dvcrepo.locked(self.repo):
            self.dvc_step(stage, lambda: self.take(stage, result.recorded) if result.recorded else dvcrepo.record(stage), result)
        if self.outcome.get(stage) in (RAN, CACHED):
            self.unwritten.append(stage)

    def take(self, stage: "Stage", recorded: onworker.Recorded) -> None:
        """The stage as its worker saved it, and the .gitignore entries of its outputs, which the
        driver alone writes (DVC writes them as it saves an output)."""
        onworker.take(stage, recorded, self.hashes)
        stage.ignore_outs()

    def write_lock(self, now: bool = False, wait: bool = True) -> None:
        """Hand the recorded stages' entries to the writer thread, in the order they ended: `now`
        (and wait for the write, if `wait`), or once the last write is long enough ago (module
        docstring); one write at a time. A second Ctrl-C waits for the write in progress."""
        if self.lock_write and (now or self.lock_write.done()):
            self.lock_written()
        if self.lock_write or not self.unwritten:
            return
        if not now and time.monotonic() - self.written_at < max(LOCK_EVERY_S, LOCK_RATIO * self.writing_s):
            return
        stages, self.unwritten = self.unwritten, []
        self.lock_write = self.writer.submit(self.dump, stages)
        if now and wait:
            self.lock_written()

    def dump(self, stages: list["Stage"]) -> dict[str, str]:
        """In the writer thread: write the stages' entries; the stages whose entries DVC could not
        write (their outputs are in the cache), with its error."""
        from dvc.exceptions import DvcException

        start = time.monotonic()
        self.writing = True
        try:
            dvcrepo.dump(stages)
        except DvcException as err:
            return {stage.addressing: f"dvc: {first_line(str(err))}" for stage in stages}
        finally:
            self.writing = False
            self.written_at = time.monotonic()
            self.writing_s = self.written_at - start
        return {}

    def lock_written(self) -> None:
        """Wait for the write in progress; then a second Ctrl-C that came meanwhile stops the run."""
        write, self.lock_write = self.lock_write, None
        self.failures.update(write.result())
        if self.killed:
            raise KeyboardInterrupt

    def dvc_step(self, stage: "Stage", step, result: StageResult | None = None) -> None:
        """Run one of DVC's steps for `stage`; DVC's error (a missing dependency or output) fails
        the stage alone. After a command, the stage ran once the step has recorded it."""
        from dvc.exceptions import DvcException

        try:
            with dvcrepo.staged_for():
                step()
        except DvcException as err:
            self.fail(stage, f"dvc: {first_line(str(err))}", result.seconds if result else None)
            return
        if result:
            self.end(stage, CACHED if result.recorded and result.recorded.restored else RAN, result.seconds)

    def fail(self, stage: "Stage", error: str, seconds: float | None = None) -> None:
        if self.interrupted:
            self.end(stage, STOPPED)
            return
        self.failures[stage.addressing] = error
        self.end(stage, FAILED, seconds, error)

    def end(self, stage: "Stage", outcome: str, seconds: float | None = None, error: str | None = None) -> None:
        if stage not in self.outcome:  # its downstream stages wait on one stage less
            for after in self.downstream[stage]:
                self.waiting[after] -= 1
                if not self.waiting[after]:
                    heapq.heappush(self.checkable, self.position[after])
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
