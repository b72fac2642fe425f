"""``python -m ganlens.dissect``: GAN Dissection from the command line (:mod:`ganlens.analyses.dissect`).

Labels every generator unit with the object class it draws, then removes and inserts a class through its
units and measures both against random units of the same layer, with a segmenter: the rooms one on rooms
models, otherwise ``--segmenter FILE.py:FUNC`` where FUNC() returns ``(fn, class_names)`` (this runs your code
on purpose, like ``--model``). Outputs (``--out``): ``dissect.json``, ``dissect.npz`` (IoU matrices and the
figures' images), figures ``dissect``, ``units``, ``remove``, ``insert``, ``dose``. From Python::

    r = ganlens.dissect(gan, segmenter=(my_fn, ["sky", "tree", ...]), remove="tree", draws=3)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganlens import cli
from ganlens.analyses.api import analysis_module
from ganlens.analyses.dissect import (CHUNK, DEFAULT_REGION_CLASS, DEFAULT_TARGET, ELEMS, EVAL_SEED, FILLS, MIN_AREA,
                                     TOP_SAMPLES, Segmentation, agreement, as_segmentation, check_settings,
                                     class_summary, compare, count_layer, dissect, dissect_layers, dose_levels,
                                     gallery, insert_regions, interp_matrix, iou_matrix, iou_pass, label_units,
                                     make_target, mcnemar, measure, plot_counts, plot_dose, plot_insert, plot_remove,
                                     plot_units, quantile_pass, rate, render, rooms_segmentation, run_insert,
                                     run_remove, targets_for, unit_tile)
from ganlens.data.segment import check_classes, pair_problem
from ganlens.analyses.dissect.threshold import parse_rule
from ganlens.core.errors import GanlensError
from ganlens.core.results import Result

__all__ = ["PROG", "parser", "from_args", "summary", "main", "segmenter_from_spec", "dissect", "check_settings",
           "Segmentation", "as_segmentation", "rooms_segmentation", "dissect_layers", "interp_matrix",
           "quantile_pass", "count_layer", "iou_pass", "iou_matrix", "label_units", "class_summary", "rate",
           "mcnemar", "measure", "render", "make_target", "dose_levels", "compare", "run_remove", "run_insert",
           "insert_regions", "targets_for", "agreement", "gallery", "plot_counts", "plot_units", "plot_remove",
           "plot_insert", "plot_dose", "unit_tile", "EVAL_SEED", "CHUNK", "ELEMS", "TOP_SAMPLES", "FILLS",
           "DEFAULT_TARGET", "DEFAULT_REGION_CLASS", "MIN_AREA", "SHIPPED_BOXES"]

PROG = "python -m ganlens.dissect"
EXAMPLES = f"""  {PROG}                                        # every hidden layer of the shipped rooms model
  {PROG} --layers block3 --remove window,bed --insert window --k 4
  {PROG} --insert window --box 8,8,24,24 --n-eval 1000 --draws 5
  {PROG} --model my_gan.py:build --checkpoint G.pth --segmenter my_seg.py:build --remove tree
  {PROG} --layers list                          # G's layers, names and shapes
"""
SHIPPED_BOXES = Path(__file__).resolve().parents[1] / "annotations" / "windows.json"


def segmenter_from_spec(spec: str) -> Segmentation:
    """``--segmenter FILE.py:FUNC``: FUNC() returns (fn, class_names). Runs the user's code on purpose."""
    fn, names = cli.user_model(spec, flag="--segmenter", accept=pair_problem)
    return Segmentation(fn, check_classes(names, f"--segmenter {spec}"), spec)


def _names(text: str) -> tuple[str, ...] | None:
    return () if text.strip().lower() == "none" else tuple(t.strip() for t in text.split(",") if t.strip())


def _box(text: str) -> tuple[int, ...]:
    try:
        v = tuple(int(t) for t in text.split(","))
    except ValueError:
        v = ()
    if len(v) != 4:
        raise argparse.ArgumentTypeError(f"must be four integers x0,y0,x1,y1, got {text!r}")
    return v


