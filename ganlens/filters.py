"""What do discriminator units respond to? ``python -m ganlens.filters`` (the paper's Fig. 5).

For each chosen unit (channel) of a layer of D, find the K images (of the first N) with the largest
single spatial activation (the "maximal axis-aligned response"), guided-backprop that activation at its
argmax position back to the input (:mod:`ganlens.guided`, correct on LeakyReLU) and show the unit's
receptive-field crop of the image beside the guided map. The same is done for a discriminator of the
same architecture, randomly initialised as in training, and a score tells structured maps from
noise-like ones for both.

Pipeline (compute -> save -> plot from what was saved):
  :func:`search_top`   streams the data once, in chunks, through every net: top-K per unit, bounded memory
  :func:`visualise`    guided backprop of the K x U chosen activations, cropped to the receptive field
  :func:`structure`    the score of one guided map
  ``filters.json`` / ``filters.npz`` / ``filters.pdf|png`` are written by :func:`main`.

"First N units" means channel indices 0..N-1, as in the paper ("the first 6 learned convolutional
features"): a channel's index carries no meaning, so the first N are an unbiased sample, and the same
indices are comparable between the trained and the random net.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import cli, figures
from .data import ImageSet, iter_chunks, open_images, to_float
from .errors import GanlensError
from .guided import guided_backprop
from .hooks import retain
from .models import Discriminator, layer_shape, resolve_layer

PROG = "python -m ganlens.filters"
EXAMPLES = f"""  {PROG}                                   # shipped rooms model, last D layer, units 0-5
  {PROG} --checkpoint runs/rooms64/last.pt --units 12 --top 3 --out figs/filters
  {PROG} --checkpoint netD_epoch_24.pth --data ~/celeba/ --layer block3 --units 3,17,40
  {PROG} --n-images 20000 --no-random-baseline --device cuda
