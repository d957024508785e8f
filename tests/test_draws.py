"""A replicate seed re-draws everything after the dataset (molere/draws.py): the training part's
label corruption, the first ERM pass and its margins, the heuristic validation sets; the test, OOD
and selection sets (with the selection split's labels) stay those of the dataset."""

import numpy as np
import pytest
import torch
import yaml

from molere import paths
from molere.draws import stream_seed
from molere.errors import MolereError
from molere.io import read_examples, read_table
from molere.params import Params
from molere.pipeline import declared_params
from molere_tools.sandbox import ROOT
from stages import corrupt, erm, prepare, rank, valsets
from stages.common import load_pool

SCENARIO = "idn-40+skew-2"


def study_params() -> Params:
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["data"]["mnist1d"]["num_samples"] = 500
    data["train"].update(steps=None, epochs=1, device="cpu")
    return Params(data)


@pytest.fixture(scope="module")
def draws(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("draws"))
        params = study_params()
        prepare.run(declared_params(params, "prepare"), SCENARIO)
        for seed in (1, 2):
            for stage in (corrupt, erm, rank, valsets):
                stage.run(declared_params(params, stage.__name__.split(".")[-1]), SCENARIO, seed)
        yield {
            seed: {
                "pool": load_pool(SCENARIO, seed)[0],
                "margins": read_table(paths.margins(SCENARIO, seed)),
                "valsets": read_table(paths.valsets(SCENARIO, seed)),
                "erm": torch.load(paths.erm_rank_model(SCENARIO, seed), weights_only=True)["state_dict"],
            }
            for seed in (1, 2)
        } | {"prepared": read_examples(paths.pool(SCENARIO))[0]}


def training(pool):
    return pool[~pool["in_selection"]].set_index("id")


def test_two_seeds_draw_different_corruptions_rankings_and_validation_sets(draws):
    one, two = draws[1], draws[2]
    # skew keeps other examples, noise flips other labels
    assert set(training(one["pool"]).index) != set(training(two["pool"]).index)
    shared = training(one["pool"]).index.intersection(training(two["pool"]).index)
    assert (training(one["pool"]).loc[shared, "y"] != training(two["pool"]).loc[shared, "y"]).any()
    assert not training(one["pool"])["is_noisy"].eq(False).all()
    first_weights = next(iter(one["erm"]))
    assert not torch.equal(one["erm"][first_weights], two["erm"][first_weights])
    assert not np.array_equal(one["margins"]["margin"], two["margins"]["margin"][: len(one["margins"])]) or len(one["margins"]) != len(two["margins"])
    for name in ("hard", "easy", "random"):
        assert set(one["valsets"].loc[one["valsets"][name], "id"]) != set(two["valsets"].loc[two["valsets"][name], "id"])


def test_two_seeds_share_the_selection_split_with_its_labels(draws):
    prepared = draws["prepared"]
    chosen = prepared[prepared["in_selection"]].reset_index(drop=True)
    assert chosen["is_noisy"].any()  # the selection split is corrupted, once
    assert not prepared.loc[~prepared["in_selection"], "is_noisy"].any()  # the training part waits for a seed
    for seed in (1, 2):
        pool = draws[seed]["pool"]
        assert pool[pool["in_selection"]].reset_index(drop=True).equals(chosen)


def test_the_test_and_ood_sets_are_the_datasets(draws):
    # one prepare per scenario, which no seed reads: the seeds' runs read the same files
    assert paths.test(SCENARIO) == paths.data_dir(SCENARIO) / paths.TEST
    assert not paths.test(SCENARIO).is_relative_to(paths.draw_dir(SCENARIO, 1))


def test_each_random_choice_has_its_own_stream():
    seeds = [stream_seed(1, s) for s in ("corruption", "rank", "valsets")]
    assert len(set(seeds + [1])) == 4 and seeds == [stream_seed(1, s) for s in ("corruption", "rank", "valsets")]
    with pytest.raises(ValueError, match="unknown random stream 'data'"):
        stream_seed(1, "data")


def test_a_seed_list_with_the_search_seed_is_an_error():
    from molere.schema import validate

    with pytest.raises(MolereError, match=r"^study.seeds = \[0, 1\] contains the search seed study.search_seed = 0; the replicates must be other seeds$"):
        validate({"study": {"search_seed": 0, "seeds": [0, 1]}})
