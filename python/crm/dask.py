"""``crm`` on Dask: the same Rust pass on every partition of a ``dask.dataframe``, partial
states that travel as Arrow IPC bytes and merge in a tree, then the exact global step.

Needs the optional extra ``pip install 'crm-analytics[dask]'``; ``import crm`` does not.
Runs on whatever scheduler is active: a ``dask.distributed`` client when one exists (local
processes or a cluster), else Dask's default. Any partitioning works, a customer's rows may
be spread over many partitions, and empty partitions are fine. The result equals the
in-memory call on the concatenated data: counts and dates exactly, sums to the last bits
(float sums are merged in a different order).

In a ``dask.distributed`` worker, crm's own thread pool gets one thread (tasks are the
parallelism there, as the nanny arranges for OpenMP and BLAS); set ``CRM_NUM_THREADS`` in the
workers' environment to choose otherwise.

Results are per customer and returned as a pandas DataFrame: the merged state holds one
row per customer, so it fits wherever the in-memory result would.

>>> import crm.dask, dask.dataframe as dd                      # doctest: +SKIP
>>> ddf = dd.read_parquet("transactions/")                      # doctest: +SKIP
>>> table = crm.dask.rfm(ddf, as_of="2024-12-31")               # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Literal

import dask
import pyarrow as pa

from ._frames import _require, day_number
from ._partial import from_ipc, merge_states, partial_state, rfm_from_state, to_ipc
from ._rfm import Scheme
from .errors import InvalidArgumentError

__all__ = ["rfm"]

# A partition's state as it travels: Arrow IPC bytes (b"" for an empty partition) and the
# rows dropped by on_invalid="drop".
Partial = tuple[bytes, int]


def _one_thread_per_task() -> None:
    """In a Dask worker, tasks are the parallelism: like the nanny does for OpenMP and BLAS,
    crm's pool gets one thread there (unless CRM_NUM_THREADS says otherwise), so that
    workers sharing a machine do not oversubscribe its cores. Read when the pool is built."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return
    os.environ.setdefault("CRM_NUM_THREADS", "1")


def _partition_state(frame: Any, customer: str, date: str, amount: str, on_invalid: str) -> Partial:
    _one_thread_per_task()
    if len(frame) == 0:
        return b"", 0
    state, dropped = partial_state(frame, customer=customer, date=date, amount=amount, on_invalid=on_invalid)
    return to_ipc(state), dropped


def _merge(parts: list[Partial]) -> Partial:
    _one_thread_per_task()
    states = [from_ipc(data) for data, _ in parts if data]
    dropped = sum(d for _, d in parts)
    if len(states) <= 1:
        return (to_ipc(states[0]) if states else b""), dropped
    return to_ipc(merge_states(states)), dropped


def _state(ddf: Any, customer: str, date: str, amount: str, on_invalid: str, split_every: int) -> Any:
    """A delayed (state bytes, dropped): one task per partition, merged split_every at a
    time, so no single task holds more than split_every states."""
    if split_every < 2:
        raise InvalidArgumentError(f"split_every must be at least 2, got {split_every}")
    _require([str(c) for c in ddf.columns], [customer, date, amount])
    parts = ddf[[customer, date, amount]].to_delayed()
    state = dask.delayed(_partition_state, pure=True)
    level = [state(p, customer, date, amount, on_invalid) for p in parts]
    merge = dask.delayed(_merge, pure=True)
    while len(level) > 1:
        level = [merge(level[i : i + split_every]) for i in range(0, len(level), split_every)]
    return level[0] if level else dask.delayed((b"", 0))


def rfm(
    ddf: Any,
    *,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    as_of: Any = None,
    bins: int = 5,
    monetary: Literal["sum", "mean"] = "sum",
    segments: Scheme | None = "rfm11",
    labels: Literal["en", "zh"] = "en",
    on_invalid: Literal["raise", "drop"] = "raise",
    split_every: int = 8,
) -> Any:
    """``crm.rfm`` of a ``dask.dataframe``, as a pandas DataFrame (one row per customer).

    Same parameters and result as :func:`crm.rfm` (frequency counts purchase rows; distinct
    order ids are not supported on Dask yet). Score thresholds are global: they are computed
    exactly, once, from the merged state of all customers. ``split_every``: states merged
    per task of the merge tree.
    """
    data, dropped = dask.compute(_state(ddf, customer, date, amount, on_invalid, split_every))[0]
    if dropped:
        warnings.warn(
            f"crm.dask.rfm: dropped {dropped} row(s) with a null key, date or amount, or a NaN/infinite amount",
            stacklevel=2,
        )
    derive = dict(as_of=day_number(as_of), bins=bins, monetary=monetary, segments=segments, labels=labels)
    if not data:  # no rows at all: the in-memory result of the empty frame, for its schema
        import crm

        return crm.rfm(ddf._meta, customer=customer, date=date, amount=amount, as_of=as_of, bins=bins,
                       monetary=monetary, segments=segments, labels=labels)
    table: pa.Table = rfm_from_state(from_ipc(data), **derive)
    return table.to_pandas(date_as_object=False)
