"""Paths between latents: straight lines, spherical paths, and walks through several points."""

from __future__ import annotations

import torch


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
