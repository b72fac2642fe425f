"""Rendering speed of ganlens.rooms on one core, for sizes 32, 64 and 128.

Reports images/s from process CPU time (robust when other jobs share the machine) and from wall time,
best of several repeats, plus the ratio to 64x64 so runs on different machines compare.

    python benchmarks/rooms_speed.py [--n 300] [--repeats 7]
"""

import argparse
import time

import cv2
import torch

from ganlens.data.rooms import make_rooms


def measure(size: int, n: int, repeats: int) -> tuple[float, float]:
    """Best images/s over ``repeats`` calls of make_rooms(n, size): (by CPU time, by wall time)."""
    make_rooms(20, size)  # warm caches (lru grids, cv2 dispatch)
    cpu, wall = float("inf"), float("inf")
    for r in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        make_rooms(n, size, seed=1, start=r * n)
        cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
    return n / cpu, n / wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=300, help="images per repeat")
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    rates = {s: measure(s, args.n, args.repeats) for s in (32, 64, 128)}
    print(f"{'size':>5} {'img/s (cpu)':>12} {'img/s (wall)':>13} {'vs 64':>6}")
    for s, (cpu, wall) in rates.items():
        print(f"{s:>5} {cpu:>12.0f} {wall:>13.0f} {cpu / rates[64][0]:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
