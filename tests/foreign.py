"""Build state dicts in the layout of pytorch/examples ``dcgan/main.py`` and the PyTorch DCGAN tutorial.

Written here from the published architecture (``self.main = nn.Sequential(...)``) so tests can make
"foreign" checkpoints of any size and channel count without ganlens's own model classes.
"""

from __future__ import annotations

import torch
from torch import nn


def _start(image_size: int) -> tuple[int, int]:
    b, n = image_size, 0
    while b % 2 == 0 and b > 4:
        b, n = b // 2, n + 1
    return b, n


def tutorial_generator(nz=100, ngf=8, nc=3, image_size=64) -> nn.Module:
    """``main.0`` ConvT(nz, ngf*2**(n-1), b, 1, 0), BN, ReLU, ..., ConvT(ngf, nc, 4, 2, 1), Tanh."""
    b, n = _start(image_size)
    ch = ngf * 2 ** (n - 1)
    layers = [nn.ConvTranspose2d(nz, ch, b, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
    for _ in range(n - 1):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch //= 2
    layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
    net = nn.Module()
    net.main = nn.Sequential(*layers)
    net.forward = lambda z: net.main(z)
    _randomise(net)
    return net


def tutorial_discriminator(ndf=8, nc=3, image_size=64) -> nn.Module:
    """``main.0`` Conv(nc, ndf, 4, 2, 1), LeakyReLU, Conv, BN, LeakyReLU, ..., Conv(., 1, b, 1, 0), Sigmoid."""
    b, n = _start(image_size)
    layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    ch = ndf
    for _ in range(n - 1):
        layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, inplace=True)]
        ch *= 2
    layers += [nn.Conv2d(ch, 1, b, 1, 0, bias=False), nn.Sigmoid()]
    net = nn.Module()
    net.main = nn.Sequential(*layers)
    net.forward = lambda x: net.main(x).view(-1)
    _randomise(net)
    return net


def _randomise(net: nn.Module) -> None:
    """Non-trivial BatchNorm statistics, so that a wrong mapping of running stats shows in outputs."""
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
