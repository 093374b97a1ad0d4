"""Retention, repurchase and churn: thin wrappers over the Rust core.

Definitions: docs/retention_definitions.md. Every function takes the transaction log as a
pandas or polars DataFrame, a pyarrow Table, a dict of numpy arrays or any object exposing
``__arrow_c_stream__``, and returns the same kind of frame.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Literal, TypeVar

from . import _core
from ._frames import day_number, from_arrow, kind_of, to_arrow
from .errors import InvalidArgumentError

Frame = TypeVar("Frame")
PeriodCode = Literal["W", "M", "Q", "Y"]
OnInvalid = Literal["raise", "drop"]

DEFAULT_WEIGHTS = {"recency": 0.4, "frequency": 0.3, "monetary": 0.3}
DEFAULT_EXTRA_WEIGHT = 0.3


def _call(
    name: str,
    data: Any,
    columns: Sequence[str | None],
    **kwargs: Any,
) -> Any:
    """Run ``_core.<name>`` on the needed columns; warn about dropped rows; same kind back."""
    kind = kind_of(data)
    needed = list(dict.fromkeys(c for c in columns if c is not None))
    function: Callable[..., Any] = getattr(_core, name)
    capsule, dropped = function(to_arrow(data, needed), **kwargs)
    if dropped:
        warnings.warn(
            f"crm.{name}: dropped {dropped} row(s) with a null or NaN/infinite value in a used column",
            stacklevel=3,
        )
    return from_arrow(capsule, kind)


def _names(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def repurchase(
    data: Frame,
    *,
    period: PeriodCode | None = None,
    by: str | Sequence[str] | None = None,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """The three repurchase rates (复购率) with their counts, overall, per period, per group.

    In each window (the whole log, or each period when ``period`` is given; times each value
    combination of the ``by`` columns), with n = a customer's purchases in the window:
    ``customer_rate`` = customers with n >= 2 / customers with n >= 1; ``order_rate`` =
    repeat purchases (every purchase after a customer's first) / all purchases;
    ``intensity`` = purchases of repeat customers / customers. A purchase is a row with a
    positive amount, or a distinct order when ``order`` is given.

    Parameters
    ----------
    period : None (one window), ``"W"`` (ISO weeks), ``"M"``, ``"Q"`` or ``"Y"``. Every
        period from the first to the last day of the data gets a row, empty ones included.
    by : a column name or a list of them (e.g. ``"channel"``).

    Returns
    -------
    Columns: the ``by`` columns, ``period`` (first day, when given), ``customers``,
    ``repeat_customers``, ``orders``, ``repeat_orders``, ``repeat_customer_orders`` (counts)
    and ``customer_rate``, ``order_rate``, ``intensity`` (null when the denominator is 0).

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 1, 2, 3, 3],
    ...     "order_date": pd.to_datetime(["2024-01-03", "2024-01-20", "2024-02-02",
    ...                                   "2024-01-09", "2024-02-11", "2024-02-12"]),
    ...     "amount": [10.0, 12.0, 8.0, 30.0, 5.0, 7.0],
    ... })
    >>> crm.repurchase(log)[["customers", "repeat_customers", "customer_rate", "order_rate"]]
       customers  repeat_customers  customer_rate  order_rate
    0          3                 2       0.666667         0.5
    >>> crm.repurchase(log, period="M")[["period", "customers", "repeat_customers", "orders"]]
          period  customers  repeat_customers  orders
    0 2024-01-01          2                 1       3
    1 2024-02-01          2                 1       3
    """
    groups = _names(by)
    return _call(
        "repurchase",
        data,
        [customer, date, amount, order, *groups],
        customer=customer,
        date=date,
        amount=amount,
        order=order,
        period=period,
        by=groups,
        on_invalid=on_invalid,
    )


def interpurchase(
    data: Frame,
    *,
    output: Literal["customers", "distribution"] = "customers",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Days between consecutive purchase days, per customer or as an overall distribution.

    Several purchases on one calendar day are one visit, so gaps are >= 1 day.

    Returns
    -------
    ``output="customers"``: the customer column, ``purchase_days``, ``gaps``,
    ``mean_gap_days``, ``median_gap_days``, ``min_gap_days``, ``max_gap_days`` (null without
    a gap). ``output="distribution"``: ``gap_days``, ``gaps`` (how many), ``share`` and
    ``cumulative_share``, one row per gap length present.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 1, 2],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-31", "2024-01-05"]),
    ...     "amount": [10.0, 12.0, 8.0, 30.0],
    ... })
    >>> crm.interpurchase(log)[["customer_id", "gaps", "mean_gap_days", "max_gap_days"]]
       customer_id  gaps  mean_gap_days  max_gap_days
    0            1     2           15.0          20.0
    1            2     0            NaN           NaN
    >>> crm.interpurchase(log, output="distribution")
       gap_days  gaps  share  cumulative_share
    0        10     1    0.5               0.5
    1        20     1    0.5               1.0
    """
    return _call(
        "interpurchase",
        data,
        [customer, date, amount],
        customer=customer,
        date=date,
        amount=amount,
        output=output,
        on_invalid=on_invalid,
    )


