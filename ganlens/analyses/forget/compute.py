"""forget's computation: a GAN, a box file and settings -> a Result (steps in docs/methods.md, forget).

:func:`forget` is the public call (it resolves the layer once); :func:`run` does the work on a resolved
:class:`~ganlens.core.layers.Layer` and checked :class:`~ganlens.analyses.forget.record.Settings`.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
import torch

from ganlens.analyses.api import renamed
from ganlens.analyses.forget.classifier import box_cells, fit_classifier, select_maps
from ganlens.analyses.forget.judge import Judged, run_dose, run_removal
from ganlens.analyses.forget.measure import (BATCH, as_layer, boxed_samples, dose_levels, fresh_seeds, generate,
                                             generate_each, localisation, mean_ratio)
from ganlens.analyses.forget.record import Dose, HeldOut, InSample, Localisation, Selection, Settings
from ganlens.analyses.forget.result import Images, Measured, figure_samples, to_result
from ganlens.analyses.forget.select import candidate_ks, cv_selection, held_out_rule, make_folds, random_set
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.generate import activations
from ganlens.core.layers import Layer
from ganlens.core.results import Result
from ganlens.data import boxes as boxfile
from ganlens.data.detect import detector_for

FILLS = ("mean", "zero")
SELECTS = ("cv", "paper")      # select: cross-validated top-k (default) or the paper's weight > 0


def _name(key: str, flags: bool) -> str:
    return "--" + key.replace("_", "-") if flags else key


def check_settings(gan, s: Settings, flags: bool = False) -> None:
    """Every setting but the layer, and that ``gan`` has a G; a one-line GanlensError otherwise, naming
    settings as Python arguments (``top_k``) or, with ``flags``, as the command's flags (``--top-k``)."""
    require_at_least({"negatives_per_image": (s.negatives_per_image, 1), "n": (s.n, 1), "n_eval": (s.n_eval, 1),
                      "dose_n": (s.dose_n, 1), "draws": (s.draws, 1), "folds": (s.folds, 2),
                      "top_k": (s.top_k, 1)}, flags=flags)
    if not (isinstance(s.C, (int, float)) and np.isfinite(s.C) and s.C > 0):
        raise GanlensError(f"{_name('C', flags)} must be a positive number, got {s.C!r}")
    if s.fill not in FILLS:
        raise GanlensError(f"{_name('fill', flags)} must be one of {', '.join(FILLS)}, got {s.fill!r}")
    if s.select not in SELECTS:
        raise GanlensError(f"{_name('select', flags)} must be one of {', '.join(SELECTS)}, got {s.select!r}")
    if s.dose_n > s.n_eval:
        raise GanlensError(f"{_name('dose_n', flags)} {s.dose_n} is more than {_name('n_eval', flags)} {s.n_eval}")
    if s.n > s.n_eval:
        raise GanlensError(f"{_name('n', flags)} {s.n}: more samples to show than {_name('n_eval', flags)} {s.n_eval}")
    gan.require_G()


def check_layer(gan, lay: Layer, s: Settings, flags: bool = False) -> Layer:
    """``lay`` if forget can work on it: a hidden G layer with a spatial map, at least ``top_k`` maps."""
    where = f"--layer {s.layer_flag}" if flags else f"layer {s.layer_flag!r}"
    if lay.name == gan.layers("G").output.name:
        raise GanlensError(f"{where}: the output has no feature maps to drop; use a hidden layer")
    if not lay.spatial or lay.side < 2:
        raise GanlensError(f"{where}: layer {lay.name} has no spatial map ({lay.channels}x{lay.side}x{lay.side}, "
                           f"made by {lay.module}), so boxes cannot be placed on its cells; forget needs a "
                           f"convolutional G layer (an MLP generator has none)")
    if s.top_k is not None and s.top_k > lay.channels:
        raise GanlensError(f"{_name('top_k', flags)} {s.top_k}: layer {lay.name} has only {lay.channels} maps")
    return lay


def read_boxes(boxes, gan) -> boxfile.BoxFile:
    """``boxes`` (a path or a :class:`ganlens.data.boxes.BoxFile`) checked against the generator."""
    if isinstance(boxes, boxfile.BoxFile):
        return boxfile.check(boxes, gan)
    return boxfile.read(boxes, gan)


def _rules(sel_k: int | None, order: list[int], paper: list[int], fill: str, select: str | None,
           top_k: int | None) -> dict[str, list[int]]:
    """The maps each rule drops (empty: the rule does not apply)."""
    return {"cv": order[:min(sel_k, max(1, len(paper)))] if sel_k else [], "paper": paper,
            "paper_literal": paper if fill == "mean" and select is not None else [],
            "top-k": order[:top_k] if top_k is not None else []}


