"""The walk figure (frames line by line, jumps marked red) and the walk video."""

from __future__ import annotations

import math

import cv2

from ganlens.core import figures
from ganlens.core.errors import GanlensError


MAX_FRAMES_PER_LINE = 33  # ~64 px per frame across a two-column figure at 300 dpi


def walk_layout(n_frames: int, steps: int, max_per_line: int = MAX_FRAMES_PER_LINE) -> tuple[int, int]:
    """(segments per line, lines per walk): long walks wrap at keyframes so frames stay ~64 px wide.

    Each line starts at a point of the walk, which is repeated at the end of the line above.
    """
    n_seg = (n_frames - 1) // steps
    per = max(1, min(n_seg, (max_per_line - 1) // steps)) if n_seg else 1
    return per, max(1, math.ceil(n_seg / per))


def plot_walk(data: dict, arrays: dict):
    """The walk figure from walk.json (``settings.steps``, ``rows``) and walk.npz (``frames``, uint8
    (R, F, nc, H, W)): two-column width; a thin white gap between frames, a wider one between walks;
    pixel-space jumps are marked by a red bar between the two frames. Returns the Figure."""
    frames, steps = arrays["frames"], data["settings"]["steps"]
    R, F_ = frames.shape[:2]
    S = frames.shape[-1]
    per, lines = walk_layout(F_, steps)
    fpl = per * steps + 1 if F_ > 1 else 1
    gap, wgap = 1, max(3, S // 8)
    cells = []   # line by line, each padded to fpl frames with empty cells
    for r in range(R):
        imgs = figures.rgb(frames[r])
        for ln in range(lines):
            line = list(imgs[ln * per * steps:ln * per * steps + fpl])
            cells += line + [None] * (fpl - len(line))
    row_gaps = ([gap] * (lines - 1) + [wgap]) * R   # a wider gap between walks than between lines
    canvas = figures.tile(cells, fpl, gap=gap, row_gaps=row_gaps[:-1])
    ys = figures.offsets(R * lines, S, row_gaps[:-1])
    pos = {(r, ln): ys[r * lines + ln] for r in range(R) for ln in range(lines)}  # (row, line) -> y of the line
    Hc, Wc = canvas.shape[:2]
    with figures.style():
        fig, ax = figures.figure("two", aspect=Hc / Wc)
        ax.set_position([0, 0, 1, 1])
        figures.show_canvas(ax, canvas, int(figures.TWO_COLUMN * figures.DPI))
        for r, row in enumerate(data["rows"]):
            for j in row["jumps"]:
                if j["space"] != "pixel":
                    continue
                i = j["step"]
                ln = min(i // (per * steps), lines - 1)
                x = (i - ln * per * steps) * (S + gap) + S + gap / 2
                ax.plot([x, x], [pos[(r, ln)] - 0.5, pos[(r, ln)] + S + 0.5], color="red", lw=0.9,
                        solid_capstyle="butt")
    return fig


def write_video(data: dict, arrays: dict, path) -> None:
    """All walks tiled (walk.npz ``frames``, uint8 (R, F, nc, H, W)) as an MP4 (opencv, mp4v), ``steps``
    frames a second (one point a second), each frame enlarged to >= 256 px."""
    frames = arrays["frames"]
    R, F_ = frames.shape[:2]
    nrow = math.ceil(math.sqrt(R))
    scale = max(1, 256 // frames.shape[-1])
    tiles = [figures.enlarge(figures.as_uint8(figures.grid(frames[:, f], nrow=nrow)), scale) for f in range(F_)]
    h, w = tiles[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(data["settings"]["steps"]), (w, h))
    if not writer.isOpened():
        raise GanlensError(f"--video: opencv cannot write MP4 files here ({path.name})")
    try:
        for t in tiles:
            writer.write(cv2.cvtColor(t, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
