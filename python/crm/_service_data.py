"""Synthetic service logs: tickets, contacts and satisfaction surveys (see crm.datasets).

Pure numpy + pyarrow and vectorised, like the transaction generator. The three logs share
the customers (ids 1..n), the catalogs (PRODUCTS, REGIONS) and the customers' home regions
of a seed, and the survey scores depend on the customers' tickets.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import datasets as _d

TICKET_TYPES = ("complaint", "consultation", "opinion")
DEPARTMENTS = ("finance", "logistics", "marketing", "sales", "service")
CONTACT_CHANNELS = ("email", "phone", "sms", "app")
REPRESENTATIVES = tuple(f"R{i:02d}" for i in range(1, 21))

_TYPE_W = (0.30, 0.50, 0.20)  # complaint, consultation, opinion
# Median hours to resolve and the log-scale spread, per type: consultations are answered
# within hours, complaints take days.
_RESOLVE_MEDIAN_H = np.array([60.0, 3.0, 20.0])
_RESOLVE_SIGMA = np.array([1.0, 0.9, 1.1])
_STUCK = 0.03  # complaints never resolved
_TICKETS_PER_YEAR = 0.8
_DEPARTMENT_W = (0.08, 0.07, 0.25, 0.35, 0.25)
_CONTACT_CHANNEL_W = (0.45, 0.25, 0.20, 0.10)
_EVENTS_PER_YEAR = 3.0  # occasions (orders, campaigns) that bring contacts
_CONTACTS_PER_EVENT_W = (0.55, 0.30, 0.15)  # 1..3 contacts, from departments drawn independently
_SURVEYS_PER_YEAR = 0.6
# Customer-level salts: one stream per log, one for the customers all logs share.
_SALT = {"customers": 101, "tickets": 102, "contacts": 103, "surveys": 104}

_TYPE_T = _d._table(_TYPE_W)
_DEPARTMENT_T = _d._table(_DEPARTMENT_W)
_CONTACT_CHANNEL_T = _d._table(_CONTACT_CHANNEL_W)
_CONTACTS_PER_EVENT_T = (_d._table(_CONTACTS_PER_EVENT_W) + 1).astype(np.int64)


def _rng(seed, log):
    return np.random.default_rng([int(seed), _SALT[log]])


def _window(start, end):
    d0, d1 = _d._day(start, "start"), _d._day(end, "end")
    n_days = int((d1 - d0).astype(np.int64)) + 1
    if n_days < 1:
        raise ValueError(f"end ({end}) is before start ({start})")
    return int(d0.astype("datetime64[s]").astype(np.int64)), n_days


def _customers(n, seed):
    """What every log of a seed shares: each customer's home region and activity level."""
    if int(n) < 0:
        raise ValueError("n_customers must be >= 0")
    rng = _rng(seed, "customers")
    home = _d._REGION_T[_d._u16(rng, int(n))]
    activity = rng.gamma(2.0, 0.5, int(n))  # mean 1: how often a customer gets in touch
    return home, activity


def _per_customer(rng, activity, per_year, n_days):
    """Customer index of each event, Poisson counts around activity x rate."""
    counts = rng.poisson(activity * per_year * n_days / 365.25)
    return np.repeat(np.arange(len(activity), dtype=np.int64), counts)


def _region_of(rng, home, owner):
    region = home[owner].copy()
    away = rng.random(len(owner)) >= _d._HOME_REGION
    region[away] = _d._REGION_T[_d._u16(rng, int(away.sum()))]
    return region


def _timestamps(micros):
    return pa.array(micros.astype("datetime64[us]"))


def _tickets_table(n_customers, seed, start, end):
    start_s, n_days = _window(start, end)
    home, activity = _customers(n_customers, seed)
    rng = _rng(seed, "tickets")
    owner = _per_customer(rng, activity, _TICKETS_PER_YEAR, n_days)
    n = len(owner)
    kind = _TYPE_T[_d._u16(rng, n)]
    region = _region_of(rng, home, owner)
    # Each region has four reps (neighbouring regions share one); a rep's speed factor is
    # fixed per seed.
    rep = (region.astype(np.int64) * 20) // len(_d.REGIONS) + rng.integers(0, 4, n)
    speed = rng.lognormal(0.0, 0.3, len(REPRESENTATIVES))
    opened_s = start_s + rng.integers(0, n_days, n) * 86_400 + _d._time_of_day(rng, n)
    hours = _RESOLVE_MEDIAN_H[kind] * speed[rep] * np.exp(rng.standard_normal(n) * _RESOLVE_SIGMA[kind])
    opened = opened_s * 1_000_000 + rng.integers(0, 1_000_000, n)
    closed = opened + (hours * 3.6e9).astype(np.int64)
    # Still open: resolution falls after the end of the log (recent tickets), or stuck.
    is_open = (closed >= (start_s + n_days * 86_400) * 1_000_000) | ((kind == 0) & (rng.random(n) < _STUCK))
    order = np.argsort(opened, kind="stable")
    owner, kind, region, rep, opened, closed, is_open = (
        a[order] for a in (owner, kind, region, rep, opened, closed, is_open)
    )
    product = _d._PRODUCT_T[_d._u16(rng, n)]
    return pa.table(
        {
            "ticket_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "customer_id": pa.array(owner + 1),
            "type": _d._dict_column(kind, TICKET_TYPES),
            "product": _d._dict_column(product, _d.PRODUCTS),
            "region": _d._dict_column(region, _d.REGIONS),
            "representative": _d._dict_column(rep.astype(np.int8), REPRESENTATIVES),
            "opened_at": _timestamps(opened),
            "closed_at": pa.array(closed.astype("datetime64[us]"), mask=is_open),
        }
    )


