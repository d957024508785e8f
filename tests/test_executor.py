"""The Ray executor, `molere-bench repro`, end to end on a tiny study in temporary git
repositories: it writes what plain `dvc repro` writes and records the same stages in dvc.lock;
after a one-method params change it re-runs exactly that method's cells, evaluate and report; a
failed stage stops its descendants only; a killed worker is retried; bad input is one line."""

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import psutil
import pytest
import torch  # noqa: F401 (loaded, as in a warm worker: importing it runs ldconfig in a subprocess)
import yaml

from molere.errors import MolereError
from molere.executor import dvcrepo, runlock
from molere.executor.cluster import Cluster, check_reachable, connection_failure
from molere.executor.scheduler import LOCK_EVERY_S, LOCK_RATIO, Scheduler, unlock_priority
from molere.executor.settings import Execution, load_execution, resources, worker_env
from molere.executor.worker import run_stage
from molere.params import Params
from molere.portable import portable_environment
from molere_tools.sandbox import ROOT, make_study_repo, study_env

SCENARIOS = ["clean", "idn-40"]
METHODS = ["erm", "focal", "lrw-hard"]
# a stage of the user's own, which runs in a shell: the list of scenarios in the report
SHELL_STAGE = {
    "cmd": "python -c \"import json; print(sorted(json.load(open('reports/metrics.json'))))\" > scenarios.txt",
    "deps": ["reports/metrics.json"],
    "outs": ["scenarios.txt"],
}
DRAWS = ["corrupt", "erm", "rank", "valsets"]  # each seed's: the search seed's (-search) and the replicate's
STAGES = {"fingerprint", "report", "scenarios"} | {f"{stage}@{s}" for stage in ["prepare", "evaluate"] for s in SCENARIOS} | {
    name for stage in DRAWS for s in SCENARIOS for name in (f"{stage}-search@{s}-0", f"{stage}@{s}-1")
} | {f"train@{s}-{m}-0" for s in SCENARIOS for m in METHODS} | {f"replicate@{s}-{m}-1" for s in SCENARIOS for m in METHODS} | {
    f"select@{s}-{m}" for s in SCENARIOS for m in METHODS
}
ARTIFACT_DIRS = ["fingerprints", "data", "runs", "evaluation", "reports"]
TIMING_FILES = {"reports/cost.md", "reports/cost.csv"}  # and timings/, which is no artifact directory


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=SCENARIOS, trusted_scenarios=[], methods=METHODS, seeds=[1], trials=[0])
    params["data"]["mnist1d"]["num_samples"] = 400
    params["train"].update(steps=None, epochs=2, device="cpu")
    return params


def run(cmd: str, repo: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=repo, env={**study_env(), **env}, capture_output=True, text=True, shell=True)


def sh(cmd: str, repo: Path, **env) -> str:
    result = run(cmd, repo, **env)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def stages_that(outcome: str, log: str) -> set[str]:
    """The stages the executor's log reports as ran / failed."""
    return set(re.findall(rf"^{outcome}\s+([^\s:]+)", log, flags=re.M))


def study_repo(dest: Path, **own_stages) -> Path:
    """The tiny study, with stages of the user's own added to its dvc.yaml."""
    repo = make_study_repo(dest, tiny_params())
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    pipeline["stages"].update(own_stages)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    sh("git commit -qam 'stages of my own'", repo)
    return repo


def locked_stages(repo: Path) -> dict:
    lock = repo / "dvc.lock"
    return yaml.safe_load(lock.read_text())["stages"] if lock.exists() else {}


# Units first: no Ray, no DVC.


def test_training_stages_reserve_gpus_the_others_cpus_only():
    execution = load_execution(Params({"execution": {"cpus_per_stage": 2, "gpus_per_train": 0.25}}))
    assert execution == Execution(cpus_per_stage=2.0, gpus_per_train=0.25, retries=1)
    for name in ["erm@clean-1", "erm-search@clean-0", "rank@idn-40-1", "rank-search@idn-40-0", "train@clean-erm-0", "replicate@clean-erm-1",
                 "train-baseline@idn-40+trusted-erm-trusted-hard-0", "replicate-baseline@idn-40+trusted-erm-trusted-hard-1"]:
        assert resources(execution, name) == {"num_cpus": 2.0, "num_gpus": 0.25}, name
    for name in ["fingerprint", "prepare@clean", "corrupt@clean-1", "valsets-search@clean-0", "select@clean-erm",
                 "select-baseline@idn-40+trusted-erm-trusted-hard", "evaluate@clean", "report", "trainer"]:
        assert resources(execution, name) == {"num_cpus": 2.0, "num_gpus": 0.0}, name
    # every stage of dvc.yaml that runs a model (training, or the embed stage's backbone), and only those, reserves GPUs
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        trains = stage.get("do", stage)["cmd"].split()[2] in ("erm", "rank", "train", "replicate", "embed")
        assert resources(execution, f"{name}@x")["num_gpus"] == (0.25 if trains else 0.0), name
    assert load_execution(Params({})) == Execution()  # no execution section: the defaults
    # native kernels: as many threads as the stage reserved CPUs; portable: its pins, one thread
    native = load_execution(Params({"execution": {"cpus_per_stage": 2, "portable": False}}))
    assert worker_env(native) == {"OMP_NUM_THREADS": "2"}
    assert worker_env(Execution(cpus_per_stage=0.5, portable=False)) == {"OMP_NUM_THREADS": "1"}
    assert worker_env(execution) == {"OMP_NUM_THREADS": "1", **portable_environment(True)}


