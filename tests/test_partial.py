"""Partial states and streaming: merging the states of any split of a log gives the RFM table of
the whole log (Hypothesis), states survive Arrow IPC, foreign or other-version states are
refused, and a Parquet dataset streamed slice by slice equals the in-memory call."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crm
import crm._partial as partial
from test_baskets import as_kind, order_lines
from test_properties import rows, table_of

COLUMNS = dict(customer="customer_id", date="order_date", amount="amount")


def assert_same_rfm(got: pa.Table, expected: pa.Table) -> None:
    """Equal, with monetary to 1e-12 relative (float sums merged in another order)."""
    assert got.schema == expected.schema
    for name in expected.column_names:
        a, b = got.column(name), expected.column(name)
        if name == "monetary":
            np.testing.assert_allclose(a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False), rtol=1e-12)
        else:
            assert a.equals(b), name


def categorical(table: pa.Table) -> pa.Table:
    return table.set_column(0, "customer_id", pa.compute.cast(table["customer_id"], pa.string()).dictionary_encode())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, key=st.sampled_from(["int", "str", "cat"]), cuts=st.lists(st.integers(0, 120), max_size=4),
       seed=st.integers(0, 2**32 - 1), options=st.sampled_from([{}, {"monetary": "mean", "segments": "value8"}]),
       order=st.sampled_from([None, "int", "str"]))
def test_merged_states_of_any_split_give_the_whole_logs_rfm(data, key, cuts, seed, options, order):
    table = table_of(data, "int" if key == "int" else "str")
    if key == "cat":
        table = categorical(table)
    if order == "str":  # order ids as strings: an order's lines may fall in several pieces
        table = table.set_column(3, "order_id", pa.compute.cast(table["order_id"], pa.string()))
    table = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    bounds = sorted({0, table.num_rows, *(min(c, table.num_rows) for c in cuts)})
    pieces = [table.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]
    columns = {**COLUMNS, "order": "order_id" if order else None}
    states = [partial.partial_state(p, **columns)[0] for p in pieces]
    shuffled = np.random.default_rng(seed + 1).permutation(len(states))
    merged = partial.merge_states([partial.from_ipc(partial.to_ipc(states[i])) for i in shuffled])
    assert merged.num_rows == len(set(table["customer_id"].to_pylist()))
    derive = {"segments": "rfm11", **options}
    expected = crm.rfm(table, order=columns["order"], **derive)
    assert_same_rfm(partial.rfm_from_state(merged, **derive), expected)


def test_states_with_and_without_orders_do_not_merge():
    log = crm.datasets.synthetic(50, seed=1, frame="pyarrow")
    with_orders = partial.partial_state(log, **COLUMNS, order="order_id")[0]
    without = partial.partial_state(log, **COLUMNS)[0]
    with pytest.raises(crm.InvalidArgumentError, match="with and without an order column"):
        partial.merge_states([with_orders, without])


def test_merging_is_associative_and_keeps_key_types():
    log = crm.datasets.synthetic(2_000, seed=5, key="str", frame="pyarrow").select(list(COLUMNS.values()))
    thirds = [log.slice(i * log.num_rows // 3, log.num_rows // 3 + 1) for i in range(3)]
    a, b, c = (partial.partial_state(t, **COLUMNS)[0] for t in thirds)
    left = partial.merge_states([partial.merge_states([a, b]), c])
    right = partial.merge_states([a, partial.merge_states([b, c])])
    sums = ["net_hi", "net_lo"]
    assert left.drop_columns(sums).equals(right.drop_columns(sums))
    total = lambda t: t["net_hi"].to_numpy() + t["net_lo"].to_numpy()  # noqa: E731
    np.testing.assert_allclose(total(left), total(right), rtol=1e-15)  # merged in another grouping
    assert left.schema.field("customer_id").type == log.schema.field("customer_id").type


def test_ipc_bytes_pickle_out_of_band_and_read_back_without_a_copy():
    import pickle

    state = partial.partial_state(crm.datasets.synthetic(200, seed=2, frame="pyarrow"), **COLUMNS)[0]
    data = partial.to_ipc(state)
    frames: list[pickle.PickleBuffer] = []
    sent = pickle.dumps(data, protocol=5, buffer_callback=frames.append)
    assert len(frames) == 1 and len(sent) < 200  # the bytes travel beside the pickle, as Dask sends them
    received = pickle.loads(sent, buffers=[bytearray(f.raw()) for f in frames])
    assert partial.from_ipc(received).equals(state)
    assert partial.from_ipc(data.tobytes()).equals(state)


def test_ipc_bytes_travel_in_dask_as_raw_frames_not_pickled():
    protocol = pytest.importorskip("distributed.protocol")
    state = partial.partial_state(crm.datasets.synthetic(200, seed=2, frame="pyarrow"), **COLUMNS)[0]
    header, frames = protocol.serialize(partial.to_ipc(state))
    assert header["serializer"] == "dask"  # numpy's own: no pickle, no copy on the way
    assert partial.from_ipc(protocol.deserialize(header, frames)).equals(state)


def test_a_state_from_another_version_or_any_other_table_is_refused():
    state = partial.partial_state(crm.datasets.synthetic(50, seed=1, frame="pyarrow"), **COLUMNS)[0]
    meta = dict(state.schema.metadata)
    meta[b"crm.partial.version"] = b"99"
    with pytest.raises(crm.InvalidArgumentError, match="version 99"):
        partial.merge_states([state, state.replace_schema_metadata(meta)])
    with pytest.raises(crm.InvalidArgumentError, match="not a crm partial state"):
        partial.rfm_from_state(pa.table({"customer_id": [1], "rows": [1]}))
    with pytest.raises(crm.InvalidArgumentError, match="not a crm partial state"):
        partial.merge_states([state.drop_columns(["net_lo"]).replace_schema_metadata(state.schema.metadata)])


def assert_same_table(got: pa.Table, expected: pa.Table) -> None:
    """Equal, with float columns to 1e-9 (sums merged in another order)."""
    assert got.schema == expected.schema
    for name in expected.column_names:
        a, b = got.column(name), expected.column(name)
        if pa.types.is_floating(a.type):
            np.testing.assert_allclose(a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False),
                                       rtol=1e-9, atol=1e-9)
        else:
            assert a.equals(b), name


HISTORY_DERIVES = [
    ("summary", {"time_unit": "D"}),
    ("repurchase", {"period": "M"}),
    ("cohorts", {"metric": "revenue"}),
    ("churn_risk", {"window": 30}),
    ("interpurchase", {"output": "distribution"}),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, key=st.sampled_from(["int", "str", "cat"]), cuts=st.lists(st.integers(0, 120), max_size=4),
       seed=st.integers(0, 2**32 - 1))
def test_merged_days_of_any_split_give_the_whole_logs_history_functions(data, key, cuts, seed):
    table = table_of(data, "int" if key == "int" else "str").drop_columns(["order_id"])
    if key == "cat":
        table = categorical(table)
    table = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    bounds = sorted({0, table.num_rows, *(min(c, table.num_rows) for c in cuts)})
    pieces = [table.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]
    states = [partial.partial_state(p, **COLUMNS, kind="customer_days")[0] for p in pieces]
    order = np.random.default_rng(seed + 1).permutation(len(states))
    merged = partial.merge_states([partial.from_ipc(partial.to_ipc(states[i])) for i in order])
    customer_days = {(k, d.date() if hasattr(d, "date") else d)
                     for k, d in zip(table["customer_id"].to_pylist(), table["order_date"].to_pylist())}
    assert merged.num_rows == len(customer_days)
    for name, options in HISTORY_DERIVES:
        got = pa.table(partial._Capsule(getattr(crm._core, f"{name}_from_partial")(merged, **options)))
        assert_same_table(got, getattr(crm, name)(table, **options))


VALUE_TIERS = [("high", 0.2), ("medium", 0.3), ("low", 0.5)]
LOYALTY_TIERS = {"member": 0, "silver": 100, "gold": 500}
EVERY_VALUE = ["quantity", "revenue", "gross", "refunds", "customers", "orders"]
# (function, its *_from_partial arguments, what the state carries, the in-memory call's
# arguments besides the carried columns).
CARRYING_DERIVES = [
    ("repurchase", dict(period="M"), dict(by=["channel", "store"], order="order_id"), dict(period="M")),
    ("repurchase", {}, dict(order="order_id"), {}),
    ("churn_risk", dict(window=30), dict(order="order_id"), dict(window=30)),
    ("activity", dict(extra_weights=[0.3]), dict(extra=["visits"], order="order_id"), {}),
    # The value functions: cost and bonus columns travel as extra sums, units bought as
    # purchase sums.
    ("profitability", dict(tiers=VALUE_TIERS), dict(extra=["visits"]), dict(cost="visits")),
    ("profitability", dict(tiers=VALUE_TIERS, cost_rate=0.6, output="deciles"), {}, dict(cost=0.6, output="deciles")),
    ("performance", dict(period="M", values=EVERY_VALUE), dict(by=["channel", "store"], order="order_id",
                                                                purchase_sums=["quantity"]),
     dict(period="M", values=EVERY_VALUE)),
    ("performance", dict(values=["orders", "quantity"], shape="wide"), dict(purchase_sums=["quantity"]),
     dict(by=None, period=None, values=["orders", "quantity"], shape="wide")),
    ("loyalty", dict(tiers=list(LOYALTY_TIERS.items()), window_days=30), dict(extra=["visits"]),
     dict(tiers=LOYALTY_TIERS, window_days=30, bonus="visits")),
    ("loyalty", dict(tiers=list(LOYALTY_TIERS.items()), output="tiers", points_per_unit=0.5), {},
     dict(tiers=LOYALTY_TIERS, output="tiers", points_per_unit=0.5)),
]


def in_memory_arguments(carried: dict, options: dict) -> dict:
    """The in-memory call's keyword arguments for a state carrying ``carried``."""
    columns = {k: v for k, v in carried.items() if k in ("by", "order")}
    if "extra" in carried and not {"cost", "bonus"} & options.keys():
        columns["extra"] = carried["extra"]
    if "purchase_sums" in carried:
        columns["quantity"] = carried["purchase_sums"][0]
    return {**columns, **options}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, key=st.sampled_from(["int", "str", "cat"]), cuts=st.lists(st.integers(0, 120), max_size=4),
       seed=st.integers(0, 2**32 - 1), order=st.sampled_from(["int", "str"]))
