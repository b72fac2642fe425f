"""``python -m ganlens.filters``: what a discriminator's units respond to (the paper's Fig. 5), on any D.
The analysis is :mod:`ganlens.analyses.filters` (``ganlens.filters(gan, images, ...)`` calls it)."""

from __future__ import annotations

import argparse

from ganlens import cli
from ganlens.analyses.api import analysis_module
from ganlens.analyses.filters import (CHUNK, DETECTOR_IOU, MAP_CACHE_BYTES, NO_SEMANTIC, NOT_SPATIAL,
                                      PURITY_TOP, QUANTILE, RANDOM_DRAWS, SCORE, SCORE_DOC, SHOW, Masks,
                                      RoomsKeepMasks, Scan, Top, compare, concept_iou, crop, filters, fire,
                                      firing_cut, mosaic, open_masks, pair_counts, panel_text, parse_units, plot,
                                      receptive_field, scan, screen_bf16, search_top, semantic, structure,
                                      tail_quantile, tail_size, unit_maps, units_text, visualise)
from ganlens.core.results import Result

_screen_bf16 = screen_bf16   # the old name (benchmarks/filters_speed.py)

# the analysis's public names, as ``ganlens.filters.<name>`` (tests, benchmarks, notebooks and docs use them)
__all__ = ["PROG", "parser", "from_args", "summary", "summary_line", "main", "filters", "semantic", "parse_units",
           "units_text", "unit_maps", "receptive_field", "scan", "search_top", "screen_bf16", "_screen_bf16",
           "tail_size", "tail_quantile", "firing_cut", "Masks", "RoomsKeepMasks", "open_masks", "fire", "concept_iou",
           "pair_counts", "crop", "structure", "visualise", "mosaic", "panel_text", "plot", "compare", "Top", "Scan",
           "CHUNK", "QUANTILE", "DETECTOR_IOU", "PURITY_TOP", "RANDOM_DRAWS", "SHOW", "MAP_CACHE_BYTES",
           "NO_SEMANTIC", "NOT_SPATIAL", "SCORE", "SCORE_DOC"]

PROG = "python -m ganlens.filters"
EXAMPLES = f"""  {PROG}                                   # shipped rooms model, rooms masks, units 0-5
  {PROG} --checkpoint runs/rooms64/last.pt --units 12 --top 3 --out figs/filters
  {PROG} --checkpoint netD_epoch_24.pth --data ~/celeba/ --masks ~/celeba-masks/ --units 3,17,40
  {PROG} --model my_gan.py:build --data digits.npz --layer list     # your own networks: their layers
  {PROG} --data ~/photos/ --masks windows.json          # a box file whose seeds are image indices
  {PROG} --n 20000 --draws 10 --device cuda
"""


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "What discriminator units respond to: Network-Dissection IoU with concept masks or "
                         "class purity, trained vs random Ds, with guided-backprop maps (Radford et al. 2016, "
                         "Fig. 5).", EXAMPLES)
    p.add_common(out_default="ganlens-out/filters")
    p.add_argument("--data", default="rooms", metavar="PATH|rooms",
                   help="images to search: rooms, rooms:n=N,seed=S, a folder (class sub-folders give labels), "
                        ".npz (optional labels) or LSUN lmdb (default: rooms)")
    p.add_argument("--masks", default=None, metavar="DIR|BOXES.json|none",
                   help="concept masks of the --data images: a folder with one integer PNG per image (same "
                        "names or order; optional classes.txt names the values) or a ganlens.boxes/1 file whose "
                        "seeds are image indices; none: no masks (default: the rooms masks for rooms data)")
    p.add_argument("--layer", default="last",
                   help="D layer: a name or module path from --layer list, or last (default: last)")
    p.add_argument("--units", default=None, metavar="N|A,B,C",
                   help=f"units the figure shows: the first N (channel indices 0..N-1, as in the paper), or a comma "
                        f"list of unit indices (one unit: '12,') (default: each net's {SHOW} highest-scoring); every "
                        f"unit of the layer is scored either way")
    p.add_argument("--top", type=cli.at_least(1), default=4, metavar="K", help="images shown per unit (default: 4)")
    p.add_argument("--n", "--n-images", dest="n", type=cli.at_least(1), default=5000, metavar="N",
                   help="search the first N images of --data (default: 5000)")
    p.add_argument("--quantile", type=cli.number(0, 1, open_low=True, open_high=True), default=QUANTILE,
                   help=f"a unit fires above this quantile of its activations (default: {QUANTILE}, NetDissect)")
    p.add_argument("--purity-top", type=cli.at_least(1), default=PURITY_TOP, metavar="K",
                   help=f"class purity of each unit's top K images, at most N/10 (default: {PURITY_TOP})")
    p.add_argument("--draws", "--random-draws", dest="draws", type=cli.at_least(0), default=RANDOM_DRAWS,
                   metavar="R", help=f"random Ds of the same architecture to compare with (default: {RANDOM_DRAWS})")
    p.add_argument("--random-baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="compare with random Ds at all (default: on; --no-random-baseline = --draws 0)")
    p.add_argument("--batch-size", type=cli.at_least(1), default=CHUNK,
                   help=f"images per search batch (default: {CHUNK})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too). ``--layer`` is checked
    here (its own error, or ``--layer list``) and passed as typed: the JSON records the spelling
    (``settings.layer_flag``), and :func:`filters` resolves it once."""
    gan.require_D()
    cli.layer(gan, "D", args.layer)
    masks = False if args.masks == "none" else args.masks
    return filters(gan, args.data, layer=args.layer, units=args.units, top=args.top, n=args.n, masks=masks,
                   quantile=args.quantile, purity_top=args.purity_top, draws=args.draws,
                   random_baseline=args.random_baseline, seed=args.seed, batch_size=args.batch_size,
                   progress=not args.no_progress)


def summary_line(result: dict) -> str:
    """The command's one line from ``filters.json``: the layers compared on the headline score, then the
    units shown."""
    sem = result["semantic"]
    if sem["headline"] is None:
        ac = result["descriptive"]["autocorrelation"]
        return f"{NO_SEMANTIC} (descriptive autocorrelation: trained {ac['trained_mean']:.3f})"
    block = sem[sem["headline"]]
    lay = block["layer"]
    if sem["headline"] == "iou":
        msg = f"IoU: {lay['detectors']['trained']} of {lay['n_units']} units above {DETECTOR_IOU}"
        shown = ", ".join(f"{d['unit']}:{d['label']} {d['iou']:.3f}" for d in block["trained"])
    else:
        msg = f"top-{block['k']} purity: {lay['detectors']['trained']} of {lay['n_units']} units above chance"
        shown = ", ".join(f"{d['unit']}:{d['class']} {d['purity']:.2f}" for d in block["trained"])
    if "mann_whitney" in lay:
        ab = lay["above_best_draw"]
        msg += (f" (random Ds: {', '.join(map(str, lay['detectors']['random']))}); layer above every random D "
                f"(Mann-Whitney): {'yes' if lay['higher_than_every_draw'] else 'no'}; {ab['count']} units above the "
                f"best draw (chance {ab['chance']:.1f}, p = {ab['p_value']:.2g})")
    return f"{msg}; shown {shown}"


def summary(args, result: Result) -> str:
    return summary_line(result.to_dict())


main = cli.analysis_main(parser, from_args, summary)

analysis_module(__name__, filters)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
