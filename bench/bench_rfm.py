#!/usr/bin/env python
"""Benchmark `crm.rfm` against the same RFM table written in pandas, polars and duckdb.

    python bench/bench_rfm.py                       # 1M, 10M, 50M rows; int and str keys
    python bench/bench_rfm.py --sizes 1e6 --runs 5 --keys int --tools pandas,polars,duckdb

Every tool produces the full output of docs/rfm_definitions.md with the defaults
(as_of = latest day in the data, bins = 5, monetary = "sum", segments = "rfm11"): per customer
recency, frequency, monetary, first/last purchase, R/F/M scores with the average-rank formula,
rfm_code, rfm_score and segment, sorted by customer key.

How it runs
  * Each (size, key type) data set is generated once, in a subprocess, with
    `crm.datasets.synthetic_rows(..., frame="pyarrow", sort=True)` (a stand-in generator
    below is used while that is not importable) and written to Parquet in a temp dir.
  * Before any timing, for each key type (plus one tz-aware copy, --check-tz) a small data set
    (--check-rows, default 200k) is run through every tool and compared with tests/reference.py:
    keys, recency, frequency, dates, scores, codes and segments identical, monetary to 1e-9
    (relative).  One allowance: customers whose net sums tie exactly may rank either way once
    float summation order differs (parallel sums are not bit-reproducible), so a tool's M scores
    are checked against the spec's formula applied to its own monetary column when that column
    matches the reference.  Any mismatch aborts loudly (exit code 2) before anything is timed.
  * Each (data set, tool) is timed in a fresh subprocess: the tool's natural input is loaded
    outside the timing (pyarrow Table for crm, polars DataFrame for crm-polars and polars,
    pandas DataFrame for pandas, pyarrow Table registered in duckdb for duckdb), then the tool
    runs --runs times; the median is reported.  Peak memory: the kernel's high-water mark is
    reset after the input is loaded (/proc/self/clear_refs), and "peak extra MB" is the peak RSS
    during the runs minus the RSS right before them (fallback: ru_maxrss minus that RSS).
    "input MB" is the in-memory size of the tool's input as the library reports it.
  * All tools read only customer_id, order_date and amount.

Prints one markdown table on stdout (progress goes to stderr) and writes it to --out.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

COLUMNS = ["customer_id", "order_date", "amount"]
ALL_TOOLS = ["crm", "crm-polars", "pandas", "polars", "duckdb"]
CRM_TOOLS = {"crm", "crm-polars"}

# rows -> customers, as in the benchmark plan; other sizes get rows / 10
DEFAULT_CUSTOMERS = {1_000_000: 100_000, 10_000_000: 1_000_000, 50_000_000: 3_000_000}

BINS = 5

# rfm11: (name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi)), first match wins
RFM11 = [
    ("Champions", (4, 5), (4, 5), (4, 5)),
    ("Loyal Customers", (3, 5), (3, 5), (3, 5)),
    ("New Customers", (5, 5), (1, 1), (1, 5)),
    ("Promising", (4, 4), (1, 1), (1, 5)),
    ("Potential Loyalist", (4, 5), (1, 5), (1, 5)),
    ("About To Sleep", (2, 3), (1, 2), (1, 2)),
    ("Need Attention", (3, 3), (1, 5), (1, 5)),
    ("Can't Lose Them", (1, 2), (4, 5), (4, 5)),
    ("Lost", (1, 1), (1, 2), (1, 2)),
    ("At Risk", (1, 2), (2, 5), (2, 5)),
    ("Hibernating", (1, 2), (1, 5), (1, 5)),
]


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def customers_for(n_rows: int) -> int:
    return DEFAULT_CUSTOMERS.get(n_rows, max(1, n_rows // 10))


# ============================================================================ data


def _standin_synthetic_rows(n_rows, *, n_customers=None, seed=0, key="int", frame="pyarrow", tz=None, sort=True):
    """Stand-in for crm.datasets.synthetic_rows (same signature and columns), used until it exists."""
    import numpy as np
    import pyarrow as pa

    if frame != "pyarrow":
        raise ValueError("the stand-in generator only makes pyarrow tables")
    rng = np.random.default_rng(seed)
    n_customers = n_customers or max(1, n_rows // 10)

    # skewed activity: a few heavy buyers, many occasional ones
    weight = rng.lognormal(0.0, 1.0, n_customers)
    cust = np.searchsorted(np.cumsum(weight / weight.sum()), rng.random(n_rows), side="right")
    cust = np.minimum(cust, n_customers - 1)
    # random ids so key order is unrelated to activity
    ids = rng.permutation(n_customers).astype(np.int64) + 1_000_000

    start = np.datetime64("2023-01-01T00:00:00", "us").astype(np.int64)
    span = 2 * 365 * 86_400 * 1_000_000
    ts = start + rng.integers(0, span, n_rows, dtype=np.int64)
    if sort:
        order = np.argsort(ts, kind="stable")
        ts, cust = ts[order], cust[order]

    amount = np.round(rng.lognormal(3.5, 1.0, n_rows), 2)
    u = rng.random(n_rows)
    amount = np.where(u < 0.03, -amount, amount)  # refunds
    amount = np.where((u >= 0.03) & (u < 0.035), 0.0, amount)  # zero rows

    if key == "int":
        customer = pa.array(ids[cust])
    elif key == "str":
        labels = pa.array([f"C{i:09d}" for i in ids], type=pa.string())
        customer = labels.take(pa.array(cust))
    else:
        raise ValueError(f"key must be 'int' or 'str', got {key!r}")

    def dim(values, k):
        return pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, len(values), k).astype(np.int32)), values)

    date_type = pa.timestamp("us", tz=tz)
    return pa.table(
        {
            "customer_id": customer,
            "order_id": pa.array(np.arange(n_rows, dtype=np.int64)),
            "order_date": pa.array(ts, type=date_type),
            "amount": pa.array(amount),
            "product": dim(pa.array([f"P{i:03d}" for i in range(200)]), n_rows),
            "category": dim(pa.array(["food", "home", "toys", "books", "sport", "beauty"]), n_rows),
            "region": dim(pa.array(["north", "south", "east", "west"]), n_rows),
            "channel": dim(pa.array(["web", "app", "store"]), n_rows),
            "quantity": pa.array(rng.integers(1, 5, n_rows).astype(np.int32)),
        }
    )


def get_generator():
    """(synthetic_rows, description)."""
    try:
        from crm.datasets import synthetic_rows

        return synthetic_rows, "crm.datasets.synthetic_rows"
    except Exception as exc:  # ImportError, or a half-built package
        return _standin_synthetic_rows, f"stand-in generator in bench_rfm.py (crm.datasets unavailable: {type(exc).__name__})"


# ============================================================================ the tools


def rfm_pandas(df):
    import numpy as np
    import pandas as pd

    ts = df["order_date"]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_localize(None)  # local wall time in the column's zone
    day = ts.dt.normalize()
    amount = df["amount"]
    purchase = amount > 0

    work = pd.DataFrame(
        {"customer_id": df["customer_id"], "purchase": purchase, "amount": amount, "day": day.where(purchase)}
    )
    out = work.groupby("customer_id", sort=True).agg(
        frequency=("purchase", "sum"),
        monetary=("amount", "sum"),
        first_purchase=("day", "min"),
        last_purchase=("day", "max"),
    )
    out["recency"] = (day.max() - out["last_purchase"]).dt.days
    n = len(out)

    def score(x):
        rank = x.rank(method="average", na_option="top")
        return (np.floor(BINS * (rank - 0.5) / n) + 1).astype("int8")

    r = out["r_score"] = score(-out["recency"])
    f = out["f_score"] = score(out["frequency"])
    m = out["m_score"] = score(out["monetary"])
    out["rfm_code"] = r.astype(str) + f.astype(str) + m.astype(str)
    out["rfm_score"] = r + f + m
    conditions = [
        r.between(*rr) & f.between(*fr) & m.between(*mr) for _, rr, fr, mr in RFM11
    ]
    out["segment"] = np.select(conditions, [name for name, *_ in RFM11], default="Other")
    out = out.reset_index()
    return out[["customer_id", "recency", "frequency", "monetary", "first_purchase", "last_purchase",
                "r_score", "f_score", "m_score", "rfm_code", "rfm_score", "segment"]]


def rfm_polars(df):
    import polars as pl

    c = pl.col
    day = c("order_date").dt.date()  # local date for tz-aware columns
    is_purchase = c("amount") > 0

    def avg_rank(e):
        # pandas rank(method="average", na_option="top"): nulls share the lowest ranks
        nulls = e.null_count()
        return pl.when(e.is_null()).then((nulls + 1) / 2).otherwise(e.rank("average") + nulls)

    def score(e):
        return ((BINS * (avg_rank(e) - 0.5) / pl.len()).floor() + 1).cast(pl.Int8)

    r, f, m = c("r_score"), c("f_score"), c("m_score")
    segment = None
    for name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi) in RFM11:
        cond = r.is_between(r_lo, r_hi) & f.is_between(f_lo, f_hi) & m.is_between(m_lo, m_hi)
        segment = pl.when(cond).then(pl.lit(name)) if segment is None else segment.when(cond).then(pl.lit(name))
    segment = segment.otherwise(pl.lit("Other"))

    return (
        df.lazy()
        .with_columns(day=day, purchase_day=pl.when(is_purchase).then(day), is_purchase=is_purchase)
        .group_by("customer_id")
        .agg(
            frequency=c("is_purchase").sum().cast(pl.Int64),
            monetary=c("amount").sum(),
            first_purchase=c("purchase_day").min(),
            last_purchase=c("purchase_day").max(),
            max_day=c("day").max(),
        )
        .sort("customer_id")
        .with_columns(recency=(c("max_day").max() - c("last_purchase")).dt.total_days())
        .with_columns(r_score=score(-c("recency")), f_score=score(c("frequency")), m_score=score(c("monetary")))
        .with_columns(
            rfm_code=pl.concat_str([r.cast(pl.String), f.cast(pl.String), m.cast(pl.String)]),
            rfm_score=r + f + m,
            segment=segment,
        )
        .select("customer_id", "recency", "frequency", "monetary", "first_purchase", "last_purchase",
                "r_score", "f_score", "m_score", "rfm_code", "rfm_score", "segment")
        .collect()
    )


def _duckdb_sql(table_name: str) -> str:
    def rng(col, lo, hi):
        return f"{col} = {lo}" if lo == hi else f"{col} BETWEEN {lo} AND {hi}"

    cases = "\n".join(
        f"        WHEN {rng('r_score', *rr)} AND {rng('f_score', *fr)} AND {rng('m_score', *mr)} "
        f"THEN '{name.replace(chr(39), chr(39) * 2)}'"
        for name, rr, fr, mr in RFM11
    )

    def avg_rank(window):
        # 1-based average rank of a tie group = (first rank + last rank) / 2.  rank() is the
        # first; count(*) over the same ordered window (default RANGE frame, which includes
        # the current row's peers) is the last.  One sort serves both.  Nulls sort first.
        return f"(rank() OVER {window} + count(*) OVER {window})::DOUBLE / 2"

    def score(rank_col):
        return f"CAST(floor({BINS} * ({rank_col} - 0.5) / n) + 1 AS TINYINT)"

    return f"""
