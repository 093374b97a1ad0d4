"""Pictures of ``crm`` results, drawn with matplotlib (an optional extra: ``pip install crm-analytics[plot]``).

Every function takes a result ``crm`` computed (pandas, polars or pyarrow) or a fitted model,
draws on ``ax`` (a new figure when ``ax`` is None), passes ``**style`` to the main drawing
call (``title=`` sets the title; ``colors=`` a sequence where several series are drawn) and
returns the Axes; it never calls ``show()``. They draw from the aggregated result
only, so their memory does not grow with the transaction log. Colours are colour-blind safe
(the Okabe-Ito palette; cividis for heatmaps). Chinese labels (``labels="zh"``) are drawn with
a CJK font found among the installed ones; without one, a warning says how to install one.

>>> import crm, crm.plot
>>> table = crm.rfm(crm.datasets.synthetic(300, seed=0))
>>> ax = crm.plot.segments(table)
>>> ax.get_xlabel()
'share of all customers / of all revenue (%)'
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "segments",
    "rfm_heatmap",
    "cohorts",
    "lifecycle",
    "acquisition",
    "pareto",
    "frequency_recency",
    "p_alive_matrix",
    "holdout",
    "basket_rules",
]

# Okabe & Ito (2008), "Color Universal Design": distinguishable with any colour vision.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]
HEATMAP = "cividis"
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans SC", "Noto Serif CJK SC",
    "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
    "Microsoft YaHei", "SimHei", "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti",
    "Droid Sans Fallback", "AR PL UMing CN", "AR PL UKai CN", "Arial Unicode MS",
)
_warned_no_cjk = False


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "crm.plot needs matplotlib: pip install 'crm-analytics[plot]' (or pip install matplotlib)"
        ) from exc
    return matplotlib


def _table(result: Any) -> pa.Table:
    """Any result frame as a pyarrow Table (shared buffers where the library allows)."""
    module = type(result).__module__.split(".")[0]
    if isinstance(result, pa.Table):
        return result
    if isinstance(result, pa.RecordBatch):
        return pa.Table.from_batches([result])
    if module == "pandas":
        return pa.Table.from_pandas(result, preserve_index=False)
    if module == "polars":
        return result.to_arrow()
    if isinstance(result, dict):
        return pa.table(result)
    if hasattr(result, "__arrow_c_stream__"):
        return pa.table(result)
    raise TypeError(f"expected a pandas or polars DataFrame or a pyarrow Table, got {type(result).__name__}")


def _need(table: pa.Table, *names: str) -> None:
    from .errors import ColumnNotFoundError

    for name in names:
        if name not in table.column_names:
            listed = ", ".join(f"'{c}'" for c in table.column_names)
            raise ColumnNotFoundError(f"column '{name}' not found; the result has columns: {listed}")


def _numbers(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64, nulls as NaN."""
    return np.asarray(table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def _texts(table: pa.Table, name: str) -> list[str]:
    return ["" if v is None else str(v) for v in table.column(name).to_pylist()]


def _levels(column: pa.ChunkedArray) -> list[str]:
    """Distinct values of a label column: a categorical's own order, else first appearance."""
    if pa.types.is_dictionary(column.type) and column.num_chunks:
        present = set(pc.unique(column.cast(column.type.value_type)).to_pylist())
        return [v for v in column.chunk(0).dictionary.to_pylist() if v in present]
    return [v for v in dict.fromkeys(column.to_pylist()) if v is not None]


def _axes(ax: Any, size: tuple[float, float] = (7.0, 4.5)) -> Any:
    _matplotlib()
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _empty(ax: Any, title: str, what: str = "no data") -> Any:
    ax.set_title(title)
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _date_label(value: Any) -> str:
    text = str(value)
    return text[:7] if len(text) >= 10 and text[8:10] == "01" else text[:10]


def _has_cjk(text: str) -> bool:
    return any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    return next((name for name in sorted(installed) if "CJK" in name), None)


def _finish(ax: Any) -> Any:
    """Give text with Chinese characters a CJK font (falling back per glyph to the default)."""
    from matplotlib.text import Text

    global _warned_no_cjk
    figure = ax.get_figure()
    texts = [t for t in figure.findobj(Text) if _has_cjk(t.get_text())]
    if not texts:
        return ax
    family = cjk_font()
    if family is None:
        if not _warned_no_cjk:
            _warned_no_cjk = True
            warnings.warn(
                "crm.plot: no font with Chinese glyphs is installed, so Chinese labels show as boxes; "
                "install one (e.g. `apt-get install fonts-noto-cjk`, or Noto Sans CJK / Source Han Sans), "
                "or register a font file with matplotlib.font_manager.fontManager.addfont(path)",
                stacklevel=3,
            )
        return ax
    for text in texts:
        text.set_fontfamily([family, "DejaVu Sans"])
    return ax


def _pop_title(style: dict, default: str) -> str:
    return style.pop("title", default)


def segments(
    result: Any, ax: Any = None, *, segment: str = "segment", monetary: str = "monetary", **style: Any
) -> Any:
    """Share of customers and of revenue per segment, from an RFM table (``crm.rfm``).

    Two horizontal bars per segment (customers, revenue), segments ordered by revenue, the
    largest on top. ``style`` goes to ``barh`` (e.g. ``height=0.35``); ``title=`` sets the title.
    """
    table = _table(result)
    _need(table, segment, monetary)
    ax = _axes(ax)
    title = _pop_title(style, "Customers and revenue by segment")
    if table.num_rows == 0:
        return _empty(ax, title)
    grouped = table.group_by(segment).aggregate([([], "count_all"), (monetary, "sum")])
    grouped = grouped.sort_by([(f"{monetary}_sum", "ascending")])  # barh draws bottom up
    names = _texts(grouped, segment)
    customers = _numbers(grouped, "count_all")
    revenue = np.nan_to_num(_numbers(grouped, f"{monetary}_sum"))
    total_revenue = revenue.sum()
    customer_share = 100 * customers / customers.sum()
    revenue_share = 100 * revenue / total_revenue if total_revenue else np.zeros_like(revenue)
    y = np.arange(len(names))
    height = style.pop("height", 0.4)
    colors = style.pop("colors", OKABE_ITO[:2])
    ax.barh(y + height / 2, customer_share, height, label="customers", color=colors[0], **style)
    ax.barh(y - height / 2, revenue_share, height, label="revenue", color=colors[1], **style)
    ax.set_yticks(y, names)
    ax.set_xlabel("share of all customers / of all revenue (%)")
    ax.set_title(title)
    ax.legend(loc="lower right", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return _finish(ax)


def rfm_heatmap(
    result: Any,
    ax: Any = None,
    *,
    value: str = "monetary",
    r_score: str = "r_score",
    f_score: str = "f_score",
    **style: Any,
) -> Any:
    """R score × F score from an RFM table; colour = mean of ``value`` (e.g. ``"monetary"``)
    per cell, or the number of customers with ``value="count"``. Cells are annotated.
    """
    table = _table(result)
    _need(table, r_score, f_score, *([] if value == "count" else [value]))
    ax = _axes(ax, (6.0, 5.0))
    what = "customers" if value == "count" else f"mean {value}"
    title = _pop_title(style, f"RFM grid: {what} by R and F score")
    if table.num_rows == 0:
        return _empty(ax, title)
    r = _numbers(table, r_score)
    f = _numbers(table, f_score)
    keep = ~(np.isnan(r) | np.isnan(f))
    r, f = r[keep].astype(int), f[keep].astype(int)
    bins = int(max(r.max(initial=1), f.max(initial=1)))
    counts = np.zeros((bins, bins))
    np.add.at(counts, (r - 1, f - 1), 1)
    if value == "count":
        grid = counts
    else:
        sums = np.zeros((bins, bins))
        np.add.at(sums, (r - 1, f - 1), np.nan_to_num(_numbers(table, value)[keep]))
        with np.errstate(invalid="ignore", divide="ignore"):
            grid = np.where(counts > 0, sums / counts, np.nan)
    image = ax.imshow(grid, origin="lower", cmap=style.pop("cmap", HEATMAP), aspect="auto", **style)
    _annotate(ax, image, grid, "{:,.0f}")
    ticks = np.arange(bins)
    ax.set_xticks(ticks, [str(t + 1) for t in ticks])
    ax.set_yticks(ticks, [str(t + 1) for t in ticks])
    ax.set_xlabel("F score (higher = buys more often)")
    ax.set_ylabel("R score (higher = bought more recently)")
    ax.set_title(title)
    ax.get_figure().colorbar(image, ax=ax, label=what)
    return _finish(ax)


def _annotate(ax: Any, image: Any, grid: np.ndarray, fmt: str, max_cells: int = 400) -> None:
    """Write each cell's value, in black or white, whichever reads better on its colour."""
    if grid.size > max_cells or not np.isfinite(grid).any():
        return
    rows, cols = grid.shape
    size = 9 if max(rows, cols) <= 8 else 7
    for i in range(rows):
        for j in range(cols):
            if np.isfinite(grid[i, j]):
                red, green, blue, _ = image.cmap(image.norm(grid[i, j]))
                light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.55
                ax.text(j, i, fmt.format(grid[i, j]), ha="center", va="center", fontsize=size,
                        color="black" if light else "white")


COHORT_METRICS = ("retention", "active_customers", "revenue", "cumulative_revenue_per_customer")


def cohorts(result: Any, ax: Any = None, *, annotate: bool | None = None, **style: Any) -> Any:
    """The cohort matrix (``crm.cohorts``, long or wide format) as a heatmap: one row per
    cohort (its first period, with its size), one column per period number since it.

    Cells are annotated (retention in %) when the matrix is small enough to read
    (``annotate=None``: at most 16 period columns and 400 cells).
    """
    table = _table(result)
    _need(table, "cohort", "cohort_size")
    metric = next((m for m in COHORT_METRICS if m in table.column_names), None)
    ax = _axes(ax, (9.0, 6.0))
    if metric is None:  # the wide format: period numbers as columns
        columns = [c for c in table.column_names if c.isdigit()]
        grid = np.column_stack([_numbers(table, c) for c in columns]) if columns else np.zeros((table.num_rows, 0))
        cohort_days, sizes = table.column("cohort").to_pylist(), _numbers(table, "cohort_size")
        metric = "retention" if grid.size == 0 or np.nanmax(grid, initial=0) <= 1 else "value"
    else:
        _need(table, "period_number")
        cohort_days = sorted(set(table.column("cohort").to_pylist()))
        row = {d: i for i, d in enumerate(cohort_days)}
        numbers = _numbers(table, "period_number").astype(int)
        grid = np.full((len(cohort_days), int(numbers.max(initial=-1)) + 1), np.nan)
        grid[[row[d] for d in table.column("cohort").to_pylist()], numbers] = _numbers(table, metric)
        sizes = np.zeros(len(cohort_days))
        sizes[[row[d] for d in table.column("cohort").to_pylist()]] = _numbers(table, "cohort_size")
    unit = _period_name(cohort_days)
    title = _pop_title(style, f"Cohorts: {metric.replace('_', ' ')} by {unit} since first purchase")
    if grid.size == 0:
        return _empty(ax, title)
    percent = metric == "retention"
    shown = grid * 100 if percent else grid
    if percent and shown.shape[1] > 1 and np.isfinite(shown[:, 1:]).any():
        style.setdefault("vmax", np.nanmax(shown[:, 1:]))  # period 0 is always 100 %: let the rest use the colours
    image = ax.imshow(np.ma.masked_invalid(shown), cmap=style.pop("cmap", HEATMAP), aspect="auto", **style)
    if annotate or (annotate is None and grid.shape[1] <= 16):
        _annotate(ax, image, shown, "{:.0f}" if percent else "{:,.0f}")
    columns = np.arange(0, grid.shape[1], max(1, int(np.ceil(grid.shape[1] / 24))))  # at most 24 labels a side
    ax.set_xticks(columns, [str(k) for k in columns])
    step = max(1, int(np.ceil(len(cohort_days) / 24)))
    ticks = np.arange(0, len(cohort_days), step)
    ax.set_yticks(ticks, [f"{_date_label(cohort_days[i])} (n={sizes[i]:,.0f})" for i in ticks])
    ax.set_xlabel(f"{unit} since the cohort's first purchase")
    ax.set_ylabel("cohort (first purchase) and its size")
    ax.set_title(title)
    ax.get_figure().colorbar(image, ax=ax, label=("% of the cohort buying" if percent else metric.replace("_", " ")))
    return _finish(ax)


def _period_name(days: list) -> str:
    """"months", "quarters"... from the spacing of the cohorts' first days."""
    if len(days) < 2:
        return "periods"
    gap = (days[1] - days[0]).days
    return {7: "weeks", 28: "months", 29: "months", 30: "months", 31: "months", 90: "quarters", 91: "quarters",
            92: "quarters", 365: "years", 366: "years"}.get(gap, "periods")


def lifecycle(result: Any, ax: Any = None, *, stage: str = "stage", over: str | None = None, **style: Any) -> Any:
    """Customers per lifecycle stage (``crm.lifecycle``), in stage order.

    One horizontal bar per stage with its count and share. With ``over`` naming a column
    that dates several snapshots (e.g. results for several ``as_of`` stacked with an
    ``as_of`` column), a stacked area of customers per stage over those dates instead.
    """
    table = _table(result)
    _need(table, stage, *([over] if over else []))
    ax = _axes(ax)
    title = _pop_title(style, "Customers by lifecycle stage" + (" over time" if over else ""))
    table = table.filter(pc.is_valid(table.column(stage)))
    if table.num_rows == 0:
        return _empty(ax, title)
    levels = _levels(table.column(stage))
    labels = table.column(stage)
    if pa.types.is_dictionary(labels.type):
        labels = labels.cast(labels.type.value_type)
    codes = pc.index_in(labels, value_set=pa.array(levels, labels.type)).to_numpy(zero_copy_only=False)
    colours = OKABE_ITO[: len(levels)] if len(levels) <= len(OKABE_ITO) else None
    if over is None:
        counts = np.bincount(codes, minlength=len(levels))[::-1]  # drawn bottom up: the first stage on top
        y = np.arange(len(levels))
        style.setdefault("color", colours[::-1] if colours else None)
        bars = ax.barh(y, counts, **style)
        total = counts.sum()
        ax.bar_label(bars, [f"{c:,} ({100 * c / total:.0f}%)" for c in counts], padding=3)
        ax.set_yticks(y, levels[::-1])
        ax.set_xlabel("customers")
        ax.set_xlim(0, counts.max() * 1.25)
    else:
        dates = table.column(over).to_pylist()
        moments = sorted(set(dates))
        position = {d: i for i, d in enumerate(moments)}
        grid = np.zeros((len(levels), len(moments)))
        np.add.at(grid, (codes, [position[d] for d in dates]), 1)
        ax.stackplot(moments, grid, labels=levels, colors=colours, **style)
        ax.set_ylabel("customers")
        ax.set_xlabel(over)
        ax.legend(loc="upper left", frameon=False, reverse=True)
    ax.set_title(title)
    return _finish(ax)


def acquisition(result: Any, ax: Any = None, **style: Any) -> Any:
    """New and reactivated customers (up) against lost ones (down) per period, from
    ``crm.acquisition``, with the CR index (new / lost) on the right axis."""
    table = _table(result)
    _need(table, "period", "new", "reactivated", "lost", "cr_index")
    ax = _axes(ax, (9.0, 4.5))
    title = _pop_title(style, "Customers won and lost per period, and the CR index")
    if table.num_rows == 0:
        return _empty(ax, title)
    x = np.arange(table.num_rows)
    new, reactivated, lost = (_numbers(table, c) for c in ("new", "reactivated", "lost"))
    colors = style.pop("colors", (OKABE_ITO[0], OKABE_ITO[4], OKABE_ITO[3]))
    ax.bar(x, new, color=colors[0], label="new", **style)
    ax.bar(x, reactivated, bottom=new, color=colors[1], label="reactivated", **style)
    ax.bar(x, -lost, color=colors[2], label="lost", **style)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_ylabel("customers (lost below zero)")
    periods = [_date_label(p) for p in table.column("period").to_pylist()]
    step = max(1, int(np.ceil(len(periods) / 10)))  # at most 10 labels: legible, even as full dates
    ax.set_xticks(x[::step], periods[::step], rotation=45, ha="right")
    right = ax.twinx()
    cr = _numbers(table, "cr_index")
    right.plot(x, cr, color=OKABE_ITO[7], marker="o", markersize=3, label="CR index (new / lost)")
    finite = cr[np.isfinite(cr)]
    if finite.size:  # a few early spikes (little lost yet) would flatten the rest: clip them, marked ▲
        top = max(1.5, 1.15 * float(np.percentile(finite, 90)))
        above = np.isfinite(cr) & (cr > top)
        right.plot(x[above], np.full(above.sum(), top), "^", color=OKABE_ITO[7], clip_on=False)
        right.set_ylim(0, top)
    right.set_ylabel("CR index (new / lost; ▲ above the scale)")
    right.axhline(1.0, color=OKABE_ITO[7], linestyle=":", linewidth=0.8)
    ax.margins(y=0.08)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
    ax.set_title(title, pad=24)  # above the legend
    return _finish(ax)


def pareto(result: Any, ax: Any = None, *, mark: float = 0.2, max_points: int = 2000, **style: Any) -> Any:
    """The Pareto curve of ``crm.profitability``: cumulative share of the margin brought by
    the top share of customers, with the top ``mark`` (20 %) marked.

    Takes the per-customer output (``customer_share``, ``cumulative_margin_share``; drawn
    from at most ``max_points`` points) or the ``"deciles"``/``"tiers"`` output
    (``cumulative_customer_share``).
    """
    table = _table(result)
    x_name = "customer_share" if "customer_share" in table.column_names else "cumulative_customer_share"
    _need(table, x_name, "cumulative_margin_share")
    ax = _axes(ax, (6.5, 5.0))
    title = _pop_title(style, "Pareto: share of the margin from the top customers")
    x, y = _numbers(table, x_name), _numbers(table, "cumulative_margin_share")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size == 0:
        return _empty(ax, title, "no data (or no positive total margin)")
    order = np.argsort(x, kind="stable")
    x, y = np.concatenate([[0.0], x[order]]), np.concatenate([[0.0], y[order]])
    if x.size > max_points:
        pick = np.unique(np.linspace(0, x.size - 1, max_points).astype(int))
        x, y = x[pick], y[pick]
    style.setdefault("color", OKABE_ITO[0])
    ax.plot(100 * x, 100 * y, label="cumulative margin", **style)
    ax.plot([0, 100], [0, 100], color="0.6", linestyle=":", label="every customer equal")
    at_mark = float(np.interp(mark, x, y))
    ax.axvline(100 * mark, color=OKABE_ITO[3], linestyle="--", linewidth=1)
    ax.plot([100 * mark], [100 * at_mark], "o", color=OKABE_ITO[3])
    ax.annotate(f"top {100 * mark:.0f}% bring {100 * at_mark:.0f}%", (100 * mark, 100 * at_mark),
                xytext=(12, -18), textcoords="offset points", color=OKABE_ITO[3])
    ax.set_xlabel("customers, most profitable first (% of customers)")
    ax.set_ylabel("cumulative share of the margin (%)")
    ax.set_xlim(0, 100)
    ax.legend(loc="lower right", frameon=False)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return _finish(ax)


def _grid_matrix(model: Any, what: str, summary: Any, t: float, max_frequency: int | None, max_recency: float | None) -> np.ndarray:
    """``what`` for every (frequency, recency) pair with T = max_recency (as in lifetimes)."""
    from .errors import InvalidArgumentError

    if summary is not None:
        table = _table(summary)
        suffix = "_cal" if "frequency" not in table.column_names and "frequency_cal" in table.column_names else ""
        _need(table, "frequency" + suffix, "T" + suffix)
        if max_frequency is None:
            max_frequency = int(np.nanmax(_numbers(table, "frequency" + suffix), initial=0))
        if max_recency is None:
            max_recency = float(np.nanmax(_numbers(table, "T" + suffix), initial=0))
    if max_frequency is None or max_recency is None:
        raise InvalidArgumentError("give the summary the model was fitted on, or max_frequency and max_recency")
    frequencies = np.arange(int(max_frequency) + 1)
    recencies = np.arange(int(np.ceil(max_recency)) + 1, dtype=float)
    f, r = np.meshgrid(frequencies, recencies, indexing="ij")
    grid = pa.table({"frequency": f.ravel(), "recency": r.ravel(), "T": np.full(f.size, recencies[-1])})
    values = model.predict(t, grid) if what == "expected_purchases" else model.p_alive(grid)
    return np.asarray(values).reshape(f.shape)


def _matrix_plot(ax: Any, grid: np.ndarray, title: str, label: str, style: dict) -> Any:
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap=style.pop("cmap", HEATMAP), **style)
    ax.set_xlabel("recency: age at the last purchase (time units)")
    ax.set_ylabel("frequency: repeat purchases")
    ax.set_title(title)
    ax.get_figure().colorbar(image, ax=ax, label=label)
    return _finish(ax)


def frequency_recency(
    model: Any,
    summary: Any = None,
    ax: Any = None,
    *,
    t: float = 1.0,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    **style: Any,
) -> Any:
    """The frequency/recency matrix of a fitted BG/NBD-type model: expected purchases in the
    next ``t`` time units of a customer with each frequency and recency, observed for T =
    ``max_recency`` (default: the largest T of ``summary``), as lifetimes draws it."""
    ax = _axes(ax, (6.5, 5.0))
    title = _pop_title(style, f"Expected purchases in the next {t:g} time unit{'' if t == 1 else 's'}\nby frequency and recency")
    grid = _grid_matrix(model, "expected_purchases", summary, t, max_frequency, max_recency)
    return _matrix_plot(ax, grid, title, "expected purchases", style)


def p_alive_matrix(
    model: Any,
    summary: Any = None,
    ax: Any = None,
    *,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    **style: Any,
) -> Any:
    """Probability a customer is still alive by frequency and recency (T = ``max_recency``)."""
    ax = _axes(ax, (6.5, 5.0))
    title = _pop_title(style, "Probability the customer is alive\nby frequency and recency")
    style.setdefault("vmin", 0.0)
    style.setdefault("vmax", 1.0)
    grid = _grid_matrix(model, "p_alive", summary, 1.0, max_frequency, max_recency)
    return _matrix_plot(ax, grid, title, "P(alive)", style)


def holdout(result: Any, model: Any, ax: Any = None, *, max_frequency: int = 7, **style: Any) -> Any:
    """Predicted against actual purchases in the holdout period, by purchases in the
    calibration period (``crm.calibration_holdout`` and a model fitted on its ``_cal``
    columns); customers with more than ``max_frequency`` are grouped in the last bucket."""
    table = _table(result)
    _need(table, "frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout")
    ax = _axes(ax)
    title = _pop_title(style, "Holdout: actual vs predicted purchases")
    if table.num_rows == 0:
        return _empty(ax, title)
    duration = _numbers(table, "duration_holdout")[0]
    predicted = np.asarray(model.predict(duration, table))
    bucket = np.minimum(_numbers(table, "frequency_cal").astype(int), max_frequency)
    size = np.bincount(bucket, minlength=max_frequency + 1)
    present = size > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        actual = np.bincount(bucket, _numbers(table, "frequency_holdout"), max_frequency + 1) / size
        expected = np.bincount(bucket, predicted, max_frequency + 1) / size
    x = np.arange(max_frequency + 1)[present]
    colors = style.pop("colors", OKABE_ITO[:2])
    ax.plot(x, actual[present], marker="o", color=colors[0], label="actual", **style)
    ax.plot(x, expected[present], marker="s", linestyle="--", color=colors[1], label="model", **style)
    ax.set_xticks(x, [f"{k}+" if k == max_frequency else str(k) for k in x])
    ax.set_xlabel("purchases in the calibration period (repeat purchases)")
    ax.set_ylabel(f"mean purchases in the holdout ({duration:.1f} time units)")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return _finish(ax)


def _items(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " + ".join(str(v) for v in value)
    return str(value)


def basket_rules(result: Any, ax: Any = None, *, top: int = 15, by: str = "lift", **style: Any) -> Any:
    """The ``top`` association rules (``crm.basket_rules``) by ``by`` (lift), one bar each,
    labelled "antecedent → consequent", coloured by confidence, with confidence and support
    written at the end of the bar."""
    table = _table(result)
    _need(table, "antecedent", "consequent", "confidence", "support", by)
    ax = _axes(ax, (8.0, max(3.0, 0.8 + 0.38 * min(top, table.num_rows))))
    title = _pop_title(style, f"Top {min(top, table.num_rows)} product rules by {by}")
    if table.num_rows == 0:
        return _empty(ax, title, "no rules")
    best = table.sort_by([(by, "descending"), ("support", "descending")]).slice(0, top)
    best = best.take(np.arange(best.num_rows)[::-1])  # drawn bottom up: the best rule on top
    labels = [f"{_items(a)} → {_items(c)}" for a, c in zip(best.column("antecedent").to_pylist(), best.column("consequent").to_pylist())]
    values, confidence, support = _numbers(best, by), _numbers(best, "confidence"), _numbers(best, "support")
    from matplotlib import colormaps

    colours = colormaps[HEATMAP](0.15 + 0.7 * np.nan_to_num(confidence))
    y = np.arange(len(labels))
    style.setdefault("color", colours)
    bars = ax.barh(y, values, **style)
    ax.bar_label(bars, [f"conf {c:.0%} · supp {s:.1%}" for c, s in zip(confidence, support)], padding=3, fontsize="small")
    ax.set_yticks(y, labels)
    ax.set_xlim(0, np.nanmax(values) * 1.35)
    if by == "lift":
        ax.axvline(1.0, color="0.5", linestyle=":", linewidth=1)
    ax.set_xlabel(by + (" (how many times likelier than by chance)" if by == "lift" else ""))
    ax.set_title(title)
    return _finish(ax)
