"""Make a generator forget an object, and measure it: ``python -m ganlens.forget`` (the paper's Fig. 6).

    python -m ganlens.forget --boxes annotations/windows.json      # the shipped rooms model
    r = ganlens.forget(gan, "annotations/windows.json")             # the same from Python

The analysis is :mod:`ganlens.analyses.forget` (its steps and their reasons: docs/methods.md, forget); this
module is its command: the flags, each turned into its object once (:func:`from_args`), and the one line it
prints. ``--ratings`` scores blind rating pages (``python -m ganlens.annotate --rate``) instead of a run.
Outputs (``--out``): ``forget.json``, ``forget.npz``, ``forget.pdf/png``, ``dose.pdf/png``, ``annotations.pdf/png``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ganlens import cli
from ganlens.analyses.api import analysis_module
from ganlens.analyses.forget import (BATCH, CI_METHOD, CLASSIFIER_DOC, FILLS, FRESH_SEED, MIN_COVER, RULES,
                                     SELECTS, Judged, Selection, Settings, as_layer, assemble, binom_ci, box_cells,
                                     boxed_samples, candidate_ks, check_layer, check_settings, dose_levels,
                                     figure_samples, fit_classifier, forget, fresh_seeds, generate, generate_each,
                                     held_out, judge_record, localisation, mcnemar, mean_ratio, other_rules_record,
                                     rates, read_boxes, removal_record, run, run_classifier, run_dose,
                                     run_localisation, run_removal, score_ratings, select_maps, selection_record)
from ganlens.analyses.forget.figure import plot_annotations, plot_dose, plot_samples
from ganlens.core.errors import GanlensError
from ganlens.core.figures import sheet
from ganlens.core.results import Result
from ganlens.data import boxes as boxfile

PROG = "python -m ganlens.forget"
OUT_DEFAULT = "ganlens-out/forget"
EXAMPLES = f"""  {PROG} --boxes annotations/windows.json             # the paper's Fig. 6 on the shipped rooms model
  {PROG} --boxes annotations/windows.json --select paper --out figs/forget-paper   # every weight > 0
  {PROG} --boxes annotations/windows.json --top-k 8 --out figs/forget8
  {PROG} --ratings rate-1.ratings.json rate-2.ratings.json rate-3.ratings.json --key ganlens-out/forget/rate.key.json
  {PROG} --checkpoint netG_epoch_24.pth --boxes glasses.json --layer block3 --C 0.1
  {PROG} --model my_gan.py:build --checkpoint G.pth --boxes glasses.json --layer main.6
  {PROG} --boxes annotations/windows.json --n-eval 2000 --draws 10 --device cuda
