"""`molere-bench repro --address` on a Ray cluster of two nodes on this machine (a head and a
worker node, each with its own CPU, through Ray's own multi-node test utility): the stages run,
dvc.lock records them all, DVC has nothing left to do, and no process of the cluster outlives it."""

import re
import subprocess

import psutil
import pytest
import yaml

from molere_tools.sandbox import study_env
from molere_tools.synthetic import make_synthetic_repo

STAGES = 8


@pytest.fixture
def two_nodes():
    """A head node and a worker node, one CPU each; the test is skipped if Ray cannot start them."""
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    started = set(psutil.Process().children(recursive=True))
    try:
        cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, shutdown_at_exit=False)
        cluster.add_node(num_cpus=1)
    except Exception as err:  # noqa: BLE001 (whatever stops Ray here: no shared memory, ports, a sandbox)
        pytest.skip(f"Ray cannot start two nodes here: {type(err).__name__}: {err}")
    nodes = {p for p in psutil.Process().children(recursive=True) if p not in started}
    try:
        yield cluster
    finally:
        cluster.shutdown()
        gone, alive = psutil.wait_procs(list(nodes), timeout=10)
        assert not alive, f"left running after the cluster's shutdown: {[p.name() for p in alive]}"


def test_a_run_on_a_two_node_cluster_runs_and_records_every_stage(two_nodes, tmp_path):
    repo = make_synthetic_repo(tmp_path / "repo", STAGES)
    before = set(psutil.Process().children(recursive=True))
    done = subprocess.run(
        ["molere-bench", "repro", "--address", two_nodes.address], cwd=repo, env=study_env(), capture_output=True, text=True, timeout=300
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert len(re.findall(r"^ran\s", log, flags=re.M)) == STAGES, log
    assert set(yaml.safe_load((repo / "dvc.lock").read_text())["stages"]) == set(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    status = subprocess.run(["dvc", "status"], cwd=repo, env=study_env(), capture_output=True, text=True)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    started = set(psutil.Process().children(recursive=True)) - before  # the run's workers, on the nodes
    assert psutil.wait_procs(list(started), timeout=30)[1] == [], "the run's workers outlived it"
