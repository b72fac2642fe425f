"""Make a generator forget an object, and measure it: ``python -m ganlens.forget`` (the paper's Fig. 6).

The paper drew 52 window boxes on 150 samples, fit a logistic regression on the second-highest G layer's
features (activations inside boxes = positives, random positions of the same images = negatives),
dropped every feature map with a positive weight at all positions, and showed samples with and without
the drop. :func:`forget` does that, for any generator with a spatial layer (a :class:`ganlens.GAN`: a
checkpoint or the user's own modules) and any object with a box file (:mod:`ganlens.boxes`), and turns
the pictures into a measured causal result::

    r = ganlens.forget(gan, "annotations/windows.json")     # or a ganlens.boxes.BoxFile
    r["removal"]["after"], r["selection"]["k"], r.figure("dose"), r.save("out/forget")

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
2. **Choose the maps** (``select``, ``--select``). The default (``cv``) drops the ``k`` maps of largest
   probe weight, ``k`` chosen by cross-validation over the annotated images (:mod:`ganlens.forget_select`):
   in each fold the probe, the cap of the candidate grid (its number of positive weights) and the
   mean-fill values are fit on the fold's training images only, and the fold's held-out images *with
   boxes* are generated with its top-``k`` maps dropped, for ``k`` in :func:`candidate_ks` (1, 2, 3, 4, 6,
   8, 11, 16, ... up to the fold's positive weights, the paper's rule being the largest candidate), and
   with random sets of ``k`` other maps dropped. Score: the mean pixel change inside the boxes minus
   ``rho_random`` times the change outside them, ``rho_random`` being the inside/outside ratio the
   random sets get (random edits change detailed regions such as windows more than flat walls too). The
   **largest** ``k`` whose mean held-out score is within one standard error of the best is chosen (the
   curve is flat near its top; among the ``k`` the data cannot tell apart, the largest removes the most).
   Why this score: "remove the object, keep the rest" is a
   large change inside the boxes for a small one outside, and the score counts the change inside that
   targeting adds over an untargeted edit of the same size outside; it grows while the added maps are
   more about the object than random maps and falls once they draw the rest of the scene; held-out
   images make it a prediction, not a fit. The inside/outside change reported in ``"localisation"`` is
   measured out of sample too: each fold's held-out images, at the ``k`` the rule picks from the other
   folds (for a fixed rule, the fold probe's maps); the in-sample number is beside it.
   Why not the plain inside / outside *ratio* (reported, and the
   issue's first suggestion): it is largest for the smallest edit; on the shipped model it chose one map
   (held-out ratio 5.3), which moved 4% of the box pixels and left the window rate at 0.684 of 0.690.
   Why not the paper's rule: every positive weight also takes the many maps with small positive weights
   that draw the rest of the scene; on a third-party 64x64 face generator it dropped 68 of 128 maps and
   wiped the faces (inside/outside change 1.16x, random maps 1.07x), where the 10 largest weights gave
   2.0x and the faces survived. ``select="paper"`` keeps the paper's rule (every map with weight > 0),
   ``top_k`` (``--top-k K``) drops the K largest weights; the JSON's ``"selection"`` says which rule
   chose the maps and why, with the cross-validation scores, and ``"other_rules"`` reports the rules not
   used (localisation and, with a detector, removal) beside it, including the paper's literal rule (every
   positive weight, *zero* fill) when the run fills with the mean.
3. **Drop.** The chosen maps are dropped at every position by :func:`ganlens.hooks.ablate` while G runs
   whole (:func:`ganlens.generate.images` with ``edit=``), and the same latents are generated with and
   without the drop. ``--fill mean`` (default) sets a dropped map to its mean activation (over the
   annotated samples and all positions); ``--fill zero`` sets it to zero, the paper's literal drop. Why
   mean by default: zeroing many maps of a narrow layer pushes the later layers off the activations they
   were trained on (a visible grid texture on every sample; on the iteration-6000 checkpoint of the
   shipped run random zeroed sets *raised* the detected window rate to 2.1x, which makes the control
   meaningless; mean fill kept it at 1.1-1.3x). A constant map carries no information about *where* the
   object is (what the probe found) but keeps the average input the next layer expects.
4. **Control.** ``--control-draws`` random sets of as many maps (uniform over the maps *not* dropped;
   only when more than half are dropped do they include dropped ones) are dropped the same way.
5. **Dose curve.** The object rate (or, without a detector, the localisation on the annotated samples)
   as 0, 1/4, 1/2, 1 and 3/2 times as many maps are dropped, and as many as the other rules drop, in
   weight order vs in random order (the random orders are the control draws, so the control sets are
   nested in them). The figure marks the chosen ``k`` and shows the cross-validation curve it came from.
6. **Judge.** For labels the rooms detector knows (:mod:`ganlens.detect`, a segmentation net trained on
   rendered rooms, never on generator output or features), the share of ``--n-eval`` fresh latents
   (seeds ``1_000_000_000 + i``, never the annotated ones) whose image contains the object, and its pixel
   area, before, after and after the controls, with exact (Clopper-Pearson) binomial 95% intervals and an
   exact McNemar test (same latents, paired). Other classes' rates show whether the rest of the room
   survives. ``"judge"`` in the JSON says whether that judge is independent of the boxes: the shipped
   ``annotations/windows.json`` was drawn by the same detector, so it is **not**. For labels without a
   detector that part is absent; the localisation score is reported for every label, and a person can
   judge blind: ``python -m ganlens.annotate --rate OUT --raters 3`` writes one page per rater, each
   showing every fresh latent once in one condition (before / after / random control, a Latin square),
   the key kept in a separate file, and ``python -m ganlens.forget --ratings R1.json R2.json R3.json
   --key OUT/rate.key.json`` scores the latents rated in every condition (exact intervals, Cochran's Q,
   McNemar pairs, Fleiss' kappa; :mod:`ganlens.ratings`) into ``human_ratings.json`` beside the key.

The figure (``forget.pdf``) shows samples that contain the object: annotated samples with boxes first
(about half of ``--n`` when there is a detector, all of it without), then fresh latents in which the
detector finds the object (``"figure_samples"`` in the JSON lists them and why).

Outputs (:meth:`ganlens.Result.save`, ``--out``): ``forget.json``, ``forget.npz`` (the arrays the figures
are drawn from, the fill values, the evaluation seeds and the detector's verdict per latent),
``forget.pdf/png`` (top row: samples; bottom row: the same latents with the maps dropped),
``dose.pdf/png`` (dose curve and the cross-validation curve) and ``annotations.pdf/png`` (every annotated
sample with its boxes, to check the file).
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ganlens.data import boxes as boxfile
from ganlens import cli, stats
from ganlens.core import figures
from ganlens.data import ratings
from ganlens import forget_select as fsel
from ganlens.forget_select import candidate_ks  # noqa: F401 (part of this module's API)
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.generate import activations, images
from ganlens.core.hooks import ablate, edit
from ganlens.core.results import Result, provenance
from ganlens.analyses.api import analysis_module
from ganlens.stats import clopper_pearson

PROG = "python -m ganlens.forget"
OUT_DEFAULT = "ganlens-out/forget"
EXAMPLES = f"""  {PROG} --boxes annotations/windows.json             # the paper's Fig. 6 on the shipped rooms model
  {PROG} --boxes annotations/windows.json --select paper --out figs/forget-paper   # every weight > 0
  {PROG} --boxes annotations/windows.json --top-k 8 --out figs/forget8
  {PROG} --ratings rate-1.ratings.json rate-2.ratings.json rate-3.ratings.json --key ganlens-out/forget/rate.key.json
  {PROG} --checkpoint netG_epoch_24.pth --boxes glasses.json --layer block3 --C 0.1
  {PROG} --model my_gan.py:build --checkpoint G.pth --boxes glasses.json --layer main.6
  {PROG} --boxes annotations/windows.json --n-eval 2000 --control-draws 10 --device cuda
