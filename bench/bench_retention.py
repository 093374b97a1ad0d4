#!/usr/bin/env python
"""Benchmark `crm.cohorts`, `crm.repurchase` and `crm.acquisition` against the same tables
written in pandas, polars and duckdb.

    python bench/bench_retention.py                            # 10M and 50M rows, int keys
    python bench/bench_retention.py --sizes 1e6 --runs 5 --keys int,str --tasks cohorts

Tasks (docs/retention_definitions.md, with the defaults: monthly periods, rows with amount > 0
are purchases, no order column; the calendar day of order_date, local for tz-aware columns):
  cohorts      crm.cohorts(t, period="M", metric="retention", format="long"): cohort (date),
               cohort_size, period_number, retention for every month of the data as a cohort
               (zero-size cohorts have null retention) and every k from 0 to the last month.
  repurchase   crm.repurchase(t) and crm.repurchase(t, period="M"), timed together: customers,
               repeat_customers, orders, repeat_orders, repeat_customer_orders, customer_rate,
               order_rate, intensity over the whole log, and per month (every month present).
  acquisition  crm.acquisition(t, period="M", lapse_days=180): period, start_customers, new,
               reactivated, lost, retained, end_customers, active, cr_index, churn_rate,
               retention_rate; as_of = the last day of the data.
The peers are written in each library's idiomatic fast form (vectorised pandas/numpy, lazy
polars expressions, duckdb SQL over the registered Arrow table).  Where sharing work helps a
peer (repurchase: the per customer-and-month counts feed both windows) the peer shares it; crm
is called exactly as a user would call it.

How it runs (the habits of bench/bench_rfm.py, whose helpers it imports)
  * Each (size, key type) data set is generated once, in a subprocess, with
    `crm.datasets.synthetic_rows(..., frame="pyarrow", sort=True)` (bench_rfm.py's stand-in
    generator while that is not importable) and written to Parquet in a temp dir.
  * Before any timing, for each key type (plus one tz-aware copy, --check-tz) a small data set
    (--check-rows, default 200k) is run through every tool and task.  The check data gets a few
    hand-made customers on top (refund-only customers, a refund before the first purchase, rows
    before and after the generated span leaving months without any purchase, purchase pairs
    180/181/182 days apart, purchases just around midnight at month ends, a zero row setting
    as_of mid-month) so that empty cohorts, empty months and the lapse boundary are exercised.
    Every tool's output is compared with the pandas one and, for tasks crm has, with crm:
    same columns in the same order, same rows (sorted by period / cohort and period_number),
    integers and dates identical, ratios to 1e-12 (relative), nulls in the same places.  Any
    mismatch aborts loudly (exit code 2) before anything is timed.
  * Each (data set, tool, task) is timed in a fresh subprocess: the tool's natural input is
    loaded outside the timing (pyarrow Table for crm, polars DataFrame for polars, pandas
    DataFrame for pandas, pyarrow Table registered in duckdb for duckdb), then the task runs
    --runs times; the median is reported.  Peak extra memory as in bench_rfm.py: peak RSS during
    the runs minus the RSS right before them.
  * crm functions that are not there yet (`crm` without `cohorts`, ...) are skipped in the check
    and in the timing, with a note; their cells read "n/a".
  * All tools read only customer_id, order_date and amount.

Prints one markdown table on stdout (progress goes to stderr) and writes it to --out: one row
per (size, key type, task), the median seconds of every tool, "crm vs fastest peer" = median of
the fastest peer / median of crm (above 1: crm is faster), and the peak extra MB of crm and of
the fastest peer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_rfm import (  # noqa: E402  (bench_rfm.py is a script in this folder)
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
ALL_TOOLS = ["crm", "pandas", "polars", "duckdb"]
PEERS = ["pandas", "polars", "duckdb"]
ALL_TASKS = ["cohorts", "repurchase", "acquisition"]
CRM_FUNCTION = {"cohorts": "cohorts", "repurchase": "repurchase", "acquisition": "acquisition"}
LAPSE_DAYS = 180

RATE_COLUMNS = ["customers", "repeat_customers", "orders", "repeat_orders", "repeat_customer_orders",
                "customer_rate", "order_rate", "intensity"]
ACQUISITION_COLUMNS = ["period", "start_customers", "new", "reactivated", "lost", "retained",
                       "end_customers", "active", "cr_index", "churn_rate", "retention_rate"]
COHORT_COLUMNS = ["cohort", "cohort_size", "period_number", "retention"]
DATE_COLUMNS = {"cohort", "period"}
FLOAT_COLUMNS = {"retention", "customer_rate", "order_rate", "intensity", "cr_index", "churn_rate",
                 "retention_rate"}
SORT_KEYS = {"cohort": ["cohort", "period_number"], "period": ["period"]}
DOCUMENTED_COLUMNS = {  # per task, the column names (in order) of each output table
    "cohorts": [COHORT_COLUMNS],
    "repurchase": [RATE_COLUMNS, ["period"] + RATE_COLUMNS],
    "acquisition": [ACQUISITION_COLUMNS],
}


# ============================================================================ pandas


def _pd_calendar(df):
    """(day, month) of every row as int64 numpy arrays: days and months since 1970-01."""
    import numpy as np
    import pandas as pd

    ts = df["order_date"]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_localize(None)  # local wall time in the column's zone
    elif not np.issubdtype(ts.dtype, np.datetime64):
        ts = pd.to_datetime(ts)  # a date column
    day = ts.to_numpy().astype("datetime64[D]")
    return day.astype("int64"), day.astype("datetime64[M]").astype("int64")


def _pd_month_start(months):
    import numpy as np

    return np.asarray(months, dtype="int64").astype("datetime64[M]").astype("datetime64[D]")


def _pd_month_of_day(days):
    import numpy as np

    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[M]").astype("int64")


def _pd_ratio(num, den):
    import numpy as np

    num, den = np.asarray(num, dtype="float64"), np.asarray(den, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def cohorts_pandas(df):
    import numpy as np
    import pandas as pd

    _, month = _pd_calendar(df)
    purchase = (df["amount"] > 0).to_numpy()
    first, last = month.min(), month.max()

    pairs = pd.DataFrame({"customer_id": df["customer_id"], "month": month}).loc[purchase].drop_duplicates()
    cohort = pairs.groupby("customer_id", sort=False, observed=True)["month"].transform("min")
    active = pd.DataFrame({"cohort": cohort, "k": pairs["month"] - cohort}).value_counts()
    size = active[active.index.get_level_values("k") == 0].droplevel("k")

    cohorts = np.arange(first, last + 1)
    lengths = last - cohorts + 1
    c = np.repeat(cohorts, lengths)
    k = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    act = active.reindex(pd.MultiIndex.from_arrays([c, k], names=["cohort", "k"]), fill_value=0).to_numpy()
    sz = size.reindex(c, fill_value=0).to_numpy()
    return pd.DataFrame({
        "cohort": _pd_month_start(c),
        "cohort_size": sz.astype("int64"),
        "period_number": k.astype("int32"),
        "retention": _pd_ratio(act, sz),
    })


def _pd_rates(n, window, windows):
    """Repurchase rates per window from n = purchases per (customer, window)."""
    import numpy as np
    import pandas as pd

    rep = n >= 2
    sums = (
        pd.DataFrame({"w": window, "customers": 1, "repeat_customers": rep, "orders": n,
                      "repeat_customer_orders": np.where(rep, n, 0)})
        .groupby("w").sum()
        .reindex(windows, fill_value=0)
    )
    customers, orders = sums["customers"].to_numpy("int64"), sums["orders"].to_numpy("int64")
    rco = sums["repeat_customer_orders"].to_numpy("int64")
    out = pd.DataFrame({
        "customers": customers,
        "repeat_customers": sums["repeat_customers"].to_numpy("int64"),
        "orders": orders,
        "repeat_orders": orders - customers,
        "repeat_customer_orders": rco,
    })
    out["customer_rate"] = _pd_ratio(out["repeat_customers"], customers)
    out["order_rate"] = _pd_ratio(out["repeat_orders"], orders)
    out["intensity"] = _pd_ratio(rco, customers)
    return out


def repurchase_pandas(df):
    import numpy as np
    import pandas as pd

    _, month = _pd_calendar(df)
    purchase = (df["amount"] > 0).to_numpy()
    first, last = month.min(), month.max()

    per_month = (pd.DataFrame({"customer_id": df["customer_id"], "month": month}).loc[purchase]
                 .groupby(["customer_id", "month"], sort=False, observed=True).size())
    per_customer = per_month.groupby(level="customer_id", sort=False, observed=True).sum().to_numpy()
    whole = _pd_rates(per_customer, np.zeros(len(per_customer), dtype="int64"), [0])
    months = np.arange(first, last + 1)
    monthly = _pd_rates(per_month.to_numpy(), per_month.index.get_level_values("month").to_numpy(), months)
    monthly.insert(0, "period", _pd_month_start(months))
    return whole, monthly


def acquisition_pandas(df, lapse_days=LAPSE_DAYS):
    import numpy as np
    import pandas as pd

    day, month = _pd_calendar(df)
    purchase = (df["amount"] > 0).to_numpy()
    first, last, as_of = month.min(), month.max(), day.max()

    codes, _ = pd.factorize(df["customer_id"][purchase])
    days = pd.DataFrame({"c": codes, "day": day[purchase]}).drop_duplicates().sort_values(["c", "day"])
    c, d = days["c"].to_numpy(), days["day"].to_numpy()
    # purchase days of one customer are consecutive and ascending; a spell of live days starts
    # at the first purchase day or after a gap > lapse_days and ends where the next spell starts
    first_day = np.r_[True, c[1:] != c[:-1]]
    start = first_day | (np.r_[0, np.diff(d)] > lapse_days)
    end = np.r_[start[1:], True]
    spells = pd.DataFrame({"c": c[start], "new": first_day[start], "start_m": _pd_month_of_day(d[start]),
                           "loss": d[end] + lapse_days + 1})
    losses = spells[spells["loss"] <= as_of].assign(loss_m=lambda f: _pd_month_of_day(f["loss"]))

    months = np.arange(first, last + 1)

    def per_month(series):
        return series.reindex(months, fill_value=0).to_numpy("int64")

    starts = per_month(spells.groupby("start_m").size())
    new = per_month(spells.groupby("start_m")["new"].sum())
    reactivated = per_month(spells[~spells["new"]].drop_duplicates(["c", "start_m"]).groupby("start_m").size())
    n_losses = per_month(losses.groupby("loss_m").size())
    lost = per_month(losses.drop_duplicates(["c", "loss_m"]).groupby("loss_m").size())
    lost_live = per_month(losses[losses["start_m"] < losses["loss_m"]].groupby("loss_m").size())
    active = per_month(pd.DataFrame({"c": c, "m": _pd_month_of_day(d)}).drop_duplicates().groupby("m").size())

    end_customers = np.cumsum(starts - n_losses)
    start_customers = end_customers - starts + n_losses
    retained = start_customers - lost_live
    return pd.DataFrame({
        "period": _pd_month_start(months),
        "start_customers": start_customers,
        "new": new,
        "reactivated": reactivated,
        "lost": lost,
        "retained": retained,
        "end_customers": end_customers,
        "active": active,
        "cr_index": _pd_ratio(new, lost),
        "churn_rate": _pd_ratio(start_customers - retained, start_customers),
        "retention_rate": _pd_ratio(retained, start_customers),
    })


# ============================================================================ polars


def _pl_month(e):
    import polars as pl

    return e.dt.year().cast(pl.Int32) * 12 + e.dt.month().cast(pl.Int32) - 1


def _pl_month_start(e):
    import polars as pl

    return pl.date(e // 12, e % 12 + 1, 1)


def _pl_ratio(num, den):
    import polars as pl

    return pl.when(den > 0).then(num.cast(pl.Float64) / den)


def _pl_base(df):
    """customer_id, day (local calendar day), purchase flag."""
    import polars as pl

    c = pl.col
    return df.lazy().select("customer_id", day=c("order_date").dt.date(), purchase=c("amount") > 0)


def _pl_months(base, first_expr, last_expr):
    import polars as pl

    return base.select(m=pl.int_range(first_expr.first(), last_expr.first() + 1, dtype=pl.Int32))


def cohorts_polars(df):
    import polars as pl

    c = pl.col
    base = _pl_base(df).with_columns(m=_pl_month(c("day"))).cache()  # feeds the pairs and the bounds
    pairs = base.filter("purchase").select("customer_id", "m").unique()
    counts = (
        pairs.with_columns(cohort=c("m").min().over("customer_id"))
        .group_by("cohort", k=c("m") - c("cohort"))
        .agg(active=pl.len())
    )
    sizes = counts.filter(c("k") == 0).select("cohort", cohort_size=c("active"))
    grid = (
        base.select(first=c("m").min(), last=c("m").max())
        .select(cohort=pl.int_range(c("first").first(), c("last").first() + 1, dtype=pl.Int32),
                last=c("last").first())
        .with_columns(k=pl.int_ranges(0, c("last") - c("cohort") + 1, dtype=pl.Int32))
        .explode("k")
    )
    return (
        grid.join(counts, on=["cohort", "k"], how="left")
        .join(sizes, on="cohort", how="left")
        .with_columns(c("active", "cohort_size").fill_null(0).cast(pl.Int64))
        .sort("cohort", "k")
        .select(
            cohort=_pl_month_start(c("cohort")),
            cohort_size="cohort_size",
            period_number=c("k").cast(pl.Int32),
            retention=_pl_ratio(c("active"), c("cohort_size")),
        )
        .collect()
    )


def _pl_rate_sums():
    import polars as pl

    c = pl.col
    return dict(
        customers=pl.len().cast(pl.Int64),
        repeat_customers=(c("n") >= 2).sum().cast(pl.Int64),
        orders=c("n").sum().cast(pl.Int64),
        repeat_customer_orders=c("n").filter(c("n") >= 2).sum().cast(pl.Int64),
    )


def _pl_rates(frame):
    import polars as pl

    c = pl.col
    return frame.with_columns(c(n).fill_null(0) for n in ("customers", "repeat_customers", "orders",
                                                        "repeat_customer_orders")).select(
        *[c("period")] if "period" in frame.collect_schema().names() else [],
        "customers", "repeat_customers", "orders",
        repeat_orders=c("orders") - c("customers"),
        repeat_customer_orders="repeat_customer_orders",
        customer_rate=_pl_ratio(c("repeat_customers"), c("customers")),
        order_rate=_pl_ratio(c("orders") - c("customers"), c("orders")),
        intensity=_pl_ratio(c("repeat_customer_orders"), c("customers")),
    )


def repurchase_polars(df):
    import polars as pl

    c = pl.col
    base = _pl_base(df).with_columns(m=_pl_month(c("day")))
    per_month = base.filter("purchase").group_by("customer_id", "m").agg(n=pl.len().cast(pl.Int64))
    whole = _pl_rates(per_month.group_by("customer_id").agg(n=c("n").sum()).select(**_pl_rate_sums()))
    monthly = _pl_rates(
        _pl_months(base, c("m").min(), c("m").max())
        .join(per_month.group_by("m").agg(**_pl_rate_sums()), on="m", how="left")
        .sort("m")
        .with_columns(period=_pl_month_start(c("m")))
    )
    return tuple(pl.collect_all([whole, monthly]))


def acquisition_polars(df, lapse_days=LAPSE_DAYS):
    import polars as pl

    c = pl.col
    base = _pl_base(df)
    bounds = base.select(as_of=c("day").max(), first=_pl_month(c("day").min()), last=_pl_month(c("day").max()))
    days = (
        base.filter("purchase").select("customer_id", "day").unique()
        .sort("customer_id", "day")
        .with_columns(
            new=(c("customer_id") != c("customer_id").shift(1)).fill_null(True),
            gap=(c("day") - c("day").shift(1)).dt.total_days(),
        )
        # a spell of live days starts at the first purchase day or after a gap > lapse_days and
        # ends on the row before the next spell starts
        .with_columns(start=c("new") | (c("gap") > lapse_days))
        .with_columns(end=c("start").shift(-1, fill_value=True))
        .cache()  # feeds the spells and `active`: computed once (half the time at 1M rows)
    )
    spells = pl.concat(
        [days.filter("start").select("customer_id", "new", start_m=_pl_month(c("day"))),
         days.filter("end").select(loss=c("day") + pl.duration(days=lapse_days + 1))],
        how="horizontal",
    )
    starts = spells.group_by(m="start_m").agg(
        starts=pl.len(),
        new=c("new").sum(),
        reactivated=c("customer_id").filter(~c("new")).n_unique(),
    )
    losses = (
        spells.join(bounds.select("as_of"), how="cross")
        .filter(c("loss") <= c("as_of"))
        .with_columns(m=_pl_month(c("loss")))
        .group_by("m")
        .agg(losses=pl.len(), lost=c("customer_id").n_unique(), lost_live=(c("start_m") < c("m")).sum())
    )
    active = days.group_by(m=_pl_month(c("day"))).agg(active=c("customer_id").n_unique())
    counts = ["starts", "new", "reactivated", "losses", "lost", "lost_live", "active"]
    return (
        bounds.select(m=pl.int_range(c("first").first(), c("last").first() + 1, dtype=pl.Int32))
        .join(starts, on="m", how="left")
        .join(losses, on="m", how="left")
        .join(active, on="m", how="left")
        .sort("m")
        .with_columns(c(counts).fill_null(0).cast(pl.Int64))
        .with_columns(end_customers=(c("starts") - c("losses")).cum_sum())
        .with_columns(start_customers=c("end_customers") - c("starts") + c("losses"))
        .with_columns(retained=c("start_customers") - c("lost_live"))
        .select(
            period=_pl_month_start(c("m")),
            start_customers="start_customers",
            new="new",
            reactivated="reactivated",
            lost="lost",
            retained="retained",
            end_customers="end_customers",
            active="active",
            cr_index=_pl_ratio(c("new"), c("lost")),
            churn_rate=_pl_ratio(c("start_customers") - c("retained"), c("start_customers")),
            retention_rate=_pl_ratio(c("retained"), c("start_customers")),
        )
        .collect()
    )


# ============================================================================ duckdb


def _m(x):
    """Month index (months since year 0) of a DATE expression."""
    return f"(year({x}) * 12 + month({x}) - 1)"


def _month_start(m):
    return f"make_date(({m} // 12)::INTEGER, ({m} % 12 + 1)::INTEGER, 1)"


def _ratio(num, den):
    return f"CASE WHEN {den} > 0 THEN ({num})::DOUBLE / {den} END"


_DAYS = """
rows AS (
    SELECT customer_id, CAST(order_date AS DATE) AS day, amount FROM transactions
), bounds AS (
    SELECT max(day) AS as_of, {first} AS first_m, {last} AS last_m FROM rows
)""".format(first=_m("min(day)"), last=_m("max(day)"))

COHORTS_SQL = f"""
WITH {_DAYS}, pairs AS (
    SELECT DISTINCT customer_id, {_m('day')} AS m FROM rows WHERE amount > 0
), counts AS (
    SELECT cohort, m - cohort AS k, count(*) AS active
    FROM pairs JOIN (SELECT customer_id, min(m) AS cohort FROM pairs GROUP BY customer_id) USING (customer_id)
    GROUP BY ALL
), grid AS (
    SELECT cohort, unnest(range(0, last_m - cohort + 1)) AS k
    FROM (SELECT unnest(range(first_m, last_m + 1)) AS cohort, last_m FROM bounds)
)
SELECT {_month_start('g.cohort')} AS cohort,
       coalesce(s.active, 0)::BIGINT AS cohort_size,
       g.k::INTEGER AS period_number,
       {_ratio('coalesce(a.active, 0)', 's.active')} AS retention
