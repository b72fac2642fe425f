"""Guided-backprop pictures of the shown units' top images, cropped to the receptive field
(:func:`visualise`), and the descriptive autocorrelation of a guided map (:func:`structure`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganlens.analyses.filters.acts import all_maps
from ganlens.analyses.filters.record import Guided, Top
from ganlens.core.guided import guided_backprop
from ganlens.core.layers import Layer
from ganlens.data.sets import ImageSet, to_float


def crop(array: np.ndarray, y0: int, x0: int, size: int) -> np.ndarray:
    """The (C, size, size) window of ``array`` (C, H, W) at (y0, x0), NaN where it leaves the image."""
    c, h, w = array.shape
    out = np.full((c, size, size), np.nan, dtype=np.float32)
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + size, h), min(x0 + size, w)
    if ye > ys and xe > xs:
        out[:, ys - y0:ye - y0, xs - x0:xe - x0] = array[:, ys:ye, xs:xe]
    return out


def structure(gmap: np.ndarray) -> float:
    """The autocorrelation of one guided map crop (C, r, r) with NaN outside the image (``SCORE_DOC``): lag-1
    correlation of the colour-summed map along x and along y (mean of the two), over pairs of adjacent pixels
    both inside the image; 0 for a constant map (no structure)."""
    m = gmap.sum(0)
    corrs = []
    for a, b in ((m[:, :-1], m[:, 1:]), (m[:-1, :], m[1:, :])):
        ok = ~(np.isnan(a) | np.isnan(b))
        a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        corrs.append(float((a * b).sum() / den) if den > 0 else 0.0)
    return float(np.mean(corrs))


def visualise(D: nn.Module, layer: Layer, data: ImageSet, units: list[int], top: Top, device: torch.device,
              field: tuple[int, int, int]) -> Guided:
    """Guided maps of every (unit, rank) in ``top``, cropped to the receptive field ``field`` (start, size,
    stride; :func:`~ganlens.analyses.filters.field.receptive_field`), with the activations recomputed in
    float32, the crop boxes (clipped to the image) and each map's :func:`structure`."""
    U, K = top.images.shape
    start, size, stride = field
    x = to_float(torch.stack([data[i] for i in top.images.reshape(-1).tolist()])).to(device)
    unit_rows = torch.as_tensor(units).repeat_interleave(K)
    pos = top.positions.reshape(-1, 2)
    maps = guided_backprop(D, layer.name, x, unit_rows, pos).cpu().numpy()
    a = all_maps(D, layer, x).cpu()
    acts_exact = a[torch.arange(len(x)), unit_rows, pos[:, 0], pos[:, 1]].reshape(U, K)
    xs = x.cpu().numpy()
    H = xs.shape[-1]
    images, gmaps, boxes, scores = [], [], [], []
    for j in range(len(x)):
        y0, x0 = start + int(pos[j, 0]) * stride, start + int(pos[j, 1]) * stride
        images.append(crop(xs[j], y0, x0, size))
        gmaps.append(crop(maps[j], y0, x0, size))
        boxes.append([max(y0, 0), max(x0, 0), min(y0 + size, H), min(x0 + size, H)])
        scores.append(structure(gmaps[-1]))
    shape = (U, K) + images[0].shape
    return Guided(np.stack(images).reshape(shape), np.stack(gmaps).reshape(shape), acts_exact.numpy(),
                  np.array(boxes).reshape(U, K, 4), np.array(scores).reshape(U, K))
