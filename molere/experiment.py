"""Training one method on one side of a pool: the library call behind the `erm` and `train` stages."""

from __future__ import annotations

import inspect
import io
import time
import typing
from dataclasses import dataclass

import numpy as np
import torch

from molere.data.sources.image_files import rows
from molere.errors import MolereError
from molere.hparams import build_config, check_known, checked_value, search_spaces
from molere.io import corrupt, one_line, require, write_bytes
from molere.methods import METHODS
from molere.methods.base import Method, RunData
from molere.models import MODELS
from molere.models.pretrained import FREEZE, freeze_body, load_weights
from molere.params import Params
from molere.portable import portable_setting
from molere.timings import machine, write_timing
from molere.train.config import TrainConfig, run_epochs
from molere.train.loop import fit
from molere.train.optim import make_optimizer, make_scheduler
from molere.train.tensors import TensorSet, pick_device, reproducible_torch, seed_everything
from molere.trials import check_search_section, method_spaces

PRETRAINED_KEYS = ("weights", "freeze")  # every model's, not its factory's


@dataclass
class Outcome:
    method: Method
    history: list[dict]  # one row per epoch, without wall-clock times (molere/timings.py)
    epoch_seconds: list[float]
    seconds: float

    @property
    def model(self) -> torch.nn.Module:
        return self.method.model


def make_model(params: Params, input_shape, num_classes: int) -> torch.nn.Module:
    """The classifier params.yaml's `model` names, with its options (the other keys there), and
    any model's `weights` (a local state_dict file) and `freeze` (molere/models/pretrained.py)."""
    factory, options = model_spec(params)
    model = factory(tuple(input_shape), num_classes, **options)
    spec = params.section("model")
    weights = spec.get("weights", (str, type(None)), None)
    if weights is not None:
        load_weights(model, weights, spec.get("name", str), f"{spec.prefix}weights")
    if checked_value(spec.get("freeze", str, "none"), str, {"choices": FREEZE}, f"{spec.prefix}freeze") == "body":
        freeze_body(model)
    return model


def model_spec(params: Params) -> tuple:
    """The model factory params.yaml's `model` names, and its options checked (not `weights` and
    `freeze`, which every model takes)."""
    spec = params.section("model")
    factory = MODELS.get(spec.get("name", str))
    return factory, model_options(factory, {k: v for k, v in spec.data.items() if k not in ("name", *PRETRAINED_KEYS)}, spec.prefix)


def model_options(factory, options: dict, prefix: str) -> dict:
    """`options` checked against the model factory's keyword parameters (those after the input
    shape and the number of classes): each a known one, of its declared type (`prefix`: where
    the section is, for messages)."""
    check_known(options, ["name", *PRETRAINED_KEYS, *list(inspect.signature(factory).parameters)[2:]], prefix)
    hints = typing.get_type_hints(factory)
    return {key: checked_value(value, hints[key], {}, f"{prefix}{key}") if key in hints else value for key, value in options.items()}


def example_set(params: Params, info: dict, x, y, ids, device) -> TensorSet:
    """Examples as a run holds them: on `device`, normalised as the dataset's info says, a streamed
    dataset's batches decoded by `train.workers` DataLoader workers."""
    return TensorSet.from_numpy(x, y, ids, device, info.get("normalization"), train_config(params).workers)


def train_config(params: Params) -> TrainConfig:
    """The shared training knobs: params.yaml's `train` over TrainConfig's defaults. Setting both
    budgets is an error: `epochs` would be silently ignored."""
    given = params.get("train", dict, {})
    config = build_config(TrainConfig, given, "train.")
    if "epochs" in given and config.steps is not None:
        raise MolereError(
            f"train.epochs = {given['epochs']} and train.steps = {config.steps} both set the training budget; "
            "set one of them (train.steps=null trains by epochs)"
        )
    return config


def method_config(params: Params, name: str):
    """Method `name`'s hyperparameters: params.yaml's `methods.<name>` over its defaults."""
    return build_config(METHODS.get(name).Config, params.get(f"methods.{name}", (dict, type(None)), None), f"methods.{name}.")


def check_open_key(params: Params, key: str) -> None:
    """The part of an open section (`model`, `methods.<name>`, `search`) that dotted `key` lies in,
    checked as the stages read it: a key no config declares is an error naming it and the known ones."""
    section, _, rest = key.partition(".")
    if section == "model":
        model_spec(params)
    elif section == "methods":
        method_config(params, rest.partition(".")[0])
    else:
        check_search_section(params.get("search", (dict, type(None)), None), METHODS.names())
        search_spaces(TrainConfig, "train.", params.get("search.train", (dict, type(None)), None))
        for method in params.get("search.methods", (dict, type(None)), None) or {}:
            method_spaces(params, METHODS.get(method))


