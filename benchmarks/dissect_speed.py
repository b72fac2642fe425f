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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_timing import print_phases, references, timed_runs  # noqa: E402

import ganlens  # noqa: E402
from ganlens import cli, dissect  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="flags of python -m ganlens.dissect (after --), e.g. --n 2000")
    args = ap.parse_args()
    flags = dissect.parser().parse_args(["--checkpoint", args.checkpoint, *args.extra])   # the command's parsing
    gan = ganlens.load(args.checkpoint, cli.device(flags.device))

    start, g_pass = references(gan, flags.n, "ganlens.dissect, ganlens.detect, matplotlib.pyplot, scipy.stats")

    def run():
        cli.seed_everything(flags.seed)
        return dissect.from_args(flags, gan)
    walls, phases = timed_runs(run, lambda r: dissect.summary(flags, r), args.repeats, start, "well under 60 s")
    labels = phases["thresholds"] + phases["iou"]
    print(f"labels ({flags.n} samples, every layer) {labels:.2f} s = {labels / g_pass:.1f}x one G pass; "
          f"ratio of the whole analysis + save to one G pass: {min(walls) / g_pass:.1f}x")
    print_phases(phases)


if __name__ == "__main__":
    main()
