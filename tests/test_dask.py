"""crm.dask on a real dask.distributed LocalCluster with 2 worker processes: every result equals
the in-memory call on the concatenated data (counts and dates exactly, sums to 1e-9) for several
partitionings, empty partitions and customers spread across partitions; a worker killed in the
middle of the computation is replaced, its tasks rerun, and the result is still exact."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import crm
import crm.dask


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def partitions(params: list[int]) -> list:
    """Partitionings as (npartitions, persisted): the last one also persisted on the cluster,
    where the partitions a worker holds are summarized together."""
    return [pytest.param(n, False, id=str(n)) for n in params] + [pytest.param(params[-1], True, id=f"{params[-1]}-persisted")]


def partitioned(log: pd.DataFrame, npartitions: int, persisted: bool):
    ddf = dd.from_pandas(log, npartitions=npartitions, sort=False)
    return ddf.persist() if persisted else ddf


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=0)
    exact = [c for c in expected.columns if c != "monetary"]
    pd.testing.assert_frame_equal(got[exact], expected[exact], check_exact=True)


@pytest.fixture(scope="module")
def log():
    # Shuffled rows: every customer's rows are spread over the partitions.
    data = crm.datasets.synthetic(4_000, seed=11)
    return data.sample(frac=1.0, random_state=3).reset_index(drop=True)


@pytest.mark.parametrize(("npartitions", "persisted"), partitions([1, 2, 7, 40]))
def test_rfm_equals_the_in_memory_table_for_any_partitioning(client, log, npartitions, persisted):
    ddf = partitioned(log, npartitions, persisted)
    assert_same(crm.dask.rfm(ddf, split_every=3), crm.rfm(log))


@pytest.mark.parametrize("as_string", [False, True])
def test_rfm_counts_distinct_orders_split_across_partitions(client, log, as_string):
    orders = log.assign(order_id=log.order_id.astype(str)) if as_string else log
    ddf = dd.from_pandas(orders, npartitions=9, sort=False)  # shuffled: an order's lines are in several
    assert_same(crm.dask.rfm(ddf, order="order_id"), crm.rfm(orders, order="order_id"))


def test_persisted_partitions_are_summarized_together_on_the_worker_holding_them(client, log):
    ddf = dd.from_pandas(log, npartitions=8, sort=False).persist()
    placement = crm.dask._placement(ddf)
    assert placement is not None
    holders, threads = placement
    assert set(holders) == {w for ws in client.who_has(ddf).values() for w in ws} and set(threads.values()) == {1}
    # One task per worker (it has one thread) takes all the partitions the worker holds.
    tasks = crm.dask._partitions(ddf, ["customer_id", "order_date", "amount"], split_every=8)
    assert sorted(len(t) for t in tasks) == [1] * len(set(holders))
    assert sorted(len(t[0]) for t in tasks) == sorted(holders.count(h) for h in set(holders))
    assert [len(t) for t in crm.dask._partitions(ddf, ["amount"], split_every=2)] == [
        -(-holders.count(h) // 2) for h in dict.fromkeys(holders)]
    assert crm.dask._placement(dd.from_pandas(log, npartitions=8, sort=False)) is None  # read as it runs
    bad = log.copy()
    bad.loc[len(log) - 5, "amount"] = np.nan  # in the last partition
    messages = []
    for frame in (dd.from_pandas(bad, npartitions=8, sort=False), dd.from_pandas(bad, npartitions=8, sort=False).persist()):
        with pytest.raises(crm.InvalidDataError, match="amount") as error:
            crm.dask.rfm(frame)
        messages.append(str(error.value))
    assert messages[0] == messages[1]  # the row named within its partition, whether summarized alone or not
    with pytest.warns(UserWarning, match="dropped 1 row"):
        got = crm.dask.rfm(dd.from_pandas(bad, npartitions=8, sort=False).persist(), on_invalid="drop")
    with pytest.warns(UserWarning, match="dropped 1 row"):
        assert_same(got, crm.rfm(bad, on_invalid="drop"))
    assert_same(crm.dask.rfm(ddf), crm.rfm(log))
    assert_same(crm.dask.rfm(ddf[ddf.amount != 0]), crm.rfm(log[log.amount != 0]))  # same partitions, filtered


def test_when_dask_internals_change_partitions_are_summarized_one_per_task(client, log, monkeypatch):
    from dask.dataframe.dask_expr.io import FromGraph

    ddf = dd.from_pandas(log, npartitions=4, sort=False).persist()
    assert crm.dask._persisted_futures(ddf) is not None
    assert crm.dask._persisted_futures(object()) is None

    def renamed(self, name):
        raise KeyError(name)

    monkeypatch.setattr(FromGraph, "operand", renamed)
    assert crm.dask._placement(ddf) is None
    monkeypatch.undo()
    assert_same(crm.dask.rfm(ddf), crm.rfm(log))


def test_partitions_typed_apart_are_summarized_apart_and_merged(log):
    # A categorical key in one partition, plain strings in the other: no one Arrow table
    # holds both, so the task merges their states (as it would have merged two tasks').
    import functools

    import pyarrow as pa

    from crm._partial import from_ipc, partial_state

    strings = log.assign(customer_id="c" + log.customer_id.astype(str))
    half = len(strings) // 2
    parts = [strings.iloc[:half].astype({"customer_id": "category"}), strings.iloc[half:]]
    columns = ["customer_id", "order_date", "amount"]
    summarize = functools.partial(partial_state, kind="customer_states")
    data, dropped = crm.dask._summarized(parts, columns, summarize, "merge_partial_states")
    got = pa.table(crm._frames._Capsule(crm._core.rfm_from_partial(from_ipc(data), bins=5, monetary="sum")))
    expected = crm.rfm(pa.Table.from_pandas(strings[columns], preserve_index=False), segments=None)
    assert dropped == 0 and pa.types.is_dictionary(got.schema.field("customer_id").type)  # the first part's type
    got = got.set_column(0, "customer_id", got.column("customer_id").cast(pa.large_string()))
    scores = ["customer_id", "recency", "frequency", "r_score", "f_score"]
    assert got.select(scores).equals(expected.select(scores))


def test_workers_give_crm_one_thread_per_task(client, log):
    crm.dask.rfm(dd.from_pandas(log, npartitions=4, sort=False))
    assert set(client.run(crm.num_threads).values()) == {1}


def test_string_and_categorical_keys_and_empty_partitions(client, log):
    strings = log.assign(customer_id="c" + log.customer_id.astype(str))
    ddf = dd.from_pandas(strings, npartitions=6, sort=False)
    # Partitions 1 and 4 become empty: the filter keeps the others whole.
    keep = ddf.map_partitions(lambda f, partition_info=None: f if partition_info["number"] not in (1, 4) else f.iloc[:0],
                              meta=ddf._meta)
    kept = keep.compute()
    assert keep.npartitions == 6 and 0 < len(kept) < len(strings)
    options = dict(as_of="2025-03-01", segments="value8", labels="zh")
    assert_same(crm.dask.rfm(keep, **options), crm.rfm(kept, **options))
    categories = strings.assign(customer_id=strings.customer_id.astype("category"))
    assert_same(crm.dask.rfm(dd.from_pandas(categories, npartitions=3, sort=False)), crm.rfm(categories))


def test_bad_input_is_reported_like_the_in_memory_call(client, log):
    bad = log.copy()
    bad.loc[[3, 500, 9_000], "amount"] = np.nan
    ddf = dd.from_pandas(bad, npartitions=4, sort=False)
    with pytest.raises(crm.InvalidDataError, match="amount"):
        crm.dask.rfm(ddf)
    with pytest.warns(UserWarning, match="dropped 3 row"):
        got = crm.dask.rfm(ddf, on_invalid="drop")
    with pytest.warns(UserWarning, match="dropped 3 row"):
        expected = crm.rfm(bad, on_invalid="drop")
    assert_same(got, expected)
    with pytest.raises(KeyError, match="'client' not found"):
        crm.dask.rfm(ddf, customer="client")
    with pytest.raises(crm.InvalidArgumentError, match="split_every"):
        crm.dask.rfm(ddf, split_every=1)


def test_all_partitions_empty(client, log):
    ddf = dd.from_pandas(log.iloc[:0], npartitions=1)
    out = crm.dask.rfm(ddf)
    assert len(out) == 0 and list(out.columns) == list(crm.rfm(log).columns)


def _die_once(frame: pd.DataFrame, marker: str, partition_info=None) -> pd.DataFrame:
    """Kill the worker process the first time partition 3 is computed."""
    if partition_info and partition_info["number"] == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return frame


def test_a_worker_killed_mid_computation_is_retried_and_the_result_is_exact(client, log, tmp_path):
    marker = str(tmp_path / "killed")
    ddf = dd.from_pandas(log, npartitions=8, sort=False)
    faulty = ddf.map_partitions(_die_once, marker, meta=ddf._meta)
    got = crm.dask.rfm(faulty)
    assert os.path.exists(marker), "the fault was not injected"
    assert_same(got, crm.rfm(log))


# The functions of the customers' histories, with options that take each one through its
# different paths (the period masks and the histories in memory, long and wide, per customer
# and overall).
HISTORY_CALLS = [
    ("summary", {}),
    ("summary", dict(time_unit="D", observation_end="2025-03-31")),
    ("calibration_holdout", dict(calibration_end="2024-06-30", time_unit="M")),
    ("repurchase", {}),
    ("repurchase", dict(period="M")),
    ("repurchase", dict(period="W")),
    ("cohorts", {}),
    ("cohorts", dict(period="W", metric="active_customers", format="wide")),
    ("cohorts", dict(period="Q", metric="revenue")),
    ("cohorts", dict(metric="cumulative_revenue_per_customer", format="wide")),
    ("interpurchase", {}),
    ("interpurchase", dict(output="distribution")),
    ("lifecycle", {}),
    ("lifecycle", dict(as_of="2025-02-01", thresholds=(30, 60, 200), labels="zh")),
    ("churn_risk", {}),
    ("churn_risk", dict(as_of="2025-01-15", window=60, overdue_factor=1.5)),
    ("acquisition", {}),
    ("acquisition", dict(period="Q", lapse_days=90, as_of="2025-06-30")),
    ("activity", {}),
    ("activity", dict(as_of="2025-01-31", half_life_days=30, weights={"monetary": 0.6})),
    # The parameters the per-day state carries only when asked: by groups (categorical,
    # string and integer columns), order columns (integer and string ids; an order's lines
    # are on several days and, shuffled, in several partitions) and extra columns.
    ("repurchase", dict(by="channel")),
    ("repurchase", dict(by=["region", "store"], period="M")),
    ("repurchase", dict(order="order_id")),
    ("repurchase", dict(order="order_code", by=["channel", "region"], period="Q")),
    ("churn_risk", dict(order="order_id")),
    ("churn_risk", dict(order="order_code", as_of="2025-01-15", window=60)),
    ("activity", dict(extra=["quantity", "visits"], weights={"visits": 0.5})),
    ("activity", dict(order="order_id", extra=["visits"], half_life_days=30)),
    # The value functions: a cost or bonus column travels as per-day sums (the loyalty window
    # is cut after merging), the quantity as per-day sums over purchase rows.
    ("profitability", {}),
    ("profitability", dict(cost=0.6, output="deciles")),
    ("profitability", dict(cost="visits", output="tiers", tiers={"top": 0.1, "rest": 0.9})),
    ("profitability", dict(cost="visits")),
    ("performance", {}),
    ("performance", dict(by="channel", period="W", shape="wide", values=["quantity", "gross", "refunds"])),
    ("performance", dict(by=["region", "store"], order="order_code", period="Q")),
    ("performance", dict(by=None, period=None, order="order_id")),
    ("loyalty", {}),
    ("loyalty", dict(bonus="visits", window_days=120, as_of="2025-06-30",
                     tiers={"member": 0, "silver": 500, "gold": 2_000})),
    ("loyalty", dict(bonus="visits", output="tiers", points_per_unit=0.1, near=0.2)),
]
CALL_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(HISTORY_CALLS)]


def assert_equal_frames(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Counts, dates, keys and labels exactly; float columns to 1e-9."""
    floats = [c for c in expected.columns if expected[c].dtype.kind == "f"]
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=1e-9)
    exact = [c for c in expected.columns if c not in floats]
    pd.testing.assert_frame_equal(got[exact], expected[exact], check_exact=True)


