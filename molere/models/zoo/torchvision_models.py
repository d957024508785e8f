"""`torchvision`: any of torchvision's classification models by name (`model.arch`, one of
`torchvision.models.list_models(module=torchvision.models)`: resnet50, vit_b_16, convnext_tiny,
mobilenet_v3_small, ...), built with `torchvision.models.get_model(arch, weights=None,
num_classes=...)`: random weights, nothing downloaded. Pretrained weights come only from a local
file, `model.weights` (molere/models/pretrained.py), e.g. torchvision's own ImageNet file from its
cache (~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth). The models take 3-channel images:
other inputs are a one-line error (their first layer differs from one architecture to the next;
`timm` adapts any architecture's, `resnet18` / `resnet50` theirs)."""

from __future__ import annotations

from molere.errors import MolereError
from molere.models import MODELS
from molere.models.architectures import check_arch

LIST = "python -c 'import torchvision; print(torchvision.models.list_models(module=torchvision.models))'"


@MODELS.register("torchvision")
def torchvision_model(input_shape, num_classes: int, arch: str = ""):
    import torchvision.models

    check_arch("torchvision", arch, torchvision.models.list_models(module=torchvision.models), LIST)
    if len(input_shape) != 3 or input_shape[0] != 3:
        raise MolereError(
            f"model torchvision ({arch}) takes 3-channel images, the data gives examples of shape {tuple(input_shape)}; "
            "model timm adapts any architecture to other channels (in_chans), resnet18 / resnet50 theirs"
        )
    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)

