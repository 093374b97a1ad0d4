#!/usr/bin/env python
"""Benchmark the CLV building blocks: `crm.summary` against the same per-customer summary
written in polars, pandas and duckdb, and the crm model fits (BG/NBD, Pareto/NBD, MBG/NBD,
Gamma-Gamma) against the `lifetimes` package on the same summary.

    python bench/bench_clv.py                      # summary at 10M/50M rows; fits at 100k/1M customers
    python bench/bench_clv.py --sizes 1e6 --customers 1e5 --runs 5
    python bench/bench_clv.py --tasks summary --tools crm,polars
    python bench/bench_clv.py --tasks bg_nbd,gamma_gamma --customers 1e6 --max-seconds 600

Tasks
  summary      crm.summary(t, time_unit="W") with the default observation_end (the last calendar
               day of the data, any row): one row per customer with at least one transaction
               (every row but refunds: amount >= 0, so a free order counts, as in CDNOW;
               refunds never count), sorted by customer key:
                 frequency       repeat purchase days (several purchases on one calendar day
                                 count as one; the first purchase day does not count),
                 recency         (last purchase day - first purchase day) / 7, in weeks,
                 T               (observation_end - first purchase day) / 7, in weeks,
                 monetary_value  mean over the repeat purchase days of that day's purchase total
                                 (positive amounts only), 0 when frequency is 0.
               This is lifetimes' summary_data_from_transaction_data(purchases, ...,
               observation_period_end=<last day>, freq="D", freq_multiplier=7) on the purchase
               rows only (so a customer without a purchase has no row, a zero row is no purchase
               day, and a refund never lowers monetary_value).  The calendar day
               is the local one for tz-aware columns.  Peers: polars (group to customer-day, then
               per customer, lazily), pandas (the same two groupbys), duckdb (SQL over the
               registered Arrow table).
  bg_nbd       crm.BetaGeo().fit(s)            vs lifetimes.BetaGeoFitter().fit(f, r, T)
  pareto_nbd   crm.ParetoNBD().fit(s)          vs lifetimes.ParetoNBDFitter().fit(f, r, T)
  mbg_nbd      crm.ModifiedBetaGeo().fit(s)    vs lifetimes.ModifiedBetaGeoFitter().fit(f, r, T)
  gamma_gamma  crm.GammaGamma().fit(s[s.frequency > 0])
                                               vs lifetimes.GammaGammaFitter().fit(f, m) (same rows)
  Each fit is called with its defaults (no penalizer) and timed whole: lifetimes' fit includes
  its Hessian / standard errors where it computes them (BG/NBD, MBG/NBD, Gamma-Gamma), crm's its
  standard errors.  lifetimes' Pareto/NBD starts Nelder-Mead from a random point: np.random is
  seeded (0) before every run so the runs are identical.

How it runs (the habits of bench/bench_rfm.py and bench/bench_retention.py, whose helpers it
imports)
  * summary: each (size, key type) data set is generated once, in a subprocess, with
    `crm.datasets.synthetic_rows(..., frame="pyarrow", sort=True)` and written to Parquet in a
    temp dir.  Customers per size as in bench_rfm.py (10M rows: 1M, 50M rows: 3M, else rows/10).
  * fits: for each --customers n, one transaction log of 10 n rows and n customers
    (synthetic_rows(10 n, n_customers=n)) is summarised once (polars, checked equal to the
    others) and saved as bench/data/clv_summary_<n>.parquet (customer_id, frequency, recency, T,
    monetary_value; weeks); every tool fits that same file.
  * Before any timing, the summary of a small data set (--check-rows, default 200k) plus
    bench_retention.py's hand-made edge customers and a few of this script's own (a refund on a
    repeat purchase day, a zero row after one purchase, several purchases on a repeat day, a
    first purchase on the last day: T = 0) is computed by every tool, for each key type and a
    tz-aware copy (--check-tz), and compared with pandas (and with crm when it has `summary`) and
    with lifetimes' summary_data_from_transaction_data(..., freq="D", freq_multiplier=7) run on
    the purchase rows: same customers, frequency identical, recency and T to 1e-12, monetary_value
    to 1e-9 (relative).  Any mismatch aborts loudly (exit code 2) before anything is timed.
  * Each (data set, tool, task) is timed in a fresh subprocess with its input already loaded
    (pyarrow Table for crm, polars / pandas DataFrame, pyarrow Table registered in duckdb;
    numpy arrays for lifetimes, as its fit takes them); median of --runs runs.  A run longer
    than --long-run-seconds is not repeated (the cell says "1 run"), no run is started that
    would end past --max-seconds, and a worker still running --max-seconds (+60 s to load its
    input) after it started is killed: the cell says "timeout".
  * lifetimes runs in its own interpreter, bench/.venv-lifetimes (made by
    bench/setup_lifetimes.sh from bench/requirements-lifetimes.txt; run automatically when the
    venv is missing, unless --no-setup), or --lifetimes-python.
  * Log-likelihoods: lifetimes reports its optimum in its own units (time rescaled so that the
    largest T is 1; a mean per customer for BG/NBD, MBG/NBD and Gamma-Gamma but a total for
    Pareto/NBD), so the table shows, for each tool, the total log-likelihood of the summary at
    that tool's fitted parameters in weeks, evaluated by one function: lifetimes' own
    likelihood code at scale 1 (in the lifetimes venv).  crm's self-reported log_likelihood_ is
    compared with that evaluation and a difference is noted.  The fitted parameters are listed
    under the table.
  * crm functions that are not there yet (no `summary`, no `BetaGeo`, ...) are skipped in the
    check and the timing, with a note; their cells read "n/a".  Cells of tools that do not do a
    task read "-".

Prints one markdown table on stdout (progress goes to stderr) and writes it to --out: one row
per (task, data set), the median seconds of every tool, "crm vs fastest peer" = median of the
fastest peer / median of crm (above 1: crm is faster), the peak extra MB of crm and of the
fastest peer (peak RSS during the runs minus the RSS with the input loaded), and for the fits
each tool's log-likelihood.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_retention import _pd_calendar, edge_rows  # noqa: E402  (scripts in this folder)
from bench_rfm import (  # noqa: E402
    COLUMNS,
    customers_for,
    duckdb_connect,
    fmt_count,
    get_generator,
    log,
    measure,
    run_worker,
    to_pandas,
)

SCRIPT = os.path.abspath(__file__)
REPO = os.path.dirname(HERE)
LIFETIMES_VENV = os.path.join(HERE, ".venv-lifetimes")
LIFETIMES_SETUP = os.path.join(HERE, "setup_lifetimes.sh")
FIT_DATA_DIR = os.path.join(HERE, "data")

ALL_TOOLS = ["crm", "polars", "pandas", "duckdb", "lifetimes"]
SUMMARY_TOOLS = ["crm", "polars", "pandas", "duckdb"]
FIT_TOOLS = ["crm", "lifetimes"]
ALL_TASKS = ["summary", "bg_nbd", "pareto_nbd", "mbg_nbd", "gamma_gamma"]
FIT_TASKS = ALL_TASKS[1:]
TASK_LABEL = {"summary": "summary", "bg_nbd": "BG/NBD fit", "pareto_nbd": "Pareto/NBD fit",
              "mbg_nbd": "MBG/NBD fit", "gamma_gamma": "Gamma-Gamma fit"}
CRM_FUNCTION = {"summary": "summary", "bg_nbd": "BetaGeo", "pareto_nbd": "ParetoNBD",
                "mbg_nbd": "ModifiedBetaGeo", "gamma_gamma": "GammaGamma"}
LIFETIMES_CLASS = {"bg_nbd": "BetaGeoFitter", "pareto_nbd": "ParetoNBDFitter",
                   "mbg_nbd": "ModifiedBetaGeoFitter", "gamma_gamma": "GammaGammaFitter"}
PARAM_NAMES = {"bg_nbd": ("r", "alpha", "a", "b"), "pareto_nbd": ("r", "alpha", "s", "beta"),
               "mbg_nbd": ("r", "alpha", "a", "b"), "gamma_gamma": ("p", "q", "v")}

TIME_UNIT = "W"
DAYS_PER_UNIT = 7
SUMMARY_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]
ROWS_PER_CUSTOMER = 10  # fit data: a log of 10 n rows for n customers
LOAD_SLACK_S = 60  # a worker's hard timeout is --max-seconds plus this (loading its input)


def lifetimes_quiet():
    """lifetimes 0.11.3 sets a pandas option that pandas 3 deprecates (a Pandas4Warning at
    import) and switches FutureWarnings off globally in its likelihoods: silence both."""
    import warnings

    warnings.simplefilter("ignore")


# ============================================================================ summary: the peers


def summary_pandas(df):
    import pandas as pd

    day, _ = _pd_calendar(df)  # int64 days since 1970-01-01, local for tz-aware columns
    end = day.max()  # observation_end: the last day of the data, any row
    purchase = (df["amount"] >= 0).to_numpy()
    work = pd.DataFrame({"customer_id": df["customer_id"].to_numpy()[purchase], "day": day[purchase],
                         "amount": df["amount"].to_numpy()[purchase]})
    # customer-days, sorted by customer then day, so the first row of a customer is its first day
    days = work.groupby(["customer_id", "day"], sort=True)["amount"].sum().reset_index()
    days["repeat_amount"] = days["amount"].where(days["customer_id"].duplicated())
    per = days.groupby("customer_id", sort=True).agg(
        first=("day", "min"), last=("day", "max"), n=("day", "size"), monetary_value=("repeat_amount", "mean"))
    return pd.DataFrame({
        "customer_id": per.index,
        "frequency": (per["n"] - 1).to_numpy("int64"),
        "recency": (per["last"] - per["first"]).to_numpy("float64") / DAYS_PER_UNIT,
        "T": (end - per["first"]).to_numpy("float64") / DAYS_PER_UNIT,
        "monetary_value": per["monetary_value"].fillna(0.0).to_numpy("float64"),
    })


def summary_polars(df):
    import polars as pl

    c = pl.col
    lf = df.lazy().with_columns(day=c("order_date").dt.date())  # local date for tz-aware columns
    end = lf.select(end=c("day").max())
    days = lf.filter(c("amount") >= 0).group_by("customer_id", "day").agg(c("amount").sum())
    per = days.group_by("customer_id").agg(
        first=c("day").min(),
        last=c("day").max(),
        n=pl.len(),
        total=c("amount").sum(),
        # the first day's total; (total - it) / (n - 1) is the mean over the repeat days, and
        # about twice as fast as c("amount").filter(c("day") != c("day").min()).mean()
        first_amount=c("amount").get(c("day").arg_min()),
    )
    return (
        per.join(end, how="cross")
        .select(
            "customer_id",
            frequency=(c("n") - 1).cast(pl.Int64),
            recency=(c("last") - c("first")).dt.total_days() / DAYS_PER_UNIT,
            T=(c("end") - c("first")).dt.total_days() / DAYS_PER_UNIT,
            monetary_value=pl.when(c("n") > 1).then((c("total") - c("first_amount")) / (c("n") - 1)).otherwise(0.0),
        )
        .sort("customer_id")
        .collect()
    )


SUMMARY_SQL = f"""
WITH days AS (
    SELECT customer_id, CAST(order_date AS DATE) AS day, sum(amount) AS amount
    FROM transactions WHERE amount >= 0 GROUP BY ALL
), per_customer AS (
    SELECT customer_id, min(day) AS first_day, max(day) AS last_day, count(*) AS n,
           sum(amount) - arg_min(amount, day) AS repeat_total
    FROM days GROUP BY customer_id
), bounds AS (
    SELECT max(CAST(order_date AS DATE)) AS end_day FROM transactions
)
SELECT customer_id,
       n - 1 AS frequency,
       date_diff('day', first_day, last_day) / {DAYS_PER_UNIT}.0 AS recency,
       date_diff('day', first_day, end_day) / {DAYS_PER_UNIT}.0 AS T,
       CASE WHEN n > 1 THEN repeat_total / (n - 1) ELSE 0.0 END AS monetary_value
