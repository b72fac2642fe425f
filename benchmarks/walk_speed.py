"""Speed of ``python -m ganlens.walk``: the default command, and the nearest-neighbour search of --data.

1. **Default command**: wall and CPU seconds of ``python -m ganlens.walk`` in a subprocess, start-up
   included (target: <= 10 s on a 2-core CPU), on the shipped model (or ``--checkpoint``).
2. **Nearest-neighbour search** against ``--n`` rooms training images, with the default command's
   queries (512 samples + 512 held-out + 260 walk frames), in images/s: pixel space alone, and pixel +
   D-feature space. The reference run in the same process only streams (renders) the same rooms chunks,
   so ``search / stream`` is the share of the data rate the search keeps, which holds on a shared machine.
3. **Does the check catch a copier?** The memorization report on a generator that returns training
   images, the same images plus Gaussian noise (sigma 12/255) and blurred (``cv2.GaussianBlur``, sigma 1)
   (all expected: flagged; every space votes and the line says which flagged) and on the model's own
   samples (expected: not flagged), against the same images.

    python benchmarks/walk_speed.py [--n 2048] [--checkpoint PATH] [--device cpu] [--skip-command]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import cv2
import numpy as np
import torch

from ganlens import cli
from ganlens.analyses import memorization
from ganlens.core.checkpoints import DEFAULT_CHECKPOINT, load
from ganlens.data.sets import RoomsSet, iter_chunks
from ganlens.core.generate import images

PILOT = "/tmp/ganlens-tiny/last.pt"  # used while the shipped rooms64.pt does not exist yet


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def default_command(checkpoint: str, out: str) -> tuple[float, float]:
    """(wall s, CPU s) of the default walk command in a fresh interpreter."""
    c0, t0 = cpu_children(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "ganlens.walk", "--checkpoint", checkpoint, "--out", out, "--device", "cpu"],
                   check=True, capture_output=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    return time.perf_counter() - t0, cpu_children() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048, help="rooms training images searched (default: 2048)")
    ap.add_argument("--checkpoint", help="model (default: the shipped one, else the tiny dev checkpoint)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-command", action="store_true", help="do not time the default command")
    args = ap.parse_args()
    dev = cli.device(args.device)
    ckpt = args.checkpoint or (str(DEFAULT_CHECKPOINT) if DEFAULT_CHECKPOINT.exists() else PILOT)
    model = load(ckpt, dev)
    size = model.image_size
    print(f"device {dev}, {torch.get_num_threads()} threads, checkpoint {ckpt} ({model.source}, {size}x{size})")

    if not args.skip_command:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            default_command(ckpt, f"{tmp}/warm")  # warm the file cache
            wall, cpu = default_command(ckpt, f"{tmp}/walk")
        print(f"default command: {wall:.1f} s wall, {cpu:.1f} s CPU (start-up included; target <= 10 s)")

    data = RoomsSet(args.n, size, seed=0)
    held = RoomsSet(args.n + 512, size, seed=0).chunk(args.n, args.n + 512)
    gen = images(model, model.latents(range(512)), uint8=True)
    walk = images(model, model.latents(range(1000, 1260)), uint8=True)
    queries_img = torch.cat([gen, held, walk])
    spaces = {"pixel": [memorization.pixel_space()]}
    if model.D is not None:
        spaces["pixel+feature"] = spaces["pixel"] + [memorization.feature_space(model)]

    t = time.perf_counter()
    for _ in iter_chunks(data, 512):
        pass
    stream = args.n / (time.perf_counter() - t)
    print(f"reference: streaming rooms alone {stream:.0f} img/s")
    for name, sp in spaces.items():
        queries = {s.name: memorization.embed_all(s, queries_img) for s in sp}
        found = memorization.search(data, sp, queries, progress=False)
        rate = found["images"] / found["seconds"]
        print(f"search {name:13s} {len(queries_img)} queries: {rate:.0f} img/s "
              f"({rate / stream:.2f} x streaming alone)")

    train = data.chunk(0, min(args.n, 2048))
    copies = train[torch.randint(0, len(train), (512,), generator=torch.Generator().manual_seed(0))]
    noisy = (copies.float() + 12 * torch.randn(copies.shape, generator=torch.Generator().manual_seed(1)))
    blurred = torch.from_numpy(np.stack([cv2.GaussianBlur(im, (0, 0), 1.0) for im in copies.permute(0, 2, 3, 1).numpy()]))
    for name, queries_set in (("copying generator", copies), ("noisy copies", noisy.round().clamp(0, 255).byte()),
                              ("blurred copies", blurred.permute(0, 3, 1, 2).contiguous()), ("model samples", gen)):
        res, _ = memorization.report(data, spaces[list(spaces)[-1]], queries_set, held, progress=False)
        nums = ", ".join(f"{s} copy fraction {e['copy_fraction']:.2f} C_T {e['data_copying']['C_T']:.1f}"
                         for s, e in res["spaces"].items())
        print(f"{name:18s}: {res['verdict']:24s} flagged by {'+'.join(res['flagged_by']) or '-':13s} ({nums})")

if __name__ == "__main__":
    main()
