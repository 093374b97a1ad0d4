"""The seven retention functions against the plain pandas oracle (tests/reference_retention.py).

crm.repurchase, crm.interpurchase, crm.lifecycle, crm.churn_risk, crm.cohorts,
crm.acquisition and crm.activity, from every frame kind; docs/retention_definitions.md.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import crm
from reference_retention import (
    LIFECYCLE_STAGES,
    RISK_LEVELS,
    reference_acquisition,
    reference_activity,
    reference_churn_risk,
    reference_cohorts,
    reference_interpurchase,
    reference_lifecycle,
    reference_repurchase,
)
from test_reference_retention import LOG as HAND_LOG

REFERENCE = {
    "repurchase": reference_repurchase,
    "interpurchase": reference_interpurchase,
    "lifecycle": reference_lifecycle,
    "churn_risk": reference_churn_risk,
    "cohorts": reference_cohorts,
    "acquisition": reference_acquisition,
    "activity": reference_activity,
}
NAMES = list(REFERENCE)
TAKES_ORDER = {"repurchase", "churn_risk", "activity"}
TAKES_AS_OF = ["lifecycle", "churn_risk", "acquisition", "activity"]
PER_CUSTOMER = ["interpurchase", "lifecycle", "churn_risk", "activity"]
NOT_COMPARED = {"reason"}  # free English text; checked separately


def api(name):
    """The crm function (looked up at call time, so collection works before it exists)."""
    return getattr(crm, name)


# ----------------------------------------------------------------------------- comparing


def as_pandas(out) -> pd.DataFrame:
    if isinstance(out, pl.DataFrame):
        return out.to_pandas()
    if isinstance(out, pa.Table):
        return out.to_pandas(date_as_object=False)
    return out


def to_kind(df: pd.DataFrame, kind: str):
    if kind == "pandas":
        return df
    if kind == "polars":
        return pl.from_pandas(df)
    return pa.Table.from_pandas(df, preserve_index=False)


def _kind_of(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if isinstance(dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dtype):
        return "str"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    return "float"


def _values(series: pd.Series, kind: str) -> list:
    if kind == "date":
        s = pd.to_datetime(series)
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
        s = s.astype("datetime64[ns]")
        return [None if pd.isna(v) else pd.Timestamp(v) for v in s]
    if kind == "bool":
        return [None if pd.isna(v) else bool(v) for v in series]
    if kind == "str":
        return [None if pd.isna(v) else str(v) for v in series]
    return [None if pd.isna(v) else float(v) for v in series]


def _same(a, b, kind) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if kind == "float":
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def assert_matches(out, expected: pd.DataFrame) -> None:
    """Same columns in the same order, same rows; dates as days, categoricals as strings,
    nulls as missing, floats to rel 1e-9."""
    got = as_pandas(out).reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected), (len(got), len(expected))
    for col in expected.columns:
        if col in NOT_COMPARED:
            continue
        kind = _kind_of(expected[col])
        a, b = _values(got[col], kind), _values(expected[col], kind)
        for i, (x, y) in enumerate(zip(a, b)):
            if not _same(x, y, kind):
                raise AssertionError(
                    f"column {col!r}, row {i}: got {x!r}, expected {y!r}\n"
                    f"got row:\n{got.iloc[i].to_dict()}\nexpected row:\n{expected.iloc[i].to_dict()}"
                )


def check(name: str, df: pd.DataFrame, data=None, **options):
    """Run crm.<name> on `data` (default: df) and the reference on df; compare; return crm's output."""
    out = api(name)(df if data is None else data, **options)
    expected = REFERENCE[name](df, **options)
    assert_matches(out, expected)
    if name == "churn_risk":
        check_reasons(out, expected)
    return out


def check_reasons(out, expected) -> None:
    reasons = as_pandas(out)["reason"].tolist()
    no_purchase = expected["last_purchase"].isna().tolist()
    for reason, none in zip(reasons, no_purchase):
        assert isinstance(reason, str) and reason
        assert (reason == "no purchase") == none, reason


# ----------------------------------------------------------------------------- logs


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    df = crm.datasets.synthetic(400, seed=11)
    # plain strings for the `by` columns: the group order is then unambiguous
    # (categorical `by` columns are tested on their own below)
    return df.assign(channel=df["channel"].astype(str), region=df["region"].astype(str))


