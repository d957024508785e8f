from typing import NamedTuple

import networkx as nx
import pytest

from molere.errors import MolereError
from molere.repro import deal, repro_command, worker_plan


class Stage(NamedTuple):
    addressing: str


def test_scenarios_are_dealt_round_robin():
    assert deal(["clean", "idn-40", "skew-50"], 2) == [["clean", "skew-50"], ["idn-40"]]


def test_no_empty_worker_and_one_job_takes_everything():
    assert deal(["clean"], 4) == [["clean"]]
    assert deal(["a", "b"], 1) == [["a", "b"]]


def test_jobs_below_one_is_an_error():
    with pytest.raises(MolereError, match=r"--jobs = 0 is outside the allowed range"):
        deal(["clean"], 0)


def study_graph(scenarios):
    """DVC's shape of the study: edges from a stage to what it depends on."""
    graph = nx.DiGraph()
    fingerprint = Stage("fingerprint")
    for s in scenarios:
        prepare, split, train, evaluate = (Stage(f"{name}@{s}") for name in ["prepare", "split", "train", "evaluate"])
        graph.add_edges_from([(prepare, fingerprint), (split, prepare), (split, fingerprint)])
        graph.add_edges_from([(train, split), (train, prepare), (train, fingerprint), (evaluate, train)])
        graph.add_edge(Stage("report"), evaluate)
    return graph


def test_a_worker_plan_is_its_scenarios_upstream_dependencies_first_without_the_shared_stage():
    plan = worker_plan(study_graph(["clean", "idn-40"]), ["idn-40"])
    assert sorted(plan) == ["evaluate@idn-40", "prepare@idn-40", "split@idn-40", "train@idn-40"]
    assert plan.index("prepare@idn-40") < plan.index("split@idn-40") < plan.index("train@idn-40")
    assert plan[-1] == "evaluate@idn-40"


def test_a_worker_with_two_scenarios_builds_one_after_the_other():
    plan = worker_plan(study_graph(["clean", "idn-40", "skew-50"]), ["clean", "skew-50"])
    assert [name.split("@")[1] for name in plan] == ["clean"] * 4 + ["skew-50"] * 4


def test_workers_run_their_plan_as_single_items():
    assert repro_command(["a", "b"], single_item=True) == ["dvc", "--wait-for-lock", "repro", "--single-item", "a", "b"]
    assert repro_command([]) == ["dvc", "--wait-for-lock", "repro"]
