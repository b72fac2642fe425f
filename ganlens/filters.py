"""What do discriminator units respond to? ``ganlens.filters(gan, images)`` and
``python -m ganlens.filters`` (the paper's Fig. 5), on any discriminator.

For each chosen unit (channel) of a layer of D, find the K images (of the first N) with the largest
single spatial activation (the "maximal axis-aligned response"), guided-backprop that activation at its
argmax position back to the input (:mod:`ganlens.guided`, correct on LeakyReLU) and show the unit's
receptive-field crop of the image beside the guided map. The same is done for a discriminator of the
same architecture, randomly initialised as in training (:func:`ganlens.gan.random_like`), and a score
tells structured maps from noise-like ones for both.

    r = ganlens.filters(gan, "rooms", units=6, top=4)       # or an ImageSet from ganlens.data.open_images
    r["trained_vs_random"]["trained_mean"], r.figure(), r.save("out/filters")

Pipeline (compute -> Result -> save -> plot from what was saved):
  :func:`search_top`      streams the data once, in chunks, through every net: top-K per unit, bounded memory
  :func:`visualise`       guided backprop of the K x U chosen activations, cropped to the receptive field
  :func:`receptive_field` (start, size, stride) of a layer's units, for any network
  :func:`structure`       the score of one guided map

Layers are named by module path or alias (``last``: D's last hidden layer). A Linear layer (B, C) is a
(C, 1, 1) map: its one position is (0, 0) and its receptive field is the whole image (stride 0).
"First N units" means channel indices 0..N-1, as in the paper ("the first 6 learned convolutional
features"): a channel's index carries no meaning, so the first N are an unbiased sample, and the same
indices are comparable between the trained and the random net. Errors name the command-line flag
(``--units``, ``--top``) that matches each keyword argument.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import cli, figures
from .data import ImageSet, for_model, iter_chunks, to_float
from .errors import GanlensError, require_at_least
from .guided import eval_no_inplace, guided_backprop
from .hooks import layer_module, retain
from .results import Result, analysis_module, provenance

PROG = "python -m ganlens.filters"
EXAMPLES = f"""  {PROG}                                   # shipped rooms model, last D layer, units 0-5
  {PROG} --checkpoint runs/rooms64/last.pt --units 12 --top 3 --out figs/filters
  {PROG} --checkpoint netD_epoch_24.pth --data ~/celeba/ --layer block3 --units 3,17,40
  {PROG} --model my_gan.py:build --data digits.npz --layer list     # your own networks: their layers
  {PROG} --n-images 20000 --no-random-baseline --device cuda
