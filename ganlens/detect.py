"""``python -m ganlens.detect``: train the rooms detector, evaluate it, or draw box files with it.

The detector itself lives in :mod:`ganlens.data.detect`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from ganlens import cli
from ganlens.core import checkpoints
from ganlens.core.errors import GanlensError
from ganlens.core.generate import images as generate_images
from ganlens.data import boxes as boxfile
from ganlens.data.rooms import CLASSES
from ganlens.data.detect import (PROG, EXAMPLES, FORMAT, DEFAULT_DETECTOR, MIN_AREA, TRAIN, HELDOUT, WIDTH,
                                 Segmenter, Detector, largest_region, load_detector, detector_for, train,
                                 evaluate, save_detector)  # noqa: F401 (re-exported)


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "The rooms object detector (segmentation net) used to count objects in generated "
                         "images: train it, measure it on held-out rooms, or draw box files with it.", EXAMPLES)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--train", action="store_true", help="train a detector on rendered rooms")
    mode.add_argument("--evaluate", action="store_true", help="held-out precision/recall of --detector")
    mode.add_argument("--annotate", metavar="BOXES.json", help="write a box file for --checkpoint's samples")
    p.add_argument("--detector", default=str(DEFAULT_DETECTOR), metavar="PATH",
                   help="detector file (default: the shipped one)")
    p.add_argument("--out", metavar="PATH", default=str(DEFAULT_DETECTOR),
                   help="--train: where to write the weights; a .json record goes beside them "
                        "(default: the shipped detector)")
    p.add_argument("--steps", type=cli.at_least(1), default=1500, help="--train: optimiser steps (default: 1500)")
    p.add_argument("--checkpoint", default="default", metavar="PATH",
                   help="--annotate: generator checkpoint (default: the shipped rooms model; with --model: "
                        "weights for your networks, default none)")
    p.add_argument("--model", metavar="FILE.py:FUNC", help="--annotate: " + cli.MODEL_HELP)
    p.add_argument("--label", default="window", help="--annotate: object class to box (default: window)")
    p.add_argument("--n", type=cli.at_least(1), default=150, help="--annotate: samples, seeds 0..n-1 (default: 150)")
    p.add_argument("--seed", type=cli.seed_value, default=0, help="--train: training seed; --annotate: first seed")
    return p


def train_command(args) -> str:
    """--train: train, evaluate on held-out rooms, save the weights and their record; returns the line to print."""
    out = cli.check_file_out(args.out, "--out")
    t0 = time.perf_counter()
    net = train(steps=args.steps, seed=args.seed, log=lambda m: print(m, file=sys.stderr))
    seconds = time.perf_counter() - t0
    det = Detector(net, CLASSES, 64, 3)
    metrics = evaluate(det)
    info = {"command": f"{PROG} --train --out {args.out} --steps {args.steps} --seed {args.seed}",
            "train": {"render_seed": TRAIN["seed"], "n": TRAIN["n"], "size": 64, "steps": args.steps,
                      "batch": 32, "lr": 3e-3, "optimizer": "Adam, one-cycle schedule",
                      "augmentation": "h-flip, brightness/contrast, Gaussian blur sigma<=1.5, noise",
                      "seed": args.seed, "threads": torch.get_num_threads(), "seconds": round(seconds, 1)},
            "parameters": sum(p.numel() for p in net.parameters()),
            "rule": f"contains class c: largest 8-connected region of pixels labelled c >= {MIN_AREA:.5f} "
                    f"of the image ({det.min_pixels(64)} px at 64x64)",
            **metrics, "provenance": checkpoints.provenance(seed=args.seed)}
    save_detector(out, net, info)
    cli.write_json(out.with_suffix(".json"), info)
    w = metrics["classes"]["window"]
    return (f"window: image precision {w['image_precision']:.3f} recall {w['image_recall']:.3f}, pixel IoU "
            f"{w['pixel_iou']:.3f}; wrote {out} ({out.stat().st_size / 1024:.0f} KiB) in {seconds:.0f} s")


def annotate_command(args, det: Detector) -> str:
    """--annotate: a box file of the detector's boxes on --model/--checkpoint's samples; returns the line to print."""
    out = cli.check_file_out(args.annotate, "--annotate")  # before the work, not after it
    gan = cli.load_model(args, torch.device("cpu"))
    gan.require_G()
    cls = det.class_index(args.label)
    if cls is None:
        raise GanlensError(f"--label {args.label}: the detector knows {', '.join(det.classes)}")
    if (gan.image_size, gan.nc) != (det.image_size, det.nc):
        flag = f"--model {args.model}" if args.model else f"--checkpoint {args.checkpoint}"
        raise GanlensError(f"{flag}: makes {gan.nc}x{gan.image_size}px images; the detector was trained on "
                           f"{det.nc}x{det.image_size}px rooms")
    seeds = list(range(args.seed, args.seed + args.n))
    found = det.boxes(det.segment(generate_images(gan, gan.latents(seeds))), cls)
    name = det.classes[cls]
    made_with = f"{PROG} --annotate {args.annotate} --label {args.label} --n {args.n} --seed {args.seed}" + (
        f" --model {args.model}" if args.model else "") + (
        f" --checkpoint {args.checkpoint}" if not (args.model and args.checkpoint == "default") else "")
    bf = boxfile.BoxFile(
        label=name, width=gan.image_size, height=gan.image_size, latent_dim=gan.nz, distribution=gan.latent,
        checkpoint_sha256=gan.sha256,
        note=(f"boxes drawn by the rooms detector, not by hand: bounding boxes of each {name} region of >= "
              f"{det.min_pixels(det.image_size)} px found by {Path(args.detector).name} on seeds "
              f"{seeds[0]}..{seeds[-1]}; made with: {made_with}"),
        samples=[boxfile.Sample(seed=s, z=None, boxes=[tuple(b) for b in bs]) for s, bs in zip(seeds, found)])
    if bf.n_boxes == 0:
        raise GanlensError(f"no {name} found in {args.n} samples of {gan.where}; nothing written")
    boxfile.write(out, bf)
    return f"{bf.n_boxes} {name} boxes on {sum(bool(b) for b in found)} of {args.n} samples; wrote {out}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.train:
        print(train_command(args), file=sys.stderr)
        return 0
    det = load_detector(args.detector)
    if args.evaluate:
        print(json.dumps(evaluate(det), indent=2))
        return 0
    print(annotate_command(args, det), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
