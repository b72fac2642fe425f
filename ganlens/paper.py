"""Regenerate the paper's figures and table on one model, with a manifest and LaTeX snippets.

This is the library behind ``analyses/`` (``python analyses/run_all.py`` and one script per figure). It runs
the ``python -m ganlens.X`` commands in this process with the settings of :data:`FIGURES` (modest ones,
so that everything runs in a few minutes on a 2-core CPU), one sub-folder per figure, then writes:

* ``<key>.tex`` per PDF (and ``table1_probe.tex``, a tabular): ``\\includegraphics`` plus a caption that
  states the settings and headline numbers, built from the saved JSON (never typed by hand), ready for
  ``\\input``. Paths are relative to the LaTeX main file: they start with ``--tex-prefix`` (default: the
  name of the ``--out`` folder, for a main file next to it, e.g. ``paper.tex`` beside ``paper/``; ``''`` for
  one inside it); ``analyses/paper_template.tex`` is such a main file. LaTeX specials in captions are
  escaped. One-column figures go in ``figure`` at their natural width (as a fraction of ``\\columnwidth``),
  wider ones in ``figure*`` (a fraction of ``\\textwidth``), so 8 pt text stays 8 pt in a paper whose
  columns match :mod:`ganlens.figures` (the template's: 10 pt, two 3.25 in columns).
* ``manifest.json``: per figure its files, the equivalent stand-alone command, flags, settings, seed,
  checkpoint sha256, status and ``numbers_sha256``; the versions; and, apart, the volatile parts.

Determinism. Each command's JSON keeps what changes from run to run (when, who, how fast) under the
top-level keys :data:`VOLATILE_KEYS` (``provenance``: command line and date; ``timing``: speeds; ``seconds``:
the phase times of ``ganlens.forget``). Everything else is a result of (checkpoint, settings, seed,
device) and is identical between runs on the same machine (CPU, thread count, versions): another CPU's
kernels may round floats differently in the last digits (``--check DIR`` against its folder lists them).
:func:`numbers` strips those keys, ``numbers_sha256`` hashes the rest, and :func:`compare` lists where two
runs differ; ``--check`` runs everything twice (or compares with an earlier folder) and records the verdict
under ``check``. In the manifest the volatile parts are ``timing``, ``provenance`` and ``check``. (``.npz``
arrays and image files are not compared: zip entries carry dates.)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib
import io
import json
import math
import platform
import re
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ganlens import __version__, cli
from ganlens.core import results
from ganlens.core.errors import GanlensError, NotApplicable
from ganlens.core.latex import (PaperFigure, figure_snippet, latex_comment, latex_escape, latex_path,  # noqa: F401
                                pdf_fonts, pdf_width_pt)
from ganlens.core.latex import count as _n
from ganlens.core.latex import fmt as _f
from ganlens.core.latex import model_name as _model
from ganlens.core.latex import pct as _pct
from ganlens.core.latex import tt as _tt

Figure = PaperFigure  # the name paper.py used

SKIPPED = -1  # _call's status for an analysis that does not apply to this model

FORMAT = "ganlens.paper/1"
VOLATILE_KEYS = ("provenance", "timing", "seconds")        # top-level keys of a command's JSON
MANIFEST_VOLATILE = ("timing", "provenance", "check")      # top-level keys of manifest.json
DEFAULT_OUT = "paper"
DEFAULT_BOXES = "annotations/windows.json"                 # windows drawn on the shipped model (Fig. 6)
REPO = Path(__file__).resolve().parents[1]


def caption_walk(j: dict) -> str:
    s, m = j["settings"], j["summary"]
    seeds = [x for r in j["rows"] for x in r["seeds"]]
    text = (f"Latent walks of {_model(j)}. Each of the {s['rows']} rows visits {s['points']} random latents "
            f"(seeds {min(seeds)}--{max(seeds)}) in {s['steps']} equal {latex_escape(s['interp'])} steps "
            f"({s['frames_per_row']} frames; frames 0, {s['steps']}, {2 * s['steps']}, \\dots{{}} are the points). "
            f"Median step {_f(m['step_distance'], 3)} (RMS pixel difference, pixels in $[0,1]$); sharpness "
            f"(largest / median step of a walk) at most {_f(m['sharpness'])}; {m['jumps']} step(s) larger than "
            f"{s['jump_factor']:g}$\\times$ the walk's median (marked in red).")
    mem = j.get("memorization")
    if mem:
        text += (f" Nearest-neighbour test against the {_n(mem['reference_images'])} training images "
                 f"({_tt(mem['data'])}; {_n(mem['samples'])} samples, {_n(mem['heldout_images'])} "
                 f"held-out real images): {latex_escape(mem['verdict'])}{_flagged(mem)}. " + _memorization_numbers(mem))
    return text


def _space_name(s: str) -> str:
    return "D-feature" if s == "feature" else s


def _flagged(mem: dict) -> str:
    return f" (flagged by {' and '.join(map(_space_name, mem['flagged_by']))} space)" if mem.get("flagged_by") else ""


def _memorization_numbers(mem: dict) -> str:
    """Every space's data-copying C_T and near-copy share, and the rule (every space votes)."""
    r, sp = mem["rule"], mem["spaces"]
    ct = ", ".join(f"{_space_name(s)} {_f(e['data_copying']['C_T'])}" if e["data_copying"]["C_T"] is not None
                   else f"{_space_name(s)} n/a" for s, e in sp.items())
    cf = ", ".join(f"{_space_name(s)} {_f(e['copy_fraction'], 3)}" for s, e in sp.items())
    return (f"Data-copying $C_T$ (Meehan et al.\\ 2020: their Mann-Whitney $z$ with continuity correction, cells holding more than 20 of the samples): {ct}; share of near-copies: "
            f"{cf}. Every space votes: copying if, in any space, $C_T < {r['C_T_below']:g}$ or the share exceeds "
            f"{_f(r['copy_fraction_above'])}.")


def caption_neighbours(j: dict) -> str:
    mem = j["memorization"]
    groups = ", ".join(f"{latex_escape(g['name'])} ({g['count']})" for g in mem["shown"]["groups"])
    spaces = " and ".join("D-feature" if s == "feature" else s for s in j["spaces"])
    rows = f"rows 2--{1 + len(j['spaces'])}" if len(j["spaces"]) > 1 else "row 2"
    return (f"Memorization check of {_model(j)}. Row 1: query images, in groups {groups}; {rows}: their nearest "
            f"training images in {spaces} space, among the {_n(mem['reference_images'])} images of "
            f"{_tt(mem['data'])}. Verdict (every space votes): {latex_escape(mem['verdict'])}{_flagged(mem)}.")


