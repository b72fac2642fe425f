"""The rooms' drawing surface: classes and palette, an image and its class mask drawn by the same calls
(:class:`_Canvas`), the one-point perspective, and the helpers every drawn object shares.

Geometry. Room coordinates are X (left wall 0 -> right wall 1), Y (floor 0 -> ceiling 1) and depth
Z (back wall at Z = 1, camera at Z = 0). A point projects to normalised image coordinates
``u = vx + bw * (X - cx) / Z``, ``v = vy - bh * (Y - cy) / Z`` where (vx, vy) is the vanishing point,
(bw, bh) the back wall's size in the image and (cx, cy) the camera position in the room. Everything is
drawn straight at the target size, so 32, 64 and 128 pixel scenes share the same layout.

Exact masks. Every drawing call is made twice with the same points, once on the image (colour) and
once on the mask (class index), without anti-aliasing, so a pixel's mask value is the class that is
visibly drawn there. Textured regions (sky gradients, floor planks, picture content) are painted from
a full-size texture through a stencil drawn with that same polygon.
"""

from __future__ import annotations

import colorsys
from functools import lru_cache

import cv2
import numpy as np

CLASSES: tuple[str, ...] = ("wall", "floor", "ceiling", "bed", "window", "lamp", "door", "picture", "rug")
WALL, FLOOR, CEILING, BED, WINDOW, LAMP, DOOR, PICTURE, RUG = range(len(CLASSES))

# RGB colours used to display masks (index = class).
PALETTE = np.array(
    [
        [200, 190, 170],  # wall
        [120, 80, 40],  # floor
        [240, 240, 240],  # ceiling
        [220, 40, 40],  # bed
        [40, 120, 255],  # window
        [255, 220, 0],  # lamp
        [30, 160, 60],  # door
        [200, 0, 200],  # picture
        [0, 200, 200],  # rug
    ],
    dtype=np.uint8,
)

