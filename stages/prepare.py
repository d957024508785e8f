"""Stage `prepare`: the scenario's corrupted pool, clean test set and OOD shifts as Parquet."""

from __future__ import annotations

from molere.corruption import corrupt_pool
from molere.data import DATASETS
from molere.data.pool import ood_table, pool_table, test_table
from molere.io import write_examples, write_json
from molere.params import Params
from molere.scenarios import parse_scenario
from stages import paths


def run(params: Params, scenario_name: str) -> None:
    scenario = parse_scenario(scenario_name)
    data_cfg = params.section("data")
    dataset = DATASETS.get(data_cfg.get("dataset", str))(data_cfg)
    seed = data_cfg.get("seed", int)
    pool, x = pool_table(dataset, data_cfg.get("val_fraction", float), seed)
    keep, y_observed = corrupt_pool(pool["y"].to_numpy(), x, scenario, dataset.num_classes, seed)
    pool = pool.iloc[keep].reset_index(drop=True)
    pool["y"] = y_observed
    pool["is_noisy"] = pool["y"] != pool["y_clean"]
    write_examples(paths.pool(scenario_name), pool, x[keep])
    write_examples(paths.test(scenario_name), *test_table(dataset.test))
    write_examples(paths.ood(scenario_name), *ood_table(dataset, params.get("ood.severities", list)))
    write_json(
        paths.info(scenario_name),
        {
            "dataset": dataset.name,
            "num_classes": dataset.num_classes,
            "normalization": dataset.normalization,
            "pool_size": len(pool),
            "noise_rate": float(pool["is_noisy"].mean()),
        },
    )
