"""Stage `corrupt`: one seed's label corruption of the pool's training part (skew, then noise;
molere/scenarios/corrupt.py), drawn from the seed's `corruption` stream (molere/draws.py): the ids
of the training examples it keeps and their observed labels. The selection split, corrupted once
by `prepare`, is not redrawn. A scenario corrupts the observed labels, so a dataset's own noise
(Clothing-1M, CIFAR-N) stays under it; the generated datasets' observed labels are the clean ones."""

from __future__ import annotations

import pandas as pd

from molere import paths
from molere.data.sources.image_files import rows
from molere.draws import stream_seed
from molere.io import write_table
from molere.params import Params
from molere.scenarios import parse_scenario
from molere.scenarios.corrupt import corrupt_pool
from molere.schema import NoiseConfig, section
from stages.common import load_info, load_prepared_pool


def run(params: Params, scenario: str, seed: int) -> str:
    pool, x = load_prepared_pool(scenario)
    training = ~pool["in_selection"].to_numpy()
    part = pool[training]
    keep, y_observed = corrupt_pool(
        part["y"].to_numpy(),  # the dataset's observed labels: clean unless it has noise of its own
        rows(x, training),
        parse_scenario(scenario),
        load_info(scenario)["num_classes"],
        stream_seed(seed, "corruption"),
        noise_sd=section(params, NoiseConfig).sd,
    )
    write_table(paths.labels(scenario, seed), pd.DataFrame({"id": part["id"].to_numpy()[keep], "y": y_observed}))
    return f"{len(y_observed)} training examples, noise rate {(y_observed != part['y_clean'].to_numpy()[keep]).mean():.4f}"
