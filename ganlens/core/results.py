"""What every analysis returns, and the one way files are written.

An analysis is a plain function (GAN + inputs + settings in) that returns a :class:`Result`:

    r = ganlens.walk(gan, rows=2)
    r.to_dict()         # exactly the JSON the command writes
    r.figure()          # a matplotlib Figure (the first figure; r.figure("neighbours") for another)
    r.save("out/walk")  # JSON first, then arrays (.npz) and figures drawn from what was saved, atomically

Every JSON carries the same ``provenance`` block (:func:`provenance`): the model (checkpoint path and
sha256, or "in-memory"), the command line or the Python call, the seed, versions and date.

Files: :func:`atomic_write` (one file: temp file in the same folder, fsync, rename) and
:func:`staged_output` (a folder of results: written beside ``out``, moved in only when complete).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from ganlens.core.errors import GanlensError
from ganlens.core import figures
from ganlens.core.validate import kind
from ganlens.core.version import __version__

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # a source checkout (or site-packages)
OUT_ROOT = "ganlens-out"  # default outputs go to ganlens-out/<command>; a user's --out needs an existing parent
_COMMAND: list[str] = []  # set by cli.run while a command runs: provenance then records its command line


# --------------------------------------------------------------------------------------------- provenance

def command_line() -> str:
    """How this process was started, as a user would type it (``python -m ganlens.train --iters 10``)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    head = f"python -m {spec.name}" if spec is not None else (Path(sys.argv[0]).name if sys.argv[0] else "python")
    if head.endswith(".__main__"):
        head = head[: -len(".__main__")]
    return " ".join([head] + [shlex.quote(a) for a in sys.argv[1:]])


def provenance(gan=None, seed: int | None = None, call: str | None = None, **extra) -> dict:
    """Who made a result and how: the model (path + sha256, or "in-memory"), the command line (when a
    ``python -m ganlens.X`` command runs) or the Python call, seed, versions, date, plus ``extra``."""
    out = {
        "command": _COMMAND[-1] if _COMMAND else None,
        "call": None if _COMMAND else call,
        "seed": seed,
        "ganlens": __version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if gan is not None:
        out["model"] = gan.origin()
    out.update(extra)
    return out


def checkpoint_block(gan) -> dict:
    """Where the model came from, as walk.json and arith.json have always recorded it."""
    return {"path": str(gan.path) if gan.path is not None else "in-memory", "sha256": gan.sha256,
            "source": gan.source, "config": gan.config.to_dict() if hasattr(gan.config, "to_dict") else None,
            "trained_on": gan.provenance.get("data")}


@contextlib.contextmanager
def running_command(line: str | None = None) -> Iterator[None]:
    """Inside the block, :func:`provenance` records ``line`` (default: this process's command line)."""
    _COMMAND.append(line or command_line())
    try:
        yield
    finally:
        _COMMAND.pop()


# ------------------------------------------------------------------------------------------------- JSON

def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, (np.ndarray, torch.Tensor)):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj) -> str:
    """JSON with sorted keys and a trailing newline, so that equal numbers give byte-identical files.

    JSON has no NaN or infinity: a result holding one is an error (GanlensError naming where), never a
    file that other tools cannot read. Analyses write None where a number is undefined."""
    try:
        return json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=False) + "\n"
    except ValueError:
        where, value = _nonfinite(json.loads(json.dumps(obj, default=_json_default)))
        raise GanlensError(f"the result holds {value} at {where.lstrip('.')}, which JSON cannot store; an input or setting "
                           f"made a number overflow (e.g. a huge coefficient or value)")