_SHIFT = 4  # cv2 fixed-point fractional bits: sub-pixel geometry without anti-aliasing
_ONE = 1 << _SHIFT
_Z_NEAR = 0.1  # room surfaces start this close to the camera, which puts their near edges off-image
_MIN_WINDOW = 0.13  # windows span at least this fraction of the image in x and y (8 px at 64)


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    """RGB tuple (0-255 ints) for h, s, v in [0, 1]; h wraps around."""
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def _shade(color: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    """``color`` scaled by ``f`` and clipped to 0-255."""
    r, g, b = color
    return min(255, int(r * f)), min(255, int(g * f)), min(255, int(b * f))


def _non_sky_hue(rng: np.random.Generator) -> float:
    """A hue outside the blue band (0.5-0.72) that skies use, so walls and pictures never look like sky."""
    return float(rng.uniform(0.72, 1.5)) % 1.0


def _solid(size: int, color: tuple[int, int, int]) -> np.ndarray:
    """A (size, size, 3) uint8 image of one colour."""
    out = np.empty((size, size, 3), np.uint8)
    # Per-channel fills: numpy broadcasts a length-3 colour over (size, size, 3) about 4x slower.
    out[..., 0], out[..., 1], out[..., 2] = color
    return out


@lru_cache(maxsize=8)
def _grids(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates normalised to [0, 1]: x (1, size) and y (size, 1), float32."""
    c = (np.arange(size, dtype=np.float32) + np.float32(0.5)) / np.float32(size)
    return c.reshape(1, size), c.reshape(size, 1)


class _Canvas:
    """An image (size, size, 3) uint8 RGB and a mask (size, size) uint8 drawn with the same calls.

    Points are normalised image coordinates (u, v) in [0, 1] (values outside are clipped by cv2).
    """

    def __init__(self, size: int, cam: tuple[float, float, float, float, float, float]):
        self.size = size
        self.img = np.zeros((size, size, 3), np.uint8)
        self.mask = np.zeros((size, size), np.uint8)
        self.vx, self.vy, self.bw, self.bh, self.cx, self.cy = cam

    def project(self, x, y, z) -> np.ndarray:
        """Room points (broadcastable arrays X, Y, Z) -> normalised image points (..., 2)."""
        # Written for tiny arrays (mostly 4 points), where numpy's per-call overhead dominates.
        z = np.asarray(z, np.float64)
        u = (np.asarray(x, np.float64) - self.cx) * (self.bw / z) + self.vx
        v = (self.cy - np.asarray(y, np.float64)) * (self.bh / z) + self.vy
        out = np.empty(np.broadcast(u, v).shape + (2,))
        out[..., 0] = u
        out[..., 1] = v
        return out

    def _fixed(self, pts: np.ndarray) -> np.ndarray:
        # Normalised 0 is the left edge of pixel 0, whose centre cv2 calls 0; hence the -0.5 pixel.
        # astype truncates (a 1/16-pixel bias); image and mask share the points, so masks stay exact.
        return (np.asarray(pts) * (self.size * _ONE) - _ONE // 2).astype(np.int32)

    def poly(self, pts: np.ndarray, color, cls: int) -> None:
        """Fill a convex polygon (n, 2) on image and mask."""
        p = self._fixed(pts)
        cv2.fillConvexPoly(self.img, p, color, cv2.LINE_8, _SHIFT)
        cv2.fillConvexPoly(self.mask, p, cls, cv2.LINE_8, _SHIFT)

    def line(self, a, b, color, cls: int, thickness: int) -> None:
        """Draw a line between normalised points a and b on image and mask."""
        pa, pb = self._fixed(a), self._fixed(b)
        cv2.line(self.img, tuple(map(int, pa)), tuple(map(int, pb)), color, thickness, cv2.LINE_8, _SHIFT)
        cv2.line(self.mask, tuple(map(int, pa)), tuple(map(int, pb)), cls, thickness, cv2.LINE_8, _SHIFT)

    def circle(self, c, radius_px: float, color, cls: int) -> None:
        """Filled circle at normalised point c with radius in pixels, on image and mask."""
        pc, r = tuple(map(int, self._fixed(c))), int(round(radius_px * _ONE))
        cv2.circle(self.img, pc, r, color, -1, cv2.LINE_8, _SHIFT)
        cv2.circle(self.mask, pc, r, cls, -1, cv2.LINE_8, _SHIFT)

    def textured_poly(self, pts: np.ndarray, cls: int, texture: np.ndarray) -> None:
        """Fill a convex polygon (n, 2) with pixels from ``texture`` (size, size, 3) uint8; mask gets cls."""
        p = self._fixed(pts)
        # The same fill call on a blank stencil and on the mask covers exactly the same pixels.
        stencil = np.zeros_like(self.mask)
        cv2.fillConvexPoly(stencil, p, 1, cv2.LINE_8, _SHIFT)
        cv2.copyTo(texture, stencil, self.img)  # in place; ~50x faster than np.copyto(where=...)
        cv2.fillConvexPoly(self.mask, p, cls, cv2.LINE_8, _SHIFT)


def _inset(q: np.ndarray, t: float) -> np.ndarray:
    """Convex polygon q (n, 2) with every edge moved inwards by t (same units as q)."""
    # Plain floats: for 4 vertices this is several times faster than numpy.
    pts = q.tolist()
    n = len(pts)
    area2 = sum(pts[i][0] * pts[i - n + 1][1] - pts[i - n + 1][0] * pts[i][1] for i in range(n))
    sign = 1.0 if area2 > 0 else -1.0  # makes the normals point inwards for either vertex order
    edges = []  # (point on the moved edge, direction) for edge i from vertex i to i+1
    for i in range(n):
        (x0, y0), (x1, y1) = pts[i], pts[i - n + 1]
        dx, dy = x1 - x0, y1 - y0
        k = sign * t / (dx * dx + dy * dy) ** 0.5
        edges.append((x0 - dy * k, y0 + dx * k, dx, dy))
    out = []
    for i in range(n):  # new vertex i = intersection of moved edges i-1 and i
        px0, py0, dx0, dy0 = edges[i - 1]
        px1, py1, dx1, dy1 = edges[i]
        s = ((px1 - px0) * dy1 - (py1 - py0) * dx1) / (dx0 * dy1 - dy0 * dx1)
        out.append((px0 + s * dx0, py0 + s * dy0))
    return np.array(out)


# Corner k of a box is (x[k & 1], y[k >> 1 & 1], z[k >> 2]); faces list corners in drawing order.
_BOX_X, _BOX_Y, _BOX_Z = np.arange(8) & 1, np.arange(8) >> 1 & 1, np.arange(8) >> 2
_TOP, _LEFT, _RIGHT, _FRONT = [2, 3, 7, 6], [0, 2, 6, 4], [1, 3, 7, 5], [0, 1, 3, 2]


# --- walls -------------------------------------------------------------------------------------------
# Each wall has coordinates (a, y): a runs along the wall (X on the back wall, Z on side walls).
_WALLS = ("back", "left", "right")


def _wall_xyz(wall: str, a, y):
    """Room coordinates of wall point(s) (a, y)."""
    if wall == "back":
        return a, y, 1.0
    return (0.0 if wall == "left" else 1.0), y, a


def _wall_quad(cv: _Canvas, wall: str, a0: float, a1: float, y0: float, y1: float) -> np.ndarray:
    """Image quad (4, 2) of the wall rectangle a0..a1 x y0..y1."""
    a = np.array([a0, a1, a1, a0])
    y = np.array([y0, y0, y1, y1])
    return cv.project(*_wall_xyz(wall, a, y))


def _fits(quad: np.ndarray, min_frac: float) -> bool:
    """True if ``quad`` lies inside the image and spans at least ``min_frac`` of it in u and v."""
    lo, hi = quad.min(0), quad.max(0)
    return bool(lo.min() >= 0.01 and hi.max() <= 0.99 and (hi - lo).min() >= min_frac)


class _Occupancy:
    """Rectangles already claimed on each wall, in wall coordinates, so wall objects do not overlap."""

    def __init__(self):
        self.rects: dict[str, list[tuple[float, float, float, float]]] = {w: [] for w in _WALLS}

    def free(self, wall, a0, a1, y0, y1, margin=0.03) -> bool:
        return all(
            a1 + margin <= b0 or b1 + margin <= a0 or y1 + margin <= c0 or c1 + margin <= y0
            for b0, b1, c0, c1 in self.rects[wall]
        )

    def claim(self, wall, a0, a1, y0, y1) -> None:
        self.rects[wall].append((a0, a1, y0, y1))
