"""Regenerate the paper's figures and table on one model, with a manifest and LaTeX snippets.

This is the library behind ``analyses/`` (``python analyses/run_all.py`` and one script per figure). It runs
the ``python -m ganlens.X`` commands in this process with the settings of :data:`FIGURES` (modest ones,
so that everything runs in a few minutes on a 2-core CPU), one sub-folder per figure, then writes:

* ``<key>.tex`` per PDF (and ``table1_probe.tex``, a tabular): ``\\includegraphics`` plus a caption that
  states the settings and headline numbers, built from the saved JSON (never typed by hand), ready for
  ``\\input``. Paths point at ``--tex-prefix`` (default: ``--out`` as given), LaTeX specials in captions
  are escaped. One-column figures go in ``figure`` at their natural width (as a fraction of
  ``\\columnwidth``), wider ones in ``figure*`` (a fraction of ``\\textwidth``), so 8 pt text stays 8 pt
  in a paper whose columns match :mod:`ganlens.figures`.
* ``manifest.json``: per figure its files, the equivalent stand-alone command, flags, settings, seed,
  checkpoint sha256, status and ``numbers_sha256``; the versions; and, apart, the volatile parts.

Determinism. Each command's JSON keeps what changes from run to run (when, who, how fast) under the
top-level keys :data:`VOLATILE_KEYS` (``provenance``: command line and date; ``timing``: speeds; ``seconds``:
the phase times of ``ganlens.forget``). Everything else is a result of (checkpoint, settings, seed,
device) and is identical between runs. :func:`numbers` strips those keys, ``numbers_sha256`` hashes the
rest, and :func:`compare` lists where two runs differ; ``--check`` runs everything twice (or compares
with an earlier folder) and records the verdict under ``check``. In the manifest the volatile parts are
``timing``, ``provenance`` and ``check``. (``.npz`` arrays and image files are not compared: zip entries
carry dates.)
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

from . import __version__, cli, figures, results
from .errors import GanlensError

FORMAT = "ganlens.paper/1"
VOLATILE_KEYS = ("provenance", "timing", "seconds")        # top-level keys of a command's JSON
MANIFEST_VOLATILE = ("timing", "provenance", "check")      # top-level keys of manifest.json
DEFAULT_OUT = "paper"
DEFAULT_BOXES = "annotations/windows.json"                 # windows drawn on the shipped model (Fig. 6)
REPO = Path(__file__).resolve().parents[1]
SAFE_PATH = re.compile(r"[A-Za-z0-9._/+\-]*")               # characters \includegraphics reads as they are


# ----------------------------------------------------------------------------------------------- LaTeX

_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "\u2192": r"$\rightarrow$",
            "\u2212": "-"}


def latex_escape(text) -> str:
    """Any text (labels, file names, data specs) -> LaTeX that prints it literally."""
    return "".join(_ESCAPES.get(c, c) for c in str(text))


def latex_path(path: str) -> str:
    """A path for ``\\includegraphics``: '/' separators; refused (one-line error) if LaTeX cannot read it.

    Escaping does not work inside a file name (``\\_`` is not ``_`` to the file system), so the path must
    consist of letters, digits and ``. _ / + -``; choose ``--out`` / ``--tex-prefix`` accordingly.
    """
    p = str(path).replace("\\", "/")
    if not SAFE_PATH.fullmatch(p):
        bad = sorted({c for c in p if not SAFE_PATH.fullmatch(c)})
        raise GanlensError(f"{p}: LaTeX cannot read {' '.join(map(repr, bad))} in an \\includegraphics path; "
                           f"use --tex-prefix with letters, digits and . _ / + - only")
    return p


def pdf_width_pt(path: str | Path) -> float:
    """Width of a PDF's first MediaBox in points (1/72 inch)."""
    m = re.search(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", Path(path).read_bytes())
    if not m:
        raise GanlensError(f"{path}: no /MediaBox; not a PDF written by matplotlib?")
    return float(m.group(3)) - float(m.group(1))


def pdf_fonts(path: str | Path) -> dict[str, int]:
    """Counts of embedded font programs by kind: TrueType (/FontFile2), Type 1 (/FontFile), CFF/OpenType
    (/FontFile3) and Type 3 (drawn glyphs; what publishers reject)."""
    data = Path(path).read_bytes()
    return {"truetype": len(re.findall(rb"/FontFile2\b", data)), "type1": len(re.findall(rb"/FontFile\b", data)),
            "cff": len(re.findall(rb"/FontFile3\b", data)), "type3": len(re.findall(rb"/Subtype\s*/Type3\b", data))}


def figure_snippet(pdf: Path, include: str, caption: str, label: str, source: str, command: str) -> str:
    """``figure`` (one column) or ``figure*`` (wider) environment around a PDF at its natural width."""
    w_in = pdf_width_pt(pdf) / 72
    wide = w_in > figures.ONE_COLUMN * 1.05
    env, unit, col = ("figure*", r"\textwidth", figures.TWO_COLUMN) if wide else ("figure", r"\columnwidth",
                                                                                figures.ONE_COLUMN)
    frac = min(1.0, w_in / col)
    return "\n".join([
        f"% generated by ganlens.paper from {source}; regenerate, do not edit",
        f"% command: {command}",
        f"\\begin{{{env}}}[t]",
        "  \\centering",
        f"  \\includegraphics[width={frac:.3f}{unit}]{{{latex_path(include)}}}",
        f"  \\caption{{{caption}}}",
        f"  \\label{{{label}}}",
        f"\\end{{{env}}}", ""])


# --------------------------------------------------------------------------------- numbers in captions

def _f(x, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _n(x: int) -> str:
    """1234 -> '1{,}234' (a thousands separator that is not a tabular or math problem)."""
    return f"{int(x):,}".replace(",", "{,}")


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}\\%"


def _model(j: dict, *_) -> str:
    """The model as the JSON's provenance block names it: checkpoint file and sha256, or an in-memory model."""
    m = j["provenance"]["model"]
    if m["checkpoint"] == "in-memory":
        return f"the in-memory model \\texttt{{{latex_escape(m['name'])}}}"
    return f"\\texttt{{{latex_escape(Path(m['checkpoint']).name)}}} [sha256 {str(m['sha256'])[:8]}]"


def _tt(text) -> str:
    return f"\\texttt{{{latex_escape(text)}}}"


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
                 f"held-out real images): {latex_escape(mem['verdict'])}.")
    return text


