"""`molere-bench bench meta-step`: the table's shape and bookkeeping (no timing assertions)."""

import statistics

import pytest
from typer.testing import CliRunner

from molere.cli import app
from molere.errors import MolereError
from molere_tools.meta_step import Row, _rows, format_table, meta_step_benchmark, parse_shape

STEPS = [
    "ERM step",
    "meta step, JVP (real step reuses its gradient)",
    "meta step, JVP (real step recomputed)",
    "meta step, double backward (real step recomputed)",
]


def test_table_rows_and_ratios():
    rows = meta_step_benchmark("mlp", 8, "cpu", (6,), num_classes=3, repeats=2, warmup=1, epoch_batches=3, epoch_repeats=1, q=2)
    epochs = ["ERM epoch (3 batches)", "LRW epoch, q = 2", "LRW epoch, q = 1 (the default)", "Meta-Weight-Net epoch (its defaults)"]
    assert [row.name for row in rows] == STEPS + epochs
    assert all(row.ms > 0 and row.peak_mib is None for row in rows)
    assert rows[0].ratio == 1.0 and rows[4].ratio == 1.0
    assert all(row.ratio > 0 for row in rows)


def test_ratio_pairs_each_round_with_its_baseline():
    # the machine slows down round by round (ERM: 1, 2, 4 ms); "meta" is 3x ERM in every round;
    # "one slow round" ties with ERM in two rounds of three and is 9x in the other
    rows = _rows({"ERM": [1.0, 2.0, 4.0], "meta": [3.0, 6.0, 12.0], "one slow round": [9.0, 2.0, 4.0]}, {})
    assert [(row.ms, row.ratio) for row in rows] == [(2.0, 1.0), (6.0, 3.0), (4.0, 1.0)]
    # the ratio of the medians, which the pairing replaces, would call it 2x
    assert statistics.median([9.0, 2.0, 4.0]) / statistics.median([1.0, 2.0, 4.0]) == 2.0


def test_markdown_table():
    rows = [Row("ERM step", 2.0, 1.0, None), Row("meta", 5.0, 2.5, 812.4)]
    assert format_table(rows).splitlines() == [
        "| what | ms | x ERM | peak MiB above resident |",
        "|---|---:|---:|---:|",
        "| ERM step | 2.00 | 1.00 | - |",
        "| meta | 5.00 | 2.50 | 812 |",
    ]
    assert format_table(rows[:1]).splitlines()[0] == "| what | ms | x ERM |"


@pytest.mark.parametrize("kernels, optimizer", [("native", "adam"), ("portable", "sgd")])
def test_cli_prints_the_table(kernels, optimizer):
    result = CliRunner().invoke(
        app,
        ["bench", "meta-step", "--model", "cnn1d", "--batch-size", "4", "--input-shape", "16", "--repeats", "1",
         "--epoch-batches", "2", "--q", "2", "--threads", "1", "--clock", "cpu", f"--{'no-' * (kernels == 'native')}portable",
         "--optimizer", optimizer],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"cnn1d, input (16,), batch 4, device cpu, 1 CPU thread(s), {kernels} kernels, clock cpu, classifier optimiser {optimizer}\n"
    )
    assert "| meta step, JVP (real step reuses its gradient) |" in result.output


@pytest.mark.parametrize("text", ["", "3,x", "0,4", "-1"])
def test_bad_input_shape(text):
    with pytest.raises(MolereError, match="is not a comma-separated list of positive sizes"):
        parse_shape(text)


def test_parse_shape():
    assert parse_shape("3,32,32") == (3, 32, 32) and parse_shape("40") == (40,)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"batch_size": 0}, "batch size = 0 is outside"),
        ({"clock": "cycles"}, "unknown clock 'cycles'"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"model": "resnet9000"}, "unknown model 'resnet9000'"),
        ({"model": "resnet18"}, "model 'resnet18' does not take inputs of shape (16,)"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {"model": "cnn1d", "batch_size": 4, "input_shape": (16,), "repeats": 1, **kwargs}
    with pytest.raises(MolereError) as err:
        meta_step_benchmark(**arguments)
    assert message in str(err.value)
