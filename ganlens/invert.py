"""``python -m ganlens.invert``: invert real images; with ``--heldout`` the membership test, with ``--modes``
mode dropping. The analysis is :func:`ganlens.analyses.invert.invert` (``ganlens.invert(gan, ...)``)."""

from __future__ import annotations

from pathlib import Path

from ganlens import cli
from ganlens.analyses.api import analysis_module
from ganlens.analyses.invert import (auto_heldout, check_settings, encoder_for, generated_shares, invert,
                                     modes_block, open_set)
from ganlens.analyses.invert import reconstruct as core
from ganlens.core.results import Result
from ganlens.dissect import segmenter_from_spec

__all__ = ["invert", "open_set", "auto_heldout", "encoder_for", "generated_shares", "modes_block", "check_settings",
           "core", "parser", "from_args", "summary", "main", "PROG"]

PROG = "python -m ganlens.invert"

EXAMPLES = f"""  {PROG}                                        # 256 training rooms of the shipped model
  {PROG} --heldout auto --modes                # + membership test against fresh rooms, + mode dropping
  {PROG} --model my_gan.py:build --data faces/ --heldout faces_test/ --perceptual feats.py:vgg
  {PROG} --checkpoint G.pth --data digits.npz --encoder --steps 150     # encoder start, cached in --out
"""


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Invert real images into G's latent space: reconstructions and distances; with "
                         "--heldout a membership test (memorization), with --modes per-class shares "
                         "generated vs real (mode dropping).", EXAMPLES)
    p.add_common(out_default="ganlens-out/invert")
    p.add_argument("--data", default="rooms", metavar="SPEC",
                   help="images to invert (default: rooms, the checkpoint's own rooms training set)")
    p.add_argument("--n", type=cli.at_least(1), default=256, help="invert the first N images (default: 256)")
    p.add_argument("--heldout", metavar="SPEC|auto",
                   help="real images of the same distribution never trained on: adds the membership test "
                        "(auto: rooms scenes of another seed)")
    p.add_argument("--modes", action="store_true", help="mode dropping: class shares generated vs real")
    p.add_argument("--segmenter", metavar="FILE.py:FUNC",
                   help="your segmenter for --modes: FUNC() returns (fn, class_names); RUNS YOUR CODE (default: "
                        "the rooms segmenter on rooms models)")
    p.add_argument("--samples", type=cli.at_least(2), help="G samples for --modes (default: --n)")
    p.add_argument("--perceptual", metavar="FILE.py:FUNC",
                   help="a feature network: FUNC() returns a module images -> features; RUNS YOUR CODE")
    p.add_argument("--objective", choices=core.OBJECTIVES, default="pixel",
                   help="what the optimisation matches: pixels (default), + D features, + perceptual features")
    p.add_argument("--encoder", action="store_true", help="start from an encoder trained on G's samples "
                                                          "(cached as OUT/encoder.pt)")
    p.add_argument("--encoder-steps", type=cli.at_least(1), default=400,
                   help="training steps of the encoder, batches of 64 G samples (default: 400)")
    p.add_argument("--steps", type=cli.at_least(1), default=100, help="Adam steps (default: 100)")
    p.add_argument("--starts", type=cli.at_least(1), default=4, help="random starts per image (default: 4)")
    p.add_argument("--lr", type=cli.number(0, open_low=True), default=0.05, help="Adam learning rate (default: 0.05)")
    p.add_argument("--prior", type=cli.number(0), default=0.1, help="weight of the latent prior penalty (default: 0.1)")
    p.add_argument("--batch-size", "--batch", dest="batch_size", type=cli.at_least(1), default=64,
                   help="images per batch (default: 64)")
    p.add_argument("--keep", type=cli.at_least(1), default=16, help="reconstructions kept and shown (default: 16)")
    p.add_argument("--draws", type=cli.at_least(10), default=2000,
                   help="bootstrap and permutation draws (default: 2000)")
    return p


def _perceptual(spec: str | None):
    if not spec:
        return None
    return cli.user_model(spec, flag="--perceptual",
                          accept=lambda o: None if callable(o) else f"returned {type(o).__name__}; it must return "
                                                                    f"a module (images -> features)")


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    seg = segmenter_from_spec(args.segmenter) if args.segmenter else None
    cache = Path(args.out) / "encoder.pt" if args.encoder else None
    return invert(gan, args.data, n=args.n, heldout=args.heldout, modes=args.modes, segmenter=seg,
                  samples=args.samples, perceptual=_perceptual(args.perceptual), encoder=cache,
                  encoder_steps=args.encoder_steps, steps=args.steps, starts=args.starts, lr=args.lr,
                  prior=args.prior, batch_size=args.batch_size,
                  objective=args.objective, keep=args.keep, draws=args.draws, seed=args.seed, progress=True)


def summary(args, r: Result) -> str:
    d = r.data
    line = f"inverted {d['images']['images']} images, median pixel RMS {d['images']['distance']['pixel']['median']:.4f}"
    if d["membership"]:
        m = d["membership"]["pixel"]
        line += f"; membership AUC {m['auc']:.3f} [{m['interval'][0]:.3f}, {m['interval'][1]:.3f}] p={m['p_value']:.3g}"
    if d["modes"]:
        line += f"; under-generated: {', '.join(d['modes']['under_generated']) or 'none'}"
    return line


main = cli.analysis_main(parser, from_args, summary)
analysis_module(__name__, invert)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
