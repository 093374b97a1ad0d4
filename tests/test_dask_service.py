"""crm.dask.tickets, contacts and satisfaction on a dask.distributed LocalCluster with 2 worker
processes (test_dask's fixture): every output equals the in-memory call on the concatenated data
(counts, dates, keys and labels exactly, floats to 1e-9) for several partitionings, empty
partitions, groups and customers spread over partitions, integer and string keys, tz-aware
times and on_invalid; and, without Dask, merging the partial states of any split of a log
(Hypothesis) gives the whole log's tables."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crm
import crm.dask
from crm import _core
from crm._frames import _Capsule
from crm._partial import from_ipc, to_ipc
from test_dask import assert_equal_frames, client, partitioned, partitions  # noqa: F401  (the module's cluster)

N = 1_200


def shuffled(frame: pd.DataFrame) -> pd.DataFrame:
    # Shuffled rows: every group's and customer's rows are spread over the partitions.
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


@pytest.fixture(scope="module")
def ticket_log() -> pd.DataFrame:
    return shuffled(crm.datasets.tickets(N, seed=5))


@pytest.fixture(scope="module")
def contact_log() -> pd.DataFrame:
    return shuffled(crm.datasets.contacts(N, seed=5))


@pytest.fixture(scope="module")
def survey_log() -> pd.DataFrame:
    return shuffled(crm.datasets.surveys(N, seed=5))


@pytest.fixture(scope="module")
def profiles(survey_log) -> pd.DataFrame:
    # Not every customer has a profile; numeric, boolean and categorical columns.
    ids = np.sort(survey_log.customer_id.unique())[::2]
    return pd.DataFrame({"customer_id": ids, "spend": ids * 1.5, "vip": ids % 3 == 0,
                         "segment": pd.Categorical(np.where(ids % 2 == 0, "even", "odd"))})


CALLS = [
    ("tickets", {}),
    ("tickets", dict(period="M")),
    ("tickets", dict(by="product", period="W", as_of="2024-06-30")),
    ("tickets", dict(by=(), period="Q", as_of="2023-02-15")),
    ("tickets", dict(output="open")),
    ("tickets", dict(by=["region"], output="open", as_of="2024-03-01")),
    ("contacts", {}),
    ("contacts", dict(product=None, period="M")),
    ("contacts", dict(output="fatigue")),
    ("contacts", dict(period="Q", output="fatigue", fatigue_departments=3)),
    ("satisfaction", {}),
    ("satisfaction", dict(by="region", share=0.5, higher_is_better=False)),
    ("satisfaction", dict(by=(), output="profile")),
    ("satisfaction", dict(share=0.1, output="profile", with_profiles=True)),
]
CALL_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CALLS)]


@pytest.fixture(scope="module")
def logs(ticket_log, contact_log, survey_log):
    return {"tickets": ticket_log, "contacts": contact_log, "satisfaction": survey_log}


def options_of(options: dict, profiles: pd.DataFrame) -> dict:
    options = dict(options)
    if options.pop("with_profiles", False):
        options["customers"] = profiles
    return options


@pytest.mark.parametrize(("npartitions", "persisted"), partitions([1, 3, 16]))
@pytest.mark.parametrize(("name", "options"), CALLS, ids=CALL_IDS)
def test_service_functions_equal_the_in_memory_call(client, logs, profiles, npartitions, persisted, name, options):
    log, options = logs[name], options_of(options, profiles)
    ddf = partitioned(log, npartitions, persisted)
    got = getattr(crm.dask, name)(ddf, split_every=3, **options)
    assert len(got) > 0
    assert_equal_frames(got, getattr(crm, name)(log, **options))


def string_keys(name: str, log: pd.DataFrame) -> pd.DataFrame:
    """Strings where the generator has integers or categoricals, integers for representatives."""
    if name == "tickets":
        return log.assign(ticket_id="t" + log.ticket_id.astype(str), type=log.type.astype(str),
                          product=log["product"].astype(str),
                          representative=log.representative.str[1:].astype("int32"))
    strings = log.assign(customer_id="c" + log.customer_id.astype(str))
    if name == "contacts":
        return strings.assign(department=log.department.astype(str))
    return strings.assign(region=log.region.astype(str)) if "region" in log else strings


@pytest.mark.parametrize(("name", "options"), CALLS, ids=CALL_IDS)
def test_string_keys_and_empty_partitions(client, logs, profiles, name, options):
    log = string_keys(name, logs[name])
    options = options_of(options, profiles)
    if "customers" in options:
        options["customers"] = string_keys(name, profiles)
    ddf = dd.from_pandas(log, npartitions=6, sort=False)
    keep = ddf.map_partitions(lambda f, partition_info=None: f if partition_info["number"] not in (0, 4) else f.iloc[:0],
                              meta=ddf._meta)
    kept = keep.compute()
    assert_equal_frames(getattr(crm.dask, name)(keep, **options), getattr(crm, name)(kept, **options))


@pytest.mark.parametrize(("name", "options"), CALLS, ids=CALL_IDS)
def test_no_rows_give_the_in_memory_columns(client, logs, profiles, name, options):
    options = options_of(options, profiles)
    ddf = dd.from_pandas(logs[name].iloc[:0], npartitions=1)
    got = getattr(crm.dask, name)(ddf, **options)
    expected = getattr(crm, name)(logs[name].iloc[:0], **options)
    assert len(got) == len(expected) == 0 and list(got.columns) == list(expected.columns)


@pytest.mark.parametrize("output", ["summary", "open"])
def test_tz_aware_tickets(client, ticket_log, output):
    local = ticket_log.assign(
        opened_at=ticket_log.opened_at.dt.tz_localize("UTC").dt.tz_convert("America/New_York"),
        closed_at=ticket_log.closed_at.dt.tz_localize("UTC").dt.tz_convert("America/New_York"),
    )
    ddf = dd.from_pandas(local, npartitions=5, sort=False)
    for options in [dict(output=output), dict(output=output, period="W", as_of="2024-03-10")]:
        assert_equal_frames(crm.dask.tickets(ddf, **options), crm.tickets(local, **options))


def test_profiles_from_a_dask_frame(client, survey_log, profiles):
    ddf = dd.from_pandas(survey_log, npartitions=4, sort=False)
    customers = dd.from_pandas(profiles, npartitions=3)
    got = crm.dask.satisfaction(ddf, customers=customers, output="profile")
    assert_equal_frames(got, crm.satisfaction(survey_log, customers=profiles, output="profile"))


def test_bad_input_is_reported_like_the_in_memory_call(client, ticket_log, contact_log, survey_log):
    bad = ticket_log.copy()
    bad.loc[[3, 500, 900], "type"] = None
    ddf = dd.from_pandas(bad, npartitions=4, sort=False)
    with pytest.raises(crm.InvalidDataError, match="type"):
        crm.dask.tickets(ddf)
    with pytest.warns(UserWarning, match="dropped 3 row"):
        got = crm.dask.tickets(ddf, on_invalid="drop", period="M")
    with pytest.warns(UserWarning, match="dropped 3 row"):
        expected = crm.tickets(bad, on_invalid="drop", period="M")
    assert_equal_frames(got, expected)
    backwards = ticket_log.copy()
    backwards.loc[7, "closed_at"] = backwards.loc[7, "opened_at"] - pd.Timedelta(hours=1)
    with pytest.raises(crm.InvalidDataError, match="'closed_at' is before 'opened_at' in 1 row"):
        crm.dask.tickets(dd.from_pandas(backwards, npartitions=3, sort=False))
    with pytest.raises(crm.InvalidArgumentError, match="by must not repeat"):
        crm.dask.tickets(dd.from_pandas(ticket_log, npartitions=2), by="type")

    bad = contact_log.copy()
    bad.loc[[5, 50], "department"] = None
    ddf = dd.from_pandas(bad, npartitions=4, sort=False)
    with pytest.raises(crm.InvalidDataError, match="department"):
        crm.dask.contacts(ddf)
    for output in ["summary", "fatigue"]:
        with pytest.warns(UserWarning, match="dropped 2 row"):
            got = crm.dask.contacts(ddf, on_invalid="drop", output=output)
        with pytest.warns(UserWarning, match="dropped 2 row"):
            expected = crm.contacts(bad, on_invalid="drop", output=output)
        assert_equal_frames(got, expected)
    with pytest.raises(crm.InvalidArgumentError, match="fatigue_departments"):
        crm.dask.contacts(ddf.dropna(), fatigue_departments=0)

    bad = survey_log.assign(score=survey_log.score.astype(float))
    bad.loc[[1, 2, 600], "score"] = np.nan
    ddf = dd.from_pandas(bad, npartitions=4, sort=False)
    with pytest.raises(crm.InvalidDataError, match="score"):
        crm.dask.satisfaction(ddf)
    with pytest.warns(UserWarning, match="dropped 3 row"):
        got = crm.dask.satisfaction(ddf, on_invalid="drop")
    with pytest.warns(UserWarning, match="dropped 3 row"):
        expected = crm.satisfaction(bad, on_invalid="drop")
    assert_equal_frames(got, expected)
    with pytest.raises(crm.InvalidArgumentError, match="share"):
        crm.dask.satisfaction(ddf.dropna(), share=0.7)
    with pytest.raises(KeyError, match="'client' not found"):
        crm.dask.satisfaction(ddf, customer="client")
    with pytest.raises(crm.InvalidArgumentError, match="split_every"):
        crm.dask.satisfaction(ddf, split_every=1)


# ---------------------------------------------------------------- split and merge, no Dask

def state_of(name: str, piece: pa.Table, options: dict) -> pa.Table:
    capsule, _ = getattr(_core, f"{name}_partial")(piece, **options)
    return from_ipc(to_ipc(pa.table(_Capsule(capsule))))  # as it travels


def merged_table(name: str, table: pa.Table, cuts: list[int], seed: int, state: dict, derive: dict) -> pd.DataFrame:
    """The table derived from the merged states of the pieces of ``table`` cut at ``cuts``,
    merged in a random order and grouping."""
    bounds = sorted({0, table.num_rows, *(min(c, table.num_rows) for c in cuts)})
    states = [state_of(name, table.slice(a, b - a), state) for a, b in zip(bounds, bounds[1:])]
    states = [states[i] for i in np.random.default_rng(seed).permutation(len(states))]
    while len(states) > 1:  # a merge tree of two or three states per merge
        states = [from_ipc(to_ipc(pa.table(_Capsule(_core.merge_service_states(states[i : i + 3])))))
                  if len(states[i : i + 3]) > 1 else states[i] for i in range(0, len(states), 3)]
    out = getattr(_core, f"{name}_from_partial")(states[0], **derive)
    return pa.table(_Capsule(out)).to_pandas(date_as_object=False)


def in_memory(name: str, table: pa.Table, **options) -> pd.DataFrame:
    capsule, _ = getattr(_core, name)(table, **options)
    return pa.table(_Capsule(capsule)).to_pandas(date_as_object=False)


cuts = st.lists(st.integers(0, 80), max_size=4)
keys = st.sampled_from(["int", "str"])
DAY = 86_400_000_000


@st.composite
def ticket_tables(draw):
    n = draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    opened = rng.integers(0, 40, n) * DAY + rng.integers(0, 4, n) * 3_600_000_000  # ties of opening
    hours = rng.integers(0, 200, n)
    closed = np.where(rng.random(n) < 0.3, -1, opened + hours * 3_600_000_000)
    key = draw(keys)
    ids = rng.permutation(n)
    return pa.table({
        "ticket_id": ids if key == "int" else [f"t{i}" for i in ids],
        "type": pa.array(rng.choice(["complaint", "opinion"], n)).dictionary_encode(),
        "product": rng.integers(0, 3, n) if key == "int" else rng.choice(["a", "b", "c"], n),
        "opened_at": pa.array((opened + 1_700_000_000_000_000).astype("datetime64[us]")),
        "closed_at": pa.array(np.where(closed < 0, 0, closed + 1_700_000_000_000_000).astype("datetime64[us]"),
                              mask=closed < 0),
    })


TICKET_COLUMNS = dict(id="ticket_id", kind="type", opened="opened_at", closed="closed_at")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=ticket_tables(), cuts=cuts, seed=st.integers(0, 2**32 - 1), output=st.sampled_from(["summary", "open"]),
       period=st.sampled_from([None, "W"]), as_of=st.sampled_from([None, 19_700]), by=st.sampled_from([[], ["product"]]))
def test_merged_ticket_states_of_any_split_give_the_whole_logs_table(table, cuts, seed, output, period, as_of, by):
    options = dict(TICKET_COLUMNS, by=by, period=period, as_of=as_of, output=output)
    got = merged_table("tickets", table, cuts, seed, options, {})
    assert_equal_frames(got, in_memory("tickets", table, **options))


@st.composite
def contact_tables(draw):
    n = draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    customers = rng.integers(0, 8, n)
    return pa.table({
        "customer_id": customers if draw(keys) == "int" else [f"c{c}" for c in customers],
        "department": pa.array(rng.choice(["sales", "service", "finance"], n)).dictionary_encode(),
        "product": rng.choice(["tea", "mug"], n),
        "contacted_at": pa.array((rng.integers(19_000, 19_060, n)).astype("datetime64[D]")),
    })


CONTACT_COLUMNS = dict(customer="customer_id", department="department", date="contacted_at")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=contact_tables(), cuts=cuts, seed=st.integers(0, 2**32 - 1), output=st.sampled_from(["summary", "fatigue"]),
       period=st.sampled_from(["W", "M"]), product=st.sampled_from([None, "product"]))
def test_merged_contact_states_of_any_split_give_the_whole_logs_table(table, cuts, seed, output, period, product):
    state = dict(CONTACT_COLUMNS, product=product, period=period)
    got = merged_table("contacts", table, cuts, seed, state, dict(output=output))
    assert_equal_frames(got, in_memory("contacts", table, **state, output=output))


@st.composite
def score_tables(draw):
    n = draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    customers = rng.integers(0, 12, n)
    return pa.table({
        "customer_id": customers if draw(keys) == "int" else [f"c{c}" for c in customers],
        "region": pa.array(rng.choice(["north", "south"], n)).dictionary_encode(),
        "score": rng.integers(1, 11, n) / 2,  # halves: sums exact in any order
    })


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=score_tables(), cuts=cuts, seed=st.integers(0, 2**32 - 1), by=st.sampled_from([[], ["region"]]),
       share=st.sampled_from([0.2, 0.5]), higher=st.booleans(), output=st.sampled_from(["members", "profile"]))
def test_merged_score_states_of_any_split_give_the_whole_logs_table(table, cuts, seed, by, share, higher, output):
    keys = sorted(set(table["customer_id"].to_pylist()))[::2]
    customers = pa.table({"customer_id": pa.array(keys, table["customer_id"].type),
                          "spend": np.arange(len(keys), dtype=float)})
    state = dict(customer="customer_id", score="score", by=by)
    derive = dict(share=share, higher_is_better=higher, output=output, customers=customers)
    got = merged_table("satisfaction", table, cuts, seed, state, derive)
    assert_equal_frames(got, in_memory("satisfaction", table, **state, **derive))


def test_states_of_other_kinds_or_parameters_do_not_merge(ticket_log):
    table = pa.Table.from_pandas(ticket_log.head(50), preserve_index=False)
    summary = state_of("tickets", table, dict(TICKET_COLUMNS, by=[], output="summary"))
    open_list = state_of("tickets", table, dict(TICKET_COLUMNS, by=[], output="open"))
    with pytest.raises(crm.InvalidArgumentError, match="cannot be merged"):
        _core.merge_service_states([summary, state_of("tickets", table, dict(TICKET_COLUMNS, by=[], period="M"))])
    with pytest.raises(crm.InvalidArgumentError, match="cannot be merged"):
        _core.merge_service_states([summary, state_of("tickets", table, dict(TICKET_COLUMNS, by=[], as_of=19_700))])
    with pytest.raises(crm.InvalidArgumentError, match="kind"):
        _core.merge_service_states([open_list, summary])
    rfm_state = crm._partial.partial_state(crm.datasets.synthetic(20, seed=1))[0]
    with pytest.raises(crm.InvalidArgumentError, match="service function"):
        _core.merge_service_states([rfm_state])
    with pytest.raises(crm.InvalidArgumentError, match="kind"):
        _core.satisfaction_from_partial(summary)