@renamed(control_draws="draws")
def run_classifier(gan, layer: Layer | str, bf: boxfile.BoxFile, rng: np.random.Generator, *,
                   negatives_per_image: int, C: float, folds: int, top_k: int | None, fill: str, draws: int,
                   seed: int, select: str | None = None) -> Selection:
    """Steps 1-2: the layer's maps on the annotated samples, the classifier on box cells, the maps to drop
    and the random control sets.

    select: "cv" or "paper", the rule that chooses the maps when ``top_k`` is None; both rules are computed
    (the JSON reports the one not used beside it). None (for callers that only want the paper's rule, e.g.
    :mod:`ganlens.dissect`) is the paper's rule without the cross-validation."""
    lay = as_layer(gan, layer)
    acts, annotated = activations(gan, bf.latents(), lay.name, batch=BATCH, with_images=True)
    image_means = acts.float().mean((2, 3))     # fill "mean": a dropped map keeps its average over samples
    fill_values = image_means.mean(0) if fill == "mean" else None
    cells = box_cells(acts, bf, gan.image_size, negatives_per_image, rng)
    if (cells.y == 0).sum() == 0:
        raise GanlensError(f"{bf.path or 'boxes'}: the boxes cover every feature cell of every sample; no negatives")
    clf = fit_classifier(cells.X, cells.y, cells.groups, C, folds, seed)
    order = [int(i) for i in np.argsort(-clf.weights, kind="stable")]
    boxed = boxed_samples(bf, annotated)
    folds_, validated = make_folds(clf, boxed, image_means if fill == "mean" else None)
    cv = None
    if select is not None:
        cv_rng = np.random.default_rng([seed, 1])       # its own stream: the control sets stay as they were
        cv = cv_selection(partial(generate_each, gan, lay), folds_, validated, boxed,
                          candidate_ks(max(f.cap for f in folds_)),
                          [cv_rng.permutation(len(order)) for _ in range(draws)])
    rules = _rules(cv.k if cv else None, order, select_maps(clf.weights), fill, select, top_k)
    rule = "top-k" if top_k is not None else (select or "paper")
    dropped = rules[rule]
    if not dropped:
        raise GanlensError(f"{bf.path or 'boxes'}: the classifier gave no map of layer {lay.name} a positive weight; "
                           f"nothing to drop (try top_k / --top-k K, select='cv' / --select cv or another layer)")
    # random orders with the dropped maps last: their first len(dropped) maps (the controls) are never dropped ones
    c = acts.shape[1]
    perms = [random_set(rng.permutation(c), dropped, c) for _ in range(draws)]
    return Selection(annotated, fill_values, cells, clf, boxed, cv, folds_, rule, dropped, order, perms,
                     {r: m for r, m in rules.items() if r != rule and m}, [q[:len(dropped)] for q in perms])


def held_out(gan, lay: Layer, sel: Selection, name: str, maps: list[int]) -> HeldOut:
    """Rule ``name``'s pixel change inside vs outside the boxes on held-out annotated images: the
    cross-validated rule from its folds, a fixed rule by its fold classifiers."""
    if name == "cv":
        return sel.cv.held_out
    maps_of = {"paper": lambda f: f.positive(), "paper_literal": lambda f: f.positive(),
               "top-k": lambda f: f.order[:len(maps)]}[name]
    return held_out_rule(partial(generate_each, gan, lay), sel.folds, sel.boxed, sel.perms, maps_of,
                         zero_fill=name == "paper_literal" or sel.fill is None)


def _in_sample_dose(ratio, sel: Selection, levels: list[int]) -> Dose:
    """Without a detector: the dose curve of the in-sample localisation ratio, weight vs random order."""
    nan = float("nan")
    w = [nan if k == 0 else ratio(sel.order[:k]).ratio or nan for k in levels]
    r = [[nan if k == 0 else ratio(q[:k]).ratio or nan for k in levels] for q in sel.perms]
    return Dose("localisation", "pixel change inside boxes / outside (in sample)", "annotated samples with boxes",
                len(sel.boxed.index), levels, [None if np.isnan(v) else float(v) for v in w],
                [[None if np.isnan(v) else float(v) for v in q] for q in r])