class Stage(NamedTuple):
    addressing: str


def test_stages_that_unlock_more_stages_go_first():
    fp, prep, split, erm, focal, evaluate, report = (Stage(n) for n in ["fp", "prep", "split", "erm", "focal", "evaluate", "report"])
    order = [fp, prep, split, erm, focal, evaluate, report]  # dvc repro's order: dependencies first
    upstream = {fp: [], prep: [fp], split: [prep], erm: [split], focal: [split], evaluate: [erm, focal], report: [evaluate]}
    priority = unlock_priority(order, upstream)
    assert priority == {fp: (-6, 0), prep: (-5, 1), split: (-4, 2), erm: (-2, 3), focal: (-2, 4), evaluate: (-1, 5), report: (0, 6)}


def test_dvc_lock_is_written_in_batches_in_the_order_stages_ended_and_a_second_ctrl_c_waits_for_it(monkeypatch):
    writes = []
    scheduler = Scheduler.__new__(Scheduler)  # its dvc.lock bookkeeping alone: no DVC, no Ray
    scheduler.repo, scheduler.failures, scheduler.interrupted = None, {}, False
    scheduler.unwritten, scheduler.writing, scheduler.killed = [], False, False
    scheduler.written_at, scheduler.writing_s = time.monotonic(), 0.0
    scheduler.writer, scheduler.lock_write = ThreadPoolExecutor(max_workers=1), None

    def handed_over():  # the writer thread's write, once it is done
        if scheduler.lock_write:
            scheduler.lock_write.result()
        return writes

    monkeypatch.setattr(dvcrepo, "dump", lambda stages: writes.append([s.addressing for s in stages]))
    scheduler.write_lock(now=True)
    assert writes == []  # nothing to write
    scheduler.unwritten = [Stage("b"), Stage("a")]
    scheduler.write_lock()
    assert handed_over() == []  # written less than LOCK_EVERY_S ago
    scheduler.written_at -= LOCK_EVERY_S
    scheduler.write_lock()
    assert handed_over() == [["b", "a"]] and scheduler.unwritten == []
    scheduler.write_lock()  # collects the finished write
    scheduler.unwritten, scheduler.writing_s = [Stage("c")], LOCK_EVERY_S / LOCK_RATIO * 2
    scheduler.written_at = time.monotonic() - LOCK_EVERY_S * 1.5
    scheduler.write_lock()
    assert writes == [["b", "a"]]  # and at least LOCK_RATIO times as long ago as the last write took
    scheduler.write_lock(now=True)  # as the run returns, however it ends
    assert writes == [["b", "a"], ["c"]]
    scheduler.unwritten = [Stage("e")]
    scheduler.write_lock(now=True, wait=False)  # handed over: the run shuts Ray down meanwhile
    assert scheduler.unwritten == [] and scheduler.lock_write is not None
    scheduler.write_lock(now=True)
    assert writes[-1] == ["e"] and scheduler.lock_write is None

    def interrupted_twice(stages):
        scheduler.interrupt(signal.SIGINT, None)
        scheduler.interrupt(signal.SIGINT, None)  # would be "now", but dvc.lock is being written
        writes.append([s.addressing for s in stages])

    monkeypatch.setattr(dvcrepo, "dump", interrupted_twice)
    scheduler.unwritten = [Stage("d")]
    with pytest.raises(KeyboardInterrupt):
        scheduler.write_lock(now=True)
    assert writes[-1] == ["d"] and scheduler.interrupted


def node(cpus: float, gpus: float = 0.0, alive: bool = True) -> dict:
    return {"Alive": alive, "Resources": {"CPU": cpus, **({"GPU": gpus} if gpus else {})}}


