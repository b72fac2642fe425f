"""forget's records -> its JSON blocks and :class:`~ganlens.core.results.Result` (the JSON boundary: dicts are
made here, under the keys forget has always written)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ganlens.analyses.forget import figure
from ganlens.analyses.forget.classifier import CLASSIFIER_DOC
from ganlens.analyses.forget.judge import Judged, mcnemar, rates
from ganlens.analyses.forget.measure import FRESH_SEED
from ganlens.analyses.forget.record import Dose, Localisation, Selection, Settings
from ganlens.core.layers import Layer
from ganlens.core.results import Result, provenance
from ganlens.data import boxes as boxfile

RULES = {"cv": "top-k by probe weight, k chosen by cross-validation on held-out annotated images: the k whose "
               "edit changes the boxes most beyond what random maps do for the same change outside them",
         "paper": "every map with probe weight > 0 (the paper's rule), with the run's fill",
         "paper_literal": "every map with probe weight > 0, set to zero (the paper's literal rule)",
         "top-k": "the K maps of largest probe weight (--top-k / top_k, set by hand)"}
CI_METHOD = "exact (Clopper-Pearson) 95% interval: scipy.stats.binomtest(k, n).proportion_ci(method='exact')"


@dataclass
class Images:
    """The figure's samples (n, nc, S, S) before and after the drop, and the evaluation latents' seeds."""
    before: torch.Tensor
    after: torch.Tensor
    seeds: list[int]


@dataclass
class Measured:
    """Everything a run measured: the selection, localisation, dose curve, the detector's runs (None without
    a detector), the figure's samples (:func:`figure_samples`) and images."""
    sel: Selection
    loc: Localisation
    dose: Dose
    judged: Judged | None
    shown: dict
    images: Images


def _class_rates(b: dict, a: dict, cs: list[dict], j: int) -> dict:
    """Another class's rate and pixel share before, after and with the controls (detector column ``j``)."""
    return {"rate_before": float(b["class_present"][:, j].mean()),
            "rate_after": float(a["class_present"][:, j].mean()),
            "rate_control_after": float(np.mean([c["class_present"][:, j].mean() for c in cs])),
            "pixel_share_before": float(b["shares"][:, j].mean()),
            "pixel_share_after": float(a["shares"][:, j].mean()),
            "pixel_share_control_after": float(np.mean([c["shares"][:, j].mean() for c in cs]))}


def removal_record(judged: Judged, n_eval: int, n_controls: int) -> dict:
    """The "removal" block: rates, exact intervals, McNemar tests, areas and the other classes."""
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
        "other_classes": {name: _class_rates(b, a, cs, j) for j, name in enumerate(det.classes) if j != cls},
    }


def _other_removal(judged: Judged, name: str, draws: int) -> dict:
    """Another rule's removal numbers on the same latents, with random sets of its size."""
    b, a = judged.present("before"), judged.present("other", name)
    cs = [judged.present("other_control", name, d) for d in range(draws)]
    after, after_ci = rates(a)
    ctl = [float(c.mean()) for c in cs]
    return {"after": after, "after_ci95": after_ci, "control_after": float(np.mean(ctl)),
            "control_after_draws": ctl, "control_after_ci95": rates(np.concatenate(cs))[1],
            "after_over_before": after / b.mean() if b.mean() > 0 else None,
            "mcnemar_before_vs_after": mcnemar(b, a)}


def other_rules_record(sel: Selection, loc: Localisation, judged: Judged | None) -> dict:
    """The "other_rules" block: each rule not used, its maps, localisation (with random sets of its size)
    and, with a detector, its removal numbers on the same latents."""
    out = {}
    for name, maps in sel.others.items():
        lo = loc.others[name]
        out[name] = {"description": RULES[name], "k": len(maps), "maps": maps,
                     "fill": "zero" if name == "paper_literal" else sel.fill_name,
                     "localisation": {**lo.to_dict()["selected"], "control_ratio_mean": lo.control_ratio_mean,
                                      "k_per_fold": lo.k_per_fold, "how": lo.how}}
        if judged is not None:
            out[name]["removal"] = _other_removal(judged, name, len(sel.perms))
    return out


