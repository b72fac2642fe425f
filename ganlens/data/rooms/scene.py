"""One rooms scene from its rng (:func:`render_room`), a stretch of the stream (:func:`make_rooms`), and
the mask display (:func:`colorize_mask`, :func:`preview_grid`)."""

from __future__ import annotations

import cv2
import numpy as np

from ganlens.data.rooms import memo
from ganlens.data.rooms.canvas import PALETTE, _Canvas, _grids, _Occupancy
from ganlens.data.rooms.objects import (_bed_layout, _draw_bed, _draw_door, _draw_lamp, _draw_picture, _draw_rug,
                                        _draw_shell, _draw_window, _lamp_spot)


def render_room(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One scene drawn with ``rng``.

    Returns image (size, size, 3) uint8 RGB and mask (size, size) uint8 with values indexing CLASSES.
    Drawing order: room shell, wall objects (windows, door, picture), rug, then lamp and bed in
    far-to-near order; each later object overwrites image and mask alike.
    """
    cam = (
        rng.uniform(0.4, 0.6),  # vanishing point u
        rng.uniform(0.38, 0.52),  # vanishing point v
        rng.uniform(0.42, 0.62),  # back wall width in the image
        rng.uniform(0.32, 0.48),  # back wall height in the image
        rng.uniform(0.3, 0.7),  # camera X in the room
        rng.uniform(0.4, 0.6),  # camera height (fraction of the room height)
    )
    cv = _Canvas(size, cam)
    _draw_shell(cv, rng)
    bed = _bed_layout(rng)
    _draw_wall_objects(cv, rng, bed)
    lamp = _lamp_spot(rng, bed) if rng.random() < 0.55 else None
    # Painter's order: a lamp behind the bed's front edge is drawn first so the bed can hide it.
    z0 = bed["box"][2]
    if lamp is not None and lamp[1] > z0:
        _draw_lamp(cv, rng, *lamp)
    _draw_bed(cv, rng, bed)
    if lamp is not None and lamp[1] <= z0:
        _draw_lamp(cv, rng, *lamp)
    return _lit(cv, rng), cv.mask


def _draw_wall_objects(cv: _Canvas, rng: np.random.Generator, bed: dict) -> None:
    """Windows, a door and a picture on wall space the bed leaves free, then a rug on the floor."""
    occ = _Occupancy()
    x0, x1, z0, z1 = bed["box"]
    # Keep doors and windows clear of the bed on every wall it stands against or near.
    if z1 > 0.9:
        occ.claim("back", x0, x1, 0.0, bed["head"])
    if x0 < 0.1:
        occ.claim("left", z0, z1, 0.0, bed["head"])
    if x1 > 0.9:
        occ.claim("right", z0, z1, 0.0, bed["head"])
    # Half the scenes have no window; the rest have 1 (60%), 2 (25%) or 3 (15%).
    r = rng.random()
    n_windows = 0 if r < 0.5 else 1 if r < 0.8 else 2 if r < 0.925 else 3
    for _ in range(n_windows):
        _draw_window(cv, rng, occ)
    # Doors and pictures are skipped when their wall is full, so they are tried more often than the
    # ~30% and ~40% of scenes they end up in.
    if rng.random() < 0.35:
        _draw_door(cv, rng, occ)
    if rng.random() < 0.6:
        _draw_picture(cv, rng, occ)
    if rng.random() < 0.4:
        _draw_rug(cv, rng)


def _lit(cv: _Canvas, rng: np.random.Generator) -> np.ndarray:
    """The canvas image under a mild lighting gradient and sensor noise: colours only, never the mask."""
    size = cv.size
    xs, ys = _grids(size)
    gain, gx, gy = (np.float32(rng.uniform(lo, hi)) for lo, hi in ((0.85, 1.1), (-0.25, 0.25), (-0.2, 0.2)))
    light = (gain + gx * (xs - 0.5)) + gy * (ys - 0.5)  # (size, size)
    # Uniform rather than Gaussian noise: 5x cheaper to draw, and looks the same at this amplitude.
    noise = (rng.random((size, size), dtype=np.float32) - np.float32(0.5)) * np.float32(rng.uniform(4, 12))
    # cv2.merge makes 3-channel copies: numpy's (size, size, 1) broadcasting over channels is slow.
    img = cv.img * cv2.merge((light, light, light))
    img += cv2.merge((noise, noise, noise))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_rooms(n: int, size: int = 64, seed: int = 0, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scenes start .. start+n-1 of the stream ``seed``.

    Returns images (n, size, size, 3) uint8 RGB and masks (n, size, size) uint8. Scene i is drawn with
    ``np.random.default_rng([seed, i])``, so any slice can be regenerated on its own (chunked streaming);
    inside :func:`ganlens.data.rooms.memo.kept` a scene drawn before is copied instead.
    """
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    for k in range(n):
        key = (seed, size, start + k)
        scene = memo.get(key)
        if scene is None:
            scene = render_room(np.random.default_rng([seed, start + k]), size)
            memo.put(key, *scene)
        images[k], masks[k] = scene
    return images, masks


def colorize_mask(mask: np.ndarray) -> np.ndarray:
    """Class masks (..., H, W) uint8 -> RGB (..., H, W, 3) uint8 using PALETTE."""
    return PALETTE[mask]


def preview_grid(images: np.ndarray, masks: np.ndarray, cols: int = 8) -> np.ndarray:
    """Tile images (n, S, S, 3) and their colourised masks (n, S, S) into one RGB array.

    Returns (rows*S + rows-1 gaps, 2*(cols*S) + gap, 3) uint8: images on the left, masks on the right,
    in the same positions, separated by 1-pixel white lines.
    """
    n, s = len(images), images.shape[1]
    rows = -(-n // cols)

    def tile(x: np.ndarray) -> np.ndarray:
        out = np.full((rows * (s + 1) - 1, cols * (s + 1) - 1, 3), 255, np.uint8)
        for i in range(n):
            r, c = divmod(i, cols)
            out[r * (s + 1) : r * (s + 1) + s, c * (s + 1) : c * (s + 1) + s] = x[i]
        return out

    left, right = tile(images), tile(colorize_mask(masks))
    gap = np.full((left.shape[0], max(2, s // 8), 3), 255, np.uint8)
    return np.concatenate([left, gap, right], 1)