def caption_neighbours(j: dict) -> str:
    mem = j["memorization"]
    groups = ", ".join(f"{latex_escape(g['name'])} ({g['count']})" for g in mem["shown"]["groups"])
    spaces = " and ".join("D-feature" if s == "feature" else s for s in j["spaces"])
    rows = f"rows 2--{1 + len(j['spaces'])}" if len(j["spaces"]) > 1 else "row 2"
    return (f"Memorization check of {_model(j)}. Row 1: query images, in groups {groups}; {rows}: their nearest "
            f"training images in {spaces} space, among the {_n(mem['reference_images'])} images of "
            f"{_tt(mem['data'])}. Verdict: {latex_escape(mem['verdict'])}.")


def caption_filters(j: dict) -> str:
    s, tv, rf = j["settings"], j["trained_vs_random"], j["receptive_field"]
    units = ", ".join(map(str, tv["units"]))
    text = (f"Guided backpropagation of units {units} of the discriminator's layer {latex_escape(s['layer'])} "
            f"({_model(j)}; receptive field "
            f"{rf['size']} px). For each unit, its {s['top']} strongest responses among the first "
            f"{_n(s['n_images_searched'])} images of {_tt(s['data'])}: receptive-field crop and guided map "
            f"(light grey: outside the image; numbers: the unit's structure score).")
    if tv["random"] is not None:
        text += (f" Left: trained D; right: a randomly initialised D of the same architecture (seed {s['seed']}). "
                 f"Structure score ({latex_escape(tv['score'])} of the map, about 0 for noise): trained "
                 f"{_f(tv['trained_mean'])}, random {_f(tv['random_mean'])}; higher for the trained D in "
                 f"{tv['units_trained_higher']} of {len(tv['units'])} units.")
    else:
        text += f" Structure score ({latex_escape(tv['score'])}): {_f(tv['trained_mean'])}."
    return text