def _nonfinite(obj, path: str = "") -> tuple[str, float] | tuple[None, None]:
    """(JSON path, value) of the first NaN or infinity in ``obj``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return path or "(top)", obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        found = _nonfinite(v, f"{path}.{k}" if isinstance(k, str) else f"{path}[{k}]")
        if found[0] is not None:
            return found
    return None, None


def write_json(path: str | Path, obj) -> None:
    """:func:`dumps` into ``path`` (atomically)."""
    atomic_write(path, dumps(obj))


def atomic_write(path: str | Path, data: str | bytes | Callable[[io.BufferedWriter], None], mode: int | None = None) -> Path:
    """Write a file so that a reader never sees it half-written: a temp file in the same folder, fsync,
    rename. ``data``: text, bytes, or a function that writes into the open binary file. A failure leaves
    the previous file (if any) in place and no temp file behind."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o666 & ~umask) if mode is None else mode)  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (a checkpoint must survive a power cut)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


# ---------------------------------------------------------------------------------------------- folders

def check_out(out: str | Path) -> None:
    """Raise a one-line GanlensError now if ``out`` cannot become an output folder.

    Commands call this right after parsing, so a mistyped --out fails before minutes of work, not after;
    :func:`staged_output` checks again when it starts. An empty --out, and one that resolves to the root
    folder, the home folder or the ganlens project itself, is refused: results go into a folder of their own.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise GanlensError(f"out must be a folder path (str or pathlib.Path), got {kind(out)}")
    if str(out).strip() == "":
        raise GanlensError("--out is empty; name a folder for the results (e.g. --out results)")
    out = Path(out)
    resolved = out.resolve()
    for name, folder in (("the root folder", Path("/")), ("your home folder", Path.home()),
                         ("the ganlens project folder", PROJECT_ROOT)):
        if resolved == folder.resolve():
            raise GanlensError(f"--out {out}: is {name} ({resolved}); results go into a folder of their own, "
                               f"e.g. --out {out / 'results'}")
    _check_parent(out)


def _check_parent(out: Path) -> None:
    if out.parent == Path(OUT_ROOT) and not out.parent.exists():  # made on demand by staged_output
        return
    parent = out.resolve().parent
    if not parent.exists():
        raise GanlensError(f"--out {out}: parent folder {parent} does not exist")
    if not parent.is_dir():
        raise GanlensError(f"--out {out}: {parent} is a file, not a folder")
    if out.exists() and not out.is_dir():
        raise GanlensError(f"--out {out}: exists and is not a folder")


# ------------------------------------------------------------- what ganlens wrote (and may replace)

WRITTEN = ".ganlens-written.json"   # in every output folder: the names ganlens put there
WRITTEN_FORMAT = "ganlens-written/1"


def written(folder: str | Path) -> set[str]:
    """Names (files and folders directly in ``folder``) that ganlens wrote there, from its record
    (:data:`WRITTEN`). A missing or damaged record means none: nothing is then replaced or deleted."""
    try:
        obj = json.loads((Path(folder) / WRITTEN).read_text())
    except (OSError, ValueError):
        return set()
    names = obj.get("names") if isinstance(obj, dict) and obj.get("format") == WRITTEN_FORMAT else None
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def record_written(folder: str | Path, add=(), drop=()) -> None:
    """Add ``add`` to (and remove ``drop`` from) ``folder``'s record of the names ganlens wrote there."""
    names = (written(folder) | set(add)) - set(drop)
    atomic_write(Path(folder) / WRITTEN, dumps({"format": WRITTEN_FORMAT, "names": sorted(names),
                                                "note": "names ganlens wrote in this folder; ganlens replaces or "
                                                        "deletes only these"}))


def not_ours(folder: str | Path, names, explicit=()) -> list[str]:
    """Those of ``names`` that exist in ``folder`` but were not written by ganlens (nor named by the user
    on the command line: ``explicit``)."""
    folder = Path(folder)
    ours = written(folder) | set(explicit)
    return sorted(n for n in names if n not in ours and ((folder / n).exists() or (folder / n).is_symlink()))


