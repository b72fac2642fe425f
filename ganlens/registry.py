"""Every ganlens command, listed once, and the ``ganlens`` console script that dispatches to them.

``COMMANDS`` is the one list of commands: the ``ganlens`` console script (``ganlens walk ...``), its help,
and the tests of bad input (``tests/test_bad_inputs.py``) iterate it, so a new command added here gets
them without another hand-written list.

``ganlens walk ...`` (the console script pip installs from ``[project.scripts]``) is the way to run ganlens
from a folder you do not trust (a data folder someone sent you): Python puts the script's own folder, not
the current folder, first on ``sys.path``. ``python -m ganlens.walk`` puts the *current folder* first, so a
``tqdm.py`` or ``torch.py`` lying there would be imported instead of the real package.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from ganlens import cli
from ganlens.core.version import __version__

PROG = "ganlens"


@dataclass(frozen=True)
class Command:
    """One entry: ``python -m ganlens.<name>`` and ``ganlens <name>``, and what else knows about it.

    out: what ``--out`` names ("folder" or "file"); checkpoint: it reads a checkpoint; model: it takes
    ``--model`` (user code); needs: the network it runs ("G", "D" or "" for none); data: it takes ``--data``;
    device: it takes ``--device``; analysis: ``ganlens.<name>(gan, ...)`` calls it (its module is callable);
    paper: ``module:NAME`` of its paper figure (a :class:`ganlens.core.latex.PaperFigure`), "" for none;
    command: False for an analysis with no command of its own (called by another, e.g. memorization);
    where: the module ``ganlens.<name>`` resolves to, when that is not ``ganlens.<name>`` itself;
    example: the flags (beyond --checkpoint, --out and --device) of a small, fast run on a tiny model, which
    the tests of bad input start from (``{boxes}`` and ``{segmenter}`` stand for a box file and a segmenter)."""

    name: str
    summary: str
    out: str = "folder"
    checkpoint: bool = True
    model: bool = True
    needs: str = "G"
    data: bool = False
    device: bool = True
    analysis: bool = False
    paper: str = ""
    command: bool = True
    where: str = ""
    example: str = ""

    @property
    def module(self) -> str:
        return self.where or f"ganlens.{self.name}"

    @property
    def prog(self) -> str:
        return f"python -m {self.module}"


ENTRIES: tuple[Command, ...] = (
    Command("train", "train a DCGAN (rooms, an image folder, .npz or LSUN)", checkpoint=False, model=False,
            needs="", data=True, analysis=True),
    Command("walk", "latent walks; with --data, nearest training images", data=True, analysis=True,
            example='--rows 1 --points 2 --steps 1',
            paper="ganlens.analyses.walk.paper:FIGURE"),
    Command("memorization", "nearest training images and the data-copying test (run by walk --data)",
            analysis=True, command=False, where="ganlens.analyses.memorization"),
    Command("filters", "what the discriminator's units respond to", needs="D", data=True, analysis=True,
            example='--data rooms:n=8 --n-images 8 --top 1 --units 1 --no-progress',
            paper="ganlens.analyses.filters.paper:FIGURE"),
    Command("forget", "remove an object by dropping generator feature maps (needs --boxes)", analysis=True,
            example='--boxes {boxes}',
            paper="ganlens.analyses.forget.paper:FIGURE"),
    Command("annotate", "an HTML page to draw boxes on samples", out="file"),
    Command("arith", "vector arithmetic on latents", analysis=True,
            example='--measure none --expr "A - B + C" --A 1,2 --B 3,4 --C 5,6',
            paper="ganlens.analyses.arith.paper:FIGURE"),
    Command("probe", "linear probe on the discriminator's features", needs="D", data=True, analysis=True,
            example='--data rooms:n=40 --no-cache',
            paper="ganlens.analyses.probe.paper:FIGURE"),
    Command("dissect", "GAN Dissection: unit labels, remove and insert (needs a segmenter)", analysis=True,
            example='--segmenter {segmenter} --n 8 --remove none --insert none',
            paper="ganlens.analyses.dissect.paper:FIGURE"),
    Command("invert", "GAN inversion: reconstructions, membership (--heldout) and mode dropping (--modes)",
            data=True, analysis=True,
            example='--data rooms:n=4 --n 2 --steps 1 --starts 1',
            paper="ganlens.analyses.invert.paper:FIGURE"),
    Command("ganspace", "GANSpace: PCA directions of a G layer, edits along them, against random ones", analysis=True, paper="ganlens.analyses.ganspace.paper:FIGURE", example="--n 64 --components 2 --draws 2 --samples 6 --show 1"),
    Command("detect", "rooms window detector: train it, or draw boxes on samples automatically", out="file",
            device=False),
    Command("export", "a checkpoint as a release file with its card (checkpoint: positional)", out="file",
            model=False, needs="", device=False),
    Command("rooms", "write the procedural rooms data set", checkpoint=False, model=False, needs="",
            device=False),
)
COMMANDS: dict[str, Command] = {c.name: c for c in ENTRIES if c.command}
ANALYSES: dict[str, str] = {c.name: c.module for c in ENTRIES if c.analysis}  # ganlens.<name> -> its module


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {c.name:<{width}}  {c.summary}" for c in COMMANDS.values())
    return (f"usage: {PROG} COMMAND [FLAGS]   ({PROG} COMMAND --help for its flags)\n\ncommands:\n{rows}\n\n"
            f"'{PROG} walk ...' is 'python -m ganlens.walk ...', but safe to run from a folder you do not trust "
            f"(it does not import Python files from the current folder).\n")


def main(argv: list[str] | None = None) -> int:
    """The ``ganlens`` console script: ``ganlens COMMAND [FLAGS]`` runs ``python -m ganlens.COMMAND``'s main
    through :func:`ganlens.cli.run` (one-line errors, the same exit statuses)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(), end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"{PROG} {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"{PROG}: error: unknown command {name!r}; one of {', '.join(COMMANDS)} (see {PROG} --help)",
              file=sys.stderr)
        return 2
    mod = importlib.import_module(COMMANDS[name].module)
    return cli.run(mod.main, rest, f"{PROG} {name}")  # argparse's exits (--help, a bad flag) included


def entry() -> None:
    """``[project.scripts]`` target."""
    raise SystemExit(main())
