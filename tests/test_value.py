"""crm.profitability, crm.performance and crm.loyalty against the plain pandas oracle
(tests/reference_value.py), from every frame kind; docs/value_definitions.md."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crm
from reference_value import reference_loyalty, reference_performance, reference_profitability
from test_retention import as_pandas, assert_matches, to_kind
from test_retention_properties import DAY0, rows, table_of

REFERENCE = {
    "profitability": reference_profitability,
    "performance": reference_performance,
    "loyalty": reference_loyalty,
}
CASES = {
    "profitability": [
        {},
        {"cost": 0.55},
        {"cost": "cost"},
        {"output": "deciles", "cost": "cost"},
        {"output": "tiers", "tiers": {"A": 0.1, "B": 0.4, "C": 0.5}},
    ],
    "performance": [
        {"by": ["channel", "region"]},
        {"by": "channel", "period": "W", "order": "order_id", "values": ["orders", "customers", "gross", "refunds"]},
        {"by": None, "period": "Q", "shape": "wide"},
        {"by": "region", "period": None, "values": ["revenue", "quantity"]},
        {"by": ["region"], "period": "Y", "shape": "wide", "values": ["customers", "revenue"]},
    ],
    "loyalty": [
        {},
        {"points_per_unit": 2.0, "tiers": {"basic": 0, "plus": 300, "vip": 2_000}, "near": 0.2},
        {"window_days": 90, "bonus": "quantity"},
        {"output": "tiers", "window_days": 365},
    ],
}


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    df = crm.datasets.synthetic(400, seed=21)
    # plain strings for the `by` columns, as in the retention tests; whole-unit amounts and
    # costs, whose float sums are exact, so that equal margins are equal in both computations
    amount = df["amount"].round()
    return df.assign(channel=df["channel"].astype(str), region=df["region"].astype(str),
                     category=df["category"].astype(str), amount=amount, cost=(amount * 0.6).round())


@pytest.fixture(scope="module")
def log_str_tz() -> pd.DataFrame:
    df = crm.datasets.synthetic(200, seed=8, key="str", tz="Asia/Shanghai")
    amount = df["amount"].round()
    return df.assign(channel=df["channel"].astype(str), region=df["region"].astype(str),
                     category=df["category"].astype(str), amount=amount, cost=(amount * 0.5).round())


def check(name, df, data=None, **options):
    out = getattr(crm, name)(df if data is None else data, **options)
    assert_matches(out, REFERENCE[name](df, **options))
    return out


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
@pytest.mark.parametrize("name", list(REFERENCE))
def test_same_kind_back_and_matches_reference(log, name, kind):
    data = to_kind(log, kind)
    out = check(name, log, data=data)
    assert type(out) is type(data)


@pytest.mark.parametrize(("name", "case"), [(n, i) for n, cases in CASES.items() for i in range(len(cases))])
def test_options_match_reference(log, name, case):
    check(name, log, **CASES[name][case])


@pytest.mark.parametrize(("name", "case"), [(n, i) for n, cases in CASES.items() for i in range(len(cases))])
def test_string_keys_and_tz_aware_dates(log_str_tz, name, case):
    check(name, log_str_tz, **CASES[name][case])


def test_loyalty_as_of_after_the_data(log):
    check("loyalty", log, as_of="2025-03-31", window_days=180)


# ----------------------------------------------------------------------------- hand-made cases


def _log(customers, days, amounts, **extra):
    return pd.DataFrame({
        "customer_id": customers,
        "order_date": [pd.Timestamp("2024-01-01") + pd.Timedelta(days=d) for d in days],
        "amount": amounts,
        **extra,
    })


def test_ties_at_the_20_percent_cut_all_go_to_the_top_tier():
    # 10 customers; the 2nd and 3rd are tied at the 20 % cut (2 positions)
    df = _log(list(range(10)), [0] * 10, [100.0, 80.0, 80.0, 50, 40, 30, 20, 10, 5, 1])
    out = crm.profitability(df)
    assert list(out["tier"][:4]) == ["high", "high", "high", "medium"]
    assert list(out["margin_rank"][:4]) == [1, 2, 2, 4]
    assert list(out["decile"][:4]) == [1, 2, 2, 4]
    tied = out[out["customer_id"].isin([1, 2])]
    assert tied["customer_share"].tolist() == [0.3, 0.3]
    assert tied["cumulative_margin_share"].tolist() == pytest.approx([260 / 416] * 2)
    tiers = crm.profitability(df, output="tiers")
    assert tiers["customers"].tolist() == [3, 2, 5]
    assert_matches(tiers, reference_profitability(df, output="tiers"))


def test_fewer_customers_than_deciles_leaves_empty_deciles():
    df = _log([1, 2, 3], [0, 1, 2], [30.0, 20.0, 10.0])
    out = crm.profitability(df, output="deciles")
    assert out["customers"].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 0, 0]
    assert_matches(out, reference_profitability(df, output="deciles"))


def test_losses_leave_the_pareto_shares_null():
    df = _log([1, 2], [0, 1], [10.0, 20.0], cost=[15.0, 30.0])
    out = crm.profitability(df, cost="cost")
    assert out["cumulative_margin_share"].isna().all()
    assert out["margin"].tolist() == [-5.0, -10.0]


def test_refund_only_customers_are_kept_with_negative_revenue():
    df = _log([1, 2], [0, 1], [10.0, -4.0])
    out = crm.profitability(df)
    assert out["revenue"].tolist() == [10.0, -4.0]
    assert out["margin_rate"].isna().tolist() == [False, True]


def test_performance_fills_empty_periods_and_groups_with_zeros():
    df = _log([1, 2, 1], [0, 70, 75], [10.0, 5.0, -2.0], quantity=[2, 1, 1], category=["A", "B", "A"],
              region=["N", "N", "N"])
    out = crm.performance(df)
    assert len(out) == 2 * 3  # two categories x January..March
    a = out[out["category"] == "A"]
    assert a["revenue"].tolist() == [10.0, 0.0, -2.0]
    assert a["quantity"].tolist() == [2.0, 0.0, 0.0]  # refund rows' units are not sold units
    assert a["customers"].tolist() == [1, 0, 0]
    assert_matches(out, reference_performance(df))


def test_performance_counts_an_order_once_in_the_period_of_its_first_purchase():
    df = _log([1, 1, 1], [30, 31, 31], [5.0, 5.0, 5.0], order_id=[7, 7, 8], category="A", region="N",
              quantity=1)
    out = crm.performance(df, order="order_id")
    assert out["orders"].tolist() == [1, 1]
    assert_matches(out, reference_performance(df, order="order_id"))


def test_loyalty_window_and_base_tier_only():
    df = _log([1, 1, 2], [0, 200, 10], [500.0, 700.0, 50.0])
    out = crm.loyalty(df, window_days=30, tiers={"member": 0, "silver": 600})
    assert out["spend"].tolist() == [700.0, 0.0]
    assert out["tier"].tolist() == ["silver", "member"]
    only_base = crm.loyalty(df, tiers={"member": 0})
    assert only_base["tier"].tolist() == ["member", "member"]
    assert only_base["next_tier"].isna().all() and only_base["points_to_next"].isna().all()
    assert_matches(only_base, reference_loyalty(df, tiers={"member": 0}))


def test_empty_log():
    df = _log([], [], [], quantity=[], category=[], region=[]).astype({"customer_id": "int64", "amount": "float64"})
    assert len(crm.profitability(df)) == 0
    assert crm.profitability(df, output="deciles")["customers"].tolist() == [0] * 10
    assert len(crm.performance(df)) == 0
    assert len(crm.loyalty(df)) == 0
    assert crm.loyalty(df, output="tiers")["customers"].tolist() == [0, 0, 0, 0]


def test_key_keeps_its_type_and_tiers_are_ordered(log):
    table = pa.Table.from_pandas(log.assign(customer_id=log["customer_id"].astype("int32")), preserve_index=False)
    for out in (crm.profitability(table), crm.loyalty(table)):
        assert out.schema.field("customer_id").type == pa.int32()
        assert out.schema.field("tier").type.ordered


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda df: crm.profitability(df, cost="nope"), crm.ColumnNotFoundError, "'nope'"),
        (lambda df: crm.profitability(df, cost="region"), crm.ColumnTypeError, "'region'"),
        (lambda df: crm.profitability(df, cost="bad_cost"), crm.InvalidDataError, "'bad_cost'"),
        (lambda df: crm.profitability(df, cost=-0.5), crm.InvalidArgumentError, "cost rate"),
        (lambda df: crm.profitability(df, cost=True), crm.InvalidArgumentError, "cost"),
        (lambda df: crm.profitability(df, tiers={"a": 0.5, "b": 0.4}), crm.InvalidArgumentError, "sum to 1"),
        (lambda df: crm.profitability(df, output="pareto"), crm.InvalidArgumentError, "output"),
        (lambda df: crm.performance(df, values=["profit"]), crm.InvalidArgumentError, "profit"),
        (lambda df: crm.performance(df, values=[]), crm.InvalidArgumentError, "values"),
        (lambda df: crm.performance(df, by="shop"), crm.ColumnNotFoundError, "'shop'"),
        (lambda df: crm.performance(df, period="D"), crm.InvalidArgumentError, "period"),
        (lambda df: crm.performance(df, quantity="region"), crm.ColumnTypeError, "'region'"),
        (lambda df: crm.loyalty(df, tiers={"silver": 100}), crm.InvalidArgumentError, "base tier"),
        (lambda df: crm.loyalty(df, tiers={"m": 0, "a": 500, "b": 100}), crm.InvalidArgumentError, "increasing"),
        (lambda df: crm.loyalty(df, points_per_unit=-1), crm.InvalidArgumentError, "points_per_unit"),
        (lambda df: crm.loyalty(df, window_days=0), crm.InvalidArgumentError, "window_days"),
        (lambda df: crm.loyalty(df, near=1.5), crm.InvalidArgumentError, "near"),
        (lambda df: crm.loyalty(df, as_of="2020-01-01"), crm.InvalidArgumentError, "as_of"),
        (lambda df: crm.loyalty(df, bonus="bad_cost"), crm.InvalidDataError, "'bad_cost'"),
    ],
)
def test_bad_input_is_named(call, error, text):
    df = _log([1, 2], [0, 1], [10.0, 20.0], quantity=[1, 2], category=["A", "B"], region=["N", "S"],
              bad_cost=[1.0, None])
    with pytest.raises(error, match=text):
        call(df)


def test_invalid_rows_can_be_dropped_with_a_warning():
    df = _log([1, 2, 3], [0, 1, 2], [10.0, float("nan"), 5.0])
    with pytest.raises(crm.InvalidDataError, match="amount"):
        crm.profitability(df)
    with pytest.warns(UserWarning, match="dropped 1 row"):
        out = crm.profitability(df, on_invalid="drop")
    assert sorted(out["customer_id"]) == [1, 3]


# ----------------------------------------------------------------------------- invariances


def _with_cost(table: pa.Table) -> pa.Table:
    """Whole-unit amounts and costs (exact float sums: equal margins stay equal)."""
    amount = pa.compute.round(table["amount"])
    table = table.set_column(table.schema.get_field_index("amount"), "amount", amount)
    return table.append_column("cost", pa.compute.round(pa.compute.multiply(amount, 0.7)))


@pytest.mark.parametrize("name", list(REFERENCE))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, key=st.sampled_from(["int", "str"]), dates=st.sampled_from(["date32", "tz"]),
       seed=st.integers(0, 2**32 - 1), case=st.integers(0, 100), cut=st.integers(0, 80))
def test_result_does_not_depend_on_row_order_or_chunks(name, data, key, dates, seed, case, cut):
    options = CASES[name][case % len(CASES[name])]
    function = getattr(crm, name)
    table = _with_cost(table_of(data, key, dates))
    expected = function(table, **options)
    shuffled = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    assert function(shuffled, **options).equals(expected), "row order changed the result"
    cut = min(cut, table.num_rows)
    chunked = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    assert function(chunked, **options).equals(expected), "chunking changed the result"


@pytest.mark.parametrize("name", list(REFERENCE))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, key=st.sampled_from(["int", "str"]), dates=st.sampled_from(["date32", "tz"]),
       case=st.integers(0, 100), later=st.one_of(st.none(), st.integers(0, 400)))
def test_small_random_logs_agree_with_the_reference(name, data, key, dates, case, later):
    options = dict(CASES[name][case % len(CASES[name])])
    table = _with_cost(table_of(data, key, dates))
    if name == "loyalty" and later is not None:
        options["as_of"] = max(DAY0 + dt.timedelta(days=r[1]) for r in data) + dt.timedelta(days=later)
    out = getattr(crm, name)(table, **options)
    assert_matches(out, REFERENCE[name](table.to_pandas(), **options))


THREADS_SCRIPT = """
import sys, crm, pyarrow as pa, pyarrow.parquet as pq
out_dir, threads = sys.argv[1], int(sys.argv[2])
log = crm.datasets.synthetic(30_000, seed=4, key="str", frame="pyarrow")
log = log.append_column("cost", pa.compute.multiply(log["amount"], 0.6))
results = {
    "profitability": crm.profitability(log, cost="cost"),
    "deciles": crm.profitability(log, output="deciles"),
    "performance": crm.performance(log, by=["category", "region"], period="W", order="order_id"),
    "wide": crm.performance(log, by="product", shape="wide", values=["revenue", "quantity"]),
    "loyalty": crm.loyalty(log, window_days=365, bonus="quantity"),
}
assert crm.num_threads() == threads, crm.num_threads()
for name, table in results.items():
    pq.write_table(table, f"{out_dir}/{name}.parquet")
"""


def test_thread_count_does_not_change_the_result(tmp_path):
    outputs = []
    for threads in (1, 2):
        out_dir = tmp_path / str(threads)
        out_dir.mkdir()
        env = dict(os.environ, CRM_NUM_THREADS=str(threads))
        subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(out_dir), str(threads)], check=True, env=env,
                       timeout=300)
        outputs.append(out_dir)
    import pyarrow.parquet as pq

    for name in ["profitability", "deciles", "performance", "wide", "loyalty"]:
        one, two = (pq.read_table(d / f"{name}.parquet") for d in outputs)
        assert one.equals(two), name
