"""``python -m ganlens.walk``: latent walks with numbers, and with ``--data`` the memorization report.

The analysis is :func:`ganlens.analyses.walk.walk` (``ganlens.walk(gan, ...)``)."""

from __future__ import annotations

from ganlens import cli
from ganlens.analyses.api import analysis_module
from ganlens.analyses.walk import (JUMP_FACTOR, MAX_FRAMES_PER_LINE, MEDIAN_FLOOR, checkpoint_block,  # noqa: F401
                                   compute_walk, find_jumps, lerp, plot_walk, sharpness, slerp, step_distances,
                                   walk, walk_latents, walk_layout, write_video)
from ganlens.core.results import Result

__all__ = ["walk", "compute_walk", "walk_latents", "lerp", "slerp", "step_distances", "sharpness", "find_jumps",
           "checkpoint_block", "plot_walk", "walk_layout", "write_video", "JUMP_FACTOR", "MEDIAN_FLOOR",
           "MAX_FRAMES_PER_LINE", "parser", "from_args", "summary", "main", "PROG"]

PROG = "python -m ganlens.walk"

EXAMPLES = f"""  {PROG}                                   # the shipped rooms model, 4 walks of 9 points
  {PROG} --checkpoint netG_epoch_24.pth --rows 6 --steps 10 --interp linear --out figs/walk
  {PROG} --data rooms --video                 # + memorization report against the model's training set
  {PROG} --checkpoint runs/celeba/last.pt --data ~/celeba/ --limit 20000 --device cuda
  {PROG} --model my_gan.py:build --data digits.npz   # your own networks (runs my_gan.py)
"""


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Latent walks (the paper's Fig. 4) with step distances, a sharpness score and an "
                         "optional nearest-neighbour memorization report.", EXAMPLES)
    p.add_common(out_default="ganlens-out/walk")
    p.add_argument("--points", type=cli.at_least(2), default=9, help="random latents each walk visits (default: 9)")
    p.add_argument("--steps", type=cli.at_least(1), default=8,
                   help="steps from one point to the next, i.e. steps-1 frames in between (default: 8)")
    p.add_argument("--rows", type=cli.at_least(1), default=4, help="number of walks (default: 4)")
    p.add_argument("--interp", choices=("auto", "linear", "slerp"), default="auto",
                   help="path between points: auto = slerp for normal latents, linear for uniform")
    p.add_argument("--jump-factor", type=cli.number(1, open_low=True), default=JUMP_FACTOR,
                   help=f"flag a step larger than this times the walk's median step (default: {JUMP_FACTOR:g})")
    p.add_argument("--video", action="store_true", help="also write walk.mp4 (all walks tiled, one point a second)")
    m = p.add_argument_group("memorization (with --data)")
    m.add_argument("--data", metavar="PATH|rooms",
                   help="training images to search: rooms (the checkpoint's own rooms set when it names one), "
                        "rooms:n=N,seed=S, an image folder, .npz or LSUN lmdb; other sizes are resized "
                        "and centre-cropped as in training")
    m.add_argument("--heldout", metavar="PATH",
                   help="real images never trained on (default: rooms scenes after the training set, "
                        "else a random split of --data left out of the search)")
    m.add_argument("--n", "--samples", dest="n", type=cli.at_least(2), default=512,
                   help="generated samples to test (default: 512)")
    m.add_argument("--holdout", type=cli.at_least(2), default=512,
                   help="held-out real images to compare (default: 512)")
    m.add_argument("--cells", type=cli.at_least(1), default=10,
                   help="k-means cells of the data-copying test (default: 10)")
    m.add_argument("--limit", type=cli.at_least(1), help="search only the first N training images")
    m.add_argument("--batch-size", "--chunk", dest="batch_size", type=cli.at_least(1), default=512,
                   help="training images per search chunk (default: 512)")
    return p


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    return walk(gan, rows=args.rows, points=args.points, steps=args.steps, interp=args.interp,
                jump_factor=args.jump_factor, seed=args.seed, video=args.video, data=args.data,
                heldout=args.heldout, n=args.n, holdout=args.holdout, cells=args.cells,
                limit=args.limit, batch_size=args.batch_size, progress=True)


def summary(args, r: Result) -> str:
    s, mem = r["summary"], r.data.get("memorization")
    line = (f"walk: {args.rows} walks x {r['settings']['frames_per_row']} frames, sharpness {s['sharpness']:.2f}, "
            f"median step {s['step_distance']:.4f} (pixel RMS), {s['jumps']} jump(s)")
    if mem is not None:
        line += (f"; memorization against {mem['data']}: {mem['verdict']}"
                 + (f" (flagged by {', '.join(mem['flagged_by'])}: {'; '.join(mem['reasons'])})" if mem["reasons"]
                    else ""))
    return line


main = cli.analysis_main(parser, from_args, summary)
analysis_module(__name__, walk)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
