"""crm.report and `crm report`: the HTML is parsed; every section is there, every image decodes
as a PNG, and the numbers shown are the library's own results."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402

import crm  # noqa: E402
from crm import _report  # noqa: E402

SECTIONS = ["headline", "segments", "lifecycle", "cohorts", "acquisition", "churn", "clv", "pareto"]
TIMEOUT = 180


class Page(HTMLParser):
    """Sections by id, with their images, tables (rows of cell texts), notes and headline cards."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.cards: dict[str, str] = {}
        self.title = ""
        self._section: dict | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._card: str | None = None
        self._in_value = self._in_title = self._in_note = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = self.sections.setdefault(attrs["id"], {"images": [], "tables": [], "notes": []})
        elif tag == "img":
            self._section["images"].append(attrs["src"])
        elif tag == "table":
            self._section["tables"].append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and "data-key" in attrs:
            self._card = attrs["data-key"]
        elif tag == "div" and attrs.get("class") == "value":
            self._in_value = True
        elif tag == "title":
            self._in_title = True
        elif tag == "p" and attrs.get("class") == "note" and self._section is not None:
            self._in_note = True
            self._section["notes"].append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr":
            self._section["tables"][-1].append(self._row)
        elif tag == "section":
            self._section = None
        elif tag == "div":
            self._in_value = False
        elif tag == "title":
            self._in_title = False
        elif tag == "p":
            self._in_note = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_value and self._card:
            self.cards[self._card] = data
        if self._in_title:
            self.title += data
        if self._in_note:
            self._section["notes"][-1] += data