FROM per_customer, bounds
ORDER BY customer_id
"""


def summary_duckdb(con):
    return con.sql(SUMMARY_SQL).to_arrow_table()


def summary_crm(data):
    import crm

    return crm.summary(data, customer="customer_id", date="order_date", amount="amount", time_unit=TIME_UNIT)


SUMMARY_RUNNERS = {"crm": summary_crm, "polars": summary_polars, "pandas": summary_pandas, "duckdb": summary_duckdb}


def load_summary_input(tool, path):
    """(input object, input MB) for the summary task, loaded from Parquet outside any timing."""
    if tool == "crm":
        import crm  # noqa: F401  (import outside the timing)
    if tool in ("crm", "duckdb"):
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=COLUMNS)
        return (table if tool == "crm" else duckdb_connect(table)), table.nbytes / 1e6
    if tool == "polars":
        import polars as pl

        df = pl.read_parquet(path, columns=COLUMNS)
        return df, df.estimated_size() / 1e6
    if tool == "pandas":
        import pandas as pd

        df = pd.read_parquet(path, columns=COLUMNS)
        return df, df.memory_usage(deep=True).sum() / 1e6
    raise ValueError(f"summary: unknown tool {tool!r}")


def lifetimes_summary(df):
    """lifetimes' summary of a transaction frame (customer_id, order_date, amount), in the
    lifetimes interpreter: purchase rows only, local calendar days, weeks."""
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    ts = df["order_date"]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_localize(None)  # local wall time in the column's zone
    df = df.assign(order_date=ts)
    end = ts.max().normalize()  # the last day of the data, any row
    out = summary_data_from_transaction_data(df[df["amount"] >= 0], "customer_id", "order_date", "amount",
                                             observation_period_end=end, freq="D", freq_multiplier=7)
    return out.reset_index()[SUMMARY_COLUMNS]


# ============================================================================ summary: the check


def clv_edge_rows(first, last):
    """This script's own edge customers, on top of bench_retention.py's (see the docstring)."""
    import datetime as dt

    def plus(d, n):
        return d + dt.timedelta(days=n)

    return [  # (customer, day, time, amount)
        ("clv_refund_repeat", plus(first, 20), "10:00:00", 40.0),
        ("clv_refund_repeat", plus(first, 50), "09:00:00", 30.0),   # refund on a repeat day:
        ("clv_refund_repeat", plus(first, 50), "17:00:00", -30.0),  # not a purchase, the day's
        ("clv_refund_repeat", plus(first, 50), "18:00:00", 5.0),    # purchase total is 35
        ("clv_refund_repeat", plus(first, 90), "12:00:00", 20.0),
        ("clv_zero_repeat", plus(first, 30), "12:00:00", 15.0),
        ("clv_zero_repeat", plus(first, 60), "12:00:00", 0.0),      # a zero row is no purchase
        ("clv_same_day_repeat", plus(first, 10), "08:00:00", 10.0),
        ("clv_same_day_repeat", plus(first, 12), "09:00:00", 1.0),  # one repeat day, total 6
        ("clv_same_day_repeat", plus(first, 12), "21:00:00", 2.0),
        ("clv_same_day_repeat", plus(first, 12), "23:59:59", 3.0),
        ("clv_t_zero", plus(last, 85), "07:00:00", 9.0),            # first purchase on the last day
    ]


def normalise_summary(frame):
    """A summary as {column: numpy array}, rows sorted by customer key."""
    import numpy as np
    import pandas as pd

    frame = to_pandas(frame)
    if "customer_id" not in frame.columns and frame.index.name == "customer_id":
        frame = frame.reset_index()
    missing = [c for c in SUMMARY_COLUMNS if c not in frame.columns]
    if missing:
        raise KeyError(f"summary has no column(s) {missing}; it has {list(frame.columns)}")
    keys = frame["customer_id"].to_numpy()
    order = np.argsort(keys, kind="stable")
    out = {"customer_id": keys[order]}
    for col in SUMMARY_COLUMNS[1:]:
        out[col] = pd.Series(frame[col]).astype("Float64").to_numpy(dtype="float64", na_value=np.nan)[order]
    return out


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def compare_summary(expected, got, label):
    """Human-readable mismatches between two normalised summaries."""
    import numpy as np

    problems = []
    e_keys, g_keys = expected["customer_id"], got["customer_id"]
    if len(e_keys) != len(g_keys) or (e_keys != g_keys).any():
        # report the customers one side lacks, then compare the customers both have
        def row(out, i):
            return "(" + ", ".join(f"{c} {out[c][i]:g}" for c in SUMMARY_COLUMNS[1:]) + ")"

        for side, a, b in (("extra", got, expected), ("missing", expected, got)):
            lacking = ~np.isin(a["customer_id"], b["customer_id"])
            if lacking.any():
                idx = np.flatnonzero(lacking)[:5]
                problems.append(f"{label}: {int(lacking.sum())} {side} customers, e.g. "
                                + ", ".join(f"{_plain(a['customer_id'][i])!r} {row(a, i)}" for i in idx))
        common = np.intersect1d(e_keys, g_keys)
        expected = {c: v[np.isin(e_keys, common)] for c, v in expected.items()}
        got = {c: v[np.isin(g_keys, common)] for c, v in got.items()}
    tolerance = {"frequency": 0.0, "recency": 1e-12, "T": 1e-12, "monetary_value": 1e-9}
    for col, rtol in tolerance.items():
        e, g = expected[col], got[col]
        bad = ~np.isclose(g, e, rtol=rtol, atol=rtol, equal_nan=False) if rtol else g != e
        if bad.any():
            idx = np.flatnonzero(bad)[:5]
            keys = expected["customer_id"]
            examples = ", ".join(f"customer {_plain(keys[i])!r}: got {_plain(g[i])!r}, expected {_plain(e[i])!r}"
                                 for i in idx)
            problems.append(f"{label}: column {col}: {int(bad.sum())} mismatches; e.g. {examples}")
    return problems


def worker_check(args):
    """Every summary tool on one small Parquet file; compared with pandas, crm and lifetimes."""
    tools = args.tools.split(",")
    outputs = {}
    problems = []
    for tool in tools:
        data, _ = load_summary_input(tool, args.parquet)
        t0 = time.perf_counter()
        try:
            outputs[tool] = normalise_summary(SUMMARY_RUNNERS[tool](data))
        except Exception as exc:  # a crash is a mismatch too
            problems.append(f"summary/{tool}: raised {type(exc).__name__}: {exc}")
            log(f"    summary/{tool}: RAISED {type(exc).__name__}: {exc}")
            continue
        log(f"    summary/{tool}: {time.perf_counter() - t0:.2f}s, {len(outputs[tool]['customer_id'])} customers")
    if args.lifetimes_summary:
        import pandas as pd

        outputs["lifetimes"] = normalise_summary(pd.read_parquet(args.lifetimes_summary))
    for ref in ("pandas", "crm"):
        if ref not in outputs:
            continue
        for tool, got in outputs.items():
            if tool == ref or (ref == "crm" and tool == "pandas"):  # that pair is done above
                continue
            found = compare_summary(outputs[ref], got, f"summary/{tool} vs {ref}")
            log(f"    summary: {tool} vs {ref}: {'OK' if not found else 'MISMATCH'}")
            problems += found
    print(json.dumps({"problems": problems}))


def stop_rule(long_run_seconds, max_seconds):
    def stop(times):  # after a run: is another one not worth starting?
        last = times[-1]
        return last > long_run_seconds or sum(times) + last > max_seconds

    return stop


def worker_time(args):
    import pyarrow  # noqa: F401  (import cost and baseline RSS outside the measurement)

    data, input_mb = load_summary_input(args.tool, args.parquet)
    res = measure(SUMMARY_RUNNERS[args.tool], data, args.runs, input_mb,
                  stop=stop_rule(args.long_run_seconds, args.max_seconds))
    print(json.dumps(res))


def worker_lt_summary(args):
    """(lifetimes interpreter) lifetimes' summary of a check file, written to --out-parquet."""
    lifetimes_quiet()
    import pandas as pd

    df = pd.read_parquet(args.parquet, columns=COLUMNS)
    t0 = time.perf_counter()
    out = lifetimes_summary(df)
    log(f"    summary/lifetimes: {time.perf_counter() - t0:.2f}s, {len(out)} customers")
    out.to_parquet(args.out_parquet, index=False)
    print(json.dumps({"customers": len(out)}))