"""
FRESH_SEED = 1_000_000_000     # evaluation latents: seeds FRESH_SEED + i, never those of a box file
MIN_COVER = 0.5
BATCH = 250
FILLS = ("mean", "zero")
SELECTS = ("cv", "paper")      # --select: cross-validated top-k (default) or the paper's weight > 0
RULES = {"cv": "top-k by probe weight, k chosen by cross-validation on held-out annotated images: the k whose "
               "edit changes the boxes most beyond what random maps do for the same change outside them",
         "paper": "every map with probe weight > 0 (the paper's rule), with the run's fill",
         "paper_literal": "every map with probe weight > 0, set to zero (the paper's literal rule)",
         "top-k": "the K maps of largest probe weight (--top-k / top_k, set by hand)"}
CI_METHOD = "exact (Clopper-Pearson) 95% interval: scipy.stats.binomtest(k, n).proportion_ci(method='exact')"
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
    fewer than 2 images hold positives, "fold_models": [{"weights": (C,), "test_images": image indices
    held out}] (one per fold; empty without CV)}. CV folds: ``StratifiedGroupKFold`` (groups = images), at
    most as many folds as images with a positive cell.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    model = _pipeline(C, seed).fit(X, y)
    weights = model[-1].coef_[0].astype(np.float64)
    out = {"weights": weights, "intercept": float(model[-1].intercept_[0]),
           "train_auc": float(roc_auc_score(y, model.decision_function(X))), "cv": None, "fold_models": []}
    k = min(folds, len(np.unique(groups[y == 1])), len(np.unique(groups)))
    if k >= 2:
        per_fold, oof = [], np.full(len(y), np.nan)
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        for train, test in splitter.split(X, y, groups):
            if len(np.unique(y[train])) < 2:
                continue
            m = _pipeline(C, seed).fit(X[train], y[train])
            out["fold_models"].append({"weights": m[-1].coef_[0].astype(np.float64),
                                       "test_images": np.unique(groups[test])})
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


def boxed_samples(bf: boxfile.BoxFile, annotated: torch.Tensor) -> dict:
    """The annotated samples with boxes: {"index": their positions in the box file, "z" (M, nz), "base"
    (M, nc, S, S) their images, "masks" (M, S, S) bool, the union of their boxes}."""
    size = annotated.shape[-1]
    index = [i for i, s in enumerate(bf.samples) if s.boxes]
    masks = np.stack([boxfile.pixel_mask(bf.samples[i].boxes, size, size) for i in index])
    return {"index": np.array(index, int), "z": bf.latents()[index], "base": annotated[index], "masks": masks}


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


class _NotOnce(Exception):
    """The edited layer did not run exactly once per row of the batch (a module used twice in G)."""


def generate_each(gan, layer: str, z: torch.Tensor, drops: list, fill: torch.Tensor | None = None) -> list[torch.Tensor]:
    """[:func:`generate` (gan, layer, z, d, fill) for d in drops], in one batched run: the latents are
    repeated once per set of maps and a per-row mask tells the hook which maps to set in which row (fewer,
    larger forward passes; the cross-validation of step 2 makes hundreds of small ones otherwise)."""
    n, c = len(z), gan.layer("G", layer).channels
    mask = torch.zeros(len(drops) * n, c, dtype=torch.bool)
    for j, d in enumerate(drops):
        mask[j * n:(j + 1) * n, [int(i) for i in d]] = True
    values = torch.zeros(c) if fill is None else fill.float()
    row = [0]

    def fn(y: torch.Tensor) -> torch.Tensor:
        m = mask[row[0]:row[0] + len(y)]
        if len(m) != len(y):
            raise _NotOnce
        row[0] += len(y)
        return torch.where(m.to(y.device)[:, :, None, None], values.to(y.device, y.dtype)[None, :, None, None], y)
    try:
        out = images(gan, z.repeat(len(drops), 1), batch=BATCH, edit=lambda: edit(gan.G, layer, fn))
    except _NotOnce:
        return [generate(gan, layer, z, d, fill) for d in drops]
    if row[0] != len(mask):
        return [generate(gan, layer, z, d, fill) for d in drops]
    return list(out.split(n))


def localisation(before: torch.Tensor, after: torch.Tensor, masks: np.ndarray) -> dict:
    """How much the drop changes pixels inside the boxes vs outside, over annotated samples.

    before/after (N, nc, S, S), masks (N, S, S) bool (union of boxes). Mean |change| (images in [0, 1],
    averaged over channels) inside and outside the boxes, pooled over samples, and their ratio.
    """
    d = ((after - before).abs().mean(1) / 2).numpy()             # [-1, 1] -> [0, 1] units
    inside, outside = float(d[masks].mean()), float(d[~masks].mean())
    return {"inside": inside, "outside": outside, "ratio": inside / outside if outside > 0 else None}


def binom_ci(k: int, n: int) -> list[float] | None:
    """Exact (Clopper-Pearson) 95% interval of a rate of ``k`` successes in ``n`` trials (None when n = 0)."""
    ci = clopper_pearson(k, n)
    return ci.as_list() if ci is not None else None


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact McNemar test of paired booleans a (before) and b (after) on the same latents."""
    r = stats.mcnemar(a, b)
    return {"lost": r.a_only, "gained": r.b_only, "p_value": r.p}