def lifecycle(
    data: Frame,
    *,
    as_of: Any = None,
    thresholds: tuple[int, int, int] = (90, 180, 365),
    labels: Literal["en", "zh"] = "en",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Each customer's lifecycle stage by days since their last purchase.

    With d = days from the last purchase to ``as_of`` and thresholds (t1, t2, t3) in days:
    d <= t1 ``honeymoon`` (蜜月期), <= t2 ``active`` (活跃期), <= t3 ``lapsing`` (流失期),
    else ``dormant`` (休眠期); ``labels="zh"`` gives the Chinese names.

    Parameters
    ----------
    as_of : the date of the analysis; default the last day in the data; earlier is an error.

    Returns
    -------
    The customer column, ``first_purchase``, ``last_purchase`` (dates), ``tenure_days``,
    ``days_since_last_purchase`` and ``stage`` (categorical, in stage order); nulls for a
    customer without purchases.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 2, 3],
    ...     "order_date": pd.to_datetime(["2024-06-20", "2024-02-01", "2023-01-10"]),
    ...     "amount": [10.0, 12.0, 8.0],
    ... })
    >>> crm.lifecycle(log, as_of="2024-06-30")[["customer_id", "days_since_last_purchase", "stage"]]
       customer_id  days_since_last_purchase      stage
    0            1                        10  honeymoon
    1            2                       150     active
    2            3                       537    dormant
    """
    if len(thresholds) != 3:
        raise InvalidArgumentError(f"thresholds must be three day counts (t1, t2, t3), got {thresholds!r}")
    return _call(
        "lifecycle",
        data,
        [customer, date, amount],
        customer=customer,
        date=date,
        amount=amount,
        as_of=day_number(as_of),
        thresholds=tuple(thresholds),
        labels=labels,
        on_invalid=on_invalid,
    )


def churn_risk(
    data: Frame,
    *,
    as_of: Any = None,
    window: int = 90,
    overdue_factor: float = 2.0,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Churn early warning (流失预警): per customer, a falling buying rate and being overdue.

    ``declining``: fewer purchases in the last ``window`` days than in the ``window`` days
    before. ``overdue``: days since the last purchase > ``overdue_factor`` x the customer's
    median gap between purchase days; a customer with a single purchase day is measured
    against the median gap of all customers (``rhythm="population"``). ``risk`` is high when
    both hold, medium when one does, low otherwise; ``reason`` says why in a sentence.

    Returns
    -------
    The customer column, ``last_purchase``, ``days_since_last_purchase``,
    ``purchases_recent``, ``purchases_prior``, ``median_gap_days`` (the rhythm used, days),
    ``rhythm``, ``overdue_ratio``, ``declining``, ``overdue``, ``risk`` (categorical low <
    medium < high) and ``reason``.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 1, 2, 2, 2],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-31", "2024-03-01",
    ...                                   "2024-05-01", "2024-05-31", "2024-06-25"]),
    ...     "amount": [10.0, 12.0, 8.0, 30.0, 5.0, 7.0],
    ... })
    >>> out = crm.churn_risk(log, as_of="2024-06-30")
    >>> out[["customer_id", "purchases_recent", "purchases_prior", "overdue_ratio", "risk"]]
       customer_id  purchases_recent  purchases_prior  overdue_ratio  risk
    0            1                 0                2       4.033333  high
    1            2                 3                0       0.181818   low
    >>> print(out["reason"][0])
    no purchase for 121 days, 4.0× their usual 30-day gap; 0 purchases in the last 90 days vs 2 in the 90 before
    """
    return _call(
        "churn_risk",
        data,
        [customer, date, amount, order],
        customer=customer,
        date=date,
        amount=amount,
        order=order,
        as_of=day_number(as_of),
        window=window,
        overdue_factor=overdue_factor,
        on_invalid=on_invalid,
    )


