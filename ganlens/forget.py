"""Make a generator forget an object, and measure it: ``python -m ganlens.forget`` (the paper's Fig. 6).

The paper drew 52 window boxes on 150 samples, fit a logistic regression on the second-highest G layer's
features (activations inside boxes = positives, random positions of the same images = negatives),
dropped every feature map with a positive weight at all positions, and showed samples with and without
the drop. This command does that, for any DCGAN generator and any object with a box file
(:mod:`ganlens.boxes`), and turns the pictures into a measured causal result:

1. **Probe.** A forward hook (:func:`ganlens.hooks.retain`) records the layer's maps for the annotated
   samples. Boxes map to feature cells by the layer's resolution (:func:`ganlens.boxes.cell_labels`: a
   cell of ``image_size/side`` pixels is positive when >= half of it lies in a box, negative when none of
   it does, and left out when partly covered); ``--negatives-per-image`` negative cells are drawn per
   image. Features are **standardised** (per map, over the probe's training cells) before
   ``LogisticRegression(C, class_weight="balanced")``: maps differ in scale by orders of magnitude, and
   without it the L2 penalty would shrink the weights of high-variance maps more, so weights (used to
   rank maps) would reflect a map's scale instead of how much it tells windows from the rest. Standardising
   does not change which maps are "on a window" (a weight's sign is its map's, up to the penalty).
   Reported: grouped cross-validated AUC / accuracy / balanced accuracy (folds split by *image*, so
   cells of one image never sit on both sides).
2. **Drop.** The maps with weight > 0 (or the ``--top-k`` largest weights) are dropped at every position
   by :func:`ganlens.hooks.ablate`, and the same latents are generated with and without the drop.
   ``--fill mean`` (default) sets a dropped map to its mean activation (over the annotated samples and all
   positions); ``--fill zero`` sets it to zero, the paper's literal drop. Why mean by default: in a narrow
   generator the positive-weight maps are about half of the layer (30 of 64 in the shipped model), and
   zeroing half of a layer pushes the later layers off the activations they were trained on. On the
   shipped model both fills pass the targets (window rate 0.69 -> 0.20 with mean fill, random control
   0.67; zero fill 0.69 -> 0.08, control 0.64), but zero fill adds a visible grid texture to every sample,
   and on the iteration-6000 checkpoint of the same run random zeroed sets *raised* the detected window
   rate to 2.1x (artefacts), which makes the control meaningless; mean fill kept it at 1.1-1.3x. A constant
   map carries no information about *where* the object is (what the probe found) but keeps the average
   input the next layer expects. The JSON records which fill was used.
3. **Control.** ``--control-draws`` random sets of as many maps (uniform over all maps of the layer) are
   dropped the same way.
4. **Dose curve.** The object rate on the first ``--dose-n`` latents as 0, 1/4, 1/2, 1 and 3/2 times as
   many maps are dropped, in weight order vs in random order (the random orders are the control draws,
   so the control sets are nested in them).
5. **Independent judge.** For labels the rooms detector knows (:mod:`ganlens.detect`, a segmentation net
   trained on rendered rooms, never on generator output or features), the share of ``--n-eval`` fresh
   latents (seeds ``1_000_000_000 + i``, never the annotated ones) whose image contains the object, and
   its pixel area, before, after and after the controls, with bootstrap 95% intervals and an exact
   McNemar test (same latents, paired). Other classes' rates show whether the rest of the room survives.
   For labels without a detector that part is absent; the localisation score (how much more pixels change
   inside the annotated boxes than outside) is reported for every label.

Outputs in ``--out``: ``forget.json``, ``forget.npz`` (the arrays the figures are drawn from),
``forget.pdf/png`` (top row: samples; bottom row: the same latents with the maps dropped),
``dose.pdf/png`` and ``annotations.pdf/png`` (every annotated sample with its boxes, to check the file).
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import boxes as boxfile
from . import cli, figures
from .errors import GanlensError
from .hooks import ablate, retain
from .models import layer_shape

PROG = "python -m ganlens.forget"
EXAMPLES = f"""  {PROG} --boxes annotations/windows.json             # the paper's Fig. 6 on the shipped rooms model
  {PROG} --boxes annotations/windows.json --top-k 8 --out figs/forget8
  {PROG} --checkpoint netG_epoch_24.pth --boxes glasses.json --layer block3 --C 0.1
  {PROG} --boxes annotations/windows.json --n-eval 2000 --control-draws 10 --device cuda