def test_a_stage_more_per_cpu_waits_in_rays_queue_never_a_gpu_stage_nor_one_past_a_stage_passed_over(monkeypatch):
    from molere.executor import scheduler as scheduler_module

    execution = Execution(cpus_per_stage=1, gpus_per_train=1)
    cluster = Cluster(None, execution, Path("unused"))
    cluster.ray = object()  # started
    scheduler = Scheduler.__new__(Scheduler)  # its hand-over alone: no DVC, no Ray
    scheduler.repo, scheduler.execution, scheduler.cluster = None, execution, cluster
    scheduler.order = [Stage(name) for name in ["g", "a", "b", "c", "d", "e"]]  # in priority order; g trains, on a GPU
    scheduler.smallest = {"num_cpus": 1.0, "num_gpus": 0.0}
    handed = []
    scheduler.start = lambda stage, reserved: cluster.hold(reserved, -1) or handed.append(stage.addressing)
    scheduler.dvc_step = lambda stage, step, result=None: step()
    monkeypatch.setattr(dvcrepo, "locked", lambda repo: contextlib.nullcontext())
    monkeypatch.setattr(scheduler_module, "resources", lambda execution, name: {"num_cpus": 1.0, "num_gpus": float(name == "g")})

    def submitted(free: dict, ready: list[int]) -> list[str]:
        cluster.free, cluster.ahead = dict(free), 2.0
        scheduler.ready = [(k, k) for k in ready]
        handed.clear()
        scheduler.submit()
        return handed

    assert submitted({"CPU": 2.0, "GPU": 1.0}, [1, 2, 3, 4, 5]) == ["a", "b", "c", "d"]  # two run, two wait in Ray's queue
    assert scheduler.ready == [(5, 5)] and cluster.free["CPU"] == -2.0
    assert submitted({"CPU": 0.0, "GPU": 1.0}, [0]) == []  # a GPU stage waits in the driver for a free CPU
    # the GPU stage first and no GPU free: the stages after it take the free CPUs, none waits in Ray's queue ahead of it
    assert submitted({"CPU": 2.0, "GPU": 0.0}, [0, 1, 2, 3]) == ["a", "b"] and sorted(scheduler.ready) == [(0, 0), (3, 3)]
    assert cluster.fits(scheduler.smallest, queued=True) and not cluster.fits(scheduler.smallest)


def test_a_step_keeps_dvcs_state_database_open_and_sees_what_other_processes_saved_meanwhile(tmp_path):
    from dvc.fs import LocalFileSystem
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    Repo.init(str(tmp_path)).close()
    for name in "ab":
        (tmp_path / name).write_text(name)
    fs, a, b = LocalFileSystem(), str(tmp_path / "a"), str(tmp_path / "b")
    with Repo(str(tmp_path)) as repo, Repo(str(tmp_path)) as other:  # other: another process's, a worker's
        repo.state.save(a, fs, HashInfo("md5", "aa"))
        connection = repo.state.hashes._con
        dvcrepo.reset(repo)
        other.state.save(b, fs, HashInfo("md5", "bb"))
        assert repo.state.hashes._con is connection  # still open
        assert repo.state.get(a, fs)[1] == HashInfo("md5", "aa") and repo.state.get(b, fs)[1] == HashInfo("md5", "bb")
        repo._reset()  # DVC's own closes it: the next step opens a new connection
        assert repo.state.hashes._con is not connection


def test_the_capacity_is_the_live_nodes_total_and_a_stage_must_fit_on_one():
    cluster = Cluster(None, Execution(cpus_per_stage=4, gpus_per_train=0.5), Path("unused"))
    assert cluster.check_capacity([node(8, 1), node(4), node(64, 8, alive=False)]) == {"CPU": 12.0, "GPU": 1.0}
    with pytest.raises(MolereError, match=r"^execution.gpus_per_train = 0.5 but the Ray cluster has no GPU; set it to 0$"):
        cluster.check_capacity([node(8), node(4)])
    with pytest.raises(MolereError, match=r"^execution.cpus_per_stage = 4 but the largest Ray node has 3 CPUs$"):
        cluster.check_capacity([node(3, 1), node(2)])
    with pytest.raises(MolereError, match=r"^execution.gpus_per_train = 2 but the largest Ray node has 1 GPUs$"):
        Cluster(None, Execution(gpus_per_train=2), Path("unused")).check_capacity([node(8, 1), node(8, 1)])


@pytest.mark.parametrize("address", ["localhost", "ray://:10001", "host:port"])
def test_an_address_that_is_not_host_and_port_is_a_one_line_error(address):
    with pytest.raises(MolereError, match=rf"^--address '{re.escape(address)}' is not HOST:PORT, ray://HOST:PORT or auto$"):
        check_reachable(address)


