"""Stage `rank`: the probabilistic margin of every pool example under the first ERM pass."""

from __future__ import annotations

from molere.experiment import load_model
from molere.io import write_table
from molere.margins import probabilistic_margin
from molere.params import Params
from molere.train.loop import predict_proba
from molere.train.tensors import TensorSet
from stages import paths
from stages.common import load_examples, load_info


def run(params: Params, scenario: str) -> None:
    info = load_info(scenario)
    pool, x = load_examples(paths.pool(scenario), scenario)
    model = load_model(paths.erm_rank_dir(scenario) / "model.pt", x.shape[1:])
    data = TensorSet.from_numpy(x, pool["y"], pool["id"], "cpu", info.get("normalization"))
    probs = predict_proba(model, data)
    frame = pool[["id", "y", "y_clean", "is_noisy", "split"]].copy()
    frame["margin"] = probabilistic_margin(probs, pool["y"].to_numpy())
    frame["pred"] = probs.argmax(1)
    write_table(paths.margins(scenario), frame)
