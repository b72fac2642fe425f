"""The neighbours figure: queries above their nearest training images, one row per space."""

from __future__ import annotations

import numpy as np

from ganlens.core import figures


def plot_neighbours(data: dict, arrays: dict):
    """Queries (top row) above their nearest training images, one row per space (pixel first).

    data: a memorization JSON (or walk.json's "memorization" block) with ``spaces`` and
    ``shown.groups``; arrays: ``neighbours_query`` and ``neighbours_<space>``, uint8 (Q, nc, H, W).
    """
    groups = data["shown"]["groups"]
    spaces = sorted(data["spaces"], key=lambda s: s != "pixel")
    query = arrays["neighbours_query"]
    rows = [("query", query)] + [(f"nearest\n({'D features' if s == 'feature' else s})", arrays[f"neighbours_{s}"])
                                 for s in spaces]
    Q, S = len(query), query.shape[-1]
    gap, ggap = 1, max(3, S // 4)
    ends = np.cumsum([g["count"] for g in groups])[:-1]   # a wider gap after each group but the last
    col_gaps = [ggap if q + 1 in ends else gap for q in range(Q - 1)]
    canvas = figures.tile(np.concatenate([figures.rgb(imgs) for _, imgs in rows]), Q, gap=gap, col_gaps=col_gaps)
    xs = figures.offsets(Q, S, col_gaps)
    xs = [xs[q] for q in np.concatenate([[0], ends])]    # where each group starts
    Hc, Wc = canvas.shape[:2]
    left, top = 0.1, 0.18  # axes fraction of the width for row labels; inches for group titles
    ax_w = figures.TWO_COLUMN * (1 - left)
    ax_h = ax_w * Hc / Wc
    fig_h = ax_h + top
    with figures.style():
        fig, ax = figures.figure("two", aspect=fig_h / figures.TWO_COLUMN)
        ax.set_position([left, 0, 1 - left, ax_h / fig_h])
        figures.show_canvas(ax, canvas, int(ax_w * figures.DPI))
        for g, x0 in zip(groups, xs):
            ax.text(x0 + (g["count"] * (S + gap) - gap) / 2, -S * 0.12, g["name"], ha="center", va="bottom",
                    fontsize=7)
        for k, (label, _) in enumerate(rows):
            ax.text(-S * 0.12, k * (S + gap) + S / 2, label, ha="right", va="center", fontsize=7)
    return fig