def test_a_refused_token_is_named_in_the_one_line_error():
    refused = ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379")
    refused.__cause__ = RuntimeError("Failed to connect to GCS: Unauthenticated: RPC error: InvalidAuthToken: Authentication token is missing or incorrect")
    message = connection_failure(refused)
    assert message.startswith("Failed to connect to Ray cluster at 10.0.0.1:6379: the cluster refused") and "RAY_AUTH_MODE=token" in message
    assert "\n" not in message
    other = ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379")
    other.__cause__ = RuntimeError("timed out")
    assert connection_failure(other) == "Failed to connect to Ray cluster at 10.0.0.1:6379"


def test_auto_and_local_are_left_to_ray():
    for address in ["auto", "local"]:
        check_reachable(address)  # no host to reach: Ray finds (or starts) the cluster


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder for run_stage, which changes into it and sets DVC's variables (both undone)."""
    monkeypatch.chdir(tmp_path)
    for name in ["DVC_ROOT", "DVC_STAGE"]:
        monkeypatch.setenv(name, "")
    return tmp_path


def test_a_molere_bench_stage_runs_in_this_process_through_the_cli(workdir, monkeypatch):
    monkeypatch.setattr(subprocess, "Popen", None)  # a subprocess would fail
    (workdir / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    result = run_stage(str(workdir), str(workdir), "train@clean-sgd-0", ["molere-bench stage train --method sgd-magic"])
    assert result.error.startswith("error: unknown method 'sgd-magic'; allowed: ") and "lrw-hard" in result.error
    assert os.environ["DVC_STAGE"] == "train@clean-sgd-0" and Path.cwd() == workdir
    help = run_stage(str(workdir), str(workdir), "help", ["molere-bench stage valsets --help"])
    assert help.error is None and "Write one seed's LRW heuristic hard / easy / random validation sets." in help.output
    usage = run_stage(str(workdir), str(workdir), "usage", ["molere-bench stage valsets --sceanrio clean"])
    assert usage.error.startswith("NoSuchOption: ") and "--sceanrio" in usage.error


def test_other_commands_run_in_a_shell_and_stop_at_the_first_failure(workdir):
    result = run_stage(str(workdir), str(workdir), "mine", ["echo one > one.txt", "echo two; echo bad >&2; exit 3", "echo three > three.txt"])
    assert result.error == "`echo two; echo bad >&2; exit 3` exited with code 3: bad"
    assert result.output == "two\nbad\n"
    assert (workdir / "one.txt").read_text() == "one\n" and not (workdir / "three.txt").exists()
    # shell syntax sends even a molere-bench command to the shell
    redirected = run_stage(str(workdir), str(workdir), "mine", ["molere-bench stage valsets --help > help.txt"])
    assert redirected.error is None and redirected.output == "" and "validation sets" in (workdir / "help.txt").read_text()


def test_a_project_folder_missing_on_the_worker_is_named(tmp_path):
    result = run_stage(str(tmp_path), str(tmp_path / "elsewhere"), "report", ["true"])
    assert result.error.startswith(f"project folder {tmp_path / 'elsewhere'} not found on ") and "same path" in result.error


def test_no_file_or_folder_is_hashed_twice_in_a_run_and_the_workers_hash_them(tmp_path, monkeypatch):
    """Three stages read the folder one writes: the writer's worker hashes it as it records the
    stage, and the driver's checks and the readers' workers reuse that hash (each process counts
    its computations, the workers report theirs); the driver itself hashes no folder, and the
    in-memory filesystem where DVC leaves what it hashed holds nothing once the run is over."""
    from dvc_data.hashfile import build
    from fsspec.implementations.memory import MemoryFileSystem

    from molere.executor import scheduler

    readers = {f"read{k}": {"cmd": f"ls d > read{k}.txt", "deps": ["d"], "outs": [f"read{k}.txt"]} for k in range(3)}
    pipeline = {"stages": {"write": {"cmd": "mkdir -p d && echo 1 > d/a && echo 2 > d/b", "outs": ["d"]}, **readers}}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(pipeline))
    sh("git init -q && dvc init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm p", tmp_path)
    trees = []
    build_tree = build._build_tree
    monkeypatch.setattr(build, "_build_tree", lambda path, *args, **kw: trees.append(path) or build_tree(path, *args, **kw))
    monkeypatch.chdir(tmp_path)
    stored = set(MemoryFileSystem.store)
    with dvcrepo.open_repo() as repo, runlock.held(repo, wait=False):
        done = scheduler.run(repo, None, [])
    assert not done.failures
    assert done.hashes.computed == {str(tmp_path / name): 1 for name in ["d", "read0.txt", "read1.txt", "read2.txt"]}
    assert trees == []  # in the driver
    assert set(MemoryFileSystem.store) <= stored
    assert "Data and pipelines are up to date" in sh("dvc status", tmp_path)
    # a folder that changed is hashed again: the writer's check finds it changed, its worker
    # hashes it as it wrote it again (as before, so the readers are up to date)
    (tmp_path / "d" / "a").unlink()
    (tmp_path / "d" / "c").write_text("3\n")
    with dvcrepo.open_repo() as repo, runlock.held(repo, wait=False):
        again = scheduler.run(repo, None, [])
    assert not again.failures and Counter(again.outcome.values()) == {"ran": 1, "up to date": 3}
    assert again.hashes.computed[str(tmp_path / "d")] == 2
    assert "Data and pipelines are up to date" in sh("dvc status", tmp_path)


