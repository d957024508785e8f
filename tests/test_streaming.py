"""Streamed fine-tuning (`data.<name>.stream`): prepare's tables name the image files instead of
holding their pixels, and training decodes each batch from them (`TensorSet` over `ImageFiles`,
through `train.workers` DataLoader workers). A streamed run trains and predicts the same bytes as
a stored one; the tables hold no pixels; a moved file is one line before any training."""

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from molere.data.sources.image_files import ImageFiles, decode, joined, rows
from molere.io import read_examples, write_examples
from molere.scenarios.noise import IMAGE_BLOCK, class_logits, noise_features
from molere.train.tensors import TensorSet, map_batches
from test_cli import assert_one_line_error, run_cli
from test_image_files import TRAIN, decoded_sizes, train_files  # noqa: F401 (a fixture)
from test_imagefolder import SIZE, clothing, tiny_params  # noqa: F401 (a fixture)

NORMALIZATION = ([0.2, 0.3, 0.4], [0.1, 0.2, 0.3])


def both_sets(root: Path, workers: int) -> tuple[TensorSet, TensorSet]:
    """The 12 training images as a stored TensorSet and as a streamed one, same labels and ids."""
    files = ImageFiles(tuple(train_files(root)), SIZE, stream=True)
    y, ids = np.arange(12) % 3, 100 + np.arange(12)
    stored = TensorSet.from_numpy(np.asarray(files), y, ids, torch.device("cpu"), NORMALIZATION)
    return stored, TensorSet.from_numpy(files, y, ids, torch.device("cpu"), NORMALIZATION, workers)


def assert_same_batches(a, b) -> None:
    a, b = list(a), list(b)
    assert len(a) == len(b) > 0
    for one, other in zip(a, b):
        for x, y in zip(one, other):
            torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_streamed_set_serves_the_stored_sets_batches(clothing, workers):  # noqa: F811
    stored, streamed = both_sets(clothing, workers)
    assert len(streamed) == 12 and streamed.device == torch.device("cpu")
    order = list(torch.randperm(12, generator=torch.Generator().manual_seed(3)).split(5))
    flip = lambda x: x.flip(-1)  # noqa: E731  a transform sees the stored uint8 images
    assert_same_batches(stored.batches(order, flip), streamed.batches(order, flip))
    assert_same_batches([stored.batch(order[1])], [streamed.batch(order[1])])
    torch.testing.assert_close(map_batches(stored, lambda b: b.x.sum((1, 2, 3)), 5), map_batches(streamed, lambda b: b.x.sum((1, 2, 3)), 5), rtol=0, atol=0)
    mask = np.arange(12) % 4 != 1
    part, streamed_part = stored.subset(mask), streamed.subset(mask)
    assert isinstance(streamed_part.x, ImageFiles) and streamed_part.ids.tolist() == part.ids.tolist()
    assert_same_batches(part.batches(torch.arange(9).split(4)), streamed_part.batches(torch.arange(9).split(4)))
    # the batches are the images themselves: grey values 0, 10, ..., normalised by channel
    first = next(streamed.batches([torch.tensor([7, 2])]))
    expected = (torch.tensor([70.0, 20.0])[:, None] - 255 * torch.tensor(NORMALIZATION[0])) / (255 * torch.tensor(NORMALIZATION[1]))
    torch.testing.assert_close(first.x[:, :, 0, 0], expected)
    assert first.y.tolist() == [1, 2] and first.index.tolist() == [7, 2]


def test_a_reader_that_stops_early_leaves_no_worker(clothing):  # noqa: F811
    _, streamed = both_sets(clothing, 2)
    batches = streamed.batches(torch.arange(12).split(2))
    next(batches)
    assert multiprocessing.active_children() != []  # the workers run ahead of the reader
    batches.close()  # what a run's step budget does to its epoch's batches
    assert multiprocessing.active_children() == []


def test_picking_and_joining_files_decodes_nothing(clothing, decoded_sizes):  # noqa: F811
    files = ImageFiles(tuple(train_files(clothing)), SIZE)
    picked = rows(files, np.arange(12) % 3 == 0)
    both = joined([picked, rows(files, slice(10, 12))])
    assert decoded_sizes == []
    assert both.files == tuple(train_files(clothing)[i] for i in (0, 3, 6, 9, 10, 11))
    np.testing.assert_array_equal(np.asarray(both), decode(list(both.files), SIZE))
    array = np.arange(24).reshape(12, 2)  # arrays go numpy's way
    np.testing.assert_array_equal(rows(array, [3, 1]), array[[3, 1]])
    np.testing.assert_array_equal(joined([array, array[:2]]), np.concatenate([array, array[:2]]))
    pixels = decode(train_files(clothing)[:2], SIZE)
    mixed = joined([rows(files, [5]), pixels])  # a mix is read: the files decoded
    assert isinstance(mixed, np.ndarray) and decoded_sizes == [6, 1]
    np.testing.assert_array_equal(mixed, decode([train_files(clothing)[i] for i in (5, 0, 1)], SIZE))


