"""The box annotator page: one self-contained HTML file (samples as base64 PNG, script and style inline),
filled from ``annotate.html``; the samples it shows and their images."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from pathlib import Path

import cv2
import numpy as np
import torch

from ganlens.core.errors import GanlensError
from ganlens.core.gan import latent_from_seed
from ganlens.core.generate import images as generate_images
from ganlens.data import boxes

FORMAT = boxes.FORMAT
TEMPLATE = Path(__file__).with_name("annotate.html")
MODES = ("boxes", "rate")  # the parts of the template: the box annotator, the rating page
DEFAULT_N = 150
PAGE_PIXELS = 512   # --scale auto: the one-at-a-time view is about this many screen pixels wide
GRID_PIXELS = 128   # grid thumbnails are about this wide (integer scale as well)


def read_json_file(path: Path):
    """A JSON file (a COCO export, a forget.json), or a one-line error: missing, a folder, not JSON."""
    if not path.exists():
        raise GanlensError(f"{path}: no such file")
    if path.is_dir():
        raise GanlensError(f"{path}: is a folder, expected a JSON file")
    return boxes.read_json(path)


def render(gan, z: torch.Tensor) -> np.ndarray:
    """Latents (N, nz) -> uint8 images (N, H, W, C) (C = 1 or 3) by :func:`ganlens.generate.images`."""
    return generate_images(gan, z, uint8=True).permute(0, 2, 3, 1).numpy()


def png_base64(image: np.ndarray) -> str:
    """uint8 (H, W, C) RGB or grey -> base64 PNG."""
    img = image[..., 0] if image.shape[-1] == 1 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise GanlensError("could not encode a sample as PNG")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def plan_samples(model, preload: dict | None, n: int | None, first_seed: int) -> list[dict]:
    """The page's samples: the --boxes file's samples (seed, z, boxes) in order, then the seeds
    ``first_seed .. first_seed+n-1`` it does not hold. Every sample gets its z (from the seed rule).
    ``model``: a :class:`ganlens.GAN` (its ``nz`` and ``latent``)."""
    samples: list[dict] = []
    if preload is not None:
        for s in preload["samples"]:
            item = {k: s[k] for k in ("seed", "z") if k in s}
            item["boxes"] = [list(b) for b in s["boxes"]]
            samples.append(item)
    if n is None:
        n = 0 if preload is not None else DEFAULT_N
    held = {s["seed"] for s in samples if "seed" in s and "z" not in s}
    held |= {s["seed"] for s in samples if "seed" in s and "z" in s
             and torch.equal(torch.tensor(s["z"], dtype=torch.float32),
                             latent_from_seed(s["seed"], model.nz, model.latent))}
    for seed in range(first_seed, first_seed + n):
        if seed not in held:
            samples.append({"seed": seed, "boxes": []})
    for s in samples:
        if "z" not in s:
            s["z"] = latent_from_seed(s["seed"], model.nz, model.latent).tolist()
    return samples


def _script_json(obj) -> str:
    """JSON that is safe inside a <script> element: no '<', '>' or '&' can end it or start a comment."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_page(label: str, image_size: int, nc: int, latent: dict, checkpoint_sha256: str | None,
               samples: list[dict], images: np.ndarray, scale: int, source: str = "",
               extra: dict | None = None) -> str:
    """The annotator page as one HTML string.

    ``samples``: [{"seed"?, "z", "boxes"}] (boxes in source pixels); ``images``: uint8 (N, H, W, C), one
    per sample; ``extra``: other top-level keys to write into downloaded files (e.g. a ``note`` from a
    preloaded file). The label and every other string reach the page only as escaped JSON (read by the script
    with JSON.parse and shown with textContent) or HTML-escaped text.
    """
    if len(samples) != len(images):
        raise ValueError("one image per sample")
    data = {"format": FORMAT, "label": label, "image_size": [image_size, image_size], "latent": latent,
            "checkpoint_sha256": checkpoint_sha256, "nc": nc, "scale": scale,
            "grid_scale": max(1, GRID_PIXELS // image_size), "source": source, "extra": extra or {},
            "samples": samples}
    # The storage key: a hash of everything this page shows (samples, label, model, preloaded boxes).
    key = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]
    data["key"] = key
    data["images"] = [png_base64(im) for im in images]
    return fill_template("boxes", f"{label} - ganlens annotate", data)


def fill_template(mode: str, title: str, data: dict) -> str:
    """annotate.html with only the part of ``mode`` (the box annotator or the rating page), its title and
    data filled in."""
    page = TEMPLATE.read_text(encoding="utf-8")
    for other in MODES:
        block = re.compile(rf"<!--mode:{other}-->\n?(.*?)<!--/mode:{other}-->\n?", re.S)
        page = block.sub((lambda m: m[1]) if other == mode else "", page)
    values = {"TITLE": html.escape(title, quote=True), "DATA": _script_json(data)}
    # one pass: a label that contains "{{DATA}}" is text, never a second placeholder
    return re.sub(r"\{\{(TITLE|DATA)\}\}", lambda m: values[m[1]], page)
