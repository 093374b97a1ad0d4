"""Customer segmentation by k-means, and the scan over k to choose it: thin wrappers over
the Rust core (which seeds, iterates, profiles and scores in parallel, deterministically)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from . import _core
from ._frames import from_arrow, kind_of, to_arrow
from .errors import ColumnTypeError, InvalidArgumentError

DEFAULT_FEATURES = ("recency", "frequency", "monetary")
Scale = Literal["standard"] | None


@dataclass(frozen=True, repr=False)
class KMeansResult:
    """What :func:`kmeans` found.

    ``labels``: the key column(s) and ``cluster`` (0..k-1), one row per input row, in input
    order (a numpy array of cluster numbers for numpy input). ``centers``: per ``cluster``
    the centre of each feature in original units (the centroid of the scaled space mapped
    back: z * sd + mean, then expm1 for ``log`` features, so a geometric-style mean there; a
    k x d numpy array for numpy input). ``profiles``: per ``cluster`` its ``size`` (rows),
    ``share`` (of all rows) and ``<feature>_mean`` / ``<feature>_median`` of the members in
    original units (null for an empty cluster). ``inertia``: sum of squared distances of the
    rows to their centres in the scaled space. ``n_iter``: Lloyd iterations run;
    ``converged``: stopped before ``max_iter``; ``seed``: the seed used.
    """

    labels: Any
    centers: Any
    profiles: Any
    inertia: float
    n_iter: int
    converged: bool
    seed: int

    def __repr__(self) -> str:
        return (
            f"KMeansResult(k={len(self.centers)}, inertia={self.inertia:.6g}, "
            f"n_iter={self.n_iter}, converged={self.converged}, seed={self.seed})"
        )


def _names(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _count(name: str, value: int, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise InvalidArgumentError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def _options(scale: Scale, log: str | Sequence[str], seed: int, max_iter: int, tol: float, n_init: int) -> dict:
    if scale not in ("standard", None):
        raise InvalidArgumentError(f"scale must be 'standard' or None, got {scale!r}")
    if not isinstance(tol, (int, float)) or not tol >= 0:
        raise InvalidArgumentError(f"tol must be a number >= 0, got {tol!r}")
    return {
        "standardize": scale == "standard",
        "log": _names(log),
        "seed": _count("seed", seed, 0),
        "max_iter": _count("max_iter", max_iter, 1),
        "tol": float(tol),
        "n_init": _count("n_init", n_init, 1),
    }


def _array_table(data: np.ndarray) -> tuple[pa.Table, list[str]]:
    """A 2-D numeric array as a table of columns ``x0``, ``x1``, ..."""
    if data.ndim != 2:
        raise InvalidArgumentError(f"a numpy input must be 2-D (rows x features), got {data.ndim}-D")
    if not (np.issubdtype(data.dtype, np.number) and not np.issubdtype(data.dtype, np.complexfloating)):
        raise ColumnTypeError(f"a numpy input must be numeric, got dtype {data.dtype}")
    names = [f"x{j}" for j in range(data.shape[1])]
    return pa.table({name: np.ascontiguousarray(data[:, j], dtype=np.float64) for j, name in enumerate(names)}), names


def _column_names(data: Any) -> list[str]:
    kind = kind_of(data)
    if kind == "pandas":
        return [str(c) for c in data.columns]
    if kind == "polars":
        return data.collect_schema().names() if type(data).__name__ == "LazyFrame" else list(data.columns)
    if kind == "pyarrow":
        return list(data.schema.names)
    if kind == "dict":
        return list(data.keys())
    return []


def _default_key(data: Any, features: list[str]) -> list[str]:
    names = _column_names(data)
    return names[:1] if names and names[0] not in features else []


def _table(capsule: Any) -> pa.Table:
    class _Stream:
        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
            return capsule

    return pa.table(_Stream())


def _as_kind(table: pa.Table, kind: str) -> Any:
    return from_arrow(table.__arrow_c_stream__(), kind)


def kmeans(
    frame: Any,
    *,
    columns: str | Sequence[str] = DEFAULT_FEATURES,
    k: int = 5,
    seed: int = 0,
    scale: Scale = "standard",
    log: str | Sequence[str] = (),
    max_iter: int = 300,
    tol: float = 1e-4,
    n_init: int = 1,
    init: Any = None,
    key: str | Sequence[str] | None = None,
    row_order: Literal["canonical", "input"] = "canonical",
) -> KMeansResult:
    """k-means clustering of the rows of ``frame`` (typically a :func:`crm.rfm` result).

    Each feature column is optionally ``log1p``-transformed (``log``: the columns to
    transform, e.g. ``["frequency", "monetary"]``, whose long right tails would otherwise
    dominate; values must be > -1), then standardised to z-scores with the population sd
    (``scale="standard"``, the default; a constant column is only centred; ``scale=None``
    keeps the values). Seeds are k-means++ (scikit-learn's greedy variant: 2 + ln(k)
    candidates per step, keeping the one that lowers the potential most), or ``init``, an
    explicit k x d array of starting centres in the scaled space. Lloyd iterations follow
    until no label changes, or the squared centre shift summed over clusters is at most
    ``tol`` times the mean feature variance (scikit-learn's convention; with standardised
    features that variance is 1), or ``max_iter``. A cluster left empty is re-seeded with the
    row farthest from its centre. ``n_init`` > 1 runs k-means++ that many times (one random
    stream from ``seed``) and keeps the lowest inertia. The result depends only on the data
    and ``seed``, not on the row order or the number of threads (scikit-learn's depends on
    both): k-means++ draws its rows with the usual probabilities (each copy of a repeated
    row counts), but in an order given by the rows' values rather than their positions;
    every sum (centres, inertia, scaling) is exact on a fixed-point grid, so its bits do not
    depend on the order of its terms (a centre is the exact mean to within 2^-49 times the
    feature's largest magnitude); ties go by values, never by positions.
    ``row_order`` is kept for compatibility: ``"canonical"`` (the default) and ``"input"``
    now give the same result at the same cost.

    Parameters
    ----------
    frame : pandas or polars DataFrame, pyarrow Table, dict of numpy arrays, or a 2-D numpy
        array (rows x features; then ``columns`` is ignored, features are named ``x0``,
        ``x1``, ... and the results are numpy arrays, see :class:`KMeansResult`).
    columns : the numeric feature columns (default ``("recency", "frequency", "monetary")``).
    key : the column(s) copied into ``labels`` to identify rows; default: the first column
        of ``frame`` when it is not a feature (``customer_id`` of an RFM table); ``()`` for none.

    Returns
    -------
    A :class:`KMeansResult` with ``labels``, ``centers`` and ``profiles`` as the same kind
    of frame as ``frame``, and ``inertia``, ``n_iter``, ``converged``, ``seed``. Clusters
    left empty (fewer distinct rows than k) have size 0 and a ``RuntimeWarning`` says so.

    Raises
    ------
    ColumnNotFoundError, ColumnTypeError (a non-numeric feature), InvalidDataError (a null,
    NaN or infinite feature value: the column, count and first row), InvalidArgumentError
    (k < 1 or k > rows, a bad ``init`` shape, ...).

    Examples
    --------
    >>> import crm, pandas as pd
    >>> table = pd.DataFrame({
    ...     "customer_id": [1, 2, 3, 4, 5, 6],
    ...     "recency": [5, 7, 6, 200, 210, 190],
    ...     "frequency": [12, 10, 11, 1, 2, 1],
    ...     "monetary": [900.0, 850.0, 1000.0, 40.0, 60.0, 35.0],
    ... })
    >>> result = crm.kmeans(table, k=2, log=["monetary"])
    >>> result.labels
       customer_id  cluster
    0            1        1
    1            2        1
    2            3        1
    3            4        0
    4            5        0
    5            6        0
    >>> result.profiles[["cluster", "size", "share", "recency_mean", "monetary_median"]]
       cluster  size  share  recency_mean  monetary_median
    0        0     3    0.5         200.0             40.0
    1        1     3    0.5           6.0            900.0
    """
    options = _options(scale, log, seed, max_iter, tol, n_init)
    k = _count("k", k, 1)
    is_array = isinstance(frame, np.ndarray)
    if is_array:
        data, features = _array_table(frame)
        keys: list[str] = []
        kind = "dict"
    else:
        features = _names(columns)
        keys = _default_key(frame, features) if key is None else _names(key)
        kind = kind_of(frame)
        data = to_arrow(frame, list(dict.fromkeys(keys + features)))
    starts = None if init is None else np.asarray(init, dtype=np.float64).tolist()
    if row_order not in ("canonical", "input"):
        raise InvalidArgumentError(f"row_order must be 'canonical' or 'input', got {row_order!r}")
    labels, centers, profiles, inertia, n_iter, converged = _core.kmeans(
        data, columns=features, key=keys, k=k, init=starts, **options
    )
    labels, centers, profiles = _table(labels), _table(centers), _table(profiles)
    empty = sum(1 for size in profiles.column("size").to_pylist() if size == 0)
    if empty:
        warnings.warn(
            f"crm.kmeans: {empty} of the {k} clusters are empty (fewer distinct rows than k)",
            RuntimeWarning,
            stacklevel=2,
        )
    if is_array:
        return KMeansResult(
            labels=labels.column("cluster").to_numpy(),
            centers=np.column_stack([centers.column(f).to_numpy() for f in features]).reshape(k, len(features)),
            profiles=_as_kind(profiles, "dict"),
            inertia=inertia,
            n_iter=n_iter,
            converged=converged,
            seed=options["seed"],
        )
    return KMeansResult(
        labels=_as_kind(labels, kind),
        centers=_as_kind(centers, kind),
        profiles=_as_kind(profiles, kind),
        inertia=inertia,
        n_iter=n_iter,
        converged=converged,
        seed=options["seed"],
    )


def choose_k(
    frame: Any,
    *,
    columns: str | Sequence[str] = DEFAULT_FEATURES,
    ks: Sequence[int] = range(2, 11),
    sample: int = 20_000,
    seed: int = 0,
    scale: Scale = "standard",
    log: str | Sequence[str] = (),
    max_iter: int = 300,
    tol: float = 1e-4,
    n_init: int = 1,
) -> Any:
    """Inertia and silhouette for each k in ``ks``, to choose k by the elbow or the silhouette.

    The features are transformed as in :func:`kmeans` (over all rows), then ``sample`` rows
    (default 20 000; all rows when there are fewer) are drawn with ``seed`` and clustered
    for each k by :func:`kmeans` with the same options. Columns: ``k``; ``inertia`` (sum of
    squared distances to the centres in the scaled space, on the sample: look for the
    elbow); ``silhouette`` (the exact mean silhouette width on the sample, Euclidean in the
    scaled space, from -1 to 1, higher is better; null for k = 1). The silhouette costs
    O(sample²) per k, computed in parallel.
    Same kind of frame as ``frame`` (a dict of numpy arrays for a numpy array).

    Examples
    --------
    >>> import crm
    >>> table = crm.rfm(crm.datasets.synthetic(500, seed=1))
    >>> scores = crm.choose_k(table, ks=[2, 3, 4], log=["frequency", "monetary"])
    >>> list(scores.columns)
    ['k', 'inertia', 'silhouette']
    >>> bool(scores["inertia"].is_monotonic_decreasing)
    True
    """
    options = _options(scale, log, seed, max_iter, tol, n_init)
    ks = [_count("k", k, 1) for k in ks]
    sample = _count("sample", sample, 1)
    if isinstance(frame, np.ndarray):
        data, features = _array_table(frame)
        kind = "dict"
    else:
        features = _names(columns)
        kind = kind_of(frame)
        data = to_arrow(frame, features)
    capsule = _core.choose_k(data, columns=features, ks=ks, sample=sample, **options)
    return from_arrow(capsule, kind)
