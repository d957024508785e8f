"""Validation sides a dataset supplies apart from its pool (`Dataset.sides`) and `lrw-supplied`,
which meta-learns on one of them: Camelyon17's OOD-validation hospital, an image folder's
`sides/` (class folders with some of the classes; Clothing-1M-style key lists), written by the
prepare stage after the pool's ids, and added by the train stage as the run's validation side;
bad input as one-line errors that train nothing."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from molere.data import DATASETS
from molere.data.configs import ImageFolderConfig
from molere.errors import MolereError
from molere.io import read_examples, read_table
from test_cli import assert_one_line_error, run_cli
from test_hardening import run_in_process
from test_imagefolder import write_image
from test_wilds import SIZE, tiny_params, write_camelyon, write_waterbirds

SEARCH = [["prepare"], *([stage, "--seed", "0"] for stage in ("corrupt", "erm", "rank", "valsets"))]
TRAIN = ["train", "--method", "lrw-supplied", "--trial", "0", "--seed", "0"]


@pytest.fixture
def camelyon(tmp_path) -> Path:
    return write_camelyon(tmp_path / "camelyon")


@pytest.fixture
def waterbirds(tmp_path) -> Path:
    return write_waterbirds(tmp_path / "waterbirds")


def supplied_params(root: Path, dataset: str = "camelyon17", side: str | None = "ood_val") -> dict:
    params = tiny_params(root)
    params["data"] = {"dataset": dataset, dataset: {"root": str(root), "image_size": SIZE}}
    params["study"]["methods"] = ["lrw-supplied"]
    params["methods"] = {"lrw-supplied": {"side": side}}
    params["train"].update(epochs=2, batch_size=2)
    return params


def prepared(tmp_path: Path, params: dict) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    for args in SEARCH:
        run_in_process(work, [*args, "--scenario", "clean"])
    return work


def test_camelyons_ood_validation_hospital_is_the_runs_validation_side(camelyon, tmp_path):
    work = prepared(tmp_path, supplied_params(camelyon))
    # the pool: 5 training patches (ids 0-4) and 2 of id_val (5, 6); the side follows them
    side, x = read_examples(work / "data/clean/side-ood_val.parquet")
    assert side["id"].tolist() == [7, 8] and side["y"].tolist() == [0, 0] and side["group"].tolist() == [1, 1]
    assert x[:, 1, 4, 4].tolist() == [20, 80] and not side["is_noisy"].any()
    assert json.loads((work / "data/clean/info.json").read_text())["sides"] == {"ood_val": 2}

    run_in_process(work, [*TRAIN, "--scenario", "clean"])
    run = work / "runs/clean/lrw-supplied/trials/0"
    validation = read_table(run / "validation.parquet")
    # the whole training part on the train side, the supplied side as the validation side
    assert validation["id"].tolist() == [0, 1, 2, 3, 4, 7, 8]
    assert validation["in_val"].tolist() == [False] * 5 + [True] * 2
    assert validation["p_train"].tolist() == [1.0] * 5 + [0.0] * 2
    weights = read_table(run / "weights.parquet")
    assert weights["id"].tolist() == [0, 1, 2, 3, 4] and np.isfinite(weights["margin"]).all()
    history = read_table(run / "history.csv")
    assert history["meta_steps"].sum() > 0  # it meta-learned on the side


def test_a_dataset_without_sides_writes_no_side_and_no_key(waterbirds, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params(waterbirds)))
    run_in_process(work, ["prepare", "--scenario", "clean"])
    assert sorted(p.name for p in (work / "data/clean").iterdir()) == ["info.json", "ood.parquet", "pool.parquet", "test.parquet"]
    assert "sides" not in json.loads((work / "data/clean/info.json").read_text())


@pytest.mark.parametrize(
    "dataset, side, message",
    [
        ("camelyon17", None, "error: methods.lrw-supplied.side is not set; allowed: one of ood_val"),
        ("camelyon17", "ood-val", "error: methods.lrw-supplied.side = 'ood-val' names no validation side that scenario clean's dataset supplies; allowed: one of ood_val"),
        ("waterbirds", "ood_val", "allowed: none: this dataset supplies no side"),
    ],
    ids=["unset", "unknown", "none-supplied"],
)
def test_a_side_the_dataset_does_not_supply_is_one_line_and_trains_nothing(camelyon, waterbirds, tmp_path, dataset, side, message):
    root = camelyon if dataset == "camelyon17" else waterbirds
    work = prepared(tmp_path, supplied_params(root, dataset, side))
    result = run_cli(["stage", *TRAIN, "--scenario", "clean"], work)
    assert_one_line_error(result, message)
    assert not (work / "runs/clean/lrw-supplied").exists()


def class_folders(root: Path, layout: dict[str, dict[str, int]]) -> Path:
    """Class folders: split -> class -> image count; image i of class k is grey 50 k + i."""
    for split, classes in layout.items():
        for label, (name, count) in enumerate(classes.items()):
            for i in range(count):
                write_image(root / split / name / f"{i}.png", 50 * label + i)
    return root


def read_folder(root: Path):
    return DATASETS.get("imagefolder")(ImageFolderConfig(root=str(root), image_size=SIZE), 0)


def test_an_image_folders_side_may_hold_some_classes_labelled_as_in_train(tmp_path):
    train = {"ant": 2, "bee": 2, "cat": 2}
    root = class_folders(tmp_path, {"train": train, "test": train, "sides/rendition": {"cat": 3}})
    side = read_folder(root).sides["rendition"]
    assert side.y.tolist() == [2, 2, 2] and side.x[:, 0, 3, 3].tolist() == [0, 1, 2] and side.y_observed is None


def test_an_image_folders_side_with_a_class_train_lacks_is_one_line(tmp_path):
    train = {"ant": 2, "bee": 2}
    root = class_folders(tmp_path, {"train": train, "test": train, "sides/rendition": {"bee": 1, "owl": 1}})
    with pytest.raises(MolereError, match=r"sides/rendition's class folders \['owl'\] are not among train/'s classes \['ant', 'bee'\]$"):
        read_folder(root)


def test_a_clothing_style_key_list_under_sides_is_a_side_with_clean_labels(tmp_path):
    labels = {f"img/{i}.png": i % 2 for i in range(6)}
    for key in labels:
        write_image(tmp_path / key, 10 * int(Path(key).stem))
    (tmp_path / "clean_label_kv.txt").write_text("".join(f"{k} {v}\n" for k, v in labels.items()))
    (tmp_path / "noisy_train_key_list.txt").write_text("img/0.png\nimg/1.png\nimg/2.png\n")
    (tmp_path / "clean_test_key_list.txt").write_text("img/3.png\n")
    (tmp_path / "sides").mkdir()
    (tmp_path / "sides/clean_train.txt").write_text("img/5.png\nimg/4.png\n")
    side = read_folder(tmp_path).sides["clean_train"]
    assert side.y.tolist() == [1, 0] and side.x[:, 0, 0, 0].tolist() == [50, 40]


@pytest.mark.parametrize("center", [False, True])
def test_an_embedding_keeps_the_supplied_side_for_lrw_supplied_on_its_features(camelyon, tmp_path, center):
    """The embed stage embeds Camelyon17's OOD-validation hospital beside the splits; the features
    dataset supplies it (centred with the rest where asked), and lrw-supplied meta-learns on it."""
    from molere.data.configs import FeaturesConfig, WildsConfig
    from molere.data.sources.features import training_mean

    params = supplied_params(camelyon)
    params["embeddings"] = {"cam": {"data": params["data"], "model": {"name": "mlp", "hidden": 8, "depth": 1}, "batch_size": 4, "device": "cpu"}}
    params["data"] = {"dataset": "features", "features": {"embedding": "cam", "center": center}}
    params["model"] = {"name": "mlp", "depth": 0}
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    run_in_process(work, ["embed", "--embedding", "cam"])
    assert json.loads((work / "features/cam/info.json").read_text())["sides"] == ["ood_val"]
    images = DATASETS.get("camelyon17")(WildsConfig(root=str(camelyon), image_size=SIZE), 0).sides["ood_val"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        raw, features = (DATASETS.get("features")(FeaturesConfig(embedding="cam", center=c), 0) for c in (False, center))
    side = features.sides["ood_val"]
    assert side.x.shape == (2, 8) and side.y.tolist() == images.y.tolist() and side.groups.tolist() == images.groups.tolist()
    shift = training_mean(raw.train.x) if center else 0
    np.testing.assert_array_equal(side.x, raw.sides["ood_val"].x - shift)
    for args in SEARCH:
        run_in_process(work, [*args, "--scenario", "clean"])
    table, x = read_examples(work / "data/clean/side-ood_val.parquet")
    assert table["id"].tolist() == [7, 8] and x.tolist() == side.x.tolist()
    run_in_process(work, [*TRAIN, "--scenario", "clean"])
    run = work / "runs/clean/lrw-supplied/trials/0"
    assert read_table(run / "validation.parquet").query("in_val")["id"].tolist() == [7, 8]
    assert read_table(run / "history.csv")["meta_steps"].sum() > 0