FROM grid g
LEFT JOIN counts a ON a.cohort = g.cohort AND a.k = g.k
LEFT JOIN counts s ON s.cohort = g.cohort AND s.k = 0
ORDER BY g.cohort, g.k
"""


def _rates_select(sums):
    """The repurchase columns from per-window sums (windows without purchases have nulls)."""
    return f"""
    customers, repeat_customers, orders, orders - customers AS repeat_orders, repeat_customer_orders,
    {_ratio('repeat_customers', 'customers')} AS customer_rate,
    {_ratio('orders - customers', 'orders')} AS order_rate,
    {_ratio('repeat_customer_orders', 'customers')} AS intensity
FROM (SELECT * REPLACE (coalesce(customers, 0)::BIGINT AS customers,
                        coalesce(repeat_customers, 0)::BIGINT AS repeat_customers,
                        coalesce(orders, 0)::BIGINT AS orders,
                        coalesce(repeat_customer_orders, 0)::BIGINT AS repeat_customer_orders)
      FROM {sums})"""


_RATE_SUMS = """
    count(*) AS customers,
    count(*) FILTER (WHERE n >= 2) AS repeat_customers,
    sum(n) AS orders,
    sum(n) FILTER (WHERE n >= 2) AS repeat_customer_orders"""

REPURCHASE_SQL = f"""
WITH per_customer AS (
    SELECT customer_id, count(*) AS n FROM transactions WHERE amount > 0 GROUP BY customer_id
), sums AS (
    SELECT {_RATE_SUMS} FROM per_customer
)
SELECT {_rates_select('sums')}
"""

REPURCHASE_MONTHLY_SQL = f"""
WITH {_DAYS}, per_month AS (
    SELECT customer_id, {_m('day')} AS m, count(*) AS n FROM rows WHERE amount > 0 GROUP BY ALL
), sums AS (
    SELECT m, {_RATE_SUMS} FROM per_month GROUP BY m
), months AS (
    SELECT unnest(range(first_m, last_m + 1)) AS m FROM bounds
)
SELECT {_month_start('m')} AS period, {_rates_select('months LEFT JOIN sums USING (m)')}
ORDER BY m
"""

ACQUISITION_SQL = f"""
WITH {_DAYS}, days AS (
    SELECT DISTINCT customer_id, day FROM rows WHERE amount > 0
), gaps AS (
    SELECT customer_id, day,
           lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS prev,
           -- same ordering as lag(): one sort serves both
           last_value(day) OVER (PARTITION BY customer_id ORDER BY day
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_day
    FROM days
), spells AS (
    -- a spell of live days starts at the first purchase day or after a gap > lapse days; it
    -- ends on the day before the next spell's start row (that row's prev), else on the last day
    SELECT customer_id, prev IS NULL AS is_new, {_m('day')} AS start_m,
           coalesce(lead(prev) OVER (PARTITION BY customer_id ORDER BY day), last_day)
               + {LAPSE_DAYS + 1} AS loss
    FROM gaps
    WHERE prev IS NULL OR date_diff('day', prev, day) > {LAPSE_DAYS}
), starts AS (
    SELECT start_m AS m, count(*) AS starts, count(*) FILTER (WHERE is_new) AS new,
           count(DISTINCT customer_id) FILTER (WHERE NOT is_new) AS reactivated
    FROM spells GROUP BY 1
), losses AS (
    SELECT {_m('loss')} AS m, count(*) AS losses, count(DISTINCT customer_id) AS lost,
           count(*) FILTER (WHERE start_m < {_m('loss')}) AS lost_live
    FROM spells, bounds WHERE loss <= as_of GROUP BY 1
), active AS (
    SELECT {_m('day')} AS m, count(DISTINCT customer_id) AS active FROM days GROUP BY 1
), months AS (
    SELECT unnest(range(first_m, last_m + 1)) AS m FROM bounds
), joined AS (
    SELECT m, coalesce(starts, 0) AS starts, coalesce(new, 0) AS new,
           coalesce(reactivated, 0) AS reactivated, coalesce(losses, 0) AS losses,
           coalesce(lost, 0) AS lost, coalesce(lost_live, 0) AS lost_live,
           coalesce(active, 0) AS active
    FROM months LEFT JOIN starts USING (m) LEFT JOIN losses USING (m) LEFT JOIN active USING (m)
), live AS (
    SELECT *, sum(starts - losses) OVER (ORDER BY m) AS end_customers FROM joined
), counted AS (
    SELECT *, end_customers - starts + losses AS start_customers FROM live
)
SELECT {_month_start('m')} AS period,
       start_customers::BIGINT AS start_customers,
       new::BIGINT AS new,
       reactivated::BIGINT AS reactivated,
       lost::BIGINT AS lost,
       (start_customers - lost_live)::BIGINT AS retained,
       end_customers::BIGINT AS end_customers,
       active::BIGINT AS active,
       {_ratio('new', 'lost')} AS cr_index,
       {_ratio('lost_live', 'start_customers')} AS churn_rate,
       {_ratio('start_customers - lost_live', 'start_customers')} AS retention_rate
