"""Draw boxes on generated samples, offline: ``python -m ganlens.annotate``.

The forgetting experiment (the paper's Sec. 6.1 drew 52 window boxes on 150 samples) needs boxes drawn
by hand. Researchers work on GPU servers without a display, so this command writes **one self-contained
HTML file**: the samples embedded as base64 PNG, the page's script and style inline, no server, no
network. Copy it anywhere, open it in any browser, draw, press Download, and get a ``ganlens.boxes/1``
JSON file that ``python -m ganlens.forget`` reads unchanged.

The page
    * one-at-a-time view (pixels upscaled by an integer ``--scale`` with ``image-rendering: pixelated``)
      and a grid view (``g``); keyboard: arrows / PageUp / PageDown move between samples, Enter opens a
      sample from the grid, Delete removes the selected box, Ctrl+Z / Ctrl+Y (or u / r) undo and redo,
      Escape deselects;
    * drag to draw a box: it covers every source pixel from the one where the drag started to the one
      where it ended, both included, so it always snaps to whole source pixels; click a box to select it
      (the smallest one under the pointer when boxes overlap);
    * the work is kept in the browser's localStorage under a key made from the page's content (the
      samples, label, model and preloaded boxes), so a reload, or reopening the same file, resumes it;
    * Download writes ``<page name>.json``: every sample shown (seed and z; samples without boxes keep an
      empty list), boxes ``[x0, y0, x1, y1]`` in source pixels with x1/y1 exclusive.

Box file format ``ganlens.boxes/1``::

    {"format": "ganlens.boxes/1", "label": "window", "image_size": [64, 64],
     "latent": {"dim": 100, "distribution": "normal"}, "checkpoint_sha256": "...",
     "samples": [{"seed": 0, "z": [100 floats], "boxes": [[x0, y0, x1, y1], ...]}, ...]}

A sample is given by ``z`` or by ``seed`` (-> :func:`ganlens.latent_from_seed`); ``z`` wins when both are
present. :mod:`ganlens.boxes` defines and validates the format (``image_size`` is [width, height]); this
module checks ``--boxes`` files and COCO conversions with it.

Blind rating pages (``--rate FORGET --raters R``)
    Where no detector knows the object, people judge whether ``python -m ganlens.forget`` removed it,
    without knowing which images were edited. ``--rate`` takes a forget output folder (or its
    ``forget.json``; ``forget.npz`` must sit beside it) and the same model, and writes ``R`` pages (default
    3), one per rater, ``rate-1.html`` .. ``rate-R.html`` (from ``--out``, default FORGET/rate.html). Each
    page shows the first ``--n`` (default 60) evaluation latents of that run (seeds ``1_000_000_000 + i``,
    those its detector judged) **once each**, in one condition (as generated: before; with the run's maps
    dropped: after; with its first random control set dropped: control), the condition of latent ``i`` on
    page ``p`` being ``(i + p) mod 3`` (a Latin square), so no page shows one scene twice. Every image is
    sent as its raw pixels (equal length for all) and drawn on a canvas, so nothing in the page's bytes
    tells the conditions apart; the order is a secret random permutation per page (``secrets``, not the
    run's seed). Which image is which lives only in the **key**, ``rate.key.json`` next to the pages: keep
    it away from the raters. A rater answers Y / N per image (kept in the browser, surviving a reload) and
    downloads ``rate-<p>.ratings.json`` (``ganlens.ratings/2``: page id, a random rater id kept by the
    browser, one answer per image). ``python -m ganlens.forget --ratings FILE [FILE ...] --key
    rate.key.json`` scores the files of all pages together (:mod:`ganlens.ratings`) and writes
    ``human_ratings.json`` beside the key (or into ``--out``).

COCO import (``--from-coco FILE --out boxes.json``)
    Boxes drawn in another tool (CVAT, Label Studio, makesense.ai ...) and exported as COCO JSON are
    converted to ``ganlens.boxes/1``. **Each COCO image names its sample by its file name**: the seed is
    the number after ``seed`` in the base name (``seed_17.png``, ``seed-0017.jpg``, ``seed17.png``), or
    the whole base name when it is a number (``17.png``); folders in ``file_name`` are ignored. Image
    ``id``\\ s are used only to join annotations to images. Every image becomes a sample (images without
    annotations give samples with no boxes), sorted by seed. A COCO image may be the sample itself
    (width = height = the model's image size) or an integer upscale of it (e.g. 512 x 512 for a 64 x 64
    model); a bbox ``[x, y, w, h]`` becomes ``[x, y, x + w, y + h]`` divided by that factor and rounded
    to the nearest integer (halves up). Annotations of one category are taken: the ``--label``
    category, or the only category there is. Anything that does not fit (bad JSON, an annotation
    without a bbox, a bbox outside its image, an annotation of an unknown image, a file name without a
    seed, two images of one seed, ...) is a one-line error, and nothing is written.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import torch

from ganlens.data import boxes, ratings
from ganlens import cli
from ganlens.core.errors import GanlensError
from ganlens.core.gan import latent_from_seed
from ganlens.core.generate import images as generate_images
from ganlens.core.results import atomic_write

PROG = "python -m ganlens.annotate"
FORMAT = boxes.FORMAT
TEMPLATE = Path(__file__).with_name("annotate.html")
DEFAULT_N = 150
DEFAULT_RATE_N = 60  # latents on each rating page, each shown once (a third in each condition)
DEFAULT_RATERS = 3   # rating pages (one per rater): 3 make a Latin square of the 3 conditions
PAGE_PIXELS = 512   # --scale auto: the one-at-a-time view is about this many screen pixels wide
GRID_PIXELS = 128   # grid thumbnails are about this wide (integer scale as well)
EXAMPLES = f"""  {PROG} --label window --n 150 --out annotations/windows.html
  {PROG} --checkpoint runs/bedrooms/last.pt --label bed --first-seed 1000 --n 50 --out beds.html
  {PROG} --model my_gan.py:build --checkpoint G.pth --label glasses --n 100 --out glasses.html
  {PROG} --boxes annotations/windows.json --n 200 --out annotations/windows.html   # review, continue
  {PROG} --from-coco cvat_export.json --label window --out annotations/windows.json
  {PROG} --rate ganlens-out/forget --raters 3   # 3 blind rating pages + their key, in the forget folder
