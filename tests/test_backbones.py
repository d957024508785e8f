"""The zoo's `torchvision` and `timm` entries: any architecture of either library by name
(`model.arch`), random weights unless `model.weights` names a local file (nothing is downloaded),
`model.freeze: body`; a bad name is a one-line error with the closest names."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from molere.errors import MolereError
from molere.experiment import make_model
from molere.fingerprint import CodeGraph, registry_names
from molere.models import MODELS
from molere.params import Params
from molere_tools.fabricate import trust_fabricated, write_cifar
from test_image_datasets import ROOT, run_stages, tiny_params

# a small architecture of each, and its head (the last linear layer)
ARCHS = [("torchvision", "mobilenet_v3_small", "classifier.3"), ("timm", "resnet10t", "fc")]
TORCHVISION_LIST = "python -c 'import torchvision; print(torchvision.models.list_models(module=torchvision.models))'"
TIMM_LIST = "python -c 'import timm; print(timm.list_models())'"


def model(spec: dict, num_classes: int = 7, shape=(3, 32, 32)) -> torch.nn.Module:
    return make_model(Params({"model": spec}), shape, num_classes)


def saved(tmp_path, name: str, arch: str, num_classes: int = 1000) -> str:
    """A state_dict saved from a freshly built model (ImageNet's 1,000 classes), as a user's pretrained file would be."""
    torch.manual_seed(1)
    path = tmp_path / f"{name}-{arch}.pt"
    torch.save(MODELS.get(name)((3, 32, 32), num_classes, arch=arch).state_dict(), path)
    return str(path)


@pytest.mark.parametrize("name, arch, head", ARCHS)
def test_a_batch_gives_one_row_of_logits_per_example(name, arch, head):
    built = model({"name": name, "arch": arch})
    built.eval()
    assert built(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    assert built.get_submodule(head).out_features == 7


def test_timm_takes_any_channels_torchvision_three():
    grey = model({"name": "timm", "arch": "resnet10t"}, shape=(1, 28, 28)).eval()
    assert grey.conv1[0].in_channels == 1 and grey(torch.zeros(2, 1, 28, 28)).shape == (2, 7)
    with pytest.raises(MolereError) as err:
        model({"name": "torchvision", "arch": "resnet18"}, shape=(1, 28, 28))
    assert str(err.value) == (
        "model torchvision (resnet18) takes 3-channel images, the data gives examples of shape (1, 28, 28); "
        "model timm adapts any architecture to other channels (in_chans), resnet18 / resnet50 theirs"
    )


@pytest.mark.parametrize("name, arch, head", ARCHS)
def test_the_body_loads_from_a_local_file_and_a_head_of_another_size_stays_fresh(tmp_path, name, arch, head):
    path = saved(tmp_path, name, arch)
    torch.manual_seed(2)
    loaded = model({"name": name, "arch": arch, "weights": path})
    torch.manual_seed(2)
    fresh = model({"name": name, "arch": arch})  # the same draws, no file
    state, fresh_state = torch.load(path, weights_only=True), fresh.state_dict()
    assert loaded.state_dict().keys() == state.keys()
    body = [key for key in state if not key.startswith(head + ".")]
    assert len(body) == len(state) - 2
    for key in body:
        assert torch.equal(loaded.state_dict()[key], state[key]), key
    for key in (f"{head}.weight", f"{head}.bias"):
        assert state[key].shape[0] == 1000 and loaded.state_dict()[key].shape[0] == 7
        assert torch.equal(loaded.state_dict()[key], fresh_state[key])  # the fresh head, as without a file
    assert not all(torch.equal(fresh_state[key], state[key]) for key in body)  # the body did come from the file


def test_torchvisions_resnet_file_fits_timms_resnet(tmp_path):
    path = saved(tmp_path, "torchvision", "resnet18")
    loaded = model({"name": "timm", "arch": "resnet18", "weights": path}).state_dict()
    state = torch.load(path, weights_only=True)
    assert all(torch.equal(loaded[key], value) for key, value in state.items() if not key.startswith("fc."))


def test_another_architectures_file_is_one_line(tmp_path):
    path = saved(tmp_path, "timm", "resnet10t")
    with pytest.raises(MolereError) as err:
        model({"name": "torchvision", "arch": "mobilenet_v3_small", "weights": path})
    own = set(MODELS.get("torchvision")((3, 32, 32), 7, arch="mobilenet_v3_small").state_dict())
    state = set(torch.load(path, weights_only=True))
    assert own & state == set()
    assert str(err.value) == (
        f"model.weights = {path} does not fit model torchvision: of its {len(own)} keys {len(own) - 2} missing, 0 of another "
        f"shape, and {len(state)} keys the model lacks (e.g. features.0.0.weight); it holds another architecture's weights"
    )


@pytest.mark.parametrize("name, arch, head", ARCHS)
def test_freeze_body_trains_only_the_head(name, arch, head):
    frozen = model({"name": name, "arch": arch, "freeze": "body"})
    assert [key for key, p in frozen.named_parameters() if p.requires_grad] == [f"{head}.weight", f"{head}.bias"]


@pytest.mark.parametrize(
    "name, arch, message",
    [
        ("torchvision", "resnet1000", f"unknown model.arch 'resnet1000' for model torchvision; close: resnet101, resnet50, resnet18; all 80: {TORCHVISION_LIST}"),
        ("torchvision", "qq", f"unknown model.arch 'qq' for model torchvision; all 80: {TORCHVISION_LIST}"),
        ("torchvision", "", f"model torchvision needs model.arch, an architecture's name (e.g. alexnet); all 80: {TORCHVISION_LIST}"),
        ("timm", "resnet10", f"unknown model.arch 'resnet10' for model timm; close: resnet10t, resnet101, resnet101s; all 1371: {TIMM_LIST}"),
    ],
)
def test_an_unknown_arch_names_the_closest_and_how_to_list_them(name, arch, message):
    with pytest.raises(MolereError) as err:
        model({"name": name, "arch": arch})
    assert str(err.value) == message


def test_there_is_no_download_option():
    with pytest.raises(MolereError, match=r"unknown params key 'model.pretrained'"):
        model({"name": "timm", "arch": "resnet10t", "pretrained": True})


def test_an_unknown_arch_stops_the_stage_with_exit_code_2_and_one_line(tmp_path, monkeypatch):
    root = tmp_path / "cifar"
    write_cifar(root, 40, 10)
    for key, value in trust_fabricated(root).items():
        monkeypatch.setenv(key, value)
    params = tiny_params(root, "cifar10")
    params["model"] = {"name": "timm", "arch": "vit_tiny_patch16"}
    work = tmp_path / "work"
    work.mkdir()
    run_stages(work, monkeypatch, params, stages=(("prepare",), ("corrupt", "--seed", "0")))
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, "-m", "molere.cli", "stage", "erm", "--scenario", "clean", "--seed", "0"],
        cwd=work, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: unknown model.arch 'vit_tiny_patch16' for model timm; close: vit_tiny_patch16_")


def test_listing_the_zoo_imports_neither_library():
    code = "import sys; from molere.models import MODELS; print(MODELS.names(), 'timm' in sys.modules, 'torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "['cnn1d', 'mlp', 'resnet18', 'resnet32', 'resnet50', 'timm', 'torchvision'] False False", out.stderr


def test_a_stage_counts_only_the_entry_it_uses():
    graph, params = CodeGraph(ROOT), Params.load(ROOT / "params.yaml")
    new = {"molere/models/zoo/timm_models.py", "molere/models/zoo/torchvision_models.py", "molere/models/architectures.py"}
    default = {p.as_posix() for p in graph.files("erm", registry_names(params, "erm"))}
    assert "molere/models/zoo/resnet.py" not in default and not new & default
    params.override("model.name", "timm")
    timm = {p.as_posix() for p in graph.files("erm", registry_names(params, "erm"))}
    assert new & timm == {"molere/models/zoo/timm_models.py", "molere/models/architectures.py"}