@pytest.fixture(scope="module")
def log_str_tz() -> pd.DataFrame:
    df = crm.datasets.synthetic(250, seed=5, key="str", tz="Asia/Shanghai")
    return df.assign(channel=df["channel"].astype(str), region=df["region"].astype(str))


BASE = ["customer_id", "order_date", "amount", "order_id"]


# ----------------------------------------------------------------------------- every frame kind


@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
@pytest.mark.parametrize("name", NAMES)
def test_same_kind_back_and_matches_reference(log, name, kind):
    df = log[BASE + ["channel", "quantity"]]
    out = check(name, df, to_kind(df, kind))
    expected_type = {"pandas": pd.DataFrame, "polars": pl.DataFrame, "pyarrow": pa.Table}[kind]
    assert isinstance(out, expected_type)


@pytest.mark.parametrize("name", NAMES)
def test_string_keys_and_tz_aware_dates(log_str_tz, name):
    options = {"order": "order_id"} if name in TAKES_ORDER else {}
    check(name, log_str_tz, **options)
    check(name, log_str_tz, pl.from_pandas(log_str_tz), **options)


@pytest.mark.parametrize("name", sorted(TAKES_ORDER))
def test_with_and_without_order(log, name):
    check(name, log)
    check(name, log, order="order_id")


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "options",
    [
        {"period": "W"},
        {"period": "M"},
        {"period": "Q"},
        {"period": "Y"},
        {"period": "W", "order": "order_id"},
        {"by": "channel"},
        {"by": "channel", "period": "M", "order": "order_id"},
        {"by": ["channel", "region"]},
        {"by": ["channel", "region"], "period": "Q", "order": "order_id"},
    ],
)
def test_repurchase_options(log, options):
    check("repurchase", log, **options)


def test_repurchase_by_from_polars_and_arrow(log):
    options = {"by": ["channel", "region"], "period": "M", "order": "order_id"}
    check("repurchase", log, pl.from_pandas(log), **options)
    check("repurchase", log, to_kind(log, "pyarrow"), **options)


def test_repurchase_categorical_by_columns_sort_by_value():
    # the synthetic channel categories are ["online", "store", "app"]: sorted groups are by value
    df = crm.datasets.synthetic(150, seed=3)
    assert list(df["channel"].cat.categories) != sorted(df["channel"].cat.categories)
    out = check("repurchase", df, by="channel", period="Q")
    assert as_pandas(out)["channel"].astype(str).drop_duplicates().tolist() == ["app", "online", "store"]


@pytest.mark.parametrize("output", ["customers", "distribution"])
def test_interpurchase_outputs(log, output):
    check("interpurchase", log, output=output)


@pytest.mark.parametrize(
    "options",
    [{"labels": "en"}, {"labels": "zh"}, {"thresholds": (30, 60, 120)}, {"as_of": "2025-06-30", "labels": "zh"},
     {"as_of": dt.date(2026, 1, 1), "thresholds": (100, 200, 400)}],
)
def test_lifecycle_options(log, options):
    out = as_pandas(check("lifecycle", log, **options))
    labels = LIFECYCLE_STAGES[options.get("labels", "en")]
    assert isinstance(out["stage"].dtype, pd.CategoricalDtype)
    assert list(out["stage"].cat.categories) == labels


@pytest.mark.parametrize(
    "options",
    [{}, {"order": "order_id"}, {"window": 30, "overdue_factor": 1.5}, {"window": 180, "overdue_factor": 3},
     {"as_of": "2025-03-01"}, {"as_of": pd.Timestamp("2025-01-15 10:00"), "order": "order_id", "window": 45}],
)
def test_churn_risk_options(log, options):
    out = as_pandas(check("churn_risk", log, **options))
    assert isinstance(out["risk"].dtype, pd.CategoricalDtype)
    assert list(out["risk"].cat.categories) == RISK_LEVELS


@pytest.mark.parametrize("metric", ["active_customers", "retention", "revenue", "cumulative_revenue_per_customer"])
@pytest.mark.parametrize("format", ["long", "wide"])
def test_cohorts_metrics_and_formats(log, metric, format):
    check("cohorts", log, metric=metric, format=format)


@pytest.mark.parametrize("period", ["W", "Q", "Y"])
def test_cohorts_periods(log, period):
    check("cohorts", log, period=period)
    check("cohorts", log, period=period, metric="revenue", format="wide")


