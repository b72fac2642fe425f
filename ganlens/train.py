"""Train the paper's DCGAN on rooms or your own images: ``python -m ganlens.train`` (the library:
:mod:`ganlens.tools.train`; what a run folder holds and how a step differs from the reference: docs/methods.md,
section "train")."""

from __future__ import annotations

import sys
from pathlib import Path

from ganlens import cli
from ganlens.analyses.api import analysis_module
from ganlens.core.models import LATENTS
from ganlens.tools.train import (HISTORY_FIELDS, N_FIXED, OUTPUT_NAME, Settings, Stepper, TrainRecord,
                                 epoch_order, history_figure, plot_history, step_latents, train)

__all__ = ["PROG", "parser", "main", "train", "Settings", "TrainRecord", "Stepper", "step_latents", "epoch_order",
           "history_figure", "plot_history", "HISTORY_FIELDS", "N_FIXED", "OUTPUT_NAME"]

PROG = "python -m ganlens.train"
EXAMPLES = f"""  {PROG} --data rooms --out runs/rooms64 --iters 3000 --ngf 32 --ndf 32 --batch-size 64
  {PROG} --data ~/celeba/ --out runs/celeba --epochs 5 --device cuda --compile
  {PROG} --out runs/rooms64 --resume            # continue the run in runs/rooms64 exactly
  torchrun --nproc_per_node 2 -m ganlens.train --data rooms --out runs/ddp --iters 1000
"""


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Train the DCGAN of Radford et al. (2016) on rooms or your own images.", EXAMPLES)
    p.add_argument("--data", default="rooms", help="rooms, rooms:n=N,seed=S, an image folder, .npz or LSUN lmdb")
    p.add_argument("--out", default="runs/train", metavar="DIR", help="run folder (default: runs/train)")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--nc", type=int, default=3, help="image channels: 3 colour, 1 grey (default: 3)")
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--latent", choices=LATENTS, default="normal")
    p.add_argument("--batch-size", type=cli.at_least(1), default=128)
    p.add_argument("--lr", type=cli.number(0, open_low=True), default=2e-4)
    p.add_argument("--beta1", type=cli.number(0, 1, open_high=True), default=0.5)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--iters", type=cli.at_least(1), help="total training iterations (steps)")
    length.add_argument("--epochs", type=cli.at_least(1), help="total epochs over the data (default: 5)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--seed", type=cli.seed_value, default=0)
    p.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                   help="continue a run: from CKPT, or (no value) from --out's last.pt")
    p.add_argument("--ckpt-every", type=cli.at_least(1), default=500, help="checkpoint every N iterations (default: 500)")
    p.add_argument("--keep", type=cli.at_least(1), default=3, help="numbered checkpoints to keep (default: 3)")
    p.add_argument("--log-every", type=cli.at_least(1), default=50, help="read losses every N iterations (default: 50)")
    p.add_argument("--sample-every", type=cli.at_least(1), help="sample grid every N iterations (default: once an epoch)")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                   help="mixed precision: auto = bf16 on CUDA, off on CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile G and D (CUDA: faster after warm-up)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    r = train(**vars(args))
    if r.data:
        print(f"done: {r['iterations']} iterations, {r['images_per_second']:.1f} img/s on {r['device']}; "
              f"checkpoint {Path(args.out) / 'last.pt'}", file=sys.stderr)
    return 0


analysis_module(__name__, train)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