def test_the_driver_records_what_the_workers_would_where_they_cannot(tmp_path, monkeypatch):
    """A stage a worker cannot record (an import, a cloud output) is recorded in the driver, with
    the same dvc.lock entry, cache and .gitignore as a worker's record."""
    from molere.executor import onworker, scheduler

    pipeline = {"stages": {"write": {"cmd": "mkdir -p d && echo 1 > d/a", "outs": ["d"]}, "read": {"cmd": "ls d > r.txt", "deps": ["d"], "outs": ["r.txt"]}}}
    built = {}
    for who in ["worker", "driver"]:
        repo = tmp_path / who
        repo.mkdir()
        (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline))
        sh("git init -q && dvc init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm p", repo)
        monkeypatch.chdir(repo)
        monkeypatch.setattr(onworker, "handles", onworker.handles if who == "worker" else lambda stage: False)
        with dvcrepo.open_repo() as dvc_repo, runlock.held(dvc_repo, wait=False):
            assert not scheduler.run(dvc_repo, None, []).failures
        built[who] = [(repo / name).read_text() for name in ["dvc.lock", ".gitignore", "r.txt"]] + [sorted(p.name for p in (repo / ".dvc/cache").rglob("*") if p.is_file())]
        assert "Data and pipelines are up to date" in sh("dvc status", repo)
    assert built["worker"] == built["driver"]
    assert built["worker"][1] == "/d\n/r.txt\n"


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """The same tiny study, from the same code, built by the executor and by plain `dvc repro`."""
    by_executor = study_repo(tmp_path_factory.mktemp("executor"), scenarios=SHELL_STAGE)
    by_dvc = study_repo(tmp_path_factory.mktemp("dvc"), scenarios=SHELL_STAGE)
    log = sh("molere-bench repro", by_executor)
    sh("dvc repro", by_dvc)
    return by_executor, by_dvc, log


def artifacts(repo: Path) -> list[Path]:
    """Every artifact the study wrote, its timing files aside (they differ from run to run)."""
    files = (p.relative_to(repo) for d in ARTIFACT_DIRS for p in (repo / d).rglob("*") if p.is_file())
    return sorted(p for p in files if p.as_posix() not in TIMING_FILES)


def test_the_executor_writes_what_dvc_repro_writes(studies):
    by_executor, by_dvc, log = studies
    assert stages_that("ran", log) == STAGES
    files = artifacts(by_executor)
    assert files == artifacts(by_dvc)
    assert {"runs/clean/lrw-hard/seeds/1/model.pt", "reports/report.md", "evaluation/idn-40/results.parquet"} <= {f.as_posix() for f in files}
    for name in files:  # byte for byte: the timings live apart, in files of their own
        assert (by_executor / name).read_bytes() == (by_dvc / name).read_bytes(), name
    for repo in (by_executor, by_dvc):
        assert (repo / "scenarios.txt").read_text() == f"{sorted(SCENARIOS)}\n"


def test_dvc_lock_records_the_same_stages_and_dvc_has_nothing_left_to_do(studies):
    by_executor, by_dvc, _ = studies
    mine, dvcs = locked_stages(by_executor), locked_stages(by_dvc)
    assert set(mine) == set(dvcs) == STAGES
    # stages whose outputs carry no timing are recorded byte for byte as `dvc repro` records them
    for name in ["fingerprint", "prepare@clean", "prepare@idn-40"]:
        assert mine[name] == dvcs[name], name
    assert "Data and pipelines are up to date" in sh("dvc status", by_executor)
    repro = sh("dvc repro", by_executor)
    assert "Running stage" not in repro and "Data and pipelines are up to date" in repro


def test_a_second_run_finds_everything_up_to_date(studies):
    by_executor, _, _ = studies
    log = sh("molere-bench repro", by_executor)
    assert not stages_that("ran", log)
    assert re.search(rf"^{len(STAGES)} up to date in ", log, flags=re.M), log


