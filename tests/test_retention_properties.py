"""Invariances of the seven retention functions (Hypothesis): row order, chunking and thread
count do not change the result; small random logs agree with the pandas oracle."""

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
from test_retention import REFERENCE, assert_matches, check_reasons

# A few option sets per function; each example picks one.
CASES = {
    "repurchase": [
        {},
        {"order": "order_id"},
        {"period": "W", "order": "order_id"},
        {"period": "M", "by": "channel"},
        {"period": "Q", "by": ["channel", "region"], "order": "order_id"},
        {"period": "Y"},
    ],
    "interpurchase": [{}, {"output": "distribution"}],
    "lifecycle": [{}, {"thresholds": (7, 30, 90), "labels": "zh"}],
    "churn_risk": [{}, {"order": "order_id", "window": 30}, {"window": 7, "overdue_factor": 1.0}],
    "cohorts": [
        {},
        {"metric": "active_customers", "format": "wide"},
        {"period": "W", "metric": "revenue"},
        {"period": "Q", "metric": "cumulative_revenue_per_customer", "format": "wide"},
    ],
    "acquisition": [{}, {"period": "W", "lapse_days": 20}, {"period": "Q", "lapse_days": 0}],
    "activity": [{}, {"order": "order_id", "extra": ["quantity"]}, {"half_life_days": 10, "weights": {"monetary": 0}}],
}
TAKES_AS_OF = {"lifecycle", "churn_risk", "acquisition", "activity"}

DAY0 = dt.date(2023, 1, 1)
CHANNELS = ["web", "store", "app"]
REGIONS = ["North", "South"]

rows = st.lists(
    st.tuples(
        st.integers(0, 15),                                   # customer
        st.integers(0, 400),                                  # day offset
        st.integers(-3_000, 30_000).map(lambda c: c / 100),   # amount in cents (refunds, zeros)
        st.integers(0, 30),                                   # order id (shared across days now and then)
        st.integers(0, 2),                                    # channel
        st.integers(0, 1),                                    # region
        st.integers(1, 5),                                    # quantity
        st.integers(0, 86_399),                               # second of the day
    ),
    min_size=1,
    max_size=80,
)


def table_of(data, key: str, dates: str) -> pa.Table:
    if dates == "date32":
        order_date = pa.array([DAY0 + dt.timedelta(days=r[1]) for r in data], pa.date32())
    else:
        # wall-clock times in Shanghai, stored as UTC instants: the calendar day is the local one
        local = np.array([np.datetime64(DAY0) + np.timedelta64(r[1], "D") + np.timedelta64(r[7], "s") for r in data],
                         dtype="datetime64[s]")
        utc = local - np.timedelta64(8, "h")
        order_date = pa.array(utc.astype("int64"), pa.timestamp("s", tz="Asia/Shanghai"))
    return pa.table({
        "customer_id": [f"c{r[0]:02d}" for r in data] if key == "str" else [r[0] for r in data],
        "order_date": order_date,
        "amount": [r[2] for r in data],
        "order_id": [r[3] for r in data],
        "channel": [CHANNELS[r[4]] for r in data],
        "region": [REGIONS[r[5]] for r in data],
        "quantity": [r[6] for r in data],
    })


PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", list(REFERENCE))
@PROPERTY_SETTINGS
@given(data=rows, key=st.sampled_from(["int", "str"]), dates=st.sampled_from(["date32", "tz"]),
       seed=st.integers(0, 2**32 - 1), case=st.integers(0, 100), cut=st.integers(0, 80))
def test_result_does_not_depend_on_row_order_or_chunks(name, data, key, dates, seed, case, cut):
    options = CASES[name][case % len(CASES[name])]
    function = getattr(crm, name)
    table = table_of(data, key, dates)
    expected = function(table, **options)
    shuffled = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    assert function(shuffled, **options).equals(expected), "row order changed the result"
    cut = min(cut, table.num_rows)
    chunked = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    assert function(chunked, **options).equals(expected), "chunking changed the result"


@pytest.mark.parametrize("name", list(REFERENCE))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, key=st.sampled_from(["int", "str"]), dates=st.sampled_from(["date32", "tz"]),
       case=st.integers(0, 100), later=st.one_of(st.none(), st.integers(0, 400)))
def test_small_random_logs_agree_with_the_reference(name, data, key, dates, case, later):
    options = dict(CASES[name][case % len(CASES[name])])
    table = table_of(data, key, dates)
    df = table.to_pandas()
    if name in TAKES_AS_OF and later is not None:
        last = max(DAY0 + dt.timedelta(days=r[1]) for r in data)
        options["as_of"] = last + dt.timedelta(days=later)
    out = getattr(crm, name)(table, **options)
    expected = REFERENCE[name](df, **options)
    assert_matches(out, expected)
    if name == "churn_risk":
        check_reasons(out, expected)


THREADS_SCRIPT = """
import sys, crm, pyarrow.parquet as pq
out_dir, key, tz, order, threads = sys.argv[1], sys.argv[2], sys.argv[3] or None, sys.argv[4] or None, int(sys.argv[5])
log = crm.datasets.synthetic(30_000, seed=4, key=key, tz=tz, frame="pyarrow")
o = {"order": order} if order else {}
results = {
    "repurchase": crm.repurchase(log, **o),
    "repurchase_by": crm.repurchase(log, period="W", by=["channel", "region"], **o),
    "interpurchase": crm.interpurchase(log),
    "distribution": crm.interpurchase(log, output="distribution"),
    "lifecycle": crm.lifecycle(log, labels="zh"),
    "churn_risk": crm.churn_risk(log, **o),
    "cohorts": crm.cohorts(log, metric="cumulative_revenue_per_customer", format="wide"),
    "cohorts_weekly": crm.cohorts(log, period="W", metric="revenue"),
    "acquisition": crm.acquisition(log, period="W"),
    "activity": crm.activity(log, extra=["quantity"], **o),
}
assert crm.num_threads() == threads, crm.num_threads()
assert results["lifecycle"].num_rows == 30_000
for name, table in results.items():
    pq.write_table(table, f"{out_dir}/{name}.parquet")
print(len(results))
"""


@pytest.mark.parametrize("key, tz, order", [("int", "", ""), ("str", "Asia/Shanghai", "order_id")])
def test_result_does_not_depend_on_thread_count(tmp_path, key, tz, order):
    results = {}
    for threads in (1, 2):
        out_dir = tmp_path / f"threads{threads}"
        out_dir.mkdir()
        env = dict(os.environ, CRM_NUM_THREADS=str(threads))
        done = subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(out_dir), key, tz, order, str(threads)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results[threads] = {path.stem: pq.read_table(path) for path in sorted(out_dir.glob("*.parquet"))}
    assert len(results[1]) == 10 and results[1].keys() == results[2].keys()
    for name in results[1]:
        assert results[1][name].equals(results[2][name]), name
