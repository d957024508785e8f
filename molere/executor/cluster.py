"""The Ray side of the executor: a private local Ray instance (dashboard off, quiet), or the
cluster at --address / RAY_ADDRESS, started only once a stage has to run (a run with nothing to
do never starts Ray), checked against what the `execution` params ask for.

The private instance is recorded in DVC's tmp folder (RECORD): its processes as `ray.init` leaves
them and a mark (RUN_MARK) in the environment that the processes it starts later inherit (its
workers, the commands they run). Its raylet starts a dashboard agent and a runtime-env agent
whatever the options (Ray 2.60 has no switch for them), and when the driver is killed outright
the two outlive it, stuck reporting to the dead GCS; so whatever is left of the recorded instance
is ended at the run's end and, after a killed driver, by the next run."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from molere.errors import MolereError
from molere.executor.settings import Execution, worker_env
from molere.executor.worker import StageResult, run_stage

if TYPE_CHECKING:
    from molere.executor.onworker import Handoff

CONNECT_TIMEOUT_S = 5.0
# Ray's address forms that name no host to reach: a running local cluster, or a new one.
NO_HOST = ("auto", "local")
RECORD = "molere-ray.json"  # in DVC's tmp folder
RUN_MARK = "MOLERE_RAY_RUN"
END_WAIT_S = 5.0  # how long ended leftovers get to go (SIGKILL: no clean-up to wait for)


def check_reachable(address: str) -> None:
    """A one-line error unless something listens at `address` (HOST:PORT or ray://HOST:PORT):
    `ray.init` would otherwise retry for minutes."""
    if address in NO_HOST:
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise MolereError(f"--address {address!r} is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise MolereError(f"--address {address}: no Ray cluster answers there ({reason}); start one with `ray start --head` or drop --address to run locally") from None


def connection_failure(err: ConnectionError) -> str:
    """Ray's "Failed to connect" line, with its cause when the cluster refused this process's
    token: a cluster started with token authentication (Ray's default once ~/.ray/auth_token
    exists) refuses a driver that has RAY_AUTH_MODE unset, and Ray's line does not say so."""
    if "InvalidAuthToken" not in str(err.__cause__):
        return str(err)
    return (
        f"{err}: the cluster refused this process's token (InvalidAuthToken); set RAY_AUTH_MODE=token,"
        " with the head node's token in ~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH"
    )


class Cluster:
    """Ray, started on the first `submit`; `free` counts the CPUs and GPUs no stage holds."""

    def __init__(self, address: str | None, execution: Execution, record: Path):
        self.address = address
        self.execution = execution
        self.record = record  # where the private instance is recorded
        self.free: dict[str, float] = {}
        self.ahead = 0.0  # CPUs beyond the free ones that stages waiting in Ray's queue may hold (`fits`)
        self.ray = None  # the ray module, once Ray runs
        self.tasks = ()  # (CPU stage task, GPU stage task)

    @property
    def started(self) -> bool:
        return self.ray is not None

    def start(self) -> None:
        import ray

        private = self.address is None
        options = {"include_dashboard": False} if private else {}
        if private:
            mark_run(self.record)
        try:
            ray.init(
                address=self.address or "local",
                runtime_env={"env_vars": worker_env(self.execution)},
                log_to_driver=False,
                logging_level=logging.ERROR,
                **options,
            )
        except ConnectionError as err:
            raise MolereError(f"--address {self.address}: {connection_failure(err)}") from None
        if private:
            record_instance(self.record)
        # A worker keeps torch and the library loaded between CPU stages. A GPU stage gets a
        # fresh worker (Ray's default for GPU tasks): its CUDA memory is freed when it ends, and a
        # worker's CUDA device cannot change once torch has initialised it.
        self.ray = ray
        self.tasks = (ray.remote(run_on_node), ray.remote(max_calls=1)(run_on_node))
        self.free = self.check_capacity(ray.nodes())
        self.ahead = self.free["CPU"]

    def check_capacity(self, nodes: list[dict]) -> dict[str, float]:
        """The cluster's CPUs and GPUs, after checking that one stage fits on some node."""
        resources = [node["Resources"] for node in nodes if node["Alive"]]
        total = {kind: sum(r.get(kind, 0.0) for r in resources) for kind in ("CPU", "GPU")}
        most = {kind: max(r.get(kind, 0.0) for r in resources) for kind in ("CPU", "GPU")}
        cpus, gpus = self.execution.cpus_per_stage, self.execution.gpus_per_train
        if gpus > 0 and total["GPU"] == 0:
            raise MolereError(f"execution.gpus_per_train = {gpus:g} but the Ray cluster has no GPU; set it to 0")
        for key, asked, kind in [("cpus_per_stage", cpus, "CPU"), ("gpus_per_train", gpus, "GPU")]:
            if asked > most[kind]:
                raise MolereError(f"execution.{key} = {asked:g} but the largest Ray node has {most[kind]:g} {kind}s")
        return total

    def fits(self, resources: dict, queued: bool = False) -> bool:
        """Whether a stage that holds `resources` can go: into the free CPUs and GPUs, or, if
        `queued` and it holds no GPU, into Ray's queue, up to as many CPUs again as the cluster
        has. A stage waiting there starts the moment a worker's stage ends, without waiting for
        the driver to take that stage's result and hand over the next (8 ms a stage on 2 cores)."""
        cpus = self.free["CPU"] + (self.ahead if queued and not resources["num_gpus"] else 0.0)
        return resources["num_cpus"] <= cpus + 1e-9 and resources["num_gpus"] <= self.free["GPU"] + 1e-9

    def submit(self, name: str, resources: dict, root: str, wdir: str, commands: list[str], handoff: "Handoff | None"):
        """Hand a stage to Ray (with its DVC bookkeeping, if `handoff`), holding its resources
        until `release`; Ray re-runs it on a new worker if its worker dies (execution.retries
        times), not when its command fails."""
        cpu_task, gpu_task = self.tasks
        task = gpu_task if resources["num_gpus"] else cpu_task
        self.hold(resources, -1)
        options = dict(name=name, max_retries=self.execution.retries, retry_exceptions=False, **resources)
        return task.options(**options).remote(root, wdir, name, commands, handoff)

    def release(self, resources: dict) -> None:
        self.hold(resources, +1)

    def hold(self, resources: dict, sign: int) -> None:
        self.free["CPU"] += sign * resources["num_cpus"]
        self.free["GPU"] += sign * resources["num_gpus"]

    def result(self, ref) -> StageResult:
        """The stage's result, or its one-line error when Ray lost it (its worker died more often
        than execution.retries allows, or its node went away)."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.WorkerCrashedError:
            tries = self.execution.retries + 1
            return StageResult(f"its worker died (killed or out of memory) on all {tries} tries", "", 0.0)
        except ray.exceptions.RayError as err:
            return StageResult(f"Ray: {str(err).strip().splitlines()[0]}", str(err), 0.0)

    def wait(self, refs: list, timeout: float) -> list:
        """The stages that have ended, waiting up to `timeout` seconds for the first of them."""
        if not refs:
            return []
        ended = self.ray.wait(refs, num_returns=1, timeout=timeout)[0]
        rest = [ref for ref in refs if ref not in ended]
        if ended and rest:  # and the others that ended meanwhile, without waiting for them
            ended += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        return ended

    def cancel(self, refs: list, grace: float) -> list:
        """Interrupt the running stages (KeyboardInterrupt in the worker: a stage's atomic writes
        clean up); the ones that ended within `grace` seconds."""
        for ref in refs:
            self.ray.cancel(ref)
        return self.ray.wait(refs, num_returns=len(refs), timeout=grace)[0] if refs else []

    def shutdown(self) -> None:
        """Ray shut down and the private instance's leftovers ended; again, nothing."""
        if self.started:
            self.ray.shutdown()
            self.ray = None
        end_leftovers(self.record)


def run_on_node(root: str, wdir: str, name: str, commands: list[str], handoff: "Handoff | None") -> StageResult:
    """A stage's Ray task: `run_stage`, its result marked with the node it ran on (asked here, in
    the task: outside a Ray worker the same call would start a Ray instance)."""
    import ray

    result = run_stage(root, wdir, name, commands, handoff)
    return dataclasses.replace(result, node=ray.get_runtime_context().get_node_id())


def mark_run(record: Path) -> None:
    """Mark this run in the environment the private instance's processes inherit, and record the
    mark before Ray starts (a driver killed while Ray starts leaves marked processes)."""
    from molere.io import write_json

    os.environ[RUN_MARK] = secrets.token_hex(8)
    write_json(record, {"mark": os.environ[RUN_MARK], "processes": []})


def record_instance(record: Path) -> None:
    """Add the private instance's processes as `ray.init` leaves them: the driver's descendants,
    among them the raylet's agents, whose environment cannot be read (they rewrite their process
    title over it)."""
    import psutil

    from molere.io import write_json

    processes = [[p.pid, p.create_time()] for p in psutil.Process().children(recursive=True)]
    write_json(record, {"mark": os.environ[RUN_MARK], "processes": processes})


def end_leftovers(record: Path) -> None:
    """End (SIGKILL) what the recorded private instance left running, and forget it."""
    if not record.exists():
        return
    import psutil

    entry = json.loads(record.read_text())
    left = {p.pid: p for p in [*recorded(entry["processes"]), *marked(entry["mark"])]}.values()
    for process in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(list(left), timeout=END_WAIT_S)
    record.unlink()


def recorded(processes: list) -> list:
    """The recorded processes still running (the same process: its pid may have been reused)."""
    import psutil

    alive = []
    for pid, started in processes:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.create_time() == started:
                alive.append(process)
    return alive


def marked(mark: str) -> list:
    """The processes, other than this one, whose environment carries the run's mark."""
    import psutil

    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):  # gone, a zombie, or another user's
            if process.pid != os.getpid() and process.environ().get(RUN_MARK) == mark:
                found.append(process)
    return found
