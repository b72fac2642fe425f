"""Boxes drawn in another tool (CVAT, Label Studio, makesense.ai ...) and exported as COCO JSON ->
``ganlens.boxes/1`` (:func:`coco_to_boxes`; the mapping: docs/methods.md, section "annotate"), and a box file
as text (:func:`dumps_box_file`)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ganlens.core.errors import GanlensError
from ganlens.data import boxes

FORMAT = boxes.FORMAT


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_id(v) -> bool:
    """COCO ids are integers or strings (a list or object as an id is no id: it cannot even be looked up)."""
    return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))


def dumps_box_file(obj: dict) -> str:
    """A box file as text: header fields on their own lines, one line per sample."""
    head = {k: v for k, v in obj.items() if k != "samples"}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    samples = [f"    {json.dumps(s)}" for s in obj["samples"]]
    lines += ['  "samples": [' + ("\n" + ",\n".join(samples) + "\n  ]" if samples else "]"), "}"]
    return "\n".join(lines) + "\n"


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
    """A parsed COCO object -> a ``ganlens.boxes/1`` object (docs/methods.md, section "annotate").

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
