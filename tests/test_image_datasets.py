"""Image datasets from disk: tiny MNIST / Fashion-MNIST idx files, CIFAR-10 / CIFAR-100 pickles and
CIFAR-10-C arrays, fabricated in the real formats, read through torchvision and run through the
`prepare`, `corrupt`, `erm`, `rank` and `train` stages of the CLI."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from molere.cli import app
from molere.data import DATASETS
from molere.data.configs import TorchvisionConfig
from molere.data.image_shifts import SEVERITY_PARAMETERS
from molere.data.pool import labelled
from molere.errors import MolereError
from molere.io import read_examples, read_table, write_examples
from molere.params import Params
from molere.train.tensors import TensorSet
from molere_tools.fabricate import trust_fabricated, write_cifar, write_cifar10c, write_mnist

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, N_TEST, OOD_EXAMPLES = 60, 20, 8
SEVERITIES = [1, 3, 5]
CIFAR10C = ("gaussian_noise", "snow")  # one computed corruption's name, one only released


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every dataset's files under one data root; returns (root, cifar10c folder, test splits)."""
    root = tmp_path_factory.mktemp("images")
    tests = {
        "mnist": write_mnist(root, N_TRAIN, N_TEST),
        "fashion-mnist": write_mnist(root, N_TRAIN, N_TEST, folder="FashionMNIST", seed=7),
        "cifar10": write_cifar(root, N_TRAIN, N_TEST),
        "cifar100": write_cifar(root, N_TRAIN, N_TEST, num_classes=100, seed=3),
    }
    write_cifar10c(root / "CIFAR-10-C", tests["cifar10"], CIFAR10C)
    return root, root / "CIFAR-10-C", tests


@pytest.fixture(autouse=True)
def trusted(files, monkeypatch):
    """The fabricated CIFAR files' checksums trusted, as the released files' are."""
    for key, value in trust_fabricated(files[0]).items():
        monkeypatch.setenv(key, value)


def tiny_params(root, dataset: str, **ood) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=["clean"], trusted_scenarios=[], methods=["erm"], search_seed=0, seeds=[1])
    params["data"].update(dataset=dataset, **{dataset: {"root": str(root), "download": False}})
    params["ood"].update(severities=SEVERITIES, max_examples=OOD_EXAMPLES, **ood)
    # a small CIFAR ResNet on the colour images, an MLP on the digits: each run takes a second
    params["model"] = {"name": "resnet32", "width": 2} if dataset.startswith("cifar") else {"name": "mlp", "hidden": 16}
    params["train"].update(steps=None, epochs=1, batch_size=16, device="cpu")
    return params


TRAIN_ERM = ("train", "--method", "erm", "--trial", "0", "--seed", "0")  # on the search seed's draws
SEARCH_DRAWS = (("corrupt", "--seed", "0"), ("erm", "--seed", "0"), ("rank", "--seed", "0"))


