"""Customer lifetime value: the buy-till-you-die summaries (thin wrappers over the Rust core).

Definitions follow the lifetimes package, so its users get the same numbers.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from ._retention import OnInvalid, _call
from ._frames import day_number

Frame = TypeVar("Frame")
TimeUnit = Literal["D", "W", "M"]


def summary(
    data: Frame,
    *,
    time_unit: TimeUnit = "W",
    observation_end: Any = None,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """Per customer ``frequency``, ``recency``, ``T`` and ``monetary_value``: the input of the
    BTYD models (the lifetimes convention).

    A purchase day is a calendar day with a transaction: any row but a refund (amount >= 0;
    a free order is a transaction, as in the CDNOW data); several on one day count as one. ``frequency`` = purchase days after the first; ``recency`` = age at the
    last purchase day and ``T`` = age at ``observation_end``, both from the first purchase day
    and expressed in ``time_unit`` (``"D"`` days, ``"W"`` weeks of 7 days, ``"M"`` months of
    365.25/12 days: purchases are never bucketed); ``monetary_value`` = mean amount of the
    repeat purchase days (each day's transactions summed; refunds are left out), 0 without
    repeats.
    Rows after ``observation_end`` (default: the last day of the data) are ignored, and so are
    customers without a purchase by then. ``time_unit="W"`` gives what lifetimes'
    ``summary_data_from_transaction_data(..., freq="D", freq_multiplier=7)`` gives.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 1, 2],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08"]),
    ...     "amount": [10.0, 5.0, 20.0, 8.0],
    ... })
    >>> crm.summary(log, observation_end="2024-01-29")
       customer_id  frequency  recency    T  monetary_value
    0            1          1      2.0  4.0            20.0
    1            2          0      0.0  3.0             0.0
    """
    return _call(
        "summary",
        data,
        [customer, date, amount],
        customer=customer,
        date=date,
        amount=amount,
        time_unit=time_unit,
        observation_end=day_number(observation_end, "observation_end"),
        on_invalid=on_invalid,
    )


def calibration_holdout(
    data: Frame,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    time_unit: TimeUnit = "W",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
) -> Frame:
    """The summary up to ``calibration_end`` and what happened after, up to ``observation_end``.

    Customers with a purchase by ``calibration_end`` get ``frequency_cal``, ``recency_cal``,
    ``T_cal``, ``monetary_value_cal`` (as :func:`summary` at ``calibration_end``), and
    ``frequency_holdout`` (purchase days in the holdout), ``monetary_value_holdout`` (their
    mean amount) and ``duration_holdout`` (holdout length in ``time_unit``); as lifetimes'
    ``calibration_and_holdout_data``.

    Examples
    --------
    >>> import crm, pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 1, 2],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-02-05", "2024-01-08"]),
    ...     "amount": [10.0, 20.0, 30.0, 8.0],
    ... })
    >>> out = crm.calibration_holdout(log, calibration_end="2024-01-29", observation_end="2024-02-26")
    >>> out[["customer_id", "frequency_cal", "T_cal", "frequency_holdout", "duration_holdout"]]
       customer_id  frequency_cal  T_cal  frequency_holdout  duration_holdout
    0            1              1    4.0                  1               4.0
    1            2              0    3.0                  0               4.0
    """
    calibration = day_number(calibration_end, "calibration_end")
    if calibration is None:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError("calibration_end is required (a date)")
    return _call(
        "calibration_holdout",
        data,
        [customer, date, amount],
        customer=customer,
        date=date,
        amount=amount,
        calibration_end=calibration,
        observation_end=day_number(observation_end, "observation_end"),
        time_unit=time_unit,
        on_invalid=on_invalid,
    )
