"""What every ``python -m ganlens.X`` entry point shares: argument parsing, one-line errors, devices,
and output folders that never hold half-written results."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .errors import GanlensError


OUT_ROOT = "ganlens-out"  # default outputs go to ganlens-out/<command>; a user's --out needs an existing parent


class Parser(argparse.ArgumentParser):
    """argparse with examples in the epilog and a one-line error (no usage block) for bad flags."""

    def __init__(self, prog: str, description: str, examples: str = ""):
        super().__init__(prog=prog, description=description,
                         epilog=("examples:\n" + examples) if examples else None,
                         formatter_class=argparse.RawDescriptionHelpFormatter)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def add_common(self, out_default: str | None = None, checkpoint: bool = True):
        """--checkpoint, --device, --seed, --out: the flags every analysis takes."""
        if checkpoint:
            self.add_argument("--checkpoint", default="default", metavar="PATH",
                              help="ganlens or foreign DCGAN checkpoint (default: the shipped rooms model)")
        self.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
        self.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
        if out_default is not None:
            self.add_argument("--out", default=out_default, metavar="DIR",
                              help=f"output folder (default: {out_default})")


def run(main: Callable[[list[str] | None], int | None], argv: list[str] | None, prog: str) -> int:
    """Call ``main(argv)`` and turn GanlensError / KeyboardInterrupt into one line on stderr."""
    try:
        return main(argv) or 0
    except GanlensError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without CUDA is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise GanlensError(f"--device {name!r}: not a device; use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GanlensError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    if dev.type not in ("cpu", "cuda"):
        raise GanlensError(f"--device {name}: only cpu and cuda are supported")
    return dev


def start(args):
    """The opening every analysis shares: check ``--out`` (before any work), pick ``--device``, seed
    everything with ``--seed``, load ``--checkpoint``. Returns (device, LoadedModel)."""
    from .checkpoints import load

    check_out(args.out)
    dev = device(args.device)
    seed_everything(args.seed)
    return dev, load(args.checkpoint, dev)


def layer(net, name: str, flag: str = "--layer", given: str | None = None) -> str:
    """:func:`ganlens.models.resolve_layer` for a command-line flag: the error names the flag and the value
    the user typed (``given``, when ``name`` is one item of a longer flag value)."""
    from .models import resolve_layer

    try:
        return resolve_layer(net, name)
    except GanlensError as e:
        raise GanlensError(f"{flag} {given or name}: {e}")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def check_out(out: str | Path) -> None:
    """Raise a one-line GanlensError now if ``out`` cannot become an output folder.

    Commands call this right after parsing, so a mistyped --out fails before minutes of work, not after;
    :func:`staged_output` checks again when it starts.
    """
    out = Path(out)
    if out.parent == Path(OUT_ROOT) and not out.parent.exists():  # made on demand by staged_output
        return
    parent = out.resolve().parent
    if not parent.exists():
        raise GanlensError(f"--out {out}: parent folder {parent} does not exist")
    if not parent.is_dir():
        raise GanlensError(f"--out {out}: {parent} is a file, not a folder")
    if out.exists() and not out.is_dir():
        raise GanlensError(f"--out {out}: exists and is not a folder")


def check_file_out(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as an output *file* name (an HTML page, a box file), or a one-line GanlensError now."""
    path = Path(path)
    folder = path.resolve().parent
    if not folder.is_dir():
        problem = f"{folder} is a file, not a folder" if folder.exists() else f"folder {folder} does not exist"
        raise GanlensError(f"{flag} {path}: {problem}")
    if path.is_dir():
        raise GanlensError(f"{flag} {path}: is a folder, expected a file name")
    return path


@contextlib.contextmanager
def staged_output(out: str | Path) -> Iterator[Path]:
    """Write results into a temporary folder beside ``out``; move them into ``out`` only on success.

    An error part-way (bad input found late, Ctrl-C) leaves ``out`` as it was: no half-written files.
    Yields the staging folder; the caller writes plain files (and sub-folders) into it.
    """
    out = Path(out)
    if out.parent == Path(OUT_ROOT):  # the default folders (ganlens-out/walk, ...) work on a fresh checkout
        out.parent.mkdir(exist_ok=True)
    check_out(out)
    parent = out.resolve().parent
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as e:
        raise GanlensError(f"--out {out}: cannot write in {parent}: {e.strerror}")
    try:
        yield stage  # an error from the body (OSError included) propagates as it is, not as "--out"'s
        try:
            out.mkdir(exist_ok=True)
            for item in stage.iterdir():
                target = out / item.name
                if target.is_dir() and item.is_dir():
                    shutil.rmtree(target)
                os.replace(item, target)
        except OSError as e:
            raise GanlensError(f"--out {out}: cannot write: {e.strerror or e}")
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_json(path: str | Path, obj) -> None:
    """JSON with sorted keys and a trailing newline, so that equal numbers give byte-identical files."""
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
