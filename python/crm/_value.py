"""Customer value and product performance: thin wrappers over the Rust core.

Definitions: docs/value_definitions.md. Every function takes the transaction log as a
pandas or polars DataFrame, a pyarrow Table, a dict of numpy arrays or any object exposing
``__arrow_c_stream__``, and returns the same kind of frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from ._frames import day_number
from ._retention import OnInvalid, PeriodCode, _call, _names
from .errors import InvalidArgumentError

Frame = TypeVar("Frame")

DEFAULT_VALUE_TIERS: Mapping[str, float] = {"high": 0.2, "medium": 0.3, "low": 0.5}
DEFAULT_LOYALTY_TIERS: Mapping[str, float] = {"member": 0, "silver": 1_000, "gold": 5_000, "platinum": 20_000}
PERFORMANCE_VALUES = ("quantity", "revenue", "customers", "orders")


def _pairs(tiers: Mapping[str, float], name: str) -> list[tuple[str, float]]:
    if not isinstance(tiers, Mapping) or not tiers:
        raise InvalidArgumentError(f"{name} must be a non-empty mapping of tier name to number, got {tiers!r}")
    return [(str(k), float(v)) for k, v in tiers.items()]


def cost_parts(cost: str | float | None) -> tuple[str | None, float | None]:
    """``profitability``'s ``cost`` as (cost column, cost rate): at most one is given."""
    if isinstance(cost, bool) or not (cost is None or isinstance(cost, (str, int, float))):
        raise InvalidArgumentError(f"cost must be None, a column name or a rate, got {cost!r}")
    column = cost if isinstance(cost, str) else None
    rate = None if cost is None or isinstance(cost, str) else float(cost)
    return column, rate


def loyalty_tiers(tiers: Mapping[str, float]) -> list[tuple[str, float]]:
    """``loyalty``'s tiers as (name, minimum points) pairs, the base tier first with 0."""
    pairs = _pairs(tiers, "tiers")
    if pairs[0][1] != 0:
        raise InvalidArgumentError(f"the first tier is the base tier and needs the threshold 0, got {pairs[0][1]}")
    return pairs


def profitability(
    data: Frame,
    *,
    cost: str | float | None = None,
    tiers: Mapping[str, float] = DEFAULT_VALUE_TIERS,
    output: Literal["customers", "deciles", "tiers"] = "customers",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Revenue, cost and margin per customer, their ranking, the Pareto curve, deciles, tiers.

    ``revenue`` is a customer's net amount (refunds subtract). ``cost`` is ``None`` (no cost:
    margin = revenue), the name of a cost column (summed per customer, refund rows as
    given), or a rate: cost = rate x revenue (``0.6`` for a 40 % gross margin).
    ``margin`` = revenue - cost, in the currency of ``amount``.

    Ties are decided by value, never by row order: ``margin_rank`` = 1 + customers with a
    strictly larger margin; ``customer_share`` = share of customers whose margin is at least
    this customer's, and ``cumulative_margin_share`` = the share of the total margin they
    bring (the Pareto curve: where ``customer_share`` is 0.2, "the top 20 % bring X %").
    ``decile`` = 1 + floor(10 x (rank - 1) / customers). ``tiers`` maps names to shares of
    customers, most profitable first, summing to 1 (default high 20 %, medium 30 %, low 50 %);
    tier k holds ranks up to ceil(cumulative share x customers), so customers tied at a cut
    all go to the higher tier.

    Parameters
    ----------
    output : ``"customers"`` (one row per customer, by rank), ``"deciles"`` (10 rows, empty
        deciles included) or ``"tiers"`` (one row per tier).

    Returns
    -------
    ``"customers"``: the customer column, ``revenue``, ``cost``, ``margin``, ``margin_rate``
    (margin / revenue, null unless revenue > 0), ``margin_rank``, ``customer_share``,
    ``cumulative_margin_share`` (null unless the total margin > 0), ``decile``, ``tier``
    (ordered categorical). ``"deciles"``/``"tiers"``: ``decile`` or ``tier``, ``customers``,
    ``revenue``, ``cost``, ``margin``, ``margin_share``, ``cumulative_customer_share``,
    ``cumulative_margin_share``.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 2, 3, 4, 5],
    ...     "order_date": pd.to_datetime(["2024-01-03", "2024-02-01", "2024-01-09",
    ...                                   "2024-02-11", "2024-03-01", "2024-03-02"]),
    ...     "amount": [60.0, 40.0, 50.0, 20.0, 10.0, -5.0],
    ... })
    >>> crm.profitability(log, cost=0.5)[["customer_id", "margin", "margin_rank", "cumulative_margin_share", "tier"]]
       customer_id  margin  margin_rank  cumulative_margin_share    tier
    0            1    50.0            1                 0.571429    high
    1            2    25.0            2                 0.857143  medium
    2            3    10.0            3                 0.971429  medium
    3            4     5.0            4                 1.028571     low
    4            5    -2.5            5                 1.000000     low
    >>> crm.profitability(log, output="tiers")[["tier", "customers", "margin_share"]]
         tier  customers  margin_share
    0    high          1      0.571429
    1  medium          2      0.400000
    2     low          2      0.028571
    """
    column, rate = cost_parts(cost)
    return _call(
        "profitability",
        data,
        [customer, date, amount, column],
        customer=customer,
        date=date,
        amount=amount,
        cost_column=column,
        cost_rate=rate,
        tiers=_pairs(tiers, "tiers"),
        output=output,
        on_invalid=on_invalid,
    )


def performance(
    data: Frame,
    *,
    by: str | Sequence[str] | None = ("category", "region"),
    period: PeriodCode | None = "M",
    values: Sequence[str] = PERFORMANCE_VALUES,
    shape: Literal["long", "wide"] = "long",
    quantity: str = "quantity",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Product distribution: quantity, revenue, customers and orders by ``by`` x period.

    Values (any of them, in the order given): ``quantity`` (units on purchase rows, i.e.
    amount > 0, from the ``quantity`` column), ``revenue`` (net amount, refunds subtract),
    ``gross`` (amount of purchase rows), ``refunds`` (amount refunded, positive),
    ``customers`` (distinct customers with a purchase), ``orders`` (distinct orders with a
    purchase when ``order`` is given, else purchase rows). A refund counts in the group and
    period of its own row.

    Parameters
    ----------
    by : column name(s) to group by; ``None`` or ``()`` for the whole log.
    period : ``"W"`` (ISO weeks), ``"M"``, ``"Q"``, ``"Y"`` or ``None`` (one window). Every
        period from the first to the last day of the data gets a cell for every group that
        occurs, with zeros where the group had no rows.
    shape : ``"long"``: one row per (group, period) with a ``period`` column (first day);
        ``"wide"``: one row per group and a column ``<value>_<period start>`` per value and
        period (the pivot for a report).

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 2, 2],
    ...     "order_date": pd.to_datetime(["2024-01-03", "2024-02-01", "2024-01-09", "2024-01-20"]),
    ...     "amount": [10.0, 5.0, 30.0, -10.0],
    ...     "quantity": [1, 1, 3, 1],
    ...     "category": ["Books", "Books", "Toys", "Toys"],
    ... })
    >>> crm.performance(log, by="category")
      category     period  quantity  revenue  customers  orders
    0    Books 2024-01-01       1.0     10.0          1       1
    1    Books 2024-02-01       1.0      5.0          1       1
    2     Toys 2024-01-01       3.0     20.0          1       1
    3     Toys 2024-02-01       0.0      0.0          0       0
    >>> crm.performance(log, by="category", values=["revenue"], shape="wide")
      category  revenue_2024-01-01  revenue_2024-02-01
    0    Books                10.0                 5.0
    1     Toys                20.0                 0.0
    """
    if isinstance(values, str):
        values = [values]
    values = list(values)
    groups = _names(by)
    needs_quantity = "quantity" in values
    return _call(
        "performance",
        data,
        [customer, date, amount, order, *groups, quantity if needs_quantity else None],
        customer=customer,
        date=date,
        amount=amount,
        order=order,
        by=groups,
        period=period,
        values=values,
        quantity=quantity if needs_quantity else None,
        shape=shape,
        on_invalid=on_invalid,
    )


