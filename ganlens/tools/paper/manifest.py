"""``manifest.json`` of a paper folder: per figure its files, command, flags, settings, seed, checkpoint sha256,
status and ``numbers_sha256``; the versions; and, apart (:data:`MANIFEST_VOLATILE`), the volatile parts."""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import shlex
import sys
from pathlib import Path

import matplotlib
import numpy
import torch

from ganlens.core.version import __version__
from ganlens.tools.paper.numbers import VOLATILE_KEYS, canonical

FORMAT = "ganlens.paper/1"
MANIFEST_VOLATILE = ("timing", "provenance", "check")      # top-level keys of manifest.json


def versions() -> dict:
    import sklearn  # a second of start-up; only the manifest needs its version
    return {"ganlens": __version__, "torch": str(torch.__version__), "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "matplotlib": matplotlib.__version__,
            "python": platform.python_version()}


def read(path: Path) -> dict | None:
    """An earlier manifest in the output folder (None if there is none, or not one of ours)."""
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and m.get("format") == FORMAT else None


def build(order: list[str], old: dict | None, entries: dict, seconds: dict, total: float, model: dict,
          base: dict, keys: list[str], check: dict | None) -> dict:
    """The manifest after running ``keys``: ``entries`` and ``seconds`` replace those of ``old``; figures in
    ``order`` (every figure the paper has); ``model``: {"path", "sha256"} of the checkpoint."""
    figs = dict((old or {}).get("figures", {}))
    figs.update(entries)
    figs = {k: figs[k] for k in order if k in figs}
    timing = dict((old or {}).get("timing", {}))
    per = {k: v for k, v in timing.get("figures", {}).items() if k not in entries}
    per.update(seconds)
    shas = {k: e["numbers_sha256"] for k, e in figs.items() if e.get("status") == "ok"}
    return {
        "format": FORMAT,
        "checkpoint": model,
        "seed": base["seed"],
        "device": base["device"],
        "versions": versions(),
        "figures": figs,
        "numbers_sha256": hashlib.sha256(canonical(shas)).hexdigest(),
        "volatile": {"figure_json_keys": list(VOLATILE_KEYS), "manifest_keys": list(MANIFEST_VOLATILE),
                     "rule": "numbers_sha256 = sha256 of the figure's JSON without figure_json_keys (sorted keys, "
                             "indent 2); everything else in a figure's JSON is identical between runs with the same "
                             "checkpoint, settings, seed and device on the same machine (CPU, thread count, "
                             "versions)"},
        "timing": {"total_seconds": total if set(keys) == set(order) else timing.get("total_seconds"),
                   "last_run_seconds": total, "last_run": keys, "figures": {k: per[k] for k in order if k in per}},
        "provenance": {"command": _command_line(), "date": datetime.datetime.now(datetime.timezone.utc)
                       .isoformat(timespec="seconds"), "platform": platform.platform(),
                       "torch_threads": torch.get_num_threads()},
        "check": check,
    }


def _command_line() -> str:
    return shlex.join(["python", Path(sys.argv[0]).as_posix() if sys.argv[0] else "python"] + sys.argv[1:])


def report(manifest: dict, keys: list[str], out: Path, check: dict | None) -> None:
    """One line per figure run, the manifest's hash, and the verdict of ``--check``, on stderr."""
    for k in keys:
        e = manifest["figures"][k]
        what = (f"{', '.join(e['tex'])} ({manifest['timing']['figures'].get(k, 0):.1f} s)" if e["status"] == "ok"
                else f"{e['status'].upper()}: {e['reason']}")
        print(f"{k:14s} {what}", file=sys.stderr)
    print(f"wrote {out}/manifest.json; numbers_sha256 {manifest['numbers_sha256'][:16]}; "
          f"{manifest['timing']['last_run_seconds']:.1f} s", file=sys.stderr)
    if check is not None:
        if check["identical"]:
            print(f"check: numbers identical ({check['against']})", file=sys.stderr)
        else:
            for k, v in check["figures"].items():
                if not v["identical"]:
                    print(f"check: {k} differs at {', '.join(v['differences'])}", file=sys.stderr)
            if not check["figures"]:
                print("check: nothing to compare", file=sys.stderr)
