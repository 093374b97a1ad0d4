"""pandas frames into Arrow: the same table as pyarrow's own conversion, columns without
missing values shared rather than copied."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crm._frames import to_arrow

N = 50


def columns() -> dict[str, object]:
    return {
        "int64": np.arange(N),
        "uint8": np.arange(N, dtype=np.uint8),
        "float64": np.linspace(-3.0, 3.0, N),
        "float32": np.ones(N, dtype=np.float32),
        "datetime_s": np.arange(N).astype("datetime64[s]"),
        "datetime_ns": pd.date_range("2024-01-01", periods=N).to_numpy(),
        "datetime_tz": pd.date_range("2024-01-01", periods=N, tz="Europe/Paris"),
        "string": [f"c{i}" for i in range(N)],
        "categorical": pd.Categorical(["a", "b"] * (N // 2)),
        "nullable_int": pd.array(range(N), dtype="Int64"),
    }


def missing(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[[0, 7], "float64"] = np.nan
    frame.loc[3, "float32"] = np.nan
    frame.loc[[2, N - 1], "datetime_s"] = pd.NaT
    frame.loc[5, "datetime_ns"] = pd.NaT
    frame.loc[4, "nullable_int"] = pd.NA
    return frame


@pytest.mark.parametrize("with_missing", [False, True])
def test_same_table_as_pyarrow(with_missing):
    frame = pd.DataFrame(columns())
    frame = missing(frame) if with_missing else frame
    names = list(frame.columns)
    got = to_arrow(frame, names)
    expected = pa.Table.from_pandas(frame, preserve_index=False)
    assert got.schema.equals(expected.schema)
    assert got.equals(expected)
    if with_missing:
        assert [got[c].null_count for c in ("float64", "float32", "datetime_s", "datetime_ns")] == [2, 1, 2, 1]


def test_columns_without_missing_values_are_shared():
    frame = pd.DataFrame(columns())
    table = to_arrow(frame, ["int64", "float64", "datetime_ns"])
    for name in table.column_names:
        values = frame[name].to_numpy()
        assert table[name].chunk(0).buffers()[1].address == values.ctypes.data


def test_selected_columns_in_the_order_asked_and_empty_frames():
    frame = pd.DataFrame(columns())
    assert to_arrow(frame, ["string", "int64"]).column_names == ["string", "int64"]
    empty = frame.iloc[:0]
    assert to_arrow(empty, list(empty.columns)).equals(pa.Table.from_pandas(empty, preserve_index=False))
