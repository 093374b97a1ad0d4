"""``crm.rfm`` and ``crm.segment``: thin wrappers over the Rust core."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal, TypeVar, Union

import pyarrow as pa

from . import _core
from ._frames import _Capsule, day_number, from_arrow, kind_of, to_arrow, with_column
from ._partial import is_stream, rfm_from_state, stream_state

Frame = TypeVar("Frame")
Range = tuple[int, int]
Rule = tuple[str, Range, Range, Range]
Scheme = Union[Literal["rfm11", "value8"], Sequence[Rule]]


def rfm(
    data: Frame,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    as_of: Any = None,
    bins: int = 5,
    monetary: Literal["sum", "mean"] = "sum",
    segments: Scheme | None = "rfm11",
    labels: Literal["en", "zh"] = "en",
    on_invalid: Literal["raise", "drop"] = "raise",
    progress: bool | None = None,
) -> Frame:
    """RFM table of a transaction log: one row per customer, sorted by customer key.

    Parameters
    ----------
    data : pandas or polars DataFrame, pyarrow Table, dict of numpy arrays, or any object
        exposing ``__arrow_c_stream__`` (e.g. a duckdb relation). One row per transaction.
        A ``pyarrow.dataset.Dataset`` (e.g. a folder of Parquet files) or a
        ``pyarrow.RecordBatchReader`` is streamed: read a slice of rows at a time, so a log
        larger than memory runs in memory that grows with the number of customers, not rows
        (the result is a pyarrow Table; with ``order``, the distinct order ids are kept too,
        so memory also grows with the number of orders).
    customer, date, amount : column names. Keys may be integers, strings or categoricals;
        dates may be dates or timestamps (any unit), naive or tz-aware: a tz-aware timestamp
        counts on its local calendar day in its own zone. A negative amount is a refund.
    order : optional order-id column; when given, frequency counts distinct orders.
    as_of : date the analysis is run on (str, date, datetime, Timestamp). Default: the latest
        date in the data. Must not be earlier than the last purchase.
    bins : number of score levels (1..30), default 5.
    monetary : ``"sum"`` (net spend, refunds subtracted) or ``"mean"`` (net spend per purchase).
    segments : ``"rfm11"`` (11 named segments, needs ``bins=5``), ``"value8"`` (八类客户:
        high/low R, F, M against the mean), an ordered list of custom rules
        ``(name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi))`` (first match wins, else "Other"),
        or None for no segment column.
    labels : ``"en"`` or ``"zh"`` (Chinese segment names).
    on_invalid : ``"raise"`` (default) on null keys/dates/amounts or NaN/infinite amounts, or
        ``"drop"`` to drop those rows with a warning giving the count.
    progress : streamed input only: rows done on stderr (default: when stderr is a terminal).

    Returns
    -------
    The same kind of frame as ``data`` with columns: the customer column (original name and
    type), ``recency`` (days from the last purchase to ``as_of``; null without purchases),
    ``frequency`` (purchases: rows with amount > 0, or distinct orders), ``monetary`` (in the
    amount's currency), ``first_purchase``, ``last_purchase`` (dates), ``r_score``,
    ``f_score``, ``m_score`` (1..bins, higher is better; recent = high R), ``rfm_code``
    ("545"), ``rfm_score`` (r + f + m) and ``segment``. Scores use average ranks: equal
    values get equal scores and bins are as balanced as ties allow (docs/rfm_definitions.md).

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 2, 3],
    ...     "order_date": pd.to_datetime(["2024-01-05", "2024-03-01", "2024-02-10", "2024-03-02"]),
    ...     "amount": [20.0, 35.5, 12.0, 80.0],
    ... })
    >>> out = crm.rfm(log, as_of="2024-03-31")
    >>> out[["customer_id", "recency", "frequency", "monetary", "rfm_code", "segment"]]
       customer_id  recency  frequency  monetary rfm_code             segment
    0            1       30          2      55.5      353     Loyal Customers
    1            2       50          1      12.0      121                Lost
    2            3       29          1      80.0      525  Potential Loyalist
    """
    if is_stream(data):
        return _rfm_streamed(
            data,
            customer=customer,
            date=date,
            amount=amount,
            order=order,
            on_invalid=on_invalid,
            progress=progress,
            derive=dict(as_of=day_number(as_of), bins=bins, monetary=monetary, segments=segments, labels=labels),
        )
    columns = [customer, date, amount] + ([order] if order is not None else [])
    kind = kind_of(data)
    capsule, dropped = _core.rfm(
        to_arrow(data, columns),
        customer=customer,
        date=date,
        amount=amount,
        order=order,
        as_of=day_number(as_of),
        bins=bins,
        monetary=monetary,
        segments=segments,
        labels=labels,
        on_invalid=on_invalid,
    )
    if dropped:
        _warn_dropped(dropped)
    return from_arrow(capsule, kind)


def _rfm_streamed(data: Any, *, derive: dict[str, Any], **columns: Any) -> Any:
    state, dropped = stream_state(data, **columns)
    if dropped:
        _warn_dropped(dropped, stacklevel=4)
    return rfm_from_state(state, **derive)


def _warn_dropped(dropped: int, stacklevel: int = 3) -> None:
    warnings.warn(
        f"crm.rfm: dropped {dropped} row(s) with a null key, date or amount, or a NaN/infinite amount",
        stacklevel=stacklevel,
    )


def segment(rfm_frame: Frame, scheme: Scheme = "rfm11", *, labels: Literal["en", "zh"] = "en") -> Frame:
    """Re-segment an existing RFM table without recomputing it.

    Rule schemes (``"rfm11"`` and custom rule lists) read ``r_score``, ``f_score`` and
    ``m_score``; ``"value8"`` reads ``recency`` (days), ``frequency`` and ``monetary``.
    Returns the same kind of frame with its ``segment`` column set.

    Examples
    --------
    >>> import crm
    >>> table = crm.rfm(crm.datasets.synthetic(200, seed=1), segments=None)
    >>> vip = [("VIP", (4, 5), (4, 5), (4, 5)), ("Sleeping", (1, 2), (1, 5), (1, 5))]
    >>> sorted(crm.segment(table, vip)["segment"].unique())
    ['Other', 'Sleeping', 'VIP']
    """
    needed = ["recency", "frequency", "monetary"] if scheme == "value8" else ["r_score", "f_score", "m_score"]
    capsule = _core.segment(to_arrow(rfm_frame, needed), scheme=scheme, labels=labels)
    column = pa.table(_Capsule(capsule)).column("segment")
    return with_column(rfm_frame, "segment", column)

