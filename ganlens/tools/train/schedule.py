"""What a training step uses, as a function of (seed, iteration) only, so ``--resume`` continues a run
exactly: the epoch's shuffle, the step's latents; and whether a device trains in bf16."""

from __future__ import annotations

import torch


def step_latents(seed: int, iteration: int, batch: int, nz: int, latent: str, device: torch.device,
                 rank: int = 0) -> torch.Tensor:
    """The latents (batch, nz) of one training step: a function of (seed, iteration, rank) only."""
    gen = torch.Generator(device=device).manual_seed(_mix(seed, iteration, rank, 1))
    if latent == "normal":
        return torch.randn(batch, nz, generator=gen, device=device)
    return torch.rand(batch, nz, generator=gen, device=device) * 2 - 1


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The shuffle of epoch ``epoch``: a permutation of range(n) that depends on (seed, epoch) only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(_mix(seed, epoch, 0, 2)))


def _mix(*parts: int) -> int:
    """A 63-bit seed from integers (splitmix-style), so that nearby (seed, step) pairs are unrelated."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def use_bf16(amp: str, dev: torch.device) -> bool:
    """``--amp``: bf16 autocast when asked, or by default (auto) on CUDA; off on CPU."""
    return amp == "bf16" or (amp == "auto" and dev.type == "cuda")
