"""Export a checkpoint for sharing: ``python -m ganlens.export runs/x/last.pt --out model.pt`` (the library:
:mod:`ganlens.tools.export`; what is written and why: docs/methods.md, section "export")."""

from __future__ import annotations

from ganlens import cli
from ganlens.tools.export import check_out_file, export

__all__ = ["PROG", "parser", "main", "export", "check_out_file"]

PROG = "python -m ganlens.export"
EXAMPLES = f"""  {PROG} runs/rooms64/last.pt --out ganlens/default/rooms64.pt --half
  {PROG} runs/celeba/ckpt_0005000.pt --out celeba64.pt
"""


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Export a checkpoint without optimiser state, with a model card and samples.", EXAMPLES)
    p.add_argument("checkpoint", help="any checkpoint ganlens loads (a training run's last.pt, a foreign file)")
    p.add_argument("--out", required=True, metavar="FILE", help="the exported .pt (card: FILE.json, samples: FILE.png)")
    p.add_argument("--half", action="store_true", help="store float weights as float16")
    p.add_argument("--training-command", metavar="TEXT",
                   help="record this training command (for runs whose checkpoints predate command recording)")
    p.add_argument("--note", metavar="TEXT", help="free text for the card (e.g. why this checkpoint was chosen)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = export(args.checkpoint, args.out, half=args.half, training_command=args.training_command, note=args.note)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), {out.stem}.json, {out.stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
