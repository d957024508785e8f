"""The command line: a light start-up, and one-line errors with a non-zero exit for bad input."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "molere.cli"]


def run_cli(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, env=env)


def test_importing_the_cli_does_not_import_torch():
    code = "import sys, molere, molere.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_every_stage_has_help_with_its_options(tmp_path):
    from molere.pipeline import OPTIONS, STAGES

    for name, stage in STAGES.items():
        result = run_cli(["stage", name, "--help"], tmp_path)
        assert result.returncode == 0 and "--params" in result.stdout, name
        assert {option for option in OPTIONS if f"--{option}" in result.stdout} == set(stage.per), name


def test_a_stage_run_by_hand_ends_with_what_it_wrote_and_its_headline(project):
    small = ["-S", "data.mnist1d.num_samples=500"]
    prepared = run_cli(["stage", "prepare", "--scenario", "idn-40", *small], project)
    assert prepared.returncode == 0, prepared.stderr
    info = json.loads((project / "data/idn-40/info.json").read_text())
    test = pd.read_parquet(project / "data/idn-40/test.parquet")
    assert prepared.stdout.splitlines()[-1] == (
        f"prepare: wrote data/idn-40 (pool {info['pool_size']} examples, test {len(test)}, selection noise rate {info['noise_rate']:.4f})"
    )
    assert info["noise_rate"] > 0.2  # a figure that says something: idn-40's realised noise
    corrupted = run_cli(["stage", "corrupt", "--scenario", "idn-40", *small], project)  # the search seed
    labels = pd.read_parquet(project / "runs/idn-40/draws/0/labels.parquet")
    pool = pd.read_parquet(project / "data/idn-40/pool.parquet").set_index("id")
    rate = (labels["y"].to_numpy() != pool.loc[labels["id"], "y_clean"].to_numpy()).mean()
    assert corrupted.stdout.splitlines()[-1] == f"corrupt: wrote runs/idn-40/draws/0/labels.parquet ({len(labels)} training examples, noise rate {rate:.4f})"


@pytest.fixture
def project(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def edit_params(project, key, value):
    data = yaml.safe_load((project / "params.yaml").read_text())
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part]
    if value is None:
        del node[leaf]
    else:
        node[leaf] = value
    (project / "params.yaml").write_text(yaml.safe_dump(data))


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_method_lists_the_allowed_ones(project):
    result = run_cli(["stage", "train", "--method", "sgd-magic"], project)
    assert_one_line_error(result, "unknown method 'sgd-magic'", "allowed:", "erm")


def test_unknown_scenario(project):
    result = run_cli(["stage", "prepare", "--scenario", "noisy-ish"], project)
    assert_one_line_error(result, "unknown scenario 'noisy-ish'", "idn-<rate%>")


def test_unknown_label_protocol(project):
    result = run_cli(["stage", "prepare", "--scenario", "idn-40+trustd"], project)
    assert_one_line_error(result, "scenario 'idn-40+trustd': unknown label protocol 'trustd'", "allowed: +trusted", "observed")
    assert not (project / "data").exists()


@pytest.mark.parametrize(
    "scenarios, trusted, message",
    [
        (["idn-40", "idn-40+trustd"], [], "unknown label protocol 'trustd'"),
        # without noise the clean labels are the observed ones: the scenario would repeat skew-50
        (["skew-50", "skew-50+trusted"], ["skew-50+trusted"], "skew-50 has no label noise, so the trusted protocol would change nothing"),
        (["idn-40", "idn-40+trusted"], [], "study.trusted_scenarios = [] should list the trusted scenarios of study.scenarios"),
    ],
)
def test_bad_protocols_in_the_study(project, scenarios, trusted, message):
    edit_params(project, "study.scenarios", scenarios)
    edit_params(project, "study.trusted_scenarios", trusted)
    result = run_cli(["stage", "prepare", "--scenario", "idn-40"], project)
    assert_one_line_error(result, message)
    assert not (project / "data").exists()


def test_missing_data_keys_take_their_declared_defaults(project):
    """Without data.dataset and data.mnist1d, prepare makes MNIST-1D's declared 10,000 examples."""
    from molere.io import read_examples

    edit_params(project, "data.dataset", None)
    edit_params(project, "data.mnist1d", None)
    edit_params(project, "ood.severities", [1])
    edit_params(project, "ood.max_examples", 10)
    result = run_cli(["stage", "prepare", "--scenario", "clean"], project)
    assert result.returncode == 0, result.stderr
    pool, _ = read_examples(project / "data" / "clean" / "pool.parquet")
    test, _ = read_examples(project / "data" / "clean" / "test.parquet")
    assert (len(pool), len(test)) == (8000, 2000)


