"""Every analysis and the trainer once on CUDA and once on the CPU, with small settings: do they give the same
numbers, and how long does each take?

Each analysis runs as its command (``python -m ganlens.X ... --device D --out DIR``, a fresh process per run,
so the start-up is in the time) on the shipped model. The two JSON files are then compared leaf by leaf: every
number that is not a timing, a path or provenance must agree within ``rtol`` relative or ``atol`` absolute
(the analysis's row below says which), and every true/false verdict must be equal. Seeds make the two runs
comparable: latents are drawn on the CPU by the seed rule and moved to the device. What can still differ is
float32 arithmetic in another order (cuDNN / cuBLAS kernels, TF32 is off in ganlens), which moves values by
about 1e-6 relative and can flip a count at a threshold by one: a row passes when at least ``share`` of its
numbers agree and no verdict differs; the worst disagreements are printed.

The trainer is timed only (its CUDA path runs bf16 autocast and keeps the data on the GPU, so its losses are
not the CPU's): images per second on each device.

    python benchmarks/gpu_check.py                    # all of it; without CUDA, says so and runs the CPU side
    python benchmarks/gpu_check.py --only walk probe  # some (probe-windows: the probe with 4 classes;
                                                      # walk-memorization: the nearest-neighbour search)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Check:
    name: str                    # the ganlens.X module
    args: tuple[str, ...]        # small settings
    json: str                    # the JSON file it writes
    rtol: float = 1e-3
    atol: float = 1e-4
    share: float = 0.98          # of the numbers that must agree
    label: str = ""              # the row's name when one module has two rows (default: the module)

    @property
    def key(self) -> str:
        return self.label or self.name


CHECKS = [
    Check("walk", ("--rows", "2", "--points", "4", "--steps", "4"), "walk.json"),
    Check("walk", ("--rows", "2", "--points", "4", "--steps", "4", "--data", "rooms:n=2000,seed=0", "--samples", "64",
                   "--holdout", "64", "--cells", "4"), "walk.json", rtol=1e-3, atol=1e-4, share=0.95,
          label="walk-memorization"),
    Check("filters", ("--n-images", "500", "--random-draws", "2"), "filters.json"),
    Check("forget", ("--boxes", "annotations/windows.json", "--n-eval", "100", "--dose-n", "20",
                     "--control-draws", "2"), "forget.json", rtol=1e-2, atol=1e-3, share=0.95),
    Check("arith", ("--trials", "16",), "arith.json", rtol=1e-2, atol=1e-3, share=0.95),
    Check("probe", ("--data", "rooms:n=400,seed=1", "--splits", "2", "--random-draws", "2", "--no-cache"),
          "probe.json", rtol=1e-2, atol=5e-3, share=0.95),
    Check("probe", ("--data", "rooms:n=400,seed=1", "--task", "windows", "--splits", "2", "--random-draws", "2",
                    "--no-cache"), "probe.json", rtol=1e-2, atol=5e-3, share=0.95, label="probe-windows"),
    Check("dissect", ("--n", "200", "--n-eval", "100", "--dose-n", "20", "--control-draws", "2"), "dissect.json",
          rtol=1e-2, atol=1e-3, share=0.95),
    Check("invert", ("--n", "16", "--heldout", "auto", "--modes", "--steps", "12", "--starts", "2", "--draws", "200"),
          "invert.json", rtol=1e-2, atol=1e-3, share=0.9),
    Check("ganspace", ("--n", "500", "--draws", "4", "--samples", "8"), "ganspace.json", rtol=1e-2, atol=1e-3,
          share=0.95),
]
TRAIN_ARGS = ("--data", "rooms:n=2048,seed=0", "--image-size", "64", "--ngf", "64", "--ndf", "64",
              "--batch-size", "128", "--iters", "60", "--log-every", "20", "--ckpt-every", "1000")
SKIP_KEYS = ("seconds", "timing", "provenance", "per_second", "path", "checkpoint", "command", "device", "date",
             "file", "out", "cache", "sha256", "version")


def leaves(x, path=""):
    """(path, value) of every number and bool in a JSON value, skipping timings, paths and provenance."""
    if isinstance(x, dict):
        for k, v in x.items():
            if not any(s in k.lower() for s in SKIP_KEYS):
                yield from leaves(v, f"{path}/{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, f"{path}[{i}]")
    elif isinstance(x, (bool, int, float)) and x is not None:
        yield path, x


def compare(a: dict, b: dict, check: Check) -> tuple[bool, str]:
    """(passes, one-line summary with the worst disagreements) of two JSON results."""
    la, lb = dict(leaves(a)), dict(leaves(b))
    common = sorted(set(la) & set(lb))
    verdicts = [p for p in common if isinstance(la[p], bool) and la[p] != lb[p]]
    nums = [p for p in common if not isinstance(la[p], bool)]
    bad = []
    for p in nums:
        x, y = float(la[p]), float(lb[p])
        if not math.isclose(x, y, rel_tol=check.rtol, abs_tol=check.atol):
            bad.append((abs(x - y) / max(abs(x), abs(y), 1e-12), p, x, y))
    bad.sort(reverse=True)
    agree = 1 - len(bad) / max(1, len(nums))
    ok = agree >= check.share and not verdicts and set(la) == set(lb)
    worst = "; ".join(f"{p} {x:.6g} vs {y:.6g}" for _, p, x, y in bad[:3])
    text = (f"{len(nums)} numbers, {agree:.1%} within rtol {check.rtol:g} / atol {check.atol:g} (need "
            f"{check.share:.0%}); verdicts differing: {len(verdicts)}{' ' + str(verdicts[:3]) if verdicts else ''}"
            f"{'; keys differ' if set(la) != set(lb) else ''}{'; worst: ' + worst if worst else ''}")
    return ok, text


def run_command(module: str, args: tuple[str, ...], device: str, out: Path, timeout: float) -> tuple[float, str]:
    """(wall seconds, error or "") of ``python -m ganlens.<module> ... --device <device> --out <out>``."""
    cmd = [sys.executable, "-m", f"ganlens.{module}", *args, "--device", device, "--out", str(out)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    wall = time.perf_counter() - t
    err = proc.stderr.strip().splitlines()[-1] if proc.returncode else ""
    return wall, err


def check_analysis(check: Check, devices: list[str], tmp: Path, timeout: float) -> tuple[dict, str]:
    walls, results = {}, {}
    for dev in devices:
        walls[dev], err = run_command(check.name, check.args, dev, tmp / f"{check.key}-{dev}", timeout)
        if err:
            return walls, f"FAILED on {dev}: {err}"
        results[dev] = json.loads((tmp / f"{check.key}-{dev}" / check.json).read_text())
    if len(devices) < 2:
        return walls, "CPU only (no CUDA device)"
    ok, text = compare(results["cpu"], results["cuda"], check)
    return walls, ("ok: " if ok else "DIFFERS: ") + text


def train_speed(device: str, tmp: Path, timeout: float) -> str:
    out = tmp / f"train-{device}"
    wall, err = run_command("train", TRAIN_ARGS, device, out, timeout)
    if err:
        return f"FAILED: {err}"
    j = json.loads((out / "train.json").read_text())
    ips = j.get("images_per_second") or j.get("timing", {}).get("images_per_second")
    return f"{wall:.1f} s wall" + (f", {ips:.0f} img/s" if isinstance(ips, (int, float)) else "")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=[c.key for c in CHECKS] + ["train"])
    p.add_argument("--timeout", type=float, default=600, help="seconds per command (default: 600)")
    args = p.parse_args(argv)
    import torch
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    name = torch.cuda.get_device_name(0) if len(devices) > 1 else "none"
    print(f"CUDA device: {name}; torch {torch.__version__}; CPU threads {torch.get_num_threads()}")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        print("| analysis | " + " | ".join(f"{d} wall" for d in devices) + " | same numbers? |")
        print("|---|" + "---:|" * len(devices) + "---|")
        for check in CHECKS:
            if args.only and check.key not in args.only:
                continue
            walls, text = check_analysis(check, devices, Path(tmp), args.timeout)
            failed += text.startswith(("FAILED", "DIFFERS"))
            cells = " | ".join(f"{walls[d]:.1f} s" if d in walls else "-" for d in devices)
            print(f"| {check.key} | {cells} | {text} |", flush=True)
        if not args.only or "train" in args.only:
            cells = " | ".join(train_speed(d, Path(tmp), args.timeout) for d in devices)
            print(f"| train ({' '.join(TRAIN_ARGS[4:12])}, 60 iterations) | {cells} | timed only |")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