def caption_forget(j: dict) -> str:
    s, p = j["settings"], j["probe"]
    cv = (p.get("cv") or {}).get("auc_mean")
    fill = "their mean activation" if s["fill"] == "mean" else "zero"
    text = (f"Forgetting ``{latex_escape(j['label'])}'' in {_model(j)}. Top: samples (fresh latents); "
            f"bottom: the same latents with the {j['n_dropped']} of {j['layer_shape']['channels']} feature maps "
            f"of layer {latex_escape(s['layer'])} that a logistic-regression probe ties to the object "
            f"(rule: {latex_escape(j['selection'])}; {j['boxes_file']['n_boxes']} boxes on "
            f"{j['boxes_file']['n_samples']} samples, cross-validated AUC {_f(cv)}) set to {fill} at every position.")
    rem = j.get("removal")
    if rem:
        text += (f" Share of {_n(rem['n_latents'])} fresh latents with a {latex_escape(rem['label'])} (rooms "
                 f"detector): {_f(rem['before'])} before, {_f(rem['after'])} after, {_f(rem['control_after'])} "
                 f"after dropping as many random maps (mean of {len(rem['control_after_draws'])} draws).")
    else:
        loc = j["localisation"]
        text += (f" Pixel change inside the boxes / outside: {_f(loc['selected']['ratio'])} "
                 f"(random maps: {_f(loc['control_ratio_mean'])}).")
    return text


def caption_dose(j: dict) -> str:
    d, s = j["dose"], j["settings"]
    return (f"Dose curve of forgetting ``{latex_escape(j['label'])}'' in {_model(j)}: "
            f"{latex_escape(d['metric_label'])} on {_n(d['n_latents'])} {latex_escape(d['latents'])} when "
            f"{', '.join(map(str, d['levels']))} of the {j['layer_shape']['channels']} maps of layer "
            f"{latex_escape(s['layer'])} are set to {'their mean' if s['fill'] == 'mean' else 'zero'}, taken in "
            f"order of probe weight (largest first) or in {len(d['random_order'])} random orders.")


def caption_annotations(j: dict) -> str:
    b = j["boxes_file"]
    return (f"The box file of Fig.~6: {b['n_boxes']} ``{latex_escape(j['label'])}'' boxes on "
            f"{b['n_samples_with_boxes']} of {b['n_samples']} samples of {_model(j)} "
            f"(\\texttt{{{latex_escape(Path(j['settings']['boxes']).name)}}}).")


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
    text = (f"Vector arithmetic on the latents of {_model(j)}: {_terms(j)}, each concept the mean of "
            f"{'/'.join(map(str, counts))} exemplar latents. The centre of the $3\\times3$ grid is the result $Y$, "
            f"its {s['neighbours']} neighbours $Y$ + uniform noise $\\pm{_f(s['noise_amplitude'], 3)}$ per "
            f"coordinate (red frame: $Y$); the same arithmetic on the exemplar images (pixel space) is shown for "
            f"comparison.")
    m = j.get("measure") or {}
    if m.get("auto_concepts"):
        a = m["auto_concepts"]
        text += (f" Exemplars picked among {_n(a['candidates'])} samples by the window measure "
                 f"(accuracy {_pct(m['check_on_real_rooms']['accuracy'])} on real rooms).")
    if m.get("expr"):
        text += (f" A yellow dot marks a sample with a window by that measure; window rate of the 9 results: "
                 f"{_f(m['expr']['result_window_rate'])}.")
    tr = m.get("trials")
    if tr:
        text += (f" Over {tr['count']} random draws of exemplars: {_f(tr['result_window_rate'])} with the "
                 f"arithmetic vs {_f(tr['control_window_rate'])} for the control (mean(room) + the same noise), "
                 f"{_f(tr['pixel_result_window_rate'])} in pixel space.")
    return text


