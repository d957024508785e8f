"""WILDS' Waterbirds and Camelyon17 on fabricated folders in WILDS' own layout (metadata.csv and
the images), read directly and through the CLI's stages to the report's worst-group accuracy; the
groups absent from every table of a dataset without them; bad input as one-line errors."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from molere.data import DATASETS
from molere.data import pool as tables  # its test_table is no test
from molere.data.base import Dataset, Split
from molere.data.configs import WildsConfig
from molere.errors import MolereError
from molere.io import read_examples, read_table
from molere.metrics import worst_group_accuracy
from molere.report.evaluation import worst_group
from test_cli import assert_one_line_error, run_cli
from test_hardening import run_in_process
from test_image_datasets import ROOT

SIZE = 8
# Waterbirds: (y, place, split) per image; 8 train, 4 val, 8 test (each of the 4 groups twice)
WATERBIRDS = [(i % 2, i // 2 % 2, 0) for i in range(8)] + [(i % 2, 0, 1) for i in range(4)] + [(i // 2 % 2, i % 2, 2) for i in range(8)]
# Camelyon17: (center, split) per patch; centers 0, 3, 4 train (split 0) and id_val (split 1),
# center 1 the OOD val center (the supplied side ood_val), center 2 the test center
CAMELYON = [(0, 0), (0, 1), (1, 0), (3, 0), (2, 0), (0, 0), (3, 1), (4, 0), (1, 1), (2, 1), (3, 0), (2, 0)]


def write_image(path: Path, value: int) -> None:
    """A 10 x 12 RGB image of one grey `value`: resized, it stays `value` everywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((10, 12, 3), value, dtype=np.uint8)).save(path)


@pytest.fixture
def waterbirds(tmp_path) -> Path:
    return write_waterbirds(tmp_path)


@pytest.fixture
def camelyon(tmp_path) -> Path:
    return write_camelyon(tmp_path)


def write_waterbirds(tmp_path: Path) -> Path:
    """WILDS' root_dir holding waterbirds_v1.0/; image i is grey 10 i."""
    folder = tmp_path / "wilds" / "waterbirds_v1.0"
    rows = []
    for i, (y, place, split) in enumerate(WATERBIRDS):
        name = f"{'001.Albatross' if y else '002.Sparrow'}/bird_{i}.png"
        write_image(folder / name, 10 * i)
        rows.append({"img_id": i + 1, "img_filename": name, "y": y, "split": split, "place": place, "place_filename": f"/x/{i}.jpg"})
    pd.DataFrame(rows).to_csv(folder / "metadata.csv", index=False)
    return folder.parent


def write_camelyon(tmp_path: Path) -> Path:
    """WILDS' root_dir holding camelyon17_v1.0/ (its metadata.csv with the unnamed index column the
    released one has); patch i is grey 10 i, its label i % 2."""
    folder = tmp_path / "wilds" / "camelyon17_v1.0"
    rows = []
    for i, (center, split) in enumerate(CAMELYON):
        patient, node, x, y = 10 * center + i, i % 5, 32 * i, 64 * i
        write_image(folder / f"patches/patient_{patient:03d}_node_{node}/patch_patient_{patient:03d}_node_{node}_x_{x}_y_{y}.png", 10 * i)
        rows.append({"patient": patient, "node": node, "x_coord": x, "y_coord": y, "tumor": i % 2, "slide": 0, "center": center, "split": split})
    pd.DataFrame(rows).to_csv(folder / "metadata.csv")
    return folder.parent


def read(name: str, root: Path) -> Dataset:
    return DATASETS.get(name)(WildsConfig(root=str(root), image_size=SIZE), 0)


def grey(split: Split) -> list[int]:
    return split.x[:, 1, 4, 4].tolist()


