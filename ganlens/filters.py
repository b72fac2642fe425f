"""What do discriminator units respond to? ``ganlens.filters(gan, images)`` and
``python -m ganlens.filters`` (the paper's Fig. 5), on any discriminator.

For each chosen unit (channel) of a layer of D, find the K images (of the first N) with the largest
single spatial activation (the "maximal axis-aligned response"), guided-backprop that activation at its
argmax position back to the input (:mod:`ganlens.guided`, correct on LeakyReLU, always in eval mode) and
show the unit's receptive-field crop of the image beside the guided map, for the trained D and for a D
of the same architecture randomly initialised as in training (:func:`ganlens.gan.random_like`).

The headline is a **semantic** score, ``filters.json["semantic"]``: what a unit responds to, for **every
unit of the layer** (scored in the one streamed pass), and the trained layer compared with the same layer of
``random_draws`` (default 5) random Ds as a whole (:mod:`ganlens.filters_layer`): the number of detectors,
a Mann-Whitney test of the units' scores against each draw, and the count of trained units above the best
draw against its chance level. Channel indices of independently initialised networks do not correspond,
so no unit is compared with "the same" unit of a random D. The figure shows each net's highest-scoring
units (``units`` / ``--units`` picks others).

* with masks (the rooms masks when the data is rooms; a mask folder or a ``ganlens.boxes/1`` file on the
  data's images, ``--masks``): Network-Dissection IoU (Bau et al. 2017). The unit's activation map is
  upsampled to the image (bilinear), thresholded at the unit's top quantile ``quantile`` (default 0.995,
  as in NetDissect: the level exceeded by 0.5% of the unit's raw activations over every position of every
  image searched) and compared with each concept's mask; intersection and union are summed over the
  images (streamed in chunks), IoU = sum |fired & concept| / sum |fired | concept|. The unit's label is
  its best concept. A unit without a spatial map (a Linear layer, 1x1) is constant over the image once
  upsampled: it fires on whole images, so its IoU only says on which images it fires ("spatial": false).
* with class labels (image-folder class sub-folders, ``labels`` in an ``.npz``): purity of the unit's
  top-k images (k = min(``purity_top``, N/10)): the share of the most common class among them, beside
  that class's share of all N images (its prior); lift = purity / prior; p-value against a label-permutation
  null of the max-class purity (the class is picked as the largest, so an interval for it would be biased);
  detectors: Benjamini-Hochberg discoveries among the layer's units.

The lag-1 spatial autocorrelation of the guided maps, the old headline, is kept as a descriptive number
(``filters.json["descriptive"]["autocorrelation"]``): it measures smoothness, not selectivity.

    r = ganlens.filters(gan, "rooms", top=4)                # or an ImageSet from ganlens.data.open_images
    r["semantic"]["iou"]["layer"]["detectors"], r.figure(), r.save("out/filters")

Pipeline (compute -> Result -> save -> plot from what was saved):
  :func:`scan`            streams the data once, in chunks, through every net: top-K per unit and the
                          units' quantile thresholds, bounded memory
  :func:`concept_iou`     a second stream over the masks: intersections and unions per unit and concept
  :func:`ganlens.filters_layer.purity_units`  class purity of each unit's top-k images, permutation p
  :func:`visualise`       guided backprop of the K x U chosen activations, cropped to the receptive field
  :func:`receptive_field` (start, size, stride) of a layer's units, for any network
  :func:`structure`       the autocorrelation of one guided map (descriptive)

Layers are named by module path or alias (``last``: D's last hidden layer). A Linear layer (B, C) is a
(C, 1, 1) map: its one position is (0, 0) and its receptive field is the whole image (stride 0).
``--units N`` means channel indices 0..N-1, as in the paper ("the first 6 learned convolutional
features"), shown for every net. Errors name the command-line flag
(``--units``, ``--top``) that matches each keyword argument.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from ganlens import cli
from ganlens.core import figures
from ganlens import filters_layer as flayer
from ganlens.data.sets import (FolderSet, ImageSet, RoomsSet, for_model, image_files, iter_chunks, mask_files, mask_names, read_mask, to_float)
from ganlens.core.errors import GanlensError, require_at_least, require_memory
from ganlens.core.guided import eval_no_inplace, guided_backprop
from ganlens.core.hooks import channels_last, layer_module, retain
from ganlens.core.results import Result, provenance
from ganlens.analyses.api import analysis_module

PROG = "python -m ganlens.filters"
EXAMPLES = f"""  {PROG}                                   # shipped rooms model, rooms masks, units 0-5
  {PROG} --checkpoint runs/rooms64/last.pt --units 12 --top 3 --out figs/filters
  {PROG} --checkpoint netD_epoch_24.pth --data ~/celeba/ --masks ~/celeba-masks/ --units 3,17,40
  {PROG} --model my_gan.py:build --data digits.npz --layer list     # your own networks: their layers
  {PROG} --data ~/photos/ --masks windows.json          # a box file whose seeds are image indices
  {PROG} --n-images 20000 --random-draws 10 --device cuda
"""
SCORE = "autocorrelation"
SCORE_DOC = ("spatial autocorrelation of the guided map inside the receptive field: the mean of the "
             "lag-1 Pearson correlations between horizontally and vertically adjacent pixels of the "
             "colour-summed map, over the pixels that lie in the image; ~0 for pixel noise, towards 1 "
             "for maps made of smooth strokes and regions. Descriptive only: it measures smoothness, not "
             "what the unit responds to (an untrained D with spatially constant kernels scores high)")
QUANTILE = 0.995      # NetDissect's top quantile (Bau et al. 2017): a unit fires on its top 0.5% activations
DETECTOR_IOU = 0.04   # NetDissect calls a unit a detector of a concept above this IoU
PURITY_TOP = 100
RANDOM_DRAWS = 5
MAP_CACHE_BYTES = 512 * 2 ** 20   # keep the units' maps from the first pass (no second D pass) up to this size
NO_SEMANTIC = "no masks or labels: semantic score not measured"
NOT_SPATIAL = ("the layer's units have no spatial map (1x1): upsampled, a map is constant, so a unit fires on whole "
               "images and its IoU only measures on which images it fires, weighted by the concept's area in them")
IOU_DOC = ("Network-Dissection IoU (Bau et al. 2017): the unit's activation map is upsampled to the image "
           "(bilinear, align_corners=False), thresholded at its top-quantile level T (P(activation > T) = "
           "1 - quantile over the raw activations at every position of the N images searched; numpy's "
           "linear interpolation) and compared with each concept's mask; IoU = sum over images |fired & "
           "concept| / sum over images |fired | concept|. The unit's label is its best concept; precision: "
           "the share of the unit's fired pixels that lie in that concept; lift: precision / the concept's "
           "pixel_share (1 = no preference); "
           "fired_share: the share of all pixels where the unit fires")
PURITY_DOC = ("purity of the unit's top-k images (largest activation over positions): the share of the most "
              "common class among them; prior: that class's share of all N images searched; lift = purity / "
              "prior (1 = no selectivity); p_value: against the label-permutation null of the max-class purity")
SHOW = 6              # units shown in the figure by default: each net's highest-scoring
OUTSIDE = 0.85   # grey for receptive-field pixels that fall outside the image
CHUNK = 256
CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.LPPool1d,
         nn.LPPool2d)
RELAYOUT = (nn.Flatten, nn.Unflatten)   # change the shape, not which pixels a number depends on


@dataclass
class Top:
    """The K strongest responses per unit: values, image indices and (y, x) argmax, each (U, K)/(U, K, 2)."""

    values: torch.Tensor
    images: torch.Tensor
    positions: torch.Tensor

    def first(self, k: int) -> "Top":
        """The K' <= K strongest (they are sorted)."""
        return Top(self.values[:, :k], self.images[:, :k], self.positions[:, :k])

    def rows(self, units: list[int]) -> "Top":
        """Only the rows of ``units`` (row = unit index when every unit of the layer was scanned)."""
        idx = torch.as_tensor(units, dtype=torch.long)
        return Top(self.values[idx], self.images[idx], self.positions[idx])


