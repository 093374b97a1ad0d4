"""Checks of the pandas oracle (tests/reference.py) against hand-computed examples.

Every expected number below was worked out by hand from docs/rfm_definitions.md; the
derivations are in the comments.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sys

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from reference import RFM11_RULES, reference_rfm, reference_segment  # noqa: E402

D = pd.Timestamp


def _col(frame, name):
    return frame[name].tolist()


def _na_list(series):
    return [None if pd.isna(v) else v for v in series]


# ----------------------------------------------------------------------------- the 4-customer log

# customer 1: two purchases                    -> freq 2, net 150, first 01-01, last 01-10
# customer 2: one purchase, one refund         -> freq 1, net 170, first = last = 01-05
# customer 3: a refund only                    -> freq 0, net -20, no purchase days
# customer 4: two purchases and a zero row     -> freq 2, net 50, first 01-03, last 01-09
# as_of default = latest day of ANY row = 01-12 (customer 4's zero row).
LOG = pd.DataFrame(
    {
        "customer_id": [4, 1, 2, 3, 2, 4, 1, 4],
        "order_date": pd.to_datetime(
            [
                "2024-01-03 10:00",
                "2024-01-01 09:00",
                "2024-01-05 23:59",
                "2024-01-08 12:00",
                "2024-01-06 08:00",
                "2024-01-09 00:00",
                "2024-01-10 18:30",
                "2024-01-12 07:00",
            ]
        ),
        "amount": [10.0, 100.0, 200.0, -20.0, -30.0, 40.0, 50.0, 0.0],
    }
)


def test_four_customers_basic_columns():
    out = reference_rfm(LOG)
    assert list(out.columns) == [
        "customer_id", "recency", "frequency", "monetary", "first_purchase", "last_purchase",
        "r_score", "f_score", "m_score", "rfm_code", "rfm_score", "segment",
    ]
    assert _col(out, "customer_id") == [1, 2, 3, 4]
    # recency = 01-12 minus last purchase: 2, 7, null, 3
    assert _na_list(out["recency"]) == [2, 7, None, 3]
    assert _col(out, "frequency") == [2, 1, 0, 2]
    assert _col(out, "monetary") == [150.0, 170.0, -20.0, 50.0]
    assert _na_list(out["first_purchase"]) == [D("2024-01-01"), D("2024-01-05"), None, D("2024-01-03")]
    assert _na_list(out["last_purchase"]) == [D("2024-01-10"), D("2024-01-05"), None, D("2024-01-09")]
    assert out["first_purchase"].dtype == "datetime64[ns]"


def test_four_customers_scores_and_segments():
    out = reference_rfm(LOG)
    # n = 4, bins = 5: score(rank) = floor(5 * (rank - 0.5) / 4) + 1
    #   rank 1 -> floor(0.625)+1 = 1, 2 -> floor(1.875)+1 = 2, 3 -> floor(3.125)+1 = 4,
    #   rank 3.5 -> floor(3.75)+1 = 4, 4 -> floor(4.375)+1 = 5
    # R: -recency = -2, -7, null, -3 -> ranks 4, 2, 1 (null lowest), 3 -> 5, 2, 1, 4
    # F: 2, 1, 0, 2 -> ranks 3.5, 2, 1, 3.5 -> 4, 2, 1, 4
    # M: 150, 170, -20, 50 -> ranks 3, 4, 1, 2 -> 4, 5, 1, 2
    assert _col(out, "r_score") == [5, 2, 1, 4]
    assert _col(out, "f_score") == [4, 2, 1, 4]
    assert _col(out, "m_score") == [4, 5, 1, 2]
    assert _col(out, "rfm_code") == ["544", "225", "111", "442"]
    assert _col(out, "rfm_score") == [13, 9, 3, 10]
    # 544: Champions.  225: fails 1-9 (M=5 fails rule 6), rule 10 At Risk.
    # 111: rule 6 needs R 2-3, rule 9 Lost.  442: M=2 fails 1-2, R=4 F=4 fails 3-4, rule 5.
    assert _col(out, "segment") == ["Champions", "At Risk", "Lost", "Potential Loyalist"]


def test_four_customers_chinese_labels():
    out = reference_rfm(LOG, labels="zh")
    assert _col(out, "segment") == ["冠军客户", "有流失风险客户", "已流失客户", "潜在忠诚客户"]


def test_four_customers_value8():
    out = reference_rfm(LOG, segments="value8")
    # mean recency over known (2, 7, 3) = 4 -> R high: 1 yes, 2 no, 3 null=low, 4 yes
    # mean frequency (2+1+0+2)/4 = 1.25 -> F high: 1 yes, 2 no, 3 no, 4 yes
    # mean monetary (150+170-20+50)/4 = 87.5 -> M high: 1 yes, 2 yes, 3 no, 4 no
    assert _col(out, "segment") == [
        "Important Value", "Important Win-back", "General Win-back", "General Value",
    ]
    zh = reference_rfm(LOG, segments="value8", labels="zh")
    assert _col(zh, "segment") == ["重要价值客户", "重要挽留客户", "一般挽留客户", "一般价值客户"]


def test_four_customers_monetary_mean():
    out = reference_rfm(LOG, monetary="mean")
    # net / frequency: 150/2, 170/1, null (freq 0), 50/2
    assert _na_list(out["monetary"]) == [75.0, 170.0, None, 25.0]
    # ranks: null lowest -> 1; 25 -> 2; 75 -> 3; 170 -> 4  => same M scores as before
    assert _col(out, "m_score") == [4, 5, 1, 2]


def test_as_of_explicit_and_errors():
    out = reference_rfm(LOG, as_of="2024-01-20")
    assert _na_list(out["recency"]) == [10, 15, None, 11]
    # a time of day is dropped; a pd.Timestamp / datetime.date works the same
    assert _na_list(reference_rfm(LOG, as_of="2024-01-20 23:00")["recency"]) == [10, 15, None, 11]
    assert _na_list(reference_rfm(LOG, as_of=dt.date(2024, 1, 20))["recency"]) == [10, 15, None, 11]
    # 01-10 is the last PURCHASE day; the zero row on 01-12 does not count
    assert _na_list(reference_rfm(LOG, as_of="2024-01-10")["recency"]) == [0, 5, None, 1]
    with pytest.raises(ValueError):
        reference_rfm(LOG, as_of="2024-01-09")
    with pytest.raises(ValueError):
        reference_rfm(LOG, bins=4)  # rfm11 needs bins=5
    with pytest.raises(ValueError):
        reference_rfm(LOG, monetary="median")


def test_as_of_does_not_change_f_and_m():
    a = reference_rfm(LOG)
    b = reference_rfm(LOG, as_of="2025-06-01")
    # recency shifts by a constant for everyone: R ranks (and scores) unchanged
    assert _col(a, "r_score") == _col(b, "r_score")
    assert _col(a, "segment") == _col(b, "segment")


def test_string_keys_sorted_and_custom_column_names():
    df = LOG.rename(columns={"customer_id": "cid", "order_date": "ts", "amount": "amt"})
    df["cid"] = df["cid"].map({1: "b", 2: "a", 3: "B", 4: "ab"})
    out = reference_rfm(df, customer="cid", date="ts", amount="amt")
    # code-point order: "B" < "a" < "ab" < "b"
    assert _col(out, "cid") == ["B", "a", "ab", "b"]
    assert _col(out, "frequency") == [0, 1, 2, 2]
    assert _col(out, "rfm_code") == ["111", "225", "442", "544"]


def test_date_objects_and_integer_amounts():
    df = pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "order_date": [dt.date(2024, 5, 1), dt.date(2024, 5, 3), dt.date(2024, 5, 2)],
            "amount": [3, 4, 5],
        }
    )
    out = reference_rfm(df)
    assert _na_list(out["recency"]) == [0, 1]
    assert _col(out, "monetary") == [7.0, 5.0]
    assert _col(out, "first_purchase") == [D("2024-05-01"), D("2024-05-02")]


# ----------------------------------------------------------------------------- order= (multi-line orders)

ORDERS = pd.DataFrame(
    {
        "customer_id": ["A", "A", "A", "A", "B", "B", "B"],
        "order_id": ["o1", "o1", "o2", "o3", "o4", "o4", "o4"],
        "order_date": pd.to_datetime(
            ["2024-02-01", "2024-02-01", "2024-02-03", "2024-02-04", "2024-02-02", "2024-02-02", "2024-02-02"]
        ),
        # o1 has two lines, o3 is a refund line (not a purchase), o4 has three lines
        "amount": [10.0, 20.0, 5.0, -5.0, 10.0, 10.0, 10.0],
    }
)


def test_multi_line_orders():
    by_line = reference_rfm(ORDERS)
    by_order = reference_rfm(ORDERS, order="order_id")
    # rows: A has 3 purchase lines, B 3 -> tie, ranks 1.5 -> floor(5 * 1 / 2) + 1 = 3
    assert _col(by_line, "frequency") == [3, 3]
    assert _col(by_line, "f_score") == [3, 3]
    # distinct orders among purchase lines: A {o1, o2} = 2, B {o4} = 1 (o3 is refund-only)
    # ranks A 2, B 1 -> floor(5 * 1.5 / 2) + 1 = 4, floor(5 * 0.5 / 2) + 1 = 2
    assert _col(by_order, "frequency") == [2, 1]
    assert _col(by_order, "f_score") == [4, 2]
    # monetary is the same either way: A 10+20+5-5 = 30, B 30
    assert _col(by_order, "monetary") == [30.0, 30.0]
    assert _col(by_order, "m_score") == [3, 3]
    # as_of = 02-04 (A's refund row); last purchases: A 02-03, B 02-02
    assert _na_list(by_order["recency"]) == [1, 2]
    # monetary="mean" divides by the order count: A 30/2 = 15, B 30/1 = 30
    assert _col(reference_rfm(ORDERS, order="order_id", monetary="mean"), "monetary") == [15.0, 30.0]


# ----------------------------------------------------------------------------- time zones


def test_tz_aware_uses_local_calendar_day():
    utc = pd.to_datetime(
        [
            "2024-03-01 20:00:00+00:00",  # Shanghai: 2024-03-02 04:00 -> local day 03-02
            "2024-03-01 10:00:00+00:00",  # Shanghai: 2024-03-01 18:00 -> local day 03-01
            "2024-02-29 15:59:00+00:00",  # Shanghai: 2024-02-29 23:59 -> local day 02-29
        ]
    )
    df = pd.DataFrame(
        {
            "customer_id": [1, 2, 2],
            "order_date": pd.Series(utc).dt.tz_convert("Asia/Shanghai"),
            "amount": [1.0, 2.0, 3.0],
        }
    )
    out = reference_rfm(df)
    # as_of = latest local day 03-02; UTC days would give 03-01 and recency 0, 0
    assert _col(out, "last_purchase") == [D("2024-03-02"), D("2024-03-01")]
    assert _col(out, "first_purchase") == [D("2024-03-02"), D("2024-02-29")]
    assert _na_list(out["recency"]) == [0, 1]

    # the same instants in New York: 03-01 15:00, 03-01 05:00, 02-29 10:59 local
    ny = df.assign(order_date=df["order_date"].dt.tz_convert("America/New_York"))
    out_ny = reference_rfm(ny)
    assert _col(out_ny, "last_purchase") == [D("2024-03-01"), D("2024-03-01")]
    assert _na_list(out_ny["recency"]) == [0, 0]

    # a tz-aware as_of is read in the column's zone: 2024-03-02 20:00 UTC is 03-03 in Shanghai
    out_asof = reference_rfm(df, as_of=pd.Timestamp("2024-03-02 20:00", tz="UTC"))
    assert _na_list(out_asof["recency"]) == [1, 2]


def test_tz_localize_none_keeps_local_wall_time():
    # The documented pandas behaviour the reference relies on.
    s = pd.Series(pd.to_datetime(["2024-01-01 23:30:00+00:00"])).dt.tz_convert("Asia/Shanghai")
    assert s.dt.tz_localize(None).dt.normalize().iloc[0] == D("2024-01-02")


# ----------------------------------------------------------------------------- segments


def _by_hand_rfm11(r, f, m):
    """An independent nested-if transcription of the rfm11 table."""
    if r >= 4 and f >= 4 and m >= 4:
        return "Champions"
    if r >= 3 and f >= 3 and m >= 3:
        return "Loyal Customers"
    if r == 5 and f == 1:
        return "New Customers"
    if r == 4 and f == 1:
        return "Promising"
    if r >= 4:
        return "Potential Loyalist"
    if r in (2, 3) and f <= 2 and m <= 2:
        return "About To Sleep"
    if r == 3:
        return "Need Attention"
    if f >= 4 and m >= 4:  # r is 1 or 2 from here on
        return "Can't Lose Them"
    if r == 1 and f <= 2 and m <= 2:
        return "Lost"
    if f >= 2 and m >= 2:
        return "At Risk"
    return "Hibernating"


ALL_CODES = pd.DataFrame(
    list(itertools.product(range(1, 6), repeat=3)), columns=["r_score", "f_score", "m_score"]
)


def test_all_125_codes_rfm11():
    seg = reference_segment(ALL_CODES, "rfm11")
    assert len(seg) == 125
    names = [rule[0] for rule in RFM11_RULES]
    assert len(names) == 11
    assert "Other" not in set(seg)
    assert set(seg) == set(names)  # each of the 11 names owns at least one code
    for (r, f, m), got in zip(ALL_CODES.itertuples(index=False), seg):
        assert got == _by_hand_rfm11(r, f, m), (r, f, m)
    # the examples in the spec, one per segment, in table order
    examples = ["555", "333", "511", "411", "422", "311", "341", "155", "111", "233", "215"]
    code = [f"{r}{f}{m}" for r, f, m in ALL_CODES.itertuples(index=False)]
    lookup = dict(zip(code, seg))
    assert [lookup[c] for c in examples] == names


def test_all_125_codes_rfm11_chinese():
    zh = reference_segment(ALL_CODES, "rfm11", labels="zh")
    assert set(zh) == {
        "冠军客户", "忠诚客户", "新客户", "有潜力客户", "潜在忠诚客户", "即将沉睡客户",
        "需要关注客户", "不能失去的客户", "已流失客户", "有流失风险客户", "休眠客户",
    }
    en = reference_segment(ALL_CODES, "rfm11")
    mapping = {rule[0]: rule[1] for rule in RFM11_RULES}
    assert [mapping[e] for e in en] == list(zh)


def test_custom_rules_first_match_and_other():
    rules = [
        ("Top", (5, 5), (1, 5), (1, 5)),
        ("Also top", (5, 5), (5, 5), (5, 5)),  # shadowed by "Top"
        ("Frequent", (1, 5), (4, 5), (1, 5)),
    ]
    frame = pd.DataFrame({"r_score": [5, 5, 3, 1], "f_score": [5, 1, 4, 1], "m_score": [5, 1, 1, 1]})
    assert reference_segment(frame, rules).tolist() == ["Top", "Top", "Frequent", "Other"]
    out = reference_rfm(LOG, segments=rules)
    # codes 544, 225, 111, 442
    assert _col(out, "segment") == ["Top", "Other", "Other", "Frequent"]


def test_custom_rules_allow_other_bins():
    out = reference_rfm(LOG, bins=3, segments=[("High R", (3, 3), (1, 3), (1, 3))])
    # bins 3, n 4: rank 1 -> floor(0.375)+1 = 1; 2 -> floor(1.125)+1 = 2; 3 -> floor(1.875)+1 = 2;
    # 3.5 -> floor(2.25)+1 = 3; 4 -> floor(2.625)+1 = 3
    assert _col(out, "r_score") == [3, 2, 1, 2]
    assert _col(out, "f_score") == [3, 2, 1, 3]
    assert _col(out, "m_score") == [2, 3, 1, 2]
    assert _col(out, "segment") == ["High R", "Other", "Other", "Other"]


def test_code_joined_with_dash_when_bins_above_9():
    # 12 customers, one purchase each on the same day, amounts 1..12 -> M ranks 1..12
    df = pd.DataFrame(
        {
            "customer_id": range(12),
            "order_date": pd.Timestamp("2024-01-01"),
            "amount": np.arange(1.0, 13.0),
        }
    )
    out = reference_rfm(df, bins=10, segments=None)
    assert "segment" not in out.columns
    # R and F all tied (rank 6.5): floor(10 * 6 / 12) + 1 = 6
    # M rank k: floor(10 * (k - 0.5) / 12) + 1 -> 1,2,3,3,4,5,6,7,8,8,9,10
    assert _col(out, "m_score") == [1, 2, 3, 3, 4, 5, 6, 7, 8, 8, 9, 10]
    assert _col(out, "rfm_code")[0] == "6-6-1"
    assert _col(out, "rfm_code")[-1] == "6-6-10"


def test_bins_balanced_without_ties():
    # n distinct values: bin sizes differ by at most one
    for n in (1, 2, 7, 10, 11, 99, 100, 101):
        for bins in (1, 3, 5, 10):
            df = pd.DataFrame(
                {"customer_id": range(n), "order_date": pd.Timestamp("2024-01-01"),
                 "amount": np.arange(n, dtype=float) + 1.0}
            )
            m = reference_rfm(df, bins=bins, segments=None)["m_score"]
            assert m.is_monotonic_increasing
            assert m.min() >= 1 and m.max() <= bins
            counts = m.value_counts().reindex(range(1, bins + 1), fill_value=0)
            if n >= bins:
                assert counts.max() - counts.min() <= 1, (n, bins, counts.tolist())


def test_empty_input():
    df = LOG.iloc[:0]
    out = reference_rfm(df)
    assert len(out) == 0
    assert "segment" in out.columns
