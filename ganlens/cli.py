"""What every ``python -m ganlens.X`` entry point shares: argument parsing, one-line errors, devices,
and output folders that never hold half-written results."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import math
import re
import signal
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from ganlens.core.checkpoints import load, load_weights
from ganlens.core.devices import device  # noqa: F401 (cli.device: the one device rule)
from ganlens.core.errors import GanlensError, first_line
from ganlens.core.gan import GAN
from ganlens.core.gan import SEED_MAX  # one seed rule for every command and file
from ganlens.core.results import (OUT_ROOT, check_out, running_command, staged_output, write_json)  # noqa: F401 (re-exported)

MODEL_HELP = ("build the networks with your own code: FILE.py:FUNC or package.module:FUNC, where FUNC() returns "
              "ganlens.wrap(G=..., D=..., nz=...); --checkpoint weights, if given, are then loaded into them "
              "(weights_only=True). This RUNS THE PYTHON CODE YOU NAME, on purpose; nothing else in ganlens "
              "executes code from a file")


class Listed(Exception):
    """Raised after ``--layer list`` printed the layer table: the command ends with exit status 0."""


class Parser(argparse.ArgumentParser):
    """argparse with examples in the epilog and a one-line error (no usage block) for bad flags."""

    def __init__(self, prog: str, description: str, examples: str = ""):
        super().__init__(prog=prog, description=description,
                         epilog=("examples:\n" + examples) if examples else None,
                         formatter_class=argparse.RawDescriptionHelpFormatter)

    def parse_known_args(self, args=None, namespace=None):
        self._given = sys.argv[1:] if args is None else [str(a) for a in args]  # for error(): the spelling typed
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        m = re.match(r"argument ([^:]+): (must .*)$", message)
        if m:  # a range validator's message: "--points must be at least 2, got 1", naming the spelling typed
            names = m.group(1).split("/")
            typed = [n for n in names if any(a == n or a.startswith(n + "=") for a in getattr(self, "_given", ()))]
            message = f"{(typed or names)[0]} {m.group(2)}"
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def add_common(self, out_default: str | None = None, checkpoint: bool = True):
        """--checkpoint, --model, --device, --seed, --out: the flags every analysis takes."""
        if checkpoint:
            self.add_argument("--checkpoint", default="default", metavar="PATH",
                              help="ganlens or foreign GAN checkpoint (default: the shipped rooms model; with "
                                   "--model: weights for your networks, default none)")
            self.add_argument("--model", metavar="FILE.py:FUNC", help=MODEL_HELP)
        self.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
        self.add_argument("--seed", type=seed_value, default=0, help="random seed (default: 0)")
        if out_default is not None:
            self.add_argument("--out", default=out_default, metavar="DIR",
                              help=f"output folder (default: {out_default})")


# ------------------------------------------------------------------------------------- range validators

def at_least(low: int) -> Callable[[str], int]:
    """argparse ``type=``: an integer >= ``low`` ("must be at least 2, got 1" otherwise)."""
    def parse(text: str) -> int:
        v = int(text)  # a ValueError reads "argument --n: invalid int value: 'x'"
        if v < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {v}")
        return v
    parse.__name__ = "int"
    return parse


def number(low: float | None = None, high: float | None = None, *, open_low: bool = False,
           open_high: bool = False) -> Callable[[str], float]:
    """argparse ``type=``: a finite float within [low, high] (open ends with ``open_low``/``open_high``)."""
    def parse(text: str) -> float:
        v = float(text)  # a ValueError reads "argument --C: invalid float value: 'x'"
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if low is not None and (v <= low if open_low else v < low):
            raise argparse.ArgumentTypeError(f"must be {'above' if open_low else 'at least'} {low:g}, got {v:g}")
        if high is not None and (v >= high if open_high else v > high):
            raise argparse.ArgumentTypeError(f"must be {'below' if open_high else 'at most'} {high:g}, got {v:g}")
        return v
    parse.__name__ = "float"
    return parse




def seed_value(text: str) -> int:
    """argparse ``type=`` for seeds: an integer in 0 .. 2**63 - 1 (what torch.manual_seed takes)."""
    v = int(text)
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be in 0..2**63-1, got {v}")
    return v


seed_value.__name__ = "int"


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled like Ctrl-C, so every ``finally`` (staging folders, temp files) runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` inside the block (main thread only), as SIGINT raises
    KeyboardInterrupt; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _terminate) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(main: Callable[[list[str] | None], int | None], argv: list[str] | None, prog: str) -> int:
    """Call ``main(argv)`` and turn every expected failure into one line on stderr and an exit status:
    GanlensError (2), a file-system error such as a full disk, a name too long or a link loop (1, naming
    the path and the cause), Ctrl-C, SIGTERM and SIGHUP (130, 143, 129; cleanup runs first). Library
    warnings (matplotlib, scikit-learn, torch) are kept off stderr: a command prints only its own lines."""
    argv, debug = _debug_flag(argv)
    try:
        with running_command(None if argv is None else " ".join([prog] + [str(a) for a in argv])), \
                _signals(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return main(argv) or 0
    except Listed:
        return 0
    except SystemExit as e:  # argparse: --help (0) or a bad flag (2, its one line already printed)
        line = user_code_error(e)
        if line is None:
            return e.code if isinstance(e.code, int) else 2
        return _user_failed(prog, line, debug)
    except GanlensError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except Terminated as e:
        print(f"{prog}: stopped by {signal.Signals(e.signum).name}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the user's --model / --segmenter code failed: one line, exit 1
        line = user_code_error(e)
        if line is not None:
            return _user_failed(prog, line, debug)
        if not isinstance(e, OSError):
            raise  # a bug in ganlens itself keeps its traceback
        where = e.filename if e.filename is not None else "a file"  # the file system said no (ENOSPC, ...)
        print(f"{prog}: error: {where}: {e.strerror or e}", file=sys.stderr)
        return 1


DEBUG_FLAG = "--debug"  # taken by cli.run from every command line: full tracebacks of errors in user code


def _debug_flag(argv: list[str] | None) -> tuple[list[str] | None, bool]:
    """(argv without ``--debug``, whether it was there); for argv None, sys.argv is read and cleaned."""
    given = sys.argv[1:] if argv is None else list(argv)
    if DEBUG_FLAG not in given:
        return argv, False
    cleaned = [a for a in given if a != DEBUG_FLAG]
    if argv is None:
        sys.argv[1:] = cleaned
        return None, True
    return cleaned, True


def _user_failed(prog: str, line: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"{prog}: error: {line}" + ("" if debug else f" (run with {DEBUG_FLAG} for the traceback)"),
          file=sys.stderr)
    return 1


_USER_CODE: dict[str, str] = {}  # resolved file of user code (--model, --segmenter) -> the flag and spec


def user_code_error(e: BaseException) -> str | None:
    """One line for an exception raised inside user code named on the command line (the innermost frame in
    one of its files): "--model my.py:build: your code raised ValueError: ... (my.py, line 7, in forward)";
    None when no user code is in the traceback."""
    hit = None
    for frame in traceback.extract_tb(e.__traceback__):
        owner = _USER_CODE.get(str(Path(frame.filename).resolve())) if frame.filename else None
        if owner:
            hit = (owner, frame)
    if hit is None:
        return None
    owner, frame = hit
    what = (f"called sys.exit({e.code!r})" if isinstance(e, SystemExit)
            else f"raised {type(e).__name__}: {first_line(str(e))}" if first_line(str(e)) else f"raised {type(e).__name__}")
    return f"{owner}: your code {what} ({Path(frame.filename).name}, line {frame.lineno}, in {frame.name})"


def start(args):
    """The opening every analysis shares: check ``--out`` (before any work), pick ``--device``, seed
    everything with ``--seed``, load the model (``--checkpoint`` / ``--model``). Returns (device, GAN)."""
    if getattr(args, "out", None) is not None:
        check_out(args.out)
    dev = device(args.device)
    seed_everything(args.seed)
    return dev, load_model(args, dev)


def analysis_main(parser: Callable[[], "Parser"], run: Callable, summary: Callable,
                  early: Callable | None = None) -> Callable[[list[str] | None], int]:
    """The ``main(argv)`` of an analysis command, the one tail every analysis shares: parse the flags, start
    (:func:`start`: ``--out`` checked before any work, device, seed, model), run, save the Result, and print
    one line on stderr: the summary, what was written where, and the seconds taken.

    parser(): the command's :class:`Parser`; run(args, gan) -> Result; summary(args, result) -> str;
    early(args) -> str | None: a mode that needs no model (``forget --ratings``): when it returns a line, that
    line is printed and the command ends there."""
    def main(argv: list[str] | None = None) -> int:
        args = parser().parse_args(argv)
        t0 = time.perf_counter()
        line = early(args) if early is not None else None
        if line is None:
            _, gan = start(args)
            result = run(args, gan)
            written = result.save(args.out)
            line = (f"{summary(args, result)}; wrote {', '.join(p.name for p in written)} to {args.out} in "
                    f"{time.perf_counter() - t0:.1f} s")
        print(line, file=sys.stderr)
        return 0
    return main


def load_model(args, dev) -> "object":
    """The GAN named by ``--model`` (with ``--checkpoint`` weights) or by ``--checkpoint`` alone."""
    spec = getattr(args, "model", None)
    if not spec:
        return load(args.checkpoint, dev)
    gan = user_model(spec)
    if args.checkpoint not in (None, "default"):
        load_weights(gan, args.checkpoint)
    return gan.to(dev)


def user_model(spec: str, flag: str = "--model", accept: Callable[[object], str | None] | None = None):
    """Call FUNC of ``FILE.py:FUNC`` or ``package.module:FUNC`` and return the GAN it builds.

    This runs the user's own code, on purpose (``--model``'s help says so). It is the only place in
    ganlens that executes code named by a user. ``flag`` and ``accept`` serve the other flag that names user
    code on purpose (``dissect --segmenter``): errors name ``flag``, and FUNC's return value is checked by
    ``accept`` (a one-line problem, or None when fine) and returned as it is, instead of as a GAN.
    """
    where, sep, func = spec.rpartition(":")
    if not sep or not where or not func.isidentifier():
        raise GanlensError(f"{flag} {spec}: expected FILE.py:FUNC or package.module:FUNC")
    with _slow_notice(f"{flag} {spec}: importing {where}"):
        module = _import_user(where, flag, spec)
    fn = getattr(module, func, None)
    if not callable(fn):
        raise GanlensError(f"{flag} {spec}: {where} has no function {func}")
    try:
        with _slow_notice(f"{flag} {spec}: {func}()"):
            gan = fn()
    except GanlensError as e:
        raise GanlensError(f"{flag} {spec}: {e}")
    except (Exception, SystemExit) as e:  # noqa: BLE001 - sys.exit() in FUNC is an error, not the command's exit
        what = f"called sys.exit({e.code!r})" if isinstance(e, SystemExit) else f"raised {type(e).__name__}: {first_line(str(e))}"
        raise GanlensError(f"{flag} {spec}: {func}() {what}")
    if accept is not None:
        problem = accept(gan)
        if problem:
            raise GanlensError(f"{flag} {spec}: {func}() {problem}")
        return gan
    if not isinstance(gan, GAN):
        raise GanlensError(f"{flag} {spec}: {func}() returned {type(gan).__name__}; it must return "
                           f"ganlens.wrap(G=..., D=..., nz=...)")
    gan.source = f"{flag} {spec}"
    if gan.name == "in-memory":
        gan.name = func
    return gan


def _import_user(where: str, flag: str, spec: str):
    """The module of a FILE.py or package.module spec, its file remembered as user code (errors raised
    there later, inside an analysis, are one line: :func:`user_code_error`)."""
    try:
        if where.endswith(".py") or "/" in where or Path(where).is_file():
            path = Path(where)
            if not path.is_file():
                raise GanlensError(f"{flag} {spec}: no such file {path}")
            if path.suffix != ".py":
                raise GanlensError(f"{flag} {spec}: {path} is not a Python file (.py)")
            _USER_CODE[str(path.resolve())] = f"{flag} {spec}"
            name = f"ganlens_user_model_{abs(hash(str(path.resolve())))}"
            mod_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[name] = module
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
            if getattr(module, "__file__", None):
                _USER_CODE[str(Path(module.__file__).resolve())] = f"{flag} {spec}"
    except GanlensError:
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's file failed to import: say so in one line
        what = f"called sys.exit({e.code!r})" if isinstance(e, SystemExit) else f"{type(e).__name__}: {first_line(str(e))}"
        raise GanlensError(f"{flag} {spec}: importing {where} failed: {what}")
    return module


SLOW_NOTICE_S = 10.0  # user code running longer than this gets a line on stderr, so a hang is visible


@contextlib.contextmanager
def _slow_notice(what: str) -> Iterator[None]:
    """Say on stderr when ``what`` (user code) has run for SLOW_NOTICE_S seconds (Ctrl-C stops it)."""
    timer = threading.Timer(SLOW_NOTICE_S, lambda: print(f"{what} is still running after {SLOW_NOTICE_S:.0f} s "
                                                         f"(your code; Ctrl-C stops it)", file=sys.stderr))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def layer(gan, net: str, name: str, flag: str = "--layer", given: str | None = None):
    """A layer of ``gan``'s G or D for a command-line flag (a :class:`ganlens.layers.Layer`). The error names
    the flag and the value the user typed (``given``, when ``name`` is one item of a longer flag value).
    ``list`` prints the network's layer table and ends the command (exit status 0)."""
    if name == "list":
        who = "generator" if net == "G" else "discriminator"
        print(f"{who} layers of {gan.where}:\n{gan.layers(net).describe()}")
        raise Listed()
    try:
        return gan.layer(net, name)
    except GanlensError as e:
        raise GanlensError(f"{flag} {given or name}: {e}")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


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
