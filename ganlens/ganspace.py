"""``python -m ganlens.ganspace``: GANSpace (Härkönen et al. 2020), principal components of a generator layer
carried back to latent directions, edits along them, and a control against random directions.

The analysis is :func:`ganlens.analyses.ganspace.ganspace` (``ganlens.ganspace(gan, ...)``)."""

from __future__ import annotations

from ganlens import cli
from ganlens.analyses.api import analysis_module
from ganlens.analyses.ganspace import (COLUMNS, FIRST, LATENT_STD, MIN_LATENTS, Basis, Decision, Measured, Run,
                                       centred_edits, decide, decompose, ganspace, measure, null_rate, pca,
                                       plot_ganspace, plot_objects, random_frames, regress, resolve_layer)
from ganlens.core.results import Result

__all__ = ["ganspace", "decompose", "pca", "regress", "resolve_layer", "centred_edits", "measure", "random_frames",
           "decide", "null_rate", "plot_ganspace", "plot_objects", "Basis", "Decision", "Measured", "Run", "FIRST",
           "LATENT_STD", "COLUMNS", "MIN_LATENTS", "parser", "from_args", "summary", "main", "PROG"]

PROG = "python -m ganlens.ganspace"
EXAMPLES = f"""  {PROG}                                   # the shipped rooms model: first layer, top 8 components
  {PROG} --layer block2 --components 4 --out figs/ganspace
  {PROG} --layer list                      # the generator's layers and aliases
  {PROG} --checkpoint runs/celeba/last.pt --n 5000 --draws 40 --device cuda
  {PROG} --model my_gan.py:build --samples 64   # your own networks (runs my_gan.py)
"""


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "GANSpace: PCA of a generator layer, its components as latent directions, edits along "
                         "them, and whether they change images more than random directions do.", EXAMPLES)
    p.add_common(out_default="ganlens-out/ganspace")
    p.add_argument("--layer", default=FIRST,
                   help="generator layer to decompose: first (default: the first hidden layer, the paper's early "
                        "layer for z-input GANs), a layer name, an alias (second-highest, top) or list")
    p.add_argument("--n", type=cli.at_least(3), default=2000, help="latents for the PCA and the regression "
                                                                   "(default: 2000)")
    p.add_argument("--components", type=cli.at_least(1), default=8,
                   help="top components made into latent directions, edited and shown (default: 8)")
    p.add_argument("--draws", type=cli.at_least(1), default=20,
                   help="random direction sets to compare with (default: 20; the rule's false-positive rate "
                        "is at most 1/(draws+1))")
    p.add_argument("--samples", type=cli.at_least(2), default=32,
                   help=f"further latents edited and measured, the rule's clusters (default: 32; at least "
                        f"{MIN_LATENTS} for the rule to be able to fire)")
    p.add_argument("--show", type=cli.at_least(1), default=2, help="latents shown in the figure (default: 2)")
    p.add_argument("--sigma", type=cli.number(0, open_low=True), default=3.0,
                   help="edit range: -sigma .. +sigma standard deviations (default: 3)")
    p.add_argument("--batch-size", type=cli.at_least(1), default=256, help="latents per forward pass (default: 256)")
    return p


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    layer = args.layer if args.layer.strip() == FIRST else cli.layer(gan, "G", args.layer)
    return ganspace(gan, layer=layer, n=args.n, components=args.components, draws=args.draws,
                    samples=args.samples, show=args.show, sigma=args.sigma, seed=args.seed,
                    batch_size=args.batch_size)


def summary(args, r: Result) -> str:
    s, st = r["summary"], r["settings"]
    top = ", ".join(f"{100 * v:.1f}%" for v in s["explained_variance_top"])
    ratio = "n/a" if s["change_ratio"] is None else f"{s['change_ratio']:.2f}x"
    return (f"ganspace: layer {st['layer']} ({'x'.join(map(str, st['layer_shape']))}), top components explain "
            f"{top}; principal directions change images {ratio} as much as random ones ({st['samples']} latents, "
            f"{st['draws']} draws): rule {'fires' if s['fires'] else 'does not fire'} (p = {s['p_value']:.2g})")


main = cli.analysis_main(parser, from_args, summary)

analysis_module(__name__, ganspace)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