def dose_levels(n_maps: int, n_dropped: int, also=()) -> list[int]:
    """Numbers of maps dropped on the dose curve: 0, 1/4, 1/2, 1 and 3/2 times ``n_dropped``, and the
    counts in ``also`` (the other rules' drops), within 1 .. n_maps - 1 beyond 0 (dropping every map makes
    no image). Placed around the chosen drop, where the question is asked, at a cost of
    (1 + control draws) * dose_n images per extra level."""
    extra = {int(round(n_dropped * f)) for f in (0.25, 0.5, 1.5)} | {int(k) for k in also}
    return sorted({0, n_dropped} | {k for k in extra if 1 <= k < n_maps})


def fresh_seeds(bf: boxfile.BoxFile, n: int) -> list[int]:
    """Seeds of the evaluation latents: FRESH_SEED + i, skipping any seed the box file annotates."""
    annotated = {s.seed for s in bf.samples if s.seed is not None}
    return [FRESH_SEED + i for i in range(n + len(annotated)) if FRESH_SEED + i not in annotated][:n]


# --- checks --------------------------------------------------------------------------------------------

def check_settings(gan, layer: str, *, negatives_per_image: int = 20, C: float = 1.0, select: str = "cv",
                   top_k: int | None = None, n: int = 8, n_eval: int = 500, dose_n: int = 100, fill: str = "mean",
                   control_draws: int = 3, folds: int = 5, flags: bool = False):
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
    if select not in SELECTS:
        raise GanlensError(f"{name('select')} must be one of {', '.join(SELECTS)}, got {select!r}")
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
              C: float, folds: int, top_k: int | None, fill: str, control_draws: int, seed: int,
              select: str | None = None) -> dict:
    """Steps 1-2: the layer's maps on the annotated samples, the probe on box cells, the maps to drop and
    the random control sets.

    select: "cv" or "paper", the rule that chooses the maps when ``top_k`` is None; both rules are
    computed (the JSON reports the one not used beside the one used). None (for callers that only want
    the paper's rule, e.g. :mod:`ganlens.dissect`) is the paper's rule without the cross-validation.
    Returns {"annotated" (N, nc, S, S) images, "fill" (C,) or None, "data" (:func:`probe_data`), "probe"
    (:func:`fit_probe`), "boxed" (:func:`boxed_samples`), "cv" (:func:`cv_selection` or None), "rule"
    ("cv", "paper" or "top-k"), "dropped", "others" ({rule: maps} of the rules not used), "order" (all
    maps by weight), "perms" (random orders), "controls" (their first len(dropped) maps)}."""
    acts, annotated = activations(gan, bf.latents(), layer, batch=BATCH, with_images=True)
    # fill "mean": a dropped map keeps its average (over annotated samples and positions), loses where it fires.
    image_means = acts.float().mean((2, 3))
    fill_values = image_means.mean(0) if fill == "mean" else None
    data = probe_data(acts, bf, gan.image_size, negatives_per_image, rng)
    if (data["y"] == 0).sum() == 0:
        raise GanlensError(f"{bf.path or 'boxes'}: the boxes cover every feature cell of every sample; no negatives")
    probe = fit_probe(data["X"], data["y"], data["groups"], C, folds, seed)
    order = [int(i) for i in np.argsort(-probe["weights"], kind="stable")]
    boxed = boxed_samples(bf, annotated)
    folds_, validated = fsel.make_folds(probe, boxed, image_means if fill == "mean" else None)
    cv = None
    if select is not None:
        cv_rng = np.random.default_rng([seed, 1])       # its own stream: the control sets stay as they were
        cv = fsel.cv_selection(partial(generate_each, gan, layer), folds_, validated, boxed,
                               fsel.candidate_ks(max(f.cap for f in folds_)),
                               [cv_rng.permutation(len(order)) for _ in range(control_draws)])
    paper = select_maps(probe["weights"])
    n_pos = len(paper)
    rules = {"cv": order[:min(cv["k"], max(1, n_pos))] if cv else [], "paper": paper,
             "paper_literal": paper if fill == "mean" and select is not None else [],
             "top-k": order[:top_k] if top_k is not None else []}
    rule = "top-k" if top_k is not None else (select or "paper")
    dropped = rules[rule]
    if not dropped:
        raise GanlensError(f"{bf.path or 'boxes'}: the probe gave no map of layer {layer} a positive weight; "
                           f"nothing to drop (try top_k / --top-k K, select='cv' / --select cv or another layer)")
    # random orders with the dropped maps last: their first len(dropped) maps (the controls) are never dropped ones
    perms = [fsel.random_set(rng.permutation(acts.shape[1]), dropped, acts.shape[1]) for _ in range(control_draws)]
    return {"annotated": annotated, "fill": fill_values, "data": data, "probe": probe, "boxed": boxed, "cv": cv,
            "folds": folds_, "rule": rule, "dropped": dropped, "order": order, "perms": perms,
            "others": {r: m for r, m in rules.items() if r != rule and m},
            "controls": [q[:len(dropped)] for q in perms]}


def held_out(gan, layer: str, p: dict, name: str, maps: list[int]) -> dict:
    """Rule ``name``'s pixel change inside vs outside the boxes on held-out annotated images
    (:mod:`ganlens.forget_select`): the cross-validated rule from its folds, a fixed rule by its fold probes."""
    if name == "cv":
        return p["cv"]["held_out"]
    maps_of = {"paper": fsel.Fold.positive, "paper_literal": fsel.Fold.positive,
               "top-k": lambda f: f.order[:len(maps)]}[name]
    return fsel.held_out_rule(partial(generate_each, gan, layer), p["folds"], p["boxed"], p["perms"], maps_of,
                              zero_fill=name == "paper_literal" or p["fill"] is None)


