"""Study presets (studies/*.yaml) and `molere-bench repro --preset`: each preset, as the -S
overrides it amounts to, gives params that pass every check a run makes before it starts."""

from pathlib import Path

import pytest
import yaml

from molere.errors import MolereError
from molere.executor.dvcrepo import forced
from molere.methods import METHODS
from molere.stage_cli import load_params
from molere.trials import method_spaces
from molere_tools.presets import as_overrides, read_preset
from test_cli import assert_one_line_error, run_cli

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "studies").glob("*.yaml"))


def test_a_preset_is_the_overrides_of_its_leaves():
    preset = {"study": {"scenarios": ["clean", "idn-40+trusted"], "trials": [0]}, "data": {"cifar10": {"root": "/d", "human_labels": None}},
              "train": {"lr": 0.1, "device": "cuda"}, "methods": {"focal": {}}}
    assert as_overrides(preset) == [
        'study.scenarios=["clean", "idn-40+trusted"]', "study.trials=[0]", 'data.cifar10.root="/d"',
        "data.cifar10.human_labels=null", "train.lr=0.1", 'train.device="cuda"', "methods.focal={}",
    ]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_every_preset_passes_the_checks_of_a_run(preset, tmp_path):
    overrides = as_overrides(read_preset(preset))
    params = load_params(str(ROOT / "params.yaml"), overrides)  # the schema, the open sections' configs
    # and written into params.yaml as `repro` writes them (DVC's Hydra overrides), each value as given
    from dvc.utils.hydra import apply_overrides

    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    apply_overrides(tmp_path / "params.yaml", [forced(override) for override in overrides])
    written = load_params(str(tmp_path / "params.yaml"), [])
    for override in overrides:
        key, _, value = override.partition("=")
        assert params.get(key, object) == written.get(key, object) == yaml.safe_load(value), key
    # and the check every train stage makes before it trains: each searched key's trial-0 value lies
    # in its search space, for every method the study runs
    for method in written.get("study.methods", list):
        method_spaces(written, METHODS.get(method))


def test_a_preset_with_a_value_outside_its_search_space_is_refused(tmp_path):
    """The check above can fail: SGD's learning rate under params.yaml's Adam range."""
    overrides = [override for override in as_overrides(read_preset(ROOT / "studies/cifar100-resnet32.yaml")) if not override.startswith("search.")]
    params = load_params(str(ROOT / "params.yaml"), overrides)
    with pytest.raises(MolereError, match=r"^train.lr = 0.1 is outside its own search space log-uniform\(0.001, 0.05\)"):
        method_spaces(params, METHODS.get("erm"))


def test_a_preset_that_breaks_a_check_is_refused_as_its_override_would_be(tmp_path):
    (tmp_path / "typo.yaml").write_text("trian: {steps: 10}\n")
    with pytest.raises(MolereError, match=r"unknown params key 'trian'; did you mean 'train'"):
        load_params(str(ROOT / "params.yaml"), as_overrides(read_preset(tmp_path / "typo.yaml")))


@pytest.mark.parametrize(
    "text, message",
    [(None, "preset nope.yaml not found; the presets: "), ("train: [1, 2\n", "preset nope.yaml is not YAML: "),
     ("steps: 10\n", "preset nope.yaml should be a mapping of params sections")],
)
def test_a_bad_preset_is_one_line(tmp_path, text, message):
    if text is not None:
        (tmp_path / "nope.yaml").write_text(text)
    result = run_cli(["repro", "--preset", "nope.yaml"], tmp_path)
    assert_one_line_error(result, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["nope.yaml"] if text else [])  # nothing written