def caption_turn(j: dict) -> str:
    t = j["turn"]
    a, b = latex_escape(t["from"]), latex_escape(t["to"])
    text = (f"Walking along $d = \\mathrm{{mean}}(\\mathit{{{b}}}) - \\mathrm{{mean}}(\\mathit{{{a}}})$ in the latent "
            f"space of {_model(j)}, $t$ from 0 to 1 in {t['steps']} frames. Top row: "
            f"mean({a}) + $t\\,d$; other rows: seeds {', '.join(map(str, t['seeds']))} + $t\\,d$ "
            f"($|d| = {_f(t['direction_norm'])}$).")
    if t.get("window_rate_by_step"):
        r = t["window_rate_by_step"]
        text += f" Share of rows with a window: {_f(r[0])} at $t=0$, {_f(r[-1])} at $t=1$."
    return text


def _probe_setup(j: dict) -> str:
    d, f, sp, svm = j["data"], j["features"], j["split"], j["svm"]
    task = f", task {latex_escape(d['task'])}" if d["task"] else ""
    return (f"{_n(d['images'])} images of {_tt(d['spec'])}{task} ({', '.join(map(latex_escape, d['classes']))}); "
            f"split {_n(sp['train'])}/{_n(sp['val'])}/{_n(sp['test'])} (train/val/test, stratified, "
            f"seed {sp['seed']}). "
            f"Features: layers {', '.join(map(latex_escape, f['layers']))}, each max-pooled to "
            f"${f['pool']}\\times{f['pool']}$ ({_n(f['dim'])} numbers); $C$ from "
            f"\\{{{', '.join(f'{c:g}' for c in svm['C_grid'])}\\}} by validation accuracy.")


def caption_probe_figure(j: dict) -> str:
    return (f"Linear L2-SVM on the discriminator features of {_model(j)} vs a randomly initialised D: test "
            f"accuracy (all and per class) and validation accuracy against $C$ (chosen $C$ circled). "
            + _probe_setup(j))


