"""A training run's settings (:class:`Settings`, the command's flags) and what it reports (:class:`TrainRecord`,
written as ``train.json``); the rows of ``history.json`` are :data:`HISTORY_FIELDS`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.models import DCGANConfig

HISTORY_FIELDS = ("iteration", "loss_d", "loss_g", "d_x", "d_g_z")
N_FIXED = 64  # the sample grids' fixed latents: seeds 0..63 by the ganlens.load seed rule


@dataclass
class Settings:
    """Every setting of a training run (the command's flags; ``ganlens.train(**settings)`` takes them too)."""

    data: str = "rooms"
    out: str = "runs/train"
    image_size: int = 64
    nc: int = 3
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    latent: str = "normal"
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    iters: int | None = None
    epochs: int | None = None
    device: str = "auto"
    seed: int = 0
    resume: str | None = None
    ckpt_every: int = 500
    keep: int = 3
    log_every: int = 50
    sample_every: int | None = None
    amp: str = "auto"
    compile: bool = False

    def check(self) -> None:
        require_at_least({name: (getattr(self, name), 1) for name in ("batch_size", "ckpt_every", "log_every",
                                                                     "keep", "sample_every", "iters", "epochs")},
                         flags=True)
        if self.iters is not None and self.epochs is not None:
            raise GanlensError("give --iters or --epochs, not both")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise GanlensError(f"--lr must be a positive finite number, got {self.lr}")
        if not 0 <= self.beta1 < 1:
            raise GanlensError(f"--beta1 must be in [0, 1), got {self.beta1}")


@dataclass
class TrainRecord:
    """What one run (or one resumed part of it) did: ``train.json``."""

    settings: dict
    config: DCGANConfig
    data: str
    device: str
    world_size: int
    iterations: int
    resumed_from: str
    seconds_this_run: float
    images_per_second: float
    provenance: dict

    def to_dict(self) -> dict:
        return {"settings": self.settings, "config": self.config.to_dict(), "data": self.data,
                "device": self.device, "world_size": self.world_size, "iterations": self.iterations,
                "resumed_from": self.resumed_from, "seconds_this_run": round(self.seconds_this_run, 2),
                "images_per_second": round(self.images_per_second, 1), "provenance": self.provenance}