"""
FRESH_SEED = 1_000_000_000     # evaluation latents: seeds FRESH_SEED + i, never those of a box file
MIN_COVER = 0.5
BATCH = 250
PROBE_DOC = ("StandardScaler + LogisticRegression(L2, C, class_weight='balanced', lbfgs) on the layer's "
             "maps at one feature cell; positives: cells >= 50% inside a box (and each box's most covered "
             "cell); negatives: random cells with no pixel in any box; partly covered cells are left out")


# --- probe -----------------------------------------------------------------------------------------

def probe_data(acts: torch.Tensor, bf: boxfile.BoxFile, image_size: int, negatives: int,
               rng: np.random.Generator) -> dict:
    """Cells for the probe from layer maps ``acts`` (N, C, s, s) of the box file's N samples.

    Returns {"X": (M, C) float32, "y": (M,) int, "groups": (M,) sample index, "cells": (M, 2) (row, col),
    "n_ambiguous": cells left out}. Every positive cell is used; ``negatives`` negative cells per
    image are drawn without replacement (all of them if fewer).
    """
    n, c, side, _ = acts.shape
    a = acts.permute(0, 2, 3, 1).float().cpu().numpy()        # (N, s, s, C)
    X, y, groups, cells, ambiguous = [], [], [], [], 0
    for i, s in enumerate(bf.samples):
        lab = boxfile.cell_labels(s.boxes, image_size, side, MIN_COVER)
        pos = np.argwhere(lab == 1)
        neg = np.argwhere(lab == 0)
        ambiguous += int((lab == -1).sum())
        if len(neg) > negatives:
            neg = neg[np.sort(rng.choice(len(neg), negatives, replace=False))]
        for rc, label in ((pos, 1), (neg, 0)):
            if len(rc):
                X.append(a[i, rc[:, 0], rc[:, 1]])
                y += [label] * len(rc)
                groups += [i] * len(rc)
                cells.append(rc)
    return {"X": np.concatenate(X).astype(np.float32), "y": np.array(y), "groups": np.array(groups),
            "cells": np.concatenate(cells), "n_ambiguous": ambiguous}


def _pipeline(C: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000,
                                                              random_state=seed))


def fit_probe(X: np.ndarray, y: np.ndarray, groups: np.ndarray, C: float = 1.0, folds: int = 5,
              seed: int = 0) -> dict:
    """Fit the probe on all cells and cross-validate it by image.

    Returns {"weights": (C,) standardised weights, "intercept", "train_auc", "cv": {...} or None when
    fewer than 2 images hold positives}. CV folds: ``StratifiedGroupKFold`` (groups = images), at most
    as many folds as images with a positive cell.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    model = _pipeline(C, seed).fit(X, y)
    weights = model[-1].coef_[0].astype(np.float64)
    out = {"weights": weights, "intercept": float(model[-1].intercept_[0]),
           "train_auc": float(roc_auc_score(y, model.decision_function(X))), "cv": None}
    k = min(folds, len(np.unique(groups[y == 1])), len(np.unique(groups)))
    if k >= 2:
        per_fold, oof = [], np.full(len(y), np.nan)
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        for train, test in splitter.split(X, y, groups):
            if len(np.unique(y[train])) < 2:
                continue
            m = _pipeline(C, seed).fit(X[train], y[train])
            score = m.decision_function(X[test])
            oof[test] = score
            pred = (score > 0).astype(int)
            per_fold.append({"n_test": int(len(test)), "n_test_positive": int(y[test].sum()),
                             "auc": float(roc_auc_score(y[test], score)) if len(np.unique(y[test])) == 2 else None,
                             "accuracy": float(accuracy_score(y[test], pred)),
                             "balanced_accuracy": float(balanced_accuracy_score(y[test], pred))})
        aucs = [f["auc"] for f in per_fold if f["auc"] is not None]
        done = ~np.isnan(oof)
        out["cv"] = {"folds": len(per_fold), "grouped_by": "image",
                     "auc_mean": float(np.mean(aucs)) if aucs else None,
                     "auc_std": float(np.std(aucs)) if aucs else None,
                     "auc_pooled": float(roc_auc_score(y[done], oof[done])) if len(np.unique(y[done])) == 2 else None,
                     "accuracy_mean": float(np.mean([f["accuracy"] for f in per_fold])),
                     "balanced_accuracy_mean": float(np.mean([f["balanced_accuracy"] for f in per_fold])),
                     "per_fold": per_fold}
    return out


