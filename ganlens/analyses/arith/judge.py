"""Judges: what says which attributes a sample has. ``judge(uint8 images (N, nc, H, W)) -> {attribute: (N,)
bools}``; the rooms detector (:mod:`ganlens.data.detect`) for rooms models, or any Python function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ganlens.core.errors import GanlensError
from ganlens.data.detect import DEFAULT_DETECTOR, detector_for
from ganlens.data.rooms import CLASSES
from ganlens.data.sets import to_float

MEASURES = ("auto", "detector", "none")


@dataclass
class Judge:
    """Says which attributes samples have: ``judge(images)`` with uint8 images (N, nc, H, W) -> {attribute:
    (N,) bool}. ``info`` (stored in the JSON) says what the judge is and how it was validated."""

    fn: Callable[[torch.Tensor], dict]
    info: dict

    def __call__(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        out = self.fn(images)
        if not isinstance(out, dict):
            raise GanlensError(f"measure: the judge must return {{attribute: (N,) bools}}, got {type(out).__name__}")
        return {str(k): np.asarray(v, dtype=bool).reshape(len(images)) for k, v in out.items()}


def is_rooms_model(gan) -> bool:
    return gan.nc == 3 and str(gan.provenance.get("data") or "").startswith("rooms")


def detector_judge(gan, attributes: tuple[str, ...], required: bool = True) -> Judge | None:
    """The rooms detector (:mod:`ganlens.data.detect`) as a judge of ``attributes`` (rooms classes): an image has
    a class when its largest region of that class covers the detector's minimum area. The detector is
    trusted only where it was validated (64x64 RGB rooms): elsewhere None, or with ``required`` an error."""
    found = detector_for(CLASSES[0], gan.image_size, gan.nc, device=gan.device)
    if found is None:
        if required:
            raise GanlensError(f"--measure detector: the rooms detector judges 64x64 RGB rooms images; this model "
                               f"makes {gan.nc}x{gan.image_size}x{gan.image_size} images")
        return None
    det = found[0]
    idx = {a: det.class_index(a) for a in attributes}
    unknown = [a for a, i in idx.items() if i is None]
    if unknown:
        raise GanlensError(f"--target/--context {unknown[0]}: the rooms detector knows {', '.join(det.classes)}")

    def judge(x: torch.Tensor) -> dict[str, np.ndarray]:
        seg = det.segment(to_float(x))
        return {a: det.measure(seg, i)["present"] for a, i in idx.items()}
    info = det.info or {}
    quality = info.get("classes", {})
    return Judge(judge, {
        "name": "rooms detector", "file": f"ganlens/default/{DEFAULT_DETECTOR.name}",
        "rule": f"{info.get('rule', 'class present')} (a segmentation net trained on rendered rooms only)",
        "heldout": info.get("heldout"),
        "heldout_quality": {a: {k: quality[a][k] for k in ("image_precision", "image_recall")}
                            for a in attributes if a in quality}})


def resolve_judge(gan, measure, attributes: tuple[str, ...]) -> Judge | None:
    """``measure``: "auto" (the rooms detector on rooms models), "detector", "none", a :class:`Judge` or a
    function ``uint8 images -> {attribute: (N,) bools}`` that returns every name in ``attributes``."""
    if callable(measure):
        judge = measure if isinstance(measure, Judge) else Judge(measure, {
            "name": getattr(measure, "__name__", "custom"), "rule": "a Python function given as measure="})
        return judge
    if measure not in MEASURES:
        raise GanlensError(f"measure must be one of {', '.join(MEASURES)} or a function, got {measure!r}")
    if measure == "none" or (measure == "auto" and not is_rooms_model(gan)):
        return None
    return detector_judge(gan, attributes, required=measure == "detector")


def judged(judge: Judge, imgs: torch.Tensor, attributes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The judge's verdicts on ``imgs`` for ``attributes``; an error naming any attribute it did not return."""
    out = judge(imgs)
    missing = [a for a in attributes if a not in out]
    if missing:
        raise GanlensError(f"measure: the judge returned {', '.join(out) or 'nothing'}, not {missing[0]} "
                           f"(--target/--context)")
    return {a: out[a] for a in attributes}
