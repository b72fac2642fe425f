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


# --- other DCGAN families (issue 12, point 5) --------------------------------------------------------
# Written as their authors write them, never with ganlens's classes: the official DCGAN code's layout as
# its PyTorch ports name it (fc, bn0, deconv1, ...; functional activations), WGAN-GP critics, and spectral
# norm applied afterwards in either torch format. Activations follow the DCGAN conventions (ReLU/Tanh in G,
# LeakyReLU(0.2) in D), the only ones a state dict can be read back with.

from torch.nn import functional as F  # noqa: E402


class PaperGenerator(nn.Module):
    """Radford et al.'s G: ``fc`` Linear(nz, C*4*4) -> view (C, 4, 4) -> ``bn0`` -> ReLU -> ``deconv1`` ...
    5x5 stride-2 transposed convolutions with bias (padding 2, output_padding 1), ``bn{i}`` between them
    when ``bn``; Tanh. Takes z (B, nz) or (B, nz, 1, 1)."""

    def __init__(self, nz=16, ngf=8, nc=3, size=64, bn=True):
        super().__init__()
        self.n = (size // 4).bit_length() - 1
        self.ch = ch = ngf * 2 ** (self.n - 1)
        self.fc = nn.Linear(nz, ch * 4 * 4)
        self.bn0 = nn.BatchNorm2d(ch) if bn else nn.Identity()
        for i in range(1, self.n + 1):
            out = nc if i == self.n else ch // 2
            setattr(self, f"deconv{i}", nn.ConvTranspose2d(ch, out, 5, 2, 2, output_padding=1))
            if i < self.n:
                setattr(self, f"bn{i}", nn.BatchNorm2d(out) if bn else nn.Identity())
            ch = out
        randomise_norms(self)

    def forward(self, z):
        x = F.relu(self.bn0(self.fc(z.flatten(1)).view(-1, self.ch, 4, 4)))
        for i in range(1, self.n):
            x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"deconv{i}")(x)))
        return torch.tanh(getattr(self, f"deconv{self.n}")(x))


class PaperDiscriminator(nn.Module):
    """The paper's D: ``conv1`` .. ``conv{n}`` 5x5 stride 2 with bias, ``bn{i}`` after all but the first
    when ``bn``, LeakyReLU(0.2); then a Linear logit ``fc`` (logit="linear") or a 4x4 conv ``out``."""

    def __init__(self, ndf=8, nc=3, size=64, bn=True, logit="linear"):
        super().__init__()
        self.n, ch, self.logit = (size // 4).bit_length() - 1, nc, logit
        for i in range(1, self.n + 1):
            out = ndf * 2 ** (i - 1)
            setattr(self, f"conv{i}", nn.Conv2d(ch, out, 5, 2, 2))
            setattr(self, f"bn{i}", nn.BatchNorm2d(out) if bn and i > 1 else nn.Identity())
            ch = out
        if logit == "linear":
            self.fc = nn.Linear(ch * 4 * 4, 1)
        else:
            self.out = nn.Conv2d(ch, 1, 4)
        randomise_norms(self)

    def forward(self, x):
        for i in range(1, self.n + 1):
            x = F.leaky_relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)), 0.2)
        return self.fc(x.flatten(1)).view(-1) if self.logit == "linear" else self.out(x).view(-1)


def critic(ndf=8, nc=3, size=32, bias=True) -> nn.Sequential:
    """A WGAN-GP critic: 4x4 stride-2 convolutions and LeakyReLU(0.2), no BatchNorm, a 4x4 conv score."""
    layers, ch, out, side = [], nc, ndf, size
    while side > 4:
        layers += [nn.Conv2d(ch, out, 4, 2, 1, bias=bias), nn.LeakyReLU(0.2)]
        ch, out, side = out, out * 2, side // 2
    return nn.Sequential(*layers, nn.Conv2d(ch, 1, 4, 1, 0, bias=bias), nn.Flatten(0))


def with_spectral_norm(net: nn.Module, fmt: str, steps: int = 3, example=None) -> nn.Module:
    """Spectral norm on every conv/linear of ``net`` in torch's ``fmt`` ("old": weight_orig/_u/_v,
    "new": parametrizations), then ``steps`` training-mode forward passes on ``example`` so that u and v
    are not their initial values; returned in eval mode."""
    from torch.nn.utils import spectral_norm as old
    from torch.nn.utils.parametrizations import spectral_norm as new
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                setattr(parent, name, (old if fmt == "old" else new)(child))
    if example is not None:
        net.train()
        with torch.no_grad():
            for _ in range(steps):
                net(example)
    return net.eval()


def randomise_norms(*nets: nn.Module, seed: int = 2) -> None:
    """Non-trivial BatchNorm scale, shift and running statistics (1-D and 2-D)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in nets:
            for m in net.modules():
                if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    m.weight.copy_(1 + torch.randn(m.num_features, generator=g) * 0.1)
                    m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                    m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                    m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
