"""A plain pandas implementation of docs/retention_definitions.md, used as the test oracle.

Written for clarity, not speed (groupby, small loops over customers and periods); sized for
logs of up to a few tens of thousands of rows.  It shares no code with `crm`.

    reference_repurchase(df, customer=..., date=..., amount=..., order=None, period=None, by=None)
    reference_interpurchase(df, customer=..., date=..., amount=..., output="customers")
    reference_lifecycle(df, customer=..., date=..., amount=..., as_of=None,
                        thresholds=(90, 180, 365), labels="en")
    reference_churn_risk(df, customer=..., date=..., amount=..., order=None, as_of=None,
                         window=90, overdue_factor=2.0)
    reference_cohorts(df, customer=..., date=..., amount=..., period="M",
                      metric="retention", format="long")
    reference_acquisition(df, customer=..., date=..., amount=..., period="M",
                          lapse_days=180, as_of=None)
    reference_activity(df, customer=..., date=..., amount=..., order=None, as_of=None,
                       weights=None, half_life_days=90.0, extra=None)

Input: a pandas DataFrame of valid rows (no nulls, no NaN; the bad-input rules of the spec are
tested on `crm` directly).  Dates may be datetime64 (naive or tz-aware, any unit) or
`datetime.date` objects.

Output representation (the columns and their order are the documented ones):
    dates           datetime64[ns] at midnight of the calendar day, NaT for null
    integer columns int64, or nullable Int64 where the column can be null
    float columns   float64 with NaN for null
    bool columns    bool, or nullable "boolean" where the column can be null
    stage, risk     pandas Categorical with the documented categories in order (risk ordered)
    rhythm, reason  object (str or None)
    the customer key and the `by` columns keep the input dtype (categoricals stay categorical)
The physical widths the spec names (int32 for some columns, date32, dictionary) are checked
against `crm` separately; the reference only fixes the values.

Points the spec leaves open, decided here:
  * Calendar day: a tz-aware timestamp counts on its local date in its own zone; a naive one
    or a date as written.  A tz-aware `as_of` likewise counts on its own local date (it is not
    converted to the column's zone); any time of day in `as_of` is dropped.
  * "The data" whose first and last day bound a period table is every row, purchases, refunds
    and zero rows alike, including the rows of customers without purchases (cohorts ignores
    those customers' rows for its numbers, but they still stretch the table).
  * `as_of` is validated against the latest calendar day of ANY row (the spec's rule; stricter
    than crm.rfm, which only looks at purchases).
  * Empty input: zero rows with the documented columns, for every function, including
    `repurchase(period=None, by=None)` (the shared rule "empty input -> empty result" wins
    over "one row for the whole log": no window at all, rather than one all-zero row).
    The wide cohorts table of an empty input has just `cohort` and `cohort_size`.
    A non-empty log without any purchase gives the full table with zero counts / null rates.
  * Sorting: customer keys and `by` groups sort by their VALUES (numbers numerically, strings
    by code point), also when the column is categorical (not by the category order).
    `repurchase` rows are sorted by group, then period; `cohorts` (long) by cohort, then
    period_number.
  * `repurchase(by=...)`: the groups are the value combinations present in any row of the
    log (a group holding only refunds gets a row with zero counts).  With `order` and `by`,
    an order is a purchase of a group when it has a purchase row in that group, and it is
    dated on the earliest day of ITS PURCHASE ROWS IN THAT GROUP (the group is treated as a
    log of its own).  Orders are identified by (customer, order id).
  * An order (with `order`) is placed in the period of its earliest purchase-row day, even if
    other lines fall in the next period; likewise its age in `churn_risk` is that of its
    earliest line.  `order` only changes purchase COUNTS (repurchase's n, churn_risk's
    purchases_recent / purchases_prior, activity's purchases).  The last purchase
    (`last_purchase`, `days_since_last_purchase` in churn_risk and activity) is always the
    latest purchase day (a day with a purchase row), as in lifecycle and crm.rfm, and
    churn_risk's gaps (own and population) are always those of `interpurchase`, between
    distinct purchase days, whether or not `order` is given ("as in interpurchase"; "customers
    with a single purchase DAY have none").  So an order with lines on 01-31 and 02-03 is one
    purchase, aged from 01-31, but the customer's last purchase day is 02-03 and the two days
    are two visits with a gap of 3.
  * `lifecycle`: thresholds must be exactly three strictly increasing positive integers;
    `tenure_days` is null, like every other column, for a customer without purchases.
  * `churn_risk`: `window` must be a positive integer, `overdue_factor` a finite number >= 0.
    For a customer with purchases and no rhythm (no gap in the whole log): median_gap_days,
    rhythm and overdue_ratio are null and overdue is False (not null); the risk then only
    depends on `declining`.  A customer without purchases is null in every column but the
    key and `reason` ("no purchase"), `declining` and `overdue` included.  The wording of
    `reason` is not specified beyond "one English sentence"; the tests do not compare it.
  * `cohorts`: `active_customers` is int64 (nullable in the wide format, where cells beyond
    the end of the data are null); `revenue` of an empty cohort is 0.0 (a sum over no rows),
    while `retention` and `cumulative_revenue_per_customer` are null for it.  The wide format
    has one column per k = 0 .. (number of periods - 1), named "0", "1", ...
  * `acquisition`: `lapse_days` is an integer >= 0.  "live at the end of day t" is
    equivalent to "a purchase day in [t - lapse_days, t]", which is what is computed.
  * `activity`: `days_since_last_purchase` is null without purchases (recency_indicator 0);
    `purchases` is int64; `net_spend` and the extra sums are float64 (exact sums); `extra`
    may be one column name or a list; `weights` keys other than "recency", "frequency",
    "monetary" and the extra columns are an error, as are negative or non-finite weights,
    `half_life_days` <= 0, and all weights 0.  Indicators are ranked over all customers of
    the result (including those without purchases).
  * Money sums (net spend, cohort revenue) use math.fsum (correctly rounded), so they do not
    depend on row order.
"""

