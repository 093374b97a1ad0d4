"""Service analytics (seed 004): tickets, contacts, satisfaction. Thin wrappers over the
Rust core; each takes a pandas or polars DataFrame, a pyarrow Table, a dict of numpy arrays
or any object exposing ``__arrow_c_stream__``, and returns the same kind of frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from ._frames import day_number, kind_of, to_arrow
from ._retention import OnInvalid, _call

Frame = TypeVar("Frame")
PeriodCode = Literal["W", "M", "Q", "Y"]


def _names(columns: str | Sequence[str] | None) -> list[str]:
    if columns is None:
        return []
    return [columns] if isinstance(columns, str) else list(columns)


def _needed(*columns: str | None) -> list[str]:
    return list(dict.fromkeys(c for c in columns if c is not None))


def tickets(
    tickets: Frame,
    *,
    kind: str = "type",
    by: str | Sequence[str] = ("product", "region", "representative"),
    period: PeriodCode | None = None,
    opened: str = "opened_at",
    closed: str = "closed_at",
    id: str = "ticket_id",
    as_of: Any = None,
    output: Literal["summary", "open"] = "summary",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Opinions, complaints and consultations: how many, how many resolved, how fast, and
    what stays open — per ticket kind x ``by`` values (x period of opening).

    The log is read as it stood at the end of the day ``as_of``: tickets opened later are
    left out, and a ticket closed after ``as_of`` (or never: ``closed`` null) is open.
    ``as_of`` defaults to the day of the latest opening or closing in the data, so that
    every ticket counts as recorded.

    Parameters
    ----------
    kind : the ticket type column (complaint / opinion / consultation...).
    by : further grouping columns (default product, region, representative); ``()`` gives
        one row per kind.
    period : None, or ``"W"`` (ISO weeks), ``"M"``, ``"Q"``, ``"Y"``: also group by the
        period in which the ticket was opened.
    opened, closed : date or timestamp columns (naive or tz-aware). ``closed`` is null
        while a ticket is open; a ``closed`` before ``opened`` is an InvalidDataError
        naming the row.
    id : the ticket id column, read only by ``output="open"``.
    as_of : a date (str, date, datetime, Timestamp). Ages count whole calendar days from
        the opening day (local day for tz-aware times) to ``as_of``.
    output : ``"summary"`` or ``"open"``.
    on_invalid : ``"raise"`` (default): a null in a used column other than ``closed`` is an
        InvalidDataError with the count and first row; ``"drop"`` drops such rows, with a
        warning giving the count.

    Returns
    -------
    ``output="summary"``: one row per kind x ``by`` values (x ``period``, its first day)
    that has tickets, sorted by those columns. ``tickets`` (opened by ``as_of``),
    ``resolved`` (closed by ``as_of``), ``share_resolved`` = resolved / tickets, ``open``;
    ``median_hours_to_resolve``, ``p90_hours_to_resolve`` and ``mean_hours_to_resolve`` of
    the resolved tickets, in hours from opening to closing (time zones: the real elapsed
    time). The quantiles interpolate linearly between the closest ranks, like numpy's
    default: with the n sorted hours x and h = (n - 1) q, x[floor h] + (h - floor h)
    (x[floor h + 1] - x[floor h]). ``oldest_open_days``: age in days at ``as_of`` of the
    oldest open ticket. Statistics without tickets to describe are null.

    ``output="open"``: the open tickets, oldest first (ties by kind and ``by`` values, then
    id): ``id``, ``kind``, ``by`` and ``opened`` columns as they are in the input, and
    ``open_days`` (age in days at ``as_of``).

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "ticket_id": [1, 2, 3, 4],
    ...     "type": ["complaint", "complaint", "consultation", "complaint"],
    ...     "opened_at": pd.to_datetime(["2024-03-01 09:00", "2024-03-02 10:00",
    ...                                  "2024-03-02 11:00", "2024-03-05 08:00"]),
    ...     "closed_at": pd.to_datetime(["2024-03-02 09:00", "2024-03-02 16:00", "2024-03-02 11:30", None]),
    ... })
    >>> crm.tickets(log, by=())[["type", "tickets", "resolved", "median_hours_to_resolve", "oldest_open_days"]]
               type  tickets  resolved  median_hours_to_resolve  oldest_open_days
    0     complaint        3         2                     15.0               0.0
    1  consultation        1         1                      0.5               NaN
    >>> crm.tickets(log, by=(), as_of="2024-03-10", output="open")
       ticket_id       type           opened_at  open_days
    0          4  complaint 2024-03-05 08:00:00          5
    """
    groups = _names(by)
    return _call(
        "tickets",
        tickets,
        _needed(kind, *groups, opened, closed, id if output == "open" else None),
        id=id,
        kind=kind,
        by=groups,
        opened=opened,
        closed=closed,
        period=period,
        as_of=day_number(as_of),
        output=output,
        on_invalid=on_invalid,
    )


