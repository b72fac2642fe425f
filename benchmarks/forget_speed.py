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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis_timing import ROOT, print_phases, references, timed_runs  # noqa: E402

import ganlens  # noqa: E402
from ganlens import cli, forget  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boxes", default="annotations/windows.json")
    ap.add_argument("--checkpoint", default="default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="flags of python -m ganlens.forget (after --), e.g. --n-eval 1000")
    args = ap.parse_args()
    flags = forget.parser().parse_args(["--boxes", args.boxes, *args.extra])   # the command's own parsing
    settings = {k: getattr(flags, k) for k in ("layer", "negatives_per_image", "C", "select", "top_k", "n", "n_eval",
                                               "dose_n", "fill", "draws", "folds", "seed")}

    gan = ganlens.load(args.checkpoint, cli.device(flags.device))
    start, g_pass = references(gan, flags.n_eval, "ganlens.forget, sklearn.linear_model, matplotlib.pyplot",
                               batch=forget.BATCH)
    walls, phases = timed_runs(lambda: forget.forget(gan, ROOT / args.boxes, **settings),
                               lambda r: forget.summary(flags, r),
                               args.repeats, start, "<= 15 s")
    print(f"ratio to one G pass over {flags.n_eval} latents: {min(walls) / g_pass:.1f}x")
    print_phases(phases)


if __name__ == "__main__":
    main()