@pytest.fixture(scope="module")
def days_log(log):
    # Free orders (amount 0: a purchase day for crm.summary only) and refunds, shuffled.
    out = log.copy()
    out.loc[out.index % 29 == 0, "amount"] = 0.0
    out.loc[out.index % 31 == 0, "amount"] = -5.0
    # Orders of up to three lines of one customer, on different days.
    out["order_id"] = out.customer_id * 1_000 + out.groupby("customer_id").cumcount() // 3
    out["order_code"] = "o" + out.order_id.astype(str)
    out["region"] = out.region.astype(str)  # a string by column (channel stays categorical)
    out["store"] = (out.index % 4).astype("int32")
    out["visits"] = (out.index % 7) * 0.1  # an extra column with inexact sums
    return out


@pytest.mark.parametrize(("npartitions", "persisted"), partitions([1, 3, 40]))
@pytest.mark.parametrize(("name", "options"), HISTORY_CALLS, ids=CALL_IDS)
def test_history_functions_equal_the_in_memory_call(client, days_log, npartitions, persisted, name, options):
    ddf = partitioned(days_log, npartitions, persisted)
    got = getattr(crm.dask, name)(ddf, split_every=3, **options)
    assert_equal_frames(got, getattr(crm, name)(days_log, **options))


@pytest.mark.parametrize(("name", "options"), HISTORY_CALLS, ids=CALL_IDS)
def test_history_functions_with_string_keys_and_empty_partitions(client, days_log, name, options):
    strings = days_log.assign(customer_id="c" + days_log.customer_id.astype(str))
    ddf = dd.from_pandas(strings, npartitions=6, sort=False)
    keep = ddf.map_partitions(lambda f, partition_info=None: f if partition_info["number"] not in (0, 4) else f.iloc[:0],
                              meta=ddf._meta)
    kept = keep.compute()
    assert_equal_frames(getattr(crm.dask, name)(keep, **options), getattr(crm, name)(kept, **options))


