"""Latent walks with numbers, and a memorization report: ``python -m ganlens.walk``.

The paper's Fig. 4 walks through "a series of 9 random points in Z" and reads smooth transitions as a
sign that the model has not memorized ("sharp transitions" would be). This command draws that figure and
measures it:

* **Walk.** Each of ``--rows`` walks visits ``--points`` latents (seeds ``--seed``, ``--seed``+1, ... by
  the :func:`ganlens.latent_from_seed` rule, listed in the JSON) taking ``--steps`` equal steps from one
  point to the next, so a row has ``(points-1)*steps + 1`` frames. ``--interp auto`` walks normal latents
  by :func:`slerp` (a straight line between two Gaussian samples passes near the origin, where the
  generator never saw a latent: |z| drops to ~0.7|z| midway in 100 dimensions) and uniform latents
  (the paper's, a cube) by :func:`lerp`.
* **Step distances** between consecutive frames, in pixel space (RMS pixel difference, images in
  [0, 1]) and, when the checkpoint has a D, in D's feature space (last hidden block, average-pooled,
  L2-normalised; see :mod:`ganlens.memorization`).
* **Sharpness** of a walk = its largest step / its median step (1 = perfectly even). A step is flagged as
  a **jump** when it is more than ``--jump-factor`` (default 4) times the walk's median step: steps of a
  smooth walk vary by a factor of 2-3, while a generator that switches between stored images changes
  (almost) nothing for many steps and everything in one.
* **Memorization** (only with ``--data``): nearest training images of generated samples and walk frames,
  and the tests of :mod:`ganlens.memorization` (nearest-neighbour distances vs held-out real images,
  and the data-copying test C_T of Meehan et al. 2020), with a verdict whose rule is stored in the JSON.

Outputs in ``--out``: ``walk.pdf/png`` (the figure, red bars mark jumps), ``walk.json``, ``walk.npz``
(frames and latents the figures are drawn from), ``walk.mp4`` with ``--video``, and with ``--data``
``neighbours.pdf/png`` (queries above their nearest training images in pixel and feature space).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoints, cli, figures
from .data import RoomsSet, open_images, parse_rooms, to_float, to_uint8
from .errors import GanlensError

PROG = "python -m ganlens.walk"
EXAMPLES = f"""  {PROG}                                   # the shipped rooms model, 4 walks of 9 points
  {PROG} --checkpoint netG_epoch_24.pth --rows 6 --steps 10 --interp linear --out figs/walk
  {PROG} --data rooms --video                 # + memorization report against the model's training set
  {PROG} --checkpoint runs/celeba/last.pt --data ~/celeba/ --limit 20000 --device cuda
