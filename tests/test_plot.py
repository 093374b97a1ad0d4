"""crm.plot: every plot rendered to PNG with Agg, on small and empty results, from pandas,
polars and pyarrow; what can be checked (labels, bars or cells = result rows, values) is."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.colors  # noqa: E402
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import crm  # noqa: E402
import crm.plot  # noqa: E402

KINDS = ["pandas", "polars", "pyarrow"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def log() -> pa.Table:
    return crm.datasets.synthetic(400, seed=3, frame="pyarrow")


def as_kind(table: pa.Table, kind: str):
    if kind == "pandas":
        return table.to_pandas()
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(table)
    return table


def png(ax) -> np.ndarray:
    """Render the figure of ``ax`` to PNG and decode it again."""
    buffer = io.BytesIO()
    ax.get_figure().savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


def bars(ax) -> list[Rectangle]:
    return [p for container in ax.containers for p in container.patches]


def ticks(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels()]


def empty_plot_is_drawn(ax, title_part: str) -> None:
    png(ax)
    assert title_part in ax.get_title()
    assert any(t.get_text().startswith("no ") for t in ax.texts)


# --- segments -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_segments_bars_are_the_customer_and_revenue_shares(log, kind):
    table = crm.rfm(as_kind(log, kind))
    ax = crm.plot.segments(table)
    png(ax)
    expected = crm.rfm(log).to_pandas().groupby("segment", observed=True).agg(n=("monetary", "size"), m=("monetary", "sum"))
    assert len(bars(ax)) == 2 * len(expected)
    assert set(ticks(ax.yaxis)) == set(expected.index)
    customers, revenue = ax.containers
    by_label = dict(zip(ticks(ax.yaxis), zip(customers.datavalues, revenue.datavalues)))
    for name, row in expected.iterrows():
        assert by_label[name][0] == pytest.approx(100 * row.n / expected.n.sum())
        assert by_label[name][1] == pytest.approx(100 * row.m / expected.m.sum())
    assert ticks(ax.yaxis)[-1] == expected.m.idxmax()  # the biggest revenue on top
    assert ax.get_xlabel() and "segment" in ax.get_title()


def test_segments_draws_on_the_given_axes_with_style_and_title(log):
    _, given = plt.subplots()
    before = plt.get_fignums()
    ax = crm.plot.segments(crm.rfm(log), ax=given, alpha=0.5, title="Mine")
    assert ax is given and plt.get_fignums() == before
    assert ax.get_title() == "Mine"
    assert all(p.get_alpha() == 0.5 for p in bars(ax))


def test_colours_can_be_set(log):
    ax = crm.plot.segments(crm.rfm(log), colors=["#111111", "#222222"])
    assert matplotlib.colors.to_hex(ax.containers[1].patches[0].get_facecolor()) == "#222222"
    ax = crm.plot.lifecycle(crm.lifecycle(log), color="#333333")
    assert {matplotlib.colors.to_hex(p.get_facecolor()) for p in bars(ax)} == {"#333333"}
    ax = crm.plot.pareto(crm.profitability(log), color="#444444", linewidth=3)
    assert ax.lines[0].get_color() == "#444444" and ax.lines[0].get_linewidth() == 3


def test_plots_never_call_show(log, monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("show() was called"))
    crm.plot.segments(crm.rfm(log))
    crm.plot.pareto(crm.profitability(log))


# --- rfm_heatmap ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_rfm_heatmap_cells_are_the_mean_monetary_of_each_score_pair(log, kind):
    table = crm.rfm(as_kind(log, kind))
    ax = crm.plot.rfm_heatmap(table)
    png(ax)
    grid = ax.images[0].get_array()
    assert grid.shape == (5, 5)
    frame = crm.rfm(log).to_pandas()
    expected = frame.groupby(["r_score", "f_score"]).monetary.mean()
    for (r, f), value in expected.items():
        assert grid[r - 1, f - 1] == pytest.approx(value)
    assert len(ax.texts) == len(expected)  # one annotation per non-empty cell
    assert ax.get_xlabel().startswith("F score") and ax.get_ylabel().startswith("R score")


def test_rfm_heatmap_counts(log):
    table = crm.rfm(log, bins=3, segments=None)
    ax = crm.plot.rfm_heatmap(table, value="count")
    png(ax)
    grid = np.ma.filled(ax.images[0].get_array(), 0)
    assert grid.shape == (3, 3) and grid.sum() == table.num_rows
    assert "customers" in ax.get_title()


# --- cohorts --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("form", ["long", "wide"])
def test_cohorts_heatmap_has_one_cell_per_cohort_and_period(log, kind, form):
    result = crm.cohorts(as_kind(log, kind), period="Q", format=form)
    ax = crm.plot.cohorts(result)
    png(ax)
    wide = crm.cohorts(log, period="Q", format="wide").to_pandas()
    numbers = [c for c in wide.columns if c.isdigit()]
    grid = ax.images[0].get_array()
    assert grid.shape == (len(wide), len(numbers))
    np.testing.assert_allclose(np.ma.filled(grid, np.nan), 100 * wide[numbers].to_numpy(dtype=float))
    assert len(ax.get_yticks()) == len(wide)
    assert ticks(ax.yaxis)[0].endswith(f"(n={wide.cohort_size[0]:,})")
    assert "retention" in ax.get_title() and ax.get_xlabel()
    assert len(ax.texts) == np.isfinite(wide[numbers].to_numpy(dtype=float)).sum()


def test_cohorts_large_matrix_is_not_annotated_and_other_metrics_work(log):
    ax = crm.plot.cohorts(crm.cohorts(log, period="M", metric="revenue"))
    png(ax)
    assert not ax.texts and "revenue" in ax.get_title()


# --- lifecycle ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_lifecycle_bars_in_stage_order(log, kind):
    ax = crm.plot.lifecycle(crm.lifecycle(as_kind(log, kind)))
    png(ax)
    expected = crm.lifecycle(log).to_pandas().stage.value_counts()
    labels = ticks(ax.yaxis)[::-1]  # the first stage is drawn on top
    assert labels == [s for s in ["honeymoon", "active", "lapsing", "dormant"] if s in expected.index]
    heights = dict(zip(labels, ax.containers[0].datavalues[::-1]))
    assert heights == {s: expected[s] for s in labels}
    assert len(bars(ax)) == len(labels) and ax.get_xlabel() == "customers"


def test_lifecycle_over_snapshots_is_a_stacked_area(log):
    import pandas as pd

    snapshots = pd.concat(
        [crm.lifecycle(log.filter(pc.field("order_date") <= pd.Timestamp(d)).to_pandas(), as_of=d).assign(as_of=pd.Timestamp(d)) for d in ["2024-06-30", "2024-09-30", "2024-12-31"]]
    )
    ax = crm.plot.lifecycle(snapshots, over="as_of")
    png(ax)
    areas = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(areas) == snapshots.stage.nunique()
    assert [t.get_text() for t in ax.get_legend().get_texts()][::-1] == list(snapshots.stage.cat.categories[:len(areas)])


# --- acquisition ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_acquisition_bars_and_cr_index_line(log, kind):
    result = crm.acquisition(as_kind(log, kind))
    ax = crm.plot.acquisition(result)
    png(ax)
    expected = crm.acquisition(log).to_pandas()
    new, reactivated, lost = ax.containers
    assert len(new) == len(reactivated) == len(lost) == len(expected)
    np.testing.assert_array_equal(new.datavalues, expected.new)
    np.testing.assert_array_equal(lost.datavalues, -expected.lost)
    line = ax.get_figure().axes[1].lines[0]
    np.testing.assert_allclose(line.get_ydata(), expected.cr_index.to_numpy(dtype=float))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["new", "reactivated", "lost", "CR index (new / lost)"]


# --- pareto ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_pareto_marks_what_the_top_20_percent_bring(log, kind):
    result = crm.profitability(as_kind(log, kind))
    ax = crm.plot.pareto(result)
    png(ax)
    frame = crm.profitability(log).to_pandas().sort_values("customer_share")
    at_20 = np.interp(0.2, np.r_[0, frame.customer_share], np.r_[0, frame.cumulative_margin_share])
    assert any(t.get_text() == f"top 20% bring {100 * at_20:.0f}%" for t in ax.texts)
    curve = ax.lines[0]
    assert curve.get_ydata()[-1] == pytest.approx(100 * frame.cumulative_margin_share.iloc[-1])
    assert "customers" in ax.get_xlabel() and "margin" in ax.get_ylabel()


def test_pareto_from_deciles_and_downsampled(log):
    deciles = crm.profitability(log, output="deciles")
    ax = crm.plot.pareto(deciles)
    png(ax)
    assert len(ax.lines[0].get_xdata()) == deciles.num_rows + 1  # with the origin
    ax = crm.plot.pareto(crm.profitability(log), max_points=50)
    assert len(ax.lines[0].get_xdata()) <= 50


# --- BTYD matrices and the holdout ----------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(log):
    summary = crm.summary(log)
    return crm.BetaGeo().fit(summary), summary


@pytest.mark.parametrize("kind", KINDS)
def test_frequency_recency_matrix(fitted, kind):
    model, summary = fitted
    ax = crm.plot.frequency_recency(model, as_kind(summary, kind))
    png(ax)
    grid = ax.images[0].get_array()
    max_f, max_t = int(summary.column("frequency").to_numpy().max()), summary.column("T").to_numpy().max()
    assert grid.shape == (max_f + 1, int(np.ceil(max_t)) + 1)
    T = float(np.ceil(max_t))
    probe = pa.table({"frequency": [2], "recency": [5.0], "T": [T]})
    assert grid[2, 5] == pytest.approx(model.predict(1, probe)[0])
    assert ax.get_xlabel().startswith("recency") and ax.get_ylabel().startswith("frequency")


def test_p_alive_matrix(fitted):
    model, summary = fitted
    ax = crm.plot.p_alive_matrix(model, max_frequency=10, max_recency=52)
    png(ax)
    grid = ax.images[0].get_array()
    assert grid.shape == (11, 53) and grid.min() >= 0 and grid.max() <= 1
    probe = pa.table({"frequency": [3], "recency": [20.0], "T": [52.0]})
    assert grid[3, 20] == pytest.approx(model.p_alive(probe)[0])
    with pytest.raises(crm.InvalidArgumentError, match="max_frequency"):
        crm.plot.p_alive_matrix(model)


@pytest.mark.parametrize("kind", KINDS)
def test_holdout_actual_against_predicted(log, kind):
    cal = crm.calibration_holdout(log, calibration_end="2024-06-30")
    model = crm.BetaGeo().fit(cal)
    ax = crm.plot.holdout(as_kind(cal, kind), model)
    png(ax)
    frame = cal.to_pandas()
    bucket = frame.frequency_cal.clip(upper=7)
    actual = frame.frequency_holdout.groupby(bucket).mean()
    predicted = pd_series(model.predict(frame.duration_holdout[0], cal), frame.index).groupby(bucket).mean()
    actual_line, model_line = ax.lines
    np.testing.assert_allclose(actual_line.get_ydata(), actual.to_numpy())
    np.testing.assert_allclose(model_line.get_ydata(), predicted.to_numpy())
    assert ticks(ax.xaxis)[-1] == "7+" and [t.get_text() for t in ax.get_legend().get_texts()] == ["actual", "model"]


def pd_series(values, index):
    import pandas as pd

    return pd.Series(values, index=index)


# --- basket rules ---------------------------------------------------------------------------


def rules_table(n: int = 20) -> pa.Table:
    """A frame of the shape crm.basket_rules returns."""
    rng = np.random.default_rng(0)
    items = ["Coffee Beans", "Mug", "Tea", "Teapot", "Headphones", "Phone Case", "Charger", "Notebook"]
    antecedents = [[items[i % 8]] if i % 3 else [items[i % 8], items[(i + 3) % 8]] for i in range(n)]
    consequents = [[items[(i + 1) % 8]] for i in range(n)]
    support = rng.uniform(0.01, 0.05, n)
    confidence = rng.uniform(0.1, 0.8, n)
    return pa.table({
        "antecedent": antecedents,
        "consequent": consequents,
        "antecedent_support": support / confidence,
        "consequent_support": rng.uniform(0.05, 0.3, n),
        "support": support,
        "confidence": confidence,
        "lift": rng.uniform(1.0, 6.0, n),
        "count": (support * 1000).astype(int),
    })


@pytest.mark.parametrize("kind", KINDS)
def test_basket_rules_top_rules_by_lift(kind):
    table = rules_table()
    ax = crm.plot.basket_rules(as_kind(table, kind), top=8)
    png(ax)
    frame = table.to_pandas().sort_values("lift", ascending=False).head(8)
    assert len(bars(ax)) == 8
    labels = ticks(ax.yaxis)[::-1]  # the best rule on top
    assert labels == [f"{' + '.join(a)} → {' + '.join(c)}" for a, c in zip(frame.antecedent, frame.consequent)]
    np.testing.assert_allclose(ax.containers[0].datavalues[::-1], frame.lift)
    assert ax.get_xlabel().startswith("lift") and "8" in ax.get_title()


def test_basket_rules_fewer_rules_than_top():
    ax = crm.plot.basket_rules(rules_table(3), top=15)
    png(ax)
    assert len(bars(ax)) == 3 and "Top 3" in ax.get_title()


# --- empty results, bad input, Chinese labels, no matplotlib --------------------------------


def test_every_plot_draws_an_empty_result(log, fitted):
    empty = {
        "segments": crm.rfm(log).slice(0, 0),
        "rfm_heatmap": crm.rfm(log).slice(0, 0),
        "cohorts": crm.cohorts(log).slice(0, 0),
        "lifecycle": crm.lifecycle(log).slice(0, 0),
        "acquisition": crm.acquisition(log).slice(0, 0),
        "pareto": crm.profitability(log).slice(0, 0),
        "basket_rules": rules_table().slice(0, 0),
    }
    for name, result in empty.items():
        ax = getattr(crm.plot, name)(result)
        empty_plot_is_drawn(ax, ax.get_title())
    cal = crm.calibration_holdout(log, calibration_end="2024-06-30")
    empty_plot_is_drawn(crm.plot.holdout(cal.slice(0, 0), fitted[0]), "Holdout")
    png(crm.plot.frequency_recency(fitted[0], fitted[1].slice(0, 0)))  # a 1 × 1 grid


def test_missing_column_names_the_columns_present(log):
    with pytest.raises(crm.ColumnNotFoundError, match="'segment' not found.*'recency'"):
        crm.plot.segments(crm.rfm(log, segments=None))
    with pytest.raises(TypeError, match="expected a pandas or polars DataFrame"):
        crm.plot.pareto([1, 2, 3])


VALUE8_ZH = {"重要价值客户", "重要发展客户", "重要保持客户", "重要挽留客户", "一般价值客户", "一般发展客户", "一般保持客户", "一般挽留客户"}


def test_chinese_labels_without_a_cjk_font_warn_once_how_to_get_one(log, monkeypatch):
    table = crm.rfm(log, segments="value8", labels="zh")
    monkeypatch.setattr(crm.plot, "_warned_no_cjk", False)
    monkeypatch.setattr(crm.plot, "cjk_font", lambda: None)
    with pytest.warns(UserWarning, match="fonts-noto-cjk"):
        ax = crm.plot.segments(table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # matplotlib: glyphs missing from the default font
        png(ax)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crm.plot.segments(table)  # warned once only
    assert set(ticks(ax.yaxis)) <= VALUE8_ZH


def test_chinese_labels_with_the_installed_fonts(log):
    """Where a CJK font is installed (e.g. fonts-noto-cjk), it is found and used."""
    family = crm.plot.cjk_font()
    if family is None:
        pytest.skip("no CJK font installed here")
    ax = crm.plot.segments(crm.rfm(log, segments="value8", labels="zh"))
    png(ax)
    assert all(t.get_fontfamily()[0] == family for t in ax.get_yticklabels())


def test_chinese_labels_with_a_cjk_font_registered(log, monkeypatch):
    """With a CJK font present, its family is used for the Chinese text (simulated)."""
    monkeypatch.setattr(crm.plot, "cjk_font", lambda: "DejaVu Serif")
    ax = crm.plot.lifecycle(crm.lifecycle(log, labels="zh"))
    assert all(t.get_fontfamily()[0] == "DejaVu Serif" for t in ax.get_yticklabels())
    assert ax.xaxis.get_label().get_fontfamily()[0] != "DejaVu Serif"  # plain text keeps the default


BLOCK_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None  # as if it were not installed
import crm
table = crm.rfm(crm.datasets.synthetic(50, seed=0, frame="pyarrow"))
try:
    crm.plot.segments(table)
except ImportError as exc:
    print("ImportError:", exc)
try:
    crm.report(crm.datasets.synthetic(50, seed=0, frame="pyarrow"), out="never.html")
except ImportError as exc:
    print("ImportError:", exc)
"""


