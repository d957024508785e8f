"""Examples as tensors kept on the training device, served in seeded minibatches by index."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, NamedTuple

import numpy as np
import torch

from molere.data.sources.image_files import ImageFiles
from molere.errors import MolereError, check_choice


class Batch(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor  # positions in the TensorSet, so methods can keep per-example state


@dataclass
class TensorSet:
    """Features, labels and stable ids of a set of examples, on one device.

    uint8 images are stored as they are and normalised per batch (`mean`/`std` per channel), so a
    whole image dataset fits on the GPU. A streamed dataset's images (`ImageFiles`) stay files:
    each batch is decoded (by the files' DataLoader workers, ahead of the step where the order is
    known: `batches`) and moved to the device, then goes the same way, so a run trains the same
    bytes streamed or stored."""

    x: torch.Tensor | ImageFiles
    y: torch.Tensor
    ids: np.ndarray
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None

    @classmethod
    def from_numpy(cls, x, y, ids, device, normalization=None, workers: int = 0) -> "TensorSet":
        """`workers`: the DataLoader workers that decode streamed image files' batches."""
        mean = std = None
        if normalization is not None:
            shape = (1, -1) + (1,) * (x.ndim - 2)
            mean = torch.tensor(normalization[0], device=device).reshape(shape) * 255
            std = torch.tensor(normalization[1], device=device).reshape(shape) * 255
        return cls(
            # a copy: Arrow-backed arrays are read-only
            x=replace(x, workers=workers) if isinstance(x, ImageFiles) else torch.tensor(x, device=device),
            y=torch.tensor(np.asarray(y, dtype=np.int64), device=device),
            ids=np.asarray(ids),
            mean=mean,
            std=std,
        )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def device(self) -> torch.device:
        return self.y.device

    def features(self, index: torch.Tensor | slice, transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """The examples at `index`, `transform`ed as they are stored (uint8 images: an augmentation),
        then normalised."""
        if isinstance(self.x, ImageFiles):
            return self.prepared(self.x[positions(index, len(self))], transform)
        return self.prepared(self.x[index], transform)

    def prepared(self, x: np.ndarray | torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
        """Stored examples `x` (decoded images on the CPU: moved to the device) as a step takes them."""
        x = torch.as_tensor(x).to(self.device)
        if transform is not None:
            x = transform(x)
        if x.is_cuda and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)  # cuDNN's fast layout for convolutions
        if self.mean is None:
            return x.float()
        return (x.float() - self.mean) / self.std

    def batch(self, index: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Batch:
        return Batch(self.features(index, transform), self.y[index], index)

    def batches(self, indices: Iterable[torch.Tensor], transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Iterator[Batch]:
        """`batch(index)` for each of `indices`, in order; a streamed dataset's images decoded
        ahead by its workers (all of `indices` are read first: an epoch's order)."""
        if not isinstance(self.x, ImageFiles):
            yield from (self.batch(index, transform) for index in indices)
            return
        indices = list(indices)
        images = self.x.read(positions(index, len(self)) for index in indices)
        for index, x in zip(indices, images):
            yield Batch(self.prepared(x, transform), self.y[index], index)

    def subset(self, mask: np.ndarray) -> "TensorSet":
        keep = np.flatnonzero(mask)
        x = self.x.take(keep) if isinstance(self.x, ImageFiles) else self.x[torch.as_tensor(keep, device=self.device)]
        return TensorSet(x, self.y[torch.as_tensor(keep, device=self.device)], self.ids[mask], self.mean, self.std)


def positions(index: torch.Tensor | slice, n: int) -> np.ndarray:
    """`index` into a set of `n` examples as positions on the CPU."""
    return np.arange(n)[index] if isinstance(index, slice) else index.cpu().numpy()


def map_batches(data: TensorSet, fn, size: int = 1024) -> torch.Tensor:
    """`fn(batch)` over `data` in order, in chunks of `size` (inference over a whole set without
    holding its activations at once), concatenated as float32 on the CPU."""
    chunks = [fn(batch).float().cpu() for batch in data.batches(torch.arange(len(data), device=data.device).split(size))]
    return torch.cat(chunks) if chunks else torch.zeros(0)


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """A seeded permutation of range(n) cut into minibatches (the last one may be smaller)."""
    order = torch.randperm(n, generator=generator)
    yield from order.split(batch_size)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def reproducible_torch(portable: bool) -> None:
    """What portable mode (molere/portable.py) sets once torch is imported: deterministic
    algorithms (warn_only: on CUDA a few ops, e.g. AdaptiveAvgPool2d's backward, have no
    deterministic kernel, and a warning beats a failed run), no cuDNN autotuning, the fixed thread
    count, oneDNN off; then a check that its environment was in place before torch and numpy were
    imported.
    `portable` false leaves the libraries' fastest choices."""
    from molere.portable import THREADS, unpinned_kernels

    torch.use_deterministic_algorithms(portable, warn_only=True)
    torch.backends.cudnn.deterministic = portable
    # oneDNN blocks convolutions for this CPU's cache sizes: portable mode leaves them to torch's
    # im2col and MKL's products on their vendor-independent branch (molere/portable.py)
    torch.backends.mkldnn.enabled = not portable
    if not portable:
        return
    torch.set_num_threads(THREADS)
    problems = unpinned_kernels()
    if problems:
        raise MolereError(
            f"portable mode (execution.portable: true) is not in effect: {'; '.join(problems)}. Its environment "
            "(molere.portable.portable_environment) must be set before torch and numpy are imported, as "
            "molere-bench does; or set execution.portable: false"
        )


def autocast(device: torch.device):
    """bf16 autocast on CUDA (tensor cores); off elsewhere, so CPU runs stay float32 and exact."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def pick_device(name: str, key: str = "train.device") -> torch.device:
    """`auto` is CUDA when present, else the CPU; `cuda` without a GPU is a one-line error naming
    `key`, the setting it came from."""
    check_choice("device", name, ["auto", "cpu", "cuda"])
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    elif name == "cuda" and not torch.cuda.is_available():
        raise MolereError(f"{key} = 'cuda' but torch finds no CUDA GPU here; allowed here: cpu, auto (the GPU where there is one)")
    return torch.device(name)