"""
SCORE = "autocorrelation"
SCORE_DOC = ("spatial autocorrelation of the guided map inside the receptive field: the mean of the "
             "lag-1 Pearson correlations between horizontally and vertically adjacent pixels of the "
             "colour-summed map, over the pixels that lie in the image; ~0 for pixel noise, towards 1 "
             "for maps made of smooth strokes and regions")
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
            ids_ = ids
            if key in best:
                v0, i0, p0 = best[key]
                vals, ids_, arg = torch.cat([v0, vals]), torch.cat([i0, ids]), torch.cat([p0, arg])
            top = vals.topk(min(keep, len(vals)), dim=0)
            best[key] = (top.values, ids_.gather(0, top.indices), arg.gather(0, top.indices))
        bar.update(len(batch))
    bar.close()
    out = {}
    for key, (v, i, p) in best.items():
        if bf16:
            v, i, p = _rescore(nets[key], layer, data, idx, k, chunk, v, i, p, device)
        pos = torch.stack([p // width, p % width], dim=-1)       # (K, U, 2) as (y, x)
        out[key] = Top(v.T.float().cpu(), i.T.cpu(), pos.transpose(0, 1).cpu())
    return out


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


def plot(result: dict, arrays: dict):
    """The paper's layout from saved results: trained D on the left, random D on the right (if present).
    Returns the matplotlib Figure."""
    nets = [n for n in ("trained", "random") if f"{n}_images" in arrays]
    U, K, _, r, _ = arrays["trained_images"].shape
    sheets = [mosaic(arrays[f"{n}_images"], arrays[f"{n}_maps"]) for n in nets]
    h, w = sheets[0].shape[:2]
    aspect = h / (w * len(nets)) * 1.12 + 0.06
    tv = result["trained_vs_random"]
    with figures.style():   # text sizes are read from rcParams when each text is made
        fig, axes = figures.figure("two" if len(nets) == 2 else "one", aspect=aspect, ncols=len(nets),
                                   squeeze=False)
        for ax, net, sheet in zip(axes[0], nets, sheets):
            figures.show_image(ax, sheet)
            label = {"trained": "trained D", "random": "random D"}[net]
            ax.set_title(f"{label} (mean {SCORE} {tv[f'{net}_mean']:.2f})", pad=3)
            ax.set_yticks([u * (r + 4) + r / 2 for u in range(U)])
            ax.set_yticklabels([f"unit {u}\n{s:.2f}" for u, s in zip(tv["units"], tv[net])], fontsize=6)
            ax.tick_params(axis="y", length=0, pad=2)
        fig.subplots_adjust(wspace=0.12)
    return fig


# ------------------------------------------------------------------------------------------ analysis

def _summary(vis: dict, top: Top, units: list[int]) -> dict:
    return {"units": [{"unit": u,
                       "image_indices": top.images[i].tolist(),
                       "activations": [round(float(a), 6) for a in vis["activations"][i]],
                       "positions": top.positions[i].tolist(),
                       "crop_boxes": vis["boxes"][i].tolist(),
                       "scores": [round(float(s), 6) for s in vis["scores"][i]],
                       "score": round(float(vis["scores"][i].mean()), 6)}
                      for i, u in enumerate(units)]}


def _versus(results: dict, units: list[int]) -> dict:
    per_net = {k: [u["score"] for u in results[k]["units"]] for k in results}
    rnd = per_net.get("random")
    return {"score": SCORE, "definition": SCORE_DOC, "units": units,
            "trained": per_net["trained"], "trained_mean": round(float(np.mean(per_net["trained"])), 6),
            "random": rnd, "random_mean": round(float(np.mean(rnd)), 6) if rnd is not None else None,
            "units_trained_higher": (int(sum(t > r for t, r in zip(per_net["trained"], rnd)))
                                     if rnd is not None else None)}


@contextlib.contextmanager
def _channels_last(nets):
    """Nets in channels_last inside the block (1.4x faster convolutions on CPU), their own layout after."""
    was = [any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
               for p in net.parameters()) for net in nets]
    try:
        for net in nets:
            net.to(memory_format=torch.channels_last)
        yield
    finally:
        for net, cl in zip(nets, was):
            net.to(memory_format=torch.channels_last if cl else torch.contiguous_format)


def _open(gan, images) -> ImageSet:
    return for_model(gan, images, "images")


def _at_least_1(**values) -> None:
    require_at_least({name: (v, 1) for name, v in values.items()}, flags=True)


def filters(gan, images, *, layer: str = "last", units=6, top: int = 4, n_images: int = 5000,
            random_baseline: bool = True, seed: int = 0, batch_size: int = CHUNK, progress: bool = False) -> Result:
    """Guided-backprop visualisation of D's units, trained vs a random D of the same architecture.

    gan: a :class:`ganlens.gan.GAN` with a D (any network taking (B, nc, H, W) images in [-1, 1]).
    images: a data spec ("rooms", "rooms:n=N,seed=S", a folder, an .npz) or an opened
    :class:`ganlens.data.ImageSet`; the first ``n_images`` are searched. layer: name, alias or module
    path of a D layer. units: a count N (channels 0..N-1), or a list / comma string of channel indices.
    top: images shown per unit. random_baseline: also a D from ``gan.random_D(seed)``.
    Returns a Result of kind "filters" (JSON as ``filters.json``; arrays ``<net>_images`` / ``<net>_maps``
    (U, K, nc, r, r); figure "filters").
    """
    _at_least_1(top=top, n_images=n_images, batch_size=batch_size)
    D = gan.require_D()
    lay = gan.layer("D", layer)
    unit_list = parse_units(units, lay.channels, lay.name)
    data = _open(gan, images)
    n = min(n_images, len(data))
    if top > n:
        raise GanlensError(f"--top {top}: more than the {n} image(s) searched in --data {data.spec}")
    dev = gan.device
    nets = {"trained": D, **({"random": gan.random_D(seed)} if random_baseline else {})}
    field = receptive_field(D, lay.name, (gan.nc, gan.image_size, gan.image_size))
    with _channels_last(list(nets.values())):
        t0 = time.perf_counter()
        tops = search_top(nets, lay.name, data, unit_list, top, n, dev, batch_size, progress)
        search_s = time.perf_counter() - t0
        vis = {key: visualise(net, lay.name, data, unit_list, tops[key], dev, field) for key, net in nets.items()}
    results = {key: _summary(vis[key], tops[key], unit_list) for key in nets}
    arrays = {f"{key}_{a}": vis[key][a] for key in nets for a in ("images", "maps")}
    call = (f"ganlens.filters(gan, {data.spec!r}, layer={layer!r}, units={units!r}, top={top}, "
            f"n_images={n_images}, random_baseline={random_baseline}, seed={seed})")
    out = _record(gan, lay, layer, units, top, n, seed, random_baseline, dev, data, field)
    out.update(units=unit_list, trained=results["trained"], random=results.get("random"),
               trained_vs_random=_versus(results, unit_list), search_nets=len(nets),
               provenance=provenance(gan, seed, call=call, device=str(dev)),
               # when/how fast, not results: kept under "timing" so that comparisons of runs can ignore it
               timing={"search_seconds": round(search_s, 3),   # each image through every net
                       "search_images_per_second": round(n / search_s, 1)})
    return Result("filters", out, arrays, plots={"filters": plot})


def _record(gan, lay, layer_flag, units, top, n, seed, random_baseline, dev, data, field) -> dict:
    """The settings and definitions part of filters.json."""
    origin, units_flag = gan.origin(), units_text(units)
    return {
        "settings": {"checkpoint": origin["checkpoint"], "checkpoint_sha256": gan.sha256, "source": gan.source,
                     "config": origin["config"], "data": data.spec, "layer": lay.name, "layer_flag": layer_flag,
                     "units_flag": units_flag, "top": top, "n_images_searched": n, "seed": seed,
                     "random_baseline": random_baseline, "device": str(dev),
                     "search_precision": ("bf16 screen, exact float32 re-rank of the top max(4K, K+8)"
                                          if _screen_bf16(dev) else "float32")},
        "unit_choice": ("first N channel indices, as in the paper" if "," not in units_flag
                        else "unit indices given by --units"),
        "response": ("largest activation of the unit over spatial positions (the layer's output: after "
                     "the normalisation and activation that follow its conv/linear)"),
        "random_init": ("the DCGAN paper's initialisation (ganlens.gan.random_like) seeded by --seed; "
                        "BatchNorm at its initial running statistics (mean 0, var 1), eval mode"),
        "layer_shape": {"channels": lay.channels, "side": lay.side},
        "receptive_field": dict(zip(("start", "size", "stride"), field)),
    }


# ------------------------------------------------------------------------------------------- command

def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Guided-backprop visualisation of discriminator units, trained vs random "
                         "(Radford et al. 2016, Fig. 5).", EXAMPLES)
    p.add_common(out_default="ganlens-out/filters")
    p.add_argument("--data", default="rooms", metavar="PATH|rooms",
                   help="images to search: rooms, rooms:n=N,seed=S, a folder, .npz or LSUN lmdb (default: rooms)")
    p.add_argument("--layer", default="last",
                   help="D layer: a name or module path from --layer list, or last (default: last)")
    p.add_argument("--units", default="6", metavar="N|A,B,C",
                   help="the first N units (channel indices 0..N-1, as in the paper), or a comma list of "
                        "unit indices (one unit: '12,') (default: 6)")
    p.add_argument("--top", type=cli.at_least(1), default=4, metavar="K", help="images shown per unit (default: 4)")
    p.add_argument("--n-images", type=cli.at_least(1), default=5000, metavar="N",
                   help="search the first N images of --data (default: 5000)")
    p.add_argument("--random-baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also show a randomly initialised D of the same architecture (default: on)")
    p.add_argument("--batch-size", type=cli.at_least(1), default=CHUNK,
                   help=f"images per search batch (default: {CHUNK})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    gan.require_D()
    cli.layer(gan, "D", args.layer)  # the flag's own error, or --layer list
    return filters(gan, args.data, layer=args.layer, units=args.units, top=args.top, n_images=args.n_images,
                   random_baseline=args.random_baseline, seed=args.seed, batch_size=args.batch_size,
                   progress=not args.no_progress)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    dev, gan = cli.start(args)  # checks --out before the work, then device, seed, checkpoint / --model
    r = from_args(args, gan)
    r.save(args.out)
    tv = r["trained_vs_random"]
    msg = f"trained {SCORE} {tv['trained_mean']:.3f}"
    if tv["random"] is not None:
        msg += (f", random {tv['random_mean']:.3f} (trained higher for {tv['units_trained_higher']}/"
                f"{len(tv['units'])} units)")
    print(f"{msg}; wrote {Path(args.out) / 'filters.pdf'}", file=sys.stderr)
    return 0


analysis_module(__name__, filters)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