@pytest.mark.parametrize(("name", "options"), HISTORY_CALLS, ids=CALL_IDS)
def test_history_functions_of_no_rows_have_the_in_memory_columns(client, days_log, name, options):
    ddf = dd.from_pandas(days_log.iloc[:0], npartitions=1)
    got = getattr(crm.dask, name)(ddf, **options)
    expected = getattr(crm, name)(days_log.iloc[:0], **options)
    assert len(got) == len(expected) and list(got.columns) == list(expected.columns)


def test_history_functions_report_bad_input_like_the_in_memory_call(client, days_log):
    bad = days_log.copy()
    bad.loc[[3, 500, 9_000], "amount"] = np.nan
    ddf = dd.from_pandas(bad, npartitions=4, sort=False)
    with pytest.raises(crm.InvalidDataError, match="amount"):
        crm.dask.cohorts(ddf)
    with pytest.warns(UserWarning, match="dropped 3 row"):
        got = crm.dask.summary(ddf, on_invalid="drop")
    with pytest.warns(UserWarning, match="dropped 3 row"):
        expected = crm.summary(bad, on_invalid="drop")
    assert_equal_frames(got, expected)
    with pytest.raises(crm.InvalidArgumentError, match="as_of"):
        crm.dask.lifecycle(ddf.dropna(), as_of="2020-01-01")
    with pytest.raises(crm.InvalidArgumentError, match="time_unit"):
        crm.dask.summary(ddf.dropna(), time_unit="Y")
    bad_extra = days_log.copy()
    bad_extra.loc[[7, 800], "visits"] = np.nan
    ddf = dd.from_pandas(bad_extra, npartitions=4, sort=False)
    with pytest.raises(crm.InvalidDataError, match="visits"):
        crm.dask.activity(ddf, extra=["visits"])
    with pytest.warns(UserWarning, match="dropped 2 row"):
        got = crm.dask.activity(ddf, extra=["visits"], on_invalid="drop")
    with pytest.warns(UserWarning, match="dropped 2 row"):
        expected = crm.activity(bad_extra, extra=["visits"], on_invalid="drop")
    assert_equal_frames(got, expected)
    with pytest.raises(crm.InvalidArgumentError, match="unknown indicator 'visits'"):
        crm.dask.activity(ddf, weights={"visits": 1.0})
    with pytest.raises(KeyError, match="'shop' not found"):
        crm.dask.repurchase(ddf, by="shop")
    # A quantity is checked on every row, refunds too, as in memory.
    bad_quantity = days_log.assign(quantity=days_log.quantity.astype(float))
    refund = bad_quantity.index[bad_quantity.amount < 0][0]
    bad_quantity.loc[[11, refund], "quantity"] = np.nan
    ddf = dd.from_pandas(bad_quantity, npartitions=4, sort=False)
    with pytest.raises(crm.InvalidDataError, match="quantity"):
        crm.dask.performance(ddf)
    with pytest.warns(UserWarning, match="dropped 2 row"):
        got = crm.dask.performance(ddf, on_invalid="drop")
    with pytest.warns(UserWarning, match="dropped 2 row"):
        expected = crm.performance(bad_quantity, on_invalid="drop")
    assert_equal_frames(got, expected)
    assert_equal_frames(crm.dask.performance(ddf, values=["revenue"]), crm.performance(bad_quantity, values=["revenue"]))
    with pytest.raises(crm.InvalidArgumentError, match="unknown value 'margin'"):
        crm.dask.performance(ddf, values=["margin"])
    with pytest.raises(crm.InvalidArgumentError, match="base tier"):
        crm.dask.loyalty(ddf, tiers={"silver": 100})
    with pytest.raises(crm.InvalidArgumentError, match="cost must be"):
        crm.dask.profitability(ddf, cost=True)


