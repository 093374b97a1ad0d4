"""The ``crm`` command line, run as a real subprocess the way a scheduled job runs it.

Successful runs must write exactly what ``crm.rfm`` returns for the same data read in
Python. Failed runs must exit non-zero with one ``crm: error: ...`` line on stderr and
leave the output directory as it was: no output file, no temp file, and an output file
that already existed keeps its old content.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import crm

TIMEOUT = 120
LOG_COLUMNS = ["customer_id", "order_id", "order_date", "amount"]
VALUE8_ZH = {"重要价值客户", "重要发展客户", "重要保持客户", "重要挽留客户", "一般价值客户", "一般发展客户", "一般保持客户", "一般挽留客户"}
RFM11_EN = {
    "Champions", "Loyal Customers", "New Customers", "Promising", "Potential Loyalist", "About To Sleep",
    "Need Attention", "Can't Lose Them", "Lost", "At Risk", "Hibernating",
}


def run(*args: str, cwd: Path, exe: list[str] | None = None) -> subprocess.CompletedProcess:
    command = (exe or [sys.executable, "-m", "crm"]) + [str(a) for a in args]
    env = {k: v for k, v in os.environ.items() if k != "CRM_TRACE"}  # tracing would add stderr lines
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=TIMEOUT)


def plain(schema: pa.Schema) -> pa.Schema:
    """``schema`` with dictionary columns as their value type (what a CSV holds)."""
    return pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema])


def read_output(path: Path, like: pa.Table) -> pa.Table:
    """Read a CLI output file; CSV columns are parsed with the types of ``like``."""
    if path.suffix == ".csv":
        options = pacsv.ConvertOptions(column_types=plain(like.schema))
        return pacsv.read_csv(path, convert_options=options)
    return pq.read_table(path)


def read_input(path: Path) -> pa.Table:
    return pacsv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)


def assert_same_table(got: pa.Table, expected: pa.Table, csv: bool) -> None:
    if csv:  # a CSV has no dictionary types; everything else must survive the round trip exactly
        expected = expected.cast(plain(expected.schema))
    assert got.schema == expected.schema
    assert got.num_rows == expected.num_rows
    assert got.equals(expected), "CLI output differs from crm.rfm on the same data"


def assert_success(result: subprocess.CompletedProcess, output: Path, customers: int) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"crm: wrote {customers} customers to {output}"]


@pytest.fixture(scope="module")
def log() -> pa.Table:
    """A small log: about 8 order lines per customer, with refunds and multi-line orders."""
    return crm.datasets.synthetic(80, seed=11, frame="pyarrow")


@pytest.fixture
def inputs(tmp_path: Path, log: pa.Table) -> dict[str, Path]:
    """The log as Parquet (all columns, dictionary-encoded ones included) and as CSV."""
    folder = tmp_path / "in"
    folder.mkdir()
    parquet, csv = folder / "log.parquet", folder / "log.csv"
    pq.write_table(log, parquet)
    pacsv.write_csv(log.select(LOG_COLUMNS + ["quantity"]), csv)
    return {"parquet": parquet, "csv": csv}


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


# --------------------------------------------------------------------------------------
# Success
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("src, dst", [("parquet", "parquet"), ("csv", "csv"), ("parquet", "csv"), ("csv", "parquet")])
def test_rfm_output_is_exactly_crm_rfm_of_the_input(inputs, out_dir, log, src, dst):
    output = out_dir / f"rfm.{dst}"
    result = run("rfm", inputs[src], "-o", output, cwd=out_dir)
    expected = crm.rfm(read_input(inputs[src]))
    assert_success(result, output, expected.num_rows)
    assert expected.num_rows == len(set(log["customer_id"].to_pylist()))
    assert_same_table(read_output(output, expected), expected, csv=dst == "csv")
    assert sorted(p.name for p in out_dir.iterdir()) == [output.name]  # no temp file left behind


def test_rfm_relative_output_path(inputs, out_dir):
    result = run("rfm", inputs["parquet"], "-o", "rfm.parquet", cwd=out_dir)
    expected = crm.rfm(pq.read_table(inputs["parquet"]))
    assert_success(result, Path("rfm.parquet"), expected.num_rows)
    assert_same_table(pq.read_table(out_dir / "rfm.parquet"), expected, csv=False)


def test_rfm_replaces_an_existing_output(inputs, out_dir):
    output = out_dir / "rfm.parquet"
    output.write_bytes(b"yesterday's result")
    result = run("rfm", inputs["parquet"], "-o", output, cwd=out_dir)
    expected = crm.rfm(pq.read_table(inputs["parquet"]))
    assert_success(result, output, expected.num_rows)
    assert_same_table(pq.read_table(output), expected, csv=False)
    assert sorted(p.name for p in out_dir.iterdir()) == [output.name]


OPTIONS = [
    pytest.param(["--order", "order_id"], {"order": "order_id"}, id="order"),
    pytest.param(["--as-of", "2025-03-31"], {"as_of": "2025-03-31"}, id="as-of"),
    pytest.param(["--segments", "value8", "--labels", "zh"], {"segments": "value8", "labels": "zh"}, id="value8-zh"),
    pytest.param(["--segments", "none"], {"segments": None}, id="no-segments"),
    pytest.param(["--monetary", "mean", "--bins", "3", "--segments", "none"], {"monetary": "mean", "bins": 3, "segments": None}, id="mean-bins3"),
]


@pytest.mark.parametrize("args, kwargs", OPTIONS)
def test_rfm_options_match_the_python_api(inputs, out_dir, args, kwargs):
    output = out_dir / "rfm.parquet"
    result = run("rfm", inputs["parquet"], "-o", output, *args, cwd=out_dir)
    expected = crm.rfm(pq.read_table(inputs["parquet"]), **kwargs)
    assert_success(result, output, expected.num_rows)
    assert_same_table(pq.read_table(output), expected, csv=False)


def test_order_counts_distinct_orders(inputs, out_dir):
    by_line, by_order = out_dir / "lines.parquet", out_dir / "orders.parquet"
    assert run("rfm", inputs["parquet"], "-o", by_line, cwd=out_dir).returncode == 0
    assert run("rfm", inputs["parquet"], "-o", by_order, "--order", "order_id", cwd=out_dir).returncode == 0
    lines = pq.read_table(by_line)["frequency"].to_pylist()
    orders = pq.read_table(by_order)["frequency"].to_pylist()
    assert all(o <= n for o, n in zip(orders, lines))
    assert sum(orders) < sum(lines)  # the log has multi-line orders, so the flag must matter

    log = pq.read_table(inputs["parquet"]).to_pandas()
    purchases = log[log["amount"] > 0]
    distinct = purchases.groupby("customer_id")["order_id"].nunique()
    table = pq.read_table(by_order).to_pandas().set_index("customer_id")
    assert (table.loc[distinct.index, "frequency"] == distinct).all()


def test_as_of_sets_recency(inputs, out_dir):
    output = out_dir / "rfm.parquet"
    assert run("rfm", inputs["parquet"], "-o", output, "--as-of", "2025-03-31", cwd=out_dir).returncode == 0
    table = pq.read_table(output)
    as_of = datetime.date(2025, 3, 31)
    pairs = [(r, d) for r, d in zip(table["recency"].to_pylist(), table["last_purchase"].to_pylist()) if d is not None]
    assert pairs
    assert [r for r, _ in pairs] == [(as_of - d).days for _, d in pairs]
    assert min(r for r, _ in pairs) >= 90  # the log ends 2024-12-31


def test_value8_chinese_labels(inputs, out_dir):
    output = out_dir / "rfm.csv"
    result = run("rfm", inputs["parquet"], "-o", output, "--segments", "value8", "--labels", "zh", cwd=out_dir)
    assert result.returncode == 0, result.stderr
    segments = set(pacsv.read_csv(output)["segment"].to_pylist())
    assert segments <= VALUE8_ZH and len(segments) >= 4
    assert "重要价值客户" in output.read_text(encoding="utf-8")  # CSV is UTF-8


def parse_demo(stdout: str) -> tuple[list[str], dict[str, int]]:
    """The RFM table lines and the segment summary {segment: customers} of `crm demo`."""
    head, _, summary = stdout.partition("\nSegments (")
    rows = {}
    for line in summary.splitlines()[2:]:  # skip the heading and the column header
        match = re.fullmatch(r"\s*(.+?)\s+(\d+)(\s+-?[\d.]+){4}", line)
        assert match, f"unexpected summary line: {line!r}"
        rows[match.group(1)] = int(match.group(2))
    return head.splitlines(), rows


def test_demo_prints_an_rfm_table_and_a_segment_summary(tmp_path):
    result = run("demo", "--customers", "300", "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    table, summary = parse_demo(result.stdout)
    assert "300 customers" in table[0]
    header = next(line for line in table if "customer_id" in line).split()
    assert header[:4] == ["customer_id", "recency", "frequency", "monetary"]
    assert {"rfm_code", "segment"} <= set(header)
    assert {"Champions", "Loyal Customers", "At Risk", "Lost"} <= set(summary)
    assert set(summary) <= RFM11_EN
    assert sum(summary.values()) == 300
    assert list(os.listdir(tmp_path)) == []  # --no-report: the demo writes no files


def test_demo_writes_the_html_report_of_the_sample(tmp_path):
    pytest.importorskip("matplotlib")
    result = run("demo", "--customers", "300", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["crm: wrote the report to crm-demo-report.html"]
    assert parse_demo(result.stdout)[1]  # the printed output is unchanged
    text = (tmp_path / "crm-demo-report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("<section id=") >= 8
    assert os.listdir(tmp_path) == ["crm-demo-report.html"]
    elsewhere = run("demo", "--customers", "100", "--report", tmp_path / "sub" / "r.html", cwd=tmp_path)
    assert elsewhere.returncode == 1 and "output directory" in elsewhere.stderr


def test_demo_without_matplotlib_prints_and_says_why_there_is_no_report(tmp_path):
    code = "import sys; sys.modules['matplotlib'] = None; from crm.cli import main; sys.exit(main(['demo', '--customers', '100']))"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert parse_demo(result.stdout)[1]
    assert result.stderr.splitlines() == ["crm: no HTML report: it needs matplotlib (pip install 'crm-analytics[plot]')"]
    assert os.listdir(tmp_path) == []


def test_demo_chinese_labels(tmp_path):
    result = run("demo", "--customers", "200", "--labels", "zh", "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, summary = parse_demo(result.stdout)
    assert "冠军客户" in summary and sum(summary.values()) == 200


def console_script() -> str | None:
    """The ``crm`` entry point of this interpreter's environment, else the first on PATH."""
    return shutil.which("crm", path=sysconfig.get_path("scripts")) or shutil.which("crm")


