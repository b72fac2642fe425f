"""Fig. 6 of the paper (forgetting windows), its dose curve and its box file: the settings of its run and its
captions, built from the saved JSON. The registry names :data:`FIGURE`; ``ganlens.paper`` runs it."""

from __future__ import annotations

from pathlib import Path

from ganlens.core.latex import (PaperFigure, count, fmt, latex_escape, model_name, model_sha256,
                                settings_without_model)


def caption_forget(j: dict) -> str:
    s, p, sel = j["settings"], j["probe"], j["selection"]
    cv = (p.get("cv") or {}).get("auc_mean")
    fill = "their mean activation" if s["fill"] == "mean" else "zero"
    label = latex_escape(j["label"])

    def ci(c):
        return f" [{fmt(c[0])}, {fmt(c[1])}]" if c else ""
    rules = {"cv": (f"the {j['n_dropped']} largest weights, $k$ chosen by cross-validation on held-out annotated "
                    f"images (the largest $k$ within one standard error of the best score: the change inside the "
                    f"boxes beyond what random maps do for the same change outside them)"),
             "paper": "every map with a positive weight (the paper's rule)",
             "top-k": f"the {sel['k']} largest weights (set by hand)"}
    names = {"cv": "the cross-validated rule", "paper": "the paper's rule (every positive weight)", "top-k": "top-$k$",
             "paper_literal": "the paper's literal rule (every positive weight, set to zero)"}
    shown = j["figure_samples"]
    fresh = (f", then {shown['n_fresh_found']} fresh latents in which the detector finds one" if shown["n_fresh_found"]
             else "") + (f", then {shown['n_fresh_other']} other fresh latents" if shown["n_fresh_other"] else "")
    text = (f"Forgetting ``{label}'' in {model_name(j)}. Top: {shown['n_annotated']} annotated samples with "
            f"boxes{fresh}; bottom: the same latents with the {j['n_dropped']} of {j['layer_shape']['channels']} "
            f"feature maps of layer {latex_escape(s['layer'])} that a logistic-regression probe "
            f"({j['boxes_file']['n_boxes']} boxes on {j['boxes_file']['n_samples']} samples, cross-validated AUC "
            f"{fmt(cv)}) ties to the object set to {fill} at every position; maps: {rules[sel['rule']]}.")
    rem = j.get("removal")
    if rem:
        text += (f" Share of {count(rem['n_latents'])} fresh latents with a {latex_escape(rem['label'])} "
                 f"(rooms detector, exact 95\\% intervals): {fmt(rem['before'])}{ci(rem['before_ci95'])} before, "
                 f"{fmt(rem['after'])}{ci(rem['after_ci95'])} after, {fmt(rem['control_after'])}"
                 f"{ci(rem['control_after_ci95'])} after dropping as many random other maps "
                 f"({len(rem['control_after_draws'])} draws pooled).")
    loc = j["localisation"]
    text += (f" Pixel change inside the boxes / outside on held-out annotated samples: {fmt(loc['selected']['ratio'])} "
             f"(random maps: {fmt(loc['control_ratio_mean'])}).")
    for name, o in j.get("other_rules", {}).items():
        after = (f"{latex_escape(j['label'])} rate {fmt(o['removal']['after'])}{ci(o['removal']['after_ci95'])} "
                 f"after, " if "removal" in o else "")
        text += (f" With {names[name]}, {o['k']} maps: {after}inside / outside {fmt(o['localisation']['ratio'])} "
                 f"(random: {fmt(o['localisation']['control_ratio_mean'])}).")
    if (j.get("judge") or {}).get("independent_of_boxes") is False:
        text += (" The same detector drew the boxes the probe was fit on, so its rates are not an independent "
                 "judgement of the removal.")
    return text


def caption_dose(j: dict) -> str:
    d, s, sel = j["dose"], j["settings"], j["selection"]
    text = (f"Dose curve of forgetting ``{latex_escape(j['label'])}'' in {model_name(j)}. Left: "
            f"{latex_escape(d['metric_label'])} on {count(d['n_latents'])} {latex_escape(d['latents'])} when "
            f"{', '.join(map(str, d['levels']))} of the {j['layer_shape']['channels']} maps of layer "
            f"{latex_escape(s['layer'])} are set to {'their mean' if s['fill'] == 'mean' else 'zero'}, taken in "
            f"order of probe weight (largest first) or in {len(d['random_order'])} random orders; the solid line "
            f"marks the {sel['k']} maps dropped in Fig.~6 ({latex_escape(sel['rule'])} rule)")
    others = [f"{o['k']} ({latex_escape(name)} rule)" for name, o in j.get("other_rules", {}).items()]
    text += (f", the dotted one{'s' if len(others) > 1 else ''} {' and '.join(others)}." if others else ".")
    cv = sel.get("cv_scores")
    if cv:
        text += (f" Right: the cross-validation that chooses $k$: on the annotated images held out of each of "
                 f"{cv['folds']} folds, the mean pixel change inside the boxes and outside them when the fold "
                 f"probe's $k$ largest-weight maps are dropped, and the score, inside minus "
                 f"{fmt(cv['random_ratio'])} $\\times$ outside ({fmt(cv['random_ratio'])}: the inside / outside ratio "
                 f"of random maps), mean $\\pm$ standard error over folds; chosen: the largest $k$ within one "
                 f"standard error of the best, $k = {cv['k']}$ (best at $k = "
                 f"{sel['candidates'][max(range(len(cv['score_mean'])), key=cv['score_mean'].__getitem__)]}$).")
    return text


def caption_annotations(j: dict) -> str:
    b = j["boxes_file"]
    text = (f"The box file of Fig.~6: {b['n_boxes']} ``{latex_escape(j['label'])}'' boxes on "
            f"{b['n_samples_with_boxes']} of {b['n_samples']} samples of {model_name(j)} "
            f"(\\texttt{{{latex_escape(Path(j['settings']['boxes']).name)}}}).")
    if (j.get("judge") or {}).get("independent_of_boxes") is False:
        text += " The rooms detector drew these boxes, not a person; the same detector judges Fig.~6."
    return text



FIGURE = PaperFigure(
    "fig6_forget", "Fig. 6 (forgetting windows)", "ganlens.forget", "forget.json",
    ("--layer", "second-highest", "--n", "8", "--n-eval", "500", "--dose-n", "100", "--fill", "mean",
     "--control-draws", "3", "--folds", "5"),
    {"forget": caption_forget, "dose": caption_dose, "annotations": caption_annotations},
    {"forget": "fig6_forget", "dose": "fig6_dose", "annotations": "fig6_annotations"},
    settings_without_model, model_sha256, needs_boxes=True)
