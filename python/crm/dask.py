"""``crm`` on Dask: the same Rust pass on every partition of a ``dask.dataframe``, partial
states that travel as Arrow IPC bytes and merge in a tree, then the exact global step.

Needs the optional extra ``pip install 'crm-analytics[dask]'``; ``import crm`` does not.
Runs on whatever scheduler is active: a ``dask.distributed`` client when one exists (local
processes or a cluster), else Dask's default. Any partitioning works, a customer's rows may
be spread over many partitions, and empty partitions are fine. The result equals the
in-memory call on the concatenated data: counts and dates exactly, sums to the last bits
(float sums are merged in a different order).

Several kinds of partial state travel. ``rfm`` merges one row per customer (counts, first and
last purchase, sums). The functions of the customers' histories (``summary``,
``calibration_holdout``, ``repurchase``, ``cohorts``, ``interpurchase``, ``lifecycle``,
``churn_risk``, ``acquisition``, ``activity``, ``profitability``, ``performance``,
``loyalty``) merge one row per customer and calendar day (purchase rows, zero-amount rows,
net and purchase sums): rows of one customer and day in two partitions add up, so the merged
history is the history of the whole log. The market-basket functions (``frequent_itemsets``,
``basket_rules``, ``cross_sell``) merge one row per order (per customer for ``cross_sell``):
its distinct items, as codes into a dictionary of the partition's items; an order's lines in
several partitions make one basket after merging.

They take the same keyword parameters, with the same defaults, as the in-memory functions.
What the optional ones need travels in the per-day state only when they are given: with
``by`` groups (``repurchase``, ``performance``) a row per customer, group and day, the
groups carried by their values (equal values in two partitions are one group); with an
``order`` column (``repurchase``, ``churn_risk``, ``activity``, ``performance``) each row
lists the orders first bought that day, and an order whose lines fall in several partitions,
on different days, counts once, on its earliest day (the state then grows with the number of
orders); with ``extra`` engagement columns (``activity``), a ``cost`` column
(``profitability``) or a ``bonus`` column (``loyalty``) their compensated sums per day (so
``loyalty``'s window is cut after merging); with ``"quantity"`` among ``performance``'s
values, the quantity's sums per day over the purchase rows. ``split_every`` (default 8) is
the number of states merged per task of the merge tree.

A task makes the state of one partition, except for a frame persisted on a
``dask.distributed`` cluster: there the partitions a worker holds are summarized together,
in as many tasks as the worker has threads (more if a task would take over ``split_every``
partitions), one pass over their rows each, and the worker's states are merged there, so
one state per worker, not one per partition, crosses to another. Either way a row an error
names is numbered within its partition.

The service functions (``tickets``, ``contacts``, ``satisfaction``) merge states of their own:
per ticket kind, ``by`` values and period the counts and every resolved ticket's time to resolve
(so the median and p90 are exact), or the open tickets' rows (``output="open"``); per customer,
department, product and period the contacts; per group and customer the scores' compensated sum
and count. Without ``as_of``, ticket states keep every ticket as recorded, and the merged state
is read at the latest day of all partitions.

Results are returned as pandas DataFrames: per-customer results hold one row per customer,
like the merged state, so they fit wherever the in-memory result would; the others are
small (one row per period, cohort cell or gap length, itemset or rule). The functions of the
histories derive their result in the task that holds the merged per-day state, so only the
result, not the state (about as large as the log), travels to the client; so do the basket
functions, whose last merge happens in that task (``cross_sell``'s rules, small, are sent to
it). ``cross_sell`` gives at most ``top_n`` rows per customer.

In a ``dask.distributed`` worker, crm's own thread pool gets one thread (tasks are the
parallelism there, as the nanny arranges for OpenMP and BLAS); set ``CRM_NUM_THREADS`` in the
workers' environment to choose otherwise. Memory crm frees there is kept for 10 s before it
goes back to the system, for the worker's next task.

>>> import crm.dask, dask.dataframe as dd                      # doctest: +SKIP
>>> ddf = dd.read_parquet("transactions/")                      # doctest: +SKIP
>>> table = crm.dask.rfm(ddf, as_of="2024-12-31")               # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

try:
    import dask
except ImportError as exc:  # the optional extra
    raise ImportError("crm.dask needs Dask: pip install 'crm-analytics[dask]'") from exc
import numpy as np
import pyarrow as pa

from . import _core
from ._baskets import RULE_COLUMNS, warn_dropped, with_python_lists
from ._frames import _Capsule, _require, day_number, to_arrow
from ._partial import from_ipc, partial_state, rfm_from_state, to_ipc
from ._retention import OnInvalid, PeriodCode, _names, activity_weights
from ._service import _columns_of
from ._rfm import Scheme
from ._value import DEFAULT_LOYALTY_TIERS, DEFAULT_VALUE_TIERS, PERFORMANCE_VALUES, _pairs, cost_parts, loyalty_tiers
from .errors import CrmError, InvalidArgumentError

__all__ = [
    "rfm",
    "summary",
    "calibration_holdout",
    "repurchase",
    "cohorts",
    "interpurchase",
    "lifecycle",
    "churn_risk",
    "acquisition",
    "activity",
    "profitability",
    "performance",
    "loyalty",
    "frequent_itemsets",
    "basket_rules",
    "cross_sell",
    "tickets",
    "contacts",
    "satisfaction",
]

TimeUnit = Literal["D", "W", "M"]
StateKind = Literal["customer_states", "customer_days"]

# A partition's state as it travels: its Arrow IPC bytes in a uint8 array (None for an empty
# partition) and the rows dropped by on_invalid="drop".
Partial = tuple[np.ndarray | None, int]


# How long a worker keeps the memory crm freed: longer than the gap between two tasks.
WORKER_KEEPS_FREED_MEMORY_MS = 10_000


def _one_thread_per_task() -> None:
    """In a Dask worker, tasks are the parallelism: like the nanny does for OpenMP and BLAS,
    crm's pool gets one thread there (unless CRM_NUM_THREADS says otherwise), so that
    workers sharing a machine do not oversubscribe its cores. Read when the pool is built.
    The worker's tasks run back to back, so the pages one frees are kept for the next rather
    than returned to the system and faulted in (and zeroed) again."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return
    os.environ.setdefault("CRM_NUM_THREADS", "1")
    _core.keep_freed_memory_for(WORKER_KEEPS_FREED_MEMORY_MS)


