"""Edits along latent directions, as the reference draws them, and what they change in the images.

    lat = centred_edits(z, dirs, mean, offsets)     # (L, m, S, nz)
    m = measure(gan, z, dirs, mean, step, judge)    # change per latent and direction (+ class shares)

An edit first moves the latent to the latent mean along the direction (the reference's "centred" strips),
then ``offset`` along it; offsets are in latent units (sigma_latent times the figure's sigmas).
"""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.ganspace.objects import Judge
from ganlens.analyses.ganspace.record import Measured
from ganlens.core.generate import images


def random_frames(nz: int, k: int, draws: int, seed: int) -> np.ndarray:
    """``draws`` sets of ``k`` random orthonormal directions (rows) in latent space -> (draws, k, nz): the QR
    factor of a Gaussian matrix with its signs fixed (uniform over orthonormal frames). Draw d depends on
    (seed, d) only."""
    out = np.empty((draws, k, nz))
    for d in range(draws):
        g = np.random.default_rng([seed, 2, d]).standard_normal((nz, k))
        q, r = np.linalg.qr(g)
        out[d] = (q * np.sign(np.diag(r))).T
    return out


def centred_edits(z: np.ndarray, dirs: np.ndarray, mean: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Latents z (L, nz), unit directions (m, nz), latent mean (nz,), offsets (S,) -> edited latents
    (L, m, S, nz): z with its coordinate along each direction set to the mean's, plus each offset."""
    coord = (z - mean) @ dirs.T                                   # (L, m)
    base = z[:, None, :] - coord[..., None] * dirs[None]          # (L, m, nz)
    return base[:, :, None, :] + offsets[None, None, :, None] * dirs[None, :, None, :]


def _images(gan, lat: np.ndarray, batch_size: int) -> torch.Tensor:
    flat = torch.from_numpy(lat.reshape(-1, lat.shape[-1])).float()
    x = images(gan, flat, batch=batch_size)
    return x.reshape(*lat.shape[:-1], *x.shape[1:])


def measure(gan, z: np.ndarray, dirs: np.ndarray, mean: np.ndarray, step: float, judge: Judge | None,
            batch_size: int) -> Measured:
    """Each latent (L, nz) edited to -step and +step along each direction (m, nz): the RMS pixel change
    (pixels in [0, 1]) per unit of latent distance (L, m), and with a judge the class shares of both ends."""
    x = _images(gan, centred_edits(z, dirs, mean, np.array([-step, step])), batch_size)   # (L, m, 2, nc, H, W)
    diff = (x[:, :, 1] - x[:, :, 0]).double() / 2
    change = diff.pow(2).mean(dim=(-3, -2, -1)).sqrt().numpy() / (2 * step)
    if judge is None:
        return Measured(change)
    L, m = change.shape
    shares = judge.shares(x.reshape(L * m * 2, *x.shape[3:])).reshape(L, m, 2, -1)
    return Measured(change, shares[:, :, 0], shares[:, :, 1])


def frames(gan, z: np.ndarray, dirs: np.ndarray, mean: np.ndarray, offsets: np.ndarray,
           batch_size: int) -> np.ndarray:
    """The figure's strips: uint8 (m, L, S, nc, H, W), direction-major, for latents (L, nz) and offsets (S,)."""
    lat = centred_edits(z, dirs, mean, offsets).transpose(1, 0, 2, 3)          # (m, L, S, nz)
    flat = torch.from_numpy(np.ascontiguousarray(lat).reshape(-1, lat.shape[-1])).float()
    x = images(gan, flat, batch=batch_size, uint8=True)
    return x.reshape(*lat.shape[:-1], *x.shape[1:]).numpy()
