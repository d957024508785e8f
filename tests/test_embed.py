"""The frozen-feature tier (molere/embed.py): the embed stage on a fabricated Clothing-1M folder, its
features against the backbone applied directly, byte for byte the same on a second run, and a
linear head trained on them through the stages; bad input as one-line errors."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from molere import paths
from molere.data import DATASETS
from molere.data.configs import FeaturesConfig, ImageFolderConfig, WildsConfig
from molere.experiment import load_model
from molere.fingerprint import registry_names
from molere.io import read_examples, read_table
from molere.models import MODELS
from molere.params import Params
from molere_tools.sandbox import ROOT, make_study_repo, study_env
from test_cli import assert_one_line_error, run_cli
from test_image_datasets import SEARCH_DRAWS, TRAIN_ERM, run_stages
from test_imagefolder import SIZE, clothing, tiny_params  # noqa: F401 (a fixture)
from test_pipeline import sh
from test_wilds import waterbirds  # noqa: F401 (a fixture)

NAME, HIDDEN, DATA_SEED = "clothing-mlp", 8, 3
BACKBONE = {"name": "mlp", "hidden": HIDDEN, "depth": 1}  # Flatten, Linear, ReLU: its features; then the head


def embedding_params(root: Path) -> dict:
    """A study whose data is the embedding's features, a linear head as its model."""
    params = tiny_params(root)
    image_data = {"dataset": "imagefolder", "seed": DATA_SEED, "imagefolder": {"root": str(root), "image_size": SIZE}}
    params["embeddings"] = {NAME: {"data": image_data, "model": dict(BACKBONE), "batch_size": 4, "device": "cpu"}}
    params["data"] = {"dataset": "features", "features": {"embedding": NAME}}
    params["model"] = {"name": "mlp", "depth": 0}
    return params