def test_an_order_split_over_partitions_and_days_counts_once_on_its_earliest_day(client):
    # Order 7 of customer 1: a line on Jan 9 in partition 0, one on Jan 2 in partition 1;
    # order 8: lines on Jan 9 in both. Customer 2's order 9 is in one place.
    day = pd.Timestamp
    rows = pd.DataFrame({
        "customer_id": [1, 1, 2, 1, 1],
        "order_date": [day("2024-01-09"), day("2024-01-09"), day("2024-03-01"), day("2024-01-02"), day("2024-01-09")],
        "amount": [5.0, 3.0, 4.0, 2.0, 1.0],
        "order_id": [7, 8, 9, 7, 8],
        "channel": ["web", "web", "shop", "web", "web"],
    })
    ddf = dd.from_pandas(rows, npartitions=2, sort=False)
    assert ddf.get_partition(1).compute().order_id.tolist() == [7, 8]
    activity = crm.dask.activity(ddf, order="order_id")
    assert activity.purchases.tolist() == [2, 1]  # distinct orders per customer, by plain counting
    repurchase = crm.dask.repurchase(ddf, order="order_id", by="channel", period="M")
    january = repurchase[(repurchase.channel == "web") & (repurchase.period == day("2024-01-01"))]
    assert january[["customers", "orders", "repeat_orders"]].values.tolist() == [[1, 2, 1]]
    # Order 7 is January 2's purchase: its later line (Jan 9) is no second purchase.
    churn = crm.dask.churn_risk(ddf, order="order_id", as_of="2024-03-02", window=55)
    assert churn[["purchases_recent", "purchases_prior"]].values.tolist()[0] == [1, 1]
    # Performance counts order 7 in January's web cell once, on January 2.
    performance = crm.dask.performance(ddf, order="order_id", by="channel", values=["orders", "customers"])
    assert performance[performance.channel == "web"][["orders", "customers"]].values.tolist() == [[2, 1], [0, 0], [0, 0]]
    for name, options in [("activity", dict(order="order_id")), ("churn_risk", dict(order="order_id")),
                          ("repurchase", dict(order="order_id", by="channel", period="M")),
                          ("performance", dict(order="order_id", by="channel", values=["orders", "revenue"]))]:
        assert_equal_frames(getattr(crm.dask, name)(ddf, **options), getattr(crm, name)(rows, **options))