def probe_table(j: dict, source: str, command: str) -> str:
    """Table 1 as a ``table`` with a ``tabular`` (no extra packages): accuracy, C, feature dim."""
    t, r = j["trained"], j["random"]
    rows = [("D of " + _model(j).split(" [sha256")[0].replace("the in-memory model ", ""), _pct(t["accuracy"]),
             f"{t['C']:g}", _n(j["feature_dim"])),
            ("random D (same architecture)", _pct(r["accuracy"]), f"{r['C']:g}", _n(j["feature_dim"])),
            ("majority class", _pct(j["chance"]["majority"]), "--", "--")]
    caption = (f"Linear probe (L2-SVM) on the discriminator's features, trained vs random weights "
               f"({_model(j)}). " + _probe_setup(j))
    lines = [f"% generated by ganlens.paper from {source}; regenerate, do not edit",
             f"% command: {command}",
             "\\begin{table}[t]", "  \\centering", f"  \\caption{{{caption}}}", "  \\label{tab:ganlens-probe}",
             "  \\begin{tabular}{lrrr}", "    \\hline",
             "    features & test accuracy & $C$ & feature dim. \\\\", "    \\hline"]
    lines += [f"    {a} & {b} & {c} & {d} \\\\" for a, b, c, d in rows]
    lines += ["    \\hline", "  \\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- figures

@dataclass(frozen=True)
class Figure:
    """One paper figure/table: the command that makes it, its modest default flags, its captions."""

    key: str                       # sub-folder, script (analyses/<key>.py) and snippet prefix
    paper: str                     # what it reproduces
    module: str                    # ganlens.walk ...
    json: str                      # the command's JSON in the sub-folder
    args: tuple[str, ...]          # flags beyond --checkpoint/--seed/--device/--out (all stated, even defaults)
    captions: dict[str, Callable]  # PDF stem -> caption(json) ; each gets <snippet name>.tex
    snippets: dict[str, str]       # PDF stem -> snippet name
    settings: Callable[[dict], dict]
    sha256: Callable[[dict], str]
    table: Callable | None = None  # (json, source, command) -> LaTeX, written as <key>.tex
    needs_boxes: bool = False


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
    if (j.get("measure") or {}).get("trials"):
        out["trials"] = j["measure"]["trials"]["count"]
    if j.get("turn"):
        out["turn"] = {k: j["turn"][k] for k in ("from", "to", "seeds", "steps")}
    return out


def _probe_settings(j):
    return {"data": j["data"]["spec"], "images": j["data"]["images"], "task": j["data"]["task"],
            "layers": j["features"]["layers"], "pool": j["features"]["pool"], "feature_dim": j["feature_dim"],
            "C_grid": j["svm"]["C_grid"], "split": j["split"], "device": j["provenance"].get("device")}


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
            "--C", "0.0001,0.001,0.01,0.1,1", "--no-cache"),
           {"probe": caption_probe_figure}, {"probe": "table1_probe_figure"},
           _probe_settings, _model_sha, table=probe_table),
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
    if code != 0:
        entry.update(status="failed", reason=tee.last_line() or f"exit status {code}")
        shutil.rmtree(folder, ignore_errors=True)
        return Run(entry, seconds)
    files = sorted(p.relative_to(stage).as_posix() for p in folder.rglob("*") if p.is_file())
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
        return None, e.code if isinstance(e.code, int) else 2
    except GanlensError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return None, 2
    except Exception as e:  # a bug in one command must not cost the other figures; show it in full
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
                        "file (default: --out as given)")
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
        return args, [only], {only: rest}
    args = p.parse_args(argv)
    extra: dict[str, list[str]] = {}
    for item in args.args:
        key, eq, flags = item.partition("=")
        if not eq or key not in FIGURES:
            raise GanlensError(f"--args {item!r}: expected KEY=\"FLAGS\" with KEY one of {', '.join(FIGURES)}")
        extra[key] = extra.get(key, []) + shlex.split(flags)
    return args, list(args.only or FIGURES), extra


def main(argv: list[str] | None = None, only: str | None = None) -> int:
    """``analyses/run_all.py`` (``only=None``) and the per-figure scripts (``only=KEY``)."""
    args, keys, extra = _parse(argv, only)
    out = Path(args.out)
    cli.check_out(out)
    check_dir = Path(args.check) if isinstance(args.check, str) else None
    if check_dir is not None and not (check_dir / "manifest.json").exists():
        raise GanlensError(f"--check {check_dir}: no manifest.json there (an earlier output folder of this script)")
    tex_prefix = args.tex_prefix if args.tex_prefix is not None else out.as_posix()
    tex_prefix = (tex_prefix.rstrip("/") + "/") if tex_prefix not in ("", ".") else ""
    latex_path(tex_prefix)  # a path LaTeX cannot read fails now, not after the work
    dev = cli.device(args.device)
    from .checkpoints import DEFAULT_CHECKPOINT
    gan = cli.load_model(args, dev)  # a missing or bad checkpoint (or --model) is one line now, and loads once
    ck = gan.path if gan.path is not None else (DEFAULT_CHECKPOINT if not args.model else None)
    base = {"checkpoint": args.checkpoint, "model": args.model, "seed": args.seed, "device": args.device,
            "boxes": _boxes(args), "gan": gan}
    sha = gan.sha256

    old = _read_manifest(out / "manifest.json")
    t0 = time.perf_counter()
    with cli.staged_output(out) as stage:
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
    for key in stale:
        shutil.rmtree(out / key, ignore_errors=True)
        for name in list(FIGURES[key].snippets.values()) + [key]:
            (out / f"{name}.tex").unlink(missing_ok=True)
    _report(manifest, keys, out, check)
    bad = [k for k in keys if entries[k]["status"] == "failed"]
    return 1 if bad or (check is not None and not check["identical"]) else 0


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
                             "checkpoint, settings, seed and device"},
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