"""
JUMP_FACTOR = 4.0
MEDIAN_FLOOR = 1e-4       # a walk whose median step is below this (RMS, 1/40 of a grey level) is frozen
MAX_FRAMES_PER_LINE = 33  # ~64 px per frame across a two-column figure at 300 dpi


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Latent walks (the paper's Fig. 4) with step distances, a sharpness score and an "
                         "optional nearest-neighbour memorization report.", EXAMPLES)
    p.add_common(out_default="ganlens-out/walk")
    p.add_argument("--points", type=int, default=9, help="random latents each walk visits (default: 9)")
    p.add_argument("--steps", type=int, default=8,
                   help="steps from one point to the next, i.e. steps-1 frames in between (default: 8)")
    p.add_argument("--rows", type=int, default=4, help="number of walks (default: 4)")
    p.add_argument("--interp", choices=("auto", "linear", "slerp"), default="auto",
                   help="path between points: auto = slerp for normal latents, linear for uniform")
    p.add_argument("--jump-factor", type=float, default=JUMP_FACTOR,
                   help=f"flag a step larger than this times the walk's median step (default: {JUMP_FACTOR:g})")
    p.add_argument("--video", action="store_true", help="also write walk.mp4 (all walks tiled, one point a second)")
    m = p.add_argument_group("memorization (with --data)")
    m.add_argument("--data", metavar="PATH|rooms",
                   help="training images to search: rooms (the checkpoint's own rooms set when it names one), "
                        "rooms:n=N,seed=S, an image folder, .npz or LSUN lmdb; other sizes are resized "
                        "and centre-cropped as in training")
    m.add_argument("--heldout", metavar="PATH",
                   help="real images never trained on (default: rooms scenes after the training set, "
                        "else a random split of --data left out of the search)")
    m.add_argument("--samples", type=int, default=512, help="generated samples to test (default: 512)")
    m.add_argument("--holdout", type=int, default=512, help="held-out real images to compare (default: 512)")
    m.add_argument("--cells", type=int, default=10, help="k-means cells of the data-copying test (default: 10)")
    m.add_argument("--limit", type=int, help="search only the first N training images")
    m.add_argument("--chunk", type=int, default=512, help="training images per search chunk (default: 512)")
    return p


# ---------------------------------------------------------------------------------------------- paths

def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: z0, z1 (nz,), t (T,) in [0, 1] -> (T, nz); rows at t=0 and t=1 are z0 and z1 exactly."""
    t64 = t.double()[:, None]
    out = ((1 - t64) * z0.double() + t64 * z1.double()).to(z0.dtype)
    return _pin_ends(out, z0, z1, t)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical path: z0, z1 (nz,), t (T,) -> (T, nz).

    The direction moves along the great circle from z0/|z0| to z1/|z1| at constant angular speed and the
    radius moves linearly from |z0| to |z1|, so every frame keeps the norm of the shell the latents were
    drawn from (exactly |z0| throughout when |z0| = |z1|). The classic slerp of White (2016) equals this
    when the norms are equal. Endpoints are returned exactly.
    """
    a, b, t64 = z0.double(), z1.double(), t.double()[:, None]
    ra, rb = a.norm(), b.norm()
    if ra == 0 or rb == 0:
        return lerp(z0, z1, t)
    ua, ub = a / ra, b / rb
    omega = torch.arccos(torch.clamp(ua @ ub, -1.0, 1.0))
    if omega < 1e-7:
        direction = ua.expand(len(t64), -1)
    elif torch.pi - omega < 1e-7:  # antipodal: every great circle joins them; take one through a fixed axis
        axis = torch.zeros_like(ua)
        axis[int(ua.abs().argmin())] = 1.0
        v = axis - (axis @ ua) * ua
        v = v / v.norm()
        direction = torch.cos(t64 * torch.pi) * ua + torch.sin(t64 * torch.pi) * v
    else:
        direction = (torch.sin((1 - t64) * omega) * ua + torch.sin(t64 * omega) * ub) / torch.sin(omega)
        direction = direction / direction.norm(dim=1, keepdim=True)  # exact unit length (also for omega ~ pi)
    out = (((1 - t64) * ra + t64 * rb) * direction).to(z0.dtype)
    return _pin_ends(out, z0, z1, t)


def _pin_ends(out: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    out[t == 0] = z0
    out[t == 1] = z1
    return out


def walk_latents(points: torch.Tensor, steps: int, interp: str = "slerp") -> torch.Tensor:
    """A walk through ``points`` (P, nz): ``steps`` equal steps per segment -> ((P-1)*steps + 1, nz).

    Frame ``k*steps`` is point k exactly.
    """
    path = {"slerp": slerp, "linear": lerp}[interp]
    t = torch.arange(steps, dtype=torch.float64) / steps
    segs = [path(points[i], points[i + 1], t) for i in range(len(points) - 1)]
    return torch.cat(segs + [points[-1:]])


# -------------------------------------------------------------------------------------------- numbers

def step_distances(vectors: torch.Tensor) -> np.ndarray:
    """Distances between consecutive rows of (F, d) -> (F-1,) float64."""
    return (vectors[1:].double() - vectors[:-1].double()).norm(dim=1).numpy()


def sharpness(steps: np.ndarray) -> float:
    """Largest step / median step (median floored at MEDIAN_FLOOR so a frozen walk gives a large finite number)."""
    return float(np.max(steps) / max(float(np.median(steps)), MEDIAN_FLOOR))


def find_jumps(steps: np.ndarray, factor: float = JUMP_FACTOR) -> list[int]:
    """Indices i of steps (frame i -> i+1) larger than ``factor`` x the median step."""
    ref = max(float(np.median(steps)), MEDIAN_FLOOR)
    return [int(i) for i in np.flatnonzero(steps > factor * ref)]


@torch.inference_mode()
def generate(G: torch.nn.Module, z: torch.Tensor, device, batch: int = 256) -> torch.Tensor:
    """Latents (N, nz) -> uint8 images (N, nc, H, W) on the CPU, in batches.

    Runs G in channels_last (converted in place): 1.4x faster on CPU, equal up to float rounding.
    """
    G.to(memory_format=torch.channels_last)
    out = [to_uint8(G(z[i:i + batch, :, None, None].to(device).float()
                      .contiguous(memory_format=torch.channels_last)).cpu().contiguous())
           for i in range(0, len(z), batch)]
    return torch.cat(out)


def compute_walk(G: torch.nn.Module, points: torch.Tensor, steps: int, interp: str, device="cpu",
                 spaces: list | None = None, jump_factor: float = JUMP_FACTOR) -> tuple[torch.Tensor, list[dict]]:
    """Walk every row of ``points`` (R, P, nz) and measure it.

    spaces: :class:`ganlens.memorization.Space` list (pixel first). Returns frames, uint8
    (R, F, nc, H, W) with F = (P-1)*steps + 1, and one dict per row with "step_distance",
    "sharpness", "median_step" and "jumps" (per space) plus the row's latents' norms.
    """
    from .memorization import pixel_space
    spaces = spaces or [pixel_space()]
    R, P, _ = points.shape
    z = torch.stack([walk_latents(points[r], steps, interp) for r in range(R)])  # (R, F, nz)
    F_ = z.shape[1]
    frames = generate(G, z.reshape(R * F_, -1), device)
    frames = frames.reshape(R, F_, *frames.shape[1:])
    rows = []
    for r in range(R):
        row = {"walk": r, "step_distance": {}, "sharpness": {}, "median_step": {}, "jumps": []}
        for s in spaces:
            d = step_distances(s.embed(frames[r]))
            row["step_distance"][s.name] = d.round(6).tolist()
            row["sharpness"][s.name] = sharpness(d)
            row["median_step"][s.name] = float(np.median(d))
            row["jumps"] += [{"space": s.name, "step": i, "frames": [i, i + 1], "segment": i // steps,
                              "distance": float(d[i]), "ratio": float(d[i] / max(np.median(d), MEDIAN_FLOOR))}
                             for i in find_jumps(d, jump_factor)]
        norms = z[r].double().norm(dim=1)
        row["latent_norm"] = {"min": float(norms.min()), "max": float(norms.max())}
        rows.append(row)
    return frames, rows


# -------------------------------------------------------------------------------------------- figures

def _rgb(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, nc, H, W) -> float (N, H, W, 3) in [0, 1]."""
    x = images.float().div(255).permute(0, 2, 3, 1).numpy()
    return np.repeat(x, 3, axis=3) if x.shape[3] == 1 else x


