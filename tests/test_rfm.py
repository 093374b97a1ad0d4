"""crm.rfm against the plain pandas oracle (tests/reference.py), from every frame kind."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import crm
from reference import reference_rfm

COLUMNS = [
    "recency", "frequency", "monetary", "first_purchase", "last_purchase",
    "r_score", "f_score", "m_score", "rfm_code", "rfm_score", "segment",
]


def as_pandas(out) -> pd.DataFrame:
    if isinstance(out, pl.DataFrame):
        return out.to_pandas()
    if isinstance(out, (pa.Table,)):
        return out.to_pandas(date_as_object=False)
    if isinstance(out, dict):
        return pd.DataFrame(out)
    return out


def assert_matches(out, expected: pd.DataFrame, key: str = "customer_id") -> None:
    got = as_pandas(out).reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    assert list(got.columns) == [key] + [c for c in COLUMNS if c in expected.columns]
    assert got[key].astype(str).tolist() == expected[key].astype(str).tolist()
    for col in ["frequency", "r_score", "f_score", "m_score", "rfm_score"]:
        assert got[col].tolist() == expected[col].astype("int64").tolist(), col
    for col in ["rfm_code", "segment"]:
        if col in expected:
            assert got[col].astype(str).tolist() == expected[col].astype(str).tolist(), col
    np.testing.assert_allclose(
        got["recency"].astype("float64"), expected["recency"].astype("float64"), rtol=0, atol=0
    )
    np.testing.assert_allclose(got["monetary"].astype("float64"), expected["monetary"].astype("float64"), rtol=1e-12)
    for col in ["first_purchase", "last_purchase"]:
        a = pd.to_datetime(got[col]).astype("datetime64[ns]")
        b = pd.to_datetime(expected[col]).dt.tz_localize(None).astype("datetime64[ns]") if getattr(expected[col].dt, "tz", None) else pd.to_datetime(expected[col]).astype("datetime64[ns]")
        assert a.tolist() == b.tolist(), col


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return crm.datasets.synthetic(800, seed=11)


def to_kind(df: pd.DataFrame, kind: str):
    if kind == "pandas":
        return df
    if kind == "polars":
        return pl.from_pandas(df)
    if kind == "pyarrow":
        return pa.Table.from_pandas(df, preserve_index=False)
    return {c: df[c].to_numpy() for c in df.columns}


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow", "dict"])
def test_same_kind_back_and_matches_reference(log, kind):
    data = to_kind(log[["customer_id", "order_date", "amount", "order_id"]], kind)
    out = crm.rfm(data)
    expected_type = {"pandas": pd.DataFrame, "polars": pl.DataFrame, "pyarrow": pa.Table, "dict": dict}[kind]
    assert isinstance(out, expected_type)
    assert_matches(out, reference_rfm(log))


@pytest.mark.parametrize(
    "options",
    [
        {"order": "order_id"},
        {"monetary": "mean"},
        {"bins": 3, "segments": "value8"},
        {"bins": 10, "segments": None},
        {"as_of": "2025-03-01", "segments": "value8", "labels": "zh"},
        {"labels": "zh"},
        {"segments": [("VIP", (4, 5), (4, 5), (4, 5)), ("Gone", (1, 1), (1, 5), (1, 5))]},
    ],
)
def test_options_match_reference(log, options):
    assert_matches(crm.rfm(log, **options), reference_rfm(log, **options))


def test_string_keys_tz_aware_dates_and_polars_views():
    log = crm.datasets.synthetic(400, seed=5, key="str", tz="Asia/Shanghai")
    expected = reference_rfm(log, order="order_id")
    assert_matches(crm.rfm(log, order="order_id"), expected)
    # polars stores strings as views; the key type comes back as a string
    out = crm.rfm(pl.from_pandas(log), order="order_id")
    assert out.schema["customer_id"] == pl.String
    assert_matches(out, expected)


def test_categorical_keys_come_back_categorical():
    log = crm.datasets.synthetic(300, seed=2, key="str")
    log["customer_id"] = log["customer_id"].astype("category")
    out = crm.rfm(log)
    assert isinstance(out["customer_id"].dtype, pd.CategoricalDtype)
    assert_matches(out, reference_rfm(log.assign(customer_id=log["customer_id"].astype(str))))


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "uint32", "uint64", "int64"])
def test_integer_key_widths_keep_their_type(dtype):
    df = pd.DataFrame({
        "customer_id": np.array([3, 1, 3, 2, 100], dtype=dtype),
        "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01", "2024-02-03", "2024-02-04"]),
        "amount": [10.0, 5.0, 7.5, -2.0, 1.0],
    })
    out = crm.rfm(df)
    assert out["customer_id"].dtype == np.dtype(dtype)
    assert_matches(out, reference_rfm(df))


def test_sparse_integer_ids_use_the_hash_path_and_agree():
    rng = np.random.default_rng(1)
    ids = rng.choice(np.array([-(2**62), 7, 2**40, 2**62, 12345678901]), 500)
    df = pd.DataFrame({
        "customer_id": ids,
        "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, 500), unit="D"),
        "amount": np.round(rng.normal(50, 40, 500), 2),
    })
    assert_matches(crm.rfm(df), reference_rfm(df))


KEY_SETS = {
    # every packing of string keys into integers (by the column's shortest and longest key)
    "up to 7 bytes": ["", "a", "a\x00", "\x00", "ab", "b", "zzzzzzz", "é", "C1", "C10", "C9"],
    "all 8 bytes": ["C0000001", "C0000010", "b0000000", "\x00bcdefgh", "zzzzzzzz", "ééééé"[:4], "C000000\x00"],
    "7 and 8 bytes": ["abcdefg", "abcdefgh", "abcdefg\x07", "abcdef\x00", "b"],
    "up to 15 bytes": ["a", "abcdefghijklmno", "abcdefghi", "abcdefghi\x00"],
    "longer": ["a", "a customer key longer than fifteen bytes", "ab"],
}


@pytest.mark.parametrize("keys", list(KEY_SETS), ids=list(KEY_SETS))
@pytest.mark.parametrize("layout", [pa.string(), pa.large_string(), pa.string_view()])
def test_string_keys_of_every_length_come_back_sorted_and_whole(keys, layout):
    rng = np.random.default_rng(3)
    values = rng.choice(np.array(KEY_SETS[keys], dtype=object), 300)
    df = pd.DataFrame({
        "customer_id": values,
        "order_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, 300), unit="D"),
        "amount": np.round(rng.normal(50, 40, 300), 2),
    })
    table = pa.table({**{c: df[c] for c in df.columns}, "customer_id": pa.array(values.tolist(), layout)})
    out = crm.rfm(table)
    assert out.schema.field("customer_id").type == layout
    assert_matches(out, reference_rfm(df))


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_timestamp_units_and_dates(unit):
    base = pd.DataFrame({
        "customer_id": [1, 1, 2],
        "order_date": pd.to_datetime(["2024-01-01 23:59:59", "2024-01-03 00:00:01", "2024-01-02 12:00:00"]).astype(f"datetime64[{unit}]"),
        "amount": [1.0, 2.0, 3.0],
    })
    out = crm.rfm(base)
    assert out["recency"].tolist() == [0, 1]
    as_dates = pa.Table.from_pandas(base).set_column(1, "order_date", pa.array(base["order_date"].dt.date, pa.date32()))
    assert crm.rfm(as_dates).column("recency").to_pylist() == [0, 1]
    as_date64 = as_dates.set_column(1, "order_date", as_dates.column("order_date").cast(pa.date64()))
    assert crm.rfm(as_date64).column("recency").to_pylist() == [0, 1]


def test_integer_and_decimal_amounts():
    df = pd.DataFrame({"customer_id": [1, 1, 2], "order_date": pd.to_datetime(["2024-01-01"] * 3), "amount": [5, -2, 3]})
    out = crm.rfm(df)
    assert out["monetary"].tolist() == [3.0, 3.0]
    table = pa.Table.from_pandas(df).set_column(2, "amount", pa.array([Decimal("5.00"), Decimal("-2.00"), Decimal("3.00")], pa.decimal128(10, 2)))
    assert crm.rfm(table).column("monetary").to_pylist() == [3.0, 3.0]


def test_custom_column_names():
    df = pd.DataFrame({"who": ["a", "b"], "when": pd.to_datetime(["2024-01-01", "2024-01-05"]), "paid": [1.0, 2.0]})
    out = crm.rfm(df, customer="who", date="when", amount="paid")
    assert out.columns[0] == "who" and out["who"].tolist() == ["a", "b"]


def test_one_customer_one_purchase_and_everything_on_one_day():
    one = pd.DataFrame({"customer_id": [9], "order_date": pd.to_datetime(["2024-05-05"]), "amount": [12.0]})
    out = crm.rfm(one)
    assert out[["recency", "frequency", "r_score", "f_score", "m_score"]].iloc[0].tolist() == [0, 1, 3, 3, 3]
    same_day = pd.DataFrame({"customer_id": [1, 2, 3, 4], "order_date": pd.to_datetime(["2024-05-05"] * 4), "amount": [1.0] * 4})
    out = crm.rfm(same_day)
    assert set(out["rfm_code"].astype(str)) == {"333"}
    assert_matches(out, reference_rfm(same_day))


def test_refund_only_customer_ranks_lowest_and_has_no_dates():
    df = pd.DataFrame({
        "customer_id": [1, 2, 3],
        "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        "amount": [10.0, -4.0, 3.0],
    })
    out = crm.rfm(df)
    row = out[out.customer_id == 2].iloc[0]
    assert pd.isna(row["recency"]) and pd.isna(row["last_purchase"]) and row["frequency"] == 0
    assert row["r_score"] == 1 and row["monetary"] == -4.0
    assert_matches(out, reference_rfm(df))


def test_empty_input_gives_empty_result_with_the_schema():
    empty = pd.DataFrame({"customer_id": pd.Series([], dtype="int64"), "order_date": pd.Series([], dtype="datetime64[ns]"), "amount": pd.Series([], dtype="float64")})
    out = crm.rfm(empty)
    assert len(out) == 0
    assert list(out.columns) == ["customer_id"] + COLUMNS
    out = crm.rfm(pl.from_pandas(empty))
    assert out.height == 0 and out.columns == ["customer_id"] + COLUMNS


def test_segment_resegments_without_recomputing(log):
    table = crm.rfm(log)
    again = crm.segment(table.drop(columns="segment"), "rfm11")
    assert again["segment"].astype(str).tolist() == table["segment"].astype(str).tolist()
    v8 = crm.segment(table, "value8", labels="zh")
    assert v8["segment"].astype(str).tolist() == crm.rfm(log, segments="value8", labels="zh")["segment"].astype(str).tolist()
    pl_table = crm.rfm(pl.from_pandas(log))
    assert crm.segment(pl_table, "value8")["segment"].cast(pl.String).to_list() == crm.rfm(log, segments="value8")["segment"].astype(str).tolist()
    arrow_table = crm.rfm(pa.Table.from_pandas(log), segments=None)
    assert "segment" in crm.segment(arrow_table).column_names


def test_duckdb_relations_and_large_strings():
    import duckdb

    log = crm.datasets.synthetic(300, seed=8, key="str", frame="pyarrow")
    expected = reference_rfm(log.to_pandas())
    relation = duckdb.sql("select customer_id, order_date, amount from log")
    assert_matches(crm.rfm(relation), expected)
    large = log.set_column(0, "customer_id", log.column("customer_id").cast(pa.large_string()))
    out = crm.rfm(large)
    assert out.schema.field("customer_id").type == pa.large_string()
    assert_matches(out, expected)


def test_polars_lazyframes_are_collected_and_come_back_as_dataframes(log):
    out = crm.rfm(pl.from_pandas(log).lazy())
    assert isinstance(out, pl.DataFrame)
    assert_matches(out, reference_rfm(log))
