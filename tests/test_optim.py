"""`make_optimizer`: one fused kernel per step, with the update of torch's per-parameter loop."""

import copy

import pytest
import torch

from molere.train.config import OptimizerConfig, TrainConfig
from molere.train.optim import make_optimizer


@pytest.mark.parametrize(
    "config",
    [
        OptimizerConfig(optimizer="adam", lr=0.1, weight_decay=1e-2),
        OptimizerConfig(optimizer="sgd", lr=0.1, weight_decay=1e-2, momentum=0.9),
        TrainConfig(optimizer="adam", lr=0.02),
    ],
    ids=["adam", "sgd", "train-default"],
)
def test_fused_step_is_the_loops_update(config):
    torch.manual_seed(0)
    fused_net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    loop_net, initial = copy.deepcopy(fused_net), copy.deepcopy(fused_net)
    fused = make_optimizer(fused_net.parameters(), config)
    loop = type(fused)(loop_net.parameters(), **{**fused.defaults, "fused": None, "foreach": False})
    assert fused.defaults["fused"] is True and isinstance(fused, torch.optim.Adam if config.optimizer == "adam" else torch.optim.SGD)
    for _ in range(3):
        x = torch.randn(5, 3)
        for net, optimizer in ((fused_net, fused), (loop_net, loop)):
            optimizer.zero_grad()
            net(x).square().sum().backward()
            optimizer.step()
    for a, b in zip(fused_net.parameters(), loop_net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # the comparison can fail: the three steps moved the parameters far past its tolerance
    assert max((a - b).abs().max().item() for a, b in zip(fused_net.parameters(), initial.parameters())) > 1e-2
