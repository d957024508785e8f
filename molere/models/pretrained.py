"""Pretrained weights from a local file and a frozen body, for any model of the zoo:
`model.weights: PATH` (a state_dict saved with `torch.save(model.state_dict(), PATH)`; never
downloaded) and `model.freeze: body`.

The classifier head, the model's last linear layer, is the one part whose weights may not fit
(a backbone trained on ImageNet's 1,000 classes, fine-tuned on 14): it keeps its fresh weights
then. Every other key must be in the file with its shape, and the file may hold no other, so a
file for another architecture is an error, never a partial load."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from molere.errors import MolereError

FREEZE = ("none", "body")  # body: only the head trains


def head_name(model: nn.Module) -> str:
    """The name of the model's last linear layer (its classifier head)."""
    linear = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linear:
        raise MolereError(f"{type(model).__name__} has no linear layer to keep as its head")
    return linear[-1]


def load_weights(model: nn.Module, path: str, name: str, key: str) -> None:
    """Load the state_dict at `path` (params key `key`) into `model` (the zoo's `name`); see the
    module's docstring."""
    if not Path(path).is_file():
        raise MolereError(f"{key} = {path} not found: a state_dict file (torch.save(model.state_dict(), path)); nothing is downloaded")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, or one holding objects besides tensors
        raise MolereError(f"cannot read {key} = {path}: {type(err).__name__}; expected a state_dict of tensors") from None
    if not isinstance(state, dict):
        raise MolereError(f"{key} = {path} holds a {type(state).__name__}, not a state_dict")
    own, head = model.state_dict(), head_name(model) + "."
    missing = [key for key in own if key not in state and not key.startswith(head)]
    unexpected = [key for key in state if key not in own]
    reshaped = [key for key in own if key in state and state[key].shape != own[key].shape and not key.startswith(head)]
    if missing or unexpected or reshaped:
        example = (missing or unexpected or reshaped)[0]
        raise MolereError(
            f"{key} = {path} does not fit model {name}: of its {len(own)} keys {len(missing)} missing, "
            f"{len(reshaped)} of another shape, and {len(unexpected)} keys the model lacks (e.g. {example}); "
            "it holds another architecture's weights"
        )
    fitting = {key: value for key, value in state.items() if value.shape == own[key].shape}
    model.load_state_dict(fitting, strict=False)  # a head of another shape keeps its fresh weights


def freeze_body(model: nn.Module) -> None:
    """Only the head's parameters train. (Batch-norm layers still update their running statistics
    in training mode: the body's weights are frozen, not its normalisation.)"""
    head = head_name(model) + "."
    for key, parameter in model.named_parameters():
        parameter.requires_grad_(key.startswith(head))
