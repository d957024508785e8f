"""Stage fingerprints: which code edits and which params changes change which stage's
fingerprint, what a stage may read of params, and that dvc.yaml uses the fingerprints."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from molere.errors import MolereError
from molere.fingerprint import (
    PIPELINE_STAGES,
    code_files,
    code_fingerprint,
    declared_params,
    fingerprint,
    stage_params,
)
from molere.params import Params
from stages import fingerprint as fingerprint_stage

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def code(tmp_path):
    """A miniature project: a library of two modules, the shared helpers, every stage's module."""
    for name in ["molere/__init__.py", "molere/core/model.py", "stages/__init__.py", "stages/paths.py"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\n")
    for stage in (*PIPELINE_STAGES, "fingerprint"):
        (tmp_path / f"stages/{stage}.py").write_text(f"# stage {stage}\n")
    return tmp_path


def all_fingerprints(root):
    return {stage: code_fingerprint(root, stage) for stage in PIPELINE_STAGES}


def study_params(**changes) -> Params:
    """Every section a stage reads, for a study of two methods; `changes` sets dotted keys."""
    params = Params(
        {
            "study": {"scenarios": ["clean"], "methods": ["erm", "focal"], "seeds": [0]},
            "data": {"seed": 0}, "noise": {"sd": 0.1}, "ood": {"severities": [1]},
            "model": {"name": "mlp"}, "train": {"epochs": 2}, "erm": {"seed": 0},
            "rank": {"mode": "in-sample"}, "split": {"delta": 0.1},
            "methods": {"erm": {}, "focal": {"gamma": 2.0}, "jtt": {"upweight": 6.0}},
        }
    )
    for key, value in changes.items():
        params.override(key.replace("__", "."), value)
    return params


def written_fingerprints(root, params) -> dict:
    fingerprint_stage.run(params, root)
    return {p.relative_to(root / "fingerprints").as_posix(): json.loads(p.read_text()) for p in (root / "fingerprints").rglob("*.json")}


def test_a_stage_reads_the_library_the_helpers_and_its_own_module_only(code):
    assert [p.as_posix() for p in code_files(code, "split")] == [
        "molere/__init__.py",
        "molere/core/model.py",
        "stages/__init__.py",
        "stages/paths.py",
        "stages/split.py",
    ]


def test_fingerprint_is_sha256_over_paths_and_contents(tmp_path):
    (tmp_path / "a.py").write_bytes(b"x = 1\n")
    expected = hashlib.sha256(b"a.py\0" + hashlib.sha256(b"x = 1\n").digest()).hexdigest()
    assert fingerprint(tmp_path, [Path("a.py")]) == expected


def test_a_stage_module_edit_changes_only_that_stage(code):
    before = all_fingerprints(code)
    (code / "stages/split.py").write_text("# stage split, edited\n")
    after = all_fingerprints(code)
    assert [s for s in PIPELINE_STAGES if before[s] != after[s]] == ["split"]


def test_a_library_or_helper_edit_changes_every_stage(code):
    for edited in ["molere/core/model.py", "stages/paths.py"]:
        before = all_fingerprints(code)
        (code / edited).write_text("# edited\n")
        after = all_fingerprints(code)
        assert all(before[s] != after[s] for s in PIPELINE_STAGES), edited


def test_a_rename_changes_the_fingerprint(code):
    before = all_fingerprints(code)
    (code / "molere/core/model.py").rename(code / "molere/core/models.py")
    assert all(before[s] != fp for s, fp in all_fingerprints(code).items())


def test_bytecode_and_the_fingerprint_stage_do_not_count(code):
    before = all_fingerprints(code)
    (code / "molere/__pycache__").mkdir()
    (code / "molere/__pycache__/__init__.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (code / "molere/core/stray.pyc").write_bytes(b"\x00bytecode")
    (code / "stages/fingerprint.py").write_text("# the fingerprint stage, edited\n")
    assert all_fingerprints(code) == before


def test_unknown_stage_lists_the_pipeline_stages(code):
    with pytest.raises(MolereError, match=r"unknown pipeline stage 'trian'; allowed: .*train"):
        code_files(code, "trian")


def test_train_declares_its_own_method_section_only():
    assert stage_params("train", "lrw-hard") == ("model", "train", "methods.lrw-hard")
    with pytest.raises(MolereError, match="stage train needs a method"):
        stage_params("train")
    with pytest.raises(MolereError, match="stage split takes no method"):
        stage_params("split", "erm")


def test_the_stage_writes_one_file_per_stage_and_per_method_for_train(code):
    params = study_params()
    written = written_fingerprints(code, params)
    assert sorted(written) == ["erm.json", "evaluate.json", "prepare.json", "rank.json", "report.json",
                               "split.json", "train/erm.json", "train/focal.json"]
    assert written["train/focal.json"] == {
        "stage": "train",
        "method": "focal",
        "code": code_fingerprint(code, "train"),
        "params": {"model": {"name": "mlp"}, "train": {"epochs": 2}, "methods.focal": {"gamma": 2.0}},
    }
    assert written["split.json"]["params"] == {"split": {"delta": 0.1}}
    assert written["evaluate.json"]["params"] == {"study.methods": ["erm", "focal"], "study.seeds": [0]}


@pytest.mark.parametrize(
    "change, changed",
    [
        ({"methods__focal__gamma": 1.0}, {"train/focal.json"}),
        ({"methods__jtt__upweight": 2.0}, set()),  # jtt is not in the study
        ({"train__epochs": 3}, {"erm.json", "rank.json", "train/erm.json", "train/focal.json"}),
        ({"methods__erm__x": 1}, {"erm.json", "rank.json", "train/erm.json"}),
        ({"data__seed": 1}, {"prepare.json"}),
        ({"study__seeds": [0, 1]}, {"evaluate.json", "report.json"}),
        ({"study__scenarios": ["clean", "idn-40"]}, {"report.json"}),
        ({"execution__cpus_per_stage": 2, "execution__gpus_per_train": 0.5}, set()),  # how, not what
    ],
)
def test_a_params_change_changes_only_the_fingerprints_of_stages_that_read_it(code, change, changed):
    before = written_fingerprints(code, study_params())
    after = written_fingerprints(code, study_params(**change))
    assert {name for name in before if before[name] != after[name]} == changed


def test_a_stage_is_handed_only_the_keys_it_declares():
    params = declared_params(study_params(), "train", "focal")
    assert params.data == {"model": {"name": "mlp"}, "train": {"epochs": 2}, "methods": {"focal": {"gamma": 2.0}}}
    assert params.get("methods.focal.gamma", float) == 2.0
    with pytest.raises(MolereError, match=r"^stage train reads params key 'data.seed' but declares only model, train, methods.focal$"):
        params.get("data.seed", int, 0)  # a default is no way round the declaration
    with pytest.raises(MolereError, match=r"stage train reads params key 'methods.erm'"):
        params.get("methods.erm", dict, {})
    with pytest.raises(MolereError, match=r"stage train reads params key 'methods' but"):
        params.get("methods", dict)  # a parent would be the declared part of it, silently
    assert params.section("methods.focal").get("gamma", float) == 2.0


def test_every_dvc_stage_depends_on_its_own_fingerprint_and_reads_neither_code_nor_params():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == {"fingerprint", *PIPELINE_STAGES}
    assert stages["fingerprint"]["deps"] == ["molere", "stages"]
    assert stages["fingerprint"]["params"] == [{"params.yaml": None}]  # the whole file
    for name in PIPELINE_STAGES:
        deps = stages[name]["deps"]
        own = "fingerprints/train/${item.method}.json" if name == "train" else f"fingerprints/{name}.json"
        assert own in deps, name
        assert not any(d in ("molere", "stages") or d.startswith("stages/") for d in deps), name
        assert "params" not in stages[name], name


def test_the_project_fingerprints_cover_its_real_modules(tmp_path):
    for name in ["molere", "stages"]:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    files = {p.as_posix() for p in code_files(tmp_path, "train")}
    assert {"molere/cli.py", "molere/methods/lrw.py", "stages/common.py", "stages/train.py"} <= files
    assert "stages/report.py" not in files
