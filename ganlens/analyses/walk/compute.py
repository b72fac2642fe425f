"""Latent walks measured: step distances, sharpness and jumps, with the memorization check when given data."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.api import renamed
from ganlens.analyses.memorization.compute import SHOWN, TIMING, check
from ganlens.analyses.memorization.figure import plot_neighbours
from ganlens.analyses.walk.record import Jump, WalkRow
from ganlens.analyses.walk.figure import plot_walk, write_video
from ganlens.core.embed import pixel_space, spaces_for
from ganlens.core.errors import GanlensError, require_at_least, require_memory
from ganlens.core.generate import images
from ganlens.core.interpolate import walk_latents
from ganlens.core.results import Result, checkpoint_block, provenance
from ganlens.data.training import open_data


JUMP_FACTOR = 4.0

MEDIAN_FLOOR = 1e-4       # a walk whose median step is below this (RMS, 1/40 of a grey level) is frozen


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
                 jump_factor: float = JUMP_FACTOR) -> tuple[torch.Tensor, list[WalkRow]]:
    """Walk every row of ``points`` (R, P, nz) through ``gan``'s generator and measure it.

    spaces: :class:`ganlens.memorization.Space` list (pixel first). Returns frames, uint8
    (R, F, nc, H, W) with F = (P-1)*steps + 1, and a :class:`WalkRow` per walk.
    """
    spaces = spaces or [pixel_space()]
    R, P, _ = points.shape
    z = torch.stack([walk_latents(points[r], steps, interp) for r in range(R)])  # (R, F, nz)
    F_ = z.shape[1]
    frames = images(gan, z.reshape(R * F_, -1), uint8=True)
    frames = frames.reshape(R, F_, *frames.shape[1:])
    rows = []
    for r in range(R):
        row = WalkRow(walk=r)
        for s in spaces:
            d = step_distances(s.embed(frames[r]))
            row.step_distance[s.name] = d.round(6).tolist()
            row.sharpness[s.name] = sharpness(d)
            row.median_step[s.name] = float(np.median(d))
            row.jumps += [Jump(space=s.name, step=i, frames=[i, i + 1], segment=i // steps, distance=float(d[i]),
                               ratio=float(d[i] / max(np.median(d), MEDIAN_FLOOR)))
                          for i in find_jumps(d, jump_factor)]
        norms = z[r].double().norm(dim=1)
        row.latent_norm = {"min": float(norms.min()), "max": float(norms.max())}
        rows.append(row)
    return frames, rows


@renamed(samples="n", chunk="batch_size")
def walk(gan, *, rows: int = 4, points: int = 9, steps: int = 8, interp: str = "auto",
         jump_factor: float = JUMP_FACTOR, seed: int = 0, video: bool = False, data=None, heldout=None,
         n: int = 512, holdout: int = 512, cells: int = 10, limit: int | None = None, batch_size: int = 512,
         progress: bool = False) -> Result:
    """Latent walks of ``gan``'s generator (the paper's Fig. 4) with step distances, sharpness and jumps.

    rows walks of ``points`` latents (seeds ``seed`` onwards), ``steps`` steps between points; interp:
    "auto" (slerp for normal latents, linear for uniform), "slerp" or "linear". data (optional): training
    images (a spec such as ``"rooms"``, a folder or an .npz, or an opened ImageSet) for the memorization
    report of :func:`ganlens.memorization` on ``n`` samples (seeds after the walks'), ``holdout``
    held-out real images (``heldout``: your own), ``cells`` k-means cells. video: also a ``walk.mp4``.
    Returns a :class:`ganlens.Result` of kind "walk" (figures "walk" and, with data, "neighbours").
    """
    require_at_least({"rows": (rows, 1), "points": (points, 2), "steps": (steps, 1)})

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
    opened = open_data(gan, data) if data is not None else None  # fails before any heavy work
    spaces = spaces_for(gan)
    key_seeds = list(range(seed, seed + rows * points))
    latents = gan.latents(key_seeds).reshape(rows, points, gan.nz)
    frames, row_stats = compute_walk(gan, latents, steps, interp, spaces, jump_factor)
    for r, row in enumerate(row_stats):
        row.seeds = key_seeds[r * points:(r + 1) * points]
    settings = {"points": points, "steps": steps, "rows": rows, "interp": interp,
                "frames_per_row": frames.shape[1], "seed": seed, "device": str(gan.device),
                "jump_factor": jump_factor, "median_floor": MEDIAN_FLOOR, "feature_layer": spaces[-1].layer}
    call = f"ganlens.walk({gan.name!r}, rows={rows}, points={points}, steps={steps}, interp={interp!r}, seed={seed})"
    result = {"checkpoint": checkpoint_block(gan), "settings": settings, "definitions": _definitions(gan, spaces),
              "spaces": [s.name for s in spaces], "rows": [r.to_dict() for r in row_stats], "provenance": provenance(gan, seed, call=call)}
    _summarise(result, row_stats, [s.name for s in spaces])
    arrays = {"frames": frames.numpy(), "latents": latents.numpy(), "seeds": np.array(key_seeds)}
    plots = {"walk": plot_walk}
    if opened is not None:
        mem, shown = _memorization(gan, opened, spaces, frames, settings, dict(
            n=n, holdout=holdout, cells=cells, heldout=heldout, limit=limit, batch_size=batch_size,
            progress=progress))
        result["timing"] = {k: mem.pop(k) for k in TIMING}
        result["memorization"] = mem
        result["summary"]["memorizes"] = mem["memorizes"]
        result["summary"]["memorization_flagged_by"] = mem["flagged_by"]
        arrays.update(shown)
        plots["neighbours"] = lambda d, a: plot_neighbours(d["memorization"], a)
    return Result("walk", result, arrays, plots, {"walk.mp4": write_video} if video else None)


def _definitions(gan, spaces: list) -> dict:
    return {"pixel": "RMS difference of pixel values in [0, 1]",
            "feature": ("L2 distance of D's last hidden block, average-pooled and L2-normalised"
                        if len(spaces) > 1 else None),
            "sharpness": "max step / median step of a walk (1 = even)",
            "jump": "a step > jump_factor x the walk's median step",
            "step_distance": "median distance between consecutive frames over all walks"}


def _summarise(result: dict, rows: list[WalkRow], spaces: list[str]) -> None:
    """Headline numbers (pixel space; feature-space twins with a _feature suffix)."""
    summary = {"jumps": sum(1 for r in rows for j in r.jumps if j.space == "pixel")}
    for s in spaces:
        suffix = "" if s == "pixel" else f"_{s}"
        summary["sharpness" + suffix] = max(r.sharpness[s] for r in rows)
        summary["step_distance" + suffix] = float(np.median(np.concatenate([r.step_distance[s] for r in rows])))
        if s != "pixel":
            summary["jumps" + suffix] = sum(1 for r in rows for j in r.jumps if j.space == s)
    summary["smooth"] = summary["jumps"] == 0
    result["summary"] = summary
    result["sharpness"] = summary["sharpness"]
    result["step_distance"] = summary["step_distance"]


def _memorization(gan, data, spaces, frames: torch.Tensor, settings: dict, opts: dict) -> tuple[dict, dict]:
    """:func:`ganlens.memorization.check` with the walk frames as an extra query set (the points of the
    first walk get a column of the neighbours figure) and each frame's nearest training image."""
    R, F_ = frames.shape[:2]
    points, steps = settings["points"], settings["steps"]
    keys = np.linspace(0, points - 1, min(SHOWN, points)).round().astype(int) * steps
    frames_flat = frames.reshape(R * F_, *frames.shape[2:])
    mem, shown, nn = check(gan, data, spaces, seed=settings["seed"],
                                        first_seed=settings["seed"] + R * points, extra={"walk": frames_flat},
                                        extra_shown=[("walk 1 points", "walk", keys)], **opts)
    mem["walk_frames"] = R * F_
    for s in spaces:  # per-frame nearest neighbours of the walks
        near = nn[s.name]["walk"]
        ti, td = near.index, near.distance
        mem.setdefault("walk_nearest", {})[s.name] = {"index": ti.reshape(R, F_).tolist(),
                                                       "distance": td.reshape(R, F_).round(6).tolist()}
    return mem, shown