def test_console_script(inputs, out_dir):
    exe = console_script()
    if exe is None:
        pytest.skip("no `crm` console script on PATH (package not installed with its entry points)")
    help_ = run("--help", cwd=out_dir, exe=[exe])
    assert help_.returncode == 0 and "rfm" in help_.stdout and "demo" in help_.stdout
    output = out_dir / "rfm.parquet"
    result = run("rfm", inputs["parquet"], "-o", output, cwd=out_dir, exe=[exe])
    expected = crm.rfm(pq.read_table(inputs["parquet"]))
    assert_success(result, output, expected.num_rows)
    assert_same_table(pq.read_table(output), expected, csv=False)


# --------------------------------------------------------------------------------------
# Failure: one line on stderr, non-zero exit, output directory unchanged
# --------------------------------------------------------------------------------------


def bad_date_csv(folder: Path) -> Path:
    path = folder / "bad_dates.csv"
    # day/month/year: pyarrow's CSV reader does not parse it, the column stays a string
    path.write_text("customer_id,order_date,amount\n1,05/01/2024,10.5\n2,13/01/2024,20.0\n1,28/02/2024,7.25\n")
    assert pacsv.read_csv(path).schema.field("order_date").type == pa.string()
    return path


FAILURES = {
    # case: (input, extra arguments, substrings the error line must contain)
    "missing-input": ("missing", [], ["missing.parquet", "does not exist"]),
    "missing-column": ("parquet", ["--customer", "nope"], ["'nope'", "not found", "'customer_id'"]),
    "as-of-before-last-purchase": ("parquet", ["--as-of", "2020-01-01"], ["as_of", "2020-01-01", "before the last purchase"]),
    "unparsed-string-dates": ("bad_csv", [], ["'order_date'", "date or timestamp"]),
}


