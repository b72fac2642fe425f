"""Fig. 5 of the paper (guided backpropagation, trained vs random D): the settings of its run and its caption,
built from the saved JSON. The registry names :data:`FIGURE`; ``ganlens.paper`` runs it."""

from __future__ import annotations

from ganlens.core.latex import (PaperFigure, count, fmt, latex_escape, model_name, model_sha256,
                                settings_without_model, tt)


def caption_filters(j: dict) -> str:
    s, sem, rf = j["settings"], j["semantic"], j["receptive_field"]
    units = ", ".join(map(str, j["units"]))
    seeds = sem["random_draws"]["seeds"]
    which = " (its highest-scoring; the random D shows its own)" if s.get("units_flag") is None else ""
    text = (f"Guided backpropagation of units {units}{which} of the discriminator's layer {latex_escape(s['layer'])} "
            f"({model_name(j)}; receptive field {rf['size']} px). For each unit, its {s['top']} strongest responses "
            f"among the first {count(s['n_images_searched'])} images of {tt(s['data'])}: receptive-field crop and "
            f"guided map (light grey: outside the image).")
    if seeds:
        text += (f" Left: trained D; right: a randomly initialised D of the same architecture (seed {seeds[0]}, "
                 f"the first of {len(seeds)} random draws).")
    head = sem["headline"]
    if head is None:
        text += f" {latex_escape(sem['note'][:1].upper() + sem['note'][1:])}."
    else:
        text += " " + _semantic_sentence(sem[head], head, len(seeds))
    ac = j["descriptive"]["autocorrelation"]
    text += (f" Descriptive only (smoothness, not selectivity): autocorrelation of the guided maps, trained "
             f"{fmt(ac['trained_mean'])}" + (f", random {fmt(min(ac['random_means']))}--{fmt(max(ac['random_means']))}"
                                             if seeds else "") + ".")
    return text


def _semantic_sentence(block: dict, head: str, draws: int) -> str:
    """The caption's sentence on the headline semantic score of ganlens.filters."""
    lay = block["layer"]
    if head == "iou":
        m = block["masks"]
        per = ", ".join(f"{d['unit']} {latex_escape(d['label'] or '-')} ({fmt(d['iou'], 3)})" for d in block["trained"])
        text = (f"Semantic score: Network-Dissection IoU with the {len(m['concepts'])} concepts of "
                f"{tt(m['source'])} ({count(m['images'])} images; a unit fires above its {block['quantile']} "
                f"activation quantile, upsampled bilinearly); best concept of the units shown (labels under each "
                f"unit): {per}.")
        name = "IoU"
    else:
        per = ", ".join(f"{d['unit']} class {latex_escape(d['class'])} ({fmt(d['purity'])}, prior {fmt(d['prior'])})"
                        for d in block["trained"])
        text = f"Semantic score: class purity of each unit's top {block['k']} images: {per}."
        name = "purity"
    if draws:
        ab, mw = lay["above_best_draw"], lay["mann_whitney"]
        det = lay["detectors"]
        text += (f" Every unit of the layer scored ({lay['n_units']} units): {det['trained']} detectors "
                 f"({latex_escape(lay['detector_rule'][:60])}) vs {', '.join(map(str, det['random']))} in the "
                 f"{draws} random draws; mean {name} trained {fmt(lay['trained_mean'], 3)}, random "
                 f"{', '.join(fmt(v, 3) for v in lay['random_means'])}; the trained layer's scores are "
                 f"{'' if lay['higher_than_every_draw'] else 'not '}higher than every draw's (one-sided "
                 f"Mann-Whitney, largest p = {max(d['p_value'] for d in mw):.2g}); {ab['count']} units above the "
                 f"best draw at their index (chance {fmt(ab['chance'], 1)}, binomial p = {ab['p_value']:.2g}).")
    return text



FIGURE = PaperFigure(
    "fig5_filters", "Fig. 5 (guided backpropagation, trained vs random D)", "ganlens.filters", "filters.json",
    ("--data", "rooms", "--layer", "last", "--units", "6", "--top", "4", "--n-images", "5000",
     "--random-baseline", "--no-progress"),
    {"filters": caption_filters}, {"filters": "fig5_filters"},
    settings_without_model, model_sha256)
