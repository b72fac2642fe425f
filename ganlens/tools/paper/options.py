"""The flags of ``analyses/run_all.py`` and of the per-figure scripts (``analyses/<key>.py``): their help, their
checks, and the extra flags of each figure's command. Built from the table of paper figures they are given
(no figure is named here); :func:`ganlens.paper.parser` puts them on the command's parser."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ganlens.core.errors import GanlensError
from ganlens.core.latex import PaperFigure, latex_path

DEFAULT_OUT = "paper"
DEFAULT_BOXES = "annotations/windows.json"                 # windows drawn on the shipped model
REPO = Path(__file__).resolve().parents[3]
SHARED_FLAGS = ("--checkpoint", "--model", "--out", "--seed", "--device", "--boxes")  # set once, for every figure


def script(only: str | None) -> str:
    return f"analyses/{only}.py" if only else "analyses/run_all.py"


def describe(figures: dict[str, PaperFigure], only: str | None) -> tuple[str, str]:
    """(description, examples) of the help: one figure's, or the whole paper's (keys from the table)."""
    s = script(only)
    if only:
        one = figures[only]
        desc = (f"{one.paper}: runs python -m {one.module} with the paper settings into OUT/{one.key}/, writes its "
                f"LaTeX snippet(s) and updates OUT/manifest.json. Flags not listed here go to python -m {one.module} "
                f"and override the paper settings.")
        return desc, (f"  python {s}\n  python {s} --checkpoint runs/rooms64/last.pt --out figs\n"
                      f"  python {s} --check                 # twice; are the numbers identical?\n")
    desc = ("Regenerate every paper figure and table on one model into one folder, with manifest.json and "
            "LaTeX snippets (\\input them).")
    examples = (f"  python {s}                          # the shipped model -> paper/\n"
                f"  python {s} --check                  # run twice: are the numbers identical?\n"
                f"  python {s} --check paper-old        # compare with an earlier folder instead\n"
                f"  python {s} --checkpoint runs/x/last.pt --boxes my_windows.json --out figs/x\n")
    if figures:
        examples += f"  python {s} --only {' '.join(list(figures)[:2])} --args {example_args(figures)}\n"
    return desc, examples


def example_args(figures: dict[str, PaperFigure]) -> str:
    """``KEY="FLAG VALUE"`` from the first figure's own first setting (an example for --args)."""
    fig = next(iter(figures.values()))
    return f'{fig.key}="{shlex.join(fig.args[:2])}"'


def boxes_help(figures: dict[str, PaperFigure]) -> str:
    which = ", ".join(f.key for f in figures.values() if f.needs_boxes) or "the figures that need one"
    return f"box file for {which} (default: {DEFAULT_BOXES} with the shipped model; skipped without one)"


def boxes(args) -> str | None:
    """The box file: --boxes, or the shipped one for the shipped model (None for any other model)."""
    if getattr(args, "boxes", None):
        return args.boxes
    if str(args.checkpoint) != "default" or getattr(args, "model", None):
        return None  # the shipped box file was drawn on the shipped model
    for candidate in (Path(DEFAULT_BOXES), REPO / DEFAULT_BOXES):
        if candidate.exists():
            return str(candidate)
    return DEFAULT_BOXES


def parse(p: argparse.ArgumentParser, figures: dict[str, PaperFigure], argv, only: str | None
          ) -> tuple[argparse.Namespace, list[str], dict[str, list[str]]]:
    """(flags, figure keys to run, {key: extra flags for its command}) from the parser ``p``."""
    if only:
        args, rest = p.parse_known_args(argv)
        return args, [only], {only: figure_flags(rest, "flags")}
    args = p.parse_args(argv)
    extra: dict[str, list[str]] = {}
    for item in args.args:
        key, eq, flags = item.partition("=")
        if not eq or key not in figures:
            raise GanlensError(f"--args {item!r}: expected KEY=\"FLAGS\" with KEY one of {', '.join(figures)}")
        try:
            words = shlex.split(flags)
        except ValueError as e:  # an unbalanced quote
            raise GanlensError(f"--args {item!r}: {e}; quote each flag's value once")
        extra[key] = extra.get(key, []) + figure_flags(words, f"--args {item!r}")
    return args, list(args.only or figures), extra


def figure_flags(words: list[str], where: str) -> list[str]:
    """A figure's extra flags, refused when they would make the manifest lie (a model, seed, device or
    folder other than the one every figure uses: give those to the script itself) or print help."""
    for w in words:
        name = w.split("=", 1)[0]
        if name in ("-h", "--help"):
            raise GanlensError(f"{where}: --help is not a figure flag; see python -m <module> --help")
        if name in SHARED_FLAGS:
            raise GanlensError(f"{where}: {name} is set once for every figure; give it to the script itself, "
                               f"not as a figure's flag")
    return words


def check_dir(check) -> Path | None:
    """``--check DIR``: the earlier output folder to compare with (None for --check alone or no --check)."""
    if not isinstance(check, str):
        return None
    folder = Path(check)
    if not (folder / "manifest.json").exists():
        raise GanlensError(f"--check {folder}: no manifest.json there (an earlier output folder of this script)")
    return folder


def tex_prefix(given: str | None, out: Path) -> str:
    """--tex-prefix as a folder ('' or ending in '/'), by default the --out folder's name (a main file beside
    it); one LaTeX cannot read fails now, not after the work."""
    prefix = given if given is not None else out.resolve().name
    prefix = (prefix.rstrip("/") + "/") if prefix not in ("", ".") else ""
    latex_path(prefix)
    return prefix