def _fit_width(canvas: np.ndarray, px: int) -> np.ndarray:
    """Resample an (H, W, 3) canvas to about ``px`` pixels wide, so that matplotlib shows it ~1:1.

    Wider canvases are area-averaged (cv2.INTER_AREA: no aliasing, no interpolation blur from upsampling);
    narrower ones are enlarged by a whole number of pixels (np.repeat: every pixel stays a square).
    """
    h, w = canvas.shape[:2]
    if w > px:
        import cv2
        return np.clip(cv2.resize(canvas.astype(np.float32), (px, max(1, round(h * px / w))),
                                  interpolation=cv2.INTER_AREA), 0, 1)
    k = px // w
    return np.repeat(np.repeat(canvas, k, 0), k, 1) if k >= 2 else canvas


def walk_layout(n_frames: int, steps: int, max_per_line: int = MAX_FRAMES_PER_LINE) -> tuple[int, int]:
    """(segments per line, lines per walk): long walks wrap at keyframes so frames stay ~64 px wide.

    Each line starts at a point of the walk, which is repeated at the end of the line above.
    """
    n_seg = (n_frames - 1) // steps
    per = max(1, min(n_seg, (max_per_line - 1) // steps)) if n_seg else 1
    return per, max(1, math.ceil(n_seg / per))


def plot_walk(frames: torch.Tensor, steps: int, rows: list[dict], stem: Path) -> list[Path]:
    """The walk figure from saved frames (R, F, nc, H, W) uint8 and the rows of walk.json.

    Two-column width; a thin white gap between frames, a wider one between walks; pixel-space jumps are
    marked by a red bar between the two frames.
    """
    R, F_ = frames.shape[:2]
    S = frames.shape[-1]
    per, lines = walk_layout(F_, steps)
    fpl = per * steps + 1 if F_ > 1 else 1
    gap, wgap = 1, max(3, S // 8)
    Wc = fpl * (S + gap) - gap
    Hc = R * lines * (S + gap) - R * gap + (R - 1) * wgap
    canvas = np.ones((Hc, Wc, 3), np.float32)
    pos = {}  # (row, line) -> y of the line

    y = 0
    for r in range(R):
        imgs = _rgb(frames[r])
        for ln in range(lines):
            first = ln * per * steps
            for j, f in enumerate(range(first, min(F_, first + fpl))):
                x = j * (S + gap)
                canvas[y:y + S, x:x + S] = imgs[f]
            pos[(r, ln)] = y
            y += S + gap
        y += wgap - gap
    width_px = int(figures.TWO_COLUMN * figures.DPI)
    fig, ax = figures.figure("two", aspect=Hc / Wc)
    ax.set_position([0, 0, 1, 1])
    figures.show_image(ax, _fit_width(canvas, width_px))
    ax.images[0].set_extent((0, Wc, Hc, 0))
    ax.set_xlim(0, Wc)
    ax.set_ylim(Hc, 0)
    for r, row in enumerate(rows):
        for j in row["jumps"]:
            if j["space"] != "pixel":
                continue
            i = j["step"]
            ln = min(i // (per * steps), lines - 1)
            x = (i - ln * per * steps) * (S + gap) + S + gap / 2
            y0 = pos[(r, ln)]
            ax.plot([x, x], [y0 - 0.5, y0 + S + 0.5], color="red", lw=0.9, solid_capstyle="butt")
    return figures.save(fig, stem)


def plot_neighbours(groups: list[dict], query: np.ndarray, nn: dict[str, np.ndarray], stem: Path) -> list[Path]:
    """Queries (top row) above their nearest training images, one row per space.

    groups: [{"name", "count"}] in column order; query: uint8 (Q, nc, H, W); nn: {space: uint8 (Q, ...)}.
    """
    spaces = list(nn)
    rows = [("generated", query)] + [(f"nearest\n({'D features' if s == 'feature' else s})", nn[s]) for s in spaces]
    Q, S = len(query), query.shape[-1]
    gap, ggap = 1, max(3, S // 4)
    Wc = Q * (S + gap) - gap + (len(groups) - 1) * (ggap - gap)
    Hc = len(rows) * (S + gap) - gap
    canvas = np.ones((Hc, Wc, 3), np.float32)
    xs, x, q = [], 0, 0
    for g in groups:
        xs.append(x)
        for _ in range(g["count"]):
            for k, (_, imgs) in enumerate(rows):
                canvas[k * (S + gap):k * (S + gap) + S, x:x + S] = _rgb(torch.as_tensor(imgs[q:q + 1]))[0]
            x += S + gap
            q += 1
        x += ggap - gap
    left, top = 0.1, 0.18  # axes fraction of the width for row labels; inches for group titles
    ax_w = figures.TWO_COLUMN * (1 - left)
    ax_h = ax_w * Hc / Wc
    fig_h = ax_h + top
    fig, ax = figures.figure("two", aspect=fig_h / figures.TWO_COLUMN)
    ax.set_position([left, 0, 1 - left, ax_h / fig_h])
    figures.show_image(ax, _fit_width(canvas, int(ax_w * figures.DPI)))
    ax.images[0].set_extent((0, Wc, Hc, 0))
    ax.set_xlim(0, Wc)
    ax.set_ylim(Hc, 0)
    for g, x0 in zip(groups, xs):
        ax.text(x0 + (g["count"] * (S + gap) - gap) / 2, -S * 0.12, g["name"], ha="center", va="bottom", fontsize=7)
    for k, (label, _) in enumerate(rows):
        ax.text(-S * 0.12, k * (S + gap) + S / 2, label.replace("generated", "query"), ha="right",
                va="center", fontsize=7)
    return figures.save(fig, stem)


def write_video(frames: torch.Tensor, path: Path, fps: float) -> Path:
    """All walks tiled (uint8 (R, F, nc, H, W)) as an MP4 (opencv, mp4v), each frame enlarged to >= 256 px."""
    import cv2
    R, F_ = frames.shape[:2]
    nrow = math.ceil(math.sqrt(R))
    scale = max(1, 256 // frames.shape[-1])
    tiles = [figures.grid(to_float(frames[:, f]), nrow=nrow, padding=1) for f in range(F_)]
    tiles = [np.repeat(np.repeat((t * 255).round().astype(np.uint8), scale, 0), scale, 1) for t in tiles]
    h, w = tiles[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise GanlensError(f"--video: opencv cannot write MP4 files here ({path.name})")
    try:
        for t in tiles:
            writer.write(cv2.cvtColor(t, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


# ---------------------------------------------------------------------------------------- data set-up

def resolve_data(spec: str, provenance: dict) -> str:
    """``--data rooms`` means the checkpoint's own rooms training set when its provenance names one."""
    trained = str(provenance.get("data") or "")
    if spec == "rooms" and trained.startswith("rooms"):
        return trained.split(" ")[0]
    return spec


def heldout_images(data, spec: str, provenance: dict, count: int, seed: int,
                   heldout_spec: str | None = None) -> tuple[torch.Tensor, np.ndarray | None, str]:
    """(held-out uint8 images, training indices to exclude from the search, description).

    Rooms scenes are a function of (seed, index), so scenes after the training set's n are real rooms
    the model never saw. Other data: a random split of ``count`` images (at most a fifth) is taken out
    of the searched set; if the model trained on all of --data these were seen in training, which can
    only hide copying of those few, so pass --heldout for a clean split.
    """
    if heldout_spec:
        h = open_images(heldout_spec, data.size, data.nc)
        n = min(count, len(h))
        idx = np.sort(np.random.default_rng(seed).choice(len(h), n, replace=False))
        return torch.stack([h[int(i)] for i in idx]), None, f"{n} images of --heldout {heldout_spec}"
    if isinstance(data, RoomsSet):
        start = data.n
        trained = str(provenance.get("data") or "")
        if trained.startswith("rooms"):
            opts = parse_rooms(trained.split(" ")[0])
            if opts["seed"] == data.seed:
                start = max(start, opts["n"])
        more = RoomsSet(n=start + count, size=data.size, seed=data.seed, nc=data.nc)
        return more.chunk(start, start + count), None, f"rooms scenes {start}..{start + count - 1} (seed {data.seed})"
    n = len(data)
    if n < 10:
        raise GanlensError(f"--data {spec}: {n} images; the memorization check needs at least 10")
    k = max(2, min(count, n // 5))
    idx = np.sort(np.random.default_rng(seed).choice(n, k, replace=False))
    return torch.stack([data[int(i)] for i in idx]), idx, f"{k} random images of --data left out of the search"


# ------------------------------------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    t0 = time.perf_counter()
    for name, low in (("points", 2), ("steps", 1), ("rows", 1), ("samples", 2), ("holdout", 2), ("cells", 1),
                      ("chunk", 1)):
        if getattr(args, name) < low:
            raise GanlensError(f"--{name} must be at least {low}, got {getattr(args, name)}")
    if args.limit is not None and args.limit < 1:
        raise GanlensError(f"--limit must be at least 1, got {args.limit}")
    if not args.jump_factor > 1:
        raise GanlensError(f"--jump-factor must be above 1, got {args.jump_factor}")
    if args.heldout and not args.data:
        raise GanlensError("--heldout needs --data (the training images to search)")
    dev, model = cli.start(args)  # checks --out before the work, then device, seed, checkpoint
    G = model.require_G()
    cfg = model.config
    interp = args.interp if args.interp != "auto" else ("slerp" if cfg.latent == "normal" else "linear")

    data = spec = None
    if args.data:  # open (and fail on) the data before any heavy work
        spec = resolve_data(args.data, model.provenance)
        data = open_images(spec, cfg.image_size, cfg.nc)
        if spec != args.data:
            print(f"--data {args.data}: using the checkpoint's training set {spec}", file=sys.stderr)

    from .memorization import feature_space, pixel_space
    spaces = [pixel_space()] + ([feature_space(model.D, dev)] if model.D is not None else [])
    n_keys = args.rows * args.points
    key_seeds = list(range(args.seed, args.seed + n_keys))
    points = model.latents(key_seeds).reshape(args.rows, args.points, cfg.nz)

    with cli.staged_output(args.out) as stage:
        frames, rows = compute_walk(G, points, args.steps, interp, dev, spaces, args.jump_factor)
        for r, row in enumerate(rows):
            row["seeds"] = key_seeds[r * args.points:(r + 1) * args.points]
        result = {
            "checkpoint": {"path": str(model.path), "sha256": model.sha256, "source": model.source,
                           "config": cfg.to_dict(), "trained_on": model.provenance.get("data")},
            "settings": {"points": args.points, "steps": args.steps, "rows": args.rows, "interp": interp,
                         "frames_per_row": frames.shape[1], "seed": args.seed, "device": str(dev),
                         "jump_factor": args.jump_factor, "median_floor": MEDIAN_FLOOR},
            "definitions": {
                "pixel": "RMS difference of pixel values in [0, 1]",
                "feature": ("L2 distance of D's last hidden block, average-pooled and L2-normalised"
                            if model.D is not None else None),
                "sharpness": "max step / median step of a walk (1 = even)",
                "jump": "a step > jump_factor x the walk's median step",
                "step_distance": "median distance between consecutive frames over all walks"},
            "spaces": [s.name for s in spaces],
            "rows": rows,
            "provenance": checkpoints.provenance(args.seed),
        }
        _summarise(result, rows, [s.name for s in spaces])
        arrays = {"frames": frames.numpy(), "latents": points.numpy(), "seeds": np.array(key_seeds)}

        if data is not None:
            mem, shown = _memorization(args, model, data, spec, spaces, frames, dev)
            # the search speed is not a result: under "timing", which comparisons of runs ignore
            result["timing"] = {k: mem.pop(k) for k in ("search_seconds", "search_images_per_second")}
            result["memorization"] = mem
            result["summary"]["memorizes"] = mem["memorizes"]
            arrays.update(shown)

        np.savez_compressed(stage / "walk.npz", **arrays)
        cli.write_json(stage / "walk.json", result)
        plot_walk(torch.from_numpy(arrays["frames"]), args.steps, result["rows"], stage / "walk")
        if data is not None:
            plot_neighbours(result["memorization"]["shown"]["groups"], arrays["neighbours_query"],
                            {s: arrays[f"neighbours_{s}"] for s in result["spaces"]}, stage / "neighbours")
        if args.video:
            write_video(frames, stage / "walk.mp4", fps=args.steps)
        written = sorted(p.name for p in stage.iterdir())

    s = result["summary"]
    line = (f"walk: {args.rows} walks x {frames.shape[1]} frames, sharpness {s['sharpness']:.2f}, "
            f"median step {s['step_distance']:.4f} (pixel RMS), {s['jumps']} jump(s)")
    if data is not None:
        mem = result["memorization"]
        line += f"; memorization: {mem['verdict']}" + (f" ({'; '.join(mem['reasons'])})" if mem["reasons"] else "")
    print(line, file=sys.stderr)
    print(f"wrote {', '.join(written)} to {args.out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def _summarise(result: dict, rows: list[dict], spaces: list[str]) -> None:
    """Headline numbers (pixel space; feature-space twins with a _feature suffix)."""
    summary = {"jumps": sum(1 for r in rows for j in r["jumps"] if j["space"] == "pixel")}
    for s in spaces:
        suffix = "" if s == "pixel" else f"_{s}"
        summary["sharpness" + suffix] = max(r["sharpness"][s] for r in rows)
        summary["step_distance" + suffix] = float(np.median(np.concatenate([r["step_distance"][s] for r in rows])))
        if s != "pixel":
            summary["jumps" + suffix] = sum(1 for r in rows for j in r["jumps"] if j["space"] == s)
    summary["smooth"] = summary["jumps"] == 0
    result["summary"] = summary
    result["sharpness"] = summary["sharpness"]
    result["step_distance"] = summary["step_distance"]


def _memorization(args, model, data, spec, spaces, frames, dev) -> tuple[dict, dict]:
    from . import memorization
    R, F_ = frames.shape[:2]
    heldout, exclude, held_desc = heldout_images(data, spec, model.provenance, args.holdout, args.seed, args.heldout)
    sample_seeds = list(range(args.seed + R * args.points, args.seed + R * args.points + args.samples))
    generated = generate(model.G, model.latents(sample_seeds), dev)
    walk = frames.reshape(R * F_, *frames.shape[2:])
    mem, nn = memorization.report(data, spaces, generated, heldout, {"walk": walk}, exclude=exclude,
                                  cells=args.cells, seed=args.seed, chunk=args.chunk, limit=args.limit)
    mem.update({"data": spec, "heldout": held_desc, "samples": len(generated), "heldout_images": len(heldout),
                "sample_seeds": [sample_seeds[0], sample_seeds[-1]], "walk_frames": R * F_,
                "cells_requested": args.cells, "limit": args.limit})

    # The columns of the neighbours figure: typical samples, the most copy-like samples (smallest
    # relative pixel distance), points of the first walk, and held-out real images (what the
    # neighbours of an image that is certainly no copy look like).
    n = 6
    pix_rel = nn["pixel"]["generated"][2]
    keys = np.linspace(0, args.points - 1, min(n, args.points)).round().astype(int) * args.steps
    picks = [("samples", "generated", np.arange(min(n, len(generated)))),
             ("most copy-like", "generated", np.argsort(pix_rel, kind="stable")[:n]),
             ("walk 1 points", "walk", keys),
             ("held-out real", "heldout", np.arange(min(n, len(heldout))))]
    sources = {"generated": generated, "walk": walk, "heldout": heldout}
    groups, query, shown = [], [], {s.name: [] for s in spaces}
    for name, src, idx in picks:
        g = {"name": name, "set": src, "count": len(idx), "query_index": idx.tolist()}
        if src == "generated":
            g["seeds"] = [sample_seeds[i] for i in idx]
        query.append(sources[src][torch.as_tensor(idx)])
        for s in spaces:
            ti, td, tr = nn[s.name][src]
            g[s.name] = {"train_index": ti[idx].tolist(), "distance": td[idx].round(6).tolist(),
                         "relative_distance": tr[idx].round(4).tolist()}
            shown[s.name].append(torch.stack([data[int(i)] for i in ti[idx]]))
        groups.append(g)
    mem["shown"] = {"groups": groups}
    for s in spaces:  # per-frame nearest neighbours of the walks
        ti, td, _ = nn[s.name]["walk"]
        mem.setdefault("walk_nearest", {})[s.name] = {"index": ti.reshape(R, F_).tolist(),
                                                       "distance": td.reshape(R, F_).round(6).tolist()}
    arrays = {"neighbours_query": torch.cat(query).numpy()}
    arrays.update({f"neighbours_{s}": torch.cat(v).numpy() for s, v in shown.items()})
    return mem, arrays


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
