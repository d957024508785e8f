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


def test_dvc_yaml_is_checked_by_schemas_compiled_once_with_dvcs_answers():
    import dvc.schema
    import voluptuous

    good = {"stages": {"a": {"cmd": "echo", "outs": ["x"]}, "b": {"foreach": [1, 2], "do": {"cmd": "echo ${item}"}}}}
    bad = {"stages": {"a": {"cmd": "echo", "outz": ["x"]}}}

    def answers():
        results = [dvc.schema.COMPILED_MULTI_STAGE_SCHEMA(good)]
        try:
            dvc.schema.COMPILED_MULTI_STAGE_SCHEMA(bad)
        except voluptuous.MultipleInvalid as err:
            results.append(str(err))
        return results

    dvcs = answers()
    with perrun.shortcuts():
        compiled = dvc.schema.vol.Schema(dvc.schema.STAGE_DEFINITION)
        assert dvc.schema.vol.Schema(dvc.schema.STAGE_DEFINITION) is compiled  # once
        assert answers() == dvcs and "extra keys not allowed @ data['stages']['a']['outz']" in dvcs[1]
    assert dvc.schema.vol is voluptuous  # undone


def test_whether_git_tracks_a_path_is_dulwichs_answer_read_again_once_the_index_changed(tmp_path):
    import subprocess

    from scmrepo.git import Git

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a").mkdir()
    for name in ["a/b.txt", "c.txt", "d.txt"]:
        (tmp_path / name).write_text(name)
    git("add", "a/b.txt", "c.txt")
    paths = ["a", "a/b.txt", "a/b", "c.txt", "d.txt", "e", "."]
    scm = Git(str(tmp_path))
    dulwichs = [scm.is_tracked(str(tmp_path / path)) for path in paths]
    assert dulwichs == [True, True, False, True, False, False, False]  # "." is no file of the index
    with perrun.shortcuts():
        assert [scm.is_tracked(str(tmp_path / path)) for path in paths] == dulwichs
        git("add", "d.txt")
        assert scm.is_tracked(str(tmp_path / "d.txt"))  # the index changed: read again
    scm.close()


def test_dvc_lock_is_parsed_once_per_run_and_written_byte_for_byte_as_dvc_writes_it(tmp_path, monkeypatch):
    import dvc.dvcfile
    import dvc.utils.serialize._yaml as dvc_yaml

    parsed = []
    parse = dvc_yaml.parse_yaml_for_update
    monkeypatch.setattr(dvc_yaml, "parse_yaml_for_update", lambda text, path: parsed.append(path) or parse(text, path))
    updates = [  # what dvc.lock entries hold: floats, ints, lists, strings that read as numbers, long commands
        {"schema": "2.0", "stages": {"a": {"cmd": "echo " + "long " * 40, "params": {"params.yaml": {"train.lr": 0.001, "seeds": [1, 2]}}}}},
        {"stages": {"b": {"cmd": "true", "outs": [{"path": "x", "md5": "1234e5", "size": 3}]}}},
        {"stages": {"a": {"cmd": "echo again", "params": {"params.yaml": {"train.lr": 1e-05, "name": "010"}}}}},
        {"stages": {"c": {"cmd": "c", "deps": [{"path": "d", "md5": "00ff", "nfiles": 2}]}}},
    ]

    def written(path, modify) -> list[bytes]:
        versions = []
        for update in updates:
            with modify(str(path), fs=LocalFileSystem()) as data:
                for key, value in update.items():
                    data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
            versions.append(path.read_bytes())
        return versions

    dvcs = written(tmp_path / "dvcs.lock", dvc.dvcfile.modify_yaml)
    assert len(parsed) == len(updates) - 1  # DVC parses the file before every write but the first
    parsed.clear()
    with perrun.shortcuts():
        ours = written(tmp_path / "ours.lock", dvc.dvcfile.modify_yaml)
        assert parsed == []  # its own writes are never parsed again
        # someone else's write (the same size, its time set back) is parsed, and DVC's update goes on top of it
        lock = tmp_path / "ours.lock"
        before = os.stat(lock)
        lock.write_text(lock.read_text().replace("again", "other"))
        os.utime(lock, ns=(before.st_atime_ns, before.st_mtime_ns))
        with dvc.dvcfile.modify_yaml(str(tmp_path / "ours.lock"), fs=LocalFileSystem()) as data:
            data["stages"]["d"] = {"cmd": "d"}
        assert parsed == [str(tmp_path / "ours.lock")]
    assert ours == dvcs
    assert load_yaml(tmp_path / "ours.lock")["stages"]["a"]["cmd"] == "echo other" and "d" in load_yaml(tmp_path / "ours.lock")["stages"]
    assert dvc.dvcfile.modify_yaml is dvc_yaml.modify_yaml  # undone


def test_which_links_work_is_tested_once_per_pair_of_file_systems_with_dvcs_answer(tmp_path):
    import dvc_data.hashfile.checkout
    from dvc_objects.fs.generic import test_links

    cache, fs = tmp_path / "cache", LocalFileSystem()
    links = ["reflink", "hardlink", "copy"]
    dvcs = test_links(links, fs, str(cache), fs, str(tmp_path / "w" / "x"))  # which makes the cache's folder
    cache.rmdir()  # gone again: the shortcut makes it too
    calls = []
    with perrun.shortcuts():
        once = dvc_data.hashfile.checkout.test_links
        once.test_links = lambda *args: calls.append(args[4]) or test_links(*args)
        answers = [once(links, fs, str(cache), fs, str(tmp_path / path)) for path in ["a/x", "b/c/y", "a/z"]]
        assert once(["copy"], fs, str(cache), fs, str(tmp_path / "a/x")) == ["copy"]  # other link types: tested
    assert answers == [dvcs] * 3 and "copy" in dvcs
    assert calls == [str(tmp_path / "a/x"), str(tmp_path / "a/x")]  # once per pair of devices and list of types
    assert (tmp_path / "b" / "c").is_dir() and cache.is_dir()  # the folders made, as DVC's test makes them
    assert dvc_data.hashfile.checkout.test_links is test_links  # undone
