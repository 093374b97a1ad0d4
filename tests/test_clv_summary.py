"""crm.summary and crm.calibration_holdout against the published CDNOW summary and a plain
pandas version of the lifetimes convention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import crm

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    raw = pd.read_csv(
        DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, names=["master_id", "customer_id", "date", "quantity", "amount"]
    )
    raw["order_date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    return raw


def test_weekly_summary_equals_the_published_cdnow_summary(cdnow):
    published = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv")
    ours = crm.summary(cdnow, observation_end="1997-09-30", time_unit="W")
    assert len(ours) == len(published) == 2357
    both = ours.merge(published, left_on="customer_id", right_on="ID", suffixes=("", "_published"))
    assert len(both) == 2357
    assert (both["frequency"] == both["x"]).all()
    # The published file prints two decimals.
    assert np.abs(both["recency"] - both["t_x"]).max() <= 0.005
    assert np.abs(both["T"] - both["T_published"]).max() <= 0.005
    assert np.abs(both["monetary_value"] - both["zbar"]).max() <= 0.005 + 1e-9


def reference_summary(log: pd.DataFrame, end: pd.Timestamp, unit_days: float) -> pd.DataFrame:
    """The lifetimes convention, written out: one row per customer-day of transactions (every
    row but refunds), with the day's amount."""
    rows = log[(log["amount"] >= 0) & (log["order_date"].dt.normalize() <= end)].copy()
    rows["day"] = rows["order_date"].dt.normalize()
    per_day = rows.groupby(["customer_id", "day"])["amount"].sum().reset_index()
    out = []
    for key, days in per_day.groupby("customer_id"):
        days = days.sort_values("day")
        first, last = days["day"].iloc[0], days["day"].iloc[-1]
        repeat = days.iloc[1:]
        out.append(
            {
                "customer_id": key,
                "frequency": len(repeat),
                "recency": (last - first).days / unit_days,
                "T": (end - first).days / unit_days,
                "monetary_value": repeat["amount"].mean() if len(repeat) else 0.0,
            }
        )
    return pd.DataFrame(out)


@pytest.mark.parametrize("unit, days", [("D", 1.0), ("W", 7.0), ("M", 365.25 / 12)])
def test_summary_matches_the_reference_on_a_synthetic_log(unit, days):
    log = crm.datasets.synthetic(500, seed=3)
    end = pd.Timestamp("2024-10-31")
    ours = crm.summary(log, time_unit=unit, observation_end=end)
    expected = reference_summary(log, end, days)
    pd.testing.assert_frame_equal(
        ours.reset_index(drop=True), expected, check_dtype=False, rtol=1e-12, atol=1e-9
    )


def test_calibration_holdout_on_cdnow(cdnow):
    out = crm.calibration_holdout(cdnow, calibration_end="1997-09-30", observation_end="1998-06-30")
    cal = crm.summary(cdnow, observation_end="1997-09-30")
    assert out["customer_id"].tolist() == cal["customer_id"].tolist()
    assert (out["frequency_cal"] == cal["frequency"]).all()
    assert (out["duration_holdout"] == 39.0).all()
    # Holdout purchase days, counted plainly.
    later = cdnow[(cdnow["order_date"] > "1997-09-30") & (cdnow["order_date"] <= "1998-06-30")]
    per_customer = later.groupby("customer_id")["order_date"].nunique()
    got = out.set_index("customer_id")["frequency_holdout"]
    assert (got.reindex(per_customer.index) == per_customer).all()
    assert got.sum() == per_customer.sum()


def test_same_kind_of_frame_back(cdnow):
    small = cdnow.head(300)
    assert isinstance(crm.summary(pl.from_pandas(small)), pl.DataFrame)
    assert isinstance(crm.summary(pa.Table.from_pandas(small)), pa.Table)


def test_bad_arguments():
    log = crm.datasets.synthetic(50, seed=1)
    with pytest.raises(ValueError, match="time_unit"):
        crm.summary(log, time_unit="Y")
    with pytest.raises(ValueError, match="observation_end must be after"):
        crm.calibration_holdout(log, calibration_end="2024-06-30", observation_end="2024-06-01")
    with pytest.raises(KeyError, match="order_day"):
        crm.summary(log, date="order_day")


def test_row_order_does_not_change_the_summaries(cdnow):
    shuffled = cdnow.sample(frac=1.0, random_state=7)
    for call in (
        lambda d: crm.summary(d, observation_end="1997-09-30"),
        lambda d: crm.calibration_holdout(d, calibration_end="1997-09-30", observation_end="1998-06-30"),
    ):
        pd.testing.assert_frame_equal(call(cdnow), call(shuffled))
