"""Stage `erm`: one seed's first ERM pass of train-twice, on the seed's pool (molere/draws.py: its
labels, and its `rank` stream for the weights and data order), trained on the training part with
model selection on the selection split; the rank stage scores the pool with it. Its model and
history are written together into its folder."""

from __future__ import annotations

import pandas as pd

from molere import paths
from molere.draws import stream_seed
from molere.experiment import save_model, save_timing, train_method
from molere.io import atomic_dir, write_table
from molere.params import Params
from stages.common import load_info, load_pool


def run(params: Params, scenario: str, seed: int) -> str:
    info = load_info(scenario)
    pool, x = load_pool(scenario, seed)
    outcome = train_method(
        "erm",
        params,
        x,
        pool["y"].to_numpy(),
        pool["id"].to_numpy(),
        pool["in_selection"].to_numpy(),
        info,
        stream_seed(seed, "rank"),
        select_on_val=True,
    )
    out = paths.erm_rank_dir(scenario, seed)
    with atomic_dir(out) as tmp:
        save_model(tmp / paths.MODEL, outcome.model, params, info)
        write_table(tmp / paths.HISTORY, pd.DataFrame(outcome.history))
    save_timing(paths.timing(out), outcome, params)
    return f"{len(outcome.history)} epochs"
