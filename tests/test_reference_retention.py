"""Checks of the retention oracle (tests/reference_retention.py) against hand-computed examples.

Every expected number below was worked out by hand from docs/retention_definitions.md; the
derivations are in the comments.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from reference_retention import (  # noqa: E402
    COHORT_METRICS,
    period_first_day,
    period_ordinal,
    reference_acquisition,
    reference_activity,
    reference_churn_risk,
    reference_cohorts,
    reference_interpurchase,
    reference_lifecycle,
    reference_repurchase,
)

D = pd.Timestamp
NAN = math.nan


def _na_list(series):
    """Values with every kind of missing (NaN, NaT, <NA>, None) as None."""
    return [None if pd.isna(v) else v for v in series]


def _rows(frame, columns):
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame[columns].itertuples(index=False)]


def _close(a, b):
    assert len(a) == len(b), (a, b)
    for x, y in zip(a, b):
        if x is None or y is None or (isinstance(x, float) and math.isnan(x)):
            assert (x is None or math.isnan(x)) and (y is None or (isinstance(y, float) and math.isnan(y))), (a, b)
        else:
            assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12), (a, b)


# ----------------------------------------------------------------------------- the shared log
#
# Four customers, data from 2023-12-28 to 2024-03-25; NO row at all in February 2024.
#
#   row  cust order  day          amount  channel qty
#    0   A    o1    2024-01-05    10.0    web     1   \  o1: one order with lines on two days
#    1   A    o1    2024-01-06     5.0    store   1   /      (and in two channels)
#    2   A    o2    2024-01-20    20.0    web     2
#    3   A    o3    2024-03-10    30.0    store   1
#    4   A    o4    2024-03-15    -5.0    store   1      refund
#    5   B    o5    2023-12-28    -8.0    web     1      refund BEFORE B's first purchase (previous month)
#    6   B    o6    2024-01-10    40.0    web     3
#    7   B    o7    2024-03-01    12.0    store   1   \  two orders on one day
#    8   B    o8    2024-03-01     3.0    web     1   /
#    9   C    o9    2024-01-15    -7.0    web     1      C has only a refund
#   10   D    o10   2024-03-20    50.0    store   2
#   11   D    o11   2024-03-25     0.0    store   1      zero row: not a purchase, but the last day of the data
#
# Purchase rows: A 01-05, 01-06, 01-20, 03-10 (4); B 01-10, 03-01, 03-01 (3); C none; D 03-20 (1).
# Orders (order="order_id"): A o1 (dated 01-05, its earliest line), o2, o3 (3); B o6, o7, o8 (3); D o10 (1).
# Distinct purchase days: A 01-05, 01-06, 01-20, 03-10; B 01-10, 03-01; D 03-20.
# Gaps (2024 is a leap year: Feb has 29 days):
#   A: 01-05->01-06 = 1, 01-06->01-20 = 14, 01-20->03-10 = 11 + 29 + 10 = 50
#   B: 01-10->03-01 = 21 + 29 + 1 = 51
# as_of default = 2024-03-25 (D's zero row), the last day of ANY row.

LOG = pd.DataFrame(
    {
        "customer_id": ["A", "A", "A", "A", "A", "B", "B", "B", "B", "C", "D", "D"],
        "order_id": ["o1", "o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9", "o10", "o11"],
        "order_date": pd.to_datetime(
            [
                "2024-01-05 10:00", "2024-01-06 09:00", "2024-01-20 12:00", "2024-03-10 12:00",
                "2024-03-15 12:00", "2023-12-28 12:00", "2024-01-10 12:00", "2024-03-01 08:00",
                "2024-03-01 20:00", "2024-01-15 12:00", "2024-03-20 12:00", "2024-03-25 23:59",
            ]
        ),
        "amount": [10.0, 5.0, 20.0, 30.0, -5.0, -8.0, 40.0, 12.0, 3.0, -7.0, 50.0, 0.0],
        "channel": ["web", "store", "web", "store", "store", "web", "web", "store", "web", "web", "store", "store"],
        "quantity": [1, 1, 2, 1, 1, 1, 3, 1, 1, 1, 2, 1],
    }
)

COUNTS = ["customers", "repeat_customers", "orders", "repeat_orders", "repeat_customer_orders"]
RATES = ["customer_rate", "order_rate", "intensity"]


# ----------------------------------------------------------------------------- periods


def test_period_labels_and_ordinals():
    # 2024-01-03 is a Wednesday: its ISO week starts Monday 2024-01-01
    assert period_first_day(period_ordinal(D("2024-01-03"), "W"), "W") == D("2024-01-01")
    # Sunday 2024-01-07 is still in that week; Monday 01-08 starts the next one
    assert period_ordinal(D("2024-01-07"), "W") == period_ordinal(D("2024-01-01"), "W")
    assert period_ordinal(D("2024-01-08"), "W") == period_ordinal(D("2024-01-01"), "W") + 1
    # Monday 2024-12-30 starts ISO week 1 of 2025; the label is the Monday, in 2024
    assert period_first_day(period_ordinal(D("2025-01-02"), "W"), "W") == D("2024-12-30")
    # before 1970 too (floor division)
    assert period_first_day(period_ordinal(D("1969-12-31"), "W"), "W") == D("1969-12-29")
    assert period_first_day(period_ordinal(D("2024-02-29"), "M"), "M") == D("2024-02-01")
    assert period_first_day(period_ordinal(D("2024-08-15"), "Q"), "Q") == D("2024-07-01")
    assert period_first_day(period_ordinal(D("2024-12-31"), "Q"), "Q") == D("2024-10-01")
    assert period_first_day(period_ordinal(D("2024-12-31"), "Y"), "Y") == D("2024-01-01")
    # consecutive periods have consecutive ordinals
    assert period_ordinal(D("2025-01-01"), "M") - period_ordinal(D("2024-12-31"), "M") == 1
    assert period_ordinal(D("2025-01-01"), "Q") - period_ordinal(D("2024-12-31"), "Q") == 1


# ----------------------------------------------------------------------------- repurchase


def test_repurchase_whole_log():
    out = reference_repurchase(LOG)
    assert list(out.columns) == COUNTS + RATES
    # n: A 4, B 3, D 1 (C has no purchase, not a customer of the window)
    # customers 3, repeat 2 (A, B), orders 8, repeat_orders 3 + 2 + 0 = 5, repeat_customer_orders 4 + 3 = 7
    assert _rows(out, COUNTS) == [(3, 2, 8, 5, 7)]
    _close(out.loc[0, RATES].tolist(), [2 / 3, 5 / 8, 7 / 3])


def test_repurchase_whole_log_by_order():
    out = reference_repurchase(LOG, order="order_id")
    # n: A 3 (o1 once although it has two lines), B 3, D 1
    # orders 7, repeat_orders 2 + 2 = 4, repeat_customer_orders 6
    assert _rows(out, COUNTS) == [(3, 2, 7, 4, 6)]
    _close(out.loc[0, RATES].tolist(), [2 / 3, 4 / 7, 6 / 3])


def test_repurchase_monthly_with_an_empty_month():
    out = reference_repurchase(LOG, period="M")
    assert list(out.columns) == ["period"] + COUNTS + RATES
    # every month from Dec 2023 (B's refund, the first day of the data) to Mar 2024; Dec and Feb
    # have no purchase and still get a row, with null rates
    assert out["period"].tolist() == [D("2023-12-01"), D("2024-01-01"), D("2024-02-01"), D("2024-03-01")]
    assert out["period"].dtype == "datetime64[ns]"
    # Jan: A 3 rows (01-05, 01-06, 01-20), B 1 -> customers 2, repeat 1, orders 4, repeat_orders 2, rco 3
    # Mar: A 1, B 2, D 1 -> 3, 1, 4, 1, 2
    assert _rows(out, COUNTS) == [(0, 0, 0, 0, 0), (2, 1, 4, 2, 3), (0, 0, 0, 0, 0), (3, 1, 4, 1, 2)]
    _close(out["customer_rate"].tolist(), [NAN, 1 / 2, NAN, 1 / 3])
    _close(out["order_rate"].tolist(), [NAN, 2 / 4, NAN, 1 / 4])
    _close(out["intensity"].tolist(), [NAN, 3 / 2, NAN, 2 / 3])


def test_repurchase_monthly_by_order():
    out = reference_repurchase(LOG, period="M", order="order_id")
    # Jan: A {o1, o2} = 2, B {o6} = 1 -> 2, 1, 3, 1, 2.   Mar: A {o3}, B {o7, o8}, D {o10} -> 3, 1, 4, 1, 2
    assert _rows(out, COUNTS) == [(0, 0, 0, 0, 0), (2, 1, 3, 1, 2), (0, 0, 0, 0, 0), (3, 1, 4, 1, 2)]
    _close(out["order_rate"].tolist(), [NAN, 1 / 3, NAN, 1 / 4])


def test_repurchase_by_channel():
    out = reference_repurchase(LOG, by="channel", order="order_id")
    assert list(out.columns) == ["channel"] + COUNTS + RATES
    # groups sorted: store, web.  o1 has a line in each, so it is one purchase in EACH group.
    # store purchase rows: A o1 (01-06), A o3, B o7, D o10 -> n: A 2, B 1, D 1 -> 3, 1, 4, 1, 2
    # web purchase rows:   A o1 (01-05), A o2, B o6, B o8   -> n: A 2, B 2      -> 2, 2, 4, 2, 4
    assert out["channel"].tolist() == ["store", "web"]
    assert _rows(out, COUNTS) == [(3, 1, 4, 1, 2), (2, 2, 4, 2, 4)]
    _close(out["intensity"].tolist(), [2 / 3, 2.0])


def test_repurchase_by_channel_monthly():
    out = reference_repurchase(LOG, by=["channel"], period="M", order="order_id")
    assert list(out.columns) == ["channel", "period"] + COUNTS + RATES
    # each group gets every month (Dec..Mar), sorted by group, then period
    assert out["channel"].tolist() == ["store"] * 4 + ["web"] * 4
    assert out["period"].tolist() == [D("2023-12-01"), D("2024-01-01"), D("2024-02-01"), D("2024-03-01")] * 2
    # store: Jan A o1 -> (1, 0, 1, 0, 0); Mar A o3, B o7, D o10 -> (3, 0, 3, 0, 0)
    # web:   Jan A o1, o2 and B o6 -> (2, 1, 3, 1, 2); Mar B o8 -> (1, 0, 1, 0, 0)
    assert _rows(out, COUNTS) == [
        (0, 0, 0, 0, 0), (1, 0, 1, 0, 0), (0, 0, 0, 0, 0), (3, 0, 3, 0, 0),
        (0, 0, 0, 0, 0), (2, 1, 3, 1, 2), (0, 0, 0, 0, 0), (1, 0, 1, 0, 0),
    ]
    _close(out["customer_rate"].tolist(), [NAN, 0.0, NAN, 0.0, NAN, 0.5, NAN, 0.0])


def test_repurchase_two_by_columns_only_combinations_present():
    df = LOG.assign(region=["N", "N", "S", "S", "S", "N", "N", "N", "N", "N", "S", "S"])
    out = reference_repurchase(df, by=["channel", "region"])
    # combinations present in the rows: (store, N) row 1, 7; (store, S) rows 3, 4, 10, 11;
    # (web, N) rows 0, 5, 6, 8, 9; (web, S) row 2.  Sorted by value.
    assert _rows(out, ["channel", "region"]) == [("store", "N"), ("store", "S"), ("web", "N"), ("web", "S")]
    # (store, N): A 01-06, B 03-01 -> 2 customers, 1 each.  (store, S): A 03-10, D 03-20.
    # (web, N): A 01-05, B 01-10, B 03-01 -> A 1, B 2.  (web, S): A 01-20.
    assert _rows(out, COUNTS) == [(2, 0, 2, 0, 0), (2, 0, 2, 0, 0), (2, 1, 3, 1, 2), (1, 0, 1, 0, 0)]


def test_repurchase_order_dated_by_its_earliest_line_and_per_group():
    # order x has lines on 01-31 (web) and 02-01 (store); order y on 02-10 (web)
    df = pd.DataFrame(
        {
            "customer_id": [1, 1, 1],
            "order_id": ["x", "x", "y"],
            "order_date": pd.to_datetime(["2024-01-31", "2024-02-01", "2024-02-10"]),
            "amount": [10.0, 5.0, 7.0],
            "channel": ["web", "store", "web"],
        }
    )
    # by rows: Jan 1 purchase; Feb 2 purchases (02-01 and 02-10)
    assert _rows(reference_repurchase(df, period="M"), COUNTS) == [(1, 0, 1, 0, 0), (1, 1, 2, 1, 2)]
    # by order: x counts once, in January (its earliest line); y in February
    assert _rows(reference_repurchase(df, period="M", order="order_id"), COUNTS) == [(1, 0, 1, 0, 0), (1, 0, 1, 0, 0)]
    # by channel: x is a purchase of "store" dated by its store line (02-01) -> February
    out = reference_repurchase(df, period="M", order="order_id", by="channel")
    assert _rows(out, ["channel", "period", "customers", "orders"]) == [
        ("store", D("2024-01-01"), 0, 0), ("store", D("2024-02-01"), 1, 1),
        ("web", D("2024-01-01"), 1, 1), ("web", D("2024-02-01"), 1, 1),
    ]


def test_repurchase_weeks_quarters_years_across_new_year():
    # Sun 2024-12-29, Mon 2024-12-30, Sun 2025-01-05, Mon 2025-01-06
    df = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1],
            "order_date": pd.to_datetime(["2024-12-29", "2024-12-30", "2025-01-05", "2025-01-06"]),
            "amount": [1.0, 1.0, 1.0, 1.0],
        }
    )
    w = reference_repurchase(df, period="W")
    # weeks: Mon 12-23 holds 12-29; Mon 12-30 holds 12-30 and 01-05; Mon 01-06 holds 01-06
    assert w["period"].tolist() == [D("2024-12-23"), D("2024-12-30"), D("2025-01-06")]
    assert w["orders"].tolist() == [1, 2, 1]
    assert w["repeat_customers"].tolist() == [0, 1, 0]
    q = reference_repurchase(df, period="Q")
    assert q["period"].tolist() == [D("2024-10-01"), D("2025-01-01")]
    assert q["orders"].tolist() == [2, 2]
    y = reference_repurchase(df, period="Y")
    assert y["period"].tolist() == [D("2024-01-01"), D("2025-01-01")]
    assert y["repeat_orders"].tolist() == [1, 1]


def test_repurchase_refunds_only_and_empty():
    refunds = pd.DataFrame({"customer_id": [1, 2], "order_date": pd.to_datetime(["2024-01-01", "2024-03-01"]),
                            "amount": [-1.0, 0.0]})
    # a log without purchases: one window with zero counts and null rates
    out = reference_repurchase(refunds)
    assert _rows(out, COUNTS) == [(0, 0, 0, 0, 0)]
    assert _na_list(out.loc[0, RATES]) == [None, None, None]
    # monthly: Jan, Feb, Mar, all zero
    assert len(reference_repurchase(refunds, period="M")) == 3
    empty = reference_repurchase(LOG.iloc[:0], period="M", by="channel")
    assert len(empty) == 0 and list(empty.columns) == ["channel", "period"] + COUNTS + RATES


# ----------------------------------------------------------------------------- interpurchase


def test_interpurchase_customers():
    out = reference_interpurchase(LOG)
    assert list(out.columns) == [
        "customer_id", "purchase_days", "gaps", "mean_gap_days", "median_gap_days", "min_gap_days", "max_gap_days",
    ]
    assert out["customer_id"].tolist() == ["A", "B", "C", "D"]
    # A: days 01-05, 01-06, 01-20, 03-10 -> gaps 1, 14, 50 (mean 65/3, median 14)
    # B: days 01-10, 03-01 (two purchases on 03-01 are one visit) -> gap 51
    # C: no purchase -> 0 days, 0 gaps; D: one purchase day -> 1 day, 0 gaps; stats null for both
    assert out["purchase_days"].tolist() == [4, 2, 0, 1]
    assert out["gaps"].tolist() == [3, 1, 0, 0]
    _close(_na_list(out["mean_gap_days"]), [65 / 3, 51.0, None, None])
    _close(_na_list(out["median_gap_days"]), [14.0, 51.0, None, None])
    assert _na_list(out["min_gap_days"]) == [1, 51, None, None]
    assert _na_list(out["max_gap_days"]) == [50, 51, None, None]


def test_interpurchase_even_median_and_distribution():
    df = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 1, 2, 2, 2],
            # customer 1: days 1, 3, 4, 14, 16 -> gaps 2, 1, 10, 2 -> sorted 1, 2, 2, 10 -> median (2+2)/2 = 2
            # customer 2: days 1, 3, 10 -> gaps 2, 7
            "order_date": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-04", "2024-01-14", "2024-01-16",
                                          "2024-01-01", "2024-01-03", "2024-01-10"]),
            "amount": [1.0] * 8,
        }
    )
    out = reference_interpurchase(df)
    _close(out["median_gap_days"].tolist(), [2.0, 4.5])  # customer 2: (2 + 7) / 2
    _close(out["mean_gap_days"].tolist(), [15 / 4, 9 / 2])
    dist = reference_interpurchase(df, output="distribution")
    assert list(dist.columns) == ["gap_days", "gaps", "share", "cumulative_share"]
    # all gaps: 2, 1, 10, 2, 2, 7 -> 1: 1, 2: 3, 7: 1, 10: 1 (of 6)
    assert dist["gap_days"].tolist() == [1, 2, 7, 10]
    assert dist["gaps"].tolist() == [1, 3, 1, 1]
    _close(dist["share"].tolist(), [1 / 6, 3 / 6, 1 / 6, 1 / 6])
    _close(dist["cumulative_share"].tolist(), [1 / 6, 4 / 6, 5 / 6, 1.0])


def test_interpurchase_distribution_of_the_shared_log():
    dist = reference_interpurchase(LOG, output="distribution")
    # gaps 1, 14, 50 (A) and 51 (B), once each
    assert dist["gap_days"].tolist() == [1, 14, 50, 51]
    assert dist["gaps"].tolist() == [1, 1, 1, 1]
    _close(dist["cumulative_share"].tolist(), [0.25, 0.5, 0.75, 1.0])


def test_interpurchase_tz_aware_local_days():
    utc = pd.to_datetime(["2024-03-01 10:00:00+00:00", "2024-03-01 20:00:00+00:00", "2024-03-03 15:00:00+00:00"])
    # Shanghai (UTC+8): 03-01 18:00, 03-02 04:00, 03-03 23:00 -> three local days, gaps 1, 1
    df = pd.DataFrame({"customer_id": [7, 7, 7], "order_date": pd.Series(utc).dt.tz_convert("Asia/Shanghai"),
                       "amount": [1.0, 1.0, 1.0]})
    out = reference_interpurchase(df)
    assert out["purchase_days"].tolist() == [3]
    assert out["max_gap_days"].tolist() == [1]
    # in UTC the first two are one day: days 03-01, 03-03 -> one gap of 2
    out_utc = reference_interpurchase(df.assign(order_date=df["order_date"].dt.tz_convert("UTC")))
    assert out_utc["purchase_days"].tolist() == [2]
    assert out_utc["max_gap_days"].tolist() == [2]


# ----------------------------------------------------------------------------- lifecycle


def test_lifecycle_default():
    out = reference_lifecycle(LOG)
    assert list(out.columns) == [
        "customer_id", "first_purchase", "last_purchase", "tenure_days", "days_since_last_purchase", "stage",
    ]
    # as_of 03-25.  A: first 01-05, last 03-10: tenure 26 + 29 + 25 = 80, d = 15
    # B: first 01-10 (the 12-28 refund is not a purchase), last 03-01: tenure 21 + 29 + 25 = 75, d = 24
    # C: nulls.  D: 03-20: tenure 5, d 5.  All d <= 90 -> honeymoon
    assert _na_list(out["first_purchase"]) == [D("2024-01-05"), D("2024-01-10"), None, D("2024-03-20")]
    assert _na_list(out["last_purchase"]) == [D("2024-03-10"), D("2024-03-01"), None, D("2024-03-20")]
    assert _na_list(out["tenure_days"]) == [80, 75, None, 5]
    assert _na_list(out["days_since_last_purchase"]) == [15, 24, None, 5]
    assert _na_list(out["stage"]) == ["honeymoon", "honeymoon", None, "honeymoon"]
    assert list(out["stage"].cat.categories) == ["honeymoon", "active", "lapsing", "dormant"]


def test_lifecycle_thresholds_and_labels():
    # thresholds (10, 20, 30): A d=15 -> active (10 < 15 <= 20); B d=24 -> lapsing; D d=5 -> honeymoon
    out = reference_lifecycle(LOG, thresholds=(10, 20, 30))
    assert _na_list(out["stage"]) == ["active", "lapsing", None, "honeymoon"]
    # boundaries are inclusive on the upper side: (5, 15, 24) -> D 5 honeymoon, A 15 active, B 24 lapsing
    out = reference_lifecycle(LOG, thresholds=(5, 15, 24))
    assert _na_list(out["stage"]) == ["active", "lapsing", None, "honeymoon"]
    zh = reference_lifecycle(LOG, thresholds=(10, 20, 30), labels="zh")
    assert _na_list(zh["stage"]) == ["活跃期", "流失期", None, "蜜月期"]
    assert list(zh["stage"].cat.categories) == ["蜜月期", "活跃期", "流失期", "休眠期"]


def test_lifecycle_as_of_later():
    # as_of 2025-03-15: A 2024-03-10 -> +365 = 2025-03-10, +5 = 370 -> dormant (> 365)
    # B 2024-03-01 -> 365 + 14 = 379 -> dormant; D 2024-03-20 -> 365 - 5 = 360 -> lapsing
    out = reference_lifecycle(LOG, as_of="2025-03-15")
    assert _na_list(out["days_since_last_purchase"]) == [370, 379, None, 360]
    assert _na_list(out["stage"]) == ["dormant", "dormant", None, "lapsing"]
    # a time of day in as_of is dropped; a date object works the same
    assert _na_list(reference_lifecycle(LOG, as_of="2025-03-15 18:00")["days_since_last_purchase"]) == [370, 379, None, 360]
    assert _na_list(reference_lifecycle(LOG, as_of=dt.date(2025, 3, 15))["tenure_days"]) == [435, 430, None, 360]


def test_lifecycle_date_objects():
    df = pd.DataFrame({"customer_id": [2, 1, 1], "order_date": [dt.date(2024, 5, 3), dt.date(2024, 5, 1), dt.date(2024, 5, 2)],
                       "amount": [3, 4, -1]})
    out = reference_lifecycle(df)
    # as_of 05-03; customer 1 buys on 05-01 (the 05-02 row is a refund): d = 2; customer 2: d = 0
    assert out["customer_id"].tolist() == [1, 2]
    assert _na_list(out["days_since_last_purchase"]) == [2, 0]


# ----------------------------------------------------------------------------- churn_risk

CHURN_COLUMNS = [
    "customer_id", "last_purchase", "days_since_last_purchase", "purchases_recent", "purchases_prior",
    "median_gap_days", "rhythm", "overdue_ratio", "declining", "overdue", "risk", "reason",
]


def test_churn_risk_window_40():
    out = reference_churn_risk(LOG, window=40)
    assert list(out.columns) == CHURN_COLUMNS
    # as_of 03-25.  Ages of the purchases:
    #   A: 01-05 -> 80, 01-06 -> 79, 01-20 -> 65, 03-10 -> 15
    #      recent (< 40): 1; prior (40 <= age < 80): 79, 65 -> 2 (80 is not < 80) -> declining
    #   B: 01-10 -> 75, 03-01 -> 24 (two rows): recent 2, prior 1 -> not declining
    #   D: 03-20 -> 5: recent 1, prior 0
    assert _na_list(out["purchases_recent"]) == [1, 2, None, 1]
    assert _na_list(out["purchases_prior"]) == [2, 1, None, 0]
    assert _na_list(out["declining"]) == [True, False, None, False]
    # rhythm: A own median 14, B own 51, D has one purchase day -> population: the median of
    # the own medians 14 and 51 = 32.5
    _close(_na_list(out["median_gap_days"]), [14.0, 51.0, None, 32.5])
    assert _na_list(out["rhythm"]) == ["own", "own", None, "population"]
    # overdue_ratio = d / gap: 15/14, 24/51, 5/32.5 -> none above 2
    _close(_na_list(out["overdue_ratio"]), [15 / 14, 24 / 51, None, 5 / 32.5])
    assert _na_list(out["overdue"]) == [False, False, None, False]
    # risk: A declining only -> medium; B, D -> low; C null, reason "no purchase"
    assert _na_list(out["risk"]) == ["medium", "low", None, "low"]
    assert list(out["risk"].cat.categories) == ["low", "medium", "high"] and out["risk"].cat.ordered
    assert out["reason"].tolist()[2] == "no purchase"
    assert all(isinstance(r, str) and r for r in out["reason"])
    assert _na_list(out["last_purchase"]) == [D("2024-03-10"), D("2024-03-01"), None, D("2024-03-20")]


def test_churn_risk_overdue_factor_and_orders():
    # overdue_factor 1: A 15/14 > 1 -> overdue and declining -> high
    out = reference_churn_risk(LOG, window=40, overdue_factor=1.0)
    assert _na_list(out["overdue"]) == [True, False, None, False]
    assert _na_list(out["risk"]) == ["high", "low", None, "low"]
    # by order: A's o1 counts once, on 01-05 (age 80, outside both windows); o2 age 65 -> prior 1,
    # o3 -> recent 1: not declining -> overdue only -> medium.  B: o6 prior, o7 + o8 recent.
    out = reference_churn_risk(LOG, window=40, overdue_factor=1.0, order="order_id")
    assert _na_list(out["purchases_recent"]) == [1, 2, None, 1]
    assert _na_list(out["purchases_prior"]) == [1, 1, None, 0]
    assert _na_list(out["risk"]) == ["medium", "low", None, "low"]


def test_churn_risk_later_as_of():
    # as_of 2024-06-30 (day 182 of 2024), window 90.
    #   A: ages 177, 176, 162, 112 -> recent 0, prior 4 -> declining; d 112, ratio 112/14 = 8 > 2 -> high
    #   B: ages 172, 121, 121 -> recent 0, prior 3; d 121, ratio 121/51 -> high
    #   D: age 102 -> recent 0, prior 1; d 102, ratio 102/32.5 -> high
    out = reference_churn_risk(LOG, as_of="2024-06-30")
    assert _na_list(out["purchases_prior"]) == [4, 3, None, 1]
    _close(_na_list(out["overdue_ratio"]), [8.0, 121 / 51, None, 102 / 32.5])
    assert _na_list(out["risk"]) == ["high", "high", None, "high"]
    # overdue is strictly above the factor: A's ratio is exactly 8
    out = reference_churn_risk(LOG, as_of="2024-06-30", overdue_factor=8.0)
    assert _na_list(out["overdue"]) == [False, False, None, False]
    assert _na_list(out["risk"]) == ["medium", "medium", None, "medium"]


def test_churn_risk_without_any_gap():
    # every customer buys on one day only: no gap in the log -> no rhythm, nobody overdue
    df = pd.DataFrame({"customer_id": [1, 1, 2], "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01"]),
                       "amount": [5.0, 5.0, 1.0]})
    out = reference_churn_risk(df, window=20)
    # as_of 02-01: customer 1 ages 31, 31 -> recent 0, prior 2 (20 <= 31 < 40) -> declining -> medium
    assert _na_list(out["rhythm"]) == [None, None]
    assert _na_list(out["median_gap_days"]) == [None, None]
    assert _na_list(out["overdue_ratio"]) == [None, None]
    assert _na_list(out["overdue"]) == [False, False]
    assert _na_list(out["purchases_prior"]) == [2, 0]
    assert _na_list(out["risk"]) == ["medium", "low"]


# ----------------------------------------------------------------------------- cohorts


def test_cohorts_long_all_metrics():
    # Months of the data: Dec 2023 (B's refund) .. Mar 2024 -> cohorts Dec, Jan, Feb, Mar.
    # First purchases: A Jan, B Jan, D Mar; C (refunds only) is in no cohort.
    # Dec cohort: empty, k = 0..3.  Jan (A, B): k = 0..2.  Feb: empty, k = 0..1.  Mar (D): k = 0.
    # Jan cohort: k=0 active A, B; revenue 10 + 5 + 20 (A) + 40 (B) - 8 (B's December refund,
    #   before the cohort: counted in k = 0) = 67.  k=1 (Feb): nothing.  k=2 (Mar): active A, B;
    #   revenue 30 - 5 + 12 + 3 = 40.  Cumulative per customer: 67/2, 67/2, 107/2.
    # Mar cohort: D, revenue 50 + 0 = 50.
    expected_keys = [
        (D("2023-12-01"), 0, 0), (D("2023-12-01"), 0, 1), (D("2023-12-01"), 0, 2), (D("2023-12-01"), 0, 3),
        (D("2024-01-01"), 2, 0), (D("2024-01-01"), 2, 1), (D("2024-01-01"), 2, 2),
        (D("2024-02-01"), 0, 0), (D("2024-02-01"), 0, 1),
        (D("2024-03-01"), 1, 0),
    ]
    values = {
        "active_customers": [0, 0, 0, 0, 2, 0, 2, 0, 0, 1],
        "retention": [None, None, None, None, 1.0, 0.0, 1.0, None, None, 1.0],
        "revenue": [0.0, 0.0, 0.0, 0.0, 67.0, 0.0, 40.0, 0.0, 0.0, 50.0],
        "cumulative_revenue_per_customer": [None, None, None, None, 33.5, 33.5, 53.5, None, None, 50.0],
    }
    for metric in COHORT_METRICS:
        out = reference_cohorts(LOG, metric=metric)
        assert list(out.columns) == ["cohort", "cohort_size", "period_number", metric]
        assert _rows(out, ["cohort", "cohort_size", "period_number"]) == expected_keys
        _close(_na_list(out[metric]), values[metric])


def test_cohorts_wide():
    out = reference_cohorts(LOG, metric="revenue", format="wide")
    assert list(out.columns) == ["cohort", "cohort_size", "0", "1", "2", "3"]
    assert out["cohort"].tolist() == [D("2023-12-01"), D("2024-01-01"), D("2024-02-01"), D("2024-03-01")]
    assert out["cohort_size"].tolist() == [0, 2, 0, 1]
    # cells beyond the end of the data are null
    assert _rows(out, ["0", "1", "2", "3"]) == [
        (0.0, 0.0, 0.0, 0.0), (67.0, 0.0, 40.0, None), (0.0, 0.0, None, None), (50.0, None, None, None),
    ]
    active = reference_cohorts(LOG, metric="active_customers", format="wide")
    assert _rows(active, ["0", "1", "2", "3"]) == [(0, 0, 0, 0), (2, 0, 2, None), (0, 0, None, None), (1, None, None, None)]
    retention = reference_cohorts(LOG, format="wide")
    assert _rows(retention, ["0", "1", "2", "3"]) == [
        (None, None, None, None), (1.0, 0.0, 1.0, None), (None, None, None, None), (1.0, None, None, None),
    ]


def test_cohorts_weekly_across_the_year_end():
    # customer 1 first buys Sun 2024-12-29 (week of Mon 12-23), again Mon 2025-01-06 (two weeks later)
    # customer 2 first buys Tue 2024-12-31 (week of 12-30)
    df = pd.DataFrame({"customer_id": [1, 1, 2], "order_date": pd.to_datetime(["2024-12-29", "2025-01-06", "2024-12-31"]),
                       "amount": [1.0, 2.0, 4.0]})
    out = reference_cohorts(df, period="W", metric="active_customers")
    assert _rows(out, ["cohort", "cohort_size", "period_number", "active_customers"]) == [
        (D("2024-12-23"), 1, 0, 1), (D("2024-12-23"), 1, 1, 0), (D("2024-12-23"), 1, 2, 1),
        (D("2024-12-30"), 1, 0, 1), (D("2024-12-30"), 1, 1, 0),
        (D("2025-01-06"), 0, 0, 0),
    ]
    yearly = reference_cohorts(df, period="Y", metric="revenue")
    # 2024 cohort: both; revenue 2024: 1 + 4 = 5, 2025: 2.  2025 cohort: empty, revenue 0
    assert _rows(yearly, ["cohort", "cohort_size", "period_number", "revenue"]) == [
        (D("2024-01-01"), 2, 0, 5.0), (D("2024-01-01"), 2, 1, 2.0), (D("2025-01-01"), 0, 0, 0.0),
    ]


def test_cohorts_empty():
    out = reference_cohorts(LOG.iloc[:0], metric="revenue")
    assert len(out) == 0 and list(out.columns) == ["cohort", "cohort_size", "period_number", "revenue"]
    assert list(reference_cohorts(LOG.iloc[:0], format="wide").columns) == ["cohort", "cohort_size"]


# ----------------------------------------------------------------------------- acquisition

ACQ_COUNTS = ["start_customers", "new", "reactivated", "lost", "retained", "end_customers", "active"]


def test_acquisition_monthly_lapse_30():
    out = reference_acquisition(LOG, lapse_days=30)
    assert list(out.columns) == ["period"] + ACQ_COUNTS + ["cr_index", "churn_rate", "retention_rate"]
    # Purchase days: A 01-05, 01-06, 01-20, 03-10; B 01-10, 03-01; D 03-20.  lapse 30:
    #   A: 01-20 -> 03-10 is 50 > 30: lost on 01-20 + 31 = 02-20, reactivated 03-10;
    #      after 03-10 the loss would be 04-10 > as_of (03-25): none
    #   B: 01-10 -> 03-01 is 51 > 30: lost on 02-10, reactivated 03-01; 04-01 > as_of
    #   D: new on 03-20
    # Dec: nobody.  Jan: new A, B; live at 01-31: A (01-20, 11 days), B (01-10, 21 days).
    # Feb: start 2 (A, B live at 01-31), both lost (02-10, 02-20) -> retained 0, end 0,
    #      cr = 0 / 2 = 0, churn 2/2 = 1, retention 0.
    # Mar (03-01 .. as_of 03-25): start 0; new D; reactivated A, B; end: A, B, D live at 03-25.
    assert out["period"].tolist() == [D("2023-12-01"), D("2024-01-01"), D("2024-02-01"), D("2024-03-01")]
    assert _rows(out, ACQ_COUNTS) == [
        (0, 0, 0, 0, 0, 0, 0),
        (0, 2, 0, 0, 0, 2, 2),
        (2, 0, 0, 2, 0, 0, 0),
        (0, 1, 2, 0, 0, 3, 3),
    ]
    _close(_na_list(out["cr_index"]), [None, None, 0.0, None])
    _close(_na_list(out["churn_rate"]), [None, None, 1.0, None])
    _close(_na_list(out["retention_rate"]), [None, None, 0.0, None])


def test_acquisition_quarterly_with_as_of():
    out = reference_acquisition(LOG, period="Q", as_of="2024-12-31")
    # lapse 180: no gap is longer than 180 days, so no reactivation.  Losses after the last
    # purchase: A 03-10 (day 70) + 181 = day 251 = 09-07; B 03-01 (61) + 181 = 242 = 08-29;
    # D 03-20 (80) + 181 = 261 = 09-17.  All <= as_of.
    # Quarters from 2023Q4 (the data's first day) to 2024Q4 (as_of).
    assert out["period"].tolist() == [D("2023-10-01"), D("2024-01-01"), D("2024-04-01"), D("2024-07-01"), D("2024-10-01")]
    assert _rows(out, ACQ_COUNTS) == [
        (0, 0, 0, 0, 0, 0, 0),
        (0, 3, 0, 0, 0, 3, 3),   # Q1: new A, B, D, all live at 03-31
        (3, 0, 0, 0, 3, 3, 0),   # Q2: nobody buys, nobody lost
        (3, 0, 0, 3, 0, 0, 0),   # Q3: all three lost
        (0, 0, 0, 0, 0, 0, 0),
    ]
    _close(_na_list(out["cr_index"]), [None, None, None, 0.0, None])
    _close(_na_list(out["churn_rate"]), [None, None, 0.0, 1.0, None])
    _close(_na_list(out["retention_rate"]), [None, None, 1.0, 0.0, None])


def test_acquisition_loss_day_boundary():
    # one customer, purchases on 01-01 and 01-11 (gap 10)
    df = pd.DataFrame({"customer_id": [1, 1], "order_date": pd.to_datetime(["2024-01-01", "2024-01-11"]), "amount": [1.0, 1.0]})
    # lapse 10: gap 10 is not > 10 -> never lost in between; still live at the end of 01-21
    # (21 - 11 = 10), lost on 01-22.  With as_of 01-21 there is no loss at all; with 01-22 there is.
    weekly = reference_acquisition(df, period="W", lapse_days=10, as_of="2024-01-21")
    assert weekly["period"].tolist() == [D("2024-01-01"), D("2024-01-08"), D("2024-01-15")]
    assert weekly["lost"].tolist() == [0, 0, 0]
    assert weekly["end_customers"].tolist() == [1, 1, 1]
    weekly = reference_acquisition(df, period="W", lapse_days=10, as_of="2024-01-22")
    assert weekly["lost"].tolist() == [0, 0, 0, 1]  # the week of Mon 01-22 holds the loss
    assert weekly["end_customers"].tolist() == [1, 1, 1, 0]
    # lapse 9: gap 10 > 9 -> lost on 01-01 + 10 = 01-11, the day of the reactivation (same week)
    weekly = reference_acquisition(df, period="W", lapse_days=9, as_of="2024-01-14")
    assert _rows(weekly, ["new", "reactivated", "lost", "end_customers", "active"]) == [(1, 0, 0, 1, 1), (0, 1, 1, 1, 1)]
    # the customer was live at the start of week 2 and lost in it: not retained
    assert weekly["retained"].tolist() == [0, 0]
    _close(weekly["churn_rate"].tolist(), [NAN, 1.0])


# ----------------------------------------------------------------------------- activity


def test_activity_default():
    out = reference_activity(LOG)
    assert list(out.columns) == [
        "customer_id", "days_since_last_purchase", "purchases", "net_spend",
        "recency_indicator", "frequency_indicator", "monetary_indicator", "activity",
    ]
    # d: A 15, B 24, C none, D 5.  purchases (rows): 4, 3, 0, 1.  net: A 10+5+20+30-5 = 60,
    # B -8+40+12+3 = 47, C -7, D 50+0 = 50
    assert _na_list(out["days_since_last_purchase"]) == [15, 24, None, 5]
    assert out["purchases"].tolist() == [4, 3, 0, 1]
    assert out["net_spend"].tolist() == [60.0, 47.0, -7.0, 50.0]
    rec = [0.5 ** (15 / 90), 0.5 ** (24 / 90), 0.0, 0.5 ** (5 / 90)]
    _close(out["recency_indicator"].tolist(), rec)
    # frequency 4, 3, 0, 1 -> ranks 4, 3, 1, 2 -> / 4
    freq = [1.0, 0.75, 0.25, 0.5]
    _close(out["frequency_indicator"].tolist(), freq)
    # net 60, 47, -7, 50 -> ranks 4, 2, 1, 3
    mon = [1.0, 0.5, 0.25, 0.75]
    _close(out["monetary_indicator"].tolist(), mon)
    _close(out["activity"].tolist(), [100 * (0.4 * r + 0.3 * f + 0.3 * m) for r, f, m in zip(rec, freq, mon)])


def test_activity_orders_extra_weights_half_life():
    out = reference_activity(LOG, order="order_id", extra=["quantity"], half_life_days=30)
    assert list(out.columns) == [
        "customer_id", "days_since_last_purchase", "purchases", "net_spend", "quantity",
        "recency_indicator", "frequency_indicator", "monetary_indicator", "quantity_indicator", "activity",
    ]
    # orders: A 3, B 3, C 0, D 1 -> ranks 3.5, 3.5, 1, 2 -> 0.875, 0.875, 0.25, 0.5
    assert out["purchases"].tolist() == [3, 3, 0, 1]
    freq = [0.875, 0.875, 0.25, 0.5]
    _close(out["frequency_indicator"].tolist(), freq)
    # quantity over ALL rows: A 1+1+2+1+1 = 6, B 1+3+1+1 = 6, C 1, D 2+1 = 3 -> same ranks as above
    assert out["quantity"].tolist() == [6, 6, 1, 3]
    qty = [0.875, 0.875, 0.25, 0.5]
    _close(out["quantity_indicator"].tolist(), qty)
    rec = [0.5 ** (15 / 30), 0.5 ** (24 / 30), 0.0, 0.5 ** (5 / 30)]
    _close(out["recency_indicator"].tolist(), rec)
    mon = [1.0, 0.5, 0.25, 0.75]
    # default weights 0.4, 0.3, 0.3 and 0.3 for the extra column, total 1.3
    expected = [100 * (0.4 * r + 0.3 * f + 0.3 * m + 0.3 * q) / 1.3 for r, f, m, q in zip(rec, freq, mon, qty)]
    _close(out["activity"].tolist(), expected)
    # weights override: only frequency counts
    only_f = reference_activity(LOG, order="order_id", extra=["quantity"],
                                weights={"recency": 0, "monetary": 0, "quantity": 0, "frequency": 2})
    _close(only_f["activity"].tolist(), [100 * f for f in freq])
    # an extra column can be weighted up on its own: recency 0.4, freq 0.3, mon 0.3, quantity 1.0
    heavy = reference_activity(LOG, order="order_id", extra="quantity", weights={"quantity": 1.0}, half_life_days=30)
    _close(heavy["activity"].tolist(),
           [100 * (0.4 * r + 0.3 * f + 0.3 * m + 1.0 * q) / 2.0 for r, f, m, q in zip(rec, freq, mon, qty)])


def test_activity_as_of():
    out = reference_activity(LOG, as_of="2024-06-22")
    # 2024-06-22 is 104 days after 03-10: d = 104 (A), 113 (B), 94 (D)
    assert _na_list(out["days_since_last_purchase"]) == [104, 113, None, 94]
    _close(out["recency_indicator"].tolist(), [0.5 ** (104 / 90), 0.5 ** (113 / 90), 0.0, 0.5 ** (94 / 90)])


# ----------------------------------------------------------------------------- errors and edge cases


@pytest.mark.parametrize("function", [reference_lifecycle, reference_churn_risk, reference_acquisition, reference_activity])
def test_as_of_before_the_last_day_of_the_data_is_an_error(function):
    # the last PURCHASE is on 03-20, but the data's last day is 03-25 (a zero row): 03-24 is too early
    with pytest.raises(ValueError):
        function(LOG, as_of="2024-03-24")
    function(LOG, as_of="2024-03-25")
    with pytest.raises(ValueError):
        function(LOG, as_of="not a date")


def test_bad_arguments():
    bad = [
        (reference_repurchase, {"period": "X"}),
        (reference_cohorts, {"period": "D"}),
        (reference_cohorts, {"metric": "foo"}),
        (reference_cohorts, {"format": "tall"}),
        (reference_acquisition, {"period": "month"}),
        (reference_acquisition, {"lapse_days": -1}),
        (reference_interpurchase, {"output": "gaps"}),
        (reference_lifecycle, {"thresholds": (90, 90, 365)}),
        (reference_lifecycle, {"thresholds": (180, 90, 365)}),
        (reference_lifecycle, {"thresholds": (0, 90, 365)}),
        (reference_lifecycle, {"thresholds": (90, 180)}),
        (reference_lifecycle, {"thresholds": (90.5, 180, 365)}),
        (reference_lifecycle, {"labels": "fr"}),
        (reference_churn_risk, {"window": -1}),
        (reference_churn_risk, {"window": 0}),
        (reference_churn_risk, {"overdue_factor": -0.5}),
        (reference_activity, {"weights": {"recency": 0, "frequency": 0, "monetary": 0}}),
        (reference_activity, {"weights": {"recency": -1}}),
        (reference_activity, {"weights": {"loyalty": 1}}),
        (reference_activity, {"half_life_days": 0}),
    ]
    for function, kwargs in bad:
        with pytest.raises(ValueError):
            function(LOG, **kwargs)
    # extra weights of 0 are fine as long as something else is weighted
    reference_activity(LOG, extra=["quantity"], weights={"recency": 0, "frequency": 0, "monetary": 0})


def test_one_customer_one_purchase():
    one = pd.DataFrame({"customer_id": [9], "order_date": pd.to_datetime(["2024-05-05 13:00"]), "amount": [12.0]})
    assert _rows(reference_repurchase(one, period="M"), COUNTS) == [(1, 0, 1, 0, 0)]
    assert _rows(reference_interpurchase(one), ["purchase_days", "gaps", "median_gap_days"]) == [(1, 0, None)]
    assert len(reference_interpurchase(one, output="distribution")) == 0
    assert _rows(reference_lifecycle(one), ["tenure_days", "days_since_last_purchase", "stage"]) == [(0, 0, "honeymoon")]
    churn = reference_churn_risk(one)
    assert _rows(churn, ["purchases_recent", "purchases_prior", "rhythm", "overdue", "risk"]) == [(1, 0, None, False, "low")]
    assert _rows(reference_cohorts(one), ["cohort", "cohort_size", "period_number", "retention"]) == [(D("2024-05-01"), 1, 0, 1.0)]
    assert _rows(reference_acquisition(one), ["period"] + ACQ_COUNTS) == [(D("2024-05-01"), 0, 1, 0, 0, 0, 1, 1)]
    act = reference_activity(one)
    # a single customer ranks 1 of 1 everywhere; d = 0 -> recency 1 -> activity 100
    _close(act[["recency_indicator", "frequency_indicator", "monetary_indicator", "activity"]].iloc[0].tolist(),
           [1.0, 1.0, 1.0, 100.0])


def test_everything_on_one_day():
    same = pd.DataFrame({"customer_id": [1, 2, 2, 3], "order_date": pd.to_datetime(["2024-05-05"] * 4),
                         "amount": [1.0, 2.0, 3.0, -1.0]})
    # customer 2 buys twice (two rows) -> repeat; customer 3 refund only
    assert _rows(reference_repurchase(same), COUNTS) == [(2, 1, 3, 1, 2)]
    ip = reference_interpurchase(same)
    assert ip["purchase_days"].tolist() == [1, 1, 0] and ip["gaps"].tolist() == [0, 0, 0]
    # one day: all ties for frequency? no - 1, 2, 0 purchases; everyone recency 1 (d = 0) except 3
    act = reference_activity(same)
    _close(act["frequency_indicator"].tolist(), [2 / 3, 1.0, 1 / 3])
    _close(act["recency_indicator"].tolist(), [1.0, 1.0, 0.0])
    coh = reference_cohorts(same, period="W", metric="revenue")
    # cohort of the week of Mon 2024-04-29: customers 1 and 2 (3 is in no cohort: its -1 is ignored)
    assert _rows(coh, ["cohort", "cohort_size", "period_number", "revenue"]) == [(D("2024-04-29"), 2, 0, 6.0)]


def test_customer_with_only_refunds_everywhere():
    refunds = pd.DataFrame({"customer_id": [5, 5], "order_date": pd.to_datetime(["2024-01-02", "2024-02-03"]),
                            "amount": [-3.0, -4.0]})
    assert _rows(reference_interpurchase(refunds), ["purchase_days", "gaps"]) == [(0, 0)]
    life = reference_lifecycle(refunds)
    assert _na_list(life.iloc[0].tolist()[1:]) == [None] * 5
    churn = reference_churn_risk(refunds)
    assert churn["reason"].tolist() == ["no purchase"]
    assert _na_list(churn.iloc[0].tolist()[1:-1]) == [None] * 10
    # cohorts: every month is a cohort, all empty (the customer is in none)
    coh = reference_cohorts(refunds, metric="revenue")
    assert _rows(coh, ["cohort", "cohort_size", "period_number", "revenue"]) == [
        (D("2024-01-01"), 0, 0, 0.0), (D("2024-01-01"), 0, 1, 0.0), (D("2024-02-01"), 0, 0, 0.0),
    ]
    acq = reference_acquisition(refunds)
    assert _rows(acq, ACQ_COUNTS) == [(0,) * 7, (0,) * 7]
    act = reference_activity(refunds)
    assert act["net_spend"].tolist() == [-7.0] and act["purchases"].tolist() == [0]
    _close(act["activity"].tolist(), [100 * (0.4 * 0 + 0.3 * 1 + 0.3 * 1)])


def test_empty_input_keeps_the_columns():
    empty = LOG.iloc[:0]
    assert list(reference_repurchase(empty).columns) == COUNTS + RATES
    assert len(reference_repurchase(empty)) == 0
    assert list(reference_interpurchase(empty, output="distribution").columns) == ["gap_days", "gaps", "share", "cumulative_share"]
    assert list(reference_lifecycle(empty).columns)[0] == "customer_id"
    assert list(reference_churn_risk(empty).columns) == CHURN_COLUMNS
    assert len(reference_acquisition(empty)) == 0
    out = reference_activity(empty, extra=["quantity"])
    assert len(out) == 0 and "quantity_indicator" in out.columns


def test_categorical_keys_sort_by_value_and_keep_their_dtype():
    df = LOG.assign(customer_id=pd.Categorical(LOG["customer_id"], categories=["D", "C", "B", "A"]),
                    channel=pd.Categorical(LOG["channel"], categories=["web", "store"]))
    out = reference_interpurchase(df)
    assert isinstance(out["customer_id"].dtype, pd.CategoricalDtype)
    assert out["customer_id"].astype(str).tolist() == ["A", "B", "C", "D"]
    rep = reference_repurchase(df, by="channel")
    assert rep["channel"].astype(str).tolist() == ["store", "web"]
    assert isinstance(rep["channel"].dtype, pd.CategoricalDtype)


def test_integer_amounts_and_keys():
    df = pd.DataFrame({"customer_id": np.array([3, 1, 3], dtype="int32"),
                       "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05"]), "amount": [5, 7, -2]})
    act = reference_activity(df)
    assert act["customer_id"].dtype == "int32" and act["customer_id"].tolist() == [1, 3]
    assert act["net_spend"].tolist() == [7.0, 3.0]


def test_order_only_changes_counts_not_the_last_purchase_day():
    # order x has lines on 01-31 and 02-03; it is ONE purchase, dated 01-31 for counting,
    # but 02-03 is still a purchase day: the last purchase is 02-03 (as in lifecycle / rfm)
    df = pd.DataFrame({"customer_id": [1, 1], "order_id": ["x", "x"],
                       "order_date": pd.to_datetime(["2024-01-31", "2024-02-03"]), "amount": [4.0, 6.0]})
    churn = reference_churn_risk(df, order="order_id", window=3)
    # as_of 02-03: d = 0; the order's age is 3 (from 01-31) -> not recent (< 3), prior (3 <= 3 < 6)
    assert _na_list(churn["last_purchase"]) == [D("2024-02-03")]
    assert _na_list(churn["days_since_last_purchase"]) == [0]
    assert _na_list(churn["purchases_recent"]) == [0] and _na_list(churn["purchases_prior"]) == [1]
    # own rhythm: purchase days 01-31 and 02-03 -> one gap of 3
    assert _na_list(churn["rhythm"]) == ["own"] and _na_list(churn["median_gap_days"]) == [3.0]
    act = reference_activity(df, order="order_id")
    assert act["purchases"].tolist() == [1] and _na_list(act["days_since_last_purchase"]) == [0]
    # without order: two purchases, both recent-or-prior by their own day (ages 3 and 0)
    churn_rows = reference_churn_risk(df, window=3)
    assert _na_list(churn_rows["purchases_recent"]) == [1] and _na_list(churn_rows["purchases_prior"]) == [1]
