"""``python -m ganlens.probe``: the linear probe on the discriminator's features (the paper's Table 1); the
analysis is :mod:`ganlens.analyses.probe` (``ganlens.probe(gan, data)``). Errors name the command-line flag
(``--C``, ``--layers``) that matches each keyword argument."""

from __future__ import annotations

from ganlens import cli
from ganlens.analyses.api import analysis_module
from ganlens.analyses.probe import (BATCH_SIZE, C_GRID, CACHE_VERSION, DRAWS, MIN_WINDOW_PIXELS, POOL, RULE,
                                    SPLITS, TASKS, Comparison, Features, Labelled, NetworkFit, Paired, ProbeRun,
                                    Settings, Split, SplitFit, cache_dir, cache_path, cache_read, cache_write,
                                    class_names, compact, compare_random, d_features, data_key, extract,
                                    feature_dim, cached_features, fit_all, fit_probe, fit_split, folds_of, kfold_splits,
                                    labelled, labelled_set, net_fingerprint, parse_C, plot_probe, probe,
                                    resolve_layers, rooms_labels, split, split_seeds, spread, summarise, to_result)
from ganlens.core.errors import GanlensError
from ganlens.core.results import Result

PROG = "python -m ganlens.probe"
EXAMPLES = f"""  {PROG}                                      # shipped model, has-window on 2000 unseen rooms
  {PROG} --data rooms:n=4000,seed=1 --task windows
  {PROG} --splits 10 --draws 10                    # a tighter spread; one C grid per split and D
  {PROG} --checkpoint netD_epoch_24.pth --data ~/cifar10_png/ --limit 10000 --device cuda
  {PROG} --data labelled.npz --layers block3,block4 --C 0.001,0.01,0.1 --cache /scratch/ganlens-cache
  {PROG} --model my_gan.py:build --data digits.npz --layers list   # your own networks: their layers
"""
DEFAULT_DATA = "rooms:n=2000,seed=1"
RANDOM_DRAWS, CHUNK = DRAWS, BATCH_SIZE    # the former names

__all__ = [  # the command, and the analysis's names re-exported (``ganlens.probe.<name>`` keeps working)
    "PROG", "EXAMPLES", "DEFAULT_DATA", "parser", "from_args", "summary", "main", "GanlensError",
    "probe", "resolve_layers", "d_features", "feature_dim", "extract", "compact", "rooms_labels", "class_names",
    "data_key", "labelled", "labelled_set", "net_fingerprint", "cache_dir", "cache_path", "cache_read",
    "cache_write", "cached_features", "split", "kfold_splits", "split_seeds", "folds_of", "fit_split", "fit_probe",
    "fit_all", "spread", "summarise", "compare_random", "parse_C", "plot_probe", "to_result",
    "Split", "Labelled", "Features", "SplitFit", "NetworkFit", "Paired", "Comparison", "Settings", "ProbeRun",
    "POOL", "BATCH_SIZE", "C_GRID", "SPLITS", "DRAWS", "RULE", "TASKS", "MIN_WINDOW_PIXELS", "CACHE_VERSION",
    "RANDOM_DRAWS", "CHUNK",
]


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Linear L2-SVM probe on the discriminator's features, against a random-D baseline "
                         "(the paper's Table 1).", EXAMPLES)
    p.add_common(out_default="ganlens-out/probe")
    p.add_argument("--data", default=DEFAULT_DATA, metavar="PATH|rooms",
                   help=f"labelled images: rooms:n=N,seed=S (labels from the masks), a folder with one "
                        f"sub-folder per class, or an .npz with images and labels (default: {DEFAULT_DATA})")
    p.add_argument("--task", choices=tuple(TASKS), help="label for rooms data (default: has-window)")
    p.add_argument("--limit", type=cli.at_least(1), help="use only the first N images")
    p.add_argument("--layers", default="all",
                   help="D layers to use: all, list (print them), or names / module paths, e.g. "
                        "block2,block3,last (default: all)")
    p.add_argument("--pool", type=cli.at_least(1), default=POOL,
                   help=f"max-pool each layer to POOL x POOL (default: {POOL})")
    p.add_argument("--C", default=",".join(f"{c:g}" for c in C_GRID), metavar="LIST",
                   help=f"SVM C values to choose from on the validation split (default: "
                        f"{','.join(f'{c:g}' for c in C_GRID)})")
    p.add_argument("--val-fraction", type=cli.number(0, 1, open_low=True, open_high=True), default=0.2,
                   help="validation share (default: 0.2)")
    p.add_argument("--test-fraction", type=cli.number(0, 1, open_low=True, open_high=True), default=0.2,
                   help="test share (default: 0.2)")
    p.add_argument("--splits", type=cli.at_least(1), default=SPLITS,
                   help=f"stratified train/val/test splits, seeds --seed, --seed + 1, ...; each chooses its own C "
                        f"(default: {SPLITS})")
    p.add_argument("--draws", "--random-draws", dest="draws", type=cli.at_least(1), default=DRAWS,
                   help=f"random Ds of the same architecture, seeds --seed, --seed + 1, ... (default: {DRAWS})")
    p.add_argument("--batch-size", type=cli.at_least(1), default=BATCH_SIZE,
                   help=f"images per feature batch (default: {BATCH_SIZE})")
    p.add_argument("--cache", metavar="DIR", help="feature cache folder (default: $GANLENS_CACHE or ~/.cache/ganlens)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    return p


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    if args.layers.strip() == "list":
        cli.layer(gan, "D", "list", "--layers")  # prints the layer table and ends the command
    return probe(gan, args.data, task=args.task, layers=resolve_layers(gan, args.layers), pool=args.pool, C=args.C,
                 val_fraction=args.val_fraction, test_fraction=args.test_fraction, splits=args.splits,
                 draws=args.draws, limit=args.limit, seed=args.seed,
                 cache=None if args.no_cache else (args.cache or True), batch_size=args.batch_size, progress=True)


def summary(args, r: Result) -> str:
    """The command's line: accuracy and spread, the verdict against the random draws, chance, data."""
    read, c = r["provenance"]["feature_cache"]["read"], r["comparison"]
    cached = f"; features of {len(read)} of {1 + c['draws']} Ds from the cache" if read else ""
    verdict = "higher than" if c["trained_beats_random"] else "NOT higher than"
    k, d = r["split"]["count"], c["draws"]
    return (f"probe: test accuracy {r['accuracy']:.3f} +- {r['accuracy_spread']['std']:.3f} over {k} split"
            f"{'s' * (k > 1)} (C={r['C']:g}) with trained D, {verdict} each of {d} random D{'s' * (d > 1)} (best "
            f"{c['best_random_mean']:.3f}, mean {r['random_accuracy']:.3f}); majority class "
            f"{r['chance']['majority']:.3f}; {r['feature_dim']} features, {r['data']['images']} images "
            f"({r['data']['task'] or r['data']['spec']}){cached}")


main = cli.analysis_main(parser, from_args, summary)
analysis_module(__name__, probe)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