FROM counted
ORDER BY m
"""


def cohorts_duckdb(con):
    return con.sql(COHORTS_SQL).to_arrow_table()


def repurchase_duckdb(con):
    return con.sql(REPURCHASE_SQL).to_arrow_table(), con.sql(REPURCHASE_MONTHLY_SQL).to_arrow_table()


def acquisition_duckdb(con):
    return con.sql(ACQUISITION_SQL).to_arrow_table()


# ============================================================================ crm


def cohorts_crm(data):
    import crm

    return crm.cohorts(data, period="M", metric="retention", format="long")


def repurchase_crm(data):
    import crm

    return crm.repurchase(data), crm.repurchase(data, period="M")


def acquisition_crm(data):
    import crm

    return crm.acquisition(data, period="M", lapse_days=LAPSE_DAYS)


RUNNERS = {
    ("crm", "cohorts"): cohorts_crm,
    ("crm", "repurchase"): repurchase_crm,
    ("crm", "acquisition"): acquisition_crm,
    ("pandas", "cohorts"): cohorts_pandas,
    ("pandas", "repurchase"): repurchase_pandas,
    ("pandas", "acquisition"): acquisition_pandas,
    ("polars", "cohorts"): cohorts_polars,
    ("polars", "repurchase"): repurchase_polars,
    ("polars", "acquisition"): acquisition_polars,
    ("duckdb", "cohorts"): cohorts_duckdb,
    ("duckdb", "repurchase"): repurchase_duckdb,
    ("duckdb", "acquisition"): acquisition_duckdb,
}


def load_input(tool, path):
    """(input object, input MB) for a tool, loaded from Parquet outside any timing."""
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
    raise ValueError(f"unknown tool {tool!r}")


# ============================================================================ verification


def normalise(frame):
    """An output table as {column: numpy array} in comparable plain types, rows sorted by its
    period / cohort key; plus the column names in their original order."""
    import numpy as np
    import pandas as pd

    frame = to_pandas(frame)
    names = [str(n) for n in frame.columns]
    cols = {}
    for name in names:
        s = frame[name]
        if name in DATE_COLUMNS:
            s = pd.to_datetime(pd.Series(s))
            if isinstance(s.dtype, pd.DatetimeTZDtype):
                s = s.dt.tz_localize(None)
            cols[name] = s.to_numpy().astype("datetime64[D]")
        elif name in FLOAT_COLUMNS:
            cols[name] = pd.Series(s).astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        else:
            s = pd.Series(s)
            cols[name] = s.astype("Float64").to_numpy(dtype="float64", na_value=np.nan) if s.isna().any() \
                else s.to_numpy().astype("int64")
    keys = next((SORT_KEYS[k] for k in SORT_KEYS if k in cols), [])
    if keys and all(k in cols for k in keys):
        order = np.lexsort([cols[k] for k in reversed(keys)])
        cols = {k: v[order] for k, v in cols.items()}
    return names, cols


def _rows(normalised):
    return len(next(iter(normalised[1].values()), ()))


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def compare(expected, got, label):
    """Human-readable mismatches between two normalised outputs."""
    import numpy as np

    exp_names, exp = expected
    got_names, val = got
    if exp_names != got_names:
        return [f"{label}: columns {got_names}, expected {exp_names}"]
    n_exp, n_got = _rows(expected), _rows(got)
    if n_exp != n_got:
        return [f"{label}: {n_got} rows, expected {n_exp}"]

    def where(i):
        said = [f"{k} {exp[k][i]}" for k in ("cohort", "period_number", "period") if k in exp]
        return f"row {i}" + (f" ({', '.join(said)})" if said else "")

    problems = []
    for col in exp_names:
        e, g = exp[col], val[col]
        if e.dtype.kind == "f" or g.dtype.kind == "f":
            e, g = e.astype("float64"), g.astype("float64")
            bad = ~np.isclose(g, e, rtol=1e-12, atol=0.0, equal_nan=True)
        else:
            bad = np.asarray(g != e, dtype=bool)
        if bad.any():
            idx = np.flatnonzero(bad)[:5]
            examples = ", ".join(f"{where(i)}: got {_plain(g[i])!r}, expected {_plain(e[i])!r}" for i in idx)
            problems.append(f"{label}: column {col}: {int(bad.sum())} mismatches; e.g. {examples}")
    return problems


def run_task(tool, task, data):
    """The task's output(s) normalised: a list of one or two normalised tables."""
    out = RUNNERS[(tool, task)](data)
    return [normalise(o) for o in (out if isinstance(out, tuple) else (out,))]


