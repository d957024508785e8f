"""End to end: `dvc repro` of a tiny study in a temporary git repository, outputs read back."""

import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from molere import paths
from molere.io import read_examples
from molere.valsets import validation_size
from molere_tools.sandbox import ROOT, make_study_repo, study_env

SCENARIOS = ["clean", "idn-40+skew-2"]
METHODS = ["erm", "lrw-hard", "molere", "focal"]
NUM_SAMPLES = 400


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=SCENARIOS, trusted_scenarios=[], methods=METHODS, search_seed=0, seeds=[1, 2], trials=[0, 1])
    params["data"]["mnist1d"]["num_samples"] = NUM_SAMPLES
    params["train"].update(steps=None, epochs=2, device="cpu")
    return params


def sh(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, shell=True)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    repo = make_study_repo(tmp_path_factory.mktemp("study"), tiny_params())
    env = study_env()
    log = sh("molere-bench repro", repo, env)  # what `make repro` runs: the stages in parallel on Ray
    return repo, env, log


def test_artifacts_have_the_configured_sizes(study):
    repo, _, _ = study
    params = tiny_params()
    for scenario in SCENARIOS:
        pool, x = read_examples(repo / f"data/{scenario}/pool.parquet")
        test, _ = read_examples(repo / f"data/{scenario}/test.parquet")
        assert len(test) == NUM_SAMPLES // 5
        assert len(pool) == len(x) and len(pool) <= NUM_SAMPLES - len(test)
        assert set(pool.columns) >= {"id", "y", "y_clean", "is_noisy", "in_selection"}
        assert pool["id"].is_unique
        margins = pd.read_parquet(repo / paths.margins(scenario, 1))
        splits = pd.read_parquet(repo / paths.valsets(scenario, 1))
        merged = splits.merge(margins, on="id")
        kept = pd.read_parquet(repo / paths.labels(scenario, 1))["id"]  # the seed's corruption (skew) keeps these
        training = pool[~pool["in_selection"] & pool["id"].isin(kept)]  # the validation sets come from the training part only
        assert 0 < len(training) < len(pool) and sorted(merged["id"]) == sorted(training["id"])
        for _, mine in merged.groupby("y"):  # valsets.stratified: the fraction within each class
            k = validation_size(len(mine), params["valsets"]["fraction"])
            for name in ["hard", "easy", "random"]:
                assert mine[name].sum() == k
            hard, easy = mine["hard"], mine["easy"]
            assert mine.loc[hard, "margin"].max() <= mine.loc[~hard, "margin"].min()
            assert mine.loc[easy, "margin"].min() >= mine.loc[~easy, "margin"].max()


def test_every_run_and_the_report(study):
    repo, _, _ = study
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    results = pd.read_csv(repo / "reports/results.csv")
    assert len(results) == len(SCENARIOS) * len(METHODS) * 4  # trials 0 and 1 on seed 0, the pick on seeds 1 and 2
    for scenario in SCENARIOS:
        for method in METHODS:
            accuracies = []
            for seed in (1, 2):
                run = repo / f"runs/{scenario}/{method}/seeds/{seed}"
                predictions = pd.read_parquet(run / "predictions.parquet")
                test = predictions[predictions["set"] == "test"]
                assert len(test) == NUM_SAMPLES // 5
                assert np.all((test["margin"] >= -1) & (test["margin"] <= 1))
                history = pd.read_csv(run / "history.csv")
                assert 1 <= len(history) <= 2 and np.isfinite(history["train_loss"]).all()
                accuracies.append(test["correct"].mean())
            acc = metrics[scenario][method]["id_acc"]
            assert 0 <= acc <= 1 and acc == pytest.approx(np.mean(accuracies), abs=1e-4)
    assert "| erm |" in (repo / "reports/report.md").read_text()