def test_a_method_param_reruns_its_cells_evaluate_and_report_and_saves_the_experiment(studies):
    by_executor, _, _ = studies
    log = sh("molere-bench repro -S ++methods.focal.gamma=1 --exp focal-gamma-1", by_executor)  # ++: add or set
    focal = {f"train@{s}-focal-0" for s in SCENARIOS} | {f"replicate@{s}-focal-1" for s in SCENARIOS} | {f"select@{s}-focal" for s in SCENARIOS}
    expected = {"fingerprint", "report", "scenarios"} | focal | {f"evaluate@{s}" for s in SCENARIOS}
    assert stages_that("ran", log) == expected
    assert yaml.safe_load((by_executor / "params.yaml").read_text())["methods"]["focal"]["gamma"] == 1
    assert "Data and pipelines are up to date" in sh("dvc status", by_executor)
    (baseline,) = [row for row in json.loads(run("dvc exp show --json", by_executor).stdout) if row["rev"] != "workspace"]
    (experiment,) = [exp for exp in baseline["experiments"] if exp["name"] == "focal-gamma-1"]
    data = experiment["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["methods"]["focal"]["gamma"] == 1
    metrics = json.loads((by_executor / "reports/metrics.json").read_text())
    assert data["metrics"]["reports/metrics.json"]["data"]["clean"]["focal"]["id_acc"] == metrics["clean"]["focal"]["id_acc"]


def test_a_failed_stage_stops_its_descendants_and_a_killed_worker_is_retried(studies):
    by_executor, _, _ = studies
    killed = "train@clean-lrw-hard-0"
    # a value only focal's stage rejects (`-S` would refuse it before anything runs): written by hand
    params = yaml.safe_load((by_executor / "params.yaml").read_text())
    params["methods"]["focal"]["gamma"] = "lots"
    (by_executor / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run("molere-bench repro -S methods.lrw-hard.q=3", by_executor, MOLERE_KILL_ONCE=killed)
    log = result.stdout + result.stderr
    assert result.returncode == 1, log
    focal = {f"train@{s}-focal-0" for s in SCENARIOS}
    assert stages_that("failed", log) == focal
    lrw_hard = {f"train@{s}-lrw-hard-0" for s in SCENARIOS} | {f"replicate@{s}-lrw-hard-1" for s in SCENARIOS} | {f"select@{s}-lrw-hard" for s in SCENARIOS}
    assert stages_that("ran", log) == {"fingerprint"} | lrw_hard  # independent of focal's failure
    assert "8 skipped (an upstream stage failed)" in log  # focal's select and replicate, evaluate, report, scenarios
    for name in focal:
        assert re.search(rf"^failed {name}: error: methods.focal.gamma = 'lots' should be of type float", log, flags=re.M), log
    assert (by_executor / f".dvc/tmp/killed-{killed}").exists()  # its first worker died
    status = sh("dvc status " + " ".join(f"train@{s}-lrw-hard-0" for s in SCENARIOS), by_executor)
    assert "up to date" in status, status


@pytest.fixture(scope="module")
def unbuilt(tmp_path_factory):
    return make_study_repo(tmp_path_factory.mktemp("unbuilt"), tiny_params())


@pytest.fixture
def fresh(unbuilt):
    """The tiny study, never built; its params.yaml is restored after each test."""
    params = (unbuilt / "params.yaml").read_text()
    yield unbuilt
    (unbuilt / "params.yaml").write_text(params)


def set_param(repo: Path, key: str, value) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    section, leaf = key.split(".")
    params[section][leaf] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def assert_one_line_error(result, *fragments) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_nothing_ran(repo: Path) -> None:
    assert not (repo / "dvc.lock").exists() and not (repo / "fingerprints").exists()


@pytest.mark.parametrize("how", ["--address 127.0.0.1:1", "RAY_ADDRESS"])
def test_an_unreachable_cluster_is_a_one_line_error(fresh, how):
    cmd, env = ("molere-bench repro --address 127.0.0.1:1", {}) if how != "RAY_ADDRESS" else ("molere-bench repro", {"RAY_ADDRESS": "127.0.0.1:1"})
    assert_one_line_error(run(cmd, fresh, **env), "--address 127.0.0.1:1: no Ray cluster answers there", "ray start --head")
    assert_nothing_ran(fresh)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("cpus_per_stage", 0, "execution.cpus_per_stage = 0.0 is outside the allowed range (0, inf)"),
        ("gpus_per_train", -0.5, "execution.gpus_per_train = -0.5 is outside the allowed range [0, inf)"),
        ("gpus_per_train", 1.5, "execution.gpus_per_train = 1.5: a stage takes a fraction of one GPU (0 to 1) or whole GPUs"),
        ("retries", -1, "execution.retries = -1 is outside the allowed range [0, inf)"),
        ("retries", "twice", "execution.retries = 'twice' should be of type int"),
    ],
)
def test_a_resource_value_out_of_range_is_a_one_line_error(fresh, key, value, message):
    set_param(fresh, f"execution.{key}", value)
    assert_one_line_error(run("molere-bench repro", fresh), message)
    assert_nothing_ran(fresh)