"""
SCORE = "autocorrelation"
SCORE_DOC = ("spatial autocorrelation of the guided map inside the receptive field: the mean of the "
             "lag-1 Pearson correlations between horizontally and vertically adjacent pixels of the "
             "colour-summed map, over the pixels that lie in the image; ~0 for pixel noise, towards 1 "
             "for maps made of smooth strokes and regions")
OUTSIDE = 0.85   # grey for receptive-field pixels that fall outside the image
CHUNK = 256


@dataclass
class Top:
    """The K strongest responses per unit: values, image indices and (y, x) argmax, each (U, K)/(U, K, 2)."""

    values: torch.Tensor
    images: torch.Tensor
    positions: torch.Tensor


def receptive_field(D: Discriminator, layer: str) -> tuple[int, int, int]:
    """(start, size, stride) of a D layer's units in input pixels: the unit at (y, x) sees rows
    ``start + y*stride`` .. ``start + y*stride + size - 1`` (same for columns; may reach outside the image)."""
    name = resolve_layer(D, layer)
    start, size, stride = 0, 1, 1
    for block in D.hidden_blocks + ["output"]:
        for m in getattr(D, block).modules():
            if isinstance(m, torch.nn.Conv2d):
                start -= m.padding[0] * stride
                size += (m.kernel_size[0] - 1) * stride
                stride *= m.stride[0]
        if block == name:
            break
    return start, size, stride


def parse_units(text: str, n_channels: int, layer: str) -> list[int]:
    """``"6"`` -> the first 6 channels; ``"3,17,40"`` (or ``"12,"``) -> those channels."""
    try:
        if "," in text:
            units = [int(t) for t in text.split(",") if t.strip()]
        else:
            count = int(text)
            if count < 1:
                raise GanlensError(f"--units {text}: need at least one unit")
            if count > n_channels:
                raise GanlensError(f"--units {text}: layer {layer} has only {n_channels} units")
            units = list(range(count))
    except ValueError:
        raise GanlensError(f"--units {text}: expected a count (6) or a comma list of unit indices (3,17,40)")
    if not units:
        raise GanlensError(f"--units {text}: no unit given")
    bad = [u for u in units if not 0 <= u < n_channels]
    if bad:
        raise GanlensError(f"--units {text}: unit {bad[0]} is out of range; layer {layer} has units "
                           f"0..{n_channels - 1}")
    if len(set(units)) != len(units):
        raise GanlensError(f"--units {text}: a unit is listed twice")
    return units


def _screen_bf16(device: torch.device) -> bool:
    """Screen in bf16 where it is fast: CUDA, or a CPU with native bf16 (oneDNN); float32 elsewhere."""
    if device.type == "cuda":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _responses(D: Discriminator, layer: str, x: torch.Tensor, idx: torch.Tensor, bf16: bool):
    """(max over positions, flat argmax), each (B, U), of units ``idx`` of ``layer`` for images x in [-1, 1]."""
    with torch.inference_mode(), torch.autocast(x.device.type, torch.bfloat16, enabled=bf16), \
            retain(D, layer) as acts:
        D(x)
    return next(iter(acts.values()))[:, idx].flatten(2).float().max(dim=2)


def search_top(nets: dict[str, Discriminator], layer: str, data: ImageSet, units: list[int], k: int,
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
    n = min(n_images, len(data))
    bar = tqdm(total=n, desc="search", unit="img", disable=not progress, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30)
    for start, batch in iter_chunks(data, chunk, n):
        x = to_float(batch.to(device)).contiguous(memory_format=torch.channels_last)
        ids = torch.arange(start, start + len(batch), device=device)[:, None].expand(-1, len(units))
        for key, D in nets.items():
            vals, arg = _responses(D, layer, x, idx, bf16)    # (B, U)
            if key in best:
                v0, i0, p0 = best[key]
                vals, ids_, arg = torch.cat([v0, vals]), torch.cat([i0, ids]), torch.cat([p0, arg])
            else:
                ids_ = ids
            top = vals.topk(min(keep, len(vals)), dim=0)
            best[key] = (top.values, ids_.gather(0, top.indices), arg.gather(0, top.indices))
        bar.update(len(batch))
    bar.close()
    out = {}
    for key, (v, i, p) in best.items():
        if bf16:   # exact float32 re-scoring of the candidates
            cand = torch.unique(i.flatten())
            x = to_float(torch.stack([data[j] for j in cand.tolist()]).to(device))
            ex_v, ex_p = [], []
            for s in range(0, len(x), chunk):
                vv, pp = _responses(nets[key], layer, x[s:s + chunk], idx, False)
                ex_v.append(vv)
                ex_p.append(pp)
            ex_v, ex_p = torch.cat(ex_v), torch.cat(ex_p)      # (len(cand), U)
            row = torch.searchsorted(cand, i)                   # (k', U): candidate row of each image
            col = torch.arange(len(units), device=device).expand_as(i)
            v, p = ex_v[row, col], ex_p[row, col]
            top = v.topk(min(k, len(v)), dim=0)
            v, i, p = top.values, i.gather(0, top.indices), p.gather(0, top.indices)
        side = layer_shape(nets[key], layer)[1]
        pos = torch.stack([p // side, p % side], dim=-1)       # (K, U, 2) as (y, x)
        out[key] = Top(v.T.float().cpu(), i.T.cpu(), pos.transpose(0, 1).cpu())
    return out


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


def visualise(D: Discriminator, layer: str, data: ImageSet, units: list[int], top: Top,
              device: torch.device) -> dict:
    """Guided maps of every (unit, rank) in ``top``, cropped to the receptive field.

    Returns {"images": (U, K, nc, r, r) in [-1, 1], "maps": (U, K, nc, r, r) guided gradients (both NaN
    outside the image), "activations": (U, K) recomputed in float32, "boxes": (U, K, 4) y0, x0, y1, x1
    (clipped to the image), "scores": (U, K)}.
    """
    U, K = top.images.shape
    start, size, stride = receptive_field(D, layer)
    flat_idx = top.images.reshape(-1).tolist()
    x = to_float(torch.stack([data[i] for i in flat_idx])).to(device)
    unit_rows = torch.as_tensor(units).repeat_interleave(K)
    pos = top.positions.reshape(-1, 2)
    maps = guided_backprop(D, layer, x, unit_rows, pos).cpu().numpy()
    with torch.no_grad(), retain(D, layer) as acts:
        D(x)
    a = next(iter(acts.values())).cpu()
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


def random_discriminator(D: Discriminator, seed: int, device: torch.device) -> Discriminator:
    """A D of the same architecture with the training initialisation (``models.init_weights``), seeded.

    BatchNorm keeps its initial running statistics (mean 0, variance 1), i.e. the net as it is before
    the first training step, in eval mode.
    """
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        R = Discriminator(D.config)
    finally:
        torch.random.set_rng_state(gen_state)
    return R.eval().requires_grad_(False).to(device)


def _display_image(img: np.ndarray) -> np.ndarray:
    """(C, r, r) in [-1, 1] with NaN outside -> (r, r, 3) in [0, 1], outside grey."""
    v = np.clip((img + 1) / 2, 0, 1)
    v = np.repeat(v, 3, 0) if v.shape[0] == 1 else v[:3]
    return np.where(np.isnan(v), OUTSIDE, v).transpose(1, 2, 0)


def _display_map(gmap: np.ndarray) -> np.ndarray:
    """A guided map (C, r, r) -> (r, r, 3): 0.5 grey = zero, scaled by its 99.5th |value| percentile."""
    inside = gmap[~np.isnan(gmap)]
    scale = np.percentile(np.abs(inside), 99.5) if inside.size else 0.0
    v = 0.5 + 0.5 * np.clip(gmap / scale, -1, 1) if scale > 0 else np.full_like(gmap, 0.5)
    v = np.repeat(v, 3, 0) if v.shape[0] == 1 else v[:3]
    return np.where(np.isnan(v), OUTSIDE, v).transpose(1, 2, 0)


def mosaic(images: np.ndarray, maps: np.ndarray, gap: int = 1, pair_gap: int = 4) -> np.ndarray:
    """(U, K, C, r, r) crops and maps -> one (H, W, 3) sheet: a row per unit of K (crop | map) pairs."""
    U, K, _, r, _ = images.shape
    pair_w = 2 * r + gap
    W = K * pair_w + (K - 1) * pair_gap
    H = U * r + (U - 1) * pair_gap
    sheet = np.ones((H, W, 3), dtype=np.float32)
    for u in range(U):
        for k in range(K):
            y, x = u * (r + pair_gap), k * (pair_w + pair_gap)
            sheet[y:y + r, x:x + r] = _display_image(images[u, k])
            sheet[y:y + r, x + r + gap:x + pair_w] = _display_map(maps[u, k])
    return sheet


def plot(result: dict, arrays: dict, stem: Path) -> list[Path]:
    """The paper's layout from saved results: trained D on the left, random D on the right (if present)."""
    nets = [n for n in ("trained", "random") if f"{n}_images" in arrays]
    U, K, _, r, _ = arrays["trained_images"].shape
    sheets = [mosaic(arrays[f"{n}_images"], arrays[f"{n}_maps"]) for n in nets]
    h, w = sheets[0].shape[:2]
    width = "two" if len(nets) == 2 else "one"
    aspect = h / (w * len(nets)) * 1.12 + 0.06
    tv = result["trained_vs_random"]
    # Text sizes are read from rcParams when each text is made, so draw inside the shared style too.
    with figures.plt.rc_context(figures.STYLE):
        fig, axes = figures.figure(width, aspect=aspect, ncols=len(nets), squeeze=False)
        for ax, net, sheet in zip(axes[0], nets, sheets):
            figures.show_image(ax, sheet)
            label = {"trained": "trained D", "random": "random D"}[net]
            ax.set_title(f"{label} (mean {SCORE} {tv[f'{net}_mean']:.2f})", pad=3)
            ax.set_yticks([u * (r + 4) + r / 2 for u in range(U)])
            ax.set_yticklabels([f"unit {u}\n{s:.2f}" for u, s in zip(tv["units"], tv[net])], fontsize=6)
            ax.tick_params(axis="y", length=0, pad=2)
        fig.subplots_adjust(wspace=0.12)
    return figures.save(fig, stem)


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Guided-backprop visualisation of discriminator units, trained vs random "
                         "(Radford et al. 2016, Fig. 5).", EXAMPLES)
    p.add_common(out_default="ganlens-out/filters")
    p.add_argument("--data", default="rooms", metavar="PATH|rooms",
                   help="images to search: rooms, rooms:n=N,seed=S, a folder, .npz or LSUN lmdb (default: rooms)")
    p.add_argument("--layer", default="last", help="D layer: block1..blockK, output or last (default: last)")
    p.add_argument("--units", default="6", metavar="N|A,B,C",
                   help="the first N units (channel indices 0..N-1, as in the paper), or a comma list of "
                        "unit indices (one unit: '12,') (default: 6)")
    p.add_argument("--top", type=int, default=4, metavar="K", help="images shown per unit (default: 4)")
    p.add_argument("--n-images", type=int, default=5000, metavar="N",
                   help="search the first N images of --data (default: 5000)")
    p.add_argument("--random-baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also show a randomly initialised D of the same architecture (default: on)")
    p.add_argument("--batch-size", type=int, default=CHUNK, help=f"images per search batch (default: {CHUNK})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _summary(vis: dict, top: Top, units: list[int]) -> dict:
    return {"units": [{"unit": u,
                       "image_indices": top.images[i].tolist(),
                       "activations": [round(float(a), 6) for a in vis["activations"][i]],
                       "positions": top.positions[i].tolist(),
                       "crop_boxes": vis["boxes"][i].tolist(),
                       "scores": [round(float(s), 6) for s in vis["scores"][i]],
                       "score": round(float(vis["scores"][i].mean()), 6)}
                      for i, u in enumerate(units)]}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for flag in ("top", "n_images", "batch_size"):
        if getattr(args, flag) < 1:
            raise GanlensError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    dev, model = cli.start(args)  # checks --out before the work, then device, seed, checkpoint
    D = model.require_D()
    layer = cli.layer(D, args.layer)
    n_channels, side = layer_shape(D, layer)
    units = parse_units(args.units, n_channels, layer)
    data = open_images(args.data, model.config.image_size, model.config.nc)
    n = min(args.n_images, len(data))
    if args.top > n:
        raise GanlensError(f"--top {args.top}: more than the {n} image(s) searched in --data {args.data}")

    with cli.staged_output(args.out) as stage:
        D = D.to(memory_format=torch.channels_last)
        nets = {"trained": D}
        if args.random_baseline:
            nets["random"] = random_discriminator(D, args.seed, dev).to(memory_format=torch.channels_last)
        t0 = time.perf_counter()
        tops = search_top(nets, layer, data, units, args.top, n, dev, args.batch_size, not args.no_progress)
        search_s = time.perf_counter() - t0
        results, arrays = {}, {}
        for key, net in nets.items():
            vis = visualise(net, layer, data, units, tops[key], dev)
            results[key] = _summary(vis, tops[key], units)
            arrays[f"{key}_images"], arrays[f"{key}_maps"] = vis["images"], vis["maps"]
        per_net = {k: [u["score"] for u in results[k]["units"]] for k in results}
        tv = {"score": SCORE, "definition": SCORE_DOC, "units": units,
              "trained": per_net["trained"], "trained_mean": round(float(np.mean(per_net["trained"])), 6),
              "random": per_net.get("random"),
              "random_mean": round(float(np.mean(per_net["random"])), 6) if "random" in per_net else None,
              "units_trained_higher": (int(sum(t > r for t, r in zip(per_net["trained"], per_net["random"])))
                                       if "random" in per_net else None)}
        start, size, stride = receptive_field(D, layer)
        result = {
            "settings": {"checkpoint": str(model.path), "checkpoint_sha256": model.sha256,
                         "source": model.source, "config": model.config.to_dict(), "data": data.spec,
                         "layer": layer, "layer_flag": args.layer, "units_flag": args.units, "top": args.top,
                         "n_images_searched": n, "seed": args.seed, "random_baseline": args.random_baseline,
                         "device": str(dev),
                         "search_precision": ("bf16 screen, exact float32 re-rank of the top max(4K, K+8)"
                                              if _screen_bf16(dev) else "float32")},
            "unit_choice": ("first N channel indices, as in the paper" if "," not in args.units
                            else "unit indices given by --units"),
            "response": "largest activation of the unit over spatial positions (after its LeakyReLU)",
            "random_init": ("ganlens.models.init_weights seeded by --seed; BatchNorm at its initial "
                            "running statistics (mean 0, var 1), eval mode"),
            "layer_shape": {"channels": n_channels, "side": side},
            "receptive_field": {"start": start, "size": size, "stride": stride},
            "units": units,
            "trained": results["trained"],
            "random": results.get("random"),
            "trained_vs_random": tv,
            "search_nets": len(nets),
            # when/how fast, not results: kept under "timing" so that comparisons of runs can ignore it
            "timing": {"search_seconds": round(search_s, 3),
                       "search_images_per_second": round(n / search_s, 1)},   # each image through every net
        }
        cli.write_json(stage / "filters.json", result)
        np.savez_compressed(stage / "filters.npz", **arrays)
        saved = dict(np.load(stage / "filters.npz"))
        plot(result, saved, stage / "filters")
    msg = (f"trained {SCORE} {tv['trained_mean']:.3f}" +
           (f", random {tv['random_mean']:.3f} (trained higher for {tv['units_trained_higher']}/{len(units)} units)"
            if tv["random"] is not None else ""))
    print(f"{msg}; wrote {Path(args.out) / 'filters.pdf'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