from __future__ import annotations

import bisect
import math
import statistics

import numpy as np
import pandas as pd

PERIODS = ("W", "M", "Q", "Y")
COHORT_METRICS = ("active_customers", "retention", "revenue", "cumulative_revenue_per_customer")
LIFECYCLE_STAGES = {
    "en": ["honeymoon", "active", "lapsing", "dormant"],
    "zh": ["蜜月期", "活跃期", "流失期", "休眠期"],
}
RISK_LEVELS = ["low", "medium", "high"]

REPURCHASE_COUNTS = ["customers", "repeat_customers", "orders", "repeat_orders", "repeat_customer_orders"]
REPURCHASE_RATES = ["customer_rate", "order_rate", "intensity"]
INTERPURCHASE_CUSTOMER_COLUMNS = [
    "purchase_days", "gaps", "mean_gap_days", "median_gap_days", "min_gap_days", "max_gap_days",
]
INTERPURCHASE_DISTRIBUTION_COLUMNS = ["gap_days", "gaps", "share", "cumulative_share"]
LIFECYCLE_COLUMNS = ["first_purchase", "last_purchase", "tenure_days", "days_since_last_purchase", "stage"]
CHURN_COLUMNS = [
    "last_purchase", "days_since_last_purchase", "purchases_recent", "purchases_prior",
    "median_gap_days", "rhythm", "overdue_ratio", "declining", "overdue", "risk", "reason",
]
ACQUISITION_COUNTS = ["start_customers", "new", "reactivated", "lost", "retained", "end_customers", "active"]
ACQUISITION_RATIOS = ["cr_index", "churn_rate", "retention_rate"]
DEFAULT_WEIGHTS = {"recency": 0.4, "frequency": 0.3, "monetary": 0.3}
DEFAULT_EXTRA_WEIGHT = 0.3

MONDAY_1970 = pd.Timestamp("1970-01-05")  # a Monday: week ordinals count from here


# ============================================================================ shared helpers


def calendar_day(values: pd.Series) -> pd.Series:
    """Midnight of each row's calendar day, as naive datetime64[ns].

    tz-aware timestamps: the local date in their own zone; naive timestamps and dates: as written.
    """
    s = values
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = pd.to_datetime(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)  # keeps the local wall-clock time, drops the zone
    return s.dt.normalize().astype("datetime64[ns]")


def work_frame(df: pd.DataFrame, customer: str, date: str, amount: str, order=None, others=()) -> pd.DataFrame:
    """The log with plain column names: customer, day, amount[, order], and `others` as is.

    Keys and other columns become python objects (so categoricals group by value).
    """
    work = pd.DataFrame(
        {
            "customer": df[customer].astype(object).to_numpy(),
            "day": calendar_day(df[date]).to_numpy(),
            "amount": df[amount].astype("float64").to_numpy(),
        }
    )
    if order is not None:
        work["order"] = df[order].astype(object).to_numpy()
    for name in others:
        work[name] = df[name].astype(object).to_numpy()
    return work