WITH per_customer AS (
    SELECT customer_id,
           count(*) FILTER (WHERE amount > 0) AS frequency,
           sum(amount) AS monetary,
           min(CAST(order_date AS DATE)) FILTER (WHERE amount > 0) AS first_purchase,
           max(CAST(order_date AS DATE)) FILTER (WHERE amount > 0) AS last_purchase,
           max(CAST(order_date AS DATE)) AS max_day
    FROM {table_name}
    GROUP BY customer_id
), with_recency AS (
    SELECT * EXCLUDE (max_day),
           date_diff('day', last_purchase, max(max_day) OVER ()) AS recency,
           count(*) OVER () AS n
    FROM per_customer
), ranked AS (
    SELECT *,
           {avg_rank('w_r')} AS r_rank,
           {avg_rank('w_f')} AS f_rank,
           {avg_rank('w_m')} AS m_rank
    FROM with_recency
    WINDOW w_r AS (ORDER BY recency DESC NULLS FIRST),  -- -recency ascending
           w_f AS (ORDER BY frequency ASC NULLS FIRST),
           w_m AS (ORDER BY monetary ASC NULLS FIRST)
), scored AS (
    SELECT *,
           {score('r_rank')} AS r_score,
           {score('f_rank')} AS f_score,
           {score('m_rank')} AS m_score
    FROM ranked
)
SELECT customer_id, recency, frequency, monetary, first_purchase, last_purchase,
       r_score, f_score, m_score,
       r_score::VARCHAR || f_score::VARCHAR || m_score::VARCHAR AS rfm_code,
       r_score + f_score + m_score AS rfm_score,
       CASE
{cases}
        ELSE 'Other'
       END AS segment