def embed(work: Path, params: dict) -> None:
    work.mkdir(exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_cli(["stage", "embed", "--embedding", NAME], work)
    assert result.returncode == 0, result.stderr


def direct_features(root: Path, x: np.ndarray) -> np.ndarray:
    """The backbone applied by hand: its seeded initial weights, the images normalised as training
    normalises them, every layer but the head."""
    dataset = DATASETS.get("imagefolder")(ImageFolderConfig(root=str(root), image_size=SIZE), DATA_SEED)
    torch.manual_seed(DATA_SEED)
    model = MODELS.get("mlp")((3, SIZE, SIZE), dataset.num_classes, hidden=HIDDEN, depth=1)
    mean, std = (torch.tensor(v).reshape(1, -1, 1, 1) * 255 for v in dataset.normalization)
    with torch.inference_mode():
        return model[:-1]((torch.tensor(x).float() - mean) / std).numpy()


def test_features_are_the_backbone_applied_directly_and_keep_both_labels(clothing, tmp_path):  # noqa: F811
    embed(tmp_path, embedding_params(clothing))
    folder = tmp_path / paths.features_dir(NAME)
    info = json.loads((folder / paths.INFO).read_text())
    assert info == {"dataset": "imagefolder", "num_classes": 3, "width": HIDDEN, "splits": ["train", "val", "test"], "severities": [1], "backbone": "mlp"}
    dataset = DATASETS.get("imagefolder")(ImageFolderConfig(root=str(clothing), image_size=SIZE), DATA_SEED)
    for split in info["splits"]:
        labels, x = read_examples(folder / f"{split}.parquet")
        assert x.dtype == np.float32 and x.shape == (len(getattr(dataset, split)), HIDDEN)
        # to float32 rounding: the stage ran batches of 4 on the portable mode's kernels
        np.testing.assert_allclose(x, direct_features(clothing, getattr(dataset, split).x), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(labels["y_clean"], getattr(dataset, split).y)
        np.testing.assert_array_equal(labels["y"], getattr(dataset, split).observed)
    train, x = read_examples(folder / "train.parquet")
    assert train["is_noisy"].tolist() == [False, True, False, False, True, False, False, False, False]  # files 1 and 4
    assert np.unique(x).size > HIDDEN  # no constant features: the check above could not pass trivially


def test_a_second_run_writes_the_same_bytes(clothing, tmp_path):  # noqa: F811
    first, second = tmp_path / "first", tmp_path / "second"
    for work in (first, second):
        embed(work, embedding_params(clothing))
    files = sorted(p.relative_to(first) for p in (first / paths.features_dir(NAME)).iterdir())
    assert [f.name for f in files] == ["info.json", "ood.parquet", "test.parquet", "train.parquet", "val.parquet"]
    for file in files:
        assert (first / file).read_bytes() == (second / file).read_bytes(), file
    changed = embedding_params(clothing)
    changed["embeddings"][NAME]["data"]["seed"] = DATA_SEED + 1  # other initial weights: other features
    embed(tmp_path / "other", changed)
    assert (tmp_path / "other" / paths.embedded_split(NAME, "train")).read_bytes() != (first / paths.embedded_split(NAME, "train")).read_bytes()


def test_a_linear_head_trains_on_the_features_through_the_stages(clothing, tmp_path, monkeypatch):  # noqa: F811
    params = embedding_params(clothing)
    embed(tmp_path, params)
    run_stages(tmp_path, monkeypatch, params, stages=(("prepare",), *SEARCH_DRAWS, TRAIN_ERM))
    pool, x = read_examples("data/clean/pool.parquet")
    assert x.shape == (15, HIDDEN) and pool["in_selection"].tolist() == [False] * 9 + [True] * 6  # the val split selects
    assert pool["is_noisy"].tolist() == [False, True, False, False, True] + [False] * 10  # the dataset's own noise
    run = Path("runs/clean/erm/trials/0")
    head = load_model(run / paths.MODEL, (HIDDEN,))
    assert [type(layer).__name__ for layer in head] == ["Flatten", "Linear"]
    test, features = read_examples("data/clean/test.parquet")
    predictions = read_table(run / paths.PREDICTIONS)
    on_test = predictions[predictions["set"] == "test"].sort_values("id")
    weight, bias = head[1].weight.detach().numpy(), head[1].bias.detach().numpy()
    np.testing.assert_array_equal(on_test["pred"], np.argmax(features @ weight.T + bias, axis=1))
    assert json.loads((run / paths.METRICS).read_text())["id_acc"] == pytest.approx((on_test["pred"].to_numpy() == test["y"].to_numpy()).mean())


def test_the_fingerprint_counts_the_backbone_and_the_dataset_of_its_embedding():
    params = Params({"embeddings": {"a": {"model": {"name": "resnet18"}, "data": {"dataset": "cifar10"}}, "b": {"model": {"name": "mlp"}}}})
    assert registry_names(params, "embed", "a") == {"molere.methods.zoo": [], "molere.models.zoo": ["resnet18"], "molere.data.sources": ["cifar10"]}
    # b names no dataset: every dataset module counts, as for a `data` section without one
    assert registry_names(params, "embed", "b")["molere.data.sources"] is None
    assert registry_names(params, "prepare")["molere.models.zoo"] == []  # a stage that reads no model


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p["data"]["features"].update(embedding="elsewhere"), "unknown data.features.embedding 'elsewhere'; allowed: clothing-mlp"),
        (lambda p: p["embeddings"][NAME]["data"].update(dataset="features"), f"embeddings.{NAME}.data.dataset = features: an embedding runs over images"),
        (lambda p: p["embeddings"][NAME].update(batch=4), f"unknown params key 'embeddings.{NAME}.batch'"),
        (lambda p: p["embeddings"][NAME]["model"].update(width=3), "unknown params key 'embeddings.clothing-mlp.model.width'"),
    ],
)
def test_bad_embeddings_are_one_line_and_write_nothing(clothing, tmp_path, change, message):  # noqa: F811
    params, work = embedding_params(clothing), tmp_path / "work"
    change(params)
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_cli(["stage", "embed", "--embedding", NAME], work)
    assert_one_line_error(result, message)
    assert sorted(p.name for p in work.iterdir()) == ["params.yaml"]


def test_prepare_before_embed_names_the_command_to_run(clothing, tmp_path):  # noqa: F811
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(embedding_params(clothing)))
    result = run_cli(["stage", "prepare", "--scenario", "clean"], tmp_path)
    assert_one_line_error(result, "features/clothing-mlp/info.json", f"molere-bench stage embed --embedding {NAME}")
    assert not (tmp_path / "data").exists()


