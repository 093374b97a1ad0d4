"""``crm.report``: one self-contained HTML file of the customer analytics of a transaction log.

Every number and picture comes from the library's own functions; the pictures are PNG
images embedded as base64, so the file opens anywhere with no network.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import plot
from ._frames import to_arrow
from .errors import CrmError

SECTIONS = ("headline", "segments", "lifecycle", "cohorts", "acquisition", "churn", "clv", "pareto", "cross-sell")


class _Progress:
    """One line per section on stderr: ``crm report [3/9] cohorts``."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total, self.done = enabled, total, 0

    def __call__(self, name: str) -> None:
        self.done += 1
        if self.enabled:
            print(f"crm report [{self.done}/{self.total}] {name}", file=sys.stderr, flush=True)


def _png(ax: Any) -> str:
    """The figure of ``ax`` as an <img> tag holding its PNG (base64)."""
    figure = ax.get_figure()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = html.escape(ax.get_title().replace("\n", " "))
    return f'<img alt="{alt}" src="data:image/png;base64,{encoded}">'


def _axes(width: float, height: float) -> Any:
    """A figure outside pyplot, so the report leaves no open figures behind."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained").add_subplot()


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _html_table(table: pa.Table, formats: dict[str, Callable] | None = None) -> str:
    """An HTML table; column names read with spaces; text (and keys: ``formats=str``) left-aligned."""
    formats = formats or {}
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types]
    text = [not n or formats.get(c) is str for c, n in zip(table.column_names, numeric)]
    head = "".join(
        f'<th{" class=text" if t else ""}>{html.escape(c.replace("_", " "))}</th>' for c, t in zip(table.column_names, text)
    )
    rows = []
    for record in table.to_pylist():
        cells = "".join(
            f'<td{" class=text" if t else ""}>{html.escape(formats.get(c, _cell)(v) if v is not None else "")}</td>'
            for (c, v), t in zip(record.items(), text)
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _percent(value: Any) -> str:
    return "" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{html.escape(title)}</h2>{body}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def headline_numbers(log: pa.Table, rfm: pa.Table, columns: dict[str, Any], as_of: Any) -> dict[str, Any]:
    """The numbers at the top of the report, each straight from a library function."""
    import crm

    rates = crm.repurchase(log, **columns).to_pylist()[0]
    moves = crm.acquisition(log, as_of=as_of, **_without(columns, "order"))
    new, lost = pc.sum(moves.column("new")).as_py() or 0, pc.sum(moves.column("lost")).as_py() or 0
    return {
        "customers": rfm.num_rows,
        "revenue": float(pc.sum(rfm.column("monetary")).as_py() or 0.0),
        "customer_rate": rates["customer_rate"],
        "order_rate": rates["order_rate"],
        "intensity": rates["intensity"],
        "cr_index": new / lost if lost else None,
        "new": new,
        "lost": lost,
    }


def _without(columns: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in columns.items() if k not in names}


def _headline(numbers: dict[str, Any]) -> str:
    cards = [
        ("customers", f"{numbers['customers']:,}", "customers with a transaction"),
        ("revenue", f"{numbers['revenue']:,.2f}", "net revenue (refunds subtracted)"),
        ("customer_rate", _percent(numbers["customer_rate"]), "repurchase rate: customers buying twice or more"),
        ("order_rate", _percent(numbers["order_rate"]), "repurchase rate: purchases that are repeats"),
        ("intensity", _cell(numbers["intensity"]), "purchases per repeat customer"),
        ("cr_index", _cell(numbers["cr_index"]) or "n/a",
         f"CR index: {numbers['new']:,} new ÷ {numbers['lost']:,} lost customers over the whole log"),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card" data-key="{key}"><div class="value">{html.escape(value)}</div>'
        f'<div class="label">{html.escape(label)}</div></div>'
        for key, value, label in cards
    ) + "</div>"


def _segment_table(rfm: pa.Table) -> pa.Table:
    grouped = rfm.group_by("segment").aggregate(
        [([], "count_all"), ("monetary", "sum"), ("recency", "mean"), ("frequency", "mean"), ("monetary", "mean")]
    ).sort_by([("monetary_sum", "descending")])
    customers, revenue = grouped.column("count_all"), grouped.column("monetary_sum")
    total_revenue = pc.sum(revenue).as_py() or 0.0
    return pa.table({
        "segment": grouped.column("segment"),
        "customers": customers,
        "share of customers": pc.divide(pc.cast(customers, pa.float64()), max(rfm.num_rows, 1)),
        "revenue": revenue,
        "share of revenue": pc.divide(revenue, total_revenue) if total_revenue else pa.nulls(grouped.num_rows, pa.float64()),
        "mean recency (days)": grouped.column("recency_mean"),
        "mean frequency": grouped.column("frequency_mean"),
        "mean monetary": grouped.column("monetary_mean"),
    })


def _churn_list(log: pa.Table, rfm: pa.Table, customer: str, columns: dict[str, Any], as_of: Any, top: int) -> pa.Table:
    """Customers at high (then medium) risk, the most valuable first."""
    import crm

    risk = crm.churn_risk(log, as_of=as_of, **columns)
    at_risk = risk.filter(pc.is_in(risk.column("risk").cast(pa.string()), pa.array(["high", "medium"])))
    joined = at_risk.select([customer, "risk", "last_purchase", "days_since_last_purchase", "reason"]).join(
        rfm.select([customer, "monetary", "segment"]), customer
    )
    level = pc.if_else(pc.equal(joined.column("risk").cast(pa.string()), "high"), 2, 1)
    joined = joined.append_column("level", level).sort_by([("level", "descending"), ("monetary", "descending"), (customer, "ascending")])
    return joined.slice(0, top).select([customer, "risk", "monetary", "segment", "last_purchase", "days_since_last_purchase", "reason"])


def clv_top(log: pa.Table, customer: str, columns: dict[str, Any], as_of: Any, top: int) -> tuple[pa.Table, Any, pa.Table]:
    """BG/NBD + Gamma-Gamma on the weekly summary; the top customers by 12-month CLV."""
    import crm

    summary = crm.summary(log, observation_end=as_of, **_without(columns, "order"))
    model = crm.BetaGeo().fit(summary)
    repeat = summary.filter(pc.greater(summary.column("frequency"), 0))
    spend = crm.GammaGamma().fit(repeat)
    value = crm.clv(model, spend, summary, horizon=12, time_unit="months")
    table = summary.append_column("p_alive", pa.array(model.p_alive(summary)))
    table = table.append_column("expected_purchases_13w", pa.array(model.predict(13, summary)))
    table = table.append_column("clv_12m", pa.array(value))
    best = table.sort_by([("clv_12m", "descending"), (customer, "ascending")]).slice(0, top)
    return best, model, summary


def _write_atomically(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","Microsoft YaHei",sans-serif;
max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #0072B2;padding-bottom:.2em;margin-top:2em}
.meta,.note{color:#555}.note{font-style:italic}
.cards{display:flex;flex-wrap:wrap;gap:1em}.card{flex:1 1 150px;border:1px solid #ddd;border-radius:6px;padding:.8em}
.card .value{font-size:1.6em;font-weight:600;color:#0072B2}.card .label{font-size:.85em;color:#555}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border-bottom:1px solid #e3e3e3;padding:.3em .6em;text-align:right}
th{background:#f4f6f8}.text{text-align:left}
img{max-width:100%;height:auto;display:block;margin:1em 0}
"""


