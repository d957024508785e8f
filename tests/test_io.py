import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from molere.errors import MolereError
from molere.io import ROW_GROUP_VALUES, atomic_path, read_examples, read_json, read_table, write_examples, write_json


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
    with pytest.raises(MolereError, match=r"corrupt examples file .*old.parquet: TypeError: column x is fixed_size_binary\[4\], not a fixed-shape tensor"):
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


def test_missing_and_corrupt_inputs_name_the_file(tmp_path):
    with pytest.raises(MolereError, match="missing input artifact .*nope.parquet; run `molere-bench stage prepare"):
        read_table(tmp_path / "nope.parquet", made_by="prepare")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(MolereError, match="corrupt table .*bad.parquet"):
        read_table(tmp_path / "bad.parquet")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(MolereError, match="corrupt JSON file .*bad.json"):
        read_json(tmp_path / "bad.json")
