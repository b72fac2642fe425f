"""GAN inversion, the computation: for each real image, the latent whose generated image is closest.

    s = Settings(steps=100, starts=4)
    inv = run(gan, data, 256, s)          # an :class:`Inverted`: latents, distances, kept reconstructions

Method (Creswell & Bharath 2018; Zhu et al. 2016's optimisation branch; Webster et al. 2019 use the
reconstruction distance as a membership score):

* **Optimisation.** ``starts`` latents per image are drawn from the prior and optimised together with Adam
  (learning rate ``lr``) for a quarter of ``steps``; the start with the lowest objective is kept and
  optimised for the remaining steps (the final objective is never worse than at the choice).
  G's weights are frozen (no weight gradients), G stays in eval mode.
* **Prior.** With a normal latent, the penalty ``prior * (|z| / sqrt(nz) - 1)^2`` keeps z on the typical
  shell (a latent far off it reconstructs anything but is never sampled); a uniform latent is clamped to
  [-1, 1] after every step.
* **Objective.** ``pixel``: mean squared difference of images in [-1, 1]; ``feature``: plus the mean
  squared difference of D's last hidden layer; ``perceptual``: plus that of the user's feature network.
* **Distances reported** (every image, on the kept start): ``pixel`` the RMS pixel difference in [0, 1]
  (as :mod:`ganlens.memorization`); ``feature`` D's last hidden layer, pooled and L2-normalised (the
  memorization feature space, in [0, 2]); ``perceptual`` the RMS difference of the user's features.
* **Encoder** (optional): a small conv net trained on G's own samples (z, G(z)) to predict z; its guess is
  one of the starts. It is cached by the command beside its outputs (``encoder.pt``), keyed by G's weights.
* **Memory** is flat in the number of images: images are read, optimised and scored one batch at a time;
  only latents (N, nz), distances (N,) and ``keep`` reconstructions (the first and the best) stay.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganlens.data.sets import ImageSet, iter_chunks, to_float, to_uint8
from ganlens.core.embed import feature_space
from ganlens.core.errors import GanlensError
from ganlens.core.generate import images, prepare
from ganlens.core.hooks import retain

OBJECTIVES = ("pixel", "feature", "perceptual")


@dataclass
class Settings:
    """What the optimisation does (the defaults invert 256 64x64 images in about a minute on 2 CPU cores)."""

    steps: int = 100
    starts: int = 4
    lr: float = 0.05
    prior: float = 0.1
    batch: int = 64
    objective: str = "pixel"
    keep: int = 16
    encoder_steps: int = 400
    seed: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Inverted:
    """What one set of images gave. latents (N, nz); distances {space: (N,)}; shown/best: (index, real uint8,
    reconstruction uint8) of the first ``keep`` images and of the ``keep`` best reconstructed; norm (N,) the
    latents' |z| / sqrt(nz); seconds, steps_run."""

    latents: np.ndarray
    distances: dict[str, np.ndarray]
    shown: tuple[np.ndarray, np.ndarray, np.ndarray]
    best: tuple[np.ndarray, np.ndarray, np.ndarray]
    norm: np.ndarray
    seconds: float = 0.0
    spec: str = ""
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- spaces