@pytest.mark.parametrize(
    "options",
    [{}, {"period": "W"}, {"period": "Q"}, {"period": "Y"}, {"lapse_days": 30}, {"lapse_days": 0, "period": "W"},
     {"as_of": "2025-06-30"}, {"as_of": "2026-02-01", "period": "Q", "lapse_days": 365}],
)
def test_acquisition_options(log, options):
    check("acquisition", log, **options)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"order": "order_id"},
        {"extra": ["quantity"]},
        {"extra": ["quantity"], "weights": {"recency": 1.0, "frequency": 0.0, "monetary": 2.0, "quantity": 0.5}},
        {"weights": {"recency": 0.0}},
        {"half_life_days": 30.0, "as_of": "2025-02-01"},
        {"half_life_days": 7, "order": "order_id", "extra": ["quantity"]},
    ],
)
def test_activity_options(log, options):
    out = as_pandas(check("activity", log, **options))
    assert out["activity"].between(0, 100).all()


# ----------------------------------------------------------------------------- output types


def _types(table: pa.Table) -> dict:
    return {field.name: field.type for field in table.schema}


def _text(arrow_type) -> bool:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type)


def test_documented_arrow_types(log):
    table = to_kind(log, "pyarrow")
    rep = _types(api("repurchase")(table, period="M"))
    assert rep["period"] == pa.date32()
    assert all(rep[c] == pa.int64() for c in ["customers", "repeat_customers", "orders", "repeat_orders", "repeat_customer_orders"])
    assert all(rep[c] == pa.float64() for c in ["customer_rate", "order_rate", "intensity"])

    ip = _types(api("interpurchase")(table))
    assert ip["customer_id"] == pa.int64()
    assert all(ip[c] == pa.int32() for c in ["purchase_days", "gaps", "min_gap_days", "max_gap_days"])
    assert ip["mean_gap_days"] == ip["median_gap_days"] == pa.float64()
    dist = _types(api("interpurchase")(table, output="distribution"))
    assert dist == {"gap_days": pa.int32(), "gaps": pa.int64(), "share": pa.float64(), "cumulative_share": pa.float64()}

    life = _types(api("lifecycle")(table))
    assert life["first_purchase"] == life["last_purchase"] == pa.date32()
    assert life["tenure_days"] == life["days_since_last_purchase"] == pa.int32()
    assert pa.types.is_dictionary(life["stage"])

    churn = _types(api("churn_risk")(table))
    assert churn["last_purchase"] == pa.date32()
    assert churn["purchases_recent"] == churn["purchases_prior"] == pa.int32()
    assert churn["median_gap_days"] == churn["overdue_ratio"] == pa.float64()
    assert churn["declining"] == churn["overdue"] == pa.bool_()
    assert pa.types.is_dictionary(churn["risk"])
    assert _text(churn["rhythm"]) and _text(churn["reason"])  # type not specified: plain or dictionary strings

    coh = _types(api("cohorts")(table))
    assert coh["cohort"] == pa.date32() and coh["cohort_size"] == pa.int64() and coh["period_number"] == pa.int32()
    assert coh["retention"] == pa.float64()

    acq = _types(api("acquisition")(table))
    assert acq["period"] == pa.date32()
    assert all(acq[c] == pa.int64() for c in ["start_customers", "new", "reactivated", "lost", "retained", "end_customers", "active"])
    assert all(acq[c] == pa.float64() for c in ["cr_index", "churn_rate", "retention_rate"])

    act = _types(api("activity")(table, extra=["quantity"]))
    assert all(act[c] == pa.float64() for c in ["recency_indicator", "frequency_indicator", "monetary_indicator",
                                                "quantity_indicator", "activity"])


@pytest.mark.parametrize("name", PER_CUSTOMER)
def test_key_keeps_its_type(name):
    df = pd.DataFrame({
        "customer_id": np.array([30, 1, 30, 2], dtype="int16"),
        "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01", "2024-02-03"]),
        "amount": [10.0, 5.0, 7.5, -2.0],
    })
    out = check(name, df)
    assert out["customer_id"].dtype == np.dtype("int16")
    cat = df.assign(customer_id=df["customer_id"].map({30: "z", 1: "a", 2: "m"}).astype("category"))
    out = check(name, cat)
    assert isinstance(out["customer_id"].dtype, pd.CategoricalDtype)


