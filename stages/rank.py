"""Stage `rank`: the probabilistic margin of every example of a seed's pool under its first ERM
pass (molere/draws.py), in the mode `rank.mode` (molere/ranking.py): `in-sample` scores with the erm stage's model, `cross-fit`
trains `rank.folds` ERM models here and scores each fold with the one that never trained on it."""

from __future__ import annotations

from molere import paths
from molere.draws import stream_seed
from molere.experiment import example_set, load_model, to_device, training_device
from molere.io import write_table
from molere.margins import probabilistic_margin
from molere.params import Params
from molere.pipeline import made_by
from molere.ranking import cross_fit_folds, cross_fit_probabilities
from molere.schema import RankConfig, section
from molere.train.loop import predict_proba
from stages.common import load_info, load_pool


def run(params: Params, scenario: str, seed: int) -> str:
    info = load_info(scenario)
    pool, x = load_pool(scenario, seed)
    y, ids = pool["y"].to_numpy(), pool["id"].to_numpy()
    frame = pool[["id", "y", "y_clean", "is_noisy", "in_selection"]].copy()
    config = section(params, RankConfig)
    if config.mode == "in-sample":
        device = training_device(params)
        model = to_device(load_model(paths.erm_rank_model(scenario, seed), x.shape[1:], made_by("erm", scenario=scenario, seed=seed)), device)
        probs = predict_proba(model, example_set(params, info, x, y, ids, device))
    else:
        erm_seed = stream_seed(seed, "rank")
        frame["fold"] = cross_fit_folds(y, config.folds, erm_seed)
        probs = cross_fit_probabilities(params, x, y, ids, info, frame["fold"].to_numpy(), erm_seed)
    frame["margin"] = probabilistic_margin(probs, y)
    frame["pred"] = probs.argmax(1)
    write_table(paths.margins(scenario, seed), frame)
    return f"mean margin {frame['margin'].mean():.4f}"