def test_merged_days_with_groups_orders_and_extras_of_any_split_give_the_whole_logs(data, key, cuts, seed, order):
    table = table_of(data, "int" if key == "int" else "str")
    if key == "cat":
        table = categorical(table)
    if order == "str":
        table = table.set_column(3, "order_id", pa.compute.cast(table["order_id"], pa.string()))
    ids = np.arange(table.num_rows)
    table = table.append_column("channel", pa.array(np.array(["web", "shop", "app"])[ids % 3]).dictionary_encode())
    table = table.append_column("store", pa.array(ids % 2, pa.int32()))
    table = table.append_column("visits", pa.array((ids % 7) * 0.1))
    table = table.append_column("quantity", pa.array(ids % 5 + 1))
    table = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    bounds = sorted({0, table.num_rows, *(min(c, table.num_rows) for c in cuts)})
    pieces = [table.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]
    for name, derive, carried, options in CARRYING_DERIVES:
        states = [partial.partial_state(p, **COLUMNS, **carried, kind="customer_days")[0] for p in pieces]
        shuffled = np.random.default_rng(seed + 1).permutation(len(states))
        merged = partial.merge_states([partial.from_ipc(partial.to_ipc(states[i])) for i in shuffled])
        got = pa.table(partial._Capsule(getattr(crm._core, f"{name}_from_partial")(merged, **derive)))
        assert_same_table(got, getattr(crm, name)(table, **in_memory_arguments(carried, options)))


