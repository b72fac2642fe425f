"""Procedural "rooms": bedroom-like scenes with exact per-pixel class masks.

Stands in for LSUN bedrooms. Each scene is a one-point-perspective box room (back wall, two side
walls, floor, ceiling) with a bed, 0-3 windows and optional lamp, door, picture and rug. Windows are
the concept later analyses look for, so they are clear (framed sky with mullion bars, never tiny),
and pictures are framed rectangles with non-sky content: a deliberate hard negative.

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
import json
from functools import lru_cache
from pathlib import Path

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


# --- room shell ------------------------------------------------------------------------------------
def _draw_shell(cv: _Canvas, rng: np.random.Generator) -> None:
    """Back wall, side walls, ceiling and a wood, grey or carpet floor (all surfaces tile the image)."""
    wall = _hsv(_non_sky_hue(rng), rng.uniform(0.04, 0.3), rng.uniform(0.75, 0.95))
    ceiling = _hsv(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.08), rng.uniform(0.85, 0.97))
    kind = rng.integers(3)
    if kind == 0:  # wood
        floor = _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.4, 0.75))
    elif kind == 1:  # grey tiles / concrete
        floor = _hsv(0.0, 0.0, rng.uniform(0.35, 0.7))
    else:  # carpet
        floor = _hsv(_non_sky_hue(rng), rng.uniform(0.15, 0.45), rng.uniform(0.35, 0.6))
    zn = _Z_NEAR
    # The room is a box from the near plane to the back wall; the camera sees its inside faces.
    c = cv.project(_BOX_X, _BOX_Y, np.array([zn, 1.0])[_BOX_Z])
    cv.poly(c[[4, 5, 7, 6]], wall, WALL)
    cv.poly(c[_LEFT], _shade(wall, rng.uniform(0.78, 0.9)), WALL)
    cv.poly(c[_RIGHT], _shade(wall, rng.uniform(0.78, 0.9)), WALL)
    cv.poly(c[_TOP], ceiling, CEILING)
    floor_quad = c[[0, 1, 5, 4]]
    if kind == 0:
        # Planks: lines of constant X converge on the vanishing point like real floorboards.
        tex = _solid(cv.size, floor)
        n = int(rng.integers(6, 12))
        xs = (np.arange(1, n) / n)[:, None]
        ends = cv._fixed(cv.project(xs, 0.0, np.array([[zn, 1.0]])))  # (n - 1, 2 ends, 2)
        cv2.polylines(tex, list(ends), False, _shade(floor, 0.8), 1, cv2.LINE_8, _SHIFT)
        cv.textured_poly(floor_quad, FLOOR, tex)
    else:
        cv.poly(floor_quad, floor, FLOOR)


# --- wall objects ------------------------------------------------------------------------------------
def _sky_texture(cv: _Canvas, rng: np.random.Generator, sky: np.ndarray) -> np.ndarray:
    """Sky (size, size, 3) uint8 for the quad ``sky`` (4, 2): a vertical gradient over its height,
    sometimes at dusk, sometimes with a cloud."""
    if rng.random() < 0.2:  # dusk: deep blue-violet above, orange glow near the horizon
        top = _hsv(rng.uniform(0.62, 0.72), rng.uniform(0.5, 0.8), rng.uniform(0.4, 0.6))
        bottom = _hsv(rng.uniform(0.02, 0.1), rng.uniform(0.5, 0.8), rng.uniform(0.9, 1.0))
    else:
        h = rng.uniform(0.55, 0.62)
        top = _hsv(h, rng.uniform(0.6, 0.9), rng.uniform(0.75, 0.95))
        bottom = _hsv(h, rng.uniform(0.2, 0.45), rng.uniform(0.95, 1.0))
    (u0, v0), (u1, v1) = sky.min(0).tolist(), sky.max(0).tolist()
    _, ys = _grids(cv.size)
    t = np.clip((ys - v0) * (1.0 / (v1 - v0)), 0.0, 1.0)  # (size, 1)
    top = np.array(top, np.float32)
    rows = (top + t * (np.array(bottom, np.float32) - top)).astype(np.uint8)  # (size, 3): colour per row
    # Nearest-neighbour resize of a one-pixel-wide column repeats it across; faster than numpy broadcasting.
    tex = cv2.resize(rows[:, None, :], (cv.size, cv.size), interpolation=cv2.INTER_NEAREST)
    if rng.random() < 0.35:
        c = tuple(map(int, cv._fixed((rng.uniform(u0, u1), rng.uniform(v0, v0 + 0.6 * (v1 - v0))))))
        k = cv.size * _ONE  # normalised lengths -> fixed-point pixels
        ax = (int(rng.uniform(0.3, 0.6) * (u1 - u0) * k), int(rng.uniform(0.1, 0.2) * (v1 - v0) * k))
        cv2.ellipse(tex, c, ax, 0, 0, 360, _hsv(0, 0, rng.uniform(0.9, 1.0)), -1, cv2.LINE_8, _SHIFT)
    return tex


def _side_depth(cv: _Canvas, wall: str) -> float:
    """Image-space distance factor d of a side wall: its points at depth Z lie d / Z from the vanishing point."""
    return cv.bw * (cv.cx if wall == "left" else 1.0 - cv.cx)


def _draw_window(cv: _Canvas, rng: np.random.Generator, occ: _Occupancy) -> None:
    """One framed window with sky and mullions on a free spot of some wall (skipped if none is found)."""
    for _ in range(8):
        r = rng.random()
        wall = "back" if r < 0.6 else "left" if r < 0.8 else "right"
        y0 = rng.uniform(0.3, 0.5)
        if wall == "back":
            y1 = min(0.93, y0 + rng.uniform(0.15, 0.32) / cv.bh)
            w = min(0.5, rng.uniform(0.15, 0.32) / cv.bw)
            a0 = rng.uniform(0.04, 0.96 - w)
            a1 = a0 + w
        else:
            # Side walls are foreshortened: pick the far edge and the width in the image, then solve
            # 1/a0 = 1/a1 + width/d for the near edge so the window is never a sliver.
            y1 = min(0.9, y0 + rng.uniform(0.25, 0.45))
            a1 = rng.uniform(0.75, 0.97)
            a0 = 1.0 / (1.0 / a1 + rng.uniform(0.14, 0.26) / _side_depth(cv, wall))
        quad = _wall_quad(cv, wall, a0, a1, y0, y1)
        if _fits(quad, _MIN_WINDOW) and occ.free(wall, a0, a1, y0, y1):
            break
    else:
        return
    occ.claim(wall, a0, a1, y0, y1)
    r = rng.random()  # frame: white 50%, brown 30%, black 20%
    frame = _hsv(0, 0, 0.95) if r < 0.5 else _hsv(0.07, 0.6, 0.4) if r < 0.8 else _hsv(0, 0, 0.12)
    cv.poly(quad, frame, WINDOW)
    sky = _inset(quad, max(1.0 / cv.size, 0.022))  # frame at least one pixel wide
    cv.textured_poly(sky, WINDOW, _sky_texture(cv, rng, sky))
    # Mullions: 1 or 2 vertical bars, usually a horizontal one too.
    n_bars = int(rng.integers(1, 3))
    a = [a0 + (a1 - a0) * (k + 1) / (n_bars + 1) for k in range(n_bars)]
    bars_a, bars_y = [[x, x] for x in a], [[y0, y1]] * n_bars  # (bar, end)
    if rng.random() < 0.7:
        ym = y0 + (y1 - y0) * rng.uniform(0.35, 0.65)
        bars_a, bars_y = bars_a + [[a0, a1]], bars_y + [[ym, ym]]
    ends = cv.project(*_wall_xyz(wall, np.array(bars_a), np.array(bars_y)))
    th = max(1, round(cv.size / 64))
    for p, q in ends:
        cv.line(p, q, frame, WINDOW, th)


def _draw_door(cv: _Canvas, rng: np.random.Generator, occ: _Occupancy) -> None:
    """A tall panelled door with a knob, standing on the floor of some wall (skipped if no room)."""
    for _ in range(6):
        wall = _WALLS[int(rng.integers(3))]
        y1 = rng.uniform(0.68, 0.82)
        if wall == "back":
            a0 = rng.uniform(0.03, 0.8)
            a1 = a0 + rng.uniform(0.14, 0.2)
        else:
            a0 = rng.uniform(0.45, 0.8)
            a1 = a0 + rng.uniform(0.12, 0.2)
        if a1 <= 0.98 and occ.free(wall, a0, a1, 0.0, y1):
            break
    else:
        return
    occ.claim(wall, a0, a1, 0.0, y1)
    body = _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.6)) if rng.random() < 0.6 else (
        _hsv(rng.uniform(0.08, 0.15), rng.uniform(0.0, 0.1), rng.uniform(0.88, 0.98))
    )
    cv.poly(_wall_quad(cv, wall, a0, a1, 0.0, y1), _shade(body, 0.85), DOOR)  # trim
    w, h = a1 - a0, y1
    inner = _shade(body, 1.08)
    cv.poly(_wall_quad(cv, wall, a0 + 0.06 * w, a1 - 0.06 * w, 0.0, h * 0.97), body, DOOR)
    for p0, p1 in ((0.08, 0.45), (0.55, 0.92)):  # lower and upper panel
        cv.poly(_wall_quad(cv, wall, a0 + 0.22 * w, a1 - 0.22 * w, h * p0, h * p1), inner, DOOR)
    knob_a = a0 + 0.14 * w if rng.random() < 0.5 else a1 - 0.14 * w
    knob = cv.project(*_wall_xyz(wall, knob_a, 0.48 * h))
    cv.circle(knob, max(0.8, cv.size / 64), _hsv(0.13, 0.5, rng.uniform(0.3, 0.8)), DOOR)


def _draw_picture(cv: _Canvas, rng: np.random.Generator, occ: _Occupancy) -> None:
    """A framed picture with abstract non-sky content on the back wall (a hard negative for windows)."""
    for _ in range(6):
        w = rng.uniform(0.12, 0.28) / cv.bw
        y0 = rng.uniform(0.4, 0.6)
        y1 = min(0.9, y0 + rng.uniform(0.1, 0.22) / cv.bh)
        a0 = rng.uniform(0.04, 0.96 - w)
        a1 = a0 + w
        if occ.free("back", a0, a1, y0, y1):
            break
    else:
        return
    occ.claim("back", a0, a1, y0, y1)
    quad = _wall_quad(cv, "back", a0, a1, y0, y1)
    frame = [_hsv(0.12, 0.6, 0.8), _hsv(0, 0, 0.1), _hsv(0.07, 0.6, 0.35), _hsv(0, 0, 0.95)][int(rng.integers(4))]
    cv.poly(quad, frame, PICTURE)
    inner = _inset(quad, max(1.0 / cv.size, 0.018))
    (u0, v0), (u1, v1) = inner.min(0), inner.max(0)
    tex = _solid(cv.size, _hsv(_non_sky_hue(rng), rng.uniform(0.2, 0.7), rng.uniform(0.4, 0.9)))
    for _ in range(int(rng.integers(1, 4))):  # circles and triangles
        col = _hsv(_non_sky_hue(rng), rng.uniform(0.3, 0.9), rng.uniform(0.2, 0.95))
        cu, cvv = rng.uniform(u0, u1), rng.uniform(v0, v1)
        r = rng.uniform(0.2, 0.5) * min(u1 - u0, v1 - v0)
        if rng.random() < 0.5:
            c = tuple(map(int, cv._fixed((cu, cvv))))
            cv2.circle(tex, c, int(r * cv.size * _ONE), col, -1, cv2.LINE_8, _SHIFT)
        else:
            tri = cv._fixed([[cu - r, cvv + r], [cu + r, cvv + r], [cu + rng.uniform(-r, r), cvv - r]])
            cv2.fillConvexPoly(tex, tri, col, cv2.LINE_8, _SHIFT)
    cv.textured_poly(inner, PICTURE, tex)


# --- floor objects -----------------------------------------------------------------------------------
def _draw_box(cv: _Canvas, x0, x1, y0, y1, z0, z1, color, cls: int) -> None:
    """The faces of an axis-aligned room box that face the camera (they never overlap each other)."""
    c = cv.project(np.array([x0, x1])[_BOX_X], np.array([y0, y1])[_BOX_Y], np.array([z0, z1])[_BOX_Z])
    if cv.cy > y1:
        cv.poly(c[_TOP], _shade(color, 1.05), cls)
    if cv.cx < x0:
        cv.poly(c[_LEFT], _shade(color, 0.72), cls)
    if cv.cx > x1:
        cv.poly(c[_RIGHT], _shade(color, 0.72), cls)
    cv.poly(c[_FRONT], _shade(color, 0.85), cls)


def _bed_layout(rng: np.random.Generator) -> dict:
    """Bed footprint and heights in room coordinates; headboard against the back, left or right wall."""
    r = rng.random()
    wall = "back" if r < 0.7 else "left" if r < 0.85 else "right"
    top = rng.uniform(0.12, 0.2)  # mattress top
    head = top + rng.uniform(0.1, 0.22)  # headboard top
    if wall == "back":
        width = rng.uniform(0.3, 0.5)
        x0 = rng.uniform(0.05, 0.95 - width)
        box = (x0, x0 + width, 1.0 - rng.uniform(0.3, 0.45), 1.0)
    else:
        length = rng.uniform(0.45, 0.6)
        z1 = rng.uniform(0.85, 0.97)
        z0 = z1 - rng.uniform(0.2, 0.3)
        box = (0.0, length, z0, z1) if wall == "left" else (1.0 - length, 1.0, z0, z1)
    return {"wall": wall, "box": box, "top": top, "head": head}


def _draw_bed(cv: _Canvas, rng: np.random.Generator, bed: dict) -> None:
    """Headboard, mattress, pillow and blanket, drawn far to near."""
    x0, x1, z0, z1 = bed["box"]
    top, head = bed["top"], bed["head"]
    frame = _hsv(rng.uniform(0.04, 0.12), rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.6)) if rng.random() < 0.6 else (
        _hsv(_non_sky_hue(rng), rng.uniform(0.2, 0.6), rng.uniform(0.4, 0.8))
    )
    sheet = _hsv(rng.uniform(0.0, 1.0), rng.uniform(0.0, 0.1), rng.uniform(0.88, 0.98))
    blanket = _hsv(rng.uniform(0.0, 1.0), rng.uniform(0.3, 0.8), rng.uniform(0.35, 0.9))
    th = 0.03  # headboard thickness
    if bed["wall"] == "back":
        _draw_box(cv, x0, x1, 0.0, head, z1 - th, z1, frame, BED)
        _draw_box(cv, x0, x1, 0.0, top, z0, z1 - th, sheet, BED)
        _draw_box(cv, x0 + 0.04, x1 - 0.04, top, top + 0.04, z1 - th - 0.09, z1 - th - 0.01, sheet, BED)
        zb = z1 - th - rng.uniform(0.12, 0.18)
        _draw_box(cv, x0 - 0.005, x1 + 0.005, 0.04, top + 0.008, z0 - 0.005, zb, blanket, BED)
    else:
        left = bed["wall"] == "left"
        hx0, hx1 = (x0, x0 + th) if left else (x1 - th, x1)
        mx0, mx1 = (x0 + th, x1) if left else (x0, x1 - th)
        px0, px1 = (mx0 + 0.01, mx0 + 0.11) if left else (mx1 - 0.11, mx1 - 0.01)
        bx0, bx1 = (mx0 + rng.uniform(0.14, 0.2), x1 + 0.005) if left else (x0 - 0.005, mx1 - rng.uniform(0.14, 0.2))
        _draw_box(cv, hx0, hx1, 0.0, head, z0, z1, frame, BED)
        _draw_box(cv, mx0, mx1, 0.0, top, z0, z1, sheet, BED)
        _draw_box(cv, px0, px1, top, top + 0.04, z0 + 0.03, z1 - 0.03, sheet, BED)
        _draw_box(cv, bx0, bx1, 0.04, top + 0.008, z0 - 0.005, z1 + 0.005, blanket, BED)


def _draw_rug(cv: _Canvas, rng: np.random.Generator) -> None:
    """An elliptical or rectangular rug with a border, flat on the floor in front of the camera."""
    rx, rz = rng.uniform(0.25, 0.75), rng.uniform(0.62, 0.8)
    ax, az = rng.uniform(0.15, 0.3), rng.uniform(0.08, 0.15)
    if rng.random() < 0.5:
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        ca, sa = np.cos(t), np.sin(t)
    else:
        ca, sa = np.array([-1.0, 1.0, 1.0, -1.0]), np.array([-1.0, -1.0, 1.0, 1.0])
    outer = _hsv(_non_sky_hue(rng), rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.85))
    inner = _hsv(_non_sky_hue(rng), rng.uniform(0.2, 0.7), rng.uniform(0.4, 0.9))
    for k, col in ((1.0, outer), (0.78, inner)):
        cv.poly(cv.project(rx + k * ax * ca, 0.0, rz + k * az * sa), col, RUG)


def _lamp_spot(rng: np.random.Generator, bed: dict) -> tuple[float, float] | None:
    """Floor position (X, Z) for a lamp beside the bed (not on it), or None."""
    x0, x1, z0, z1 = bed["box"]
    for _ in range(4):
        lx, lz = rng.uniform(0.06, 0.94), rng.uniform(0.7, 0.96)
        if lx < x0 - 0.08 or lx > x1 + 0.08 or lz < z0 - 0.08 or lz > z1 + 0.08:
            return lx, lz
    return None


def _draw_lamp(cv: _Canvas, rng: np.random.Generator, lx: float, lz: float) -> None:
    """A floor lamp: base, stand and a trapezoid shade."""
    stand = _hsv(0.1, rng.uniform(0.0, 0.5), rng.uniform(0.1, 0.7))
    shade = _hsv(rng.uniform(0.05, 0.15), rng.uniform(0.1, 0.4), rng.uniform(0.85, 1.0)) if rng.random() < 0.7 else (
        _hsv(_non_sky_hue(rng), rng.uniform(0.4, 0.8), rng.uniform(0.6, 0.95))
    )
    hs = rng.uniform(0.35, 0.5)  # top of the stand = bottom of the shade
    hh, wb = rng.uniform(0.1, 0.15), rng.uniform(0.05, 0.07)  # shade height, half-width at the bottom
    wt = wb * rng.uniform(0.55, 0.8)
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    cv.poly(cv.project(lx + 0.035 * np.cos(t), 0.0, lz + 0.02 * np.sin(t)), stand, LAMP)
    ends = cv.project(lx, np.array([0.0, hs]), lz)
    cv.line(ends[0], ends[1], stand, LAMP, max(1, round(cv.size / 64)))
    cv.poly(cv.project([lx - wb, lx + wb, lx + wt, lx - wt], [hs, hs, hs + hh, hs + hh], lz), shade, LAMP)


# --- public API --------------------------------------------------------------------------------------
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

    occ = _Occupancy()
    bed = _bed_layout(rng)
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

    lamp = _lamp_spot(rng, bed) if rng.random() < 0.55 else None
    # Painter's order: a lamp behind the bed's front edge is drawn first so the bed can hide it.
    if lamp is not None and lamp[1] > z0:
        _draw_lamp(cv, rng, *lamp)
    _draw_bed(cv, rng, bed)
    if lamp is not None and lamp[1] <= z0:
        _draw_lamp(cv, rng, *lamp)

    # Mild lighting gradient and sensor noise; they change colours only, never the mask.
    xs, ys = _grids(size)
    gain, gx, gy = (np.float32(rng.uniform(lo, hi)) for lo, hi in ((0.85, 1.1), (-0.25, 0.25), (-0.2, 0.2)))
    light = (gain + gx * (xs - 0.5)) + gy * (ys - 0.5)  # (size, size)
    # Uniform rather than Gaussian noise: 5x cheaper to draw, and looks the same at this amplitude.
    noise = (rng.random((size, size), dtype=np.float32) - np.float32(0.5)) * np.float32(rng.uniform(4, 12))
    # cv2.merge makes 3-channel copies: numpy's (size, size, 1) broadcasting over channels is slow.
    img = cv.img * cv2.merge((light, light, light))
    img += cv2.merge((noise, noise, noise))
    return np.clip(img, 0, 255).astype(np.uint8), cv.mask


def make_rooms(n: int, size: int = 64, seed: int = 0, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scenes start .. start+n-1 of the stream ``seed``.

    Returns images (n, size, size, 3) uint8 RGB and masks (n, size, size) uint8. Scene i is drawn with
    ``np.random.default_rng([seed, i])``, so any slice can be regenerated on its own (chunked streaming).
    """
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    for k in range(n):
        images[k], masks[k] = render_room(np.random.default_rng([seed, start + k]), size)
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