def worker_check(args):
    """Run every tool and task on one (small) Parquet file; compare with pandas and crm."""
    tools = args.tools.split(",")
    tasks = args.tasks.split(",")
    crm_tasks = set(filter(None, (args.crm_tasks or "").split(",")))
    inputs = {tool: load_input(tool, args.parquet)[0] for tool in tools}
    problems = []
    for task in tasks:
        outputs = {}
        for tool in tools:
            if tool == "crm" and task not in crm_tasks:
                continue
            t0 = time.perf_counter()
            try:
                outputs[tool] = run_task(tool, task, inputs[tool])
            except Exception as exc:  # a crash is a mismatch too
                problems.append(f"{task}/{tool}: raised {type(exc).__name__}: {exc}")
                log(f"    {task}/{tool}: RAISED {type(exc).__name__}: {exc}")
                continue
            log(f"    {task}/{tool}: {time.perf_counter() - t0:.2f}s, "
                + " + ".join(f"{_rows(o)} rows" for o in outputs[tool]))
            names = [o[0] for o in outputs[tool]]
            if names != DOCUMENTED_COLUMNS[task]:
                problems.append(f"{task}/{tool}: columns {names}, documented {DOCUMENTED_COLUMNS[task]}")
        for ref in ("pandas", "crm"):
            if ref not in outputs:
                continue
            for tool, got in outputs.items():
                if tool == ref or (ref == "crm" and tool == "pandas"):  # that pair is done above
                    continue
                found = []
                if len(got) != len(outputs[ref]):
                    found = [f"{task}/{tool}: {len(got)} tables, {ref} gives {len(outputs[ref])}"]
                else:
                    for i, (e, g) in enumerate(zip(outputs[ref], got)):
                        part = f" (table {i + 1})" if len(got) > 1 else ""
                        found += compare(e, g, f"{task}/{tool} vs {ref}{part}")
                log(f"    {task}: {tool} vs {ref}: {'OK' if not found else 'MISMATCH'}")
                problems += found
    print(json.dumps({"problems": problems}))