def purchase_events(work: pd.DataFrame, order, keys=()) -> pd.DataFrame:
    """One row per purchase: customer, *keys, day.

    Without `order`: every purchase row (amount > 0).  With `order`: one row per distinct
    (customer, *keys, order id) among the purchase rows, on the earliest day of its rows.
    """
    keys = list(keys)
    rows = work[work["amount"] > 0]
    if order is None:
        return rows[["customer", *keys, "day"]].reset_index(drop=True)
    first_day = rows.groupby(["customer", *keys, "order"], sort=False)["day"].min()
    return first_day.reset_index()[["customer", *keys, "day"]]


def last_purchase_day(work: pd.DataFrame) -> pd.Series:
    """customer -> latest calendar day of a purchase ROW (whether or not `order` is given)."""
    return work.loc[work["amount"] > 0].groupby("customer")["day"].max()


def sorted_customers(work: pd.DataFrame) -> list:
    """Every customer with at least one row, sorted by value."""
    return sorted(set(work["customer"]))


def key_column(keys: list, df: pd.DataFrame, customer: str) -> pd.Series:
    """The keys as a column of the input's dtype."""
    return pd.Series(keys, dtype=df[customer].dtype)


def resolve_as_of(as_of, days: pd.Series):
    """The as_of calendar day (naive midnight); ValueError when it is before the data's last day."""
    last = days.max() if len(days) else None
    if as_of is None:
        return last
    ts = pd.Timestamp(as_of)  # ValueError for a string that is not a date
    if pd.isna(ts):
        raise ValueError("as_of must be a date, got NaT")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)  # its own local calendar day
    day = ts.normalize().as_unit("ns")
    if last is not None and day < last:
        raise ValueError(f"as_of {day.date()} is before the last day of the data {last.date()}")
    return day


def days_between(later, earlier) -> int:
    return int((later - earlier) / pd.Timedelta(days=1))


def check_choice(name: str, value, allowed) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


# ---------------------------------------------------------------------------- periods


def period_ordinal(day: pd.Timestamp, period: str) -> int:
    """Consecutive integers for consecutive periods (so k = ordinal difference)."""
    if period == "W":
        return days_between(day, MONDAY_1970) // 7  # floor division: Monday-start weeks
    if period == "M":
        return day.year * 12 + (day.month - 1)
    if period == "Q":
        return day.year * 4 + (day.month - 1) // 3
    return day.year  # "Y"


