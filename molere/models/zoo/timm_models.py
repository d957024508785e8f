"""`timm`: any of timm's models by name (`model.arch`, one of `timm.list_models()`, with or without
a pretrained tag: resnet50, vit_base_patch16_224, convnext_tiny.fb_in22k, ...), built with
`timm.create_model(arch, pretrained=False, num_classes=..., in_chans=...)`: random weights, nothing
downloaded. Pretrained weights come only from a local file, `model.weights`
(molere/models/pretrained.py): a state_dict of the same architecture (timm's
`pytorch_model.bin` is one; a `model.safetensors` is read with `safetensors.torch.load_file` and
saved with `torch.save`). `in_chans` is the data's channels: timm adapts the first layer of any
architecture (a pretrained file's first layer then no longer fits, a one-line error). Models
with a fixed input size (ViTs: 224 for `*_224`) need images of that size (`image_size`)."""

from __future__ import annotations

from molere.errors import MolereError
from molere.models import MODELS
from molere.models.architectures import check_arch

LIST = "python -c 'import timm; print(timm.list_models())'"


@MODELS.register("timm")
def timm_model(input_shape, num_classes: int, arch: str = ""):
    import timm

    if not timm.is_model(arch):
        check_arch("timm", arch, timm.list_models(), LIST)  # raises
    if len(input_shape) != 3:
        raise MolereError(f"model timm ({arch}) takes images (channels, height, width), the data gives examples of shape {tuple(input_shape)}")
    return timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=input_shape[0])
