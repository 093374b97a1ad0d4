"""Frames in and out: any supported table → an Arrow stream, and Arrow results back into
the kind of frame the caller passed. Only shapes data; computes nothing."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .errors import ColumnNotFoundError, InvalidArgumentError


def kind_of(data: Any) -> str:
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        return "pandas"
    if module == "polars":
        return "polars"
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return "pyarrow"
    if isinstance(data, Mapping):
        return "dict"
    return "arrow"


def _require(present: Sequence[str], wanted: Sequence[str]) -> None:
    for name in wanted:
        if name not in present:
            listed = ", ".join(f"'{c}'" for c in present)
            raise ColumnNotFoundError(f"column '{name}' not found; the input has columns: {listed}")


def to_arrow(data: Any, columns: Sequence[str]) -> Any:
    """An object exposing ``__arrow_c_stream__`` with (at least) ``columns``; numeric
    columns are shared with ``data``, not copied."""
    kind = kind_of(data)
    if kind == "pandas":
        _require([str(c) for c in data.columns], columns)
        return _from_pandas(data, columns)
    if kind == "polars":
        # to_arrow() shares polars' buffers; its __arrow_c_stream__ copies every column.
        if type(data).__name__ == "LazyFrame":
            _require(data.collect_schema().names(), columns)
            return data.select(list(columns)).collect().to_arrow()
        _require(data.columns, columns)
        return data.select(list(columns)).to_arrow()
    if kind == "pyarrow":
        _require(data.schema.names, columns)
        return data.select(list(columns))
    if kind == "dict":
        _require(list(data.keys()), columns)
        return pa.table({c: data[c] for c in columns})
    if hasattr(data, "__arrow_c_stream__"):
        return data  # duckdb and other Arrow producers: the Rust side selects by name
    raise TypeError(
        "expected a pandas or polars DataFrame, a pyarrow Table, a dict of numpy arrays "
        f"or an object exposing __arrow_c_stream__, got {type(data).__name__}"
    )


def _from_pandas(frame: Any, columns: Sequence[str]) -> pa.Table:
    """``columns`` of a pandas frame as Arrow, as ``pa.Table.from_pandas`` makes them but
    cheaper: pyarrow scans float and datetime columns for NaN/NaT (its nulls) at about the
    cost of a copy, while a numpy check that finds none lets the column be shared as is."""
    shared = {c: _shared_column(frame[c]) for c in columns} if frame.columns.is_unique else {}
    rest = [c for c in columns if shared.get(c) is None]
    converted = pa.Table.from_pandas(frame[rest], preserve_index=False) if rest else None
    arrays = [converted.column(c) if shared.get(c) is None else shared[c] for c in columns]  # type: ignore[union-attr]
    return pa.Table.from_arrays(arrays, names=list(columns))


def _shared_column(series: Any) -> pa.Array | None:
    """A numpy-backed integer, float or datetime column as an Arrow array sharing its memory;
    None when it holds NaN/NaT (or is of another type): pyarrow turns those into nulls."""
    dtype = series.dtype
    if not isinstance(dtype, np.dtype) or not dtype.isnative:
        return None
    values = series.to_numpy()
    if dtype.kind in "iu":
        return pa.array(values)
    if dtype.kind == "f":
        return None if np.isnan(values).any() else pa.array(values)
    unit = np.datetime_data(dtype)[0] if dtype.kind == "M" else None
    if unit in ("s", "ms", "us", "ns"):
        ticks = values.view(np.int64)
        if len(ticks) and ticks.min() == np.iinfo(np.int64).min:  # NaT is the smallest int64
            return None
        return pa.array(ticks).view(pa.timestamp(unit))
    return None


class _Capsule:
    """Wraps an ``arrow_array_stream`` capsule made by the Rust core."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._capsule


def from_arrow(capsule: Any, kind: str) -> Any:
    """The Rust result as the caller's kind of frame. Ordered categoricals (levels such as
    stages) stay ordered: pandas reads Arrow's flag, polars needs an Enum."""
    table = pa.table(_Capsule(capsule))
    if kind == "pandas":
        return table.to_pandas(date_as_object=False)
    if kind == "polars":
        import polars as pl

        frame = pl.from_arrow(table)
        levels = [
            pl.col(field.name).cast(pl.Enum(table.column(field.name).chunk(0).dictionary.to_pylist()))
            for field in table.schema
            if pa.types.is_dictionary(field.type) and field.type.ordered and table.column(field.name).num_chunks
        ]
        return frame.with_columns(levels) if levels else frame
    if kind == "dict":
        return {name: col.to_numpy(zero_copy_only=False) for name, col in zip(table.column_names, table.columns)}
    return table


def with_column(frame: Any, name: str, column: pa.ChunkedArray | pa.Array) -> Any:
    """``frame`` with ``name`` set to ``column`` (replaced if present), same kind of frame."""
    kind = kind_of(frame)
    if kind == "pandas":
        out = frame.copy(deep=False)
        out[name] = column.to_pandas().array  # by position, whatever the frame's index
        return out
    if kind == "polars":
        import polars as pl

        return frame.with_columns(pl.Series(name, pa.chunked_array(column) if isinstance(column, pa.Array) else column))
    if kind == "dict":
        out = dict(frame)
        out[name] = column.to_numpy(zero_copy_only=False)
        return out
    table = frame if isinstance(frame, pa.Table) else pa.table(frame)
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, column)
    return table.append_column(name, column)


def day_number(value: Any, name: str = "as_of") -> int | None:
    """Days since 1970-01-01 of a date-like value (str, date, datetime, pandas Timestamp,
    numpy datetime64); a tz-aware value counts on its own local calendar day."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, _dt.datetime):
        value = value.date()
    try:
        day = np.datetime64(value, "D")
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"{name} must be a date (e.g. '2024-06-30'), got {value!r}") from exc
    if np.isnat(day):
        raise InvalidArgumentError(f"{name} must be a date, got NaT")
    return int(day.astype("int64"))
