"""The paper's DCGAN trainer: ``python -m ganlens.train``.

One training step is the reference's (pytorch/examples ``dcgan/main.py``): D on a real batch and on a
fake batch, then G through D on the same fake batch, BCE losses, Adam(2e-4, beta1 0.5). What differs is
the engineering: data live in memory as uint8 (on the GPU when it fits), losses are accumulated on the
device and read every ``--log-every`` steps (no per-step host sync), bf16 autocast + channels_last +
fused Adam on CUDA, optional ``torch.compile``.

Randomness is a function of (seed, iteration): the epoch's shuffle is seeded by (seed, epoch) and each
step's latents by (seed, iteration), so ``--resume`` continues exactly where a run stopped.

Outputs in ``--out``: ``last.pt`` (rolling) and ``ckpt_NNNNNNN.pt`` (the newest ``--keep``), sample grids
``samples_NNNNNNN.png`` (64 fixed latents, seeds 0..63 by the ``ganlens.load`` seed rule), ``loss.pdf/png``,
``history.json`` (losses, D(x), D(G(z)) every ``--log-every`` steps) and ``train.json`` (settings, speed).
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import checkpoints, cli, figures
from .checkpoints import latent_from_seed
from .data import RoomsSet, load_all, open_images, to_float
from .errors import GanlensError
from .models import LATENTS, ConfigError, DCGANConfig, Discriminator, Generator

PROG = "python -m ganlens.train"
EXAMPLES = f"""  {PROG} --data rooms --out runs/rooms64 --iters 3000 --ngf 32 --ndf 32 --batch-size 64
  {PROG} --data ~/celeba/ --out runs/celeba --epochs 5 --device cuda --compile
  {PROG} --out runs/rooms64 --resume            # continue the run in runs/rooms64 exactly
  torchrun --nproc_per_node 2 -m ganlens.train --data rooms --out runs/ddp --iters 1000