# ============================================================================ fits


def load_fit_input(tool, task, path):
    """(input object, input MB) for a fit task: the summary Parquet, outside any timing."""
    if tool == "crm":
        import crm  # noqa: F401
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if task == "gamma_gamma":
            table = table.filter(pc.greater(table.column("frequency"), 0))
        return table, table.nbytes / 1e6
    if tool == "lifetimes":
        lifetimes_quiet()
        import lifetimes  # noqa: F401
        import pandas as pd

        df = pd.read_parquet(path)
        if task == "gamma_gamma":
            df = df[df["frequency"] > 0]
            arrays = (df["frequency"].to_numpy(), df["monetary_value"].to_numpy())
        else:
            arrays = (df["frequency"].to_numpy(), df["recency"].to_numpy(), df["T"].to_numpy())
        return arrays, sum(a.nbytes for a in arrays) / 1e6
    raise ValueError(f"{task}: unknown tool {tool!r}")


def fit_runner(tool, task, state):
    """A runner for measure(): fits once, keeps the fitted model in state["model"]."""
    if tool == "crm":
        import crm

        cls = getattr(crm, CRM_FUNCTION[task])

        def run(table):
            model = cls()
            fitted = model.fit(table)
            state["model"] = fitted if fitted is not None else model
            return [state["model"]]

        return run
    if tool == "lifetimes":
        import numpy as np
        import lifetimes

        cls = getattr(lifetimes, LIFETIMES_CLASS[task])

        def run(arrays):
            np.random.seed(0)  # Pareto/NBD's random starting point: the same in every run
            state["model"] = cls().fit(*arrays)
            return [state["model"]]

        return run
    raise ValueError(f"{task}: unknown tool {tool!r}")


