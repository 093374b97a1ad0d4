"""Plain pandas versions of crm.profitability, crm.performance and crm.loyalty, written from
docs/value_definitions.md (and the docstrings) alone: slow and obvious on purpose."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

VALUE_TIERS = {"high": 0.2, "medium": 0.3, "low": 0.5}
LOYALTY_TIERS = {"member": 0, "silver": 1_000, "gold": 5_000, "platinum": 20_000}


def local_days(dates: pd.Series) -> pd.Series:
    """The calendar day of each date (a tz-aware time counts on its local day)."""
    dates = pd.to_datetime(dates)
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_localize(None)
    return dates.dt.normalize()


def reference_profitability(df, *, cost=None, tiers=VALUE_TIERS, output="customers",
                            customer="customer_id", date="order_date", amount="amount"):
    revenue = df.groupby(customer, sort=True)[amount].sum()
    if cost is None:
        costs = revenue * 0.0
    elif isinstance(cost, str):
        costs = df.groupby(customer, sort=True)[cost].sum().astype(float)
    else:
        costs = revenue * float(cost)
    margin = revenue - costs
    n = len(margin)
    m = margin.to_numpy()
    at_least = np.array([(m >= v).sum() for v in m])
    above = np.array([(m > v).sum() for v in m])
    total = m.sum()
    names = list(tiers)
    cuts, cumulative = [], 0.0
    for share in tiers.values():
        cumulative += share
        cuts.append(math.ceil(cumulative * n - 1e-9))
    rank = above + 1
    out = pd.DataFrame({
        customer: margin.index,
        "revenue": revenue.to_numpy(),
        "cost": costs.to_numpy(),
        "margin": m,
        "margin_rate": [mm / r if r > 0 else None for mm, r in zip(m, revenue)],
        "margin_rank": rank,
        "customer_share": at_least / n,
        "cumulative_margin_share": [m[m >= v].sum() / total if total > 0 else None for v in m],
        "decile": 1 + (10 * (rank - 1)) // n,
        "tier": pd.Categorical([names[next(k for k, c in enumerate(cuts) if r - 1 < c)] for r in rank],
                               categories=names, ordered=True),
    })
    out = out.sort_values(["margin_rank", customer], kind="stable").reset_index(drop=True)
    if output == "customers":
        return out
    label = "decile" if output == "deciles" else "tier"
    levels = list(range(1, 11)) if output == "deciles" else names
    rows = []
    for level in levels:
        part = out[out[label] == level]
        rows.append({label: level, "customers": len(part), "revenue": part["revenue"].sum(),
                     "cost": part["cost"].sum(), "margin": part["margin"].sum()})
    groups = pd.DataFrame(rows)
    share = lambda x: x / total if total > 0 else None  # noqa: E731
    groups["margin_share"] = [share(x) for x in groups["margin"]]
    groups["cumulative_customer_share"] = groups["customers"].cumsum() / n if n else None
    groups["cumulative_margin_share"] = [share(x) for x in groups["margin"].cumsum()]
    if output == "tiers":
        groups["tier"] = pd.Categorical(groups["tier"], categories=names, ordered=True)
    return groups


def period_start(days: pd.Series, period: str | None, first: pd.Timestamp) -> pd.Series:
    if period is None:
        return pd.Series(first, index=days.index)
    if period == "W":
        return days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    return days.dt.to_period({"M": "M", "Q": "Q", "Y": "Y"}[period]).dt.start_time


def reference_performance(df, *, by=("category", "region"), period="M",
                          values=("quantity", "revenue", "customers", "orders"), shape="long",
                          quantity="quantity", customer="customer_id", date="order_date",
                          amount="amount", order=None):
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    values = [values] if isinstance(values, str) else list(values)
    df = df.copy()
    df["_day"] = local_days(df[date])
    first, last = df["_day"].min(), df["_day"].max()
    df["_period"] = period_start(df["_day"], period, first)
    all_periods = sorted(period_start(pd.Series(pd.date_range(first, last, freq="D")), period, first).unique())
    groups = sorted(set(map(tuple, df[by].astype(str).to_numpy()))) if by else [()]
    bought = df[df[amount] > 0]
    if order is not None:
        # an order counts in the period of its earliest purchase row, per customer and group
        firsts = bought.groupby([customer, order, *by], observed=True)["_day"].min().reset_index()
        firsts["_period"] = period_start(firsts["_day"], period, first)
    rows = []
    for g in groups:
        def part(frame):
            mask = np.ones(len(frame), dtype=bool)
            for col, v in zip(by, g):
                mask &= frame[col].astype(str).to_numpy() == v
            return frame[mask]
        for p in all_periods:
            cell = part(df)
            cell = cell[cell["_period"] == p]
            buys = cell[cell[amount] > 0]
            row = dict(zip(by, g))
            if period is not None:
                row["period"] = p
            for v in values:
                if v == "quantity":
                    row[v] = float(buys[quantity].sum())
                elif v == "revenue":
                    row[v] = float(cell[amount].sum())
                elif v == "gross":
                    row[v] = float(buys[amount].sum())
                elif v == "refunds":
                    row[v] = float(-cell.loc[cell[amount] < 0, amount].sum())
                elif v == "customers":
                    row[v] = buys[customer].nunique()
                elif v == "orders":
                    if order is None:
                        row[v] = len(buys)
                    else:
                        f = part(firsts)
                        row[v] = int((f["_period"] == p).sum())
            rows.append(row)
    long = pd.DataFrame(rows, columns=[*by, *(["period"] if period is not None else []), *values])
    if shape == "long":
        return long
    wide = long[by].drop_duplicates().reset_index(drop=True) if by else pd.DataFrame(index=[0])
    for v in values:
        for p in all_periods:
            name = f"{v}_{pd.Timestamp(p).date().isoformat()}" if period is not None else v
            sel = long[long["period"] == p] if period is not None else long
            wide[name] = sel[v].to_numpy()
    return wide


def reference_loyalty(df, *, points_per_unit=1.0, tiers=LOYALTY_TIERS, as_of=None, window_days=None,
                      near=0.1, bonus=None, output="customers", customer="customer_id",
                      date="order_date", amount="amount"):
    days = local_days(df[date])
    as_of = days.max() if as_of is None else pd.Timestamp(as_of)
    counted = df[days >= as_of - pd.Timedelta(days=window_days - 1)] if window_days else df
    customers = sorted(df[customer].unique())
    spend = counted.groupby(customer)[amount].sum().reindex(customers, fill_value=0.0).astype(float)
    spend_points = np.floor(points_per_unit * spend.clip(lower=0)).astype("int64")
    names, thresholds = list(tiers), list(tiers.values())
    out = pd.DataFrame({customer: customers, "spend": spend.to_numpy(), "spend_points": spend_points.to_numpy()})
    points = spend_points.astype(float)
    if bonus is not None:
        extra = counted.groupby(customer)[bonus].sum().reindex(customers, fill_value=0.0).astype(float)
        out["bonus_points"] = extra.to_numpy()
        points = points + extra
    out["points"] = points.to_numpy()
    tier = [sum(p >= t for t in thresholds[1:]) for p in out["points"]]
    nxt = [k + 1 if k + 1 < len(names) else None for k in tier]
    out["tier"] = pd.Categorical([names[k] for k in tier], categories=names, ordered=True)
    out["next_tier"] = pd.Categorical([names[k] if k is not None else None for k in nxt], categories=names, ordered=True)
    gaps = [thresholds[k] - p if k is not None else None for k, p in zip(nxt, out["points"])]
    out["points_to_next"] = gaps
    out["close_to_next"] = [g is not None and g <= near * thresholds[k] for g, k in zip(gaps, nxt)]
    if output == "customers":
        return out
    rows = []
    for name in names:
        part = out[out["tier"] == name]
        rows.append({"tier": name, "customers": len(part),
                     "share": len(part) / len(out) if len(out) else None,
                     "mean_points": part["points"].mean() if len(part) else None,
                     "close_to_next": int(part["close_to_next"].sum())})
    result = pd.DataFrame(rows)
    result["tier"] = pd.Categorical(result["tier"], categories=names, ordered=True)
    return result
