"""Latent walks with numbers, and a memorization report: ``ganlens.walk(gan)`` / ``python -m ganlens.walk``.

    r = ganlens.walk(gan, rows=4, points=9)             # any GAN: ganlens.load(path) or ganlens.wrap(G, D, nz=...)
    r = ganlens.walk(gan, data="rooms")                 # + the memorization report (ganlens.memorization)
    r.to_dict(), r.figure(), r.figure("neighbours"), r.save("out/walk")

The paper's Fig. 4 walks through "a series of 9 random points in Z" and reads smooth transitions as a
sign that the model has not memorized ("sharp transitions" would be). This draws that figure and
measures it:

* **Walk.** Each of ``rows`` walks visits ``points`` latents (seeds ``seed``, ``seed``+1, ... by the
  :func:`ganlens.latent_from_seed` rule, listed in the JSON) taking ``steps`` equal steps from one point
  to the next, so a row has ``(points-1)*steps + 1`` frames. ``interp="auto"`` walks normal latents by
  :func:`slerp` (a straight line between two Gaussian samples passes near the origin, where the
  generator never saw a latent: |z| drops to ~0.7|z| midway in 100 dimensions) and uniform latents
  (the paper's, a cube) by :func:`lerp`.
* **Step distances** between consecutive frames, in pixel space (RMS pixel difference, images in
  [0, 1]) and, when the GAN has a D, in D's feature space (its last hidden layer, the alias ``last``,
  average-pooled, L2-normalised; see :mod:`ganlens.memorization`).
* **Sharpness** of a walk = its largest step / its median step (1 = perfectly even). A step is flagged as
  a **jump** when it is more than ``jump_factor`` (default 4) times the walk's median step: steps of a
  smooth walk vary by a factor of 2-3, while a generator that switches between stored images changes
  (almost) nothing for many steps and everything in one.
* **Memorization** (only with ``data``): nearest training images of generated samples and walk frames,
  and the tests of :mod:`ganlens.memorization` (nearest-neighbour distances vs held-out real images,
  and the data-copying test C_T of Meehan et al. 2020), with a verdict whose rule is stored in the JSON:
  every space (pixel, and D features when there is a D) votes, and ``memorization.flagged_by`` names the
  space(s) that flagged copying.

Outputs of ``Result.save`` (and the command's ``--out``): ``walk.pdf/png`` (the figure, red bars mark
jumps), ``walk.json``, ``walk.npz`` (frames and latents the figures are drawn from), ``walk.mp4`` with
``video``, and with ``data`` ``neighbours.pdf/png`` (queries above their nearest training images in
pixel and feature space).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch

from ganlens import cli, memorization
from ganlens.core import figures
from ganlens.core.errors import GanlensError, require_memory
from ganlens.core.generate import images
from ganlens.core.results import Result, checkpoint_block, provenance
from ganlens.analyses.api import analysis_module

PROG = "python -m ganlens.walk"
EXAMPLES = f"""  {PROG}                                   # the shipped rooms model, 4 walks of 9 points
  {PROG} --checkpoint netG_epoch_24.pth --rows 6 --steps 10 --interp linear --out figs/walk
  {PROG} --data rooms --video                 # + memorization report against the model's training set
  {PROG} --checkpoint runs/celeba/last.pt --data ~/celeba/ --limit 20000 --device cuda
  {PROG} --model my_gan.py:build --data digits.npz   # your own networks (runs my_gan.py)
