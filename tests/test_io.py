import json

import numpy as np
import pandas as pd
import pytest

from molere.errors import MolereError
from molere.io import atomic_path, read_examples, read_json, read_table, write_examples, write_json


def test_examples_round_trip_keeps_shape_dtype_and_columns(tmp_path):
    x = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    meta = pd.DataFrame({"id": [5, 6], "y": [1, 0], "split": ["train", "val"]})
    write_examples(tmp_path / "a.parquet", meta, x)
    back_meta, back_x = read_examples(tmp_path / "a.parquet")
    assert back_x.dtype == np.uint8 and back_x.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(back_x, x)
    pd.testing.assert_frame_equal(back_meta, meta)


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
