"""The CONSORT-style flow diagram, drawn from the counts with matplotlib (PNG or SVG)."""

from __future__ import annotations

import io
from collections.abc import Mapping

# The object-oriented API without pyplot: no global figure state, no display backend.
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from natars_bot.reports.stats import FlowCounts

__all__ = ["render_flow"]

INK, FILL = "#1f3b57", "#eef4fa"


def _box(axes: Axes, x: float, y: float, w: float, h: float, text: str) -> None:
    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2),
        w,
        h,
        boxstyle="round,pad=0.02",
        linewidth=1.2,
        edgecolor=INK,
        facecolor=FILL,
    )
    axes.add_patch(patch)
    axes.text(x, y, text, ha="center", va="center", fontsize=10)


def _arrow(axes: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    arrow = {"arrowstyle": "->", "color": INK, "lw": 1.2}
    axes.annotate("", xy=end, xytext=start, arrowprops=arrow)


def render_flow(overall: FlowCounts, sites: Mapping[str, FlowCounts], fmt: str = "png") -> bytes:
    """The diagram as PNG or SVG bytes; every number comes from `overall` and `sites`."""
    figure = Figure(figsize=(8.5, 8.5))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, 10)
    axes.set_ylim(1.5, 11)
    axes.axis("off")
    axes.text(5, 10.6, "NATARS screening flow", ha="center", fontsize=14, weight="bold")
    _box(axes, 4, 9.6, 4.2, 0.8, f"Referred\nn = {overall.referred}")
    _box(axes, 4, 8.1, 4.2, 0.8, f"Assessed (dialogue completed)\nn = {overall.assessed}")
    _arrow(axes, (4, 9.2), (4, 8.5))
    criteria = "\n".join(f"{cid}: {n}" for cid, n in sorted(overall.excluded_by.items()))
    _box(
        axes,
        8.1,
        6.9,
        3.4,
        1.6,
        f"Excluded at pre-screen\nn = {overall.excluded}\n{criteria}".strip(),
    )
    _arrow(axes, (4, 7.7), (4, 6.1))
    _arrow(axes, (4, 6.9), (6.4, 6.9))
    _box(axes, 9.2, 9.6, 1.4, 0.8, f"In progress\nn = {overall.in_progress}")
    _arrow(axes, (6.1, 9.6), (8.5, 9.6))
    _box(axes, 4, 5.7, 4.2, 0.8, f"Submitted to the MDT\nn = {overall.submitted}")
    for x, label, n in ((1.6, "Approved", overall.approved), (4, "Declined", overall.declined),
                        (6.4, "Pending", overall.pending)):  # fmt: skip
        _box(axes, x, 4.2, 2.1, 0.8, f"{label}\nn = {n}")
        _arrow(axes, (4, 5.3), (x, 4.6))
    rows = [
        f"{site or '(no site)'}: referred {c.referred} · excluded {c.excluded} · submitted "
        f"{c.submitted} · approved {c.approved} · declined {c.declined} · pending {c.pending}"
        for site, c in sites.items()
    ]
    axes.text(0.3, 3.3, "By site", fontsize=11, weight="bold")
    axes.text(0.3, 3.1, "\n".join(rows) or "no referrals yet", fontsize=8.5, va="top")
    output = io.BytesIO()
    with rc_context({"svg.fonttype": "none"}):  # SVG keeps its text as text (searchable, small)
        figure.savefig(output, format=fmt, dpi=110)
    return output.getvalue()
