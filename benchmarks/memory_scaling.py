"""Peak memory of the analyses' streaming pattern does not grow with the dataset: 10k vs 100k rooms.

The nearest-neighbour search (walk, memorization) and the filters' top-k search both stream a dataset
with :func:`ganlens.data.iter_chunks` and run D over each chunk, keeping only a running result. This
script does exactly that, in a fresh subprocess per dataset size (so each peak is its own), keeping
the top-k images per channel of D's last block and each query's nearest neighbour in D's feature space,
and reports the process's peak RSS (``getrusage`` ru_maxrss). A baseline subprocess that builds the
same model and runs one chunk gives the fixed cost; ``--control`` adds a run that loads the whole set
first (``load_all``), to show what the measurement reports when memory does grow with N.

    python benchmarks/memory_scaling.py                       # rooms:n=10000 vs rooms:n=100000
    python benchmarks/memory_scaling.py --n 2000 20000 --control
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from ganlens.data.sets import iter_chunks, load_all, open_images, to_float
from ganlens.core.hooks import retain
from ganlens.core.models import DCGANConfig, Discriminator


def child(n: int, chunk: int, ndf: int, mode: str, k: int = 16, queries: int = 64) -> dict:
    """Stream rooms:n=N through D; return seconds and peak RSS (MiB)."""
    torch.manual_seed(0)
    D = Discriminator(DCGANConfig(ndf=ndf)).eval().to(memory_format=torch.channels_last)
    data = open_images(f"rooms:n={max(n, chunk)},seed=7", 64)
    q = torch.randn(queries, ndf * 8 * 16)  # stand-ins for the walk's query features (G(z) through D)
    top_val = torch.full((ndf * 8, 0), float("-inf"))
    top_idx = torch.zeros((ndf * 8, 0), dtype=torch.long)
    nn_dist = torch.full((queries,), float("inf"))
    nn_idx = torch.zeros(queries, dtype=torch.long)
    t = time.perf_counter()  # rendering included, in both modes
    if mode == "load_all":  # the non-streaming alternative: the whole set in memory first
        everything = load_all(data, n)
        chunks = ((s, everything[s:s + chunk]) for s in range(0, n, chunk))
    else:
        chunks = iter_chunks(data, chunk, n if n else chunk)
    with torch.inference_mode(), retain(D, "last") as acts:  # D's last hidden layer, by alias (any network)
        for start, batch in chunks:
            D(to_float(batch).contiguous(memory_format=torch.channels_last))
            feat = next(iter(acts.values()))  # (B, C, 4, 4)
            idx = torch.arange(start, start + len(batch))
            # filters: running top-k images per channel by mean activation
            score = feat.mean((2, 3)).T  # (C, B)
            vals = torch.cat([top_val, score], 1)
            keep = vals.topk(min(k, vals.shape[1]), dim=1).indices
            top_val = vals.gather(1, keep)
            top_idx = torch.cat([top_idx, idx.expand(len(score), -1)], 1).gather(1, keep)
            # walk / memorization: running nearest neighbour of each query
            d = torch.cdist(q, feat.flatten(1))  # (Q, B)
            best, arg = d.min(1)
            better = best < nn_dist
            nn_dist, nn_idx = torch.where(better, best, nn_dist), torch.where(better, idx[arg], nn_idx)
    seconds = time.perf_counter() - t
    return {"n": n, "mode": mode, "seconds": round(seconds, 1), "images_per_second": round(n / seconds, 1) if n else 0,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n")[-1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[10000, 100000], help="dataset sizes (rooms images)")
    p.add_argument("--chunk", type=int, default=512, help="images per chunk (default: 512, the analyses')")
    p.add_argument("--ndf", type=int, default=32, help="D width (default: 32, the shipped model's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--control", action="store_true", help="also load the smallest set whole (load_all)")
    p.add_argument("--child", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.chunk, args.ndf, args.child[1])))
        return 0
    print(f"streaming rooms 64x64 through D (ndf={args.ndf}) in chunks of {args.chunk}, one subprocess per run; "
          f"{args.threads} threads")
    runs = [(0, "stream")] + [(n, "stream") for n in args.n] + ([(min(args.n), "load_all")] if args.control else [])
    results = []
    for n, mode in runs:
        cmd = [sys.executable, __file__, "--child", str(n), mode, "--chunk", str(args.chunk), "--ndf", str(args.ndf),
               "--threads", str(args.threads)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ).stdout)
        results.append(r)
        what = "baseline (model + one chunk)" if n == 0 else f"{mode} rooms:n={n}"
        print(f"{what:32s} peak RSS {r['peak_rss_mib']:7.1f} MiB | {r['seconds']:6.1f} s"
              + (f" | {r['images_per_second']:.0f} img/s" if n else ""), flush=True)
    base, streams = results[0], [r for r in results[1:] if r["mode"] == "stream"]
    if len(streams) >= 2:
        a, b = streams[0], streams[-1]
        print(f"peak RSS ratio n={b['n']} / n={a['n']}: {b['peak_rss_mib'] / a['peak_rss_mib']:.2f}x "
              f"for {b['n'] / a['n']:.0f}x the images; above baseline: {a['peak_rss_mib'] - base['peak_rss_mib']:.1f} "
              f"vs {b['peak_rss_mib'] - base['peak_rss_mib']:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