def _cv_why(sel: Selection) -> str:
    cv, k = sel.cv, len(sel.dropped)
    j = cv.candidates.index(cv.k)
    held = "held-out" if cv.validated else "in-sample (fewer than 2 images with boxes: nothing to hold out)"
    best = int(np.argmax(cv.score_mean))
    return (f"the default (select='cv'): of the top-k sets for k in {cv.candidates}, the largest k whose "
            f"{held} score (change inside the boxes beyond what random maps do for the same change "
            f"outside) is within one standard error of the best: k = {cv.k} (score "
            f"{cv.score_mean[j]:.4f}; best k = {cv.candidates[best]}, {cv.score_mean[best]:.4f} "
            f"+- {cv.score_se[best]:.4f} over {cv.folds} folds; within one standard error: k in "
            f"{cv.within_one_se}); the data cannot tell those k apart, and the largest removes the most"
            + (f"; {k} maps have a positive weight in the probe fit on all images" if k < cv.k else ""))


def selection_record(sel: Selection) -> dict:
    """The "selection" block: which rule chose the maps, why, and the cross-validation it rests on."""
    k = len(sel.dropped)
    why = {"paper": f"select='paper' / --select paper: every map with a positive probe weight ({k} maps)",
           "top-k": f"top_k={k} / --top-k {k}, set by hand"}
    out = {"rule": sel.rule, "description": RULES[sel.rule], "k": k,
           "why": _cv_why(sel) if sel.rule == "cv" else why[sel.rule]}
    if sel.cv:
        out.update(candidates=sel.cv.candidates, cv_scores=sel.cv.scores())
    return out


