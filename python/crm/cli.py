"""The ``crm`` command line, for scheduled jobs: ``crm rfm INPUT -o OUTPUT`` and ``crm demo``.

Errors print one line on stderr and exit with status 1 (2 for a bad command line); the
output file appears complete or not at all (written beside it, then renamed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import pyarrow as pa


def _read(path: str) -> pa.Table:
    suffixes = Path(path).suffixes
    if not Path(path).exists():
        raise FileNotFoundError(f"input '{path}' does not exist")
    if ".csv" in suffixes or ".tsv" in suffixes:
        from pyarrow import csv

        delimiter = "\t" if ".tsv" in suffixes else ","
        return csv.read_csv(path, parse_options=csv.ParseOptions(delimiter=delimiter))
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _write_atomically(table: pa.Table, path: str) -> None:
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    try:
        if target.suffix in (".csv", ".tsv"):
            from pyarrow import csv

            plain = table.cast(pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema]))
            csv.write_csv(plain, tmp, write_options=csv.WriteOptions(delimiter="\t" if target.suffix == ".tsv" else ","))
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _segments(value: str) -> str | None:
    return None if value == "none" else value


def _segment_summary(table: pa.Table) -> pa.Table:
    summary = table.group_by("segment").aggregate(
        [("segment", "count"), ("recency", "mean"), ("frequency", "mean"), ("monetary", "mean"), ("monetary", "sum")]
    )
    return summary.sort_by([("monetary_sum", "descending")])


def _print_table(table: pa.Table, rows: int = 12) -> None:
    import pandas as pd  # the demo prints with pandas when it is there

    with pd.option_context("display.width", 140, "display.max_columns", 20, "display.precision", 2):
        print(table.slice(0, rows).to_pandas().to_string(index=False))


def _rfm_command(args: argparse.Namespace) -> None:
    import crm

    table = _read(args.input)
    out = crm.rfm(
        table,
        customer=args.customer,
        date=args.date,
        amount=args.amount,
        order=args.order,
        as_of=args.as_of,
        bins=args.bins,
        monetary=args.monetary,
        segments=_segments(args.segments),
        labels=args.labels,
        on_invalid=args.on_invalid,
    )
    _write_atomically(out, args.output)
    print(f"crm: wrote {out.num_rows} customers to {args.output}", file=sys.stderr)


def _demo_command(args: argparse.Namespace) -> None:
    import crm

    log = crm.datasets.synthetic(args.customers, seed=args.seed, frame="pyarrow")
    table = crm.rfm(log, order="order_id", labels=args.labels)
    print(f"Synthetic log: {log.num_rows} rows, {table.num_rows} customers (crm.datasets.synthetic, seed={args.seed})\n")
    print("RFM table (first rows):")
    _print_table(table.drop_columns(["first_purchase"]))
    print("\nSegments (customers, mean recency in days, mean frequency, mean and total monetary):")
    _print_table(_segment_summary(table), rows=20)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm", description="Customer intelligence from a transaction log.")
    sub = parser.add_subparsers(dest="command", required=True)

    rfm = sub.add_parser("rfm", help="RFM scores and segments, one row per customer")
    rfm.add_argument("input", help="transaction log: .parquet or .csv")
    rfm.add_argument("-o", "--output", required=True, help="output file: .parquet (default) or .csv")
    rfm.add_argument("--customer", default="customer_id")
    rfm.add_argument("--date", default="order_date")
    rfm.add_argument("--amount", default="amount")
    rfm.add_argument("--order", default=None, help="order-id column: frequency counts distinct orders")
    rfm.add_argument("--as-of", default=None, help="analysis date, YYYY-MM-DD (default: latest date in the data)")
    rfm.add_argument("--bins", type=int, default=5)
    rfm.add_argument("--monetary", choices=["sum", "mean"], default="sum")
    rfm.add_argument("--segments", choices=["rfm11", "value8", "none"], default="rfm11")
    rfm.add_argument("--labels", choices=["en", "zh"], default="en")
    rfm.add_argument("--on-invalid", choices=["raise", "drop"], default="raise")
    rfm.set_defaults(run=_rfm_command)

    demo = sub.add_parser("demo", help="run RFM on an embedded synthetic log and print the result")
    demo.add_argument("--customers", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--labels", choices=["en", "zh"], default="en")
    demo.set_defaults(run=_demo_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("crm: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for the job log, not a traceback
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"crm: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
