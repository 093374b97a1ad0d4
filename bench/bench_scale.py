#!/usr/bin/env python
"""Beyond memory and beyond one process: streaming Parquet and crm.dask.rfm.

    python bench/bench_scale.py                          # 100M rows streamed, 50M rows on Dask
    python bench/bench_scale.py --stream-rows 2e7 --dask-rows 1e7 --runs 3

1. Streaming: a date-ordered log of --stream-rows rows (int keys, --customers customers) is
   written as Parquet files; `crm rfm 'folder/*.parquet' -o out.parquet` runs in a fresh
   process, --runs times. Reported: median seconds, rows/s, the child's peak resident memory
   (ru_maxrss) and its share of the log's in-memory size (the target: under 25 %).
2. Dask: a --dask-rows log in 8 Parquet files, persisted on a LocalCluster of 2 worker
   processes (1 thread each) as 8 partitions; `crm.dask.rfm(ddf)` against the in-memory
   `crm.rfm(table)` of the same rows in this process (pyarrow Table, 2 threads), medians of
   --runs, ratio measured in the same run (the target: at most 1.5x). The outputs are checked
   equal before timing.

Prints one markdown table and writes it to --out.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def write_log(folder: Path, rows: int, customers: int, files: int, seed: int = 7) -> int:
    """A date-ordered log in `files` Parquet files; returns its in-memory size in bytes."""
    rng = np.random.default_rng(seed)
    per = rows // files
    size = 0
    for f in range(files):
        days = np.sort(rng.integers(19_000 + 40 * f, 19_000 + 40 * (f + 1), per))
        refund = rng.random(per) < 0.03
        table = pa.table({
            "customer_id": rng.integers(0, customers, per),
            "order_date": days.astype("datetime64[D]").astype("datetime64[us]"),
            "amount": np.round(rng.lognormal(3.0, 1.0, per) * np.where(refund, -1.0, 1.0), 2),
        })
        size += table.nbytes
        pq.write_table(table, folder / f"part-{f:03d}.parquet", row_group_size=1 << 20)
    return size


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def bench_stream(rows: int, customers: int, runs: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "log"
        folder.mkdir()
        log(f"writing {rows:,} rows ...")
        size = write_log(folder, rows, customers, files=max(1, rows // 10_000_000))
        times, peaks = [], []
        for _ in range(runs):
            code = ("import resource, sys; from crm.cli import main; r = main(sys.argv[1:]); "
                    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(r)")
            start = time.perf_counter()
            run = subprocess.run([sys.executable, "-c", code, "rfm", str(folder / "*.parquet"), "-o", str(Path(tmp) / "out.parquet")],
                                 capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if run.returncode:
                raise SystemExit(run.stderr)
            peaks.append(int(run.stderr.strip().splitlines()[-1]) * 1024)
            log(f"  stream run: {times[-1]:.2f} s, peak {peaks[-1] >> 20} MB")
        t, peak = statistics.median(times), max(peaks)
        return [{
            "what": "crm rfm 'log/*.parquet' (streamed)", "rows": rows, "customers": customers,
            "median s": f"{t:.2f}", "rows/s": f"{rows / t / 1e6:.1f}M",
            "peak MB": peak >> 20, "data in memory MB": size >> 20, "peak / data": f"{100 * peak / size:.0f}%",
        }]


def bench_dask(rows: int, customers: int, runs: int) -> list[dict]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import crm
    import crm.dask

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "log"
        folder.mkdir()
        log(f"writing {rows:,} rows ...")
        write_log(folder, rows, customers, files=8)
        table = pq.read_table(folder)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster):
            ddf = dd.read_parquet(str(folder)).persist()
            expected = crm.rfm(table).to_pandas(date_as_object=False)
            got = crm.dask.rfm(ddf)
            assert got.drop(columns="monetary").equals(expected.drop(columns="monetary"))
            np.testing.assert_allclose(got.monetary, expected.monetary, rtol=1e-9)
            timings: dict[str, list[float]] = {"crm.rfm (in memory)": [], "crm.dask.rfm (2 workers)": []}
            for _ in range(runs):
                for name, call in (("crm.rfm (in memory)", lambda: crm.rfm(table)),
                                   ("crm.dask.rfm (2 workers)", lambda: crm.dask.rfm(ddf))):
                    start = time.perf_counter()
                    call()
                    timings[name].append(time.perf_counter() - start)
                    log(f"  {name}: {timings[name][-1]:.3f} s")
    base = statistics.median(timings["crm.rfm (in memory)"])
    return [{
        "what": name, "rows": rows, "customers": customers, "median s": f"{statistics.median(t):.2f}",
        "vs in-memory": f"{statistics.median(t) / base:.2f}x", "partitions": 8 if "dask" in name else "",
    } for name, t in timings.items()]


def markdown(rows: list[dict]) -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[k]:,}" if isinstance(r.get(k), int) else str(r.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stream-rows", type=float, default=1e8)
    parser.add_argument("--dask-rows", type=float, default=5e7)
    parser.add_argument("--customers", type=float, default=5e5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results_scale.md"))
    args = parser.parse_args()
    rows = []
    if args.stream_rows:
        rows += bench_stream(int(args.stream_rows), int(args.customers), args.runs)
    if args.dask_rows:
        rows += bench_dask(int(args.dask_rows), int(args.customers), args.runs)
    table = markdown(rows)
    print(table)
    Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
