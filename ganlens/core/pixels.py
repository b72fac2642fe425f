"""Pixel ranges: uint8 images in [0, 255] and the generator's floats in [-1, 1]."""

import torch


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images (..., C, H, W) in [0, 255] -> float in [-1, 1] (the generator's range)."""
    return x.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float images in [-1, 1] -> uint8 in [0, 255] (rounded, clipped)."""
    return ((x.detach().float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