# ============================================================================ data


def edge_rows(table, more=None):
    """A few hand-made customers for the check data (see the module docstring).  `more`, when
    given, is called as more(first, last) with the first and last local day of `table` and
    returns further (customer, day, time, amount) rows (other scripts' own edge cases)."""
    import datetime as dt

    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    date_type = table.schema.field("order_date").type
    tz = getattr(date_type, "tz", None)
    local = table.column("order_date")
    if tz:
        local = pc.local_timestamp(local)
    first = pc.min(local).as_py().date()
    last = pc.max(local).as_py().date()
    plus = lambda d, n: d + dt.timedelta(days=n)  # noqa: E731
    next_month = (last.replace(day=1) + dt.timedelta(days=32)).replace(day=1)

    rows = [  # (customer, day, time, amount)
        ("refund_only", plus(first, 10), "12:00:00", -20.0),
        ("refund_only", plus(first, 40), "12:00:00", 0.0),
        ("refund_first", plus(first, 5), "09:00:00", -5.0),       # refund before the first purchase
        ("refund_first", plus(first, 70), "09:00:00", 30.0),
        ("refund_first", plus(last, 70), "10:00:00", 12.5),       # reactivated after the gap
        ("early", plus(first, -75), "08:00:00", -3.0),            # empty months at the start
        ("early", plus(first, 3), "08:00:00", 9.0),
        ("lapse_180", plus(first, 100), "11:00:00", 10.0),       # not lost
        ("lapse_180", plus(first, 280), "11:00:00", 10.0),
        ("lapse_181", plus(first, 100), "11:00:00", 10.0),       # lost and reactivated the same day
        ("lapse_181", plus(first, 281), "11:00:00", 10.0),
        ("lapse_182", plus(first, 100), "11:00:00", 10.0),       # lost, reactivated the day after
        ("lapse_182", plus(first, 282), "11:00:00", 10.0),
        ("same_day", plus(first, 150), "10:00:00", 5.0),          # several purchases on a day
        ("same_day", plus(first, 150), "15:00:00", 6.0),
        ("same_day", plus(first, 150), "16:00:00", -6.0),
        ("midnight", plus(next_month, -1), "23:59:59", 7.0),      # month boundary
        ("midnight", next_month, "00:00:00", 7.0),
        ("late_new", plus(last, 70), "13:00:00", 20.0),           # empty months in between
        ("late_new", plus(last, 70), "14:00:00", 20.0),
        ("late_zero", plus(last, 85), "18:00:00", 0.0),           # as_of mid-month
    ]
    if more is not None:
        rows += list(more(first, last))
    names = sorted({r[0] for r in rows})
    key_type = table.schema.field("customer_id").type
    if pa.types.is_integer(key_type):
        base = pc.max(table.column("customer_id")).as_py() + 1
        keys = [base + names.index(r[0]) for r in rows]
    else:
        keys = [f"zz_{r[0]}" for r in rows]
    wall = pd.to_datetime([f"{r[1].isoformat()} {r[2]}" for r in rows])
    ts = wall.tz_localize(tz) if tz else wall
    edge = pa.table({
        "customer_id": pa.array(keys).cast(key_type),
        "order_date": pa.array(ts, type=date_type),
        "amount": pa.array([r[3] for r in rows], type=pa.float64()),
    })
    return pa.concat_tables([table, edge.cast(table.schema)]).sort_by("order_date")


