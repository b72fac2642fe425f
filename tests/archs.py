"""GANs that ganlens did not build, for tests of "any PyTorch GAN" (``ganlens.wrap`` and ``--model``).

Each ``*_gan()`` returns ``ganlens.wrap(G, D, nz=...)`` of tiny, seeded networks, so a test can use it from
Python or as ``--model tests/archs.py:mlp_gan``. The networks are plain ``nn.Sequential`` stacks written
from the published architectures, never ganlens's own classes:

* :func:`paper_gan` - Radford et al.'s own layout: z -> Linear to 4x4 maps -> 5x5 stride-2 transposed
  convolutions with bias and BatchNorm; D: 5x5 stride-2 convolutions, then a Linear logit.
* :func:`sn_gan` - a tutorial-layout G with a spectral-norm critic (no BatchNorm, parametrizations format).
* :func:`mlp_gan` - an MLP G/D on 1x28x28 digits (flat vectors, wrapped with Unflatten / Flatten).
* :func:`onebyone_gan` - a G whose last layer is a 1x1 transposed convolution; a WGAN-GP style critic.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

import ganlens

NZ = 16


def _randomise(*nets: nn.Module, seed: int = 1) -> None:
    """Non-trivial BatchNorm statistics, so eval-mode outputs depend on them."""
    g = torch.Generator().manual_seed(seed)
    for net in nets:
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def paper_nets(nz: int = NZ, ngf: int = 8, ndf: int = 8, nc: int = 3, size: int = 32, seed: int = 0):
    """(G, D) in the paper's layout at ``size`` (32 or 64): Linear projection + 5x5 kernels, with bias."""
    torch.manual_seed(seed)
    n = {32: 3, 64: 4}[size]
    ch = ngf * 2 ** (n - 1)
    g = [nn.Linear(nz, ch * 4 * 4), nn.Unflatten(1, (ch, 4, 4)), nn.BatchNorm2d(ch), nn.ReLU()]
    for _ in range(n - 1):
        g += [nn.ConvTranspose2d(ch, ch // 2, 5, 2, 2, output_padding=1), nn.BatchNorm2d(ch // 2), nn.ReLU()]
        ch //= 2
    g += [nn.ConvTranspose2d(ch, nc, 5, 2, 2, output_padding=1), nn.Tanh()]
    d, ch = [nn.Conv2d(nc, ndf, 5, 2, 2), nn.LeakyReLU(0.2)], ndf
    for _ in range(n - 1):
        d += [nn.Conv2d(ch, ch * 2, 5, 2, 2), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2)]
        ch *= 2
    d += [nn.Flatten(), nn.Linear(ch * 4 * 4, 1)]
    G, D = nn.Sequential(*g), nn.Sequential(*d)
    _randomise(G, D)
    return G, D


def paper_gan() -> ganlens.GAN:
    G, D = paper_nets()
    return ganlens.wrap(G, D, nz=NZ, name="paper32")


def sn_nets(nz: int = NZ, ngf: int = 8, ndf: int = 8, nc: int = 3, seed: int = 0):
    """32x32 tutorial-layout G; D: spectral-norm convolutions (torch parametrizations), no BatchNorm."""
    torch.manual_seed(seed)
    G = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(
        spectral_norm(nn.Conv2d(nc, ndf, 4, 2, 1)), nn.LeakyReLU(0.1, inplace=True),
        spectral_norm(nn.Conv2d(ndf, ndf * 2, 4, 2, 1)), nn.LeakyReLU(0.1, inplace=True),
        spectral_norm(nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1)), nn.LeakyReLU(0.1, inplace=True),
        spectral_norm(nn.Conv2d(ndf * 4, 1, 4, 1, 0)), nn.Flatten(0))
    _randomise(G, D)
    D.eval()
    return G, D


def sn_gan() -> ganlens.GAN:
    G, D = sn_nets()
    return ganlens.wrap(G, D, nz=NZ, name="sn32")


def mlp_nets(nz: int = NZ, hidden: int = 64, seed: int = 0):
    """An MLP G (z -> 784 -> 1x28x28 via Unflatten) and D (Flatten -> 784 -> 1)."""
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(nz, hidden), nn.ReLU(), nn.Linear(hidden, 2 * hidden), nn.BatchNorm1d(2 * hidden),
                      nn.ReLU(), nn.Linear(2 * hidden, 784), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 2 * hidden), nn.LeakyReLU(0.2), nn.Linear(2 * hidden, hidden),
                      nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    _randomise(G, D)
    return G, D


def mlp_gan() -> ganlens.GAN:
    G, D = mlp_nets()
    return ganlens.wrap(G, D, nz=NZ, name="mlp28")


def onebyone_nets(nz: int = NZ, ngf: int = 8, ndf: int = 8, nc: int = 3, seed: int = 0):
    """32x32 G ending in a 1x1 transposed convolution; a critic without BatchNorm (WGAN-GP style)."""
    torch.manual_seed(seed)
    G = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0), nn.BatchNorm2d(ngf * 4), nn.ReLU(),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1), nn.BatchNorm2d(ngf * 2), nn.ReLU(),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1), nn.BatchNorm2d(ngf), nn.ReLU(),
        nn.ConvTranspose2d(ngf, ngf, 4, 2, 1), nn.BatchNorm2d(ngf), nn.ReLU(),
        nn.ConvTranspose2d(ngf, nc, 1, 1, 0), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 4, 1, 4, 1, 0), nn.Flatten())
    _randomise(G, D)
    return G, D


def onebyone_gan() -> ganlens.GAN:
    G, D = onebyone_nets()
    return ganlens.wrap(G, D, nz=NZ, name="onebyone32")


ALL = {"paper": paper_gan, "sn": sn_gan, "mlp": mlp_gan, "onebyone": onebyone_gan}
