"""A run with nothing to do, decided in one pass, without DVC's check of every stage.

DVC's check of a stage (`Stage.changed`) edits its read-write lock file several times, parses the
params files again for every stage that lists params, and looks up every dependency and output
(10-20 ms a stage); even loading the stages (DVC's index: dvc.yaml parsed and validated, each
stage built) costs a few ms each. After a run in which every stage ended up to date, ran or was
restored, with dvc.lock written, the project is up to date by DVC's own word; that run leaves a
record (RECORD, in DVC's tmp folder) of what DVC's decision rests on:

- the bytes of every file DVC reads to load the stages: dvc.yaml and .dvc files, dvc.lock, the
  params and vars files, .dvcignore, DVC's config. Each stage's definition, its dvc.lock entry
  and the params it is compared against are a function of these;
- the folders DVC walks to find the stage files (a file added in one changes its mtime);
- the stat (size, mtime, inode) of every dependency and output, of every file under a folder
  (those .dvcignore hides left out, as DVC leaves them out of the folder's hash), and of the
  cache files holding the outputs (DVC re-runs a stage whose output is not in the cache).

The next run is a no-op if all of it is unchanged: DVC would find every stage up to date, since
each input of its decision is the same, and a file's stat is what DVC's own state database trusts
to reuse a file's hash. Anything else (a changed file, a missing one, an edited stage) and the run
checks every stage with DVC as before. The record holds from the end of the run that wrote it to
the start of the next run that checks with DVC, which removes it first."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from molere.executor.hashes import RunHashes, signature

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage

RECORD = "molere-uptodate.json"  # in DVC's tmp folder


def unchanged(repo: "Repo") -> list[str] | None:
    """The stages' names if the record left by the last complete run describes the project as it
    is now (nothing to do); else None."""
    try:
        kept = json.loads(record_path(repo).read_text())
        now = {
            "bytes": {file: digest(file) for file in kept["bytes"]},
            "folders": {folder: mtime(folder) for folder in kept["folders"]},
            "stat": {path: stat_of(repo, path) for path in kept["stat"]},
            "cache": {file: stat_of(repo, file) for file in kept["cache"]},
        }
    except (OSError, ValueError, KeyError, TypeError):  # none, or unreadable (an older layout): check with DVC
        return None
    return kept["stages"] if now == {key: kept[key] for key in now} else None


def forget(repo: "Repo") -> None:
    """Drop the record: the run about to start may change what it describes."""
    record_path(repo).unlink(missing_ok=True)


def record(repo: "Repo", stages: list["Stage"], hashes: RunHashes) -> None:
    """Record the project after a complete run (`stages` as the run leaves them: their dvc.lock
    entries written), unless DVC cannot be answered for from files (`checkable`) or a source (a
    dependency no stage writes) that DVC hashed during the run has changed since: edited while
    the run went on, it must be checked with DVC next time. Outputs are left out of that check:
    DVC itself may touch them after hashing them (committing them to the cache)."""
    if not checkable(stages):
        return
    paths = sorted({item.fs_path for stage in stages for item in [*stage.deps, *stage.outs] if not is_params(item)})
    if changed_since_hashed(hashes, sources(stages)):
        return
    write_atomically(
        record_path(repo),
        {
            "stages": [stage.addressing for stage in stages],
            "bytes": {file: digest(file) for file in read_files(repo, stages)},
            "folders": {folder: mtime(folder) for folder in walked_folders(repo, stages)},
            "stat": {path: stat_of(repo, path) for path in paths},
            "cache": {file: stat_of(repo, file) for file in cache_files(stages)},
        },
    )


def sources(stages: list["Stage"]) -> list[str]:
    """The dependencies that are no stage's output, nor inside one."""
    outs = {out.fs_path for stage in stages for out in stage.outs}
    deps = {dep.fs_path for stage in stages for dep in stage.deps if not is_params(dep)}
    return [os.path.abspath(dep) for dep in deps if not ({dep, *map(str, Path(dep).parents)} & outs)]


