"""The filters figure from the saved JSON and arrays (:func:`plot`): the trained D's panel beside the first
random D's, a row per shown unit of K (image crop | guided map) pairs, titled with the headline semantic
score. The layout is measured from the texts themselves, so titles and labels neither overlap nor leave the
canvas, whatever the image size, channel count or number of units."""

from __future__ import annotations

import numpy as np

from ganlens.analyses.filters.defs import DETECTOR_IOU, NO_SEMANTIC
from ganlens.core import figures

OUTSIDE = 0.85      # grey for receptive-field pixels that fall outside the image
TITLE_SIZE = 6.5    # points
LABEL_SIZE = 6.0
SMALLEST = 3.0      # titles are wrapped first, made smaller only down to this
TITLE_PAD = 3.0     # points between a panel and its title
LABEL_PAD = 2.0     # points between a unit's label and its panel
MARGIN = 0.04       # inches around everything
GAP = 0.12          # inches between the panels, besides the right panel's labels
SPARE = 1.03        # room for measured text extents (hinting differs a little between resolutions)
LABEL_SHARE = 0.35  # the most of a panel's width its unit labels may take


def _outside_grey(v: np.ndarray) -> np.ndarray:
    """Receptive-field pixels outside the image (NaN) -> the :data:`OUTSIDE` grey."""
    return np.where(np.isnan(v), OUTSIDE, v)


def _display_maps(maps: np.ndarray) -> np.ndarray:
    """Guided maps (N, C, r, r) -> (N, r, r, 3): 0.5 grey = zero, each scaled by its 99.5th |value| percentile."""
    shown = []
    for gmap in maps:
        inside = gmap[~np.isnan(gmap)]
        scale = np.percentile(np.abs(inside), 99.5) if inside.size else 0.0
        shown.append(gmap / scale if scale > 0 else np.zeros_like(gmap))   # [-1, 1] (clipped by figures.rgb)
    return _outside_grey(figures.rgb(np.stack(shown)))


def mosaic(images: np.ndarray, maps: np.ndarray, gap: int = 1, pair_gap: int = 4) -> np.ndarray:
    """(U, K, C, r, r) crops in [-1, 1] (NaN outside the image) and guided maps -> one (H, W, 3) sheet:
    a row per unit of K (crop | map) pairs, ``pair_gap`` px between rows and pairs."""
    U, K = images.shape[:2]
    crops = _outside_grey(figures.rgb(images.reshape(U * K, *images.shape[2:])))
    shown = _display_maps(maps.reshape(U * K, *maps.shape[2:]))
    pairs = np.stack([crops, shown], 1).reshape(2 * U * K, *crops.shape[1:])  # crop, map, crop, map, ...
    return figures.tile(pairs, 2 * K, gap=pair_gap, col_gaps=([gap, pair_gap] * K)[:2 * K - 1])


def panel_text(result: dict, net: str) -> tuple[str, list[str]]:
    """(title, one label per unit) of a panel ("trained" or "random", the first random draw), from the
    headline semantic score: the net's detectors among all its units, and its shown units' scores; without a
    headline the title says it was not measured. Lines break between facts; :func:`plot` wraps them further
    to the panel's width."""
    sem = result["semantic"]
    head = sem["headline"]
    who = "trained D" if net == "trained" else f"random D (seed {sem['random_draws']['seeds'][0]})"
    units = [u["unit"] for u in result[net]["units"]]
    if head is None:
        return f"{who}: {NO_SEMANTIC}", [f"unit {u}" for u in units]
    block = sem[head]
    rows = block["trained"] if net == "trained" else block["random"][0]["units"]
    if head == "iou":   # IoUs of a few hundredths are common (NetDissect's detector level is 0.04)
        labels = [f"unit {u}\n{d['label']} {d['iou']:.3f}" for u, d in zip(units, rows)]
        score, digits, what = "IoU", 3, f"IoU > {DETECTOR_IOU}"
    else:
        labels = [f"unit {u}\n{d['class']} {d['purity']:.2f}" for u, d in zip(units, rows)]
        score, digits, what = f"top-{block['k']} purity", 2, "purity above chance (BH)"
    lay = block["layer"]
    det = lay["detectors"]["trained"] if net == "trained" else lay["detectors"]["random"][0]
    mean = lay["trained_mean"] if net == "trained" else lay["random_means"][0]
    title = f"{who}:\n{det} of {lay['n_units']} units with {what}; mean {score} {mean:.{digits}f}"
    if net == "trained" and "mann_whitney" in lay:
        verdict = "yes" if lay["higher_than_every_draw"] else "no"
        title += f"\nhigher than all {len(lay['mann_whitney'])} random Ds: {verdict}"
    return title, labels


