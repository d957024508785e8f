"""Image files read when they are read (molere/data/sources/image_files.py): every way of reading
`ImageFiles` gives the images `decode` gives, a block at a time and through DataLoader workers; the
embed stage streams them and writes the same bytes with or without workers; an undecodable file
is a one-line error wherever it is read, and leaves no worker process behind."""

import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from molere import paths
from molere.data import DATASETS
from molere.data.configs import ImageFolderConfig
from molere.data.sources import image_files
from molere.data.sources.image_files import ImageFiles, decode, image_blocks
from molere.embed import features
from molere.errors import MolereError
from molere.models import MODELS
from test_cli import assert_one_line_error, run_cli
from test_embed import NAME, embed, embedding_params
from test_imagefolder import SIZE, clothing, tiny_params  # noqa: F401 (a fixture)

TRAIN = [f"images/train/{i}.png" for i in range(12)]  # grey values 0, 10, ..., 110: order shows


def train_files(root: Path) -> list[Path]:
    return [root / name for name in TRAIN]


@pytest.fixture
def decoded_sizes(monkeypatch) -> list[int]:
    """How many images each call of `decode` in this process decoded."""
    sizes, real = [], image_files.decode

    def counting(files, side):
        sizes.append(len(files))
        return real(files, side)

    monkeypatch.setattr(image_files, "decode", counting)
    return sizes


@pytest.mark.parametrize("workers", [0, 2])
def test_every_way_of_reading_gives_the_decoded_images(clothing, workers, monkeypatch):  # noqa: F811
    files = train_files(clothing)
    whole = decode(files, SIZE)
    assert whole[:, 0, 0, 0].tolist() == [10 * i for i in range(12)]  # distinct images: a wrong order fails
    images = ImageFiles(tuple(files), SIZE, workers)
    assert len(images) == 12 and images.shape == (12, 3, SIZE, SIZE) and images.dtype == np.uint8 and images.ndim == 4
    blocks = list(images.blocks(5))
    assert [len(block) for block in blocks] == [5, 5, 2]
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    monkeypatch.setattr(ImageFiles, "BLOCK", 5)  # the whole read in three blocks
    np.testing.assert_array_equal(np.asarray(images), whole)
    mask = np.arange(12) % 3 == 1
    for key in (slice(2, 9, 3), 7, [11, 0, 4], mask, (slice(None), 0, 0, 0), (3, 1)):
        np.testing.assert_array_equal(images[key], whole[key])


def test_nothing_is_decoded_before_it_is_read(clothing, decoded_sizes):  # noqa: F811
    dataset = DATASETS.get("imagefolder")(ImageFolderConfig(root=str(clothing), image_size=SIZE), 0)
    # the training split's channel statistics read it, once; the val and test images stay files
    assert decoded_sizes == [len(dataset.train)]
    # and they equal the statistics of the decoded array
    whole = decode([clothing / name for name in TRAIN[:9]], SIZE).astype(np.float64) / 255
    np.testing.assert_allclose(dataset.normalization[0], whole.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(dataset.normalization[1], whole.std(axis=(0, 2, 3)), rtol=1e-9)


def test_the_embedding_streams_a_batch_at_a_time_and_gives_the_arrays_bits(clothing, decoded_sizes):  # noqa: F811
    files = train_files(clothing)
    torch.manual_seed(0)
    body = MODELS.get("mlp")((3, SIZE, SIZE), 3, hidden=6, depth=1)[:-1].eval()
    normalization = ([0.2, 0.3, 0.4], [0.1, 0.2, 0.3])
    streamed = features(body, ImageFiles(tuple(files), SIZE), normalization, 5, torch.device("cpu"))
    assert decoded_sizes == [5, 5, 2]  # never more than a batch of images in memory
    in_memory = features(body, decode(files, SIZE), normalization, 5, torch.device("cpu"))
    by_workers = features(body, ImageFiles(tuple(files), SIZE, workers=2), normalization, 5, torch.device("cpu"))
    assert streamed.shape == (12, 6) and np.unique(streamed).size > 6
    assert streamed.tobytes() == in_memory.tobytes() == by_workers.tobytes()


def test_a_worker_that_cannot_decode_is_one_line_and_leaves_no_process(clothing):  # noqa: F811
    files = train_files(clothing)
    files[6].write_bytes(b"not an image")
    with pytest.raises(MolereError) as err:
        list(image_blocks(ImageFiles(tuple(files), SIZE, workers=2), 4))
    assert str(err.value).startswith(f"cannot decode {files[6]}: ") and "\n" not in str(err.value)
    assert multiprocessing.active_children() == []
    # read in this process, the same error
    with pytest.raises(MolereError, match=f"^cannot decode {files[6]}: "):
        ImageFiles(tuple(files), SIZE)[4:8]


@pytest.mark.parametrize("stage", ["prepare", "embed"])
def test_an_undecodable_test_image_is_one_line_where_a_stage_reads_it(clothing, tmp_path, stage):  # noqa: F811
    (clothing / "images/test/2.png").write_bytes(b"not an image")
    if stage == "prepare":
        params, command, output = tiny_params(clothing), ["stage", "prepare", "--scenario", "clean"], "data"
    else:
        params, command, output = embedding_params(clothing), ["stage", "embed", "--embedding", NAME], "features"
        params["embeddings"][NAME]["data"]["imagefolder"]["workers"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_cli(command, tmp_path)
    assert_one_line_error(result, f"cannot decode {clothing / 'images/test/2.png'}")
    assert not (tmp_path / output).exists()


def test_the_embed_stage_writes_the_same_bytes_with_workers(clothing, tmp_path):  # noqa: F811
    params = embedding_params(clothing)
    embed(tmp_path / "in-process", params)
    params["embeddings"][NAME]["data"]["imagefolder"]["workers"] = 2
    embed(tmp_path / "workers", params)
    folder = paths.features_dir(NAME)
    names = sorted(p.name for p in (tmp_path / "in-process" / folder).iterdir())
    assert names == ["info.json", "ood.parquet", "test.parquet", "train.parquet", "val.parquet"]
    for name in names:
        assert (tmp_path / "in-process" / folder / name).read_bytes() == (tmp_path / "workers" / folder / name).read_bytes(), name


def test_workers_below_zero_are_one_line(clothing, tmp_path):  # noqa: F811
    params = tiny_params(clothing)
    params["data"]["imagefolder"]["workers"] = -1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_cli(["stage", "prepare", "--scenario", "clean"], tmp_path)
    assert_one_line_error(result, "data.imagefolder.workers = -1 is outside the allowed range [0, inf)")
    assert not (tmp_path / "data").exists()
