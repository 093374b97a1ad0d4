"""What the crm.dask benchmarks share: a Dask result checked against the in-memory one, and
the two calls timed interleaved, with the median of the same-run ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd


def same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Counts, dates, keys and labels exactly; float columns to 1e-9."""
    floats = [c for c in expected.columns if expected[c].dtype.kind == "f"]
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9, atol=1e-9)
    exact = [c for c in expected.columns if c not in floats]
    pd.testing.assert_frame_equal(got[exact], expected[exact], check_exact=True)


def timed_pairs(calls: list[tuple[str, Callable[[], object], Callable[[], object]]],
                runs: int) -> dict[str, tuple[float, float, float]]:
    """Per label: the medians of the in-memory and the Dask call (seconds) and the median of
    their same-run ratios; the calls interleaved, ``runs`` rounds."""
    timings: dict[str, list[list[float]]] = {label: [[], []] for label, *_ in calls}
    for _ in range(runs):
        for label, memory, on_dask in calls:
            for i, call in enumerate((memory, on_dask)):
                start = time.perf_counter()
                call()
                timings[label][i].append(time.perf_counter() - start)
    return {
        label: (statistics.median(t[0]), statistics.median(t[1]),
                statistics.median(np.array(t[1]) / np.array(t[0])))
        for label, t in timings.items()
    }