BLOCK_DASK = """
import sys
sys.modules["dask"] = None  # as if it were not installed
import crm
assert crm.rfm(crm.datasets.synthetic(50, seed=0)).shape[0] == 50
try:
    import crm.dask
except ImportError as exc:
    print("ImportError:", exc)
"""


def test_import_crm_works_without_dask(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", BLOCK_DASK], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ImportError: crm.dask needs Dask: pip install 'crm-analytics[dask]'"


# Market baskets: the orders' (and customers') lines are shuffled over the partitions, so an
# order's items are merged from several states.

BASKET_CALLS = [
    ("frequent_itemsets", {}),
    ("frequent_itemsets", dict(min_support=0.002, max_len=2)),
    ("basket_rules", dict(min_support=0.002)),
    ("basket_rules", dict(min_support=0.001, min_confidence=0.05, min_lift=1.0, max_len=3)),
    ("cross_sell", {}),
    ("cross_sell", dict(top_n=5, metric="lift")),
]
BASKET_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(BASKET_CALLS)]


@pytest.fixture(scope="module")
def basket_rules(log):
    return crm.basket_rules(log, min_support=0.002, min_confidence=0.05)


def basket_call(module, name: str, frame, options: dict, rules):
    if name == "cross_sell":
        return module.cross_sell(frame, rules, **options)
    return getattr(module, name)(frame, **options)


