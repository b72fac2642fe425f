"""Segmenters for dissection: a :class:`Segmentation` wraps ``fn(images) -> class maps`` with its class names,
checks what it returns, and says when a class is present. The shipped rooms segmenter is used on rooms
models; any other model needs one given (``segmenter=(fn, class_names)``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ganlens.core.errors import GanlensError, NotApplicable, first_line
from ganlens.data.detect import DEFAULT_DETECTOR, detector_for
from ganlens.data.sets import to_uint8

DEFAULT_TARGET = "window"   # the class removed / inserted by default, when the segmenter knows it
MIN_AREA = 1 / 64           # default share of the image a class needs to be "present" (as the rooms detector)


@dataclass
class Segmentation:
    """A segmenter: ``fn(images)`` -> integer class maps (N, S, S), and the class names.

    fn gets images (N, nc, S, S) of the generator on the CPU, float in [-1, 1] (or uint8 in [0, 255] with
    ``uint8=True``), and returns a numpy array or tensor (N, S, S) of class indices 0 .. len(classes) - 1 at
    the image size (any other value is an error: name a class such as "unlabelled" for pixels of no class;
    an id past the names would otherwise be dropped silently). min_area: share of the image a
    class's largest 8-connected region must cover for the image to contain the class.
    """

    fn: Callable
    classes: tuple[str, ...]
    name: str = "user segmenter"
    uint8: bool = False
    min_area: float = MIN_AREA
    info: dict = field(default_factory=dict)

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        """Images (N, nc, S, S) float in [-1, 1] -> class maps (N, S, S) int64 (checked)."""
        try:
            out = self.fn(to_uint8(x) if self.uint8 else x)
        except GanlensError:
            raise
        except Exception as e:  # noqa: BLE001 - user code: one line, not a traceback
            raise GanlensError(f"segmenter {self.name}: raised {type(e).__name__}: {first_line(str(e))}")
        out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        self._check(out, x)
        return out.astype(np.int64)

    def _check(self, out: np.ndarray, x: torch.Tensor) -> None:
        s = x.shape[-1]
        if out.shape != (len(x), s, s):
            raise GanlensError(f"segmenter {self.name}: returned shape {tuple(out.shape)} for {len(x)} images of "
                               f"{s}x{s}; it must return class maps ({len(x)}, {s}, {s})")
        if not np.issubdtype(out.dtype, np.integer):
            raise GanlensError(f"segmenter {self.name}: returned {out.dtype} maps; it must return integer class "
                               f"indices")
        bad = out.min() if out.size and out.min() < 0 else out.max() if out.size and out.max() >= len(self.classes) else None
        if bad is not None:  # -1, an id past the names given or 1e12 would be silently dropped as "no class"
            raise GanlensError(f"segmenter {self.name}: returned class id {bad}; ids must be 0..{len(self.classes) - 1} "
                               f"for the {len(self.classes)} class names given (name a class, e.g. 'unlabelled', "
                               f"for pixels of no class)")

    def min_pixels(self, size: int) -> int:
        return max(1, int(round(self.min_area * size * size)))

    def describe(self) -> dict:
        return {"name": self.name, "classes": list(self.classes), "min_area": self.min_area,
                "input": "uint8" if self.uint8 else "float [-1, 1]", **self.info}


def check_classes(classes, where: str) -> tuple[str, ...]:
    """``classes`` as a tuple of distinct non-empty strings, or a one-line GanlensError naming ``where``."""
    if isinstance(classes, str) or not hasattr(classes, "__iter__"):
        raise GanlensError(f"{where}: class names must be a list of strings, got {type(classes).__name__}")
    names = tuple(classes)
    if not names or not all(isinstance(c, str) and c for c in names) or len(set(names)) != len(names):
        raise GanlensError(f"{where}: class names must be distinct non-empty strings, got {list(names)!r}")
    return names


def rooms_segmentation(gan) -> Segmentation | None:
    """The shipped rooms segmenter when ``gan`` is a rooms model (3x64x64, trained on ``rooms``), else None."""
    data = str((gan.provenance or {}).get("data") or "")
    if (gan.nc, gan.image_size) != (3, 64) or not data.startswith("rooms"):
        return None
    found = detector_for(DEFAULT_TARGET, gan.image_size, gan.nc, gan.device)
    if found is None:
        return None
    det = found[0]
    info = det.info or {}
    return Segmentation(det.segment, tuple(det.classes), f"rooms segmenter ({DEFAULT_DETECTOR.name})",
                        min_area=det.min_area, info={"heldout": info.get("classes"), "trained": info.get("command")})


def as_segmentation(segmenter, gan) -> Segmentation:
    """A :class:`Segmentation` from ``segmenter`` (None: the rooms one if it fits, else a one-line error)."""
    if segmenter is None:
        seg = rooms_segmentation(gan)
        if seg is None:
            raise NotApplicable(
                f"no segmenter for {gan.where} ({gan.nc}x{gan.image_size}x{gan.image_size}; the shipped one knows "
                f"only rooms models, 3x64x64 trained on rooms): give one with segmenter=(fn, class_names) in "
                f"Python or --segmenter FILE.py:FUNC returning (fn, class_names)")
        return seg
    if isinstance(segmenter, Segmentation):
        segmenter.classes = check_classes(segmenter.classes, "segmenter")
        return segmenter
    problem = pair_problem(segmenter)
    if problem:
        raise GanlensError(f"segmenter: {problem}")
    fn, names = segmenter
    return Segmentation(fn, check_classes(names, "segmenter"), getattr(fn, "__name__", "user segmenter"))


def pair_problem(obj) -> str | None:
    """Why ``obj`` is not (callable, class names), or None."""
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2 and callable(obj[0])):
        return (f"returned {type(obj).__name__}; it must be (fn, class_names): fn(images) -> class maps "
                f"(N, H, W), class_names a list of strings")
    return None