def select_maps(weights: np.ndarray, top_k: int | None = None) -> list[int]:
    """Maps to drop: every map with weight > 0 (the paper), or the ``top_k`` largest weights.

    Returned in weight order, largest first.
    """
    order = np.argsort(-weights, kind="stable")
    if top_k is not None:
        return [int(i) for i in order[:top_k]]
    return [int(i) for i in order if weights[i] > 0]


# --- generation and measurement ----------------------------------------------------------------------

def layer_input(G: torch.nn.Module, layer: str, z: torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """What block ``layer`` of G receives for latents z (N, nz): the blocks before it, run once.

    Every drop changes only ``layer`` and what follows, so the experiment runs this part once per latent
    and :func:`generate` the rest for each set of dropped maps (a third of G's work saved at block3).
    """
    dev = next(G.parameters()).device
    blocks = G.hidden_blocks
    out = []
    with torch.inference_mode():
        for i in range(0, len(z), batch):
            x = z[i:i + batch].to(dev)[:, :, None, None]
            for name in blocks[:blocks.index(layer)]:
                x = getattr(G, name)(x)
            out.append(x)
    return torch.cat(out)


def generate(G: torch.nn.Module, layer: str, z: torch.Tensor | None = None, drop=(),
             fill: torch.Tensor | None = None, batch: int = BATCH, start: torch.Tensor | None = None) -> torch.Tensor:
    """Images G(z) (N, nc, S, S) in [-1, 1] on the CPU, with maps ``drop`` of ``layer`` dropped at every
    position through :func:`ganlens.hooks.ablate` (no hook is left behind): set to zero, or with ``fill``
    (one value per map of the layer) to that value.

    ``start``: :func:`layer_input` of the latents, to skip the blocks before ``layer`` (same images).
    """
    dev = next(G.parameters()).device
    drop = [int(i) for i in drop]
    values = None if fill is None else fill[drop]
    blocks = G.hidden_blocks
    first = blocks.index(layer)
    if start is None:
        start = layer_input(G, layer, z, batch)
    out = []
    with torch.inference_mode(), (ablate(G, layer, drop, values) if drop else contextlib.nullcontext()):
        for i in range(0, len(start), batch):
            x = start[i:i + batch].to(dev)
            for name in blocks[first:]:
                x = getattr(G, name)(x)
            out.append(G.output(x).float().cpu())
    return torch.cat(out)


def localisation(before: torch.Tensor, after: torch.Tensor, masks: np.ndarray) -> dict:
    """How much the drop changes pixels inside the boxes vs outside, over annotated samples.

    before/after (N, nc, S, S), masks (N, S, S) bool (union of boxes). Mean |change| (images in [0, 1],
    averaged over channels) inside and outside the boxes, pooled over samples, and their ratio.
    """
    d = ((after - before).abs().mean(1) / 2).numpy()             # [-1, 1] -> [0, 1] units
    inside, outside = float(d[masks].mean()), float(d[~masks].mean())
    return {"inside": inside, "outside": outside, "ratio": inside / outside if outside > 0 else None}


def rate_ci(x: np.ndarray, rng: np.random.Generator, n_boot: int = 2000) -> list[float]:
    """95% bootstrap interval (percentile) of the mean of ``x`` (N,) over resampled latents."""
    idx = rng.integers(0, len(x), (n_boot, len(x)))
    m = x[idx].mean(1)
    return [float(np.percentile(m, 2.5)), float(np.percentile(m, 97.5))]


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact McNemar test of paired booleans a (before) and b (after) on the same latents."""
    from scipy.stats import binomtest
    lost, gained = int((a & ~b).sum()), int((~a & b).sum())
    p = binomtest(lost, lost + gained, 0.5).pvalue if lost + gained else 1.0
    return {"lost": lost, "gained": gained, "p_value": float(p)}


def dose_levels(n_maps: int, n_dropped: int) -> list[int]:
    """Numbers of maps dropped on the dose curve: 0, 1/4, 1/2, 1 and 3/2 times ``n_dropped`` (within
    1 .. n_maps - 1 beyond 0; dropping every map makes no image). Placed around the chosen drop, where the
    question is asked, at a cost of 4 * (1 + control draws) * dose_n images per extra level."""
    extra = {int(round(n_dropped * f)) for f in (0.25, 0.5, 1.5)}
    return sorted({0, n_dropped} | {k for k in extra if 1 <= k < n_maps})


# --- figures ------------------------------------------------------------------------------------------

def plot_samples(before: torch.Tensor, after: torch.Tensor, result: dict, stem: Path) -> list[Path]:
    """The paper's layout: top row unmodified samples, bottom row the same latents with the maps dropped."""
    n = len(before)
    img = sheet(torch.cat([before, after]), cols=n)
    with figures.plt.rc_context(figures.STYLE):
        fig, ax = figures.figure("two" if n > 4 else "one", aspect=img.shape[0] / img.shape[1] + 0.04)
        figures.show_image(ax, img)
        s = img.shape[0] / 2
        ax.set_yticks([s / 2, s + s / 2])
        ax.set_yticklabels(["samples", f"{result['n_dropped']} maps\ndropped\n({result['settings']['fill']} fill)"])
        ax.tick_params(axis="y", length=0, pad=2)
        rem = result.get("removal")
        if rem:
            ax.set_title(f"{result['label']} rate {rem['before']:.2f} -> {rem['after']:.2f} "
                         f"(random maps dropped: {rem['control_after']:.2f}), {rem['n_latents']} latents", pad=3)
    return figures.save(fig, stem)


def plot_dose(dose: dict, result: dict, stem: Path) -> list[Path]:
    """Object rate (or box localisation) against the number of maps dropped, weight vs random order."""
    levels = np.array(dose["levels"])
    w, r = np.array(dose["weight_order"], float), np.array(dose["random_order"], float)  # (L,), (D, L)
    with figures.plt.rc_context(figures.STYLE):
        fig, ax = figures.figure("one", aspect=0.7)
        ok = ~np.isnan(w) & ~np.isnan(r).any(0)    # level 0 has no localisation ratio (nothing changes)
        lv, w, r = levels[ok], w[ok], r[:, ok]
        ax.plot(lv, w, "o-", color="C3", ms=3, label="by probe weight (largest first)")
        ax.plot(lv, r.mean(0), "s--", color="C0", ms=3, label=f"random order (mean of {len(r)})")
        if len(r) > 1:
            ax.fill_between(lv, r.min(0), r.max(0), color="C0", alpha=0.2, lw=0, label="random order (range)")
        ax.axvline(result["n_dropped"], color="0.5", lw=0.6, ls=":", label=f"dropped in forget.pdf ({result['n_dropped']})")
        ax.set_xlabel(f"feature maps dropped (of {result['layer_shape']['channels']} in {result['settings']['layer']}, "
                      f"{result['settings']['fill']} fill)\n{dose['n_latents']} {dose['latents']}")
        ax.set_ylabel(dose["metric_label"])
        if dose["metric"] == "rate":
            ax.set_ylim(-0.02, 1.02)
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, borderaxespad=0.2,
                  columnspacing=1.0, handlelength=1.8)
    return figures.save(fig, stem)


