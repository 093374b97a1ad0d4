"""A plain pandas implementation of docs/rfm_definitions.md, used as the test oracle.

Written for clarity, not speed: one groupby per quantity, `rank` for the scores and a
loop over the segment rules with boolean masks.  It shares no code with `crm`.

    reference_rfm(df, customer=..., date=..., amount=..., order=None, as_of=None,
                  bins=5, monetary="sum", segments="rfm11", labels="en")
    reference_segment(rfm_frame, scheme, labels="en")

Output of `reference_rfm` (one row per customer, sorted by the customer key ascending):

    <customer>      the key, as in the input
    recency         Int64 (nullable), days from last_purchase to as_of; <NA> without purchases
    frequency       int64
    monetary        float64 (NaN for monetary="mean" and no purchases)
    first_purchase  datetime64[ns] at midnight of the local calendar day; NaT without purchases
    last_purchase   idem
    r_score, f_score, m_score   int64 in 1..bins
    rfm_code        str, e.g. "545" ("10-3-7" when bins > 9)
    rfm_score       int64, r + f + m
    segment         str (only when segments is not None)

Points the spec leaves open, decided here:
  * rows whose customer key is null belong to no customer and are dropped;
  * a tz-aware `as_of` is converted to the column's time zone (if the column has one) and its
    local calendar day is used; any time of day in `as_of` is dropped;
  * `value8` compares R and F to their means exactly (x * count <= total, in integers), and M to
    the mean computed with a correctly rounded sum (math.fsum);
  * the custom-rule fallback name is "Other" whatever `labels` is.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# ----------------------------------------------------------------------------- segment tables

# (English name, Chinese name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi)); first match wins.
RFM11_RULES = [
    ("Champions", "冠军客户", (4, 5), (4, 5), (4, 5)),
    ("Loyal Customers", "忠诚客户", (3, 5), (3, 5), (3, 5)),
    ("New Customers", "新客户", (5, 5), (1, 1), (1, 5)),
    ("Promising", "有潜力客户", (4, 4), (1, 1), (1, 5)),
    ("Potential Loyalist", "潜在忠诚客户", (4, 5), (1, 5), (1, 5)),
    ("About To Sleep", "即将沉睡客户", (2, 3), (1, 2), (1, 2)),
    ("Need Attention", "需要关注客户", (3, 3), (1, 5), (1, 5)),
    ("Can't Lose Them", "不能失去的客户", (1, 2), (4, 5), (4, 5)),
    ("Lost", "已流失客户", (1, 1), (1, 2), (1, 2)),
    ("At Risk", "有流失风险客户", (1, 2), (2, 5), (2, 5)),
    ("Hibernating", "休眠客户", (1, 2), (1, 5), (1, 5)),
]

# (R high?, F high?, M high?) -> (English, Chinese)
VALUE8_NAMES = {
    (True, True, True): ("Important Value", "重要价值客户"),
    (True, False, True): ("Important Development", "重要发展客户"),
    (False, True, True): ("Important Retention", "重要保持客户"),
    (False, False, True): ("Important Win-back", "重要挽留客户"),
    (True, True, False): ("General Value", "一般价值客户"),
    (True, False, False): ("General Development", "一般发展客户"),
    (False, True, False): ("General Retention", "一般保持客户"),
    (False, False, False): ("General Win-back", "一般挽留客户"),
}

OTHER = "Other"

OUTPUT_COLUMNS = [
    "recency",
    "frequency",
    "monetary",
    "first_purchase",
    "last_purchase",
    "r_score",
    "f_score",
    "m_score",
    "rfm_code",
    "rfm_score",
]


# ----------------------------------------------------------------------------- helpers


def calendar_day(values: pd.Series) -> pd.Series:
    """Midnight of each row's calendar day, as naive datetime64[ns].

    tz-aware timestamps: the local date in the column's own time zone.
    Naive timestamps / dates / date strings: the date as written.
    """
    s = values
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = pd.to_datetime(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        # tz_localize(None) keeps the local wall-clock time and drops the zone.
        s = s.dt.tz_localize(None)
    return s.dt.normalize().astype("datetime64[ns]")


def resolve_as_of(as_of, date_values: pd.Series, day: pd.Series) -> pd.Timestamp:
    """The as_of calendar day (naive midnight)."""
    if as_of is None:
        return day.max()
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        column_tz = getattr(date_values.dtype, "tz", None)
        if column_tz is not None:
            ts = ts.tz_convert(column_tz)
        ts = ts.tz_localize(None)
    return ts.normalize().as_unit("ns")


def score(values: pd.Series, bins: int) -> pd.Series:
    """floor(bins * (rank_avg - 0.5) / n) + 1, nulls ranked lowest."""
    n = len(values)
    rank_avg = values.astype("float64").rank(method="average", na_option="top")
    return (np.floor(bins * (rank_avg - 0.5) / n) + 1).astype("int64")


def _as_float(values: pd.Series) -> pd.Series:
    """Nullable ints -> float64 with NaN for missing."""
    return values.astype("Float64").astype("float64") if values.dtype == "Int64" else values.astype("float64")


# ----------------------------------------------------------------------------- segments


def reference_segment(rfm_frame: pd.DataFrame, scheme, labels: str = "en") -> pd.Series:
    """Segment names for an RFM frame (needs r/f/m_score; value8 needs recency/frequency/monetary)."""
    if labels not in ("en", "zh"):
        raise ValueError(f"labels must be 'en' or 'zh', got {labels!r}")
    lang = 0 if labels == "en" else 1

    if isinstance(scheme, str) and scheme == "rfm11":
        rules = [(names[lang], r, f, m) for (*names, r, f, m) in RFM11_RULES]
        return _apply_rules(rfm_frame, rules)

    if isinstance(scheme, str) and scheme == "value8":
        return _value8(rfm_frame, lang)

    if isinstance(scheme, str):
        raise ValueError(f"unknown segment scheme {scheme!r}")

    rules = [(name, tuple(r), tuple(f), tuple(m)) for (name, r, f, m) in scheme]
    return _apply_rules(rfm_frame, rules)


def _apply_rules(rfm_frame: pd.DataFrame, rules) -> pd.Series:
    r = rfm_frame["r_score"].to_numpy()
    f = rfm_frame["f_score"].to_numpy()
    m = rfm_frame["m_score"].to_numpy()
    segment = np.full(len(rfm_frame), None, dtype=object)
    unassigned = np.ones(len(rfm_frame), dtype=bool)
    for name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi) in rules:
        match = (
            (r >= r_lo) & (r <= r_hi)
            & (f >= f_lo) & (f <= f_hi)
            & (m >= m_lo) & (m <= m_hi)
        )
        take = match & unassigned
        segment[take] = name
        unassigned = unassigned & ~take
    segment[unassigned] = OTHER
    return pd.Series(segment, index=rfm_frame.index, name="segment", dtype="str")


def _value8(rfm_frame: pd.DataFrame, lang: int) -> pd.Series:
    recency = rfm_frame["recency"]
    frequency = rfm_frame["frequency"]
    monetary = _as_float(rfm_frame["monetary"])

    # R high: recency <= mean(recency), nulls low.  Exact: recency * count <= total.
    rec_known = [int(v) for v in recency if not pd.isna(v)]
    rec_total, rec_count = sum(rec_known), len(rec_known)
    r_high = [(not pd.isna(v)) and int(v) * rec_count <= rec_total for v in recency]

    # F high: frequency >= mean(frequency).  Exact in integers.
    freq = [int(v) for v in frequency]
    f_total, f_count = sum(freq), len(freq)
    f_high = [v * f_count >= f_total for v in freq]

    # M high: monetary >= mean(monetary), nulls low, mean skips nulls.
    m_known = [float(v) for v in monetary if not math.isnan(v)]
    m_mean = math.fsum(m_known) / len(m_known) if m_known else math.nan
    m_high = [(not math.isnan(v)) and v >= m_mean for v in monetary]

    names = [VALUE8_NAMES[(rh, fh, mh)][lang] for rh, fh, mh in zip(r_high, f_high, m_high)]
    return pd.Series(names, index=rfm_frame.index, name="segment", dtype="str")


# ----------------------------------------------------------------------------- rfm


def reference_rfm(
    df: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    as_of=None,
    bins: int = 5,
    monetary: str = "sum",
    segments="rfm11",
    labels: str = "en",
) -> pd.DataFrame:
    if monetary not in ("sum", "mean"):
        raise ValueError(f"monetary must be 'sum' or 'mean', got {monetary!r}")
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive int, got {bins!r}")
    if isinstance(segments, str) and segments == "rfm11" and bins != 5:
        raise ValueError("the rfm11 segments need bins=5")

    # One working frame with plain column names.
    work = pd.DataFrame(
        {
            "customer": df[customer],
            "day": calendar_day(df[date]),
            "amount": df[amount],
        }
    )
    if order is not None:
        work["order"] = df[order]
    work = work[work["customer"].notna()]

    # Every customer with at least one row, sorted ascending.
    customers = pd.Index(sorted(work["customer"].unique()), name=customer)

    purchases = work[work["amount"] > 0]
    by_customer = purchases.groupby("customer")

    first_purchase = by_customer["day"].min().reindex(customers)
    last_purchase = by_customer["day"].max().reindex(customers)

    if order is None:
        frequency = by_customer.size()
    else:
        frequency = by_customer["order"].nunique()
    frequency = frequency.reindex(customers, fill_value=0).astype("int64")

    net = work.groupby("customer")["amount"].sum().reindex(customers).astype("float64")
    if monetary == "sum":
        monetary_value = net
    else:
        monetary_value = (net / frequency.where(frequency > 0)).astype("float64")

    as_of_day = resolve_as_of(as_of, df[date], work["day"])
    latest_purchase = last_purchase.max()
    if pd.notna(latest_purchase) and as_of_day < latest_purchase:
        raise ValueError(f"as_of {as_of_day.date()} is before the last purchase day {latest_purchase.date()}")

    recency_days = (as_of_day - last_purchase).dt.days  # float with NaN where no purchase
    recency = recency_days.astype("Int64")

    out = pd.DataFrame(
        {
            customer: customers.to_numpy(),
            "recency": recency.to_numpy(),
            "frequency": frequency.to_numpy(),
            "monetary": monetary_value.to_numpy(),
            "first_purchase": first_purchase.to_numpy(),
            "last_purchase": last_purchase.to_numpy(),
        }
    )
    out[customer] = out[customer].astype(df[customer].dtype)
    out["recency"] = out["recency"].astype("Int64")
    out["first_purchase"] = out["first_purchase"].astype("datetime64[ns]")
    out["last_purchase"] = out["last_purchase"].astype("datetime64[ns]")

    if len(out) == 0:
        for col in ("r_score", "f_score", "m_score", "rfm_score"):
            out[col] = pd.Series([], dtype="int64")
        out["rfm_code"] = pd.Series([], dtype="str")
    else:
        out["r_score"] = score(-_as_float(out["recency"]), bins)
        out["f_score"] = score(out["frequency"], bins)
        out["m_score"] = score(out["monetary"], bins)
        sep = "-" if bins > 9 else ""
        codes = [
            sep.join([str(r), str(f), str(m)])
            for r, f, m in zip(out["r_score"], out["f_score"], out["m_score"])
        ]
        out["rfm_code"] = pd.Series(codes, dtype="str")
        out["rfm_score"] = (out["r_score"] + out["f_score"] + out["m_score"]).astype("int64")

    out = out[[customer] + OUTPUT_COLUMNS]
    if segments is not None:
        out["segment"] = reference_segment(out, segments, labels) if len(out) else pd.Series([], dtype="str")
    return out