def test_a_per_day_state_is_read_only_by_the_functions_of_its_parameters():
    log = crm.datasets.synthetic(50, seed=1, frame="pyarrow")
    grouped = partial.partial_state(log, **COLUMNS, by=["channel"], kind="customer_days")[0]
    plain = partial.partial_state(log, **COLUMNS, kind="customer_days")[0]
    with pytest.raises(crm.InvalidArgumentError, match="different by, order, extra or purchase sum"):
        partial.merge_states([grouped, plain])
    with pytest.raises(crm.InvalidArgumentError, match="by groups, which churn_risk does not take"):
        crm._core.churn_risk_from_partial(grouped)
    with_orders = partial.partial_state(log, **COLUMNS, order="order_id", kind="customer_days")[0]
    with pytest.raises(crm.InvalidArgumentError, match="order lists, which summary does not take"):
        crm._core.summary_from_partial(with_orders)
    with_extra = partial.partial_state(log, **COLUMNS, extra=["quantity"], kind="customer_days")[0]
    with pytest.raises(crm.InvalidArgumentError, match="extra_weights gives 0 weight"):
        crm._core.activity_from_partial(with_extra)
    with pytest.raises(crm.InvalidArgumentError, match="kind='customer_days'"):
        partial.partial_state(log, **COLUMNS, by=["channel"])
    units = partial.partial_state(log, **COLUMNS, purchase_sums=["quantity"], kind="customer_days")[0]
    with pytest.raises(crm.InvalidArgumentError, match="different by, order, extra or purchase sum"):
        partial.merge_states([units, plain])
    with pytest.raises(crm.InvalidArgumentError, match="purchase sums, which cohorts does not take"):
        crm._core.cohorts_from_partial(units)
    with pytest.raises(crm.InvalidArgumentError, match="'quantity' needs a quantity column"):
        crm._core.performance_from_partial(plain, values=["quantity"])
    with pytest.raises(crm.InvalidArgumentError, match="kind='customer_days'"):
        partial.partial_state(log, **COLUMNS, purchase_sums=["quantity"])
    two = partial.partial_state(log, **COLUMNS, extra=["quantity", "amount"], kind="customer_days")[0]
    with pytest.raises(crm.InvalidArgumentError, match="takes one cost column"):
        crm._core.profitability_from_partial(two, tiers=[("all", 1.0)])
    with pytest.raises(crm.InvalidArgumentError, match="not both"):
        crm._core.profitability_from_partial(with_extra, tiers=[("all", 1.0)], cost_rate=0.5)


