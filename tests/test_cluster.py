"""`molere-bench repro --address` on a Ray cluster of two nodes on this machine (a head and a
worker node, each with its own CPU, through Ray's own multi-node test utility): the stages run on
both nodes, dvc.lock records them all, DVC has nothing left to do, the artifacts are those of a
local run, and no process of the cluster outlives it.

The cluster runs once for the module (starting two nodes is most of the time); each test checks
one property of that run."""

import contextlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml

from molere_tools.sandbox import study_env
from molere_tools.synthetic import make_synthetic_repo

# One scenario: make, 5 cells, sum, report. The 5 cells are ready at once and each reserves the
# one CPU a node has for CELL_SECONDS, far longer than the driver takes to submit the next one,
# which can then only go to the other node. (Without the wait every stage ran on the head: a
# trivial cell ends before the driver has submitted the next.)
STAGES = 8
CELL_SECONDS = 1.0
NODE = {"num_cpus": 1, "include_dashboard": False}  # the dashboard: CPU the test does not need
WORKERS_EXIT_S = 30  # how long the run's workers get to exit once it has returned


@dataclass(frozen=True)
class Run:
    repo: Path
    log: str  # the run's stdout and stderr
    outlived: list[str]  # the run's worker processes still there WORKERS_EXIT_S after it returned


def descendants() -> set[psutil.Process]:
    return set(psutil.Process().children(recursive=True))


@pytest.fixture(scope="module")
def two_nodes():
    """A head node and a worker node, one CPU each; the test is skipped if Ray cannot start them,
    with whatever it had started ended."""
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    before = descendants()
    cluster = None
    try:
        cluster = cluster_utils.Cluster(initialize_head=True, head_node_args=NODE, shutdown_at_exit=False)
        cluster.add_node(**NODE)
    except Exception as err:  # noqa: BLE001 (whatever stops Ray here: no shared memory, ports, a sandbox)
        with contextlib.suppress(Exception):  # a half-started cluster may not shut down; `end` kills it anyway
            end(cluster, descendants() - before)
        pytest.skip(f"Ray cannot start two nodes here: {type(err).__name__}: {err}")
    nodes = descendants() - before
    try:
        yield cluster
    finally:
        alive = end(cluster, nodes)
        assert not alive, f"left running after the cluster's shutdown (now killed): {alive}"


def end(cluster, processes: set[psutil.Process]) -> list[str]:
    """Shut the cluster down and kill what it leaves of `processes`; the names of those it left."""
    try:
        if cluster is not None:
            cluster.shutdown()
    finally:
        alive = psutil.wait_procs(list(processes), timeout=10)[1]
        names = [process.name() for process in alive]
        for process in alive:
            process.kill()
    return names


def repro(repo: Path, *options: str) -> str:
    """`molere-bench repro` in `repo`; its output, once it has succeeded."""
    done = subprocess.run(["molere-bench", "repro", *options], cwd=repo, env=study_env(), capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    return log


@pytest.fixture(scope="module")
def cluster_run(two_nodes, tmp_path_factory) -> Run:
    repo = make_synthetic_repo(tmp_path_factory.mktemp("cluster") / "repo", STAGES, CELL_SECONDS)
    before = descendants()
    log = repro(repo, "--address", two_nodes.address)
    workers = descendants() - before  # started for the run, on the nodes
    outlived = psutil.wait_procs(list(workers), timeout=WORKERS_EXIT_S)[1]
    return Run(repo, log, [process.name() for process in outlived])


def test_every_stage_runs_and_is_recorded(cluster_run):
    assert len(re.findall(r"^ran\s", cluster_run.log, flags=re.M)) == STAGES, cluster_run.log
    assert lock_stages(cluster_run.repo).keys() == yaml.safe_load((cluster_run.repo / "dvc.yaml").read_text())["stages"].keys()
    status = subprocess.run(["dvc", "status"], cwd=cluster_run.repo, env=study_env(), capture_output=True, text=True)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout


def test_the_stages_run_on_both_nodes(cluster_run):
    """The summary counts the distinct Ray node ids the stages' tasks reported; a cluster whose
    second node took no stage would leave it out (one node goes unsaid)."""
    assert re.search(rf"^{STAGES} ran on 2 Ray nodes in ", cluster_run.log, flags=re.M), cluster_run.log


def test_the_artifacts_equal_a_local_run(cluster_run, tmp_path):
    """Byte for byte: every file of the project outside git's and DVC's own folders (the stages'
    outputs, the .gitignore files DVC writes), and every stage's dvc.lock entry (dvc.lock's order
    of stages follows the order they ended in, which differs between runs)."""
    local = make_synthetic_repo(tmp_path / "repo", STAGES, CELL_SECONDS)
    repro(local)
    assert project_files(cluster_run.repo) == project_files(local)
    assert comparable(lock_stages(cluster_run.repo)) == comparable(lock_stages(local))


def test_no_worker_outlives_the_run(cluster_run):
    assert cluster_run.outlived == [], "the run's workers outlived it"


def project_files(repo: Path) -> dict[str, bytes]:
    """The project's files but dvc.lock (compared stage by stage), by path; a .gitignore as its
    sorted lines, since DVC adds each output's line as its stage ends, in the order the run ended them."""
    skipped = {".git", ".dvc", "dvc.lock"}
    files = [p for p in repo.rglob("*") if p.is_file() and skipped.isdisjoint(p.relative_to(repo).parts)]
    return {str(p.relative_to(repo)): b"".join(sorted(p.read_bytes().splitlines(keepends=True))) if p.name == ".gitignore" else p.read_bytes()
            for p in files}


def comparable(stages: dict) -> dict:
    """dvc.lock's stages without a folder dependency's hash: the folder holds DVC's .gitignore,
    whose lines follow the order the run ended the stages (its files are compared one by one)."""
    def dep(entry: dict) -> dict:
        return {k: v for k, v in entry.items() if k not in ("md5", "size")} if entry.get("md5", "").endswith(".dir") else entry

    return {name: {**stage, "deps": [dep(d) for d in stage.get("deps", [])]} for name, stage in stages.items()}


def lock_stages(repo: Path) -> dict:
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
