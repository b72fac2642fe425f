"""What is compared between runs: a command's JSON without its volatile keys, hashed and diffed.

A command's JSON keeps what changes from run to run under the top-level keys :data:`VOLATILE_KEYS`
(``provenance``: command line and date; ``timing``: speeds; ``seconds``: forget's phase times). Everything else
is a result of (checkpoint, settings, seed, device) and identical between runs on one machine (CPU, thread
count, versions; another CPU may round the last digits differently, which ``--check DIR`` lists). ``.npz``
arrays and images are not compared: zip entries carry dates."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

VOLATILE_KEYS = ("provenance", "timing", "seconds")        # top-level keys of a command's JSON


def numbers(obj: dict) -> dict:
    """A command's JSON without its volatile top-level keys (:data:`VOLATILE_KEYS`)."""
    return {k: v for k, v in obj.items() if k not in VOLATILE_KEYS}


def canonical(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True).encode() + b"\n"


def numbers_sha256(obj: dict) -> str:
    return hashlib.sha256(canonical(numbers(obj))).hexdigest()


def compare(a, b, path: str = "", limit: int = 10) -> list[str]:
    """JSON paths (``rows[0].sharpness.pixel``) where two values differ, at most ``limit``."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                out.append(p + (" (only in the second)" if k not in a else " (only in the first)"))
            else:
                out += compare(a[k], b[k], p, limit - len(out))
            if len(out) >= limit:
                break
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += compare(x, y, f"{path}[{i}]", limit - len(out))
            if len(out) >= limit:
                break
    elif (a != b or type(a) is not type(b)) and not (isinstance(a, float) and isinstance(b, float)
                                                     and math.isnan(a) and math.isnan(b)):
        out.append(path or "(top)")
    return out[:limit]


def compare_runs(first: Path, second: Path, entries: dict) -> dict:
    """Compare the figure JSONs (volatile keys stripped) of two output folders."""
    out = {}
    for key, e in entries.items():
        if e["status"] != "ok":
            continue
        a, b = first / e["json"], second / e["json"]
        if not b.exists():
            out[key] = {"identical": False, "differences": [f"{b}: missing"]}
            continue
        ja, jb = numbers(json.loads(a.read_text())), numbers(json.loads(b.read_text()))
        diff = compare(ja, jb)
        out[key] = {"identical": not diff, "differences": diff}
    return out
