"""Atomic artifact I/O. Every file is written to a temporary sibling and renamed into place, and
a stage that writes several files writes them into a temporary sibling folder that then takes the
old folder's place (`atomic_dir`): an interrupted stage leaves its complete previous outputs or
none, never a half-written file or a mix of old and new files. Readers check what they read and
name the file and the stage command that writes it."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import secrets
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from molere.data.sources.image_files import ImageFiles
from molere.errors import MolereError

# Feature values per Parquet row group. The writer converts a whole row group at once (uint8 to
# Parquet's INT32, plus the list levels): a CIFAR-10-sized pool (50,000 images, 154 MB) as one
# group took 1.3 GB more memory to write. In groups of 2**20 values (~340 images) the `prepare`
# stage peaks where it did with raw bytes (1.8 GB), and writes no slower than with bigger groups.
ROW_GROUP_VALUES = 2**20
# the metadata key of a table that names streamed image files (`write_image_files`)
IMAGES_KEY = b"molere.image_files"

# Fault injection for the tests: with MOLERE_KILL_AT=N a process ends at once (os._exit, no
# clean-up, as a kill would) just before the N-th rename that commits a write, counted per process.
KILL_AT = "MOLERE_KILL_AT"
KILLED = 137  # the exit status a shell gives a process killed by SIGKILL
_commits = {"pid": 0, "count": 0}


def _before_commit() -> None:
    at = os.environ.get(KILL_AT)
    if not at:
        return
    if _commits["pid"] != os.getpid():  # a forked child counts its own commits
        _commits.update(pid=os.getpid(), count=0)
    _commits["count"] += 1
    if _commits["count"] == int(at):
        os._exit(KILLED)


def _temp_sibling(path: Path) -> Path:
    """A fresh name `.NAME.XXXXXXXX.tmp` next to `path` (what `_remove_stale` removes)."""
    return path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"


def _remove_stale(path: Path) -> None:
    """Remove the temporary files and folders that a killed write to `path` left behind (a path
    has one writer at a time)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.{'?' * 8}.tmp"):
        _remove(stale)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.
    The file is created with the mode the umask gives (as `open` would), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = _temp_sibling(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        _before_commit()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path):
    """Yield a new empty folder next to `path` to write a stage's files into; once the block
    succeeds it takes `path`'s place: the old folder is renamed aside, the new one renamed in, the
    old one removed. A crash in between leaves the complete old folder or none at `path`, never a
    mix; the leftovers are removed by the next write there. A failed block leaves `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = _temp_sibling(path)
    tmp.mkdir()  # mode 0777 less the umask
    try:
        yield tmp
        aside = None
        if path.exists() or path.is_symlink():
            aside = _temp_sibling(path)
            _before_commit()
            os.rename(path, aside)
        _before_commit()
        os.rename(tmp, path)
        if aside is not None:
            _remove(aside)
    finally:
        if tmp.exists():
            _remove(tmp)


def write_json(path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_table(path, frame: pd.DataFrame) -> None:
    """Write a plain table: Parquet by suffix `.parquet`, otherwise CSV."""
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".parquet":
            frame.to_parquet(tmp, index=False, engine="pyarrow")
        else:
            frame.to_csv(tmp, index=False)


def corrupt(path, problem: str, made_by: str | None) -> MolereError:
    """The one-line error for a damaged input artifact: the file, what is wrong, what to re-run."""
    hint = f"; re-run `molere-bench stage {made_by}`" if made_by else ""
    return MolereError(f"corrupt file {path}: {problem}{hint}")


def check(condition: bool, path, problem: str, made_by: str | None) -> None:
    """Raise `corrupt(path, "it " + problem)` unless `condition` holds."""
    if not condition:
        raise corrupt(path, f"it {problem}", made_by)


def require(path: str | Path, made_by: str | None = None) -> Path:
    """Return `path` if it exists, else a one-line error naming it (and the stage that makes it)."""
    path = Path(path)
    if not path.exists():
        hint = f"; run `molere-bench stage {made_by}` first" if made_by else ""
        raise MolereError(f"missing input artifact {path}{hint}")
    return path


def read_json(path, made_by: str | None = None, keys: Sequence[str] = ()):
    """A JSON file's contents; with `keys`, an object that holds each of them."""
    path = require(path, made_by)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise corrupt(path, f"not JSON: {err}", made_by) from None
    if keys:
        missing = [key for key in keys if key not in data] if isinstance(data, dict) else list(keys)
        check(not missing, path, f"lacks the keys {', '.join(missing)}", made_by)
    return data


# what a column must hold (numpy dtype kinds), for `read_table(columns={name: kind})`
BOOL, INTEGER, NUMBER, TEXT = "b", "iu", "iuf", "OSU"
KIND_NAMES = {BOOL: "booleans", INTEGER: "integers", NUMBER: "numbers", TEXT: "text"}


def read_table(path, made_by: str | None = None, columns: Sequence[str] | Mapping[str, str] = (), allow_empty: bool = True) -> pd.DataFrame:
    """A Parquet (by suffix `.parquet`) or CSV table holding `columns`: names, or names mapped to
    the kind of values each must hold (`BOOL`, `INTEGER`, `NUMBER`, `TEXT`); unless `allow_empty`, rows."""
    path = require(path, made_by)
    try:
        frame = pd.read_parquet(path, engine="pyarrow") if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as err:  # pyarrow and pandas raise many types for a damaged file
        raise corrupt(path, f"not a readable table: {type(err).__name__}: {one_line(err)}", made_by) from None
    check_columns(frame, path, columns, made_by)
    check(allow_empty or len(frame) > 0, path, "has no rows", made_by)
    return frame