def _rule(text: str) -> str:
    try:
        return str(parse_rule(text))
    except GanlensError as e:
        raise argparse.ArgumentTypeError(f"must be 'iqr' or 'quantile:Q' with 0 < Q < 1, got {text!r}") from e


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Label every generator unit with the object class it draws (GAN Dissection), then remove "
                         "and insert a class through its units and measure it against random units.", EXAMPLES)
    p.add_common(out_default="ganlens-out/dissect")
    p.add_argument("--segmenter", metavar="FILE.py:FUNC",
                   help="your segmenter: FUNC() returns (fn, class_names), fn(images (N, C, S, S) float in [-1, 1]) -> "
                        "integer class maps (N, S, S). This RUNS THE PYTHON CODE YOU NAME, on purpose (default: the "
                        "rooms segmenter on rooms models)")
    p.add_argument("--layers", default="all", help="G layers to dissect, comma-separated (module paths or aliases), "
                                                   "'all' hidden conv layers (default), or 'list' to print G's layers")
    p.add_argument("--n", type=cli.at_least(1), default=1000, help="dissection samples, seeds 0..N-1 (default: 1000)")
    p.add_argument("--threshold", type=_rule, default="iqr", metavar="iqr|quantile:Q",
                   help="per-unit threshold: 'iqr', GAN Dissection's level maximising the information quality ratio "
                        "with the unit's best class (default), or 'quantile:0.99', a fixed per-unit quantile")
    p.add_argument("--n-select", type=cli.at_least(1), default=200, metavar="N",
                   help="latents the IQR rule picks levels on, seeds 2e9+i (default: 200)")
    p.add_argument("--iou-floor", type=cli.number(0, 1),
                   help="IoU a label needs (default: 0.05 under iqr, as gandissect; 0.04 under a quantile)")
    p.add_argument("--classes", type=_names, help="class names units may be labelled with (default: all)")
    p.add_argument("--remove", type=_names, help="classes to remove, comma-separated, or 'none' "
                                                 "(default: window if the segmenter knows it)")
    p.add_argument("--insert", type=_names,
                   help="classes to insert, or 'none' (default: window if the segmenter knows it)")
    p.add_argument("--edit-layer", help="layer whose units are edited (default: the one with the class's best unit)")
    p.add_argument("--k", type=cli.at_least(1), help="units edited (default: those labelled with the class there, at most half the layer)")
    p.add_argument("--fill", choices=FILLS, default="zero", help="removed units become zero (default) or their mean")
    p.add_argument("--draws", "--control-draws", dest="draws", type=cli.at_least(1), default=3, metavar="D",
                   help="random unit sets per edit (default: 3)")
    p.add_argument("--n-eval", type=cli.at_least(1), default=500, metavar="N",
                   help="fresh latents the edits are measured on (default: 500)")
    p.add_argument("--dose-n", type=cli.at_least(1), default=100, metavar="N",
                   help="of those, latents per dose-curve point (default: 100)")
    p.add_argument("--show", type=cli.at_least(1), default=8, help="samples in the before/after figures (default: 8)")
    p.add_argument("--region-class", help="class whose area insertion targets (default: wall, else the commonest)")
    p.add_argument("--box", type=_box, metavar="X0,Y0,X1,Y1", help="insert inside this box (image pixels) instead")
    p.add_argument("--region-size", type=cli.at_least(1), metavar="PX",
                   help="side of the per-sample insertion square (default: a quarter of the image)")
    p.add_argument("--boxes", default="auto", metavar="FILE.json",
                   help="box file for the agreement with forget's classifier; 'none' to skip (default: "
                        "annotations/windows.json on the shipped model)")
    return p


def _boxes(args):
    if args.boxes == "none":
        return None
    if args.boxes != "auto":
        return args.boxes
    if args.checkpoint != "default" or getattr(args, "model", None):
        return None  # the shipped box file was drawn on the shipped model
    for candidate in (Path("annotations/windows.json"), SHIPPED_BOXES):
        if candidate.exists():
            return str(candidate)
    return None


def summary(args, r: Result) -> str:
    """The command's one line: units labelled, and each edit against random units."""
    d = r.data
    per = ", ".join(f"{c} {v}" for c, v in sorted(d["summary"]["per_class"].items(), key=lambda x: -x[1]))
    msg = f"labelled {d['summary']['labelled']}/{d['summary']['units']} units ({per or 'none'})"
    for kind in ("remove", "insert"):
        for c, e in d[kind].items():
            if "after" in e:
                msg += (f"; {kind} {c}: {e['before']['rate']:.2f} -> {e['after']['rate']:.2f} "
                        f"(random {e['control']['rate_mean']:.2f})")
    return msg


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too): layers resolved here, once."""
    names = None if args.layers == "all" else [t.strip() for t in args.layers.split(",") if t.strip()]
    layers = None if names is None else [cli.layer(gan, "G", t, flag="--layers", given=args.layers) for t in names]
    edit = None if args.edit_layer is None else cli.layer(gan, "G", args.edit_layer, flag="--edit-layer")
    settings = {k: getattr(args, k) for k in ("n", "threshold", "n_select", "iou_floor", "fill", "draws", "n_eval",
                                              "dose_n", "show", "k", "box", "region_size")}
    check_settings(gan, layers=layers, edit_layer=edit, flags=True, **settings)
    seg = segmenter_from_spec(args.segmenter) if args.segmenter else None
    return dissect(gan, layers=layers, edit_layer=edit, classes=args.classes, segmenter=seg, remove=args.remove,
                   insert=args.insert, region_class=args.region_class, boxes=_boxes(args), seed=args.seed, **settings)


main = cli.analysis_main(parser, from_args, summary)

analysis_module(__name__, dissect)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