def refuse_taken(folder: str | Path, names, what: str = "--out", explicit=()) -> None:
    """GanlensError (one line) when a name ganlens needs in ``folder`` is taken by something it did not write."""
    taken = not_ours(folder, names, explicit)
    if taken:
        shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
        raise GanlensError(f"{what} {folder}: already holds {shown}, which ganlens did not write there; ganlens "
                           f"replaces only its own results: move {'them' if len(taken) > 1 else 'it'} away or "
                           f"use another {what}")


@contextlib.contextmanager
def folder_lock(folder: str | Path, wait: bool = True, what: str = "--out") -> Iterator[None]:
    """An exclusive fcntl lock on the folder itself (no lock file): ``wait=False`` refuses at once with a
    one-line GanlensError when another process holds it."""
    import fcntl
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise GanlensError(f"{what} {folder}: another ganlens command is writing this folder right now; "
                               f"wait for it to finish or use another {what}")
        yield
    finally:
        os.close(fd)  # releases the lock


STAGE_PREFIX = ".ganlens-stage-"


@contextlib.contextmanager
def staged_output(out: str | Path, explicit=(), exclusive: bool = False) -> Iterator[Path]:
    """Write results into a hidden staging folder inside ``out``; move them into ``out`` only on success.

    An error part-way (bad input found late, Ctrl-C, SIGTERM) leaves ``out`` as it was: no half-written
    files, and a folder ``out`` that did not exist before is removed again. Staging inside ``out`` (not
    beside it) means a writable ``out`` in a read-only parent works, and the final renames never cross a
    mount point. Staging folders left by a process that was killed (SIGKILL) are removed the next time.
    Yields the staging folder; the caller writes plain files (and sub-folders) into it.

    Only what ganlens wrote is replaced: every target name is checked before anything moves (a name
    held by something ganlens did not write, see :func:`written`, or a file where a folder goes, stops the
    whole move with one line), and the names moved in are recorded in ``out``'s :data:`WRITTEN`.
    ``explicit``: file names the user typed (``export --out model.pt``), which may be replaced. The move
    holds ``out``'s :func:`folder_lock`; ``exclusive`` holds it for the whole block and refuses a second
    writer at once (``analyses/run_all.py``, whose manifest merges with the folder's earlier one).
    """
    out = Path(out)
    if out.parent == Path(OUT_ROOT):  # the default folders (ganlens-out/walk, ...) work on a fresh checkout
        out.parent.mkdir(exist_ok=True)
    _check_parent(out)
    created = not out.exists()
    try:
        out.mkdir(exist_ok=True)
    except OSError as e:
        raise GanlensError(f"--out {out}: cannot write there: {e.strerror or e}")
    ok = False
    try:
        with contextlib.ExitStack() as held:
            if exclusive:
                held.enter_context(folder_lock(out, wait=False))
            try:
                remove_stale_stages(out)
                stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-", dir=out))
            except OSError as e:
                raise GanlensError(f"--out {out}: cannot write there: {e.strerror or e}")
            try:
                yield stage  # an error from the body (OSError included) propagates as it is, not as "--out"'s
                with contextlib.ExitStack() as move:
                    if not exclusive:
                        move.enter_context(folder_lock(out))
                    _move_in(stage, out, explicit)
                ok = True
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    finally:
        if created and not ok:
            try:
                out.rmdir()  # only if empty: never removes anything that was there
            except OSError:
                pass


def _move_in(stage: Path, out: Path, explicit=()) -> None:
    """Move everything in ``stage`` into ``out``, all targets checked first (see :func:`staged_output`)."""
    items = sorted(stage.iterdir())
    refuse_taken(out, [i.name for i in items], explicit=explicit)
    for item in items:
        target = out / item.name
        if target.exists() and target.is_dir() != item.is_dir():
            raise GanlensError(f"--out {out}: {item.name} there is a {'folder' if target.is_dir() else 'file'}, "
                               f"but this result writes a {'folder' if item.is_dir() else 'file'} of that name; "
                               f"nothing was moved in; remove it or use another --out")
    try:
        record_written(out, [i.name for i in items])  # first: a crash part-way leaves no unrecorded result
        trash = stage / ".replaced"
        trash.mkdir()
        for item in items:
            target = out / item.name
            if target.is_dir() and not target.is_symlink():
                os.replace(target, trash / item.name)  # the old folder goes in one rename, the new one in another
            os.replace(item, target)
    except OSError as e:
        raise GanlensError(f"--out {out}: cannot write: {e.strerror or e}")