def test_date32_and_integer_amount_input():
    table = pa.table({
        "customer_id": [1, 1, 2, 2, 3],
        "order_date": pa.array([dt.date(2024, 1, 1), dt.date(2024, 3, 5), dt.date(2024, 1, 20), dt.date(2024, 1, 21),
                                dt.date(2024, 4, 2)], pa.date32()),
        "amount": pa.array([10, 20, 5, -5, 7], pa.int64()),
    })
    df = table.to_pandas()  # dates as datetime.date objects
    for name in NAMES:
        check(name, df, table)


# ----------------------------------------------------------------------------- edge cases


def _all_seven(df: pd.DataFrame, data=None) -> dict:
    outs = {}
    for name in NAMES:
        outs[name] = as_pandas(check(name, df, data))
    outs["repurchase_M"] = as_pandas(check("repurchase", df, data, period="M"))
    outs["distribution"] = as_pandas(check("interpurchase", df, data, output="distribution"))
    outs["cohorts_wide"] = as_pandas(check("cohorts", df, data, metric="revenue", format="wide"))
    return outs


def test_the_hand_computed_log():
    # the log of tests/test_reference_retention.py: a month without rows, a refund before the
    # first purchase, an order with lines on two days, a customer with only refunds
    _all_seven(HAND_LOG)
    _all_seven(HAND_LOG, pl.from_pandas(HAND_LOG))
    for name in TAKES_ORDER:
        check(name, HAND_LOG, order="order_id")
    check("repurchase", HAND_LOG, by="channel", period="M", order="order_id")
    check("churn_risk", HAND_LOG, window=40, overdue_factor=1.0)
    check("acquisition", HAND_LOG, lapse_days=30)
    check("activity", HAND_LOG, extra=["quantity"], half_life_days=30)


def test_one_customer_one_purchase():
    one = pd.DataFrame({"customer_id": [9], "order_date": pd.to_datetime(["2024-05-05 13:00"]), "amount": [12.0]})
    outs = _all_seven(one)
    assert len(outs["distribution"]) == 0
    assert outs["lifecycle"]["stage"].astype(str).tolist() == ["honeymoon"]
    assert outs["activity"]["activity"].tolist() == [100.0]


def test_everything_on_one_day():
    same = pd.DataFrame({"customer_id": [1, 2, 2, 3, 4], "order_id": [1, 2, 3, 4, 5],
                         "order_date": pd.to_datetime(["2024-05-05 01:00", "2024-05-05 09:00", "2024-05-05 10:00",
                                                       "2024-05-05 12:00", "2024-05-05 23:59"]),
                         "amount": [1.0, 2.0, 3.0, -1.0, 0.0]})
    outs = _all_seven(same)
    assert len(outs["acquisition"]) == 1 and len(outs["cohorts"]) == 1
    assert outs["interpurchase"]["gaps"].tolist() == [0, 0, 0, 0]
    check("churn_risk", same, order="order_id")


def test_a_month_without_orders():
    df = crm.datasets.synthetic(120, seed=8, start="2024-01-01", end="2024-06-30")
    gap = df[df["order_date"].dt.month != 3].reset_index(drop=True)  # nothing at all in March
    outs = _all_seven(gap)
    march = pd.Timestamp("2024-03-01")
    rep = outs["repurchase_M"]
    row = rep[pd.to_datetime(rep["period"]) == march]
    assert len(row) == 1 and row["customers"].tolist() == [0] and row["customer_rate"].isna().all()
    acq = outs["acquisition"]
    assert (pd.to_datetime(acq["period"]) == march).sum() == 1
    coh = as_pandas(api("cohorts")(gap, metric="active_customers"))
    march_cohort = coh[pd.to_datetime(coh["cohort"]) == march]
    assert len(march_cohort) == 4 and (march_cohort["cohort_size"] == 0).all()  # k = 0 .. 3 (Mar .. Jun)
    for period in ("W", "Q"):
        check("repurchase", gap, period=period, order="order_id")
        check("cohorts", gap, period=period, metric="cumulative_revenue_per_customer")
        check("acquisition", gap, period=period, lapse_days=20)


