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

from ganlens.core import checkpoints, figures, results
from ganlens import cli
from ganlens.core.checkpoints import latent_from_seed
from ganlens.data.sets import RoomsSet, load_all, open_images, to_float
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.gan import wrap
from ganlens.core.models import LATENTS, ConfigError, DCGANConfig, Discriminator, Generator
from ganlens.core.results import provenance
from ganlens.analyses.api import analysis_module

PROG = "python -m ganlens.train"
EXAMPLES = f"""  {PROG} --data rooms --out runs/rooms64 --iters 3000 --ngf 32 --ndf 32 --batch-size 64
  {PROG} --data ~/celeba/ --out runs/celeba --epochs 5 --device cuda --compile
  {PROG} --out runs/rooms64 --resume            # continue the run in runs/rooms64 exactly
  torchrun --nproc_per_node 2 -m ganlens.train --data rooms --out runs/ddp --iters 1000
"""
HISTORY_FIELDS = ("iteration", "loss_d", "loss_g", "d_x", "d_g_z")
N_FIXED = 64
OUTPUT_NAME = re.compile(r"(ckpt_\d+\.pt|samples_\d+\.png|loss\.(pdf|png)|history\.json|train\.json)")


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
    p.add_argument("--batch-size", type=cli.at_least(1), default=128)
    p.add_argument("--lr", type=cli.number(0, open_low=True), default=2e-4)
    p.add_argument("--beta1", type=cli.number(0, 1, open_high=True), default=0.5)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--iters", type=cli.at_least(1), help="total training iterations (steps)")
    length.add_argument("--epochs", type=cli.at_least(1), help="total epochs over the data (default: 5)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--seed", type=cli.seed_value, default=0)
    p.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                   help="continue a run: from CKPT, or (no value) from --out's last.pt")
    p.add_argument("--ckpt-every", type=cli.at_least(1), default=500, help="checkpoint every N iterations (default: 500)")
    p.add_argument("--keep", type=cli.at_least(1), default=3, help="numbered checkpoints to keep (default: 3)")
    p.add_argument("--log-every", type=cli.at_least(1), default=50, help="read losses every N iterations (default: 50)")
    p.add_argument("--sample-every", type=cli.at_least(1), help="sample grid every N iterations (default: once an epoch)")
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


def _saved_iteration(path: Path) -> int | str:
    try:
        return checkpoints.read(path)["state"]["iteration"]
    except (GanlensError, KeyError, TypeError):
        return "?"


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


def train(data: str = "rooms", out: str | Path = "runs/train", *, progress: bool = True, **settings):
    """Train the paper's DCGAN (or continue a run with ``resume="auto"``/a checkpoint path) and return a
    :class:`ganlens.results.Result` (kind "train": the ``train.json`` numbers; figure "loss") whose
    ``.gan`` is the trained model. Checkpoints, sample grids and logs go into the run folder ``out`` as
    training goes (see the module doc). ``settings``: the fields of :class:`Settings`."""
    import numpy as np
    from ganlens.core.results import Result
    unknown = set(settings) - set(Settings.__dataclass_fields__)
    if unknown:
        raise GanlensError(f"ganlens.train: unknown setting(s) {', '.join(sorted(unknown))}")
    s = Settings(data=data, out=str(out), **settings)
    s.check()
    run = _Run(s, progress)
    run.loop()
    summary = run.finish()
    history = np.array(run.history, dtype=np.float64).reshape(-1, len(HISTORY_FIELDS))
    result = Result("train", summary or {}, {"history": history},
                    plots={"loss": lambda d, a: _history_figure(a["history"])})
    result.gan = wrap(run.G_plain.eval(), run.D_plain.eval(), nz=run.config.nz, latent=run.config.latent,
                      path=Path(s.out) / "last.pt", source="ganlens.train", config=run.config)
    return result


