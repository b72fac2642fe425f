"""The one figure style: LaTeX column widths, embedded TrueType fonts, pixel-exact image display,
PDF + PNG output. Every ganlens figure is made through :func:`figure` and :func:`save`.

Every image tiling in ganlens goes through :func:`tile` (grids, with per-row/per-column gaps and empty
cells) or, for layouts that are not grids, :func:`place` (tiles pasted at given pixel positions), after
:func:`rgb` (the one conversion of uint8 / [-1, 1] / grey images to RGB floats); :func:`fit_width` and
:func:`enlarge` size a canvas for a figure, :func:`show_canvas` draws it with canvas-pixel coordinates.
These are numpy, not torchvision's ``make_grid``: importing torchvision costs ~1.4 s of start-up, and
make_grid cannot leave cells empty, vary gaps, enlarge tiles or outline boxes. :func:`grid` keeps
make_grid's layout and values (a border around every image) for the sample sheets that have always had it.
:func:`text_problems` lists the texts of a figure that overlap or leave the canvas (for every figure's test).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.axis  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ONE_COLUMN = 3.25   # inches: one column of a two-column paper (NeurIPS/ICML/CVPR-style)
TWO_COLUMN = 6.75   # inches: full text width
DPI = 300
PNG_COMPRESSION = 1  # zlib level of the PNGs (lossless at any level): 3-4x faster to write than PIL's 6, ~12% larger

STYLE = {
    "pdf.fonttype": 42,          # TrueType fonts embedded, editable and accepted by publishers
    "ps.fonttype": 42,
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.interpolation": "nearest",
    "text.parse_math": False,    # labels are user text (class names, box labels): "$x^$" is drawn, never parsed
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
}


def style():
    """Context manager applying the shared style to everything drawn inside it.

    rcParams are read when an artist is created, so titles, labels and legends added after
    :func:`figure` need the style active too: draw a whole figure inside ``with figures.style():``.
    """
    return plt.rc_context(STYLE)


def figure(width: str | float = "one", aspect: float = 0.75, **subplots):
    """A styled (fig, axes) of ``width`` "one" or "two" LaTeX columns (or inches); height = width * aspect."""
    w = {"one": ONE_COLUMN, "two": TWO_COLUMN}.get(width, width)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(figsize=(w, w * aspect), **subplots)
    return fig, axes


def line_chars(width: str | float, fontsize: float) -> int:
    """About how many characters of ``fontsize`` points fit across ``width`` ("one", "two" or inches), for
    breaking a long line of figure text before drawing it (DejaVu Sans: ~0.55 em per character on average)."""
    w = {"one": ONE_COLUMN, "two": TWO_COLUMN}.get(width, width)
    return max(20, int(w * 72 / (0.55 * fontsize)))


def show_image(ax, image: np.ndarray, title: str | None = None) -> None:
    """Draw an (H, W, 3) or (H, W) array pixel for pixel (nearest neighbour), without axes."""
    ax.imshow(image, interpolation="nearest", cmap=None if image.ndim == 3 else "gray")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        ax.set_title(title)


def save(fig, stem: str | Path) -> list[Path]:
    """Write ``stem``.pdf and ``stem``.png with the shared style, close the figure, return both paths."""
    stem = Path(stem)
    paths = [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
    with plt.rc_context(STYLE):
        for p in paths:
            if p.suffix == ".pdf":
                fig.savefig(p, metadata={"CreationDate": None})
            else:
                fig.savefig(p, pil_kwargs={"compress_level": PNG_COMPRESSION})
    plt.close(fig)
    return paths


def _drawn_texts(fig) -> list:
    """The visible, non-empty texts that drawing ``fig`` shows: every Text artist of the figure, except tick
    labels of ticks outside their axis's view (matplotlib keeps those artists but does not draw them)."""
    hidden = set()
    for axis in fig.findobj(matplotlib.axis.Axis):
        lo, hi = sorted(axis.get_view_interval())
        tol = 1e-9 * max(1.0, abs(lo), abs(hi))
        for tick in (c for c in axis.get_children() if isinstance(c, matplotlib.axis.Tick)):
            if not lo - tol <= tick.get_loc() <= hi + tol:
                hidden.update((tick.label1, tick.label2))
    return [t for t in fig.findobj(matplotlib.text.Text)
            if t not in hidden and t.get_visible() and t.get_text().strip()]


# ------------------------------------------------------------------------------------------ image tiling

