"""The nets, their optimisers and one DCGAN training step (shared by the trainer and the benchmark), and the
processes of a data-parallel run."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from ganlens.core.models import DCGANConfig, Discriminator, Generator


@dataclass
class Stepper:
    """The nets, their optimisers and one training step; shared by the CLI and the benchmark.

    ``D`` is the discriminator the D step trains (DDP-wrapped and/or compiled when asked); ``D_for_G``
    is the one the G step looks through: the same weights without the DDP wrapper (None: use ``D``).
    """

    G: torch.nn.Module
    D: torch.nn.Module
    optG: torch.optim.Optimizer
    optD: torch.optim.Optimizer
    amp: bool
    D_for_G: torch.nn.Module | None = None

    @classmethod
    def build(cls, config: DCGANConfig, lr: float, beta1: float, device: torch.device, amp: bool,
              compile: bool = False, ddp: bool = False) -> "Stepper":
        # channels_last pays on both devices (CPU, 2 cores, ngf=32, batch 64: 285 vs 177 img/s).
        G = Generator(config).to(device, memory_format=torch.channels_last)
        D = Discriminator(config).to(device, memory_format=torch.channels_last)
        # fused Adam: one kernel for all parameters on CUDA; on CPU the fused kernel measured
        # fastest too (benchmarks/README.md), so it is used on both.
        optG = torch.optim.Adam(G.parameters(), lr=lr, betas=(beta1, 0.999), fused=True)
        optD = torch.optim.Adam(D.parameters(), lr=lr, betas=(beta1, 0.999), fused=True)
        D_for_G = D
        if ddp:
            # Data-parallel with per-rank BatchNorm statistics (as the reference's DataParallel): each
            # rank normalises its own shard; DDP averages gradients and broadcasts rank 0's BN buffers.
            ids = [device.index] if device.type == "cuda" else None
            G, D = DDP(G, device_ids=ids), DDP(D, device_ids=ids)
        if compile:
            G, D = torch.compile(G), torch.compile(D)
            D_for_G = D if not ddp else torch.compile(D_for_G)
        return cls(G, D, optG, optD, amp, None if D_for_G is D else D_for_G)

    def step(self, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """One DCGAN step on real (B, nc, H, W) in [-1, 1] and z (B, nz).

        Returns a detached (4,) tensor on the device: loss_D, loss_G, D(x), D(G(z)) (no host sync).
        """
        dev = real.device.type
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=self.amp):
            # D: maximise log D(x) + log(1 - D(G(z))); real and fake go through D separately, so each
            # batch gets its own BatchNorm statistics, as in the reference.
            self.optD.zero_grad(set_to_none=True)
            logit_real = self.D(real).float()
            fake = self.G(z[:, :, None, None])
            logit_fake = self.D(fake.detach()).float()
            loss_d = (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
                      + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
        loss_d.backward()
        self.optD.step()
        D_g = self.D if self.D_for_G is None else self.D_for_G
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=self.amp):
            # G: maximise log D(G(z)) (the non-saturating loss of the paper)
            self.optG.zero_grad(set_to_none=True)
            logit_g = D_g(fake).float()
            loss_g = F.binary_cross_entropy_with_logits(logit_g, torch.ones_like(logit_g))
        # Only G's gradients: the reference also computes D's weight gradients here and throws them
        # away at the next D step. Naming G's parameters as the inputs skips D's weight-gradient
        # convolutions (and, under DDP, D's gradient all-reduce: D_for_G is not the DDP wrapper).
        loss_g.backward(inputs=self._g_params())
        self.optG.step()
        return torch.stack([loss_d.detach(), loss_g.detach(),
                            torch.sigmoid(logit_real.detach()).mean(), torch.sigmoid(logit_fake.detach()).mean()])

    def _g_params(self) -> list[torch.Tensor]:
        return [p for group in self.optG.param_groups for p in group["params"]]


def distributed() -> tuple[int, int]:
    """(rank, world size), initialising torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def rank_device(dev: torch.device, world: int) -> torch.device:
    """This process's device: with several CUDA processes, the GPU torchrun gave it (LOCAL_RANK)."""
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    return dev