def test_states_of_one_kind_are_refused_where_the_other_is_needed():
    log = crm.datasets.synthetic(50, seed=1, frame="pyarrow")
    days = partial.partial_state(log, **COLUMNS, kind="customer_days")[0]
    with pytest.raises(crm.InvalidArgumentError, match="kind 'customer_days'"):
        partial.rfm_from_state(days)
    states = partial.partial_state(log, **COLUMNS)[0]
    with pytest.raises(crm.InvalidArgumentError, match="kind 'customer_states'"):
        crm._core.summary_from_partial(states)
    with pytest.raises(crm.InvalidArgumentError, match="kind"):
        partial.partial_state(log, **COLUMNS, kind="customers")


@pytest.fixture
def small_steps(monkeypatch):
    monkeypatch.setattr(partial, "STEP_ROWS", 3_000)


@pytest.fixture
def parquet_log(tmp_path):
    log = crm.datasets.synthetic(3_000, seed=2, frame="pyarrow")
    folder = tmp_path / "log"
    folder.mkdir()
    n = log.num_rows
    for i, start in enumerate(range(0, n, n // 4 + 1)):
        pq.write_table(log.slice(start, n // 4 + 1), folder / f"part-{i}.parquet", row_group_size=2_000)
    return log, folder


def test_a_streamed_dataset_gives_the_in_memory_table(small_steps, parquet_log):
    log, folder = parquet_log
    expected = crm.rfm(log, as_of="2025-01-31", labels="zh")
    got = crm.rfm(ds.dataset(folder), as_of="2025-01-31", labels="zh")
    assert_same_rfm(got, expected)
    reader = pa.RecordBatchReader.from_batches(log.schema, log.to_batches(max_chunksize=1_000))
    assert_same_rfm(crm.rfm(reader, as_of="2025-01-31", labels="zh"), expected)


def test_streaming_reports_progress_only_when_asked(small_steps, parquet_log, capsys):
    log, folder = parquet_log
    crm.rfm(ds.dataset(folder), progress=True)
    err = capsys.readouterr().err
    assert f"{log.num_rows:,} of {log.num_rows:,} rows (100%)" in err
    crm.rfm(ds.dataset(folder))
    assert capsys.readouterr().err == ""


def test_streaming_edge_cases(small_steps, parquet_log):
    log, folder = parquet_log
    empty = crm.rfm(pa.RecordBatchReader.from_batches(log.schema, []))
    assert empty.num_rows == 0 and empty.schema == crm.rfm(log.slice(0, 0)).schema
    assert_same_rfm(crm.rfm(ds.dataset(folder), order="order_id"), crm.rfm(log, order="order_id"))
    with pytest.raises(KeyError, match="'client' not found"):
        crm.rfm(ds.dataset(folder), customer="client")
    amounts = log["amount"].to_numpy().copy()
    amounts[[5, 4_000, 9_000]] = np.nan
    bad = log.set_column(log.schema.get_field_index("amount"), "amount", pa.array(amounts))
    reader = lambda: pa.RecordBatchReader.from_batches(bad.schema, bad.to_batches(max_chunksize=1_000))  # noqa: E731
    with pytest.raises(crm.InvalidDataError, match="amount"):
        crm.rfm(reader())
    with pytest.warns(UserWarning, match="dropped 3 row"):
        got = crm.rfm(reader(), on_invalid="drop")
    with pytest.warns(UserWarning, match="dropped 3 row"):
        expected = crm.rfm(bad, on_invalid="drop")
    assert_same_rfm(got, expected)


def test_the_cli_streams_a_glob_of_parquet_files(parquet_log, tmp_path):
    log, folder = parquet_log
    out = tmp_path / "rfm.parquet"
    run = subprocess.run([sys.executable, "-m", "crm", "rfm", str(folder / "part-*.parquet"), "-o", str(out), "--progress"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "rows (100%)" in run.stderr
    assert_same_rfm(pq.read_table(out), crm.rfm(log))
    run = subprocess.run([sys.executable, "-m", "crm", "rfm", str(folder / "nothing-*.parquet"), "-o", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "no file matches" in run.stderr


# ---------------------------------------------------------------- baskets


def merged_baskets(pieces: list[pa.Table], key: str, seed: int) -> list[pa.Table]:
    """The pieces' baskets states, through IPC, merged in a random tree down to at most two
    (the deriving call merges those)."""
    rng = np.random.default_rng(seed)
    states = [partial.from_ipc(partial.to_ipc(pa.table(crm._frames._Capsule(
        crm._core.basket_state(p, key=key, item="product")[0])))) for p in pieces]
    while len(states) > 2:
        rng.shuffle(states)
        k = int(rng.integers(2, len(states) + 1))
        merged = pa.table(crm._frames._Capsule(crm._core.merge_basket_states(states[:k])))
        states = [partial.from_ipc(partial.to_ipc(merged))] + states[k:]
    return states


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=order_lines(max_orders=30), item_type=st.sampled_from(["string", "int", "categorical", "large_string"]),
       key=st.sampled_from(["int", "str"]), cuts=st.lists(st.integers(0, 100), max_size=5), seed=st.integers(0, 2**32 - 1),
       min_support=st.sampled_from([0.05, 0.1, 0.3]), max_len=st.sampled_from([None, 2]),
       top_n=st.integers(1, 3), metric=st.sampled_from(["confidence", "lift"]))
def test_merged_baskets_of_any_split_give_the_whole_logs_itemsets_rules_and_cross_sell(
        lines, item_type, key, cuts, seed, min_support, max_len, top_n, metric):
    table = as_kind(lines, item_type, "pyarrow")
    if key == "str":  # an order's (and a customer's) lines fall in several pieces
        table = table.set_column(0, "order_id", pa.compute.cast(table["order_id"], pa.string()))
    table = table.append_column("customer_id", pa.compute.bit_wise_and(table["order_id"], 3)
                                if key == "int" else pa.compute.utf8_slice_codeunits(table["order_id"], 0, 2))
    table = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    bounds = sorted({0, table.num_rows, *(min(c, table.num_rows) for c in cuts)})
    pieces = [table.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]
    orders = merged_baskets(pieces, "order_id", seed)
    mining = dict(min_support=min_support, max_len=max_len)
    got = pa.table(crm._frames._Capsule(crm._core.frequent_itemsets_from_partial(orders, **mining)))
    assert got.equals(crm.frequent_itemsets(table, **mining))
    rules = crm.basket_rules(table, min_confidence=0.2, **mining)
    got = pa.table(crm._frames._Capsule(crm._core.basket_rules_from_partial(orders, min_confidence=0.2, **mining)))
    assert got.equals(rules)
    customers = merged_baskets(pieces, "customer_id", seed + 1)
    options = dict(top_n=top_n, metric=metric)
    got = pa.table(crm._frames._Capsule(crm._core.cross_sell_from_partial(customers, rules, item="product", **options)))
    assert got.equals(crm.cross_sell(table, rules, **options))


def test_baskets_states_of_another_kind_are_refused():
    lines = pa.table({"order_id": [1, 1, 2], "product": ["tea", "milk", "tea"]})
    state = pa.table(crm._frames._Capsule(crm._core.basket_state(lines, key="order_id", item="product")[0]))
    assert state.schema.metadata[b"crm.partial"] == b"baskets"
    assert state.schema.field("items").type == pa.list_(pa.field("item", pa.dictionary(pa.uint32(), pa.string()),
                                                                 nullable=False))
    log = crm.datasets.synthetic(20, seed=1, frame="pyarrow")
    rfm_state = partial.partial_state(log, **COLUMNS)[0]
    with pytest.raises(crm.InvalidArgumentError, match="of kind 'customer_states'"):
        crm._core.frequent_itemsets_from_partial([state, rfm_state])
    with pytest.raises(crm.InvalidArgumentError, match="not a crm partial state"):
        crm._core.merge_basket_states([state, lines])
    newer = state.replace_schema_metadata({**state.schema.metadata, b"crm.partial.version": b"99"})
    with pytest.raises(crm.InvalidArgumentError, match="version 99"):
        crm._core.basket_rules_from_partial([newer])
