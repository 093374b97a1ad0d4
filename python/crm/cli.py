"""The ``crm`` command line, for scheduled jobs: ``crm rfm INPUT -o OUTPUT``, ``crm report INPUT -o
report.html`` and ``crm demo``.

Errors print one line on stderr and exit with status 1 (2 for a bad command line); the
output file appears complete or not at all (written beside it, then renamed).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa


INPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv"}
OUTPUT_FORMATS = INPUT_FORMATS


def _format(path: str, formats: dict[str, str], role: str) -> str:
    suffixes = [s.lower() for s in Path(path).suffixes]
    for suffix in reversed(suffixes):
        if suffix in formats:
            if suffix != suffixes[-1] and role == "output":
                break  # e.g. x.csv.gz: compression is not supported for output
            return formats[suffix]
    if role == "input" and Path(path).is_dir():
        return "parquet"
    known = ", ".join(sorted(formats))
    raise ValueError(f"cannot tell the {role} format of '{path}': use one of {known}")


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _parquet_dataset(path: str) -> Any:
    """A Parquet file, folder or glob ('data/*.parquet') as a dataset, read lazily."""
    import pyarrow.dataset as ds

    if _is_glob(path):
        files = sorted(glob.glob(path))
        if not files:
            raise FileNotFoundError(f"no file matches '{path}'")
        for f in files:
            _format(f, {s: k for s, k in INPUT_FORMATS.items() if k == "parquet"}, "input")
        return ds.dataset(files, format="parquet")
    if not Path(path).exists():
        raise FileNotFoundError(f"input '{path}' does not exist")
    return ds.dataset(path, format="parquet")


def _read(path: str) -> pa.Table:
    if _is_glob(path):
        return _parquet_dataset(path).to_table()
    if not Path(path).exists():
        raise FileNotFoundError(f"input '{path}' does not exist")
    kind = _format(path, INPUT_FORMATS, "input")
    if kind in ("csv", "tsv"):
        from pyarrow import csv

        delimiter = "\t" if kind == "tsv" else ","
        return csv.read_csv(path, parse_options=csv.ParseOptions(delimiter=delimiter))
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _write_atomically(table: pa.Table, path: str) -> None:
    target = Path(path)
    kind = _format(path, OUTPUT_FORMATS, "output")
    directory = target.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"output directory '{directory}' does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"output '{path}' is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
    try:
        if kind in ("csv", "tsv"):
            from pyarrow import csv

            plain = table.cast(pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema]))
            csv.write_csv(plain, tmp, write_options=csv.WriteOptions(delimiter="\t" if kind == "tsv" else ","))
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
    """A plain text table (no pandas needed): right-aligned numbers, 2 decimals for floats."""

    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    head = table.slice(0, rows)
    cells = [[text(v) for v in col.to_pylist()] for col in head.columns]
    widths = [max([len(name)] + [len(c) for c in col]) for name, col in zip(head.column_names, cells)]
    print("  ".join(name.rjust(w) for name, w in zip(head.column_names, widths)))
    for r in range(head.num_rows):
        print("  ".join(col[r].rjust(w) for col, w in zip(cells, widths)))


def _rfm_command(args: argparse.Namespace) -> None:
    import crm

    _format(args.output, OUTPUT_FORMATS, "output")  # fail before the work, not after
    if not Path(args.output).parent.is_dir():
        raise FileNotFoundError(f"output directory '{Path(args.output).parent}' does not exist")
    # Parquet streams a slice of rows at a time (memory grows with customers, not rows).
    streamed = _is_glob(args.input) or _format(args.input, INPUT_FORMATS, "input") == "parquet"
    table = _parquet_dataset(args.input) if streamed else _read(args.input)
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
        progress=args.progress if streamed else None,
    )
    _write_atomically(out, args.output)
    print(f"crm: wrote {out.num_rows} customers to {args.output}", file=sys.stderr)


def _report_command(args: argparse.Namespace) -> None:
    import crm

    crm.plot._matplotlib()  # fail before the work, not after
    if not Path(args.output).parent.is_dir():
        raise FileNotFoundError(f"output directory '{Path(args.output).parent}' does not exist")
    table = _read(args.input)
    crm.report(
        table,
        out=args.output,
        title=args.title,
        as_of=args.as_of,
        customer=args.customer,
        date=args.date,
        amount=args.amount,
        order=args.order,
        product=args.product,
        labels=args.labels,
        top=args.top,
        progress=args.progress,
    )
    print(f"crm: wrote the report to {args.output}", file=sys.stderr)


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _demo_command(args: argparse.Namespace) -> None:
    import crm

    log = crm.datasets.synthetic(args.customers, seed=args.seed, frame="pyarrow")
    if args.report is not None and not Path(args.report).parent.is_dir():
        raise FileNotFoundError(f"output directory '{Path(args.report).parent}' does not exist")
    table = crm.rfm(log, order="order_id", labels=args.labels)
    print(f"Synthetic log: {log.num_rows} rows, {table.num_rows} customers (crm.datasets.synthetic, seed={args.seed})\n")
    print("RFM table (first rows):")
    _print_table(table.drop_columns(["first_purchase"]))
    print("\nSegments (customers, mean recency in days, mean frequency, mean and total monetary):")
    _print_table(_segment_summary(table), rows=20)
    if args.report is not None and not _has_matplotlib():
        print("crm: no HTML report: it needs matplotlib (pip install 'crm-analytics[plot]')", file=sys.stderr)
    elif args.report is not None:
        sys.stdout.flush()
        crm.report(log, out=args.report, title="crm demo: customer report of the synthetic sample",
                   order="order_id", product="product", labels=args.labels)
        print(f"crm: wrote the report to {args.report}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm", description="Customer intelligence from a transaction log.")
    sub = parser.add_subparsers(dest="command", required=True)

    rfm = sub.add_parser("rfm", help="RFM scores and segments, one row per customer")
    rfm.add_argument("input", help="transaction log: .parquet (a file, a folder or a quoted glob such as 'data/*.parquet', "
                     "streamed in bounded memory) or .csv")
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
    rfm.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="rows done on stderr while streaming Parquet (default: when stderr is a terminal)")
    rfm.set_defaults(run=_rfm_command)

    report = sub.add_parser("report", help="a one-file HTML customer report (needs matplotlib)")
    report.add_argument("input", help="transaction log: .parquet or .csv")
    report.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default report.html)")
    report.add_argument("--title", default="Customer report")
    report.add_argument("--customer", default="customer_id")
    report.add_argument("--date", default="order_date")
    report.add_argument("--amount", default="amount")
    report.add_argument("--order", default=None, help="order-id column: frequency counts distinct orders")
    report.add_argument("--product", default=None, help="product column: cross-sell rules (with --order)")
    report.add_argument("--as-of", default=None, help="analysis date, YYYY-MM-DD (default: latest date in the data)")
    report.add_argument("--labels", choices=["en", "zh"], default="en")
    report.add_argument("--top", type=int, default=20, help="rows of the churn-risk and CLV lists")
    report.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="a line per section on stderr (default: when stderr is a terminal)")
    report.set_defaults(run=_report_command)

    demo = sub.add_parser("demo", help="run RFM on an embedded synthetic log, print it and write an HTML report")
    demo.add_argument("--customers", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--labels", choices=["en", "zh"], default="en")
    demo.add_argument("--report", default="crm-demo-report.html", help="HTML report to write (default crm-demo-report.html)")
    demo.add_argument("--no-report", dest="report", action="store_const", const=None, help="print only; write no file")
    demo.set_defaults(run=_demo_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("crm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `crm demo | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # one line for the job log, not a traceback
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"crm: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
