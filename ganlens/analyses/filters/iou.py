"""Network-Dissection IoU of every unit with concept masks (Bau et al. 2017): where each unit fires
(:func:`fire`), fired pixels counted per concept over the images (:func:`concept_iou`, :func:`pair_counts`)
and the layer's units scored and compared with the random Ds (:func:`score_iou`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganlens.analyses.api import renamed
from ganlens.analyses.filters.acts import as_layer, unit_maps
from ganlens.analyses.filters.defs import CHUNK, DETECTOR_IOU
from ganlens.analyses.filters.layer import compare_layers, top_units
from ganlens.analyses.filters.masks import Masks
from ganlens.analyses.filters.record import Counts, IouScores, NetCounts, Scan
from ganlens.core.errors import GanlensError
from ganlens.core.layers import Layer
from ganlens.data.sets import ImageSet, to_float


def fire(maps: torch.Tensor, threshold: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Where each unit fires: maps (B, U, h, w) upsampled to ``size`` (bilinear, align_corners=False; a
    1x1 map is constant) and compared with its threshold (U,) -> (B, U, H, W) bool."""
    if maps.shape[-2:] == (1, 1):
        up = maps.expand(-1, -1, *size)
    else:
        up = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    return up > threshold.to(up.device)[None, :, None, None]


def _images(data: ImageSet, idx: np.ndarray) -> torch.Tensor:
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1:
        return data.chunk(int(idx[0]), int(idx[-1]) + 1)
    return torch.stack([data[int(i)] for i in idx])


def _grow(t: torch.Tensor, width: int) -> torch.Tensor:
    return t if t.shape[-1] >= width else F.pad(t, (0, width - t.shape[-1]))


def _read(masks: Masks, idx: np.ndarray, size: int) -> torch.Tensor:
    m = torch.as_tensor(masks.read(idx), dtype=torch.long)
    if m.shape[1:] != (size, size) or m.min() < 0:
        raise GanlensError(f"masks {masks.spec}: expected values >= 0 at {size}x{size}, got "
                           f"{tuple(m.shape[1:])} from {int(m.min())}")
    return m


@renamed(chunk="batch_size")
def concept_iou(nets: dict[str, nn.Module], layer: Layer | str, data: ImageSet, masks: Masks, units: list[int],
                scans: dict[str, Scan], n: int, device: torch.device, batch_size: int = CHUNK) -> Counts:
    """Intersections and unions of each unit's fired region with each mask value, summed over the images
    among the first ``n`` that have a mask (streamed ``batch_size`` images at a time). The maps come from the
    scan when it kept them, else the nets run again; only maps that exceed their unit's level are upsampled
    (:func:`pair_counts`)."""
    layer = as_layer(next(iter(nets.values())), layer)
    idx_u = torch.as_tensor(units, device=device)
    rows = masks.rows(n)
    area = torch.zeros(0, dtype=torch.long)
    acc = {key: NetCounts(torch.zeros(len(units), 0, dtype=torch.long), torch.zeros(len(units), dtype=torch.long))
           for key in nets}
    for s in range(0, len(rows), batch_size):
        idx = rows[s:s + batch_size]
        m = _read(masks, idx, data.size)
        width = max(area.shape[0], int(m.max()) + 1)
        area = _grow(area, width) + torch.bincount(m.flatten(), minlength=width)
        x = None
        for key, D in nets.items():
            if scans[key].maps is not None:
                a = scans[key].maps[torch.as_tensor(idx)]
            else:
                x = to_float(_images(data, idx).to(device)) if x is None else x
                a = unit_maps(D, layer, x, idx_u).cpu()
            inter = pair_counts(a, m, scans[key].cut, width)    # (U, width)
            acc[key].inter = _grow(acc[key].inter, width) + inter
            acc[key].fired += inter.sum(1)                      # every pixel has one mask value
    return Counts(len(rows), area, acc)