def period_first_day(ordinal: int, period: str) -> pd.Timestamp:
    """The label (first day) of the period with this ordinal."""
    if period == "W":
        return (MONDAY_1970 + pd.Timedelta(days=7 * ordinal)).as_unit("ns")
    if period == "M":
        return pd.Timestamp(year=ordinal // 12, month=ordinal % 12 + 1, day=1).as_unit("ns")
    if period == "Q":
        return pd.Timestamp(year=ordinal // 4, month=(ordinal % 4) * 3 + 1, day=1).as_unit("ns")
    return pd.Timestamp(year=ordinal, month=1, day=1).as_unit("ns")


def period_ordinals(days: pd.Series, period: str) -> pd.Series:
    """period_ordinal of every day in a Series (vectorised, same arithmetic)."""
    if period == "W":
        return ((days - MONDAY_1970) // pd.Timedelta(days=1)) // 7
    if period == "M":
        return days.dt.year * 12 + (days.dt.month - 1)
    if period == "Q":
        return days.dt.year * 4 + (days.dt.month - 1) // 3
    return days.dt.year


def period_table(first_day, last_day, period: str) -> list[tuple[int, pd.Timestamp, pd.Timestamp]]:
    """(ordinal, first day, last day) of every period from the one holding first_day to the one
    holding last_day, empty periods included."""
    out = []
    for ordinal in range(period_ordinal(first_day, period), period_ordinal(last_day, period) + 1):
        start = period_first_day(ordinal, period)
        end = period_first_day(ordinal + 1, period) - pd.Timedelta(days=1)
        out.append((ordinal, start, end))
    return out


def percentile_rank(values: pd.Series) -> pd.Series:
    """Average 1-based rank (ties share it) divided by the number of values."""
    return values.astype("float64").rank(method="average") / len(values)


# ============================================================================ repurchase


def reference_repurchase(
    df: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    period: str | None = None,
    by=None,
) -> pd.DataFrame:
    if period is not None:
        check_choice("period", period, PERIODS)
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if by_cols and "period" in by_cols:
        raise ValueError("a by column cannot be named 'period'")

    columns = by_cols + (["period"] if period is not None else []) + REPURCHASE_COUNTS + REPURCHASE_RATES
    work = work_frame(df, customer, date, amount, order, others=by_cols)
    if len(work) == 0:
        return _empty_repurchase(df, by_cols, period, columns)

    # The windows: the whole log, or every period between the first and last day of the data.
    if period is None:
        work["window"] = 0
        windows = [(0, None)]
    else:
        work["window"] = period_ordinals(work["day"], period)
        windows = [(ordinal, start) for ordinal, start, _ in period_table(work["day"].min(), work["day"].max(), period)]

    # Groups: the value combinations present in the data, sorted by value.
    groups = sorted(set(zip(*[work[c] for c in by_cols]))) if by_cols else [()]

    # One row per purchase, inside its group; its window from its (earliest) day.
    purchases = purchase_events(work, order, keys=by_cols)
    if period is None:
        purchases["window"] = 0
    else:
        purchases["window"] = period_ordinals(purchases["day"], period)

    # n = purchases of each customer in each (group, window).
    n_by = {}
    for group_and_window, part in purchases.groupby(by_cols + ["window"], sort=False):
        if not isinstance(group_and_window, tuple):
            group_and_window = (group_and_window,)
        n_by[tuple(group_and_window)] = part.groupby("customer").size()

    rows = []
    for group in groups:
        for ordinal, start in windows:
            n = n_by.get(tuple(group) + (ordinal,), pd.Series([], dtype="int64"))
            customers = int((n >= 1).sum())
            repeat_customers = int((n >= 2).sum())
            orders = int(n.sum())
            repeat_orders = int((n[n >= 1] - 1).sum())
            repeat_customer_orders = int(n[n >= 2].sum())
            row = dict(zip(by_cols, group))
            if period is not None:
                row["period"] = start
            row.update(
                customers=customers,
                repeat_customers=repeat_customers,
                orders=orders,
                repeat_orders=repeat_orders,
                repeat_customer_orders=repeat_customer_orders,
                customer_rate=repeat_customers / customers if customers else math.nan,
                order_rate=repeat_orders / orders if orders else math.nan,
                intensity=repeat_customer_orders / customers if customers else math.nan,
            )
            rows.append(row)

    out = pd.DataFrame(rows, columns=columns)
    for col in by_cols:
        out[col] = pd.Series(out[col].tolist(), dtype=df[col].dtype)
    if period is not None:
        out["period"] = out["period"].astype("datetime64[ns]")
    for col in REPURCHASE_COUNTS:
        out[col] = out[col].astype("int64")
    for col in REPURCHASE_RATES:
        out[col] = out[col].astype("float64")
    return out


def _empty_repurchase(df, by_cols, period, columns) -> pd.DataFrame:
    out = {col: pd.Series([], dtype=df[col].dtype) for col in by_cols}
    if period is not None:
        out["period"] = pd.Series([], dtype="datetime64[ns]")
    out.update({col: pd.Series([], dtype="int64") for col in REPURCHASE_COUNTS})
    out.update({col: pd.Series([], dtype="float64") for col in REPURCHASE_RATES})
    return pd.DataFrame(out, columns=columns)


# ============================================================================ interpurchase


def customer_gaps(work: pd.DataFrame) -> dict:
    """customer -> list of day gaps between consecutive distinct purchase days (ascending days)."""
    purchase_days = work.loc[work["amount"] > 0, ["customer", "day"]].drop_duplicates()
    gaps = {}
    for key, part in purchase_days.groupby("customer"):
        days = sorted(part["day"])
        gaps[key] = [days_between(b, a) for a, b in zip(days, days[1:])]
    return gaps


def distinct_purchase_days(work: pd.DataFrame) -> pd.Series:
    """customer -> number of distinct purchase days (customers with purchases only)."""
    return work.loc[work["amount"] > 0].groupby("customer")["day"].nunique()


def reference_interpurchase(
    df: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    output: str = "customers",
) -> pd.DataFrame:
    check_choice("output", output, ("customers", "distribution"))
    work = work_frame(df, customer, date, amount)
    gaps = customer_gaps(work)

    if output == "distribution":
        every_gap = [g for customer_gap_list in gaps.values() for g in customer_gap_list]
        counts = pd.Series(every_gap, dtype="int64").value_counts().sort_index()
        total = int(counts.sum())
        cumulative = counts.cumsum()
        return pd.DataFrame(
            {
                "gap_days": counts.index.to_numpy(dtype="int64"),
                "gaps": counts.to_numpy(dtype="int64"),
                "share": (counts / total).to_numpy(dtype="float64") if total else np.array([], dtype="float64"),
                "cumulative_share": (cumulative / total).to_numpy(dtype="float64") if total else np.array([], dtype="float64"),
            },
            columns=INTERPURCHASE_DISTRIBUTION_COLUMNS,
        )

    keys = sorted_customers(work)
    n_days = distinct_purchase_days(work)
    rows = []
    for key in keys:
        g = gaps.get(key, [])
        purchase_days = int(n_days.get(key, 0))
        rows.append(
            {
                "purchase_days": purchase_days,
                "gaps": max(purchase_days - 1, 0),
                "mean_gap_days": sum(g) / len(g) if g else math.nan,
                "median_gap_days": float(statistics.median(g)) if g else math.nan,
                "min_gap_days": min(g) if g else None,
                "max_gap_days": max(g) if g else None,
            }
        )
    out = pd.DataFrame(rows, columns=INTERPURCHASE_CUSTOMER_COLUMNS)
    out.insert(0, customer, key_column(keys, df, customer))
    out["purchase_days"] = out["purchase_days"].astype("int64")
    out["gaps"] = out["gaps"].astype("int64")
    out["mean_gap_days"] = out["mean_gap_days"].astype("float64")
    out["median_gap_days"] = out["median_gap_days"].astype("float64")
    out["min_gap_days"] = out["min_gap_days"].astype("Int64")
    out["max_gap_days"] = out["max_gap_days"].astype("Int64")
    return out


# ============================================================================ lifecycle


def check_thresholds(thresholds) -> tuple[int, int, int]:
    try:
        values = tuple(thresholds)
    except TypeError:
        raise ValueError(f"thresholds must be three increasing positive integers, got {thresholds!r}") from None
    if len(values) != 3 or not all(is_int(t) for t in values):
        raise ValueError(f"thresholds must be three increasing positive integers, got {thresholds!r}")
    t1, t2, t3 = (int(t) for t in values)
    if not (0 < t1 < t2 < t3):
        raise ValueError(f"thresholds must be three increasing positive integers, got {thresholds!r}")
    return t1, t2, t3


def reference_lifecycle(
    df: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    as_of=None,
    thresholds=(90, 180, 365),
    labels: str = "en",
) -> pd.DataFrame:
    t1, t2, t3 = check_thresholds(thresholds)
    check_choice("labels", labels, ("en", "zh"))
    stages = LIFECYCLE_STAGES[labels]

    work = work_frame(df, customer, date, amount)
    as_of_day = resolve_as_of(as_of, work["day"])
    keys = sorted_customers(work)
    purchases = work[work["amount"] > 0].groupby("customer")["day"]
    first = purchases.min()
    last = purchases.max()

    rows = []
    for key in keys:
        if key not in last.index:
            rows.append({"first_purchase": pd.NaT, "last_purchase": pd.NaT, "tenure_days": None,
                         "days_since_last_purchase": None, "stage": None})
            continue
        d = days_between(as_of_day, last[key])
        if d <= t1:
            stage = stages[0]
        elif d <= t2:
            stage = stages[1]
        elif d <= t3:
            stage = stages[2]
        else:
            stage = stages[3]
        rows.append(
            {
                "first_purchase": first[key],
                "last_purchase": last[key],
                "tenure_days": days_between(as_of_day, first[key]),
                "days_since_last_purchase": d,
                "stage": stage,
            }
        )
    out = pd.DataFrame(rows, columns=LIFECYCLE_COLUMNS)
    out.insert(0, customer, key_column(keys, df, customer))
    out["first_purchase"] = out["first_purchase"].astype("datetime64[ns]")
    out["last_purchase"] = out["last_purchase"].astype("datetime64[ns]")
    out["tenure_days"] = out["tenure_days"].astype("Int64")
    out["days_since_last_purchase"] = out["days_since_last_purchase"].astype("Int64")
    out["stage"] = pd.Categorical(out["stage"], categories=stages)
    return out


# ============================================================================ churn_risk


def reference_churn_risk(
    df: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    as_of=None,
    window: int = 90,
    overdue_factor: float = 2.0,
) -> pd.DataFrame:
    if not is_int(window) or window < 1:
        raise ValueError(f"window must be a positive number of days, got {window!r}")
    if isinstance(overdue_factor, bool) or not isinstance(overdue_factor, (int, float, np.integer, np.floating)) \
            or not math.isfinite(overdue_factor) or overdue_factor < 0:
        raise ValueError(f"overdue_factor must be a finite number >= 0, got {overdue_factor!r}")

    work = work_frame(df, customer, date, amount, order)
    as_of_day = resolve_as_of(as_of, work["day"])
    keys = sorted_customers(work)

    gaps = customer_gaps(work)
    own_medians = [statistics.median(gap_list) for gap_list in gaps.values() if gap_list]
    population_median = float(statistics.median(own_medians)) if own_medians else None

    purchases = purchase_events(work, order)
    purchases["age"] = [days_between(as_of_day, day) for day in purchases["day"]]
    last = last_purchase_day(work)
    ages_of = {key: part["age"] for key, part in purchases.groupby("customer")}

    rows = []
    for key in keys:
        if key not in last.index:
            rows.append({"last_purchase": pd.NaT, "days_since_last_purchase": None, "purchases_recent": None,
                         "purchases_prior": None, "median_gap_days": math.nan, "rhythm": None,
                         "overdue_ratio": math.nan, "declining": None, "overdue": None, "risk": None,
                         "reason": "no purchase"})
            continue
        ages = ages_of[key]
        recent = int((ages < window).sum())
        prior = int(((ages >= window) & (ages < 2 * window)).sum())
        declining = recent < prior
        d = days_between(as_of_day, last[key])

        own = gaps.get(key, [])
        if own:
            gap, rhythm = float(statistics.median(own)), "own"
        elif population_median is not None:
            gap, rhythm = population_median, "population"
        else:
            gap, rhythm = None, None
        ratio = d / gap if gap is not None else math.nan
        overdue = gap is not None and ratio > overdue_factor

        if overdue and declining:
            risk = "high"
        elif overdue or declining:
            risk = "medium"
        else:
            risk = "low"
        reason = _reason(d, ratio, gap, rhythm, recent, prior, window)
        rows.append({"last_purchase": last[key], "days_since_last_purchase": d, "purchases_recent": recent,
                     "purchases_prior": prior, "median_gap_days": gap if gap is not None else math.nan,
                     "rhythm": rhythm, "overdue_ratio": ratio, "declining": declining, "overdue": overdue,
                     "risk": risk, "reason": reason})

    out = pd.DataFrame(rows, columns=CHURN_COLUMNS)
    out.insert(0, customer, key_column(keys, df, customer))
    out["last_purchase"] = out["last_purchase"].astype("datetime64[ns]")
    for col in ("days_since_last_purchase", "purchases_recent", "purchases_prior"):
        out[col] = out[col].astype("Int64")
    out["median_gap_days"] = out["median_gap_days"].astype("float64")
    out["overdue_ratio"] = out["overdue_ratio"].astype("float64")
    out["rhythm"] = out["rhythm"].astype(object)
    out["declining"] = out["declining"].astype("boolean")
    out["overdue"] = out["overdue"].astype("boolean")
    out["risk"] = pd.Categorical(out["risk"], categories=RISK_LEVELS, ordered=True)
    out["reason"] = out["reason"].astype(object)
    return out


def _reason(d, ratio, gap, rhythm, recent, prior, window) -> str:
    if rhythm is None:
        first = f"no purchase for {d} days (no usual gap to compare with)"
    else:
        first = f"no purchase for {d} days, {ratio:.1f}× the usual {gap:g}-day gap"
    return f"{first}; {recent} purchases in the last {window} days vs {prior} in the {window} before"


# ============================================================================ cohorts


def reference_cohorts(
    df: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    period: str = "M",
    metric: str = "retention",
    format: str = "long",
) -> pd.DataFrame:
    check_choice("period", period, PERIODS)
    check_choice("metric", metric, COHORT_METRICS)
    check_choice("format", format, ("long", "wide"))

    work = work_frame(df, customer, date, amount)
    if len(work) == 0:
        if format == "long":
            return pd.DataFrame({"cohort": pd.Series([], dtype="datetime64[ns]"),
                                 "cohort_size": pd.Series([], dtype="int64"),
                                 "period_number": pd.Series([], dtype="int64"),
                                 metric: pd.Series([], dtype="int64" if metric == "active_customers" else "float64")})
        return pd.DataFrame({"cohort": pd.Series([], dtype="datetime64[ns]"),
                             "cohort_size": pd.Series([], dtype="int64")})

    table = period_table(work["day"].min(), work["day"].max(), period)
    ordinals = [ordinal for ordinal, _, _ in table]
    first_ordinal, last_ordinal = ordinals[0], ordinals[-1]

    work["p"] = period_ordinals(work["day"], period)
    cohort_of = work[work["amount"] > 0].groupby("customer")["p"].min()  # period of the first purchase
    rows_in = work[work["customer"].isin(cohort_of.index)].copy()       # rows of customers without purchases: ignored
    rows_in["cohort"] = rows_in["customer"].map(cohort_of).astype("int64")
    rows_in["k"] = (rows_in["p"] - rows_in["cohort"]).clip(lower=0)      # earlier rows count in k = 0

    size = cohort_of.value_counts()
    active = rows_in[rows_in["amount"] > 0].groupby(["cohort", "k"])["customer"].nunique()
    revenue = {key: math.fsum(part["amount"]) for key, part in rows_in.groupby(["cohort", "k"])}

    long_rows = []
    for cohort in ordinals:
        n = int(size.get(cohort, 0))
        cumulative = []
        for k in range(0, last_ordinal - cohort + 1):
            a = int(active.get((cohort, k), 0))
            r = revenue.get((cohort, k), 0.0)
            cumulative.append(r)
            long_rows.append(
                {
                    "cohort": period_first_day(cohort, period),
                    "cohort_size": n,
                    "period_number": k,
                    "active_customers": a,
                    "retention": a / n if n else math.nan,
                    "revenue": r,
                    "cumulative_revenue_per_customer": math.fsum(cumulative) / n if n else math.nan,
                }
            )
    long = pd.DataFrame(long_rows)
    long["cohort"] = long["cohort"].astype("datetime64[ns]")
    long["cohort_size"] = long["cohort_size"].astype("int64")
    long["period_number"] = long["period_number"].astype("int64")
    long["active_customers"] = long["active_customers"].astype("int64")

    if format == "long":
        return long[["cohort", "cohort_size", "period_number", metric]].reset_index(drop=True)

    width = last_ordinal - first_ordinal + 1
    wide = long.pivot(index="cohort", columns="period_number", values=metric)
    wide = wide.reindex(columns=range(width))
    wide.columns = [str(k) for k in range(width)]
    if metric == "active_customers":
        wide = wide.astype("Int64")
    sizes = long.groupby("cohort")["cohort_size"].first()
    out = pd.concat([sizes.rename("cohort_size"), wide], axis=1).reset_index()
    out = out.rename(columns={"index": "cohort"})
    out["cohort"] = out["cohort"].astype("datetime64[ns]")
    return out[["cohort", "cohort_size"] + [str(k) for k in range(width)]]


# ============================================================================ acquisition


def reference_acquisition(
    df: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    period: str = "M",
    lapse_days: int = 180,
    as_of=None,
) -> pd.DataFrame:
    check_choice("period", period, PERIODS)
    if not is_int(lapse_days) or lapse_days < 0:
        raise ValueError(f"lapse_days must be an integer >= 0, got {lapse_days!r}")
    lapse = int(lapse_days)

    columns = ["period"] + ACQUISITION_COUNTS + ACQUISITION_RATIOS
    work = work_frame(df, customer, date, amount)
    as_of_day = resolve_as_of(as_of, work["day"])
    if len(work) == 0:
        out = pd.DataFrame({"period": pd.Series([], dtype="datetime64[ns]")})
        for col in ACQUISITION_COUNTS:
            out[col] = pd.Series([], dtype="int64")
        for col in ACQUISITION_RATIOS:
            out[col] = pd.Series([], dtype="float64")
        return out[columns]

    # Days as integers from here on.
    def num(day) -> int:
        return days_between(day, MONDAY_1970)

    as_of_n = num(as_of_day)
    purchase_days = {}
    for key, part in work[work["amount"] > 0].groupby("customer"):
        purchase_days[key] = sorted({num(d) for d in part["day"]})

    # Each customer's events.
    events = {"new": {}, "reactivated": {}, "lost": {}}
    for key, days in purchase_days.items():
        events["new"][key] = [days[0]]
        events["reactivated"][key] = [q for p, q in zip(days, days[1:]) if q - p > lapse]
        lost = [p + lapse + 1 for p, q in zip(days, days[1:]) if q - p > lapse]
        if days[-1] + lapse + 1 <= as_of_n:
            lost.append(days[-1] + lapse + 1)
        events["lost"][key] = lost

    def live(days: list, t: int) -> bool:
        """A purchase day p in [t - lapse, t]: the last purchase day <= t is at most lapse days old."""
        i = bisect.bisect_right(days, t)
        return i > 0 and t - days[i - 1] <= lapse

    def has_in(values: list, s: int, e: int) -> bool:
        return any(s <= v <= e for v in values)

    rows = []
    for _, start, end in period_table(work["day"].min(), as_of_day, period):
        s, e = num(start), min(num(end), as_of_n)
        live_before = {key for key, days in purchase_days.items() if live(days, s - 1)}
        lost = {key for key, v in events["lost"].items() if has_in(v, s, e)}
        new = sum(has_in(v, s, e) for v in events["new"].values())
        reactivated = sum(has_in(v, s, e) for v in events["reactivated"].values())
        retained = len(live_before - lost)
        end_customers = sum(live(days, e) for days in purchase_days.values())
        active = sum(has_in(days, s, e) for days in purchase_days.values())
        start_customers = len(live_before)
        rows.append(
            {
                "period": start,
                "start_customers": start_customers,
                "new": new,
                "reactivated": reactivated,
                "lost": len(lost),
                "retained": retained,
                "end_customers": end_customers,
                "active": active,
                "cr_index": new / len(lost) if lost else math.nan,
                "churn_rate": (start_customers - retained) / start_customers if start_customers else math.nan,
                "retention_rate": retained / start_customers if start_customers else math.nan,
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    out["period"] = out["period"].astype("datetime64[ns]")
    for col in ACQUISITION_COUNTS:
        out[col] = out[col].astype("int64")
    for col in ACQUISITION_RATIOS:
        out[col] = out[col].astype("float64")
    return out


# ============================================================================ activity


def activity_weights(weights, extra: list[str]) -> dict:
    """The effective weights, in indicator order: recency, frequency, monetary, *extra."""
    effective = dict(DEFAULT_WEIGHTS)
    for name in extra:
        effective[name] = DEFAULT_EXTRA_WEIGHT
    if weights is not None:
        if not isinstance(weights, dict):
            raise ValueError(f"weights must be a dict, got {weights!r}")
        for name, value in weights.items():
            if name not in effective:
                raise ValueError(f"unknown weight {name!r}; expected one of {list(effective)}")
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"weight {name!r} must be a finite number >= 0, got {value!r}")
            effective[name] = float(value)
    if sum(effective.values()) <= 0:
        raise ValueError("the weights must not all be 0")
    return effective


def reference_activity(
    df: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    as_of=None,
    weights=None,
    half_life_days: float = 90.0,
    extra=None,
) -> pd.DataFrame:
    extra_cols = [] if extra is None else ([extra] if isinstance(extra, str) else list(extra))
    if isinstance(half_life_days, bool) or not isinstance(half_life_days, (int, float, np.integer, np.floating)) \
            or not math.isfinite(half_life_days) or half_life_days <= 0:
        raise ValueError(f"half_life_days must be a positive number, got {half_life_days!r}")
    w = activity_weights(weights, extra_cols)
    for col in extra_cols:
        if col not in df.columns:
            raise KeyError(col)
        if not pd.api.types.is_numeric_dtype(df[col]) or pd.api.types.is_bool_dtype(df[col]):
            raise TypeError(f"extra column {col!r} must be numeric, got {df[col].dtype}")

    work = work_frame(df, customer, date, amount, order)
    for col in extra_cols:
        work["extra:" + col] = df[col].astype("float64").to_numpy()
    as_of_day = resolve_as_of(as_of, work["day"])
    keys = sorted_customers(work)

    purchases = purchase_events(work, order)
    last = last_purchase_day(work)
    count = purchases.groupby("customer").size()
    by_customer = work.groupby("customer")

    out = pd.DataFrame({customer: key_column(keys, df, customer)})
    days_since = [days_between(as_of_day, last[k]) if k in last.index else None for k in keys]
    out["days_since_last_purchase"] = pd.Series(days_since, dtype="Int64")
    out["purchases"] = pd.Series([int(count.get(k, 0)) for k in keys], dtype="int64")
    net = {k: math.fsum(part["amount"]) for k, part in by_customer}
    out["net_spend"] = pd.Series([net[k] for k in keys], dtype="float64")
    for col in extra_cols:
        sums = {k: math.fsum(part["extra:" + col]) for k, part in by_customer}
        out[col] = pd.Series([sums[k] for k in keys], dtype="float64")

    out["recency_indicator"] = pd.Series(
        [0.0 if d is None else 0.5 ** (d / half_life_days) for d in days_since], dtype="float64"
    )
    out["frequency_indicator"] = percentile_rank(out["purchases"])
    out["monetary_indicator"] = percentile_rank(out["net_spend"])
    for col in extra_cols:
        out[col + "_indicator"] = percentile_rank(out[col])

    indicator_of = {"recency": "recency_indicator", "frequency": "frequency_indicator",
                    "monetary": "monetary_indicator", **{c: c + "_indicator" for c in extra_cols}}
    total_weight = sum(w.values())
    weighted = sum(w[name] * out[column] for name, column in indicator_of.items())
    out["activity"] = (100.0 * weighted / total_weight).astype("float64") if len(out) else pd.Series([], dtype="float64")
    return out
