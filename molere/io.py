"""Atomic artifact I/O: every file is written to a temporary sibling and renamed into place,
so an interrupted stage never leaves a half-written file and earlier artifacts stay intact."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from molere.errors import MolereError

SHAPE_KEY = b"molere.feature_shape"
DTYPE_KEY = b"molere.feature_dtype"


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


def require(path: str | Path, made_by: str | None = None) -> Path:
    """Return `path` if it exists, else a one-line error naming it (and the stage that makes it)."""
    path = Path(path)
    if not path.exists():
        hint = f"; run `molere-bench stage {made_by}` first" if made_by else ""
        raise MolereError(f"missing input artifact {path}{hint}")
    return path


def read_json(path, made_by: str | None = None):
    path = require(path, made_by)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MolereError(f"corrupt JSON file {path}: {err}") from None


def read_table(path, made_by: str | None = None, columns=None) -> pd.DataFrame:
    path = require(path, made_by)
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path, columns=columns, engine="pyarrow")
        return pd.read_csv(path, usecols=columns)
    except Exception as err:  # pyarrow and pandas raise many types for a damaged file
        raise MolereError(f"corrupt table {path}: {type(err).__name__}: {err}") from None


def write_examples(path, meta: pd.DataFrame, x: np.ndarray | Sequence[np.ndarray]) -> None:
    """Write examples as Parquet: the `meta` columns plus the features as one fixed-size binary
    column `x`, each example's raw bytes (the per-example shape and dtype are kept in the schema
    metadata). Raw bytes rather than a list of numbers: Parquet has no 8-bit integers, and
    widening uint8 images to int32 made CIFAR-10 ten times slower to write and read, with a GB
    more memory. `x` is one array or consecutive blocks of rows, written without concatenating
    them (a big table then needs no second copy in memory)."""
    blocks = [x] if isinstance(x, np.ndarray) else list(x)
    rows = sum(len(block) for block in blocks)
    if len(meta) != rows:
        raise ValueError(f"{len(meta)} metadata rows but {rows} feature rows")
    shape, dtype = blocks[0].shape[1:], blocks[0].dtype
    if any(block.shape[1:] != shape or block.dtype != dtype for block in blocks):
        raise ValueError("feature blocks differ in per-example shape or dtype")
    binary = pa.binary(int(np.prod(shape)) * dtype.itemsize)
    features = pa.chunked_array(
        [pa.FixedSizeBinaryArray.from_buffers(binary, len(b), [None, pa.py_buffer(np.ascontiguousarray(b))]) for b in blocks],
        type=binary,
    )
    table = pa.Table.from_pandas(meta.reset_index(drop=True), preserve_index=False)
    table = table.append_column("x", features)
    metadata = dict(table.schema.metadata or {})
    metadata[SHAPE_KEY] = json.dumps(list(shape)).encode()
    metadata[DTYPE_KEY] = str(dtype).encode()
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)


def read_examples(path, made_by: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Inverse of `write_examples`: (metadata frame, feature array of the stored shape)."""
    path = require(path, made_by)
    try:
        table = pq.read_table(path)
        metadata = table.schema.metadata
        shape = json.loads(metadata[SHAPE_KEY])
        dtype = np.dtype(metadata[DTYPE_KEY].decode())
        column = table.column("x").combine_chunks()
    except Exception as err:
        raise MolereError(f"corrupt examples file {path}: {type(err).__name__}: {err}") from None
    width = column.type.byte_width
    raw = np.frombuffer(column.buffers()[1], dtype=np.uint8)[column.offset * width : (column.offset + len(column)) * width]
    meta = table.drop(["x"]).to_pandas()
    return meta, raw.view(dtype).reshape(len(meta), *shape)  # read-only, backed by Arrow's buffer