"""
JUMP_FACTOR = 4.0
MEDIAN_FLOOR = 1e-4       # a walk whose median step is below this (RMS, 1/40 of a grey level) is frozen
MAX_FRAMES_PER_LINE = 33  # ~64 px per frame across a two-column figure at 300 dpi


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


def compute_walk(gan, points: torch.Tensor, steps: int, interp: str, spaces: list | None = None,
                 jump_factor: float = JUMP_FACTOR) -> tuple[torch.Tensor, list[dict]]:
    """Walk every row of ``points`` (R, P, nz) through ``gan``'s generator and measure it.

    spaces: :class:`ganlens.memorization.Space` list (pixel first). Returns frames, uint8
    (R, F, nc, H, W) with F = (P-1)*steps + 1, and one dict per row with "step_distance",
    "sharpness", "median_step" and "jumps" (per space) plus the row's latents' norms.
    """
    spaces = spaces or [memorization.pixel_space()]
    R, P, _ = points.shape
    z = torch.stack([walk_latents(points[r], steps, interp) for r in range(R)])  # (R, F, nz)
    F_ = z.shape[1]
    frames = images(gan, z.reshape(R * F_, -1), uint8=True)
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


# ---------------------------------------------------------------------------------------------- walk

def walk(gan, *, rows: int = 4, points: int = 9, steps: int = 8, interp: str = "auto",
         jump_factor: float = JUMP_FACTOR, seed: int = 0, video: bool = False, data=None, heldout=None,
         samples: int = 512, holdout: int = 512, cells: int = 10, limit: int | None = None, chunk: int = 512,
         progress: bool = False) -> Result:
    """Latent walks of ``gan``'s generator (the paper's Fig. 4) with step distances, sharpness and jumps.

    rows walks of ``points`` latents (seeds ``seed`` onwards), ``steps`` steps between points; interp:
    "auto" (slerp for normal latents, linear for uniform), "slerp" or "linear". data (optional): training
    images (a spec such as ``"rooms"``, a folder or an .npz, or an opened ImageSet) for the memorization
    report of :func:`ganlens.memorization` on ``samples`` samples (seeds after the walks'), ``holdout``
    held-out real images (``heldout``: your own), ``cells`` k-means cells. video: also a ``walk.mp4``.
    Returns a :class:`ganlens.Result` of kind "walk" (figures "walk" and, with data, "neighbours").
    """
    memorization._at_least(rows=(rows, 1), points=(points, 2), steps=(steps, 1))

    if not jump_factor > 1:
        raise GanlensError(f"jump_factor must be above 1, got {jump_factor}")
    if interp not in ("auto", "linear", "slerp"):
        raise GanlensError(f"interp must be auto, linear or slerp, got {interp!r}")
    if heldout is not None and data is None:
        raise GanlensError("--heldout needs --data (the training images to search)")
    gan.require_G()
    frames = rows * ((points - 1) * steps + 1)  # every frame is held: float images, and copies for the distances
    require_memory(3 * frames * gan.nc * gan.image_size ** 2 * 4,
                   f"{rows} walks of {points} points and {steps} steps ({frames} frames)")
    interp = interp if interp != "auto" else ("slerp" if gan.latent == "normal" else "linear")
    if isinstance(data, str) and not data.strip():
        data = None  # --data '' turns the memorization report off (analyses/run_all.py --args documents it)
    opened = memorization.open_data(gan, data) if data is not None else None  # fails before any heavy work
    spaces = memorization.spaces_for(gan)
    key_seeds = list(range(seed, seed + rows * points))
    latents = gan.latents(key_seeds).reshape(rows, points, gan.nz)
    frames, row_stats = compute_walk(gan, latents, steps, interp, spaces, jump_factor)
    for r, row in enumerate(row_stats):
        row["seeds"] = key_seeds[r * points:(r + 1) * points]
    settings = {"points": points, "steps": steps, "rows": rows, "interp": interp,
                "frames_per_row": frames.shape[1], "seed": seed, "device": str(gan.device),
                "jump_factor": jump_factor, "median_floor": MEDIAN_FLOOR, "feature_layer": spaces[-1].layer}
    call = f"ganlens.walk({gan.name!r}, rows={rows}, points={points}, steps={steps}, interp={interp!r}, seed={seed})"
    result = {"checkpoint": checkpoint_block(gan), "settings": settings, "definitions": _definitions(gan, spaces),
              "spaces": [s.name for s in spaces], "rows": row_stats, "provenance": provenance(gan, seed, call=call)}
    _summarise(result, row_stats, [s.name for s in spaces])
    arrays = {"frames": frames.numpy(), "latents": latents.numpy(), "seeds": np.array(key_seeds)}
    plots = {"walk": plot_walk}
    if opened is not None:
        mem, shown = _memorization(gan, opened, spaces, frames, settings, dict(
            samples=samples, holdout=holdout, cells=cells, heldout=heldout, limit=limit, chunk=chunk,
            progress=progress))
        result["timing"] = {k: mem.pop(k) for k in memorization.TIMING}
        result["memorization"] = mem
        result["summary"]["memorizes"] = mem["memorizes"]
        result["summary"]["memorization_flagged_by"] = mem["flagged_by"]
        arrays.update(shown)
        plots["neighbours"] = lambda d, a: memorization.plot_neighbours(d["memorization"], a)
    return Result("walk", result, arrays, plots, {"walk.mp4": write_video} if video else None)


def _definitions(gan, spaces: list) -> dict:
    return {"pixel": "RMS difference of pixel values in [0, 1]",
            "feature": ("L2 distance of D's last hidden block, average-pooled and L2-normalised"
                        if len(spaces) > 1 else None),
            "sharpness": "max step / median step of a walk (1 = even)",
            "jump": "a step > jump_factor x the walk's median step",
            "step_distance": "median distance between consecutive frames over all walks"}


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


def _memorization(gan, data, spaces, frames: torch.Tensor, settings: dict, opts: dict) -> tuple[dict, dict]:
    """:func:`ganlens.memorization.check` with the walk frames as an extra query set (the points of the
    first walk get a column of the neighbours figure) and each frame's nearest training image."""
    R, F_ = frames.shape[:2]
    points, steps = settings["points"], settings["steps"]
    keys = np.linspace(0, points - 1, min(memorization.SHOWN, points)).round().astype(int) * steps
    frames_flat = frames.reshape(R * F_, *frames.shape[2:])
    mem, shown, nn = memorization.check(gan, data, spaces, seed=settings["seed"],
                                        first_seed=settings["seed"] + R * points, extra={"walk": frames_flat},
                                        extra_shown=[("walk 1 points", "walk", keys)], **opts)
    mem["walk_frames"] = R * F_
    for s in spaces:  # per-frame nearest neighbours of the walks
        ti, td, _ = nn[s.name]["walk"]
        mem.setdefault("walk_nearest", {})[s.name] = {"index": ti.reshape(R, F_).tolist(),
                                                       "distance": td.reshape(R, F_).round(6).tolist()}
    return mem, shown


# -------------------------------------------------------------------------------------------- figures

def walk_layout(n_frames: int, steps: int, max_per_line: int = MAX_FRAMES_PER_LINE) -> tuple[int, int]:
    """(segments per line, lines per walk): long walks wrap at keyframes so frames stay ~64 px wide.

    Each line starts at a point of the walk, which is repeated at the end of the line above.
    """
    n_seg = (n_frames - 1) // steps
    per = max(1, min(n_seg, (max_per_line - 1) // steps)) if n_seg else 1
    return per, max(1, math.ceil(n_seg / per))


def plot_walk(data: dict, arrays: dict):
    """The walk figure from walk.json (``settings.steps``, ``rows``) and walk.npz (``frames``, uint8
    (R, F, nc, H, W)): two-column width; a thin white gap between frames, a wider one between walks;
    pixel-space jumps are marked by a red bar between the two frames. Returns the Figure."""
    frames, steps = arrays["frames"], data["settings"]["steps"]
    R, F_ = frames.shape[:2]
    S = frames.shape[-1]
    per, lines = walk_layout(F_, steps)
    fpl = per * steps + 1 if F_ > 1 else 1
    gap, wgap = 1, max(3, S // 8)
    cells = []   # line by line, each padded to fpl frames with empty cells
    for r in range(R):
        imgs = figures.rgb(frames[r])
        for ln in range(lines):
            line = list(imgs[ln * per * steps:ln * per * steps + fpl])
            cells += line + [None] * (fpl - len(line))
    row_gaps = ([gap] * (lines - 1) + [wgap]) * R   # a wider gap between walks than between lines
    canvas = figures.tile(cells, fpl, gap=gap, row_gaps=row_gaps[:-1])
    ys = figures.offsets(R * lines, S, row_gaps[:-1])
    pos = {(r, ln): ys[r * lines + ln] for r in range(R) for ln in range(lines)}  # (row, line) -> y of the line
    Hc, Wc = canvas.shape[:2]
    with figures.style():
        fig, ax = figures.figure("two", aspect=Hc / Wc)
        ax.set_position([0, 0, 1, 1])
        figures.show_canvas(ax, canvas, int(figures.TWO_COLUMN * figures.DPI))
        for r, row in enumerate(data["rows"]):
            for j in row["jumps"]:
                if j["space"] != "pixel":
                    continue
                i = j["step"]
                ln = min(i // (per * steps), lines - 1)
                x = (i - ln * per * steps) * (S + gap) + S + gap / 2
                ax.plot([x, x], [pos[(r, ln)] - 0.5, pos[(r, ln)] + S + 0.5], color="red", lw=0.9,
                        solid_capstyle="butt")
    return fig


def write_video(data: dict, arrays: dict, path) -> None:
    """All walks tiled (walk.npz ``frames``, uint8 (R, F, nc, H, W)) as an MP4 (opencv, mp4v), ``steps``
    frames a second (one point a second), each frame enlarged to >= 256 px."""
    import cv2
    frames = arrays["frames"]
    R, F_ = frames.shape[:2]
    nrow = math.ceil(math.sqrt(R))
    scale = max(1, 256 // frames.shape[-1])
    tiles = [figures.enlarge(figures.as_uint8(figures.grid(frames[:, f], nrow=nrow)), scale) for f in range(F_)]
    h, w = tiles[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(data["settings"]["steps"]), (w, h))
    if not writer.isOpened():
        raise GanlensError(f"--video: opencv cannot write MP4 files here ({path.name})")
    try:
        for t in tiles:
            writer.write(cv2.cvtColor(t, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


# ------------------------------------------------------------------------------------------------ main

def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Latent walks (the paper's Fig. 4) with step distances, a sharpness score and an "
                         "optional nearest-neighbour memorization report.", EXAMPLES)
    p.add_common(out_default="ganlens-out/walk")
    p.add_argument("--points", type=cli.at_least(2), default=9, help="random latents each walk visits (default: 9)")
    p.add_argument("--steps", type=cli.at_least(1), default=8,
                   help="steps from one point to the next, i.e. steps-1 frames in between (default: 8)")
    p.add_argument("--rows", type=cli.at_least(1), default=4, help="number of walks (default: 4)")
    p.add_argument("--interp", choices=("auto", "linear", "slerp"), default="auto",
                   help="path between points: auto = slerp for normal latents, linear for uniform")
    p.add_argument("--jump-factor", type=cli.number(1, open_low=True), default=JUMP_FACTOR,
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
    m.add_argument("--samples", type=cli.at_least(2), default=512, help="generated samples to test (default: 512)")
    m.add_argument("--holdout", type=cli.at_least(2), default=512,
                   help="held-out real images to compare (default: 512)")
    m.add_argument("--cells", type=cli.at_least(1), default=10,
                   help="k-means cells of the data-copying test (default: 10)")
    m.add_argument("--limit", type=cli.at_least(1), help="search only the first N training images")
    m.add_argument("--chunk", type=cli.at_least(1), default=512, help="training images per search chunk (default: 512)")
    return p


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    return walk(gan, rows=args.rows, points=args.points, steps=args.steps, interp=args.interp,
                jump_factor=args.jump_factor, seed=args.seed, video=args.video, data=args.data,
                heldout=args.heldout, samples=args.samples, holdout=args.holdout, cells=args.cells,
                limit=args.limit, chunk=args.chunk, progress=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    t0 = time.perf_counter()
    _, gan = cli.start(args)  # checks --out before the work, then device, seed, model
    r = from_args(args, gan)
    written = r.save(args.out)
    s, mem = r["summary"], r.data.get("memorization")
    line = (f"walk: {args.rows} walks x {r['settings']['frames_per_row']} frames, sharpness {s['sharpness']:.2f}, "
            f"median step {s['step_distance']:.4f} (pixel RMS), {s['jumps']} jump(s)")
    if mem is not None:
        line += (f"; memorization against {mem['data']}: {mem['verdict']}"
                 + (f" (flagged by {', '.join(mem['flagged_by'])}: {'; '.join(mem['reasons'])})" if mem["reasons"]
                    else ""))
    print(f"{line}; wrote {', '.join(p.name for p in written)} to {args.out} in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return 0


analysis_module(__name__, walk)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
