"""Two of DVC's per-stage costs that the run's hold of the project makes needless, cut for the run.

- DVC's read-write lock (`.dvc/tmp/rwlock`): each check, restore and save of a stage reads and
  rewrites that file twice (several ms each on a slow disk). It keeps two `dvc repro` processes
  off each other's stages while one of them has let the repository lock go; the run holds the
  repository lock from start to end and starts only once no live process is named in the file
  (`runlock`), so no other DVC process can take a stage's files meanwhile.
- params files parsed once per stage that lists params (6-11 ms each with DVC's YAML loader): here
  parsed once per content, kept while the file's stat is unchanged, and each caller gets its own
  copy, as from a fresh parse."""

from __future__ import annotations

import contextlib
import copy
import os


@contextlib.contextmanager
def shortcuts():
    """Both for the block."""
    import dvc.dependency.param
    import dvc.rwlock

    rwlock, load_path = dvc.rwlock.rwlock, dvc.dependency.param.load_path
    dvc.rwlock.rwlock = lambda *args, **kwargs: contextlib.nullcontext()
    dvc.dependency.param.load_path = ParsedOnce(load_path)
    try:
        yield
    finally:
        dvc.rwlock.rwlock, dvc.dependency.param.load_path = rwlock, load_path


class ParsedOnce:
    """DVC's `load_path`, each file's content parsed again only once its stat changed."""

    def __init__(self, load_path):
        self.load_path = load_path
        self.parsed: dict[tuple, object] = {}

    def __call__(self, path, fs, **kwargs):
        if fs.protocol != "local":
            return self.load_path(path, fs, **kwargs)
        try:
            stat = os.stat(path)
        except OSError:  # DVC's own error
            return self.load_path(path, fs, **kwargs)
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino, tuple(sorted(kwargs.items())))
        if key not in self.parsed:
            self.parsed[key] = self.load_path(path, fs, **kwargs)
        return copy.deepcopy(self.parsed[key])
