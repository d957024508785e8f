"""The model zoo's shared layers (molere/models/layers.py)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from molere.models.layers import Conv1d


@pytest.mark.parametrize("kernel, stride, padding", [(5, 2, 1), (3, 1, 0), (3, 2, 1), (4, 3, 2)])
def test_conv1d_is_torchs_convolution_with_the_same_parameters(kernel, stride, padding):
    torch.manual_seed(0)
    ours = Conv1d(3, 4, kernel, stride=stride, padding=padding)
    theirs = nn.Conv1d(3, 4, kernel, stride=stride, padding=padding)
    theirs.load_state_dict(ours.state_dict())  # the same keys and shapes: checkpoints load either way
    x = torch.randn(6, 3, 23, dtype=torch.float64)
    ours, theirs = ours.double(), theirs.double()
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)
    grads = [torch.autograd.grad(m(x).square().sum(), list(m.parameters())) for m in (ours, theirs)]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_conv1d_exact_on_a_small_case():
    conv = Conv1d(1, 1, 2, stride=2, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[1.0, 10.0]]]))
        conv.bias.fill_(0.5)
    # padded: 0 1 2 3 4 0 -> windows (0,1) (2,3) (4,0)
    assert conv(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])).tolist() == [[[10.5, 32.5, 4.5]]]
    # the same as torch's own convolution, which a wrong window order would not be
    assert F.conv1d(torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]), conv.weight, conv.bias, 2, 1).tolist() == [[[10.5, 32.5, 4.5]]]
