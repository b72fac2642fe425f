"""Make a generator forget an object, and measure it: ``python -m ganlens.forget`` (the paper's Fig. 6).

The paper drew 52 window boxes on 150 samples, fit a logistic regression on the second-highest G layer's
features (activations inside boxes = positives, random positions of the same images = negatives),
dropped every feature map with a positive weight at all positions, and showed samples with and without
the drop. :func:`forget` does that, for any generator with a spatial layer (a :class:`ganlens.GAN`: a
checkpoint or the user's own modules) and any object with a box file (:mod:`ganlens.boxes`), and turns
the pictures into a measured causal result::

    r = ganlens.forget(gan, "annotations/windows.json")     # or a ganlens.boxes.BoxFile
    r["removal"]["after"], r.figure("dose"), r.save("out/forget")

``python -m ganlens.forget`` is that call on the command line. The steps:

1. **Probe.** A forward hook (:func:`ganlens.generate.activations`) records the layer's maps for the
   annotated samples. The layer is any G layer with a spatial map, by module path or alias (default
   ``second-highest``); a linear layer (1x1, e.g. in an MLP generator) has no cells to put boxes on and is
   refused. Boxes map to feature cells by the layer's resolution (:func:`ganlens.boxes.cell_labels`: a
   cell of ``image_size/side`` pixels, fractional when ``side`` does not divide the image size, is
   positive when >= half of it lies in a box, negative when none of it does, and left out when partly
   covered); ``--negatives-per-image`` negative cells are drawn per
   image. Features are **standardised** (per map, over the probe's training cells) before
   ``LogisticRegression(C, class_weight="balanced")``: maps differ in scale by orders of magnitude, and
   without it the L2 penalty would shrink the weights of high-variance maps more, so weights (used to
   rank maps) would reflect a map's scale instead of how much it tells windows from the rest. Standardising
   does not change which maps are "on a window" (a weight's sign is its map's, up to the penalty).
   Reported: grouped cross-validated AUC / accuracy / balanced accuracy (folds split by *image*, so
   cells of one image never sit on both sides).
2. **Drop.** The maps with weight > 0 (or the ``--top-k`` largest weights) are dropped at every position
   by :func:`ganlens.hooks.ablate` while G runs whole (:func:`ganlens.generate.images` with ``edit=``), and
   the same latents are generated with and without the drop.
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

Outputs (:meth:`ganlens.Result.save`, ``--out``): ``forget.json``, ``forget.npz`` (the arrays the figures
are drawn from),
``forget.pdf/png`` (top row: samples; bottom row: the same latents with the maps dropped),
``dose.pdf/png`` and ``annotations.pdf/png`` (every annotated sample with its boxes, to check the file).
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from . import boxes as boxfile
from . import cli, figures
from .errors import GanlensError, require_at_least
from .generate import activations, images
from .hooks import ablate
from .results import Result, analysis_module, provenance

PROG = "python -m ganlens.forget"
EXAMPLES = f"""  {PROG} --boxes annotations/windows.json             # the paper's Fig. 6 on the shipped rooms model
  {PROG} --boxes annotations/windows.json --top-k 8 --out figs/forget8
  {PROG} --checkpoint netG_epoch_24.pth --boxes glasses.json --layer block3 --C 0.1
  {PROG} --model my_gan.py:build --checkpoint G.pth --boxes glasses.json --layer main.6
  {PROG} --boxes annotations/windows.json --n-eval 2000 --control-draws 10 --device cuda
