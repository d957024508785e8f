"""MNIST-1D (Greydanus 2020), generated offline by the `mnist1d` package (never its downloader).

Its 1-D signals are ten digit templates under random padding, translation, scaling, shear and
correlated + iid noise; `data.mnist1d.num_samples` examples split 80% train / 20% test.

Distribution shift: the test split regenerated (with its own seed) with one generator parameter
moved, at five severities. `mnist1d.data.make_dataset` standardises by the generated set's own
mean and std, which would partly undo a shift, so the generation loop is repeated here and every
shifted set is standardised with the clean dataset's constants."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from molere.data import DATASETS
from molere.data.base import Dataset, Split
from molere.data.configs import Mnist1dConfig
from molere.errors import MolereError, check_choice, check_range

# Generator parameter -> its value at severities 1..5 (defaults: corr_noise_scale 0.25,
# iid_noise_scale 0.02, shear_scale 0.75, max_translation 48, scale_coeff 0.4, padding [36, 60]).
# Graded so that the paper's CNN loses accuracy steadily with severity (docs/design.md,
# "Scenarios": the measured table).
SHIFT_GRIDS: dict[str, list] = {
    "corr_noise_scale": [0.3, 0.35, 0.4, 0.45, 0.5],
    "iid_noise_scale": [0.04, 0.055, 0.07, 0.085, 0.1],
    "shear_scale": [1.5, 2.0, 2.5, 3.0, 4.0],
    "max_translation": [56, 60, 64, 68, 72],  # the padded signal is 72 long: 72 is the most
    "scale_coeff": [0.8, 1.2, 1.6, 2.0, 3.0],
    "padding": [[48, 72], [52, 76], [56, 80], [60, 84], [66, 90]],  # narrower digits
}
SEVERITIES = (1, 5)
# The shifted test sets are drawn with seed + OOD_SEED_OFFSET: new signals, never the training ones.
OOD_SEED_OFFSET = 1000
# The generator makes num_samples // 10 signals per class and keeps 20% for the test split, which
# the shifts regenerate class by class: below 50 some class has no test signal, and no shift any.
MIN_SAMPLES = 50


def generator_args(num_samples: int, seed: int, **changes):
    from mnist1d.data import get_dataset_args

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    for key, value in changes.items():
        setattr(args, key, value)
    return args


def raw_signals(args) -> tuple[np.ndarray, np.ndarray]:
    """`mnist1d.data.make_dataset`'s generation loop (same random draws, so the same signals),
    stopping before it standardises: (unstandardised signals, labels)."""
    from mnist1d.data import get_templates
    from mnist1d.transform import transform
    from mnist1d.utils import set_seed

    templates = get_templates()
    set_seed(args.seed)
    per_class = args.num_samples // len(templates["y"])
    labels = np.repeat(templates["y"], per_class)
    signals = [transform(templates["x"][label], templates["t"], args)[0] for label in labels]
    order = np.random.permutation(len(labels))
    return np.stack(signals)[order], labels[order]


@dataclass(frozen=True)
class RegeneratedShift:
    """A new test set with generator parameter `shift` moved to its value at a severity,
    standardised with the clean dataset's `mean` and `std`."""

    shift: str
    num_samples: int
    seed: int
    mean: float
    std: float

    def __call__(self, severity: int) -> Split:
        check_choice("shift", self.shift, SHIFT_GRIDS)
        check_range("severity", severity, *SEVERITIES)
        value = SHIFT_GRIDS[self.shift][severity - 1]
        x, y = raw_signals(generator_args(self.num_samples, self.seed + OOD_SEED_OFFSET, **{self.shift: value}))
        return Split(((x - self.mean) / self.std).astype(np.float32), y.astype(np.int64))

    def head(self, n: int) -> "RegeneratedShift":
        """The same shift, generating only `n` examples (balanced over the classes)."""
        return replace(self, num_samples=min(n, self.num_samples))


@DATASETS.register("mnist1d")
def mnist1d(config: Mnist1dConfig, seed: int) -> Dataset:
    num_samples = config.num_samples
    if num_samples < MIN_SAMPLES:
        raise MolereError(
            f"data.mnist1d.num_samples = {num_samples} is too small for MNIST-1D's splits: the minimum is {MIN_SAMPLES} "
            "(its 20% test split and the OOD shifts drawn like it need a signal of each of the 10 classes)"
        )
    args = generator_args(num_samples, seed)
    x, y = raw_signals(args)
    mean, std = x.mean(), x.std()
    x = ((x - mean) / std).astype(np.float32)
    y = y.astype(np.int64)
    cut = int(len(y) * args.train_split)
    test = Split(x[cut:], y[cut:])
    return Dataset(
        name="mnist1d",
        num_classes=10,
        train=Split(x[:cut], y[:cut]),
        val=None,
        test=test,
        shifts={name: RegeneratedShift(name, len(test), seed, mean, std) for name in SHIFT_GRIDS},
    )