@dataclass
class Scan:
    """One net's pass over the data (:func:`scan`): its top responses, each unit's quantile threshold (U,),
    the level a unit is compared with to fire (U,, :func:`firing_cut`) and, when they fit in memory, the
    units' activation maps (N, U, h, w) float32 on the CPU (else None)."""

    top: Top
    threshold: torch.Tensor
    maps: torch.Tensor | None
    cut: torch.Tensor


# ------------------------------------------------------------------------------------ receptive field

def _first(v) -> int:
    return int(v[0] if isinstance(v, (tuple, list)) else v)


def _window(m: nn.Module) -> tuple[int, int, int]:
    """(kernel extent incl. dilation, stride, padding) of a conv or pooling module, along rows."""
    k, d = _first(m.kernel_size), _first(getattr(m, "dilation", 1))
    s = _first(m.stride if m.stride is not None else k)   # pools: stride None = kernel size
    p = getattr(m, "padding", 0)
    if isinstance(p, str):   # conv padding "valid" / "same"
        p = 0 if p == "valid" else d * (k - 1) // 2
    return d * (k - 1) + 1, s, _first(p)


def _calls_until(net: nn.Module, target: nn.Module, x: torch.Tensor) -> list[tuple[nn.Module, tuple, tuple]]:
    """(module, input shape, output shape) of every module call that ends before ``target``'s output is
    made (``target`` included), in execution order; one forward pass on ``x`` in eval mode."""
    skip = {m for p, m in net.named_modules() if ".parametrizations." in f".{p}."}  # weight transforms
    calls, done, handles = [], [], []

    def hook(m, inputs, out):
        if done or m in skip:
            return
        inp = inputs[0] if isinstance(inputs, tuple) and inputs else inputs
        if isinstance(inp, torch.Tensor) and isinstance(out, torch.Tensor):
            calls.append((m, tuple(inp.shape), tuple(out.shape)))
        if m is target:
            done.append(True)

    try:
        for m in net.modules():
            handles.append(m.register_forward_hook(hook))
        with torch.no_grad(), eval_no_inplace(net):
            net(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def receptive_field(D: nn.Module, layer: str, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(start, size, stride) of a layer's units in input pixels: the unit at (y, x) sees rows
    ``start + y*stride`` .. ``start + y*stride + size - 1`` (same for columns; may reach outside the image).

    Walks the modules in the order one forward pass on zeros of ``image_shape`` (C, H, W) runs them up
    to the layer: convolutions and pools (kernel, stride, padding, dilation) grow the field; a Linear,
    an adaptive pool or any other module that changes the spatial size mixes every pixel, so from there
    on every unit sees the whole image (start 0, size H, stride 0). Exact for networks that run as a
    chain (every DCGAN-like D); functional pooling inside a ``forward`` is not seen.
    """
    name, target = layer_module(D, layer)
    dev = next(iter(D.parameters()), torch.zeros(0)).device
    calls = _calls_until(D, target, torch.zeros(2, *image_shape, device=dev))
    start, size, stride = 0, 1, 1
    whole = (0, int(image_shape[1]), 0)
    for m, ins, outs in calls:
        if isinstance(m, CONVS + POOLS):
            k, s, p = _window(m)
            start, size, stride = start - p * stride, size + (k - 1) * stride, stride * s
        elif isinstance(m, (nn.Linear, nn.Bilinear)) or (
                not isinstance(m, RELAYOUT) and not list(m.children()) and ins[2:] != outs[2:]):
            start, size, stride = whole
    return start, size, stride


# ------------------------------------------------------------------------------------------- units

def units_text(units) -> str:
    """The ``--units`` spelling of a units argument: 6 -> "6", [3, 17] -> "3,17", [12] -> "12,"."""
    if isinstance(units, (list, tuple)):
        return ",".join(map(str, units)) + ("," if len(units) == 1 else "")
    return str(units)


def parse_units(units, n_channels: int, layer: str) -> list[int]:
    """``6`` or ``"6"`` -> the first 6 channels; ``"3,17,40"`` (or ``"12,"``) or ``[3, 17, 40]`` -> those."""
    text = units_text(units)
    try:
        if "," in text:
            picked = [int(t) for t in text.split(",") if t.strip()]
        else:
            count = int(text)
            if count < 1:
                raise GanlensError(f"--units {text}: need at least one unit")
            if count > n_channels:
                raise GanlensError(f"--units {text}: layer {layer} has only {n_channels} units")
            picked = list(range(count))
    except ValueError:
        raise GanlensError(f"--units {text}: expected a count (6) or a comma list of unit indices (3,17,40)")
    if not picked:
        raise GanlensError(f"--units {text}: no unit given")
    bad = [u for u in picked if not 0 <= u < n_channels]
    if bad:
        raise GanlensError(f"--units {text}: unit {bad[0]} is out of range; layer {layer} has units "
                           f"0..{n_channels - 1}")
    if len(set(picked)) != len(picked):
        raise GanlensError(f"--units {text}: a unit is listed twice")
    return picked


# ------------------------------------------------------------------------------------------ search

def _screen_bf16(device: torch.device) -> bool:
    """Screen in bf16 where it is fast: CUDA, or a CPU with native bf16 (oneDNN); float32 elsewhere."""
    if device.type == "cuda":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _responses(D: nn.Module, layer: str, x: torch.Tensor, idx: torch.Tensor, bf16: bool):
    """(max over positions, flat argmax), each (B, U), and the map width, of units ``idx`` of ``layer``
    for images x in [-1, 1]. D runs in eval mode without in-place ops (:func:`ganlens.guided.eval_no_inplace`):
    a module path whose output a later in-place activation overwrites is read as it was made."""
    with torch.inference_mode(), torch.autocast(x.device.type, torch.bfloat16, enabled=bf16), \
            eval_no_inplace(D), retain(D, layer) as acts:
        D(x)
    a = next(iter(acts.values()))
    a = a[:, :, None, None] if a.dim() == 2 else a
    vals, arg = a[:, idx].flatten(2).float().max(dim=2)
    return vals, arg, a.shape[-1]


def _rescore(D, layer, data, idx, k, chunk, v, i, p, device):
    """Exact float32 values and argmax of the bf16 screen's candidates (k', U) -> the final top-k."""
    cand = torch.unique(i.flatten())
    x = to_float(torch.stack([data[j] for j in cand.tolist()]).to(device))
    ex = [_responses(D, layer, x[s:s + chunk], idx, False)[:2] for s in range(0, len(x), chunk)]
    ex_v, ex_p = torch.cat([e[0] for e in ex]), torch.cat([e[1] for e in ex])    # (len(cand), U)
    row = torch.searchsorted(cand, i)                   # (k', U): candidate row of each image
    col = torch.arange(len(idx), device=device).expand_as(i)
    v, p = ex_v[row, col], ex_p[row, col]
    top = v.topk(min(k, len(v)), dim=0)
    return top.values, i.gather(0, top.indices), p.gather(0, top.indices)


def search_top(nets: dict[str, nn.Module], layer: str, data: ImageSet, units: list[int], k: int,
               n_images: int, device: torch.device, chunk: int = CHUNK, progress: bool = True,
               bf16: bool | None = None) -> dict[str, Top]:
    """Top-``k`` images per unit among the first ``n_images`` of ``data``, for every net, in one pass.

    A unit's response to an image is its largest activation over spatial positions. Memory holds one
    chunk of images and (k' + chunk) x U candidates per net, whatever ``n_images`` is.

    Speed: the pass runs in bf16 autocast where that is fast (``bf16=None``: CUDA or a CPU with native
    bf16; 1.7x on a 2-core AVX512-BF16 CPU for ndf=64) and keeps k' = max(4k, k+8) candidates per unit;
    those candidates are then re-scored in float32 and the final top-k, values and argmax positions are
    the exact float32 ones. (bf16 keeps 8 mantissa bits, so only near-ties within ~1% can trade places in
    the screen, and the 4x margin absorbs them.)
    """
    bf16 = _screen_bf16(device) if bf16 is None else bf16
    keep = max(4 * k, k + 8) if bf16 else k
    idx = torch.as_tensor(units, device=device)
    best: dict[str, tuple] = {}
    width = 1
    n = min(n_images, len(data))
    bar = tqdm(total=n, desc="search", unit="img", disable=not progress, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30)
    for start, batch in iter_chunks(data, chunk, n):
        x = to_float(batch.to(device)).contiguous(memory_format=torch.channels_last)
        ids = torch.arange(start, start + len(batch), device=device)[:, None].expand(-1, len(units))
        for key, D in nets.items():
            vals, arg, width = _responses(D, layer, x, idx, bf16)    # (B, U)
            best[key] = _merge_top(best.get(key), vals, ids, arg, keep)
        bar.update(len(batch))
    bar.close()
    out = {}
    for key, (v, i, p) in best.items():
        if bf16:
            v, i, p = _rescore(nets[key], layer, data, idx, k, chunk, v, i, p, device)
        out[key] = _as_top(v, i, p, width)
    return out


def _merge_top(best: tuple | None, vals: torch.Tensor, ids: torch.Tensor, arg: torch.Tensor, keep: int) -> tuple:
    """The ``keep`` largest of the candidates so far (values, image ids, flat argmax; each (k', U)) and a
    new chunk's (B, U)."""
    if best is not None:
        vals, ids, arg = torch.cat([best[0], vals]), torch.cat([best[1], ids]), torch.cat([best[2], arg])
    top = vals.topk(min(keep, len(vals)), dim=0)
    return top.values, ids.gather(0, top.indices), arg.gather(0, top.indices)


def _as_top(v: torch.Tensor, i: torch.Tensor, p: torch.Tensor, width: int) -> Top:
    pos = torch.stack([p // width, p % width], dim=-1)       # (K, U, 2) as (y, x)
    return Top(v.T.float().cpu(), i.T.cpu(), pos.transpose(0, 1).cpu())


def unit_maps(D: nn.Module, layer: str, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Activation maps (B, U, h, w) float32 of units ``idx`` of ``layer`` for images x in [-1, 1] (a (B, C)
    output is (B, U, 1, 1)); D in eval mode without in-place ops, as in :func:`search_top`."""
    with torch.inference_mode(), eval_no_inplace(D), retain(D, layer) as acts:
        D(x)
    a = next(iter(acts.values()))
    a = a[:, :, None, None] if a.dim() == 2 else a
    return a[:, idx].float()


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
    largest one at or below it.

    Every level in that gap fires on exactly the same scanned values as the threshold itself, so the
    definition (P(activation > T) = 1 - quantile) is unchanged; but the threshold is often one of the
    activations (its position quantile x (total - 1) is a whole number), and the same activation computed
    again in another batch can differ by an ulp or two, so ``a > T`` would fire or not depending on the
    batching and the CPU's kernels. Halfway, it takes a change of half the gap to flip a decision.
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


def scan(nets: dict[str, nn.Module], layer: str, data: ImageSet, units: list[int], k: int, n_images: int,
         device: torch.device, *, quantile: float = QUANTILE, chunk: int = CHUNK, progress: bool = True,
         keep_maps: bool | None = None) -> dict[str, Scan]:
    """One float32 pass over the first ``n_images`` of ``data`` through every net: the top-``k`` responses
    of each unit (as :func:`search_top`) and its ``quantile`` threshold over the raw activations at every
    position of every image (exact: the largest :func:`tail_size` values per unit are kept).

    Memory: one chunk of images, (k + chunk) x U candidates and the tail per net; the units' maps
    (N, U, h, w) are kept for :func:`concept_iou` when ``keep_maps`` (None: when all nets' maps take at
    most ``MAP_CACHE_BYTES``), else that pass runs the nets again.
    """
    idx = torch.as_tensor(units, device=device)
    n = min(n_images, len(data))
    best, tails, maps, total, width = {}, {}, {key: [] for key in nets}, 0, 1
    bar = tqdm(total=n, desc="scan", unit="img", disable=not progress, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30)
    for start, batch in iter_chunks(data, chunk, n):
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
    """(values per unit over the data, whether to keep the maps) from the first chunk's maps (B, U, h, w);
    refuses a tail that would not fit in memory."""
    total = n * a.shape[2] * a.shape[3]
    require_memory(4.0 * n_nets * a.shape[1] * 2 * tail_size(total, quantile),
                   f"the quantile thresholds of {a.shape[1]} units over {total} positions")
    if keep_maps is None:
        keep_maps = 4.0 * n_nets * a.shape[1] * total <= MAP_CACHE_BYTES
    return total, keep_maps


# ---------------------------------------------------------------------------------------- concept masks

@dataclass
class Masks:
    """Per-pixel concept masks for images of a data set, read a chunk at a time.

    read: image indices (B,) int array -> (B, H, W) int64 masks at the model's image size, values >= 0.
    names: {mask value: concept name} of the values that are concepts (None: every value that occurs, named
    "class <v>"). images: indices of the images that have a mask (None: every image). spec, kind: where
    the masks came from ("rooms", "folder", "boxes", "array"), for the JSON.
    """

    read: Callable[[np.ndarray], np.ndarray]
    names: dict[int, str] | None
    spec: str
    kind: str
    images: np.ndarray | None = None

    def rows(self, n: int) -> np.ndarray:
        """The indices, among the first ``n`` images, that have a mask."""
        return np.arange(n) if self.images is None else self.images[self.images < n]


def open_masks(masks, data: ImageSet, size: int) -> Masks | None:
    """Concept masks for ``data``: None -> the rooms masks when the data is rooms, else none; False -> none;
    a :class:`Masks`; an integer array (N, size, size) (one mask per image, every value a concept); a path:
    a mask folder (one integer PNG per image: paired by name with an image folder, else in sorted order;
    optional ``classes.txt`` names the values) or a ``ganlens.boxes/1`` file (.json) on the data's images,
    whose sample ``seed`` is the image's index in the data (0-based; the latent block is not used)."""
    if masks is False:
        return None
    if masks is None:
        if isinstance(data, RoomsSet):
            from ganlens.data.rooms import CLASSES
            return Masks(lambda idx: _rooms_masks(data, idx), dict(enumerate(CLASSES)), data.spec, "rooms")
        return None
    if isinstance(masks, Masks):
        return masks
    if isinstance(masks, (np.ndarray, torch.Tensor)):
        arr = np.asarray(masks)
        if arr.shape != (len(data), size, size) or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0:
            raise GanlensError(f"masks: expected non-negative integers ({len(data)}, {size}, {size}), one per "
                               f"image, got {arr.dtype} {arr.shape}")
        return Masks(lambda idx: arr[idx].astype(np.int64), None, f"array {arr.shape}", "array")
    path = Path(masks)
    if path.suffix.lower() == ".json":
        return _box_masks(path, data, size)
    return _folder_masks(path, data, size)


class RoomsKeepMasks(RoomsSet):
    """A rooms set that keeps the masks rendered with each chunk of its first ``keep`` images, so that the
    IoU pass after the scan renders no scene twice (uint8, size x size bytes per image)."""

    def __init__(self, data: RoomsSet, keep: int):
        super().__init__(data.n, data.size, data.seed, data.nc)
        self.kept = np.zeros((min(keep, data.n), data.size, data.size), np.uint8)
        self.have = np.zeros(len(self.kept), bool)

    def chunk(self, start: int, stop: int) -> torch.Tensor:
        from ganlens.data.rooms import make_rooms
        images, masks = make_rooms(stop - start, size=self.size, seed=self.seed, start=start)
        end = min(stop, len(self.kept))
        if end > start:
            self.kept[start:end], self.have[start:end] = masks[:end - start], True
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()

    def masks(self, start: int, stop: int) -> np.ndarray:
        if stop <= len(self.kept) and self.have[start:stop].all():
            return self.kept[start:stop]
        return super().masks(start, stop)


def _rooms_masks(data: RoomsSet, idx: np.ndarray) -> np.ndarray:
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1:    # a run of images: render them together
        return data.masks(int(idx[0]), int(idx[-1]) + 1).astype(np.int64)
    return np.concatenate([data.masks(int(i), int(i) + 1) for i in idx]).astype(np.int64)


def _folder_masks(root: Path, data: ImageSet, size: int) -> Masks:
    files = mask_files(root)
    if isinstance(data, FolderSet):
        images = image_files(data.root)
        if len(images) != len(data):
            raise GanlensError(f"--masks {root}: {len(images) - len(data)} image(s) of {data.spec} could not be "
                               f"read, so masks cannot be paired with images by name")
        files = _pair_by_name(root, files, data.root, images)
    elif len(files) != len(data):
        raise GanlensError(f"--masks {root}: {len(files)} masks for the {len(data)} images of {data.spec}; "
                           f"masks pair with images in sorted order, one each")
    return Masks(lambda idx: np.stack([read_mask(files[i], size) for i in idx]), mask_names(root), str(root),
                 "folder")


def _pair_by_name(root: Path, files: list[Path], image_root: Path, images: list[Path]) -> list[Path]:
    """The mask of each image: same relative path without suffix, else the same file stem."""
    rel = {p.relative_to(root).with_suffix("").as_posix(): p for p in files}
    stems: dict[str, list[Path]] = {}
    for p in files:
        stems.setdefault(p.stem, []).append(p)
    out, missing = [], []
    for img in images:
        key = img.relative_to(image_root).with_suffix("").as_posix()
        found = rel.get(key) or (stems[img.stem][0] if len(stems.get(img.stem, [])) == 1 else None)
        (out if found else missing).append(found or key)
    if missing:
        raise GanlensError(f"--masks {root}: no mask for {len(missing)} of {len(images)} images, e.g. "
                           f"{missing[0]} (expected {missing[0]}.png)")
    return out


def _box_masks(path: Path, data: ImageSet, size: int) -> Masks:
    from ganlens.data import boxes
    bf = boxes.read(path)
    if (bf.width, bf.height) != (size, size):
        raise GanlensError(f"--masks {path}: boxes are drawn on {bf.width}x{bf.height} images, the model sees "
                           f"{size}x{size}")
    seeds = [s.seed for s in bf.samples]
    if None in seeds or max(seeds) >= len(data):
        bad = next(i for i, s in enumerate(seeds) if s is None or s >= len(data))
        raise GanlensError(f"--masks {path}: samples[{bad}]: on dataset images a sample names its image by "
                           f"'seed' = the image's index in {data.spec} (0..{len(data) - 1})")
    by_image = {s.seed: s.boxes for s in bf.samples}

    def read(idx):   # value 0 inside the boxes (the concept), 1 outside (no concept)
        return np.stack([1 - boxes.pixel_mask(by_image[int(i)], size, size) for i in idx]).astype(np.int64)
    return Masks(read, {0: bf.label}, str(path), "boxes", np.array(sorted(by_image)))


# ------------------------------------------------------------------------------------- semantic scores

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


def concept_iou(nets: dict[str, nn.Module], layer: str, data: ImageSet, masks: Masks, units: list[int],
                scans: dict[str, Scan], n: int, device: torch.device, chunk: int = CHUNK) -> dict:
    """Intersections and unions of each unit's fired region with each mask value, summed over the images
    among the first ``n`` that have a mask (streamed ``chunk`` images at a time).

    Returns {"images": how many, "area": (V,) pixels of each value, net: {"inter": (U, V), "fired": (U,)}}
    as int64 tensors, V = 1 + the largest mask value. The maps come from the scan when it kept them, else
    the nets run again. Bilinear upsampling never exceeds a map's maximum, so only the images where some
    unit's map exceeds its threshold are upsampled (a few percent of them at NetDissect's quantile).
    """
    idx_u = torch.as_tensor(units, device=device)
    rows = masks.rows(n)
    area = torch.zeros(0, dtype=torch.long)
    acc = {key: {"inter": torch.zeros(len(units), 0, dtype=torch.long),
                 "fired": torch.zeros(len(units), dtype=torch.long)} for key in nets}
    for s in range(0, len(rows), chunk):
        idx = rows[s:s + chunk]
        m = torch.as_tensor(masks.read(idx), dtype=torch.long)
        if m.shape[1:] != (data.size, data.size) or m.min() < 0:
            raise GanlensError(f"masks {masks.spec}: expected values >= 0 at {data.size}x{data.size}, got "
                               f"{tuple(m.shape[1:])} from {int(m.min())}")
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
            acc[key]["inter"] = _grow(acc[key]["inter"], width) + inter
            acc[key]["fired"] += inter.sum(1)                   # every pixel has one mask value
    return {"images": len(rows), "area": area, **acc}


def pair_counts(a: torch.Tensor, m: torch.Tensor, cut: torch.Tensor, width: int, pixels: int = 2 ** 24) -> torch.Tensor:
    """Fired pixels per unit and mask value, (U, width) int64, for maps a (b, U, h, w), masks (b, H, W) and
    the units' firing levels (U,). Bilinear upsampling never exceeds a map's maximum, so only the (image,
    unit) pairs whose map exceeds the level are upsampled (a few percent at NetDissect's quantile), one map
    at a time as a batch of pairs (about ``pixels`` upsampled pixels per step), and counted by a bincount of
    (unit, mask value) codes."""
    U, size = a.shape[1], tuple(m.shape[1:])
    img, unit = torch.nonzero(a.flatten(2).amax(2) > cut[None, :], as_tuple=True)
    out = torch.zeros(U * width, dtype=torch.long)
    step = max(1, pixels // (size[0] * size[1]))
    for s in range(0, len(img), step):
        i, u = img[s:s + step], unit[s:s + step]
        maps = a[i, u][:, None]                                         # (P, 1, h, w)
        up = maps.expand(-1, -1, *size) if maps.shape[-2:] == (1, 1) else F.interpolate(
            maps, size=size, mode="bilinear", align_corners=False)
        fired = up[:, 0] > cut[u][:, None, None]
        code = m[i] + width * u[:, None, None]
        out += torch.bincount(code[fired], minlength=U * width)
    return out.view(U, width)


def _iou_table(counts: dict, key: str, concepts: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """IoU and precision (share of the fired pixels inside the concept), each (U, len(concepts)), of one
    net (0 where the denominator is 0)."""
    inter, fired, area = counts[key]["inter"], counts[key]["fired"], counts["area"]
    vals = list(concepts)
    i = torch.stack([inter[:, v] if v < inter.shape[1] else torch.zeros_like(fired) for v in vals], 1).double()
    a = torch.tensor([float(area[v]) if v < len(area) else 0.0 for v in vals], dtype=torch.double)
    union, f = fired.double()[:, None] + a[None, :] - i, fired.double()[:, None].expand_as(i)
    return (torch.where(union > 0, i / union.clamp(min=1), torch.zeros_like(i)).numpy(),
            torch.where(f > 0, i / f.clamp(min=1), torch.zeros_like(i)).numpy())


def _concepts(masks: Masks, area: torch.Tensor) -> dict[int, str]:
    """{value: name} of the concepts measured: named values (or every value) that occur in the masks."""
    present = [v for v in range(len(area)) if area[v] > 0]
    if masks.names is None:
        return {v: f"class {v}" for v in present}
    return {v: name for v, name in masks.names.items() if v in present}


def compare(units: list[int], trained: list[float], draws: list[list[float]]) -> dict:
    """Descriptive: a score of the shown units per net, trained beside each draw (positions pair the nets'
    shown units; it says nothing about the layers: :mod:`ganlens.filters_layer` compares those)."""
    out = {"units": units, "trained": trained, "trained_mean": round(float(np.mean(trained)), 6), "random": draws}
    if draws:
        out["random_means"] = [round(float(np.mean(d)), 6) for d in draws]
    return out


def _pick(scores: np.ndarray, units: list[int] | None, n_show: int) -> list[int]:
    """The units a net shows: ``units`` when given, else its ``n_show`` highest-scoring."""
    return list(units) if units is not None else flayer.top_units(scores, n_show)


def _iou_unit(table, prec, i: int, names, values, counts, key, scans, total) -> dict:
    j = int(table[i].argmax())
    return {"unit": i, "label": names[j], "iou": round(float(table[i, j]), 6),
            "precision": round(float(prec[i, j]), 6),
            "lift": round(float(prec[i, j]) * total / float(counts["area"][values[j]]), 6),
            "ious": {c: round(float(v), 6) for c, v in zip(names, table[i])},
            "threshold": round(float(scans[key].threshold[i]), 6),
            "fired_share": round(float(counts[key]["fired"][i]) / max(total, 1), 6)}


def _iou_summary(counts: dict, masks: Masks, keys: list[str], scans: dict, spatial: bool, seeds: list[int],
                 quantile: float, units: list[int] | None, n_show: int) -> tuple[dict, dict]:
    """The IoU block (every unit scored, the layers compared, records of the shown units) and the units each
    net shows."""
    concepts = _concepts(masks, counts["area"])
    names, values = list(concepts.values()), list(concepts)
    total = float(counts["area"].sum())
    tables = {key: _iou_table(counts, key, concepts) if names else (np.zeros((len(scans[key].cut), 1)),) * 2
              for key in keys}
    scores = {key: tables[key][0].max(1) for key in keys}
    shown = {key: _pick(scores[key], units, n_show) for key in keys}
    rec = {key: ([_iou_unit(*tables[key], i, names, values, counts, key, scans, total) for i in shown[key]]
                 if names else [{"unit": i, "label": None, "iou": 0.0, "precision": 0.0, "lift": 0.0}
                                for i in shown[key]]) for key in keys}
    det = {key: int((scores[key] > DETECTOR_IOU).sum()) for key in keys}
    layer = flayer.compare_layers(scores[keys[0]], [scores[k] for k in keys[1:]], det[keys[0]],
                                  [det[k] for k in keys[1:]], seeds)
    layer.update(score="each unit's best-concept IoU", detector_rule=f"IoU > {DETECTOR_IOU} (NetDissect)",
                 trained_scores=[round(float(v), 6) for v in scores[keys[0]]],
                 random_scores=[[round(float(v), 6) for v in scores[k]] for k in keys[1:]])
    block = {"definition": IOU_DOC, "quantile": quantile, "detector_iou": DETECTOR_IOU, "spatial": spatial,
             "spatial_note": None if spatial else NOT_SPATIAL,
             "masks": {"source": masks.spec, "kind": masks.kind, "images": counts["images"], "concepts": names,
                       "pixel_share": {c: round(float(counts["area"][v]) / max(total, 1), 6)
                                       for v, c in concepts.items()}},
             "layer": layer, "trained": rec[keys[0]],
             "random": [{"seed": s, "units": [{k: u[k] for k in ("unit", "label", "iou", "precision", "lift")}
                                              for u in rec[key]]} for s, key in zip(seeds, keys[1:])]}
    return block, shown


def _purity_summary(scans: dict, keys: list[str], labels, n: int, k: int, seeds, units: list[int] | None,
                    n_show: int, seed: int) -> tuple[dict, dict]:
    """The purity block (every unit with its permutation p-value, BH detectors, the layers compared,
    records of the shown units) and the units each net shows."""
    lab, classes, source = labels
    null = flayer.purity_null(lab[:n], k, seed=seed)
    per = {key: flayer.purity_units(scans[key].top.images.numpy(), lab[:n], k, null, classes) for key in keys}
    for key in keys:
        for i, d in enumerate(per[key]):
            d["unit"] = i
    scores = {key: np.array([d["purity"] for d in per[key]]) for key in keys}
    det = {key: int(sum(flayer.purity_detectors(per[key]))) for key in keys}
    shown = {key: _pick(scores[key], units, n_show) for key in keys}
    layer = flayer.compare_layers(scores[keys[0]], [scores[kk] for kk in keys[1:]], det[keys[0]],
                                  [det[kk] for kk in keys[1:]], seeds)
    layer.update(score=f"each unit's top-{k} max-class purity", detector_rule=flayer.PURITY_NULL_DOC,
                 trained_scores=scores[keys[0]].tolist(), random_scores=[scores[kk].tolist() for kk in keys[1:]])
    return {"definition": PURITY_DOC, "null": flayer.PURITY_NULL_DOC, "k": k, "labels": source,
            "classes": len(np.unique(lab[:n])), "layer": layer,
            "trained": [per[keys[0]][i] for i in shown[keys[0]]],
            "random": [{"seed": s, "units": [per[key][i] for i in shown[key]]} for s, key in zip(seeds, keys[1:])]
            }, shown


def _labels(labels, data: ImageSet):
    """(integer labels (N,), class names or None, where they came from), or None."""
    if labels is False or (labels is None and data.labels is None):
        return None
    if labels is None:
        source = "image folder class sub-folders" if isinstance(data, FolderSet) else f"labels of {data.spec}"
        return np.asarray(data.labels), data.classes, source
    arr = np.asarray(labels)
    if arr.shape != (len(data),) or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0:
        raise GanlensError(f"labels: expected one class id >= 0 per image ({len(data)},), got {arr.dtype} "
                           f"{arr.shape}")
    return arr.astype(np.int64), None, "labels argument"


def purity_k(n: int, purity_top: int) -> int:
    """Top-k images whose class purity is measured: min(purity_top, N/10), at least 1."""
    return max(1, min(purity_top, n // 10))


def semantic(nets: dict, layer: str, data: ImageSet, scans: dict[str, Scan], n: int, device: torch.device, *,
             masks: Masks | None, labels, spatial: bool, seeds: list[int], quantile: float, purity_top: int,
             units: list[int] | None, n_show: int, seed: int = 0, chunk: int = CHUNK) -> tuple[dict, dict]:
    """``filters.json["semantic"]``: every unit of the layer scored (IoU with concept masks and / or purity of
    class labels), the trained layer against every random draw (:mod:`ganlens.filters_layer`); "headline"
    names the score the figure and the summary line use (IoU first). Also returns the units each net shows
    (``units``, or its ``n_show`` highest-scoring on the headline; the first ``n_show`` without one)."""
    keys = list(nets)
    all_units = list(range(len(scans[keys[0]].cut)))
    out = {"headline": "iou" if masks else "purity" if labels else None,
           "note": None if masks or labels else NO_SEMANTIC,
           "random_draws": {"seeds": seeds, "init": "ganlens.gan.random_like (the DCGAN paper's initialisation)"},
           "iou": None, "purity": None}
    shown = {key: list(units) if units is not None else all_units[:n_show] for key in keys}
    if labels is not None:
        out["purity"], shown = _purity_summary(scans, keys, labels, n, purity_k(n, purity_top), seeds, units,
                                               n_show, seed)
    if masks is not None:
        counts = concept_iou(nets, layer, data, masks, all_units, scans, n, device, chunk)
        if counts["images"] == 0:
            raise GanlensError(f"--masks {masks.spec}: none of the first {n} images has a mask")
        out["iou"], shown = _iou_summary(counts, masks, keys, scans, spatial, seeds, quantile, units, n_show)
    return out, shown


# --------------------------------------------------------------------------------------- visualise

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
    """The score of one guided map crop (C, r, r) with NaN outside the image; see ``SCORE_DOC``.

    Lag-1 autocorrelation of the colour-summed map along x and along y (mean of the two), computed over
    pairs of adjacent pixels that are both inside the image. 0 for a constant map (no structure).
    """
    m = gmap.sum(0)
    corrs = []
    for a, b in ((m[:, :-1], m[:, 1:]), (m[:-1, :], m[1:, :])):
        ok = ~(np.isnan(a) | np.isnan(b))
        a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        corrs.append(float((a * b).sum() / den) if den > 0 else 0.0)
    return float(np.mean(corrs))


def visualise(D: nn.Module, layer: str, data: ImageSet, units: list[int], top: Top, device: torch.device,
              field: tuple[int, int, int]) -> dict:
    """Guided maps of every (unit, rank) in ``top``, cropped to the receptive field ``field`` (start,
    size, stride; see :func:`receptive_field`).

    Returns {"images": (U, K, nc, r, r) in [-1, 1], "maps": (U, K, nc, r, r) guided gradients (both NaN
    outside the image), "activations": (U, K) recomputed in float32, "boxes": (U, K, 4) y0, x0, y1, x1
    (clipped to the image), "scores": (U, K)}.
    """
    U, K = top.images.shape
    start, size, stride = field
    x = to_float(torch.stack([data[i] for i in top.images.reshape(-1).tolist()])).to(device)
    unit_rows = torch.as_tensor(units).repeat_interleave(K)
    pos = top.positions.reshape(-1, 2)
    maps = guided_backprop(D, layer, x, unit_rows, pos).cpu().numpy()
    with torch.no_grad(), eval_no_inplace(D), retain(D, layer) as acts:
        D(x)
    a = next(iter(acts.values())).cpu()
    a = a[:, :, None, None] if a.dim() == 2 else a
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
    return {"images": np.stack(images).reshape(shape), "maps": np.stack(gmaps).reshape(shape),
            "activations": acts_exact.numpy(), "boxes": np.array(boxes).reshape(U, K, 4),
            "scores": np.array(scores).reshape(U, K)}


# ---------------------------------------------------------------------------------------- the figure

def _outside_grey(v: np.ndarray) -> np.ndarray:
    """Receptive-field pixels outside the image (NaN) -> the :data:`OUTSIDE` grey."""
    return np.where(np.isnan(v), OUTSIDE, v)


def _display_maps(maps: np.ndarray) -> np.ndarray:
    """Guided maps (N, C, r, r) -> (N, r, r, 3): 0.5 grey = zero, each scaled by its 99.5th |value| percentile."""
    shown = []
    for gmap in maps:
        inside = gmap[~np.isnan(gmap)]
        scale = np.percentile(np.abs(inside), 99.5) if inside.size else 0.0
        shown.append(gmap / scale if scale > 0 else np.zeros_like(gmap))   # [-1, 1] (clipped by figures.rgb)
    return _outside_grey(figures.rgb(np.stack(shown)))


def mosaic(images: np.ndarray, maps: np.ndarray, gap: int = 1, pair_gap: int = 4) -> np.ndarray:
    """(U, K, C, r, r) crops in [-1, 1] (NaN outside the image) and guided maps -> one (H, W, 3) sheet:
    a row per unit of K (crop | map) pairs."""
    U, K = images.shape[:2]
    crops = _outside_grey(figures.rgb(images.reshape(U * K, *images.shape[2:])))
    shown = _display_maps(maps.reshape(U * K, *maps.shape[2:]))
    pairs = np.stack([crops, shown], 1).reshape(2 * U * K, *crops.shape[1:])  # crop, map, crop, map, ...
    return figures.tile(pairs, 2 * K, gap=pair_gap, col_gaps=([gap, pair_gap] * K)[:2 * K - 1])


def panel_text(result: dict, net: str) -> tuple[str, list[str]]:
    """(title, one label per unit) of a panel ("trained" or "random", the first random draw), from the
    headline semantic score: the net's detectors among all its units, and its shown units' scores; without a
    headline the title says it was not measured."""
    sem = result["semantic"]
    head = sem["headline"]
    who = "trained D" if net == "trained" else f"random D (seed {sem['random_draws']['seeds'][0]})"
    units = [u["unit"] for u in result[net]["units"]]
    if head is None:
        return f"{who}: {NO_SEMANTIC}", [f"unit {u}" for u in units]
    block = sem[head]
    rows = block["trained"] if net == "trained" else block["random"][0]["units"]
    if head == "iou":   # IoUs of a few hundredths are common (NetDissect's detector level is 0.04)
        labels = [f"unit {u}\n{d['label']} {d['iou']:.3f}" for u, d in zip(units, rows)]
        score, digits, what = "IoU", 3, f"IoU > {DETECTOR_IOU}"
    else:
        labels = [f"unit {u}\n{d['class']} {d['purity']:.2f}" for u, d in zip(units, rows)]
        score, digits, what = f"top-{block['k']} purity", 2, "purity above chance (BH)"
    lay = block["layer"]
    det = lay["detectors"]["trained"] if net == "trained" else lay["detectors"]["random"][0]
    mean = lay["trained_mean"] if net == "trained" else lay["random_means"][0]
    # one short line per fact: the panel titles sit side by side, so a line must fit its own panel
    title = f"{who}:\n{det} of {lay['n_units']} units with {what}; mean {score} {mean:.{digits}f}"
    if net == "trained" and "mann_whitney" in lay:
        verdict = "yes" if lay["higher_than_every_draw"] else "no"
        title += f"\nhigher than all {len(lay['mann_whitney'])} random Ds: {verdict}"
    return title, labels


def plot(result: dict, arrays: dict):
    """The paper's layout from saved results: trained D on top, the first random D below (if present),
    titled and labelled with the semantic headline score. Returns the matplotlib Figure."""
    nets = [n for n in ("trained", "random") if f"{n}_images" in arrays]
    U, K, _, r, _ = arrays["trained_images"].shape
    sheets = [mosaic(arrays[f"{n}_images"], arrays[f"{n}_maps"]) for n in nets]
    h, w = sheets[0].shape[:2]
    aspect = h / (w * len(nets)) * 1.12 + 0.06
    with figures.style():   # text sizes are read from rcParams when each text is made
        fig, axes = figures.figure("two" if len(nets) == 2 else "one", aspect=aspect, ncols=len(nets),
                                   squeeze=False)
        for ax, net, sheet in zip(axes[0], nets, sheets):
            figures.show_image(ax, sheet)
            title, labels = panel_text(result, net)
            ax.set_title(title, pad=3, fontsize=6.5)
            ax.set_yticks([u * (r + 4) + r / 2 for u in range(U)])
            ax.set_yticklabels(labels, fontsize=6)
            ax.tick_params(axis="y", length=0, pad=2)
        fig.subplots_adjust(wspace=0.22)
    return fig


# ------------------------------------------------------------------------------------------ analysis

def _summary(vis: dict, top: Top, units: list[int]) -> dict:
    return {"units": [{"unit": u,
                       "image_indices": top.images[i].tolist(),
                       "activations": [round(float(a), 6) for a in vis["activations"][i]],
                       "positions": top.positions[i].tolist(),
                       "crop_boxes": vis["boxes"][i].tolist(),
                       "autocorrelations": [round(float(s), 6) for s in vis["scores"][i]],
                       "autocorrelation": round(float(vis["scores"][i].mean()), 6)}
                      for i, u in enumerate(units)]}


def _descriptive(vis: dict, keys: list[str], units: list[int]) -> dict:
    """The old headline, kept as a descriptive number: autocorrelation of the guided maps per net."""
    per = [[round(float(s), 6) for s in vis[key]["scores"].mean(1)] for key in keys]
    return {"autocorrelation": {"definition": SCORE_DOC, **compare(units, per[0], per[1:])}}


def _open(gan, images) -> ImageSet:
    return for_model(gan, images, "images")


def _checks(top, n_images, batch_size, random_draws, purity_top, quantile) -> None:
    require_at_least({"top": (top, 1), "n_images": (n_images, 1), "batch_size": (batch_size, 1),
                      "random_draws": (random_draws, 0), "purity_top": (purity_top, 1)}, flags=True)
    if not isinstance(quantile, (int, float)) or not 0 < quantile < 1:
        raise GanlensError(f"--quantile must be between 0 and 1 (exclusive), got {quantile!r}")


def filters(gan, images, *, layer: str = "last", units=None, top: int = 4, n_images: int = 5000, masks=None,
            labels=None, quantile: float = QUANTILE, purity_top: int = PURITY_TOP, random_draws: int = RANDOM_DRAWS,
            random_baseline: bool = True, seed: int = 0, batch_size: int = CHUNK, progress: bool = False) -> Result:
    """What D's units respond to: semantic scores (IoU with concept masks, purity of class labels) trained
    vs ``random_draws`` random Ds of the same architecture, and guided-backprop visualisations.

    gan: a :class:`ganlens.gan.GAN` with a D (any network taking (B, nc, H, W) images in [-1, 1]).
    images: a data spec ("rooms", "rooms:n=N,seed=S", a folder, an .npz), an opened
    :class:`ganlens.data.ImageSet`, a uint8 tensor or (tensor, labels); the first ``n_images`` are searched.
    layer: name, alias or module path of a D layer. units: a count N (channels 0..N-1), or a list / comma
    string of channel indices. top: images shown per unit. masks: see :func:`open_masks` (None: the rooms
    masks for rooms data; False: none). labels: integer class per image (None: the data's own labels;
    False: none). quantile: NetDissect's top quantile. purity_top: k of the purity (at most N/10).
    random_draws: random Ds (seeds ``seed`` .. ``seed + random_draws - 1``; 0 or random_baseline=False:
    none); the figure shows the first.
    Returns a Result of kind "filters" (JSON as ``filters.json``, headline in ``["semantic"]``; arrays
    ``<net>_images`` / ``<net>_maps`` (U, K, nc, r, r); figure "filters").
    """
    _checks(top, n_images, batch_size, random_draws, purity_top, quantile)
    D, lay = gan.require_D(), gan.layer("D", layer)
    unit_list = parse_units(units, lay.channels, lay.name) if units is not None else None
    data = _open(gan, images)
    n = min(n_images, len(data))
    if top > n:
        raise GanlensError(f"--top {top}: more than the {n} image(s) searched in --data {data.spec}")
    if masks is None and type(data) is RoomsSet and n * data.size ** 2 <= MAP_CACHE_BYTES:
        data = RoomsKeepMasks(data, n)      # the scan renders each scene once, masks included
    mask_src, lab = open_masks(masks, data, gan.image_size), _labels(labels, data)
    dev, seeds = gan.device, list(range(seed, seed + (random_draws if random_baseline else 0)))
    nets = {"trained": D, **{f"random{i}": gan.random_D(s) for i, s in enumerate(seeds)}}
    field = receptive_field(D, lay.name, (gan.nc, gan.image_size, gan.image_size))
    with channels_last(list(nets.values())):
        t0 = time.perf_counter()
        scans = scan(nets, lay.name, data, list(range(lay.channels)), max(top, purity_k(n, purity_top) if lab else 0),
                     n, dev, quantile=quantile, chunk=batch_size, progress=progress)
        scan_s = time.perf_counter() - t0
        sem, shown = semantic(nets, lay.name, data, scans, n, dev, masks=mask_src, labels=lab, spatial=lay.side > 1,
                              seeds=seeds, quantile=quantile, purity_top=purity_top, units=unit_list,
                              n_show=len(unit_list) if unit_list else min(SHOW, lay.channels), seed=seed,
                              chunk=batch_size)
        tops = {key: scans[key].top.rows(shown[key]).first(top) for key in nets}
        vis = {key: visualise(net, lay.name, data, shown[key], tops[key], dev, field) for key, net in nets.items()}
    drawn = ["trained"] + (["random0"] if seeds else [])
    arrays = {f"{net}_{a}": vis[key][a] for net, key in zip(("trained", "random"), drawn) for a in ("images", "maps")}
    call = (f"ganlens.filters(gan, {data.spec!r}, layer={layer!r}, units={units!r}, top={top}, n_images={n_images}, "
            f"masks={mask_src.spec if mask_src else masks!r}, quantile={quantile}, random_draws={len(seeds)}, "
            f"seed={seed})")
    out = _record(gan, lay, layer, units, top, n, seed, seeds, dev, data, field, quantile)
    out.update(units=shown["trained"], semantic=sem, descriptive=_descriptive(vis, list(nets), shown["trained"]),
               trained=_summary(vis["trained"], tops["trained"], shown["trained"]),
               random=_summary(vis["random0"], tops["random0"], shown["random0"]) if seeds else None,
               search_nets=len(nets), provenance=provenance(gan, seed, call=call, device=str(dev)),
               # when/how fast, not results: kept under "timing" so that comparisons of runs can ignore it
               timing={"search_seconds": round(scan_s, 3), "search_images_per_second": round(n / scan_s, 1),
                       "total_seconds": round(time.perf_counter() - t0, 3)})
    return Result("filters", out, arrays, plots={"filters": plot})


def _record(gan, lay, layer_flag, units, top, n, seed, seeds, dev, data, field, quantile) -> dict:
    """The settings and definitions part of filters.json."""
    origin, units_flag = gan.origin(), units_text(units) if units is not None else None
    return {
        "settings": {"checkpoint": origin["checkpoint"], "checkpoint_sha256": gan.sha256, "source": gan.source,
                     "config": origin["config"], "data": data.spec, "layer": lay.name, "layer_flag": layer_flag,
                     "units_flag": units_flag, "top": top, "n_images_searched": n, "seed": seed,
                     "random_baseline": bool(seeds), "random_draws": len(seeds), "quantile": quantile,
                     "device": str(dev), "search_precision": "float32"},
        "unit_choice": (f"each net's {SHOW} highest-scoring units on the headline score (the first {SHOW} without "
                        f"one); every unit of the layer is scored" if units_flag is None
                        else "first N channel indices, as in the paper" if "," not in units_flag
                        else "unit indices given by --units"),
        "response": ("largest activation of the unit over spatial positions (the layer's output: after "
                     "the normalisation and activation that follow its conv/linear)"),
        "random_init": ("the DCGAN paper's initialisation (ganlens.gan.random_like), one D per seed --seed .. "
                        "--seed + draws - 1; BatchNorm at its initial running statistics (mean 0, var 1), eval "
                        "mode; \"random\" and the figure show the first"),
        "layer_shape": {"channels": lay.channels, "side": lay.side},
        "receptive_field": dict(zip(("start", "size", "stride"), field)),
    }


# ------------------------------------------------------------------------------------------- command

def parser() -> cli.Parser:
    p = cli.Parser(PROG, "What discriminator units respond to: Network-Dissection IoU with concept masks or "
                         "class purity, trained vs random Ds, with guided-backprop maps (Radford et al. 2016, "
                         "Fig. 5).", EXAMPLES)
    p.add_common(out_default="ganlens-out/filters")
    p.add_argument("--data", default="rooms", metavar="PATH|rooms",
                   help="images to search: rooms, rooms:n=N,seed=S, a folder (class sub-folders give labels), "
                        ".npz (optional labels) or LSUN lmdb (default: rooms)")
    p.add_argument("--masks", default=None, metavar="DIR|BOXES.json|none",
                   help="concept masks of the --data images: a folder with one integer PNG per image (same "
                        "names or order; optional classes.txt names the values) or a ganlens.boxes/1 file whose "
                        "seeds are image indices; none: no masks (default: the rooms masks for rooms data)")
    p.add_argument("--layer", default="last",
                   help="D layer: a name or module path from --layer list, or last (default: last)")
    p.add_argument("--units", default=None, metavar="N|A,B,C",
                   help=f"units the figure shows: the first N (channel indices 0..N-1, as in the paper), or a comma "
                        f"list of unit indices (one unit: '12,') (default: each net's {SHOW} highest-scoring); every "
                        f"unit of the layer is scored either way")
    p.add_argument("--top", type=cli.at_least(1), default=4, metavar="K", help="images shown per unit (default: 4)")
    p.add_argument("--n-images", type=cli.at_least(1), default=5000, metavar="N",
                   help="search the first N images of --data (default: 5000)")
    p.add_argument("--quantile", type=cli.number(0, 1, open_low=True, open_high=True), default=QUANTILE,
                   help=f"a unit fires above this quantile of its activations (default: {QUANTILE}, NetDissect)")
    p.add_argument("--purity-top", type=cli.at_least(1), default=PURITY_TOP, metavar="K",
                   help=f"class purity of each unit's top K images, at most N/10 (default: {PURITY_TOP})")
    p.add_argument("--random-draws", type=cli.at_least(0), default=RANDOM_DRAWS, metavar="R",
                   help=f"random Ds of the same architecture to compare with (default: {RANDOM_DRAWS})")
    p.add_argument("--random-baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="compare with random Ds at all (default: on; --no-random-baseline = --random-draws 0)")
    p.add_argument("--batch-size", type=cli.at_least(1), default=CHUNK,
                   help=f"images per search batch (default: {CHUNK})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    gan.require_D()
    cli.layer(gan, "D", args.layer)  # the flag's own error, or --layer list
    masks = False if args.masks == "none" else args.masks
    return filters(gan, args.data, layer=args.layer, units=args.units, top=args.top, n_images=args.n_images,
                   masks=masks, quantile=args.quantile, purity_top=args.purity_top, random_draws=args.random_draws,
                   random_baseline=args.random_baseline, seed=args.seed, batch_size=args.batch_size,
                   progress=not args.no_progress)


def summary_line(result: dict) -> str:
    """The command's one line: the layers compared on the headline score, then the units shown."""
    sem = result["semantic"]
    if sem["headline"] is None:
        ac = result["descriptive"]["autocorrelation"]
        return f"{NO_SEMANTIC} (descriptive autocorrelation: trained {ac['trained_mean']:.3f})"
    block = sem[sem["headline"]]
    lay = block["layer"]
    if sem["headline"] == "iou":
        msg = f"IoU: {lay['detectors']['trained']} of {lay['n_units']} units above {DETECTOR_IOU}"
        shown = ", ".join(f"{d['unit']}:{d['label']} {d['iou']:.3f}" for d in block["trained"])
    else:
        msg = f"top-{block['k']} purity: {lay['detectors']['trained']} of {lay['n_units']} units above chance"
        shown = ", ".join(f"{d['unit']}:{d['class']} {d['purity']:.2f}" for d in block["trained"])
    if "mann_whitney" in lay:
        ab = lay["above_best_draw"]
        msg += (f" (random Ds: {', '.join(map(str, lay['detectors']['random']))}); layer above every random D "
                f"(Mann-Whitney): {'yes' if lay['higher_than_every_draw'] else 'no'}; {ab['count']} units above the "
                f"best draw (chance {ab['chance']:.1f}, p = {ab['p_value']:.2g})")
    return f"{msg}; shown {shown}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    dev, gan = cli.start(args)  # checks --out before the work, then device, seed, checkpoint / --model
    r = from_args(args, gan)
    r.save(args.out)
    print(f"{summary_line(r.to_dict())}; wrote {Path(args.out) / 'filters.pdf'}", file=sys.stderr)
    return 0


analysis_module(__name__, filters)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
