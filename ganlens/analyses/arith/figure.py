"""arith's figures, drawn from arith.json and arith.npz through :mod:`ganlens.core.figures`: the Fig. 7-style
arithmetic (:func:`plot_arith`), Y against its controls (:func:`plot_controls`) and the turn (:func:`plot_turn`)."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from ganlens.analyses.arith.decide import LATENT_CONDITIONS
from ganlens.core import figures

MARKS = (("o", "#ffd000"), ("s", "#33cc33"))   # the target's and the context's marks on judged samples
MARK_COLOURS = ("#1f5fbf", "#1a8a1a")           # their rate labels


def _show_canvas(canvas: np.ndarray, left: float, top: float, width="two"):
    """A figure showing ``canvas`` (H, W, 3) pixel-exact, with margins (inches) for labels on the left/top.

    Returns (fig, ax) with data coordinates = canvas pixels. Call inside ``figures.style()``.
    """
    Hc, Wc = canvas.shape[:2]
    w_in = {"one": figures.ONE_COLUMN, "two": figures.TWO_COLUMN}.get(width, width)
    ax_w = w_in - left
    ax_h = ax_w * Hc / Wc
    fig, ax = figures.figure(w_in, aspect=(ax_h + top) / w_in)
    ax.set_position([left / w_in, 0, ax_w / w_in, ax_h / (ax_h + top)])
    figures.show_canvas(ax, canvas, int(ax_w * figures.DPI))
    return fig, ax


def _arith_canvas(npz: dict, names: list[str], terms: list[dict]):
    """(canvas, texts (x, y, text, size), column titles (x, text), x of the 3x3 grid, y of the 3 rows).

    Not a grid (each concept's G(mean z) and pixel mean sit centred under its exemplars), so the tiles
    are placed at computed positions by :func:`ganlens.core.figures.place`.
    """
    S = npz["means"].shape[-1]
    g, op_w = 1, max(6, S // 2)
    widths = [max(1, len(npz[f"exemplars_{n}"])) * (S + g) - g for n in names]
    W = sum(widths) + op_w * len(names) + op_w // 2 + S + op_w + 3 * (S + g) - g
    rows_y = figures.offsets(3, S, g)
    coef = {}
    for t in terms:
        coef[t["concept"]] = coef.get(t["concept"], 0) + t["coef"]
    x, texts, tops, tiles, at = 0, [], [], [], []
    for k, (n, w) in enumerate(zip(names, widths)):
        c = coef[n]
        sym = ("" if c > 0 else "\u2212") if k == 0 else ("+" if c > 0 else "\u2212")
        label = sym + ("" if abs(c) == 1 else f"{abs(c):g}\u00d7")
        if k > 0 or label:
            texts += [(x + op_w / 2, ry + S / 2, label, 9) for ry in rows_y[1:]]
        x += op_w
        ex = figures.rgb(npz[f"exemplars_{n}"])
        tiles += [*ex, *figures.rgb(npz["means"][k:k + 1]), *figures.rgb(npz["pixel_means"][k:k + 1])]
        at += [(0, xj) for xj in figures.offsets(len(ex), S, g, x)] + [(ry, x + (w - S) // 2) for ry in rows_y[1:]]
        tops.append((x + w / 2, n))
        x += w
    x += op_w // 2
    texts += [(x - op_w / 2 + 1, ry + S / 2, "=", 9) for ry in rows_y[1:]]
    tiles += [*figures.rgb(npz["grid"][4:5]), *figures.rgb(npz["pixel_result"])]
    at += [(ry, x) for ry in rows_y[1:]]
    tops.append((x + S / 2, "result"))
    x += S + op_w
    tiles.append(figures.tile(figures.rgb(npz["grid"]), 3, gap=g))
    at.append((0, x))
    tops.append((x + (3 * (S + g) - g) / 2, "Y and 8 neighbours"))
    return figures.place(tiles, at, (3 * (S + g) - g, W)), texts, tops, x, rows_y


def plot_arith(data: dict, arrays: dict):
    """The Fig. 7-style figure from arith.json (``figure.names``, ``terms``, the judge's marks) and arith.npz.

    Columns: one block per concept (exemplars on top, G(mean z) and the pixel mean below), the operator
    between blocks, then the results (G(Y), pixel-space result) and the 3x3 grid of Y and its neighbours.
    """
    canvas, texts, tops, gx, rows_y = _arith_canvas(arrays, data["figure"]["names"], data["terms"])
    S, g = arrays["means"].shape[-1], 1
    with figures.style():
        fig, ax = _show_canvas(canvas, left=0.62, top=0.16)
        for tx, ty, s, size in texts:
            ax.text(tx, ty, s, ha="center", va="center", fontsize=size)
        for tx, s in tops:
            ax.text(tx, -S * 0.08, s, ha="center", va="bottom", fontsize=7)
        vec = "G(mean z)" if data["settings"].get("norm", "none") == "none" else "G(vector)"
        for ry, s in zip(rows_y, ("exemplars", vec, "pixel mean")):
            ax.text(-S * 0.1, ry + S / 2, s, ha="right", va="center", fontsize=7)
        # centre of the grid: Y itself
        ax.add_patch(Rectangle((gx + S + g - 0.5, S + g - 0.5), S, S, fill=False, ec="red", lw=0.8))
        marks = (data.get("controls") or {}).get("draw0")
        if marks:  # the judge's attributes of the grid's samples (same latents as the controls' Y)
            _marks(ax, marks["latent"]["Y"], data["settings"], lambda i: (gx + (i % 3) * (S + g), (i // 3) * (S + g)), S)
    return fig


def plot_turn(data: dict, arrays: dict):
    """Fig. 8-style rows from arith.npz ``turn_frames`` (R, T, nc, H, W) uint8, labelled from arith.json's
    ``turn`` (with the judge's rate of each attribute per column when judged)."""
    frames, turn = arrays["turn_frames"], data["turn"]
    labels = [f"{turn['from']}\u2192{turn['to']}"] + [f"seed {s}" for s in turn["seeds"]]
    rates = turn.get("rates_by_step") or {}
    R, T = frames.shape[:2]
    S, g = frames.shape[-1], 1
    wgap = max(2, S // 10)
    row_gaps = ([g + wgap] + [g] * R)[:R - 1]   # the vector-to-vector row set apart from the seeds' rows
    canvas = figures.tile(figures.rgb(frames.reshape(R * T, *frames.shape[2:])), T, gap=g, row_gaps=row_gaps)
    ys = figures.offsets(R, S, row_gaps)
    # about 0.7 inch a frame, at most the text width: a short turn makes a small figure, not a huge one
    width = min(figures.TWO_COLUMN, 0.75 + 0.7 * T)
    with figures.style():
        fig, ax = _show_canvas(canvas, left=0.75, top=0.15 + 0.12 * len(rates), width=width)
        for y, lab in zip(ys, labels):
            ax.text(-S * 0.1, y + S / 2, lab, ha="right", va="center", fontsize=7)
        for t in range(T):
            ax.text(t * (S + g) + S / 2, -S * 0.08, f"t={t / max(1, T - 1):.2f}", ha="center",
                    va="bottom", fontsize=6)
        names = [n for n in (data["settings"].get("target"), data["settings"].get("context")) if n in rates]
        for k, name in enumerate(names):   # the JSON's keys are sorted: the settings give the order
            r, y = rates[name], -S * (0.32 + 0.24 * k)
            color = MARK_COLOURS[k % len(MARK_COLOURS)]
            ax.text(-S * 0.1, y, f"{name} rate", ha="right", va="bottom", fontsize=6, color=color)
            for t in range(T):
                ax.text(t * (S + g) + S / 2, y, f"{100 * r[t]:.0f}%", ha="center", va="bottom", fontsize=6, color=color)
    return fig


def _marks(ax, attributes: dict, settings: dict, corner, S: int) -> None:
    """Mark judged samples: ``attributes`` {name: [bool per sample]}, ``corner(i)`` the sample's (x, y)
    top-left in canvas pixels; the target gets a yellow dot at the top right, the context a green
    square at the top left."""
    for k, name in enumerate((settings["target"], settings["context"])):
        marker, colour = MARKS[k]
        for i, v in enumerate(attributes.get(name, [])):
            if v:
                x, y = corner(i)
                ax.plot(x + S * (0.88 if k == 0 else 0.12), y + S * 0.12, marker=marker, ms=2.5, color=colour,
                        mec="black", mew=0.4)


def plot_controls(data: dict, arrays: dict):
    """Y and its controls for the figure's exemplars, from arith.npz ``controls_grid`` (5, 9, nc, H, W) and
    ``controls_pixel`` (1, nc, H, W): one row each (centre, then the 8 neighbours), the pixel result last;
    row labels carry the rate of the expected outcome from arith.json's ``claim`` when judged."""
    grid, pix, c = arrays["controls_grid"], arrays["controls_pixel"], data["controls"]
    order = list(grid[:, [4, 0, 1, 2, 3, 5, 6, 7, 8]])          # the centre first, then the neighbours
    cells = [t for row in order for t in figures.rgb(row)] + list(figures.rgb(pix)) + [None] * 8
    S, g = grid.shape[-1], 1
    col_gaps = [max(2, S // 8)] + [g] * 7                       # the centre set apart from its neighbours
    row_gaps = [g] * (len(grid) - 1) + [max(2, S // 8)]
    canvas = figures.tile(cells, 9, gap=g, col_gaps=col_gaps, row_gaps=row_gaps)
    xs, ys = figures.offsets(9, S, col_gaps), figures.offsets(len(grid) + 1, S, row_gaps)
    names = {"Y": "Y", "A_plus_C": "A + C (no subtraction)", "A_alone": f"{c['A']} alone", "null": "null (random A, B)",
             "C_alone": f"{c['C']} alone", "pixel": "pixel space"}
    claim = data.get("claim")
    with figures.style():
        fig, ax = _show_canvas(canvas, left=1.25, top=0.16, width=min(figures.TWO_COLUMN, 1.25 + 0.55 * 9))
        for k, cond in enumerate(c["conditions_order"]):
            label = names[cond]
            if claim:
                r = claim["rates"][cond]
                label += f"\n{100 * r['rate']:.0f}%" + (f" [{100 * r['ci95'][0]:.0f}, {100 * r['ci95'][1]:.0f}]"
                                                        if r["ci95"] else "")
            ax.text(-S * 0.1, ys[k] + S / 2, label, ha="right", va="center", fontsize=6)
        if claim:
            ax.text(-S * 0.1, -S * 0.08, f"{claim['measure']}: rate over {claim['samples']} samples of "
                    f"{data[claim['from']]['draws']} draws", ha="right", va="bottom", fontsize=6)
        ax.text(xs[0] + S / 2, -S * 0.08, "centre", ha="center", va="bottom", fontsize=6)
        ax.text((xs[1] + xs[8] + S) / 2, -S * 0.08, "8 neighbours (the same noise in every row)", ha="center",
                va="bottom", fontsize=6)
        if c.get("draw0"):
            for k, cond in enumerate(LATENT_CONDITIONS):
                pos = [xs[0]] + xs[1:]
                slot = [4, 0, 1, 2, 3, 5, 6, 7, 8]
                att = {a: [v[slot[j]] for j in range(9)] for a, v in c["draw0"]["latent"][cond].items()}
                _marks(ax, att, data["settings"], lambda i, k=k: (pos[i], ys[k]), S)
            _marks(ax, {a: [v] for a, v in c["draw0"]["pixel"].items()}, data["settings"],
                   lambda i: (xs[0], ys[len(grid)]), S)
    return fig
