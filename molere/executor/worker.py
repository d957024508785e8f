"""What a Ray worker does with one stage: run its commands in the project folder and report the
first failure in one line.

A `molere-bench stage ...` command runs in the worker's own process, through the stage command
line's Typer app (molere/stage_cli.py, never the user's commands), so a worker imports torch and
the library once and keeps them for every stage it runs after. Any other command runs in a shell,
as `dvc repro` runs it."""

from __future__ import annotations

import contextlib
import io
import os
import select
import shlex
import signal
import socket
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from molere.errors import MolereError
from molere.stage_cli import COMMAND, app

if TYPE_CHECKING:
    from molere.executor.onworker import Handoff, Recorded

# A command using any of these needs a shell: it runs as a subprocess.
SHELL_SYNTAX = frozenset(";&|<>()$`*?~\\\n")
POLL_S = 0.2  # how often a wait for a shell command looks up for an interrupt
STOP_S = 5.0  # how long an interrupted command gets to exit
# Fault injection for the tests: the first worker that runs this stage dies as if killed.
KILL_ONCE = "MOLERE_KILL_ONCE"


@dataclass(frozen=True)
class StageResult:
    error: str | None  # one line; None when every command succeeded
    output: str  # what the commands printed, stdout and stderr interleaved
    seconds: float
    node: str | None = None  # the Ray node it ran on (cluster.run_on_node), for the run summary
    recorded: "Recorded | None" = None  # DVC's bookkeeping done here (molere/executor/onworker.py)


def run_stage(root: str, wdir: str, name: str, commands: list[str], handoff: "Handoff | None" = None) -> StageResult:
    """Run `commands` (a stage's cmd) in `wdir` with DVC's variables set, stopping at the first
    that fails. With a `handoff`, DVC's bookkeeping of the stage around them: restored from the run
    cache instead of run if DVC has this run cached, and recorded after (onworker)."""
    start = time.perf_counter()
    if not os.path.isdir(wdir):
        host = socket.gethostname()
        return StageResult(f"project folder {wdir} not found on {host}: every Ray node needs it at the same path", "", 0.0)
    kill_once(root, name)
    os.chdir(wdir)
    os.environ.update(DVC_ROOT=root, DVC_STAGE=name)
    output = io.StringIO()
    if handoff is None:
        return StageResult(run_commands(commands, output), output.getvalue(), time.perf_counter() - start)
    from dvc.exceptions import DvcException

    from molere.executor.onworker import Bookkeeping

    error, recorded = None, None
    try:
        books = Bookkeeping(handoff)
        if not books.prepare():
            recorded = books.recorded(restored=True)
        elif not (error := run_commands(commands, output)):
            books.record()
            recorded = books.recorded(restored=False)
    except DvcException as err:  # a missing dependency or output: the stage fails, as under `dvc repro`
        error = f"dvc: {first_line(str(err))}"
    return StageResult(error, output.getvalue(), time.perf_counter() - start, recorded=recorded)


def run_commands(commands: list[str], output: io.StringIO) -> str | None:
    """The commands one after the other, in this process or a shell; the first failure's one-line error."""
    for command in commands:
        args = shlex.split(command) if not SHELL_SYNTAX & set(command) else []
        error = run_in_process(args[2:], output) if tuple(args[:2]) == COMMAND else run_in_shell(command, output)
        if error:
            return error
    return None


def run_in_process(args: list[str], output: io.StringIO) -> str | None:
    """`molere-bench stage <args>` in this process, through the stage command line's Typer app;
    its one-line error, or None."""
    import typer

    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            code = app(args=args, prog_name=" ".join(COMMAND), standalone_mode=False)
        except MolereError as err:
            return f"error: {err}"
        except SystemExit as err:
            code = err.code
        except typer.Abort:
            raise KeyboardInterrupt from None  # click's name for an interrupt: the run was stopped
        except Exception as err:  # a bug or a usage error in dvc.yaml: its traceback goes to the log
            traceback.print_exc()
            return first_line(f"{type(err).__name__}: {err}")
    return None if code in (None, 0) else f"exited with {code}"


def run_in_shell(command: str, output: io.StringIO) -> str | None:
    """`command` in a shell of its own process group, its output through a file (a pipe left
    unread while waiting could fill and block it)."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, shell=True, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait(process)
        except KeyboardInterrupt:
            stop(process)
            raise
        log.seek(0)
        text = log.read()
    output.write(text)
    if process.returncode == 0:
        return None
    last = [line.strip() for line in text.splitlines() if line.strip()][-1:]
    return first_line(f"`{command}` exited with code {process.returncode}" + "".join(f": {line}" for line in last))


def wait(process: subprocess.Popen) -> None:
    """Until the command exits, in waits of POLL_S at most: ray.cancel's interrupt cannot cut a
    wait without a timeout. Each wait ends as the command exits: the kernel wakes it through a
    pidfd (Linux 5.3 on). Without one, Popen's wait, which polls at up to 50 ms, so that a short
    stage's time is rounded up by as much (20 ms a stage at 2,552 stages of 0.14 s)."""
    pidfd = open_pidfd(process.pid)
    try:
        while not exited(process, pidfd):
            pass
    finally:
        if pidfd is not None:
            os.close(pidfd)


def exited(process: subprocess.Popen, pidfd: int | None) -> bool:
    """Whether the command exited within POLL_S; reaped if so."""
    if pidfd is not None:
        if not select.select([pidfd], [], [], POLL_S)[0]:
            return False
        process.wait()  # it has exited: returns at once
        return True
    try:
        process.wait(timeout=POLL_S)
        return True
    except subprocess.TimeoutExpired:
        return False


def open_pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when process `pid` exits; None where the system has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux, or a kernel before 5.3
        return None


def stop(process: subprocess.Popen) -> None:
    """SIGINT to the command's process group, as Ctrl-C under `dvc repro` would send; SIGKILL if
    it is still there STOP_S seconds later."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def kill_once(root: str, name: str) -> None:
    """Die by SIGKILL if $MOLERE_KILL_ONCE names this stage and no worker has died on it yet (a
    marker file in DVC's tmp folder records that one has)."""
    if os.environ.get(KILL_ONCE) != name:
        return
    marker = Path(root, ".dvc", "tmp", f"killed-{name}")
    if not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
