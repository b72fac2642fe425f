"""Speed of ``ganlens.forget`` (the paper's Fig. 6) on the shipped model and box file (target: the whole
``python -m ganlens.forget`` command, start-up included, in <= 15 s on a 2-core CPU).

Calls ``ganlens.forget(gan, boxes, ...)`` in this process ``--repeats`` times, each followed by
``Result.save`` (JSON, arrays and the three figures), and reports wall and CPU seconds (best and median),
the phases the analysis times itself (``r["seconds"]``), and two references measured in the same job, so
that a run on a loaded or different machine can be read as a ratio: the start-up of a fresh
``python -c "import ganlens.forget, sklearn.linear_model, matplotlib.pyplot"`` (what the command pays
before its work) and one plain ``G(z)`` pass over ``--n-eval`` latents (the unit the experiment is made
of; it needs ``(2 + 2 * control draws) * n_eval`` images for the chosen and the other rule, plus
``dose levels * dose_n * (1 + draws)``, plus the cross-validated choice of k: ``candidates * (1 + draws)``
images of each annotated sample with boxes, plus the detector). Start-up + best (analysis + save) is the
whole command's time.

    python benchmarks/forget_speed.py [--boxes annotations/windows.json] [--repeats 3] [-- forget flags]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ganlens  # noqa: E402
from ganlens import cli, forget  # noqa: E402
from ganlens.generate import images  # noqa: E402


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def startup() -> float:
    """Wall seconds of a fresh interpreter importing what the command imports."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ganlens.forget, sklearn.linear_model, matplotlib.pyplot"],
                   check=True, cwd=ROOT)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boxes", default="annotations/windows.json")
    ap.add_argument("--checkpoint", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="flags of python -m ganlens.forget (after --), e.g. --n-eval 1000")
    args = ap.parse_args()
    flags = forget.parser().parse_args(["--boxes", args.boxes, *args.extra])   # the command's own parsing
    settings = {k: getattr(flags, k) for k in ("layer", "negatives_per_image", "C", "select", "top_k", "n", "n_eval",
                                               "dose_n", "fill", "control_draws", "folds", "seed")}

    start = startup()
    gan = ganlens.load(args.checkpoint, cli.device(flags.device))
    z = gan.latents(range(flags.n_eval))
    images(gan, z[:50])
    t = time.perf_counter()
    images(gan, z, batch=forget.BATCH)
    g_pass = time.perf_counter() - t
    print(f"machine: {torch.get_num_threads()} torch threads; references: start-up {start:.2f} s wall, "
          f"one G pass over {flags.n_eval} latents {g_pass:.3f} s")

    walls, cpus, phases = [], [], None
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t, c = time.perf_counter(), cpu_seconds()
            result = forget.forget(gan, ROOT / args.boxes, **settings)
            t_saved = time.perf_counter()
            result.save(Path(tmp) / "out")
            wall, cpu = time.perf_counter() - t, cpu_seconds() - c
        phases = dict(result["seconds"], save_and_figures=round(t + wall - t_saved, 3))
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {r + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU  | {forget.summary(result)[:150]}")
    print(f"analysis + save: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s wall "
          f"(CPU {min(cpus):.2f} s); whole command about {start + min(walls):.2f} s; target <= 15 s")
    print(f"ratio to one G pass over {flags.n_eval} latents: {min(walls) / g_pass:.1f}x")
    print("phases of the last run (s): " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))


if __name__ == "__main__":
    main()
