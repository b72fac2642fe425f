"""What the in-process analysis benchmarks (forget_speed.py, dissect_speed.py) share: the two references
measured in the same job (a fresh interpreter's start-up, one plain G pass) and the timed repeats of
analysis + ``Result.save``, so that each script only says which analysis it runs and what its target is."""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks run as scripts from a checkout: import this ganlens
    sys.path.insert(0, str(ROOT))


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def startup(imports: str) -> float:
    """Wall seconds of a fresh interpreter running ``import <imports>`` (what the command pays first)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {imports}"], check=True, cwd=ROOT)
    return time.perf_counter() - t


def references(gan, n: int, imports: str, batch: int | None = None) -> tuple[float, float]:
    """(start-up seconds, seconds of one plain G pass over ``n`` latents), printed as one line."""
    from ganlens.core.generate import images
    start = startup(imports)
    z = gan.latents(range(n))
    images(gan, z[:50])  # warm-up
    kw = {} if batch is None else {"batch": batch}
    t = time.perf_counter()
    images(gan, z, **kw)
    g_pass = time.perf_counter() - t
    print(f"machine: {torch.get_num_threads()} torch threads; references: start-up {start:.2f} s wall, "
          f"one G pass over {n} latents {g_pass:.3f} s")
    return start, g_pass


def timed_runs(run: Callable[[], object], summary: Callable[[object], str], repeats: int, start: float,
               target: str) -> tuple[list[float], dict]:
    """Run ``run()`` (an analysis returning a Result) and save its Result ``repeats`` times; print each run and
    the best / median. Returns (wall seconds of each run, the last run's phases with save_and_figures)."""
    walls, cpus, phases = [], [], {}
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t, c = time.perf_counter(), cpu_seconds()
            result = run()
            t_saved = time.perf_counter()
            result.save(Path(tmp) / "out")
            wall, cpu = time.perf_counter() - t, cpu_seconds() - c
        phases = dict(result["seconds"], save_and_figures=round(t + wall - t_saved, 3))
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {r + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU  | {summary(result)[:160]}")
    print(f"analysis + save: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s wall "
          f"(CPU {min(cpus):.2f} s); whole command about {start + min(walls):.2f} s; target: {target}")
    return walls, phases


def print_phases(phases: dict) -> None:
    print("phases of the last run (s): " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
