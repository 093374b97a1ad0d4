"""Tests for crm.datasets (synthetic transaction logs)."""

import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crm import datasets

COLUMNS = ["customer_id", "order_id", "order_date", "amount", "product", "category", "region", "channel", "quantity"]
N_CUST = 20_000


@pytest.fixture(scope="module")
def table():
    return datasets.synthetic(N_CUST, seed=11, frame="pyarrow")


@pytest.fixture(scope="module")
def df(table):
    return table.to_pandas()


# ------------------------------------------------------------------ determinism


def test_deterministic_per_seed():
    a = datasets.synthetic(3000, seed=42, frame="pyarrow")
    b = datasets.synthetic(3000, seed=42, frame="pyarrow")
    c = datasets.synthetic(3000, seed=43, frame="pyarrow")
    assert a.equals(b)
    assert not a.equals(c)
    a = datasets.synthetic_rows(50_000, seed=3, key="str", tz="Europe/Berlin")
    b = datasets.synthetic_rows(50_000, seed=3, key="str", tz="Europe/Berlin")
    assert a.equals(b)


# ------------------------------------------------------------------ schema per frame / key


@pytest.mark.parametrize("key", ["int", "str"])
def test_pyarrow_schema(key):
    t = datasets.synthetic(500, seed=1, frame="pyarrow", key=key)
    assert isinstance(t, pa.Table)
    assert t.column_names == COLUMNS
    s = t.schema
    assert s.field("customer_id").type == (pa.int64() if key == "int" else pa.string())
    assert s.field("order_id").type == pa.int64()
    assert s.field("order_date").type == pa.timestamp("us")
    assert s.field("amount").type == pa.float64()
    assert s.field("quantity").type == pa.int64()
    for c in ["product", "category", "region", "channel"]:
        assert pa.types.is_dictionary(s.field(c).type), c
        assert s.field(c).type.value_type == pa.string()
    assert t.column("customer_id").null_count == 0


@pytest.mark.parametrize("key", ["int", "str"])
def test_pandas_dtypes(key):
    d = datasets.synthetic(500, seed=1, key=key)  # pandas is the default frame
    assert isinstance(d, pd.DataFrame)
    assert list(d.columns) == COLUMNS
    if key == "int":
        assert d["customer_id"].dtype == np.int64
    else:
        assert pd.api.types.is_string_dtype(d["customer_id"].dtype)
        assert d["customer_id"].str.match(r"^C\d{7}$").all()
    assert d["order_id"].dtype == np.int64
    assert d["order_date"].dtype == np.dtype("datetime64[us]")
    assert d["amount"].dtype == np.float64
    assert d["quantity"].dtype == np.int64
    for c in ["product", "category", "region", "channel"]:
        assert isinstance(d[c].dtype, pd.CategoricalDtype), c


@pytest.mark.parametrize("key", ["int", "str"])
def test_polars_dtypes(key):
    pl = pytest.importorskip("polars")
    d = datasets.synthetic(500, seed=1, frame="polars", key=key)
    assert isinstance(d, pl.DataFrame)
    assert d.columns == COLUMNS
    assert d.schema["customer_id"] == (pl.Int64 if key == "int" else pl.String)
    assert d.schema["order_id"] == pl.Int64
    assert d.schema["order_date"] == pl.Datetime("us")
    assert d.schema["amount"] == pl.Float64
    assert d.schema["quantity"] == pl.Int64
    for c in ["product", "category", "region", "channel"]:
        assert d.schema[c] == pl.Categorical, c


def test_bad_arguments():
    with pytest.raises(ValueError):
        datasets.synthetic(10, frame="excel")
    with pytest.raises(ValueError):
        datasets.synthetic(10, key="uuid")
    with pytest.raises(ValueError):
        datasets.synthetic(10, start="2024-01-01", end="2023-01-01")
    with pytest.raises(ValueError):
        datasets.synthetic_rows(10, n_customers=11)


def test_empty():
    t = datasets.synthetic(0, frame="pyarrow")
    assert t.num_rows == 0 and t.column_names == COLUMNS
    assert datasets.synthetic(0).shape == (0, 9)


# ------------------------------------------------------------------ time zones


def test_tz_aware_same_wall_clock_as_naive():
    naive = datasets.synthetic(2000, seed=5, frame="pyarrow")
    aware = datasets.synthetic(2000, seed=5, frame="pyarrow", tz="Asia/Shanghai")
    assert aware.schema.field("order_date").type == pa.timestamp("us", tz="Asia/Shanghai")
    # No DST in Shanghai: the same rows, in the same order, with the same local wall-clock times.
    assert aware.drop_columns(["order_date"]).equals(naive.drop_columns(["order_date"]))
    local = aware.column("order_date").to_pandas().dt.tz_localize(None)
    assert (local.to_numpy() == naive.column("order_date").to_numpy()).all()
    # UTC instant = wall clock - 8 h
    utc = aware.column("order_date").cast(pa.int64()).to_numpy()
    assert (utc == naive.column("order_date").cast(pa.int64()).to_numpy() - 8 * 3600 * 10**6).all()


@pytest.mark.parametrize("frame", ["pandas", "polars"])
def test_tz_aware_frames(frame):
    if frame == "polars":
        pl = pytest.importorskip("polars")
    d = datasets.synthetic(1000, seed=2, frame=frame, tz="America/New_York")
    if frame == "pandas":
        assert str(d["order_date"].dt.tz) == "America/New_York"
        ts = d["order_date"]
        assert ts.is_monotonic_increasing  # sorted by instant
        local = ts.dt.tz_localize(None)
        assert local.min() >= pd.Timestamp("2023-01-01") and local.max() < pd.Timestamp("2025-01-01")
    else:
        assert d.schema["order_date"] == pl.Datetime("us", "America/New_York")
        assert d["order_date"].is_sorted()