def contacts(
    contacts: Frame,
    *,
    customer: str = "customer_id",
    department: str = "department",
    product: str | None = "product",
    date: str = "contacted_at",
    period: PeriodCode = "W",
    fatigue_departments: int = 2,
    output: Literal["summary", "fatigue"] = "summary",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Contact assessment: contacts per department x product x period, and the customers
    contacted by several departments in one period (contact fatigue).

    Parameters
    ----------
    product : the product column, or None not to group by product.
    date : date or timestamp column (tz-aware: the local day counts).
    period : ``"W"`` (ISO weeks, Monday first, the default), ``"M"``, ``"Q"`` or ``"Y"``.
    fatigue_departments : the least number of distinct departments (default 2) that
        makes a customer's period a fatigue case.
    output : ``"summary"`` or ``"fatigue"``.
    on_invalid : ``"raise"`` (default) or ``"drop"`` rows with a null in a used column
        (with a warning giving the count).

    Returns
    -------
    ``output="summary"``: for every department (x product) with contacts, one row per
    period from the first to the last period of the log (periods without contacts give
    zeros): the ``department`` (and ``product``) value, ``period`` (first day),
    ``contacts`` (rows) and ``customers`` (distinct customers contacted).

    ``output="fatigue"``: one row per customer and period with contacts from at least
    ``fatigue_departments`` distinct departments, sorted by customer then period: the
    customer key, ``period`` (first day), ``departments`` (distinct departments),
    ``contacts`` (all their contacts in the period) and ``department_names`` (the
    departments, sorted, joined with ", ").

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 1, 2],
    ...     "department": ["sales", "service", "sales", "sales"],
    ...     "product": ["Tea", "Tea", "Tea", "Mug"],
    ...     "contacted_at": pd.to_datetime(["2024-03-04", "2024-03-06", "2024-03-20", "2024-03-05"]),
    ... })
    >>> crm.contacts(log, product=None)
      department     period  contacts  customers
    0      sales 2024-03-04         2          2
    1      sales 2024-03-11         0          0
    2      sales 2024-03-18         1          1
    3    service 2024-03-04         1          1
    4    service 2024-03-11         0          0
    5    service 2024-03-18         0          0
    >>> crm.contacts(log, output="fatigue")
       customer_id     period  departments  contacts department_names
    0            1 2024-03-04            2         2   sales, service
    """
    return _call(
        "contacts",
        contacts,
        _needed(customer, department, product, date),
        customer=customer,
        department=department,
        product=product,
        date=date,
        period=period,
        fatigue_departments=fatigue_departments,
        output=output,
        on_invalid=on_invalid,
    )


def satisfaction(
    scores: Frame,
    *,
    customer: str = "customer_id",
    score: str = "score",
    by: str | Sequence[str] = ("product", "region"),
    share: float = 0.2,
    customers: Any = None,
    higher_is_better: bool = True,
    output: Literal["members", "profile"] = "members",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """The most and the least satisfied customers per group (default product x region),
    and how they differ.

    In each group a customer's score is the mean of their scores there. With n customers
    in the group and k = ceil(share x n) (share x n rounded to 9 decimals first, so
    0.2 x 15 = 3), a customer is on the ``"top"`` side when fewer than k customers of the
    group score strictly better, and on the ``"bottom"`` side when fewer than k score
    strictly worse. So customers tied at the cut are all in (a side can hold more than k),
    a group of one has its customer on both sides, and so does a group where everyone
    ties. Groups without scores do not appear.

    Parameters
    ----------
    score : a numeric column (e.g. 1-10); null or NaN is an InvalidDataError.
    by : grouping columns; ``()`` ranks all customers together.
    share : the fraction of each side, in (0, 0.5] (default 0.2: the 20 % most and 20 %
        least satisfied).
    customers : for ``output="profile"``, a table with one row per customer keyed by the
        same ``customer`` column (e.g. the output of ``crm.rfm``) — any supported frame.
    higher_is_better : False when a low score is the good one (e.g. customer effort).
    output : ``"members"`` or ``"profile"``.
    on_invalid : ``"raise"`` (default) or ``"drop"`` rows of ``scores`` with a null (or a
        NaN score) in a used column (with a warning giving the count). A null key in
        ``customers`` is always an error.

    Returns
    -------
    ``output="members"``: the group columns, the customer key, ``score`` (the customer's
    mean score in the group, under the ``score`` column's name), ``side`` ("top" or
    "bottom") and ``rank`` (1 + the customers strictly better for "top", strictly worse for
    "bottom"); sorted by group, side (top first), rank, customer.

    ``output="profile"``: one row per group and side: ``customers`` (members),
    ``mean_score``, ``missing_profile`` (members without a row in ``customers``; they count
    in ``customers`` and ``mean_score`` only), then from ``customers``: ``mean_<column>``
    for every numeric or boolean column (mean over the members with a value; for a boolean,
    the share true), and for every string or categorical column ``<column>_mode`` (the
    most common value among the members with one; ties: the smallest value) and
    ``<column>_mode_share`` (its share of them). Other columns (dates) are left out. The
    join is by key, in the core: both key columns are encoded with one customer index.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> scores = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5, 1],
    ...                        "score": [9, 7, 7, 2, 5, 7]})
    >>> crm.satisfaction(scores, by=())
       customer_id  score    side  rank
    0            1    8.0     top     1
    1            4    2.0  bottom     1
    >>> rfm = pd.DataFrame({"customer_id": [1, 4], "monetary": [120.0, 15.0],
    ...                     "segment": ["Champions", "Lost"]})
    >>> profile = crm.satisfaction(scores, by=(), customers=rfm, output="profile")
    >>> profile[["side", "customers", "mean_score", "mean_monetary", "segment_mode"]]
         side  customers  mean_score  mean_monetary segment_mode
    0     top          1         8.0          120.0    Champions
    1  bottom          1         2.0           15.0         Lost
    """
    groups = _names(by)
    table = None
    if customers is not None and output == "profile":
        table = to_arrow(customers, _columns_of(customers))
    return _call(
        "satisfaction",
        scores,
        _needed(customer, score, *groups),
        customer=customer,
        score=score,
        by=groups,
        share=share,
        customers=table,
        higher_is_better=higher_is_better,
        output=output,
        on_invalid=on_invalid,
    )


def _columns_of(frame: Any) -> list[str]:
    kind = kind_of(frame)
    if kind == "pyarrow":
        return list(frame.schema.names)
    if kind == "polars" and type(frame).__name__ == "LazyFrame":
        return frame.collect_schema().names()
    if kind == "dict":
        return list(frame.keys())
    return [str(c) for c in frame.columns]
