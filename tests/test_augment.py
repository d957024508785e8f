"""`train.augment: flip-crop` (molere/train/augment.py): exact on a hand-made batch, the same images
as torchvision's transforms give with the same draws, only the training batches changed and their
order kept, seeded, and through the stages on fabricated image files; on examples that are not
images, a one-line error."""

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.transforms.v2 import functional as TF

from molere import paths
from molere.io import read_table
from molere.train.augment import STREAM, augmenter, draw, flip_crop
from molere.train.loop import fit
from molere.train.tensors import TensorSet
from test_cli import assert_one_line_error, run_cli
from test_image_datasets import ROOT, SEARCH_DRAWS, TRAIN_ERM, run_stages
from test_imagefolder import clothing, tiny_params  # noqa: F401 (a fixture)


def test_a_hand_made_batch():
    x = torch.arange(18, dtype=torch.uint8).reshape(2, 1, 3, 3)
    out = flip_crop(x, torch.tensor([False, True]), torch.tensor([[0, 0], [1, 2]]), padding=1)
    # image 0 cut at the padded image's corner; image 1 shifted one column left (a zero column
    # enters on the right), then mirrored
    assert out[0, 0].tolist() == [[0, 0, 0], [0, 0, 1], [0, 3, 4]]
    assert out[1, 0].tolist() == [[0, 11, 10], [0, 14, 13], [0, 17, 16]]
    assert out.dtype == torch.uint8 and out.is_contiguous()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(2, 9), st.integers(0, 3), st.integers(0, 2**31 - 1))
def test_the_same_images_as_torchvisions_transforms(n, channels, side, padding, seed):
    x = torch.randint(1, 256, (n, channels, side, side), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    flips, offsets = draw(n, padding, torch.Generator().manual_seed(seed))
    out = flip_crop(x, flips, offsets, padding)
    for i in range(n):
        top, left = offsets[i].tolist()
        expected = TF.crop(TF.pad(x[i], [padding]), top, left, side, side)
        if flips[i]:
            expected = TF.horizontal_flip(expected)
        assert torch.equal(out[i], expected)
    # what is kept of each image: every pixel but the rows and columns its shift pushed out, the
    # rest zeros (the images have no zero of their own)
    kept = [max(0, side - abs(top - padding)) * max(0, side - abs(left - padding)) * channels for top, left in offsets.tolist()]
    assert (out != 0).sum(dim=(1, 2, 3)).tolist() == kept


class Recorder:
    """A method that only records the batches it is given."""

    name = "recorder"

    def __init__(self):
        self.model = torch.nn.Linear(1, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.batches = []

    def begin_epoch(self, epoch, epochs):
        pass

    def update(self, batch):
        self.batches.append(batch)
        return {"loss": torch.tensor(0.0)}

    def end_epoch(self, epoch):
        return {}

    def should_stop(self):
        return False


def record(data: TensorSet, augment: str, seed: int = 5) -> list:
    method = Recorder()
    fit(method, data, epochs=2, batch_size=4, scheduler=torch.optim.lr_scheduler.StepLR(method.optimizer, 1), seed=seed, augment=augment)
    return method.batches


def test_only_the_training_batches_change_and_their_order_is_kept():
    images = np.random.default_rng(0).integers(1, 256, (10, 3, 8, 8), dtype=np.uint8)
    data = TensorSet.from_numpy(images, np.arange(10) % 3, np.arange(10), torch.device("cpu"), ([0.5] * 3, [0.25] * 3))
    plain, augmented = record(data, "none"), record(data, "flip-crop")
    assert [b.index.tolist() for b in plain] == [b.index.tolist() for b in augmented] and len(plain) == 6
    assert all(torch.equal(p.y, a.y) for p, a in zip(plain, augmented))
    # the augmented batches are the plain ones' images flipped and cut with the draws of the run's
    # own stream, then normalised as the plain ones are
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([5, STREAM]).generate_state(1)[0]))
    for p, a in zip(plain, augmented):
        expected = flip_crop(data.x[p.index], *draw(len(p.index), 1, generator), 1)
        assert torch.equal(a.x, data.features(slice(None), lambda _: expected))
    assert not all(torch.equal(p.x, a.x) for p, a in zip(plain, augmented))
    again = record(data, "flip-crop")
    assert all(torch.equal(a.x, b.x) for a, b in zip(augmented, again))
    assert not all(torch.equal(a.x, b.x) for a, b in zip(augmented, record(data, "flip-crop", seed=6)))


def test_examples_that_are_not_square_images_are_refused():
    assert augmenter("none", 0, (40,)) is None
    with pytest.raises(Exception, match=r"^train.augment = flip-crop flips and crops square images \(C, H, H\); this dataset's examples have shape \(40,\): set train.augment=none$"):
        augmenter("flip-crop", 0, (40,))
    with pytest.raises(Exception, match=r"shape \(1, 8, 6\)"):
        augmenter("flip-crop", 0, (1, 8, 6))
    assert augmenter("flip-crop", 0, (3, 8, 8)) is not None


def test_through_the_stages_on_image_files(clothing, tmp_path, monkeypatch):  # noqa: F811
    models = {}
    for name, augment in (("plain", "none"), ("augmented", "flip-crop"), ("again", "flip-crop")):
        params = tiny_params(clothing)
        params["train"]["augment"] = augment
        work = tmp_path / name
        work.mkdir()
        run_stages(work, monkeypatch, params, stages=(("prepare",), *SEARCH_DRAWS, TRAIN_ERM))
        run = work / "runs/clean/erm/trials/0"
        models[name] = (run / paths.MODEL).read_bytes()
        predictions = read_table(run / paths.PREDICTIONS)
        assert (predictions["set"] == "test").sum() == 6  # evaluated on the test images as they are
    assert models["augmented"] == models["again"] and models["augmented"] != models["plain"]


def test_augmenting_a_dataset_of_vectors_is_one_line_and_writes_nothing(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"] = {"dataset": "mnist1d", "mnist1d": {"num_samples": 200}}
    params["train"].update(augment="flip-crop", steps=2, device="cpu")
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in (["prepare", "--scenario", "clean"], ["corrupt", "--scenario", "clean", "--seed", "0"]):
        assert run_cli(["stage", *stage], work).returncode == 0
    before = sorted(p.relative_to(work) for p in (work / "runs").rglob("*"))
    result = run_cli(["stage", "erm", "--scenario", "clean", "--seed", "0"], work)
    assert_one_line_error(result, "train.augment = flip-crop flips and crops square images (C, H, H); this dataset's examples have shape (40,)")
    assert sorted(p.relative_to(work) for p in (work / "runs").rglob("*")) == before  # the corrupt stage's draw only