def worker_gen(args):
    import pyarrow.parquet as pq

    synthetic_rows, source = get_generator()
    table = synthetic_rows(args.rows, n_customers=args.customers, seed=args.seed, key=args.key,
                           frame="pyarrow", tz=args.tz or None, sort=True)
    table = table.select(COLUMNS)
    if args.edge:
        table = edge_rows(table)
    pq.write_table(table, args.parquet)
    print(json.dumps({"source": source, "arrow_mb": table.nbytes / 1e6, "rows": table.num_rows}))


def worker_probe(args):
    """Which crm functions are there, and which generator?  (In a subprocess: the main process
    never imports crm, so a broken or half-rebuilt extension cannot take the driver down.)"""
    _, source = get_generator()
    try:
        import crm

        present = [task for task, fn in CRM_FUNCTION.items() if callable(getattr(crm, fn, None))]
        problem = None
    except Exception as exc:  # ImportError, or a half-built package
        present, problem = [], f"`import crm` failed ({type(exc).__name__}: {exc})"
    print(json.dumps({"crm_tasks": present, "crm_problem": problem, "source": source}))


def worker_time(args):
    import pyarrow  # noqa: F401  (import cost and baseline RSS outside the measurement)

    data, input_mb = load_input(args.tool, args.parquet)
    runner = RUNNERS[(args.tool, args.task)]
    print(json.dumps(measure(runner, data, args.runs, input_mb)))


