"""Unstable cells (molere/report/stability.py) on hand-made results tables, and where the claims
name them."""

import pandas as pd

from molere.report import claims
from molere.report.stability import Unstable, unstable_cells

CHANCE = 0.1  # ten classes


def table(per_method: dict[str, list[float]], ood: float = 0.5) -> pd.DataFrame:
    rows = [
        {"method": method, "seed": seed, "id_acc": acc, "ood_acc": ood}
        for method, accs in per_method.items()
        for seed, acc in zip((3, 1, 2), accs)  # out of seed order: the cell lists them in order
    ]
    return pd.DataFrame(rows)


def test_a_wide_range_and_a_seed_near_chance_are_named_with_the_per_seed_values():
    results = table({"erm": [0.553, 0.364, 0.592], "cvar-dro": [0.929, 0.723, 0.893], "jtt": [0.25, 0.19, 0.22], "focal": [0.9, 0.91, 0.92]})
    found = unstable_cells(results, ["erm", "cvar-dro", "jtt", "focal"], CHANCE)
    assert found == [
        Unstable("erm", "id_acc", {1: 0.364, 2: 0.592, 3: 0.553}, ("range 22.8 points, over 15",)),
        Unstable("cvar-dro", "id_acc", {1: 0.723, 2: 0.893, 3: 0.929}, ("range 20.6 points, over 15",)),
        Unstable("jtt", "id_acc", {1: 0.19, 2: 0.22, 3: 0.25}, ("a seed below chance + 10 points, 20%",)),
    ]
    assert found[0].text() == "erm ID 36.4 / 59.2 / 55.3% over seeds 1, 2, 3 (range 22.8 points, over 15)"
    assert found[2].json() == {
        "method": "jtt", "metric": "id_acc", "per_seed": {"1": 0.19, "2": 0.22, "3": 0.25}, "why": ["a seed below chance + 10 points, 20%"]
    }


def test_a_spread_at_or_below_the_threshold_is_not_named():
    results = table({"erm": [0.55, 0.40, 0.50], "focal": [0.80, 0.651, 0.70], "l2rw": [0.20, 0.30, 0.25]})
    assert unstable_cells(results, ["erm", "focal", "l2rw"], CHANCE) == []  # ranges 15.0 and 14.9; lowest seed at chance + 10
    assert unstable_cells(table({"jtt": [0.15, 0.16, 0.17]}), ["jtt"], None) == []  # no chance rule without classes


def test_ood_accuracy_counts_too():
    (cell,) = unstable_cells(table({"erm": [0.9, 0.9, 0.9]}, ood=0.15), ["erm"], CHANCE)
    assert (cell.metric, cell.reasons) == ("ood_acc", ("a seed below chance + 10 points, 20%",))


def test_every_verdict_names_the_unstable_cells_of_its_methods():
    results = table({"erm": [0.553, 0.364, 0.592], "lrw-easy": [0.50, 0.45, 0.52], "lrw-hard": [0.6, 0.6, 0.61]})
    margins = pd.DataFrame(columns=["method", "seed", "set", "id", "margin"])
    judgement = claims.judge({"idn-40": claims.Tables(results, margins, "x", CHANCE)}, (claims.CLAIMS[1],))
    (row,) = judgement.verdicts.itertuples()
    assert [cell.method for cell in row.unstable] == ["erm"]  # lrw-easy's 7-point range is not named
    cell = claims.claims_json(judgement)["idn-40"]["easy-below-erm"]
    assert cell["unstable"] == [{"method": "erm", "metric": "id_acc", "per_seed": {"1": 0.364, "2": 0.592, "3": 0.553}, "why": ["range 22.8 points, over 15"]}]
