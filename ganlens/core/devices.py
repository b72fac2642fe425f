"""The one device rule: a ``--device`` / ``device=`` value (auto, cpu, cuda, cuda:N) -> a torch.device."""

from __future__ import annotations

import torch

from ganlens.core.errors import GanlensError


def device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without CUDA is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise GanlensError(f"--device {name!r}: not a device; use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GanlensError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    if dev.type not in ("cpu", "cuda"):
        raise GanlensError(f"--device {name}: only cpu and cuda are supported")
    return dev