def cohorts(
    data: Frame,
    *,
    period: PeriodCode = "M",
    metric: Literal["retention", "active_customers", "revenue", "cumulative_revenue_per_customer"] = "retention",
    format: Literal["long", "wide"] = "long",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """The cohort matrix: customers grouped by the period of their first purchase.

    For each cohort and each period number k since it (0, 1, ... up to the last period of
    the data): ``retention`` (share of the cohort buying in period k), ``active_customers``,
    ``revenue`` (all amounts of the cohort in period k, refunds included) or
    ``cumulative_revenue_per_customer`` (revenue of periods 0..k / cohort size). Every
    period of the data is a cohort, even one where nobody bought first (size 0, ratios null).

    Returns
    -------
    ``format="long"``: ``cohort`` (first day of its period), ``cohort_size``,
    ``period_number`` and the metric's column. ``format="wide"``: ``cohort``,
    ``cohort_size`` and one column per period number ("0", "1", ...), null past the data.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 2, 3, 3],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-02-07", "2024-01-20",
    ...                                   "2024-02-02", "2024-03-03"]),
    ...     "amount": [10.0, 12.0, 8.0, 30.0, 5.0],
    ... })
    >>> crm.cohorts(log, format="wide")
          cohort  cohort_size    0    1    2
    0 2024-01-01            2  1.0  0.5  0.0
    1 2024-02-01            1  1.0  1.0  NaN
    2 2024-03-01            0  NaN  NaN  NaN
    """
    return _call(
        "cohorts",
        data,
        [customer, date, amount],
        customer=customer,
        date=date,
        amount=amount,
        period=period,
        metric=metric,
        format=format,
        on_invalid=on_invalid,
    )


def acquisition(
    data: Frame,
    *,
    period: PeriodCode = "M",
    lapse_days: int = 180,
    as_of: Any = None,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """New, reactivated, lost and retained customers per period, and the CR index.

    A customer is live while their last purchase is at most ``lapse_days`` days old and is
    lost the day after; a purchase after that is a reactivation. ``cr_index`` = new / lost
    (null when nobody was lost); ``retention_rate`` = customers live at the start of the
    period and not lost during it / customers live at the start; ``churn_rate`` = 1 - that.

    Returns
    -------
    One row per period from the first of the data to the one holding ``as_of``: ``period``,
    ``start_customers``, ``new``, ``reactivated``, ``lost``, ``retained``,
    ``end_customers``, ``active``, ``cr_index``, ``churn_rate``, ``retention_rate``.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 2, 1, 3],
    ...     "order_date": pd.to_datetime(["2024-01-10", "2024-01-15", "2024-03-20", "2024-04-02"]),
    ...     "amount": [10.0, 12.0, 8.0, 30.0],
    ... })
    >>> out = crm.acquisition(log, lapse_days=30)
    >>> out[["period", "start_customers", "new", "reactivated", "lost", "cr_index"]]
          period  start_customers  new  reactivated  lost  cr_index
    0 2024-01-01                0    2            0     0       NaN
    1 2024-02-01                2    0            0     2       0.0
    2 2024-03-01                0    0            1     0       NaN
    3 2024-04-01                1    1            0     0       NaN
    """
    return _call(
        "acquisition",
        data,
        [customer, date, amount],
        customer=customer,
        date=date,
        amount=amount,
        period=period,
        lapse_days=lapse_days,
        as_of=day_number(as_of),
        on_invalid=on_invalid,
    )


def activity_weights(weights: Mapping[str, float] | None, extra: Sequence[str]) -> dict[str, float]:
    """Every indicator's weight: the defaults overridden by ``weights`` (by name)."""
    resolved = dict(DEFAULT_WEIGHTS)
    resolved.update({name: DEFAULT_EXTRA_WEIGHT for name in extra})
    for name, weight in (weights or {}).items():
        if name not in resolved:
            known = ", ".join(f"'{k}'" for k in resolved)
            raise InvalidArgumentError(f"weights has an unknown indicator '{name}'; known: {known}")
        resolved[name] = float(weight)
    return resolved


def activity(
    data: Frame,
    *,
    as_of: Any = None,
    weights: Mapping[str, float] | None = None,
    half_life_days: float = 90.0,
    extra: Sequence[str] | None = None,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """The member activity score (会员活跃度), 0..100, per customer.

    A weighted mean of indicators in [0, 1]: ``recency`` = 0.5 ** (days since the last
    purchase / ``half_life_days``), decaying every day; ``frequency`` (purchases) and
    ``monetary`` (net spend) as percentile ranks among all customers; and for each column
    named in ``extra`` (numeric engagement columns of the log, summed per customer) its
    percentile rank. Default weights: recency 0.4, frequency 0.3, monetary 0.3 and 0.3 for
    each extra column; ``weights`` overrides any of them by name.

    Returns
    -------
    The customer column, ``days_since_last_purchase``, ``purchases``, ``net_spend``, the
    extra sums, ``recency_indicator``, ``frequency_indicator``, ``monetary_indicator``, the
    ``<extra>_indicator`` columns and ``activity``.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 2],
    ...     "order_date": pd.to_datetime(["2024-03-01", "2024-06-01", "2024-01-01"]),
    ...     "amount": [10.0, 12.0, 8.0],
    ...     "reviews": [1, 0, 3],
    ... })
    >>> out = crm.activity(log, as_of="2024-06-30", half_life_days=30, extra=["reviews"],
    ...                    weights={"reviews": 0.1})
    >>> out[["customer_id", "recency_indicator", "reviews_indicator", "activity"]].round(3)
       customer_id  recency_indicator  reviews_indicator  activity
    0            1              0.512                0.5    77.698
    1            2              0.015                1.0    36.919
    """
    extra_columns = list(extra or [])
    resolved = activity_weights(weights, extra_columns)
    return _call(
        "activity",
        data,
        [customer, date, amount, order, *extra_columns],
        customer=customer,
        date=date,
        amount=amount,
        order=order,
        as_of=day_number(as_of),
        half_life_days=float(half_life_days),
        weights=(resolved["recency"], resolved["frequency"], resolved["monetary"]),
        extra=extra_columns,
        extra_weights=[resolved[name] for name in extra_columns],
        on_invalid=on_invalid,
    )
