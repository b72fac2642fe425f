"""Wall time of the whole ``python -m ganlens.forget`` command, start-up included (target: <= 15 s on a
2-core CPU for the shipped model and box file).

Runs the command as a fresh process ``--repeats`` times and reports wall and CPU seconds (best and
median), the phases the command times itself (``forget.json`` -> ``seconds``), and two references
measured in the same job, so that a run on a loaded or different machine can be read as a ratio:
the start-up of a bare ``python -c "import torch, sklearn, matplotlib"`` and the time of one plain
``G(z)`` pass over the ``--n-eval`` latents (the unit the experiment is made of; it needs
``(3 + control draws) * n_eval + dose levels * dose_n * (1 + draws)`` such images, plus the detector).

    python benchmarks/forget_speed.py [--boxes annotations/windows.json] [--repeats 3] [-- extra flags]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall s, child CPU s, result) of one subprocess run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boxes", default="annotations/windows.json")
    ap.add_argument("--checkpoint", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="extra flags for the command (after --)")
    args = ap.parse_args()

    import_wall, import_cpu, _ = timed([sys.executable, "-c", "import torch, sklearn.linear_model, matplotlib.pyplot"])
    from ganlens import load
    m = load(args.checkpoint)
    G = m.G.to(memory_format=torch.channels_last)
    z = torch.randn(500, m.config.nz)
    with torch.inference_mode():
        G(z[:50])
        t = time.perf_counter()
        G(z)
        g_pass = time.perf_counter() - t
    print(f"machine: {torch.get_num_threads()} torch threads; reference: bare imports {import_wall:.2f} s wall, "
          f"one G pass over 500 latents {g_pass:.3f} s")

    walls, cpus, phases = [], [], None
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "ganlens.forget", "--boxes", args.boxes, "--checkpoint", args.checkpoint,
                   "--out", str(Path(tmp) / "out")] + args.extra
            wall, cpu, res = timed(cmd)
            if res.returncode:
                sys.exit(f"command failed ({res.returncode}): {res.stderr.strip()}")
            phases = json.loads((Path(tmp) / "out" / "forget.json").read_text())["seconds"]
        walls.append(wall)
        cpus.append(cpu)
        print(f"run {r + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU  | {res.stderr.strip().splitlines()[-1][:150]}")
    print(f"whole command: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s wall "
          f"(CPU {min(cpus):.2f} s); target <= 15 s")
    print(f"ratio to one G pass over 500 latents: {min(walls) / g_pass:.1f}x; start-up (bare imports) "
          f"{import_wall:.2f} s of it")
    print("phases of the last run (s): " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))


if __name__ == "__main__":
    main()
