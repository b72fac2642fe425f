"""GANSpace's figures, drawn from ganspace.json and ganspace.npz through :mod:`ganlens.core.figures`.

``plot_ganspace``: rows = principal components (then two random directions), columns = -sigma .. +sigma for
each shown latent; under it the scree panel and the change per latent (principal vs random).
``plot_objects``: the rooms judge's share change per class (+sigma vs -sigma), principal and random rows.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import MaxNLocator

from ganlens.core import figures

MAX_GRID_HEIGHT = 6.0   # inches: a figure with few columns is narrowed rather than made taller
LABEL_PT = 7
HEADER_PT = 6


def _cells(frames: np.ndarray, random_frames: np.ndarray) -> tuple[list, int, int]:
    """RGB tiles row by row (principal rows, then random rows), (rows, columns)."""
    rows = [figures.rgb(f.reshape(-1, *f.shape[-3:])) for f in list(frames) + list(random_frames)]
    return [t for r in rows for t in r], len(rows), frames.shape[1] * frames.shape[2]


def edit_canvas(frames: np.ndarray, random_frames: np.ndarray):
    """The edit grid as one canvas, and the tiles' y (rows) and x (columns) offsets in canvas pixels."""
    k, show, S, _, H, W = frames.shape
    gap, wide = 1, max(3, H // 8)
    cells, rows, cols = _cells(frames, random_frames)
    col_gaps = [wide if (i + 1) % S == 0 else gap for i in range(cols - 1)]
    row_gaps = [wide if i == k - 1 else gap for i in range(rows - 1)]
    canvas = figures.tile(cells, cols, col_gaps=col_gaps, row_gaps=row_gaps)
    return canvas, figures.offsets(rows, H, row_gaps), figures.offsets(cols, W, col_gaps)


def _sigma_label(v: float) -> str:
    return "0" if v == 0 else f"{v:+g}σ".replace("-", "\u2212")


def _row_label(data: dict, i: int, k: int, row_pt: float) -> str:
    """Two lines where rows are tall enough (component and explained variance), else one."""
    if i >= k:
        return f"random\n{i - k + 1}" if row_pt >= 2.6 * LABEL_PT else f"rand {i - k + 1}"
    ratio = data["components"][i]["explained_variance_ratio"]
    return f"PC{i + 1}\n{100 * ratio:.1f}%" if row_pt >= 2.6 * LABEL_PT else f"PC{i + 1}"


def _grid_labels(ax, data: dict, frames: np.ndarray, ys, xs, cell_pt: float) -> None:
    """Row labels (every row where rows are tall enough, else every few), column headers in sigmas (every
    column where columns are wide enough, else the ends and the middle) and the latents' seeds."""
    k, show, S, _, H, W = frames.shape
    step = max(1, math.ceil(1.4 * LABEL_PT / cell_pt))
    for i, y in enumerate(ys):
        if (i % step == 0 and i <= k - step) if i < k else (i - k) % step == 0:
            ax.text(-0.08 * W, y + H / 2, _row_label(data, i, k, cell_pt), ha="right", va="center",
                    fontsize=LABEL_PT)
    offsets = data["settings"]["columns_sigma"]
    every = 1 if cell_pt >= 16 else S // 2  # narrow columns: label the ends and the middle only
    first = data["settings"]["edit_seeds"][0]
    for j in range(show):
        for s in range(S):
            if s % every == 0 or s == S - 1:
                ax.annotate(_sigma_label(offsets[s]), (xs[j * S + s] + W / 2, 0), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=HEADER_PT)
        mid = (xs[j * S] + xs[j * S + S - 1] + W) / 2
        title = f"latent seed {first + j}" if S * cell_pt >= 10 * LABEL_PT else str(first + j)
        ax.annotate(title, (mid, 0), xytext=(0, 11), textcoords="offset points",
                    ha="center", va="bottom", fontsize=LABEL_PT)


def _scree(ax, data: dict) -> None:
    ev, k = data["explained_variance"], data["settings"]["components"]
    scree = np.array(ev["scree"])
    x = np.arange(1, len(scree) + 1)
    ax.bar(x, scree, color=["C0" if i < k else "0.7" for i in range(len(scree))], width=0.8)
    ax.axhline(ev["random_directions_mean"], color="C3", ls="--", lw=0.8, label=f"random directions ({100 * ev['random_directions_mean']:.3f}%)")
    ax.set_xlabel("component")
    ax.set_ylabel("explained variance")
    ax.set_title(f"PCA of layer {data['settings']['layer']}")
    ax.legend(frameon=False, loc="upper right")


def _change(ax, data: dict) -> None:
    ch, rule = data["change"], data["rule"]
    p, r = np.array(ch["per_latent"]["principal"]), np.array(ch["per_latent"]["random"])
    top = max(float(p.max()), float(r.max())) * 1.08
    ax.plot([0, top], [0, top], color="0.6", lw=0.8)
    ax.scatter(r, p, s=6, color="C0", lw=0)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    for axis in (ax.xaxis, ax.yaxis):  # few ticks, in scientific notation: small changes stay short labels
        axis.set_major_locator(MaxNLocator(4))
    ax.ticklabel_format(style="sci", scilimits=(-2, 3), useMathText=False)
    ax.set_xlabel(f"random (mean of {data['settings']['draws']} draws)")
    ax.set_ylabel("principal")
    ax.set_title("image change per latent step")
    ratio = "n/a" if ch["ratio"] is None else f"{ch['ratio']:.2f}"
    ax.text(0.04, 0.96, f"ratio {ratio}\nrule {'fires' if rule['fires'] else 'does not fire'}\n"
                        f"p = {rule['p_value']:.2g}", transform=ax.transAxes, ha="left", va="top", fontsize=LABEL_PT)


def plot_ganspace(data: dict, arrays: dict):
    """The edit grid (ganspace.npz ``frames``, ``random_frames``) over the scree and change panels."""
    frames = arrays["frames"]
    canvas, ys, xs = edit_canvas(frames, arrays["random_frames"])
    Hc, Wc = canvas.shape[:2]
    full_w = figures.TWO_COLUMN
    left, top, gap, panel_h, bottom = 0.5, 0.38, 0.55, 1.45, 0.45   # inches
    grid_w = min(full_w - left - 0.05, MAX_GRID_HEIGHT * Wc / Hc)
    grid_h = grid_w * Hc / Wc
    total_h = top + grid_h + gap + panel_h + bottom
    with figures.style():
        fig, ax = figures.figure("two", aspect=total_h / full_w)
        ax.set_position([left / full_w, (total_h - top - grid_h) / total_h, grid_w / full_w, grid_h / total_h])
        figures.show_canvas(ax, canvas, int(grid_w * figures.DPI))
        _grid_labels(ax, data, frames, ys, xs, grid_w * 72 * frames.shape[-1] / Wc)
        y0, h = bottom / total_h, panel_h / total_h
        _scree(fig.add_axes([0.08, y0, 0.38, h]), data)
        _change(fig.add_axes([0.6, y0, 0.37, h]), data)
    return fig


def plot_objects(data: dict, arrays: dict):
    """Share change per class (+sigma vs -sigma) of each principal component and of the first draw's random
    directions (ganspace.npz ``object_deltas``, ``random_object_deltas``), one column wide."""
    obj, k = data["objects"], data["settings"]["components"]
    m = np.concatenate([arrays["object_deltas"], arrays["random_object_deltas"][0]])
    lim = max(float(np.abs(m).max()), 1e-6)
    sigma = data["settings"]["sigma"]
    with figures.style():
        fig, ax = figures.figure("one", aspect=(0.9 + 0.16 * len(m)) / figures.ONE_COLUMN)
        im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.axhline(k - 0.5, color="black", lw=1.2)
        ax.set_yticks(range(len(m)), [f"PC{i + 1}" for i in range(k)] + [f"random {i + 1}" for i in range(k)])
        ax.set_xticks(range(len(obj["classes"])), obj["classes"], rotation=90)
        ax.tick_params(length=0)
        for s in ax.spines.values():
            s.set_visible(False)
        bar = fig.colorbar(im, ax=ax, fraction=0.06, pad=0.03)
        bar.set_label(f"pixel share change, {_sigma_label(sigma)} vs {_sigma_label(-sigma)}")
        bar.ax.tick_params(labelsize=6)
    return fig