def run_localisation(gan, layer: str, p: dict, levels: list[int] | None = None) -> dict:
    """Step 3 (every label): pixel change inside vs outside the boxes for the dropped maps and each other
    rule, out of sample (:func:`held_out`), against random sets of as many other maps; in sample on every
    annotated image with boxes beside it. With ``levels`` (no detector), also the dose curve of the in-sample
    ratio in weight order and in the random orders."""
    b, gen = p["boxed"], partial(generate, gan, layer, fill=p["fill"])

    def ratio(drop):
        return localisation(b["base"], gen(b["z"], [int(i) for i in drop]), b["masks"])
    out = {"with_boxes": b["index"].tolist(), **held_out(gan, layer, p, p["rule"], p["dropped"]),
           "others": {name: held_out(gan, layer, p, name, m) for name, m in p["others"].items()},
           "in_sample": {"selected": ratio(p["dropped"]), "control_ratio_mean": mean_ratio(
               [ratio(c) for c in p["controls"]]), "how": "every annotated image with boxes, the maps and the "
                                                         "fill of the probe fit on all of them (optimistic)"}}
    if levels is not None:
        nan = float("nan")
        w = [nan if k == 0 else ratio(p["order"][:k])["ratio"] or nan for k in levels]
        r = [[nan if k == 0 else ratio(q[:k])["ratio"] or nan for k in levels] for q in p["perms"]]
        out["dose"] = {"metric": "localisation", "metric_label": "pixel change inside boxes / outside (in sample)",
                       "latents": "annotated samples with boxes", "n_latents": len(b["index"]), "levels": levels,
                       "weight_order": [None if np.isnan(v) else float(v) for v in w],
                       "random_order": [[None if np.isnan(v) else float(v) for v in q] for q in r]}
    return out


def mean_ratio(locs: list[dict]) -> float | None:
    """Mean localisation ratio of control sets (None when no set changed anything outside the boxes)."""
    ratios = [c["ratio"] for c in locs if c["ratio"]]
    return float(np.mean(ratios)) if ratios else None


class Judged:
    """Images of the evaluation latents with some maps dropped, judged by the detector; each run (a key)
    is generated and measured once and kept in ``measured``."""

    def __init__(self, gen, judge, z: torch.Tensor, zero_gen=None):
        self.gen, (self.det, self.cls), self.z, self.measured = gen, judge, z, {}
        self.zero_gen = zero_gen or gen

    def __call__(self, key: tuple, drop, n: int, zero: bool = False) -> torch.Tensor:
        imgs = (self.zero_gen if zero else self.gen)(self.z[:n], [int(i) for i in drop])
        self.measured[key] = self.det.measure(self.det.segment(imgs), self.cls,
                                              all_classes=key[0] in ("before", "after", "control"))
        return imgs

    def rate(self, key: tuple, drop, n: int) -> float:
        if key not in self.measured:
            self(key, drop, n)
        return self.measured[key]["present"][:n].mean()


def run_removal(judged: Judged, p: dict, n_eval: int) -> None:
    """Step 6 (labels with a detector): before, after, the controls, and each other rule with controls
    of its size, on all ``n_eval`` latents."""
    judged(("before",), (), n_eval)
    judged(("after",), p["dropped"], n_eval)
    for d, c in enumerate(p["controls"]):
        judged(("control", d), c, n_eval)
    for name, maps in p["others"].items():
        zero = name == "paper_literal"
        judged(("other", name), maps, n_eval, zero)
        for d, q in enumerate(p["perms"]):
            judged(("other_control", name, d), fsel.random_set(q, maps, len(maps)), n_eval, zero)


def run_dose(judged: Judged, p: dict, levels: list[int], dose_n: int) -> dict:
    """Step 5 (with a detector): the object rate on the first ``dose_n`` latents as ``levels`` maps are
    dropped in weight order and in each random order (runs of step 6 are reused where they match)."""
    known = {tuple(m): ("other", r) for r, m in p["others"].items() if r != "paper_literal"}
    known[tuple(p["dropped"])] = ("after",)
    k_drop, w_curve, r_curve = len(p["dropped"]), [], [[] for _ in p["perms"]]
    for k in levels:
        if k == 0:
            m = judged.measured[("before",)]["present"][:dose_n].mean()
            w_curve.append(m)
            for r in r_curve:
                r.append(m)
            continue
        w_curve.append(judged.rate(known.get(tuple(p["order"][:k]), ("w", k)), p["order"][:k], dose_n))
        for d, q in enumerate(p["perms"]):
            key = ("control", d) if k == k_drop else ("r", d, k)
            r_curve[d].append(judged.rate(key, q[:k], dose_n))
    classes = judged.det.classes
    return {"metric": "rate", "metric_label": f"share of samples with a {classes[judged.cls]}",
            "latents": "fresh latents (detector)", "n_latents": dose_n, "levels": levels,
            "weight_order": [float(v) for v in w_curve], "random_order": [[float(v) for v in r] for r in r_curve]}


def rates(present: np.ndarray) -> tuple[float, list[float] | None]:
    """(rate, exact 95% interval) of booleans (N,)."""
    return float(present.mean()), binom_ci(int(present.sum()), len(present))