def write_atomically(path: Path, data: dict) -> None:
    """A whole record or none (a run killed mid-write leaves the old one, which `forget` dropped)."""
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data))
    os.replace(part, path)


def record_path(repo: "Repo") -> Path:
    return Path(repo.tmp_dir, RECORD)


def checkable(stages: list["Stage"]) -> bool:
    """Whether files can answer for DVC's check: no stage DVC always re-runs, no import (its
    source is elsewhere), no dependency or output outside this machine's file system."""
    return not any(
        stage.always_changed or stage.is_import or any(item.fs.protocol != "local" for item in [*stage.deps, *stage.outs])
        for stage in stages
    )


def is_params(item) -> bool:
    from dvc.dependency import ParamsDependency

    return isinstance(item, ParamsDependency)


def read_files(repo: "Repo", stages: list["Stage"]) -> list[str]:
    """The files DVC reads to load and check the stages: the stage files and their lock files,
    the params files and the files dvc.yaml takes its variables from, the ignore rules and
    DVC's config."""
    from dvc.dvcfile import ProjectFile

    files = {os.path.join(repo.root_dir, ".dvcignore"), *(os.path.join(repo.dvc_dir, name) for name in ["config", "config.local"])}
    dvcfiles = {stage.dvcfile.path: stage.dvcfile for stage in stages}  # one per file: each loads it anew
    for path, dvcfile in dvcfiles.items():
        files.add(path)
        if isinstance(dvcfile, ProjectFile):  # dvc.yaml, with its lock file and variables
            files.add(dvcfile._lockfile.path)
            files.update(os.path.join(repo.root_dir, dvcfile.resolver.wdir, name) for name in dvcfile.resolver.context.imports)
    files.update(dep.fs_path for stage in stages for dep in stage.deps if is_params(dep))
    return sorted(os.path.abspath(file) for file in files)


def walked_folders(repo: "Repo", stages: list["Stage"]) -> list[str]:
    """The folders DVC walks to find the stage files (`dvc.repo.index.collect_files`): all but
    the ignored ones (.dvcignore, git) and the outputs."""
    outs = {out.fs_path for stage in stages for out in stage.outs}
    folders = []
    for root, dirs, _ in repo.dvcignore.walk(repo.fs, repo.root_dir, followlinks=False):
        folders.append(root)
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in outs and not repo.scm.is_ignored(os.path.join(root, d) + os.sep)]
    return folders


def digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def stat_of(repo: "Repo", path: str) -> list | None:
    """[size, mtime, inode] of a file; for a folder, [relative path, size, mtime, inode] of each
    file DVC hashes under it; None if missing."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    if not os.path.isdir(path):
        return [stat.st_size, stat.st_mtime_ns, stat.st_ino]
    entries = []
    for root, _, files in repo.dvcignore.walk(repo.fs, path):
        for name in files:
            file = os.path.join(root, name)
            entries.append([os.path.relpath(file, path), *stat_of(repo, file)])
    return sorted(entries)


def cache_files(stages: list["Stage"]) -> list[str]:
    """The cache files that hold the outputs dvc.lock records: a folder's listing and its files."""
    from dvc_data.hashfile.tree import Tree

    files = set()
    for out in (out for stage in stages for out in stage.outs):
        if not (out.use_cache and out.hash_info and out.hash_info.value):
            continue
        files.add(out.cache.oid_to_path(out.hash_info.value))
        obj = out.get_obj()
        if isinstance(obj, Tree):
            files.update(out.cache.oid_to_path(hash_info.value) for _, _, hash_info in obj)
    return sorted(files)


def changed_since_hashed(hashes: RunHashes, paths: list[str]) -> bool:
    """Whether one of `paths` that DVC hashed during the run has changed since."""
    last = {path: built.signature for (path, _), built in hashes.kept.items()}
    for path in set(paths) & set(last):
        try:
            if signature(path) != last[path]:
                return True
        except OSError:
            return True
    return False
