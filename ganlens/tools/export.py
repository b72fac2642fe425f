"""Export a trained model for sharing: :func:`export` writes ganlens's own format without the optimiser state
(float16 weights with ``half``), a JSON model card and a sample sheet (``python -m ganlens.export`` is the
command; what the card holds and which files can be exported: docs/methods.md, section "export")."""

from __future__ import annotations

import os
from pathlib import Path

from ganlens.core import checkpoints, figures
from ganlens.core.errors import GanlensError
from ganlens.core.generate import images
from ganlens.core.results import staged_output, write_json

N_SAMPLES = 64  # the sample sheet: seeds 0..63 by the ganlens.load seed rule, 8 per row


def check_out_file(out: Path, checkpoint: str | Path) -> None:
    """``out`` can become the exported file: a .pt name in an existing folder, not the input itself."""
    if out.suffix != ".pt":
        raise GanlensError(f"--out {out}: the exported file must end in .pt")
    folder = out.resolve().parent
    if not folder.is_dir():  # say which file could not be written, not which folder staged_output saw
        problem = f"{folder} is a file, not a folder" if folder.exists() else f"folder {folder} does not exist"
        raise GanlensError(f"--out {out}: {problem}")
    if out.is_dir():
        raise GanlensError(f"--out {out}: is a folder, expected a file name")
    source = checkpoints.DEFAULT_CHECKPOINT if str(checkpoint) == "default" else Path(checkpoint)
    if out.exists() and source.exists() and os.path.samefile(source, out):
        raise GanlensError(f"--out {out}: is the input checkpoint itself; export never replaces its input "
                           f"(the optimiser state would be lost); choose another file name")


def export(checkpoint: str | Path, out: str | Path, *, half: bool = False, training_command: str | None = None,
           note: str | None = None) -> Path:
    """Write ``out`` (.pt), ``out``.json (the model card) and ``out``.png (samples) from any checkpoint ganlens
    loads into its own DCGAN classes, all three at once (staged, then moved into place). Returns ``out``."""
    out = Path(out)
    check_out_file(out, checkpoint)
    model = checkpoints.load(checkpoint)
    if model.config is None:  # the format rebuilds ganlens's own classes from a config; these nets have none
        nets = "/".join(type(n).__name__ for n in (model.G, model.D) if n is not None)
        raise GanlensError(f"{checkpoint}: holds {nets} networks that are not ganlens's DCGAN classes "
                           f"({model.source}); export writes ganlens's own format, which only describes "
                           f"those (ganlens.load reads this file as it is)")
    prov = dict(model.provenance)
    if training_command:
        prov["command"] = training_command
    prov["exported"] = checkpoints.provenance(None, source=model.path.name, source_sha256=model.sha256,
                                              half=half)  # model.path: "default" resolved to the file
    with staged_output(out.parent, explicit=(out.name,)) as stage:
        staged = checkpoints.save(stage / out.name, model.config, model.G, model.D, provenance=prov, half=half)
        if model.G is not None:
            samples = images(model, model.latents(range(N_SAMPLES)))
            figures.save_grid_png(samples, stage / f"{out.stem}.png", nrow=8, scale=2)
        write_json(stage / f"{out.stem}.json", {
            "file": out.name, "bytes": staged.stat().st_size, "sha256": checkpoints.file_sha256(staged),
            "config": model.config.to_dict(), "source": model.source, "provenance": prov,
            "samples": f"{out.stem}.png (seeds 0..63)" if model.G is not None else None,
            "note": note,
        })
    return out
