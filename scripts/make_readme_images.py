"""Draw the pictures the README shows into docs/images/ (run from the repository root):

    python scripts/make_readme_images.py

They are drawn from the synthetic sample log, so the same code gives the same pictures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import crm  # noqa: E402
import crm.plot  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


def axes(width: float, height: float):
    return Figure(figsize=(width, height), layout="constrained").add_subplot()


def save(ax, name: str) -> None:
    path = OUT / name
    ax.get_figure().savefig(path, dpi=90, metadata={"Software": None})  # no version stamp: stable bytes
    print(f"wrote {path.relative_to(OUT.parent.parent)}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    log = crm.datasets.synthetic(5_000, seed=0, frame="pyarrow")
    save(crm.plot.segments(crm.rfm(log, order="order_id"), ax=axes(7.5, 4.8)), "segments.png")
    save(crm.plot.cohorts(crm.cohorts(log, period="Q"), ax=axes(8, 5)), "cohorts.png")
    save(crm.plot.pareto(crm.profitability(log), ax=axes(6, 4.5)), "pareto.png")


if __name__ == "__main__":
    main()
