#!/usr/bin/env python
"""Time the crm.dask functions of the customers' histories against the in-memory calls.

    python bench/bench_dask_history.py                  # 5M rows, 1M customers, 8 partitions
    python bench/bench_dask_history.py --rows 1e6 --customers 2e5 --runs 3

The log (crm.datasets.synthetic_rows, pandas, shuffled so that every customer's rows are in
every partition) is cut into --partitions pandas partitions and persisted on a LocalCluster
of 2 worker processes (1 thread each) before timing; the in-memory call runs on the same
pandas frame in the client process. With about five rows per customer over two years, the
per-day state these functions merge has nearly one entry per row: the hard case for them.
Each Dask result is checked against the in-memory one first. Medians of --runs, calls
interleaved in one process; the ratio is the median of the same-run Dask / in-memory ratios.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import logging

from dask_pairs import same, timed_pairs

import crm

CALLS = [
    ("summary", {}),
    ("repurchase", {}),
    ("cohorts", {}),
    ("interpurchase", {}),
    ("lifecycle", {}),
    ("churn_risk", {}),
    ("activity", {}),
    ("profitability", {}),
    ("loyalty", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=float, default=5e6)
    parser.add_argument("--customers", type=float, default=1e6)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import crm.dask

    log = crm.datasets.synthetic_rows(int(args.rows), n_customers=int(args.customers), seed=1, frame="pandas")
    log = log[["customer_id", "order_date", "amount"]].sample(frac=1.0, random_state=2).reset_index(drop=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster):
        ddf = dd.from_pandas(log, npartitions=args.partitions, sort=False).persist()
        calls = []
        for name, options in CALLS:
            memory = lambda name=name, options=options: getattr(crm, name)(log, **options)  # noqa: E731
            on_dask = lambda name=name, options=options: getattr(crm.dask, name)(ddf, **options)  # noqa: E731
            same(on_dask(), memory())
            calls.append((name, memory, on_dask))
        medians = timed_pairs(calls, args.runs)
    print(f"| call | rows | customers | in memory s | crm.dask s (2 workers, {args.partitions} partitions) | ratio |")
    print("|---|---|---|---|---|---|")
    for name, (memory, on_dask, ratio) in medians.items():
        print(f"| {name} | {len(log):,} | {int(args.customers):,} | {memory:.3f} | {on_dask:.3f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
