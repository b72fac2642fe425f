"""The dissection figures (Bau et al. 2019: units per class, removal, insertion, dose): the settings of their
run and their captions, built from the saved JSON. The registry names :data:`FIGURE`; ``ganlens.paper`` runs it."""

from __future__ import annotations

from ganlens.core.latex import (PaperFigure, count, fmt, latex_escape, model_name, model_sha256,
                                settings_without_model)


def _dissect_rule(j: dict) -> str:
    s = j["settings"]
    seg = latex_escape(j["segmenter"]["name"])
    floor = s["iou_floor"] if s["iou_floor"] is not None else (0.05 if s["threshold"] == "iqr" else 0.04)
    if s["threshold"] == "iqr":
        return (f"a unit fires where its activation, upsampled bilinearly to the image, exceeds the level that "
                f"maximises the information quality ratio (IQR) with its best class of {seg} (GAN Dissection's rule, "
                f"levels picked on {count(s['n_select'])} other samples); it is labelled with that class if, over "
                f"{count(s['n'])} samples, IQR $> 0.01$ and IoU $> {floor:g}$")
    q = s["threshold"].split(":", 1)[1]
    return (f"a unit fires where its activation, upsampled bilinearly to the image, exceeds its own {q} "
            f"quantile over {count(s['n'])} samples; it is labelled with the class of {seg} it overlaps best if that "
            f"IoU is at least {floor:g}")


def caption_dissect(j: dict) -> str:
    sm = j["summary"]
    per = ", ".join(f"{latex_escape(c)} {v}" for c, v in sorted(sm["per_class"].items(), key=lambda x: -x[1]))
    layers = ", ".join(f"{latex_escape(r['layer'])} {r['labelled']}/{len(r['units'])}" for r in j["layers"])
    none = []
    for c, v in j["classes"].items():
        if not v["total_units"] and v["note"] and "not among" not in v["note"]:
            its = v["best_unit"]["its_label"]
            none.append(f"{latex_escape(c)} (best IoU {fmt(v['best_unit']['iou'], 3)}"
                        + (f", a unit labelled {latex_escape(its)})" if its else ")"))
    text = (f"Dissection of the generator of {model_name(j)}: units labelled with each class, per layer "
            f"({_dissect_rule(j)}). {sm['labelled']} of {sm['units']} units are labelled ({per or 'none'}); "
            f"per layer {layers}.")
    if none:
        text += f" Classes with no unit: {', '.join(none)}."
    return text


def caption_dissect_units(j: dict) -> str:
    shown = j["shown_units"]
    return (f"Top units per class in the generator of {model_name(j)}, each over the {len(shown[0]['seeds'])} samples "
            f"where it fires most: colour is the unit's activation upsampled to the image (relative to its level, the "
            f"mean of its top activations), cyan outlines where it fires ({_dissect_rule(j)}).")


def _p_value(p) -> str:
    """A p-value for LaTeX math: 0.016, or 4.7\times10^{-31}."""
    if p is None:
        return "n/a"
    if p >= 1e-3:
        return f"{p:.2g}"
    mant, exp = f"{p:.1e}".split("e")
    return f"{mant}\\times10^{{{int(exp)}}}"


def _dissect_edit(kind: str, c: str, r: dict) -> str:
    what = "share of latents with" if kind == "remove" else "share of latents with, in the region,"
    share = "the class's pixel share" if kind == "remove" else "the share of the region labelled with the class"
    ctl = r["control"]
    return (f"{'Removing' if kind == 'remove' else 'Inserting'} {latex_escape(c)}: the {r['k']} units of layer "
            f"{latex_escape(r['layer'])} with the highest IoU ({latex_escape(r['edit'])}); {what} a "
            f"{latex_escape(c)} on {count(r['n_latents'])} fresh latents: {fmt(r['before']['rate'])} "
            f"[{fmt(r['before']['ci95'][0])}, {fmt(r['before']['ci95'][1])}] before, {fmt(r['after']['rate'])} "
            f"[{fmt(r['after']['ci95'][0])}, {fmt(r['after']['ci95'][1])}] after, {fmt(ctl['rate_mean'])} with as many "
            f"random units (mean of {len(ctl['draws'])} draws; exact 95\\% intervals; McNemar "
            f"$p = {_p_value(r['mcnemar_before_vs_after']['p_value'])}$). GAN Dissection's average causal effect "
            f"on {share} (units at their mean where the class is present vs zeroed, same latents) "
            f"{fmt(r['ace']['value'], 3)} (random units {fmt(ctl['ace_mean'], 3)}).")


def caption_dissect_remove(j: dict) -> str:
    text = (f"Removing classes from {model_name(j)} through their units. Rows: samples, the class's units removed, "
            f"random units. ")
    return text + " ".join(_dissect_edit("remove", c, r) for c, r in j["remove"].items())


def caption_dissect_insert(j: dict) -> str:
    recs = {c: r for c, r in j["insert"].items() if "after" in r}
    region = next(iter(recs.values()))["region"]["rule"]
    text = (f"Inserting classes into {model_name(j)} through their units; target region (red): {latex_escape(region)}. "
            f"Rows: samples, the class's units set to their level inside the region, random units. ")
    return text + " ".join(_dissect_edit("insert", c, r) for c, r in recs.items())


def caption_dissect_dose(j: dict) -> str:
    parts = [f"{kind} {latex_escape(c)} ({count(r['dose']['n_latents'])} latents)" for kind in ("remove", "insert")
             for c, r in j[kind].items() if "dose" in r]
    return (f"Dose curves of dissection edits in {model_name(j)}: share of samples with the class (in the target "
            f"region for insertion) against the number of units edited, in IoU order (red) and in random orders (blue, "
            f"mean and range): {', '.join(parts)}.")



FIGURE = PaperFigure(
    "fig_dissect", "Dissection (Bau et al. 2019): units per class, removal and insertion", "ganlens.dissect",
    "dissect.json",
    ("--layers", "all", "--n", "1000", "--threshold", "iqr", "--n-select", "200", "--iou-floor", "0.05",
     "--fill", "zero",
     "--control-draws", "3", "--n-eval", "500", "--dose-n", "100", "--show", "8"),
    {"dissect": caption_dissect, "units": caption_dissect_units, "remove": caption_dissect_remove,
     "insert": caption_dissect_insert, "dose": caption_dissect_dose},
    {"dissect": "fig_dissect", "units": "fig_dissect_units", "remove": "fig_dissect_remove",
     "insert": "fig_dissect_insert", "dose": "fig_dissect_dose"},
    settings_without_model, model_sha256)