def pair_counts(a: torch.Tensor, m: torch.Tensor, cut: torch.Tensor, width: int, pixels: int = 2 ** 24) -> torch.Tensor:
    """Fired pixels per unit and mask value, (U, width) int64, for maps a (b, U, h, w), masks (b, H, W) and
    the units' firing levels (U,). Bilinear upsampling never exceeds a map's maximum, so only the (image,
    unit) pairs whose map exceeds the level are upsampled (a few percent at NetDissect's quantile), one map
    at a time as a batch of pairs (about ``pixels`` upsampled pixels per step), and counted by a bincount of
    the (unit, mask value) codes of the fired pixels alone."""
    U, size = a.shape[1], tuple(m.shape[1:])
    img, unit = torch.nonzero(a.flatten(2).amax(2) > cut[None, :], as_tuple=True)
    out = torch.zeros(U * width, dtype=torch.long)
    step = max(1, pixels // (size[0] * size[1]))
    for s in range(0, len(img), step):
        i, u = img[s:s + step], unit[s:s + step]
        maps = a[i, u][:, None]                                         # (P, 1, h, w)
        up = maps.expand(-1, -1, *size) if maps.shape[-2:] == (1, 1) else F.interpolate(
            maps, size=size, mode="bilinear", align_corners=False)
        p, y, x = torch.nonzero(up[:, 0] > cut[u][:, None, None], as_tuple=True)   # the fired pixels only
        out += torch.bincount(m[i[p], y, x] + width * u[p], minlength=U * width)
    return out.view(U, width)


def iou_table(counts: Counts, key: str, concepts: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """IoU and precision (share of the fired pixels inside the concept), each (U, len(concepts)), of one
    net (0 where the denominator is 0)."""
    inter, fired, area = counts.nets[key].inter, counts.nets[key].fired, counts.area
    vals = list(concepts)
    i = torch.stack([inter[:, v] if v < inter.shape[1] else torch.zeros_like(fired) for v in vals], 1).double()
    a = torch.tensor([float(area[v]) if v < len(area) else 0.0 for v in vals], dtype=torch.double)
    union, f = fired.double()[:, None] + a[None, :] - i, fired.double()[:, None].expand_as(i)
    return (torch.where(union > 0, i / union.clamp(min=1), torch.zeros_like(i)).numpy(),
            torch.where(f > 0, i / f.clamp(min=1), torch.zeros_like(i)).numpy())


def concepts_of(masks: Masks, area: torch.Tensor) -> dict[int, str]:
    """{value: name} of the concepts measured: named values (or every value) that occur in the masks."""
    present = [v for v in range(len(area)) if area[v] > 0]
    if masks.names is None:
        return {v: f"class {v}" for v in present}
    return {v: name for v, name in masks.names.items() if v in present}


def score_iou(counts: Counts, masks: Masks, scans: dict[str, Scan], *, spatial: bool, seeds: list[int],
              quantile: float, units: list[int] | None, n_show: int) -> IouScores:
    """Every unit of every net scored by its best-concept IoU, the trained layer compared with the random
    draws (detectors: IoU > DETECTOR_IOU), and the units each net shows (``units``, else its ``n_show``
    highest-scoring). The nets are the keys of ``scans``, the trained D first."""
    keys = list(scans)
    concepts = concepts_of(masks, counts.area)
    tables = {key: iou_table(counts, key, concepts) if concepts else (np.zeros((len(scans[key].cut), 1)),) * 2
              for key in keys}
    scores = {key: tables[key][0].max(1) for key in keys}
    shown = {key: list(units) if units is not None else top_units(scores[key], n_show) for key in keys}
    det = {key: int((scores[key] > DETECTOR_IOU).sum()) for key in keys}
    layer = compare_layers(scores[keys[0]], [scores[k] for k in keys[1:]], det[keys[0]], [det[k] for k in keys[1:]],
                           seeds)
    return IouScores(counts, concepts, {k: t[0] for k, t in tables.items()}, {k: t[1] for k, t in tables.items()},
                     {key: scans[key].threshold for key in keys}, shown, layer, masks.spec, masks.kind, spatial,
                     quantile)