@pytest.mark.parametrize(
    "dst, existing", [("parquet", False), ("csv", True)], ids=["no-previous-output", "previous-csv-output"]
)
@pytest.mark.parametrize("case", list(FAILURES))
def test_failure_is_one_error_line_and_leaves_the_output_alone(inputs, out_dir, tmp_path, case, dst, existing):
    source, extra, needles = FAILURES[case]
    if source == "missing":
        path = tmp_path / "in" / "missing.parquet"
    elif source == "bad_csv":
        path = bad_date_csv(tmp_path / "in")
    else:
        path = inputs[source]
    output = out_dir / f"rfm.{dst}"
    previous = b"previous result, must survive a failed run\n"
    if existing:
        output.write_bytes(previous)
        os.utime(output, (1_000_000_000, 1_000_000_000))

    result = run("rfm", path, "-o", output, *extra, cwd=out_dir)

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("crm: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    if existing:
        assert sorted(os.listdir(out_dir)) == [output.name]
        assert output.read_bytes() == previous
        assert output.stat().st_mtime == 1_000_000_000
    else:
        assert os.listdir(out_dir) == []


def test_failure_while_replacing_the_output_leaves_no_temp_file(inputs, out_dir):
    # the output path is a directory: the table is computed and written to the temp file,
    # then the final rename fails; the temp file must be removed
    output = out_dir / "rfm.parquet"
    output.mkdir()
    (output / "keep").write_text("x")
    result = run("rfm", inputs["parquet"], "-o", output, cwd=out_dir)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("crm: error: "), result.stderr
    assert "rfm.parquet" in lines[0]
    assert os.listdir(out_dir) == ["rfm.parquet"]
    assert os.listdir(output) == ["keep"]


def test_bad_command_line_exits_2(tmp_path):
    result = run("rfm", "log.parquet", cwd=tmp_path)  # no -o
    assert result.returncode == 2
    assert "-o/--output" in result.stderr
    assert os.listdir(tmp_path) == []


def test_demo_into_a_closed_pipe_stops_quietly(tmp_path):
    command = f'"{sys.executable}" -m crm demo --customers 300 --no-report | head -1'
    out = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.startswith("Synthetic log:")
    assert "error" not in out.stderr.lower()
