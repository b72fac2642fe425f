"""Export a trained model for sharing: ``python -m ganlens.export runs/x/last.pt --out model.pt``.

Drops the optimiser state, optionally stores weights as float16 (half the size; the networks run in
float32 after loading), and writes beside the model a JSON card (config, provenance with the training
command, sizes, sha256) and a sample sheet (seeds 0..63 by the ``ganlens.load`` seed rule). This is how
the shipped default model ``ganlens/default/rooms64.pt`` was made.

The exported file is ganlens's own format, which stores a ``DCGANConfig`` and rebuilds ganlens's DCGAN
classes from it. A checkpoint that ``ganlens.load`` reads into other networks (no config) cannot be
described that way and is refused with a one-line error; such a file is read by ``ganlens.load`` as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

from ganlens.core import checkpoints, figures
from ganlens import cli
from ganlens.core.generate import images

PROG = "python -m ganlens.export"
EXAMPLES = f"""  {PROG} runs/rooms64/last.pt --out ganlens/default/rooms64.pt --half
  {PROG} runs/celeba/ckpt_0005000.pt --out celeba64.pt
"""


def main(argv: list[str] | None = None) -> int:
    p = cli.Parser(PROG, "Export a checkpoint without optimiser state, with a model card and samples.", EXAMPLES)
    p.add_argument("checkpoint", help="any checkpoint ganlens loads (a training run's last.pt, a foreign file)")
    p.add_argument("--out", required=True, metavar="FILE", help="the exported .pt (card: FILE.json, samples: FILE.png)")
    p.add_argument("--half", action="store_true", help="store float weights as float16")
    p.add_argument("--training-command", metavar="TEXT",
                   help="record this training command (for runs whose checkpoints predate command recording)")
    p.add_argument("--note", metavar="TEXT", help="free text for the card (e.g. why this checkpoint was chosen)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".pt":
        raise cli.GanlensError(f"--out {out}: the exported file must end in .pt")
    folder = out.resolve().parent
    if not folder.is_dir():  # say which file could not be written, not which folder staged_output saw
        problem = f"{folder} is a file, not a folder" if folder.exists() else f"folder {folder} does not exist"
        raise cli.GanlensError(f"--out {out}: {problem}")
    if out.is_dir():
        raise cli.GanlensError(f"--out {out}: is a folder, expected a file name")
    source = checkpoints.DEFAULT_CHECKPOINT if args.checkpoint == "default" else Path(args.checkpoint)
    if out.exists() and source.exists() and os.path.samefile(source, out):
        raise cli.GanlensError(f"--out {out}: is the input checkpoint itself; export never replaces its input "
                               f"(the optimiser state would be lost); choose another file name")
    model = checkpoints.load(args.checkpoint)
    if model.config is None:  # the format rebuilds ganlens's own classes from a config; these nets have none
        nets = "/".join(type(n).__name__ for n in (model.G, model.D) if n is not None)
        raise cli.GanlensError(f"{args.checkpoint}: holds {nets} networks that are not ganlens's DCGAN classes "
                               f"({model.source}); export writes ganlens's own format, which only describes "
                               f"those (ganlens.load reads this file as it is)")
    prov = dict(model.provenance)
    if args.training_command:
        prov["command"] = args.training_command
    prov["exported"] = checkpoints.provenance(None, source=model.path.name, source_sha256=model.sha256,
                                              half=args.half)  # model.path: "default" resolved to the file
    with cli.staged_output(out.parent, explicit=(out.name,)) as stage:
        staged = checkpoints.save(stage / out.name, model.config, model.G, model.D, provenance=prov, half=args.half)
        if model.G is not None:
            samples = images(model, model.latents(range(64)))
            figures.save_grid_png(samples, stage / f"{out.stem}.png", nrow=8, scale=2)
        cli.write_json(stage / f"{out.stem}.json", {
            "file": out.name, "bytes": staged.stat().st_size, "sha256": checkpoints.file_sha256(staged),
            "config": model.config.to_dict(), "source": model.source, "provenance": prov,
            "samples": f"{out.stem}.png (seeds 0..63)" if model.G is not None else None,
            "note": args.note,
        })
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), {out.stem}.json, {out.stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