FROM scored
ORDER BY customer_id
"""


DUCKDB_SQL = _duckdb_sql("transactions")


def duckdb_connect(table):
    """A connection with `table` (pyarrow) registered as `transactions`."""
    import duckdb

    con = duckdb.connect()
    tz = getattr(table.schema.field("order_date").type, "tz", None)
    if tz:
        # CAST(timestamptz AS DATE) uses the session time zone: make it the column's zone
        con.execute(f"SET TimeZone = '{tz}'")
    con.register("transactions", table)
    return con


def rfm_duckdb(con):
    return con.sql(DUCKDB_SQL).to_arrow_table()


def rfm_crm(data):
    import crm

    return crm.rfm(data, customer="customer_id", date="order_date", amount="amount")


# ============================================================================ loading inputs


def load_input(tool, path):
    """(runner, input object, input MB) for a tool, loaded from Parquet outside any timing."""
    if tool in CRM_TOOLS:
        import crm  # noqa: F401  (import outside the timing)
    if tool in ("crm", "duckdb"):
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=COLUMNS)
        mb = table.nbytes / 1e6
        if tool == "crm":
            return rfm_crm, table, mb
        return rfm_duckdb, duckdb_connect(table), mb
    if tool in ("polars", "crm-polars"):
        import polars as pl

        df = pl.read_parquet(path, columns=COLUMNS)
        return (rfm_polars if tool == "polars" else rfm_crm), df, df.estimated_size() / 1e6
    if tool == "pandas":
        import pandas as pd

        df = pd.read_parquet(path, columns=COLUMNS)
        return rfm_pandas, df, df.memory_usage(deep=True).sum() / 1e6
    raise ValueError(f"unknown tool {tool!r}")


# ============================================================================ memory


def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def current_rss_mb():
    try:
        return _status_kb("VmRSS") / 1024
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb(reset_ok):
    if reset_ok:
        return _status_kb("VmHWM") / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


# ============================================================================ verification


def to_pandas(obj):
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return obj
    if hasattr(obj, "to_pandas"):  # pyarrow Table, polars DataFrame
        return obj.to_pandas()
    if hasattr(obj, "to_arrow_table"):
        return obj.to_arrow_table().to_pandas()
    raise TypeError(f"cannot convert {type(obj).__name__} to pandas")


def normalise(frame):
    """Columns of an RFM output in comparable plain types."""
    import numpy as np
    import pandas as pd

    out = {}
    out["customer_id"] = list(frame["customer_id"])
    out["recency"] = pd.Series(frame["recency"]).astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    for col in ("frequency", "r_score", "f_score", "m_score", "rfm_score"):
        out[col] = np.asarray(frame[col], dtype="int64")
    out["monetary"] = pd.to_numeric(frame["monetary"]).astype("float64").to_numpy()
    for col in ("first_purchase", "last_purchase"):
        s = pd.to_datetime(pd.Series(frame[col]))
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
        out[col] = s.astype("datetime64[ns]").to_numpy()
    for col in ("rfm_code", "segment"):
        out[col] = np.asarray([str(v) for v in frame[col]], dtype=object)
    return out


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def compare(expected, got, label):
    """List of human-readable mismatches between two normalised outputs."""
    import numpy as np

    problems = []
    n_exp, n_got = len(expected["customer_id"]), len(got["customer_id"])
    if n_exp != n_got:
        return [f"{label}: {n_got} rows, expected {n_exp}"]
    for col, exp in expected.items():
        val = got[col]
        if col == "monetary":
            bad = ~np.isclose(val, exp, rtol=1e-9, atol=1e-9, equal_nan=True)
        elif col == "recency":
            bad = ~((val == exp) | (np.isnan(val) & np.isnan(exp)))
        elif col in ("first_purchase", "last_purchase"):
            bad = ~((val == exp) | (np.isnat(val) & np.isnat(exp)))
        elif col == "customer_id":
            bad = np.array([a != b for a, b in zip(val, exp)], dtype=bool)
        else:
            bad = np.asarray(val != exp, dtype=bool)
        if bad.any():
            idx = np.flatnonzero(bad)[:5]
            examples = ", ".join(
                f"row {i} (customer {_plain(expected['customer_id'][i])!r}): "
                f"got {_plain(val[i])!r}, expected {_plain(exp[i])!r}"
                for i in idx
            )
            problems.append(f"{label}: column {col}: {int(bad.sum())} mismatches; e.g. {examples}")
    return problems


def allow_float_ties(expected, got):
    """Expected output re-derived from the tool's own monetary where float noise decides M ties.

    Parallel float sums are not bit-reproducible (duckdb's differ in the last bits from run to
    run), so two customers whose net sums are equal in exact arithmetic can rank either way.
    When the tool's monetary agrees with the reference to 1e-9 everywhere, its M scores are
    checked against the spec's formula applied to its own monetary values instead, and codes,
    scores and segments are re-derived from those.  Returns (expected, number of rows changed).
    """
    import numpy as np
    import pandas as pd
    from reference import reference_segment, score

    if len(got["monetary"]) != len(expected["monetary"]):
        return expected, 0
    if not np.isclose(got["monetary"], expected["monetary"], rtol=1e-9, atol=1e-9, equal_nan=True).all():
        return expected, 0
    m_own = score(pd.Series(got["monetary"]), BINS).to_numpy()
    changed = m_own != expected["m_score"]
    if not changed.any():
        return expected, 0
    adjusted = dict(expected)
    adjusted["m_score"] = m_own
    adjusted["rfm_score"] = expected["r_score"] + expected["f_score"] + m_own
    adjusted["rfm_code"] = np.asarray(
        [f"{r}{f}{m}" for r, f, m in zip(expected["r_score"], expected["f_score"], m_own)], dtype=object)
    frame = pd.DataFrame({"r_score": expected["r_score"], "f_score": expected["f_score"], "m_score": m_own})
    adjusted["segment"] = np.asarray(reference_segment(frame, "rfm11").tolist(), dtype=object)
    return adjusted, int(changed.sum())


def worker_check(args):
    """Compare every tool with tests/reference.py on one (small) Parquet file."""
    import pandas as pd

    sys.path.insert(0, os.path.join(REPO, "tests"))
    from reference import reference_rfm

    df = pd.read_parquet(args.parquet, columns=COLUMNS)
    t0 = time.perf_counter()
    expected = normalise(reference_rfm(df))
    log(f"    reference: {len(expected['customer_id'])} customers in {time.perf_counter() - t0:.1f}s")

    problems = []
    for tool in args.tools.split(","):
        runner, data, _ = load_input(tool, args.parquet)
        try:
            got = normalise(to_pandas(runner(data)))
        except Exception as exc:  # a crash is a mismatch too
            problems.append(f"{tool}: raised {type(exc).__name__}: {exc}")
            continue
        tool_expected, n_ties = allow_float_ties(expected, got)
        found = compare(tool_expected, got, tool)
        ties = f" ({n_ties} M scores decided by float rounding of tied sums)" if n_ties else ""
        log(f"    {tool}: {'OK' if not found else 'MISMATCH'}{ties}")
        problems += found
    print(json.dumps({"problems": problems}))


# ============================================================================ workers


def measure(runner, data, runs, input_mb, stop=None):
    """Time `runner(data)` `runs` times in this process; median and peak extra memory (a dict).

    `stop(times)`, when given, is asked after every run but the last whether to stop early
    (e.g. when one run takes minutes); the runs done are reported."""
    gc.collect()
    baseline = current_rss_mb()
    reset_ok = reset_peak_rss()
    if reset_ok:
        baseline = current_rss_mb()

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = runner(data)
        times.append(time.perf_counter() - t0)
        outs = out if isinstance(out, tuple) else (out,)  # a task may return several tables
        n_out = sum(len(o) if not hasattr(o, "num_rows") else o.num_rows for o in outs)
        del out, outs
        gc.collect()
        if stop is not None and len(times) < runs and stop(times):
            break

    peak = peak_rss_mb(reset_ok)
    return {
        "times": times,
        "median": statistics.median(times),
        "peak_extra_mb": max(0.0, peak - baseline),
        "input_mb": input_mb,
        "out_rows": n_out,
        "hwm_reset": reset_ok,
    }


def worker_time(args):
    import pyarrow  # noqa: F401  (import cost and baseline RSS outside the measurement)

    runner, data, input_mb = load_input(args.tool, args.parquet)
    print(json.dumps(measure(runner, data, args.runs, input_mb)))


def worker_gen(args):
    import pyarrow.parquet as pq

    synthetic_rows, source = get_generator()
    table = synthetic_rows(args.rows, n_customers=args.customers, seed=args.seed, key=args.key,
                           frame="pyarrow", tz=args.tz or None, sort=True)
    table = table.select(COLUMNS)
    pq.write_table(table, args.parquet)
    print(json.dumps({"source": source, "arrow_mb": table.nbytes / 1e6, "rows": table.num_rows}))


def worker_probe(args):
    """Is crm usable, and which generator is there?  (Run in a subprocess: the main process
    never imports crm, so a broken or half-rebuilt extension cannot take the driver down.)"""
    _, source = get_generator()
    print(json.dumps({"crm_problem": crm_status(), "source": source}))


def run_worker(argv, what, attempts=1, script=None, python=None, timeout=None):
    """Run `script` (default: this script) as a worker subprocess, with the interpreter `python`
    (default: this one); return its JSON (last stdout line) or None.  With `timeout` (seconds),
    a worker still running then is killed and {"timeout": timeout} is returned."""
    cmd = [python or sys.executable, script or os.path.abspath(__file__)] + argv
    for attempt in range(1, attempts + 1):
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"  !! {what} killed after {timeout:.0f}s (timeout)")
            return {"timeout": timeout}
        lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
        if proc.returncode == 0 and lines:
            try:
                return json.loads(lines[-1])
            except json.JSONDecodeError:
                pass
        log(f"  !! {what} failed (exit code {proc.returncode}, attempt {attempt} of {attempts})")
    return None


# ============================================================================ driver


def fmt_count(n):
    if n >= 1_000_000:
        return f"{n / 1e6:g}M"
    if n >= 1_000:
        return f"{n / 1e3:g}k"
    return str(n)


def crm_status():
    try:
        import crm  # noqa: F401

        if not hasattr(crm, "rfm"):
            return "`crm` imports but has no `rfm`"
        return None
    except Exception as exc:
        return f"`import crm` failed ({type(exc).__name__}: {exc})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e6,1e7,5e7", help="rows per data set, comma separated (default 1e6,1e7,5e7)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool and data set (median reported)")
    ap.add_argument("--keys", default="int,str", help="customer key types: int,str")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help=f"subset of {','.join(ALL_TOOLS)}")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"), help="markdown file for the table")
    ap.add_argument("--check-rows", type=float, default=2e5, help="rows of the correctness check (0: skip)")
    ap.add_argument("--check-tz", default="Asia/Shanghai",
                    help="also check a tz-aware copy of the check data in this zone ('' to skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmpdir", default=None, help="where the Parquet files go (default: system temp)")
    # worker mode (internal)
    ap.add_argument("--worker", choices=["gen", "time", "check", "probe"], help=argparse.SUPPRESS)
    ap.add_argument("--tool", help=argparse.SUPPRESS)
    ap.add_argument("--parquet", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--customers", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--tz", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker == "gen":
        return worker_gen(args)
    if args.worker == "time":
        return worker_time(args)
    if args.worker == "check":
        return worker_check(args)
    if args.worker == "probe":
        return worker_probe(args)

    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    keys = [k.strip() for k in args.keys.split(",") if k.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in ALL_TOOLS:
            ap.error(f"unknown tool {t!r}; choose from {','.join(ALL_TOOLS)}")
    for k in keys:
        if k not in ("int", "str"):
            ap.error(f"unknown key type {k!r}")
    if args.runs < 1:
        ap.error("--runs must be >= 1")

    notes = []
    probe = run_worker(["--worker", "probe"], "probing crm", attempts=2)
    if probe is None:
        probe = {"crm_problem": "probing `import crm` crashed", "source": "unknown"}
    problem = probe["crm_problem"]
    if problem and CRM_TOOLS & set(tools):
        notes.append(f"crm skipped: {problem}.")
        log(f"NOTE: {notes[-1]}")
        tools = [t for t in tools if t not in CRM_TOOLS]
    if not tools:
        log("nothing to run")
        return 1

    notes.append(f"data: {probe['source']}; ordered by order_date; columns read: {', '.join(COLUMNS)}.")

    tmp = tempfile.mkdtemp(prefix="crm-bench-", dir=args.tmpdir)
    results = []
    try:
        # ---------------------------------------------------------------- correctness first
        check_rows = int(args.check_rows)
        if check_rows > 0:
            checks = [(key, "") for key in keys]
            if args.check_tz:
                checks.append((keys[-1], args.check_tz))
            for key, tz in checks:
                path = os.path.join(tmp, f"check_{key}.parquet")
                log(f"check: {fmt_count(check_rows)} rows, {key} keys{', tz ' + tz if tz else ''} "
                    "vs tests/reference.py")
                gen = run_worker(["--worker", "gen", "--rows", str(check_rows), "--customers",
                                  str(customers_for(check_rows)), "--key", key, "--seed", str(args.seed + 1),
                                  "--tz", tz, "--parquet", path], "generate check data", attempts=2)
                if gen is None:
                    raise SystemExit("could not generate the check data")
                res = run_worker(["--worker", "check", "--parquet", path, "--tools", ",".join(tools)], "check")
                if res is None or res["problems"]:
                    msg = ["", "!" * 78, "!! RFM OUTPUTS DISAGREE WITH tests/reference.py -- NOT TIMING ANYTHING", "!" * 78]
                    msg += (res or {"problems": ["the check worker crashed"]})["problems"]
                    log("\n".join(msg))
                    raise SystemExit(2)
                os.remove(path)
            notes.append(f"outputs of {', '.join(tools)} checked identical to tests/reference.py on "
                         f"{fmt_count(check_rows)} rows ({', '.join(keys)} keys"
                         f"{'; also tz-aware ' + args.check_tz if args.check_tz else ''}) before timing.")

        # ---------------------------------------------------------------- timing
        for n_rows in sizes:
            n_customers = customers_for(n_rows)
            for key in keys:
                path = os.path.join(tmp, f"data_{n_rows}_{key}.parquet")
                log(f"generate: {fmt_count(n_rows)} rows, {fmt_count(n_customers)} customers, {key} keys")
                gen = run_worker(["--worker", "gen", "--rows", str(n_rows), "--customers", str(n_customers),
                                  "--key", key, "--seed", str(args.seed), "--parquet", path], "generate", attempts=2)
                if gen is None:
                    raise SystemExit("could not generate the data")
                for tool in tools:
                    log(f"  {tool}: {args.runs} runs ...")
                    res = run_worker(["--worker", "time", "--tool", tool, "--parquet", path,
                                      "--runs", str(args.runs)], f"{tool} at {n_rows} rows")
                    if res is not None:
                        log("    " + ", ".join(f"{t:.3f}s" for t in res["times"])
                            + f"; peak extra {res['peak_extra_mb']:.0f} MB")
                    results.append({"rows": n_rows, "customers": n_customers, "key": key, "tool": tool, "res": res})
                os.remove(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # -------------------------------------------------------------------- table
    crm_time = {(r["rows"], r["key"]): r["res"]["median"] for r in results
                if r["tool"] == "crm" and r["res"] is not None}
    lines = [
        "| rows | customers | key | tool | median s | vs crm | peak extra MB | input MB |",
        "|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        res = r["res"]
        head = f"| {fmt_count(r['rows'])} | {fmt_count(r['customers'])} | {r['key']} | {r['tool']} "
        if res is None:
            lines.append(head + "| failed | | | |")
            continue
        base = crm_time.get((r["rows"], r["key"]))
        ratio = f"{res['median'] / base:.2f}x" if base else "n/a"
        lines.append(head + f"| {res['median']:.3f} | {ratio} | {res['peak_extra_mb']:.0f} | {res['input_mb']:.0f} |")
    table = "\n".join(lines)
    print(table)

    try:
        import duckdb
        import numpy
        import pandas
        import polars
        import pyarrow

        versions = (f"pandas {pandas.__version__}, polars {polars.__version__}, duckdb {duckdb.__version__}, "
                    f"pyarrow {pyarrow.__version__}, numpy {numpy.__version__}")
    except Exception:
        versions = "versions unavailable"
    notes.append(f"median of {args.runs} runs; each tool in a fresh process; 'vs crm' = tool time / crm time; "
                 "'peak extra MB' = peak RSS during the runs minus RSS with the input loaded; "
                 "'input MB' = in-memory size of the tool's input.")
    notes.append(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {versions}.")
    with open(args.out, "w") as fh:
        fh.write("# crm.rfm benchmark\n\n" + table + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    log(f"wrote {args.out}")
    for n in notes:
        log(f"note: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main() or 0)