"""

fit_probe = fit_classifier      # old names: "probe" now means the linear probe analysis only
run_probe = run_classifier
probe_data = box_cells
PROBE_DOC = CLASSIFIER_DOC


def positive(text: str) -> float:
    """argparse ``type=`` for --C: a finite number > 0 ("--C must be a positive number, got -1")."""
    v = float(text)
    if not (np.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return v


positive.__name__ = "float"


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Drop the feature maps a linear classifier ties to an object and measure whether the "
                         "generator forgets it (Radford et al. 2016, Fig. 6).", EXAMPLES)
    p.add_argument("--boxes", metavar="FILE.json", help="box file (format ganlens.boxes/1); required unless --ratings")
    p.add_common(out_default=OUT_DEFAULT)
    p.add_argument("--layer", default="second-highest",
                   help="G layer with a spatial map: module path (block3, main.6), top or second-highest "
                        "(default: second-highest); 'list' prints G's layers")
    p.add_argument("--negatives-per-image", type=cli.at_least(1), default=20, metavar="K",
                   help="negative feature cells drawn per annotated image (default: 20)")
    p.add_argument("--C", type=positive, default=1.0, help="inverse L2 strength of the classifier (default: 1.0)")
    p.add_argument("--select", choices=SELECTS, default="cv",
                   help="how the maps to drop are chosen: cv (default: the k largest classifier weights, k by "
                        "cross-validated inside/outside-box pixel change on held-out annotated images) or paper "
                        "(every map with weight > 0); the other rule is reported beside it")
    p.add_argument("--top-k", type=cli.at_least(1), metavar="K",
                   help="drop the K maps with the largest classifier weights (overrides --select)")
    p.add_argument("--n", type=cli.at_least(1), default=8, help="samples shown in forget.pdf (default: 8)")
    p.add_argument("--n-eval", type=cli.at_least(1), default=500, metavar="N",
                   help="fresh latents the object rate is measured on (default: 500)")
    p.add_argument("--dose-n", type=cli.at_least(1), default=100, metavar="N",
                   help="of those, latents used for each dose-curve point (default: 100)")
    p.add_argument("--fill", choices=FILLS, default="mean",
                   help="what a dropped map becomes at every position: its mean activation over the annotated "
                        "samples (default), or zero (the paper's literal drop)")
    p.add_argument("--draws", "--control-draws", dest="draws", type=cli.at_least(1), default=3, metavar="D",
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


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too): the layer resolved once
    (``--layer list`` prints G's layers), every setting checked before the box file is read."""
    s = Settings(args.layer, args.negatives_per_image, args.C, args.select, args.top_k, args.n, args.n_eval,
                 args.dose_n, args.draws, args.folds, args.fill, args.seed)
    if args.layer == "list":
        cli.layer(gan, "G", "list")
    check_settings(gan, s, flags=True)
    lay = check_layer(gan, cli.layer(gan, "G", args.layer), s, flags=True)
    bf = boxfile.read(args.boxes, gan)
    warning = boxfile.sha_warning(bf, args.boxes, gan.sha256)
    if warning:
        print(f"{PROG}: {warning}", file=sys.stderr)
    return run(gan, bf, lay, s)


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def summary(args, r: Result) -> str:
    """The command's line: classifier quality, what was dropped, and the measured effect."""
    d = r.data
    cv = d["probe"]["cv"]
    msg = f"classifier CV AUC {cv['auc_mean']:.3f}" if cv and cv["auc_mean"] is not None else "classifier (no CV)"
    msg += (f"; dropped {d['n_dropped']}/{d['layer_shape']['channels']} maps of {d['settings']['layer']} "
            f"({d['selection']['rule']} rule)")
    rem, loc = d.get("removal"), d["localisation"]
    if rem:
        return msg + (f"; {d['label']} rate {rem['before']:.3f} -> {rem['after']:.3f} "
                      f"(random control {rem['control_after']:.3f}) on {rem['n_latents']} latents")
    ratio, ctl = loc["selected"]["ratio"], loc["control_ratio_mean"]
    return msg + (f"; change inside/outside boxes {ratio if ratio is not None else float('nan'):.2f} "
                  f"(random {ctl if ctl is not None else float('nan'):.2f})")


def ratings_mode(args) -> str | None:
    """``--ratings``: score the raters' files, and return the line to print; None for a run (which then
    needs ``--boxes`` and writes into ``--out``, default OUT_DEFAULT)."""
    if not args.ratings:
        if args.boxes is None:
            raise GanlensError("--boxes FILE.json is required (a ganlens.boxes/1 file), unless --ratings scores a "
                               "rating page")
        args.out = args.out or OUT_DEFAULT
        return None
    if args.boxes is not None:
        raise GanlensError("--ratings scores rating pages; --boxes does not apply")
    if args.key is None:
        raise GanlensError("--ratings needs --key FILE: the .key.json written next to the rating pages")
    if args.out is not None:
        cli.check_out(args.out)
    return score_ratings(args.key, args.ratings, args.out)[2]


main = cli.analysis_main(parser, from_args, summary, early=ratings_mode)

analysis_module(__name__, forget)

__all__ = ["PROG", "OUT_DEFAULT", "EXAMPLES", "parser", "from_args", "summary", "ratings_mode", "main", "positive",
           "forget", "run", "run_classifier", "run_probe", "fit_classifier", "fit_probe", "read_boxes", "generate",
           "generate_each", "sheet", "box_cells", "probe_data", "select_maps", "localisation", "boxed_samples",
           "mean_ratio", "dose_levels", "fresh_seeds", "candidate_ks", "check_settings", "check_layer", "as_layer",
           "held_out", "run_localisation", "Judged", "run_removal", "run_dose", "binom_ci", "mcnemar", "rates",
           "removal_record", "other_rules_record", "selection_record", "judge_record", "figure_samples", "assemble",
           "score_ratings", "Settings", "Selection", "plot_samples", "plot_dose", "plot_annotations", "FRESH_SEED",
           "BATCH", "MIN_COVER", "FILLS", "SELECTS", "RULES", "CI_METHOD", "CLASSIFIER_DOC", "PROBE_DOC"]

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