def caption_filters(j: dict) -> str:
    s, sem, rf = j["settings"], j["semantic"], j["receptive_field"]
    units = ", ".join(map(str, j["units"]))
    seeds = sem["random_draws"]["seeds"]
    which = " (its highest-scoring; the random D shows its own)" if s.get("units_flag") is None else ""
    text = (f"Guided backpropagation of units {units}{which} of the discriminator's layer {latex_escape(s['layer'])} "
            f"({_model(j)}; receptive field {rf['size']} px). For each unit, its {s['top']} strongest responses "
            f"among the first {_n(s['n_images_searched'])} images of {_tt(s['data'])}: receptive-field crop and "
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
             f"{_f(ac['trained_mean'])}" + (f", random {_f(min(ac['random_means']))}--{_f(max(ac['random_means']))}"
                                             if seeds else "") + ".")
    return text


def _semantic_sentence(block: dict, head: str, draws: int) -> str:
    """The caption's sentence on the headline semantic score of ganlens.filters."""
    lay = block["layer"]
    if head == "iou":
        m = block["masks"]
        per = ", ".join(f"{d['unit']} {latex_escape(d['label'] or '-')} ({_f(d['iou'], 3)})" for d in block["trained"])
        text = (f"Semantic score: Network-Dissection IoU with the {len(m['concepts'])} concepts of "
                f"{_tt(m['source'])} ({_n(m['images'])} images; a unit fires above its {block['quantile']} "
                f"activation quantile, upsampled bilinearly); best concept of the units shown (labels under each "
                f"unit): {per}.")
        name = "IoU"
    else:
        per = ", ".join(f"{d['unit']} class {latex_escape(d['class'])} ({_f(d['purity'])}, prior {_f(d['prior'])})"
                        for d in block["trained"])
        text = f"Semantic score: class purity of each unit's top {block['k']} images: {per}."
        name = "purity"
    if draws:
        ab, mw = lay["above_best_draw"], lay["mann_whitney"]
        det = lay["detectors"]
        text += (f" Every unit of the layer scored ({lay['n_units']} units): {det['trained']} detectors "
                 f"({latex_escape(lay['detector_rule'][:60])}) vs {', '.join(map(str, det['random']))} in the "
                 f"{draws} random draws; mean {name} trained {_f(lay['trained_mean'], 3)}, random "
                 f"{', '.join(_f(v, 3) for v in lay['random_means'])}; the trained layer's scores are "
                 f"{'' if lay['higher_than_every_draw'] else 'not '}higher than every draw's (one-sided "
                 f"Mann-Whitney, largest p = {max(d['p_value'] for d in mw):.2g}); {ab['count']} units above the "
                 f"best draw at their index (chance {_f(ab['chance'], 1)}, binomial p = {ab['p_value']:.2g}).")
    return text


def caption_forget(j: dict) -> str:
    s, p, sel = j["settings"], j["probe"], j["selection"]
    cv = (p.get("cv") or {}).get("auc_mean")
    fill = "their mean activation" if s["fill"] == "mean" else "zero"
    label = latex_escape(j["label"])

    def ci(c):
        return f" [{_f(c[0])}, {_f(c[1])}]" if c else ""
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
    text = (f"Forgetting ``{label}'' in {_model(j)}. Top: {shown['n_annotated']} annotated samples with "
            f"boxes{fresh}; bottom: the same latents with the {j['n_dropped']} of {j['layer_shape']['channels']} "
            f"feature maps of layer {latex_escape(s['layer'])} that a logistic-regression probe "
            f"({j['boxes_file']['n_boxes']} boxes on {j['boxes_file']['n_samples']} samples, cross-validated AUC "
            f"{_f(cv)}) ties to the object set to {fill} at every position; maps: {rules[sel['rule']]}.")
    rem = j.get("removal")
    if rem:
        text += (f" Share of {_n(rem['n_latents'])} fresh latents with a {latex_escape(rem['label'])} (rooms detector, "
                 f"exact 95\\% intervals): {_f(rem['before'])}{ci(rem['before_ci95'])} before, "
                 f"{_f(rem['after'])}{ci(rem['after_ci95'])} after, {_f(rem['control_after'])}"
                 f"{ci(rem['control_after_ci95'])} after dropping as many random other maps "
                 f"({len(rem['control_after_draws'])} draws pooled).")
    loc = j["localisation"]
    text += (f" Pixel change inside the boxes / outside on held-out annotated samples: {_f(loc['selected']['ratio'])} "
             f"(random maps: {_f(loc['control_ratio_mean'])}).")
    for name, o in j.get("other_rules", {}).items():
        after = (f"{latex_escape(j['label'])} rate {_f(o['removal']['after'])}{ci(o['removal']['after_ci95'])} "
                 f"after, " if "removal" in o else "")
        text += (f" With {names[name]}, {o['k']} maps: {after}inside / outside {_f(o['localisation']['ratio'])} "
                 f"(random: {_f(o['localisation']['control_ratio_mean'])}).")
    if (j.get("judge") or {}).get("independent_of_boxes") is False:
        text += (" The same detector drew the boxes the probe was fit on, so its rates are not an independent "
                 "judgement of the removal.")
    return text


def caption_dose(j: dict) -> str:
    d, s, sel = j["dose"], j["settings"], j["selection"]
    text = (f"Dose curve of forgetting ``{latex_escape(j['label'])}'' in {_model(j)}. Left: "
            f"{latex_escape(d['metric_label'])} on {_n(d['n_latents'])} {latex_escape(d['latents'])} when "
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
                 f"{_f(cv['random_ratio'])} $\\times$ outside ({_f(cv['random_ratio'])}: the inside / outside ratio "
                 f"of random maps), mean $\\pm$ standard error over folds; chosen: the largest $k$ within one "
                 f"standard error of the best, $k = {cv['k']}$ (best at $k = "
                 f"{sel['candidates'][max(range(len(cv['score_mean'])), key=cv['score_mean'].__getitem__)]}$).")
    return text


def caption_annotations(j: dict) -> str:
    b = j["boxes_file"]
    text = (f"The box file of Fig.~6: {b['n_boxes']} ``{latex_escape(j['label'])}'' boxes on "
            f"{b['n_samples_with_boxes']} of {b['n_samples']} samples of {_model(j)} "
            f"(\\texttt{{{latex_escape(Path(j['settings']['boxes']).name)}}}).")
    if (j.get("judge") or {}).get("independent_of_boxes") is False:
        text += " The rooms detector drew these boxes, not a person; the same detector judges Fig.~6."
    return text


def _terms(j: dict) -> str:
    out = ""
    for t in j["terms"]:
        c = t["coef"]
        sign = "-" if c < 0 else "+"
        mag = "" if abs(c) == 1 else f"{abs(c):g}\\,"
        out += f" {sign} " if out else ("-" if c < 0 else "")
        out += f"{mag}\\textit{{{latex_escape(t['concept'])}}}"
    return f"${out}$".replace("\\textit", "\\mathit")


