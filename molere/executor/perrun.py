"""DVC's per-stage costs that the run's hold of the project makes needless, cut for the run.

- DVC's read-write lock (`.dvc/tmp/rwlock`): each check, restore and save of a stage reads and
  rewrites that file twice (several ms each on a slow disk). It keeps two `dvc repro` processes
  off each other's stages while one of them has let the repository lock go; the run holds the
  repository lock from start to end and starts only once no live process is named in the file
  (`runlock`), so no other DVC process can take a stage's files meanwhile.
- params files parsed once per stage that lists params (6-11 ms each with DVC's YAML loader), then
  copied whole and walked whole (dpath) for each key a stage lists, several times per stage (its
  check, its run-cache key before and after the command, its save): here each file is parsed once
  per content and each stage's keys looked up once, kept while the file's stat is unchanged, and
  each caller gets its own copy of what it asked for, as from a fresh read.
- each output's `.gitignore` entry: DVC asks git whether the output is tracked and adds it to its
  `.gitignore` every time it saves or commits the output (several times per stage, each a parse
  of the ignore files); here once per output and run (until DVC removes the entry again).
- each run-cache entry written by ruamel's round-trip YAML dumper (20 ms a stage): here by
  libyaml's, as the same YAML (DVC reads an entry by its values and names it by their hash).
- each stage definition of dvc.yaml checked against a schema that voluptuous compiles anew for
  it (DVC's `either_or`: 6 ms a stage, every time dvc.yaml is loaded): here each of the two
  schemas compiled once; a compiled schema keeps no state between calls.
- whether git tracks an output, asked once per output before DVC ignores it: git's index parsed
  anew for each (8 ms an output); here once per content of the index (its stat).
- which link types work from the cache to an output's folder, tested before every checkout by
  creating, linking and removing two files (DVC's `test_links`: 2 ms a stage, its commit's
  relink); here once per file system of the cache and of the folder (their devices), which a run
  does not change.
- dvc.lock parsed whole by ruamel's round-trip loader before each write of it (2.7 s at 1,027
  stages, two thirds of a write; the run's last write keeps the cores idle): here the document
  DVC wrote last is kept and updated again while the file's stat is still the one that write
  left, so the run parses the file once. DVC's dump of a document it loaded is the same YAML as
  its dump of the document before, so the file's bytes are those of a fresh parse."""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import os


@contextlib.contextmanager
def shortcuts():
    """Each of them, for the block."""
    import dvc.dependency.param
    import dvc.dvcfile
    import dvc.output
    import dvc.rwlock
    import dvc.schema
    import dvc.utils.serialize
    import dvc_data.hashfile.checkout
    from scmrepo.git.backend.dulwich import DulwichBackend

    param = dvc.dependency.param
    rwlock, load_path, read_param_file = dvc.rwlock.rwlock, param.load_path, param.read_param_file
    ignore, ignore_remove = dvc.output.Output.ignore, dvc.output.Output.ignore_remove
    ignored: set[str] = set()
    dump_yaml = dvc.utils.serialize.dump_yaml  # the run cache's, which imports it when it writes
    dvc.utils.serialize.dump_yaml = lambda path, data, fs=None, **kwargs: dumped(path, data, fs, dump_yaml, **kwargs)
    dvc.rwlock.rwlock = lambda *args, **kwargs: contextlib.nullcontext()
    param.load_path = ReadOnce(load_path, path_at=0)  # load_path(path, fs, **kwargs)
    param.read_param_file = ReadOnce(read_param_file, path_at=1)  # read_param_file(fs, path, key_paths, **kwargs)
    dvc.output.Output.ignore = lambda out: ignored_once(out, ignore, ignored)
    dvc.output.Output.ignore_remove = lambda out: unignored(out, ignore_remove, ignored)
    voluptuous, is_tracked = dvc.schema.vol, DulwichBackend.is_tracked
    dvc.schema.vol = CompiledOnce(voluptuous)  # the module `either_or`'s validator looks up when called
    tracked = TrackedOnce()
    DulwichBackend.is_tracked = lambda backend, path: tracked.is_tracked(backend, path)
    checkout, test_links = dvc_data.hashfile.checkout, dvc_data.hashfile.checkout.test_links
    checkout.test_links = LinksOnce(test_links)
    modify_yaml = dvc.dvcfile.modify_yaml
    dvc.dvcfile.modify_yaml = KeptDocuments(modify_yaml)
    try:
        yield
    finally:
        dvc.rwlock.rwlock, param.load_path, param.read_param_file = rwlock, load_path, read_param_file
        dvc.output.Output.ignore, dvc.output.Output.ignore_remove = ignore, ignore_remove
        dvc.utils.serialize.dump_yaml = dump_yaml
        dvc.schema.vol, DulwichBackend.is_tracked = voluptuous, is_tracked
        checkout.test_links, dvc.dvcfile.modify_yaml = test_links, modify_yaml


@functools.cache
def libyaml_dumper():
    """libyaml's safe dumper, writing DVC's OrderedDicts as mappings in their order."""
    import yaml

    class Dumper(yaml.CSafeDumper):
        pass

    Dumper.add_representer(collections.OrderedDict, Dumper.represent_dict)
    return Dumper