def rgb(images) -> np.ndarray:
    """Images (N, C, H, W), a tensor or an array, -> float32 (N, H, W, 3) in [0, 1].

    uint8 is divided by 255; floats are the generator's range [-1, 1], clipped and mapped by (x + 1) / 2 in
    their own precision (NaN stays NaN). One channel becomes grey RGB; of more than three, the first three.
    """
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(x.shape)}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255
    elif np.issubdtype(x.dtype, np.floating):
        x = (np.clip(x, -1, 1) + 1) / 2
    else:
        raise TypeError(f"expected uint8 images or floats in [-1, 1], got {x.dtype}")
    x = x.transpose(0, 2, 3, 1)
    x = np.repeat(x, 3, axis=3) if x.shape[3] == 1 else x[..., :3]
    return x.astype(np.float32, copy=False)


def as_uint8(image: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> uint8 (rounded), e.g. a :func:`tile` canvas for a PNG or a video frame."""
    return (image * 255).round().astype(np.uint8)


def offsets(n: int, size: int, gaps=1, start: int = 0) -> list[int]:
    """Where each of ``n`` cells ``size`` px long starts when consecutive cells are ``gaps`` px apart
    (one int, or n - 1 ints), the first at ``start``: the pixel positions of :func:`tile`'s rows or
    columns, for labels and marks placed on a canvas."""
    gaps = [gaps] * max(0, n - 1) if isinstance(gaps, (int, np.integer)) else list(gaps)
    if len(gaps) != max(0, n - 1):
        raise ValueError(f"{n} cells need {max(0, n - 1)} gaps, got {len(gaps)}")
    out = [start]
    for g in gaps:
        out.append(out[-1] + size + g)
    return out[:n]


def place(tiles, at, shape: tuple[int, int], fill: float = 1.0) -> np.ndarray:
    """(h, w, 3) ``tiles`` pasted with their top-left corners ``at`` [(y, x), ...] (a None tile leaves its
    place empty) on an (H, W, 3) float32 canvas of ``fill`` (white by default)."""
    canvas = np.full((*shape, 3), fill, np.float32)
    for t, (y, x) in zip(tiles, at, strict=True):
        if t is not None:
            canvas[y:y + t.shape[0], x:x + t.shape[1]] = t
    return canvas


def tile(images, cols: int, *, gap: int = 1, row_gaps=None, col_gaps=None, border: int = 0, scale: int = 1,
         fill: float = 1.0, boxes=None) -> np.ndarray:
    """RGB tiles (N, h, w, 3) (an array, or a list in which None leaves a cell empty) laid out ``cols`` per
    row, in order -> one (H, W, 3) float32 canvas of ``fill``.

    ``gap`` px between cells; ``row_gaps`` / ``col_gaps`` (rows - 1 / cols - 1 ints) set each gap on their
    own, e.g. wider between groups. ``border`` px around the whole grid. ``scale`` enlarges each tile by a
    whole factor (:func:`enlarge`; the gaps stay as they are). ``boxes``, one list per tile of
    (x0, y0, x1, y1) in the tile's own pixels (x1, y1 exclusive), are outlined 1 px wide in red on the
    enlarged tiles (so thin lines survive a figure's resampling). Cell positions: :func:`offsets`.
    """
    cells = list(images)
    first = next((t for t in cells if t is not None), None)
    if first is None:
        raise ValueError("no images to tile")
    h, w = first.shape[0] * scale, first.shape[1] * scale
    ys = offsets(-(-len(cells) // cols), h, gap if row_gaps is None else row_gaps, border)
    xs = offsets(cols, w, gap if col_gaps is None else col_gaps, border)
    if scale > 1 or boxes is not None:
        cells = [None if t is None else _outline(enlarge(t, scale), boxes[i] if boxes is not None else (), scale)
                 for i, t in enumerate(cells)]
    at = [(ys[i // cols], xs[i % cols]) for i in range(len(cells))]
    return place(cells, at, (ys[-1] + h + border, xs[-1] + w + border), fill)


def _outline(image: np.ndarray, boxes, scale: int) -> np.ndarray:
    """``image`` (a copy, when there are boxes) with each box (source pixels, times ``scale``) in red."""
    if not len(boxes):
        return image
    image = np.array(image, np.float32, order="C")  # a C-contiguous copy: cv2 draws in place
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(image, (x0 * scale, y0 * scale), (x1 * scale - 1, y1 * scale - 1), (1.0, 0.0, 0.0), 1)
    return image


def enlarge(image: np.ndarray, k: int) -> np.ndarray:
    """Each pixel as a k x k square (whole pixels, nearest neighbour); k <= 1 returns ``image`` itself."""
    return np.repeat(np.repeat(image, k, 0), k, 1) if k > 1 else image


def fit_width(canvas: np.ndarray, px: int) -> np.ndarray:
    """Resample an (H, W, 3) canvas to about ``px`` pixels wide, so that matplotlib shows it ~1:1.

    Wider canvases are area-averaged (cv2.INTER_AREA: no aliasing, no interpolation blur from upsampling);
    narrower ones are enlarged by a whole number of pixels (:func:`enlarge`: every pixel stays a square).
    """
    h, w = canvas.shape[:2]
    if w > px:
        return np.clip(cv2.resize(canvas.astype(np.float32), (px, max(1, round(h * px / w))),
                                  interpolation=cv2.INTER_AREA), 0, 1)
    return enlarge(canvas, px // w)


def show_canvas(ax, canvas: np.ndarray, px: int) -> None:
    """Draw ``canvas`` (H, W, 3) on ``ax`` through :func:`fit_width` (``px``: the axes' width in pixels at
    :data:`DPI`), with data coordinates = canvas pixels, so labels and marks are placed in canvas pixels."""
    h, w = canvas.shape[:2]
    show_image(ax, fit_width(canvas, px))
    ax.images[0].set_extent((0, w, h, 0))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)


def grid(images, nrow: int, padding: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Images (N, C, H, W) (uint8, or floats in [-1, 1]) -> (H', W', 3) float32 in [0, 1] in torchvision
    ``make_grid``'s layout (normalize=True, value_range=(-1, 1)): at most ``nrow`` per row, ``padding``
    px around every image, and a single image returned without any. Float images give make_grid's exact
    values; uint8 ones the same after :func:`as_uint8`. Kept for the sample sheets (train, export, the walk
    video), whose layout has always had that border; numpy, so nothing imports torchvision for it."""
    x = rgb(images)
    if len(x) == 1:
        return x[0]
    return tile(x, min(nrow, len(x)), gap=padding, border=padding, fill=pad_value)


def save_grid_png(images, path: str | Path, nrow: int, scale: int = 1) -> Path:
    """A plain image grid (:func:`grid`, no axes) as PNG, each pixel ``scale`` x ``scale``: sample sheets."""
    g = enlarge(as_uint8(grid(images, nrow)), scale)
    cv2.imwrite(str(path), cv2.cvtColor(g, cv2.COLOR_RGB2BGR))
    return Path(path)


def sheet(images: torch.Tensor, cols: int, boxes=None, width: int = 1000, gap: int = 2) -> np.ndarray:
    """Images (N, nc, S, S) in [-1, 1] tiled ``cols`` per row on white -> (H, W, 3) float in [0, 1].

    With ``boxes`` (per image, [(x0, y0, x1, y1), ...]) each box is outlined in red. Images are enlarged
    by a whole factor (nearest neighbour) to a sheet about ``width`` px wide, which a two-column figure at
    300 dpi shows with each pixel about doubled, so 1 px box lines survive the figure's resampling.
    """
    scale = max(1, width // (cols * (images.shape[-1] + gap)))
    return tile(rgb(images), cols, gap=gap, scale=scale, boxes=boxes)


# ----------------------------------------------------------------------------------------- text checks

def text_problems(fig, tolerance: float = 1.0, gap: float = 2.0) -> list[str]:
    """Text of ``fig`` that a reader cannot read, as saved (tight bounding box, :data:`STYLE`): pairs of text
    artists whose boxes overlap or come closer than ``gap`` pixels (tick labels that touch read as one word:
    "1e-41e-3"), text cut by the box it is clipped to (by more than ``tolerance`` pixels), text left to
    matplotlib's wrapping, and a figure wider than the page's text (LaTeX would shrink every letter in it).
    Empty list when all is well. Drawn at the saved DPI, so the boxes are the ones in the PDF/PNG."""
    with plt.rc_context(STYLE):
        fig.set_dpi(DPI)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [(t, t.get_window_extent(renderer)) for t in _drawn_texts(fig)
                 if t.axes is None or t.axes.get_visible()]
        width = fig.get_tightbbox(renderer).width + 2 * STYLE["savefig.pad_inches"]
    problems = []
    if width > TWO_COLUMN * 1.05:
        problems.append(f"the figure is {width:.1f} in wide, more than the {TWO_COLUMN} in of a page's text")
    problems += [f"{t.get_text()!r} is wrapped by matplotlib at draw time (its box is not measurable): break "
                 f"its lines where they belong" for t, _ in boxes if t.get_wrap()]
    for t, b in boxes:
        clip = t.get_clip_box() if t.get_clip_on() else None
        if clip is not None and (b.x0 < clip.x0 - tolerance or b.x1 > clip.x1 + tolerance
                                 or b.y0 < clip.y0 - tolerance or b.y1 > clip.y1 + tolerance):
            problems.append(f"{t.get_text()!r} is cut by its clip box")
    for i, (t, b) in enumerate(boxes):
        for u, c in boxes[i + 1:]:
            dx = min(b.x1, c.x1) - max(b.x0, c.x0)
            dy = min(b.y1, c.y1) - max(b.y0, c.y0)
            if dx > -gap and dy > -gap:
                problems.append(f"{t.get_text()!r} overlaps or touches {u.get_text()!r}")
    return problems
