"""The figures of docs/benchmarks.md, drawn from the result files (no figure drawn by hand).

A result whose ``details`` hold per-system loss curves (``details["losses"]`` as
``{system: [loss per step]}``, or ``details[system]["losses"]``) gets a figure of
those curves, ``docs/images/benchmarks/<name>-loss.png``, shown under its section.
A benchmark script that draws its own figure lists it in its result as
``"plots": [{"file": "<path under docs/>", "caption": "..."}]``.

``report.py`` decides which figures a section shows from the result alone (so the
page does not depend on which files happen to exist); ``write_report`` and
``nox -s docs`` draw them (``python benchmarks/plots.py``; matplotlib, the ``plot``
extra). The drawn PNGs are committed with the page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _common import RESULTS_DIR, ROOT

__all__ = ["DOCS_DIR", "IMAGE_DIR", "draw_all", "draw_loss_curves", "images", "loss_curves"]

DOCS_DIR = ROOT / "docs"
IMAGE_DIR = DOCS_DIR / "images" / "benchmarks"


def loss_curves(result: dict[str, Any]) -> dict[str, list[float]]:
    """The loss curve of each system in ``result`` (systems with fewer than 2 points left out)."""
    details = result.get("details") or {}
    if not isinstance(details, dict):
        return {}
    given = details.get("losses")
    if isinstance(given, dict):
        curves = given
    else:
        curves = {name: value["losses"] for name, value in details.items()
                  if isinstance(value, dict) and isinstance(value.get("losses"), list)}
    return {name: [float(x) for x in curve] for name, curve in curves.items()
            if isinstance(curve, list) and len(curve) >= 2
            and all(isinstance(x, (int, float)) for x in curve)}


def _loss_figure(result: dict[str, Any]) -> Path:
    return IMAGE_DIR / f"{result['name']}-loss.png"


def images(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(path relative to docs/, caption) of each figure the section of ``result`` shows."""
    shown = []
    if loss_curves(result):
        path = _loss_figure(result).relative_to(DOCS_DIR).as_posix()
        shown.append((path, f"{result['title']}: loss per step of each system"))
    for plot in result.get("plots") or []:
        shown.append((str(plot["file"]), str(plot.get("caption") or result["title"])))
    return shown


def draw_loss_curves(result: dict[str, Any]) -> Path | None:
    """Draw the loss figure of ``result``; None when it has no curves."""
    curves = loss_curves(result)
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=100)
    for name, curve in curves.items():
        axes.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3, label=name)
    axes.set_xlabel("step")
    axes.set_ylabel("training loss")
    axes.set_title(result["title"], fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = _loss_figure(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return path


def draw_all(results_dir: Path = RESULTS_DIR) -> list[Path]:
    """Draw the figures of every result file in ``results_dir``; return the files drawn."""
    drawn = []
    for path in sorted(results_dir.glob("*.json")):
        figure = draw_loss_curves(json.loads(path.read_text()))
        if figure is not None:
            drawn.append(figure)
    return drawn


if __name__ == "__main__":
    for figure in draw_all():
        print(figure)
