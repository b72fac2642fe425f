"""The turn (Fig. 8): the direction ``d = vector(TO) - vector(FROM)``; row 0 walks from vector(FROM) to
vector(TO), further rows add ``t d`` to other samples, ``t`` from 0 to 1."""

from __future__ import annotations

import torch

from ganlens.analyses.arith.concepts import Concept
from ganlens.analyses.arith.judge import Judge, judged
from ganlens.analyses.arith.latents import concept_vectors
from ganlens.analyses.arith.record import TurnRun
from ganlens.core.generate import images


def turn_latents(z_from: torch.Tensor, z_to: torch.Tensor, bases: torch.Tensor, steps: int) -> torch.Tensor:
    """Rows ``base + t (z_to - z_from)``, t = 0..1 in ``steps`` frames; row 0's base is z_from.

    z_from, z_to (nz,); bases (R, nz) -> (R + 1, steps, nz). Row 0 ends at z_to exactly (up to rounding).
    """
    d = (z_to.double() - z_from.double())
    t = torch.linspace(0, 1, steps, dtype=torch.float64)[:, None]
    rows = [z_from.double()[None] + t * d] + [b.double()[None] + t * d for b in bases]
    out = torch.stack(rows).to(z_from.dtype)
    out[0, -1] = z_to
    return out



def compute_turn(gan, turn: tuple[str, str], concepts: dict[str, Concept], seeds: list[int], steps: int,
                 judge: Judge | None, attributes: tuple[str, ...], norm: str) -> TurnRun:
    """The turn from concept ``turn[0]`` to ``turn[1]``, added to the samples of ``seeds``, in ``steps``
    frames; with a judge, which frames have each attribute."""
    a, b = turn
    vec = concept_vectors({n: concepts[n].z for n in turn}, norm, gan)
    zt = turn_latents(vec[a], vec[b], gan.latents(seeds), steps)
    frames = images(gan, zt.reshape(-1, gan.nz), uint8=True)
    frames = frames.reshape(*zt.shape[:2], *frames.shape[1:])
    out = TurnRun(a, b, seeds, steps, norm, zt, frames, float((vec[b].double() - vec[a].double()).norm()),
                  {n: concepts[n] for n in turn})
    if judge is not None:
        att = judged(judge, frames.reshape(-1, *frames.shape[2:]), attributes)
        out.has = {k: v.reshape(frames.shape[:2]) for k, v in att.items()}
    return out
