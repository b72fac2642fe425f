"""Training speed of ``ganlens.train`` against the pytorch/examples ``dcgan/main.py`` step, same process.

Both loops train the same 64x64 DCGAN (ngf=ndf=64 by default) on the same in-memory images at the same
batch size, after warm-up, interleaved (reference, ours, reference, ours, ...) so that a drift in the
machine's load hits both; the best round of each is reported (and the median). The reference is
written here from the published algorithm: nn.Sequential ``main`` networks with in-place ReLU/LeakyReLU and a Sigmoid, NCHW, BCELoss, a DataLoader over a
TensorDataset of float images, ``errD_real.backward(); errD_fake.backward(); optimizerD.step()``, then
the G step, and ``.item()`` on errD, errG, D(x), D(G(z1)), D(G(z2)) every step. Ours is
:class:`ganlens.train.Stepper` fed as ``ganlens.train.main`` feeds it (uint8 images, losses read every
50 steps).

Prints img/s for each, the ratio, the FLOPs of one step of each (counted with FlopCounterMode) and the
model FLOPs utilisation against the device's peak, which is printed with how it was obtained.
``--ablate`` also times variants of ours (one change each) to show what each choice is worth.

    python benchmarks/train_throughput.py                          # batch 64 and 128, CPU
    python benchmarks/train_throughput.py --batch 64 --ablate      # + what each change is worth
    python benchmarks/train_throughput.py --device cuda --compile  # GPU (bf16 autocast, data on GPU)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from functools import partial

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from ganlens import cli, train
from ganlens.data.sets import load_all, open_images, to_float
from ganlens.core.models import DCGANConfig

# Dense peak TFLOP/s of GPUs we know, (float32 without tensor cores, bf16 tensor cores), from the
# vendors' data sheets (SXM parts); anything else needs --peak-tflops.
GPU_PEAKS = {"H100": (67.0, 989.0), "H200": (67.0, 989.0), "A100": (19.5, 312.0), "L4": (30.3, 121.0),
             "A10": (31.2, 125.0), "RTX 4090": (82.6, 165.2), "V100": (15.7, 125.0)}


# ---------------------------------------------------------------------------------------------------
# The reference: pytorch/examples dcgan/main.py, step for step.

class RefG(nn.Module):
    def __init__(self, nz: int, ngf: int, nc: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            # state size. (ngf*8) x 4 x 4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 16 x 16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. (ngf) x 32 x 32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
            # state size. (nc) x 64 x 64
        )

    def forward(self, z):
        return self.main(z)


class RefD(nn.Module):
    def __init__(self, ndf: int, nc: int):
        super().__init__()
        self.main = nn.Sequential(
            # input is (nc) x 64 x 64
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf) x 32 x 32
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*2) x 16 x 16
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*4) x 8 x 8
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*8) x 4 x 4
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def ref_init(m: nn.Module) -> None:
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Reference:
    """The reference's networks, optimisers, data loader and training step."""

    def __init__(self, config: DCGANConfig, images_float: torch.Tensor, batch: int, dev: torch.device):
        self.nz, self.dev = config.nz, dev
        self.netG = RefG(config.nz, config.ngf, config.nc).to(dev)
        self.netG.apply(ref_init)
        self.netD = RefD(config.ndf, config.nc).to(dev)
        self.netD.apply(ref_init)
        self.criterion = nn.BCELoss()
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        # The reference loads float tensors (ToTensor + Normalize) through a DataLoader; in memory here,
        # and with no worker processes (the two cores are busy training).
        self.loader = DataLoader(TensorDataset(images_float), batch_size=batch, shuffle=True, num_workers=0)
        self.batches = iter(())
        self.log = []

    def next_batch(self) -> torch.Tensor:
        try:
            return next(self.batches)[0]
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)[0]

    def step(self) -> None:
        real_label, fake_label = 1.0, 0.0
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        self.netD.zero_grad()
        real_cpu = self.next_batch().to(self.dev)
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=self.dev)
        output = self.netD(real_cpu)
        errD_real = self.criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(batch_size, self.nz, 1, 1, device=self.dev)
        fake = self.netG(noise)
        label.fill_(fake_label)
        output = self.netD(fake.detach())
        errD_fake = self.criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        self.optimizerD.step()
        # (2) Update G network: maximize log(D(G(z)))
        self.netG.zero_grad()
        label.fill_(real_label)  # fake labels are real for generator cost
        output = self.netD(fake)
        errG = self.criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optimizerG.step()
        # the reference prints this line every step; formatting it keeps its .item() calls
        self.log.append("Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f"
                        % (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
        del self.log[:-1]


# ---------------------------------------------------------------------------------------------------
# Ours: ganlens.train.Stepper, fed as ganlens.train.main feeds it.

class Ours:
    def __init__(self, st: train.Stepper, images_u8: torch.Tensor, batch: int, dev: torch.device, nz: int,
                 channels_last: bool = True, loader: Reference | None = None):
        self.st, self.batch, self.dev, self.nz = st, batch, dev, nz
        self.images = images_u8.to(dev) if dev.type == "cuda" else images_u8  # as main(): on the GPU if it fits
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.loader = loader  # feed from the reference's float DataLoader instead (ablation)
        self.it, self.order = 0, None
        self.acc = torch.zeros(4, device=dev)

    def step(self) -> None:
        per_epoch = len(self.images) // self.batch
        epoch, pos = divmod(self.it, per_epoch)
        if pos == 0:
            self.order = train.epoch_order(0, epoch, len(self.images)).to(self.images.device)
        if self.loader is not None:
            real = self.loader.next_batch().to(self.dev).contiguous(memory_format=self.fmt)
        else:
            idx = self.order[pos * self.batch:(pos + 1) * self.batch]
            real = to_float(self.images[idx].to(self.dev, non_blocking=True)).contiguous(memory_format=self.fmt)
        z = train.step_latents(0, self.it, self.batch, self.nz, "normal", self.dev)
        self.acc += self.st.step(real, z)
        self.it += 1
        if self.it % 50 == 0:
            self.acc.tolist()  # main()'s one host sync every --log-every steps
            self.acc.zero_()


class FullBackward(train.Stepper):
    """Ours, but the G step's backward also computes D's weight gradients (as the reference does)."""

    def _g_params(self):
        return None


def build_ours(config, dev, amp, variant: str = "ours", compile: bool = False):
    """A Stepper for one variant of ours (see ``VARIANTS``)."""
    st = train.Stepper.build(config, 2e-4, 0.5, dev, amp, compile=compile)
    if variant == "NCHW (no channels_last)":
        st.G.to(memory_format=torch.contiguous_format)
        st.D.to(memory_format=torch.contiguous_format)
    if variant in ("for-loop Adam", "foreach Adam"):
        foreach = variant == "foreach Adam"
        st.optG = torch.optim.Adam(st.G.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=foreach)
        st.optD = torch.optim.Adam(st.D.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=foreach)
    if variant == "zero_grad(set_to_none=False)":
        for opt in (st.optG, st.optD):
            opt.zero_grad = partial(lambda o, set_to_none=True: type(o).zero_grad(o, set_to_none=False), opt)
    if variant == "G step computes D weight grads":
        st = FullBackward(st.G, st.D, st.optG, st.optD, st.amp, st.D_for_G)
    return st


VARIANTS = ("NCHW (no channels_last)", "for-loop Adam", "foreach Adam", "zero_grad(set_to_none=False)",
            "G step computes D weight grads", "float DataLoader input", "bf16 autocast")


# ---------------------------------------------------------------------------------------------------

def count_flops(step) -> int:
    with FlopCounterMode(display=False) as fc:
        step()
    return fc.get_total_flops()


def peak_flops(dev: torch.device, amp: bool, args) -> tuple[float, str]:
    """(peak FLOP/s, how it was obtained)."""
    if args.peak_tflops:
        return args.peak_tflops * 1e12, "from --peak-tflops"
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        for key, (f32, bf16) in GPU_PEAKS.items():
            if key in name:
                return (bf16 if amp else f32) * 1e12, f"{name}: {'bf16' if amp else 'float32'} dense data-sheet peak"
        raise SystemExit(f"unknown GPU {name!r}: give its peak with --peak-tflops")
    cores = torch.get_num_threads()
    ghz = args.ghz or _cpu_ghz()
    fpc = args.flops_per_cycle or (64 if "avx512f" in _cpu_flags() else 32)
    how = (f"{cores} cores x {ghz:.2f} GHz x {fpc} float32 FLOPs/cycle (2 FMA pipes x {fpc // 4} lanes x 2; "
           f"clock from {'--ghz' if args.ghz else '/proc/cpuinfo, nominal: boost runs faster, so MFU reads high'}; "
           f"set --ghz, --flops-per-cycle or --peak-tflops)")
    if amp and "avx512_bf16" in _cpu_flags():  # VDPBF16PS: two bf16 products per float32 lane
        return 2 * cores * ghz * 1e9 * fpc, how + " x 2 for bf16 (avx512_bf16)"
    return cores * ghz * 1e9 * fpc, how


def _cpu_ghz() -> float:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    except OSError:
        pass
    raise SystemExit("cannot read the CPU clock from /proc/cpuinfo: give --ghz")


def _cpu_flags() -> set[str]:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return set(line.split(":")[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":")[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def timed(step, steps: int, dev: torch.device) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) for ``steps`` steps, the device drained before and after."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.perf_counter() - t, time.process_time() - c


def race(loops: dict, batch: int, args, dev) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """img/s of each loop over ``args.repeats`` interleaved rounds of ``args.steps`` steps, after warm-up:
    ({name: wall-clock img/s per round}, {name: img per process CPU second per round})."""
    for step in loops.values():
        for _ in range(args.warmup):
            step()
    wall, cpu = {name: [] for name in loops}, {name: [] for name in loops}
    for r in range(args.repeats):
        for name, step in loops.items():
            w, c = timed(step, args.steps, dev)
            wall[name].append(batch * args.steps / w)
            cpu[name].append(batch * args.steps / c)
            print(f"  round {r + 1}/{args.repeats} {name}: {wall[name][-1]:.1f} img/s (load {os.getloadavg()[0]:.1f})",
                  file=sys.stderr, flush=True)
    return wall, cpu


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n")[-1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, nargs="+", default=[64, 128])
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="timed steps per round (default: 3)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per loop first (default: 2)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved rounds; the best is reported (default: 7)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto", help="ours: auto = bf16 on CUDA")
    p.add_argument("--compile", action="store_true", help="ours: torch.compile G and D")
    p.add_argument("--ablate", action="store_true", help="also time variants of ours, one change each")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's, = cores)")
    p.add_argument("--peak-tflops", type=float, help="device peak in TFLOP/s (overrides the estimate)")
    p.add_argument("--ghz", type=float, help="CPU clock for the peak estimate (default: /proc/cpuinfo)")
    p.add_argument("--flops-per-cycle", type=int,
                   help="float32 FLOPs per cycle per core (default: 64 with AVX-512 = 2 FMA x 16 lanes x 2, "
                        "else 32; Zen 4 runs AVX-512 at 32)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = cli.device(args.device)
    amp = args.amp == "bf16" or (args.amp == "auto" and dev.type == "cuda")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    config = DCGANConfig(ngf=args.ngf, ndf=args.ndf)
    peak, how = peak_flops(dev, amp, args)
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{cpu_model()}, {os.cpu_count()} CPUs"
    print(f"device {dev} ({where}), {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"64x64, nz={config.nz}, ngf={config.ngf}, ndf={config.ndf}; ours: amp={'bf16' if amp else 'off'}, "
          f"compile={args.compile}")
    print(f"assumed peak {peak / 1e12:.3f} TFLOP/s: {how}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")

    n = max(args.batch) * 8
    images = load_all(open_images(f"rooms:n={n},seed=5", 64))  # uint8 (n, 3, 64, 64)
    images_float = to_float(images)  # what the reference's DataLoader holds
    rows = []
    for batch in args.batch:
        torch.manual_seed(0)
        ref = Reference(config, images_float, batch, dev)
        ours = Ours(build_ours(config, dev, amp, compile=args.compile), images, batch, dev, config.nz)
        f_ref, f_ours = count_flops(ref.step), count_flops(ours.step)
        loops = {"reference": ref.step, "ours": ours.step}
        if args.ablate:
            for v in VARIANTS:
                if v == "float DataLoader input":
                    o = Ours(build_ours(config, dev, amp), images, batch, dev, config.nz, loader=Reference(
                        config, images_float, batch, dev))
                elif v == "bf16 autocast":
                    o = Ours(build_ours(config, dev, True), images, batch, dev, config.nz)
                else:
                    o = Ours(build_ours(config, dev, amp, v), images, batch, dev, config.nz,
                             channels_last=v != "NCHW (no channels_last)")
                loops[v] = o.step
        speeds, cpu_speeds = race(loops, batch, args, dev)
        # Best round: on a machine shared with other jobs a round is only ever slowed down, so the
        # fastest round estimates the quiet machine; the median is printed beside it.
        best = {k: max(v) for k, v in speeds.items()}
        med = {k: statistics.median(v) for k, v in speeds.items()}
        cbest = {k: max(v) for k, v in cpu_speeds.items()}
        r, o = best["reference"], best["ours"]
        print(f"\nbatch {batch}: reference {r:7.1f} img/s | ours {o:7.1f} img/s | ratio ours/reference {o / r:.2f}x "
              f"(best of {args.repeats} rounds of {args.steps} steps; medians {med['reference']:.1f} and "
              f"{med['ours']:.1f} img/s = {med['ours'] / med['reference']:.2f}x)")
        print(f"batch {batch}: per process CPU second: reference {cbest['reference']:.1f} img, ours "
              f"{cbest['ours']:.1f} img, ratio {cbest['ours'] / cbest['reference']:.2f}x (robust to other jobs "
              f"with --threads 1)")
        print(f"batch {batch}: FLOPs per step: reference {f_ref / 1e9:.1f} GFLOP, ours {f_ours / 1e9:.1f} GFLOP "
              f"(= {f_ref / batch / 1e9:.2f} and {f_ours / batch / 1e9:.2f} GFLOP/img)")
        mfu_r = f_ref / batch * r / peak
        mfu_o = f_ours / batch * o / peak
        mfu_o_model = f_ref / batch * o / peak
        print(f"batch {batch}: MFU reference {100 * mfu_r:.1f}%, ours {100 * mfu_o:.1f}% of its own FLOPs "
              f"({100 * mfu_o_model:.1f}% counting the reference's FLOPs) of {peak / 1e12:.3f} TFLOP/s")
        for v in loops:
            if v not in ("reference", "ours"):
                print(f"batch {batch}:   ours with {v:32s} {best[v]:7.1f} img/s, {best[v] / o:.2f}x ours, "
                      f"{best[v] / r:.2f}x reference; per CPU second {cbest[v] / cbest['ours']:.2f}x ours")
        rows.append((batch, r, o))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    print("summary: " + "; ".join(f"batch {b}: ours {o:.1f} img/s vs reference {r:.1f} img/s = {o / r:.2f}x"
                                  for b, r, o in rows))
    return 0



if __name__ == "__main__":
    sys.exit(main())
