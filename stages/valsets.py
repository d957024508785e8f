"""Stage `split`: the hard / easy / random validation sets of size delta from the margins, drawn
from the pool's training part (its selection split is held out of every method's training and
validation)."""

from __future__ import annotations

from molere.io import read_table, write_table
from molere.params import Params
from molere.valsets import heuristic_valsets
from molere import paths


def run(params: Params, scenario: str) -> None:
    margins = read_table(paths.margins(scenario), made_by=f"rank --scenario {scenario}")
    margins = margins[~margins["in_selection"].astype(bool)]
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
