"""Plain pandas versions of crm.tickets, crm.contacts and crm.satisfaction, written from
the definitions in their docstrings (and DOMAIN.md, "Service"), for the tests to compare
against. Slow and obvious on purpose; they share no code with crm.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PERIOD_CODES = {"W": "W-SUN", "M": "M", "Q": "Q", "Y": "Y"}


def local_days(times: pd.Series) -> pd.Series:
    """The calendar day of each time, on the local wall clock for tz-aware times."""
    times = pd.to_datetime(times)
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_localize(None)
    return times.dt.floor("D").astype("datetime64[ns]")


def period_starts(days: pd.Series, period: str) -> pd.Series:
    return days.dt.to_period(PERIOD_CODES[period]).dt.start_time.astype("datetime64[ns]")


def reference_tickets(
    df: pd.DataFrame,
    *,
    kind="type",
    by=("product", "region", "representative"),
    period=None,
    opened="opened_at",
    closed="closed_at",
    id="ticket_id",
    as_of=None,
    output="summary",
) -> pd.DataFrame:
    by = [by] if isinstance(by, str) else list(by)
    d = df.reset_index(drop=True).copy()
    opened_day, closed_day = local_days(d[opened]), local_days(d[closed])
    if as_of is None:
        as_of = max(opened_day.max(), closed_day.max())
    as_of = pd.Timestamp(as_of)
    keep = opened_day <= as_of
    d, opened_day, closed_day = d[keep], opened_day[keep], closed_day[keep]
    d["_resolved"] = closed_day.notna() & (closed_day <= as_of)
    d["_hours"] = (d[closed] - d[opened]).dt.total_seconds() / 3600
    d["_age"] = (as_of - opened_day).dt.days
    if output == "open":
        still = d[~d["_resolved"]].copy()
        still["open_days"] = still["_age"]
        still = still.sort_values([opened, kind, *by, id], key=_sortable, kind="stable")
        return still[[id, kind, *by, opened, "open_days"]].reset_index(drop=True)
    keys = [kind, *by]
    if period is not None:
        d["period"] = period_starts(opened_day, period)
        keys.append("period")
    rows = []
    for values, g in d.groupby(keys, observed=True, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        hours = g.loc[g["_resolved"], "_hours"].to_numpy()
        ages = g.loc[~g["_resolved"], "_age"]
        row = dict(zip(keys, values))
        row.update(
            tickets=len(g),
            resolved=int(g["_resolved"].sum()),
            share_resolved=g["_resolved"].mean(),
            open=int((~g["_resolved"]).sum()),
            median_hours_to_resolve=np.quantile(hours, 0.5) if len(hours) else np.nan,
            p90_hours_to_resolve=np.quantile(hours, 0.9) if len(hours) else np.nan,
            mean_hours_to_resolve=hours.mean() if len(hours) else np.nan,
            oldest_open_days=ages.max() if len(ages) else np.nan,
        )
        rows.append(row)
    columns = [*keys, "tickets", "resolved", "share_resolved", "open", "median_hours_to_resolve",
               "p90_hours_to_resolve", "mean_hours_to_resolve", "oldest_open_days"]
    return _sorted(pd.DataFrame(rows, columns=columns), keys)


def reference_contacts(
    df: pd.DataFrame,
    *,
    customer="customer_id",
    department="department",
    product="product",
    date="contacted_at",
    period="W",
    fatigue_departments=2,
    output="summary",
) -> pd.DataFrame:
    d = df.reset_index(drop=True).copy()
    d["period"] = period_starts(local_days(d[date]), period)
    if output == "fatigue":
        rows = []
        for (who, start), g in d.groupby([customer, "period"], observed=True):
            names = sorted(g[department].astype(str).unique())
            if len(names) >= fatigue_departments:
                rows.append({customer: who, "period": start, "departments": len(names),
                             "contacts": len(g), "department_names": ", ".join(names)})
        out = pd.DataFrame(rows, columns=[customer, "period", "departments", "contacts", "department_names"])
        return _sorted(out, [customer, "period"])
    keys = [department] + ([product] if product else [])
    every_period = pd.period_range(d["period"].min(), d["period"].max(), freq=PERIOD_CODES[period])
    starts = every_period.start_time.astype("datetime64[ns]")
    rows = []
    for values, g in d.groupby(keys, observed=True):
        values = values if isinstance(values, tuple) else (values,)
        for start in starts:
            in_period = g[g["period"] == start]
            row = dict(zip(keys, values))
            row.update(period=start, contacts=len(in_period), customers=in_period[customer].nunique())
            rows.append(row)
    out = pd.DataFrame(rows, columns=[*keys, "period", "contacts", "customers"])
    return _sorted(out, [*keys, "period"])


def cut(share: float, n: int) -> int:
    return math.ceil(round(share * n, 9))


def reference_members(df, *, customer="customer_id", score="score", by=("product", "region"), share=0.2,
                      higher_is_better=True) -> pd.DataFrame:
    by = [by] if isinstance(by, str) else list(by)
    d = df.reset_index(drop=True).copy()
    d["_all"] = 0
    keys = by or ["_all"]
    means = d.groupby([*keys, customer], observed=True)[score].mean().reset_index()
    rows = []
    for values, g in means.groupby(keys, observed=True):
        values = values if isinstance(values, tuple) else (values,)
        k = cut(share, len(g))
        oriented = g[score] if higher_is_better else -g[score]
        for (_, member), value in zip(g.iterrows(), oriented):
            better = int((oriented > value).sum())
            worse = int((oriented < value).sum())
            for side, ahead in (("top", better), ("bottom", worse)):
                if ahead < k:
                    row = dict(zip(keys, values))
                    row.update({customer: member[customer], score: member[score], "side": side, "rank": ahead + 1})
                    rows.append(row)
    out = pd.DataFrame(rows, columns=[*keys, customer, score, "side", "rank"])
    out["_side"] = (out["side"] == "bottom").astype(int)
    out = _sorted(out, [*keys, "_side", "rank", customer]).drop(columns="_side")
    return out.drop(columns=["_all"]) if not by else out


def reference_profile(df, customers: pd.DataFrame, *, customer="customer_id", score="score",
                      by=("product", "region"), share=0.2, higher_is_better=True) -> pd.DataFrame:
    by = [by] if isinstance(by, str) else list(by)
    members = reference_members(df, customer=customer, score=score, by=by, share=share,
                                higher_is_better=higher_is_better)
    table = customers.set_index(customer)
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c])]
    text = [c for c in table.columns if c not in numeric and (pd.api.types.is_object_dtype(table[c])
            or isinstance(table[c].dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(table[c]))]
    rows = []
    members["_side"] = (members["side"] == "bottom").astype(int)
    for values, g in members.groupby([*by, "_side"], observed=True, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        present = g[customer][g[customer].isin(table.index)]
        rows_of = table.loc[present.to_numpy()]
        row = dict(zip([*by, "_side"], values))
        row.update(side=g["side"].iloc[0], customers=len(g), mean_score=g[score].mean(),
                   missing_profile=len(g) - len(present))
        for c in numeric:
            row[f"mean_{c}"] = rows_of[c].astype(float).mean() if rows_of[c].notna().any() else np.nan
        for c in text:
            counts = rows_of[c].dropna().astype(str).value_counts()
            if len(counts):
                best = counts[counts == counts.max()].index.min()
                row[f"{c}_mode"], row[f"{c}_mode_share"] = best, counts.max() / counts.sum()
            else:
                row[f"{c}_mode"], row[f"{c}_mode_share"] = None, np.nan
        rows.append(row)
    columns = [*by, "_side", "side", "customers", "mean_score", "missing_profile",
               *(f"mean_{c}" for c in numeric), *(x for c in text for x in (f"{c}_mode", f"{c}_mode_share"))]
    out = pd.DataFrame(rows, columns=columns)
    return _sorted(out, [*by, "_side"]).drop(columns="_side")


def _sortable(column: pd.Series) -> pd.Series:
    """Values as crm sorts them: categoricals by their string value."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.astype(str)
    return column


def _sorted(df: pd.DataFrame, keys) -> pd.DataFrame:
    return df.sort_values(list(keys), key=_sortable, kind="stable").reset_index(drop=True)
