"""Procedural "rooms": bedroom-like scenes with exact per-pixel class masks (the testbed that stands in for
LSUN bedrooms).

    from ganlens.data.rooms import make_rooms, CLASSES, WINDOW
    images, masks = make_rooms(100, size=64, seed=0)   # (100, 64, 64, 3) uint8 RGB, (100, 64, 64) uint8

Each scene is a one-point-perspective box room (back wall, two side walls, floor, ceiling) with a bed, 0-3
windows and optional lamp, door, picture and rug. Windows are the concept later analyses look for, so they
are clear (framed sky with mullion bars, never tiny), and pictures are framed rectangles with non-sky
content: a deliberate hard negative. Scene i of stream ``seed`` is drawn with
``np.random.default_rng([seed, i])``. The drawing surface and geometry: :mod:`.canvas`; the objects:
:mod:`.objects`; a scene: :mod:`.scene`; a data set folder: :mod:`.folder`.
"""

from ganlens.data.rooms.canvas import (BED, CEILING, CLASSES, DOOR, FLOOR, LAMP, PALETTE, PICTURE, RUG, WALL,
                                       WINDOW)
from ganlens.data.rooms.folder import CHUNK, RENDER_BYTES_PER_PIXEL, SCENE_BYTES_PER_PIXEL, save_rooms_folder
from ganlens.data.rooms.scene import colorize_mask, make_rooms, preview_grid, render_room

__all__ = ["CLASSES", "PALETTE", "WALL", "FLOOR", "CEILING", "BED", "WINDOW", "LAMP", "DOOR", "PICTURE", "RUG",
           "render_room", "make_rooms", "colorize_mask", "preview_grid", "save_rooms_folder", "CHUNK",
           "SCENE_BYTES_PER_PIXEL", "RENDER_BYTES_PER_PIXEL"]
