"""Which generator units draw which object, and what switching them off or on does: ``python -m ganlens.dissect``.

GAN Dissection (Bau et al., ICLR 2019) made systematic what the paper's forgetting experiment (Fig. 6) did
by hand: label every generator unit with the object class it draws, then remove an object by switching its
units off and insert one by switching them on at a place, and measure both with a segmenter::

    r = ganlens.dissect(gan)                                  # rooms models: the rooms segmenter
    r = ganlens.dissect(gan, segmenter=(my_fn, ["sky", "tree", ...]))   # any other model
    r["layers"][0]["counts"], r["remove"]["window"]["after"], r.save("out/dissect")

**Labels** (for every hidden conv layer of G with a spatial map of side >= 2, or ``layers``), over ``n``
generated samples (seeds 0 .. n-1):

0. *Threshold rule* (``threshold``): ``"iqr"`` (default), GAN Dissection's rule for generators: each unit's
   threshold maximises the information quality ratio with its best class, picked on ``n_select`` other
   latents (:mod:`ganlens.dissect_threshold`); a unit is labelled when IQR > 0.01 and IoU > 0.05 (gandissect's
   floors). ``"quantile:0.99"``: the fixed-quantile rule of steps 1-3 below. Pass 1 runs under both rules (it
   also gives each unit's mean and strongest samples); under ``iqr`` its quantile is replaced by the level.
1. *Thresholds, first pass.* Each unit's threshold ``t_u`` is the exact ``quantile`` (0.99) of its activations
   at the layer's own resolution over all N samples and positions, GAN Dissection's rule (netdissect
   takes the quantile of the raw feature maps, then thresholds their upsampled versions). It is kept
   exactly, not estimated: a running ``torch.topk`` keeps each unit's ``ceil((1 - q) N h w)`` largest
   values (1% of the layer's activations at layer resolution: 0.6 M numbers for the shipped model's four
   layers at N = 1000), so ``t_u`` is the smallest kept value, with no error. The mean of the kept values
   is the unit's *level* (what insertion sets it to), the mean over everything its mean (``fill="mean"``).
2. *IoU, second pass.* The same samples are generated again; each unit's map is upsampled bilinearly to the
   image (``align_corners=False``, as ``F.interpolate``; done as two small matrix products, exact up to
   float rounding) and thresholded (``> t_u``), and the segmenter labels each image. Summed over all
   samples: pixels where the unit fires, pixels of each class, and their intersection, so
   ``IoU(u, c) = |fire_u & class_c| / |fire_u | class_c|`` over the whole set (as GAN Dissection).
   Memory is bounded: chunks of ``CHUNK`` samples, upsampled in slices of at most ``ELEMS`` values; no
   N x units x H x W tensor is ever made. Only maps with a cell >= ``t_u`` are upsampled (a bilinear value
   is a convex combination of at most 4 cells, so the others cannot fire; the counts are the same). Because
   ``t_u`` is a layer-resolution quantile, the share of *image* pixels above it is not exactly 1% (bilinear
   upsampling smooths peaks); the JSON reports it per unit (``coverage``).
3. Each unit's label is its best class by IoU (among ``classes``), or none ("unlabelled") under ``iou_floor``
   (0.04, Network Dissection's floor); under ``iqr`` the class picked with the level, see step 0.

**Remove** (``remove`` classes; default "window" when the segmenter knows it): on ``n_eval`` fresh latents
(seeds 1,000,000,000 + i, as forget), the class's top-k units by IoU in one layer (``edit_layer``, default
the layer holding the class's best unit; k default: the units labelled with the class there, at least 1 and
at most half the layer, so that as many random units exist outside them) are
set to zero (``fill="zero"``, GAN Dissection) or their mean at every position (:func:`ganlens.hooks.ablate`).
Measured before / after: presence rate (the class's largest connected region covers >= the segmenter's
minimum area) with exact binomial 95% intervals, pixel share, an exact McNemar test on the paired latents,
the one-sided ``removal_effect = mean over latents of (pixel share after - before)`` with a t interval, and
GAN Dissection's ACE (the same units set to their class-present mean vs zeroed, :mod:`ganlens.dissect_effects`).
Control: ``control_draws`` random sets of k other units of the same layer, edited the same way. Dose curve:
the rate on the first ``dose_n`` latents as 0, 1, 2, 4, ... k ... 2k units are edited, in IoU order and in
each random order.

**Insert** (``insert`` classes, same default): inside a target region the top-k units (and, for the
controls, random units) are set to their mean activation where the class is present (gandissect's
``weighted_mean_present_feature``, :func:`ganlens.hooks.set_channels` with a mask); the paper's ACE sets
them to zero there for the other arm; the segmenter is asked whether the class is now
in the region (largest region of the class inside it >= the minimum area), its share of the region and
its IoU with the region; before vs after and vs random units set the same way, with the same statistics.
The region is ``box`` (image pixels, every sample), or per sample the square of ``region_size`` pixels
(default a quarter of the image side, on the edit layer's cells) with the most ``region_class`` pixels
("wall" on rooms, else the most common class) in the unedited image; samples where that square is under
half that class are left out (counted).

**Agreement with forgetting** (``boxes``: a box file whose label the segmenter knows): forget's probe
(:func:`ganlens.forget.run_probe`, same settings as ``python -m ganlens.forget``) is fit on the edit
layer of that class, and the units dissection labels with the class are compared with the maps the probe
gives a positive weight: overlap, Jaccard, a hypergeometric p-value, and the Spearman correlation of IoU
with probe weight over all units of the layer.

Segmenters: on rooms models (3x64x64, trained on ``rooms``) the shipped rooms segmenter
(:mod:`ganlens.detect`); otherwise pass ``segmenter=(fn, class_names)`` (or a :class:`Segmentation`),
where ``fn`` maps images (N, nc, S, S) float in [-1, 1] (uint8 with ``Segmentation(..., uint8=True)``) to
integer class maps (N, S, S); on the command line ``--segmenter FILE.py:FUNC`` where FUNC() returns
``(fn, class_names)`` (this runs your code on purpose, like ``--model``). Without one, dissect stops
with a one-line error saying how to give one.

Outputs (``--out``): ``dissect.json``, ``dissect.npz`` (IoU matrices and the figures' images), figures
``dissect`` (units per class per layer), ``units`` (top units per class as heatmaps over the samples where
they fire most), ``remove`` and ``insert`` (samples before / after / random units), ``dose``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ganlens import cli, stats
from ganlens.core import figures, hooks
from ganlens import dissect_effects as fx
from ganlens import dissect_threshold as thr
from ganlens.data.sets import to_uint8
from ganlens.core.errors import GanlensError, NotApplicable, require_at_least
from ganlens.core.generate import images
from ganlens.core.results import Result, finite_or_none, provenance
from ganlens.analyses.api import analysis_module
from ganlens.stats import clopper_pearson

PROG = "python -m ganlens.dissect"
EXAMPLES = f"""  {PROG}                                        # every hidden layer of the shipped rooms model
  {PROG} --layers block3 --remove window,bed --insert window --k 4
  {PROG} --insert window --box 8,8,24,24 --n-eval 1000 --control-draws 5
  {PROG} --model my_gan.py:build --checkpoint G.pth --segmenter my_seg.py:build --remove tree
  {PROG} --layers list                          # G's layers, names and shapes
"""
EVAL_SEED = 1_000_000_000   # evaluation latents: seeds EVAL_SEED + i (as forget), never the dissection samples
CHUNK = 250                 # latents per generated chunk
ELEMS = 1 << 23             # upsampled values per slice (32 MiB of float32): bounds memory on any layer
TOP_SAMPLES = 4             # samples kept per unit for the heatmap figure
FILLS = ("zero", "mean")
DEFAULT_TARGET = "window"
DEFAULT_REGION_CLASS = "wall"
MIN_AREA = 1 / 64           # default share of the image a class needs to be "present" (as the rooms detector)
SHIPPED_BOXES = Path(__file__).resolve().parents[1] / "annotations" / "windows.json"


# --- segmenters ------------------------------------------------------------------------------------------

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
            raise GanlensError(f"segmenter {self.name}: raised {type(e).__name__}: {cli._line(e)}")
        out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
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
        return out.astype(np.int64)

    def min_pixels(self, size: int) -> int:
        return max(1, int(round(self.min_area * size * size)))

    def describe(self) -> dict:
        return {"name": self.name, "classes": list(self.classes), "min_area": self.min_area,
                "input": "uint8" if self.uint8 else "float [-1, 1]", **self.info}


def _check_classes(classes, where: str) -> tuple[str, ...]:
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
    from ganlens.data.detect import DEFAULT_DETECTOR, detector_for
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
        segmenter.classes = _check_classes(segmenter.classes, "segmenter")
        return segmenter
    problem = _pair_problem(segmenter)
    if problem:
        raise GanlensError(f"segmenter: {problem}")
    fn, names = segmenter
    return Segmentation(fn, _check_classes(names, "segmenter"), getattr(fn, "__name__", "user segmenter"))


def _pair_problem(obj) -> str | None:
    """Why ``obj`` is not (callable, class names), or None."""
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2 and callable(obj[0])):
        return (f"returned {type(obj).__name__}; it must be (fn, class_names): fn(images) -> class maps "
                f"(N, H, W), class_names a list of strings")
    return None


def segmenter_from_spec(spec: str) -> Segmentation:
    """``--segmenter FILE.py:FUNC``: FUNC() returns (fn, class_names). Runs the user's code on purpose."""
    fn, names = cli.user_model(spec, flag="--segmenter", accept=_pair_problem)
    return Segmentation(fn, _check_classes(names, f"--segmenter {spec}"), spec)