def test_waterbirds_splits_labels_and_groups(waterbirds):
    dataset = read("waterbirds", waterbirds)
    assert dataset.num_classes == 2 and dataset.train.x.shape == (8, 3, SIZE, SIZE) and dataset.train.x.dtype == np.uint8
    assert (grey(dataset.train), grey(dataset.val), grey(dataset.test)) == ([10 * i for i in range(8)], [80, 90, 100, 110], [10 * i for i in range(12, 20)])
    assert dataset.train.y.tolist() == [0, 1] * 4 and dataset.val.y.tolist() == [0, 1, 0, 1]
    assert dataset.test.y.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert dataset.train.groups.tolist() == [0, 2, 1, 3, 0, 2, 1, 3]  # 2 y + place
    assert dataset.test.groups.tolist() == [0, 1, 2, 3] * 2 and dataset.val.groups.tolist() == [0, 2, 0, 2]
    assert dataset.group_names == ["landbird on land", "landbird on water", "waterbird on land", "waterbird on water"]
    assert dataset.train.y_observed is None and set(dataset.shifts)


def test_camelyon_takes_wilds_official_split(camelyon):
    dataset = read("camelyon17", camelyon)
    # metadata order within each split; center 1 (OOD val) is the supplied side ood_val
    assert grey(dataset.train) == [0, 30, 50, 70, 100] and dataset.train.groups.tolist() == [0, 3, 0, 4, 3]
    assert grey(dataset.val) == [10, 60] and dataset.val.groups.tolist() == [0, 3]
    assert grey(dataset.test) == [40, 90, 110] and dataset.test.groups.tolist() == [2, 2, 2]
    assert (dataset.train.y.tolist(), dataset.val.y.tolist(), dataset.test.y.tolist()) == ([0, 1, 1, 1, 0], [1, 0], [0, 1, 1])
    assert dataset.group_names == [f"center {c}" for c in range(5)]
    assert list(dataset.sides) == ["ood_val"] and grey(dataset.sides["ood_val"]) == [20, 80]
    assert dataset.sides["ood_val"].groups.tolist() == [1, 1] and dataset.sides["ood_val"].y.tolist() == [0, 0]


def test_only_a_dataset_with_groups_gives_its_tables_a_group_column():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    plain = Dataset("plain", 2, Split(x, y), Split(x[:2], y[:2]), Split(x, y))
    grouped = Dataset(
        "grouped", 2, Split(x, y, groups=np.array([3, 2, 1, 0])), Split(x[:2], y[:2], groups=np.array([5, 6])), Split(x, y, groups=np.array([1, 1, 0, 0]))
    )
    assert list(tables.pool_table(plain, 0.5, 0)[0].columns) == ["id", "y", "y_clean", "is_noisy", "in_selection"]
    assert list(tables.test_table(plain.test)[0].columns) == ["id", "y", "y_clean", "is_noisy"]
    pool = tables.pool_table(grouped, 0.5, 0)[0]
    assert list(pool.columns) == ["id", "y", "y_clean", "is_noisy", "in_selection", "group"] and pool["group"].tolist() == [3, 2, 1, 0, 5, 6]
    assert tables.test_table(grouped.test)[0]["group"].dtype == np.int64


def test_worst_group_is_the_lowest_test_group_accuracy():
    # test groups 0: 1 of 2 right, 1: 2 of 3, 2: 1 of 1; the OOD rows (no group) all wrong, ignored
    predictions = pd.DataFrame(
        {
            "set": ["test"] * 6 + ["ood"] * 2,
            "group": pd.array([1, 0, 1, 2, 1, 0, None, None], dtype="Int64"),
            "correct": [True, False, True, True, False, True, False, False],
        }
    )
    assert worst_group(predictions) == {"worst_group_acc": 0.5, "worst_group": 0}
    assert worst_group(predictions.drop(columns="group")) == {}


def tiny_params(root: Path) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=["clean"], trusted_scenarios=[], methods=["erm"], search_seed=0, seeds=[1], trials=[0])
    params["data"] = {"dataset": "waterbirds", "waterbirds": {"root": str(root), "image_size": SIZE}}
    params["ood"].update(severities=[1], max_examples=4)
    params["model"] = {"name": "mlp", "hidden": 8}
    params["train"].update(steps=None, epochs=1, batch_size=4, device="cpu")
    return params


STAGES = [
    ["prepare"],
    *([stage, "--seed", str(seed)] for seed in (0, 1) for stage in ("corrupt", "erm", "rank", "valsets")),
    ["train", "--method", "erm", "--trial", "0", "--seed", "0"],
    ["select", "--method", "erm"],
    ["replicate", "--method", "erm", "--seed", "1"],
    ["evaluate"],
]


