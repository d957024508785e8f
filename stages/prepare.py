"""Stage `prepare`: what every seed of a scenario shares (molere/draws.py), as Parquet with
info.json, written together into the scenario's data folder (all computed first, then written):
the pool with its selection split, whose label corruption is drawn here once from `data.seed`,
and whose training part keeps the dataset's observed labels (its clean ones, unless it has noise of
its own) for the `corrupt` stage to corrupt per seed; the clean test set and the OOD shifts; and
the validation sides the dataset supplies, if any (`side-<name>.parquet`, for `lrw-supplied`)."""

from __future__ import annotations

import numpy as np

from molere import paths
from molere.data.load import load_dataset
from molere.data.pool import ood_table, pool_table, side_table, test_table
from molere.data.sources.image_files import rows
from molere.io import atomic_dir, write_examples, write_json
from molere.params import Params
from molere.scenarios import parse_scenario
from molere.scenarios.corrupt import corrupt_pool
from molere.scenarios.noise import noise_summary
from molere.schema import NoiseConfig, OODConfig, section


def run(params: Params, scenario: str) -> str:
    corruption = parse_scenario(scenario)
    ood_config = section(params, OODConfig)
    data, dataset = load_dataset(params.get("data", dict, {}), ood_config, params.source)
    seed = data.seed
    pool, x = pool_table(dataset, data.selection_fraction, seed)
    selection = np.flatnonzero(pool["in_selection"].to_numpy())
    kept, y_observed = corrupt_pool(
        pool["y"].to_numpy()[selection], rows(x, selection), corruption, dataset.num_classes, seed, noise_sd=section(params, NoiseConfig).sd
    )
    keep = np.sort(np.concatenate([np.flatnonzero(~pool["in_selection"].to_numpy()), selection[kept]]))
    pool.loc[selection[kept], "y"] = y_observed
    pool = pool.iloc[keep].reset_index(drop=True)
    pool["is_noisy"] = pool["y"] != pool["y_clean"]
    chosen = pool["in_selection"].to_numpy()
    ood = ood_table(dataset, list(ood_config.severities), ood_config.max_examples)
    info = {
        "dataset": dataset.name,
        "num_classes": dataset.num_classes,
        "normalization": dataset.normalization,
        "pool_size": len(pool),
        "corruption": {
            "noise_kind": corruption.noise_kind,
            "target_noise_rate": corruption.noise_rate,
            "imbalance": corruption.imbalance,
        },
        # realised on the selection split (each seed's training part: its labels.parquet): the
        # noise rate overall and per clean class, and the class sizes after skew
        **noise_summary(pool["y_clean"].to_numpy()[chosen], pool["y"].to_numpy()[chosen], dataset.num_classes),
    }
    if dataset.group_names is not None:  # the names of the tables' `group` ids; no key without groups
        info["group_names"] = dataset.group_names
    first_id = len(x)  # after every pool id (the whole pool's, before skew drops any)
    sides = {}
    for name, side in sorted(dataset.sides.items()):
        sides[name] = side_table(side, first_id)
        first_id += len(side)
    if sides:  # their names and sizes; no key for a dataset that supplies none
        info["sides"] = {name: len(table) for name, (table, _) in sides.items()}
    with atomic_dir(paths.data_dir(scenario)) as out:
        write_examples(out / paths.POOL, pool, rows(x, keep))
        write_examples(out / paths.TEST, *test_table(dataset.test))
        write_examples(out / paths.OOD, *ood)
        for name, side in sides.items():
            write_examples(out / paths.side(scenario, name).name, *side)
        write_json(out / paths.INFO, info)
    return f"pool {len(pool)} examples, test {len(dataset.test.y)}, selection noise rate {info['noise_rate']:.4f}"
