#!/usr/bin/env python
"""Time the service functions on large synthetic logs, beside the same summaries in pandas.

    python bench/bench_service.py                  # about 10M tickets, 10M contacts, 2.4M survey answers
    python bench/bench_service.py --scale 0.1 --runs 5

Tasks (docs/service_definitions.md, default arguments):
  tickets          crm.tickets(t)                       per type x product x region x representative
  tickets_open     crm.tickets(t, output="open")
  contacts         crm.contacts(c)                      per department x product x ISO week
  fatigue          crm.contacts(c, output="fatigue")
  satisfaction     crm.satisfaction(s)                  top / bottom 20 % per product x region
The pandas peer (idiomatic groupby code, same columns but without crm's edge-case rules) is
timed for tickets and fatigue. Inputs are pyarrow Tables for crm and pandas DataFrames for
pandas, converted outside the timing. Medians of --runs runs, all in one process; the ratio is
pandas / crm from the same run (above 1: crm is faster). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

import crm


def pandas_tickets(t: pd.DataFrame) -> pd.DataFrame:
    hours = (t["closed_at"] - t["opened_at"]).dt.total_seconds() / 3600
    d = t.assign(hours=hours, resolved=t["closed_at"].notna())
    g = d.groupby(["type", "product", "region", "representative"], observed=True)
    out = g.agg(tickets=("resolved", "size"), resolved=("resolved", "sum"), mean=("hours", "mean"),
                oldest=("opened_at", "min"))
    out["median"] = g["hours"].median()
    out["p90"] = g["hours"].quantile(0.9)
    return out.reset_index()


def pandas_fatigue(c: pd.DataFrame) -> pd.DataFrame:
    week = c["contacted_at"].dt.to_period("W-SUN").dt.start_time
    g = c.assign(week=week).groupby(["customer_id", "week"], observed=True)
    out = g.agg(departments=("department", "nunique"), contacts=("department", "size"))
    return out[out["departments"] >= 2].reset_index()


def timed(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default sizes")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tickets = crm.datasets.tickets(int(6_200_000 * args.scale), seed=1, frame="pyarrow")
    contacts = crm.datasets.contacts(int(700_000 * args.scale), seed=1, frame="pyarrow")
    surveys = crm.datasets.surveys(int(2_000_000 * args.scale), seed=1, frame="pyarrow")
    pandas_peer = {"tickets": (pandas_tickets, tickets), "fatigue": (pandas_fatigue, contacts)}
    tasks = {
        "tickets": (lambda: crm.tickets(tickets), tickets),
        "tickets_open": (lambda: crm.tickets(tickets, output="open"), tickets),
        "contacts": (lambda: crm.contacts(contacts), contacts),
        "fatigue": (lambda: crm.contacts(contacts, output="fatigue"), contacts),
        "satisfaction": (lambda: crm.satisfaction(surveys), surveys),
    }
    print(f"crm {crm.__version__}, {crm.num_threads()} threads, medians of {args.runs} runs\n")
    print("| task | rows | crm s | pandas s | pandas / crm |")
    print("|---|---:|---:|---:|---:|")
    for name, (run, table) in tasks.items():
        seconds = timed(run, args.runs)
        peer = ratio = ""
        if name in pandas_peer:
            function, source = pandas_peer[name]
            frame = source.to_pandas()
            peer_seconds = timed(lambda: function(frame), args.runs)
            peer, ratio = f"{peer_seconds:.2f}", f"{peer_seconds / seconds:.1f}x"
        print(f"| {name} | {table.num_rows:,} | {seconds:.2f} | {peer} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
