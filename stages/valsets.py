"""Stage `valsets`: the hard / easy / random validation sets of size delta from the margins, drawn
from the pool's training part (its selection split is held out of every method's training and
validation)."""

from __future__ import annotations

from molere.io import write_table
from molere.params import Params
from molere.valsets import heuristic_valsets
from molere import paths
from stages.common import load_margins


def run(params: Params, scenario: str) -> None:
    margins = load_margins(scenario)
    margins = margins[~margins["in_selection"]]
    cfg = params.section("valsets")
    splits = heuristic_valsets(
        margins["id"].to_numpy(),
        margins["margin"].to_numpy(),
        margins["y"].to_numpy(),
        delta=cfg.get("fraction", float),
        seed=cfg.get("seed", int),
        stratified=cfg.get("stratified", bool),
    )
    write_table(paths.valsets(scenario), splits)