def assert_same_baskets(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(expected) > 0
    assert_equal_frames(got, expected)


@pytest.mark.parametrize(("npartitions", "persisted"), partitions([1, 3, 40]))
@pytest.mark.parametrize(("name", "options"), BASKET_CALLS, ids=BASKET_IDS)
def test_basket_functions_equal_the_in_memory_call(client, log, basket_rules, npartitions, persisted, name, options):
    ddf = partitioned(log, npartitions, persisted)
    got = basket_call(crm.dask, name, ddf, dict(options, split_every=3), basket_rules)
    assert_same_baskets(got, basket_call(crm, name, log, options, basket_rules))


@pytest.mark.parametrize("item_type", ["string", "int"])
@pytest.mark.parametrize(("name", "options"), BASKET_CALLS[1::2], ids=BASKET_IDS[1::2])
def test_basket_functions_with_string_keys_other_items_and_empty_partitions(client, log, item_type, name, options):
    products = log["product"].astype(str) if item_type == "string" else log["product"].cat.codes.astype("int32") + 500
    lines = log.assign(order_id="o" + log.order_id.astype(str), customer_id="c" + log.customer_id.astype(str),
                       product=products)
    ddf = dd.from_pandas(lines, npartitions=6, sort=False)
    keep = ddf.map_partitions(lambda f, partition_info=None: f if partition_info["number"] not in (0, 4) else f.iloc[:0],
                              meta=ddf._meta)
    kept = keep.compute()
    rules = crm.basket_rules(kept, min_support=0.002, min_confidence=0.05)
    got = basket_call(crm.dask, name, keep, options, rules)
    expected = basket_call(crm, name, kept, options, rules)
    assert_same_baskets(got, expected)


def test_an_order_split_over_partitions_is_one_basket(client):
    rows = pd.DataFrame({"order_id": [1, 2, 3, 1, 2, 4], "customer_id": [7, 8, 7, 7, 8, 9],
                         "product": ["tea", "tea", "milk", "milk", "cake", "tea"]})
    ddf = dd.from_pandas(rows, npartitions=2, sort=False)
    assert ddf.get_partition(1).compute().order_id.tolist() == [1, 2, 4]
    itemsets = crm.dask.frequent_itemsets(ddf, min_support=0.25)
    pairs = itemsets[itemsets.length == 2]
    assert pairs.itemset.tolist() == [["cake", "tea"], ["milk", "tea"]] and pairs["count"].tolist() == [1, 1]
    assert_equal_frames(itemsets, crm.frequent_itemsets(rows, min_support=0.25))
    rules = crm.dask.basket_rules(ddf, min_support=0.25, min_confidence=0.3)
    assert_equal_frames(rules, crm.basket_rules(rows, min_support=0.25, min_confidence=0.3))
    # Customer 8 bought tea (partition 0) and cake (partition 1): only milk is left.
    recommended = crm.dask.cross_sell(ddf, rules)
    assert recommended[recommended.customer_id == 8]["product"].tolist() == ["milk"]
    assert_equal_frames(recommended, crm.cross_sell(rows, rules))


def test_basket_functions_of_no_rows_and_bad_input(client, log, basket_rules):
    empty = dd.from_pandas(log.iloc[:0], npartitions=1)
    for name, options in BASKET_CALLS[::2]:
        got = basket_call(crm.dask, name, empty, options, basket_rules)
        expected = basket_call(crm, name, log.iloc[:0], options, basket_rules)
        assert len(got) == len(expected) == 0 and list(got.columns) == list(expected.columns)
    bad = log.copy()
    bad.loc[[3, 500, 9_000], "product"] = None
    ddf = dd.from_pandas(bad, npartitions=4, sort=False)
    with pytest.raises(crm.InvalidDataError, match="product"):
        crm.dask.frequent_itemsets(ddf)
    for name, options in BASKET_CALLS[1::2]:
        with pytest.warns(UserWarning, match=f"crm.dask.{name}: dropped 3 row"):
            got = basket_call(crm.dask, name, ddf, dict(options, on_invalid="drop"), basket_rules)
        with pytest.warns(UserWarning, match="dropped 3 row"):
            expected = basket_call(crm, name, bad, dict(options, on_invalid="drop"), basket_rules)
        assert_same_baskets(got, expected)
    with pytest.warns(UserWarning) as record:
        crm.dask.frequent_itemsets(ddf, on_invalid="drop")
    assert record[0].filename == __file__  # the warning points at the caller
    with pytest.raises(crm.InvalidArgumentError, match="min_support"):
        crm.dask.frequent_itemsets(ddf, min_support=0)
    with pytest.raises(crm.InvalidArgumentError, match="min_confidence"):
        crm.dask.basket_rules(ddf, min_confidence=2)
    with pytest.raises(crm.InvalidArgumentError, match="top_n"):
        crm.dask.cross_sell(ddf, basket_rules, top_n=0)
    with pytest.raises(crm.InvalidArgumentError, match="split_every"):
        crm.dask.basket_rules(ddf, split_every=1)
    with pytest.raises(KeyError, match="'sku' not found"):
        crm.dask.frequent_itemsets(ddf, item="sku")
    with pytest.raises(crm.ColumnTypeError, match="antecedent"):
        crm.dask.cross_sell(ddf.assign(product=ddf["product"].cat.codes), basket_rules)