"""
FRESH_SEED = 1_000_000_000     # evaluation latents: seeds FRESH_SEED + i, never those of a box file
MIN_COVER = 0.5
BATCH = 250
FILLS = ("mean", "zero")
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

def generate(gan, layer: str, z: torch.Tensor, drop=(), fill: torch.Tensor | None = None) -> torch.Tensor:
    """Images G(z) (N, nc, S, S) in [-1, 1] on the CPU, with maps ``drop`` of ``layer`` dropped at every
    position (:func:`ganlens.hooks.ablate` while G runs whole; no hook is left behind): set to zero, or
    with ``fill`` (one value per map of the layer) to that value."""
    drop = [int(i) for i in drop]
    if not drop:
        return images(gan, z, batch=BATCH)
    values = None if fill is None else fill[drop]
    return images(gan, z, batch=BATCH, edit=ablate(gan.G, layer, drop, values))


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


def fresh_seeds(bf: boxfile.BoxFile, n: int) -> list[int]:
    """Seeds of the evaluation latents: FRESH_SEED + i, skipping any seed the box file annotates."""
    annotated = {s.seed for s in bf.samples if s.seed is not None}
    return [FRESH_SEED + i for i in range(n + len(annotated)) if FRESH_SEED + i not in annotated][:n]


# --- checks --------------------------------------------------------------------------------------------

def check_settings(gan, layer: str, *, negatives_per_image: int = 20, C: float = 1.0, top_k: int | None = None,
                   n: int = 8, n_eval: int = 500, dose_n: int = 100, fill: str = "mean", control_draws: int = 3,
                   folds: int = 5, flags: bool = False):
    """The G layer (a :class:`ganlens.layers.Layer`) forget works on, after checking every setting; a
    one-line GanlensError otherwise, naming settings as Python arguments (``top_k``) or, with ``flags``,
    as the command's flags (``--top-k``)."""
    def name(k):
        return "--" + k.replace("_", "-") if flags else k
    require_at_least({"negatives_per_image": (negatives_per_image, 1), "n": (n, 1), "n_eval": (n_eval, 1),
                      "dose_n": (dose_n, 1), "control_draws": (control_draws, 1), "folds": (folds, 2),
                      "top_k": (top_k, 1)}, flags=flags)
    if not (isinstance(C, (int, float)) and np.isfinite(C) and C > 0):
        raise GanlensError(f"{name('C')} must be a positive number, got {C!r}")
    if fill not in FILLS:
        raise GanlensError(f"{name('fill')} must be one of {', '.join(FILLS)}, got {fill!r}")
    if dose_n > n_eval:
        raise GanlensError(f"{name('dose_n')} {dose_n} is more than {name('n_eval')} {n_eval}")
    if n > n_eval:
        raise GanlensError(f"{name('n')} {n}: more samples to show than {name('n_eval')} {n_eval}")
    gan.require_G()
    where = f"{name('layer')} {layer}" if flags else f"layer {layer!r}"
    try:
        lay = gan.layer("G", layer)
    except GanlensError as e:
        raise GanlensError(f"{where}: {e}")
    if lay.name == gan.layers("G").output.name:
        raise GanlensError(f"{where}: the output has no feature maps to drop; use a hidden layer")
    if not lay.spatial or lay.side < 2:
        raise GanlensError(f"{where}: layer {lay.name} has no spatial map ({lay.channels}x{lay.side}x{lay.side}, "
                           f"made by {lay.module}), so boxes cannot be placed on its cells; forget needs a "
                           f"convolutional G layer (an MLP generator has none)")
    if top_k is not None and top_k > lay.channels:
        raise GanlensError(f"{name('top_k')} {top_k}: layer {lay.name} has only {lay.channels} maps")
    return lay


def read_boxes(boxes, gan) -> boxfile.BoxFile:
    """``boxes`` (a path or a :class:`ganlens.boxes.BoxFile`) checked against the generator."""
    if isinstance(boxes, boxfile.BoxFile):
        return boxfile.check(boxes, gan)
    return boxfile.read(boxes, gan)


# --- the experiment, step by step -------------------------------------------------------------------------

