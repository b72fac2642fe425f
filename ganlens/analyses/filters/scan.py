"""The pass over the data: each unit's top-K images (:func:`search_top`, :func:`scan`) and its quantile
threshold and firing level (:func:`tail_quantile`, :func:`firing_cut`), streamed in batches with bounded
memory, for the trained D and every random D at once."""

from __future__ import annotations

import math
import sys

import torch
from torch import nn
from tqdm import tqdm

from ganlens.analyses.api import renamed
from ganlens.analyses.filters.acts import as_layer, responses, unit_maps
from ganlens.analyses.filters.defs import CHUNK, MAP_CACHE_BYTES, QUANTILE
from ganlens.analyses.filters.record import Scan, Top
from ganlens.core.errors import require_memory
from ganlens.core.layers import Layer
from ganlens.data.sets import ImageSet, iter_chunks, to_float


def screen_bf16(device: torch.device) -> bool:
    """Screen in bf16 where it is fast: CUDA, or a CPU with native bf16 (oneDNN); float32 elsewhere."""
    if device.type == "cuda":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _bar(n: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=n, desc=desc, unit="img", disable=not progress, dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 30)


def _rescore(D, layer: Layer, data, idx, k, batch_size, v, i, p, device):
    """Exact float32 values and argmax of the bf16 screen's candidates (k', U) -> the final top-k."""
    cand = torch.unique(i.flatten())
    x = to_float(torch.stack([data[j] for j in cand.tolist()]).to(device))
    ex = [responses(D, layer, x[s:s + batch_size], idx, False)[:2] for s in range(0, len(x), batch_size)]
    ex_v, ex_p = torch.cat([e[0] for e in ex]), torch.cat([e[1] for e in ex])    # (len(cand), U)
    row = torch.searchsorted(cand, i)                   # (k', U): candidate row of each image
    col = torch.arange(len(idx), device=device).expand_as(i)
    v, p = ex_v[row, col], ex_p[row, col]
    top = v.topk(min(k, len(v)), dim=0)
    return top.values, i.gather(0, top.indices), p.gather(0, top.indices)


@renamed(n_images="n", chunk="batch_size")
def search_top(nets: dict[str, nn.Module], layer: Layer | str, data: ImageSet, units: list[int], k: int,
               n: int, device: torch.device, batch_size: int = CHUNK, progress: bool = True,
               bf16: bool | None = None) -> dict[str, Top]:
    """Top-``k`` images per unit among the first ``n`` of ``data``, for every net, in one pass.

    A unit's response to an image is its largest activation over spatial positions. Memory holds one
    batch of images and (k' + batch) x U candidates per net, whatever ``n`` is. The pass runs in bf16
    autocast where that is fast (``bf16=None``: CUDA or a CPU with native bf16) and keeps k' = max(4k, k+8)
    candidates per unit, re-scored in float32: values and argmax positions are the exact float32 ones
    (docs/methods.md, filters).
    """
    layer = as_layer(next(iter(nets.values())), layer)
    bf16 = screen_bf16(device) if bf16 is None else bf16
    keep = max(4 * k, k + 8) if bf16 else k
    idx = torch.as_tensor(units, device=device)
    best: dict[str, tuple] = {}
    width = 1
    n = min(n, len(data))
    bar = _bar(n, "search", progress)
    for start, batch in iter_chunks(data, batch_size, n):
        x = to_float(batch.to(device)).contiguous(memory_format=torch.channels_last)
        ids = torch.arange(start, start + len(batch), device=device)[:, None].expand(-1, len(units))
        for key, D in nets.items():
            vals, arg, width = responses(D, layer, x, idx, bf16)    # (B, U)
            best[key] = _merge_top(best.get(key), vals, ids, arg, keep)
        bar.update(len(batch))
    bar.close()
    out = {}
    for key, (v, i, p) in best.items():
        if bf16:
            v, i, p = _rescore(nets[key], layer, data, idx, k, batch_size, v, i, p, device)
        out[key] = _as_top(v, i, p, width)
    return out


def _merge_top(best: tuple | None, vals: torch.Tensor, ids: torch.Tensor, arg: torch.Tensor, keep: int) -> tuple:
    """The ``keep`` largest of the candidates so far (values, image ids, flat argmax; each (k', U)) and a
    new batch's (B, U)."""
    if best is not None:
        vals, ids, arg = torch.cat([best[0], vals]), torch.cat([best[1], ids]), torch.cat([best[2], arg])
    top = vals.topk(min(keep, len(vals)), dim=0)
    return top.values, ids.gather(0, top.indices), arg.gather(0, top.indices)