def _summarized(frames: list[Any], columns: list[str], summarize: Callable[[pa.Table], tuple[pa.Table, int]],
                merge: str) -> Partial:
    """The state of the rows of ``frames`` (partitions on this worker), from one pass of
    ``summarize`` over them all: one pass over several partitions costs less than a pass and
    a merge each. A row an error names is numbered within its partition, as if each were
    summarized alone."""
    _one_thread_per_task()
    tables = [to_arrow(frame, columns) for frame in frames if len(frame)]
    if not tables:
        return None, 0
    try:
        rows = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # object columns typed apart: merged instead
        return _merge([_summarized([table], columns, summarize, merge) for table in tables], merge)
    try:
        state, dropped = summarize(rows)
    except CrmError:
        if len(tables) > 1:
            for table in tables:
                summarize(table)  # raises again, naming the row within its partition
        raise
    return to_ipc(state), dropped


def _merge(parts: list[Partial], merge: str) -> Partial:
    """The states of ``parts`` merged by ``_core.<merge>`` (a part without rows has none);
    their dropped rows add up."""
    _one_thread_per_task()
    states = [data for data, _ in parts if data is not None]
    dropped = sum(d for _, d in parts)
    if len(states) <= 1:
        return (states[0] if states else None), dropped
    merged = getattr(_core, merge)([from_ipc(data) for data in states])
    return to_ipc(pa.table(_Capsule(merged))), dropped


def _merge_tree(groups: list[list[Any]], merge: str, split_every: int, until: int = 1) -> list[Any]:
    """Delayed states merged by ``_core.<merge>``, ``split_every`` at a time, until at most
    ``until`` are left. Each group (the partitions one worker holds, see ``_partitions``) is
    merged down to one state first, on that worker, so that one state per worker crosses to
    another rather than one per partition."""
    task = dask.delayed(_merge, pure=True)

    def merged(level: list[Any], until: int) -> list[Any]:
        while len(level) > until:
            level = [task(level[i : i + split_every], merge) for i in range(0, len(level), split_every)]
        return level

    if len(groups) > 1:
        groups = [merged(group, 1) for group in groups]
    return merged([state for group in groups for state in group], until)


def _states(ddf: Any, columns: list[str], summarize: Callable[[pa.Table], tuple[pa.Table, int]], merge: str,
            split_every: int, until: int = 1) -> list[Any]:
    """Delayed (state bytes, dropped) of ``ddf[columns]``: ``summarize``d by tasks of one or
    more partitions, merged by ``_core.<merge>`` ``split_every`` at a time until at most
    ``until`` are left (none without partitions)."""
    if split_every < 2:
        raise InvalidArgumentError(f"split_every must be at least 2, got {split_every}")
    task = dask.delayed(_summarized, pure=True)
    groups = [[task(frames, columns, summarize, merge) for frames in tasks]
              for tasks in _partitions(ddf, columns, split_every)]
    return _merge_tree(groups, merge, split_every, until)