# --- layers and upsampling -------------------------------------------------------------------------------

def dissect_layers(gan, layers=None) -> list:
    """The G layers to dissect (:class:`ganlens.layers.Layer`): ``layers`` (names, aliases or module paths)
    or every hidden layer with a spatial map of side >= 2."""
    table = gan.layers("G")
    if layers is None:
        chosen = [lay for lay in table.hidden if lay.spatial and lay.side >= 2]
        if not chosen:
            raise GanlensError(f"{gan.where}: G has no hidden conv layer with a spatial map (side >= 2) to dissect; "
                               f"an MLP generator has none")
        return chosen
    out = []
    for name in ([layers] if isinstance(layers, str) else list(layers)):
        lay = table.resolve(name)
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


def _forward(gan, z: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, dict]:
    """(images (B, nc, S, S) float CPU, {layer: activations (B, C, h, w) float on G's device}) in one pass."""
    with hooks.retain(gan.G, names) as store:
        x = images(gan, z, batch=len(z))
    return x, {name: store[name].float() for name in names}


def _chunks(n: int, size: int = CHUNK):
    for i in range(0, n, size):
        yield i, min(n, i + size)


# --- pass 1: exact per-unit quantiles ----------------------------------------------------------------------

class _Levels:
    """Running exact top values of every unit of one layer (and its sum, and its strongest samples)."""

    def __init__(self, lay, n: int, quantile: float):
        self.name, self.c = lay.name, lay.channels
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

    def result(self) -> dict:
        return {"threshold": self.top.min(1).values, "level": self.top.mean(1), "mean": (self.total / self.count)
                .float(), "top_samples": self.best_idx.cpu().numpy(), "k_kept": self.k}


def quantile_pass(gan, layers: list, n: int, quantile: float) -> dict[str, dict]:
    """Pass 1 over samples 0 .. n-1: per layer {"threshold" (C,), "level" (C,), "mean" (C,) on G's device,
    "top_samples" (C, TOP_SAMPLES) sample indices, "k_kept"}."""
    levels = {lay.name: _Levels(lay, n, quantile) for lay in layers}
    names = list(levels)
    with torch.inference_mode():
        for i, j in _chunks(n):
            _, acts = _forward(gan, gan.latents(range(i, j)), names)
            for name in names:
                levels[name].add(acts[name], i)
    return {name: lv.result() for name, lv in levels.items()}


# --- pass 2: IoU counts -----------------------------------------------------------------------------------

def _labels(maps: np.ndarray, k: int, device) -> torch.Tensor:
    """Class maps (B, S, S) -> (B, S*S) int64 on ``device``; values outside 0..k-1 become k (no class)."""
    m = torch.from_numpy(maps).to(device).reshape(len(maps), -1)
    return torch.where((m >= 0) & (m < k), m, torch.full_like(m, k))