def judge_record(bf: boxfile.BoxFile, judge) -> dict:
    """The "judge" block: what judges the removal (``judge``: the detector, or None), and whether it is
    independent of the box file."""
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
    """Which ``n`` latents the figure shows: samples that contain the object (the "figure_samples" block).

    Annotated samples with boxes first (about half of ``n`` when the detector's verdicts ``present``
    (n_eval,) on the evaluation latents are given, all of ``n`` without), then evaluation latents the
    detector finds the object in, then (only when there are too few of either) more annotated samples
    with boxes and other evaluation latents. Returns {"samples": [{"source", "index", "seed", ...}], "why", ...}.
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


def _settings_block(gan, bf: boxfile.BoxFile, lay: Layer, s: Settings) -> dict:
    origin = gan.origin()
    return {"checkpoint": origin["checkpoint"], "checkpoint_sha256": gan.sha256, "source": gan.source,
            "config": origin["config"], "boxes": bf.path or "in-memory", "layer": lay.name, **s.to_dict(),
            "device": str(gan.device)}


def _boxes_block(gan, bf: boxfile.BoxFile, sel: Selection) -> dict:
    return {"n_samples": len(bf.samples), "n_boxes": bf.n_boxes, "n_samples_with_boxes": len(sel.boxed.index),
            "note": bf.note, "checkpoint_sha256": bf.checkpoint_sha256,
            "checkpoint_sha256_matches": (None if bf.checkpoint_sha256 is None or gan.sha256 is None
                                          else bf.checkpoint_sha256.lower() == gan.sha256)}


def _classifier_block(sel: Selection, C: float) -> dict:
    cells, clf = sel.cells, sel.classifier
    return {"method": CLASSIFIER_DOC, "standardised": True, "C": C,
            "n_positive": int(cells.y.sum()), "n_negative": int((cells.y == 0).sum()),
            "n_ambiguous_cells_left_out": cells.n_ambiguous, "cv": clf.cv, "train_auc": clf.train_auc,
            "weights": [float(w) for w in clf.weights], "intercept": clf.intercept,
            "n_positive_weights": int((clf.weights > 0).sum())}


def _localisation_block(loc: Localisation) -> dict:
    h = loc.held.to_dict()
    return {"samples": h["samples"], "held_out": True, "how": h["how"], "selected": h["selected"],
            "control": h["control"], "control_ratio_mean": h["control_ratio_mean"], "k_per_fold": h["k_per_fold"],
            "in_sample": asdict(loc.in_sample)}


def assemble(gan, bf: boxfile.BoxFile, lay: Layer, s: Settings, m: Measured, warning: str | None) -> dict:
    """The JSON of a forget result (everything but "provenance" and "seconds")."""
    size, sel = gan.image_size, m.sel
    result = {
        "label": bf.label,
        "settings": _settings_block(gan, bf, lay, s),
        "boxes_file": _boxes_block(gan, bf, sel),
        "layer_shape": {"channels": lay.channels, "side": lay.side,
                        "cell_pixels": size // lay.side if size % lay.side == 0 else round(size / lay.side, 4)},
        "probe": _classifier_block(sel, s.C),
        "selection": selection_record(sel),
        "n_dropped": len(sel.dropped),
        "dropped_maps": sel.dropped,
        "control": {"rule": "uniform random sets of n_dropped maps of the layer, never a dropped map (unless more "
                            "than half are dropped)", "maps": sel.controls},
        "localisation": _localisation_block(m.loc),
        "other_rules": other_rules_record(sel, m.loc, m.judged),
        "dose": m.dose.to_dict(),
        "judge": judge_record(bf, m.judged),
        "figure_samples": m.shown,
    }
    if m.judged is not None:
        result["removal"] = removal_record(m.judged, s.n_eval, s.draws)
    else:
        result["detector"] = {"available": False,
                              "reason": f"no detector for label {bf.label!r} at {gan.nc}x{size}x{size} (the rooms "
                                        f"detector knows rooms classes at 3x64x64)"}
    if warning:
        result["warnings"] = [warning]
    return result


def arrays(m: Measured, bf: boxfile.BoxFile) -> dict:
    """What forget.npz holds: the figures' images and boxes, the classifier's weights and training cells, the
    fill values and evaluation seeds (the rating page remakes the edit from them) and, with a detector,
    its verdict on every evaluation latent before, after and with the first control set."""
    boxes = [[i, *b] for i, s in enumerate(bf.samples) for b in s.boxes]
    sel, cells = m.sel, m.sel.cells
    out = {"before": m.images.before.numpy(), "after": m.images.after.numpy(), "annotated": sel.annotated.numpy(),
           "annotated_boxes": np.array(boxes, np.int64).reshape(-1, 5), "weights": sel.classifier.weights,
           "probe_X": cells.X, "probe_y": cells.y, "probe_groups": cells.groups, "probe_cells": cells.cells,
           "eval_seeds": np.array(m.images.seeds, np.int64)}
    if sel.fill is not None:
        out["fill"] = sel.fill.numpy()
    if m.judged is not None:
        for name, key in (("before", ("before",)), ("after", ("after",)), ("control", ("control", 0))):
            out[f"judge_{name}"] = m.judged.present(*key)
    return out


def to_result(gan, bf: boxfile.BoxFile, lay: Layer, s: Settings, m: Measured, warning: str | None,
              seconds: dict) -> Result:
    """The forget :class:`Result`: its JSON, arrays and figures ("forget", "dose", "annotations")."""
    data = assemble(gan, bf, lay, s, m, warning)
    data["seconds"] = seconds
    data["provenance"] = provenance(gan, s.seed, call=s.call(str(bf.path or "BoxFile(...)")))
    plots = {"forget": figure.plot_samples, "dose": figure.plot_dose, "annotations": figure.plot_annotations}
    return Result("forget", data, arrays(m, bf), plots=plots)
