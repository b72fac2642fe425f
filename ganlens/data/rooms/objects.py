"""What a room holds, each drawn on a :class:`~ganlens.data.rooms.canvas._Canvas` with the scene's rng:
the shell (walls, floor, ceiling), wall objects (windows, doors, pictures) and floor objects (bed, rug,
lamp). The order of the rng draws inside each function is part of the data set: scene i is the same
image for every ganlens version that keeps it."""

from __future__ import annotations

import cv2
import numpy as np

from ganlens.data.rooms.canvas import (
    _BOX_X, _BOX_Y, _BOX_Z, _FRONT, _LEFT, _MIN_WINDOW, _ONE, _RIGHT, _SHIFT, _TOP, _WALLS, _Z_NEAR, BED, CEILING,
    DOOR, FLOOR, LAMP, PICTURE, RUG, WALL, WINDOW, _Canvas, _fits, _grids, _hsv, _inset, _non_sky_hue,
    _Occupancy, _shade, _solid, _wall_quad, _wall_xyz)


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