def test_refund_only_customers_and_refunds_before_the_first_purchase():
    df = crm.datasets.synthetic(60, seed=4, start="2024-01-01", end="2024-04-30")
    extra = pd.DataFrame({
        "customer_id": [1000, 1000, 1001, 1, 2],
        "order_id": [90001, 90002, 90003, 90004, 90005],
        # 1000 and 1001: refunds only (1001's is the first day of the data, in December);
        # customer 1 gets a refund before its first purchase (in an earlier month), customer 2
        # one at the very start of the window
        "order_date": pd.to_datetime(["2024-02-10 00:00:00", "2024-03-11 00:00:00", "2023-12-30 00:00:00",
                                      "2023-12-31 00:00:00", "2024-01-01 00:00:01"]),
        "amount": [-20.0, -5.5, -1.0, -3.0, -4.0],
        "channel": "store", "region": "North", "quantity": 1,
    })
    both = pd.concat([df.assign(channel=df["channel"].astype(str), region=df["region"].astype(str)), extra],
                     ignore_index=True)
    both = both.sample(frac=1.0, random_state=1).reset_index(drop=True)
    both["customer_id"] = both["customer_id"].astype("int64")
    outs = _all_seven(both)
    churn = outs["churn_risk"].set_index("customer_id")
    assert churn.loc[1000, "reason"] == "no purchase" and pd.isna(churn.loc[1000, "risk"])
    life = outs["lifecycle"].set_index("customer_id")
    assert pd.isna(life.loc[1001, "stage"]) and pd.isna(life.loc[1001, "tenure_days"])
    act = outs["activity"].set_index("customer_id")
    assert act.loc[1000, "recency_indicator"] == 0.0 and act.loc[1000, "purchases"] == 0
    # December 2023 holds only refunds: a period (and an empty cohort) all the same
    assert pd.to_datetime(outs["repurchase_M"]["period"]).min() == pd.Timestamp("2023-12-01")
    assert outs["cohorts_wide"]["cohort_size"].iloc[0] == 0
    for name in TAKES_ORDER:
        check(name, both, order="order_id")


def test_an_order_with_lines_on_two_days():
    df = pd.DataFrame({
        "customer_id": [1, 1, 1, 2, 2],
        "order_id": [7, 7, 8, 9, 9],
        "order_date": pd.to_datetime(["2024-01-31 23:00", "2024-02-01 01:00", "2024-02-15 12:00", "2024-02-01 12:00",
                                      "2024-02-03 12:00"]),
        "amount": [10.0, 5.0, 7.0, 3.0, 4.0],
        "channel": ["web", "store", "web", "store", "web"],
    })
    for options in [{}, {"period": "M"}, {"period": "W"}, {"by": "channel", "period": "M"}]:
        check("repurchase", df, **options, order="order_id")
        check("repurchase", df, **options)
    check("churn_risk", df, order="order_id", window=14)
    check("activity", df, order="order_id")


@pytest.mark.parametrize("name", TAKES_AS_OF)
def test_as_of_before_the_last_day_is_an_error(name):
    # the last purchase is on 03-20, the last row (a zero amount) on 03-25
    with pytest.raises(crm.errors.InvalidArgumentError):
        api(name)(HAND_LOG, as_of="2024-03-19")
    with pytest.raises(ValueError):
        api(name)(HAND_LOG, as_of="2024-03-24")
    check(name, HAND_LOG, as_of="2024-03-25")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["pandas", "polars", "pyarrow"])
def test_empty_input_gives_the_documented_columns(name, kind):
    empty = HAND_LOG.iloc[:0]
    out = api(name)(to_kind(empty, kind))
    expected = REFERENCE[name](empty)
    got = as_pandas(out)
    assert len(got) == 0
    assert list(got.columns) == list(expected.columns)


@pytest.mark.parametrize(
    "name, options",
    [
        ("repurchase", {"period": "M", "by": ["channel"]}),
        ("interpurchase", {"output": "distribution"}),
        ("cohorts", {"format": "wide"}),
        ("cohorts", {"metric": "revenue"}),
        ("activity", {"extra": ["quantity"]}),
    ],
)
def test_empty_input_with_options(name, options):
    empty = HAND_LOG.iloc[:0]
    got = as_pandas(api(name)(empty, **options))
    assert len(got) == 0
    assert list(got.columns) == list(REFERENCE[name](empty, **options).columns)


# ----------------------------------------------------------------------------- bad input


def good() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [1, 2, 2, 3],
        "order_date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-07"]),
        "amount": [10.0, 20.0, 5.0, 7.0],
        "channel": ["a", "b", "a", "b"],
    })