def dumped(path, data, fs, dump_yaml, **kwargs) -> None:
    """`data` (plain mappings, lists and scalars) as YAML at local `path`, by libyaml; anything
    else by DVC's `dump_yaml`."""
    import yaml

    if fs is not None or kwargs or not getattr(yaml, "CSafeDumper", None):
        return dump_yaml(path, data, fs, **kwargs)
    try:
        text = yaml.dump(data, Dumper=libyaml_dumper(), sort_keys=False, allow_unicode=True, width=1 << 30)  # no folded lines
    except yaml.representer.RepresenterError:  # a type of DVC's own
        return dump_yaml(path, data, fs)
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def ignored_once(out, ignore, ignored: set[str]) -> None:
    """DVC's `Output.ignore` for an output not yet ignored in this run."""
    if out.fspath not in ignored:
        ignore(out)
        ignored.add(out.fspath)


def unignored(out, ignore_remove, ignored: set[str]) -> None:
    """DVC's `Output.ignore_remove`; the next `ignore` of the output is DVC's again."""
    ignored.discard(out.fspath)
    ignore_remove(out)


class ReadOnce:
    """A DVC function that reads the local file `args[path_at]` (its filesystem the other of its
    first two arguments), each answer computed again only once the file's stat changed; each caller
    gets its own copy."""

    def __init__(self, read, path_at: int):
        self.read = read
        self.path_at = path_at
        self.answers: dict[tuple, object] = {}

    def __call__(self, *args, **kwargs):
        path, fs = args[self.path_at], args[1 - self.path_at]
        if fs.protocol != "local":
            return self.read(*args, **kwargs)
        try:
            stat = os.stat(path)
        except OSError:  # DVC's own error
            return self.read(*args, **kwargs)
        rest = tuple(tuple(arg) if isinstance(arg, list) else arg for arg in args[2:])  # read_param_file's key list
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino, rest, tuple(sorted(kwargs.items())))
        if key not in self.answers:
            self.answers[key] = self.read(*args, **kwargs)
        return copy.deepcopy(self.answers[key])


class CompiledOnce:
    """The voluptuous module, but `Schema(definition)` compiles each definition once (DVC's are
    module-level constants, kept alive here so their ids stay theirs)."""

    def __init__(self, voluptuous):
        self.voluptuous = voluptuous
        self.compiled: dict[int, tuple] = {}

    def __getattr__(self, name: str):
        return getattr(self.voluptuous, name)

    def Schema(self, definition):  # noqa: N802 (voluptuous' name)
        if id(definition) not in self.compiled:
            self.compiled[id(definition)] = (definition, self.voluptuous.Schema(definition))
        return self.compiled[id(definition)][1]


class LinksOnce:
    """dvc_objects' `test_links(links, from_fs, from_path, to_fs, to_path)`: which of `links` work
    from the folder `from_path` to the folder of `to_path`, tested once per pair of local devices
    (both folders made, as the test makes them)."""

    def __init__(self, test_links):
        self.test_links = test_links
        self.answers: dict[tuple, list[str]] = {}

    def __call__(self, links, from_fs, from_path, to_fs, to_path):
        if from_fs.protocol != "local" or to_fs.protocol != "local":
            return self.test_links(links, from_fs, from_path, to_fs, to_path)
        folder = to_fs.parent(to_path)
        from_fs.makedirs(from_path)
        to_fs.makedirs(folder)
        key = (tuple(links), os.stat(from_path).st_dev, os.stat(folder).st_dev)
        if key not in self.answers:
            self.answers[key] = self.test_links(links, from_fs, from_path, to_fs, to_path)
        return list(self.answers[key])


class KeptDocuments:
    """DVC's `modify_yaml(path, fs)` for its dvc.yaml and dvc.lock files: the document it yields
    to be updated is, while the local file's stat is the one DVC's last write of it left, that
    written document itself (only DVC's writes, one at a time, update it), else the file parsed."""

    def __init__(self, modify_yaml):
        self.modify_yaml = modify_yaml
        self.written: dict[str, tuple[tuple, object]] = {}  # path -> (its stat after the write, the document)

    @contextlib.contextmanager
    def __call__(self, path, fs=None):
        from dvc.utils.serialize._yaml import _dump

        if fs is not None and fs.protocol != "local":
            with self.modify_yaml(path, fs=fs) as data:
                yield data
            return
        path = os.path.abspath(path)
        kept = self.written.pop(path, None)
        if kept is None or kept[0] != file_stat(path):
            with self.modify_yaml(path, fs=fs) as data:
                yield data
        else:
            data = kept[1]
            yield data
            with open(path, "w+", encoding="utf-8") as file:  # as DVC's `_dump_data`
                _dump(data, file)
        self.written[path] = (file_stat(path), data)


def file_stat(path: str) -> tuple | None:
    """What changes when anyone rewrites the file (None: there is none)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


class TrackedOnce:
    """scmrepo's dulwich `is_tracked` (a path is tracked if the index holds it or a file under
    it), the index's paths read once per stat of the index file."""

    def __init__(self):
        self.paths: dict[tuple, frozenset[bytes]] = {}

    def is_tracked(self, backend, path: str) -> bool:
        index = backend.repo.index_path()
        try:
            stat = os.stat(index)
        except OSError:  # no index yet: nothing is tracked
            return False
        key = (index, stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if key not in self.paths:
            self.paths = {key: tracked_paths(backend.repo.open_index())}
        from scmrepo.utils import relpath

        rel = relpath(path, backend.root_dir).replace(os.path.sep, "/").encode()
        return rel in self.paths[key]


def tracked_paths(index) -> frozenset[bytes]:
    """The index's file paths and every folder above them."""
    paths = set()
    for path in index:
        paths.add(path)
        parts = path.split(b"/")
        paths.update(b"/".join(parts[:k]) for k in range(1, len(parts)))
    return frozenset(paths)
