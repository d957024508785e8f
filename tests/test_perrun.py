"""The executor's per-run shortcuts around DVC (molere/executor/perrun.py): the same answers as
DVC's own calls, fewer of them; each undone after the run. (The executor's equivalence tests,
tests/test_executor.py, hold a whole run against plain `dvc repro`.)"""

import collections
import os

import dvc.dependency.param
import dvc.output
import dvc.utils.serialize
from dvc.fs import LocalFileSystem
from dvc.utils.serialize import load_yaml

from molere.executor import perrun


def test_a_run_cache_entry_is_the_same_yaml_in_the_same_order(tmp_path):
    entry = collections.OrderedDict(
        cmd="mkdir -p out && echo " + "long " * 40 + "> out/x.txt",  # longer than a folded line
        deps=[{"path": "data/s0", "hash": "md5", "md5": "6c1d.dir", "size": 15, "nfiles": 3}],
        params=collections.OrderedDict({"params.yaml": collections.OrderedDict({"data.seed": 0})}),
        outs=[{"path": "out/x.txt", "hash": "md5", "md5": "13cd", "size": 9}],
    )
    ours, dvcs = tmp_path / "ours.yaml", tmp_path / "dvcs.yaml"
    dvc.utils.serialize.dump_yaml(dvcs, entry)
    with perrun.shortcuts():
        dvc.utils.serialize.dump_yaml(ours, entry)
    assert load_yaml(ours) == load_yaml(dvcs) == entry
    assert list(load_yaml(ours)) == ["cmd", "deps", "params", "outs"]
    assert ours.read_text().splitlines()[0] == f"cmd: {entry['cmd']}"  # unfolded (DVC's folds it), the same string


def test_params_are_read_again_once_the_file_changed(tmp_path):
    path, fs = tmp_path / "params.yaml", LocalFileSystem()
    path.write_text("data: {seed: 0}\ntrain: {lr: 0.1}\n")
    with perrun.shortcuts():
        read = dvc.dependency.param.read_param_file
        first = read(fs, str(path), ["data.seed"], flatten=True)
        first["data.seed"] = 99  # a caller's copy: the next answer is untouched
        assert read(fs, str(path), ["data.seed"], flatten=True) == {"data.seed": 0}
        assert read(fs, str(path), ["train.lr"], flatten=True) == {"train.lr": 0.1}  # another key, its own answer
        path.write_text("data: {seed: 1}\ntrain: {lr: 0.1}\n")
        os.utime(path, ns=(1, 1))  # a new stat even within the filesystem's time resolution
        assert read(fs, str(path), ["data.seed"], flatten=True) == {"data.seed": 1}
    assert dvc.dependency.param.read_param_file is read.read  # undone


def test_an_output_is_ignored_once_per_run_until_its_entry_is_removed(monkeypatch):
    calls = []
    monkeypatch.setattr(dvc.output.Output, "ignore", lambda out: calls.append(("ignore", out.fspath)))
    monkeypatch.setattr(dvc.output.Output, "ignore_remove", lambda out: calls.append(("remove", out.fspath)))
    out = type("Out", (), {"fspath": "/p/out"})()
    with perrun.shortcuts():
        for _ in range(3):
            dvc.output.Output.ignore(out)
        dvc.output.Output.ignore_remove(out)
        dvc.output.Output.ignore(out)
    dvc.output.Output.ignore(out)  # after the run: DVC's own, every time
    assert calls == [("ignore", "/p/out"), ("remove", "/p/out"), ("ignore", "/p/out"), ("ignore", "/p/out")]