def sheet(images: torch.Tensor, cols: int, boxes=None, width: int = 1000, gap: int = 2) -> np.ndarray:
    """Images (N, nc, S, S) in [-1, 1] tiled ``cols`` per row on white -> (H, W, 3) float in [0, 1].

    With ``boxes`` (per image, [(x0, y0, x1, y1), ...]) each box is outlined in red. Images are enlarged
    by a whole factor (nearest neighbour) to a sheet about ``width`` px wide, which a two-column figure at
    300 dpi shows with each pixel about doubled, so 1 px box lines survive the figure's resampling.
    (numpy rather than torchvision's make_grid: importing torchvision costs ~1.4 s of start-up.)
    """
    import cv2
    x = ((images.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, -1)
    scale = max(1, width // (cols * (images.shape[-1] + gap)))
    n, s = len(x), x.shape[1] * scale
    rows = -(-n // cols)
    out = np.ones((rows * (s + gap) - gap, cols * (s + gap) - gap, 3), np.float32)
    for i in range(n):
        tile = np.ascontiguousarray(np.repeat(np.repeat(x[i][..., :3], scale, 0), scale, 1))
        for x0, y0, x1, y1 in (boxes[i] if boxes is not None else ()):
            cv2.rectangle(tile, (x0 * scale, y0 * scale), (x1 * scale - 1, y1 * scale - 1), (1.0, 0.0, 0.0), 1)
        r, c = divmod(i, cols)
        out[r * (s + gap):r * (s + gap) + s, c * (s + gap):c * (s + gap) + s] = tile
    return out


def plot_annotations(sheet: np.ndarray, result: dict, cols: int, stem: Path) -> list[Path]:
    with figures.plt.rc_context(figures.STYLE):
        fig, ax = figures.figure("two", aspect=sheet.shape[0] / sheet.shape[1] + 0.03)
        figures.show_image(ax, sheet)
        b = result["boxes_file"]
        ax.set_title(f"{b['n_boxes']} {result['label']} boxes on {b['n_samples_with_boxes']} of {b['n_samples']} "
                     f"samples ({cols} per row, in file order)", pad=3)
    return figures.save(fig, stem)


# --- command line ------------------------------------------------------------------------------------

def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Drop the feature maps a linear probe ties to an object and measure whether the "
                         "generator forgets it (Radford et al. 2016, Fig. 6).", EXAMPLES)
    p.add_argument("--boxes", required=True, metavar="FILE.json", help="box file (format ganlens.boxes/1)")
    p.add_common(out_default="ganlens-out/forget")
    p.add_argument("--layer", default="second-highest",
                   help="G layer: block1..blockK, top or second-highest (default: second-highest)")
    p.add_argument("--negatives-per-image", type=int, default=20, metavar="K",
                   help="negative feature cells drawn per annotated image (default: 20)")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the probe (default: 1.0)")
    p.add_argument("--top-k", type=int, metavar="K",
                   help="drop the K maps with the largest probe weights (default: every map with weight > 0)")
    p.add_argument("--n", type=int, default=8, help="samples shown in forget.pdf (default: 8)")
    p.add_argument("--n-eval", type=int, default=500, metavar="N",
                   help="fresh latents the object rate is measured on (default: 500)")
    p.add_argument("--dose-n", type=int, default=100, metavar="N",
                   help="of those, latents used for each dose-curve point (default: 100)")
    p.add_argument("--fill", choices=("mean", "zero"), default="mean",
                   help="what a dropped map becomes at every position: its mean activation over the annotated "
                        "samples (default), or zero (the paper's literal drop)")
    p.add_argument("--control-draws", type=int, default=3, metavar="D",
                   help="random sets of maps dropped as controls / random orders (default: 3)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds, split by image (default: 5)")
    return p


def _check_flags(args) -> None:
    for flag, lo in (("negatives_per_image", 1), ("n", 1), ("n_eval", 1), ("dose_n", 1), ("control_draws", 1),
                     ("folds", 2)):
        v = getattr(args, flag)
        if v < lo:
            raise GanlensError(f"--{flag.replace('_', '-')} must be at least {lo}, got {v}")
    if not args.C > 0 or not np.isfinite(args.C):
        raise GanlensError(f"--C must be a positive number, got {args.C}")
    if args.top_k is not None and args.top_k < 1:
        raise GanlensError(f"--top-k must be at least 1, got {args.top_k}")
    if args.dose_n > args.n_eval:
        raise GanlensError(f"--dose-n {args.dose_n} is more than --n-eval {args.n_eval}")
    if args.n > args.n_eval:
        raise GanlensError(f"--n {args.n}: more samples to show than --n-eval {args.n_eval}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    t_start = time.perf_counter()
    _check_flags(args)
    dev, model = cli.start(args)  # checks --out before the work, then device, seed, checkpoint
    G = model.require_G()
    layer = cli.layer(G, args.layer)
    if layer == "output":
        raise GanlensError(f"--layer {args.layer}: the output has no feature maps to drop; use a hidden block")
    n_maps, side = layer_shape(G, layer)
    if args.top_k is not None and args.top_k > n_maps:
        raise GanlensError(f"--top-k {args.top_k}: layer {layer} has only {n_maps} maps")
    bf = boxfile.read(args.boxes, config=model.config)
    warning = boxfile.sha_warning(bf, args.boxes, model.sha256)
    if warning:
        print(f"{PROG}: {warning}", file=sys.stderr)
    from .detect import detector_for  # after validation: a bad input fails before the detector loads
    judge = detector_for(bf.label, model.config.image_size, model.config.nc, dev)
    rng = np.random.default_rng(args.seed)
    G.to(memory_format=torch.channels_last)
    size = model.config.image_size
    timings = {}

    # 1. probe
    t = time.perf_counter()
    z_annot = bf.latents()
    with torch.inference_mode(), retain(G, layer) as acts:
        annotated = G(z_annot.to(dev)).float().cpu()
    # --fill mean: a dropped map keeps its average (over annotated samples and positions) but loses where it fires.
    fill = acts[layer].float().mean((0, 2, 3)).cpu() if args.fill == "mean" else None

    def gen(start, drop=()):
        return generate(G, layer, drop=drop, fill=fill, start=start)

    data = probe_data(acts[layer], bf, size, args.negatives_per_image, rng)
    if (data["y"] == 0).sum() == 0:
        raise GanlensError(f"{args.boxes}: the boxes cover every feature cell of every sample; no negatives")
    probe = fit_probe(data["X"], data["y"], data["groups"], args.C, args.folds, args.seed)
    weights = probe["weights"]
    dropped = select_maps(weights, args.top_k)
    if not dropped:
        raise GanlensError(f"{args.boxes}: the probe gave no map of layer {layer} a positive weight; nothing to "
                           f"drop (try --top-k K or another --layer)")
    k_drop = len(dropped)
    perms = [rng.permutation(n_maps) for _ in range(args.control_draws)]
    controls = [[int(i) for i in p[:k_drop]] for p in perms]
    timings["probe"] = time.perf_counter() - t

    # 2. localisation on the annotated samples (every label)
    t = time.perf_counter()
    with_boxes = [i for i, s in enumerate(bf.samples) if s.boxes]
    masks = np.stack([boxfile.pixel_mask(bf.samples[i].boxes, size, size) for i in with_boxes])
    base = annotated[with_boxes]
    s_boxed = layer_input(G, layer, z_annot[with_boxes])
    loc_sel = localisation(base, gen(s_boxed, dropped), masks)
    loc_ctl = [localisation(base, gen(s_boxed, c), masks) for c in controls]

    # 3. fresh latents: before / after / controls, and the dose curve
    annotated_seeds = {s.seed for s in bf.samples if s.seed is not None}
    seeds = [FRESH_SEED + i for i in range(args.n_eval + len(annotated_seeds))
             if FRESH_SEED + i not in annotated_seeds][:args.n_eval]
    s_eval = layer_input(G, layer, model.latents(seeds))
    levels = dose_levels(n_maps, k_drop)
    order = [int(i) for i in np.argsort(-weights, kind="stable")]
    removal = dose = None
    show_before = show_after = None
    if judge is not None:
        det, cls = judge
        measured: dict[tuple, dict] = {}

        def run(key, drop, n):
            imgs = gen(s_eval[:n], drop)
            measured[key] = det.measure(det.segment(imgs), cls, all_classes=key[0] in ("before", "after", "control"))
            return imgs

        imgs = run(("before",), (), args.n_eval)
        show_before = imgs[:args.n]
        show_after = run(("after",), dropped, args.n_eval)[:args.n]
        for d, c in enumerate(controls):
            run(("control", d), c, args.n_eval)
        timings["removal"] = time.perf_counter() - t
        t = time.perf_counter()
        nd = args.dose_n
        w_curve, r_curve = [], [[] for _ in perms]
        for k in levels:
            if k == 0:
                m = measured[("before",)]["present"][:nd]
                w_curve.append(m.mean())
                for d in range(len(perms)):
                    r_curve[d].append(m.mean())
                continue
            w_key = ("after",) if order[:k] == dropped else ("w", k)
            if w_key not in measured:
                run(w_key, order[:k], nd)
            w_curve.append(measured[w_key]["present"][:nd].mean())
            for d, p in enumerate(perms):
                key = ("control", d) if k == k_drop else ("r", d, k)
                if key not in measured:
                    run(key, [int(i) for i in p[:k]], nd)
                r_curve[d].append(measured[key]["present"][:nd].mean())
        timings["dose"] = time.perf_counter() - t
        b, a = measured[("before",)], measured[("after",)]
        cs = [measured[("control", d)] for d in range(len(controls))]
        ctl_rates = [float(c["present"].mean()) for c in cs]
        before, after, ctl = float(b["present"].mean()), float(a["present"].mean()), float(np.mean(ctl_rates))
        boot = np.random.default_rng(args.seed + 1)
        classes = det.classes
        removal = {
            "label": classes[cls], "detector": det.info.get("command") if det.info else None,
            "detector_heldout": (det.info or {}).get("classes", {}).get(classes[cls]),
            "n_latents": args.n_eval, "latent_seeds": f"{FRESH_SEED} + i for i < {args.n_eval} (minus annotated seeds)",
            "rule": (det.info or {}).get("rule"),
            "before": before, "after": after, "control_after": ctl,
            "control_after_draws": ctl_rates,
            "before_ci95": rate_ci(b["present"].astype(float), boot),
            "after_ci95": rate_ci(a["present"].astype(float), boot),
            "control_after_ci95": rate_ci(np.mean([c["present"] for c in cs], 0), boot),
            "after_over_before": after / before if before > 0 else None,
            "control_over_before": ctl / before if before > 0 else None,
            "mcnemar_before_vs_after": mcnemar(b["present"], a["present"]),
            "mcnemar_before_vs_control": [mcnemar(b["present"], c["present"]) for c in cs],
            "area_before": float(b["area"].mean()), "area_after": float(a["area"].mean()),
            "area_control_after": float(np.mean([c["area"].mean() for c in cs])),
            "targets": {"after_at_most_half_of_before": bool(before > 0 and after <= 0.5 * before),
                        "control_at_least_85pct_of_before": bool(before > 0 and ctl >= 0.85 * before)},
            "other_classes": {
                name: {"rate_before": float(b["class_present"][:, j].mean()),
                       "rate_after": float(a["class_present"][:, j].mean()),
                       "rate_control_after": float(np.mean([c["class_present"][:, j].mean() for c in cs])),
                       "pixel_share_before": float(b["shares"][:, j].mean()),
                       "pixel_share_after": float(a["shares"][:, j].mean()),
                       "pixel_share_control_after": float(np.mean([c["shares"][:, j].mean() for c in cs]))}
                for j, name in enumerate(classes) if j != cls},
        }
        dose = {"metric": "rate", "metric_label": f"share of samples with a {classes[cls]}",
                "latents": "fresh latents (detector)", "n_latents": nd, "levels": levels,
                "weight_order": [float(v) for v in w_curve],
                "random_order": [[float(v) for v in r] for r in r_curve]}
    else:
        show_before = gen(s_eval[:args.n])
        show_after = gen(s_eval[:args.n], dropped)
        # Without a detector the dose curve measures localisation on the annotated samples.
        w_curve, r_curve = [], [[] for _ in perms]
        for k in levels:
            if k == 0:
                w_curve.append(float("nan"))
                for d in range(len(perms)):
                    r_curve[d].append(float("nan"))
                continue
            w_curve.append(localisation(base, gen(s_boxed, order[:k]), masks)["ratio"] or float("nan"))
            for d, p in enumerate(perms):
                loc = localisation(base, gen(s_boxed, [int(i) for i in p[:k]]), masks)
                r_curve[d].append(loc["ratio"] or float("nan"))
        dose = {"metric": "localisation", "metric_label": "pixel change inside boxes / outside",
                "latents": "annotated samples with boxes", "n_latents": len(with_boxes), "levels": levels,
                "weight_order": [None if np.isnan(v) else float(v) for v in w_curve],
                "random_order": [[None if np.isnan(v) else float(v) for v in r] for r in r_curve]}
        timings["dose"] = time.perf_counter() - t

    t = time.perf_counter()
    result = {
        "label": bf.label,
        "settings": {"checkpoint": str(model.path), "checkpoint_sha256": model.sha256, "source": model.source,
                     "config": model.config.to_dict(), "boxes": str(args.boxes), "layer": layer,
                     "layer_flag": args.layer, "negatives_per_image": args.negatives_per_image, "C": args.C,
                     "top_k": args.top_k, "n": args.n, "n_eval": args.n_eval, "dose_n": args.dose_n,
                     "control_draws": args.control_draws, "folds": args.folds, "fill": args.fill, "seed": args.seed,
                     "device": str(dev)},
        "boxes_file": {"n_samples": len(bf.samples), "n_boxes": bf.n_boxes, "n_samples_with_boxes": len(with_boxes),
                       "note": bf.note, "checkpoint_sha256": bf.checkpoint_sha256,
                       "checkpoint_sha256_matches": (None if bf.checkpoint_sha256 is None
                                                     else bf.checkpoint_sha256.lower() == model.sha256)},
        "layer_shape": {"channels": n_maps, "side": side, "cell_pixels": size // side},
        "probe": {"method": PROBE_DOC, "standardised": True, "C": args.C,
                  "n_positive": int(data["y"].sum()), "n_negative": int((data["y"] == 0).sum()),
                  "n_ambiguous_cells_left_out": data["n_ambiguous"],
                  "cv": probe["cv"], "train_auc": probe["train_auc"],
                  "weights": [float(w) for w in weights], "intercept": probe["intercept"],
                  "n_positive_weights": int((weights > 0).sum())},
        "selection": "top-k by weight" if args.top_k is not None else "weight > 0 (the paper's rule)",
        "n_dropped": k_drop,
        "dropped_maps": dropped,
        "control": {"rule": "uniform random sets of n_dropped maps of the layer (may overlap the dropped ones)",
                    "maps": controls},
        "localisation": {"samples": len(with_boxes), "selected": loc_sel, "control": loc_ctl,
                         "control_ratio_mean": float(np.mean([c["ratio"] for c in loc_ctl if c["ratio"]]))
                         if any(c["ratio"] for c in loc_ctl) else None},
        "dose": dose,
    }
    if removal is not None:
        result["removal"] = removal
    else:
        result["detector"] = {"available": False,
                              "reason": f"no detector for label {bf.label!r} at "
                                        f"{model.config.nc}x{size}x{size} (the rooms detector knows rooms "
                                        f"classes at 3x64x64)"}
    if warning:
        result["warnings"] = [warning]

    cols = min(15, len(bf.samples))
    with cli.staged_output(args.out) as stage:
        np.savez_compressed(stage / "forget.npz", before=show_before.numpy(), after=show_after.numpy(),
                            annotated=annotated.numpy(), weights=weights, probe_X=data["X"], probe_y=data["y"],
                            probe_groups=data["groups"], probe_cells=data["cells"])
        saved = np.load(stage / "forget.npz")
        plot_samples(torch.from_numpy(saved["before"]), torch.from_numpy(saved["after"]), result, stage / "forget")
        plot_dose(dose, result, stage / "dose")
        plot_annotations(sheet(torch.from_numpy(saved["annotated"]), cols, [s.boxes for s in bf.samples]),
                         result, cols, stage / "annotations")
        timings["figures"] = time.perf_counter() - t
        timings["total_after_imports"] = time.perf_counter() - t_start
        result["seconds"] = {k: round(v, 3) for k, v in timings.items()}
        cli.write_json(stage / "forget.json", result)
    cv = probe["cv"]
    msg = f"probe CV AUC {cv['auc_mean']:.3f}" if cv and cv["auc_mean"] is not None else "probe (no CV)"
    msg += f"; dropped {k_drop}/{n_maps} maps of {layer}"
    if removal:
        msg += (f"; {bf.label} rate {removal['before']:.3f} -> {removal['after']:.3f} "
                f"(random control {removal['control_after']:.3f}) on {args.n_eval} latents")
    else:
        msg += f"; change inside/outside boxes {loc_sel['ratio']:.2f} (random {result['localisation']['control_ratio_mean']:.2f})"
    print(f"{msg}; wrote {Path(args.out) / 'forget.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
