"""Speed of the passes of ``python -m ganlens.filters`` over the data (images per second, one net).

Reports, for a 64x64 D with ndf=64 (the paper's width) and with the shipped model's size, the speed of
:func:`ganlens.filters.scan` (what the command runs: float32 top-k plus each unit's quantile threshold, for
the semantic scores, over every unit of the layer) and of the top-k-only :func:`ganlens.filters.search_top` (bf16 screen) over in-memory
images, next to a reference run in the same
process: a bare ``D(x)`` forward over the same batches (so the ratio is the search's own overhead, and
holds on a machine shared with other jobs), plus the end-to-end speed on rendered ``rooms`` data.
Peak memory is reported for two search sizes to show that it does not grow with N.

    python benchmarks/filters_speed.py [--n 2048] [--device cpu]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

import ganlens
from ganlens import cli
from ganlens.core.checkpoints import DEFAULT_CHECKPOINT
from ganlens.data.sets import TensorSet, open_images, to_float
from ganlens.filters import CHUNK, _screen_bf16, scan, search_top
from ganlens.core.models import DCGANConfig, Discriminator

PILOT_NDF = 32  # width of the run that trains the shipped model, used while rooms64.pt does not exist yet


def bare_forward(D, images, dev, chunk=CHUNK) -> float:
    t = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(images), chunk):
            D(to_float(images[s:s + chunk].to(dev)).contiguous(memory_format=torch.channels_last))
    return len(images) / (time.perf_counter() - t)


def search(D, data, n, dev, bf16=None) -> float:
    t = time.perf_counter()
    search_top({"D": D}, "last", data, list(range(6)), 4, n, dev, progress=False, bf16=bf16)
    return n / (time.perf_counter() - t)


def scan_speed(D, data, n, dev) -> float:
    """The command's pass: every unit of the layer (it scores all of them)."""
    channels = ganlens.wrap(D=D, nz=None, image_shape=tuple(data[0].shape)).layer("D", "last").channels
    t = time.perf_counter()
    scan({"D": D}, "last", data, list(range(channels)), 4, n, dev, progress=False)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048, help="images per timed search (default: 2048)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = cli.device(args.device)
    torch.manual_seed(0)
    # (D, nc, image size) per row: a paper-width D, then the shipped model's own D (any network works)
    wide = Discriminator(DCGANConfig(ndf=64))
    if DEFAULT_CHECKPOINT.exists():
        gan = ganlens.load(DEFAULT_CHECKPOINT)
        shipped, label = (gan.D, gan.nc, gan.image_size), "shipped rooms64.pt"
    else:
        shipped, label = (Discriminator(DCGANConfig(ndf=PILOT_NDF)), 3, 64), f"shipped size (ndf={PILOT_NDF}, not built yet)"
    print(f"device {dev}, {torch.get_num_threads()} threads, N={args.n}, batch {CHUNK}, "
          f"bf16 screen: {_screen_bf16(dev)}")
    for name, (D, nc, size) in (("ndf=64, 64x64", (wide, 3, 64)), (label, shipped)):
        D = D.eval().requires_grad_(False).to(dev, memory_format=torch.channels_last)
        images = torch.randint(0, 256, (args.n, nc, size, size), dtype=torch.uint8)
        data = TensorSet(images, "random uint8")
        search(D, data, CHUNK, dev)  # warm-up
        ref = bare_forward(D, images, dev)
        got = search(D, data, args.n, dev)
        f32 = search(D, data, args.n, dev, bf16=False)
        ref = (ref + bare_forward(D, images, dev)) / 2
        full = scan_speed(D, data, args.n, dev)
        print(f"{name:48s} scan (the command) {full:6.1f} img/s | search {got:6.1f} img/s (float32 only: "
              f"{f32:6.1f}) | bare float32 D forward {ref:6.1f} img/s | ratio scan/bare {full / ref:.2f}")
    D, nc, size = shipped
    rooms = open_images(f"rooms:n={args.n}", size, nc)
    got = search(D, rooms, args.n, dev)
    print(f"{'same, rooms rendered on the fly':48s} search {got:7.1f} img/s (end to end, one net)")
    # Streaming rooms data: peak memory after a 4x larger search should not grow.
    for n in (args.n // 4, args.n):
        search(D, open_images(f"rooms:n={n},seed=1", size, nc), n, dev)
        print(f"peak RSS after searching N={n:6d} rooms: "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
