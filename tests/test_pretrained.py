"""Pretrained weights from a local file (`model.weights`) and a frozen body (`model.freeze: body`):
loaded into a model with a head of another size, trained through the CLI with the body frozen;
another architecture's file is a one-line error."""

import numpy as np
import pytest
import torch

from molere import paths
from molere.errors import MolereError
from molere.experiment import make_model
from molere.models import MODELS
from molere.params import Params
from molere_tools.fabricate import trust_fabricated, write_cifar
from test_image_datasets import run_stages, tiny_params


def saved_weights(tmp_path, name: str, num_classes: int = 10, **options) -> str:
    """A state_dict saved from a freshly built model, as a user's pretrained file would be."""
    torch.manual_seed(1)
    path = tmp_path / f"{name}.pt"
    torch.save(MODELS.get(name)((3, 32, 32), num_classes, **options).state_dict(), path)
    return str(path)


def model(spec: dict, num_classes: int = 14) -> torch.nn.Module:
    return make_model(Params({"model": spec}), (3, 32, 32), num_classes)


def test_the_body_loads_and_a_head_of_another_size_stays_fresh(tmp_path):
    path = saved_weights(tmp_path, "resnet18", stem="imagenet")
    loaded = model({"name": "resnet18", "stem": "imagenet", "weights": path})
    saved = torch.load(path, weights_only=True)
    for key, value in loaded.state_dict().items():
        if key.startswith("fc."):
            assert value.shape[0] == 14  # ImageNet-style head of 10 classes replaced by one of 14
        else:
            torch.testing.assert_close(value, saved[key], rtol=0, atol=0)


def test_another_architectures_weights_are_one_line_naming_the_counts(tmp_path):
    path = saved_weights(tmp_path, "resnet32", width=4)
    with pytest.raises(MolereError) as err:
        model({"name": "resnet18", "weights": path})
    own, saved = set(MODELS.get("resnet18")((3, 32, 32), 14).state_dict()), set(torch.load(path, weights_only=True))
    missing = len({key for key in own - saved if not key.startswith("fc.")})
    # the shared names: conv1 and bn1 (conv1: 3x3 at 64 channels against 3x3 at 4), and the head
    assert own & saved == {"conv1.weight", "fc.weight", "fc.bias"} | {f"bn1.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    assert str(err.value) == (
        f"model.weights = {path} does not fit model resnet18: of its {len(own)} keys {missing} missing, 5 of another "
        f"shape, and {len(saved - own)} keys the model lacks (e.g. layer1.0.conv1.weight); it holds another architecture's weights"
    )


def test_a_missing_weights_file_is_named(tmp_path):
    with pytest.raises(MolereError, match=f"^model.weights = {tmp_path / 'none.pt'} not found"):
        model({"name": "resnet32", "weights": str(tmp_path / "none.pt")})


def test_freeze_body_trains_only_the_head(tmp_path):
    frozen = model({"name": "resnet32", "width": 2, "freeze": "body"})
    assert [key for key, p in frozen.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    with pytest.raises(MolereError, match="unknown model.freeze 'all'; allowed: none, body"):
        model({"name": "resnet32", "freeze": "all"})


def test_a_frozen_pretrained_body_stays_as_loaded_through_training(tmp_path, monkeypatch):
    root = tmp_path / "cifar"
    write_cifar(root, 40, 10)
    for key, value in trust_fabricated(root).items():
        monkeypatch.setenv(key, value)
    path = saved_weights(tmp_path, "resnet32", width=2)
    params = tiny_params(root, "cifar10")
    params["model"].update(weights=path, freeze="body")
    work = tmp_path / "work"
    work.mkdir()
    run_stages(work, monkeypatch, params, stages=(("prepare",), ("corrupt", "--seed", "0"), ("erm", "--seed", "0")))
    trained = torch.load(work / paths.erm_rank_dir("clean", 0) / paths.MODEL, weights_only=False)["state_dict"]
    saved = torch.load(path, weights_only=True)
    weights = [key for key in saved if key.endswith("weight") and "bn" not in key]
    assert all(torch.equal(trained[key], saved[key]) for key in weights if not key.startswith("fc."))
    assert not np.allclose(trained["fc.weight"].numpy(), saved["fc.weight"].numpy())  # the head trained