def test_a_streamed_table_names_its_files(clothing, tmp_path):  # noqa: F811
    files = ImageFiles(tuple(train_files(clothing)[:3]), SIZE, workers=2, stream=True)
    meta = pd.DataFrame({"id": [4, 5, 6], "y": [0, 1, 2]})
    write_examples(tmp_path / "t.parquet", meta, files)
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.column_names == ["id", "y", "file"]  # no pixels
    assert table.column("file").to_pylist() == [str(f) for f in files.files]
    read_meta, read_files = read_examples(tmp_path / "t.parquet", columns=("id", "y"))
    pd.testing.assert_frame_equal(read_meta, meta)
    assert read_files.files == files.files and read_files.side == SIZE and read_files.stream
    # not streamed, the same files are written as their pixels
    write_examples(tmp_path / "s.parquet", meta, ImageFiles(files.files, SIZE))
    np.testing.assert_array_equal(read_examples(tmp_path / "s.parquet")[1], decode(list(files.files), SIZE))


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2**16))
def test_idn_logits_of_images_are_the_same_from_files_and_from_their_pixels(n, seed):
    """Blockwise over images (with blocks of 7, so a block boundary falls inside most cases), the
    same bits from files as from their array; and features that are not images are multiplied
    whole, as before."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (n, 3, 2, 2), dtype=np.uint8)
    y, projection = rng.integers(0, 3, n), rng.standard_normal((3, 12, 3))

    class Files(ImageFiles):  # `ImageFiles` whose "files" are rows of `pixels`
        def blocks(self, size):
            return (pixels[start : start + size] for start in range(0, n, size))

    files = Files(tuple(Path(str(i)) for i in range(n)), 2)
    import molere.scenarios.noise as noise

    old, noise.IMAGE_BLOCK = noise.IMAGE_BLOCK, 7
    try:
        from_files, from_pixels = class_logits(files, y, projection), class_logits(pixels, y, projection)
    finally:
        noise.IMAGE_BLOCK = old
    np.testing.assert_array_equal(from_files, from_pixels)
    features = noise_features(pixels)
    np.testing.assert_allclose(from_pixels, np.einsum("nd,ndk->nk", features, projection[y]), rtol=1e-12)
    flat = features.reshape(n, 12)
    whole = np.empty((n, 3))
    for c in range(3):
        whole[y == c] = flat[y == c] @ projection[c]
    np.testing.assert_array_equal(class_logits(flat, y, projection), whole)
    assert IMAGE_BLOCK == 1024


def stream_params(root: Path, stream: bool, workers: int = 0) -> dict:
    params = tiny_params(root)
    params["data"]["imagefolder"]["stream"] = stream
    params["train"]["workers"] = workers
    params["study"]["methods"] = ["erm", "lrw-hard"]
    return params


STAGES = [
    ["prepare"],
    ["corrupt", "--seed", "0"],
    ["erm", "--seed", "0"],
    ["rank", "--seed", "0"],
    ["valsets", "--seed", "0"],
    ["train", "--method", "erm", "--trial", "0", "--seed", "0"],
    ["train", "--method", "lrw-hard", "--trial", "0", "--seed", "0"],
]


def run_study(work: Path, params: dict, scenario: str) -> None:
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in STAGES:
        result = run_cli(["stage", *stage, "--scenario", scenario], work)
        assert result.returncode == 0, (stage, result.stderr)


@pytest.mark.parametrize("scenario", ["clean", "idn-40"])
def test_a_streamed_study_trains_the_stored_studys_bytes(clothing, tmp_path, scenario):  # noqa: F811
    """Every file of the draws and the runs the same (the histories' seconds aside; the runs'
    config.json records train.workers), with the idn noise drawn over the images from files."""
    stored, streamed = tmp_path / "stored", tmp_path / "streamed"
    run_study(stored, stream_params(clothing, False), scenario)
    run_study(streamed, stream_params(clothing, True, workers=2), scenario)
    table = pq.read_table(streamed / "data" / scenario / "pool.parquet")
    assert "x" not in table.column_names and len(table.column("file")) == 15
    assert "x" in pq.read_table(stored / "data" / scenario / "pool.parquet").column_names
    files = sorted(p.relative_to(stored) for p in (stored / "runs").rglob("*") if p.is_file() and p.suffix != ".csv")
    assert len(files) == 16 and files == sorted(p.relative_to(streamed) for p in (streamed / "runs").rglob("*") if p.is_file() and p.suffix != ".csv")
    for name in files:
        one, other = (stored / name).read_bytes(), (streamed / name).read_bytes()
        if name.name == "config.json":
            one, other = (json.loads(text) for text in (one, other))
            assert (one["train"].pop("workers"), other["train"].pop("workers")) == (0, 2)
        assert one == other, name


def test_a_moved_image_file_is_one_line_before_training(clothing, tmp_path):  # noqa: F811
    work = tmp_path / "work"
    run_study(work, stream_params(clothing, True), "clean")
    moved = clothing / TRAIN[4]
    moved.rename(tmp_path / "elsewhere.png")
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    result = run_cli(["stage", "train", "--method", "erm", "--trial", "0", "--seed", "0", "--scenario", "clean"], work)
    assert_one_line_error(result, f"data/clean/pool.parquet names 1 image file(s) that are not there, e.g. {moved}")
    assert "re-run `molere-bench stage prepare --scenario clean`" in result.stderr
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before


def test_train_workers_below_zero_are_one_line(clothing, tmp_path):  # noqa: F811
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(stream_params(clothing, True, workers=-1)))
    result = run_cli(["stage", "prepare", "--scenario", "clean"], tmp_path)
    assert_one_line_error(result, "train.workers = -1 is outside the allowed range [0, inf)")