class Spaces:
    """The feature networks the objective and the distances use: D's last hidden layer (when there is one)
    and the user's perceptual network (when given), with gradients."""

    def __init__(self, gan, perceptual: Callable | None):
        self.gan, self.perceptual = gan, perceptual
        self.d_layer = None
        if gan.D is not None and "last" in gan.layers("D").aliases:
            self.d_layer = gan.layer("D", "last").name
        self.memo_feature = None

    @property
    def names(self) -> list[str]:
        return ["pixel"] + (["feature"] if self.d_layer else []) + (["perceptual"] if self.perceptual else [])

    def d_features(self, x: torch.Tensor) -> torch.Tensor:
        with retain(self.gan.D, self.d_layer, detach=False) as store:
            self.gan.D(x)
        a = store[self.d_layer]
        return a.flatten(1)

    def p_features(self, x: torch.Tensor) -> torch.Tensor:
        try:
            f = self.perceptual(x)
        except Exception as e:  # noqa: BLE001 - user code: one line
            raise GanlensError(f"perceptual network raised {type(e).__name__}: {str(e).strip()[:200]}")
        if not isinstance(f, torch.Tensor) or f.dim() < 2 or len(f) != len(x):
            raise GanlensError(f"perceptual network must return a tensor (N, ...) for N images, got "
                               f"{type(f).__name__} {tuple(getattr(f, 'shape', ()))}")
        return f.flatten(1).float()

    def loss(self, objective: str, y: torch.Tensor, x: torch.Tensor, targets: dict) -> torch.Tensor:
        """Per-image objective (B,) of generated ``y`` against real ``x`` (both [-1, 1])."""
        out = (y - x).square().flatten(1).mean(1)
        if objective == "feature":
            out = out + (self.d_features(y) - targets["feature"]).square().mean(1)
        elif objective == "perceptual":
            out = out + (self.p_features(y) - targets["perceptual"]).square().mean(1)
        return out

    def targets(self, objective: str, x: torch.Tensor) -> dict:
        with torch.no_grad():
            if objective == "feature":
                return {"feature": self.d_features(x).detach()}
            if objective == "perceptual":
                return {"perceptual": self.p_features(x).detach()}
        return {}

    def distances(self, y: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reported distances (B,) per space of reconstructions ``y`` and real ``x`` (float [-1, 1])."""
        out = {"pixel": ((y - x) / 2).square().flatten(1).mean(1).sqrt()}
        with torch.no_grad():
            if self.d_layer:
                if self.memo_feature is None:
                    self.memo_feature = feature_space(self.gan)
                e = self.memo_feature.embed
                out["feature"] = (e(to_uint8(y)) - e(to_uint8(x))).norm(dim=1).to(y.device)
            if self.perceptual:
                out["perceptual"] = (self.p_features(y) - self.p_features(x)).square().mean(1).sqrt()
        return {k: v.detach().float().cpu() for k, v in out.items()}


# ---------------------------------------------------------------------------------------- optimisation

@contextlib.contextmanager
def frozen(G: nn.Module):
    """G's parameters need no gradient inside the block (only z's); their flags come back afterwards."""
    flags = [(p, p.requires_grad) for p in G.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, f in flags:
            p.requires_grad_(f)


def forward(gan, z: torch.Tensor) -> torch.Tensor:
    """G(z) with gradients to z, checked: G must pass gradients and produce finite images."""
    zin = gan.g_input(z)
    if gan.latent_dims == 4:
        zin = zin.contiguous(memory_format=torch.channels_last)
    y = gan.G(zin)
    if not y.requires_grad:
        raise GanlensError(f"{gan.where}: G's output carries no gradient to z (it runs under torch.no_grad, "
                           f"detaches, or is not differentiable); inversion needs gradients through G")
    return y.float()


def start_latents(gan, n: int, starts: int, gen: torch.Generator, guess: torch.Tensor | None) -> torch.Tensor:
    """(n, starts, nz) starting latents from the prior (the encoder's guess, if any, as start 0)."""
    nz = gan.require_nz()
    z = torch.randn(n, starts, nz, generator=gen) if gan.latent == "normal" \
        else torch.rand(n, starts, nz, generator=gen) * 2 - 1
    if guess is not None:
        z[:, 0] = guess.cpu()
    return z


def prior_penalty(gan, z: torch.Tensor, weight: float) -> torch.Tensor:
    if gan.latent != "normal" or weight == 0:
        return z.new_zeros(len(z))
    return weight * (z.norm(dim=1) / math.sqrt(z.shape[1]) - 1).square()


def _descend(gan, z: torch.Tensor, opt, steps: int, s: Settings, spaces: Spaces, xs, targets) -> torch.Tensor:
    """``steps`` Adam steps on the latents ``z`` (rows matched with images ``xs``); returns the last
    per-row objective (detached)."""
    loss = None
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = spaces.loss(s.objective, forward(gan, z), xs, targets) + prior_penalty(gan, z, s.prior)
        loss.sum().backward()
        if z.grad is None:
            raise GanlensError(f"{gan.where}: no gradient reached z through G; inversion needs a differentiable G")
        opt.step()
        if gan.latent == "uniform":
            with torch.no_grad():
                z.clamp_(-1, 1)
    return loss.detach() if loss is not None else None


def _keep_rows(z: torch.Tensor, opt, rows: torch.Tensor):
    """A new leaf latent of the chosen rows with a new Adam that keeps those rows' moments."""
    old = opt.state[z]
    z2 = z.detach()[rows].clone().requires_grad_(True)
    opt2 = torch.optim.Adam([z2], lr=opt.param_groups[0]["lr"])
    if old:
        opt2.state[z2] = {"step": old["step"].clone(), "exp_avg": old["exp_avg"][rows].clone(),
                          "exp_avg_sq": old["exp_avg_sq"][rows].clone()}
    return z2, opt2


def optimise(gan, x: torch.Tensor, s: Settings, spaces: Spaces, gen: torch.Generator,
             guess: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images x (B, nc, H, W) float [-1, 1] on G's device -> (best latents (B, nz), their images).

    All ``starts`` latents of an image descend together for the first quarter of the steps (``warmup``);
    then only the best start of each image goes on (the others rarely overtake it; this halves the cost)."""
    B, S = len(x), s.starts
    z = start_latents(gan, B, S, gen, guess).reshape(B * S, -1).to(x.device).requires_grad_(True)
    targets = spaces.targets(s.objective, x)
    rep = {k: v.repeat_interleave(S, 0) for k, v in targets.items()}
    opt = torch.optim.Adam([z], lr=s.lr)
    warm = s.steps if S == 1 else max(1, s.steps // 4)
    _descend(gan, z, opt, warm, s, spaces, x.repeat_interleave(S, 0), rep)
    with torch.no_grad():
        y = forward_eval(gan, z)
        score = spaces.loss(s.objective, y, x.repeat_interleave(S, 0), rep) + prior_penalty(gan, z, s.prior)
    pick = score.reshape(B, S).argmin(1) + torch.arange(B, device=x.device) * S
    if warm >= s.steps:
        return z.detach()[pick], y[pick]
    z, opt = _keep_rows(z, opt, pick)
    _descend(gan, z, opt, s.steps - warm, s, spaces, x, targets)
    with torch.no_grad():
        return z.detach(), forward_eval(gan, z)


def forward_eval(gan, z: torch.Tensor) -> torch.Tensor:
    y = gan.G(gan.g_input(z)).float()
    if not torch.isfinite(y).all():
        raise GanlensError(f"{gan.where}: G produced NaN or infinite values while inverting; check the model "
                           f"(GANLENS_ALLOW_NONFINITE weights?) or lower --lr")
    return y


# ---------------------------------------------------------------------------------------- streaming

class _Best:
    """The ``k`` best-reconstructed images seen so far (smallest pixel distance), in bounded memory."""

    def __init__(self, k: int):
        self.k, self.heap = k, []

    def add(self, index: int, dist: float, real: torch.Tensor, recon: torch.Tensor) -> None:
        item = (-dist, -index, real, recon)
        if len(self.heap) < self.k:
            heapq.heappush(self.heap, item)
        elif item[:2] > self.heap[0][:2]:
            heapq.heapreplace(self.heap, item)

    def arrays(self, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items = sorted(self.heap, key=lambda t: (-t[0], -t[1]))
        if not items:
            return np.zeros(0, np.int64), np.zeros((0, *shape), np.uint8), np.zeros((0, *shape), np.uint8)
        return (np.array([-t[1] for t in items]), torch.stack([t[2] for t in items]).numpy(),
                torch.stack([t[3] for t in items]).numpy())


def run(gan, data: ImageSet, n: int, s: Settings, spaces: Spaces, encoder: nn.Module | None = None,
        on_batch: Callable | None = None, progress: bool = False) -> Inverted:
    """Invert the first ``n`` images of ``data``, ``s.batch`` at a time. on_batch(start, real uint8,
    reconstruction uint8) sees every batch (the mode-dropping analysis measures errors inside masks)."""
    G, dev, _ = prepare(gan)
    gen = torch.Generator().manual_seed(s.seed)
    lat, norms, dist, shown, best = [], [], {k: [] for k in spaces.names}, [], _Best(s.keep)
    t0 = time.perf_counter()
    bar = tqdm(total=n, desc="inverting", unit="img", disable=not progress or not sys.stderr.isatty(), leave=False)
    with frozen(G):
        for start, xb in iter_chunks(data, s.batch, n):
            x = to_float(xb.to(dev))
            guess = encoder_guess(encoder, x)
            z, y = optimise(gan, x, s, spaces, gen, guess)
            d = spaces.distances(y, x)
            yb = to_uint8(y).cpu()
            for i in range(len(xb)):
                best.add(start + i, float(d["pixel"][i]), xb[i], yb[i])
                if start + i < s.keep:
                    shown.append((start + i, xb[i], yb[i]))
            if on_batch is not None:
                on_batch(start, xb, yb)
            lat.append(z.cpu())
            norms.append(z.norm(dim=1).cpu() / math.sqrt(z.shape[1]))
            for k, v in d.items():
                dist[k].append(v)
            bar.update(len(xb))
    bar.close()
    shape = (data.nc, data.size, data.size)
    first = (np.array([t[0] for t in shown], np.int64), torch.stack([t[1] for t in shown]).numpy(),
             torch.stack([t[2] for t in shown]).numpy())
    return Inverted(torch.cat(lat).numpy(), {k: torch.cat(v).numpy() for k, v in dist.items()}, first,
                    best.arrays(shape), torch.cat(norms).numpy(), time.perf_counter() - t0, data.spec)


# ---------------------------------------------------------------------------------------- encoder

def make_encoder(nz: int, nc: int, size: int, width: int = 32) -> nn.Module:
    """Images (B, nc, S, S) in [-1, 1] -> latents (B, nz): stride-2 convolutions down to <= 8 px, pooled to
    4x4, one linear layer. Works for any image size."""
    layers, c, s = [], nc, size
    while s > 8:
        layers += [nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        c, s, width = width, (s + 1) // 2, min(width * 2, 256)
    layers += [nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
               nn.Linear(c * 16, nz)]
    return nn.Sequential(*layers)


def g_fingerprint(gan) -> str:
    """sha256 of G's weights and buffers: an encoder cache is reused only for the G it was trained on."""
    h = hashlib.sha256()
    for k, v in gan.require_G().state_dict().items():
        h.update(k.encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def train_encoder(gan, steps: int, seed: int, batch: int = 64) -> nn.Module:
    """An encoder trained on (z, G(z)) pairs of fresh prior samples (Adam 1e-3, MSE on z)."""
    torch.manual_seed(seed)
    E = make_encoder(gan.nz, gan.nc, gan.image_size).to(gan.device)
    opt = torch.optim.Adam(E.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        z = start_latents(gan, batch, 1, gen, None)[:, 0]
        x = images(gan, z, batch=batch).to(gan.device)
        loss = F.mse_loss(E(x), z.to(gan.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return E.eval()


def encoder_guess(E: nn.Module | None, x: torch.Tensor) -> torch.Tensor | None:
    if E is None:
        return None
    with torch.no_grad():
        return E(x).float()
