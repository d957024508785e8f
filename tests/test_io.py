import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from molere.errors import MolereError
from molere.io import (
    BOOL,
    INTEGER,
    KILL_AT,
    KILLED,
    NUMBER,
    ROW_GROUP_VALUES,
    atomic_dir,
    atomic_path,
    read_examples,
    read_json,
    read_table,
    write_examples,
    write_json,
    write_table,
)

ROOT = Path(__file__).resolve().parents[1]


def test_examples_round_trip_keeps_shape_dtype_and_columns(tmp_path):
    x = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    meta = pd.DataFrame({"id": [5, 6], "y": [1, 0], "split": ["train", "val"]})
    write_examples(tmp_path / "a.parquet", meta, x)
    back_meta, back_x = read_examples(tmp_path / "a.parquet")
    assert back_x.dtype == np.uint8 and back_x.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(back_x, x)
    pd.testing.assert_frame_equal(back_meta, meta)


def pool_like(n: int) -> pd.DataFrame:
    """The metadata columns of a pool.parquet."""
    y = np.arange(n) % 10
    return pd.DataFrame(
        {"id": np.arange(n, dtype=np.int64), "y": y, "y_clean": y, "is_noisy": np.zeros(n, bool), "split": ["train"] * n}
    )


FEATURE_SETS = {
    "mnist1d": np.random.default_rng(0).standard_normal((50, 40)).astype(np.float32),
    # more rows than one row group holds, so the file has several
    "images": np.random.default_rng(1).integers(0, 256, (2 * ROW_GROUP_VALUES // 3072 + 7, 3, 32, 32), dtype=np.uint8),
}


@pytest.mark.parametrize("name", FEATURE_SETS)
def test_pyarrow_and_pandas_read_the_features_without_project_code(tmp_path, name):
    x = FEATURE_SETS[name]
    meta = pool_like(len(x))
    write_examples(tmp_path / "pool.parquet", meta, [x[:10], x[10:]])  # as prepare writes blocks

    table = pq.read_table(tmp_path / "pool.parquet")  # pyarrow alone
    assert table.num_rows == len(x) and pq.ParquetFile(tmp_path / "pool.parquet").num_row_groups == (3 if name == "images" else 1)
    assert table.schema.field("x").type == pa.fixed_shape_tensor(pa.from_numpy_dtype(x.dtype), list(x.shape[1:]))
    features = table.column("x").combine_chunks().to_numpy_ndarray()
    assert features.dtype == x.dtype and features.shape == x.shape
    np.testing.assert_array_equal(features, x)

    frame = pd.read_parquet(tmp_path / "pool.parquet")  # pandas: one flat array per row
    pd.testing.assert_frame_equal(frame.drop(columns="x"), meta)
    np.testing.assert_array_equal(np.stack(frame["x"]), x.reshape(len(x), -1))
    typed = pd.read_parquet(tmp_path / "pool.parquet", dtype_backend="pyarrow")["x"]  # the shape is in the dtype
    shape = typed.dtype.pyarrow_dtype.shape
    np.testing.assert_array_equal(np.stack(typed.to_numpy()).reshape(len(x), *shape), x)


def test_identical_input_gives_identical_bytes(tmp_path):
    x = FEATURE_SETS["images"]
    for name in ("a", "b"):
        write_examples(tmp_path / f"{name}.parquet", pool_like(len(x)), [x[:10], x[10:]])
    changed = x.copy()
    changed[-1, 2, 31, 31] ^= 1
    write_examples(tmp_path / "c.parquet", pool_like(len(x)), [changed[:10], changed[10:]])
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert (tmp_path / "a.parquet").read_bytes() != (tmp_path / "c.parquet").read_bytes()


@settings(max_examples=25, deadline=None)
@given(
    x=hnp.arrays(
        st.sampled_from([np.uint8, np.int64, np.float32, np.float64]),
        hnp.array_shapes(min_dims=2, max_dims=4, min_side=0, max_side=5).filter(lambda s: all(s[1:])),
    ),
    cut=st.integers(0, 5),
)
def test_any_features_round_trip_in_blocks(tmp_path_factory, x, cut):
    path = tmp_path_factory.mktemp("rt") / "x.parquet"
    cut = min(cut, len(x))
    write_examples(path, pd.DataFrame({"id": np.arange(len(x))}), [x[:cut], x[cut:]])
    meta, back = read_examples(path)
    assert back.dtype == x.dtype and back.shape == x.shape and meta["id"].tolist() == list(range(len(x)))
    np.testing.assert_array_equal(back, x)


def test_features_in_another_form_are_a_corrupt_file(tmp_path):
    pq.write_table(pa.table({"id": [0], "x": pa.array([b"\x00" * 4], pa.binary(4))}), tmp_path / "old.parquet")
    with pytest.raises(MolereError, match=r"corrupt file .*old.parquet: not an examples table: TypeError: column x is fixed_size_binary\[4\], not a fixed-shape tensor"):
        read_examples(tmp_path / "old.parquet")


def test_failed_write_leaves_the_earlier_file_intact(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"acc": 0.5})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"acc": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_missing_and_corrupt_inputs_name_the_file_and_the_stage_to_rerun(tmp_path):
    with pytest.raises(MolereError, match="missing input artifact .*nope.parquet; run `molere-bench stage prepare`"):
        read_table(tmp_path / "nope.parquet", made_by="prepare")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(MolereError, match=r"^corrupt file .*bad.parquet: not a readable table: ArrowInvalid: .*; re-run `molere-bench stage rank --scenario clean`$"):
        read_table(tmp_path / "bad.parquet", "rank --scenario clean")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(MolereError, match=r"^corrupt file .*bad.json: not JSON: .*; re-run `molere-bench stage prepare`$"):
        read_json(tmp_path / "bad.json", "prepare")
    write_examples(tmp_path / "ex.parquet", pd.DataFrame({"id": [0]}), np.zeros((1, 2), np.float32))
    with pytest.raises(MolereError, match=r"^corrupt file .*ex.parquet: it lacks the columns y; re-run `molere-bench stage prepare`$"):
        read_examples(tmp_path / "ex.parquet", "prepare", {"id": INTEGER, "y": INTEGER})


def test_json_keys_and_table_columns_are_checked(tmp_path):
    write_json(tmp_path / "info.json", {})
    with pytest.raises(MolereError, match=r"info.json: it lacks the keys num_classes; re-run `molere-bench stage prepare`$"):
        read_json(tmp_path / "info.json", "prepare", keys=("num_classes",))
    write_json(tmp_path / "list.json", [1])
    with pytest.raises(MolereError, match=r"list.json: it lacks the keys a, b"):
        read_json(tmp_path / "list.json", keys=("a", "b"))
    assert read_json(tmp_path / "info.json") == {}
    frame = pd.DataFrame({"id": [1, 2], "hard": ["True", "False"], "margin": [0.5, -1.0]})
    write_table(tmp_path / "t.parquet", frame)
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet", columns={"id": INTEGER, "margin": NUMBER}), frame)
    with pytest.raises(MolereError, match=r"t.parquet: it has (str|object) values in column hard, not booleans; re-run `molere-bench stage valsets`$"):
        read_table(tmp_path / "t.parquet", "valsets", {"id": INTEGER, "hard": BOOL})
    with pytest.raises(MolereError, match=r"t.parquet: it has float64 values in column margin, not integers"):
        read_table(tmp_path / "t.parquet", columns={"margin": INTEGER})
    write_table(tmp_path / "empty.csv", frame.iloc[:0])
    assert len(read_table(tmp_path / "empty.csv", columns=["id"])) == 0
    with pytest.raises(MolereError, match=r"empty.csv: it has no rows"):
        read_table(tmp_path / "empty.csv", allow_empty=False)


# --- all-or-nothing writes --------------------------------------------------------------------


def entries(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_a_folder_is_replaced_as_a_whole_or_not_at_all(tmp_path):
    target = tmp_path / "data" / "clean"
    with atomic_dir(target) as out:
        write_json(out / "info.json", {"v": 1})
        write_json(out / "old.json", {"v": 1})
    assert entries(tmp_path / "data") == ["clean", "clean/info.json", "clean/old.json"]
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as out:
            write_json(out / "info.json", {"v": 2})
            raise RuntimeError("interrupted")
    assert entries(tmp_path / "data") == ["clean", "clean/info.json", "clean/old.json"]
    assert read_json(target / "info.json") == {"v": 1}
    with atomic_dir(target) as out:
        write_json(out / "info.json", {"v": 3})
    assert entries(tmp_path / "data") == ["clean", "clean/info.json"]  # nothing of the old folder stays
    assert read_json(target / "info.json") == {"v": 3}


def test_leftovers_of_a_killed_write_are_removed_by_the_next_write_there(tmp_path):
    for name in (".a.json.k2j3_9ab.tmp", ".a.json.0123abcd.tmp", ".run.ffffffff.tmp/model.pt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("half")
    keep = [".a.json.notmine.tmp", ".ab.json.0123abcd.tmp", ".a.json.x.0123abcd.tmp"]  # other names' temporaries
    for name in keep:
        (tmp_path / name).write_text("someone else's")
    write_json(tmp_path / "a.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".run.ffffffff.tmp", "a.json", *keep])
    with atomic_dir(tmp_path / "run"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.json", "run", *keep])


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_and_folders_get_the_umasks_mode(tmp_path, umask):
    previous = os.umask(umask)
    try:
        write_json(tmp_path / "f.json", {})
        with atomic_dir(tmp_path / "d") as out:
            write_json(out / "g.json", {})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "d" / "g.json").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask


KILLED_WRITER = """
import sys
from molere.io import atomic_dir, write_json
with atomic_dir(sys.argv[1]) as out:
    for name in ("a", "b"):
        write_json(out / f"{name}.json", {"new": True})
print("done")
"""


@pytest.mark.parametrize("at, outcome", [(1, "old"), (2, "old"), (3, "old"), (4, None), (5, "new")])
def test_the_fault_hook_kills_just_before_the_nth_commit(tmp_path, at, outcome):
    """Commits: a.json and b.json inside the new folder, the old folder aside, the new one in."""
    target = tmp_path / "out"
    with atomic_dir(target) as out:
        for name in ("a", "b"):
            write_json(out / f"{name}.json", {"new": False})
    env = {**os.environ, KILL_AT: str(at), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], env=env, capture_output=True, text=True)
    assert (result.returncode, result.stdout) == ((0, "done\n") if outcome == "new" else (KILLED, ""))
    if outcome is None:
        assert not target.exists()
    else:
        assert entries(target) == ["a.json", "b.json"]
        assert {read_json(target / n)["new"] for n in ("a.json", "b.json")} == {outcome == "new"}
    write_json(tmp_path / "out.json", {})  # another name's write leaves this one's leftovers alone
    with atomic_dir(target):
        pass
    assert entries(tmp_path) == ["out", "out.json"]
