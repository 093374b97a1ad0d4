#!/usr/bin/env python
"""crm.dask.frequent_itemsets, basket_rules and cross_sell against the in-memory calls.

    python bench/bench_dask_baskets.py --rows 5e6 --runs 3

The order lines of crm.datasets.synthetic_rows(--rows) (date-ordered; an order's lines are
contiguous, so only orders at a partition boundary are split, while a customer's lines are in
every partition), persisted on a LocalCluster of 2 worker processes (1 thread each) as
--partitions partitions; each crm.dask call against the in-memory call on the same pandas
frame in this process (2 threads), interleaved, medians of --runs, ratios from the same run.
Outputs are checked equal before timing. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import pandas as pd

import crm

MINING = dict(min_support=0.001)
RULES = dict(MINING, min_confidence=0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=float, default=5e6)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--partitions", default="2,8")
    args = parser.parse_args()

    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import crm.dask

    lines = crm.datasets.synthetic_rows(int(args.rows), seed=0, frame="pandas")[["order_id", "customer_id", "product"]]
    rules = crm.basket_rules(lines, **RULES)
    functions = {
        "frequent_itemsets": lambda m, f: m.frequent_itemsets(f, **MINING),
        "basket_rules": lambda m, f: m.basket_rules(f, **RULES),
        "cross_sell": lambda m, f: m.cross_sell(f, rules),
    }
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster):
        frames = {int(p): dd.from_pandas(lines, npartitions=int(p), sort=False).persist()
                  for p in args.partitions.split(",")}
        calls = {}
        for name, call in functions.items():
            expected = call(crm, lines)
            calls[(name, "in memory")] = lambda call=call: call(crm, lines)
            for p, ddf in frames.items():
                pd.testing.assert_frame_equal(call(crm.dask, ddf), expected, check_exact=False, rtol=1e-12)
                calls[(name, f"dask, {p} partitions")] = lambda call=call, ddf=ddf: call(crm.dask, ddf)
        timings: dict = {key: [] for key in calls}
        for _ in range(args.runs):
            for key, call in calls.items():
                start = time.perf_counter()
                call()
                timings[key].append(time.perf_counter() - start)
    print(f"{len(lines):,} lines, {lines.order_id.nunique():,} orders, {lines.customer_id.nunique():,} customers, "
          f"{lines['product'].nunique()} products; medians of {args.runs}\n")
    print("| function | how | median s | vs in-memory |\n|---|---|---:|---:|")
    for (name, how), t in timings.items():
        base = statistics.median(timings[(name, "in memory")])
        print(f"| {name} | {how} | {statistics.median(t):.3f} | {statistics.median(t) / base:.2f}x |")


if __name__ == "__main__":
    main()