def remove_stale_stages(folder: Path) -> list[Path]:
    """Remove staging folders in ``folder`` whose process is gone (killed before it could clean up)."""
    removed = []
    for p in folder.glob(f"{STAGE_PREFIX}*"):
        pid = p.name[len(STAGE_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----------------------------------------------------------------------------------------------- Result

Plot = Callable[[dict, dict], "object"]          # (JSON dict, arrays) -> matplotlib Figure
Writer = Callable[[dict, dict, Path], None]      # (JSON dict, arrays, file path) -> writes one extra file


class Result:
    """Numbers (``data``, exactly the JSON), the arrays figures need, and how to draw them.

    kind: the analysis ("walk"): files are ``<kind>.json`` and ``<kind>.npz``. plots: {stem: function
    (data, arrays) -> Figure}, the first is :meth:`figure`'s default. files: {file name: function
    (data, arrays, path)} for other outputs (a video). Figures are always drawn from what was saved:
    :meth:`save` writes the JSON and arrays, reads them back, then draws.
    """

    def __init__(self, kind: str, data: dict, arrays: dict | None = None, plots: dict[str, Plot] | None = None,
                 files: dict[str, Writer] | None = None):
        self.kind, self.data, self.arrays = kind, data, dict(arrays or {})
        self.plots, self.files = dict(plots or {}), dict(files or {})

    def __repr__(self) -> str:
        keys = ", ".join(list(self.data)[:6])
        return f"<ganlens {self.kind} result: {keys}{', ...' if len(self.data) > 6 else ''}>"

    def __getitem__(self, key):
        return self.data[key]

    def to_dict(self) -> dict:
        """Exactly the JSON :meth:`save` writes, as plain Python objects."""
        return json.loads(dumps(self.data))

    def _saved_arrays(self) -> dict:
        if not self.arrays:
            return {}
        buf = io.BytesIO()
        np.savez(buf, **self.arrays)
        buf.seek(0)
        with np.load(buf, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def figure(self, name: str | None = None):
        """The matplotlib Figure ``name`` (default: the first) drawn from the JSON and arrays as saved."""
        if not self.plots:
            raise GanlensError(f"a {self.kind} result has no figure")
        name = name or next(iter(self.plots))
        if name not in self.plots:
            raise GanlensError(f"a {self.kind} result has no figure {name!r}; it has {', '.join(self.plots)}")
        return self.plots[name](self.to_dict(), self._saved_arrays())

    def save(self, out: str | Path) -> list[Path]:
        """Write ``<kind>.json``, ``<kind>.npz`` (when there are arrays), every figure (PDF + PNG) and
        extra file into the folder ``out``, atomically (a failure leaves ``out`` as it was). Returns the
        paths written."""
        check_out(out)  # before Path(): Path("") is "."
        out = Path(out)
        with staged_output(out) as stage:
            write_json(stage / f"{self.kind}.json", self.data)
            if self.arrays:
                np.savez_compressed(stage / f"{self.kind}.npz", **self.arrays)
            data = json.loads((stage / f"{self.kind}.json").read_text())
            arrays = {}
            if self.arrays:
                with np.load(stage / f"{self.kind}.npz", allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
            for stem, plot in self.plots.items():
                figures.save(plot(data, arrays), stage / stem)
            for name, writer in self.files.items():
                writer(data, arrays, stage / name)
            names = sorted(p.name for p in stage.iterdir())
        return [out / n for n in names]


def finite_or_none(x) -> float | None:
    """A float for the JSON, or None for NaN / infinity (JSON has no such numbers)."""
    x = float(x)
    return x if math.isfinite(x) else None
