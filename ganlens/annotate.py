"""Draw boxes on generated samples, offline, or rate a forget run blind: ``python -m ganlens.annotate`` (the
library: :mod:`ganlens.tools.annotate`; the page, the box file format, COCO import and the rating design:
docs/methods.md, section "annotate")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ganlens import cli
from ganlens.core.errors import GanlensError
from ganlens.core.results import atomic_write, dumps
from ganlens.data import boxes
from ganlens.tools.annotate import (DEFAULT_N, DEFAULT_RATE_N, DEFAULT_RATERS, FORMAT, GRID_PIXELS, PAGE_PIXELS,
                                    TEMPLATE, build_page, coco_to_boxes, dumps_box_file, forget_result, plan_samples,
                                    png_base64, rating_key, rating_pages, read_json_file, render, seed_from_file_name)

__all__ = ["PROG", "parser", "main", "scale_value", "read_preload", "write_page", "from_coco", "write_rating_page",
           # the library's names, kept importable from here (ganlens.annotate.build_page, ...)
           "build_page", "coco_to_boxes", "dumps_box_file", "forget_result", "plan_samples", "png_base64",
           "rating_key", "rating_pages", "render", "seed_from_file_name", "FORMAT", "TEMPLATE", "DEFAULT_N",
           "DEFAULT_RATE_N", "DEFAULT_RATERS", "PAGE_PIXELS", "GRID_PIXELS"]

PROG = "python -m ganlens.annotate"
EXAMPLES = f"""  {PROG} --label window --n 150 --out annotations/windows.html
  {PROG} --checkpoint runs/bedrooms/last.pt --label bed --first-seed 1000 --n 50 --out beds.html
  {PROG} --model my_gan.py:build --checkpoint G.pth --label glasses --n 100 --out glasses.html
  {PROG} --boxes annotations/windows.json --n 200 --out annotations/windows.html   # review, continue
  {PROG} --from-coco cvat_export.json --label window --out annotations/windows.json
  {PROG} --rate ganlens-out/forget --raters 3   # 3 blind rating pages + their key, in the forget folder