def model_params(model):
    """The fitted parameters as {name: float}, whatever mapping the model keeps them in."""
    for name in ("params_", "params"):
        value = getattr(model, name, None)
        if callable(value):
            value = value()
        if value is None:
            continue
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        try:
            return {str(k): float(v) for k, v in dict(value).items()}
        except (TypeError, ValueError):
            continue
    return None


def model_log_likelihood(model):
    """A model's self-reported log-likelihood (crm: log_likelihood_), else None."""
    for name in ("log_likelihood_", "loglik_", "log_likelihood"):
        value = getattr(model, name, None)
        if callable(value):
            try:
                value = value()
            except TypeError:
                continue
        if isinstance(value, (int, float)):
            return float(value)
    return None


def worker_fit(args):
    import pyarrow  # noqa: F401  (import cost and baseline RSS outside the measurement)

    data, input_mb = load_fit_input(args.tool, args.task, args.parquet)
    state = {}
    runner = fit_runner(args.tool, args.task, state)
    res = measure(runner, data, args.runs, input_mb, stop=stop_rule(args.long_run_seconds, args.max_seconds))
    model = state["model"]
    res["params"] = model_params(model)
    res["ll_reported"] = model_log_likelihood(model) if args.tool == "crm" else None
    res["fit_rows"] = len(data[0]) if isinstance(data, tuple) else data.num_rows
    print(json.dumps(res))


