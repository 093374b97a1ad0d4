"""Bad input: a clear exception naming the column and what is wrong; never a panic, never a
silent drop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import crm


def good() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [1, 2, 2, 3],
        "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-07"]),
        "amount": [10.0, 20.0, 5.0, 7.0],
    })


@pytest.mark.parametrize("convert", [lambda d: d, pl.from_pandas, lambda d: pa.Table.from_pandas(d, preserve_index=False)])
def test_missing_column_is_a_key_error_listing_the_columns(convert):
    with pytest.raises(KeyError) as info:
        crm.rfm(convert(good()), customer="client")
    assert isinstance(info.value, crm.ColumnNotFoundError) and isinstance(info.value, crm.CrmError)
    message = str(info.value)
    assert "'client'" in message and "'customer_id'" in message and "'amount'" in message


def test_missing_column_from_a_generic_arrow_producer():
    class Producer:
        def __init__(self, table):
            self.table = table

        def __arrow_c_stream__(self, requested_schema=None):
            return self.table.__arrow_c_stream__(requested_schema)

    with pytest.raises(crm.ColumnNotFoundError, match="'amount'"):
        crm.rfm(Producer(pa.table({"customer_id": [1], "order_date": pa.array([1], pa.date32())})))


def test_string_dates_are_a_type_error_with_the_dtype():
    df = good().assign(order_date=["2024-01-01"] * 4)
    with pytest.raises(TypeError) as info:
        crm.rfm(pa.Table.from_pandas(df))
    assert isinstance(info.value, crm.ColumnTypeError)
    assert "order_date" in str(info.value) and "string" in str(info.value).lower()


def test_float_keys_and_string_amounts_are_type_errors():
    with pytest.raises(crm.ColumnTypeError, match="customer_id.*double"):
        crm.rfm(good().assign(customer_id=[1.0, 2.0, 2.0, 3.0]))
    with pytest.raises(crm.ColumnTypeError, match="amount"):
        crm.rfm(good().assign(amount=["1", "2", "3", "4"]))


@pytest.mark.parametrize(
    "column, bad, what",
    [
        ("customer_id", pd.array([1, None, 2, None], dtype="Int64"), "2 null"),
        ("order_date", pd.to_datetime(["2024-01-01", None, "2024-01-05", "2024-01-07"]), "1 null"),
        ("amount", [10.0, np.inf, -np.inf, 1.0], "2 NaN or infinite"),
    ],
)
def test_nulls_and_nan_raise_with_count_and_first_row_or_drop_with_a_warning(column, bad, what):
    df = good().assign(**{column: bad})
    with pytest.raises(ValueError) as info:
        crm.rfm(df)
    assert isinstance(info.value, crm.InvalidDataError)
    assert column in str(info.value) and what in str(info.value) and "first at row 1" in str(info.value)
    with pytest.warns(UserWarning, match="dropped"):
        out = crm.rfm(df, on_invalid="drop")
    assert out["frequency"].sum() == 4 - int(what[0])


def test_bad_arguments_are_value_errors():
    for kwargs, pattern in [
        ({"bins": 0}, "bins"),
        ({"bins": 4}, "rfm11"),
        ({"monetary": "median"}, "monetary"),
        ({"labels": "fr"}, "labels"),
        ({"segments": "rfm12"}, "segments"),
        ({"segments": [("x", 1, 2)]}, "custom segments"),
        ({"on_invalid": "ignore"}, "on_invalid"),
        ({"as_of": "not a date"}, "as_of"),
        ({"as_of": "2024-01-03"}, "before the last purchase"),
    ]:
        with pytest.raises(crm.InvalidArgumentError, match=pattern):
            crm.rfm(good(), **kwargs)


def test_unsupported_objects_are_type_errors():
    with pytest.raises(TypeError, match="pandas or polars"):
        crm.rfm([1, 2, 3])


def test_error_classes():
    assert issubclass(crm.ColumnNotFoundError, KeyError)
    assert issubclass(crm.ColumnTypeError, TypeError)
    assert issubclass(crm.InvalidDataError, ValueError)
    assert issubclass(crm.InvalidArgumentError, ValueError)
    assert all(issubclass(e, crm.CrmError) for e in (crm.ColumnNotFoundError, crm.ColumnTypeError, crm.InvalidDataError))


def test_nan_in_an_arrow_float_column_is_reported_as_nan():
    table = pa.Table.from_pandas(good(), preserve_index=False).set_column(2, "amount", pa.array([1.0, 2.0, float("nan"), 3.0]))
    with pytest.raises(crm.InvalidDataError, match=r"'amount' has 1 NaN or infinite value\(s\) \(first at row 2\)"):
        crm.rfm(table)


def test_unsigned_keys_beyond_int64_are_an_error_not_a_wraparound():
    table = pa.table({
        "customer_id": pa.array([1, 2**63 + 5], pa.uint64()),
        "order_date": pa.array([1, 2], pa.date32()),
        "amount": [1.0, 2.0],
    })
    with pytest.raises(crm.InvalidDataError, match="customer_id.*64-bit"):
        crm.rfm(table)