"""


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Write one self-contained HTML page for drawing boxes on generated samples (no server, "
                         "no network: open it in any browser, draw, Download a ganlens.boxes/1 JSON file), "
                         "or convert COCO boxes into that format.", EXAMPLES)
    p.add_argument("--checkpoint", default="default", metavar="PATH",
                   help="ganlens or foreign GAN checkpoint (default: the shipped rooms model; with --model: "
                        "weights for your networks, default none)")
    p.add_argument("--model", metavar="FILE.py:FUNC", help=cli.MODEL_HELP)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--out", metavar="FILE",
                   help="the HTML page to write (with --from-coco: the box JSON file; with --rate: default "
                        "FORGET/rate.html); written atomically")
    p.add_argument("--label", help="what the boxes mark, e.g. window (default: the --boxes file's label; "
                                   "with --from-coco: the only COCO category)")
    p.add_argument("--n", type=cli.at_least(1), metavar="N",
                   help=f"number of samples, seeds --first-seed .. --first-seed+N-1 (default: {DEFAULT_N}; "
                        f"with --boxes: only the file's samples; with --rate: latents, {DEFAULT_RATE_N})")
    p.add_argument("--first-seed", type=cli.seed_value, metavar="SEED",
                   help="seed of the first sample (default: 0)")
    p.add_argument("--boxes", metavar="FILE", help="preload a ganlens.boxes/1 file to review or continue; its "
                                                  "samples come first, then --n seeds it does not hold")
    p.add_argument("--scale", type=scale_value, metavar="K",
                   help=f"screen pixels per source pixel in the one-at-a-time view "
                        f"(default: about {PAGE_PIXELS} pixels wide)")
    p.add_argument("--from-coco", metavar="FILE",
                   help="convert a COCO JSON file to ganlens.boxes/1 (written to --out) instead of writing a page")
    p.add_argument("--rate", metavar="FORGET",
                   help="write blind rating pages for a python -m ganlens.forget result (its --out folder or "
                        "forget.json), one per rater, and their key (<page>.key.json, next to them) instead of a "
                        "box page")
    p.add_argument("--raters", type=cli.at_least(1), metavar="R",
                   help=f"with --rate: pages to write, one per rater; each shows every latent once, its condition "
                        f"from a Latin square (default: {DEFAULT_RATERS}; use a multiple of 3)")
    return p


# ------------------------------------------------------------------------------------------- files

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_id(v) -> bool:
    """COCO ids are integers or strings (a list or object as an id is no id: it cannot even be looked up)."""
    return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))


def _read_json(path: Path):
    if not path.exists():
        raise GanlensError(f"{path}: no such file")
    if path.is_dir():
        raise GanlensError(f"{path}: is a folder, expected a JSON file")
    from ganlens.data.boxes import read_json
    return read_json(path)


def dumps_box_file(obj: dict) -> str:
    """A box file as text: header fields on their own lines, one line per sample."""
    head = {k: v for k, v in obj.items() if k != "samples"}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    samples = [f"    {json.dumps(s)}" for s in obj["samples"]]
    lines += ['  "samples": [' + ("\n" + ",\n".join(samples) + "\n  ]" if samples else "]"), "}"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- samples

def render(gan, z: torch.Tensor) -> np.ndarray:
    """Latents (N, nz) -> uint8 images (N, H, W, C) (C = 1 or 3) by :func:`ganlens.generate.images`."""
    return generate_images(gan, z, uint8=True).permute(0, 2, 3, 1).numpy()


def png_base64(image: np.ndarray) -> str:
    """uint8 (H, W, C) RGB or grey -> base64 PNG."""
    import cv2
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


def read_preload(path: str, model, label: str | None) -> dict:
    """A --boxes file, checked by :func:`ganlens.boxes.read` against the model (a :class:`ganlens.GAN`)
    and --label, as a dict."""
    bf = boxes.read(path, model)
    if label is not None and bf.label != label:
        raise GanlensError(f"--label {label!r} but {path} holds {bf.label!r} boxes")
    warning = boxes.sha_warning(bf, path, model.sha256)
    if warning:
        print(f"{PROG}: {warning}", file=sys.stderr)
    return bf.to_dict()


# ---------------------------------------------------------------------------------------------- page

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
    return _fill_template("boxes", f"{label} - ganlens annotate", data)


MODES = ("boxes", "rate")


def _fill_template(mode: str, title: str, data: dict) -> str:
    """annotate.html with only the part of ``mode`` (the box annotator or the rating page), its title and
    data filled in."""
    page = TEMPLATE.read_text(encoding="utf-8")
    for other in MODES:
        block = re.compile(rf"<!--mode:{other}-->\n?(.*?)<!--/mode:{other}-->\n?", re.S)
        page = block.sub((lambda m: m[1]) if other == mode else "", page)
    values = {"TITLE": html.escape(title, quote=True), "DATA": _script_json(data)}
    # one pass: a label that contains "{{DATA}}" is text, never a second placeholder
    return re.sub(r"\{\{(TITLE|DATA)\}\}", lambda m: values[m[1]], page)


# ---------------------------------------------------------------------------------------- rating page

def forget_result(path) -> tuple[Path, dict, dict]:
    """A ``python -m ganlens.forget`` result to rate: its folder or forget.json -> (forget.json path, its
    data, the arrays of forget.npz beside it that the rating page needs)."""
    path = Path(path)
    j_path = path / "forget.json" if path.is_dir() else path
    if not j_path.is_file():
        raise GanlensError(f"--rate {path}: no forget.json there (give a python -m ganlens.forget --out folder)")
    j = _read_json(j_path)
    if not isinstance(j, dict) or not {"settings", "dropped_maps", "control", "label"} <= set(j):
        raise GanlensError(f"--rate {j_path}: not a python -m ganlens.forget result")
    if not isinstance(j["settings"], dict):
        raise GanlensError(f'--rate {j_path}: "settings" must be an object; run python -m ganlens.forget again')
    npz = j_path.with_suffix(".npz")
    if not npz.is_file():
        raise GanlensError(f"--rate {j_path}: {npz.name} is missing beside it (the rating page needs its seeds)")
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ("eval_seeds", "fill") if k in z.files}
    if "eval_seeds" not in arrays or (j["settings"].get("fill") == "mean" and "fill" not in arrays):
        raise GanlensError(f"--rate {j_path}: written by an older ganlens (no evaluation seeds or fill values in "
                           f"{npz.name}); run python -m ganlens.forget again")
    return j_path, j, arrays


def rating_pages(gan, forget_json: str | Path, n: int = DEFAULT_RATE_N, raters: int = DEFAULT_RATERS,
                 scale: int | None = None, names: list[str] | None = None) -> tuple[list[str], dict]:
    """The blind rating pages of a forget result, one per rater, and their key: ([HTML, ...], key dict).

    gan: the :class:`ganlens.GAN` the forget result was made with (checked by sha256 and layer shape).
    Each page shows the first ``n`` evaluation latents once, in the condition a Latin square gives it
    (:mod:`ganlens.ratings`), as raw pixels in a secret random order; the key lists, per page and image, its
    condition and seed. ``names``: the pages' file names recorded in the key (default rate-1.html, ...).
    """
    from ganlens.data.sets import to_uint8
    from ganlens.forget import generate
    j_path, j, arrays = forget_result(forget_json)
    s = j["settings"] if isinstance(j.get("settings"), dict) else {}
    if s.get("checkpoint_sha256") and gan.sha256 and s["checkpoint_sha256"] != gan.sha256:
        raise GanlensError(f"--rate {j_path}: made with checkpoint sha256 {s['checkpoint_sha256'][:12]}..., not "
                           f"this model's {gan.sha256[:12]}...; pass the same --checkpoint / --model")
    lay = gan.layer("G", s["layer"]) if isinstance(s.get("layer"), str) else None
    ratings.check_forget_json(j, j_path, lay.channels if lay else 0)
    seeds = [int(v) for v in arrays["eval_seeds"][:n]]
    if len(seeds) < n:
        raise GanlensError(f"--n {n}: the forget run has only {len(seeds)} evaluation latents")
    z = gan.latents(seeds)
    fill = torch.from_numpy(arrays["fill"]) if "fill" in arrays else None
    drops = {"before": [], "after": j["dropped_maps"], "control": j["control"]["maps"][0]}
    made = {c: to_uint8(generate(gan, lay.name, z, drops[c], fill)).permute(0, 2, 3, 1).numpy()
            for c in ratings.CONDITIONS}
    names = names or [f"rate-{p + 1}.html" for p in range(raters)]
    key = rating_key(j, j_path, arrays, seeds, ratings.plan_pages(seeds, raters, names), drops["control"])
    where = {sd: i for i, sd in enumerate(seeds)}
    common = {"mode": "rate", "format": ratings.RATINGS_FORMAT, "label": j["label"], "question": key["question"],
              "image_size": [gan.image_size, gan.image_size], "nc": gan.nc,
              "scale": scale or max(1, PAGE_PIXELS // gan.image_size),
              "source": f"{gan.path.name if gan.path is not None else gan.name} ({gan.source})"}
    pages = [_fill_template("rate", f"{key['question']} - ganlens rating", {
        **common, "page": pg["page"],
        "pixels": [ratings.pixels_base64(made[it["condition"]][where[it["seed"]]]) for it in pg["items"]]})
        for pg in key["pages"]]
    return pages, key


def rating_key(j: dict, j_path: Path, arrays: dict, seeds: list[int], pages: list[dict], control: list) -> dict:
    """The key of the rating pages (``ganlens.ratings-key/2``, :mod:`ganlens.ratings`)."""
    s, label = j["settings"], j["label"]
    detector = None
    if all(f"judge_{c}" in arrays for c in ratings.CONDITIONS):
        detector = {"seeds": seeds, **{c: [bool(v) for v in arrays[f"judge_{c}"][:len(seeds)]]
                                       for c in ratings.CONDITIONS}}
    return {"format": ratings.KEY_FORMAT, "label": label, "question": f"Is there a {label}?",
            "forget_json": j_path.name, "forget_sha256": ratings.sha256_file(j_path),
            "checkpoint_sha256": s.get("checkpoint_sha256"), "layer": s["layer"], "fill": s.get("fill"),
            "dropped_maps": j["dropped_maps"], "control_maps": control,
            "conditions": {"before": "the generator unchanged",
                           "after": f"the {len(j['dropped_maps'])} maps forget dropped ({s.get('fill')} fill)",
                           "control": f"{len(control)} random maps (forget's first control set)"},
            "design": ratings.DESIGN, "n_latents": len(seeds), "detector": detector, "pages": pages}


def write_rating_page(args) -> str:
    """--rate: one page per rater at --out (default FORGET/rate.html -> rate-1.html, rate-2.html, ...) and
    one key next to them (rate.key.json)."""
    for flag in ("boxes", "from_coco", "label", "first_seed"):
        if getattr(args, flag) is not None:
            raise GanlensError(f"--{flag.replace('_', '-')} does not apply to --rate")
    j_path = forget_result(args.rate)[0]
    out = Path(args.out) if args.out else j_path.parent / "rate.html"
    cli.check_file_out(out)
    raters = args.raters or DEFAULT_RATERS
    paths = [out.with_name(f"{out.stem}-{p + 1}{out.suffix or '.html'}") for p in range(raters)]
    key_path = out.with_name(out.stem + ".key.json")
    model = cli.load_model(args, cli.device(args.device))
    model.require_G()
    pages, key = rating_pages(model, j_path, args.n or DEFAULT_RATE_N, raters, args.scale, [p.name for p in paths])
    from ganlens.core.results import dumps
    atomic_write(key_path, dumps(key))
    for path, page in zip(paths, pages):
        atomic_write(path, page)
    unbalanced = ("" if raters % 3 == 0 else
                  " (not a multiple of 3: latents are not seen in every condition equally often)")
    return (f"{paths[0].parent}: {raters} rating pages {paths[0].name} .. {paths[-1].name}, one per rater, "
            f"{len(key['pages'][0]['items'])} images each{unbalanced}; key (keep it from the raters): {key_path}; "
            f"then python -m ganlens.forget --ratings <every rater's .ratings.json> --key {key_path}")


# ---------------------------------------------------------------------------------------------- COCO

_SEED_IN_NAME = (re.compile(r"seed[_\-.]?(\d+)", re.IGNORECASE), re.compile(r"^(\d+)$"))


def seed_from_file_name(name: str) -> int | None:
    """``seed_17.png`` / ``seed-0017.jpg`` / ``dir/seed17.png`` / ``17.png`` -> 17; None if no seed."""
    stem = Path(str(name).replace("\\", "/")).stem
    for pattern in _SEED_IN_NAME:
        m = pattern.search(stem)
        if m:
            return int(m.group(1))
    return None


def _round(v: float) -> int:
    return math.floor(v + 0.5)  # halves up, whatever the sign (Python's round() goes to even)


def coco_to_boxes(coco, image_size: int, latent: dict, label: str | None = None,
                  checkpoint_sha256: str | None = None, where: str = "COCO file") -> dict:
    """A parsed COCO object -> a ``ganlens.boxes/1`` object (see the module docstring for the mapping).

    Raises GanlensError with one line naming the image or annotation and the problem.
    """
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise GanlensError(f"{where}: not a COCO file: expected an object with an \"images\" list")
    anns = coco.get("annotations", [])
    if not isinstance(anns, list):
        raise GanlensError(f"{where}: \"annotations\" must be a list")
    cats = coco.get("categories", [])
    if not isinstance(cats, list) or not all(isinstance(c, dict) and _is_id(c.get("id")) for c in cats):
        raise GanlensError(f"{where}: \"categories\" must be a list of objects with an id (an integer or a string)")
    for j, a in enumerate(anns):
        for key in ("id", "image_id", "category_id"):
            if isinstance(a, dict) and key in a and not _is_id(a[key]):
                raise GanlensError(f"{where}: annotations[{j}].{key}: expected an integer or a string, "
                                   f"got {type(a[key]).__name__}")
    cat_names = {c["id"]: str(c.get("name", c["id"])) for c in cats}

    cat_id, label = _coco_category(cat_names, anns, label, where)
    by_id, samples = _coco_samples(coco["images"], image_size, where)
    for j, a in enumerate(anns):
        _coco_box(j, a, cat_id, by_id, image_size, where)
    samples.sort(key=lambda s: s["seed"])
    out = {"format": FORMAT, "label": label, "image_size": [image_size, image_size], "latent": latent}
    if checkpoint_sha256:
        out["checkpoint_sha256"] = checkpoint_sha256
    out["samples"] = samples
    problems = boxes.validate(out)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise GanlensError(f"{where}: {problems[0]}{more}")
    return out


def _coco_category(cat_names: dict, anns: list, label: str | None, where: str) -> tuple:
    """(category id or None, label): the --label category, else the only one the annotations use."""
    used = {a.get("category_id") for a in anns if isinstance(a, dict)}
    if label is not None:
        ids = [cid for cid, name in cat_names.items() if name == label]
        if not ids:
            have = ", ".join(sorted(set(cat_names.values()))) or "none"
            raise GanlensError(f"{where}: no category named {label!r} (categories: {have})")
        cat_id = ids[0]
    else:
        named = sorted({cid for cid in used if cid is not None}, key=str)
        if len(named) > 1:
            have = ", ".join(sorted(cat_names.get(c, str(c)) for c in named))
            raise GanlensError(f"{where}: annotations of several categories ({have}); choose one with --label")
        if named:
            cat_id = named[0]
            label = cat_names.get(cat_id)
            if label is None:
                raise GanlensError(f"{where}: annotations use category_id {cat_id!r}, which is not in categories")
        else:
            cat_id = None
            if len(cat_names) == 1:
                label = next(iter(cat_names.values()))
            else:
                raise GanlensError(f"{where}: no annotations to take a label from; pass --label")
    return cat_id, label


def _coco_samples(images: list, image_size: int, where: str) -> tuple[dict, list[dict]]:
    """COCO images -> ({image id: (sample, upscale factor, where)}, samples), one sample per image."""
    by_id, samples, seen = {}, [], {}
    for i, im in enumerate(images):
        if not isinstance(im, dict) or not _is_id(im.get("id")):
            raise GanlensError(f"{where}: images[{i}]: expected an object with an id (an integer or a string)")
        name = im.get("file_name")
        at = f"{where}: image id {im['id']!r} ({name!r})"
        if not isinstance(name, str):
            raise GanlensError(f"{at}: no file_name; the seed is read from the file name (seed_17.png)")
        seed = seed_from_file_name(name)
        if seed is None:
            raise GanlensError(f"{at}: cannot tell its seed from the file name; name images seed_<N>.png "
                               f"or <N>.png, N the sample's seed")
        if seed in seen:
            raise GanlensError(f"{at}: seed {seed} again (already image id {seen[seed]!r})")
        if im["id"] in by_id:
            raise GanlensError(f"{at}: duplicate image id")
        seen[seed] = im["id"]
        factor = 1
        w, h = im.get("width"), im.get("height")
        if w is not None or h is not None:
            if not (_is_int(w) and _is_int(h) and w == h and w > 0 and w % image_size == 0):
                raise GanlensError(f"{at}: is {w}x{h}, expected the model's {image_size}x{image_size} "
                                   f"or an integer upscale of it")
            factor = w // image_size
        sample = {"seed": seed, "boxes": []}
        by_id[im["id"]] = (sample, factor, at)
        samples.append(sample)
    return by_id, samples


def _coco_box(j: int, a, cat_id, by_id: dict, image_size: int, where: str) -> None:
    """Annotation ``j`` -> a box appended to its image's sample (other categories are skipped)."""
    at = f"{where}: annotations[{j}]"
    if not isinstance(a, dict):
        raise GanlensError(f"{at}: expected an object")
    at += f" (id {a.get('id')!r})" if "id" in a else ""
    if cat_id is not None and a.get("category_id") != cat_id:
        return
    if a.get("image_id") not in by_id:
        raise GanlensError(f"{at}: image_id {a.get('image_id')!r} is not among the images")
    sample, factor, _ = by_id[a["image_id"]]
    bbox = a.get("bbox")
    if bbox is None:
        raise GanlensError(f"{at}: no bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)):
        raise GanlensError(f"{at}: bbox must be [x, y, width, height] (4 numbers), got {bbox!r}")
    x, y, bw, bh = bbox
    if bw <= 0 or bh <= 0:
        raise GanlensError(f"{at}: bbox {bbox} has no area")
    box = [_round(x / factor), _round(y / factor), _round((x + bw) / factor), _round((y + bh) / factor)]
    x0, y0, x1, y1 = box
    side = image_size * factor
    if not (0 <= x0 and 0 <= y0 and x1 <= image_size and y1 <= image_size):
        raise GanlensError(f"{at}: bbox {bbox} is outside its {side}x{side} image (seed {sample['seed']})")
    if x1 <= x0 or y1 <= y0:
        raise GanlensError(f"{at}: bbox {bbox} is smaller than one source pixel after rounding "
                           f"(seed {sample['seed']})")
    sample["boxes"].append(box)


# ---------------------------------------------------------------------------------------------- main

def scale_value(text: str) -> int:
    """argparse ``type=`` for --scale: an integer 1..64 ("--scale must be 1..64, got 0")."""
    v = int(text)
    if not 1 <= v <= 64:
        raise argparse.ArgumentTypeError(f"must be 1..64, got {v}")
    return v


scale_value.__name__ = "int"


def from_coco(args) -> str:
    """--from-coco: convert the COCO file into a box file at --out; returns the line to print."""
    for flag in ("boxes", "n", "scale", "first_seed", "raters"):
        if getattr(args, flag) is not None:
            raise GanlensError(f"--{flag.replace('_', '-')} does not apply to --from-coco")
    coco = _read_json(Path(args.from_coco))
    model = cli.load_model(args, torch.device("cpu"))
    model.require_nz()
    obj = coco_to_boxes(coco, model.image_size, {"dim": model.nz, "distribution": model.latent}, args.label,
                        model.sha256, where=str(args.from_coco))
    atomic_write(args.out, dumps_box_file(obj))
    n_boxes = sum(len(s["boxes"]) for s in obj["samples"])
    return f"{args.out}: {n_boxes} {obj['label']} boxes on {len(obj['samples'])} samples"


def write_page(args) -> str:
    """The annotator page for --model/--checkpoint's samples at --out; returns the line to print."""
    if args.label is None and not args.boxes:
        raise GanlensError("--label is required (what the boxes mark, e.g. --label window)")
    model = cli.load_model(args, cli.device(args.device))
    model.require_G()
    preload = read_preload(args.boxes, model, args.label) if args.boxes else None
    label = args.label if args.label is not None else preload["label"]
    samples = plan_samples(model, preload, args.n, args.first_seed or 0)
    if not samples:
        raise GanlensError(f"{args.boxes}: holds no samples; add some with --n")
    images = render(model, torch.tensor([s["z"] for s in samples], dtype=torch.float32))
    scale = args.scale or max(1, PAGE_PIXELS // model.image_size)
    extra = {k: v for k, v in (preload or {}).items()  # a note and unknown top-level keys are kept
             if k not in ("format", "label", "image_size", "latent", "checkpoint_sha256", "samples")}
    where = model.path.name if model.path is not None else model.name
    page = build_page(label, model.image_size, model.nc, {"dim": model.nz, "distribution": model.latent},
                      model.sha256, samples, images, scale, source=f"{where} ({model.source})", extra=extra)
    atomic_write(args.out, page)
    n_boxes = sum(len(s["boxes"]) for s in samples)
    return (f"{args.out}: {len(samples)} samples" + (f", {n_boxes} preloaded boxes" if preload else "")
            + "; open it in a browser")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.raters is not None and args.rate is None:
        raise GanlensError("--raters applies only to --rate (rating pages, one per rater)")
    if args.rate is not None:
        print(write_rating_page(args), file=sys.stderr)
        return 0
    if args.label is not None and not args.label.strip():
        raise GanlensError("--label must not be empty")
    if args.out is None:
        raise GanlensError("--out FILE is required (the page to write; with --from-coco the box file)")
    cli.check_file_out(args.out)  # before the work: a mistyped --out fails now
    print(from_coco(args) if args.from_coco else write_page(args), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