"""
HISTORY_FIELDS = ("iteration", "loss_d", "loss_g", "d_x", "d_g_z")
N_FIXED = 64


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Train the DCGAN of Radford et al. (2016) on rooms or your own images.", EXAMPLES)
    p.add_argument("--data", default="rooms", help="rooms, rooms:n=N,seed=S, an image folder, .npz or LSUN lmdb")
    p.add_argument("--out", default="runs/train", metavar="DIR", help="run folder (default: runs/train)")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--nc", type=int, default=3, help="image channels: 3 colour, 1 grey (default: 3)")
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--latent", choices=LATENTS, default="normal")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--iters", type=int, help="total training iterations (steps)")
    length.add_argument("--epochs", type=int, help="total epochs over the data (default: 5)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                   help="continue a run: from CKPT, or (no value) from --out's last.pt")
    p.add_argument("--ckpt-every", type=int, default=500, help="checkpoint every N iterations (default: 500)")
    p.add_argument("--keep", type=int, default=3, help="numbered checkpoints to keep (default: 3)")
    p.add_argument("--log-every", type=int, default=50, help="read losses every N iterations (default: 50)")
    p.add_argument("--sample-every", type=int, help="sample grid every N iterations (default: once an epoch)")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                   help="mixed precision: auto = bf16 on CUDA, off on CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile G and D (CUDA: faster after warm-up)")
    return p


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
            from torch.nn.parallel import DistributedDataParallel as DDP
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


def _find_resume(out: Path, resume: str) -> Path:
    """The checkpoint to resume from: the newest readable one.

    last.pt is written just after the numbered checkpoint of the same iteration, so a run killed between
    the two saves leaves a numbered checkpoint newer than last.pt, which is then taken; a corrupt last.pt
    falls back to the newest good numbered one.
    """
    if resume != "auto":
        return Path(resume)
    last, last_it = out / "last.pt", None
    if last.exists():
        try:
            obj = checkpoints.read(last)
            state = obj.get("state") if isinstance(obj, dict) else None
            last_it = state.get("iteration", -1) if isinstance(state, dict) else -1
        except GanlensError as e:
            print(f"warning: {e}; trying an older checkpoint", file=sys.stderr)
    numbered = sorted(out.glob("ckpt_*.pt"), reverse=True)
    if last_it is not None:
        numbered = [p for p in numbered if _iteration(p) > last_it]
    for path in numbered:
        try:
            checkpoints.read(path)
        except GanlensError as e:
            print(f"warning: {e}; trying an older checkpoint", file=sys.stderr)
            continue
        return path
    if last_it is not None:
        return last
    raise GanlensError(f"--resume: no readable checkpoint in {out}")


def _iteration(path: Path) -> int:
    """7 in ``ckpt_0000007.pt``; -1 for other names."""
    m = re.fullmatch(r"ckpt_(\d+)\.pt", path.name)
    return int(m[1]) if m else -1


def _distributed() -> tuple[int, int]:
    """(rank, world size), initialising torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    rank, world = _distributed()
    dev = cli.device(args.device)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    out = Path(args.out)
    for name in ("batch_size", "ckpt_every", "log_every", "keep"):
        if getattr(args, name) < 1:
            raise GanlensError(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch_size % world:
        raise GanlensError(f"--batch-size {args.batch_size} must be divisible by the {world} processes")

    state, resume_from = None, None
    if args.resume:
        resume_from = _find_resume(out, args.resume)
        ckpt = checkpoints.read(resume_from)
        if not isinstance(ckpt, dict) or ckpt.get("format") != checkpoints.FORMAT or not ckpt.get("state"):
            raise GanlensError(f"{resume_from}: not a ganlens training checkpoint (no optimiser state to resume)")
        config = DCGANConfig.from_dict(ckpt["config"])
        state = ckpt["state"]
        saved = state["args"]
        for k in ("data", "batch_size", "lr", "beta1", "seed"):  # the run's settings win over flags
            setattr(args, k, saved[k])
        for k in ("nz", "ngf", "ndf", "nc", "image_size", "latent"):  # so train.json records the real model
            setattr(args, k, getattr(config, k))
        if args.iters is None and args.epochs is None:
            args.iters = saved["iters"]
    else:
        if (out / "last.pt").exists():
            raise GanlensError(f"--out {out}: already holds a run (last.pt); use --resume or another --out")
        try:
            config = DCGANConfig(nz=args.nz, ngf=args.ngf, ndf=args.ndf, nc=args.nc,
                                 image_size=args.image_size, latent=args.latent)
        except ConfigError as e:
            raise GanlensError(f"bad model settings: {e}")
    cli.check_out(out)  # also a parent that is a file, which .exists() let through to a traceback at mkdir

    data = open_images(args.data, config.image_size, config.nc)
    per_rank = args.batch_size // world
    steps_per_epoch = len(data) // args.batch_size
    if steps_per_epoch == 0:
        raise GanlensError(f"--data {args.data}: {len(data)} images is fewer than one batch of {args.batch_size}")
    total = args.iters if args.iters is not None else (args.epochs or 5) * steps_per_epoch
    if total < 1:
        raise GanlensError("--iters/--epochs must be at least 1")

    torch.manual_seed(args.seed)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    amp = args.amp == "bf16" or (args.amp == "auto" and dev.type == "cuda")
    st = Stepper.build(config, args.lr, args.beta1, dev, amp, compile=args.compile, ddp=world > 1)
    G_plain, D_plain = checkpoints._unwrap(st.G), checkpoints._unwrap(st.D)
    start, history = 0, []
    if state is not None:
        G_plain.load_state_dict(ckpt["G"])
        D_plain.load_state_dict(ckpt["D"])
        st.optG.load_state_dict(state["optG"])
        st.optD.load_state_dict(state["optD"])
        start, history = state["iteration"], [list(h) for h in state["history"]]
        if rank == 0:
            print(f"resuming {resume_from} at iteration {start} of {total}", file=sys.stderr)

    images = load_all(data)  # uint8 (N, nc, H, W): 12 KB per 64x64 colour image
    if dev.type == "cuda" and images.numel() < 0.3 * torch.cuda.mem_get_info(dev)[0]:
        images = images.to(dev)
    fixed = torch.stack([latent_from_seed(s, config.nz, config.latent) for s in range(N_FIXED)]).to(dev)
    settings = {k: v for k, v in vars(args).items() if k != "resume"} | {"iters": total}
    data_desc = data.spec if isinstance(data, RoomsSet) else f"{data.spec} ({len(data)} images)"

    def save_checkpoint(it: int) -> None:
        if rank != 0:
            return
        for net in (G_plain, D_plain):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                bar.close()  # as on the NaN-loss path: no half-drawn progress bar after the error line
                raise GanlensError(f"weights became NaN/inf before iteration {it}; "
                                   f"kept the last good checkpoint in {out}")
        prov = checkpoints.provenance(args.seed, data=data_desc, iterations=it, device=str(dev),
                                      world_size=world, args=settings)
        st_ = {"iteration": it, "optG": st.optG.state_dict(), "optD": st.optD.state_dict(),
               "history": history, "args": settings}
        numbered = out / f"ckpt_{it:07d}.pt"
        checkpoints.save(numbered, config, G_plain, D_plain, state=st_, provenance=prov)
        checkpoints.save(out / "last.pt", config, G_plain, D_plain, state=st_, provenance=prov)
        for old in sorted(out.glob("ckpt_*.pt"))[:-args.keep]:
            old.unlink()

    def save_samples(it: int) -> None:
        if rank != 0:
            return
        G_plain.eval()
        with torch.no_grad():
            fake = G_plain(fixed[:, :, None, None]).float()
        G_plain.train()
        figures.save_grid_png(fake, out / f"samples_{it:07d}.png", nrow=8, scale=2)
        if history:
            _plot_history(history, out / "loss")

    out.mkdir(exist_ok=True)
    if rank == 0:
        stale = checkpoints.remove_stale_temp_files(out)  # a run killed while saving leaves its temp file
        if stale:
            print(f"removed {len(stale)} unfinished checkpoint file(s) of an interrupted run from {out}",
                  file=sys.stderr)
    sample_every = args.sample_every or steps_per_epoch
    acc = torch.zeros(4, device=dev)
    acc_n = 0
    order, order_epoch = None, -1
    bar = tqdm(total=total, initial=start, desc="train", unit="it", disable=rank != 0, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30)  # a log file gets a line every 30 s
    t0, done = time.perf_counter(), 0
    for it in range(start, total):
        epoch, pos = divmod(it, steps_per_epoch)
        if epoch != order_epoch:
            order, order_epoch = epoch_order(args.seed, epoch, len(images)).to(images.device), epoch
        idx = order[pos * args.batch_size + rank * per_rank: pos * args.batch_size + (rank + 1) * per_rank]
        real = to_float(images[idx].to(dev, non_blocking=True)).contiguous(memory_format=torch.channels_last)
        z = step_latents(args.seed, it, per_rank, config.nz, config.latent, dev, rank)
        acc += st.step(real, z)
        acc_n += 1
        done += 1
        it1 = it + 1
        if it1 % args.log_every == 0 or it1 == total:
            vals = (acc / acc_n).tolist()  # the one host sync every --log-every steps
            if not all(math.isfinite(v) for v in vals[:2]):
                bar.close()
                raise GanlensError(f"losses became NaN/inf near iteration {it1} (loss_D={vals[0]}, "
                                   f"loss_G={vals[1]}); stopped, last good checkpoint kept in {out}")
            history.append([it1] + vals)
            bar.set_postfix(loss_d=f"{vals[0]:.3f}", loss_g=f"{vals[1]:.3f}", d_x=f"{vals[2]:.2f}",
                            d_g_z=f"{vals[3]:.2f}", refresh=False)
            acc.zero_()
            acc_n = 0
        bar.update(1)
        if it1 % sample_every == 0 or it1 == total:
            save_samples(it1)
        if it1 % args.ckpt_every == 0 or it1 == total:
            save_checkpoint(it1)
    bar.close()
    seconds = time.perf_counter() - t0
    dump = os.environ.get("GANLENS_DUMP_RANKS")
    if dump:  # debugging DDP: every rank's final weights, to check that the ranks stayed identical
        torch.save({"G": G_plain.state_dict(), "D": D_plain.state_dict()}, Path(dump) / f"rank{rank}.pt")
    if rank == 0:
        speed = done * args.batch_size / seconds if done else 0.0
        cli.write_json(out / "history.json", {"fields": HISTORY_FIELDS, "rows": history})
        cli.write_json(out / "train.json", {"settings": settings, "config": config.to_dict(),
                                            "data": data_desc, "device": str(dev), "world_size": world,
                                            "iterations": total, "resumed_from": str(resume_from or ""),
                                            "seconds_this_run": round(seconds, 2),
                                            "images_per_second": round(speed, 1)})
        print(f"done: {total} iterations, {speed:.1f} img/s on {dev}; checkpoint {out / 'last.pt'}",
              file=sys.stderr)
    if world > 1:
        torch.distributed.destroy_process_group()
    return 0


def _plot_history(history: list, stem: Path) -> None:
    import numpy as np
    h = np.array(history)
    with figures.style():
        fig, (a1, a2) = figures.figure("two", aspect=0.3, ncols=2)
        a1.plot(h[:, 0], h[:, 1], label="loss D")
        a1.plot(h[:, 0], h[:, 2], label="loss G")
        a1.set_xlabel("iteration")
        a1.legend(frameon=False)
        a2.plot(h[:, 0], h[:, 3], label="D(x)")
        a2.plot(h[:, 0], h[:, 4], label="D(G(z))")
        a2.set_xlabel("iteration")
        a2.set_ylim(0, 1)
        a2.legend(frameon=False)
        figures.save(fig, stem)


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
