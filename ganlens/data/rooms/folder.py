"""A rooms data set on disk: scenes as PNG images and class masks, and ``rooms.json`` with the settings."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from ganlens.data.rooms.canvas import CLASSES, PALETTE, WINDOW
from ganlens.data.rooms.scene import make_rooms

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
