"""Speed of ``ganlens.invert`` on the shipped model (targets: 256 64x64 images with default settings within
120 s on 2 CPU cores; an optimisation step at most 1.3x a bare forward + backward through G on the same batch).

Two measurements in this process:

* **Whole analysis**: ``ganlens.invert(gan, "rooms", n=256)`` with the command's defaults (100 Adam steps, 4
  starts pruned to the best after 25 steps, batch 64) followed by ``Result.save``, ``--repeats`` times, wall and
  CPU seconds, beside the references of ``analysis_timing`` (a fresh interpreter's start-up, one G pass).
* **Step ratio**: on one batch as the analysis runs it (64 images x 4 starts = 256 latents), the seconds of one
  inversion step (G forward, pixel loss, prior penalty, backward to z, Adam on z) against a bare
  ``G(z).square().mean().backward()`` with the same frozen G and the same latents requiring a gradient, and
  against that bare pass with G's weight gradients on (what training pays). Steps are interleaved
  (bare, step, bare, ...) so that load on a shared machine hits both alike; medians are compared.

    python benchmarks/invert_speed.py [--repeats 1] [--threads 2] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_timing import cpu_seconds, references  # noqa: E402

import torch  # noqa: E402

import ganlens  # noqa: E402
from ganlens.analyses.invert import reconstruct as core  # noqa: E402
from ganlens.data.sets import to_float  # noqa: E402
from ganlens.data.training import open_data  # noqa: E402


def step_ratio(gan, steps: int) -> dict:
    """Median seconds of one inversion step vs a bare forward + backward of G on the same 256 latents."""
    s = core.Settings()
    spaces = core.Spaces(gan, None)
    x = to_float(open_data(gan, "rooms").chunk(0, s.batch)).repeat_interleave(s.starts, 0)
    G = gan.G.to(memory_format=torch.channels_last)
    z = torch.randn(len(x), gan.nz).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=s.lr)

    def bare():
        zin = gan.g_input(z).contiguous(memory_format=torch.channels_last)
        G(zin).square().mean().backward()

    def step():
        core._descend(gan, z, opt, 1, s, spaces, x, {})

    times = {"bare": [], "step": [], "bare_with_weight_grads": []}
    with core.frozen(G):
        for fn in (bare, step):  # warm-up
            fn()
        for _ in range(steps):
            for name, fn in (("bare", bare), ("step", step)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    for _ in range(max(3, steps // 4)):
        t = time.perf_counter()
        bare()
        times["bare_with_weight_grads"].append(time.perf_counter() - t)
    G.zero_grad(set_to_none=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {**med, "ratio": med["step"] / med["bare"],
            "ratio_vs_weight_grads": med["step"] / med["bare_with_weight_grads"], "batch": len(x)}


def whole(gan, repeats: int) -> list[float]:
    walls = []
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t, c = time.perf_counter(), cpu_seconds()
            res = ganlens.invert(gan, "rooms", n=256)
            res.save(Path(tmp) / "out")
            wall, cpu = time.perf_counter() - t, cpu_seconds() - c
        walls.append(wall)
        d = res["images"]["distance"]["pixel"]
        print(f"run {r + 1}: 256 images in {wall:.1f} s wall ({cpu:.1f} s CPU), analysis "
              f"{res['timing']['seconds']:.1f} s; median pixel RMS {d['median']:.4f}; target: within 120 s on 2 cores")
    return walls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="default")
    ap.add_argument("--repeats", type=int, default=1, help="runs of the whole analysis (0: the step ratio only)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20, help="timed steps of the step-ratio measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gan = ganlens.load(args.checkpoint)
    references(gan, 256, "ganlens.invert, matplotlib.pyplot, scipy.stats")
    r = step_ratio(gan, args.steps)
    print(f"one step on {r['batch']} latents: {r['step'] * 1e3:.1f} ms; bare forward+backward (frozen G) "
          f"{r['bare'] * 1e3:.1f} ms -> ratio {r['ratio']:.2f}x (target <= 1.3x); with G's weight gradients "
          f"{r['bare_with_weight_grads'] * 1e3:.1f} ms -> {r['ratio_vs_weight_grads']:.2f}x")
    walls = whole(gan, args.repeats)
    if walls:
        print(f"whole analysis + save: best {min(walls):.1f} s, median {statistics.median(walls):.1f} s")


if __name__ == "__main__":
    main()
