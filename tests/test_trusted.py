"""The validation-label protocol end to end: a tiny study of idn-40 under both protocols (`idn-40`
and `idn-40+trusted`) through `molere-bench repro`, its artifacts read back from disk."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from molere import paths
from molere.io import read_examples
from molere.params import Params
from molere.report.claims import CLAIMS
from molere_tools.sandbox import ROOT, make_study_repo, study_env

OBSERVED, TRUSTED = "idn-40", "idn-40+trusted"
METHODS = ["erm", "lrw-random", "lrw-easy", "lrw-hard", "molere"]
BASELINES = ["erm-trusted-hard", "erm-trusted-easy"]
SEEDS = [1, 2]


def sh(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, shell=True)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(
        scenarios=[OBSERVED, TRUSTED], methods=METHODS, trusted_scenarios=[TRUSTED], trusted_baselines=BASELINES,
        search_seed=0, seeds=SEEDS, trials=[0],
    )
    params["data"]["mnist1d"]["num_samples"] = 400
    params["train"].update(steps=None, epochs=1, device="cpu")
    return params


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    repo = make_study_repo(tmp_path_factory.mktemp("trusted"), tiny_params())
    sh("molere-bench repro", repo, study_env())
    return repo


def run_file(repo, scenario: str, method: str, name: str, seed: int = 1) -> pd.DataFrame:
    return pd.read_parquet(repo / paths.run_dir(scenario, method, seed) / name)


def clean_labels(repo) -> pd.Series:
    pool, _ = read_examples(repo / paths.pool(OBSERVED))
    return pool.set_index("id")["y_clean"]


def test_both_protocols_share_the_draws(study):
    for seed in [0, *SEEDS]:
        for path in (paths.labels, paths.valsets, paths.margins):
            assert (study / path(OBSERVED, seed)).read_bytes() == (study / path(TRUSTED, seed)).read_bytes()


@pytest.mark.parametrize("method", ["lrw-hard", "lrw-random"])
def test_the_trusted_protocol_changes_the_validation_sides_labels_and_nothing_else(study, method):
    observed = run_file(study, OBSERVED, method, paths.VALIDATION)
    trusted = run_file(study, TRUSTED, method, paths.VALIDATION)
    assert observed["id"].tolist() == trusted["id"].tolist()  # every id, in order
    assert observed["in_val"].tolist() == trusted["in_val"].tolist()
    side = observed["in_val"].to_numpy()
    assert side.any() and (~side).any()
    assert trusted["y"][~side].tolist() == observed["y"][~side].tolist()  # the train side: its observed labels
    assert trusted["y"][side].tolist() == clean_labels(study).loc[trusted["id"][side]].tolist()
    assert not trusted["is_noisy"][side].any()
    assert observed["is_noisy"][side].any()  # so the protocol changed some labels there
    # the train side the run weighted: the same ids and noise flags
    pd.testing.assert_frame_equal(
        run_file(study, OBSERVED, method, paths.WEIGHTS)[["id", "is_noisy"]], run_file(study, TRUSTED, method, paths.WEIGHTS)[["id", "is_noisy"]]
    )


def test_molere_learns_its_side_with_the_clean_labels_under_trusted(study):
    for seed in SEEDS:
        observed = run_file(study, OBSERVED, "molere", paths.VALIDATION, seed)
        trusted = run_file(study, TRUSTED, "molere", paths.VALIDATION, seed)
        assert observed["id"].tolist() == trusted["id"].tolist()
        assert trusted["in_val"].any() and not trusted.loc[trusted["in_val"], "is_noisy"].any()
        assert observed.loc[observed["in_val"], "is_noisy"].any()
        train = ~trusted["in_val"].to_numpy()  # its train side keeps the observed labels
        assert trusted["y"][train].tolist() == observed.set_index("id")["y"].loc[trusted["id"][train]].tolist()


def test_the_trusted_erm_baseline_trains_on_the_relabelled_side(study, monkeypatch):
    """The labels and mask `train_method` receives: the whole training part, the hard side clean."""
    import stages.train as train

    monkeypatch.chdir(study)
    seen = {}

    def capture(method, params, x, y, ids, val_mask, *args, **kwargs):
        seen.update(y=y, ids=ids, val_mask=val_mask)
        raise StopIteration  # the inputs are what this test reads: no training

    monkeypatch.setattr(train, "train_method", capture)
    params = Params.load(study / "params.yaml")
    with pytest.raises(StopIteration):
        train.train_run(params, TRUSTED, "erm-trusted-hard", 1, study / "unused", 0, {})
    hard = pd.read_parquet(study / paths.valsets(TRUSTED, 1)).set_index("id")["hard"].loc[seen["ids"]].to_numpy()
    observed = run_file(study, OBSERVED, "erm", paths.VALIDATION).set_index("id")["y"].loc[seen["ids"]].to_numpy()
    clean = clean_labels(study).loc[seen["ids"]].to_numpy()
    assert not seen["val_mask"].any()  # nothing held out: it trains on its side too
    assert len(seen["ids"]) == len(run_file(study, OBSERVED, "erm", paths.WEIGHTS))  # all of the training part
    assert np.array_equal(seen["y"][hard], clean[hard]) and (observed[hard] != clean[hard]).any()
    assert np.array_equal(seen["y"][~hard], observed[~hard])  # the rest keeps its observed labels
    assert len(run_file(study, TRUSTED, "erm-trusted-hard", paths.WEIGHTS)) == len(seen["ids"])


def test_every_claim_has_a_verdict_under_each_protocol_side_by_side(study):
    verdicts = json.loads((study / paths.CLAIMS).read_text())
    assert list(verdicts) == [OBSERVED, TRUSTED]
    for scenario in verdicts:
        assert set(verdicts[scenario]) == {c.id for c in CLAIMS}
        judged = {c for c, cell in verdicts[scenario].items() if cell["verdict"] != "not run"}
        assert judged == {c.id for c in CLAIMS} - {"molere-beats-peers"}, scenario  # no peers in this study
    comparisons = pd.read_csv(study / paths.CLAIM_COMPARISONS)
    against = comparisons[comparisons["claim"] == "easy-below-erm"].groupby("scenario")["comparison"].apply(set)
    assert against[OBSERVED] == {"lrw-easy − erm, in distribution", "lrw-easy − erm, OOD"}
    assert against[TRUSTED] == {"lrw-easy − erm-trusted-easy, in distribution", "lrw-easy − erm-trusted-easy, OOD"}
    shift = comparisons[(comparisons["claim"] == "margin-shift") & (comparisons["scenario"] == TRUSTED)]
    assert {c.split(" test margin")[0] for c in shift["comparison"]} == {"lrw-hard − erm-trusted-hard", "molere − erm-trusted-hard"}
    report = (study / paths.REPORT).read_text()
    assert f"| claim | {OBSERVED} | {TRUSTED} |" in report
    metrics = json.loads((study / paths.REPORT_METRICS).read_text())
    assert set(metrics[TRUSTED]) == {*METHODS, *BASELINES} and set(metrics[OBSERVED]) == set(METHODS)