def test_waterbirds_groups_reach_the_reports_worst_group_accuracy(waterbirds, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params(waterbirds)))
    for args in STAGES:
        run_in_process(work, [*args, "--scenario", "clean"])
    run_in_process(work, ["report"])

    pool, _ = read_examples(work / "data/clean/pool.parquet")
    assert pool["group"].tolist() == [0, 2, 1, 3, 0, 2, 1, 3, 0, 2, 0, 2] and pool["in_selection"].tolist() == [False] * 8 + [True] * 4
    test, _ = read_examples(work / "data/clean/test.parquet")
    assert test["group"].tolist() == [0, 1, 2, 3] * 2
    assert "group" not in read_examples(work / "data/clean/ood.parquet")[0]
    assert json.loads((work / "data/clean/info.json").read_text())["group_names"][3] == "waterbird on water"

    # the replicate's worst group, from its stored predictions and the test table's groups
    predictions = read_table(work / "runs/clean/erm/seeds/1/predictions.parquet")
    scored = predictions[predictions["set"] == "test"].drop(columns="group").merge(test[["id", "group"]], on="id")
    expected = worst_group_accuracy(scored["group"].to_numpy(), scored["correct"].to_numpy())
    results = read_table(work / "evaluation/clean/results.parquet").set_index("seed")
    assert (results.loc[1, "worst_group"], results.loc[1, "worst_group_acc"]) == expected
    assert json.loads((work / "reports/metrics.json").read_text())["clean"]["erm"]["worst_group_acc"] == round(expected[1], 4)
    report = (work / "reports/report.md").read_text()
    assert "**Worst-group test accuracy (%), where the dataset has groups**" in report and "| worst-group acc |" in report
    assert "worst_group_acc" in pd.read_csv(work / "reports/results.csv")


def rewrite_metadata(root: Path, change) -> Path:
    """Waterbirds' metadata.csv under `root` rewritten as `change` of it; returns `root`."""
    path = root / "waterbirds_v1.0/metadata.csv"
    change(pd.read_csv(path)).to_csv(path, index=False)
    return root


def without_image(root: Path) -> Path:
    (root / "waterbirds_v1.0/002.Sparrow/bird_12.png").unlink()  # a test image (y 0, place 0)
    return root


@pytest.mark.parametrize(
    "damage, fragments",
    [
        (lambda root: root / "nowhere", ["data.waterbirds.root = {root}/nowhere is not a folder"]),
        (
            lambda root: rewrite_metadata(root, lambda metadata: metadata.drop(columns="place")),
            ["{root}/waterbirds_v1.0/metadata.csv lacks the column(s) place; it needs img_filename, y, split, place"],
        ),
        (
            without_image,
            ["{root}/waterbirds_v1.0/metadata.csv names 1 file(s) not under data.waterbirds.root = {root},", "e.g. waterbirds_v1.0/002.Sparrow/bird_12.png"],
        ),
        (
            lambda root: rewrite_metadata(root, lambda metadata: metadata.assign(split=3)),
            ["{root}/waterbirds_v1.0/metadata.csv: column split holds 3; allowed: 0, 1, 2"],
        ),
    ],
    ids=["missing-root", "missing-column", "missing-image", "unknown-split"],
)
def test_bad_input_is_one_line_and_writes_nothing(waterbirds, tmp_path, damage, fragments):
    root = damage(waterbirds)
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params(root)))
    result = run_cli(["stage", "prepare", "--scenario", "clean"], work)
    assert_one_line_error(result, *(fragment.format(root=waterbirds) for fragment in fragments))
    assert not (work / "data").exists()


def test_camelyon_patches_are_named_by_wilds_pattern(camelyon):
    (patch,) = (camelyon / "camelyon17_v1.0/patches").glob("patient_024_node_4/*.png")
    patch.unlink()  # center 2's first patch: patient 24, node 4, x 128, y 256
    with pytest.raises(MolereError, match=r"e\.g\. camelyon17_v1\.0/patches/patient_024_node_4/patch_patient_024_node_4_x_128_y_256\.png$"):
        read("camelyon17", camelyon)