def removal_record(judged: Judged, n_eval: int, n_controls: int) -> dict:
    """The "removal" block of the JSON: rates, exact intervals, McNemar tests, areas and the other classes."""
    det, cls, measured = judged.det, judged.cls, judged.measured
    b, a = measured[("before",)], measured[("after",)]
    cs = [measured[("control", d)] for d in range(n_controls)]
    ctl_rates = [float(c["present"].mean()) for c in cs]
    (before, before_ci), (after, after_ci) = rates(b["present"]), rates(a["present"])
    ctl = float(np.mean(ctl_rates))
    info = det.info or {}
    return {
        "label": det.classes[cls], "detector": info.get("command"),
        "detector_heldout": info.get("classes", {}).get(det.classes[cls]),
        "n_latents": n_eval, "latent_seeds": f"{FRESH_SEED} + i for i < {n_eval} (minus annotated seeds)",
        "rule": info.get("rule"),
        "before": before, "after": after, "control_after": ctl, "control_after_draws": ctl_rates,
        "ci_method": CI_METHOD + "; control_after_ci95 pools the draws' images (the draws share latents, so "
                                 "read it as approximate); each draw's own interval: control_after_draws_ci95",
        "before_ci95": before_ci, "after_ci95": after_ci,
        "control_after_ci95": rates(np.concatenate([c["present"] for c in cs]))[1],
        "control_after_draws_ci95": [rates(c["present"])[1] for c in cs],
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


def other_rules_record(p: dict, loc: dict, judged: Judged | None) -> dict:
    """The "other_rules" block: each rule not used, its maps, localisation (with random sets of its
    size) and, with a detector, its removal numbers on the same latents."""
    out = {}
    for name, maps in p["others"].items():
        lo = loc["others"][name]
        rec = {"description": RULES[name], "k": len(maps), "maps": maps,
               "fill": "zero" if name == "paper_literal" else p_fill(p),
               "localisation": {**lo["selected"], "control_ratio_mean": lo["control_ratio_mean"],
                                "k_per_fold": lo["k_per_fold"], "how": lo["how"]}}
        if judged is not None:
            b = judged.measured[("before",)]["present"]
            a = judged.measured[("other", name)]["present"]
            cs = [judged.measured[("other_control", name, d)]["present"] for d in range(len(p["perms"]))]
            after, after_ci = rates(a)
            ctl = [float(c.mean()) for c in cs]
            rec["removal"] = {"after": after, "after_ci95": after_ci, "control_after": float(np.mean(ctl)),
                              "control_after_draws": ctl, "control_after_ci95": rates(np.concatenate(cs))[1],
                              "after_over_before": after / b.mean() if b.mean() > 0 else None,
                              "mcnemar_before_vs_after": mcnemar(b, a)}
        out[name] = rec
    return out


def p_fill(p: dict) -> str:
    return "mean" if p["fill"] is not None else "zero"


def selection_record(p: dict) -> dict:
    """The "selection" block: which rule chose the maps, why, and the cross-validation it rests on."""
    rule, k, cv = p["rule"], len(p["dropped"]), p["cv"]
    why = {"paper": f"select='paper' / --select paper: every map with a positive probe weight ({k} maps)",
           "paper_literal": "",
           "top-k": f"top_k={k} / --top-k {k}, set by hand"}
    if cv:
        j = cv["candidates"].index(cv["k"])
        held = "held-out" if cv["validated"] else "in-sample (fewer than 2 images with boxes: nothing to hold out)"
        best = int(np.argmax(cv["score_mean"]))
        why["cv"] = (f"the default (select='cv'): of the top-k sets for k in {cv['candidates']}, the largest k whose "
                     f"{held} score (change inside the boxes beyond what random maps do for the same change "
                     f"outside) is within one standard error of the best: k = {cv['k']} (score "
                     f"{cv['score_mean'][j]:.4f}; best k = {cv['candidates'][best]}, {cv['score_mean'][best]:.4f} "
                     f"+- {cv['score_se'][best]:.4f} over {cv['folds']} folds; within one standard error: k in "
                     f"{cv['within_one_se']}); the data cannot tell those k apart, and the largest removes the most"
                     + (f"; {k} maps have a positive weight in the probe fit on all images" if k < cv["k"] else ""))
    out = {"rule": rule, "description": RULES[rule], "k": k, "why": why[rule]}
    if cv:
        out.update(candidates=cv["candidates"],
                   cv_scores={key: v for key, v in cv.items() if key not in ("candidates",)})
    return out


def judge_record(bf: boxfile.BoxFile, judge) -> dict:
    """The "judge" block: what judges the removal, and whether it is independent of the box file."""
    note = bf.note or ""
    if judge is None:
        return {"kind": None, "independent_of_boxes": None,
                "why": "no detector knows this label at this image size; the localisation score is measured on "
                       "the annotated samples, and a person can judge blind: python -m ganlens.annotate --rate "
                       "OUT --raters 3 (one page per rater), then python -m ganlens.forget --ratings FILE [FILE ...] "
                       "--key OUT/rate.key.json"}
    if "drawn by the rooms detector" in note or "ganlens.detect --annotate" in note:
        return {"kind": "rooms detector", "independent_of_boxes": False,
                "why": "the box file's note says its boxes were drawn by the rooms detector, the same detector "
                       "that judges the result: the probe learnt the maps under what this detector calls a "
                       f"{bf.label}, so a lower detected rate is expected whether or not a person would still "
                       f"see a {bf.label}; it is not an independent check. Blind human ratings (python -m "
                       "ganlens.annotate --rate) are one"}
    return {"kind": "rooms detector", "independent_of_boxes": None,
            "why": "the box file does not say who drew its boxes; if a person drew them, the detector (trained "
                   "on rendered rooms, never on these boxes or on generator output) judges independently of them"}


def figure_samples(bf: boxfile.BoxFile, present: np.ndarray | None, seeds: list[int], n: int) -> dict:
    """Which ``n`` latents the figure shows: samples that contain the object.

    Annotated samples with boxes first (about half of ``n`` when the detector's verdicts ``present``
    (n_eval,) on the evaluation latents are given, all of ``n`` without), then evaluation latents the
    detector finds the object in, then (only when there are too few of either) more annotated samples
    with boxes and other evaluation latents. Returns {"samples": [{"source", "index", "seed", ...}], "why"}.
    """
    positives = [i for i, s in enumerate(bf.samples) if s.boxes]
    found = [] if present is None else [j for j in range(len(seeds)) if present[j]]
    n_annotated = n if present is None else min(len(positives), (n + 1) // 2)
    take_a = positives[:n_annotated]
    take_f = found[:n - len(take_a)]
    take_a += positives[len(take_a):len(take_a) + n - len(take_a) - len(take_f)]
    rest = [j for j in range(len(seeds)) if j not in set(take_f)][:n - len(take_a) - len(take_f)]
    shown = ([{"source": "annotated", "index": i, "seed": bf.samples[i].seed, "boxes": len(bf.samples[i].boxes)}
              for i in take_a]
             + [{"source": "fresh", "index": j, "seed": seeds[j],
                 "detector_found": None if present is None else bool(present[j])} for j in take_f + rest])
    why = ("annotated samples with boxes first (the box file says the object is there; the probe was fit on "
           "them), then fresh evaluation latents " + ("the detector finds the object in (never seen by the probe)"
                                                      if present is not None else "(no detector to check them)")
           + "; the first fresh latents alone would mostly show samples without the object")
    return {"samples": shown, "why": why, "n_annotated": len(take_a), "n_fresh_found": len(take_f),
            "n_fresh_other": len(rest)}


def assemble(gan, bf: boxfile.BoxFile, lay, p: dict, loc: dict, settings: dict, measured: dict,
             warning: str | None) -> dict:
    """The JSON of a forget result (everything but "provenance" and "seconds"). measured: {"removal"
    (or None), "dose", "other_rules", "judge", "figure_samples"}."""
    size, data, probe, weights = gan.image_size, p["data"], p["probe"], p["probe"]["weights"]
    origin = gan.origin()
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
        "selection": selection_record(p),
        "n_dropped": len(p["dropped"]),
        "dropped_maps": p["dropped"],
        "control": {"rule": "uniform random sets of n_dropped maps of the layer, never a dropped map (unless more "
                            "than half are dropped)", "maps": p["controls"]},
        "localisation": {"samples": loc["samples"], "held_out": True, "how": loc["how"], "selected": loc["selected"],
                         "control": loc["control"], "control_ratio_mean": loc["control_ratio_mean"],
                         "k_per_fold": loc["k_per_fold"], "in_sample": loc["in_sample"]},
        "other_rules": measured["other_rules"],
        "dose": measured["dose"],
        "judge": measured["judge"],
        "figure_samples": measured["figure_samples"],
    }
    if measured["removal"] is not None:
        result["removal"] = measured["removal"]
    else:
        result["detector"] = {"available": False,
                              "reason": f"no detector for label {bf.label!r} at {gan.nc}x{size}x{size} (the rooms "
                                        f"detector knows rooms classes at 3x64x64)"}
    if warning:
        result["warnings"] = [warning]
    return result


def _arrays(p: dict, bf: boxfile.BoxFile, before: torch.Tensor, after: torch.Tensor, seeds: list[int],
            judged: Judged | None) -> dict:
    """What forget.npz holds: the figures' images and boxes, the probe's weights and training cells, the
    fill values and evaluation seeds (the rating page remakes the edit from them) and, with a detector,
    its verdict on every evaluation latent before, after and with the first control set."""
    boxes = [[i, *b] for i, s in enumerate(bf.samples) for b in s.boxes]
    d = p["data"]
    out = {"before": before.numpy(), "after": after.numpy(), "annotated": p["annotated"].numpy(),
           "annotated_boxes": np.array(boxes, np.int64).reshape(-1, 5), "weights": p["probe"]["weights"],
           "probe_X": d["X"], "probe_y": d["y"], "probe_groups": d["groups"], "probe_cells": d["cells"],
           "eval_seeds": np.array(seeds, np.int64)}
    if p["fill"] is not None:
        out["fill"] = p["fill"].numpy()
    if judged is not None:
        for name, key in (("before", ("before",)), ("after", ("after",)), ("control", ("control", 0))):
            out[f"judge_{name}"] = judged.measured[key]["present"]
    return out


def forget(gan, boxes, *, layer: str = "second-highest", negatives_per_image: int = 20, C: float = 1.0,
           select: str = "cv", top_k: int | None = None, n: int = 8, n_eval: int = 500, dose_n: int = 100,
           fill: str = "mean", control_draws: int = 3, folds: int = 5, seed: int = 0) -> Result:
    """Make ``gan``'s generator forget the object of a box file, and measure it (module docstring).

    gan: a :class:`ganlens.GAN` (any G with a spatial layer). boxes: a box file path or a
    :class:`ganlens.boxes.BoxFile` of samples of this G. layer: G layer by alias or module path. select:
    "cv" (default: top-k, k by cross-validated localisation) or "paper" (every positive weight); top_k:
    drop the K largest probe weights (overrides select). n: samples in the figure; n_eval: fresh latents
    the detector judges; dose_n: of those, latents per dose-curve point. fill: "mean" or "zero". Returns
    a Result (kind "forget"; figures "forget", "dose", "annotations").
    """
    t_start = time.perf_counter()
    settings = {"layer_flag": layer, "negatives_per_image": negatives_per_image, "C": C, "select": select,
                "top_k": top_k, "n": n, "n_eval": n_eval, "dose_n": dose_n, "control_draws": control_draws,
                "folds": folds, "fill": fill, "seed": seed}
    lay = check_settings(gan, layer, **{k: v for k, v in settings.items() if k not in ("layer_flag", "seed")})
    bf = read_boxes(boxes, gan)
    warning = boxfile.sha_warning(bf, bf.path or "boxes", gan.sha256)
    from ganlens.data.detect import detector_for  # after validation: a bad input fails before the detector loads
    judge = detector_for(bf.label, gan.image_size, gan.nc, gan.device)
    timings, t = {}, time.perf_counter()
    p = run_probe(gan, lay.name, bf, np.random.default_rng(seed), negatives_per_image=negatives_per_image, C=C,
                  folds=folds, top_k=top_k, fill=fill, control_draws=control_draws, seed=seed, select=select)
    gen = partial(generate, gan, lay.name, fill=p["fill"])
    levels = dose_levels(lay.channels, len(p["dropped"]), [len(m) for m in p["others"].values()])
    timings["probe_and_selection"], t = time.perf_counter() - t, time.perf_counter()
    loc = run_localisation(gan, lay.name, p, None if judge else levels)
    seeds = fresh_seeds(bf, n_eval)
    z_eval = gan.latents(seeds)
    judged, measured = None, {"removal": None, "judge": judge_record(bf, judge)}
    if judge is not None:
        judged = Judged(gen, judge, z_eval, partial(generate, gan, lay.name, fill=None))
        run_removal(judged, p, n_eval)
        timings["removal"], t = time.perf_counter() - t, time.perf_counter()
        measured.update(dose=run_dose(judged, p, levels, dose_n), removal=removal_record(judged, n_eval, control_draws))
    else:
        measured["dose"] = loc["dose"]
    timings["dose"] = time.perf_counter() - t
    measured["other_rules"] = other_rules_record(p, loc, judged)
    shown = measured["figure_samples"] = figure_samples(
        bf, None if judged is None else judged.measured[("before",)]["present"], seeds, n)
    z_all = bf.latents()
    z_fig = torch.stack([z_all[s["index"]] if s["source"] == "annotated" else z_eval[s["index"]]
                         for s in shown["samples"]])
    before, after = gen(z_fig), gen(z_fig, p["dropped"])
    data = assemble(gan, bf, lay, p, loc, settings, measured, warning)
    timings["total"] = time.perf_counter() - t_start
    data["seconds"] = {k: round(v, 3) for k, v in timings.items()}
    call = (f"ganlens.forget(gan, {str(bf.path or 'BoxFile(...)')!r}, "
            + ", ".join(f"{k}={v!r}" for k, v in settings.items()).replace("layer_flag=", "layer=") + ")")
    data["provenance"] = provenance(gan, seed, call=call)
    return Result("forget", data, _arrays(p, bf, before, after, seeds, judged),
                  plots={"forget": plot_samples, "dose": plot_dose, "annotations": plot_annotations})


# --- figures ------------------------------------------------------------------------------------------

def _column_label(s: dict) -> str:
    if s["source"] == "annotated":
        return "annotated"
    return {True: "fresh,\ndetector: yes", False: "fresh,\ndetector: no"}.get(s.get("detector_found"), "fresh")


def plot_samples(result: dict, arrays: dict):
    """The paper's layout: top row samples that contain the object (annotated first, then fresh latents the
    detector finds it in; each column says which), bottom row the same latents with the maps dropped."""
    before, after = torch.from_numpy(arrays["before"]), torch.from_numpy(arrays["after"])
    n = len(before)
    img = sheet(torch.cat([before, after]), cols=n)
    sel = result["selection"]
    with figures.style():
        fig, ax = figures.figure("two" if n > 4 else "one", aspect=img.shape[0] / img.shape[1] + 0.1)
        figures.show_image(ax, img)
        s = img.shape[0] / 2
        ax.set_yticks([s / 2, s + s / 2])
        ax.set_yticklabels(["samples", f"{result['n_dropped']} maps\ndropped\n({result['settings']['fill']} fill)"])
        shown = result["figure_samples"]["samples"]
        if len(shown) == n:
            w = img.shape[1] / n
            ax.set_xticks([(i + 0.5) * w for i in range(n)])
            ax.set_xticklabels([_column_label(c) for c in shown], fontsize=6)
        ax.tick_params(length=0, pad=2)
        rule = f"maps: {sel['rule']} rule, k = {sel['k']} of {result['layer_shape']['channels']}"
        rem, loc = result.get("removal"), result["localisation"]
        if rem:
            ax.set_title(f"{result['label']} rate {rem['before']:.2f} -> {rem['after']:.2f} (random maps dropped: "
                         f"{rem['control_after']:.2f}), {rem['n_latents']} fresh latents; {rule}", pad=3)
        else:
            ratio, ctl = loc["selected"]["ratio"], loc["control_ratio_mean"]
            ax.set_title(f"pixel change inside / outside the boxes {_num(ratio)} (random maps {_num(ctl)}); {rule}",
                         pad=3)
    return fig


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def plot_dose(result: dict, arrays: dict):
    """Left: object rate (or box localisation) against the number of maps dropped, weight vs random order,
    the chosen k and the other rules' k marked. Right: the cross-validation curve k was chosen on."""
    dose, sel = result["dose"], result["selection"]
    levels = np.array(dose["levels"])
    w = np.array([np.nan if v is None else v for v in dose["weight_order"]], float)       # (L,)
    r = np.array([[np.nan if v is None else v for v in q] for q in dose["random_order"]], float)  # (D, L)
    cv = sel.get("cv_scores")
    from matplotlib.ticker import MaxNLocator
    with figures.style():
        fig, axes = figures.figure("two", aspect=0.36, ncols=2 if cv else 1)
        ax = axes[0] if cv else axes
        ok = ~np.isnan(w) & ~np.isnan(r).any(0)    # level 0 has no localisation ratio (nothing changes)
        lv, w, r = levels[ok], w[ok], r[:, ok]
        ax.plot(lv, w, "o-", color="C3", ms=3, label="by probe weight (largest first)")
        ax.plot(lv, r.mean(0), "s--", color="C0", ms=3, label=f"random order (mean of {len(r)})")
        if len(r) > 1:
            ax.fill_between(lv, r.min(0), r.max(0), color="C0", alpha=0.2, lw=0, label="random order (range)")
        ax.axvline(result["n_dropped"], color="0.2", lw=0.8, label=f"chosen: {sel['rule']} rule, k = {result['n_dropped']}")
        for style, (name, o) in zip((":", "-."), result.get("other_rules", {}).items()):
            ax.axvline(o["k"], color="0.5", lw=0.8, ls=style, label=f"{name} rule, k = {o['k']}")
        ax.set_xlabel(f"feature maps dropped (of {result['layer_shape']['channels']} in {result['settings']['layer']}, "
                      f"{result['settings']['fill']} fill)\n{dose['n_latents']} {dose['latents']}")
        ax.set_ylabel(dose["metric_label"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if dose["metric"] == "rate":
            ax.set_ylim(-0.02, 1.02)
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, borderaxespad=0.2,
                  columnspacing=1.0, handlelength=1.8, fontsize=6)
        if cv:
            _plot_cv(axes[1], sel, cv)
            fig.subplots_adjust(wspace=0.4)
    return fig


def _tick_labels(ks) -> list[str]:
    """Labels of log-spaced ticks, blank where a tick is too close to the one before to be read (32, 33)."""
    out, last = [], None
    for k in ks:
        show = last is None or np.log2(k / last) >= 0.3 or k == ks[-1]
        if show and out and last is not None and np.log2(k / last) < 0.3:   # the last k wins over its neighbour
            out[-1] = ""
        out.append(str(k) if show else "")
        last = k if show else last
    return out


def _plot_cv(ax, sel: dict, cv: dict) -> None:
    """The cross-validation curve: held-out pixel change inside / outside the boxes and their difference
    (the score, mean +- SE over folds) against k."""
    ks = np.array(sel["candidates"])
    nan = float("nan")
    ax.plot(ks, [nan if v is None else v for v in cv["inside_mean"]], "^-", color="C3", ms=3, lw=0.8,
            label="inside boxes")
    ax.plot(ks, [nan if v is None else v for v in cv["outside_mean"]], "v-", color="C0", ms=3, lw=0.8,
            label="outside boxes")
    ax.errorbar(ks, cv["score_mean"], yerr=cv["score_se"], fmt="o-", color="k", ms=3, lw=1, capsize=2,
                label=f"score: inside - {cv['random_ratio']:.2f} x outside (+- SE, {cv['folds']} folds)")
    ax.axhline(0, color="0.7", lw=0.5)
    ax.axvline(cv["k"], color="0.2", lw=0.8, label=f"chosen k = {cv['k']} (largest within 1 SE of the best)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks)
    ax.set_xticklabels(_tick_labels(ks))
    ax.minorticks_off()
    ax.set_xlabel("top-weight maps dropped (k)\n" + ("held-out annotated images, probe fit on the other folds"
                                                     if cv["validated"] else "annotated images (in-sample)"))
    ax.set_ylabel("mean pixel change [0, 1]")
    ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, borderaxespad=0.2, fontsize=6,
              columnspacing=1.0, handlelength=1.8)


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
    p.add_argument("--boxes", metavar="FILE.json", help="box file (format ganlens.boxes/1); required unless --ratings")
    p.add_common(out_default=OUT_DEFAULT)
    p.add_argument("--layer", default="second-highest",
                   help="G layer with a spatial map: module path (block3, main.6), top or second-highest "
                        "(default: second-highest); 'list' prints G's layers")
    p.add_argument("--negatives-per-image", type=cli.at_least(1), default=20, metavar="K",
                   help="negative feature cells drawn per annotated image (default: 20)")
    p.add_argument("--C", type=positive, default=1.0, help="inverse L2 strength of the probe (default: 1.0)")
    p.add_argument("--select", choices=SELECTS, default="cv",
                   help="how the maps to drop are chosen: cv (default: the k largest probe weights, k by "
                        "cross-validated inside/outside-box pixel change on held-out annotated images) or paper "
                        "(every map with weight > 0); the other rule is reported beside it")
    p.add_argument("--top-k", type=cli.at_least(1), metavar="K",
                   help="drop the K maps with the largest probe weights (overrides --select)")
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
    p.add_argument("--ratings", nargs="+", metavar="FILE",
                   help="instead of a run: score the files the blind rating pages (python -m ganlens.annotate "
                        "--rate) downloaded, one per rater, all pages together, into human_ratings.json beside "
                        "the key, or into --out DIR when given (needs --key)")
    p.add_argument("--key", metavar="FILE", help="with --ratings: the pages' key, written next to them (rate.key.json)")
    p.set_defaults(out=None)   # a run writes into OUT_DEFAULT; --ratings beside its key unless --out is given
    return p


def summary(r: Result) -> str:
    """The command's one line: probe quality, what was dropped, and the measured effect."""
    d = r.data
    cv = d["probe"]["cv"]
    msg = f"probe CV AUC {cv['auc_mean']:.3f}" if cv and cv["auc_mean"] is not None else "probe (no CV)"
    msg += (f"; dropped {d['n_dropped']}/{d['layer_shape']['channels']} maps of {d['settings']['layer']} "
            f"({d['selection']['rule']} rule)")
    rem, loc = d.get("removal"), d["localisation"]
    if rem:
        return msg + (f"; {d['label']} rate {rem['before']:.3f} -> {rem['after']:.3f} "
                      f"(random control {rem['control_after']:.3f}) on {rem['n_latents']} latents")
    ratio, ctl = loc["selected"]["ratio"], loc["control_ratio_mean"]
    return msg + (f"; change inside/outside boxes {ratio if ratio is not None else float('nan'):.2f} "
                  f"(random {ctl if ctl is not None else float('nan'):.2f})")


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    settings = {k: getattr(args, k) for k in ("negatives_per_image", "C", "select", "top_k", "n", "n_eval",
                                              "dose_n", "fill", "control_draws", "folds")}
    if args.layer == "list":
        cli.layer(gan, "G", "list")
    check_settings(gan, args.layer, flags=True, **settings)
    bf = boxfile.read(args.boxes, gan)
    warning = boxfile.sha_warning(bf, args.boxes, gan.sha256)
    if warning:
        print(f"{PROG}: {warning}", file=sys.stderr)
    return forget(gan, bf, layer=args.layer, seed=args.seed, **settings)


def ratings_command(args) -> str:
    """--ratings: score the raters' files (:func:`ganlens.ratings.add_ratings`); returns the line to print."""
    if args.boxes is not None:
        raise GanlensError("--ratings scores rating pages; --boxes does not apply")
    if args.key is None:
        raise GanlensError("--ratings needs --key FILE: the .key.json written next to the rating pages")
    if args.out is not None:
        cli.check_out(args.out)
    block, path = ratings.add_ratings(args.key, args.ratings, args.out)
    r = block["rates"]
    shown = ", ".join(f"{c} {_num(r[c]['rate'])} [{r[c]['ci95'][0]:.2f}, {r[c]['ci95'][1]:.2f}]"
                      for c in ratings.CONDITIONS)
    q = block["cochran_q"]
    return (f"{block['n_raters']} raters; {block['n_latents_scored']} latents rated in every condition "
            f"({block['n_latents_dropped']} dropped); {block['label']} rate {shown}; Cochran's Q p = "
            f"{q['p_value']:.2g}; wrote {path}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.ratings:
        print(ratings_command(args), file=sys.stderr)
        return 0
    if args.boxes is None:
        raise GanlensError("--boxes FILE.json is required (a ganlens.boxes/1 file), unless --ratings scores a "
                           "rating page")
    args.out = args.out or OUT_DEFAULT
    _, gan = cli.start(args)  # checks --out before the work, then device, seed, checkpoint / --model
    result = from_args(args, gan)
    result.save(args.out)
    print(f"{summary(result)}; wrote {Path(args.out) / 'forget.json'}", file=sys.stderr)
    return 0


analysis_module(__name__, forget)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