def report(
    data: Any,
    *,
    out: str | os.PathLike = "report.html",
    title: str = "Customer report",
    as_of: Any = None,
    customer: str = "customer_id",
    date: str = "order_date",
    amount: str = "amount",
    order: str | None = None,
    product: str | None = None,
    labels: Literal["en", "zh"] = "en",
    top: int = 20,
    progress: bool | None = None,
) -> Path:
    """Write a one-file HTML customer report of a transaction log to ``out``; returns its path.

    Sections: headline numbers (customers, net revenue, the three repurchase rates of
    :func:`crm.repurchase`, the CR index = new ÷ lost customers of :func:`crm.acquisition`
    over the whole log), segments (RFM table and chart), lifecycle stages, the cohort
    retention heatmap, customers won and lost, the churn-risk list (the ``top`` customers at
    high then medium risk, by monetary), CLV (BG/NBD + Gamma-Gamma on :func:`crm.summary`,
    12 months; a note instead when a fit fails), the Pareto curve of
    :func:`crm.profitability`, and cross-sell rules (:func:`crm.basket_rules`, support >= 0.2 %,
    confidence >= 5 %) when ``order`` and ``product`` are given. Images are embedded PNGs: no network is needed to open
    it. The file is written beside ``out`` and renamed, so it is never half-written.

    ``labels``: ``"zh"`` for Chinese segment and stage names (rfm11 and lifecycle).
    ``progress``: a line per section on stderr; default when stderr is a terminal.
    Needs matplotlib (``pip install 'crm-analytics[plot]'``).

    Examples
    --------
    >>> import crm, tempfile, os
    >>> path = crm.report(crm.datasets.synthetic(300, seed=0), out=os.path.join(tempfile.mkdtemp(), "r.html"))
    >>> path.read_text(encoding="utf-8").count('<section id=')
    8
    """
    import crm

    plot._matplotlib()
    target = Path(out)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"output directory '{target.parent}' does not exist")
    if target.is_dir():
        raise IsADirectoryError(f"output '{target}' is a directory")
    cross_sell = order is not None and product is not None
    wanted = [customer, date, amount] + [c for c in (order, product) if c is not None]
    log = pa.table(to_arrow(data, list(dict.fromkeys(wanted))))  # one conversion, then Arrow throughout
    columns: dict[str, Any] = {"customer": customer, "date": date, "amount": amount, "order": order}
    step = _Progress(sys.stderr.isatty() if progress is None else progress, len(SECTIONS) - (0 if cross_sell else 1))
    sections = []

    rfm = crm.rfm(log, as_of=as_of, labels=labels, **columns)
    step("headline numbers")
    numbers = headline_numbers(log, rfm, columns, as_of)
    sections.append(_section("headline", "Headline numbers", _headline(numbers)))

    step("segments")
    body = _html_table(_segment_table(rfm), {"share of customers": _percent, "share of revenue": _percent})
    body += _png(plot.segments(rfm, ax=_axes(8, 5))) + _png(plot.rfm_heatmap(rfm, ax=_axes(6.5, 5)))
    sections.append(_section("segments", "Segments (RFM)", body))

    step("lifecycle")
    stages = crm.lifecycle(log, as_of=as_of, labels=labels, **_without(columns, "order"))
    sections.append(_section("lifecycle", "Lifecycle stages", _png(plot.lifecycle(stages, ax=_axes(7.5, 3.5)))))

    step("cohorts")
    span = (pc.max(log.column(date)).as_py(), pc.min(log.column(date)).as_py()) if log.num_rows else None
    period: Literal["M", "Q"] = "M" if span is None or (span[0] - span[1]) <= _dt.timedelta(days=456) else "Q"
    matrix = crm.cohorts(log, period=period, **_without(columns, "order"))
    kind = "monthly" if period == "M" else "quarterly"
    sections.append(_section("cohorts", f"Cohorts ({kind} retention)", _png(plot.cohorts(matrix, ax=_axes(9, 6)))))

    step("customers won and lost")
    moves = crm.acquisition(log, as_of=as_of, **_without(columns, "order"))
    sections.append(_section("acquisition", "Customers won and lost", _png(plot.acquisition(moves, ax=_axes(9, 4.5)))))

    step("churn risk")
    churn = _churn_list(log, rfm, customer, columns, as_of, top)
    body = _note(f"The {top} most valuable customers (by monetary) at high, then medium, churn risk.")
    body += _html_table(churn, {customer: str}) if churn.num_rows else _note("No customer is at risk.")
    sections.append(_section("churn", "Churn risk: valuable customers to win back", body))

    step("customer lifetime value")
    try:
        best, model, summary = clv_top(log, customer, columns, as_of, top)
        body = _note(f"The {top} customers of highest expected value over the next 12 months (BG/NBD and Gamma-Gamma "
                     "fitted on the weekly summary; recency and T in weeks).")
        body += _html_table(best, {customer: str, "p_alive": _percent})
        # the 99th percentile of frequency: a few extreme buyers would squash the picture
        most = int(np.quantile(summary.column("frequency").to_numpy(), 0.99)) if summary.num_rows else 0
        body += _png(plot.p_alive_matrix(model, summary, ax=_axes(6.5, 5), max_frequency=max(most, 1)))
    except (CrmError, ValueError) as exc:
        body = _note(f"The CLV models could not be fitted on this log: {exc}")
    sections.append(_section("clv", "Customer lifetime value: top customers", body))

    step("Pareto")
    value = crm.profitability(log, **_without(columns, "order"))
    tiers = crm.profitability(log, output="tiers", **_without(columns, "order")).select(
        ["tier", "customers", "revenue", "margin_share", "cumulative_customer_share", "cumulative_margin_share"]
    )
    shares = {c: _percent for c in ("margin_share", "cumulative_customer_share", "cumulative_margin_share")}
    body = _png(plot.pareto(value, ax=_axes(6.5, 5))) + _note(
        "Margin = revenue here (no cost column); tiers: the top 20 % of customers, the next 30 %, the rest."
    ) + _html_table(tiers, shares)
    sections.append(_section("pareto", "Pareto: who brings the margin", body))

    if cross_sell:
        step("cross-sell")
        try:
            # low thresholds: most catalogues' pairs are rare, and the chart keeps the best rules
            found = crm.basket_rules(log, order=order, item=product, min_support=0.002, min_confidence=0.05)
            rules = plot._table(found)
            body = _png(plot.basket_rules(rules, ax=_axes(8, 6)))
            best = rules.sort_by([("lift", "descending"), ("support", "descending")]).slice(0, 10)
            named = pa.table({
                "customers who buy": [plot._items(v) for v in best.column("antecedent").to_pylist()],
                "also buy": [plot._items(v) for v in best.column("consequent").to_pylist()],
                "support": best.column("support"),
                "confidence": best.column("confidence"),
                "lift": best.column("lift"),
            })
            body += _html_table(named, {"support": _percent, "confidence": _percent})
        except (CrmError, ValueError) as exc:
            body = _note(f"No product rules could be computed: {exc}")
        sections.append(_section("cross-sell", "Cross-sell: products bought together", body))

    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = f"{log.num_rows:,} transactions · as of {html.escape(str(as_of) if as_of is not None else 'the last day of the data')} · made by crm {crm.__version__} on {stamp}"
    page = (
        f'<!DOCTYPE html><html lang="{"zh" if labels == "zh" else "en"}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
        f'<body><h1>{html.escape(title)}</h1><p class="meta">{meta}</p>{"".join(sections)}</body></html>\n'
    )
    _write_atomically(page, target)
    return target
