"""The two passes over the dissection samples: exact per-unit quantiles (pass 1) and the pixels where each unit
fires, per class (pass 2), with the G layers they run on and bilinear upsampling as matrix products."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ganlens.analyses.dissect import effects as fx
from ganlens.analyses.dissect.record import Counts, LayerCounts, LayerStats
from ganlens.data.segment import Segmentation
from ganlens.core import hooks
from ganlens.core.errors import GanlensError
from ganlens.core.generate import images
from ganlens.core.layers import Layer

CHUNK = 250                 # latents per generated chunk
ELEMS = 1 << 23             # upsampled values per slice (32 MiB of float32): bounds memory on any layer
TOP_SAMPLES = 4             # samples kept per unit for the heatmap figure


def dissect_layers(gan, layers=None) -> list[Layer]:
    """The G layers to dissect: ``layers`` (Layer objects, names, aliases or module paths) or every hidden
    layer with a spatial map of side >= 2."""
    table = gan.layers("G")
    if layers is None:
        chosen = [lay for lay in table.hidden if lay.spatial and lay.side >= 2]
        if not chosen:
            raise GanlensError(f"{gan.where}: G has no hidden conv layer with a spatial map (side >= 2) to dissect; "
                               f"an MLP generator has none")
        return chosen
    out = []
    for given in ([layers] if isinstance(layers, (str, Layer)) else list(layers)):
        lay = given if isinstance(given, Layer) else table.resolve(given)
        name = lay.name if isinstance(given, Layer) else given
        if lay.name == table.output.name:
            raise GanlensError(f"layer {name!r}: the output has no units to dissect; use a hidden layer")
        if not lay.spatial or lay.side < 2:
            raise GanlensError(f"layer {name!r} ({lay.name}, {lay.channels}x{lay.side}x{lay.side}) has no spatial "
                               f"map of side >= 2 to dissect")
        if lay.name not in [o.name for o in out]:
            out.append(lay)
    if not out:
        raise GanlensError("layers: name at least one layer")
    return out


def interp_matrix(n_in: int, n_out: int, device=None) -> torch.Tensor:
    """(n_out, n_in): 1-D linear interpolation as ``F.interpolate(..., align_corners=False)`` does it, so that
    ``U @ a @ U.T`` is the bilinear upsampling of a (n_in, n_in) map (exact up to float rounding)."""
    eye = torch.eye(n_in, device=device)[:, None, :]
    return F.interpolate(eye, size=n_out, mode="linear", align_corners=False)[:, 0, :].T.contiguous()


def forward(gan, z: torch.Tensor, layers: list[Layer]) -> tuple[torch.Tensor, dict]:
    """(images (B, nc, S, S) float CPU, {layer name: activations (B, C, h, w) float on G's device}) in one pass."""
    names = [lay.name for lay in layers]
    with hooks.retain(gan.G, names) as store:
        x = images(gan, z, batch=len(z))
    return x, {name: store[name].float() for name in names}


def chunks(n: int, size: int = CHUNK):
    for i in range(0, n, size):
        yield i, min(n, i + size)


# --- pass 1: exact per-unit quantiles ----------------------------------------------------------------------

class _Levels:
    """Running exact top values of every unit of one layer (and its sum, and its strongest samples)."""

    def __init__(self, lay: Layer, n: int, quantile: float):
        self.c = lay.channels
        self.k = max(1, math.ceil((1.0 - quantile) * n * lay.shape[1] * lay.shape[2]))
        self.count = n * lay.shape[1] * lay.shape[2]
        self.top = self.total = self.best = self.best_idx = None

    def add(self, a: torch.Tensor, offset: int) -> None:
        """a: (B, C, h, w) activations of samples offset .. offset + B - 1."""
        v = a.transpose(0, 1).reshape(self.c, -1)
        top = v if self.top is None else torch.cat([self.top, v], 1)
        self.top = top.topk(min(self.k, top.shape[1]), dim=1, sorted=False).values
        s = v.double().sum(1)
        self.total = s if self.total is None else self.total + s
        mx = a.amax((2, 3)).T                                              # (C, B)
        idx = torch.arange(offset, offset + a.shape[0], device=a.device).expand(self.c, -1)
        vals = mx if self.best is None else torch.cat([self.best, mx], 1)
        idxs = idx if self.best_idx is None else torch.cat([self.best_idx, idx], 1)
        order = vals.topk(min(TOP_SAMPLES, vals.shape[1]), dim=1).indices
        self.best, self.best_idx = vals.gather(1, order), idxs.gather(1, order)

    def result(self) -> LayerStats:
        return LayerStats(self.top.min(1).values, self.top.mean(1), (self.total / self.count).float(),
                          self.best_idx.cpu().numpy(), self.k)


def quantile_pass(gan, layers: list[Layer], n: int, quantile: float) -> dict[str, LayerStats]:
    """Pass 1 over samples 0 .. n-1: per layer, each unit's exact ``quantile`` (its threshold), the mean of its
    values above it (level), its mean, and its TOP_SAMPLES strongest samples (:class:`LayerStats`)."""
    levels = {lay.name: _Levels(lay, n, quantile) for lay in layers}
    with torch.inference_mode():
        for i, j in chunks(n):
            _, acts = forward(gan, gan.latents(range(i, j)), layers)
            for name, lv in levels.items():
                lv.add(acts[name], i)
    return {name: lv.result() for name, lv in levels.items()}


# --- pass 2: IoU counts -----------------------------------------------------------------------------------

def labels_tensor(maps: np.ndarray, k: int, device) -> torch.Tensor:
    """Class maps (B, S, S) -> (B, S*S) int64 on ``device``; values outside 0..k-1 become k (no class)."""
    m = torch.from_numpy(maps).to(device).reshape(len(maps), -1)
    return torch.where((m >= 0) & (m < k), m, torch.full_like(m, k))


def count_layer(a: torch.Tensor, t: torch.Tensor, Uh: torch.Tensor, Uw: torch.Tensor, labels: torch.Tensor, k: int,
                inter: torch.Tensor, fired: torch.Tensor) -> None:
    """Add one chunk of one layer to ``fired`` (C,) pixels above threshold and ``inter`` (C, k) of them per class.

    a: (B, C, h, w) activations, t: (C,) thresholds, labels: (B, S*S) class per pixel. A bilinear value is a
    convex combination of at most 4 cells, so a map with no cell >= t cannot fire: only the (sample, unit)
    pairs with such a cell (about 1% of the pairs on the coarsest layers) are upsampled, in slices of at
    most ELEMS values. Counts are exact (the result equals upsampling every map).
    """
    hot = (a >= t[None, :, None, None]).flatten(2).any(2)                      # (B, C)
    bi, ui = hot.nonzero(as_tuple=True)
    step = max(1, ELEMS // (Uh.shape[0] * Uw.shape[0]))
    present = torch.bincount(labels.reshape(-1), minlength=k + 1).nonzero().squeeze(1)  # sorted class ids here:
    # only the classes in this chunk are counted, so 5,000 names cost no more than 3
    m, cls = len(present), present[present < k]
    compact = torch.searchsorted(present, labels)                             # (B, S*S) in 0..m-1
    for s in range(0, len(bi), step):
        b, u = bi[s:s + step], ui[s:s + step]
        fire = (Uh @ a[b, u] @ Uw.T > t[u][:, None, None]).flatten(1)          # (p, S*S)
        p, pix = fire.nonzero(as_tuple=True)
        per = torch.bincount(p * m + compact[b[p], pix], minlength=len(b) * m).view(len(b), m)
        fired.index_add_(0, u, per.sum(1).double())                            # every fired pixel, any class
        inter.index_put_((u[:, None], cls[None, :]), per[:, :len(cls)].double(), accumulate=True)


def iou_pass(gan, layers: list[Layer], n: int, thresholds: dict[str, torch.Tensor], seg: Segmentation) -> Counts:
    """Pass 2 over the same samples: per layer the pixels where each unit fires above ``thresholds`` (C,), of
    them per class, and the class-present sums (:func:`effects.add_present`); pixels and images (with >= the
    minimum area) of each class (:class:`Counts`, float64, CPU)."""
    K, dev = len(seg.classes), gan.device
    acc = {lay.name: LayerCounts.zeros(lay.channels, K, dev) for lay in layers}
    class_pixels, class_images = torch.zeros(K, dtype=torch.float64), torch.zeros(K, dtype=torch.float64)
    mats: dict[tuple[int, int], torch.Tensor] = {}
    side = None
    with torch.inference_mode():
        for i, j in chunks(n):
            x, acts = forward(gan, gan.latents(range(i, j)), layers)
            maps = seg(x)
            side = maps.shape[-1]
            labels = labels_tensor(maps, K, dev)
            per_image = torch.zeros(len(labels), K + 1, dtype=torch.float64, device=dev)
            per_image.scatter_add_(1, labels, torch.ones_like(labels, dtype=torch.float64))
            class_pixels += per_image[:, :K].sum(0).cpu()
            class_images += (per_image[:, :K] >= seg.min_pixels(side)).sum(0).cpu()
            for lay in layers:
                a, c = acts[lay.name], acc[lay.name]
                h, w = a.shape[-2:]
                Uh = mats.setdefault((h, side), interp_matrix(h, side, dev))
                Uw = mats.setdefault((w, side), interp_matrix(w, side, dev))
                count_layer(a, thresholds[lay.name], Uh, Uw, labels, K, c.inter, c.fired)
                fx.add_present(c, a, fx.class_shares(labels, K, side, (h, w)))
    return Counts({name: c.cpu() for name, c in acc.items()}, class_pixels, class_images, side)


def iou_matrix(inter: torch.Tensor, fired: torch.Tensor, class_pixels: torch.Tensor) -> np.ndarray:
    """IoU (C, K) = inter / (fired + class pixels - inter), 0 where the union is empty."""
    union = fired[:, None] + class_pixels[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter)).numpy()
