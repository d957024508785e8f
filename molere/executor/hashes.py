"""Each input hashed once per run: DVC's hashes of the stages' files and folders, kept for the run.

DVC hashes a stage's dependencies and outputs over and over while it checks, restores, saves and
caches the stage (`Stage.changed`, the run cache's `_can_hash` before and after the command,
`save_deps`, `save`, `commit`), and `data/<scenario>` again for every stage that reads it. Each
hash of a folder walks it, looks its files up in DVC's state database, hashes its listing and
leaves that listing in fsspec's process-wide in-memory filesystem, whose lookups scan the whole
store (fsspec/filesystem_spec#1906): thousands of stages made that quadratic.

Here every hash DVC builds (`dvc_data`'s `build`) is kept with a signature of what it hashed
(path, size, mtime and inode of the file or of every file under the folder), and served again while
the signature is unchanged; a file a stage rewrote has a new signature, so it is hashed anew, as
DVC's own state database would have it. What DVC stages to commit (a build that is no dry run)
lives in the in-memory filesystem only until the end of the step (`dvcrepo.staged_for` drops it), so
such a build is reused only within its step. The hash is the one DVC computes: only how often
it is computed changes."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from dataclasses import dataclass

from molere.executor import dvcrepo


@dataclass
class Built:
    signature: tuple
    result: tuple  # build's (staging, meta, object)
    step: int | None  # the step whose staging holds its objects; None for a dry run


def signature(path: str) -> tuple:
    """What a hash of `path` depends on: the stat of the file, or of every entry under the folder
    (a file added, removed or rewritten changes it)."""
    stat = os.stat(path)
    if not os.path.isdir(path):
        return (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    entries = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            entries.append((os.path.relpath(os.path.join(root, name), path), st.st_size, st.st_mtime_ns, st.st_ino))
    return (stat.st_mtime_ns, tuple(entries))


class RunHashes:
    """The run's hashes, keyed by path and hash name; `computed` counts DVC's builds of each path."""

    def __init__(self, build):
        self.build = build  # dvc_data's
        self.kept: dict[tuple[str, str], Built] = {}
        self.names: set[str] = set()  # the hash names in `kept`'s keys
        self.computed: Counter = Counter()

    def __call__(self, odb, path, fs, name, dry_run: bool = False, **kwargs) -> tuple:
        if fs.protocol != "local":
            return self.build(odb, path, fs, name, dry_run=dry_run, **kwargs)
        key = (os.path.abspath(path), name)
        try:
            now = signature(path)
        except OSError:  # missing: DVC raises its own error
            return self.build(odb, path, fs, name, dry_run=dry_run, **kwargs)
        kept = self.kept.get(key)
        if kept and kept.signature == now and (dry_run or kept.step == dvcrepo.steps_ended):
            return kept.result
        result = self.build(odb, path, fs, name, dry_run=dry_run, **kwargs)
        self.computed[key[0]] += 1
        self.keep(key, Built(now, result, None if dry_run else dvcrepo.steps_ended))
        return result

    def keep(self, key: tuple[str, str], built: Built) -> None:
        self.kept[key] = built
        self.names.add(key[1])

    def shared(self, paths: list[str]) -> dict:
        """The hashes held for `paths` (under each hash name), with the signature each was computed
        for, for another process's `take`: the Ray worker that runs a stage, or the driver."""
        wanted = [(os.path.abspath(path), name) for path in paths for name in self.names]  # not all of `kept`: it grows with the run
        return {key: (self.kept[key].signature, *self.kept[key].result[1:]) for key in wanted if key in self.kept}

    def take(self, shared: dict, computed: dict) -> None:
        """Hashes another process computed (`shared`), kept as dry runs (it staged nothing here),
        and the counts of its computations of each path (`computed`)."""
        for key, (now, meta, obj) in shared.items():
            kept = self.kept.get(key)
            if kept is None or kept.signature != now:
                self.keep(key, Built(now, (None, meta, obj), None))
        self.computed.update(computed)

    def hash_meta(self, out) -> tuple:
        """`Output._get_hash_meta`: the same hash as a dry run, which stages nothing to discard."""
        odb = out.cache if out.use_cache else out.local_cache
        _, meta, obj = out._build(odb, out.fs_path, out.fs, out.hash_name, ignore=out.dvcignore, dry_run=True)
        return meta, obj.hash_info


@contextlib.contextmanager
def kept_for_run():
    """DVC's hashing through a RunHashes for the block; yields it."""
    import dvc.output

    hashes = RunHashes(dvc.output.build)
    original = dvc.output.build, dvc.output.Output._get_hash_meta
    dvc.output.build = hashes
    dvc.output.Output._get_hash_meta = lambda out: hashes.hash_meta(out)
    try:
        yield hashes
    finally:
        dvc.output.build, dvc.output.Output._get_hash_meta = original