def worker(argv, what, attempts=1):
    return run_worker(argv, what, attempts=attempts, script=SCRIPT)


# ============================================================================ driver


def fastest_peer(cells):
    done = {t: r for t, r in cells.items() if t in PEERS and r is not None}
    if not done:
        return None, None
    tool = min(done, key=lambda t: done[t]["median"])
    return tool, done[tool]


def make_table(results, tools):
    head = ["rows", "customers", "key", "task"] + [f"{t} s" for t in tools]
    head += ["crm vs fastest peer", "crm peak MB", "fastest peer peak MB"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---:" if h not in ("key", "task") else "---" for h in head) + "|"]
    for row in results:
        cells = row["cells"]
        out = [fmt_count(row["rows"]), fmt_count(row["customers"]), row["key"], row["task"]]
        for t in tools:
            if t not in cells:
                out.append("n/a")
            elif cells[t] is None:
                out.append("failed")
            else:
                out.append(f"{cells[t]['median']:.3f}")
        crm_res = cells.get("crm")
        peer, peer_res = fastest_peer(cells)
        out.append(f"{peer_res['median'] / crm_res['median']:.2f}x ({peer})" if crm_res and peer_res else "n/a")
        out.append(f"{crm_res['peak_extra_mb']:.0f}" if crm_res else "n/a")
        out.append(f"{peer_res['peak_extra_mb']:.0f} ({peer})" if peer_res else "n/a")
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e7,5e7", help="rows per data set, comma separated (default 1e7,5e7)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool, task and data set (median reported)")
    ap.add_argument("--keys", default="int", help="customer key types: int,str (default int)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help=f"subset of {','.join(ALL_TOOLS)}")
    ap.add_argument("--tasks", default=",".join(ALL_TASKS), help=f"subset of {','.join(ALL_TASKS)}")
    ap.add_argument("--out", default=os.path.join(HERE, "results_retention.md"), help="markdown file for the table")
    ap.add_argument("--check-rows", type=float, default=2e5, help="rows of the correctness check (0: skip)")
    ap.add_argument("--check-tz", default="Asia/Shanghai",
                    help="also check a tz-aware copy of the check data in this zone ('' to skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmpdir", default=None, help="where the Parquet files go (default: system temp)")
    # worker mode (internal)
    ap.add_argument("--worker", choices=["gen", "time", "check", "probe"], help=argparse.SUPPRESS)
    ap.add_argument("--tool", help=argparse.SUPPRESS)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--crm-tasks", default="", help=argparse.SUPPRESS)
    ap.add_argument("--parquet", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--customers", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--tz", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--edge", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        return {"gen": worker_gen, "time": worker_time, "check": worker_check, "probe": worker_probe}[args.worker](args)

    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    keys = [k.strip() for k in args.keys.split(",") if k.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    for t in tools:
        if t not in ALL_TOOLS:
            ap.error(f"unknown tool {t!r}; choose from {','.join(ALL_TOOLS)}")
    for t in tasks:
        if t not in ALL_TASKS:
            ap.error(f"unknown task {t!r}; choose from {','.join(ALL_TASKS)}")
    for k in keys:
        if k not in ("int", "str"):
            ap.error(f"unknown key type {k!r}")
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if not sizes or not keys or not tools or not tasks:
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
    runnable = {task: [t for t in tools if t != "crm" or task in crm_tasks] for task in tasks}

    notes.append(f"data: {probe['source']}; ordered by order_date; columns read: {', '.join(COLUMNS)}.")

    tmp = tempfile.mkdtemp(prefix="crm-bench-retention-", dir=args.tmpdir)
    results = []
    try:
        # ---------------------------------------------------------------- correctness first
        check_rows = int(args.check_rows)
        if check_rows > 0:
            checks = [(key, "") for key in keys]
            if args.check_tz:
                checks.append((keys[-1], args.check_tz))
            # pandas is the reference of the check even when it is not timed
            check_tools = [t for t in ALL_TOOLS if (t in tools or t == "pandas") and (t != "crm" or crm_tasks)]
            for key, tz in checks:
                path = os.path.join(tmp, f"check_{key}.parquet")
                log(f"check: {fmt_count(check_rows)} rows + edge cases, {key} keys{', tz ' + tz if tz else ''}")
                gen = worker(["--worker", "gen", "--rows", str(check_rows), "--customers",
                              str(customers_for(check_rows)), "--key", key, "--seed", str(args.seed + 1),
                              "--tz", tz, "--edge", "--parquet", path], "generate check data", attempts=2)
                if gen is None:
                    raise SystemExit("could not generate the check data")
                res = worker(["--worker", "check", "--parquet", path, "--tools", ",".join(check_tools),
                              "--tasks", ",".join(tasks), "--crm-tasks", ",".join(crm_tasks)], "check")
                if res is None or res["problems"]:
                    msg = ["", "!" * 78, "!! RETENTION OUTPUTS DISAGREE -- NOT TIMING ANYTHING", "!" * 78]
                    msg += (res or {"problems": ["the check worker crashed"]})["problems"]
                    log("\n".join(msg))
                    raise SystemExit(2)
                os.remove(path)
            refs = "pandas" + (" and crm" if crm_tasks else "")
            notes.append(f"outputs of {', '.join(check_tools)} checked identical to {refs} on "
                         f"{fmt_count(check_rows)} rows plus hand-made edge cases ({', '.join(keys)} keys"
                         f"{'; also tz-aware ' + args.check_tz if args.check_tz else ''}) before timing.")

        # ---------------------------------------------------------------- timing
        for n_rows in sizes:
            n_customers = customers_for(n_rows)
            for key in keys:
                path = os.path.join(tmp, f"data_{n_rows}_{key}.parquet")
                log(f"generate: {fmt_count(n_rows)} rows, {fmt_count(n_customers)} customers, {key} keys")
                gen = worker(["--worker", "gen", "--rows", str(n_rows), "--customers", str(n_customers),
                              "--key", key, "--seed", str(args.seed), "--parquet", path], "generate", attempts=2)
                if gen is None:
                    raise SystemExit("could not generate the data")
                for task in tasks:
                    cells = {}
                    for tool in runnable[task]:
                        log(f"  {task} / {tool}: {args.runs} runs ...")
                        res = worker(["--worker", "time", "--tool", tool, "--task", task, "--parquet", path,
                                      "--runs", str(args.runs)], f"{task} / {tool} at {n_rows} rows")
                        if res is not None:
                            log("    " + ", ".join(f"{t:.3f}s" for t in res["times"])
                                + f"; peak extra {res['peak_extra_mb']:.0f} MB")
                        cells[tool] = res
                    results.append({"rows": n_rows, "customers": n_customers, "key": key, "task": task,
                                    "cells": cells})
                os.remove(path)
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
    notes.append(f"median of {args.runs} runs in seconds; each (tool, task) in a fresh process with its input "
                 "already loaded; repurchase = whole log + monthly; acquisition with lapse_days=180; "
                 "'crm vs fastest peer' = fastest peer's median / crm's median (above 1: crm is faster); "
                 "'peak MB' = peak RSS during the runs minus RSS with the input loaded.")
    notes.append(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {versions}.")
    with open(args.out, "w") as fh:
        fh.write("# crm retention benchmark: cohorts, repurchase, acquisition\n\n" + table + "\n\n"
                 + "\n".join(f"- {n}" for n in notes) + "\n")
    log(f"wrote {args.out}")
    for n in notes:
        log(f"note: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main() or 0)
