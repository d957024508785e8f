"""Code fingerprints: which edits change which stage's fingerprint, and that dvc.yaml uses them."""

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from molere.errors import MolereError
from molere.fingerprint import PIPELINE_STAGES, code_files, fingerprint, stage_fingerprint
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
    return {stage: stage_fingerprint(root, stage) for stage in PIPELINE_STAGES}


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


def test_the_stage_writes_one_file_per_stage(code):
    fingerprint_stage.run(code)
    written = {p.stem: p.read_text() for p in (code / "fingerprints").iterdir()}
    assert written == {stage: fp + "\n" for stage, fp in all_fingerprints(code).items()}


def test_every_dvc_stage_depends_on_its_own_fingerprint_and_not_on_the_code():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == {"fingerprint", *PIPELINE_STAGES}
    assert stages["fingerprint"]["deps"] == ["molere", "stages"]
    for name in PIPELINE_STAGES:
        deps = stages[name]["deps"]
        assert f"fingerprints/{name}.sha256" in deps, name
        assert not any(d in ("molere", "stages") or d.startswith("stages/") for d in deps), name


def test_the_project_fingerprints_cover_its_real_modules(tmp_path):
    for name in ["molere", "stages"]:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    files = {p.as_posix() for p in code_files(tmp_path, "train")}
    assert {"molere/cli.py", "molere/methods/lrw.py", "stages/common.py", "stages/train.py"} <= files
    assert "stages/report.py" not in files
