"""crm.tickets, crm.contacts and crm.satisfaction against the plain pandas oracle
(tests/reference_service.py), on the synthetic service logs and on small hand-made cases;
bad input; every frame kind; the service datasets.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import crm
from reference_service import (
    reference_contacts,
    reference_members,
    reference_profile,
    reference_tickets,
)

N = 1_500


@pytest.fixture(scope="module")
def ticket_log() -> pd.DataFrame:
    return crm.datasets.tickets(N, seed=3)


@pytest.fixture(scope="module")
def contact_log() -> pd.DataFrame:
    return crm.datasets.contacts(N, seed=3)


@pytest.fixture(scope="module")
def survey_log() -> pd.DataFrame:
    return crm.datasets.surveys(N, seed=3)


def as_pandas(out) -> pd.DataFrame:
    if isinstance(out, pl.DataFrame):
        return out.to_pandas()
    if isinstance(out, pa.Table):
        return out.to_pandas(date_as_object=False)
    return out


def normalised(df: pd.DataFrame) -> pd.DataFrame:
    """Comparable columns: categoricals as strings, integers as int64 (or float when null),
    datetimes in ns."""
    out = as_pandas(df).reset_index(drop=True).copy()
    for c in out.columns:
        col = out[c]
        if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col):
            out[c] = col.astype(object).where(col.notna(), None).map(lambda v: v if v is None else str(v))
        elif pd.api.types.is_datetime64_any_dtype(col):
            out[c] = col.astype(col.dtype.__class__("ns", col.dt.tz) if col.dt.tz else "datetime64[ns]")
        elif pd.api.types.is_integer_dtype(col) or pd.api.types.is_float_dtype(col):
            out[c] = col.astype("float64") if col.isna().any() or pd.api.types.is_float_dtype(col) else col.astype("int64")
    return out


def assert_same(got, expected) -> None:
    got, expected = normalised(got), normalised(expected)
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    if len(expected) == 0:  # the reference's empty frames have no dtypes to compare
        return
    for c in got.columns:
        if pd.api.types.is_float_dtype(got[c]) or pd.api.types.is_float_dtype(expected[c]):
            np.testing.assert_allclose(got[c].astype(float), expected[c].astype(float), rtol=1e-9, atol=1e-9,
                                       err_msg=c)
        else:
            pd.testing.assert_series_equal(got[c], expected[c], check_names=False, obj=c)


# ------------------------------------------------------------------------------- tickets

TICKET_CASES = [
    {},
    {"by": ()},
    {"by": "region", "period": "M"},
    {"by": ("product",), "period": "W"},
    {"by": ("representative",), "as_of": "2024-06-30"},
    {"by": (), "as_of": "2024-12-30", "output": "open"},
    {"output": "open"},
]


@pytest.mark.parametrize("case", TICKET_CASES, ids=str)
def test_tickets_match_the_reference_on_the_synthetic_log(ticket_log, case):
    assert_same(crm.tickets(ticket_log, **case), reference_tickets(ticket_log, **case))


def hand_tickets(tz=None) -> pd.DataFrame:
    times = lambda values: pd.Series(pd.to_datetime(values)).dt.tz_localize(tz) if tz else pd.to_datetime(values)  # noqa: E731
    return pd.DataFrame({
        "ticket_id": [10, 11, 12, 13, 14, 15],
        "type": ["complaint", "complaint", "complaint", "opinion", "consultation", "consultation"],
        "region": ["N", "N", "S", "N", "S", "S"],
        "opened_at": times(["2024-03-09 22:00", "2024-03-10 00:30", "2024-03-01 08:00", "2024-03-12 09:00",
                            "2024-03-12 09:00", "2024-03-13 23:30"]),
        "closed_at": times(["2024-03-10 05:00", None, "2024-03-11 08:00", None, "2024-03-12 10:30", None]),
    })


def test_tickets_hand_made_open_tickets_and_groups_without_resolutions():
    log = hand_tickets()
    out = crm.tickets(log, by="region")
    assert_same(out, reference_tickets(log, by="region"))
    opinion = out[out["type"] == "opinion"].iloc[0]
    assert (opinion["tickets"], opinion["resolved"], opinion["open"]) == (1, 0, 1)
    assert math.isnan(opinion["median_hours_to_resolve"]) and opinion["oldest_open_days"] == 1
    complaint_n = out[(out["type"] == "complaint") & (out["region"] == "N")].iloc[0]
    assert complaint_n["median_hours_to_resolve"] == 7.0 and complaint_n["oldest_open_days"] == 3
    opened = crm.tickets(log, by=(), output="open")
    assert opened["ticket_id"].tolist() == [11, 13, 15]
    assert opened["open_days"].tolist() == [3, 1, 0]


def test_tickets_tz_aware_hours_are_elapsed_time_and_days_local():
    # New York springs forward at 2024-03-10 02:00: 22:00 -> 05:00 is 6 hours, not 7.
    log = hand_tickets("America/New_York")
    out = crm.tickets(log, by="region", period="W")
    assert_same(out, reference_tickets(log, by="region", period="W"))
    complaint_n = out[(out["type"] == "complaint") & (out["region"] == "N")]
    assert complaint_n["median_hours_to_resolve"].tolist() == [6.0]  # the week of Mar 4 (opened Mar 9 local)
    shanghai = hand_tickets("Asia/Shanghai")
    assert_same(crm.tickets(shanghai, by=(), output="open"), reference_tickets(shanghai, by=(), output="open"))


def test_tickets_empty_log_gives_empty_frames():
    log = hand_tickets().iloc[:0]
    assert len(crm.tickets(log, by="region")) == 0
    assert list(crm.tickets(log, by=(), output="open").columns) == ["ticket_id", "type", "opened_at", "open_days"]


def test_empty_contact_and_survey_logs_give_empty_frames_with_their_columns(contact_log, survey_log):
    contacts, scores = contact_log.iloc[:0], survey_log.iloc[:0]
    assert list(crm.contacts(contacts).columns) == ["department", "product", "period", "contacts", "customers"]
    assert len(crm.contacts(contacts, output="fatigue")) == 0
    assert list(crm.satisfaction(scores).columns) == ["product", "region", "customer_id", "score", "side", "rank"]
    profile = crm.satisfaction(scores, customers=pd.DataFrame({"customer_id": [1], "m": [1.0]}), output="profile")
    assert len(profile) == 0 and "mean_m" in profile.columns


def test_tickets_before_the_first_opening_as_of_leaves_nothing():
    assert len(crm.tickets(hand_tickets(), by=(), as_of="2024-01-01")) == 0


# ------------------------------------------------------------------------------ contacts

CONTACT_CASES = [
    {},
    {"product": None},
    {"product": None, "period": "M"},
    {"output": "fatigue"},
    {"output": "fatigue", "fatigue_departments": 3, "period": "M"},
]


@pytest.mark.parametrize("case", CONTACT_CASES, ids=str)
def test_contacts_match_the_reference_on_the_synthetic_log(contact_log, case):
    log = contact_log if case.get("product", "product") is None or case.get("output") else contact_log.iloc[:3000]
    assert_same(crm.contacts(log, **case), reference_contacts(log, **case))


def hand_contacts(tz=None) -> pd.DataFrame:
    times = pd.to_datetime(["2024-03-04 09:00", "2024-03-10 23:30", "2024-03-06 10:00", "2024-03-27 12:00",
                            "2024-03-05 16:00"])
    return pd.DataFrame({
        "customer_id": ["a", "a", "b", "a", "a"],
        "department": ["sales", "finance", "sales", "service", "sales"],
        "product": ["Tea", "Tea", "Mug", "Tea", "Tea"],
        "contacted_at": times.tz_localize(tz) if tz else times,
    })


def test_contacts_periods_without_contacts_are_zero_rows():
    log = hand_contacts()
    out = crm.contacts(log, product=None)
    assert_same(out, reference_contacts(log, product=None))
    sales = out[out["department"] == "sales"]
    assert sales["contacts"].tolist() == [3, 0, 0, 0] and sales["customers"].tolist() == [2, 0, 0, 0]


def test_contacts_fatigue_hand_made_and_tz_aware_local_weeks():
    log = hand_contacts()
    tired = crm.contacts(log, output="fatigue")
    assert tired.to_dict("records") == [{"customer_id": "a", "period": pd.Timestamp("2024-03-04"), "departments": 2,
                                         "contacts": 3, "department_names": "finance, sales"}]
    # 2024-03-10 23:30 in Tokyo is still Sunday in the week of Mar 4; in UTC terms it is Sunday 14:30.
    tokyo = hand_contacts("Asia/Tokyo")
    assert_same(crm.contacts(tokyo, output="fatigue"), reference_contacts(tokyo, output="fatigue"))
    assert len(crm.contacts(log, output="fatigue", fatigue_departments=3)) == 0


# -------------------------------------------------------------------------- satisfaction

SATISFACTION_CASES = [
    {},
    {"by": ()},
    {"by": "region", "share": 0.1},
    {"by": ("product",), "share": 0.5, "higher_is_better": False},
]


@pytest.mark.parametrize("case", SATISFACTION_CASES, ids=str)
def test_satisfaction_members_match_the_reference(survey_log, case):
    assert_same(crm.satisfaction(survey_log, **case), reference_members(survey_log, **case))


def test_satisfaction_profile_with_rfm_matches_the_reference(survey_log):
    # Customers of the survey log beyond 1200 have no RFM row: counted as missing.
    rfm = crm.rfm(crm.datasets.synthetic(1_200, seed=3)).drop(columns=["first_purchase", "last_purchase"])
    got = crm.satisfaction(survey_log, by="region", customers=rfm, output="profile")
    expected = reference_profile(survey_log, rfm, by="region")
    assert_same(got, expected)
    assert got["missing_profile"].sum() > 0
    assert {"mean_recency", "mean_monetary", "segment_mode", "rfm_code_mode_share"} <= set(got.columns)
    with_dates = crm.satisfaction(survey_log, by="region", customers=crm.rfm(crm.datasets.synthetic(1_200, seed=3)),
                                  output="profile")
    assert list(with_dates.columns) == list(got.columns)  # date columns are left out


def test_satisfaction_ties_at_the_cut_are_all_in():
    # 10 customers, k = 2: one at 9, three tied at 8 (one strictly better than each) -> top has 4.
    scores = pd.DataFrame({"customer_id": range(10), "score": [9, 8, 8, 8, 5, 5, 5, 4, 3, 3]})
    out = crm.satisfaction(scores, by=())
    assert_same(out, reference_members(scores, by=()))
    top = out[out["side"] == "top"]
    assert top["customer_id"].tolist() == [0, 1, 2, 3] and top["rank"].tolist() == [1, 2, 2, 2]
    bottom = out[out["side"] == "bottom"]
    assert bottom["customer_id"].tolist() == [8, 9] and bottom["rank"].tolist() == [1, 1]


@pytest.mark.parametrize("as_string", [False, True])
def test_satisfaction_members_keep_their_keys_when_every_customer_is_a_member(as_string):
    # As many members as customers, not in key order: each row keeps its own customer.
    scores = pd.DataFrame({"customer_id": [1, 2, 3, 4], "score": [1.0, 9.0, 5.0, 7.0]})
    if as_string:
        scores = scores.assign(customer_id=list("abcd"))
    out = crm.satisfaction(scores, by=(), share=0.5)
    by_key = dict(zip(scores.customer_id, scores.score))
    assert [by_key[k] for k in out.customer_id] == out.score.tolist() == [9.0, 7.0, 1.0, 5.0]


def test_satisfaction_group_of_one_all_ties_and_mean_per_customer():
    scores = pd.DataFrame({"customer_id": [1, 2, 3, 2, 4, 4, 5],
                           "region": ["solo", "pair", "pair", "pair", "tied", "tied", "tied"],
                           "score": [7, 10, 4, 6, 5, 5, 5]})
    out = crm.satisfaction(scores, by="region", share=0.5)
    assert_same(out, reference_members(scores, by="region", share=0.5))
    solo = out[out["region"] == "solo"]
    assert solo["side"].tolist() == ["top", "bottom"] and solo["rank"].tolist() == [1, 1]
    pair = out[out["region"] == "pair"]
    assert pair["customer_id"].tolist() == [2, 3] and pair["score"].tolist() == [8.0, 4.0]
    tied = out[out["region"] == "tied"]  # everyone ties: all on both sides, rank 1
    assert tied["customer_id"].tolist() == [4, 5, 4, 5] and tied["rank"].tolist() == [1, 1, 1, 1]


def test_satisfaction_profile_string_keys_and_missing_customers():
    scores = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "score": [9.0, 8.0, 2.0, 1.0]})
    customers = pl.DataFrame({"customer_id": ["a", "c", "x"], "monetary": [100.0, 10.0, 5.0],
                              "vip": [True, False, True], "tier": ["gold", None, "gold"]})
    out = crm.satisfaction(scores, by=(), share=0.5, customers=customers, output="profile")
    assert out["side"].tolist() == ["top", "bottom"]
    assert out["customers"].tolist() == [2, 2] and out["missing_profile"].tolist() == [1, 1]
    assert out["mean_score"].tolist() == [8.5, 1.5]
    assert out["mean_monetary"].tolist() == [100.0, 10.0] and out["mean_vip"].tolist() == [1.0, 0.0]
    assert out["tier_mode"].iloc[0] == "gold" and out["tier_mode_share"].iloc[0] == 1.0
    assert out["tier_mode"].isna().tolist() == [False, True]
    assert math.isnan(out["tier_mode_share"].iloc[1])


# ------------------------------------------------------------------------------ bad input


def test_missing_columns_are_named_with_the_columns_present(ticket_log, contact_log, survey_log):
    with pytest.raises(crm.ColumnNotFoundError, match="'kind'.*'ticket_id'"):
        crm.tickets(ticket_log, kind="kind")
    with pytest.raises(crm.ColumnNotFoundError, match="'team'"):
        crm.contacts(contact_log, department="team")
    with pytest.raises(crm.ColumnNotFoundError, match="'rating'"):
        crm.satisfaction(survey_log, score="rating")
    with pytest.raises(crm.ColumnNotFoundError, match="'customer_id'"):
        crm.satisfaction(survey_log, customers=pd.DataFrame({"id": [1]}), output="profile")


def test_wrong_types_are_column_type_errors():
    log = hand_tickets()
    with pytest.raises(crm.ColumnTypeError, match="'opened_at'.*string"):
        crm.tickets(log.assign(opened_at=log["opened_at"].astype(str)), by=())
    with pytest.raises(crm.ColumnTypeError, match="'score'"):
        crm.satisfaction(pd.DataFrame({"customer_id": [1], "score": ["good"]}), by=())
    with pytest.raises(crm.ColumnTypeError, match="'contacted_at'"):
        crm.contacts(hand_contacts().assign(contacted_at="2024-01-01"))
    with pytest.raises(crm.ColumnTypeError, match="'customer_id'"):
        crm.satisfaction(pd.DataFrame({"customer_id": [1], "score": [3]}), by=(),
                         customers=pd.DataFrame({"customer_id": ["1"], "m": [1.0]}), output="profile")


def test_nulls_are_invalid_data_with_count_and_first_row():
    log = hand_tickets()
    log.loc[[2, 4], "type"] = None
    with pytest.raises(crm.InvalidDataError, match=r"'type' has 2 null.*first at row 2"):
        crm.tickets(log, by=())
    nan_score = pa.table({"customer_id": [1, 2, 3], "score": [3.0, 4.0, np.nan]})  # a NaN, not a null
    with pytest.raises(crm.InvalidDataError, match=r"'score' has 1 NaN or infinite value\(s\) \(first at row 2\)"):
        crm.satisfaction(nan_score, by=())
    no_date = hand_contacts()
    no_date.loc[3, "contacted_at"] = pd.NaT
    with pytest.raises(crm.InvalidDataError, match=r"'contacted_at' has 1 null.*row 3"):
        crm.contacts(no_date)


def test_on_invalid_drop_drops_and_warns_with_the_count():
    log = hand_tickets()
    log.loc[[2, 4], "type"] = None
    with pytest.warns(UserWarning, match="dropped 2 row"):
        out = crm.tickets(log, by=(), on_invalid="drop")
    assert_same(out, reference_tickets(log.dropna(subset=["type"]), by=()))
    with pytest.warns(UserWarning, match="dropped 1 row"):
        out = crm.satisfaction(pa.table({"customer_id": [1, 2, 3], "score": [3.0, 4.0, np.nan]}), by=(),
                               on_invalid="drop")
    assert out["customer_id"].to_pylist() == [2, 1]
    no_date = hand_contacts()
    no_date.loc[3, "contacted_at"] = pd.NaT
    with pytest.warns(UserWarning, match="dropped 1 row"):
        assert crm.contacts(no_date, output="fatigue", on_invalid="drop")["contacts"].tolist() == [3]


def test_closed_before_opened_names_the_row():
    log = hand_tickets()
    log.loc[4, "closed_at"] = pd.Timestamp("2024-03-12 08:59")
    with pytest.raises(crm.InvalidDataError, match=r"'closed_at' is before 'opened_at' in 1 row\(s\) \(first at row 4\)"):
        crm.tickets(log, by=())


def test_duplicate_customers_in_the_profile_table_are_invalid():
    scores = pd.DataFrame({"customer_id": [1, 2], "score": [3, 4]})
    twice = pd.DataFrame({"customer_id": [2, 2], "m": [1.0, 2.0]})
    with pytest.raises(crm.InvalidDataError, match="more than one row for customer_id 2"):
        crm.satisfaction(scores, by=(), customers=twice, output="profile")


@pytest.mark.parametrize("share", [0.0, -0.1, 0.51, 1.0, float("nan")])
def test_share_outside_zero_to_half_is_an_invalid_argument(share):
    with pytest.raises(crm.InvalidArgumentError, match="share must be in"):
        crm.satisfaction(pd.DataFrame({"customer_id": [1], "score": [3]}), by=(), share=share)


def test_bad_parameters_are_invalid_arguments():
    with pytest.raises(crm.InvalidArgumentError, match="output"):
        crm.tickets(hand_tickets(), by=(), output="all")
    with pytest.raises(crm.InvalidArgumentError, match="period"):
        crm.tickets(hand_tickets(), by=(), period="D")
    with pytest.raises(crm.InvalidArgumentError, match="fatigue_departments"):
        crm.contacts(hand_contacts(), fatigue_departments=0)
    with pytest.raises(crm.InvalidArgumentError, match="output"):
        crm.contacts(hand_contacts(), output="members")
    with pytest.raises(crm.InvalidArgumentError, match="output"):
        crm.satisfaction(pd.DataFrame({"customer_id": [1], "score": [3]}), by=(), output="top")
    with pytest.raises(crm.InvalidArgumentError, match="kind column 'type'"):
        crm.tickets(hand_tickets(), by=("region", "type"))
    with pytest.raises(crm.InvalidArgumentError, match="as_of"):
        crm.tickets(hand_tickets(), by=(), as_of="soon")


# ------------------------------------------------------------------------- frame kinds


@pytest.mark.parametrize("kind", ["polars", "pyarrow"])
def test_every_frame_kind_in_gives_the_same_kind_out(ticket_log, contact_log, survey_log, kind):
    convert = {"polars": pl.from_pandas, "pyarrow": lambda df: pa.Table.from_pandas(df, preserve_index=False)}[kind]
    expected_type = {"polars": pl.DataFrame, "pyarrow": pa.Table}[kind]
    calls = [
        (crm.tickets, ticket_log, {"period": "Q"}),
        (crm.tickets, ticket_log, {"output": "open"}),
        (crm.contacts, contact_log, {}),
        (crm.contacts, contact_log, {"output": "fatigue"}),
        (crm.satisfaction, survey_log, {}),
    ]
    for function, log, kwargs in calls:
        out = function(convert(log), **kwargs)
        assert isinstance(out, expected_type)
        assert_same(out, function(log, **kwargs))
    rfm = crm.rfm(crm.datasets.synthetic(300, seed=3))
    out = crm.satisfaction(convert(survey_log), customers=convert(rfm), output="profile")
    assert isinstance(out, expected_type)
    assert_same(out, crm.satisfaction(survey_log, customers=rfm, output="profile"))


def test_a_dict_of_numpy_arrays_is_accepted():
    scores = {"customer_id": np.array([1, 2, 3]), "score": np.array([1.0, 5.0, 9.0])}
    out = crm.satisfaction(scores, by=())
    assert isinstance(out, dict) and out["customer_id"].tolist() == [3, 1]


# ------------------------------------------------------------------------------ datasets


def test_service_datasets_are_deterministic_and_differ_by_seed():
    for make in (crm.datasets.tickets, crm.datasets.contacts, crm.datasets.surveys):
        a, b = make(400, seed=5, frame="pyarrow"), make(400, seed=5, frame="pyarrow")
        assert a.equals(b)
        assert not a.equals(make(400, seed=6, frame="pyarrow"))
        assert isinstance(make(50, seed=1, frame="polars"), pl.DataFrame)


def test_tickets_dataset_is_plausible(ticket_log):
    t = ticket_log
    assert t["customer_id"].between(1, N).all() and t["ticket_id"].is_unique
    shares = t["type"].value_counts(normalize=True)
    assert shares["consultation"] > shares["complaint"] > shares["opinion"] > 0.1
    assert set(t["product"].cat.categories) == set(crm.datasets.PRODUCTS)
    assert set(t["region"].cat.categories) == set(crm.datasets.REGIONS)
    assert t["representative"].nunique() == 20
    closed = t["closed_at"].notna()
    assert (t.loc[closed, "closed_at"] >= t.loc[closed, "opened_at"]).all()
    hours = (t["closed_at"] - t["opened_at"]).dt.total_seconds() / 3600
    medians = hours.groupby(t["type"], observed=True).median()
    assert medians["consultation"] < medians["opinion"] < medians["complaint"]
    recent = t["opened_at"] >= "2024-12-01"
    assert (~closed[recent]).mean() > 5 * (~closed[~recent]).mean()


def test_contacts_dataset_has_multi_department_weeks(contact_log):
    c = contact_log
    assert c["customer_id"].between(1, N).all()
    assert set(c["department"].cat.categories) == {"sales", "service", "marketing", "finance", "logistics"}
    assert 0 < len(crm.contacts(c, output="fatigue")) < c["customer_id"].nunique() * 104


def test_survey_scores_are_lower_for_customers_who_complained(ticket_log, survey_log):
    s = survey_log
    assert s["score"].between(1, 10).all() and s["score"].dtype == np.int64
    complainers = ticket_log.loc[ticket_log["type"] == "complaint", "customer_id"].unique()
    mean_complained = s.loc[s["customer_id"].isin(complainers), "score"].mean()
    mean_other = s.loc[~s["customer_id"].isin(complainers), "score"].mean()
    assert mean_complained < mean_other - 0.3


# ------------------------------------------------------------- invariances (Hypothesis)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

HOUR_US = 3_600_000_000
log_rows = st.lists(
    st.tuples(
        st.integers(0, 9),            # customer
        st.integers(0, 2),            # kind / department / region
        st.integers(0, 2),            # product
        st.integers(0, 60 * 24),      # opening hour (about two months)
        st.one_of(st.none(), st.integers(0, 24 * 20)),  # hours to close (None: open)
        st.integers(1, 10),           # score
    ),
    min_size=1,
    max_size=60,
)


def random_logs(rows, tz):
    customer, group, product, hour, close, score = map(list, zip(*rows))
    opened = np.array(hour, dtype=np.int64) * HOUR_US + 1_704_067_200 * 1_000_000  # from 2024-01-01
    closed = [None if c is None else int(o + c * HOUR_US) for o, c in zip(opened, close)]
    times = pa.timestamp("us", tz=tz)
    kinds = pa.array(["complaint", "opinion", "consultation"])
    tickets = pa.table({
        "ticket_id": pa.array(np.arange(len(rows)) * 7 % 11 + 100),  # duplicates now and then
        "type": pa.DictionaryArray.from_arrays(pa.array(group, pa.int8()), kinds),
        "product": pa.array([f"P{p}" for p in product]),
        "opened_at": pa.array(opened, times),
        "closed_at": pa.array(closed, times),
    })
    contacts = pa.table({
        "customer_id": pa.array([f"c{c}" for c in customer]),
        "department": pa.array([["sales", "service", "finance"][g] for g in group]),
        "product": pa.array([f"P{p}" for p in product]),
        "contacted_at": pa.array(opened, times),
    })
    scores = pa.table({"customer_id": pa.array(customer), "region": pa.array(group), "score": pa.array(score)})
    return tickets, contacts, scores


def service_outputs(tickets, contacts, scores):
    profile = pa.table({"customer_id": pa.array(range(0, 10, 2)), "spend": pa.array([1.5, 2.0, 8.0, 0.0, 3.0]),
                        "tier": pa.array(["a", "b", "a", "b", "b"])})
    return {
        "tickets": crm.tickets(tickets, by="product", period="W"),
        "tickets_by_kind": crm.tickets(tickets, by=(), as_of="2024-02-10"),
        "open": crm.tickets(tickets, by="product", output="open"),
        "contacts": crm.contacts(contacts),
        "fatigue": crm.contacts(contacts, output="fatigue", period="M"),
        "members": crm.satisfaction(scores, by="region", share=0.3),
        "profile": crm.satisfaction(scores, by=(), customers=profile, output="profile"),
    }


def shuffled_in_chunks(table: pa.Table, order, cut: int) -> pa.Table:
    table = table.take(pa.array(order))
    return pa.Table.from_batches(table.slice(0, cut).to_batches() + table.slice(cut).to_batches())


def test_categorical_columns_in_several_chunks_keep_one_dictionary(ticket_log):
    # Each chunk carries an equal copy of the frame's dictionary (as partitions that crossed
    # processes do); Arrow's concatenation would repeat its values.
    whole = pa.Table.from_pandas(ticket_log, preserve_index=False)
    cut = len(ticket_log) // 2
    chunked = pa.concat_tables([pa.Table.from_pandas(pickle.loads(pickle.dumps(part)), preserve_index=False)
                                for part in (ticket_log.iloc[:cut], ticket_log.iloc[cut:])])
    assert crm.tickets(chunked).equals(crm.tickets(whole))
    got = crm.tickets(chunked, output="open")  # the open tickets' own rows, categorical columns kept
    assert got.equals(crm.tickets(whole, output="open"))
    dictionary = got.column("product").combine_chunks().dictionary.to_pylist()
    assert len(dictionary) == len(set(dictionary))
    got.to_pandas()  # pandas refuses repeated categories


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=log_rows, seed=st.integers(0, 2**32 - 1), tz=st.sampled_from([None, "Asia/Shanghai", "America/New_York"]),
       data=st.data())
def test_row_order_and_chunking_do_not_change_the_results(rows, seed, tz, data):
    logs = random_logs(rows, tz)
    expected = service_outputs(*logs)
    order = np.random.default_rng(seed).permutation(len(rows))
    cut = data.draw(st.integers(0, len(rows)))
    got = service_outputs(*(shuffled_in_chunks(t, order, cut) for t in logs))
    for name in expected:
        assert got[name].equals(expected[name]), name


@settings(max_examples=30, deadline=None)
@given(rows=log_rows)
def test_small_random_logs_agree_with_the_reference(rows):
    tickets, contacts, scores = (t.to_pandas() for t in random_logs(rows, "Asia/Shanghai"))
    assert_same(crm.tickets(tickets, by="product", period="W"), reference_tickets(tickets, by="product", period="W"))
    assert_same(crm.tickets(tickets, by=(), output="open"), reference_tickets(tickets, by=(), output="open"))
    assert_same(crm.contacts(contacts), reference_contacts(contacts))
    assert_same(crm.contacts(contacts, output="fatigue"), reference_contacts(contacts, output="fatigue"))
    assert_same(crm.satisfaction(scores, by="region", share=0.3), reference_members(scores, by="region", share=0.3))


# --------------------------------------------------------------------------- threads

THREADS_SCRIPT = """
import sys
import crm, pyarrow.parquet as pq
out_dir, threads = sys.argv[1], int(sys.argv[2])
tickets = crm.datasets.tickets(30_000, seed=9, frame="pyarrow")
contacts = crm.datasets.contacts(20_000, seed=9, frame="pyarrow")
surveys = crm.datasets.surveys(30_000, seed=9, frame="pyarrow")
rfm = crm.rfm(crm.datasets.synthetic(20_000, seed=9, frame="pyarrow"))
results = {
    "tickets": crm.tickets(tickets, period="M"),
    "open": crm.tickets(tickets, output="open"),
    "contacts": crm.contacts(contacts),
    "fatigue": crm.contacts(contacts, output="fatigue"),
    "members": crm.satisfaction(surveys),
    "profile": crm.satisfaction(surveys, customers=rfm, output="profile"),
}
assert crm.num_threads() == threads, crm.num_threads()
for name, table in results.items():
    pq.write_table(table, f"{out_dir}/{name}.parquet")
"""


def test_results_do_not_depend_on_thread_count(tmp_path):
    import os
    import subprocess
    import sys

    import pyarrow.parquet as pq

    results = {}
    for threads in (1, 2):
        out_dir = tmp_path / f"threads{threads}"
        out_dir.mkdir()
        env = dict(os.environ, CRM_NUM_THREADS=str(threads))
        done = subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(out_dir), str(threads)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results[threads] = {path.stem: pq.read_table(path) for path in sorted(out_dir.glob("*.parquet"))}
    assert len(results[1]) == 6 and results[1].keys() == results[2].keys()
    for name in results[1]:
        assert results[1][name].equals(results[2][name]), name