def _partitions(ddf: Any, columns: list[str], split_every: int) -> list[list[list[Any]]]:
    """The partitions of ``ddf[columns]`` as delayed frames, in the tasks that summarize
    them, grouped by the worker that holds them. For a frame persisted on a
    ``dask.distributed`` cluster a group is a worker's partitions, in as many tasks as it
    has threads (more when a task would take over ``split_every`` partitions). Otherwise
    (the graph reads the data as it runs, and places it then) one group of a task per
    partition."""
    parts = ddf[columns].to_delayed()
    placement = _placement(ddf)
    if placement is None:
        return [[[part] for part in parts]]
    holders, threads = placement
    held: dict[str, list[Any]] = {}
    for part, holder in zip(parts, holders):
        held.setdefault(holder, []).append(part)
    groups = []
    for holder, own in held.items():
        n_tasks = max(threads.get(holder, 1), -(-len(own) // split_every))
        size = -(-len(own) // n_tasks)
        groups.append([own[i : i + size] for i in range(0, len(own), size)])
    return groups


def _placement(ddf: Any) -> tuple[list[str], dict[str, int]] | None:
    """The worker holding each partition of ``ddf`` and every worker's threads, when ``ddf``
    reads one collection persisted on a ``dask.distributed`` cluster (a future per
    partition, in partition order). None when not known. Looks at the expression only:
    building the task graph of a frame of many partitions takes seconds."""
    futures = _persisted_futures(ddf)
    if futures is None:
        return None
    from distributed import wait

    wait(futures)  # placed once computed; the computation would wait for them anyway
    client = futures[0].client
    where = client.who_has(futures)
    holders: list[str] = [min(where.get(f.key, ()), default="") for f in futures]
    return None if "" in holders else (holders, client.nthreads())


def _persisted_futures(ddf: Any) -> list[Any] | None:
    """The futures of the one persisted collection ``ddf`` reads, in partition order, read
    from the expression (Dask's own ``FromGraph``, as ``persist`` makes it). None for other
    frames, and should those internals change: the partitions are then summarized one per
    task, as for data the graph reads."""
    try:
        from dask.dataframe.dask_expr.io import FromGraph
        from distributed import Future

        sources = list(ddf.expr.find_operations(FromGraph))
        if len(sources) != 1:
            return None
        layer, keys = sources[0].operand("layer"), sources[0].operand("keys")
        futures = [layer.get(key) for key in keys]
    except (ImportError, AttributeError, KeyError, TypeError, ValueError):
        return None
    if len(futures) != ddf.npartitions or not all(isinstance(f, Future) for f in futures):
        return None
    return futures


def _state(ddf: Any, kind: StateKind, customer: str, date: str, amount: str, on_invalid: str, split_every: int,
           order: str | None = None, by: tuple[str, ...] = (), extra: tuple[str, ...] = (),
           purchase_sums: tuple[str, ...] = ()) -> Any:
    """A delayed (state bytes, dropped) of every partition, merged."""
    columns = list(dict.fromkeys([customer, date, amount, *([order] if order is not None else []), *by, *extra,
                                  *purchase_sums]))
    _require([str(c) for c in ddf.columns], columns)
    summarize = functools.partial(partial_state, customer=customer, date=date, amount=amount, order=order, by=by,
                                  extra=extra, purchase_sums=purchase_sums, on_invalid=on_invalid, kind=kind)
    level = _states(ddf, columns, summarize, "merge_partial_states", split_every)
    return level[0] if level else dask.delayed((None, 0))


def _compute(name: str, delayed: Any) -> pa.Table | None:
    """Compute a delayed (IPC bytes or None, dropped) into its table (None when there are no
    rows at all); warns about the rows dropped by on_invalid="drop"."""
    data, dropped = dask.compute(delayed)[0]
    if dropped:
        warnings.warn(
            f"crm.dask.{name}: dropped {dropped} row(s) with a null or NaN/infinite value in a used column",
            stacklevel=4,
        )
    return from_ipc(data) if data is not None else None


def _merged_state(
    name: str, ddf: Any, kind: StateKind, customer: str, date: str, amount: str, on_invalid: str, split_every: int,
    order: str | None = None,
) -> pa.Table | None:
    """The merged state of every partition (None when there are no rows at all)."""
    return _compute(name, _state(ddf, kind, customer, date, amount, on_invalid, split_every, order))


def _derived(part: Partial, name: str, derive: dict[str, Any]) -> Partial:
    """``_core.<name>_from_partial`` of a merged state, as IPC bytes, computed in the task
    that holds the state: the per-day state is larger than the result, and stays there."""
    _one_thread_per_task()
    data, dropped = part
    if data is None:
        return None, dropped
    table = pa.table(_Capsule(getattr(_core, f"{name}_from_partial")(from_ipc(data), **derive)))
    return to_ipc(table), dropped


def _from_history(
    name: str,
    ddf: Any,
    *,
    customer: str,
    date: str,
    amount: str,
    on_invalid: str,
    split_every: int,
    derive: dict[str, Any],
    options: dict[str, Any],
    order: str | None = None,
    by: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
    purchase_sums: tuple[str, ...] = (),
) -> Any:
    """``crm.<name>`` of the merged "customer_days" state (carrying ``order``, ``by``,
    ``extra`` and ``purchase_sums`` when given): ``derive`` are the keyword arguments of
    ``_core.<name>_from_partial``, ``options`` the user's (for the in-memory call on the
    empty frame, which gives the result's columns when there are no rows)."""
    state = _state(ddf, "customer_days", customer, date, amount, on_invalid, split_every, order, by, extra,
                   purchase_sums)
    table = _compute(name, dask.delayed(_derived, pure=True)(state, name, derive))
    if table is None:
        import crm

        in_memory = getattr(crm, name)
        return in_memory(ddf._meta, customer=customer, date=date, amount=amount, **options)
    return table.to_pandas(date_as_object=False)


def rfm(
    ddf: Any,
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
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """``crm.rfm`` of a ``dask.dataframe``, as a pandas DataFrame (one row per customer).

    Same parameters and result as :func:`crm.rfm`. With ``order``, each partition's state
    carries every customer's distinct purchase order ids (an order's lines may fall in
    several partitions), so frequency counts distinct orders exactly; the states then grow
    with the number of orders. Score thresholds are global: they are computed exactly, once,
    from the merged state of all customers. ``split_every``: states merged per task of the
    merge tree.

    >>> import crm, crm.dask, dask.dataframe as dd
    >>> log = crm.datasets.synthetic(300, seed=1)
    >>> ddf = dd.from_pandas(log, npartitions=3)
    >>> table = crm.dask.rfm(ddf, as_of="2024-12-31")
    >>> table[["customer_id", "recency", "frequency", "rfm_code", "segment"]].head(3)
       customer_id  recency  frequency rfm_code          segment
    0            1      285          3      335  Loyal Customers
    1            2      348          2      321   About To Sleep
    2            3      445          5      244  Can't Lose Them
    >>> in_memory = crm.rfm(log, as_of="2024-12-31")
    >>> table.drop(columns="monetary").equals(in_memory.drop(columns="monetary"))
    True
    """
    state = _merged_state("rfm", ddf, "customer_states", customer, date, amount, on_invalid, split_every, order)
    if state is None:  # no rows at all: the in-memory result of the empty frame, for its schema
        import crm

        return crm.rfm(ddf._meta, customer=customer, date=date, amount=amount, order=order, as_of=as_of,
                       bins=bins, monetary=monetary, segments=segments, labels=labels)
    derive = dict(as_of=day_number(as_of), bins=bins, monetary=monetary, segments=segments, labels=labels)
    table: pa.Table = rfm_from_state(state, **derive)
    return table.to_pandas(date_as_object=False)


def summary(
    ddf: Any,
    *,
    time_unit: TimeUnit = "W",
    observation_end: Any = None,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.summary` of a ``dask.dataframe``: per customer ``frequency`` (repeat
    purchase days), ``recency`` and ``T`` (in ``time_unit``: ``"D"`` days, ``"W"`` weeks of 7
    days, ``"M"`` months of 365.25/12 days) and ``monetary_value`` (mean amount of the repeat
    purchase days, in the amount's currency), as a pandas DataFrame equal to the in-memory
    result. ``observation_end`` defaults to the last day of any row of any partition.

    >>> import crm, crm.dask, dask.dataframe as dd
    >>> ddf = dd.from_pandas(crm.datasets.synthetic(300, seed=1), npartitions=3)
    >>> crm.dask.summary(ddf, time_unit="D").head(3)
       customer_id  frequency  recency      T  monetary_value
    0            1          0      0.0  285.0            0.00
    1            2          0      0.0  348.0            0.00
    2            3          1    248.0  693.0          540.05
    """
    return _from_history(
        "summary", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every,
        derive=dict(time_unit=time_unit, observation_end=day_number(observation_end, "observation_end")),
        options=dict(time_unit=time_unit, observation_end=observation_end),
    )


def calibration_holdout(
    ddf: Any,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    time_unit: TimeUnit = "W",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.calibration_holdout` of a ``dask.dataframe``: the summary up to
    ``calibration_end`` and the holdout purchase days and mean amount up to ``observation_end``
    (durations in ``time_unit``), as a pandas DataFrame equal to the in-memory result."""
    calibration = day_number(calibration_end, "calibration_end")
    if calibration is None:
        raise InvalidArgumentError("calibration_end is required (a date)")
    return _from_history(
        "calibration_holdout", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every,
        derive=dict(calibration_end=calibration, observation_end=day_number(observation_end, "observation_end"),
                    time_unit=time_unit),
        options=dict(calibration_end=calibration_end, observation_end=observation_end, time_unit=time_unit),
    )


def repurchase(
    ddf: Any,
    *,
    period: PeriodCode | None = None,
    by: str | Sequence[str] | None = None,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.repurchase` of a ``dask.dataframe``: the repurchase rates (ratios in
    [0, 1]; ``intensity`` in purchases per customer) and their counts, for the whole log or
    per ``period`` (first day of each), times each value combination of the ``by`` columns
    (a column name or a list of them), as a pandas DataFrame equal to the in-memory result.
    A purchase is a row with a positive amount, or a distinct order when ``order`` is given
    (an order counts once, on the earliest day of its purchase rows, wherever its lines
    are).

    >>> import crm, crm.dask, dask.dataframe as dd
    >>> ddf = dd.from_pandas(crm.datasets.synthetic(300, seed=1), npartitions=3)
    >>> crm.dask.repurchase(ddf, period="Q")[["period", "customers", "order_rate"]].head(3)
          period  customers  order_rate
    0 2023-01-01         48    0.692308
    1 2023-04-01         68    0.692308
    2 2023-07-01         84    0.747748
    """
    groups = tuple(_names(by))
    return _from_history(
        "repurchase", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every, derive=dict(period=period), options=dict(period=period, by=by, order=order),
        order=order, by=groups,
    )


def cohorts(
    ddf: Any,
    *,
    period: PeriodCode = "M",
    metric: Literal["retention", "active_customers", "revenue", "cumulative_revenue_per_customer"] = "retention",
    format: Literal["long", "wide"] = "long",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.cohorts` of a ``dask.dataframe``: per cohort (first purchase ``period``)
    and period number, ``retention`` (a share), ``active_customers`` (a count), ``revenue``
    or ``cumulative_revenue_per_customer`` (in the amount's currency), as a pandas DataFrame
    equal to the in-memory result.

    >>> import crm, crm.dask, dask.dataframe as dd
    >>> ddf = dd.from_pandas(crm.datasets.synthetic(300, seed=1), npartitions=3)
    >>> crm.dask.cohorts(ddf, metric="active_customers", format="wide").iloc[:3, :4]
          cohort  cohort_size   0    1
    0 2023-01-01           13  13  2.0
    1 2023-02-01           16  16  4.0
    2 2023-03-01           19  19  4.0
    """
    options = dict(period=period, metric=metric, format=format)
    return _from_history(
        "cohorts", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every, derive=options, options=options,
    )


def interpurchase(
    ddf: Any,
    *,
    output: Literal["customers", "distribution"] = "customers",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.interpurchase` of a ``dask.dataframe``: gaps in days between consecutive
    purchase days, per customer or as a distribution over all customers, as a pandas
    DataFrame equal to the in-memory result."""
    return _from_history(
        "interpurchase", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every, derive=dict(output=output), options=dict(output=output),
    )


def lifecycle(
    ddf: Any,
    *,
    as_of: Any = None,
    thresholds: tuple[int, int, int] = (90, 180, 365),
    labels: Literal["en", "zh"] = "en",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.lifecycle` of a ``dask.dataframe``: each customer's stage by days since the
    last purchase (``thresholds`` in days; ``as_of`` defaults to the last day of any row), as
    a pandas DataFrame equal to the in-memory result."""
    if len(thresholds) != 3:
        raise InvalidArgumentError(f"thresholds must be three day counts (t1, t2, t3), got {thresholds!r}")
    return _from_history(
        "lifecycle", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every,
        derive=dict(as_of=day_number(as_of), thresholds=tuple(thresholds), labels=labels),
        options=dict(as_of=as_of, thresholds=thresholds, labels=labels),
    )


def churn_risk(
    ddf: Any,
    *,
    as_of: Any = None,
    window: int = 90,
    overdue_factor: float = 2.0,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.churn_risk` of a ``dask.dataframe``: per customer the purchases in the last
    ``window`` days and the ``window`` days before, days since the last purchase against
    ``overdue_factor`` x the median gap (days; the population's median gap is computed
    exactly over all customers), the risk level and its reason, as a pandas DataFrame equal
    to the in-memory result. A purchase is a row with a positive amount, or a distinct order
    when ``order`` is given (counted on the earliest day of its purchase rows)."""
    return _from_history(
        "churn_risk", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every,
        derive=dict(as_of=day_number(as_of), window=window, overdue_factor=overdue_factor),
        options=dict(as_of=as_of, window=window, overdue_factor=overdue_factor, order=order),
        order=order,
    )


def acquisition(
    ddf: Any,
    *,
    period: PeriodCode = "M",
    lapse_days: int = 180,
    as_of: Any = None,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.acquisition` of a ``dask.dataframe``: per ``period`` the new, reactivated,
    lost and retained customers (counts; lost after ``lapse_days`` days without a purchase),
    the CR index and the churn and retention rates, as a pandas DataFrame equal to the
    in-memory result."""
    return _from_history(
        "acquisition", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every,
        derive=dict(period=period, lapse_days=lapse_days, as_of=day_number(as_of)),
        options=dict(period=period, lapse_days=lapse_days, as_of=as_of),
    )


def activity(
    ddf: Any,
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
    split_every: int = 8,
) -> Any:
    """:func:`crm.activity` of a ``dask.dataframe``: the activity score (0..100) from the
    recency indicator (halving every ``half_life_days`` days) and the percentile ranks of
    purchases, net spend and each ``extra`` engagement column (numeric columns of the log,
    summed per customer) over all customers (computed exactly from the merged state), as a
    pandas DataFrame equal to the in-memory result. ``weights`` overrides the default
    weights (recency 0.4, frequency 0.3, monetary 0.3, 0.3 per extra column) by name. A
    purchase is a row with a positive amount, or a distinct order when ``order`` is given."""
    extra_columns = tuple(extra or ())
    resolved = activity_weights(weights, extra_columns)
    return _from_history(
        "activity", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every,
        derive=dict(as_of=day_number(as_of), half_life_days=float(half_life_days),
                    weights=(resolved["recency"], resolved["frequency"], resolved["monetary"]),
                    extra_weights=[resolved[name] for name in extra_columns]),
        options=dict(as_of=as_of, weights=weights, half_life_days=half_life_days, extra=extra, order=order),
        order=order, extra=extra_columns,
    )


def profitability(
    ddf: Any,
    *,
    cost: str | float | None = None,
    tiers: Mapping[str, float] = DEFAULT_VALUE_TIERS,
    output: Literal["customers", "deciles", "tiers"] = "customers",
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.profitability` of a ``dask.dataframe``: per customer net revenue, cost
    (``None``, a cost column summed per customer, or a rate of the revenue), margin, rank,
    Pareto shares, decile and tier (ranks and shares computed exactly over all customers), or
    the totals per decile or tier (``output``), as a pandas DataFrame equal to the in-memory
    result."""
    column, rate = cost_parts(cost)
    return _from_history(
        "profitability", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every, derive=dict(cost_rate=rate, tiers=_pairs(tiers, "tiers"), output=output),
        options=dict(cost=cost, tiers=tiers, output=output), extra=(column,) if column is not None else (),
    )


def performance(
    ddf: Any,
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
    split_every: int = 8,
) -> Any:
    """:func:`crm.performance` of a ``dask.dataframe``: quantity (units of the purchase rows),
    revenue, gross, refunds, distinct customers and orders by the ``by`` columns x ``period``,
    long or wide (``shape``), as a pandas DataFrame equal to the in-memory result. With
    ``order``, an order counts once per customer and group, in the period of the earliest
    day of its purchase rows, wherever its lines are."""
    values = [values] if isinstance(values, str) else list(values)
    units = (quantity,) if "quantity" in values else ()
    return _from_history(
        "performance", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every, derive=dict(period=period, values=values, shape=shape),
        options=dict(by=by, period=period, values=values, shape=shape, quantity=quantity, order=order),
        order=order, by=tuple(_names(by)), purchase_sums=units,
    )


def loyalty(
    ddf: Any,
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
    split_every: int = 8,
) -> Any:
    """:func:`crm.loyalty` of a ``dask.dataframe``: per customer the net spend and ``bonus``
    points in the window (the last ``window_days`` days up to ``as_of``, which defaults to
    the last day of any row), points, tier and distance to the next tier, or the customers
    per tier (``output``), as a pandas DataFrame equal to the in-memory result. The bonus
    column travels as per-day sums, so the window is cut after merging."""
    return _from_history(
        "loyalty", ddf, customer=customer, date=date, amount=amount, on_invalid=on_invalid,
        split_every=split_every,
        derive=dict(as_of=day_number(as_of), window_days=window_days, points_per_unit=points_per_unit,
                    tiers=loyalty_tiers(tiers), near=near, output=output),
        options=dict(points_per_unit=points_per_unit, tiers=tiers, as_of=as_of, window_days=window_days, near=near,
                     bonus=bonus, output=output),
        extra=(bonus,) if bonus is not None else (),
    )


# Market baskets: each partition's distinct (order or customer, item) pairs travel as the
# "baskets" state; the last merge happens in the task that derives the result.

ITEMSET_LISTS = ["itemset"]
RULE_LISTS = ["antecedent", "consequent"]
RECOMMENDATION_LISTS = ["antecedent"]


def _basket_state(rows: pa.Table, key: str, item: str, on_invalid: OnInvalid) -> tuple[pa.Table, int]:
    capsule, dropped = _core.basket_state(rows, key=key, item=item, on_invalid=on_invalid)
    return pa.table(_Capsule(capsule)), dropped


def _from_merged_baskets(parts: list[Partial], name: str, derive: dict[str, Any], rules: np.ndarray | None) -> Partial:
    """``_core.<name>_from_partial`` of the last states of the tree, which it merges, as IPC
    bytes: only the result leaves the task."""
    _one_thread_per_task()
    states = [from_ipc(data) for data, _ in parts if data is not None]
    dropped = sum(d for _, d in parts)
    if not states:
        return None, dropped
    rules_arg = () if rules is None else (from_ipc(rules),)
    table = pa.table(_Capsule(getattr(_core, f"{name}_from_partial")(states, *rules_arg, **derive)))
    return to_ipc(table), dropped


def _from_baskets(name: str, ddf: Any, *, key: str, item: str, on_invalid: str, split_every: int,
                  derive: dict[str, Any], empty: Any, lists: list[str], rules: np.ndarray | None = None) -> Any:
    """``crm.<name>`` of the merged baskets of (``key``, ``item``) lines: one state per
    partition, merged ``split_every`` at a time until at most ``split_every`` are left, which
    the deriving task merges. ``empty``: the in-memory result of the empty frame (arguments
    checked), returned when there are no rows at all."""
    summarize = functools.partial(_basket_state, key=key, item=item, on_invalid=on_invalid)
    level = _states(ddf, list(dict.fromkeys([key, item])), summarize, "merge_basket_states", split_every,
                    until=split_every)
    data, dropped = dask.compute(dask.delayed(_from_merged_baskets, pure=True)(level, name, derive, rules))[0]
    warn_dropped(f"crm.dask.{name}", dropped, stacklevel=4)
    if data is None:
        return empty
    return with_python_lists(from_ipc(data).to_pandas(date_as_object=False), lists)


def frequent_itemsets(
    ddf: Any,
    *,
    order: str = "order_id",
    item: str = "product",
    min_support: float = 0.01,
    max_len: int | None = None,
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.frequent_itemsets` of a ``dask.dataframe`` of order lines: the itemsets in
    at least ``min_support`` of the orders (FP-growth), with ``length``, ``count`` and
    ``support``, as a pandas DataFrame equal to the in-memory result (item lists as Python
    lists). An order's lines may fall in several partitions: each partition's state holds
    the distinct items of each of its orders, keyed by order, and merging takes their union,
    so the state grows with the number of (order, item) pairs, not of rows. The itemsets
    are mined once, in the task holding the merged baskets; only the result travels back."""
    import crm

    empty = crm.frequent_itemsets(ddf._meta, order=order, item=item, min_support=min_support, max_len=max_len,
                                  on_invalid=on_invalid)
    return _from_baskets(
        "frequent_itemsets", ddf, key=order, item=item, on_invalid=on_invalid, split_every=split_every,
        derive=dict(min_support=min_support, max_len=max_len), empty=empty, lists=ITEMSET_LISTS,
    )


def basket_rules(
    ddf: Any,
    *,
    order: str = "order_id",
    item: str = "product",
    min_support: float = 0.01,
    min_confidence: float = 0.2,
    min_lift: float | None = None,
    max_len: int | None = None,
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.basket_rules` of a ``dask.dataframe`` of order lines: the association rules
    A -> C of the frequent itemsets with their supports, ``confidence``, ``lift`` and
    ``count``, as a pandas DataFrame equal to the in-memory result (item lists as Python
    lists). The orders' baskets are merged as for :func:`frequent_itemsets`, wherever an
    order's lines are."""
    import crm

    options = dict(min_support=min_support, min_confidence=min_confidence, min_lift=min_lift, max_len=max_len)
    empty = crm.basket_rules(ddf._meta, order=order, item=item, on_invalid=on_invalid, **options)
    return _from_baskets(
        "basket_rules", ddf, key=order, item=item, on_invalid=on_invalid, split_every=split_every,
        derive=options, empty=empty, lists=RULE_LISTS,
    )


def cross_sell(
    ddf: Any,
    rules: Any,
    *,
    customer: str = "customer_id",
    item: str = "product",
    top_n: int = 3,
    metric: Literal["confidence", "lift"] = "confidence",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.cross_sell` of a ``dask.dataframe``: per customer the ``top_n`` items the
    ``rules`` (a frame as :func:`crm.basket_rules` or :func:`basket_rules` returns it) most
    associate, by ``metric``, with what they bought and that they have not bought yet, one
    row per (customer, rank), as a pandas DataFrame equal to the in-memory result. A
    customer's lines may be in several partitions: the state holds each customer's distinct
    items, and merging takes their union. The rules (small) are sent once to the task that
    holds the merged state, which derives the recommendations; the result, at most ``top_n``
    rows per customer, comes back as pandas, like the other per-customer results."""
    import crm

    empty = crm.cross_sell(ddf._meta, rules, customer=customer, item=item, top_n=top_n, metric=metric,
                           on_invalid=on_invalid)
    rules_table = to_ipc(pa.table(to_arrow(rules, RULE_COLUMNS)))
    return _from_baskets(
        "cross_sell", ddf, key=customer, item=item, on_invalid=on_invalid, split_every=split_every,
        derive=dict(item=item, top_n=top_n, metric=metric), empty=empty, lists=RECOMMENDATION_LISTS,
        rules=rules_table,
    )


# The service logs (tickets, contacts, satisfaction scores): each partition condenses its rows
# into the state its function derives from ("ticket_cells" or "open_tickets", "contact_counts",
# "customer_scores"), the states merge in a tree, and the task that holds the merged state
# derives the table, by the same code as the in-memory call.


def _service_state(rows: pa.Table, name: str, options: dict[str, Any]) -> tuple[pa.Table, int]:
    capsule, dropped = getattr(_core, f"{name}_partial")(rows, **options)
    return pa.table(_Capsule(capsule)), dropped


def _from_service_state(
    name: str,
    ddf: Any,
    *,
    columns: list[str],
    state: dict[str, Any],
    derive: dict[str, Any],
    in_memory: dict[str, Any],
    split_every: int,
) -> Any:
    """``crm.<name>`` of the merged state of every partition: ``state`` are the keyword
    arguments of ``_core.<name>_partial``, ``derive`` those of ``_core.<name>_from_partial``,
    ``in_memory`` the user's (for the in-memory call on the empty frame, which gives the
    result's columns when there are no rows)."""
    columns = list(dict.fromkeys(columns))
    _require([str(c) for c in ddf.columns], columns)
    summarize = functools.partial(_service_state, name=name, options=state)
    level = _states(ddf, columns, summarize, "merge_service_states", split_every)
    merged = level[0] if level else dask.delayed((None, 0))
    table = _compute(name, dask.delayed(_derived, pure=True)(merged, name, derive))
    if table is None:
        import crm

        return getattr(crm, name)(ddf._meta, **in_memory)
    return table.to_pandas(date_as_object=False)


def tickets(
    ddf: Any,
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
    split_every: int = 8,
) -> Any:
    """:func:`crm.tickets` of a ``dask.dataframe``: per ticket kind x ``by`` values (x
    ``period`` of opening) the tickets, resolved, open, the median, p90 and mean hours to
    resolve and the age of the oldest open ticket in days, or the open tickets oldest first
    (``output="open"``), as a pandas DataFrame equal to the in-memory result. Each partition
    keeps every resolved ticket's time to resolve (8 bytes a ticket), so the quantiles are
    exact; ``output="open"`` keeps the open tickets' rows. Without ``as_of``, the partitions
    keep every ticket as recorded, and the merged state is read at the latest opening or
    closing of all partitions; with it, each partition cuts its rows at ``as_of``. A closing
    before its opening is reported with its row number in its partition."""
    groups = _names(by)
    options = dict(kind=kind, by=groups, period=period, opened=opened, closed=closed, id=id)
    return _from_service_state(
        "tickets", ddf, columns=[kind, *groups, opened, closed, *([id] if output == "open" else [])],
        state=dict(options, as_of=day_number(as_of), output=output, on_invalid=on_invalid), derive={},
        in_memory=dict(options, by=by, as_of=as_of, output=output), split_every=split_every,
    )


def contacts(
    ddf: Any,
    *,
    customer: str = "customer_id",
    department: str = "department",
    product: str | None = "product",
    date: str = "contacted_at",
    period: PeriodCode = "W",
    fatigue_departments: int = 2,
    output: Literal["summary", "fatigue"] = "summary",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.contacts` of a ``dask.dataframe``: contacts and distinct customers per
    department (x ``product``) x ``period``, zero-filled from the first to the last period of
    the whole log, or the customers contacted by at least ``fatigue_departments`` departments
    in one period (``output="fatigue"``), as a pandas DataFrame equal to the in-memory
    result. Each partition condenses its rows to one per customer, department, product and
    period with the number of contacts (the state grows with those combinations)."""
    options = dict(customer=customer, department=department, product=product, date=date, period=period)
    return _from_service_state(
        "contacts", ddf, columns=[c for c in (customer, department, product, date) if c is not None],
        state=dict(options, on_invalid=on_invalid),
        derive=dict(fatigue_departments=fatigue_departments, output=output),
        in_memory=dict(options, fatigue_departments=fatigue_departments, output=output), split_every=split_every,
    )


def satisfaction(
    ddf: Any,
    *,
    customer: str = "customer_id",
    score: str = "score",
    by: str | Sequence[str] = ("product", "region"),
    share: float = 0.2,
    customers: Any = None,
    higher_is_better: bool = True,
    output: Literal["members", "profile"] = "members",
    on_invalid: OnInvalid = "raise",
    split_every: int = 8,
) -> Any:
    """:func:`crm.satisfaction` of a ``dask.dataframe``: per group the most and the least
    satisfied customers by their mean score (``output="members"``), or a profile of each side
    from the ``customers`` table (``output="profile"``), as a pandas DataFrame equal to the
    in-memory result. Each partition condenses its rows to one per group and customer (the
    scores' compensated sum and count); the ranking is done once, on the merged state.
    ``customers`` may be any frame the in-memory call takes (it travels in the task graph to
    the task that derives the result; Dask warns when it is large) or a ``dask.dataframe``
    (its partitions are gathered in that task)."""
    groups = _names(by)
    table = None
    if customers is not None and output == "profile":
        table = _customers_table(customers)
    options = dict(customer=customer, score=score)
    return _from_service_state(
        "satisfaction", ddf, columns=[customer, score, *groups],
        state=dict(options, by=groups, on_invalid=on_invalid),
        derive=dict(share=share, customers=table, higher_is_better=higher_is_better, output=output),
        in_memory=dict(options, by=by, share=share, customers=customers, higher_is_better=higher_is_better,
                       output=output),
        split_every=split_every,
    )


def _customers_table(customers: Any) -> Any:
    """The customers table as the derive task reads it: an Arrow table, or for a
    ``dask.dataframe`` a delayed one gathered from its partitions in that task."""
    if dask.is_dask_collection(customers):
        return dask.delayed(_gathered_table, pure=True)(customers.to_delayed())
    return to_arrow(customers, _columns_of(customers))


def _gathered_table(parts: list[Any]) -> pa.Table:
    tables = [to_arrow(p, [str(c) for c in p.columns]) for p in parts]
    return pa.concat_tables(tables, promote_options="permissive")