def evaluate_log_likelihood(task, params, path):
    """(lifetimes interpreter) Total log-likelihood of the summary at `params` (weeks), with
    lifetimes' own likelihood code at time scale 1 and no penalizer."""
    lifetimes_quiet()
    import numpy as np
    import pandas as pd
    import lifetimes

    df = pd.read_parquet(path)
    if task == "gamma_gamma":
        df = df[df["frequency"] > 0]
    f = df["frequency"].to_numpy().astype(float if task == "gamma_gamma" else int)
    w = np.ones(len(df), dtype=np.int64)
    x = np.array([params[n] for n in PARAM_NAMES[task]], dtype=float)
    cls = getattr(lifetimes, LIFETIMES_CLASS[task])
    if task == "gamma_gamma":
        nll = cls._negative_log_likelihood(np.log(x), f, df["monetary_value"].to_numpy(float), w, 0.0)
        return float(-nll * w.sum())  # the function returns the mean
    r, t = df["recency"].to_numpy(float), df["T"].to_numpy(float)
    if task == "pareto_nbd":
        return float(-cls._negative_log_likelihood(x, f, r, t, w, 0.0) * w.mean())  # a total / mean weight
    return float(-cls._negative_log_likelihood(np.log(x), f, r, t, w, 0.0) * w.sum())  # a mean


def worker_lt_eval(args):
    """(lifetimes interpreter) log-likelihoods of several tools' parameters on one summary."""
    params = json.loads(args.params)
    out = {}
    for tool, p in params.items():
        try:
            out[tool] = evaluate_log_likelihood(args.task, p, args.parquet)
        except Exception as exc:  # e.g. parameter names lifetimes does not know
            log(f"    log-likelihood of {tool}'s parameters: {type(exc).__name__}: {exc}")
            out[tool] = None
    print(json.dumps({"ll": out}))


# ============================================================================ data


def worker_gen(args):
    import pyarrow.parquet as pq

    synthetic_rows, source = get_generator()
    table = synthetic_rows(args.rows, n_customers=args.customers, seed=args.seed, key=args.key,
                           frame="pyarrow", tz=args.tz or None, sort=True)
    table = table.select(COLUMNS)
    if args.edge:
        table = edge_rows(table, more=clv_edge_rows)
    pq.write_table(table, args.parquet)
    print(json.dumps({"source": source, "arrow_mb": table.nbytes / 1e6, "rows": table.num_rows}))


def worker_fitgen(args):
    """The summary that the fits use: synthetic_rows(10 n, n_customers=n), summarised by polars."""
    import polars as pl

    synthetic_rows, source = get_generator()
    table = synthetic_rows(args.rows, n_customers=args.customers, seed=args.seed, key="int",
                           frame="pyarrow", sort=True).select(COLUMNS)
    summary = summary_polars(pl.from_arrow(table))
    os.makedirs(os.path.dirname(args.parquet), exist_ok=True)
    summary.write_parquet(args.parquet)
    print(json.dumps({"source": source, "customers": summary.height,
                      "repeat_customers": int((summary["frequency"] > 0).sum())}))


def worker_probe(args):
    """Which crm functions are there, and which generator?  (In a subprocess: the driver never
    imports crm, so a broken or half-rebuilt extension cannot take it down.)"""
    _, source = get_generator()
    try:
        import crm

        present = [task for task, fn in CRM_FUNCTION.items() if callable(getattr(crm, fn, None))]
        problem = None
    except Exception as exc:  # ImportError, or a half-built package
        present, problem = [], f"`import crm` failed ({type(exc).__name__}: {exc})"
    print(json.dumps({"crm_tasks": present, "crm_problem": problem, "source": source}))


def worker_lt_probe(args):
    """(lifetimes interpreter) versions, and BG/NBD on lifetimes' bundled CDNOW summary against
    the published estimates (Fader, Hardie and Lee 2005)."""
    lifetimes_quiet()
    import numpy
    import pandas
    import scipy
    import lifetimes
    from lifetimes.datasets import load_cdnow_summary

    d = load_cdnow_summary(index_col=[0])
    p = lifetimes.BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"]).params_
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    off = {k: float(p[k]) for k, v in published.items() if abs(p[k] - v) > 0.001 * max(1.0, v)}
    print(json.dumps({
        "versions": f"lifetimes {lifetimes.__version__}, pandas {pandas.__version__}, numpy {numpy.__version__}, "
                    f"scipy {scipy.__version__}, Python {platform.python_version()}",
        "cdnow_problem": f"BG/NBD on CDNOW gives {off}, published {published}" if off else None,
    }))


def worker(argv, what, attempts=1, python=None, timeout=None):
    return run_worker(argv, what, attempts=attempts, script=SCRIPT, python=python, timeout=timeout)


# ============================================================================ driver