def run_probe(gan, layer: str, bf: boxfile.BoxFile, rng: np.random.Generator, *, negatives_per_image: int,
              C: float, folds: int, top_k: int | None, fill: str, control_draws: int, seed: int) -> dict:
    """Step 1: the layer's maps on the annotated samples, the probe on box cells, the maps to drop and
    the random control sets. Returns {"annotated" (N, nc, S, S) images, "fill" (C,) or None, "data"
    (:func:`probe_data`), "probe" (:func:`fit_probe`), "dropped", "order" (all maps by weight), "perms"
    (random orders), "controls" (their first len(dropped) maps)}."""
    acts, annotated = activations(gan, bf.latents(), layer, batch=BATCH, with_images=True)
    # fill "mean": a dropped map keeps its average (over annotated samples and positions), loses where it fires.
    fill_values = acts.mean((0, 2, 3)) if fill == "mean" else None
    data = probe_data(acts, bf, gan.image_size, negatives_per_image, rng)
    if (data["y"] == 0).sum() == 0:
        raise GanlensError(f"{bf.path or 'boxes'}: the boxes cover every feature cell of every sample; no negatives")
    probe = fit_probe(data["X"], data["y"], data["groups"], C, folds, seed)
    dropped = select_maps(probe["weights"], top_k)
    if not dropped:
        raise GanlensError(f"{bf.path or 'boxes'}: the probe gave no map of layer {layer} a positive weight; "
                           f"nothing to drop (try top_k / --top-k K or another layer)")
    perms = [rng.permutation(acts.shape[1]) for _ in range(control_draws)]
    return {"annotated": annotated, "fill": fill_values, "data": data, "probe": probe, "dropped": dropped,
            "order": [int(i) for i in np.argsort(-probe["weights"], kind="stable")], "perms": perms,
            "controls": [[int(i) for i in p[:len(dropped)]] for p in perms]}


def run_localisation(gen, bf: boxfile.BoxFile, p: dict, levels: list[int] | None = None) -> dict:
    """Step 2 (every label): pixel change inside vs outside the boxes on the annotated samples with boxes,
    for the dropped maps and each control set. With ``levels`` (no detector), also the dose curve of that
    ratio in weight order and in the random orders."""
    size = p["annotated"].shape[-1]
    with_boxes = [i for i, s in enumerate(bf.samples) if s.boxes]
    masks = np.stack([boxfile.pixel_mask(bf.samples[i].boxes, size, size) for i in with_boxes])
    base, z = p["annotated"][with_boxes], bf.latents()[with_boxes]

    def ratio(drop):
        return localisation(base, gen(z, drop), masks)
    out = {"with_boxes": with_boxes, "selected": ratio(p["dropped"]),
           "control": [ratio(c) for c in p["controls"]]}
    if levels is not None:
        nan = float("nan")
        w = [nan if k == 0 else ratio(p["order"][:k])["ratio"] or nan for k in levels]
        r = [[nan if k == 0 else ratio([int(i) for i in q[:k]])["ratio"] or nan for k in levels]
             for q in p["perms"]]
        out["dose"] = {"metric": "localisation", "metric_label": "pixel change inside boxes / outside",
                       "latents": "annotated samples with boxes", "n_latents": len(with_boxes), "levels": levels,
                       "weight_order": [None if np.isnan(v) else float(v) for v in w],
                       "random_order": [[None if np.isnan(v) else float(v) for v in q] for q in r]}
    return out


class Judged:
    """Images of the evaluation latents with some maps dropped, judged by the detector; each run (a key)
    is generated and measured once and kept in ``measured``."""

    def __init__(self, gen, judge, z: torch.Tensor):
        self.gen, (self.det, self.cls), self.z, self.measured = gen, judge, z, {}

    def __call__(self, key: tuple, drop, n: int) -> torch.Tensor:
        imgs = self.gen(self.z[:n], drop)
        self.measured[key] = self.det.measure(self.det.segment(imgs), self.cls,
                                              all_classes=key[0] in ("before", "after", "control"))
        return imgs

    def rate(self, key: tuple, drop, n: int) -> float:
        if key not in self.measured:
            self(key, drop, n)
        return self.measured[key]["present"][:n].mean()