"""


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Write one self-contained HTML page for drawing boxes on generated samples (no server, "
                         "no network: open it in any browser, draw, Download a ganlens.boxes/1 JSON file), "
                         "or convert COCO boxes into that format.", EXAMPLES)
    p.add_argument("--checkpoint", default="default", metavar="PATH",
                   help="ganlens or foreign GAN checkpoint (default: the shipped rooms model; with --model: "
                        "weights for your networks, default none)")
    p.add_argument("--model", metavar="FILE.py:FUNC", help=cli.MODEL_HELP)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--out", metavar="FILE",
                   help="the HTML page to write (with --from-coco: the box JSON file; with --rate: default "
                        "FORGET/rate.html); written atomically")
    p.add_argument("--label", help="what the boxes mark, e.g. window (default: the --boxes file's label; "
                                   "with --from-coco: the only COCO category)")
    p.add_argument("--n", type=cli.at_least(1), metavar="N",
                   help=f"number of samples, seeds --first-seed .. --first-seed+N-1 (default: {DEFAULT_N}; "
                        f"with --boxes: only the file's samples; with --rate: latents, {DEFAULT_RATE_N})")
    p.add_argument("--first-seed", type=cli.seed_value, metavar="SEED",
                   help="seed of the first sample (default: 0)")
    p.add_argument("--boxes", metavar="FILE", help="preload a ganlens.boxes/1 file to review or continue; its "
                                                  "samples come first, then --n seeds it does not hold")
    p.add_argument("--scale", type=scale_value, metavar="K",
                   help=f"screen pixels per source pixel in the one-at-a-time view "
                        f"(default: about {PAGE_PIXELS} pixels wide)")
    p.add_argument("--from-coco", metavar="FILE",
                   help="convert a COCO JSON file to ganlens.boxes/1 (written to --out) instead of writing a page")
    p.add_argument("--rate", metavar="FORGET",
                   help="write blind rating pages for a python -m ganlens.forget result (its --out folder or "
                        "forget.json), one per rater, and their key (<page>.key.json, next to them) instead of a "
                        "box page")
    p.add_argument("--raters", type=cli.at_least(1), metavar="R",
                   help=f"with --rate: pages to write, one per rater; each shows every latent once, its condition "
                        f"from a Latin square (default: {DEFAULT_RATERS}; use a multiple of 3)")
    return p


def scale_value(text: str) -> int:
    """argparse ``type=`` for --scale: an integer 1..64 ("--scale must be 1..64, got 0")."""
    v = int(text)
    if not 1 <= v <= 64:
        raise argparse.ArgumentTypeError(f"must be 1..64, got {v}")
    return v


scale_value.__name__ = "int"


def read_preload(path: str, model, label: str | None) -> dict:
    """A --boxes file, checked by :func:`ganlens.boxes.read` against the model (a :class:`ganlens.GAN`)
    and --label, as a dict."""
    bf = boxes.read(path, model)
    if label is not None and bf.label != label:
        raise GanlensError(f"--label {label!r} but {path} holds {bf.label!r} boxes")
    warning = boxes.sha_warning(bf, path, model.sha256)
    if warning:
        print(f"{PROG}: {warning}", file=sys.stderr)
    return bf.to_dict()


def from_coco(args) -> str:
    """--from-coco: convert the COCO file into a box file at --out; returns the line to print."""
    for flag in ("boxes", "n", "scale", "first_seed", "raters"):
        if getattr(args, flag) is not None:
            raise GanlensError(f"--{flag.replace('_', '-')} does not apply to --from-coco")
    coco = read_json_file(Path(args.from_coco))
    model = cli.load_model(args, torch.device("cpu"))
    model.require_nz()
    obj = coco_to_boxes(coco, model.image_size, {"dim": model.nz, "distribution": model.latent}, args.label,
                        model.sha256, where=str(args.from_coco))
    atomic_write(args.out, dumps_box_file(obj))
    n_boxes = sum(len(s["boxes"]) for s in obj["samples"])
    return f"{args.out}: {n_boxes} {obj['label']} boxes on {len(obj['samples'])} samples"


def write_page(args) -> str:
    """The annotator page for --model/--checkpoint's samples at --out; returns the line to print."""
    if args.label is None and not args.boxes:
        raise GanlensError("--label is required (what the boxes mark, e.g. --label window)")
    model = cli.load_model(args, cli.device(args.device))
    model.require_G()
    preload = read_preload(args.boxes, model, args.label) if args.boxes else None
    label = args.label if args.label is not None else preload["label"]
    samples = plan_samples(model, preload, args.n, args.first_seed or 0)
    if not samples:
        raise GanlensError(f"{args.boxes}: holds no samples; add some with --n")
    images = render(model, torch.tensor([s["z"] for s in samples], dtype=torch.float32))
    scale = args.scale or max(1, PAGE_PIXELS // model.image_size)
    extra = {k: v for k, v in (preload or {}).items()  # a note and unknown top-level keys are kept
             if k not in ("format", "label", "image_size", "latent", "checkpoint_sha256", "samples")}
    where = model.path.name if model.path is not None else model.name
    page = build_page(label, model.image_size, model.nc, {"dim": model.nz, "distribution": model.latent},
                      model.sha256, samples, images, scale, source=f"{where} ({model.source})", extra=extra)
    atomic_write(args.out, page)
    n_boxes = sum(len(s["boxes"]) for s in samples)
    return (f"{args.out}: {len(samples)} samples" + (f", {n_boxes} preloaded boxes" if preload else "")
            + "; open it in a browser")


def write_rating_page(args) -> str:
    """--rate: one page per rater at --out (default FORGET/rate.html -> rate-1.html, rate-2.html, ...) and
    one key next to them (rate.key.json)."""
    for flag in ("boxes", "from_coco", "label", "first_seed"):
        if getattr(args, flag) is not None:
            raise GanlensError(f"--{flag.replace('_', '-')} does not apply to --rate")
    j_path = forget_result(args.rate)[0]
    out = Path(args.out) if args.out else j_path.parent / "rate.html"
    cli.check_file_out(out)
    raters = args.raters or DEFAULT_RATERS
    paths = [out.with_name(f"{out.stem}-{p + 1}{out.suffix or '.html'}") for p in range(raters)]
    key_path = out.with_name(out.stem + ".key.json")
    model = cli.load_model(args, cli.device(args.device))
    model.require_G()
    pages, key = rating_pages(model, j_path, args.n or DEFAULT_RATE_N, raters, args.scale, [p.name for p in paths])
    atomic_write(key_path, dumps(key))
    for path, page in zip(paths, pages):
        atomic_write(path, page)
    unbalanced = ("" if raters % 3 == 0 else
                  " (not a multiple of 3: latents are not seen in every condition equally often)")
    return (f"{paths[0].parent}: {raters} rating pages {paths[0].name} .. {paths[-1].name}, one per rater, "
            f"{len(key['pages'][0]['items'])} images each{unbalanced}; key (keep it from the raters): {key_path}; "
            f"then python -m ganlens.forget --ratings <every rater's .ratings.json> --key {key_path}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.raters is not None and args.rate is None:
        raise GanlensError("--raters applies only to --rate (rating pages, one per rater)")
    if args.rate is not None:
        print(write_rating_page(args), file=sys.stderr)
        return 0
    if args.label is not None and not args.label.strip():
        raise GanlensError("--label must not be empty")
    if args.out is None:
        raise GanlensError("--out FILE is required (the page to write; with --from-coco the box file)")
    cli.check_file_out(args.out)  # before the work: a mistyped --out fails now
    print(from_coco(args) if args.from_coco else write_page(args), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