class _Run:
    """One training run: set-up (new or resumed), the loop, checkpoints, samples and the final JSON."""

    def __init__(self, s: Settings, progress: bool):
        self.s, self.progress = s, progress
        self.rank, self.world = _distributed()
        dev = cli.device(s.device)
        if dev.type == "cuda" and self.world > 1:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(dev)
        self.dev, self.out = dev, Path(s.out)
        if s.batch_size % self.world:
            raise GanlensError(f"--batch-size {s.batch_size} must be divisible by the {self.world} processes")
        self.config, ckpt = self._config()
        cli.check_out(self.out)  # also a parent that is a file, which .exists() let through to a traceback at mkdir
        self.data = open_images(s.data, self.config.image_size, self.config.nc)
        self.steps_per_epoch = len(self.data) // s.batch_size
        if self.steps_per_epoch == 0:
            raise GanlensError(f"--data {s.data}: {len(self.data)} images is fewer than one batch of {s.batch_size}")
        self.total = s.iters if s.iters is not None else (5 if s.epochs is None else s.epochs) * self.steps_per_epoch
        start = (self.state or {}).get("iteration", 0)
        if self.total < start:
            raise GanlensError(f"--iters {self.total}: the run in {self.out} is already at iteration {start}; "
                               f"resume with a larger --iters/--epochs")
        self._build(ckpt)

    def _config(self) -> tuple[DCGANConfig, dict | None]:
        s = self.s
        self.resume_from, self.state = None, None
        if s.resume:
            self.resume_from = _find_resume(self.out, s.resume)
            ckpt = checkpoints.read(self.resume_from)
            if not isinstance(ckpt, dict) or ckpt.get("format") != checkpoints.FORMAT or not ckpt.get("state"):
                raise GanlensError(f"{self.resume_from}: not a ganlens training checkpoint (no optimiser state to resume)")
            config = DCGANConfig.from_dict(ckpt["config"])
            self.state = ckpt["state"]
            saved = self.state["args"]
            for k in ("data", "batch_size", "lr", "beta1", "seed"):  # the run's settings win over flags
                setattr(s, k, saved[k])
            for k in ("nz", "ngf", "ndf", "nc", "image_size", "latent"):  # so train.json records the real model
                setattr(s, k, getattr(config, k))
            if s.iters is None and s.epochs is None:
                s.iters = saved["iters"]
            return config, ckpt
        if (self.out / "last.pt").exists():
            raise GanlensError(f"--out {self.out}: already holds a run (last.pt); use --resume or another --out")
        try:
            return DCGANConfig(nz=s.nz, ngf=s.ngf, ndf=s.ndf, nc=s.nc, image_size=s.image_size,
                               latent=s.latent), None
        except ConfigError as e:
            raise GanlensError(f"bad model settings: {e}")

    def _build(self, ckpt: dict | None) -> None:
        s, dev = self.s, self.dev
        torch.manual_seed(s.seed)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        amp = s.amp == "bf16" or (s.amp == "auto" and dev.type == "cuda")
        self.st = Stepper.build(self.config, s.lr, s.beta1, dev, amp, compile=s.compile, ddp=self.world > 1)
        self.G_plain, self.D_plain = checkpoints.unwrap(self.st.G), checkpoints.unwrap(self.st.D)
        self.start, self.history = 0, []
        if self.state is not None:
            self.G_plain.load_state_dict(ckpt["G"])
            self.D_plain.load_state_dict(ckpt["D"])
            self.st.optG.load_state_dict(self.state["optG"])
            self.st.optD.load_state_dict(self.state["optD"])
            self.start, self.history = self.state["iteration"], [list(h) for h in self.state["history"]]
            if self.rank == 0:
                print(f"resuming {self.resume_from} at iteration {self.start} of {self.total}", file=sys.stderr)
        self.images = load_all(self.data)  # uint8 (N, nc, H, W): 12 KB per 64x64 colour image
        if dev.type == "cuda" and self.images.numel() < 0.3 * torch.cuda.mem_get_info(dev)[0]:
            self.images = self.images.to(dev)
        self.fixed = torch.stack([latent_from_seed(i, self.config.nz, self.config.latent)
                                  for i in range(N_FIXED)]).to(dev)
        self.settings = {k: v for k, v in vars(s).items() if k != "resume"} | {"iters": self.total}
        self.data_desc = self.data.spec if isinstance(self.data, RoomsSet) else f"{self.data.spec} ({len(self.data)} images)"

    def save_checkpoint(self, it: int) -> None:
        if self.rank != 0:
            return
        for net in (self.G_plain, self.D_plain):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                self.bar.close()  # as on the NaN-loss path: no half-drawn progress bar after the error line
                raise GanlensError(f"weights became NaN/inf before iteration {it}; {self._kept()}")
        prov = checkpoints.provenance(self.s.seed, data=self.data_desc, iterations=it, device=str(self.dev),
                                      world_size=self.world, args=self.settings)
        st_ = {"iteration": it, "optG": self.st.optG.state_dict(), "optD": self.st.optD.state_dict(),
               "history": self.history, "args": self.settings}
        name = f"ckpt_{it:07d}.pt"
        results.refuse_taken(self.out, [name])
        results.record_written(self.out, [name, "last.pt"])  # before writing: a crash leaves no unrecorded file
        for path in (self.out / name, self.out / "last.pt"):
            checkpoints.save(path, self.config, self.G_plain, self.D_plain, state=st_, provenance=prov)
        ours = sorted(n for n in results.written(self.out) if _iteration(Path(n)) >= 0)  # never a user's ckpt_*.pt
        for old in ours[:-self.s.keep]:
            (self.out / old).unlink(missing_ok=True)
        results.record_written(self.out, drop=ours[:-self.s.keep])

    def save_samples(self, it: int) -> None:
        if self.rank != 0:
            return
        self.G_plain.eval()
        with torch.no_grad():
            fake = self.G_plain(self.fixed[:, :, None, None]).float()
        self.G_plain.train()
        names = [f"samples_{it:07d}.png"] + (["loss.pdf", "loss.png"] if self.history else [])
        results.refuse_taken(self.out, names)
        results.record_written(self.out, names)
        figures.save_grid_png(fake, self.out / names[0], nrow=8, scale=2)
        if self.history:
            _plot_history(self.history, self.out / "loss")

    def lock(self) -> None:
        """An exclusive lock on the run folder (``.train.lock``, fcntl.flock): a second ``ganlens.train`` on the
        same --out (a new run or a --resume) is refused instead of mixing two runs. Released when the process
        ends, however it ends."""
        import fcntl
        self.out.mkdir(exist_ok=True)
        self.lock_file = open(self.out / ".train.lock", "a")
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock_file.close()
            raise GanlensError(f"--out {self.out}: another ganlens.train is writing this run folder right now; "
                               f"wait for it to finish or use another --out")
        if self.state is None and (self.out / "last.pt").exists():  # it finished a run while we were starting
            raise GanlensError(f"--out {self.out}: already holds a run (last.pt); use --resume or another --out")
        self._claim_outputs()

    def _claim_outputs(self) -> None:
        """Refuse a run folder whose output names (ckpt_*.pt, samples_*.png, loss, history.json, train.json)
        are taken by files ganlens did not write: it would replace or prune them. A folder resumed from
        before ganlens kept its record (no .ganlens-written.json) is adopted as the run's own."""
        names = [p.name for p in self.out.iterdir() if OUTPUT_NAME.fullmatch(p.name)]
        if self.state is not None and not (self.out / results.WRITTEN).exists():
            results.record_written(self.out, names + ["last.pt"])
        results.refuse_taken(self.out, names)

    def loop(self) -> None:
        s, dev, rank = self.s, self.dev, self.rank
        per_rank = s.batch_size // self.world
        if rank == 0:
            self.lock()
        else:
            self.out.mkdir(exist_ok=True)
        if rank == 0:
            stale = checkpoints.remove_stale_temp_files(self.out)  # a run killed while saving leaves its temp file
            if stale:
                print(f"removed {len(stale)} unfinished checkpoint file(s) of an interrupted run from {self.out}",
                      file=sys.stderr)
        sample_every = s.sample_every or self.steps_per_epoch
        acc, acc_n = torch.zeros(4, device=dev), 0
        order, order_epoch = None, -1
        self.bar = tqdm(total=self.total, initial=self.start, desc="train", unit="it", dynamic_ncols=True,
                        disable=rank != 0 or not self.progress,
                        mininterval=0.5 if sys.stderr.isatty() else 30)  # a log file gets a line every 30 s
        self.t0, self.done = time.perf_counter(), 0
        try:  # the bar ends its line before any error line (a full disk, NaN, Ctrl-C) is printed
            for it in range(self.start, self.total):
                epoch, pos = divmod(it, self.steps_per_epoch)
                if epoch != order_epoch:
                    order, order_epoch = epoch_order(s.seed, epoch, len(self.images)).to(self.images.device), epoch
                idx = order[pos * s.batch_size + rank * per_rank: pos * s.batch_size + (rank + 1) * per_rank]
                real = to_float(self.images[idx].to(dev, non_blocking=True)).contiguous(memory_format=torch.channels_last)
                z = step_latents(s.seed, it, per_rank, self.config.nz, self.config.latent, dev, rank)
                acc += self.st.step(real, z)
                acc_n += 1
                self.done += 1
                it1 = it + 1
                if it1 % s.log_every == 0 or it1 == self.total:
                    self._log(acc / acc_n, it1)
                    acc.zero_()
                    acc_n = 0
                self.bar.update(1)
                if it1 % sample_every == 0 or it1 == self.total:
                    self.save_samples(it1)
                if it1 % s.ckpt_every == 0 or it1 == self.total:
                    self.save_checkpoint(it1)
        finally:
            self.bar.close()

    def _log(self, mean: torch.Tensor, it1: int) -> None:
        vals = mean.tolist()  # the one host sync every --log-every steps
        if not all(math.isfinite(v) for v in vals[:2]):
            self.bar.close()
            raise GanlensError(f"losses became NaN/inf near iteration {it1} (loss_D={vals[0]}, "
                               f"loss_G={vals[1]}); stopped; {self._kept()}")
        self.history.append([it1] + vals)
        self.bar.set_postfix(loss_d=f"{vals[0]:.3f}", loss_g=f"{vals[1]:.3f}", d_x=f"{vals[2]:.2f}",
                             d_g_z=f"{vals[3]:.2f}", refresh=False)

    def _kept(self) -> str:
        """What a stopped run leaves: its newest checkpoint, or that there is none yet."""
        last = self.out / "last.pt"
        if last.exists():
            return f"the last good checkpoint ({last}, iteration {_saved_iteration(last)}) is kept"
        return f"no checkpoint was written yet (--ckpt-every {self.s.ckpt_every}), so {self.out} holds none"

    def finish(self) -> dict | None:
        """Write history.json and train.json (rank 0); returns train.json's content (None on other ranks)."""
        seconds = time.perf_counter() - self.t0
        dump = os.environ.get("GANLENS_DUMP_RANKS")
        if dump:  # debugging DDP: every rank's final weights, to check that the ranks stayed identical
            torch.save({"G": self.G_plain.state_dict(), "D": self.D_plain.state_dict()},
                       Path(dump) / f"rank{self.rank}.pt")
        summary = None
        if self.rank == 0:
            speed = self.done * self.s.batch_size / seconds if self.done else 0.0
            summary = {"settings": self.settings, "config": self.config.to_dict(), "data": self.data_desc,
                       "device": str(self.dev), "world_size": self.world, "iterations": self.total,
                       "resumed_from": str(self.resume_from or ""), "seconds_this_run": round(seconds, 2),
                       "images_per_second": round(speed, 1),
                       "provenance": provenance(None, self.s.seed, call=f"ganlens.train(data={self.s.data!r}, "
                                                f"out={self.s.out!r}, ...)", device=str(self.dev))}
            results.refuse_taken(self.out, ["history.json", "train.json"])
            results.record_written(self.out, ["history.json", "train.json"])
            cli.write_json(self.out / "history.json", {"fields": HISTORY_FIELDS, "rows": self.history})
            cli.write_json(self.out / "train.json", summary)
        if self.world > 1:
            torch.distributed.destroy_process_group()
        return summary


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    r = train(**vars(args))
    if r.data:
        print(f"done: {r['iterations']} iterations, {r['images_per_second']:.1f} img/s on {r['device']}; "
              f"checkpoint {Path(args.out) / 'last.pt'}", file=sys.stderr)
    return 0


def _plot_history(history: list, stem: Path) -> None:
    figures.save(_history_figure(history), stem)


def _history_figure(history):
    """Losses and D outputs against the iteration, from history rows (iteration, loss_d, loss_g, d_x, d_g_z)."""
    import numpy as np
    h = np.asarray(history, dtype=np.float64).reshape(-1, len(HISTORY_FIELDS))
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
    return fig


analysis_module(__name__, train)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