def count_layer(a: torch.Tensor, t: torch.Tensor, Uh: torch.Tensor, Uw: torch.Tensor, labels: torch.Tensor, k: int,
                acc: dict) -> None:
    """Add one chunk of one layer to ``acc``: "fired" (C,) pixels above threshold, "inter" (C, k) of them per class.

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
        acc["fired"].index_add_(0, u, per.sum(1).double())                     # every fired pixel, any class
        acc["inter"].index_put_((u[:, None], cls[None, :]), per[:, :len(cls)].double(), accumulate=True)


def iou_pass(gan, layers: list, n: int, stats: dict, seg: Segmentation) -> dict:
    """Pass 2 over the same samples: {"layers": {name: {"inter" (C, K), "fired" (C,), "present_sum" (C, K),
    "present_weight" (K,) (:func:`ganlens.dissect_effects.add_present`)}}, "class_pixels" (K,),
    "class_images" (K,) images with >= the minimum area of the class, "side" S} (float64, CPU)."""
    K, dev = len(seg.classes), gan.device
    acc = {lay.name: {"inter": torch.zeros(lay.channels, K, dtype=torch.float64, device=dev),
                      "fired": torch.zeros(lay.channels, dtype=torch.float64, device=dev),
                      "present_sum": torch.zeros(lay.channels, K, dtype=torch.float64, device=dev),
                      "present_weight": torch.zeros(K, dtype=torch.float64, device=dev)} for lay in layers}
    class_pixels, class_images = torch.zeros(K, dtype=torch.float64), torch.zeros(K, dtype=torch.float64)
    mats: dict[tuple[int, int], torch.Tensor] = {}
    side = None
    with torch.inference_mode():
        for i, j in _chunks(n):
            x, acts = _forward(gan, gan.latents(range(i, j)), list(acc))
            maps = seg(x)
            side = maps.shape[-1]
            labels = _labels(maps, K, dev)
            per_image = torch.zeros(len(labels), K + 1, dtype=torch.float64, device=dev)
            per_image.scatter_add_(1, labels, torch.ones_like(labels, dtype=torch.float64))
            class_pixels += per_image[:, :K].sum(0).cpu()
            class_images += (per_image[:, :K] >= seg.min_pixels(side)).sum(0).cpu()
            for lay in layers:
                a = acts[lay.name]
                h, w = a.shape[-2:]
                Uh = mats.setdefault((h, side), interp_matrix(h, side, dev))
                Uw = mats.setdefault((w, side), interp_matrix(w, side, dev))
                count_layer(a, stats[lay.name]["threshold"], Uh, Uw, labels, K, acc[lay.name])
                fx.add_present(acc[lay.name], a, fx.class_shares(labels, K, side, (h, w)))
    layers_out = {name: {k: v.cpu() for k, v in d.items()} for name, d in acc.items()}
    return {"layers": layers_out, "class_pixels": class_pixels, "class_images": class_images, "side": side}


def iou_matrix(inter: torch.Tensor, fired: torch.Tensor, class_pixels: torch.Tensor) -> np.ndarray:
    """IoU (C, K) = inter / (fired + class pixels - inter), 0 where the union is empty."""
    union = fired[:, None] + class_pixels[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter)).numpy()


def iqr_thresholds(gan, layers: list, seg: Segmentation, n_select: int, allowed: list[int], stats: dict,
                   seed: int) -> None:
    """GAN Dissection's IQR thresholds on ``n_select`` selection latents (:func:`ganlens.dissect_threshold.
    select_levels`): sets each layer's "threshold", "fraction", "class" and "selection_iqr" in ``stats``."""
    K, dev, mats, names = len(seg.classes), gan.device, {}, [lay.name for lay in layers]
    with torch.inference_mode():
        thr.select_levels(gan.latents(range(thr.SELECT_SEED, thr.SELECT_SEED + n_select)), layers,
                          lambda z: _forward(gan, z, names), lambda x: _labels(seg(x), K, dev), K,
                          lambda h: mats.setdefault(h, interp_matrix(h, gan.image_size, dev)), (ELEMS, CHUNK, seed),
                          allowed, stats)


# --- labels ----------------------------------------------------------------------------------------------

def label_units(layers: list, stats: dict, counts: dict, seg: Segmentation, allowed: list[int], n: int,
                iou_floor: float | None, rule: thr.ThresholdRule) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Per layer: its units with label (:func:`ganlens.dissect_threshold.unit_labels`), IoU and IQR with that
    class, threshold, fired fraction (``coverage``) and, under the IQR rule, the level's nominal fraction and
    selection IQR; counts per class. Returns (layer records, {layer: IoU matrix (C, K)})."""
    records, ious = [], {}
    side = counts["side"]
    for lay in layers:
        c = counts["layers"][lay.name]
        iou = iou_matrix(c["inter"], c["fired"], counts["class_pixels"])
        iqr = thr.iqr_and_iou(c["inter"], c["fired"], counts["class_pixels"], float(n * side * side))[0].numpy()
        ious[lay.name] = iou
        st = stats[lay.name]
        best, ok = thr.unit_labels(rule, iou, iqr, allowed, st.get("class"), iou_floor)
        th, lev = st["threshold"].cpu().numpy(), st["level"].cpu().numpy()
        cov = (c["fired"] / (n * side * side)).numpy()
        units = [{"unit": u, "label": seg.classes[best[u]] if ok[u] else None, "rule": str(rule),
                  "best_class": seg.classes[best[u]], "iou": float(iou[u, best[u]]), "iqr": float(iqr[u, best[u]]),
                  "threshold": float(th[u]), "level": float(lev[u]), "coverage": float(cov[u]),
                  **_selection(st, u)} for u in range(lay.channels)]
        labelled = [u["label"] for u in units if u["label"] is not None]
        records.append({"layer": lay.name, "shape": list(lay.shape), "module": lay.module,
                        "counts": {name: labelled.count(name) for name in seg.classes if name in labelled},
                        "labelled": len(labelled), "unlabelled": lay.channels - len(labelled),
                        "values_kept_per_unit": st["k_kept"], "units": units})
    return records, ious


def _selection(st: dict, u: int) -> dict:
    """The IQR rule's choice for unit u on the selection latents (nothing under the quantile rule)."""
    if "fraction" not in st:
        return {}
    return {"selected_fraction": float(st["fraction"][u]), "selection_iqr": float(st["selection_iqr"][u])}


def _best_units(records: list[dict], ious: dict, K: int) -> list[tuple[str, int, float]]:
    """Per class: (layer, unit, IoU) of its best unit, the first in layer and unit order among equals; one
    argmax per layer instead of a Python loop over classes x units (5,000 class names took minutes)."""
    best: list = [None] * K
    for r in records:
        m = np.asarray(ious[r["layer"]], dtype=np.float64)[: len(r["units"]), :K]
        arg, val = m.argmax(0), m.max(0)
        for k in range(K):
            if best[k] is None or val[k] > best[k][2]:
                best[k] = (r["layer"], int(arg[k]), float(val[k]))
    return best


def class_summary(records: list[dict], ious: dict, counts: dict, seg: Segmentation, allowed: list[int], n: int,
                  iou_floor: float) -> dict:
    """Per class: pixel share and image rate over the dissection samples, units labelled per layer, the best
    unit anywhere, and a note saying with numbers why a class has no unit."""
    total = float(counts["class_pixels"].sum()) or 1.0
    cover = max(u["coverage"] for r in records for u in r["units"])
    out = {}
    best_of = _best_units(records, ious, len(seg.classes))
    for k, name in enumerate(seg.classes):
        best = best_of[k]
        per_layer = {r["layer"]: r["counts"].get(name, 0) for r in records}
        rec = {"pixel_share": float(counts["class_pixels"][k]) / total,
               "image_rate": float(counts["class_images"][k]) / n,
               "units": per_layer, "total_units": sum(per_layer.values()),
               "best_unit": {"layer": best[0], "unit": best[1], "iou": best[2],
                             "its_label": next(r for r in records if r["layer"] == best[0])["units"][best[1]]["label"]},
               "note": None}
        if k not in allowed:
            rec["note"] = "not among the classes asked for"
        elif rec["total_units"] == 0:
            share = rec["pixel_share"]
            bound = min(cover, share) / max(cover, share) if max(cover, share) > 0 else 0.0
            its = rec["best_unit"]["its_label"]
            why = f"labelled {its}" if its else f"under the floor {iou_floor:g}"
            rec["note"] = (f"no unit is labelled with it: best IoU {best[2]:.3f} ({best[0]} unit {best[1]}, {why}); "
                           f"the class covers "
                           f"{100 * share:.2f}% of the pixels and is in {100 * rec['image_rate']:.1f}% of the {n} "
                           f"samples; a unit firing on {100 * cover:.2f}% of the pixels (the most any unit does here) "
                           f"can reach at most IoU {bound:.3f} with it")
        out[name] = rec
    return out


# --- edits: who, where, how measured --------------------------------------------------------------------

def rate(present: np.ndarray) -> dict:
    """Share of True with its exact (Clopper-Pearson) 95% interval."""
    x, n = int(present.sum()), int(len(present))
    if n == 0:
        return {"rate": None, "ci95": None, "count": 0, "n": 0}
    return {"rate": x / n, "ci95": clopper_pearson(x, n).as_list(), "count": x, "n": n}


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact McNemar test of paired booleans on the same latents (forget's keys: lost, gained, p_value)."""
    r = stats.mcnemar(a, b)
    return {"lost": r.a_only, "gained": r.b_only, "p_value": r.p}


def measure(maps: np.ndarray, cls: int, min_px: int, region: np.ndarray | None = None) -> dict:
    """For class maps (N, S, S): "present" (N,) (largest 8-connected region of the class, inside ``region``
    (N, S, S) bool if given, >= min_px pixels), "share" (N,) of the image (or of the region) and, with a
    region, "iou" (N,) of the class's pixels with the region."""
    from ganlens.data.detect import largest_region
    m = maps == cls
    inside = m & region if region is not None else m
    out = {"present": np.array([largest_region(x) >= min_px for x in inside], bool)}
    if region is None:
        out["share"] = m.mean((1, 2))
    else:
        out["share"] = inside.sum((1, 2)) / np.maximum(region.sum((1, 2)), 1)
        out["iou"] = inside.sum((1, 2)) / np.maximum((m | region).sum((1, 2)), 1)
    return out


def render(gan, seg: Segmentation, z: torch.Tensor, edit=None, keep: int = 0) -> tuple[np.ndarray, torch.Tensor]:
    """Class maps (N, S, S) of G(z), each chunk generated under ``edit(i, j)`` (a hooks context manager for
    latents i .. j-1, or None), and the first ``keep`` images."""
    maps, shown = [], []
    for i, j in _chunks(len(z)):
        x = images(gan, z[i:j], batch=CHUNK, edit=edit(i, j) if edit is not None else None)
        if i < keep:
            shown.append(x[:keep - i])
        maps.append(seg(x))
    return np.concatenate(maps), torch.cat(shown) if shown else torch.zeros(0)


@dataclass
class Target:
    """The units edited for one class: layer, units in IoU order, k, values, random orders for controls."""

    cls: int
    name: str
    layer: str
    ranking: list[int]
    ious: list[float]
    k: int
    levels: list[int]
    perms: list[list[int]]

    def chosen(self, m: int | None = None) -> list[int]:
        return self.ranking[:self.k if m is None else m]

    def control(self, d: int, m: int | None = None) -> list[int]:
        return self.perms[d][:self.k if m is None else m]


def dose_levels(k: int, channels: int) -> list[int]:
    """0, 1, 2, 4, ... up to 2k, and k itself; never more than the units outside the chosen k."""
    top = min(2 * k, channels - k)
    levels = {0, k} | {2 ** i for i in range(int(math.log2(max(top, 1))) + 1)} | {top}
    return sorted(v for v in levels if v <= max(top, k))


def make_target(cls: int, seg: Segmentation, records: list[dict], ious: dict, layers: list, edit_layer, k,
                control_draws: int, rng: np.random.Generator) -> Target:
    """Which units of which layer an edit of class ``cls`` uses, and the random control orders."""
    by_name = {lay.name: lay for lay in layers}
    if edit_layer is None:
        name = max(by_name, key=lambda L: float(ious[L][:, cls].max()))
    else:
        name = edit_layer
    col = ious[name][:, cls]
    ranking = [int(u) for u in np.argsort(-col, kind="stable")]
    channels = len(col)
    if k is None:
        rec = next(r for r in records if r["layer"] == name)
        k = max(1, rec["counts"].get(seg.classes[cls], 0))
        k = min(k, channels // 2)          # a random control of as many units must exist outside the k
    elif k >= channels:
        raise GanlensError(f"k {k}: layer {name} has only {channels} units (random controls need others)")
    rest = np.array(ranking[k:])
    perms = [[int(u) for u in rng.permutation(rest)] for _ in range(control_draws)]
    return Target(cls, seg.classes[cls], name, ranking, [float(col[u]) for u in ranking], k,
                  dose_levels(k, channels), perms)


def _summary(m: dict) -> dict:
    out = rate(m["present"])
    out["share"] = float(m["share"].mean()) if len(m["share"]) else None
    if "iou" in m:
        out["iou_with_region"] = float(m["iou"].mean()) if len(m["iou"]) else None
    return out


def compare(before: dict, after: dict, controls: list[dict], units: list[list[int]], effect: str) -> dict:
    """Before vs after vs each random control (outputs of :func:`measure` on the same latents); ``effect``
    names the one-sided effect, mean of (share after - before) ("removal_effect" / "insertion_effect")."""
    draws = [dict(_summary(c), units=u, **{effect: fx.mean_ci(c["share"] - before["share"])},
                  mcnemar_vs_before=mcnemar(before["present"], c["present"]),
                  mcnemar_vs_edit=mcnemar(c["present"], after["present"])) for c, u in zip(controls, units)]
    def mean(key):
        return float(np.mean([d[key] for d in draws])) if draws and draws[0][key] is not None else None
    return {"before": _summary(before), "after": _summary(after),
            "mcnemar_before_vs_after": mcnemar(before["present"], after["present"]),
            effect: fx.mean_ci(after["share"] - before["share"]),
            "control": {"rule": "random units of the same layer outside the chosen ones, edited the same way",
                        "rate_mean": mean("rate"), "share_mean": mean("share"),
                        f"{effect}_mean": float(np.mean([d[effect]["value"] for d in draws])) if draws else None,
                        "draws": draws}}


@dataclass
class Eval:
    """The evaluation latents, their unedited class maps and the first images shown in figures."""

    z: torch.Tensor
    maps: np.ndarray
    shown: torch.Tensor


def run_dose(run, t: Target, n: int, known: dict) -> dict:
    """Presence rate on the first ``n`` latents as ``t.levels`` units are edited in IoU order and in each
    random order; ``run(units, n)`` measures one edit; ``known`` {("rank" | d, m): measure} are reused."""
    def rate_of(key, units):
        m = known[key] if key in known else run(units, n)
        return float(m["present"][:n].mean())
    by_rank, random = [], [[] for _ in t.perms]
    for m in t.levels:
        by_rank.append(rate_of(("rank", m), t.chosen(m)))
        for d in range(len(t.perms)):
            random[d].append(rate_of((d, m), t.control(d, m)))
    return {"levels": t.levels, "n_latents": n, "by_iou": by_rank, "random": random}


def run_remove(gan, seg: Segmentation, t: Target, ev: Eval, fill_values, present, dose_n: int, show: int):
    """Remove class ``t`` (top-k units at every position) on the evaluation latents; the paper's ACE sets the
    same units to ``present`` (C,) (their class-present means) vs zero everywhere. Returns (record, images
    {"after", "control"} of the first ``show`` latents)."""
    min_px = seg.min_pixels(ev.maps.shape[-1])

    def run(units, n, keep=0, values=fill_values):
        vals = None if values is None else values[units]
        maps, shown = render(gan, seg, ev.z[:n], lambda i, j: hooks.ablate(gan.G, t.layer, units, vals), keep)
        return measure(maps, t.cls, min_px), shown
    before = measure(ev.maps, t.cls, min_px)
    (after, shown_after), controls, shown_ctl = run(t.chosen(), len(ev.z), show), [], None
    for d in range(len(t.perms)):
        m, s = run(t.control(d), len(ev.z), show if d == 0 else 0)
        controls.append(m)
        shown_ctl = s if d == 0 else shown_ctl
    units = [t.chosen()] + [t.control(d) for d in range(len(t.perms))]
    rec = compare(before, after, controls, units[1:], "removal_effect")
    on = [run(u, len(ev.z), values=present)[0] for u in units]
    off = [after] + controls if fill_values is None else [run(u, len(ev.z), values=None)[0] for u in units]
    fx.add_ace(rec, on[0], off[0], on[1:], off[1:])
    known = {("rank", 0): before, ("rank", t.k): after, **{(d, t.k): c for d, c in enumerate(controls)},
             **{(d, 0): before for d in range(len(t.perms))}}
    rec["dose"] = run_dose(lambda u, n: run(u, n)[0], t, min(dose_n, len(ev.z)), known)
    rec.update(layer=t.layer, k=t.k, units=t.chosen(), unit_ious=t.ious[:t.k],
               edit="zero at every position" if fill_values is None else "mean activation at every position",
               n_latents=len(ev.z), ace_edit="units set to their class-present mean vs zero, at every position")
    return rec, {"after": shown_after, "control": shown_ctl}


def insert_regions(maps: np.ndarray, region_cls: int, side: int, size: int, box) -> dict:
    """Target regions for insertion: {"used" (M,) indices into maps, "cells" (M, side, side) bool at the edit
    layer, "pixels" (M, S, S) bool, "boxes" (M, 4) [x0, y0, x1, y1] exclusive, "cover" (M,) share of the
    region class in each square (None with a box)}."""
    n, s = len(maps), maps.shape[-1]
    if box is not None:
        from ganlens.data.boxes import cell_labels, pixel_mask
        cells = torch.from_numpy(cell_labels([list(box)], s, side, 0.5) == 1)
        return {"used": np.arange(n), "cells": cells.expand(n, -1, -1).clone(),
                "pixels": np.broadcast_to(pixel_mask([list(box)], s, s), (n, s, s)).copy(),
                "boxes": np.tile(np.asarray(box, np.int64), (n, 1)), "cover": None}
    r = min(side, max(1, round(size * side / s)))
    frac = F.adaptive_avg_pool2d(torch.from_numpy(maps == region_cls).float()[:, None], side)
    win = F.avg_pool2d(frac, r, stride=1)[:, 0]                                  # (N, side-r+1, side-r+1)
    best = win.flatten(1).max(1)
    i, j = best.indices // win.shape[-1], best.indices % win.shape[-1]
    used = np.flatnonzero(best.values.numpy() >= 0.5)
    cells = torch.zeros(len(used), side, side, dtype=torch.bool)
    pixels = np.zeros((len(used), s, s), bool)
    boxes = np.zeros((len(used), 4), np.int64)
    for q, u in enumerate(used):
        a, b = int(i[u]), int(j[u])
        cells[q, a:a + r, b:b + r] = True
        x0, y0, x1, y1 = (round(v * s / side) for v in (b, a, b + r, a + r))
        pixels[q, y0:y1, x0:x1] = True
        boxes[q] = (x0, y0, x1, y1)
    return {"used": used, "cells": cells, "pixels": pixels, "boxes": boxes, "cover": best.values.numpy()[used],
            "square_cells": r}


def run_insert(gan, seg: Segmentation, t: Target, ev: Eval, level, reg: dict, dose_n: int, show: int):
    """Insert class ``t`` (top-k units set to ``level`` (C,), their class-present means, inside each sample's
    region); the paper's ACE against the same units zeroed there. Returns (record,
    images {"before", "after", "control"} and "boxes" of the first ``show`` used latents)."""
    used = reg["used"]
    z, px, min_px = ev.z[used], reg["pixels"], seg.min_pixels(ev.maps.shape[-1])
    if len(used) == 0:
        return None, {}

    def run(units, n, keep=0, values=level):
        def edit(i, j):
            return hooks.set_channels(gan.G, t.layer, units, values[units], mask=reg["cells"][i:j])
        maps, shown = render(gan, seg, z[:n], edit, keep)
        return measure(maps, t.cls, min_px, px[:n]), shown
    before = measure(ev.maps[used], t.cls, min_px, px)
    (after, shown_after), controls, shown_ctl = run(t.chosen(), len(z), show), [], None
    for d in range(len(t.perms)):
        m, s = run(t.control(d), len(z), show if d == 0 else 0)
        controls.append(m)
        shown_ctl = s if d == 0 else shown_ctl
    units = [t.chosen()] + [t.control(d) for d in range(len(t.perms))]
    rec = compare(before, after, controls, units[1:], "insertion_effect")
    off = [run(u, len(z), values=torch.zeros_like(level))[0] for u in units]
    fx.add_ace(rec, after, off[0], controls, off[1:])
    rec["ablation_effect"] = fx.mean_ci(off[0]["share"] - before["share"])
    known = {("rank", 0): before, ("rank", t.k): after, **{(d, t.k): c for d, c in enumerate(controls)},
             **{(d, 0): before for d in range(len(t.perms))}}
    rec["dose"] = run_dose(lambda u, n: run(u, n)[0], t, min(dose_n, len(z)), known)
    rec.update(layer=t.layer, k=t.k, units=t.chosen(), unit_ious=t.ious[:t.k], n_latents=len(z),
               edit="each unit set to its mean activation where the class is present (gandissect's "
                    "weighted_mean_present_feature), inside the region",
               ace_edit="units set to their class-present mean vs zero, inside the region",
               values=[float(v) for v in level[t.chosen()].cpu()])
    first = [int(q) for q in range(min(show, len(used)))]
    shown_before = images(gan, z[first]) if first else torch.zeros(0)
    return rec, {"before": shown_before, "after": shown_after, "control": shown_ctl, "boxes": reg["boxes"][first]}


# --- agreement with forgetting ---------------------------------------------------------------------------

def agreement(gan, boxes, seg: Segmentation, records: list[dict], ious: dict, targets: dict, seed: int) -> dict:
    """Units dissection labels with the box file's class vs the maps forget's probe selects, on one layer."""
    if boxes is None:
        return {"available": False, "reason": "no box file given (boxes= / --boxes)"}
    from scipy.stats import spearmanr

    from ganlens.forget import read_boxes, run_probe
    bf = read_boxes(boxes, gan)
    label = bf.label if bf.label in seg.classes else bf.label.rstrip("s")
    if label not in seg.classes:
        return {"available": False, "reason": f"the box file's label {bf.label!r} is not a segmenter class"}
    cls = seg.classes.index(label)
    layer = targets[label].layer if label in targets else max(ious, key=lambda L: float(ious[L][:, cls].max()))
    try:
        p = run_probe(gan, layer, bf, np.random.default_rng(seed), negatives_per_image=20, C=1.0, folds=5,
                      top_k=None, fill="mean", control_draws=1, seed=seed)
    except GanlensError as e:
        return {"available": False, "reason": f"forget's probe: {e}"}
    w = np.asarray(p["probe"]["weights"], float)
    rec = next(r for r in records if r["layer"] == layer)
    dis = {u["unit"] for u in rec["units"] if u["label"] == label}
    fgt = {int(u) for u in np.flatnonzero(w > 0)}
    both, c = len(dis & fgt), len(w)
    rho = spearmanr(ious[layer][:, cls], w)
    top = {int(u) for u in np.argsort(-ious[layer][:, cls], kind="stable")[:len(fgt)]}
    return {"available": True, "label": label, "layer": layer, "boxes": str(bf.path or "in-memory"),
            "probe_cv_auc": (p["probe"]["cv"] or {}).get("auc_mean"),
            "dissection_units": sorted(dis), "forget_maps": sorted(fgt), "overlap": both,
            "jaccard": both / len(dis | fgt) if dis | fgt else None,
            "overlap_p_value": stats.hypergeom_tail(both, c, len(dis), len(fgt)) if dis and fgt else None,
            "overlap_expected_by_chance": len(dis) * len(fgt) / c,
            "top_iou_units_in_forget_maps": len(top & fgt),
            "spearman_iou_vs_probe_weight": {"rho": finite_or_none(rho.statistic),
                                             "p_value": finite_or_none(rho.pvalue)},
            "rule": "dissection: units labelled with the class on this layer; forget: maps with probe weight > 0 "
                    "(python -m ganlens.forget's rule and settings); p-value: hypergeometric, overlap at least this "
                    "large by chance; top_iou_units_in_forget_maps: of the len(forget_maps) units of highest IoU"}


# --- the heatmap gallery ---------------------------------------------------------------------------------

def gallery(gan, records: list[dict], stats: dict, order: list[str], per_class: int = 3, classes: int = 4):
    """Top units of up to ``classes`` classes (in ``order``), each over its TOP_SAMPLES strongest samples.
    Returns (JSON list, arrays {"units_images" (M, T, nc, S, S), "units_maps" (M, T, S, S) activation / level,
    "units_fire" (M, T, S, S)})."""
    shown = []
    for name in order:
        units = sorted(((u["iou"], r["layer"], u["unit"]) for r in records for u in r["units"] if u["label"] == name),
                       reverse=True)[:per_class]
        if units:
            shown += [{"class": name, "layer": L, "unit": u, "iou": i,
                       "seeds": [int(s) for s in stats[L]["top_samples"][u]]} for i, L, u in units]
        if len({s["class"] for s in shown}) >= classes:
            break
    if not shown:
        return [], {}
    seeds = sorted({s for e in shown for s in e["seeds"]})
    names = sorted({e["layer"] for e in shown})
    with torch.inference_mode():
        x, acts = _forward(gan, gan.latents(seeds), names)
    side, pos = x.shape[-1], {s: i for i, s in enumerate(seeds)}
    imgs, maps, fire = [], [], []
    for e in shown:
        idx = [pos[s] for s in e["seeds"]]
        a = acts[e["layer"]][idx, e["unit"]]                                       # (T, h, w)
        U = interp_matrix(a.shape[-1], side, a.device)
        up = (U @ a @ U.T).cpu()
        st = stats[e["layer"]]
        imgs.append(x[idx])
        maps.append(up / float(st["level"][e["unit"]]) if float(st["level"][e["unit"]]) > 0 else up)
        fire.append(up > float(st["threshold"][e["unit"]]))
    return shown, {"units_images": torch.stack(imgs).half().numpy(), "units_maps": torch.stack(maps).half().numpy(),
                   "units_fire": torch.stack(fire).numpy()}


# --- the analysis ----------------------------------------------------------------------------------------

def check_settings(gan, *, layers=None, n: int = 1000, threshold="iqr", n_select: int = 200,
                   iou_floor: float | None = None,
                   fill: str = "zero", control_draws: int = 3, n_eval: int = 500, dose_n: int = 100, show: int = 8,
                   k: int | None = None, box=None, region_size: int | None = None, edit_layer: str | None = None,
                   flags: bool = False) -> tuple[list, str | None]:
    """(layers to dissect, edit layer name or None) after checking every setting; a one-line GanlensError
    otherwise, naming settings as Python arguments or, with ``flags``, as the command's flags."""
    def name(key):
        return "--" + key.replace("_", "-") if flags else key
    require_at_least({"n": (n, 1), "control_draws": (control_draws, 1), "n_eval": (n_eval, 1), "dose_n": (dose_n, 1),
                      "show": (show, 1), "k": (k, 1), "region_size": (region_size, 1), "n_select": (n_select, 1)},
                     flags=flags)
    thr.parse_rule(threshold, name("threshold"))
    ok = iou_floor is None or (isinstance(iou_floor, (int, float)) and math.isfinite(iou_floor) and 0 <= iou_floor <= 1)
    if not ok:
        raise GanlensError(f"{name('iou_floor')} must be a number between 0 and 1, got {iou_floor!r}")
    if fill not in FILLS:
        raise GanlensError(f"{name('fill')} must be one of {', '.join(FILLS)}, got {fill!r}")
    if show > n_eval:
        raise GanlensError(f"{name('show')} {show}: more samples to show than {name('n_eval')} {n_eval}")
    gan.require_G()
    try:
        lays = dissect_layers(gan, layers)
        edit = None if edit_layer is None else gan.layer("G", edit_layer).name
    except GanlensError as e:
        raise GanlensError(f"{name('layers') if edit_layer is None else name('edit_layer')}: {e}")
    if edit is not None and edit not in [lay.name for lay in lays]:
        raise GanlensError(f"{name('edit_layer')} {edit_layer}: not among the dissected layers "
                           f"({', '.join(lay.name for lay in lays)})")
    widest = max(lay.channels for lay in lays if edit is None or lay.name == edit)
    if k is not None and k >= widest:
        raise GanlensError(f"{name('k')} {k}: layer {edit or 'each dissected layer'} has only {widest} units "
                           f"(random controls need others)")
    size = gan.image_size
    if box is not None:
        ok = (len(box) == 4 and all(isinstance(v, (int, np.integer)) for v in box)
              and 0 <= box[0] < box[2] <= size and 0 <= box[1] < box[3] <= size)
        if not ok:
            raise GanlensError(f"{name('box')} {list(box)}: expected integers x0, y0, x1, y1 with 0 <= x0 < x1 <= "
                               f"{size} and 0 <= y0 < y1 <= {size} (image pixels, x1 and y1 exclusive)")
    if region_size is not None and region_size > size:
        raise GanlensError(f"{name('region_size')} {region_size}: larger than the image ({size} px)")
    return lays, edit


def targets_for(spec, seg: Segmentation, info: dict, region: str, what: str) -> list[str]:
    """Class names to remove / insert: ``spec`` (a name or names; () for none), or by default "window" when
    the segmenter knows it, else the class (not the region class) with the most labelled units."""
    if spec is None:
        if DEFAULT_TARGET in seg.classes:
            return [DEFAULT_TARGET]
        cands = [c for c in seg.classes if c != region and info[c]["total_units"] > 0]
        return [max(cands, key=lambda c: info[c]["total_units"])] if cands else []
    names = [spec] if isinstance(spec, str) else list(spec)
    for c in names:
        if c not in seg.classes:
            raise GanlensError(f"{what}: unknown class {c!r}; the segmenter's classes are {', '.join(seg.classes)}")
    return list(dict.fromkeys(names))


def _region_class(region_class, seg: Segmentation, counts: dict) -> str:
    if region_class is not None:
        if region_class not in seg.classes:
            raise GanlensError(f"region_class: unknown class {region_class!r}; the segmenter's classes are "
                               f"{', '.join(seg.classes)}")
        return region_class
    if DEFAULT_REGION_CLASS in seg.classes:
        return DEFAULT_REGION_CLASS
    return seg.classes[int(counts["class_pixels"].argmax())]


def run_edits(gan, seg, records, ious, stats, lays, info, s: dict) -> tuple[dict, dict]:
    """Remove and insert for the chosen classes (module docstring). Returns (JSON parts, arrays)."""
    region = _region_class(s["region_class"], seg, s["counts"])
    rm = targets_for(s["remove"], seg, info, region, "remove")
    ins = targets_for(s["insert"], seg, info, region, "insert")
    rng = np.random.default_rng(s["seed"])
    targets = {c: make_target(seg.classes.index(c), seg, records, ious, lays, s["edit_layer"], s["k"],
                              s["control_draws"], rng) for c in dict.fromkeys(rm + ins)}
    out = {"remove": {}, "insert": {}, "targets": targets, "region_class": region}
    arrays: dict[str, np.ndarray] = {}
    if not targets:
        return out, arrays
    z = gan.latents(range(EVAL_SEED, EVAL_SEED + s["n_eval"]))
    with torch.inference_mode():
        ev = Eval(z, *render(gan, seg, z, None, keep=s["show"]))
    arrays["eval_before"] = ev.shown.numpy()
    side = {lay.name: lay.side for lay in lays}
    def present(t):
        c = s["counts"]["layers"][t.layer]
        return fx.present_mean(c["present_sum"], c["present_weight"])[:, t.cls].to(gan.device)
    for c in rm:
        t = targets[c]
        fill = stats[t.layer]["mean"] if s["fill"] == "mean" else None
        with torch.inference_mode():
            rec, shown = run_remove(gan, seg, t, ev, fill, present(t), s["dose_n"], s["show"])
        out["remove"][c] = rec
        arrays.update({f"remove_{t.cls}_{key}": v.numpy() for key, v in shown.items()})
    for c in ins:
        t = targets[c]
        reg = insert_regions(ev.maps, seg.classes.index(region), side[t.layer],
                             s["region_size"] or max(1, gan.image_size // 4), s["box"])
        with torch.inference_mode():
            rec, shown = run_insert(gan, seg, t, ev, present(t), reg, s["dose_n"], s["show"])
        out["insert"][c] = _insert_json(rec, reg, region, s, len(ev.z))
        arrays.update({f"insert_{t.cls}_{key}": np.asarray(v.numpy() if isinstance(v, torch.Tensor) else v)
                       for key, v in shown.items()})
    return out, arrays


def _insert_json(rec: dict | None, reg: dict, region: str, s: dict, n_eval: int) -> dict:
    if s["box"] is not None:
        rule = f"the box {list(s['box'])} (image pixels, x1 and y1 exclusive) on every latent"
    else:
        rule = (f"per latent, the square of {reg['square_cells']}x{reg['square_cells']} cells of the edit layer with "
                f"the most {region!r} pixels in the unedited image; latents where it is under half {region!r} are "
                f"left out")
    region_info = {"rule": rule, "class": None if s["box"] is not None else region, "n_used": int(len(reg["used"])),
                   "n_left_out": n_eval - int(len(reg["used"])),
                   "mean_cover": float(reg["cover"].mean()) if reg["cover"] is not None and len(reg["cover"]) else None}
    if rec is None:
        return {"region": region_info, "skipped": "no latent has a region that qualifies"}
    return dict(rec, region=region_info)


def dissect(gan, *, layers=None, n: int = 1000, threshold: str = "iqr", n_select: int = 200,
            iou_floor: float | None = None, classes=None,
            segmenter=None, remove=None, insert=None, edit_layer: str | None = None, k: int | None = None,
            fill: str = "zero", control_draws: int = 3, n_eval: int = 500, dose_n: int = 100,
            region_class: str | None = None, box=None, region_size: int | None = None, boxes=None, show: int = 8,
            seed: int = 0) -> Result:
    """Label ``gan``'s generator units with the classes they draw, remove and insert classes through them,
    and measure it (module docstring).

    gan: a :class:`ganlens.GAN` with a conv G. layers: G layers (default: every hidden one with a spatial
    map of side >= 2). n: dissection samples (seeds 0 .. n-1). classes: the class names units may be
    labelled with (default all). segmenter: (fn, class names) or a :class:`Segmentation` (default: the
    rooms segmenter on rooms models). remove / insert: class names (default "window" if known; () for
    none). edit_layer, k, fill ("zero" | "mean"), control_draws: the edits. n_eval: fresh latents the edits
    are measured on, dose_n of them per dose-curve point, show of them in the figures. region_class, box
    (x0, y0, x1, y1), region_size (px): where insertion happens. boxes: a box file for the agreement with
    forgetting. Returns a Result (kind "dissect"; figures "dissect", "units", "remove", "insert", "dose").
    """
    t_start = time.perf_counter()
    settings = {"layers": layers, "n": n, "threshold": str(threshold), "n_select": n_select, "iou_floor": iou_floor,
                "classes": classes,
                "remove": remove, "insert": insert, "edit_layer": edit_layer, "k": k, "fill": fill,
                "control_draws": control_draws, "n_eval": n_eval, "dose_n": dose_n, "region_class": region_class,
                "box": list(box) if box is not None else None, "region_size": region_size, "show": show, "seed": seed}
    lays, edit = check_settings(gan, **{key: settings[key] for key in (
        "layers", "n", "threshold", "n_select", "iou_floor", "fill", "control_draws", "n_eval", "dose_n", "show", "k",
        "box", "region_size", "edit_layer")})
    seg = as_segmentation(segmenter, gan)
    if classes is not None and not isinstance(classes, str) and len(classes) == 0:
        raise GanlensError("classes: name at least one class units may be labelled with (or leave it out: all)")
    allowed = list(range(len(seg.classes))) if classes is None else [
        seg.classes.index(c) if c in seg.classes else _unknown(c, seg) for c in ([classes] if isinstance(classes, str)
                                                                                else classes)]
    timings = {}
    stats, counts, records, ious, info = label_pass(gan, lays, seg, settings, allowed, timings)
    t = time.perf_counter()
    s = dict(settings, edit_layer=edit, counts=counts, box=box)
    edits, arrays = run_edits(gan, seg, records, ious, stats, lays, info, s)
    timings["edits"], t = time.perf_counter() - t, time.perf_counter()
    agree = agreement(gan, boxes, seg, records, ious, edits["targets"], seed)
    timings["agreement"] = time.perf_counter() - t
    order = list(edits["remove"]) + list(edits["insert"]) + sorted(info, key=lambda c: -info[c]["total_units"])
    shown, garrays = gallery(gan, records, stats, list(dict.fromkeys(order)))
    arrays.update(garrays)
    arrays.update({f"iou_{i}": ious[lay.name].astype(np.float32) for i, lay in enumerate(lays)})
    data = _assemble(gan, seg, settings, records, info, edits, agree, shown, boxes)
    timings["total"] = time.perf_counter() - t_start
    data["seconds"] = {key: round(v, 3) for key, v in timings.items()}
    call = "ganlens.dissect(gan, " + ", ".join(f"{key}={v!r}" for key, v in settings.items()
                                               if key != "seed") + f", seed={seed})"
    data["provenance"] = provenance(gan, seed, call=call)
    plots = {"dissect": plot_counts}
    plots.update({"units": plot_units} if shown else {})
    plots.update({"remove": plot_remove} if edits["remove"] else {})
    plots.update({"insert": plot_insert} if any("after" in v for v in edits["insert"].values()) else {})
    plots.update({"dose": plot_dose} if edits["remove"] or edits["insert"] else {})
    return Result("dissect", data, arrays, plots=plots)


def label_pass(gan, lays: list, seg: Segmentation, s: dict, allowed: list[int], timings: dict):
    """Thresholds, IoU counts and labels (module docstring, steps 1-3). Returns (stats, counts, layer records,
    IoU matrices, per-class summary); adds "thresholds" and "iou" seconds to ``timings``."""
    t = time.perf_counter()
    rule, n = thr.parse_rule(s["threshold"]), s["n"]
    stats = quantile_pass(gan, lays, n, rule.q)
    if rule.kind == "iqr":
        iqr_thresholds(gan, lays, seg, s["n_select"], allowed, stats, s["seed"])
    timings["thresholds"], t = time.perf_counter() - t, time.perf_counter()
    counts = iou_pass(gan, lays, n, stats, seg)
    timings["iou"] = time.perf_counter() - t
    records, ious = label_units(lays, stats, counts, seg, allowed, n, s["iou_floor"], rule)
    floor = rule.iou_floor if s["iou_floor"] is None else s["iou_floor"]
    return stats, counts, records, ious, class_summary(records, ious, counts, seg, allowed, n, floor)


def _unknown(c, seg: Segmentation):
    raise GanlensError(f"classes: unknown class {c!r}; the segmenter's classes are {', '.join(seg.classes)}")


def _assemble(gan, seg: Segmentation, settings: dict, records, info, edits, agree, shown, boxes) -> dict:
    """The JSON of a dissect result (everything but "seconds" and "provenance")."""
    origin = gan.origin()
    n_units = sum(len(r["units"]) for r in records)
    labelled = sum(r["labelled"] for r in records)
    return {
        "settings": dict(settings, checkpoint=origin["checkpoint"], checkpoint_sha256=gan.sha256, source=gan.source,
                         segmenter=seg.name, boxes=None if boxes is None else str(getattr(boxes, "path", boxes)),
                         device=str(gan.device)),
        "segmenter": seg.describe(),
        "method": {"threshold": thr.THRESHOLD_DOC[thr.parse_rule(settings["threshold"]).kind],
                   "iou": "pixels where the unit fires and the class is, over all samples / pixels where either is",
                   "iqr": "mutual information / joint entropy of (unit fires, class is there) over all pixels",
                   "label": thr.LABEL_DOC[thr.parse_rule(settings["threshold"]).kind].format(
                       floor=thr.parse_rule(settings["threshold"]).iou_floor if settings["iou_floor"] is None
                       else settings["iou_floor"], iqr=thr.IQR_FLOOR),
                   "presence": f"the class's largest 8-connected region covers >= {seg.min_area:.4g} of the image "
                               f"(inside the region for insertion)",
                   "ace": "GAN Dissection's average causal effect: mean over the same latents of (class pixel share "
                          "with the units set to their class-present mean - with them zeroed), of the image for "
                          "removal, of the region for insertion; 95% t interval",
                   "removal_effect": "mean over latents of (class pixel share after removal - before)",
                   "insertion_effect": "mean over latents of (share of the region after insertion - before)",
                   "ablation_effect": "mean over latents of (share of the region with the units zeroed there - "
                                      "before)",
                   "rates_ci": "exact binomial (Clopper-Pearson) 95%", "mcnemar": "exact, on the paired latents",
                   "dissection_latents": "seeds 0 .. n-1", "edit_latents": f"seeds {EVAL_SEED} + i"},
        "summary": {"units": n_units, "labelled": labelled, "unlabelled": n_units - labelled,
                    "per_class": {c: v["total_units"] for c, v in info.items() if v["total_units"]},
                    "region_class": edits["region_class"]},
        "layers": records,
        "classes": info,
        "remove": edits["remove"],
        "insert": edits["insert"],
        "agreement_with_forget": agree,
        "shown_units": shown,
    }


# --- figures ----------------------------------------------------------------------------------------------

def _colours(classes: list[str]) -> dict[str, tuple]:
    import matplotlib
    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    return {c: cmap(i % cmap.N) for i, c in enumerate(classes)}


def plot_counts(result: dict, arrays: dict):
    """Units labelled with each class, one panel per layer (bars in the segmenter's class order)."""
    recs, classes = result["layers"], result["segmenter"]["classes"]
    shown = list(classes)
    colours, s = _colours(classes), result["settings"]
    with figures.style():
        fig, axes = figures.figure("two" if len(recs) > 2 else "one", aspect=0.36 if len(recs) > 2 else 0.7,
                                   ncols=len(recs), sharey=True, squeeze=False)
        for ax, r in zip(axes[0], recs):
            vals = [r["counts"].get(c, 0) for c in shown]
            ax.bar(range(len(shown)), vals, color=[colours[c] for c in shown], width=0.75)
            for i, v in enumerate(vals):
                if v:
                    ax.text(i, v, str(v), ha="center", va="bottom", fontsize=6)
            ax.set_xticks(range(len(shown)))
            ax.set_xticklabels(shown, rotation=60, ha="right", fontsize=6)
            c, h, w = r["shape"]
            ax.set_title(f"{r['layer']} ({c} units, {h}x{w})\n{r['unlabelled']} unlabelled", fontsize=7)
        axes[0][0].set_ylabel("units labelled")
        fig.suptitle(f"units labelled: {result['method']['label']}; threshold {s['threshold']}; {s['n']} samples",
                     fontsize=6, y=1.1, wrap=True)
    return fig


def _outline(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a (H, W) bool mask (inside pixels with a 4-neighbour outside)."""
    p = np.pad(mask, 1)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


def unit_tile(img: np.ndarray, heat: np.ndarray, fire: np.ndarray, scale: int) -> np.ndarray:
    """One heatmap tile: the image (nc, S, S) in [-1, 1] under the unit's upsampled activation / level (S, S)
    in a colour map, the pixels above its threshold outlined in cyan; enlarged ``scale`` times."""
    import matplotlib
    x = (np.clip(img.astype(np.float32), -1, 1) + 1) / 2
    x = np.repeat(x, 3, 0) if x.shape[0] == 1 else x[:3]
    x = x.transpose(1, 2, 0)
    h = matplotlib.colormaps["inferno"](np.clip(heat.astype(np.float32), 0, 1))[..., :3]
    t = 0.45 * x + 0.55 * h
    t = np.repeat(np.repeat(t, scale, 0), scale, 1)
    edge = _outline(np.repeat(np.repeat(fire, scale, 0), scale, 1))
    t[edge] = (0.0, 1.0, 1.0)
    return t


def plot_units(result: dict, arrays: dict):
    """The top units of each class (rows) over the samples where they fire most (columns): activation /
    level as a heat map over the image, pixels above the unit's threshold outlined."""
    shown = result["shown_units"]
    imgs, maps, fire = arrays["units_images"], arrays["units_maps"], arrays["units_fire"]
    m, t, s = maps.shape[0], maps.shape[1], maps.shape[-1]
    scale, gap = max(1, 96 // s), 2
    side = s * scale
    sheet = np.ones((m * (side + gap) - gap, t * (side + gap) - gap, 3), np.float32)
    for i in range(m):
        for j in range(t):
            sheet[i * (side + gap):i * (side + gap) + side, j * (side + gap):j * (side + gap) + side] = \
                unit_tile(imgs[i, j], maps[i, j], fire[i, j], scale)
    with figures.style():
        fig, ax = figures.figure("one", aspect=sheet.shape[0] / sheet.shape[1] * 0.72)
        figures.show_image(ax, sheet)
        ax.set_yticks([i * (side + gap) + side / 2 for i in range(m)])
        ax.set_yticklabels([f"{e['class']}\n{e['layer']} #{e['unit']}\nIoU {e['iou']:.2f}" for e in shown], fontsize=6)
        ax.tick_params(axis="y", length=0, pad=2)
        ax.set_title(f"top units per class, each over its {t} strongest samples\n(colour: activation / level; "
                     f"cyan: above threshold)", fontsize=7, pad=3)
    return fig


def _rows(ax, img: np.ndarray, labels: list[str]) -> None:
    figures.show_image(ax, img)
    h = img.shape[0] / len(labels)
    ax.set_yticks([h * (i + 0.5) for i in range(len(labels))])
    ax.set_yticklabels(labels, fontsize=6)
    ax.tick_params(axis="y", length=0, pad=2)


def plot_remove(result: dict, arrays: dict):
    """Per removed class: samples, the same latents with its top-k units removed, and with k random units."""
    from ganlens.forget import sheet
    recs = result["remove"]
    classes = result["segmenter"]["classes"]
    before = torch.from_numpy(arrays["eval_before"]).float()
    n = len(before)
    with figures.style():
        fig, axes = figures.figure("two", aspect=0.42 * len(recs) * 8 / max(n, 8) + 0.04, nrows=len(recs),
                                   squeeze=False)
        for ax, (c, r) in zip(axes[:, 0], recs.items()):
            i = classes.index(c)
            rows = [before, torch.from_numpy(arrays[f"remove_{i}_after"]).float(),
                    torch.from_numpy(arrays[f"remove_{i}_control"]).float()]
            units = "unit" if r["k"] == 1 else "units"
            _rows(ax, sheet(torch.cat(rows), cols=n), ["samples", f"{r['k']} {c} {units}\nremoved",
                                                       f"{r['k']} random\n{units} removed"])
            ax.set_title(f"{c} ({r['layer']}, {r['edit']}): rate {r['before']['rate']:.2f} -> {r['after']['rate']:.2f}"
                         f", random units {r['control']['rate_mean']:.2f}; {r['n_latents']} latents", fontsize=7, pad=3)
    return fig


def plot_insert(result: dict, arrays: dict):
    """Per inserted class: samples with the target region (red), the top-k units set inside it, k random units."""
    from ganlens.forget import sheet
    recs = {c: r for c, r in result["insert"].items() if "after" in r}
    classes = result["segmenter"]["classes"]
    with figures.style():
        n = max(len(arrays[f"insert_{classes.index(c)}_before"]) for c in recs)
        fig, axes = figures.figure("two", aspect=0.42 * len(recs) * 8 / max(n, 8) + 0.04, nrows=len(recs),
                                   squeeze=False)
        for ax, (c, r) in zip(axes[:, 0], recs.items()):
            i = classes.index(c)
            rows = [torch.from_numpy(arrays[f"insert_{i}_{key}"]).float() for key in ("before", "after", "control")]
            boxes = [[list(b)] for b in arrays[f"insert_{i}_boxes"].tolist()] * 3
            units = "unit" if r["k"] == 1 else "units"
            _rows(ax, sheet(torch.cat(rows), cols=len(rows[0]), boxes=boxes),
                  ["samples\n(target region)", f"{r['k']} {c} {units}\nset inside",
                   f"{r['k']} random\n{units} set inside"])
            ax.set_title(f"{c} in the region ({r['layer']}): rate {r['before']['rate']:.2f} -> {r['after']['rate']:.2f}"
                         f", random units {r['control']['rate_mean']:.2f}; {r['n_latents']} latents", fontsize=7, pad=3)
    return fig


def plot_dose(result: dict, arrays: dict):
    """Presence rate against the number of units edited, in IoU order vs random orders, per edit."""
    panels = [("remove", c, r) for c, r in result["remove"].items()] + \
             [("insert", c, r) for c, r in result["insert"].items() if "dose" in r]
    with figures.style():
        fig, axes = figures.figure("two" if len(panels) > 1 else "one", aspect=0.34 if len(panels) > 1 else 0.7,
                                   ncols=len(panels), squeeze=False)
        for ax, (kind, c, r) in zip(axes[0], panels):
            d = r["dose"]
            lv, rnd = np.array(d["levels"]), np.array(d["random"], float)
            ax.plot(lv, d["by_iou"], "o-", color="C3", ms=3, label=f"{c} units (IoU order)")
            ax.plot(lv, rnd.mean(0), "s--", color="C0", ms=3, label=f"random units (mean of {len(rnd)})")
            if len(rnd) > 1:
                ax.fill_between(lv, rnd.min(0), rnd.max(0), color="C0", alpha=0.2, lw=0)
            ax.axvline(r["k"], color="0.5", lw=0.6, ls=":")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(f"units {'removed' if kind == 'remove' else 'set in the region'} ({r['layer']})")
            ax.set_title(f"{kind} {c}: {d['n_latents']} latents", fontsize=7)
            ax.legend(frameon=False, fontsize=6, loc="best")
        axes[0][0].set_ylabel("share of samples with the class\n(in the region, for insert)")
    return fig


# --- command line -----------------------------------------------------------------------------------------

def _names(text: str) -> tuple[str, ...] | None:
    return () if text.strip().lower() == "none" else tuple(t.strip() for t in text.split(",") if t.strip())


def _box(text: str) -> tuple[int, ...]:
    try:
        v = tuple(int(t) for t in text.split(","))
    except ValueError:
        v = ()
    if len(v) != 4:
        raise argparse.ArgumentTypeError(f"must be four integers x0,y0,x1,y1, got {text!r}")
    return v


def _rule(text: str) -> str:
    try:
        return str(thr.parse_rule(text))
    except GanlensError as e:
        raise argparse.ArgumentTypeError(f"must be 'iqr' or 'quantile:Q' with 0 < Q < 1, got {text!r}") from e


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Label every generator unit with the object class it draws (GAN Dissection), then remove "
                         "and insert a class through its units and measure it against random units.", EXAMPLES)
    p.add_common(out_default="ganlens-out/dissect")
    p.add_argument("--segmenter", metavar="FILE.py:FUNC",
                   help="your segmenter: FUNC() returns (fn, class_names), fn(images (N, C, S, S) float in [-1, 1]) -> "
                        "integer class maps (N, S, S). This RUNS THE PYTHON CODE YOU NAME, on purpose (default: the "
                        "rooms segmenter on rooms models)")
    p.add_argument("--layers", default="all", help="G layers to dissect, comma-separated (module paths or aliases), "
                                                   "'all' hidden conv layers (default), or 'list' to print G's layers")
    p.add_argument("--n", type=cli.at_least(1), default=1000, help="dissection samples, seeds 0..N-1 (default: 1000)")
    p.add_argument("--threshold", type=_rule, default="iqr", metavar="iqr|quantile:Q",
                   help="per-unit threshold: 'iqr', GAN Dissection's level maximising the information quality ratio "
                        "with the unit's best class (default), or 'quantile:0.99', a fixed per-unit quantile")
    p.add_argument("--n-select", type=cli.at_least(1), default=200, metavar="N",
                   help="latents the IQR rule picks levels on, seeds 2e9+i (default: 200)")
    p.add_argument("--iou-floor", type=cli.number(0, 1),
                   help="IoU a label needs (default: 0.05 under iqr, as gandissect; 0.04 under a quantile)")
    p.add_argument("--classes", type=_names, help="class names units may be labelled with (default: all)")
    p.add_argument("--remove", type=_names, help="classes to remove, comma-separated, or 'none' "
                                                 "(default: window if the segmenter knows it)")
    p.add_argument("--insert", type=_names,
                   help="classes to insert, or 'none' (default: window if the segmenter knows it)")
    p.add_argument("--edit-layer", help="layer whose units are edited (default: the one with the class's best unit)")
    p.add_argument("--k", type=cli.at_least(1), help="units edited (default: those labelled with the class there, at most half the layer)")
    p.add_argument("--fill", choices=FILLS, default="zero", help="removed units become zero (default) or their mean")
    p.add_argument("--control-draws", type=cli.at_least(1), default=3, metavar="D",
                   help="random unit sets per edit (default: 3)")
    p.add_argument("--n-eval", type=cli.at_least(1), default=500, metavar="N",
                   help="fresh latents the edits are measured on (default: 500)")
    p.add_argument("--dose-n", type=cli.at_least(1), default=100, metavar="N",
                   help="of those, latents per dose-curve point (default: 100)")
    p.add_argument("--show", type=cli.at_least(1), default=8, help="samples in the before/after figures (default: 8)")
    p.add_argument("--region-class", help="class whose area insertion targets (default: wall, else the commonest)")
    p.add_argument("--box", type=_box, metavar="X0,Y0,X1,Y1", help="insert inside this box (image pixels) instead")
    p.add_argument("--region-size", type=cli.at_least(1), metavar="PX",
                   help="side of the per-sample insertion square (default: a quarter of the image)")
    p.add_argument("--boxes", default="auto", metavar="FILE.json",
                   help="box file for the agreement with forget's probe; 'none' to skip (default: "
                        "annotations/windows.json on the shipped model)")
    return p


def _boxes(args):
    if args.boxes == "none":
        return None
    if args.boxes != "auto":
        return args.boxes
    if args.checkpoint != "default" or getattr(args, "model", None):
        return None  # the shipped box file was drawn on the shipped model
    for candidate in (Path("annotations/windows.json"), SHIPPED_BOXES):
        if candidate.exists():
            return str(candidate)
    return None


def summary(r: Result) -> str:
    """The command's one line: units labelled, and each edit against random units."""
    d = r.data
    per = ", ".join(f"{c} {v}" for c, v in sorted(d["summary"]["per_class"].items(), key=lambda x: -x[1]))
    msg = f"labelled {d['summary']['labelled']}/{d['summary']['units']} units ({per or 'none'})"
    for kind in ("remove", "insert"):
        for c, e in d[kind].items():
            if "after" in e:
                msg += (f"; {kind} {c}: {e['before']['rate']:.2f} -> {e['after']['rate']:.2f} "
                        f"(random {e['control']['rate_mean']:.2f})")
    return msg


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    layers = None if args.layers == "all" else [t.strip() for t in args.layers.split(",") if t.strip()]
    if layers == ["list"]:
        cli.layer(gan, "G", "list")
    settings = {k: getattr(args, k) for k in ("n", "threshold", "n_select", "iou_floor", "fill", "control_draws", "n_eval",
                                              "dose_n", "show", "k", "box", "region_size", "edit_layer")}
    check_settings(gan, layers=layers, flags=True, **settings)
    seg = segmenter_from_spec(args.segmenter) if args.segmenter else None
    return dissect(gan, layers=layers, classes=args.classes, segmenter=seg, remove=args.remove, insert=args.insert,
                   region_class=args.region_class, boxes=_boxes(args), seed=args.seed, **settings)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _, gan = cli.start(args)  # checks --out before the work, then device, seed, checkpoint / --model
    result = from_args(args, gan)
    result.save(args.out)
    print(f"{summary(result)}; wrote {Path(args.out) / 'dissect.json'}", file=sys.stderr)
    return 0


analysis_module(__name__, dissect)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