def check_columns(frame: pd.DataFrame, path, columns: Sequence[str] | Mapping[str, str], made_by: str | None) -> None:
    missing = [c for c in columns if c not in frame.columns]
    check(not missing, path, f"lacks the columns {', '.join(missing)}", made_by)
    kinds = columns if isinstance(columns, Mapping) else {}
    for name, kind in kinds.items():
        dtype = frame[name].dtype
        check(dtype.kind in kind, path, f"has {dtype} values in column {name}, not {KIND_NAMES[kind]}", made_by)


def one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def write_examples(path, meta: pd.DataFrame, x: np.ndarray | Sequence[np.ndarray]) -> None:
    """Write examples as Parquet: the `meta` columns plus the features as one column `x` of Arrow's
    canonical fixed-shape tensor type (`arrow.fixed_shape_tensor`, stored as a fixed-size list of
    the element type), which carries the element type and the per-example shape, so pyarrow and
    pandas read it without this module (and any Parquet reader as a list per row). It costs what
    a fixed-size list costs: a CIFAR-10 pool takes about 4 s to write and 2 s to read, against 0.2 s
    each as the raw bytes of the format before, which no other tool could read. Built zero-copy
    on the numpy buffers; uint8 images stay uint8 (in Parquet, INT32 annotated UINT_8). `x` is one
    array or consecutive blocks of rows, written without concatenating them (a big table then
    needs no second copy in memory). Streamed image files (`ImageFiles` with `stream`) are written
    as a column `file` of their paths with their side in the table's metadata (`IMAGES_KEY`): the
    table names the images instead of holding them."""
    if isinstance(x, ImageFiles) and x.stream:
        write_image_files(path, meta, x)
        return
    blocks = list(x) if isinstance(x, (list, tuple)) else [np.asarray(x)]  # an array, or what reads as one
    rows = sum(len(block) for block in blocks)
    if len(meta) != rows:
        raise ValueError(f"{len(meta)} metadata rows but {rows} feature rows")
    shape, dtype = blocks[0].shape[1:], blocks[0].dtype
    if any(block.shape[1:] != shape or block.dtype != dtype for block in blocks):
        raise ValueError("feature blocks differ in per-example shape or dtype")
    width = math.prod(shape)
    tensor = pa.fixed_shape_tensor(pa.from_numpy_dtype(dtype), list(shape))
    features = pa.chunked_array(
        [
            pa.ExtensionArray.from_storage(
                tensor, pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(b).reshape(-1)), width)
            )
            for b in blocks
        ],
        type=tensor,
    )
    table = pa.Table.from_pandas(meta.reset_index(drop=True), preserve_index=False).append_column("x", features)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=max(1, ROW_GROUP_VALUES // width))


def write_image_files(path, meta: pd.DataFrame, x: ImageFiles) -> None:
    """`meta` and the paths of `x`'s files as column `file`, their side in the metadata."""
    if len(meta) != len(x):
        raise ValueError(f"{len(meta)} metadata rows but {len(x)} image files")
    table = pa.Table.from_pandas(meta.reset_index(drop=True), preserve_index=False).append_column("file", pa.array([str(f) for f in x.files], pa.string()))
    table = table.replace_schema_metadata({**table.schema.metadata, IMAGES_KEY: json.dumps({"side": x.side}).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_examples(
    path, made_by: str | None = None, columns: Sequence[str] | Mapping[str, str] = ()
) -> tuple[pd.DataFrame, np.ndarray | ImageFiles]:
    """Inverse of `write_examples`: (metadata frame holding `columns` as `read_table` checks them,
    feature array of the stored shape, or the streamed image files the table names)."""
    path = require(path, made_by)
    try:
        table = pq.read_table(path)
        if IMAGES_KEY in (table.schema.metadata or {}):
            side = json.loads(table.schema.metadata[IMAGES_KEY])["side"]
            x = ImageFiles(tuple(Path(name) for name in table.column("file").to_pylist()), side, stream=True)
            meta = table.drop(["file"]).to_pandas()
        else:
            column = table.column("x")
            if not isinstance(column.type, pa.FixedShapeTensorType):
                raise TypeError(f"column x is {column.type}, not a fixed-shape tensor")
            x = column.combine_chunks().to_numpy_ndarray()  # read-only, backed by Arrow's buffer
            meta = table.drop(["x"]).to_pandas()
    except Exception as err:
        raise corrupt(path, f"not an examples table: {type(err).__name__}: {one_line(err)}", made_by) from None
    if isinstance(x, ImageFiles):
        check_files_there(path, x, made_by)
    check_columns(meta, path, columns, made_by)
    return meta, x


def check_files_there(path: Path, x: ImageFiles, made_by: str | None) -> None:
    """Every image file the table at `path` names is there: a moved one is found before a run
    trains, not at its first batch."""
    missing = [f for f in x.files if not f.is_file()]
    if missing:
        hint = f"; restore them, or re-run `molere-bench stage {made_by}` with the dataset's root where they are now" if made_by else ""
        raise MolereError(f"{path} names {len(missing)} image file(s) that are not there, e.g. {missing[0]}{hint}")