def caption_arith(j: dict) -> str:
    s = j["settings"]
    counts = sorted({c["count"] for c in j["concepts"].values()})
    norm = ("" if s.get("norm", "none") == "none" else
            f", rescaled to the typical latent norm {_f(j['result']['typical_norm'])} (as is $Y$)")
    text = (f"Vector arithmetic on the latents of {_model(j)}: {_terms(j)}, each concept the mean of "
            f"{'/'.join(map(str, counts))} exemplar latents{norm}. The centre of the $3\\times3$ grid is the result "
            f"$Y$, its {s['neighbours']} neighbours $Y$ + uniform noise $\\pm{_f(s['noise_amplitude'], 3)}$ per "
            f"coordinate (red frame: $Y$); the same arithmetic on the exemplar images (pixel space) is shown for "
            f"comparison.")
    m = j.get("measure") or {}
    if m:
        q = m["judge"].get("heldout_quality") or {}
        pr = "; ".join(f"{latex_escape(a)} precision {_f(v['image_precision'])}, recall {_f(v['image_recall'])}"
                       for a, v in q.items())
        text += (f" Samples judged by the {latex_escape(m['judge']['name'])}" + (f" (on held-out rooms: {pr})" if pr else "")
                 + f"; yellow dot: {latex_escape(s['target'])}, green square: {latex_escape(s['context'])}.")
    if m.get("auto_concepts"):
        a = m["auto_concepts"]
        text += (f" Exemplars: the first 3 seeds of each pool into which the judge sorts {_n(a['candidates'])} "
                 f"samples (pool sizes: {', '.join(f'{latex_escape(k)} {v}' for k, v in a['pools'].items())}).")
    c = j.get("claim")
    if c:
        r = c["rates"]
        lost = [k.replace("_", " ") for k in ("A_plus_C", "null", "pixel") if not c["beats"][k]]
        where = f"over {j['trials']['draws']} random draws of exemplars" if c["from"] == "trials" else "for these exemplars"
        text += (f" Rate of \\emph{{{latex_escape(c['measure'])}}} {where} ({_n(c['samples'])} samples): $Y$ "
                 f"{_f(r['Y']['rate'])}" + (f" [{_f(r['Y']['ci95'][0])}, {_f(r['Y']['ci95'][1])}]" if r['Y']['ci95'] else "")
                 + f" (95\\% interval by bootstrap over draws); with the same noise, the expression without its "
                 f"subtraction ($A + C$, scaled to $|Y|$) {_f(r['A_plus_C']['rate'])}, a norm-matched null (random "
                 f"exemplars for all but the last concept, scaled to $|Y|$) {_f(r['null']['rate'])}; pixel-space "
                 f"arithmetic {_f(r['pixel']['rate'])} (vs {_f(c['Y_centre']['rate'])} for $Y$'s centre); the first "
                 f"concept alone {_f(r['A_alone']['rate'])}. The samples of one draw share its exemplars, so the rule "
                 f"counts draws: $Y$ beats a control when more draws have $Y$ above it than below and the sign test over "
                 f"draws gives $p < {s['alpha']:g}$; the claim stands only if $Y$ "
                 f"beats all three: " + ("it stands." if c["claim_stands"] else f"it does not ({', '.join(lost)}).")
                 + " Second figure: $Y$ and each control for the exemplars shown.")
    return text


def caption_turn(j: dict) -> str:
    t = j["turn"]
    a, b = latex_escape(t["from"]), latex_escape(t["to"])
    vec = "mean" if t.get("norm", "none") == "none" else "v"
    text = (f"Walking along $d = \\mathrm{{{vec}}}(\\mathit{{{b}}}) - \\mathrm{{{vec}}}(\\mathit{{{a}}})$ in the "
            f"latent space of {_model(j)}, $t$ from 0 to 1 in {t['steps']} frames. Top row: "
            f"{vec}({a}) + $t\\,d$; other rows: seeds {', '.join(map(str, t['seeds']))} + $t\\,d$ "
            f"($|d| = {_f(t['direction_norm'])}$)" + ("" if vec == "mean" else "; v: the exemplars' mean rescaled to "
                                                        "the typical latent norm") + ".")
    rates = t.get("rates_by_step") or {}
    names = [n for n in (j["settings"].get("target"), j["settings"].get("context")) if n in rates]
    if names:  # in the settings' order (the JSON's keys are sorted)
        text += " Share of rows the judge finds with " + "; ".join(
            f"{latex_escape(k)}: {_f(rates[k][0])} at $t=0$, {_f(rates[k][-1])} at $t=1$" for k in names) + "."
    return text


def _probe_setup(j: dict) -> str:
    d, f, sp, svm = j["data"], j["features"], j["split"], j["svm"]
    task = f", task {latex_escape(d['task'])}" if d["task"] else ""
    seeds = sp.get("seeds", [sp["seed"]])
    which = f"seeds {seeds[0]}--{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return (f"{_n(d['images'])} images of {_tt(d['spec'])}{task} ({', '.join(map(latex_escape, d['classes']))}); "
            f"{len(seeds)} fold{'s' if len(seeds) > 1 else ''} of {_scheme(sp)} with {_n(sp['train'])}/{_n(sp['val'])}/"
            f"{_n(sp['test'])} images (train/val/test, {which}), each choosing $C$ from "
            f"\\{{{', '.join(f'{c:g}' for c in svm['C_grid'])}\\}} by validation accuracy. "
            f"Features: layers {', '.join(map(latex_escape, f['layers']))}, each max-pooled to "
            f"${f['pool']}\\times{f['pool']}$ ({_n(f['dim'])} numbers).")


def _probe_verdict(j: dict) -> str:
    """Trained vs random in words: the means, the spread, the rule and whether the claim holds."""
    t, draws, c = j["trained"], j["random"]["draws"], j["comparison"]
    means = [d["accuracy"] for d in draws]
    verdict = ("significantly higher than every random draw" if c["trained_beats_random"] else
               f"not higher than the best random draw (seed {c['best_random_seed']})")
    if "level" in c:      # corrected resampled t-test against every draw
        rule = (f"rule: against every draw the Nadeau--Bengio corrected resampled $t$-test of the paired per-fold "
                f"differences must be significant one-sided at {c['level']:g}; largest $p$ = "
                f"{_p(c['largest_p_one_sided'])}")
    else:
        rule = "rule: its mean over the splits must exceed every draw's mean"
    ci = t["spread"].get("ci")
    interval = f" (95\\% CI {_pct(ci[0])}--{_pct(ci[1])}, corrected)" if ci else ""
    return (f"Trained D {_pct(t['accuracy'])} $\\pm$ {100 * t['spread']['std']:.1f}{interval} over {t['spread']['n']} "
            f"splits; {len(draws)} random Ds (seeds {draws[0]['seed']}--{draws[-1]['seed']}) "
            f"{_pct(min(means))}--{_pct(max(means))} (mean {_pct(j['random_accuracy'])}). The trained D is "
            f"{verdict} ({rule}); it is above every draw on "
            f"{c['splits_above_every_draw']} of {t['spread']['n']} splits.")