def _contacts_table(n_customers, seed, start, end):
    start_s, n_days = _window(start, end)
    _, activity = _customers(n_customers, seed)
    rng = _rng(seed, "contacts")
    event_owner = _per_customer(rng, activity, _EVENTS_PER_YEAR, n_days)
    event_day = rng.integers(0, n_days, len(event_owner))
    event_product = _d._PRODUCT_T[_d._u16(rng, len(event_owner))]
    per_event = _CONTACTS_PER_EVENT_T[_d._u16(rng, len(event_owner))]
    event = np.repeat(np.arange(len(event_owner)), per_event)
    n = len(event)
    # Every contact of an occasion falls within the 6 days after it, in office hours.
    day = np.minimum(event_day[event] + rng.integers(0, 7, n), n_days - 1)
    seconds = start_s + day * 86_400 + rng.integers(8 * 3600, 19 * 3600, n)
    order = np.lexsort((event, seconds))
    return pa.table(
        {
            "customer_id": pa.array(event_owner[event][order] + 1),
            "department": _d._dict_column(_DEPARTMENT_T[_d._u16(rng, n)][order], DEPARTMENTS),
            "product": _d._dict_column(event_product[event][order], _d.PRODUCTS),
            "channel": _d._dict_column(_CONTACT_CHANNEL_T[_d._u16(rng, n)][order], CONTACT_CHANNELS),
            "contacted_at": _timestamps(seconds[order] * 1_000_000),
        }
    )


def _surveys_table(n_customers, seed, start, end):
    start_s, n_days = _window(start, end)
    home, _ = _customers(n_customers, seed)
    tickets = _tickets_table(n_customers, seed, start, end)
    ticket_owner = tickets.column("customer_id").to_numpy() - 1
    complaint = tickets.column("type").to_numpy() == "complaint"
    still_open = tickets.column("closed_at").is_null().to_numpy(zero_copy_only=False)
    n_customers = len(home)
    complaints = np.bincount(ticket_owner[complaint], minlength=n_customers)
    open_tickets = np.bincount(ticket_owner[still_open], minlength=n_customers)
    rng = _rng(seed, "surveys")
    owner = _per_customer(rng, np.ones(n_customers), _SURVEYS_PER_YEAR, n_days)
    n = len(owner)
    product = _d._PRODUCT_T[_d._u16(rng, n)]
    region = _region_of(rng, home, owner)
    product_effect = rng.normal(0.0, 0.6, len(_d.PRODUCTS))
    region_effect = rng.normal(0.0, 0.3, len(_d.REGIONS))
    customer_effect = rng.normal(0.0, 1.0, n_customers)
    # Satisfied by default (mean about 7); complaints and unresolved tickets pull it down.
    latent = (
        7.3
        + product_effect[product]
        + region_effect[region]
        + customer_effect[owner]
        - 0.8 * np.minimum(complaints[owner], 3)
        - 1.2 * (open_tickets[owner] > 0)
        + rng.normal(0.0, 1.0, n)
    )
    score = np.clip(np.rint(latent), 1, 10).astype(np.int64)
    seconds = start_s + rng.integers(0, n_days, n) * 86_400 + _d._time_of_day(rng, n)
    order = np.argsort(seconds, kind="stable")
    return pa.table(
        {
            "customer_id": pa.array(owner[order] + 1),
            "product": _d._dict_column(product[order], _d.PRODUCTS),
            "region": _d._dict_column(region[order], _d.REGIONS),
            "score": pa.array(score[order]),
            "surveyed_at": _timestamps(seconds[order] * 1_000_000),
        }
    )
