"""Latent geometry: the neighbours' noise (the paper's +-0.25, relative to the latent distribution), the
typical latent norm and rescaling to it, the 3x3 grid, concept vectors and the result vector Y."""

from __future__ import annotations

import math

import torch

from ganlens.analyses.arith.expr import Term, combine

JITTER = 0.25          # the paper's +-0.25 on U(-1, 1) latents, as a fraction of the latent std
NEIGHBOURS = 8         # around the centre of a 3x3 grid
NORMS = ("none", "typical")


def noise_amplitude(latent: str, scale: float = JITTER) -> float:
    """Half-width a of the uniform noise U(-a, a) whose std is ``scale`` x the latent std."""
    latent_std = 1 / math.sqrt(3) if latent == "uniform" else 1.0
    return scale * math.sqrt(3) * latent_std


def uniform_noise(n: int, nz: int, latent: str, scale: float = JITTER,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, nz) float64 noise U(-a, a) per coordinate, a from :func:`noise_amplitude`."""
    return (torch.rand(n, nz, generator=generator, dtype=torch.float64) * 2 - 1) * noise_amplitude(latent, scale)


def neighbourhood(y: torch.Tensor, noise: torch.Tensor, latent: str) -> torch.Tensor:
    """``y + noise`` (n, nz) in y's dtype; uniform latents: clipped to [-1, 1] (the generator's training support)."""
    out = y.double() + noise
    return (out.clamp(-1, 1) if latent == "uniform" else out).to(y.dtype)


def jitter(y: torch.Tensor, n: int, latent: str, scale: float = JITTER,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` neighbours of y (nz,) -> (n, nz): ``y + U(-a, a)`` (a from :func:`noise_amplitude`).

    Uniform latents: the neighbours are clipped to [-1, 1] (the generator's training support).
    """
    return neighbourhood(y, uniform_noise(n, y.shape[-1], latent, scale, generator), latent)


def typical_norm(nz: int, latent: str) -> float:
    """sqrt(E|z|^2) of a latent: sqrt(nz) for N(0, I), sqrt(nz / 3) for U(-1, 1)."""
    return math.sqrt(nz / 3 if latent == "uniform" else nz)


def rescale(v: torch.Tensor, norm: float) -> torch.Tensor:
    """v (nz,) scaled to length ``norm`` (a zero vector stays zero)."""
    n = float(v.double().norm())
    return (v.double() * (norm / n)).to(v.dtype) if n > 0 else v


def grid_latents(y: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Centre y (nz,) and 8 neighbours (8, nz) -> (9, nz) in 3x3 reading order with y at index 4."""
    return torch.cat([neighbours[:4], y[None], neighbours[4:]])


def concept_vectors(z: dict[str, torch.Tensor], norm: str, gan) -> dict[str, torch.Tensor]:
    """{name: exemplar latents (k, nz)} -> {name: (nz,)}: the mean of the exemplars ("none"), rescaled to
    the typical latent norm with ``norm="typical"``."""
    means = {n: v.double().mean(0).float() for n, v in z.items()}
    if norm == "typical":
        means = {n: rescale(v, typical_norm(gan.nz, gan.latent)) for n, v in means.items()}
    return means


def result_vector(terms: list[Term], vectors: dict[str, torch.Tensor], norm: str, gan) -> torch.Tensor:
    """Y = sum(coef * vector); rescaled to the typical norm with ``norm="typical"``."""
    y = combine(terms, vectors)
    return rescale(y, typical_norm(gan.nz, gan.latent)) if norm == "typical" else y
