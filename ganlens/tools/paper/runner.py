"""Running one paper figure: its command's library call in this process (the model loaded once for all),
its results saved into a staging folder, its LaTeX snippets written from the saved JSON, its manifest entry.
How a command is called (its parser, seeding, the model) is the caller's: :attr:`Job.call`."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ganlens.core import results
from ganlens.core.latex import PaperFigure, figure_snippet, pdf_fonts
from ganlens.tools.paper.numbers import numbers_sha256

SKIPPED = -1  # Job.call's status for an analysis that does not apply to this model


class _Tee(io.TextIOBase):
    """stderr that is also remembered (the last error line of a failed command goes into the manifest)."""

    def __init__(self, stream):
        self.stream, self.buf = stream, io.StringIO()

    def write(self, s):
        self.stream.write(s)
        self.buf.write(s)
        return len(s)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False

    def last_line(self) -> str:
        lines = [ln.strip() for ln in re.split(r"[\r\n]", self.buf.getvalue()) if ln.strip()]
        return lines[-1] if lines else ""


@dataclass
class Job:
    """What every figure of one paper run shares."""

    out: Path                      # the output folder: paths in snippets and in the commands shown name it
    tex_prefix: str                # how \includegraphics paths start, as seen from the LaTeX main file
    base: dict                     # checkpoint, model, seed, device, boxes (the flags) and gan (the loaded model)
    extra: dict[str, list[str]]    # {figure key: the user's extra flags for its command}
    call: Callable                 # (command module, argv, gan, folder) -> (its JSON or None, exit status)


@dataclass
class Run:
    """What :func:`run_figure` hands back: the manifest entry and its volatile wall time."""

    entry: dict
    seconds: float
    result: dict | None = None


def command_for(fig: PaperFigure, base: dict, out: str, extra: list[str]) -> list[str]:
    """argv for ``fig``'s command: common flags, the figure's settings, then the user's extra flags (which win)."""
    argv = ["--seed", str(base["seed"]), "--device", str(base["device"])]
    if base.get("model"):
        argv = ["--model", str(base["model"])] + argv
    if not base.get("model") or str(base["checkpoint"]) != "default":
        argv = ["--checkpoint", str(base["checkpoint"])] + argv
    if fig.needs_boxes:
        argv = ["--boxes", str(base["boxes"])] + argv
    return argv + ["--out", out] + list(fig.args) + list(extra)


def _no_boxes(fig: PaperFigure, base: dict) -> str | None:
    """Why ``fig`` cannot run for want of a box file (None if it needs none or has one)."""
    if not fig.needs_boxes:
        return None
    boxes = base.get("boxes")
    if boxes is not None and Path(boxes).exists():
        return None
    where = "no box file for this checkpoint (pass --boxes)" if boxes is None else f"{boxes}: not found"
    return f"{where}; draw one with python -m ganlens.annotate"


def run_figure(fig: PaperFigure, stage: Path, job: Job) -> Run:
    """Run ``fig``'s command into ``stage/<key>`` and write its snippets into ``stage``; paths in snippets and
    commands name ``job.out`` (where the folder will be). Returns the manifest entry."""
    base, extra, final = job.base, job.extra.get(fig.key, []), job.out
    shown = command_for(fig, base, f"{final.as_posix().rstrip('/')}/{fig.key}", extra)
    command = shlex.join(["python", "-m", fig.module] + shown)
    entry = {"paper": fig.paper, "module": fig.module, "command": command, "args": list(fig.args) + list(extra),
             "seed": base["seed"], "folder": fig.key}
    reason = _no_boxes(fig, base)
    if reason is not None:
        entry.update(status="skipped", reason=reason)
        return Run(entry, 0.0)
    try:
        mod = importlib.import_module(fig.module)   # a name from the registry's fixed table, never user input
    except ImportError as e:
        entry.update(status="skipped", reason=f"{fig.module} is not available: {e}")
        return Run(entry, 0.0)
    print(f"[{fig.key}] {command}", file=sys.stderr, flush=True)
    tee = _Tee(sys.stderr)
    t0 = time.perf_counter()
    folder = stage / fig.key
    with contextlib.redirect_stderr(tee), results.running_command(command):
        result, code = job.call(mod, command_for(fig, base, str(folder), extra), base["gan"], folder)
    seconds = time.perf_counter() - t0
    if code != 0:
        shutil.rmtree(folder, ignore_errors=True)
        if code == SKIPPED:
            entry.update(status="skipped", reason=tee.last_line().split("skipped: ", 1)[-1])
            return Run(entry, 0.0)
        entry.update(status="failed", reason=tee.last_line() or f"exit status {code}")
        return Run(entry, seconds)
    _finish(entry, fig, stage, job.tex_prefix, result, command)
    return Run(entry, seconds, result)


def _finish(entry: dict, fig: PaperFigure, stage: Path, tex_prefix: str, result: dict, command: str) -> None:
    """Write ``fig``'s snippets (and table) into ``stage`` and complete its manifest ``entry``."""
    folder = stage / fig.key
    files = sorted(p.relative_to(stage).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.name != results.WRITTEN)
    source = f"{fig.key}/{fig.json}"
    tex = write_snippets(fig, stage, tex_prefix, result, source, command)
    entry.update(status="ok", json=source, files=files + sorted(tex), tex=sorted(tex),
                 settings=fig.settings(result), checkpoint_sha256=fig.sha256(result),
                 numbers_sha256=numbers_sha256(result))
    entry["fonts"] = {p: pdf_fonts(stage / p) for p in files if p.endswith(".pdf")}


def write_snippets(fig: PaperFigure, stage: Path, tex_prefix: str, result: dict, source: str,
                   command: str) -> list[str]:
    """``<snippet>.tex`` for each PDF of ``fig`` in ``stage/<key>`` (and ``<key>.tex`` for a table), captions
    built from ``result`` (the saved JSON). Returns the names written."""
    folder, tex = stage / fig.key, []
    for stem, name in fig.snippets.items():
        pdf = folder / f"{stem}.pdf"
        if not pdf.exists():
            continue
        include = f"{tex_prefix}{fig.key}/{stem}.pdf"
        label = f"fig:ganlens-{name.split('_', 1)[1].replace('_', '-')}"
        (stage / f"{name}.tex").write_text(figure_snippet(pdf, include, fig.captions[stem](result), label, source,
                                                          command))
        tex.append(f"{name}.tex")
    if fig.table is not None:
        (stage / f"{fig.key}.tex").write_text(fig.table(result, source, command))
        tex.append(f"{fig.key}.tex")
    return tex


def generate(figs: list[PaperFigure], stage: Path, job: Job) -> tuple[dict, dict]:
    """Run the figures ``figs`` into ``stage``. Returns ({key: entry}, {key: seconds})."""
    entries, seconds = {}, {}
    for fig in figs:
        r = run_figure(fig, stage, job)
        entries[fig.key] = r.entry
        if r.entry["status"] != "skipped":
            seconds[fig.key] = round(r.seconds, 2)
        if r.entry["status"] != "ok":
            print(f"[{fig.key}] {r.entry['status']}: {r.entry['reason']}", file=sys.stderr, flush=True)
    return entries, seconds