def _as_top(v: torch.Tensor, i: torch.Tensor, p: torch.Tensor, width: int) -> Top:
    pos = torch.stack([p // width, p % width], dim=-1)       # (K, U, 2) as (y, x)
    return Top(v.T.float().cpu(), i.T.cpu(), pos.transpose(0, 1).cpu())


def tail_size(total: int, quantile: float) -> int:
    """How many of the largest of ``total`` values fix their ``quantile`` (numpy's linear interpolation)."""
    return min(total, math.ceil((1 - quantile) * total) + 2)


def tail_quantile(tail: torch.Tensor, total: int, quantile: float) -> torch.Tensor:
    """The ``quantile`` (linear interpolation, as numpy and torch.quantile) of ``total`` values per row,
    from the :func:`tail_size` largest of them sorted descending, (U, m) -> (U,)."""
    pos = quantile * (total - 1)
    lo = math.floor(pos)
    d = total - 1 - lo                         # descending index of the value at ascending index lo
    upper = tail[:, d - 1] if d >= 1 else tail[:, d]
    return tail[:, d] + (pos - lo) * (upper - tail[:, d])


def firing_cut(tail: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """The level (U,) a unit's activations are compared with to fire, from its tail (U, m) sorted descending
    and its quantile ``threshold`` (U,): halfway between the smallest scanned value above the threshold and the
    largest one at or below it. It fires on exactly the scanned values the threshold does, but a value
    recomputed an ulp away (another batch, another CPU) does not flip (docs/methods.md, filters: firing level).
    """
    above = (tail > threshold[:, None]).sum(1)                     # scanned values above, all in the tail
    if tail.shape[1] <= int(above.max()):                          # degenerate tail: keep the threshold
        return threshold.clone()
    rows = torch.arange(len(tail))
    lo = tail[rows, above].double()                                # largest value at or below the threshold
    hi = tail[rows, (above - 1).clamp(min=0)].double()             # smallest value above it
    mid = (lo + (hi - lo) / 2).float()
    mid = torch.where(mid.double() >= hi, lo.float(), mid)         # adjacent floats: the lower one
    return torch.where(above > 0, mid, threshold)


@renamed(n_images="n", chunk="batch_size")
def scan(nets: dict[str, nn.Module], layer: Layer | str, data: ImageSet, units: list[int], k: int, n: int,
         device: torch.device, *, quantile: float = QUANTILE, batch_size: int = CHUNK, progress: bool = True,
         keep_maps: bool | None = None) -> dict[str, Scan]:
    """One float32 pass over the first ``n`` images of ``data`` through every net: the top-``k`` responses
    of each unit (as :func:`search_top`) and its ``quantile`` threshold over the raw activations at every
    position of every image (exact: the largest :func:`tail_size` values per unit are kept).

    Memory: one batch of images, (k + batch) x U candidates and the tail per net; the units' maps
    (N, U, h, w) are kept for :func:`~ganlens.analyses.filters.iou.concept_iou` when ``keep_maps`` (None:
    when all nets' maps take at most ``MAP_CACHE_BYTES``), else that pass runs the nets again.
    """
    layer = as_layer(next(iter(nets.values())), layer)
    idx = torch.as_tensor(units, device=device)
    n = min(n, len(data))
    best, tails, maps, total, width = {}, {}, {key: [] for key in nets}, 0, 1
    bar = _bar(n, "scan", progress)
    for start, batch in iter_chunks(data, batch_size, n):
        x = to_float(batch.to(device)).contiguous(memory_format=torch.channels_last)
        ids = torch.arange(start, start + len(batch), device=device)[:, None].expand(-1, len(units))
        for key, D in nets.items():
            a = unit_maps(D, layer, x, idx)                          # (B, U, h, w)
            if not total:
                total, keep_maps, width = *_scan_budget(a, n, len(nets), quantile, keep_maps), a.shape[-1]
            vals, arg = a.flatten(2).max(dim=2)
            best[key] = _merge_top(best.get(key), vals, ids, arg, k)
            flat = a.transpose(0, 1).reshape(len(units), -1)
            flat = torch.cat([tails[key], flat], 1) if key in tails else flat
            tails[key] = flat.topk(min(tail_size(total, quantile), flat.shape[1]), dim=1).values
            if keep_maps:
                maps[key].append(a.cpu())
        bar.update(len(batch))
    bar.close()
    out = {}
    for key in nets:
        threshold = tail_quantile(tails[key], total, quantile)
        out[key] = Scan(_as_top(*best[key], width), threshold.cpu(), torch.cat(maps[key]) if keep_maps else None,
                        firing_cut(tails[key], threshold).cpu())
    return out


def _scan_budget(a: torch.Tensor, n: int, n_nets: int, quantile: float, keep_maps: bool | None):
    """(values per unit over the data, whether to keep the maps) from the first batch's maps (B, U, h, w);
    refuses a tail that would not fit in memory."""
    total = n * a.shape[2] * a.shape[3]
    require_memory(4.0 * n_nets * a.shape[1] * 2 * tail_size(total, quantile),
                   f"the quantile thresholds of {a.shape[1]} units over {total} positions")
    if keep_maps is None:
        keep_maps = 4.0 * n_nets * a.shape[1] * total <= MAP_CACHE_BYTES
    return total, keep_maps
