"""Which objects an edit moves, where a judge can tell: the rooms segmenter on 64x64 RGB models.

    judge, reason = rooms_judge(gan)       # (Judge, "") or (None, why not)
    effects = object_effects(principal, random, judge.classes)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganlens import stats
from ganlens.analyses.ganspace.record import ComponentObjects, Measured, ObjectEffects
from ganlens.data.detect import Detector, detector_for
from ganlens.data.rooms import CLASSES


@dataclass
class Judge:
    """The rooms segmenter: images (N, nc, H, W) in [-1, 1] -> share of pixels per class (N, C)."""

    detector: Detector

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.detector.classes)

    def shares(self, x: torch.Tensor) -> np.ndarray:
        seg = self.detector.segment(x)
        k, px = len(self.classes), seg.shape[-1] * seg.shape[-2]
        return np.stack([np.bincount(m.ravel(), minlength=k) for m in seg]).astype(np.float64) / px


def rooms_judge(gan) -> tuple[Judge | None, str]:
    """The shipped rooms segmenter when it fits the model (64x64 RGB images), else (None, the reason)."""
    found = detector_for(CLASSES[0], gan.image_size, gan.nc, gan.device)
    if found is None:
        return None, (f"no judge for this model: the rooms segmenter reads 3x64x64 images and this model makes "
                      f"{gan.nc}x{gan.image_size}x{gan.image_size}; object shares could not be measured")
    return Judge(found[0]), ""


def _deltas(m: Measured) -> np.ndarray:
    """(m, C) mean over latents of share(+sigma) - share(-sigma)."""
    return (m.shares_plus - m.shares_minus).mean(axis=0)


def object_effects(principal: Measured, random: list[Measured], classes: tuple[str, ...]) -> ObjectEffects:
    """Per principal component: the class whose share it moves most (+sigma vs -sigma), a Wilcoxon test over
    latents of that class's shares, and how many random directions move their top class at least as much."""
    rand = np.stack([_deltas(m) for m in random])                  # (D, k, C)
    rand_max = np.abs(rand).max(axis=-1).ravel()                    # largest |delta| of each random direction
    deltas = _deltas(principal)
    comps = []
    for c, d in enumerate(deltas):
        top = int(np.abs(d).argmax())
        p = stats.wilcoxon(principal.shares_plus[:, c, top], principal.shares_minus[:, c, top]).p
        exceed = float((rand_max >= np.abs(d[top])).mean())
        comps.append(ComponentObjects(d, top, p, exceed))
    return ObjectEffects(classes, comps, rand, rand_max)
