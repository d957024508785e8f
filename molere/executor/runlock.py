"""One run at a time in a project. `molere-bench repro` holds DVC's repository lock
(`.dvc/tmp/lock`) from start to end, so DVC's commands (`dvc repro`, `dvc status`, ...) are
refused by DVC while it runs, and a second `molere-bench repro` stops with one line that names the
running one, or waits for it (`--wait`).

`dvc repro` itself lets the lock go while a stage's command runs; it then holds DVC's read-write
lock (`.dvc/tmp/rwlock`) on that stage's files, so a run that finds a live process there waits or
stops as well."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from molere.errors import MolereError

if TYPE_CHECKING:
    from dvc.repo import Repo

POLL_S = 1.0  # how often --wait tries the lock again


@contextlib.contextmanager
def held(repo: "Repo", wait: bool):
    """DVC's repository lock for the whole block, or a one-line error naming who has it (with
    `wait`, once it is free). DVC's own `lock_repo` calls inside nest in this hold: DVC counts
    their depth and takes the lock only at depth 0."""
    announced = False
    while (holder := take(repo)) is not None:
        if not wait:
            raise MolereError(f"{holder} is running in this project; wait for it with `molere-bench repro --wait`, or stop it first")
        if not announced:
            print(f"waiting for {holder} to end", file=sys.stderr, flush=True)
            announced = True
        time.sleep(POLL_S)
    repo._lock_depth += 1
    try:
        yield
    finally:
        repo._lock_depth -= 1
        repo.lock.unlock()


def take(repo: "Repo") -> str | None:
    """Take DVC's repository lock if it is free and no `dvc repro` is inside a stage; else who
    has the project."""
    from dvc.lock import Lock, LockError

    try:  # once, without DVC's three seconds of retries and their "Waiting to acquire lock" line
        repo.lock._do_lock() if isinstance(repo.lock, Lock) else repo.lock.lock()
    except LockError:
        return lock_holder(Path(repo.tmp_dir, "lock"))
    busy = rwlock_holders(repo)
    if busy:
        repo.lock.unlock()
        return busy[0]
    return None


def lock_holder(path: Path) -> str:
    """Who holds DVC's lock file: its holder writes its pid there."""
    text = path.read_text().strip() if path.exists() else ""
    return process(int(text)) if text.isdigit() else "another DVC process"


def rwlock_holders(repo: "Repo") -> list[str]:
    """The live processes other than this one that DVC's read-write lock names (a `dvc repro`
    running a stage's command); a dead one's entry is stale, as DVC itself treats it."""
    import psutil
    from dvc.rwlock import _edit_rwlock

    with _edit_rwlock(repo.tmp_dir, repo.fs, repo.config["core"].get("hardlink_lock", False)) as lock:
        infos = [*lock["write"].values(), *(info for readers in lock["read"].values() for info in readers)]
    pids = {info["pid"] for info in infos if info["pid"] != os.getpid() and psutil.pid_exists(info["pid"])}
    return [process(pid) for pid in sorted(pids)]


def process(pid: int) -> str:
    """`pid 123 (molere-bench repro)`: the process and its command, the interpreter left out."""
    import psutil

    try:
        argv = psutil.Process(pid).cmdline()
    except psutil.Error:
        return f"pid {pid}"
    if len(argv) > 1 and Path(argv[0]).name.startswith("python"):
        argv = argv[1:]
    return f"pid {pid} ({' '.join([Path(argv[0]).name, *argv[1:]])})" if argv else f"pid {pid}"