def test_mistyped_params_key(project):
    edit_params(project, "data.mnist1d.num_samples", "lots")
    result = run_cli(["stage", "prepare", "--scenario", "clean"], project)
    assert_one_line_error(result, "data.mnist1d.num_samples = 'lots' should be of type int")
    assert not (project / "data").exists()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("data.num_samples", 1000, "unknown params key 'data.num_samples'; mnist1d's own keys go under data.mnist1d: data.mnist1d.num_samples"),
        ("data.mnist1d.num_sample", 1000, "unknown params key 'data.mnist1d.num_sample'; did you mean 'data.mnist1d.num_samples'?"),
        ("data.colour", "red", "unknown params key 'data.colour'; known: dataset, seed, selection_fraction, mnist1d, digits"),
        ("data.cifar10", {"rot": "/data"}, "unknown params key 'data.cifar10.rot'; did you mean 'data.cifar10.root'?"),
        ("data.dataset", "imagenet", "unknown data.dataset 'imagenet'; allowed: mnist1d, digits"),
    ],
)
def test_unknown_data_key_is_one_line(project, key, value, message):
    edit_params(project, key, value)
    result = run_cli(["stage", "prepare", "--scenario", "clean"], project)
    assert_one_line_error(result, message)
    assert not (project / "data").exists()


def test_missing_input_artifact_names_it_and_writes_nothing(project):
    result = run_cli(["stage", "erm", "--scenario", "clean"], project)
    assert_one_line_error(result, "missing input artifact data/clean/info.json", "stage prepare --scenario clean")
    assert not (project / "runs").exists()


def test_malformed_override(project):
    result = run_cli(["stage", "prepare", "-S", "train.epochs"], project)
    assert_one_line_error(result, "malformed override 'train.epochs'")


def test_an_override_of_a_key_no_config_declares_is_refused(project):
    result = run_cli(["stage", "prepare", "-S", "methods.focal.gama=1"], project)
    assert_one_line_error(result, "unknown params key 'methods.focal.gama'; did you mean 'methods.focal.gamma'? known: gamma")
    assert not (project / "data").exists()


def test_params_prints_every_default_and_the_overrides(project):
    result = run_cli(["params", "-S", "methods.focal.gamma=1.5", "-S", "study.methods=[erm,focal,lrw-hard]"], project)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["methods"]["focal"] == {"gamma": 1.5}  # the override
    assert resolved["methods"]["lrw-hard"]["meta_net"]["inputs"] == ["probs", "label", "loss"]  # a declared default
    assert resolved["train"]["momentum"] == 0.9 and resolved["search"]["focal"]["methods.focal.gamma"] == "uniform(0, 5)"
    assert list(resolved["search"]["erm"]) == ["train.lr", "train.weight_decay"]
    edit_params(project, "data.mnist1d", None)  # the dataset's own section left out: its declared defaults
    data = yaml.safe_load(run_cli(["params"], project).stdout)["data"]
    assert data == {"dataset": "mnist1d", "seed": 0, "selection_fraction": 0.2, "mnist1d": {"num_samples": 10000}}