def training_device(params: Params) -> torch.device:
    """The device `train.device` names, with torch set up for `execution.portable` first."""
    reproducible_torch(portable_setting(params))
    return pick_device(train_config(params).device)


def to_device(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` on `device`, laid out for its fastest kernels there."""
    model = model.to(device)
    if device.type == "cuda":  # channels-last weights to match the batches (TensorSet.features)
        model = model.to(memory_format=torch.channels_last)
        # fixed batch shapes: time the kernels once and keep the fastest, unless the run must be
        # deterministic (the timing picks the kernels)
        torch.backends.cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()
    return model


def train_method(
    name: str,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    ids: np.ndarray,
    val_mask: np.ndarray,
    info: dict,
    seed: int,
    *,
    rank_margin: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    select_on_val: bool = False,
) -> Outcome:
    """Train method `name` on the examples outside `val_mask`; the method sees the ones inside as
    its validation side. `val_labels` (per example; None: `y`) are the labels an example carries
    on a validation side the method chooses itself (RunData.val_labels). With `select_on_val` the
    best epoch on that side is kept (the ranking ERM pass); otherwise the last epoch is (every
    compared method)."""
    method_cls = METHODS.get(name)
    train_cfg = train_config(params)
    config = method_config(params, name)
    device = training_device(params)
    seed_everything(seed)
    model = to_device(make_model(params, x.shape[1:], info["num_classes"]), device)

    def tensors(mask):
        return example_set(params, info, rows(x, mask), y[mask], ids[mask], device)

    train_mask = ~val_mask
    data = RunData(
        train=tensors(train_mask),
        val=tensors(val_mask) if val_mask.any() else None,
        num_classes=info["num_classes"],
        rank_margin=None if rank_margin is None else rank_margin[train_mask],
        val_labels=None if val_labels is None else torch.as_tensor(val_labels[train_mask], dtype=torch.int64, device=device),
    )
    optimizer = make_optimizer(model.parameters(), train_cfg)
    method = method_cls(model, optimizer, config, data, seed)
    epochs = run_epochs(train_cfg, len(data.train))
    start = time.perf_counter()
    history = fit(
        method,
        data.train,
        epochs=epochs,
        batch_size=train_cfg.batch_size,
        scheduler=make_scheduler(optimizer, train_cfg, epochs),
        seed=seed,
        select_on=data.val if select_on_val else None,
        steps=train_cfg.steps,
        augment=train_cfg.augment,
    )
    seconds = time.perf_counter() - start
    return Outcome(method, history, [row.pop("seconds") for row in history], seconds)


def save_model(path, model: torch.nn.Module, params: Params, info: dict) -> None:
    """torch.save into memory, then an atomic write: saved to a file, the archive would be named
    after the random temporary file, and two identical runs would differ in those bytes."""
    buffer = io.BytesIO()
    torch.save({"state_dict": model.state_dict(), "model": params.get("model", dict), "info": info}, buffer)
    write_bytes(path, buffer.getvalue())


def save_timing(path, outcome: Outcome, params: Params) -> None:
    """The run's timing file, apart from its results (molere/timings.py)."""
    device = next(outcome.model.parameters()).device
    name = machine(device, torch.get_num_threads(), portable_setting(params))
    write_timing(path, outcome.seconds, outcome.epoch_seconds, name)


def load_model(path, input_shape, made_by: str | None = None) -> torch.nn.Module:
    """The model `save_model` wrote to `path`; a damaged file is a one-line error naming it and
    `made_by`, the stage command that writes it (torch.load's own message, which suggests loading
    with weights_only=False, is left out: only plain tensors and containers are ever loaded)."""
    path = require(path, made_by)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an empty, truncated or foreign file: EOFError, UnpicklingError, RuntimeError
        raise corrupt(path, f"it is not a model archive ({type(err).__name__} from torch.load)", made_by) from None
    try:
        model = make_model(Params({"model": saved["model"]}), input_shape, saved["info"]["num_classes"])
        model.load_state_dict(saved["state_dict"])
    except Exception as err:  # other keys, another model's weights: KeyError, TypeError, RuntimeError, MolereError
        raise corrupt(path, f"it does not hold a model as save_model writes it ({type(err).__name__}: {one_line(err)})", made_by) from None
    return model
