"""Data-parallel training (torchrun + DDP, gloo on CPU) and the trainer's step against the reference math.

The two-process run is checked against what DDP's math implies, computed here in one process: each rank
runs D and G on its own shard of the batch and its own latents, with its own BatchNorm statistics; the
gradients are averaged over the ranks; every rank applies the same Adam step. Sums of two float32 numbers
and halving are exact, so the run's weights should match that emulation to float rounding.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import torch
import torch.nn.functional as F

from ganlens.core import checkpoints
from ganlens import train
from ganlens.data.sets import load_all, open_images, to_float
from ganlens.core.models import DCGANConfig

ITERS, BATCH, WORLD, SEED = 2, 16, 2, 0
CONFIG = DCGANConfig(nz=16, ngf=8, ndf=8, image_size=32)
FLAGS = ["--data", "rooms:n=64", "--image-size", "32", "--ngf", "8", "--ndf", "8", "--nz", "16",
         "--batch-size", str(BATCH), "--iters", str(ITERS), "--seed", str(SEED), "--device", "cpu",
         "--log-every", "1"]
CPU = torch.device("cpu")


def emulate(world: int) -> train.Stepper:
    """ITERS steps of ``world``-rank data-parallel training, one rank after the other in this process."""
    torch.manual_seed(SEED)  # as train.main: the same initial weights (DDP broadcasts rank 0's anyway)
    st = train.Stepper.build(CONFIG, 2e-4, 0.5, CPU, amp=False)
    images = load_all(open_images("rooms:n=64", 32))
    per, steps_per_epoch = BATCH // world, len(images) // BATCH
    g_params = list(st.G.parameters())
    for it in range(ITERS):
        epoch, pos = divmod(it, steps_per_epoch)
        order = train.epoch_order(SEED, epoch, len(images))
        reals = [to_float(images[order[pos * BATCH + r * per: pos * BATCH + (r + 1) * per]])
                 .contiguous(memory_format=torch.channels_last) for r in range(world)]
        zs = [train.step_latents(SEED, it, per, CONFIG.nz, CONFIG.latent, CPU, r) for r in range(world)]
        st.optD.zero_grad(set_to_none=True)
        fakes = []
        for real, z in zip(reals, zs):  # .grad sums the ranks' gradients
            fake = st.G(z[:, :, None, None])
            lr, lf = st.D(real), st.D(fake.detach())
            (F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr))
             + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))).backward()
            fakes.append(fake)
        for p in st.D.parameters():
            p.grad /= world
        st.optD.step()
        st.optG.zero_grad(set_to_none=True)
        for fake in fakes:
            lg = st.D(fake)
            F.binary_cross_entropy_with_logits(lg, torch.ones_like(lg)).backward(inputs=g_params)
        for p in g_params:
            p.grad /= world
        st.optG.step()
    return st


def params(net: torch.nn.Module | dict) -> dict[str, torch.Tensor]:
    """Trainable weights only: BatchNorm running statistics are per rank (rank 0's are saved)."""
    sd = net if isinstance(net, dict) else net.state_dict()
    return {k: v for k, v in sd.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def test_torchrun_two_ranks_match_the_ddp_math(tmp_path):
    out, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    env = dict(os.environ, GANLENS_DUMP_RANKS=str(dump), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(WORLD), "-m", "ganlens.train", *FLAGS, "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("done: ") == 1  # only rank 0 reports, saves samples and checkpoints
    assert sorted(p.name for p in out.glob("*.pt")) == ["ckpt_0000002.pt", "last.pt"]
    assert sorted(p.name for p in dump.iterdir()) == ["rank0.pt", "rank1.pt"]
    info = json.loads((out / "train.json").read_text())
    assert info["world_size"] == WORLD and info["iterations"] == ITERS

    m = checkpoints.load(out / "last.pt")
    assert m.provenance["world_size"] == WORLD
    ranks = [torch.load(dump / f"rank{r}.pt") for r in range(WORLD)]
    for net in ("G", "D"):
        saved = params(getattr(m, net))
        for r in range(WORLD):  # every rank ends with the same weights, bit for bit
            got = params(ranks[r][net])
            assert got.keys() == saved.keys()
            assert all(torch.equal(got[k], saved[k]) for k in saved), f"rank {r}'s {net} differs"

    torch.manual_seed(SEED)
    init = train.Stepper.build(CONFIG, 2e-4, 0.5, CPU, amp=False)
    want, whole = emulate(WORLD), emulate(1)
    for net in ("G", "D"):
        saved = params(getattr(m, net))
        start, w, w1 = params(getattr(init, net)), params(getattr(want, net)), params(getattr(whole, net))
        assert all(torch.isfinite(v).all() for v in saved.values())
        assert all(not torch.equal(saved[k], start[k]) for k in saved), f"{net} did not train"
        for k in saved:
            torch.testing.assert_close(saved[k], w[k], rtol=1e-5, atol=1e-7, msg=f"{net}.{k}")
        # and the test can tell: one process over the whole batch (whole-batch BatchNorm) differs
        assert max((saved[k] - w1[k]).abs().max().item() for k in saved) > 1e-5


def reference_step(st: train.Stepper, real: torch.Tensor, z: torch.Tensor) -> None:
    """The reference's step: plain backward passes, D's G-step gradients computed and thrown away."""
    st.optD.zero_grad()
    lr = st.D(real)
    err_real = F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr))
    err_real.backward()
    fake = st.G(z[:, :, None, None])
    lf = st.D(fake.detach())
    F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)).backward()
    st.optD.step()
    st.optG.zero_grad()
    lg = st.D(fake)
    F.binary_cross_entropy_with_logits(lg, torch.ones_like(lg)).backward()
    st.optG.step()


def test_step_matches_the_reference_step_without_d_gradients_in_the_g_step():
    torch.manual_seed(1)
    ours = train.Stepper.build(CONFIG, 2e-4, 0.5, CPU, amp=False)
    ref = copy.deepcopy(ours)
    g = torch.Generator().manual_seed(2)
    for _ in range(3):
        real = (torch.rand(8, 3, 32, 32, generator=g) * 2 - 1).contiguous(memory_format=torch.channels_last)
        z = torch.randn(8, CONFIG.nz, generator=g)
        stats = ours.step(real, z)
        d_grads = [p.grad.clone() for p in ours.D.parameters()]
        reference_step(ref, real, z)
    assert stats.shape == (4,) and not stats.requires_grad
    for a, b in ((ours.G, ref.G), (ours.D, ref.D)):
        for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=k)
    # our D gradients are the D step's alone; the reference's also hold the G step's
    assert any(not torch.allclose(dg, p.grad) for dg, p in zip(d_grads, ref.D.parameters()))


def test_bf16_autocast_step_on_cpu():
    """The --amp bf16 path (the CUDA default) runs on CPU too: finite stats, float32 weights."""
    torch.manual_seed(0)
    st = train.Stepper.build(CONFIG, 2e-4, 0.5, CPU, amp=True)
    before = [p.clone() for p in st.G.parameters()]
    stats = st.step(torch.zeros(8, 3, 32, 32).contiguous(memory_format=torch.channels_last),
                    torch.randn(8, CONFIG.nz))
    assert stats.dtype == torch.float32 and torch.isfinite(stats).all()
    assert all(p.dtype == torch.float32 and not torch.equal(p, b) for p, b in zip(st.G.parameters(), before))