def test_the_selected_trial_follows_the_rule_and_runs_on_every_seed(study):
    repo, _, _ = study
    results = pd.read_csv(repo / "reports/results.csv")
    report = (repo / "reports/report.md").read_text()
    for scenario in SCENARIOS:
        for method in METHODS:
            base = repo / f"runs/{scenario}/{method}"
            trials = [json.loads((base / f"trials/{t}/metrics.json").read_text()) for t in (0, 1)]
            best = max(trials, key=lambda m: (m["select_acc"], -m["trial"]))["trial"]  # ties: the lower trial
            chosen = json.loads((base / "selected.json").read_text())
            assert (chosen["trial"], chosen["seed"], chosen["rule"]) == (best, 0, "selection")
            picked = json.loads((base / f"trials/{best}/config.json").read_text())
            assert chosen["values"] == picked["values"] and (best == 0) == (picked["values"] == {})
            assert not (base / "seeds/0").exists()  # the search seed's run won the search: no replicate
            for seed in (1, 2):
                replica = json.loads((base / f"seeds/{seed}/config.json").read_text())
                assert (replica["trial"], replica["seed"], replica["values"]) == (best, seed, chosen["values"])
            rows = results[(results["scenario"] == scenario) & (results["method"] == method)]
            selected = rows[rows["selected_by_selection"]]
            assert sorted(zip(selected["trial"], selected["seed"])) == [(best, 0), (best, 1), (best, 2)]
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    for scenario in SCENARIOS:  # the headline averages the replicates only
        replicas = [json.loads((repo / f"runs/{scenario}/erm/seeds/{seed}/metrics.json").read_text())["id_acc"] for seed in (1, 2)]
        assert metrics[scenario]["erm"]["id_acc"] == pytest.approx(np.mean(replicas), abs=1e-4)
    assert "each rule's pick among the method's trials" in report and "| erm | 2 |" in report


def test_second_repro_does_nothing(study):
    repo, env, _ = study
    assert "Data and pipelines are up to date" in sh("dvc repro", repo, env)


def test_a_method_param_reruns_only_that_method(study):
    repo, env, _ = study
    log = sh("dvc exp run -S ++methods.focal.gamma=1", repo, env)  # ++: add the key or set it
    ran = set(re.findall(r"Running stage '([^']+)'", log))
    expected = {f"train@{s}-focal-{k}" for s in SCENARIOS for k in (0, 1)} | {f"replicate@{s}-focal-{seed}" for s in SCENARIOS for seed in (1, 2)}
    expected |= {f"select@{s}-focal" for s in SCENARIOS} | {f"evaluate@{s}" for s in SCENARIOS}
    assert ran == expected | {"fingerprint", "report"}
    (baseline,) = [row for row in json.loads(sh("dvc exp show --json", repo, env)) if row["rev"] != "workspace"]
    (experiment,) = [rev["data"] for exp in baseline["experiments"] for rev in exp["revs"]]
    assert baseline["data"]["params"]["params.yaml"]["data"]["methods"] == {}  # the declared default, 2
    assert experiment["params"]["params.yaml"]["data"]["methods"]["focal"]["gamma"] == 1
    metrics = experiment["metrics"]["reports/metrics.json"]["data"]
    assert 0 <= metrics[SCENARIOS[0]]["focal"]["id_acc"] <= 1
    verdicts = experiment["metrics"]["reports/claims.json"]["data"]
    assert verdicts["clean"]["easy-below-erm"]["verdict"] == "not run"  # lrw-easy is not in this study: listed, not dropped
    assert verdicts["clean"]["margin-shift"]["verdict"] in {"holds", "contradicted", "equivalent", "not resolved"}
    assert verdicts["clean"]["molere-beats-heuristics"]["verdict"] == "not run"  # lrw-random and lrw-easy are not in this study
    assert verdicts["idn-40+skew-2"]["margin-shift"]["comparisons"] == 6  # mean, median and skew; LRW-Hard, MOLERE


def test_a_new_seed_runs_only_its_own_draws_and_replicates(study):
    repo, env, _ = study
    log = sh("dvc exp run -S study.seeds=[1,2,3]", repo, env)
    ran = set(re.findall(r"Running stage '([^']+)'", log))
    expected = {f"{stage}@{s}-3" for s in SCENARIOS for stage in ("corrupt", "erm", "rank", "valsets")}
    expected |= {f"replicate@{s}-{m}-3" for s in SCENARIOS for m in METHODS} | {f"evaluate@{s}" for s in SCENARIOS}
    assert ran == expected | {"fingerprint", "report"}


def test_bytecode_caches_leave_the_study_up_to_date(study):
    repo, env, _ = study
    for package in ["molere", "stages"]:
        (repo / package / "__pycache__").mkdir(exist_ok=True)
        (repo / package / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\x00bytecode")
    assert "Data and pipelines are up to date" in sh("dvc repro", repo, env)


def test_an_edit_of_the_reports_code_reruns_only_the_report(study):
    repo, env, _ = study
    for edited in ["stages/report.py", "molere/report/markdown.py"]:  # its stage module, a library module only it imports
        with (repo / edited).open("a") as module:
            module.write("# an edit\n")
    ran = set(re.findall(r"Running stage '([^']+)'", sh("dvc repro", repo, env)))
    assert ran == {"fingerprint", "report"}
