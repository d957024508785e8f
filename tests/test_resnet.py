"""ResNets for 32x32 inputs: the CIFAR stem of ResNet-18, the exact ResNet-32 of Meta-Weight-Net,
and the CUDA path (channels-last batches, bf16 autocast) where a GPU is present."""

import numpy as np
import pytest
import torch
from torch import nn

from molere.methods.base import RunData
from molere.methods.zoo.erm import ERM
from molere.models import MODELS
from molere.models.zoo.resnet import BasicBlock
from molere.train.loop import fit
from molere.train.tensors import TensorSet, autocast


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_are_the_published_ones():
    # ResNet-18 with a 3x3 stem for 10 classes (kuangliu/pytorch-cifar: 11,173,962);
    # ResNet-32 by hand: stem 432 + 32, stages 23,360 + 88,192 + 351,488, head 650 (0.46M)
    assert count(MODELS.get("resnet18")((3, 32, 32), 10)) == 11_173_962
    assert count(MODELS.get("resnet32")((3, 32, 32), 10)) == 464_154


def test_resnet18_keeps_32x32_through_its_first_stage():
    model = MODELS.get("resnet18")((3, 32, 32), 10)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    sizes = {}

    def record(name):
        def hook(module, inputs, output):
            sizes[name] = tuple(output.shape)

        return hook

    for name in ("layer1", "layer4"):
        getattr(model, name).register_forward_hook(record(name))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert sizes == {"layer1": (2, 64, 32, 32), "layer4": (2, 512, 4, 4)}


@pytest.mark.parametrize("name", ["resnet18", "resnet32"])
def test_grey_28x28_inputs(name):
    model = MODELS.get(name)((1, 28, 28), 10)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_resnet32_is_31_convolutions_and_a_linear_head_with_free_shortcuts():
    model = MODELS.get("resnet32")((3, 32, 32), 100, width=8)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 3 * 5 * 2  # no projection shortcuts
    assert [c.out_channels for c in convs[::10]] == [8, 8, 16, 32]
    assert model.fc.in_features == 32 and model.fc.out_features == 100


def test_option_a_shortcut_subsamples_and_zero_pads_channels():
    block = BasicBlock(2, 4, stride=2)
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    expected = torch.zeros(1, 4, 2, 2)
    expected[:, 1:3] = x[:, :, ::2, ::2]
    torch.testing.assert_close(block.shortcut(x), expected)
    same = x.repeat(1, 2, 1, 1)
    assert BasicBlock(4, 4, stride=1).shortcut(same) is same


def test_a_few_steps_fit_a_tiny_batch():
    torch.manual_seed(0)
    model = MODELS.get("resnet32")((3, 8, 8), 2, width=4)
    x, y = torch.randn(16, 3, 8, 8), torch.arange(16) % 2
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 < losses[0]


def test_autocast_is_off_on_the_cpu():
    with autocast(torch.device("cpu")):
        assert not torch.is_autocast_enabled("cuda") and not torch.is_autocast_enabled("cpu")
        assert nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_are_channels_last_and_steps_run_in_bf16():
    device = torch.device("cuda")
    x = np.random.default_rng(0).integers(0, 256, (64, 3, 32, 32), dtype=np.uint8)
    data = TensorSet.from_numpy(x, np.arange(64) % 10, np.arange(64), device, ([0.5] * 3, [0.25] * 3))
    batch = data.batch(torch.arange(8))
    assert batch.x.is_contiguous(memory_format=torch.channels_last) and batch.x.dtype == torch.float32
    model = MODELS.get("resnet18")((3, 32, 32), 10).to(device, memory_format=torch.channels_last)
    with autocast(device):
        assert model(batch.x).dtype == torch.bfloat16
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    method = ERM(model, optimizer, ERM.Config(), RunData(train=data, val=None, num_classes=10), seed=0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    history = fit(method, data, epochs=1, batch_size=16, scheduler=scheduler, seed=0)
    assert np.isfinite(history[0]["train_loss"])