def run_localisation(gan, lay: Layer, sel: Selection, levels: list[int] | None = None) -> Localisation:
    """Step 3 (every label): pixel change inside vs outside the boxes for the dropped maps and each other
    rule, out of sample (:func:`held_out`), against random sets of as many other maps; in sample on every
    annotated image with boxes beside it. With ``levels`` (no detector), also the in-sample dose curve."""
    b, gen = sel.boxed, partial(generate, gan, lay, fill=sel.fill)

    def ratio(drop):
        return localisation(b.base, gen(b.z, [int(i) for i in drop]), b.masks)
    held = held_out(gan, lay, sel, sel.rule, sel.dropped)
    others = {name: held_out(gan, lay, sel, name, m) for name, m in sel.others.items()}
    in_sample = InSample(ratio(sel.dropped), mean_ratio([ratio(c) for c in sel.controls]),
                         "every annotated image with boxes, the maps and the fill of the probe fit on all of them "
                         "(optimistic)")
    return Localisation(held, others, in_sample, None if levels is None else _in_sample_dose(ratio, sel, levels))


def _figure_latents(bf: boxfile.BoxFile, shown: dict, z_eval: torch.Tensor) -> torch.Tensor:
    """The latents (n, nz) of the samples the figure shows (:func:`figure_samples`)."""
    z_all = bf.latents()
    return torch.stack([z_all[s["index"]] if s["source"] == "annotated" else z_eval[s["index"]]
                        for s in shown["samples"]])


def run(gan, bf: boxfile.BoxFile, lay: Layer, s: Settings) -> Result:
    """Make ``gan``'s generator forget the object of box file ``bf`` by dropping maps of ``lay``, and measure
    it; ``s`` already checked (:func:`check_settings`, :func:`check_layer`)."""
    t_start = time.perf_counter()
    warning = boxfile.sha_warning(bf, bf.path or "boxes", gan.sha256)
    judge = detector_for(bf.label, gan.image_size, gan.nc, gan.device)
    timings, t = {}, time.perf_counter()
    sel = run_classifier(gan, lay, bf, np.random.default_rng(s.seed), negatives_per_image=s.negatives_per_image,
                         C=s.C, folds=s.folds, top_k=s.top_k, fill=s.fill, draws=s.draws, seed=s.seed,
                         select=s.select)
    gen = partial(generate, gan, lay, fill=sel.fill)
    levels = dose_levels(lay.channels, len(sel.dropped), [len(m) for m in sel.others.values()])
    timings["probe_and_selection"], t = time.perf_counter() - t, time.perf_counter()
    loc = run_localisation(gan, lay, sel, None if judge else levels)
    seeds = fresh_seeds(bf, s.n_eval)
    z_eval = gan.latents(seeds)
    judged, dose = None, loc.dose
    if judge is not None:
        judged = Judged(gen, judge, z_eval, partial(generate, gan, lay, fill=None))
        run_removal(judged, sel, s.n_eval)
        timings["removal"], t = time.perf_counter() - t, time.perf_counter()
        dose = run_dose(judged, sel, levels, s.dose_n)
    timings["dose"] = time.perf_counter() - t
    shown = figure_samples(bf, None if judged is None else judged.present("before"), seeds, s.n)
    z_fig = _figure_latents(bf, shown, z_eval)
    images = Images(gen(z_fig), gen(z_fig, sel.dropped), seeds)
    timings["total"] = time.perf_counter() - t_start
    return to_result(gan, bf, lay, s, Measured(sel, loc, dose, judged, shown, images), warning,
                     {k: round(v, 3) for k, v in timings.items()})


@renamed(control_draws="draws")
def forget(gan, boxes, *, layer: Layer | str = "second-highest", negatives_per_image: int = 20, C: float = 1.0,
           select: str = "cv", top_k: int | None = None, n: int = 8, n_eval: int = 500, dose_n: int = 100,
           fill: str = "mean", draws: int = 3, folds: int = 5, seed: int = 0) -> Result:
    """Make ``gan``'s generator forget the object of a box file, and measure it (docs/methods.md, forget).

    gan: a :class:`ganlens.GAN` (any G with a spatial layer). boxes: a box file path or a
    :class:`ganlens.data.boxes.BoxFile` of samples of this G. layer: G layer by alias or module path, or a
    Layer. select: "cv" (default: top-k, k by cross-validated localisation) or "paper" (every positive
    weight); top_k: drop the K largest classifier weights (overrides select). n: samples in the figure;
    n_eval: fresh latents the detector judges; dose_n: of those, latents per dose-curve point; draws: random
    control sets (old name: control_draws). fill: "mean" or "zero". Returns a Result (kind "forget";
    figures "forget", "dose", "annotations").
    """
    s = Settings(layer.name if isinstance(layer, Layer) else layer, negatives_per_image, C, select, top_k, n,
                 n_eval, dose_n, draws, folds, fill, seed)
    check_settings(gan, s)
    lay = check_layer(gan, as_layer(gan, layer), s)
    return run(gan, read_boxes(boxes, gan), lay, s)
