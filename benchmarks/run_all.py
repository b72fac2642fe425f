"""Run every benchmark in this folder that exists and print one summary table of their figures.

Each script runs in its own subprocess (``python benchmarks/NAME.py``, default settings unless given
with ``--args NAME="..."``); its standard output (the benchmarks print their results there, progress on stderr) goes into the
table, line by line. Missing scripts are listed as such; a script that fails shows its exit status and
last error line.

    python benchmarks/run_all.py
    python benchmarks/run_all.py --only train_throughput rooms_speed --args train_throughput="--batch 64"
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("train_throughput", "forget_speed", "dissect_speed", "walk_speed", "filters_speed", "probe_speed",
              "rooms_speed", "memory_scaling", "invert_speed")


def run(name: str, extra: list[str], timeout: float) -> tuple[str, float, list[str]]:
    """(status, seconds, output lines) of one benchmark script."""
    path = HERE / f"{name}.py"
    if not path.exists():
        return "missing", 0.0, []
    t = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(path), *extra], capture_output=True, text=True, timeout=timeout,
                              cwd=HERE.parent, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return "timeout", time.perf_counter() - t, lines_of(out) + [f"(stopped after {timeout:.0f} s)"]
    seconds = time.perf_counter() - t
    lines = lines_of(proc.stdout)
    if proc.returncode != 0:
        err = lines_of(proc.stderr)
        return f"exit {proc.returncode}", seconds, lines + [f"error: {err[-1] if err else '(no message)'}"]
    return "ok", seconds, lines


def lines_of(text: str) -> list[str]:
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n")[-1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run these only")
    p.add_argument("--args", action="append", default=[], metavar='NAME="FLAGS"',
                   help="extra flags for one benchmark, e.g. train_throughput=\"--batch 64\"")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark (default: 1800)")
    args = p.parse_args(argv)
    extra = {}
    for item in args.args:
        name, _, flags = item.partition("=")
        if name not in BENCHMARKS:
            p.error(f"--args {item!r}: unknown benchmark {name!r}")
        extra[name] = shlex.split(flags)
    rows = []
    for name in args.only or BENCHMARKS:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        status, seconds, lines = run(name, extra.get(name, []), args.timeout)
        rows.append((name, status, seconds, lines))
    print(f"{'benchmark':18s} {'status':8s} {'time':>7s}  output")
    for name, status, seconds, lines in rows:
        first = lines[0] if lines else ""
        print(f"{name:18s} {status:8s} {seconds:6.0f}s  {first}")
        for ln in lines[1:]:
            print(f"{'':18s} {'':8s} {'':7s}  {ln}")
    return 0 if all(s in ("ok", "missing") for _, s, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
