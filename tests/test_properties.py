"""Invariances (Hypothesis): row order, thread count, and garbage in → documented errors only."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crm

DAY0 = dt.date(2023, 1, 1)

rows = st.lists(
    st.tuples(
        st.integers(0, 25),                                   # customer
        st.integers(0, 400),                                  # day offset
        st.integers(-5_000, 50_000).map(lambda c: c / 100),   # amount in cents
        st.integers(0, 40),                                   # order id
    ),
    min_size=1,
    max_size=120,
)


def table_of(data, key: str) -> pa.Table:
    customers = [c for c, *_ in data]
    return pa.table({
        "customer_id": [f"c{c:02d}" for c in customers] if key == "str" else customers,
        "order_date": pa.array([DAY0 + dt.timedelta(days=d) for _, d, _, _ in data], pa.date32()),
        "amount": [a for _, _, a, _ in data],
        "order_id": [o for *_, o in data],
    })


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, key=st.sampled_from(["int", "str"]), seed=st.integers(0, 2**32 - 1),
       options=st.sampled_from([{}, {"order": "order_id"}, {"monetary": "mean", "segments": "value8"}, {"bins": 3, "segments": None}]))
def test_result_does_not_depend_on_row_order(data, key, seed, options):
    table = table_of(data, key)
    shuffled = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    assert crm.rfm(table, **options).equals(crm.rfm(shuffled, **options))


@settings(max_examples=60, deadline=None)
@given(data=rows, cut=st.integers(0, 120))
def test_chunking_of_the_input_does_not_matter(data, cut):
    table = table_of(data, "str")
    cut = min(cut, table.num_rows)
    chunked = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    assert crm.rfm(table).equals(crm.rfm(chunked))


THREADS_SCRIPT = """
import sys, crm, pyarrow.parquet as pq
log = crm.datasets.synthetic(30_000, seed=4, key=sys.argv[2], frame="pyarrow")
out = crm.rfm(log, order=sys.argv[3] or None)
assert crm.num_threads() == int(sys.argv[4]), crm.num_threads()
pq.write_table(out, sys.argv[1])
"""


@pytest.mark.parametrize("key, order", [("int", ""), ("str", "order_id")])
def test_result_does_not_depend_on_thread_count(tmp_path, key, order):
    results = []
    for threads in (1, 2, 3):
        path = tmp_path / f"out{threads}.parquet"
        env = dict(os.environ, CRM_NUM_THREADS=str(threads))
        subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(path), key, order, str(threads)], env=env, check=True)
        results.append(pq.read_table(path))
    assert results[0].num_rows > 20_000
    assert results[0].equals(results[1]) and results[0].equals(results[2])


def column_strategy():
    n = 6
    return st.one_of(
        st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=n, max_size=n).map(lambda v: pa.array(v, pa.int64())),
        st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), min_size=n, max_size=n).map(lambda v: pa.array(v, pa.float64())),
        st.lists(st.one_of(st.none(), st.text(max_size=20)), min_size=n, max_size=n).map(lambda v: pa.array(v, pa.string())),
        st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n).map(lambda v: pa.array(v, pa.bool_())),
        st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), min_size=n, max_size=n).map(lambda v: pa.array(v, pa.timestamp("ns", tz="Asia/Shanghai"))),
        st.lists(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), min_size=n, max_size=n).map(lambda v: pa.array(v, pa.date32())),
        st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), min_size=n, max_size=n).map(lambda v: pa.array(v, pa.timestamp("s"))),
        st.lists(st.sampled_from(["a", "b", None]), min_size=n, max_size=n).map(lambda v: pa.array(v).dictionary_encode()),
    )


@settings(max_examples=300, deadline=None)
@given(customer=column_strategy(), date=column_strategy(), amount=column_strategy(),
       on_invalid=st.sampled_from(["raise", "drop"]), as_of=st.sampled_from([None, "2024-01-01", "1900-01-01"]))
def test_garbage_in_gives_a_documented_error_or_a_result(customer, date, amount, on_invalid, as_of):
    table = pa.table({"customer_id": customer, "order_date": date, "amount": amount})
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = crm.rfm(table, on_invalid=on_invalid, as_of=as_of)
    except crm.CrmError:
        return
    assert out.num_rows <= table.num_rows


FORK_SCRIPT = """
import multiprocessing as mp, crm
log = crm.datasets.synthetic(2_000, seed=1, frame="pyarrow")
parent = crm.rfm(log)                      # the parent's pool is running now

def child(queue):
    queue.put(crm.rfm(log).equals(parent))

ctx = mp.get_context("fork")
queue = ctx.Queue()
p = ctx.Process(target=child, args=(queue,))
p.start()
ok = queue.get(timeout=60)
p.join(timeout=60)
assert ok and p.exitcode == 0, (ok, p.exitcode)
print("fork ok")
"""


def test_a_forked_child_computes_with_its_own_pool():
    out = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fork ok" in out.stdout
