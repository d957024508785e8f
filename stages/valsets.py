"""Stage `valsets`: one seed's hard / easy / random validation sets of size delta from its margins
(the random one from the seed's `valsets` stream, molere/draws.py), drawn from the pool's training
part (its selection split is held out of every method's training and validation); by default
delta of each class (`valsets.stratified`). A class too small for its share is a one-line error
before anything is written."""

from __future__ import annotations

from molere import paths
from molere.draws import stream_seed
from molere.io import write_table
from molere.params import Params
from molere.schema import ValsetsConfig, section
from molere.valsets import heuristic_valsets
from stages.common import load_margins


def run(params: Params, scenario: str, seed: int) -> str:
    margins = load_margins(scenario, seed)
    margins = margins[~margins["in_selection"]]
    config = section(params, ValsetsConfig)
    splits = heuristic_valsets(
        margins["id"].to_numpy(),
        margins["margin"].to_numpy(),
        margins["y"].to_numpy(),
        delta=config.fraction,
        seed=stream_seed(seed, "valsets"),
        stratified=config.stratified,
    )
    write_table(paths.valsets(scenario, seed), splits)
    return f"{int(splits['hard'].sum())} examples per side"
