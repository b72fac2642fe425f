"""Regenerate the paper's figures and tables on one model, with a manifest and LaTeX snippets.

``python analyses/run_all.py`` (every figure) and ``python analyses/<key>.py`` (one) call :func:`main`. The
figures are those the registry names (``paper="module:NAME"`` on an analysis's line, in registry order): each
analysis declares its own :class:`~ganlens.core.latex.PaperFigure` (command, modest settings, captions) in
``ganlens/analyses/<name>/paper.py``. A run writes, into ``--out``, one sub-folder per figure, ``<snippet>.tex``
per PDF (``\\includegraphics`` plus a caption built from the saved JSON, paths starting with ``--tex-prefix``)
and ``manifest.json`` (files, the equivalent command, settings, seed, checkpoint sha256, ``numbers_sha256``:
the hash of the JSON without its volatile keys; ``--check`` runs twice or compares with an earlier folder).
The machinery lives in :mod:`ganlens.tools.paper`.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from ganlens import cli, registry
from ganlens.core.checkpoints import DEFAULT_CHECKPOINT
from ganlens.core.errors import GanlensError, NotApplicable
from ganlens.core.latex import (PaperFigure, figure_snippet, latex_comment, latex_escape, latex_path,
                                pdf_fonts, pdf_width_pt)
from ganlens.tools import paper as tool
from ganlens.tools.paper import options
from ganlens.tools.paper import (DEFAULT_BOXES, DEFAULT_OUT, FORMAT, MANIFEST_VOLATILE, REPO, SHARED_FLAGS,
                                 SKIPPED, VOLATILE_KEYS, Job, Run, canonical, command_for, compare, compare_runs,
                                 generate, numbers, numbers_sha256, run_figure)

Figure = PaperFigure  # the name paper.py used

# what tests, scripts and notebooks use as ganlens.paper.<name> (the machinery's and the LaTeX helpers' names)
__all__ = ["FIGURES", "main", "parser", "load_figures", "call_command", "Figure", "PaperFigure", "GanlensError",
           "NotApplicable", "figure_snippet", "latex_comment", "latex_escape", "latex_path", "pdf_fonts",
           "pdf_width_pt", "DEFAULT_BOXES", "DEFAULT_OUT", "FORMAT", "MANIFEST_VOLATILE", "REPO", "SHARED_FLAGS",
           "SKIPPED", "VOLATILE_KEYS", "Job", "Run", "canonical", "command_for", "compare", "compare_runs",
           "generate", "numbers", "numbers_sha256", "run_figure"]


def load_figures() -> dict[str, PaperFigure]:
    """{key: figure} of every registry entry with a ``paper`` field, in registry order. Only the registry's
    fixed ``module:NAME`` strings reach the import (never a flag or a file)."""
    out: dict[str, PaperFigure] = {}
    for entry in registry.ENTRIES:
        if not entry.paper:
            continue
        module, _, name = entry.paper.partition(":")
        fig = getattr(importlib.import_module(module), name)
        if not isinstance(fig, PaperFigure) or fig.key in out:
            raise GanlensError(f"registry entry {entry.name}: paper={entry.paper!r} is not a PaperFigure with a "
                               f"key of its own")
        out[fig.key] = fig
    return out


FIGURES: dict[str, PaperFigure] = load_figures()


def parser(only: str | None = None) -> cli.Parser:
    """The flags of ``analyses/run_all.py`` (``only=None``) or of ``analyses/<only>.py``."""
    p = cli.Parser(options.script(only), *options.describe(FIGURES, only))
    p.allow_abbrev = False  # per-figure scripts pass unknown flags on: --n must not be taken for --no-...
    p.add_common(out_default=DEFAULT_OUT)
    if not only or FIGURES[only].needs_boxes:
        p.add_argument("--boxes", metavar="FILE.json", help=options.boxes_help(FIGURES))
    p.add_argument("--tex-prefix", metavar="DIR/",
                   help="folder the snippets' \\includegraphics paths start with, as seen from your LaTeX main "
                        "file (default: the --out folder's name, for a main file next to that folder; '' for a "
                        "main file inside it)")
    p.add_argument("--check", nargs="?", const=True, metavar="DIR",
                   help="run everything a second time (or compare with the earlier output folder DIR) and report "
                        "whether the numbers (JSON without volatile keys) are identical; exit status 1 if not")
    if not only:
        p.add_argument("--only", nargs="+", choices=tuple(FIGURES), metavar="KEY",
                       help=f"run these only ({', '.join(FIGURES)}); the manifest keeps the others' entries")
        example = f", e.g. {options.example_args(FIGURES)}" if FIGURES else ""
        p.add_argument("--args", action="append", default=[], metavar='KEY="FLAGS"',
                       help=f"extra flags for one figure's command{example} (they win over the paper settings)")
    return p


def main(argv: list[str] | None = None, only: str | None = None) -> int:
    """``analyses/run_all.py`` (``only=None``) and the per-figure scripts (``only=KEY``)."""
    args, keys, extra = options.parse(parser(only), FIGURES, argv, only)
    out = Path(args.out)
    cli.check_out(out)
    check_dir = options.check_dir(args.check)
    tex_prefix = options.tex_prefix(args.tex_prefix, out)
    gan = cli.load_model(args, cli.device(args.device))  # a bad checkpoint (or --model) is one line now; loads once
    ck = gan.path if gan.path is not None else (DEFAULT_CHECKPOINT if not args.model else None)
    base = {"checkpoint": args.checkpoint, "model": args.model, "seed": args.seed, "device": args.device,
            "boxes": options.boxes(args), "gan": gan}
    return tool.run(FIGURES, keys, Job(out, tex_prefix, base, extra, call_command), ck, args.check, check_dir)


def call_command(mod, argv: list[str], gan, folder: Path) -> tuple[dict | None, int]:
    """The library call behind one figure: the command's flags parsed by its own parser, the model loaded
    once for all figures, the Result saved into ``folder``. Returns (its JSON, exit status)."""
    prog = getattr(mod, "PROG", mod.__name__)
    try:
        args = mod.parser().parse_args(argv)
        cli.seed_everything(args.seed)
        r = mod.from_args(args, gan)
        r.save(folder)
        return r.to_dict(), 0
    except SystemExit as e:  # argparse: a bad flag in --args (its one line is already printed)
        line = cli.user_code_error(e)  # or sys.exit() in the user's --model code
        if line is not None:
            print(f"{prog}: error: {line}", file=sys.stderr)
            return None, 1
        return None, e.code if isinstance(e.code, int) else 2
    except NotApplicable as e:   # e.g. dissection without a segmenter for this model: not a failure
        print(f"{prog}: skipped: {e}", file=sys.stderr)
        return None, SKIPPED
    except GanlensError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return None, 2
    except Exception as e:  # a bug in one command must not cost the other figures; show it in full
        line = cli.user_code_error(e)
        if line is not None:  # the user's --model code failed: one line, as the command says it
            print(f"{prog}: error: {line}", file=sys.stderr)
            return None, 1
        traceback.print_exc()
        print(f"{mod.__name__}: {type(e).__name__}: {e}", file=sys.stderr)
        return None, 1


def __getattr__(name: str):
    """Old names: the caption functions (``ganlens.paper.caption_walk``, ``probe_table``) live in each analysis's
    paper module now; a public function defined in one of the modules the registry names is found here too."""
    if not name.startswith("_"):
        for entry in registry.ENTRIES:
            module = sys.modules.get(entry.paper.partition(":")[0]) if entry.paper else None
            fn = getattr(module, name, None)
            if callable(fn) and getattr(fn, "__module__", None) == module.__name__:
                return fn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
