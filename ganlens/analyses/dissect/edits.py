"""What removal and insertion share: which units an edit uses (:func:`make_target`), how a class is measured on
edited images (:func:`measure`, :func:`render`), the edit with its random controls, and the dose curve."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ganlens.analyses.dissect.record import ClassInfo, Dose, LayerLabels, Measure, Target
from ganlens.data.segment import DEFAULT_TARGET, Segmentation
from ganlens.analyses.dissect.units import CHUNK, chunks
from ganlens.core.errors import GanlensError
from ganlens.core.generate import images
from ganlens.core.layers import Layer
from ganlens.data.detect import largest_region

DEFAULT_REGION_CLASS = "wall"


def measure(maps: np.ndarray, cls: int, min_px: int, region: np.ndarray | None = None) -> Measure:
    """For class maps (N, S, S): present (largest 8-connected region of the class, inside ``region`` (N, S, S)
    bool if given, >= min_px pixels), share of the image (or of the region) and, with a region, IoU of the
    class's pixels with the region."""
    m = maps == cls
    inside = m & region if region is not None else m
    present = np.array([largest_region(x) >= min_px for x in inside], bool)
    if region is None:
        return Measure(present, m.mean((1, 2)))
    return Measure(present, inside.sum((1, 2)) / np.maximum(region.sum((1, 2)), 1),
                   inside.sum((1, 2)) / np.maximum((m | region).sum((1, 2)), 1))


def render(gan, seg: Segmentation, z: torch.Tensor, edit=None, keep: int = 0) -> tuple[np.ndarray, torch.Tensor]:
    """Class maps (N, S, S) of G(z), each chunk generated under ``edit(i, j)`` (a hooks context manager for
    latents i .. j-1, or None), and the first ``keep`` images."""
    maps, shown = [], []
    for i, j in chunks(len(z)):
        x = images(gan, z[i:j], batch=CHUNK, edit=edit(i, j) if edit is not None else None)
        if i < keep:
            shown.append(x[:keep - i])
        maps.append(seg(x))
    return np.concatenate(maps), torch.cat(shown) if shown else torch.zeros(0)


def dose_levels(k: int, channels: int) -> list[int]:
    """0, 1, 2, 4, ... up to 2k, and k itself; never more than the units outside the chosen k."""
    top = min(2 * k, channels - k)
    levels = {0, k} | {2 ** i for i in range(int(math.log2(max(top, 1))) + 1)} | {top}
    return sorted(v for v in levels if v <= max(top, k))


def make_target(cls: int, seg: Segmentation, records: list[LayerLabels], edit_layer: Layer | None, k: int | None,
                draws: int, rng: np.random.Generator) -> Target:
    """Which units of which layer an edit of class ``cls`` uses, and the random control orders."""
    if edit_layer is None:
        rec = max(records, key=lambda r: float(r.iou[:, cls].max()))
    else:
        rec = next(r for r in records if r.layer.name == edit_layer.name)
    col = rec.iou[:, cls]
    ranking = [int(u) for u in np.argsort(-col, kind="stable")]
    channels = len(col)
    if k is None:
        k = max(1, rec.counts.get(seg.classes[cls], 0))
        k = min(k, channels // 2)          # a random control of as many units must exist outside the k
    elif k >= channels:
        raise GanlensError(f"k {k}: layer {rec.layer.name} has only {channels} units (random controls need others)")
    rest = np.array(ranking[k:])
    perms = [[int(u) for u in rng.permutation(rest)] for _ in range(draws)]
    return Target(cls, seg.classes[cls], rec.layer, ranking, [float(col[u]) for u in ranking], k,
                  dose_levels(k, channels), perms)


def with_controls(run: Callable, t: Target, n: int, show: int) -> tuple[Measure, torch.Tensor, list[Measure],
                                                                        torch.Tensor | None]:
    """The edit of ``t``'s chosen units and of each random draw on the first ``n`` latents: (after, its first
    ``show`` images, the controls, the first draw's images). ``run(units, n, keep)`` -> (measure, images)."""
    after, shown_after = run(t.chosen(), n, show)
    controls, shown_ctl = [], None
    for d in range(len(t.perms)):
        m, s = run(t.control(d), n, show if d == 0 else 0)
        controls.append(m)
        shown_ctl = s if d == 0 else shown_ctl
    return after, shown_after, controls, shown_ctl


def run_dose(run: Callable, t: Target, n: int, before: Measure, after: Measure, controls: list[Measure]) -> Dose:
    """Presence rate on the first ``n`` latents as ``t.levels`` units are edited in IoU order and in each
    random order; ``run(units, n)`` measures one edit; the edits already measured (0 and k units) are reused."""
    known = {("rank", 0): before, ("rank", t.k): after, **{(d, t.k): c for d, c in enumerate(controls)},
             **{(d, 0): before for d in range(len(t.perms))}}

    def rate_of(key, units):
        m = known[key] if key in known else run(units, n)
        return float(m.present[:n].mean())
    by_rank, random = [], [[] for _ in t.perms]
    for m in t.levels:
        by_rank.append(rate_of(("rank", m), t.chosen(m)))
        for d in range(len(t.perms)):
            random[d].append(rate_of((d, m), t.control(d, m)))
    return Dose(t.levels, n, by_rank, random)


def targets_for(spec, seg: Segmentation, info: dict[str, ClassInfo], region: str, what: str) -> list[str]:
    """Class names to remove / insert: ``spec`` (a name or names; () for none), or by default "window" when
    the segmenter knows it, else the class (not the region class) with the most labelled units."""
    if spec is None:
        if DEFAULT_TARGET in seg.classes:
            return [DEFAULT_TARGET]
        cands = [c for c in seg.classes if c != region and info[c].total_units > 0]
        return [max(cands, key=lambda c: info[c].total_units)] if cands else []
    names = [spec] if isinstance(spec, str) else list(spec)
    for c in names:
        if c not in seg.classes:
            raise GanlensError(f"{what}: unknown class {c!r}; the segmenter's classes are {', '.join(seg.classes)}")
    return list(dict.fromkeys(names))


def region_class(given: str | None, seg: Segmentation, class_pixels: torch.Tensor) -> str:
    """The class whose area insertion targets: ``given``, else "wall" when known, else the commonest class."""
    if given is not None:
        if given not in seg.classes:
            raise GanlensError(f"region_class: unknown class {given!r}; the segmenter's classes are "
                               f"{', '.join(seg.classes)}")
        return given
    if DEFAULT_REGION_CLASS in seg.classes:
        return DEFAULT_REGION_CLASS
    return seg.classes[int(class_pixels.argmax())]