# ------------------------------------------------------------------ content


def test_window_and_basic_values(df):
    assert df["order_date"].min() >= pd.Timestamp("2023-01-01")
    assert df["order_date"].max() < pd.Timestamp("2025-01-01")
    assert (df["quantity"] >= 1).all()
    assert (df["amount"] != 0).all()
    assert df["customer_id"].nunique() == N_CUST  # everybody bought at least once
    assert df["customer_id"].min() == 1 and df["customer_id"].max() == N_CUST
    assert df["product"].nunique() == 50
    assert df["category"].nunique() == 8
    assert df["region"].nunique() == 6
    assert set(df["channel"].unique()) == {"online", "store", "app"}
    # each product belongs to one category
    assert (df.groupby("product", observed=True)["category"].nunique() == 1).all()
    # rows per customer in the documented range
    assert 6 < len(df) / N_CUST < 11


def test_custom_window():
    d = datasets.synthetic(500, seed=4, start="2024-03-01", end="2024-03-31")
    assert d["order_date"].min() >= pd.Timestamp("2024-03-01")
    assert d["order_date"].max() < pd.Timestamp("2024-04-01")


def test_amounts_rounded_to_cents(df):
    cents = df["amount"].to_numpy() * 100
    assert np.abs(cents - np.round(cents)).max() < 1e-6


def test_home_region_mostly_used(df):
    buy = df[df["amount"] > 0]
    counts = buy.groupby(["customer_id", "region"], observed=True).size()
    top = counts.groupby(level="customer_id").max() / counts.groupby(level="customer_id").sum()
    # a customer's most frequent region covers ~90 % of their orders on average
    assert top.mean() > 0.85


def test_refunds(df):
    refunds = df[df["amount"] < 0]
    share = len(refunds) / len(df)
    assert 0.015 < share < 0.05
    # a refund is an order of its own (one line, not shared with purchases)
    assert refunds["order_id"].is_unique
    assert not refunds["order_id"].isin(df.loc[df["amount"] > 0, "order_id"]).any()
    # ...and mirrors an earlier purchase line of the same customer, 1-30 days before
    buys = df[df["amount"] > 0]
    r = refunds.assign(amount=-refunds["amount"], rid=np.arange(len(refunds)))
    m = r.merge(buys, on=["customer_id", "amount", "product", "quantity"], suffixes=("", "_src"))
    days = (m["order_date"].dt.normalize() - m["order_date_src"].dt.normalize()).dt.days
    ok = m[(days >= 1) & (days <= 30)]
    assert ok["rid"].nunique() == len(refunds)


def test_order_lines_share_order_attributes(df):
    g = df.groupby("order_id")
    for c in ["customer_id", "order_date", "region", "channel"]:
        assert (g[c].nunique() == 1).all(), c
    sizes = g.size()
    assert sizes.min() == 1 and sizes.max() == 4
    assert 1.6 < sizes.mean() < 2.0


def test_sorted_log(df):
    assert df["order_date"].is_monotonic_increasing
    assert df["order_id"].is_monotonic_increasing  # ids increase with time; lines of an order adjacent
    assert df["order_id"].iloc[0] == 1 and df["order_id"].iloc[-1] == df["order_id"].nunique()


def test_unsorted_is_the_same_rows():
    cols = [c for c in COLUMNS if c != "order_id"]
    a = datasets.synthetic(3000, seed=8)
    b = datasets.synthetic(3000, seed=8, sort=False)
    assert not b["order_date"].is_monotonic_increasing
    sa = a[cols].astype(str).sort_values(cols).reset_index(drop=True)
    sb = b[cols].astype(str).sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(sa, sb)
    # lines of an order are still adjacent
    assert (b["order_id"].diff().fillna(1) >= 0).all()


def test_heterogeneity(df):
    orders = df[df["amount"] > 0].groupby("customer_id")["order_id"].nunique()
    assert (orders == 1).mean() > 0.2           # many one-time buyers
    assert (orders > 10).mean() > 0.02          # some frequent buyers
    assert orders.max() >= 40
    spend = df.groupby("customer_id")["amount"].sum()
    assert spend.quantile(0.99) > 10 * spend.median()  # big spenders


# ------------------------------------------------------------------ synthetic_rows


@pytest.mark.parametrize(
    "n_rows, n_customers",
    [(1, None), (1000, None), (100_000, None), (200_000, 5_000), (100_000, 100_000), (100_000, 60_000)],
)
def test_synthetic_rows_size(n_rows, n_customers):
    t = datasets.synthetic_rows(n_rows, n_customers=n_customers, seed=1)
    assert isinstance(t, pa.Table)
    assert t.num_rows == n_rows
    ids = t.column("customer_id").to_numpy()
    expected = n_customers if n_customers is not None else max(1, round(n_rows / 10))
    assert len(np.unique(ids)) == expected


def test_synthetic_rows_frames_and_validity():
    d = datasets.synthetic_rows(30_000, n_customers=1_000, frame="pandas", key="str", seed=9)
    assert len(d) == 30_000
    assert d["order_date"].is_monotonic_increasing
    assert (d.groupby("order_id").size() <= 4).all()
    refunds = d[d["amount"] < 0]
    assert len(refunds) > 0
    assert refunds["order_id"].is_unique


def test_timing_5m_rows():
    t0 = time.perf_counter()
    t = datasets.synthetic_rows(5_000_000, n_customers=500_000, seed=0)
    dt = time.perf_counter() - t0
    assert t.num_rows == 5_000_000
    print(f"\nsynthetic_rows(5M rows, 500k customers): {dt:.2f}s, {t.nbytes / 1e6:.0f} MB")
