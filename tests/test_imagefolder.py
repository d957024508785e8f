"""The `imagefolder` dataset on fabricated folders: Clothing-1M's label lists (observed and clean
labels, its val split as the selection split) and torchvision's class folders, read directly and
through the CLI's stages; bad input as one-line errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from molere.data import DATASETS
from molere.data.configs import ImageFolderConfig
from molere.errors import MolereError
from molere.io import read_examples, read_table
from test_cli import assert_one_line_error, run_cli
from test_image_datasets import ROOT, run_stages

SIZE = 8
# Clothing-1M's layout: 12 training files with a noisy label, 9 of them also with a clean one
# (files 1 and 4 mislabelled), 6 val and 6 test files with clean labels only
NOISY = {f"images/train/{i}.png": i % 3 for i in range(12)}
CLEAN = {**{f"images/train/{i}.png": (i + 1) % 3 if i in (1, 4) else i % 3 for i in range(9)}}
CLEAN |= {f"images/{part}/{i}.png": i % 3 for part in ("val", "test") for i in range(6)}


def write_image(path: Path, value: int) -> None:
    """A 10 x 12 RGB image of one grey `value`: resized, it stays `value` everywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((10, 12, 3), value, dtype=np.uint8)).save(path)


def write_labels(path: Path, labels: dict) -> None:
    path.write_text("".join(f"{key} {label}\n" for key, label in labels.items()))


@pytest.fixture
def clothing(tmp_path) -> Path:
    root = tmp_path / "clothing"
    for key in {**NOISY, **CLEAN}:
        write_image(root / key, 10 * int(Path(key).stem) + 100 * ("/val/" in key) + 150 * ("/test/" in key))
    write_labels(root / "noisy_label_kv.txt", NOISY)
    write_labels(root / "clean_label_kv.txt", CLEAN)
    (root / "noisy_train_key_list.txt").write_text("\n".join(NOISY) + "\n")
    for part in ("val", "test"):
        (root / f"clean_{part}_key_list.txt").write_text("\n".join(k for k in CLEAN if f"/{part}/" in k) + "\n")
    return root


def test_clothing_lists_give_observed_and_clean_labels(clothing):
    dataset = DATASETS.get("imagefolder")(ImageFolderConfig(root=str(clothing), image_size=SIZE), 0)
    assert dataset.num_classes == 3
    # only the 9 training files with both labels; their observed labels are the noisy ones
    assert dataset.train.x.shape == (9, 3, SIZE, SIZE) and dataset.train.x.dtype == np.uint8
    np.testing.assert_array_equal(dataset.train.x[:, :, 0, 0], np.repeat(10 * np.arange(9)[:, None], 3, axis=1))
    np.testing.assert_array_equal(dataset.train.y, [0, 2, 2, 0, 2, 2, 0, 1, 2])
    np.testing.assert_array_equal(dataset.train.observed, [i % 3 for i in range(9)])
    assert len(dataset.val) == 6 and dataset.val.y_observed is None
    np.testing.assert_array_equal(dataset.test.x[:, 0, 0, 0], 150 + 10 * np.arange(6))
    np.testing.assert_array_equal(dataset.test.y, [0, 1, 2, 0, 1, 2])


def tiny_params(root: Path) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=["clean"], trusted_scenarios=[], methods=["erm"], search_seed=0, seeds=[1])
    params["data"] = {"dataset": "imagefolder", "imagefolder": {"root": str(root), "image_size": SIZE}}
    params["ood"].update(severities=[1], max_examples=4)
    params["model"] = {"name": "mlp", "hidden": 8}
    params["train"].update(steps=None, epochs=1, batch_size=4, device="cpu")
    return params


def test_the_pool_carries_the_datasets_own_noise_through_the_stages(clothing, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    run_stages(work, monkeypatch, tiny_params(clothing))
    pool, x = read_examples("data/clean/pool.parquet")
    assert x.shape == (15, 3, SIZE, SIZE)
    assert pool["in_selection"].tolist() == [False] * 9 + [True] * 6  # the val list is the selection split
    assert pool["is_noisy"].tolist() == [False, True, False, False, True] + [False] * 10
    labels = read_table("runs/clean/draws/0/labels.parquet")  # the clean scenario keeps the own noise
    np.testing.assert_array_equal(labels.sort_values("id")["y"], [i % 3 for i in range(9)])
    assert json.loads(Path("data/clean/info.json").read_text())["num_classes"] == 3
    metrics = json.loads(Path("runs/clean/erm/trials/0/metrics.json").read_text())
    assert metrics["epochs"] == 1 and 0 <= metrics["id_acc"] <= 1


def test_class_folders_label_by_sorted_class_name(tmp_path):
    for part, count in (("train", 3), ("test", 2)):
        for label, name in enumerate(("cat", "dog")):
            for i in range(count):
                write_image(tmp_path / part / name / f"{i}.png", 50 * label + i)
    dataset = DATASETS.get("imagefolder")(ImageFolderConfig(root=str(tmp_path), image_size=SIZE), 0)
    assert dataset.num_classes == 2 and dataset.val is None and dataset.train.y_observed is None
    np.testing.assert_array_equal(dataset.train.y, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(dataset.train.x[:, 2, 3, 3], [0, 1, 2, 50, 51, 52])
    np.testing.assert_array_equal(dataset.test.y, [0, 0, 1, 1])


def test_a_list_naming_a_missing_file_is_one_line_naming_it(clothing, tmp_path):
    (clothing / "images/val/3.png").unlink()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(clothing)))
    result = run_cli(["stage", "prepare", "--scenario", "clean"], tmp_path)
    assert_one_line_error(result, f"{clothing / 'clean_val_key_list.txt'} names 1 file(s) not under data.imagefolder.root", "images/val/3.png")
    assert not (tmp_path / "data").exists()


def test_a_missing_root_is_one_line(tmp_path):
    with pytest.raises(MolereError, match=f"^data.imagefolder.root = {tmp_path / 'nowhere'} is not a folder$"):
        DATASETS.get("imagefolder")(ImageFolderConfig(root=str(tmp_path / "nowhere")), 0)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda root: (root / "clean_test_key_list.txt").unlink(), "{root}/clean_test_key_list.txt not found"),
        (lambda root: (root / "clean_label_kv.txt").write_text("images/val/1.png one\n"), "{root}/clean_label_kv.txt, line 1: 'images/val/1.png one' is not '<file> <label>'"),
        # read on making the dataset (for its channel statistics); the other splits' images are read
        # where a stage reads them (tests/test_image_files.py)
        (lambda root: (root / "images/train/2.png").write_bytes(b"not an image"), "cannot decode {root}/images/train/2.png"),
    ],
)
def test_bad_input_is_one_line(clothing, change, message):
    change(clothing)
    with pytest.raises(MolereError) as err:
        DATASETS.get("imagefolder")(ImageFolderConfig(root=str(clothing), image_size=SIZE), 0)
    assert str(err.value).startswith(message.format(root=clothing)) and "\n" not in str(err.value)
