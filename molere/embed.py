"""The frozen-feature tier: a backbone run once over a dataset and its features kept (the embed
stage), the data on which every method then trains a head (`data.dataset: features`,
molere/data/sources/features.py; `model: {name: mlp, depth: 0}` is a linear head).

The backbone is a model of the zoo as params.yaml's `model` section gives one (its `weights` a
local state_dict) with its classifier head, its last linear layer, replaced by the identity: a
feature vector is what that layer would read. It runs in eval mode (batch norm on its running
statistics, dropout off) under `torch.inference_mode`, one batch at a time in the examples' order,
so the features depend on the weights and the images only: the same bits on every run, and, in
portable mode, on every machine the model's kernels are portable on.

The embedding's folder (`paths.features_dir`) holds one examples table per split (`val` only where
the dataset has its own) and the OOD shifts' table, each with the label columns the
prepared tables have (`id`, observed `y`, `y_clean`, `is_noisy`, and `group` where the dataset
has groups; the OOD table's `shift` and `severity` too) and the features as an Arrow fixed-shape tensor column (`molere.io.write_examples`),
one such table per validation side the dataset supplies (`side-<name>.parquet`, for `lrw-supplied`
on the features), and info.json (the dataset, its classes, the splits and sides written, the
backbone, the features' width and the group names)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch
from torch import nn

from molere import paths
from molere.data.base import Dataset, Split
from molere.data.pool import labelled, ood_table, with_groups
from molere.data.sources.image_files import ImageFiles, image_blocks
from molere.models.pretrained import head_name
from molere.train.tensors import TensorSet


@dataclass
class Embedded:
    tables: dict[str, tuple[pd.DataFrame, np.ndarray | list[np.ndarray]]]  # file name -> (labels, features)
    info: dict


def backbone(model: nn.Module) -> nn.Module:
    """`model` without its classifier head (replaced by the identity), in eval mode."""
    parent, _, leaf = head_name(model).rpartition(".")
    setattr(model.get_submodule(parent), leaf, nn.Identity())
    return model.eval()


def features(body: nn.Module, x: np.ndarray | ImageFiles, normalization, batch_size: int, device: torch.device) -> np.ndarray:
    """`body`'s float32 output for every example of `x`, in order, `batch_size` at a time: only one
    block of examples is on the device, and of image files only the blocks their DataLoader
    workers are decoding are in memory."""
    chunks = []
    with torch.inference_mode():
        for block in image_blocks(x, batch_size):
            data = TensorSet.from_numpy(block, np.zeros(len(block), dtype=np.int64), np.arange(len(block)), device, normalization)
            chunks.append(body(data.features(slice(None))).float().cpu())
    return torch.cat(chunks).numpy().reshape(len(x), -1)


def embed_dataset(dataset: Dataset, body: nn.Module, batch_size: int, device: torch.device, severities: list[int], max_examples: int | None) -> Embedded:
    """Every split of `dataset`, the validation sides it supplies and its shifts (at `severities`,
    each cut to `max_examples`) through `body`."""
    run = partial(features, body, normalization=dataset.normalization, batch_size=batch_size, device=device)
    tables, splits = {}, []
    for name in paths.EMBEDDED_SPLITS:
        split = getattr(dataset, name)
        if split is not None:
            tables[f"{name}.parquet"] = (labels_of(split), run(split.x))
            splits.append(name)
    for name, side in dataset.sides.items():
        tables[f"{paths.SIDE_PREFIX}{name}.parquet"] = (labels_of(side), run(side.x))
    width = tables[paths.TEST][1].shape[1]
    frame, blocks = ood_table(dataset, severities, max_examples, each=run)  # one shift's images at a time
    # a dataset without shifts has one empty block of images, of no width until it is one of features
    tables[paths.OOD] = (frame, [block if len(block) else np.zeros((0, width), np.float32) for block in blocks])
    info = {"dataset": dataset.name, "num_classes": dataset.num_classes, "width": width, "splits": splits, "severities": list(severities)}
    if dataset.sides:
        info["sides"] = list(dataset.sides)
    if dataset.group_names is not None:
        info["group_names"] = dataset.group_names
    return Embedded(tables, info)


def labels_of(split: Split) -> pd.DataFrame:
    return with_groups(labelled(np.arange(len(split)), split.y, split.y_observed), split.groups)
