"""The analysis: ``filters(gan, images, ...)`` -> a Result (through the :class:`Filters` record). Every unit of
a D layer is scored in one streamed pass (IoU with concept masks, purity of class labels), the trained layer
is compared with random Ds, and each net's shown units get guided-backprop pictures."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ganlens.analyses.api import renamed
from ganlens.analyses.filters.defs import CHUNK, MAP_CACHE_BYTES, PURITY_TOP, QUANTILE, RANDOM_DRAWS, SHOW
from ganlens.analyses.filters.field import receptive_field
from ganlens.analyses.filters.iou import concept_iou, score_iou
from ganlens.analyses.filters.layer import purity_k, score_purity
from ganlens.analyses.filters.masks import Masks, RoomsKeepMasks, open_masks
from ganlens.analyses.filters.record import Filters, Labels, Scan, Semantic, result
from ganlens.analyses.filters.scan import scan
from ganlens.analyses.filters.visual import visualise
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.gan import GAN
from ganlens.core.hooks import channels_last
from ganlens.core.layers import Layer
from ganlens.core.results import Result
from ganlens.data.sets import FolderSet, ImageSet, RoomsSet, for_model


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


def labels_of(labels, data: ImageSet) -> Labels | None:
    """The class labels to score purity with: None -> the data's own labels (if any); False -> none; an
    integer array (N,) -> those."""
    if labels is False or (labels is None and data.labels is None):
        return None
    if labels is None:
        source = "image folder class sub-folders" if isinstance(data, FolderSet) else f"labels of {data.spec}"
        return Labels(np.asarray(data.labels), data.classes, source)
    arr = np.asarray(labels)
    if arr.shape != (len(data),) or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0:
        raise GanlensError(f"labels: expected one class id >= 0 per image ({len(data)},), got {arr.dtype} "
                           f"{arr.shape}")
    return Labels(arr.astype(np.int64), None, "labels argument")


def semantic(nets: dict[str, nn.Module], layer: Layer, data: ImageSet, scans: dict[str, Scan], n: int,
             device: torch.device, *, masks: Masks | None, labels: Labels | None, seeds: list[int], quantile: float,
             purity_top: int, units: list[int] | None, n_show: int, seed: int = 0,
             batch_size: int = CHUNK) -> Semantic:
    """Every unit of the layer scored (IoU with concept masks and / or purity of class labels), the trained
    layer against every random draw, and the units each net shows (``units``, or its ``n_show``
    highest-scoring on the headline score, IoU first; the first ``n_show`` without one)."""
    all_units = list(range(len(scans["trained"].cut)))
    shown = {key: list(units) if units is not None else all_units[:n_show] for key in nets}
    pur = iou = None
    if labels is not None:
        pur = score_purity(scans, labels, n, purity_k(n, purity_top), seeds, units, n_show, seed)
        shown = pur.shown
    if masks is not None:
        counts = concept_iou(nets, layer, data, masks, all_units, scans, n, device, batch_size)
        if counts.images == 0:
            raise GanlensError(f"--masks {masks.spec}: none of the first {n} images has a mask")
        iou = score_iou(counts, masks, scans, spatial=layer.side > 1, seeds=seeds, quantile=quantile, units=units,
                        n_show=n_show)
        shown = iou.shown
    return Semantic(seeds, iou, pur, shown)


@dataclass
class _Inputs:
    """The arguments of :func:`filters` turned into their objects once."""

    gan: GAN
    layer: Layer
    units: list[int] | None
    data: ImageSet
    n: int
    masks: Masks | None
    labels: Labels | None
    nets: dict[str, nn.Module]
    seeds: list[int]
    field: tuple[int, int, int]


def _checks(top, n, batch_size, draws, purity_top, quantile) -> None:
    require_at_least({"top": (top, 1), "n": (n, 1), "batch_size": (batch_size, 1), "draws": (draws, 0),
                      "purity_top": (purity_top, 1)}, flags=True)
    if not isinstance(quantile, (int, float)) or not 0 < quantile < 1:
        raise GanlensError(f"--quantile must be between 0 and 1 (exclusive), got {quantile!r}")


def _inputs(gan: GAN, images, layer: Layer | str, units, top: int, n: int, masks, labels, seeds: list[int]) -> _Inputs:
    D = gan.require_D()
    lay = layer if isinstance(layer, Layer) else gan.layer("D", layer)
    unit_list = parse_units(units, lay.channels, lay.name) if units is not None else None
    data = for_model(gan, images, "images")
    n = min(n, len(data))
    if top > n:
        raise GanlensError(f"--top {top}: more than the {n} image(s) searched in --data {data.spec}")
    if masks is None and type(data) is RoomsSet and n * data.size ** 2 <= MAP_CACHE_BYTES:
        data = RoomsKeepMasks(data, n)      # the scan renders each scene once, masks included
    mask_src, lab = open_masks(masks, data, gan.image_size), labels_of(labels, data)
    nets = {"trained": D, **{f"random{i}": gan.random_D(s) for i, s in enumerate(seeds)}}
    field = receptive_field(D, lay, (gan.nc, gan.image_size, gan.image_size))
    return _Inputs(gan, lay, unit_list, data, n, mask_src, lab, nets, seeds, field)


@renamed(n_images="n", random_draws="draws")
def filters(gan: GAN, images, *, layer: Layer | str = "last", units=None, top: int = 4, n: int = 5000, masks=None,
            labels=None, quantile: float = QUANTILE, purity_top: int = PURITY_TOP, draws: int = RANDOM_DRAWS,
            random_baseline: bool = True, seed: int = 0, batch_size: int = CHUNK, progress: bool = False) -> Result:
    """What D's units respond to: semantic scores (IoU with concept masks, purity of class labels) trained
    vs ``draws`` random Ds of the same architecture, and guided-backprop pictures.

    gan: a :class:`ganlens.GAN` with a D (any network taking (B, nc, H, W) images in [-1, 1]).
    images: a data spec ("rooms", "rooms:n=N,seed=S", a folder, an .npz), an opened
    :class:`ganlens.data.sets.ImageSet`, a uint8 tensor or (tensor, labels); the first ``n`` are searched.
    layer: a Layer, or a name, alias or module path of a D layer. units: a count N (channels 0..N-1), or a
    list / comma string of channel indices (None: each net's highest-scoring). top: images shown per unit.
    masks: see :func:`~ganlens.analyses.filters.masks.open_masks` (None: the rooms masks for rooms data;
    False: none). labels: integer class per image (None: the data's own labels; False: none). quantile:
    NetDissect's top quantile. purity_top: k of the purity (at most N/10). draws: random Ds (seeds ``seed`` ..
    ``seed + draws - 1``; 0 or random_baseline=False: none); the figure shows the first. batch_size: images
    per batch of the passes over the data. Old keywords: ``n_images`` (n), ``random_draws`` (draws).
    Returns a Result of kind "filters" (JSON as ``filters.json``, headline in ``["semantic"]``; arrays
    ``<net>_images`` / ``<net>_maps`` (U, K, nc, r, r); figure "filters").
    """
    _checks(top, n, batch_size, draws, purity_top, quantile)
    seeds = list(range(seed, seed + (draws if random_baseline else 0)))
    i = _inputs(gan, images, layer, units, top, n, masks, labels, seeds)
    call = (f"ganlens.filters(gan, {i.data.spec!r}, layer={layer if isinstance(layer, str) else i.layer.name!r}, "
            f"units={units!r}, top={top}, n={n}, masks={i.masks.spec if i.masks else masks!r}, quantile={quantile}, "
            f"draws={len(seeds)}, seed={seed})")
    t0 = time.perf_counter()
    with channels_last(list(i.nets.values())):
        k = max(top, purity_k(i.n, purity_top) if i.labels else 0)
        scans = scan(i.nets, i.layer, i.data, list(range(i.layer.channels)), k, i.n, gan.device, quantile=quantile,
                     batch_size=batch_size, progress=progress)
        scan_s = time.perf_counter() - t0
        sem = semantic(i.nets, i.layer, i.data, scans, i.n, gan.device, masks=i.masks, labels=i.labels, seeds=seeds,
                       quantile=quantile, purity_top=purity_top, units=i.units,
                       n_show=len(i.units) if i.units else min(SHOW, i.layer.channels), seed=seed, batch_size=batch_size)
        tops = {key: scans[key].top.rows(sem.shown[key]).first(top) for key in i.nets}
        guided = {key: visualise(net, i.layer, i.data, sem.shown[key], tops[key], gan.device, i.field)
                  for key, net in i.nets.items()}
    return result(Filters(gan, i.layer, layer if isinstance(layer, str) else i.layer.name,
                          units_text(units) if units is not None else None, top, i.n, seed, seeds, gan.device,
                          i.data.spec, i.field, quantile, sem, tops, guided, call, scan_s, time.perf_counter() - t0))