def test_import_crm_works_without_matplotlib(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", BLOCK_MATPLOTLIB], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all("pip install 'crm-analytics[plot]'" in line for line in lines)
    assert list(tmp_path.iterdir()) == []


# --- legibility and row order ---------------------------------------------------------------


def overlapping_labels(ax) -> list[tuple[str, str]]:
    """Pairs of tick labels (on the same axis) whose drawn boxes overlap, at the default size."""
    figure = ax.get_figure()
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    pairs = []
    for each in figure.axes:
        for axis in (a for a in (each.xaxis, each.yaxis) if a.get_visible()):  # a twin's x axis is hidden
            shown = set(map(id, axis.get_ticklabels()))  # the labels of the current ticks
            labels = [
                label
                for tick in axis.get_major_ticks()
                for label in (tick.label1, tick.label2)
                if id(label) in shown and label.get_visible() and label.get_text()
            ]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i].overlaps(boxes[j]):
                        pairs.append((labels[i].get_text(), labels[j].get_text()))
    return pairs


def test_no_tick_labels_overlap_at_the_default_size(log, fitted):
    two_years = crm.datasets.synthetic(2_000, seed=1, frame="pyarrow")
    cal = crm.calibration_holdout(log, calibration_end="2024-06-30")
    drawn = {
        "segments": crm.plot.segments(crm.rfm(two_years)),
        "segments value8": crm.plot.segments(crm.rfm(two_years, segments="value8")),
        "rfm_heatmap": crm.plot.rfm_heatmap(crm.rfm(two_years)),
        "cohorts monthly": crm.plot.cohorts(crm.cohorts(two_years)),
        "cohorts weekly": crm.plot.cohorts(crm.cohorts(two_years, period="W", format="wide")),
        "lifecycle": crm.plot.lifecycle(crm.lifecycle(two_years)),
        "acquisition weekly": crm.plot.acquisition(crm.acquisition(two_years, period="W")),
        "pareto": crm.plot.pareto(crm.profitability(two_years)),
        "frequency_recency": crm.plot.frequency_recency(*fitted),
        "holdout": crm.plot.holdout(cal, crm.BetaGeo().fit(cal)),
        "basket_rules": crm.plot.basket_rules(rules_table(30)),
    }
    for name, ax in drawn.items():
        assert overlapping_labels(ax) == [], name


def test_row_order_of_the_result_does_not_change_the_picture(log):
    table = crm.rfm(log)
    backwards = table.take(np.arange(table.num_rows)[::-1])
    for plot in (crm.plot.segments, crm.plot.rfm_heatmap):
        one, other = plot(table), plot(backwards)
        assert ticks(one.yaxis) == ticks(other.yaxis)
        np.testing.assert_allclose([p.get_width() for p in bars(one)], [p.get_width() for p in bars(other)])
        if one.images:
            np.testing.assert_allclose(one.images[0].get_array(), other.images[0].get_array())
    value = crm.profitability(log)
    shuffled = value.take(np.random.default_rng(0).permutation(value.num_rows))
    np.testing.assert_allclose(crm.plot.pareto(value).lines[0].get_ydata(), crm.plot.pareto(shuffled).lines[0].get_ydata())