CHUNK = 1000                 # scenes rendered and held at a time
SCENE_BYTES_PER_PIXEL = 4    # uint8 RGB + uint8 mask per stored scene
RENDER_BYTES_PER_PIXEL = 64  # float canvases and masks while one scene is drawn (a generous bound)


def save_rooms_folder(out: str | Path, n: int, size: int = 64, seed: int = 0, chunk: int = CHUNK) -> None:
    """Write scenes 0..n-1 as ``out/images/NNNNNN.png`` (RGB) and ``out/masks/NNNNNN.png`` (class indices).

    Also writes ``out/rooms.json`` with the settings and CLASSES. Scenes are rendered ``chunk`` at a time
    so memory stays flat for large n.
    """
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for start in range(0, n, chunk):
        images, masks = make_rooms(min(chunk, n - start), size, seed, start)
        for k in range(len(images)):
            name = f"{start + k:06d}.png"
            cv2.imwrite(str(out / "images" / name), images[k][..., ::-1])  # cv2 writes BGR
            cv2.imwrite(str(out / "masks" / name), masks[k])
    meta = {
        "n": n,
        "size": size,
        "seed": seed,
        "classes": list(CLASSES),
        "window": WINDOW,
        "palette": PALETTE.tolist(),
        "rng": "scene i uses numpy.random.default_rng([seed, i])",
        "generator": "ganlens.rooms",
    }
    (out / "rooms.json").write_text(json.dumps(meta, indent=2))