def decode_png(src: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    data = base64.b64decode(src[len(prefix):], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.shape[0] > 200 and image.shape[1] > 300
    return image


@pytest.fixture(scope="module")
def log() -> pa.Table:
    return crm.datasets.synthetic(300, seed=5, frame="pyarrow")


@pytest.fixture(scope="module")
def page(log, tmp_path_factory) -> Page:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert crm.report(log, out=out, title="Shop <A&B>", order="order_id") == out
    return Page(out.read_text(encoding="utf-8"))


def test_every_section_is_there_in_order_with_decodable_images(page):
    assert list(page.sections) == SECTIONS
    assert page.title == "Shop <A&B>"  # escaped in the HTML, read back as written
    expected_images = {"headline": 0, "segments": 2, "lifecycle": 1, "cohorts": 1, "acquisition": 1, "churn": 0, "clv": 1, "pareto": 1}
    for name, section in page.sections.items():
        assert len(section["images"]) == expected_images[name], name
        for src in section["images"]:
            decode_png(src)


def test_the_file_needs_no_network(log, tmp_path):
    out = crm.report(log, out=tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "<script" not in text and "<link" not in text


def test_headline_numbers_are_the_library_results(log, page):
    rfm = crm.rfm(log, order="order_id")
    rates = crm.repurchase(log, order="order_id").to_pylist()[0]
    moves = crm.acquisition(log).to_pandas()
    assert page.cards["customers"] == f"{rfm.num_rows:,}"
    assert page.cards["revenue"] == f"{float(np.sum(log.column('amount').to_numpy())):,.2f}"
    assert page.cards["customer_rate"] == f"{100 * rates['customer_rate']:.1f}%"
    assert page.cards["order_rate"] == f"{100 * rates['order_rate']:.1f}%"
    assert page.cards["intensity"] == f"{rates['intensity']:,.2f}"
    assert page.cards["cr_index"] == f"{moves.new.sum() / moves.lost.sum():,.2f}"


def test_segment_table_counts_the_rfm_segments(log, page):
    rows = page.sections["segments"]["tables"][0]
    assert rows[0][:2] == ["segment", "customers"]
    counts = crm.rfm(log, order="order_id").to_pandas().segment.value_counts()
    shown = {row[0]: int(row[1].replace(",", "")) for row in rows[1:]}
    assert shown == counts[counts > 0].to_dict()


def test_churn_list_is_the_most_valuable_customers_at_risk(log, page):
    rows = page.sections["churn"]["tables"][0]
    header, body = rows[0], rows[1:]
    assert header[:3] == ["customer id", "risk", "monetary"] and len(body) == 20
    risk = crm.churn_risk(log, order="order_id").to_pandas()
    rfm = crm.rfm(log, order="order_id").to_pandas()
    merged = risk.merge(rfm[["customer_id", "monetary"]], on="customer_id")
    merged = merged[merged.risk.isin(["high", "medium"])]
    merged = merged.assign(level=(merged.risk == "high").astype(int)).sort_values(
        ["level", "monetary", "customer_id"], ascending=[False, False, True]
    )
    assert [int(r[0]) for r in body] == merged.customer_id.head(20).tolist()


def test_clv_table_is_the_top_of_crm_clv(log, page):
    rows = page.sections["clv"]["tables"][0]
    summary = crm.summary(log)
    model, spend = crm.BetaGeo().fit(summary), crm.GammaGamma().fit(summary.filter(pa.compute.greater(summary.column("frequency"), 0)))
    value = crm.clv(model, spend, summary, horizon=12, time_unit="months")
    best = np.argsort(-value, kind="stable")[:20]
    assert rows[0][0] == "customer id" and rows[0][-1] == "clv 12m"
    assert [int(r[0]) for r in rows[1:]] == summary.column("customer_id").to_numpy()[best].tolist()
    assert [r[-1] for r in rows[1:]] == [f"{v:,.2f}" for v in value[best]]


def test_pareto_tiers_table(log, page):
    rows = page.sections["pareto"]["tables"][0]
    tiers = crm.profitability(log, output="tiers").to_pandas()
    assert [r[0] for r in rows[1:]] == tiers.tier.astype(str).tolist()
    assert [r[1] for r in rows[1:]] == [f"{c:,}" for c in tiers.customers]


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_report_from_pandas_and_polars_shows_the_same_numbers(log, page, kind, tmp_path):
    data = log.to_pandas() if kind == "pandas" else __import__("polars").from_arrow(log)
    other = Page(crm.report(data, out=tmp_path / "r.html", order="order_id").read_text(encoding="utf-8"))
    assert other.cards == page.cards
    assert other.sections["segments"]["tables"] == page.sections["segments"]["tables"]
    assert other.sections["churn"]["tables"] == page.sections["churn"]["tables"]


def test_cross_sell_section_only_with_basket_rules_order_and_product(log, tmp_path, monkeypatch):
    calls = []

    def basket_rules(data, **columns):
        calls.append(columns)
        return pa.table({
            "antecedent": [["Tea"], ["Coffee Beans", "Milk"]], "consequent": [["Teapot"], ["Mug"]],
            "antecedent_support": [0.1, 0.05], "consequent_support": [0.05, 0.2], "support": [0.02, 0.03],
            "confidence": [0.2, 0.6], "lift": [4.0, 3.0], "count": [6, 9],
        })

    real = Page(crm.report(log, out=tmp_path / "a.html", order="order_id", product="product").read_text(encoding="utf-8"))
    assert list(real.sections) == SECTIONS + ["cross-sell"]
    decode_png(real.sections["cross-sell"]["images"][0])
    monkeypatch.setattr(crm, "basket_rules", basket_rules)
    without_product = Page(crm.report(log, out=tmp_path / "b.html", order="order_id").read_text(encoding="utf-8"))
    assert "cross-sell" not in without_product.sections and not calls
    page = Page(crm.report(log, out=tmp_path / "c.html", order="order_id", product="product").read_text(encoding="utf-8"))
    assert list(page.sections) == SECTIONS + ["cross-sell"]
    assert calls == [{"order": "order_id", "item": "product", "min_support": 0.002, "min_confidence": 0.05}]
    decode_png(page.sections["cross-sell"]["images"][0])
    rows = page.sections["cross-sell"]["tables"][0]
    assert rows[1][:2] == ["Tea", "Teapot"] and rows[2][:2] == ["Coffee Beans + Milk", "Mug"]


def test_a_failed_clv_fit_leaves_a_note(log, tmp_path, monkeypatch):
    def fail(self, summary, **kwargs):
        raise crm.ConvergenceError("BetaGeo fit did not converge (test)")

    monkeypatch.setattr(crm.BetaGeo, "fit", fail)
    page = Page(crm.report(log, out=tmp_path / "r.html").read_text(encoding="utf-8"))
    clv = page.sections["clv"]
    assert not clv["tables"] and not clv["images"]
    assert "could not be fitted" in clv["notes"][0] and "did not converge" in clv["notes"][0]


def test_progress_lines_on_stderr(log, tmp_path, capsys):
    crm.report(log, out=tmp_path / "r.html", progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(SECTIONS) and lines[0] == "crm report [1/8] headline numbers"
    crm.report(log, out=tmp_path / "r.html", progress=False)
    assert capsys.readouterr().err == ""


def test_a_small_log_and_a_one_customer_log(tmp_path):
    log = pa.table({
        "customer_id": [1, 1, 2],
        "order_date": pa.array(np.array(["2024-01-05", "2024-02-01", "2024-02-10"], dtype="datetime64[D]")),
        "amount": [10.0, 20.0, 5.0],
    })
    page = Page(crm.report(log, out=tmp_path / "r.html").read_text(encoding="utf-8"))
    assert list(page.sections) == SECTIONS and page.cards["customers"] == "2"
    one = Page(crm.report(log.slice(0, 1), out=tmp_path / "one.html").read_text(encoding="utf-8"))
    assert list(one.sections) == SECTIONS and one.cards["customers"] == "1"
    for section in one.sections.values():
        for src in section["images"]:
            decode_png(src)


def test_errors_leave_no_file(log, tmp_path):
    existing = tmp_path / "old.html"
    existing.write_text("old", encoding="utf-8")
    with pytest.raises(crm.ColumnNotFoundError, match="'spend' not found"):
        crm.report(log, out=existing, amount="spend")
    assert existing.read_text(encoding="utf-8") == "old"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        crm.report(log, out=tmp_path / "missing" / "r.html")
    with pytest.raises(IsADirectoryError):
        crm.report(log, out=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.html"]


def test_a_failure_while_writing_leaves_no_temp_file(log, tmp_path, monkeypatch):
    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(_report.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        crm.report(log, out=tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


# --- the command line -----------------------------------------------------------------------


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CRM_TRACE"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return subprocess.run([sys.executable, "-m", "crm", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=TIMEOUT)


@pytest.fixture
def parquet(log, tmp_path) -> Path:
    path = tmp_path / "log.parquet"
    pq.write_table(log, path)
    return path


def test_cli_report(parquet, tmp_path, log):
    out = tmp_path / "out.html"
    result = run("report", parquet, "-o", out, "--order", "order_id", "--title", "Weekly", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr.splitlines() == [f"crm: wrote the report to {out}"]
    page = Page(out.read_text(encoding="utf-8"))
    assert list(page.sections) == SECTIONS and page.title == "Weekly"
    assert page.cards["customers"] == f"{crm.rfm(log).num_rows:,}"


def test_cli_report_progress_flag(parquet, tmp_path):
    result = run("report", parquet, "-o", tmp_path / "r.html", "--progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[:-1] == [line for line in lines[:-1] if line.startswith("crm report [")] and len(lines) == len(SECTIONS) + 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--amount", "spend"], "column 'spend' not found"),
        (["--as-of", "not-a-date"], "as_of must be a date"),
    ],
)
def test_cli_report_errors_leave_no_file(parquet, tmp_path, args, message):
    out = tmp_path / "out.html"
    result = run("report", parquet, "-o", out, *args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("crm: error: ") and message in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.parquet"]


def test_cli_report_missing_input_or_directory(parquet, tmp_path):
    missing = run("report", tmp_path / "nope.parquet", "-o", tmp_path / "r.html", cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    no_dir = run("report", parquet, "-o", tmp_path / "no" / "r.html", cwd=tmp_path)
    assert no_dir.returncode == 1 and "output directory" in no_dir.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.parquet"]
