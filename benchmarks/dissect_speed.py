"""Speed of ``ganlens.dissect`` on the shipped model (target: labels for every hidden layer over 1,000 samples plus
remove and insert for windows well under a minute on a 2-core CPU).

Calls ``ganlens.dissect(gan, boxes=annotations/windows.json, ...)`` in this process ``--repeats`` times, each
followed by ``Result.save`` (JSON, arrays and the five figures), and reports wall and CPU seconds (best and
median), the phases the analysis times itself (``r["seconds"]``: thresholds and IoU are the labels, then edits
and the agreement with forget's probe), and two references measured in the same job, so that a run on a loaded
or different machine reads as a ratio: the start-up of a fresh ``python -c "import ganlens.dissect, ..."`` and
one plain ``G(z)`` pass over ``--n`` latents. The labels need two such passes plus the segmenter; the edits
``(2 + 2 * control draws) * n_eval + dose levels * (1 + draws) * dose_n`` images.

    python benchmarks/dissect_speed.py [--repeats 3] [-- dissect flags, e.g. --n 2000]
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
from ganlens import cli, dissect  # noqa: E402
from ganlens.generate import images  # noqa: E402


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def startup() -> float:
    """Wall seconds of a fresh interpreter importing what the command imports."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ganlens.dissect, ganlens.detect, matplotlib.pyplot, scipy.stats"],
                   check=True, cwd=ROOT)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="flags of python -m ganlens.dissect (after --), e.g. --n 2000")
    args = ap.parse_args()
    flags = dissect.parser().parse_args(["--checkpoint", args.checkpoint, *args.extra])   # the command's parsing
    gan = ganlens.load(args.checkpoint, cli.device(flags.device))

    start = startup()
    z = gan.latents(range(flags.n))
    images(gan, z[:50])
    t = time.perf_counter()
    images(gan, z)
    g_pass = time.perf_counter() - t
    print(f"machine: {torch.get_num_threads()} torch threads; references: start-up {start:.2f} s wall, "
          f"one G pass over {flags.n} latents {g_pass:.3f} s")

    walls, cpus, phases = [], [], None
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t, c = time.perf_counter(), cpu_seconds()
            cli.seed_everything(flags.seed)
            result = dissect.from_args(flags, gan)
            t_saved = time.perf_counter()
            result.save(Path(tmp) / "out")
            wall, cpu = time.perf_counter() - t, cpu_seconds() - c
        phases = dict(result["seconds"], save_and_figures=round(t + wall - t_saved, 3))
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {r + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU  | {dissect.summary(result)[:160]}")
    labels = phases["thresholds"] + phases["iou"]
    print(f"analysis + save: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s wall "
          f"(CPU {min(cpus):.2f} s); whole command about {start + min(walls):.2f} s; target: well under 60 s")
    print(f"labels ({flags.n} samples, every layer) {labels:.2f} s = {labels / g_pass:.1f}x one G pass; "
          f"ratio of the whole analysis + save to one G pass: {min(walls) / g_pass:.1f}x")
    print("phases of the last run (s): " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))


if __name__ == "__main__":
    main()