def run_removal(judged: Judged, p: dict, n_eval: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 3 (labels with a detector): before, after and the controls on all ``n_eval`` latents.
    Returns the first ``n`` images before and after, for the figure."""
    before = judged(("before",), (), n_eval)[:n]
    after = judged(("after",), p["dropped"], n_eval)[:n]
    for d, c in enumerate(p["controls"]):
        judged(("control", d), c, n_eval)
    return before, after


def run_dose(judged: Judged, p: dict, levels: list[int], dose_n: int) -> dict:
    """Step 4 (with a detector): the object rate on the first ``dose_n`` latents as ``levels`` maps are
    dropped in weight order and in each random order (runs of step 3 are reused where they match)."""
    k_drop, w_curve, r_curve = len(p["dropped"]), [], [[] for _ in p["perms"]]
    for k in levels:
        if k == 0:
            m = judged.measured[("before",)]["present"][:dose_n].mean()
            w_curve.append(m)
            for r in r_curve:
                r.append(m)
            continue
        w_key = ("after",) if p["order"][:k] == p["dropped"] else ("w", k)
        w_curve.append(judged.rate(w_key, p["order"][:k], dose_n))
        for d, q in enumerate(p["perms"]):
            key = ("control", d) if k == k_drop else ("r", d, k)
            r_curve[d].append(judged.rate(key, [int(i) for i in q[:k]], dose_n))
    classes = judged.det.classes
    return {"metric": "rate", "metric_label": f"share of samples with a {classes[judged.cls]}",
            "latents": "fresh latents (detector)", "n_latents": dose_n, "levels": levels,
            "weight_order": [float(v) for v in w_curve], "random_order": [[float(v) for v in r] for r in r_curve]}


def removal_record(judged: Judged, n_eval: int, n_controls: int, seed: int) -> dict:
    """The "removal" block of the JSON: rates, intervals, McNemar tests, areas and the other classes."""
    det, cls, measured = judged.det, judged.cls, judged.measured
    b, a = measured[("before",)], measured[("after",)]
    cs = [measured[("control", d)] for d in range(n_controls)]
    ctl_rates = [float(c["present"].mean()) for c in cs]
    before, after, ctl = float(b["present"].mean()), float(a["present"].mean()), float(np.mean(ctl_rates))
    boot = np.random.default_rng(seed + 1)
    info = det.info or {}
    return {
        "label": det.classes[cls], "detector": info.get("command"),
        "detector_heldout": info.get("classes", {}).get(det.classes[cls]),
        "n_latents": n_eval, "latent_seeds": f"{FRESH_SEED} + i for i < {n_eval} (minus annotated seeds)",
        "rule": info.get("rule"),
        "before": before, "after": after, "control_after": ctl, "control_after_draws": ctl_rates,
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
            for j, name in enumerate(det.classes) if j != cls},
    }


def assemble(gan, bf: boxfile.BoxFile, lay, p: dict, loc: dict, settings: dict, removal: dict | None,
             dose: dict, warning: str | None) -> dict:
    """Step 5: the JSON of a forget result (everything but "provenance" and "seconds")."""
    size, data, probe, weights = gan.image_size, p["data"], p["probe"], p["probe"]["weights"]
    origin = gan.origin()
    loc_ctl = loc["control"]
    result = {
        "label": bf.label,
        "settings": {"checkpoint": origin["checkpoint"], "checkpoint_sha256": gan.sha256, "source": gan.source,
                     "config": origin["config"], "boxes": bf.path or "in-memory", "layer": lay.name, **settings,
                     "device": str(gan.device)},
        "boxes_file": {"n_samples": len(bf.samples), "n_boxes": bf.n_boxes,
                       "n_samples_with_boxes": len(loc["with_boxes"]), "note": bf.note,
                       "checkpoint_sha256": bf.checkpoint_sha256,
                       "checkpoint_sha256_matches": (None if bf.checkpoint_sha256 is None or gan.sha256 is None
                                                     else bf.checkpoint_sha256.lower() == gan.sha256)},
        "layer_shape": {"channels": lay.channels, "side": lay.side,
                        "cell_pixels": size // lay.side if size % lay.side == 0 else round(size / lay.side, 4)},
        "probe": {"method": PROBE_DOC, "standardised": True, "C": settings["C"],
                  "n_positive": int(data["y"].sum()), "n_negative": int((data["y"] == 0).sum()),
                  "n_ambiguous_cells_left_out": data["n_ambiguous"],
                  "cv": probe["cv"], "train_auc": probe["train_auc"],
                  "weights": [float(w) for w in weights], "intercept": probe["intercept"],
                  "n_positive_weights": int((weights > 0).sum())},
        "selection": "top-k by weight" if settings["top_k"] is not None else "weight > 0 (the paper's rule)",
        "n_dropped": len(p["dropped"]),
        "dropped_maps": p["dropped"],
        "control": {"rule": "uniform random sets of n_dropped maps of the layer (may overlap the dropped ones)",
                    "maps": p["controls"]},
        "localisation": {"samples": len(loc["with_boxes"]), "selected": loc["selected"], "control": loc_ctl,
                         "control_ratio_mean": float(np.mean([c["ratio"] for c in loc_ctl if c["ratio"]]))
                         if any(c["ratio"] for c in loc_ctl) else None},
        "dose": dose,
    }
    if removal is not None:
        result["removal"] = removal
    else:
        result["detector"] = {"available": False,
                              "reason": f"no detector for label {bf.label!r} at {gan.nc}x{size}x{size} (the rooms "
                                        f"detector knows rooms classes at 3x64x64)"}
    if warning:
        result["warnings"] = [warning]
    return result


def _arrays(p: dict, bf: boxfile.BoxFile, before: torch.Tensor, after: torch.Tensor) -> dict:
    """What forget.npz holds: the figures' images and boxes, the probe's weights and training cells."""
    boxes = [[i, *b] for i, s in enumerate(bf.samples) for b in s.boxes]
    d = p["data"]
    return {"before": before.numpy(), "after": after.numpy(), "annotated": p["annotated"].numpy(),
            "annotated_boxes": np.array(boxes, np.int64).reshape(-1, 5), "weights": p["probe"]["weights"],
            "probe_X": d["X"], "probe_y": d["y"], "probe_groups": d["groups"], "probe_cells": d["cells"]}


def forget(gan, boxes, *, layer: str = "second-highest", negatives_per_image: int = 20, C: float = 1.0,
           top_k: int | None = None, n: int = 8, n_eval: int = 500, dose_n: int = 100, fill: str = "mean",
           control_draws: int = 3, folds: int = 5, seed: int = 0) -> Result:
    """Make ``gan``'s generator forget the object of a box file, and measure it (module docstring).

    gan: a :class:`ganlens.GAN` (any G with a spatial layer). boxes: a box file path or a
    :class:`ganlens.boxes.BoxFile` of samples of this G. layer: G layer by alias or module path. top_k:
    drop the K largest probe weights (default: every positive weight). n: samples in the figure; n_eval:
    fresh latents the detector judges; dose_n: of those, latents per dose-curve point. fill: "mean" or
    "zero". Returns a Result (kind "forget"; figures "forget", "dose", "annotations").
    """
    t_start = time.perf_counter()
    settings = {"layer_flag": layer, "negatives_per_image": negatives_per_image, "C": C, "top_k": top_k, "n": n,
                "n_eval": n_eval, "dose_n": dose_n, "control_draws": control_draws, "folds": folds,
                "fill": fill, "seed": seed}
    lay = check_settings(gan, layer, **{k: v for k, v in settings.items() if k not in ("layer_flag", "seed")})
    bf = read_boxes(boxes, gan)
    warning = boxfile.sha_warning(bf, bf.path or "boxes", gan.sha256)
    from .detect import detector_for  # after validation: a bad input fails before the detector loads
    judge = detector_for(bf.label, gan.image_size, gan.nc, gan.device)
    timings, t = {}, time.perf_counter()
    p = run_probe(gan, lay.name, bf, np.random.default_rng(seed), negatives_per_image=negatives_per_image, C=C,
                  folds=folds, top_k=top_k, fill=fill, control_draws=control_draws, seed=seed)
    gen = partial(generate, gan, lay.name, fill=p["fill"])
    levels = dose_levels(lay.channels, len(p["dropped"]))
    timings["probe"], t = time.perf_counter() - t, time.perf_counter()
    loc = run_localisation(gen, bf, p, None if judge else levels)
    z_eval = gan.latents(fresh_seeds(bf, n_eval))
    removal = None
    if judge is not None:
        judged = Judged(gen, judge, z_eval)
        before, after = run_removal(judged, p, n_eval, n)
        timings["removal"], t = time.perf_counter() - t, time.perf_counter()
        dose = run_dose(judged, p, levels, dose_n)
        removal = removal_record(judged, n_eval, control_draws, seed)
    else:
        before, after, dose = gen(z_eval[:n]), gen(z_eval[:n], p["dropped"]), loc["dose"]
    timings["dose"] = time.perf_counter() - t
    data = assemble(gan, bf, lay, p, loc, settings, removal, dose, warning)
    timings["total"] = time.perf_counter() - t_start
    data["seconds"] = {k: round(v, 3) for k, v in timings.items()}
    call = (f"ganlens.forget(gan, {str(bf.path or 'BoxFile(...)')!r}, "
            + ", ".join(f"{k}={v!r}" for k, v in settings.items()).replace("layer_flag=", "layer=") + ")")
    data["provenance"] = provenance(gan, seed, call=call)
    return Result("forget", data, _arrays(p, bf, before, after),
                  plots={"forget": plot_samples, "dose": plot_dose, "annotations": plot_annotations})


# --- figures ------------------------------------------------------------------------------------------

def plot_samples(result: dict, arrays: dict):
    """The paper's layout: top row unmodified samples, bottom row the same latents with the maps dropped."""
    before, after = torch.from_numpy(arrays["before"]), torch.from_numpy(arrays["after"])
    n = len(before)
    img = sheet(torch.cat([before, after]), cols=n)
    with figures.style():
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
    return fig


def plot_dose(result: dict, arrays: dict):
    """Object rate (or box localisation) against the number of maps dropped, weight vs random order."""
    dose = result["dose"]
    levels = np.array(dose["levels"])
    w = np.array([np.nan if v is None else v for v in dose["weight_order"]], float)       # (L,)
    r = np.array([[np.nan if v is None else v for v in q] for q in dose["random_order"]], float)  # (D, L)
    with figures.style():
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
    return fig


def sheet(images: torch.Tensor, cols: int, boxes=None, width: int = 1000, gap: int = 2) -> np.ndarray:
    """Images (N, nc, S, S) in [-1, 1] tiled ``cols`` per row on white -> (H, W, 3) float in [0, 1].

    With ``boxes`` (per image, [(x0, y0, x1, y1), ...]) each box is outlined in red. Images are enlarged
    by a whole factor (nearest neighbour) to a sheet about ``width`` px wide, which a two-column figure at
    300 dpi shows with each pixel about doubled, so 1 px box lines survive the figure's resampling.
    """
    scale = max(1, width // (cols * (images.shape[-1] + gap)))
    return figures.tile(figures.rgb(images), cols, gap=gap, scale=scale, boxes=boxes)


def plot_annotations(result: dict, arrays: dict):
    """Every annotated sample with its boxes in red, in file order (to check the box file by eye)."""
    annotated = torch.from_numpy(arrays["annotated"])
    boxes = [[] for _ in range(len(annotated))]
    for i, *b in arrays["annotated_boxes"].tolist():
        boxes[i].append(b)
    b = result["boxes_file"]
    cols = min(15, b["n_samples"])
    img = sheet(annotated, cols, boxes)
    with figures.style():
        fig, ax = figures.figure("two", aspect=img.shape[0] / img.shape[1] + 0.03)
        figures.show_image(ax, img)
        ax.set_title(f"{b['n_boxes']} {result['label']} boxes on {b['n_samples_with_boxes']} of {b['n_samples']} "
                     f"samples ({cols} per row, in file order)", pad=3)
    return fig


# --- command line ------------------------------------------------------------------------------------

def positive(text: str) -> float:
    """argparse ``type=`` for --C: a finite number > 0 ("--C must be a positive number, got -1")."""
    v = float(text)
    if not (np.isfinite(v) and v > 0):
        import argparse
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return v


positive.__name__ = "float"


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Drop the feature maps a linear probe ties to an object and measure whether the "
                         "generator forgets it (Radford et al. 2016, Fig. 6).", EXAMPLES)
    p.add_argument("--boxes", required=True, metavar="FILE.json", help="box file (format ganlens.boxes/1)")
    p.add_common(out_default="ganlens-out/forget")
    p.add_argument("--layer", default="second-highest",
                   help="G layer with a spatial map: module path (block3, main.6), top or second-highest "
                        "(default: second-highest); 'list' prints G's layers")
    p.add_argument("--negatives-per-image", type=cli.at_least(1), default=20, metavar="K",
                   help="negative feature cells drawn per annotated image (default: 20)")
    p.add_argument("--C", type=positive, default=1.0, help="inverse L2 strength of the probe (default: 1.0)")
    p.add_argument("--top-k", type=cli.at_least(1), metavar="K",
                   help="drop the K maps with the largest probe weights (default: every map with weight > 0)")
    p.add_argument("--n", type=cli.at_least(1), default=8, help="samples shown in forget.pdf (default: 8)")
    p.add_argument("--n-eval", type=cli.at_least(1), default=500, metavar="N",
                   help="fresh latents the object rate is measured on (default: 500)")
    p.add_argument("--dose-n", type=cli.at_least(1), default=100, metavar="N",
                   help="of those, latents used for each dose-curve point (default: 100)")
    p.add_argument("--fill", choices=FILLS, default="mean",
                   help="what a dropped map becomes at every position: its mean activation over the annotated "
                        "samples (default), or zero (the paper's literal drop)")
    p.add_argument("--control-draws", type=cli.at_least(1), default=3, metavar="D",
                   help="random sets of maps dropped as controls / random orders (default: 3)")
    p.add_argument("--folds", type=cli.at_least(2), default=5,
                   help="cross-validation folds, split by image (default: 5)")
    return p


def summary(r: Result) -> str:
    """The command's one line: probe quality, what was dropped, and the measured effect."""
    d = r.data
    cv = d["probe"]["cv"]
    msg = f"probe CV AUC {cv['auc_mean']:.3f}" if cv and cv["auc_mean"] is not None else "probe (no CV)"
    msg += f"; dropped {d['n_dropped']}/{d['layer_shape']['channels']} maps of {d['settings']['layer']}"
    rem, loc = d.get("removal"), d["localisation"]
    if rem:
        return msg + (f"; {d['label']} rate {rem['before']:.3f} -> {rem['after']:.3f} "
                      f"(random control {rem['control_after']:.3f}) on {rem['n_latents']} latents")
    ratio, ctl = loc["selected"]["ratio"], loc["control_ratio_mean"]
    return msg + (f"; change inside/outside boxes {ratio if ratio is not None else float('nan'):.2f} "
                  f"(random {ctl if ctl is not None else float('nan'):.2f})")


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    settings = {k: getattr(args, k) for k in ("negatives_per_image", "C", "top_k", "n", "n_eval", "dose_n",
                                              "fill", "control_draws", "folds")}
    if args.layer == "list":
        cli.layer(gan, "G", "list")
    check_settings(gan, args.layer, flags=True, **settings)
    bf = boxfile.read(args.boxes, gan)
    warning = boxfile.sha_warning(bf, args.boxes, gan.sha256)
    if warning:
        print(f"{PROG}: {warning}", file=sys.stderr)
    return forget(gan, bf, layer=args.layer, seed=args.seed, **settings)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _, gan = cli.start(args)  # checks --out before the work, then device, seed, checkpoint / --model
    result = from_args(args, gan)
    result.save(args.out)
    print(f"{summary(result)}; wrote {Path(args.out) / 'forget.json'}", file=sys.stderr)
    return 0


analysis_module(__name__, forget)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