def lifetimes_python(args, notes):
    """The interpreter to run lifetimes in, or None (with a note) when there is none."""
    python = args.lifetimes_python
    if not python:
        python = os.path.join(LIFETIMES_VENV, "bin", "python")
        if not os.path.exists(python):
            if args.no_setup:
                notes.append(f"lifetimes skipped: no {os.path.relpath(LIFETIMES_VENV, REPO)} "
                             "(run bench/setup_lifetimes.sh).")
                return None
            log(f"creating {os.path.relpath(LIFETIMES_VENV, REPO)} with bench/setup_lifetimes.sh ...")
            env = dict(os.environ)
            env.setdefault("PYTHON", sys.executable)
            # its output goes to stderr: stdout carries only the table
            rc = subprocess.run(["bash", LIFETIMES_SETUP], env=env, stdout=sys.stderr).returncode
            if rc != 0 or not os.path.exists(python):
                notes.append(f"lifetimes skipped: bench/setup_lifetimes.sh failed (exit code {rc}).")
                return None
    probe = worker(["--worker", "lt-probe"], "probing lifetimes", python=python)
    if probe is None:
        notes.append(f"lifetimes skipped: `import lifetimes` or its CDNOW fit failed with {python}.")
        return None
    if probe["cdnow_problem"]:
        notes.append(f"lifetimes skipped: {probe['cdnow_problem']}.")
        return None
    notes.append(f"lifetimes: {probe['versions']} (bench/.venv-lifetimes unless --lifetimes-python); "
                 "its BG/NBD fit of the bundled CDNOW summary matches the published estimates.")
    return python


def fmt_seconds(res):
    if res is None:
        return "failed"
    if "timeout" in res:
        return f"timeout (> {res['timeout']:.0f} s)"
    runs = len(res["times"])
    return f"{res['median']:.3f}" + (f" ({runs} run{'s' if runs > 1 else ''})" if runs < res["runs_asked"] else "")


def ok(res):
    return res is not None and "timeout" not in res


def make_table(results, tools):
    present = {r["task"] for r in results}  # only the columns of tools that do a task shown
    tools = [t for t in tools if any(t in (SUMMARY_TOOLS if k == "summary" else FIT_TOOLS) for k in present)]
    head = ["task", "data"] + [f"{t} s" for t in tools]
    head += ["crm vs fastest peer", "crm peak MB", "fastest peer peak MB"]
    show_ll = any(r["task"] != "summary" for r in results)
    if show_ll:
        head += [f"log-lik {t}" for t in tools if t in FIT_TOOLS]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if h in ("task", "data") else "---:" for h in head) + "|"]
    for row in results:
        cells, task = row["cells"], row["task"]
        applicable = SUMMARY_TOOLS if task == "summary" else FIT_TOOLS
        out = [TASK_LABEL[task], row["data"]]
        for t in tools:
            out.append("-" if t not in applicable else "n/a" if t not in cells else fmt_seconds(cells[t]))
        crm_res = cells.get("crm") if ok(cells.get("crm")) else None
        peers = {t: r for t, r in cells.items() if t != "crm" and ok(r)}
        peer = min(peers, key=lambda t: peers[t]["median"]) if peers else None
        peer_res = peers.get(peer)
        out.append(f"{peer_res['median'] / crm_res['median']:.2f}x ({peer})" if crm_res and peer_res else "n/a")
        out.append(f"{crm_res['peak_extra_mb']:.0f}" if crm_res else "n/a")
        out.append(f"{peer_res['peak_extra_mb']:.0f} ({peer})" if peer_res else "n/a")
        if show_ll:
            for t in tools:
                if t not in FIT_TOOLS:
                    continue
                ll = row.get("ll", {}).get(t)
                out.append("-" if task == "summary" else f"{ll:,.2f}" if ll is not None else "n/a")
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines)


