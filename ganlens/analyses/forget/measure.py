"""The edit and what it changes: G run whole with chosen maps of a layer dropped (set to a fill value at every
position), and the pixel change it makes inside vs outside the boxes."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.forget.record import Boxed, Change
from ganlens.core.errors import GanlensError
from ganlens.core.generate import images
from ganlens.core.hooks import ablate, edit
from ganlens.core.layers import Layer
from ganlens.data import boxes as boxfile

FRESH_SEED = 1_000_000_000     # evaluation latents: seeds FRESH_SEED + i, never those of a box file
BATCH = 250


def as_layer(gan, layer: Layer | str, where: str | None = None) -> Layer:
    """A public function's ``layer`` argument as a G :class:`Layer` (resolved here, once); a Layer is
    taken as it is. Errors start with ``where`` (default: ``layer 'name'``)."""
    if isinstance(layer, Layer):
        return layer
    try:
        return gan.layer("G", layer)
    except GanlensError as e:
        raise GanlensError(f"{where or f'layer {layer!r}'}: {e}")


def generate(gan, layer: Layer | str, z: torch.Tensor, drop=(), fill: torch.Tensor | None = None) -> torch.Tensor:
    """Images G(z) (N, nc, S, S) in [-1, 1] on the CPU, with maps ``drop`` of ``layer`` dropped at every
    position (:func:`ganlens.core.hooks.ablate` while G runs whole; no hook is left behind): set to zero,
    or with ``fill`` (one value per map of the layer) to that value."""
    drop = [int(i) for i in drop]
    if not drop:
        return images(gan, z, batch=BATCH)
    values = None if fill is None else fill[drop]
    return images(gan, z, batch=BATCH, edit=ablate(gan.G, as_layer(gan, layer).name, drop, values))


class _NotOnce(Exception):
    """The edited layer did not run exactly once per row of the batch (a module used twice in G)."""


def _row_mask(drops: list, n: int, channels: int) -> torch.Tensor:
    """(len(drops) * n, channels) bool: row j * n + i sets the maps of drops[j]."""
    mask = torch.zeros(len(drops) * n, channels, dtype=torch.bool)
    for j, d in enumerate(drops):
        mask[j * n:(j + 1) * n, [int(i) for i in d]] = True
    return mask


def generate_each(gan, layer: Layer | str, z: torch.Tensor, drops: list,
                  fill: torch.Tensor | None = None) -> list[torch.Tensor]:
    """[:func:`generate` (gan, layer, z, d, fill) for d in drops], in one batched run: the latents are
    repeated once per set of maps and a per-row mask tells the hook which maps to set in which row (fewer,
    larger forward passes than one run per set)."""
    lay = as_layer(gan, layer)
    n = len(z)
    mask = _row_mask(drops, n, lay.channels)
    values = torch.zeros(lay.channels) if fill is None else fill.float()
    row = [0]

    def fn(y: torch.Tensor) -> torch.Tensor:
        m = mask[row[0]:row[0] + len(y)]
        if len(m) != len(y):
            raise _NotOnce
        row[0] += len(y)
        return torch.where(m.to(y.device)[:, :, None, None], values.to(y.device, y.dtype)[None, :, None, None], y)
    try:
        out = images(gan, z.repeat(len(drops), 1), batch=BATCH, edit=lambda: edit(gan.G, lay.name, fn))
    except _NotOnce:
        return [generate(gan, lay, z, d, fill) for d in drops]
    if row[0] != len(mask):
        return [generate(gan, lay, z, d, fill) for d in drops]
    return list(out.split(n))


def boxed_samples(bf: boxfile.BoxFile, annotated: torch.Tensor) -> Boxed:
    """The annotated samples with boxes, their latents, images (of ``annotated``) and box masks."""
    size = annotated.shape[-1]
    index = [i for i, s in enumerate(bf.samples) if s.boxes]
    masks = np.stack([boxfile.pixel_mask(bf.samples[i].boxes, size, size) for i in index])
    return Boxed(np.array(index, int), bf.latents()[index], annotated[index], masks)


def localisation(before: torch.Tensor, after: torch.Tensor, masks: np.ndarray) -> Change:
    """How much the drop changes pixels inside the boxes vs outside, over annotated samples.

    before/after (N, nc, S, S), masks (N, S, S) bool (union of boxes). Mean |change| (images in [0, 1],
    averaged over channels) inside and outside the boxes, pooled over samples, and their ratio.
    """
    d = ((after - before).abs().mean(1) / 2).numpy()             # [-1, 1] -> [0, 1] units
    return Change.of(float(d[masks].mean()), float(d[~masks].mean()))


def mean_ratio(changes: list[Change]) -> float | None:
    """Mean localisation ratio of control sets (None when no set changed anything outside the boxes)."""
    ratios = [c.ratio for c in changes if c.ratio]
    return float(np.mean(ratios)) if ratios else None


def dose_levels(n_maps: int, n_dropped: int, also=()) -> list[int]:
    """Numbers of maps dropped on the dose curve: 0, 1/4, 1/2, 1 and 3/2 times ``n_dropped``, and the
    counts in ``also`` (the other rules' drops), within 1 .. n_maps - 1 beyond 0 (dropping every map makes
    no image)."""
    extra = {int(round(n_dropped * f)) for f in (0.25, 0.5, 1.5)} | {int(k) for k in also}
    return sorted({0, n_dropped} | {k for k in extra if 1 <= k < n_maps})


def fresh_seeds(bf: boxfile.BoxFile, n: int) -> list[int]:
    """Seeds of the evaluation latents: FRESH_SEED + i, skipping any seed the box file annotates."""
    annotated = {s.seed for s in bf.samples if s.seed is not None}
    return [FRESH_SEED + i for i in range(n + len(annotated)) if FRESH_SEED + i not in annotated][:n]