def plot(result: dict, arrays: dict):
    """The paper's layout from saved results: trained D left, the first random D right (if present),
    titled and labelled with the semantic headline score. Returns the matplotlib Figure."""
    nets = [n for n in ("trained", "random") if f"{n}_images" in arrays]
    U, K, _, r, _ = arrays["trained_images"].shape
    sheets = [mosaic(arrays[f"{n}_images"], arrays[f"{n}_maps"]) for n in nets]
    with figures.style():   # text sizes are read from rcParams when each text is made
        fig, axes = figures.figure("two" if len(nets) == 2 else "one", aspect=0.5, ncols=len(nets), squeeze=False)
        axes = list(axes[0])
        for ax, net, sheet in zip(axes, nets, sheets):
            figures.show_image(ax, sheet)
            title, labels = panel_text(result, net)
            ax.set_title(title, pad=TITLE_PAD, fontsize=TITLE_SIZE)
            ax.set_yticks([u * (r + 4) + r / 2 for u in range(U)])
            ax.set_yticklabels(labels)
            ax.tick_params(axis="y", length=0, pad=LABEL_PAD, labelsize=LABEL_SIZE)
        _fit(fig, axes, sheets[0].shape[:2], r + 4)
    return fig


# ------------------------------------------------------------------------------------------ the layout

def _size(texts, renderer, dpi: float) -> tuple[float, float]:
    """(widest, tallest) of ``texts`` in inches, with :data:`SPARE` room."""
    boxes = [t.get_window_extent(renderer) for t in texts]
    return max(b.width for b in boxes) / dpi * SPARE, max(b.height for b in boxes) / dpi * SPARE


def _panel_width(fig, n: int, label_w: float) -> float:
    """Width (inches) of each of ``n`` panels when the figure's width holds the margins, the labels left of
    each panel and the gaps between panels."""
    return (fig.get_figwidth() - 2 * MARGIN - n * label_w - (n - 1) * GAP) / n


def _fit_labels(fig, axes, renderer, sheet_w: int, row_px: int) -> tuple[float, float, float]:
    """Unit labels that fit their rows: two lines if they fit, else one, else smaller; at most
    :data:`LABEL_SHARE` of a panel wide. Returns (label width, label height, panel width) in inches."""
    n, dpi = len(axes), fig.dpi
    given = [[t.get_text() for t in ax.get_yticklabels()] for ax in axes]
    slot = (fig.get_figwidth() - 2 * MARGIN - (n - 1) * GAP) / n
    for one_line in (False, True):
        if one_line:    # (tick labels: their texts come from the axis's formatter, set anew at each draw)
            for ax, texts in zip(axes, given):
                ax.set_yticklabels([t.replace("\n", " ") for t in texts])
        lw, lh = _size([t for ax in axes for t in ax.get_yticklabels()], renderer, dpi)
        shrink = min(1.0, LABEL_SHARE * slot / lw)
        row = _panel_width(fig, n, lw * shrink) * row_px / sheet_w     # inches between two units' rows
        if lh * shrink <= row:
            break
    else:   # one line is still taller than a row
        shrink = row / lh
    if shrink < 1.0:
        for ax in axes:
            ax.tick_params(axis="y", labelsize=LABEL_SIZE * shrink)
        lw, lh = _size([t for ax in axes for t in ax.get_yticklabels()], renderer, dpi)
    return lw, lh, _panel_width(fig, n, lw)


def _wrap(text: str, width_px: float, prop, renderer) -> str:
    """``text`` with its lines broken between words so that each is at most ``width_px`` wide (a word wider
    than that stays on its own line)."""
    def width(s: str) -> float:
        return renderer.get_text_width_height_descent(s, prop, ismath=False)[0] * SPARE

    out = []
    for line in text.split("\n"):
        words = line.split(" ")
        cur = words[0]
        for word in words[1:]:
            if width(f"{cur} {word}") <= width_px:
                cur = f"{cur} {word}"
            else:
                out.append(cur)
                cur = word
        out.append(cur)
    return "\n".join(out)


def _fit_titles(fig, axes, renderer, w: float) -> float:
    """Titles wrapped to the panel width ``w`` (smaller type, down to :data:`SMALLEST`, where a word is
    wider than a panel); returns the tallest title's height plus its pad, in inches."""
    titles, dpi = [ax.title for ax in axes], fig.dpi
    given, size = [t.get_text() for t in titles], TITLE_SIZE
    while True:
        for t, text in zip(titles, given):
            t.set_fontsize(size)
            t.set_text(_wrap(text, w * dpi, t.get_fontproperties(), renderer))
        widest, tallest = _size(titles, renderer, dpi)
        if widest <= w or size <= SMALLEST:
            return tallest + TITLE_PAD / 72
        size = max(SMALLEST, size - 0.5)


def _fit(fig, axes, sheet: tuple[int, int], row_px: int) -> None:
    """Size the figure's height and place the panels so that every text fits: the unit labels their rows and
    the space left of their panel, the titles their panel's width and the space above."""
    renderer = fig.canvas.get_renderer()
    lw, lh, w = _fit_labels(fig, axes, renderer, sheet[1], row_px)
    title_h = _fit_titles(fig, axes, renderer, w)
    scale = w / sheet[1]                                        # inches per sheet pixel
    over = max(0.0, lh / 2 - (row_px - 4) / 2 * scale)          # the first / last label past its panel's edge
    top, bottom = max(title_h, over) + MARGIN, over + MARGIN
    height = top + sheet[0] * scale + bottom
    fig.set_size_inches(fig.get_figwidth(), height)
    width = fig.get_figwidth()
    fig.subplots_adjust(left=(MARGIN + lw) / width, right=1 - MARGIN / width, top=1 - top / height,
                        bottom=bottom / height, wspace=(lw + GAP) / w)
