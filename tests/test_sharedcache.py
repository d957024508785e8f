"""DVC's cache shared by the run's workers: a reflink never truncates or removes the object at its
final path (molere/executor/sharedcache.py), on a file system that clones and on one that
cannot, and the workers and the driver make their reflinks that way for the run."""

import errno
import os
import subprocess
from pathlib import Path

import pytest
from dvc_objects.fs import generic, system
from dvc_objects.fs.local import LocalFileSystem

from molere.executor import onworker, sharedcache
from molere_tools.sandbox import study_env
from molere_tools.synthetic import make_repo, same_bytes


def clones(folder: Path) -> bool:
    """Whether this machine's file system under `folder` makes reflinks (btrfs, XFS) or not (ext4, tmpfs)."""
    (folder / "probe-src").write_text("probe\n")
    try:
        system.reflink(str(folder / "probe-src"), str(folder / "probe-dst"))
        return True
    except OSError:
        return False
    finally:
        for name in ["probe-src", "probe-dst"]:
            (folder / name).unlink(missing_ok=True)


@pytest.fixture
def pair(tmp_path):
    (tmp_path / "src").write_text("new\n")
    (tmp_path / "dst").write_text("old\n")
    return tmp_path / "src", tmp_path / "dst"


def test_an_atomic_reflink_replaces_the_destination_whole_or_leaves_it_as_it_was(pair):
    src, dst = pair
    inode = dst.stat().st_ino
    if clones(src.parent):
        sharedcache.atomic(system.reflink)(str(src), str(dst))
        assert dst.read_text() == "new\n"
    else:
        with pytest.raises(OSError):
            sharedcache.atomic(system.reflink)(str(src), str(dst))
        assert dst.read_text() == "old\n" and dst.stat().st_ino == inode
    assert sorted(p.name for p in src.parent.iterdir()) == ["dst", "src"]  # no temporary file left


def test_dvcs_own_reflink_removes_the_destination_where_it_cannot_clone(pair):
    """The failure the atomic reflink prevents (where the file system cannot clone)."""
    src, dst = pair
    if clones(src.parent):
        pytest.skip("this file system clones: DVC's reflink truncates and rewrites, it removes nothing")
    with pytest.raises(OSError):
        system.reflink(str(src), str(dst))
    assert not dst.exists()


def failing_reflink(seen: list):
    """A reflink that truncates and removes its destination before it fails, as DVC's does where
    the file system cannot clone; it notes whether `dst` of the transfer was still there."""

    def reflink(src, dst):
        Path(dst).write_text("")
        os.unlink(dst)
        seen.append(Path(seen[0]).exists() and Path(seen[0]).read_text())
        raise OSError(errno.EOPNOTSUPP, "no clones here")

    return reflink


@pytest.mark.parametrize("atomic", [True, False])
def test_dvcs_transfer_onto_an_object_another_process_added_keeps_it_whole_only_when_atomic(pair, monkeypatch, atomic):
    """DVC's add of a file whose object another worker has just added: with the atomic reflink the
    object stays whole while the reflink fails and the copy takes over; without it, it is gone."""
    src, dst = pair
    dst.write_text("new\n")  # the other worker's object: the same bytes
    seen = [str(dst)]
    monkeypatch.setattr(system, "reflink", failing_reflink(seen))
    if atomic:
        monkeypatch.setattr(system, "reflink", sharedcache.atomic(system.reflink))
    generic.transfer(LocalFileSystem(), str(src), LocalFileSystem(), str(dst))
    # DVC tries a reflink once for the object and once more inside its copy (into a temporary file)
    assert len(seen) == 3 and (seen[1:] == ["new\n", "new\n"] if atomic else seen[1] is False)
    assert dst.read_text() == "new\n"  # DVC's copy wrote it in the end, either way


def test_the_context_installs_the_atomic_reflink_and_restores_dvcs(tmp_path):
    original = system.reflink
    with sharedcache.atomic_reflinks():
        assert system.reflink is not original and system.reflink.__qualname__.startswith("atomic.")
    assert system.reflink is original


def test_a_workers_dvc_repo_for_a_run_makes_atomic_reflinks_until_the_run_ends(tmp_path, monkeypatch):
    subprocess.run("git init -q && dvc init -q", shell=True, cwd=tmp_path, env=study_env(), check=True)
    original = system.reflink
    handoff = onworker.Handoff(run="r1", root=str(tmp_path), dvcfile="dvc.yaml", name="s", definition={}, cmd_changed=False, items={}, hashes={})
    monkeypatch.setattr(onworker, "_run", {})
    onworker.for_run(handoff)
    try:
        assert system.reflink.__qualname__.startswith("atomic.")
    finally:
        onworker._run.pop("stack").close()
    assert system.reflink is original


def test_stages_that_write_the_same_bytes_side_by_side_all_commit(tmp_path):
    """Twelve stages, one object: each worker's commit finds it whole; the outputs read back.
    (`python benchmarks/same_bytes.py` builds such a project again and again.)"""
    make_repo(tmp_path, same_bytes(12))
    run = subprocess.run("molere-bench repro", shell=True, cwd=tmp_path, env=study_env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    outputs = list((tmp_path / "out").glob("*.txt"))
    assert len(outputs) == 12 and {p.read_text() for p in outputs} == {"same\n"}
    objects = [p for p in (tmp_path / ".dvc/cache/files").rglob("*") if p.is_file()]
    assert [p.read_text() for p in objects] == ["same\n"]
    status = subprocess.run("dvc status", shell=True, cwd=tmp_path, env=study_env(), capture_output=True, text=True).stdout
    assert "Data and pipelines are up to date" in status