def loyalty(
    data: Frame,
    *,
    points_per_unit: float = 1.0,
    tiers: Mapping[str, float] = DEFAULT_LOYALTY_TIERS,
    as_of: Any = None,
    window_days: int | None = None,
    near: float = 0.1,
    bonus: str | None = None,
    output: Literal["customers", "tiers"] = "customers",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Loyalty points (积分) and tiers (会员等级) per customer, and who is close to the next tier.

    ``spend`` = net amount (refunds subtract) in the window: the last ``window_days`` days up
    to ``as_of`` inclusive (``None``: the whole log). ``spend_points`` = floor(points_per_unit x
    spend), 0 when the spend is not positive; ``bonus`` names a column of extra points per
    row (reviews, sign-ups...) summed in the same window. ``points`` = spend_points + bonus.
    ``tiers`` maps names to minimum points, ascending, the first being the base tier with 0
    (default member 0, silver 1000, gold 5000, platinum 20000). A customer is "close to the
    next tier" when the points missing are at most ``near`` x that tier's threshold.

    Returns
    -------
    ``output="customers"``: the customer column, ``spend``, ``spend_points``,
    ``bonus_points`` (with ``bonus``), ``points``, ``tier``, ``next_tier`` (null at the top),
    ``points_to_next``, ``close_to_next``. ``output="tiers"``: ``tier``, ``customers``,
    ``share``, ``mean_points``, ``close_to_next`` (how many).

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 2, 3],
    ...     "order_date": pd.to_datetime(["2024-01-03", "2024-02-01", "2024-01-09", "2024-02-11"]),
    ...     "amount": [600.0, 450.5, 95.0, 20.0],
    ... })
    >>> tiers = {"member": 0, "silver": 100, "gold": 1000}
    >>> crm.loyalty(log, tiers=tiers)[["customer_id", "points", "tier", "points_to_next", "close_to_next"]]
       customer_id  points    tier  points_to_next  close_to_next
    0            1  1050.0    gold             NaN          False
    1            2    95.0  member             5.0           True
    2            3    20.0  member            80.0          False
    """
    pairs = loyalty_tiers(tiers)
    return _call(
        "loyalty",
        data,
        [customer, date, amount, bonus],
        customer=customer,
        date=date,
        amount=amount,
        as_of=day_number(as_of),
        window_days=window_days,
        points_per_unit=points_per_unit,
        tiers=pairs,
        near=near,
        bonus=bonus,
        output=output,
        on_invalid=on_invalid,
    )