def test_what_no_node_has_is_a_one_line_error_before_anything_runs(fresh):
    """Checked once Ray runs: GPUs on a machine with none (CUDA_VISIBLE_DEVICES hides any), more
    CPUs per stage than a node has."""
    set_param(fresh, "execution.gpus_per_train", 0.25)
    result = run("molere-bench repro", fresh, CUDA_VISIBLE_DEVICES="")
    assert_one_line_error(result, "execution.gpus_per_train = 0.25 but the Ray cluster has no GPU; set it to 0")
    set_param(fresh, "execution.gpus_per_train", 0)
    set_param(fresh, "execution.cpus_per_stage", 4096)
    assert_one_line_error(run("molere-bench repro", fresh), "execution.cpus_per_stage = 4096 but the largest Ray node has")
    assert_nothing_ran(fresh)


def test_ctrl_c_stops_the_running_stages_and_keeps_the_finished_ones(tmp_path):
    wait = {"cmd": "python -c \"import os, time; open('wait.pid', 'w').write(str(os.getpid())); time.sleep(600)\"", "outs": ["wait.out"]}
    repo = study_repo(tmp_path, wait=wait)
    # its own process group, as a terminal's foreground job, which Ctrl-C signals as a whole
    process = subprocess.Popen(["molere-bench", "repro"], cwd=repo, env=study_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    while not (repo / "wait.pid").exists() and process.poll() is None:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)
    log = process.communicate(timeout=120)[0]
    assert process.returncode == 130, log
    assert "wait" in stages_that("stopped", log)
    assert re.search(r"^(\d+ ran, )?\d+ stopped \(interrupted\), \d+ not started in ", log, flags=re.M), log
    with pytest.raises(ProcessLookupError):  # the interrupted command is gone
        os.kill(int((repo / "wait.pid").read_text()), 0)
    assert set(locked_stages(repo)) == stages_that("ran", log)  # what finished is recorded
    assert not [p for p in repo.rglob("*.tmp") if ".dvc" not in p.parts]


@pytest.mark.parametrize(
    "override, message",
    [
        ("trian.steps=1", "unknown params key 'trian'; did you mean 'train'? known: study, data,"),
        # methods: {} in params.yaml; focal's Config declares gamma
        ("methods.focal.gama=1", "unknown params key 'methods.focal.gama'; did you mean 'methods.focal.gamma'? known: gamma"),
        ("execution.cpus_per_stage=0", "execution.cpus_per_stage = 0.0 is outside the allowed range (0, inf)"),
    ],
)
def test_a_bad_set_param_is_a_one_line_error_and_leaves_params_alone(fresh, override, message):
    before = (fresh / "params.yaml").read_text()
    assert_one_line_error(run(f"molere-bench repro -S {override}", fresh), message)
    assert (fresh / "params.yaml").read_text() == before
    assert_nothing_ran(fresh)


def test_set_param_writes_a_declared_key_that_params_yaml_leaves_out(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    overrides = ["methods.focal.gamma=1", "train.steps=7", "++search.train={}"]
    with dvcrepo.params_with(SimpleNamespace(root_dir=tmp_path), overrides) as path:
        text = path.read_text()
    params = yaml.safe_load(text)
    assert params["methods"] == {"focal": {"gamma": 1}} and params["train"]["steps"] == 7 and params["search"] == {"train": {}}
    assert "# Search distributions that replace the declared ones" in text  # the comments kept
    assert [dvcrepo.override_key(o) for o in overrides] == ["methods.focal.gamma", "train.steps", "search.train"]


# One run at a time, and no Ray process left behind: a project of two stages, the study's
# `fingerprint` and a `gate` that waits while a file exists, so a run can be held mid-stage.

GATE = """import pathlib, sys, time
started, hold = map(pathlib.Path, sys.argv[1:])
started.touch()
while hold.exists():
    time.sleep(0.1)
pathlib.Path("gate.out").write_text("passed\\n")
"""


class Gated(NamedTuple):
    repo: Path
    started: Path  # the gate stage is running
    hold: Path  # while it exists, the gate stage waits


@pytest.fixture
def gated(tmp_path) -> Gated:
    repo = make_study_repo(tmp_path / "repo", tiny_params())
    started, hold = tmp_path / "started", tmp_path / "hold"
    (repo / "gate.py").write_text(GATE)
    fingerprint = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["fingerprint"]
    gate = {"cmd": f"python gate.py {started} {hold}", "deps": ["gate.py"], "outs": ["gate.out"]}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"fingerprint": fingerprint, "gate": gate}}, sort_keys=False))
    sh("git add -A && git commit -qm 'a gate'", repo)
    return Gated(repo, started, hold)