@pytest.mark.parametrize("name", NAMES)
def test_missing_column_is_a_key_error_naming_it(name):
    with pytest.raises(KeyError) as info:
        api(name)(good(), customer="client")
    assert isinstance(info.value, crm.ColumnNotFoundError)
    assert "'client'" in str(info.value)
    with pytest.raises(KeyError, match="'paid'"):
        api(name)(pl.from_pandas(good()), amount="paid")


def test_missing_by_order_and_extra_columns():
    with pytest.raises(KeyError, match="'segment'"):
        api("repurchase")(good(), by="segment")
    with pytest.raises(KeyError, match="'order_id'"):
        api("churn_risk")(good(), order="order_id")
    with pytest.raises(KeyError, match="'visits'"):
        api("activity")(good(), extra=["visits"])


@pytest.mark.parametrize("name", NAMES)
def test_string_amounts_are_a_type_error(name):
    with pytest.raises(TypeError) as info:
        api(name)(good().assign(amount=["1", "2", "3", "4"]))
    assert isinstance(info.value, crm.ColumnTypeError)
    assert "amount" in str(info.value)


def test_non_numeric_extra_column_is_a_type_error():
    with pytest.raises(TypeError, match="channel"):
        api("activity")(good(), extra=["channel"])


@pytest.mark.parametrize("name", NAMES)
def test_null_dates_raise_or_drop_with_a_warning(name):
    df = good().assign(order_date=pd.to_datetime(["2024-01-01", None, "2024-01-05", "2024-01-07"]))
    with pytest.raises(ValueError) as info:
        api(name)(df)
    assert isinstance(info.value, crm.InvalidDataError)
    assert "order_date" in str(info.value)
    with pytest.warns(UserWarning):
        out = api(name)(df, on_invalid="drop")
    assert_matches(out, REFERENCE[name](df.dropna().reset_index(drop=True)))


@pytest.mark.parametrize("name", ["lifecycle", "cohorts"])
def test_nan_amounts_and_null_keys(name):
    with pytest.raises(crm.InvalidDataError, match="amount"):
        api(name)(good().assign(amount=[1.0, np.nan, 2.0, np.inf]))
    keys = good().assign(customer_id=pd.array([1, None, 2, 2], dtype="Int64"))
    with pytest.raises(crm.InvalidDataError, match="customer_id"):
        api(name)(keys)
    with pytest.warns(UserWarning):
        out = api(name)(keys, on_invalid="drop")
    clean = keys.dropna().reset_index(drop=True).assign(customer_id=lambda d: d["customer_id"].astype("int64"))
    assert_matches(out, REFERENCE[name](clean))


def test_null_by_values_are_invalid():
    df = good().assign(channel=["a", None, "a", "b"])
    with pytest.raises(crm.InvalidDataError, match="channel"):
        api("repurchase")(df, by="channel")
    with pytest.warns(UserWarning):
        out = api("repurchase")(df, by="channel", on_invalid="drop")
    assert_matches(out, reference_repurchase(df.dropna().reset_index(drop=True), by="channel"))


def test_bad_arguments_are_value_errors():
    df = good()
    cases = [
        ("repurchase", {"period": "X"}),
        ("repurchase", {"on_invalid": "ignore"}),
        ("cohorts", {"period": "X"}),
        ("cohorts", {"metric": "foo"}),
        ("cohorts", {"format": "tall"}),
        ("acquisition", {"period": "X"}),
        ("acquisition", {"lapse_days": -1}),
        ("interpurchase", {"output": "foo"}),
        ("lifecycle", {"thresholds": (90, 90, 365)}),
        ("lifecycle", {"thresholds": (180, 90, 365)}),
        ("lifecycle", {"thresholds": (0, 90, 180)}),
        ("lifecycle", {"labels": "fr"}),
        ("churn_risk", {"window": -1}),
        ("activity", {"weights": {"recency": 0, "frequency": 0, "monetary": 0}}),
        ("activity", {"weights": {"recency": -1.0}}),
        ("activity", {"half_life_days": 0}),
        ("lifecycle", {"as_of": "not a date"}),
    ]
    for name, kwargs in cases:
        with pytest.raises(ValueError):
            api(name)(df, **kwargs)
        if "on_invalid" not in kwargs:
            with pytest.raises(ValueError):  # the reference agrees
                REFERENCE[name](df, **kwargs)