def digits_study() -> dict:
    """The project's study on one scenario and ERM, its data an MLP's features of the digits."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=["clean", "sym-20"], trusted_scenarios=[], methods=["erm"], search_seed=0, seeds=[1], trials=[0])
    params["embeddings"] = {"digits-mlp": {"data": {"dataset": "digits"}, "model": dict(BACKBONE), "batch_size": 64, "device": "cpu"}}
    params["data"] = {"dataset": "features", "features": {"embedding": "digits-mlp"}}
    params["ood"].update(severities=[1], max_examples=20)
    params["model"] = {"name": "mlp", "depth": 0}
    params["train"].update(steps=None, epochs=1, device="cpu")
    return params


def test_the_pipeline_embeds_once_before_every_prepare_and_reruns_only_what_changed(tmp_path):
    repo, env = make_study_repo(tmp_path / "study", digits_study()), study_env()
    log = sh("dvc repro", repo, env)
    ran = re.findall(r"Running stage '([^']+)'", log)
    assert ran.count("embed@digits-mlp") == 1 and ran.index("embed@digits-mlp") < min(ran.index(f"prepare@{s}") for s in ("clean", "sym-20"))
    pool, x = read_examples(repo / "data/sym-20/pool.parquet")
    assert x.shape[1] == HIDDEN and pool["is_noisy"].any()  # features, with the scenario's own noise drawn over them
    assert (repo / paths.REPORT).exists()
    # the default `freeze` written out: the embed stage runs again, writes the same features, and
    # nothing after it runs
    log = sh("dvc exp run -S ++embeddings.digits-mlp.model.freeze=none", repo, env)
    assert set(re.findall(r"Running stage '([^']+)'", log)) == {"fingerprint", "embed@digits-mlp"}
    assert "Data and pipelines are up to date" in sh("dvc repro", repo, env)
    assert not (repo / "features/.gitignore").exists()  # the project's .gitignore covers the outputs


def test_an_embedding_of_a_dataset_with_groups_keeps_them(waterbirds, tmp_path):  # noqa: F811
    params = embedding_params(waterbirds)
    params["embeddings"][NAME]["data"] = {"dataset": "waterbirds", "waterbirds": {"root": str(waterbirds), "image_size": SIZE}}
    embed(tmp_path / "work", params)
    images = DATASETS.get("waterbirds")(WildsConfig(root=str(waterbirds), image_size=SIZE), 0)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path / "work")
        features = DATASETS.get("features")(FeaturesConfig(embedding=NAME), 0)
    assert features.group_names == images.group_names and len(images.group_names) == 4
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(features, split).groups, getattr(images, split).groups)
    assert np.unique(features.test.groups).size == 4  # every group, so the check above is not about one


def test_the_training_mean_is_summed_row_after_row_in_float64():
    """Exact on a small case, and the same bits as a plain sequential sum on a large one (numpy's
    pairwise summation, which a vector unit's width can change, would differ there)."""
    from molere.data.sources.features import training_mean

    np.testing.assert_array_equal(training_mean(np.array([[1, 2], [3, 6]], dtype=np.float32)), np.array([2, 4], dtype=np.float32))
    x = np.random.default_rng(0).standard_normal((3000, 5)).astype(np.float32) * 1e3
    sequential = np.zeros(5)
    for row in x.astype(np.float64):
        sequential += row
    assert training_mean(x).tobytes() == (sequential / len(x)).astype(np.float32).tobytes()


def test_centred_features_are_every_example_minus_the_training_splits_mean(clothing, tmp_path):  # noqa: F811
    from molere.data.sources.features import training_mean

    embed(tmp_path / "work", embedding_params(clothing))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path / "work")
        raw, centred = (DATASETS.get("features")(FeaturesConfig(embedding=NAME, center=center), 0) for center in (False, True))
    mean = training_mean(raw.train.x)
    assert (mean > 0).any()  # ReLU features: the raw ones are not centred already
    assert np.abs(centred.train.x.mean(0)).max() < 1e-5
    for split in ("train", "val", "test"):
        before, after = getattr(raw, split), getattr(centred, split)
        if before is None:
            continue
        np.testing.assert_array_equal(after.x, before.x - mean)
        np.testing.assert_array_equal(after.y, before.y)
        np.testing.assert_array_equal(after.observed, before.observed)
    assert raw.shifts.keys() == centred.shifts.keys()
    for name, shift in raw.shifts.items():
        np.testing.assert_array_equal(centred.shifts[name].x, shift.x - mean)