def held_run(gated: Gated, cmd: list[str], **env) -> subprocess.Popen:
    """`cmd` started in the project, returned once it is inside the gate stage (which holds)."""
    gated.hold.touch()
    process = subprocess.Popen(cmd, cwd=gated.repo, env={**study_env(), **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while not gated.started.exists():
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.1)
    return process


def released(gated: Gated, process: subprocess.Popen) -> str:
    """Let the held run finish; its output, after checking that it succeeded."""
    gated.hold.unlink()
    log = process.communicate(timeout=300)[0]
    assert process.returncode == 0, log
    return log


def assert_clean(repo: Path) -> None:
    assert "Data and pipelines are up to date" in sh("dvc status", repo)
    assert (repo / "gate.out").read_text() == "passed\n"


def test_a_second_run_or_dvc_repro_is_refused_in_one_line_while_a_run_holds_the_project(gated):
    first = held_run(gated, ["molere-bench", "repro"])
    second = run("molere-bench repro", gated.repo)
    assert_one_line_error(second, f"error: pid {first.pid} (molere-bench repro) is running in this project", "molere-bench repro --wait")
    dvc = run("dvc repro", gated.repo)  # DVC's own lock refuses it
    assert dvc.returncode != 0 and "Unable to acquire lock" in dvc.stderr, dvc.stderr
    log = released(gated, first)
    assert stages_that("ran", log) == {"fingerprint", "gate"}
    assert_clean(gated.repo)


def test_a_run_is_refused_while_dvc_repro_runs_a_stage(gated):
    dvc = held_run(gated, ["dvc", "repro"])  # DVC lets its lock go while the command runs
    second = run("molere-bench repro", gated.repo)
    assert_one_line_error(second, f"error: pid {dvc.pid} (dvc repro) is running in this project", "--wait")
    released(gated, dvc)
    assert_clean(gated.repo)


def test_with_wait_a_run_waits_for_the_running_one_then_runs(gated, tmp_path):
    first = held_run(gated, ["molere-bench", "repro"])
    log = tmp_path / "waiting.log"
    with log.open("w") as out:
        waiting = subprocess.Popen(["molere-bench", "repro", "--wait"], cwd=gated.repo, env=study_env(), stdout=out, stderr=subprocess.STDOUT)
    while f"waiting for pid {first.pid} (molere-bench repro) to end" not in log.read_text():
        assert waiting.poll() is None, log.read_text()
        time.sleep(0.1)
    released(gated, first)
    assert waiting.wait(timeout=300) == 0, log.read_text()
    assert re.search(r"^2 up to date in ", log.read_text(), flags=re.M), log.read_text()
    assert_clean(gated.repo)


def test_a_stage_whose_output_folder_lost_a_file_is_not_trusted_from_dvc_lock(gated):
    sh("molere-bench repro", gated.repo)
    lost = sorted((gated.repo / "fingerprints").iterdir())[0]
    content = lost.read_bytes()
    lost.unlink()
    log = sh("molere-bench repro", gated.repo)
    assert "fingerprint" in stages_that("ran", log) | stages_that("restored", log), log
    assert lost.read_bytes() == content
    assert_clean(gated.repo)


def processes_of(mark: str) -> list[psutil.Process]:
    """The processes whose environment carries STUDY_MARK=mark (this test's, to each run)."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("STUDY_MARK") == mark:
                found.append(process)
    return found


def running(snapshot: list[tuple[int, float]]) -> list[int]:
    """The pids of the snapshot's processes that still run (not the same process if the pid was reused)."""
    left = []
    for pid, started in snapshot:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
    return left


def test_no_ray_process_is_left_after_a_run_nor_after_its_driver_was_killed(gated):
    first = held_run(gated, ["molere-bench", "repro"], STUDY_MARK="killed")
    instance = [(p.pid, p.create_time()) for p in psutil.Process(first.pid).children(recursive=True)]
    names = {psutil.Process(pid).name() for pid, _ in instance}
    assert {"raylet", "gcs_server"} <= names, names  # and the agents the raylet started
    first.kill()
    first.wait()
    gated.hold.unlink()
    log = sh("molere-bench repro", gated.repo, STUDY_MARK="next")
    # the killed driver's worker may have recorded the gate's run in the run cache as it ended
    assert "gate" in stages_that("ran", log) | stages_that("restored", log), log
    assert running(instance) == [], [psutil.Process(pid).name() for pid in running(instance)]
    assert processes_of("killed") == [] and processes_of("next") == []
    assert_clean(gated.repo)