def parse_list(text, allowed, what, ap):
    items = [s.strip() for s in text.split(",") if s.strip()]
    for s in items:
        if s not in allowed:
            ap.error(f"unknown {what} {s!r}; choose from {','.join(allowed)}")
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e7,5e7", help="rows per summary data set, comma separated (default 1e7,5e7)")
    ap.add_argument("--customers", default="1e5,1e6",
                    help="customers per fit data set (a log of 10 rows per customer), comma separated "
                         "(default 1e5,1e6)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool, task and data set (median reported)")
    ap.add_argument("--keys", default="int", help="customer key types of the summary data: int,str (default int)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help=f"subset of {','.join(ALL_TOOLS)}")
    ap.add_argument("--tasks", default=",".join(ALL_TASKS), help=f"subset of {','.join(ALL_TASKS)}")
    ap.add_argument("--out", default=os.path.join(HERE, "results_clv.md"), help="markdown file for the table")
    ap.add_argument("--max-seconds", type=float, default=1800.0,
                    help="time budget of one (tool, task, data set): no run is started that would end past it, "
                         f"and a worker still running {LOAD_SLACK_S} s after it is killed ('timeout'); default 1800")
    ap.add_argument("--long-run-seconds", type=float, default=120.0,
                    help="a run longer than this is not repeated (the cell says '1 run'); default 120")
    ap.add_argument("--check-rows", type=float, default=2e5, help="rows of the summary check (0: skip)")
    ap.add_argument("--check-tz", default="Asia/Shanghai",
                    help="also check a tz-aware copy of the check data in this zone ('' to skip)")
    ap.add_argument("--lifetimes-python", default=None,
                    help="interpreter with lifetimes installed (default: bench/.venv-lifetimes/bin/python)")
    ap.add_argument("--no-setup", action="store_true",
                    help="do not run bench/setup_lifetimes.sh when bench/.venv-lifetimes is missing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmpdir", default=None, help="where the summary data sets go (default: system temp)")
    # worker mode (internal)
    ap.add_argument("--worker", choices=["gen", "fitgen", "time", "fit", "check", "probe", "lt-probe",
                                         "lt-summary", "lt-eval"], help=argparse.SUPPRESS)
    ap.add_argument("--tool", help=argparse.SUPPRESS)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--parquet", help=argparse.SUPPRESS)
    ap.add_argument("--out-parquet", help=argparse.SUPPRESS)
    ap.add_argument("--lifetimes-summary", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--tz", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--edge", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        if args.worker in ("gen", "fitgen"):
            args.customers = int(args.customers)
        return {"gen": worker_gen, "fitgen": worker_fitgen, "time": worker_time, "fit": worker_fit,
                "check": worker_check, "probe": worker_probe, "lt-probe": worker_lt_probe,
                "lt-summary": worker_lt_summary, "lt-eval": worker_lt_eval}[args.worker](args)

    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    fit_customers = [int(float(s)) for s in args.customers.split(",") if s.strip()]
    keys = parse_list(args.keys, ["int", "str"], "key type", ap)
    tools = parse_list(args.tools, ALL_TOOLS, "tool", ap)
    tasks = parse_list(args.tasks, ALL_TASKS, "task", ap)
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    fit_tasks = [t for t in tasks if t in FIT_TASKS]
    if not tools or not tasks or ("summary" in tasks and not (sizes and keys)) or (fit_tasks and not fit_customers):
        ap.error("nothing to run")

    notes = []
    probe = worker(["--worker", "probe"], "probing crm", attempts=2)
    if probe is None:
        probe = {"crm_tasks": [], "crm_problem": "probing `import crm` crashed", "source": "unknown"}
    crm_tasks = [t for t in tasks if t in probe["crm_tasks"]] if "crm" in tools else []
    if "crm" in tools:
        missing = [t for t in tasks if t not in crm_tasks]
        if missing:
            why = probe["crm_problem"] or "`crm` has no " + ", ".join(f"`{CRM_FUNCTION[t]}`" for t in missing)
            notes.append(f"crm skipped for {', '.join(missing)} (n/a): {why}.")
            log(f"NOTE: {notes[-1]}")
    lt_python = lifetimes_python(args, notes) if "lifetimes" in tools else None
    if "lifetimes" in tools and lt_python is None:
        log(f"NOTE: {notes[-1]}")
    runnable = {task: [t for t in (SUMMARY_TOOLS if task == "summary" else FIT_TOOLS)
                       if t in tools and (t != "crm" or task in crm_tasks) and (t != "lifetimes" or lt_python)]
                for task in tasks}
    notes.append(f"data: {probe['source']}; ordered by order_date; columns read: {', '.join(COLUMNS)}.")

    timeout = args.max_seconds + LOAD_SLACK_S
    common = ["--runs", str(args.runs), "--max-seconds", str(args.max_seconds),
              "--long-run-seconds", str(args.long_run_seconds)]
    tmp = tempfile.mkdtemp(prefix="crm-bench-clv-", dir=args.tmpdir)
    results = []
    try:
        # ---------------------------------------------------------------- summary: correctness first
        check_rows = int(args.check_rows)
        if "summary" in tasks and check_rows > 0:
            checks = [(key, "") for key in keys]
            if args.check_tz:
                checks.append((keys[-1], args.check_tz))
            # pandas is the reference of the check even when it is not timed
            check_tools = [t for t in SUMMARY_TOOLS if (t in tools or t == "pandas")
                           and (t != "crm" or "summary" in crm_tasks)]
            for key, tz in checks:
                path = os.path.join(tmp, f"check_{key}.parquet")
                log(f"check: {fmt_count(check_rows)} rows + edge cases, {key} keys{', tz ' + tz if tz else ''}")
                gen = worker(["--worker", "gen", "--rows", str(check_rows), "--customers",
                              str(customers_for(check_rows)), "--key", key, "--seed", str(args.seed + 1),
                              "--tz", tz, "--edge", "--parquet", path], "generate check data", attempts=2)
                if gen is None:
                    raise SystemExit("could not generate the check data")
                argv = ["--worker", "check", "--parquet", path, "--tools", ",".join(check_tools)]
                if lt_python:
                    lt_path = os.path.join(tmp, f"check_{key}_lifetimes.parquet")
                    if worker(["--worker", "lt-summary", "--parquet", path, "--out-parquet", lt_path],
                              "lifetimes summary", python=lt_python) is None:
                        raise SystemExit("lifetimes' summary_data_from_transaction_data failed on the check data")
                    argv += ["--lifetimes-summary", lt_path]
                res = worker(argv, "check")
                if res is None or res["problems"]:
                    msg = ["", "!" * 78, "!! SUMMARIES DISAGREE -- NOT TIMING ANYTHING", "!" * 78]
                    msg += (res or {"problems": ["the check worker crashed"]})["problems"]
                    log("\n".join(msg))
                    raise SystemExit(2)
                os.remove(path)
            refs = "pandas" + (", crm" if "summary" in crm_tasks else "") + (" and lifetimes" if lt_python else "")
            notes.append(f"summaries of {', '.join(check_tools)} checked identical to {refs} on "
                         f"{fmt_count(check_rows)} rows plus hand-made edge cases ({', '.join(keys)} keys"
                         f"{'; also tz-aware ' + args.check_tz if args.check_tz else ''}) before timing"
                         + (" (lifetimes: summary_data_from_transaction_data on the purchase rows, "
                            "freq='D', freq_multiplier=7)." if lt_python else "."))

        # ---------------------------------------------------------------- summary: timing
        if "summary" in tasks:
            for n_rows in sizes:
                n_customers = customers_for(n_rows)
                for key in keys:
                    path = os.path.join(tmp, f"data_{n_rows}_{key}.parquet")
                    log(f"generate: {fmt_count(n_rows)} rows, {fmt_count(n_customers)} customers, {key} keys")
                    gen = worker(["--worker", "gen", "--rows", str(n_rows), "--customers", str(n_customers),
                                  "--key", key, "--seed", str(args.seed), "--parquet", path], "generate", attempts=2)
                    if gen is None:
                        raise SystemExit("could not generate the data")
                    cells = {}
                    for tool in runnable["summary"]:
                        log(f"  summary / {tool}: {args.runs} runs ...")
                        res = worker(["--worker", "time", "--tool", tool, "--task", "summary", "--parquet", path]
                                     + common, f"summary / {tool} at {n_rows} rows", timeout=timeout)
                        if ok(res):
                            res["runs_asked"] = args.runs
                            log("    " + ", ".join(f"{t:.3f}s" for t in res["times"])
                                + f"; peak extra {res['peak_extra_mb']:.0f} MB")
                        if res is not None and "timeout" in res:
                            res["timeout"] = args.max_seconds  # the budget, not the budget + loading
                        cells[tool] = res
                    results.append({"task": "summary", "cells": cells,
                                    "data": f"{fmt_count(n_rows)} rows, {fmt_count(n_customers)} customers, {key} keys"})
                    os.remove(path)

        # ---------------------------------------------------------------- fits
        params_notes = []
        for n in fit_customers if fit_tasks else []:
            path = os.path.join(FIT_DATA_DIR, f"clv_summary_{n}.parquet")
            n_rows = ROWS_PER_CUSTOMER * n
            log(f"generate: fit summary of {fmt_count(n)} customers ({fmt_count(n_rows)} rows) -> "
                f"{os.path.relpath(path, REPO)}")
            gen = worker(["--worker", "fitgen", "--rows", str(n_rows), "--customers", str(n), "--seed",
                          str(args.seed), "--parquet", path], "generate the fit summary", attempts=2)
            if gen is None:
                raise SystemExit("could not generate the fit summary")
            for task in fit_tasks:
                cells, params = {}, {}
                for tool in runnable[task]:
                    log(f"  {task} / {tool} on {fmt_count(n)} customers: up to {args.runs} runs ...")
                    res = worker(["--worker", "fit", "--tool", tool, "--task", task, "--parquet", path] + common,
                                 f"{task} / {tool} at {n} customers",
                                 python=lt_python if tool == "lifetimes" else None, timeout=timeout)
                    if ok(res):
                        res["runs_asked"] = args.runs
                        log("    " + ", ".join(f"{t:.3f}s" for t in res["times"])
                            + f"; params {res['params']}"
                            + (f"; reported log-likelihood {res['ll_reported']:.4f}" if res["ll_reported"] else ""))
                        if res["params"]:
                            params[tool] = res["params"]
                    if res is not None and "timeout" in res:
                        res["timeout"] = args.max_seconds  # the budget, not the budget + loading
                    cells[tool] = res
                ll = {}
                if params and lt_python:
                    ev = worker(["--worker", "lt-eval", "--task", task, "--parquet", path,
                                 "--params", json.dumps(params)], f"log-likelihoods of {task}", python=lt_python)
                    ll = (ev or {}).get("ll", {})
                    log(f"    log-likelihoods at {fmt_count(n)} customers: {ll}")
                reported = (cells.get("crm") or {}).get("ll_reported")
                if reported is not None:
                    if ll.get("crm") is None:
                        ll["crm"] = reported
                        params_notes.append(f"{TASK_LABEL[task]} at {fmt_count(n)} customers: log-lik crm is crm's "
                                            "own log_likelihood_ (lifetimes' evaluation unavailable).")
                    elif abs(reported - ll["crm"]) > 1e-6 * max(1.0, abs(ll["crm"])):
                        params_notes.append(f"{TASK_LABEL[task]} at {fmt_count(n)} customers: crm reports "
                                            f"log_likelihood_ {reported:,.4f}, lifetimes' likelihood at crm's "
                                            f"parameters gives {ll['crm']:,.4f}.")
                fit_rows = next((c["fit_rows"] for c in cells.values() if ok(c)), None)
                data = f"{fmt_count(n)} customers"
                if task == "gamma_gamma" and fit_rows is not None:
                    data += f" ({fit_rows:,} with frequency > 0)"
                results.append({"task": task, "cells": cells, "data": data, "ll": ll})
                for tool, p in params.items():
                    shown = ", ".join(f"{k} {v:.6g}" for k, v in p.items())
                    params_notes.append(f"{TASK_LABEL[task]} at {fmt_count(n)} customers, {tool}: {shown}.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # -------------------------------------------------------------------- table
    table = make_table(results, tools)
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
    one_run = [f"{TASK_LABEL[r['task']]} / {t} ({r['data']})" for r in results for t, c in r["cells"].items()
               if ok(c) and len(c["times"]) < c["runs_asked"]]
    if one_run:
        notes.append(f"fewer runs than --runs {args.runs} (a run took over {args.long_run_seconds:.0f} s, or the "
                     f"next would have ended past --max-seconds {args.max_seconds:.0f}): {'; '.join(one_run)}.")
    notes.append(f"median of {args.runs} runs in seconds (fewer where the cell says so); each (tool, task) in a "
                 "fresh process with its input already loaded; summary with time_unit='W' and observation_end = "
                 "the last day of the data; fits on the summary of the synthetic log (weeks), saved in "
                 "bench/data/clv_summary_<customers>.parquet; 'crm vs fastest peer' = fastest peer's median / "
                 "crm's median (above 1: crm is faster); 'peak MB' = peak RSS during the runs minus RSS with the "
                 "input loaded; 'log-lik' = total log-likelihood of the summary at the tool's fitted parameters, "
                 "evaluated by lifetimes' likelihood code at time scale 1, so both columns are comparable.")
    notes.append(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {versions}.")
    notes += params_notes
    with open(args.out, "w") as fh:
        fh.write("# crm CLV benchmark: summary and model fits\n\n" + table + "\n\n"
                 + "\n".join(f"- {n}" for n in notes) + "\n")
    log(f"wrote {args.out}")
    for n in notes:
        log(f"note: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main() or 0)