def _scheme(sp: dict) -> str:
    if "folds" in sp:
        return f"{sp['repeats']}$\\times${sp['folds']}-fold stratified cross-validation"
    return "stratified random splits"


def _p(p) -> str:
    return "n/a" if p is None else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def caption_probe_figure(j: dict) -> str:
    return (f"Linear L2-SVM on the discriminator features of {_model(j)} vs {len(j['random']['draws'])} randomly "
            f"initialised Ds of the same architecture (r$s$: seed $s$). Left: test accuracy on each split (dots), "
            f"mean $\\pm$ std over the splits (bars), majority class (dashed); right: validation accuracy against "
            f"$C$, mean over the splits (circle: the $C$ chosen most often). " + _probe_verdict(j) + " "
            + _probe_setup(j))


def probe_table(j: dict, source: str, command: str) -> str:
    """Table 1 as a one-column ``table`` with a ``tabular`` (no extra packages): per D the mean test accuracy
    $\\pm$ std over the splits, the C chosen most often and the range over the splits; every random draw,
    their mean, and the majority class."""
    t, r = j["trained"], j["random"]
    m = r["accuracy"]   # the spread of the draws' means

    def row(name, res):
        s = res["spread"]
        return (name, f"{_pct(s['mean'])} $\\pm$ {100 * s['std']:.1f}", f"{res['C']:g}",
                f"{100 * s['min']:.1f}--{100 * s['max']:.1f}")
    by_mean = sorted(r["draws"], key=lambda d: d["accuracy"])
    shown = r["draws"] if len(r["draws"]) <= 10 else [by_mean[0], by_mean[-1]]   # a table that fits a column
    rows = [row("trained", t)] + [row(f"random, seed {d['seed']}", d) for d in shown]
    rows += [(f"random, mean of {m['n']}", f"{_pct(j['random_accuracy'])} $\\pm$ {100 * m['std']:.1f}", "--",
              f"{100 * m['min']:.1f}--{100 * m['max']:.1f}"),
             ("majority class", _pct(j["chance"]["majority"]), "--", "--")]
    caption = (f"Linear probe (L2-SVM) on the discriminator's features of {_model(j)}, trained vs random weights of "
               f"the same architecture: test accuracy, mean $\\pm$ std over the splits, the $C$ chosen on most splits "
               f"and the range (min--max, \\%) over the splits; for the mean of the random draws, the std and "
               f"range of their means" + ("" if len(shown) == len(r["draws"]) else
                                           f" (rows: the worst and best of the {len(r['draws'])} draws)") + ". "
               + _probe_verdict(j) + " " + _probe_setup(j))
    lines = [latex_comment(f"generated by ganlens.paper from {source}; regenerate, do not edit"),
             latex_comment(f"command: {command}"),
             "\\begin{table}[t]", "  \\centering", f"  \\caption{{{caption}}}", "  \\label{tab:ganlens-probe}",
             "  \\small", "  \\begin{tabular}{@{}lrrr@{}}", "    \\hline",
             "    D & test accuracy & $C$ & range \\\\", "    \\hline"]
    lines += [f"    {a} & {b} & {c} & {d} \\\\" for a, b, c, d in rows[:1]] + ["    \\hline"]
    lines += [f"    {a} & {b} & {c} & {d} \\\\" for a, b, c, d in rows[1:]]
    lines += ["    \\hline", "  \\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


def _dissect_rule(j: dict) -> str:
    s = j["settings"]
    seg = latex_escape(j["segmenter"]["name"])
    floor = s["iou_floor"] if s["iou_floor"] is not None else (0.05 if s["threshold"] == "iqr" else 0.04)
    if s["threshold"] == "iqr":
        return (f"a unit fires where its activation, upsampled bilinearly to the image, exceeds the level that "
                f"maximises the information quality ratio (IQR) with its best class of {seg} (GAN Dissection's rule, "
                f"levels picked on {_n(s['n_select'])} other samples); it is labelled with that class if, over "
                f"{_n(s['n'])} samples, IQR $> 0.01$ and IoU $> {floor:g}$")
    q = s["threshold"].split(":", 1)[1]
    return (f"a unit fires where its activation, upsampled bilinearly to the image, exceeds its own {q} "
            f"quantile over {_n(s['n'])} samples; it is labelled with the class of {seg} it overlaps best if that "
            f"IoU is at least {floor:g}")


def caption_dissect(j: dict) -> str:
    sm = j["summary"]
    per = ", ".join(f"{latex_escape(c)} {v}" for c, v in sorted(sm["per_class"].items(), key=lambda x: -x[1]))
    layers = ", ".join(f"{latex_escape(r['layer'])} {r['labelled']}/{len(r['units'])}" for r in j["layers"])
    none = []
    for c, v in j["classes"].items():
        if not v["total_units"] and v["note"] and "not among" not in v["note"]:
            its = v["best_unit"]["its_label"]
            none.append(f"{latex_escape(c)} (best IoU {_f(v['best_unit']['iou'], 3)}"
                        + (f", a unit labelled {latex_escape(its)})" if its else ")"))
    text = (f"Dissection of the generator of {_model(j)}: units labelled with each class, per layer "
            f"({_dissect_rule(j)}). {sm['labelled']} of {sm['units']} units are labelled ({per or 'none'}); "
            f"per layer {layers}.")
    if none:
        text += f" Classes with no unit: {', '.join(none)}."
    return text


def caption_dissect_units(j: dict) -> str:
    shown = j["shown_units"]
    return (f"Top units per class in the generator of {_model(j)}, each over the {len(shown[0]['seeds'])} samples "
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
            f"{latex_escape(c)} on {_n(r['n_latents'])} fresh latents: {_f(r['before']['rate'])} "
            f"[{_f(r['before']['ci95'][0])}, {_f(r['before']['ci95'][1])}] before, {_f(r['after']['rate'])} "
            f"[{_f(r['after']['ci95'][0])}, {_f(r['after']['ci95'][1])}] after, {_f(ctl['rate_mean'])} with as many "
            f"random units (mean of {len(ctl['draws'])} draws; exact 95\\% intervals; McNemar "
            f"$p = {_p_value(r['mcnemar_before_vs_after']['p_value'])}$). GAN Dissection's average causal effect "
            f"on {share} (units at their mean where the class is present vs zeroed, same latents) "
            f"{_f(r['ace']['value'], 3)} (random units {_f(ctl['ace_mean'], 3)}).")


def caption_dissect_remove(j: dict) -> str:
    text = (f"Removing classes from {_model(j)} through their units. Rows: samples, the class's units removed, "
            f"random units. ")
    return text + " ".join(_dissect_edit("remove", c, r) for c, r in j["remove"].items())


def caption_dissect_insert(j: dict) -> str:
    recs = {c: r for c, r in j["insert"].items() if "after" in r}
    region = next(iter(recs.values()))["region"]["rule"]
    text = (f"Inserting classes into {_model(j)} through their units; target region (red): {latex_escape(region)}. "
            f"Rows: samples, the class's units set to their level inside the region, random units. ")
    return text + " ".join(_dissect_edit("insert", c, r) for c, r in recs.items())


def caption_dissect_dose(j: dict) -> str:
    parts = [f"{kind} {latex_escape(c)} ({_n(r['dose']['n_latents'])} latents)" for kind in ("remove", "insert")
             for c, r in j[kind].items() if "dose" in r]
    return (f"Dose curves of dissection edits in {_model(j)}: share of samples with the class (in the target region "
            f"for insertion) against the number of units edited, in IoU order (red) and in random orders (blue, "
            f"mean and range): {', '.join(parts)}.")


# ------------------------------------------------------------------------------------------- figures

def _invert_caption(stem: str) -> Callable[[dict], str]:
    """ganlens.invert_figures' plain-text caption, LaTeX-escaped, with the model named as in every caption."""
    def caption(j: dict) -> str:
        from ganlens import invert_figures
        text = getattr(invert_figures, f"caption_{stem}")(j)
        return latex_escape(text).replace(invert_figures.MODEL, _model(j))
    return caption


def _model_sha(j) -> str | None:
    """The model's sha256 from the provenance block every JSON carries (None for an in-memory model)."""
    return j["provenance"]["model"]["sha256"]


def _walk_settings(j):
    out = dict(j["settings"])
    if j.get("memorization"):
        m = j["memorization"]
        out["memorization"] = {k: m[k] for k in ("data", "heldout", "samples", "heldout_images", "cells_requested",
                                                 "limit", "reference_images")}
    return out


def _settings_but_model(j):
    """A JSON's "settings" without the model fields (the manifest names the checkpoint once)."""
    return {k: v for k, v in j["settings"].items() if k not in ("checkpoint", "checkpoint_sha256", "source", "config")}


def _arith_settings(j):
    out = dict(j["settings"], expr=j.get("expr"), concepts=j.get("concepts"))
    if (j.get("measure") or {}).get("auto_concepts"):
        out["auto_concepts"] = j["measure"]["auto_concepts"]
    if j.get("trials"):
        out["trials"] = j["trials"]["draws"]
    if j.get("turn"):
        out["turn"] = {k: j["turn"][k] for k in ("from", "to", "seeds", "steps")}
    return out


def _probe_settings(j):
    return {"data": j["data"]["spec"], "images": j["data"]["images"], "task": j["data"]["task"],
            "layers": j["features"]["layers"], "pool": j["features"]["pool"], "feature_dim": j["feature_dim"],
            "C_grid": j["svm"]["C_grid"], "split": j["split"], "random_seeds": j["random"]["seeds"],
            "device": j["provenance"].get("device")}


FIGURES: dict[str, Figure] = {f.key: f for f in [
    Figure("fig4_walk", "Fig. 4 (latent walks) with a memorization test", "ganlens.walk", "walk.json",
           ("--rows", "4", "--points", "9", "--steps", "8", "--interp", "auto",
            "--data", "rooms", "--samples", "512", "--holdout", "512", "--cells", "10"),
           {"walk": caption_walk, "neighbours": caption_neighbours},
           {"walk": "fig4_walk", "neighbours": "fig4_neighbours"},
           _walk_settings, _model_sha),
    Figure("fig5_filters", "Fig. 5 (guided backpropagation, trained vs random D)", "ganlens.filters", "filters.json",
           ("--data", "rooms", "--layer", "last", "--units", "6", "--top", "4", "--n-images", "5000",
            "--random-baseline", "--no-progress"),
           {"filters": caption_filters}, {"filters": "fig5_filters"},
           _settings_but_model, _model_sha),
    Figure("fig6_forget", "Fig. 6 (forgetting windows)", "ganlens.forget", "forget.json",
           ("--layer", "second-highest", "--n", "8", "--n-eval", "500", "--dose-n", "100", "--fill", "mean",
            "--control-draws", "3", "--folds", "5"),
           {"forget": caption_forget, "dose": caption_dose, "annotations": caption_annotations},
           {"forget": "fig6_forget", "dose": "fig6_dose", "annotations": "fig6_annotations"},
           _settings_but_model, _model_sha, needs_boxes=True),
    Figure("fig7_arith", "Fig. 7 (vector arithmetic) and Fig. 8 (a turn)", "ganlens.arith", "arith.json",
           ("--candidates", "256", "--trials", "16", "--jitter", "0.25", "--turn-steps", "9"),
           {"arith": caption_arith, "turn": caption_turn}, {"arith": "fig7_arith", "turn": "fig8_turn"},
           _arith_settings, _model_sha),
    Figure("table1_probe", "Table 1 (linear probe on D's features, trained vs random)", "ganlens.probe", "probe.json",
           ("--data", "rooms:n=2000,seed=1", "--task", "has-window", "--layers", "all", "--pool", "4",
            "--C", "0.0001,0.001,0.01,0.1,1", "--splits", "5", "--random-draws", "5", "--no-cache"),
           {"probe": caption_probe_figure}, {"probe": "table1_probe_figure"},
           _probe_settings, _model_sha, table=probe_table),
    Figure("fig_dissect", "Dissection (Bau et al. 2019): units per class, removal and insertion", "ganlens.dissect",
           "dissect.json",
           ("--layers", "all", "--n", "1000", "--threshold", "iqr", "--n-select", "200", "--iou-floor", "0.05",
            "--fill", "zero",
            "--control-draws", "3", "--n-eval", "500", "--dose-n", "100", "--show", "8"),
           {"dissect": caption_dissect, "units": caption_dissect_units, "remove": caption_dissect_remove,
            "insert": caption_dissect_insert, "dose": caption_dissect_dose},
           {"dissect": "fig_dissect", "units": "fig_dissect_units", "remove": "fig_dissect_remove",
            "insert": "fig_dissect_insert", "dose": "fig_dissect_dose"},
           _settings_but_model, _model_sha),
    Figure("fig_invert", "Inversion: memorization (membership test) and mode dropping", "ganlens.invert",
           "invert.json", ("--n", "256", "--heldout", "auto", "--modes", "--steps", "100", "--starts", "4",
                           "--draws", "2000"),
           {k: _invert_caption(k) for k in ("invert", "membership", "modes")},
           {"invert": "fig_invert", "membership": "fig_invert_membership", "modes": "fig_invert_modes"},
           _settings_but_model, _model_sha),
]}


# ------------------------------------------------------------------------------------------ numbers

def numbers(obj: dict) -> dict:
    """A command's JSON without its volatile top-level keys (:data:`VOLATILE_KEYS`)."""
    return {k: v for k, v in obj.items() if k not in VOLATILE_KEYS}


def canonical(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True).encode() + b"\n"


def numbers_sha256(obj: dict) -> str:
    return hashlib.sha256(canonical(numbers(obj))).hexdigest()


def compare(a, b, path: str = "", limit: int = 10) -> list[str]:
    """JSON paths (``rows[0].sharpness.pixel``) where two values differ, at most ``limit``."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                out.append(p + (" (only in the second)" if k not in a else " (only in the first)"))
            else:
                out += compare(a[k], b[k], p, limit - len(out))
            if len(out) >= limit:
                break
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += compare(x, y, f"{path}[{i}]", limit - len(out))
            if len(out) >= limit:
                break
    elif (a != b or type(a) is not type(b)) and not (isinstance(a, float) and isinstance(b, float)
                                                     and math.isnan(a) and math.isnan(b)):
        out.append(path or "(top)")
    return out[:limit]


# ------------------------------------------------------------------------------------------- running

class _Tee(io.TextIOBase):
    """stderr that is also remembered (the last error line of a failed command goes into the manifest)."""

    def __init__(self, stream):
        self.stream, self.buf = stream, io.StringIO()

    def write(self, s):
        self.stream.write(s)
        self.buf.write(s)
        return len(s)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False

    def last_line(self) -> str:
        lines = [ln.strip() for ln in re.split(r"[\r\n]", self.buf.getvalue()) if ln.strip()]
        return lines[-1] if lines else ""


@dataclass
class Run:
    """What :func:`run_figure` hands back: the manifest entry and its volatile wall time."""

    entry: dict
    seconds: float
    result: dict | None = None


def command_for(fig: Figure, base: dict, out: str, extra: list[str]) -> list[str]:
    """argv for ``fig``'s command: common flags, the figure's settings, then the user's extra flags (which win)."""
    argv = ["--seed", str(base["seed"]), "--device", str(base["device"])]
    if base.get("model"):
        argv = ["--model", str(base["model"])] + argv
    if not base.get("model") or str(base["checkpoint"]) != "default":
        argv = ["--checkpoint", str(base["checkpoint"])] + argv
    if fig.needs_boxes:
        argv = ["--boxes", str(base["boxes"])] + argv
    return argv + ["--out", out] + list(fig.args) + list(extra)


def run_figure(fig: Figure, stage: Path, final: Path, tex_prefix: str, base: dict, extra: list[str]) -> Run:
    """Run ``fig``'s command into ``stage/<key>`` and write its snippets into ``stage``; paths in snippets and
    commands name ``final`` (where the folder will be). Returns the manifest entry."""
    shown_out = f"{final.as_posix().rstrip('/')}/{fig.key}"
    argv = command_for(fig, base, str(stage / fig.key), extra)
    shown = command_for(fig, base, shown_out, extra)
    command = shlex.join(["python", "-m", fig.module] + shown)
    entry = {"paper": fig.paper, "module": fig.module, "command": command, "args": list(fig.args) + list(extra),
             "seed": base["seed"], "folder": fig.key}
    if fig.needs_boxes:
        boxes = base.get("boxes")
        if boxes is None or not Path(boxes).exists():
            where = "no box file for this checkpoint (pass --boxes)" if boxes is None else f"{boxes}: not found"
            entry.update(status="skipped", reason=f"{where}; draw one with python -m ganlens.annotate")
            return Run(entry, 0.0)
    try:
        mod = importlib.import_module(fig.module)
    except ImportError as e:
        entry.update(status="skipped", reason=f"{fig.module} is not available: {e}")
        return Run(entry, 0.0)
    print(f"[{fig.key}] {command}", file=sys.stderr, flush=True)
    tee = _Tee(sys.stderr)
    t0 = time.perf_counter()
    folder = stage / fig.key
    with contextlib.redirect_stderr(tee), results.running_command(command):
        result, code = _call(mod, argv, base["gan"], folder)
    seconds = time.perf_counter() - t0
    if code == SKIPPED:
        entry.update(status="skipped", reason=tee.last_line().split("skipped: ", 1)[-1])
        shutil.rmtree(folder, ignore_errors=True)
        return Run(entry, 0.0)
    if code != 0:
        entry.update(status="failed", reason=tee.last_line() or f"exit status {code}")
        shutil.rmtree(folder, ignore_errors=True)
        return Run(entry, seconds)
    files = sorted(p.relative_to(stage).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != results.WRITTEN)
    source = f"{fig.key}/{fig.json}"
    tex = []
    for stem, name in fig.snippets.items():
        pdf = folder / f"{stem}.pdf"
        if not pdf.exists():
            continue
        include = f"{tex_prefix}{fig.key}/{stem}.pdf"
        label = f"fig:ganlens-{name.split('_', 1)[1].replace('_', '-')}"
        (stage / f"{name}.tex").write_text(figure_snippet(pdf, include, fig.captions[stem](result), label, source,
                                                          command))
        tex.append(f"{name}.tex")
    if fig.table is not None:
        (stage / f"{fig.key}.tex").write_text(fig.table(result, source, command))
        tex.append(f"{fig.key}.tex")
    entry.update(status="ok", json=source, files=files + sorted(tex), tex=sorted(tex),
                 settings=fig.settings(result), checkpoint_sha256=fig.sha256(result),
                 numbers_sha256=numbers_sha256(result))
    entry["fonts"] = {p: pdf_fonts(stage / p) for p in files if p.endswith(".pdf")}
    return Run(entry, seconds, result)


def _call(mod, argv: list[str], gan, folder: Path) -> tuple[dict | None, int]:
    """The library call behind one figure: the command's flags parsed by its own parser, the model loaded
    once for all figures, the Result saved into ``folder``. Returns (its JSON, exit status)."""
    prog = getattr(mod, "PROG", mod.__name__)
    try:
        args = mod.parser().parse_args(argv)
        cli.seed_everything(args.seed)
        r = mod.from_args(args, gan)
        r.save(folder)
        return r.to_dict(), 0
    except SystemExit as e:  # argparse: a bad flag in --args (its one line is already printed)
        line = cli.user_code_error(e)  # or sys.exit() in the user's --model code
        if line is not None:
            print(f"{prog}: error: {line}", file=sys.stderr)
            return None, 1
        return None, e.code if isinstance(e.code, int) else 2
    except NotApplicable as e:   # e.g. dissection without a segmenter for this model: not a failure
        print(f"{prog}: skipped: {e}", file=sys.stderr)
        return None, SKIPPED
    except GanlensError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return None, 2
    except Exception as e:  # a bug in one command must not cost the other figures; show it in full
        line = cli.user_code_error(e)
        if line is not None:  # the user's --model code failed: one line, as the command says it
            print(f"{prog}: error: {line}", file=sys.stderr)
            return None, 1
        traceback.print_exc()
        print(f"{mod.__name__}: {type(e).__name__}: {e}", file=sys.stderr)
        return None, 1


def _versions() -> dict:
    import matplotlib
    import numpy
    import sklearn
    import torch
    return {"ganlens": __version__, "torch": str(torch.__version__), "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "matplotlib": matplotlib.__version__,
            "python": platform.python_version()}


def generate(keys: list[str], stage: Path, final: Path, tex_prefix: str, base: dict,
             extra: dict[str, list[str]]) -> tuple[dict, dict]:
    """Run the figures ``keys`` into ``stage``. Returns ({key: entry}, {key: seconds})."""
    entries, seconds = {}, {}
    for key in keys:
        r = run_figure(FIGURES[key], stage, final, tex_prefix, base, extra.get(key, []))
        entries[key] = r.entry
        if r.entry["status"] != "skipped":
            seconds[key] = round(r.seconds, 2)
        if r.entry["status"] != "ok":
            print(f"[{key}] {r.entry['status']}: {r.entry['reason']}", file=sys.stderr, flush=True)
    return entries, seconds


def compare_runs(first: Path, second: Path, entries: dict) -> dict:
    """Compare the figure JSONs (volatile keys stripped) of two output folders."""
    out = {}
    for key, e in entries.items():
        if e["status"] != "ok":
            continue
        a, b = first / e["json"], second / e["json"]
        if not b.exists():
            out[key] = {"identical": False, "differences": [f"{b}: missing"]}
            continue
        ja, jb = numbers(json.loads(a.read_text())), numbers(json.loads(b.read_text()))
        diff = compare(ja, jb)
        out[key] = {"identical": not diff, "differences": diff}
    return out


# ---------------------------------------------------------------------------------------------- CLI

def parser(only: str | None = None) -> argparse.ArgumentParser:
    one = FIGURES[only] if only else None
    script = f"analyses/{only}.py" if only else "analyses/run_all.py"
    if one:
        desc = (f"{one.paper}: runs python -m {one.module} with the paper settings into OUT/{one.key}/, writes its "
                f"LaTeX snippet(s) and updates OUT/manifest.json. Flags not listed here go to python -m {one.module} "
                f"and override the paper settings.")
        examples = (f"  python {script}\n  python {script} --checkpoint runs/rooms64/last.pt --out figs\n"
                    f"  python {script} --check                 # twice; are the numbers identical?\n")
    else:
        desc = ("Regenerate every paper figure and Table 1 on one model into one folder, with manifest.json and "
                "LaTeX snippets (\\input them).")
        examples = (f"  python {script}                          # the shipped model -> paper/\n"
                    f"  python {script} --check                  # run twice: are the numbers identical?\n"
                    f"  python {script} --check paper-old        # compare with an earlier folder instead\n"
                    f"  python {script} --checkpoint runs/x/last.pt --boxes my_windows.json --out figs/x\n"
                    f"  python {script} --only fig4_walk fig5_filters --args fig4_walk=\"--rows 2 --data ''\"\n")
    p = cli.Parser(script, desc, examples)
    p.allow_abbrev = False  # per-figure scripts pass unknown flags on: --n must not be taken for --no-...
    p.add_common(out_default=DEFAULT_OUT)
    if not one or one.needs_boxes:
        p.add_argument("--boxes", metavar="FILE.json",
                       help=f"box file for Fig. 6 (default: {DEFAULT_BOXES} with the shipped model; "
                            f"Fig. 6 is skipped without one)")
    p.add_argument("--tex-prefix", metavar="DIR/",
                   help="folder the snippets' \\includegraphics paths start with, as seen from your LaTeX main "
                        "file (default: the --out folder's name, for a main file next to that folder; '' for a "
                        "main file inside it)")
    p.add_argument("--check", nargs="?", const=True, metavar="DIR",
                   help="run everything a second time (or compare with the earlier output folder DIR) and report "
                        "whether the numbers (JSON without volatile keys) are identical; exit status 1 if not")
    if not one:
        p.add_argument("--only", nargs="+", choices=tuple(FIGURES), metavar="KEY",
                       help=f"run these only ({', '.join(FIGURES)}); the manifest keeps the others' entries")
        p.add_argument("--args", action="append", default=[], metavar='KEY="FLAGS"',
                       help="extra flags for one figure's command, e.g. fig4_walk=\"--rows 2\" (they win over "
                            "the paper settings)")
    return p


def _boxes(args) -> str | None:
    if getattr(args, "boxes", None):
        return args.boxes
    if str(args.checkpoint) != "default" or getattr(args, "model", None):
        return None  # the shipped box file was drawn on the shipped model
    for candidate in (Path(DEFAULT_BOXES), REPO / DEFAULT_BOXES):
        if candidate.exists():
            return str(candidate)
    return DEFAULT_BOXES


def _parse(argv, only: str | None) -> tuple[argparse.Namespace, list[str], dict[str, list[str]]]:
    """(flags, figure keys to run, {key: extra flags for its command})."""
    p = parser(only)
    if only:
        args, rest = p.parse_known_args(argv)
        return args, [only], {only: _figure_flags(rest, "flags")}
    args = p.parse_args(argv)
    extra: dict[str, list[str]] = {}
    for item in args.args:
        key, eq, flags = item.partition("=")
        if not eq or key not in FIGURES:
            raise GanlensError(f"--args {item!r}: expected KEY=\"FLAGS\" with KEY one of {', '.join(FIGURES)}")
        try:
            words = shlex.split(flags)
        except ValueError as e:  # an unbalanced quote
            raise GanlensError(f"--args {item!r}: {e}; quote each flag's value once")
        extra[key] = extra.get(key, []) + _figure_flags(words, f"--args {item!r}")
    return args, list(args.only or FIGURES), extra


SHARED_FLAGS = ("--checkpoint", "--model", "--out", "--seed", "--device", "--boxes")  # set once, for every figure


def _figure_flags(words: list[str], where: str) -> list[str]:
    """A figure's extra flags, refused when they would make the manifest lie (a model, seed, device or
    folder other than the one every figure uses: give those to the script itself) or print help."""
    for w in words:
        name = w.split("=", 1)[0]
        if name in ("-h", "--help"):
            raise GanlensError(f"{where}: --help is not a figure flag; see python -m <module> --help")
        if name in SHARED_FLAGS:
            raise GanlensError(f"{where}: {name} is set once for every figure; give it to the script itself, "
                               f"not as a figure's flag")
    return words


def main(argv: list[str] | None = None, only: str | None = None) -> int:
    """``analyses/run_all.py`` (``only=None``) and the per-figure scripts (``only=KEY``)."""
    args, keys, extra = _parse(argv, only)
    out = Path(args.out)
    cli.check_out(out)
    check_dir = Path(args.check) if isinstance(args.check, str) else None
    if check_dir is not None and not (check_dir / "manifest.json").exists():
        raise GanlensError(f"--check {check_dir}: no manifest.json there (an earlier output folder of this script)")
    tex_prefix = args.tex_prefix if args.tex_prefix is not None else out.resolve().name  # main file beside out
    tex_prefix = (tex_prefix.rstrip("/") + "/") if tex_prefix not in ("", ".") else ""
    latex_path(tex_prefix)  # a path LaTeX cannot read fails now, not after the work
    dev = cli.device(args.device)
    from ganlens.core.checkpoints import DEFAULT_CHECKPOINT
    gan = cli.load_model(args, dev)  # a missing or bad checkpoint (or --model) is one line now, and loads once
    ck = gan.path if gan.path is not None else (DEFAULT_CHECKPOINT if not args.model else None)
    base = {"checkpoint": args.checkpoint, "model": args.model, "seed": args.seed, "device": args.device,
            "boxes": _boxes(args), "gan": gan}
    sha = gan.sha256

    t0 = time.perf_counter()
    with cli.staged_output(out, exclusive=True) as stage:  # one run_all per folder: the manifests merge
        old = _read_manifest(out / "manifest.json")
        entries, seconds = generate(keys, stage, out, tex_prefix, base, extra)
        total = round(time.perf_counter() - t0, 2)
        for key, e in entries.items():
            if e["status"] == "ok" and sha is not None and e["checkpoint_sha256"] != sha:
                raise GanlensError(f"{key}: the JSON names checkpoint sha256 {e['checkpoint_sha256'][:12]}, "
                                   f"not {sha[:12]} of {ck}")
        check = None
        if args.check is not None:
            if check_dir is None:
                with tempfile.TemporaryDirectory(prefix=f".{out.name}.check.", dir=stage.parent) as tmp:
                    t1 = time.perf_counter()
                    generate(keys, Path(tmp), out, tex_prefix, base, extra)
                    per = compare_runs(stage, Path(tmp), entries)
                    check = {"against": "a second run in this process", "seconds": round(time.perf_counter() - t1, 2)}
            else:
                per = compare_runs(stage, check_dir, entries)
                check = {"against": str(check_dir)}
            check.update(identical=all(v["identical"] for v in per.values()) and bool(per), figures=per)
        manifest = _manifest(old, entries, seconds, total, sha, ck, base, keys, check)
        cli.write_json(stage / "manifest.json", manifest)
        # a figure skipped or failed now must not leave an earlier run's files beside a manifest that says so
        stale = [k for k, e in entries.items() if e["status"] != "ok"]
    _remove_stale(out, stale)
    _report(manifest, keys, out, check)
    bad = [k for k in keys if entries[k]["status"] == "failed"]
    return 1 if bad or (check is not None and not check["identical"]) else 0


def _remove_stale(out: Path, keys: list[str]) -> None:
    """Remove earlier results of figures that were skipped or failed now, if (and only if) ganlens wrote them."""
    ours = results.written(out)
    gone = []
    for key in keys:
        for name in [key] + [f"{n}.tex" for n in list(FIGURES[key].snippets.values()) + [key]]:
            if name in ours:
                path = out / name
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
                gone.append(name)
    if gone:
        results.record_written(out, drop=gone)


def _read_manifest(path: Path) -> dict | None:
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and m.get("format") == FORMAT else None


def _manifest(old, entries, seconds, total, sha, ck, base, keys, check) -> dict:
    figs = dict((old or {}).get("figures", {}))
    figs.update(entries)
    figs = {k: figs[k] for k in FIGURES if k in figs}
    timing = dict((old or {}).get("timing", {}))
    per = {k: v for k, v in timing.get("figures", {}).items() if k not in entries}
    per.update(seconds)
    shas = {k: e["numbers_sha256"] for k, e in figs.items() if e.get("status") == "ok"}
    return {
        "format": FORMAT,
        "checkpoint": {"path": str(ck), "sha256": sha},
        "seed": base["seed"],
        "device": base["device"],
        "versions": _versions(),
        "figures": figs,
        "numbers_sha256": hashlib.sha256(canonical(shas)).hexdigest(),
        "volatile": {"figure_json_keys": list(VOLATILE_KEYS), "manifest_keys": list(MANIFEST_VOLATILE),
                     "rule": "numbers_sha256 = sha256 of the figure's JSON without figure_json_keys (sorted keys, "
                             "indent 2); everything else in a figure's JSON is identical between runs with the same "
                             "checkpoint, settings, seed and device on the same machine (CPU, thread count, "
                             "versions)"},
        "timing": {"total_seconds": total if set(keys) == set(FIGURES) else timing.get("total_seconds"),
                   "last_run_seconds": total, "last_run": keys, "figures": {k: per[k] for k in FIGURES if k in per}},
        "provenance": {"command": _command_line(), "date": datetime.datetime.now(datetime.timezone.utc)
                       .isoformat(timespec="seconds"), "platform": platform.platform(),
                       "torch_threads": _threads()},
        "check": check,
    }


def _threads() -> int:
    import torch
    return torch.get_num_threads()


def _command_line() -> str:
    return shlex.join(["python", Path(sys.argv[0]).as_posix() if sys.argv[0] else "python"] + sys.argv[1:])


def _report(manifest: dict, keys: list[str], out: Path, check: dict | None) -> None:
    for k in keys:
        e = manifest["figures"][k]
        what = (f"{', '.join(e['tex'])} ({manifest['timing']['figures'].get(k, 0):.1f} s)" if e["status"] == "ok"
                else f"{e['status'].upper()}: {e['reason']}")
        print(f"{k:14s} {what}", file=sys.stderr)
    print(f"wrote {out}/manifest.json; numbers_sha256 {manifest['numbers_sha256'][:16]}; "
          f"{manifest['timing']['last_run_seconds']:.1f} s", file=sys.stderr)
    if check is not None:
        if check["identical"]:
            print(f"check: numbers identical ({check['against']})", file=sys.stderr)
        else:
            for k, v in check["figures"].items():
                if not v["identical"]:
                    print(f"check: {k} differs at {', '.join(v['differences'])}", file=sys.stderr)
            if not check["figures"]:
                print("check: nothing to compare", file=sys.stderr)