def run_stages(tmp_path, monkeypatch, params: dict, stages=(("prepare",), *SEARCH_DRAWS, TRAIN_ERM)):
    """Run the CLI's stages in `tmp_path` with `params`, in process, for scenario `clean`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    runner = CliRunner()
    for stage in stages:
        result = runner.invoke(app, ["stage", *stage, "--scenario", "clean"])
        assert result.exit_code == 0, (stage, result.output, result.exception)


@pytest.mark.parametrize(
    "name, shape, classes", [("mnist", (1, 28, 28), 10), ("fashion-mnist", (1, 28, 28), 10), ("cifar10", (3, 32, 32), 10), ("cifar100", (3, 32, 32), 100)]
)
def test_reads_the_fabricated_files_as_uint8_images(files, name, shape, classes):
    root, _, tests = files
    dataset = DATASETS.get(name)(TorchvisionConfig(root=str(root)), 0)
    assert dataset.num_classes == classes and dataset.val is None
    assert dataset.train.x.shape == (N_TRAIN, *shape) and dataset.train.x.dtype == np.uint8
    np.testing.assert_array_equal(dataset.test.x, tests[name].x)
    np.testing.assert_array_equal(dataset.test.y, tests[name].y)
    scaled = dataset.train.x / 255.0
    mean, std = dataset.normalization
    np.testing.assert_allclose(mean, scaled.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, scaled.std(axis=(0, 2, 3)), rtol=1e-9)
    assert sorted(dataset.shifts) == sorted(SEVERITY_PARAMETERS)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_prepare_and_one_epoch_through_the_cli(files, tmp_path, monkeypatch, name):
    root, _, tests = files
    run_stages(tmp_path, monkeypatch, tiny_params(root, name))
    pool, x = read_examples("data/clean/pool.parquet")
    assert x.dtype == np.uint8 and x.shape == (N_TRAIN, *tests[name].x.shape[1:])
    assert sorted(pool["in_selection"].unique()) == [False, True]
    ood, x_ood = read_examples("data/clean/ood.parquet")
    assert x_ood.dtype == np.uint8
    assert len(ood) == len(SEVERITY_PARAMETERS) * len(SEVERITIES) * OOD_EXAMPLES
    for (shift, severity), rows in ood.groupby(["shift", "severity"]):
        assert rows["id"].tolist() == list(range(OOD_EXAMPLES))  # the test examples they corrupt
        np.testing.assert_array_equal(rows["y"], tests[name].y[:OOD_EXAMPLES])
    info = json.loads(Path("data/clean/info.json").read_text())
    assert info["dataset"] == name and len(info["normalization"][0]) == x.shape[1]
    labels = read_table("runs/clean/draws/0/labels.parquet")  # the search seed's draw of the training part
    assert set(labels["id"]) == set(pool["id"][~pool["in_selection"]])  # clean: every example kept
    metrics = json.loads(Path("runs/clean/erm/trials/0/metrics.json").read_text())
    assert metrics["epochs"] == 1 and 0 <= metrics["id_acc"] <= 1 and 0 <= metrics["ood_acc"] <= 1


def test_cifar10c_arrays_replace_the_computed_shifts(files, tmp_path, monkeypatch):
    root, cifar10c, tests = files
    run_stages(tmp_path, monkeypatch, tiny_params(root, "cifar10", cifar10c_root=str(cifar10c)), stages=[("prepare",)])
    ood, x = read_examples("data/clean/ood.parquet")
    assert sorted(ood["shift"].unique()) == sorted(CIFAR10C)
    for shift in CIFAR10C:
        released = np.load(cifar10c / f"{shift}.npy")
        for severity in SEVERITIES:
            rows = ((ood["shift"] == shift) & (ood["severity"] == severity)).to_numpy()
            start = (severity - 1) * N_TEST
            expected = released[start : start + OOD_EXAMPLES].transpose(0, 3, 1, 2)
            np.testing.assert_array_equal(x[rows], expected)
            np.testing.assert_array_equal(ood.loc[rows, "y"], tests["cifar10"].y[:OOD_EXAMPLES])


def test_cifar10c_must_match_cifar10(files, tmp_path):
    root, cifar10c, tests = files
    from molere.data.sources.images import with_ood_source

    mnist = DATASETS.get("mnist")(TorchvisionConfig(root=str(root)), 0)
    with pytest.raises(MolereError, match="CIFAR-10-C shifts cifar10 only"):
        with_ood_source(mnist, Params({"cifar10c_root": str(cifar10c)}))
    cifar = DATASETS.get("cifar10")(TorchvisionConfig(root=str(root)), 0)
    with pytest.raises(MolereError, match=r"holds no CIFAR-10-C arrays: expected labels\.npy"):
        with_ood_source(cifar, Params({"cifar10c_root": str(tmp_path)}))
    np.save(tmp_path / "labels.npy", np.zeros(5 * N_TEST, dtype=np.uint8))
    np.save(tmp_path / "fog.npy", np.zeros((5 * N_TEST, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(MolereError, match="does not hold the CIFAR-10 test labels"):
        with_ood_source(cifar, Params({"cifar10c_root": str(tmp_path)}))


def test_missing_root_is_a_one_line_error_naming_the_files(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(dataset="cifar10", cifar10={"root": str(tmp_path / "nowhere")})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, "-m", "molere.cli", "stage", "prepare", "--scenario", "clean"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    for fragment in (str(tmp_path / "nowhere"), "cifar-10-batches-py", "data_batch_1", "test_batch", "cifar-10-python.tar.gz", "data.cifar10.download: true"):
        assert fragment in lines[0]
    assert not (tmp_path / "data").exists()


def test_unset_root_says_how_to_set_it():
    with pytest.raises(MolereError, match=r"data.mnist.root is not set: mnist is read from <data.mnist.root>/MNIST/raw/"):
        DATASETS.get("mnist")(TorchvisionConfig(root=None), 0)


def test_uint8_images_round_trip_and_normalise_per_batch(tmp_path):
    x = np.arange(2 * 3 * 2 * 2, dtype=np.uint8).reshape(2, 3, 2, 2) * 10
    meta = labelled(np.arange(2), np.array([0, 1]))
    write_examples(tmp_path / "t.parquet", meta, [x[:1], x[1:]])  # written block by block
    _, back = read_examples(tmp_path / "t.parquet")
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, x)
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 0.125]
    data = TensorSet.from_numpy(back, [0, 1], [0, 1], "cpu", (mean, std))
    assert data.x.dtype == torch.uint8  # kept as bytes on the device
    expected = (x / 255.0 - np.reshape(mean, (1, 3, 1, 1))) / np.reshape(std, (1, 3, 1, 1))
    np.testing.assert_allclose(data.features(torch.tensor([1, 0])).numpy(), expected[[1, 0]], rtol=1e-5, atol=1e-6)


def test_a_damaged_file_is_named_before_anything_is_unpickled(tmp_path, monkeypatch):
    write_cifar(tmp_path, 10, 5)
    monkeypatch.setenv(*trust_fabricated(tmp_path).popitem())
    DATASETS.get("cifar10")(TorchvisionConfig(root=str(tmp_path)), 0)  # the fabricated files, trusted
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(MolereError) as err:
        DATASETS.get("cifar10")(TorchvisionConfig(root=str(tmp_path)), 0)
    assert str(err.value) == (
        f"cifar10 under data.cifar10.root: test_batch in {tmp_path / 'cifar-10-batches-py'} differ from the released files "
        "(MD5 checksum): damaged, incomplete or not cifar10; get them again from "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extract it), or set data.cifar10.download: true"
    )


def test_only_the_released_or_trusted_checksums_are_read(tmp_path, monkeypatch):
    """Without the fabricated files' checksums trusted, none of them is the released file."""
    import torchvision.datasets

    from molere.data.sources.images import checksum_mismatches

    write_cifar(tmp_path, 10, 5)
    monkeypatch.delenv("MOLERE_TRUSTED_CHECKSUMS")
    folder = tmp_path / "cifar-10-batches-py"
    released = torchvision.datasets.CIFAR10.train_list + torchvision.datasets.CIFAR10.test_list
    assert checksum_mismatches(folder, released) == [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    with pytest.raises(MolereError, match=r"data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch in .* differ"):
        DATASETS.get("cifar10")(TorchvisionConfig(root=str(tmp_path)), 0)
    digest = hashlib.md5((folder / "test_batch").read_bytes()).hexdigest()
    assert checksum_mismatches(folder, [["test_batch", digest]]) == []  # a file with the listed checksum passes
    (tmp_path / "mine.md5").write_text(f"{digest}  data_batch_1\n{digest} *test_batch\n")
    monkeypatch.setenv("MOLERE_TRUSTED_CHECKSUMS", str(tmp_path / "mine.md5"))
    assert checksum_mismatches(folder, released) == [f"data_batch_{i}" for i in range(1, 6)]  # bound to its name
