#!/usr/bin/env python
"""Beyond memory and beyond one process: streaming Parquet and crm.dask.rfm.

    python bench/bench_scale.py                          # 100M rows streamed, 50M rows on Dask
    python bench/bench_scale.py --stream-rows 2e7 --dask-rows 1e7 --runs 3

1. Streaming: a date-ordered log of --stream-rows rows (int keys, --customers customers) is
   written as Parquet files; `crm rfm 'folder/*.parquet' -o out.parquet` runs in a fresh
   process, --runs times. Reported: median seconds, rows/s, the child's peak resident memory
   (VmHWM) and its share of the log's in-memory size (the target: under 25 %).
2. Dask: a --dask-rows log in 8 Parquet files, persisted on a LocalCluster of 2 worker
   processes (1 thread each) as --dask-partitions partitions (2: one per worker; 8: one per
   file); `crm.dask.rfm(ddf)` against the in-memory
   `crm.rfm(table)` of the same rows in this process (pyarrow Table, 2 threads), medians of
   --runs, ratio measured in the same run (the target: at most 1.5x). Also, not persisted:
   `crm.dask.rfm(dd.read_parquet(folder))`, whose tasks read the files, against
   `crm.rfm(pq.read_table(folder))`, which reads them too. The outputs are checked equal
   before timing.

Prints one markdown table and writes it to --out.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

import crm

HERE = Path(__file__).resolve().parent


def write_log(folder: Path, rows: int, customers: int, files: int) -> int:
    """A date-ordered log (crm.datasets.synthetic_rows, one date range per file) in `files`
    Parquet files; returns its in-memory size in bytes."""
    size = 0
    for f in range(files):
        start = np.datetime64("2023-01-01") + 40 * f
        table = crm.datasets.synthetic_rows(rows // files, n_customers=customers, seed=f, start=str(start),
                                            end=str(start + 39)).select(["customer_id", "order_date", "amount"])
        size += table.nbytes
        pq.write_table(table, folder / f"part-{f:03d}.parquet", row_group_size=1 << 20)
    return size


# The CLI, then its peak resident memory (VmHWM, in kB) as the last stderr line. Not
# ru_maxrss: a child keeps the parent's resident size at fork as its starting maximum.
CLI_REPORTING_PEAK = (
    "import sys; from crm.cli import main; r = main(sys.argv[1:]); "
    "print('VmHWM', open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr); sys.exit(r)"
)


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
            code = CLI_REPORTING_PEAK
            start = time.perf_counter()
            run = subprocess.run([sys.executable, "-c", code, "rfm", str(folder / "*.parquet"), "-o", str(Path(tmp) / "out.parquet")],
                                 capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if run.returncode:
                raise SystemExit(run.stderr)
            peaks.append(int(run.stderr.strip().splitlines()[-1].split()[1]) * 1024)
            log(f"  stream run: {times[-1]:.2f} s, peak {peaks[-1] >> 20} MB")
        t, peak = statistics.median(times), max(peaks)
        return [{
            "what": "crm rfm 'log/*.parquet' (streamed)", "rows": rows, "customers": customers,
            "median s": f"{t:.2f}", "rows/s": f"{rows / t / 1e6:.1f}M",
            "peak MB": peak >> 20, "data in memory MB": size >> 20, "peak / data": f"{100 * peak / size:.0f}%",
        }]


def bench_dask(rows: int, customers: int, runs: int, partitionings: list[int]) -> list[dict]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import crm.dask

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "log"
        folder.mkdir()
        log(f"writing {rows:,} rows ...")
        write_log(folder, rows, customers, files=8)
        table = pq.read_table(folder)
        expected = crm.rfm(table).to_pandas(date_as_object=False)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.ERROR) as cluster, Client(cluster):
            frames = {f"{p} partitions": dd.read_parquet(str(folder)).repartition(npartitions=p).persist()
                      for p in partitionings}
            frames["8 files read by its tasks"] = dd.read_parquet(str(folder))
            in_memory, read = "crm.rfm (in memory)", "crm.rfm(pq.read_table(folder))"
            calls = {in_memory: lambda: crm.rfm(table), read: lambda: crm.rfm(pq.read_table(folder))}
            baseline = {in_memory: in_memory, read: read}
            for what, ddf in frames.items():
                got = crm.dask.rfm(ddf)
                assert got.drop(columns="monetary").equals(expected.drop(columns="monetary"))
                np.testing.assert_allclose(got.monetary, expected.monetary, rtol=1e-9)
                name = f"crm.dask.rfm (2 workers, {what})"
                calls[name] = lambda ddf=ddf: crm.dask.rfm(ddf)
                baseline[name] = read if "read" in what else in_memory
            timings: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(runs):
                for name, call in calls.items():
                    start = time.perf_counter()
                    call()
                    timings[name].append(time.perf_counter() - start)
                    log(f"  {name}: {timings[name][-1]:.3f} s")
    median = {name: statistics.median(t) for name, t in timings.items()}
    return [{
        "what": name, "rows": rows, "customers": customers, "median s": f"{t:.2f}",
        "vs in-memory": f"{t / median[baseline[name]]:.2f}x",
    } for name, t in median.items()]


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
    parser.add_argument("--dask-partitions", default="2,8", help="partitionings of the Dask frame, comma-separated")
    parser.add_argument("--out", default=str(HERE / "results_scale.md"))
    args = parser.parse_args()
    rows = []
    if args.stream_rows:
        rows += bench_stream(int(args.stream_rows), int(args.customers), args.runs)
    if args.dask_rows:
        partitionings = [int(p) for p in args.dask_partitions.split(",")]
        rows += bench_dask(int(args.dask_rows), int(args.customers), args.runs, partitionings)
    table = markdown(rows)
    print(table)
    Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
