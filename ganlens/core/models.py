"""The DCGAN generator and discriminator of Radford, Metz & Chintala (2016).

Both networks are built from a :class:`DCGANConfig` and are made of named blocks (``block1`` ..
``blockK`` and ``output``) so that analyses can address a layer by name (``--layer block3``) or by
an alias that means the same thing at every image size (``second-highest`` for G, ``last`` for D).

The layout follows pytorch/examples ``dcgan/main.py`` (and the PyTorch DCGAN tutorial), generalised
to other sizes: G starts from a ``b x b`` map (``b`` = ``image_size`` halved while it stays even and
above 4: 4 for 32/64/128, 7 for 28) and doubles it with stride-2 4x4 transposed convolutions; D
mirrors it. Channel widths double towards the small end (``ngf * 2**k``), as in the paper.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from ganlens.core.errors import GanlensError, require_memory

LATENTS = ("normal", "uniform")
G_ALIASES = {"second-highest": "the hidden block just below G's top hidden block (16x16 maps at 64x64)",
             "top": "G's top (largest) hidden block"}
D_ALIASES = {"last": "D's last conv block before the output"}


class ConfigError(GanlensError, ValueError):
    """A model configuration that no DCGAN layout supports."""


@dataclass(frozen=True)
class DCGANConfig:
    """Every architecture field of a DCGAN pair, plus the latent distribution it was trained with."""

    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    nc: int = 3
    image_size: int = 64
    latent: str = "normal"

    def __post_init__(self):
        for name in ("nz", "ngf", "ndf", "nc", "image_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.latent not in LATENTS:
            raise ConfigError(f"latent must be one of {', '.join(LATENTS)}, got {self.latent!r}")
        base_size(self.image_size)  # raises for sizes no layout supports
        try:
            require_memory(self.training_bytes(), f"a DCGAN with {self.describe()}")
        except GanlensError as e:
            raise ConfigError(str(e))

    def describe(self) -> str:
        return f"nz={self.nz}, ngf={self.ngf}, ndf={self.ndf}, {self.nc}x{self.image_size}x{self.image_size}"

    def parameters(self) -> int:
        """Weights of G and D (without building them): transposed convs up, convs down, BatchNorm."""
        b, n = base_size(self.image_size), self.n_up
        g = self.nz * self.ngf * 2 ** (n - 1) * b * b + self.ngf * self.nc * 16
        g += sum(self.ngf * 2 ** (n - i) * self.ngf * 2 ** (n - i - 1) * 16 for i in range(1, n))
        d = self.nc * self.ndf * 16 + self.ndf * 2 ** (n - 1) * b * b
        d += sum(self.ndf * 2 ** (i - 1) * self.ndf * 2 ** i * 16 for i in range(1, n))
        return g + d + 4 * (self.ngf + self.ndf) * 2 ** n

    def training_bytes(self) -> float:
        """A floor on the memory a training step needs: float32 weights, gradients and two Adam moments, plus
        the activations of one image (both nets, forward and backward)."""
        side = self.image_size
        acts = sum(max(self.ngf, self.ndf) * 2 ** k * (side / 2 ** (k + 1)) ** 2 for k in range(self.n_up)) \
            + self.nc * side * side
        return 16.0 * self.parameters() + 4.0 * 4 * acts

    @property
    def n_up(self) -> int:
        """Number of resolution doublings between the first map and the image."""
        return (self.image_size // base_size(self.image_size)).bit_length() - 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DCGANConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config fields: {', '.join(sorted(unknown))}")
        return cls(**d)


def base_size(image_size: int) -> int:
    """Side of G's first feature map: ``image_size`` halved while even and above 4.

    64 -> 4, 128 -> 4, 32 -> 4, 28 -> 7. At least two doublings are required (image >= 4*base).
    """
    b = image_size
    while b % 2 == 0 and b > 4:
        b //= 2
    if b < 3 or b > 8 or image_size < 4 * b:
        raise ConfigError(f"image_size {image_size} is not supported: it must be b*2**n with n >= 2 "
                          f"and a start size b in 3..7 (e.g. 28, 32, 64, 128)")
    return b


def init_weights(module: nn.Module) -> None:
    """The paper's initialisation: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (N, nz, 1, 1) -> image (N, nc, image_size, image_size) in [-1, 1].

    Blocks for a 64x64 model (ngf=64), each ConvTranspose -> BatchNorm -> ReLU:
      block1: (ngf*8) x 4 x 4, block2: (ngf*4) x 8 x 8, block3: (ngf*2) x 16 x 16, block4: ngf x 32 x 32;
      output: ConvTranspose -> Tanh, nc x 64 x 64.
    """

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        b, n = base_size(config.image_size), config.n_up
        size = b
        # block1 projects z to a b x b map with the widest channel count: ngf * 2**(n-1).
        ch = config.ngf * 2 ** (n - 1)
        self.add_module("block1", nn.Sequential(
            nn.ConvTranspose2d(config.nz, ch, b, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(),
        ))  # state size. (ngf*2**(n-1)) x b x b
        for i in range(2, n + 1):
            out = ch // 2
            size *= 2
            self.add_module(f"block{i}", nn.Sequential(
                nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(),
            ))  # state size. (ngf*2**(n-i)) x size x size
            ch = out
        self.output = nn.Sequential(
            nn.ConvTranspose2d(ch, config.nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )  # state size. nc x image_size x image_size
        self.apply(init_weights)

    @property
    def hidden_blocks(self) -> list[str]:
        return [f"block{i}" for i in range(1, self.config.n_up + 1)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        for name in self.hidden_blocks:
            z = getattr(self, name)(z)
        return self.output(z)


class Discriminator(nn.Module):
    """image (N, nc, image_size, image_size) -> logit (N,) that the image is real.

    Blocks for a 64x64 model (ndf=64), each Conv -> [BatchNorm] -> LeakyReLU(0.2) (no BN in block1):
      block1: ndf x 32 x 32, block2: (ndf*2) x 16 x 16, block3: (ndf*4) x 8 x 8, block4: (ndf*8) x 4 x 4;
      output: Conv to 1 x 1 x 1. The paper's Sigmoid is left to the loss (BCE with logits), which is
      numerically safer and autocast-friendly; :meth:`prob` applies it.
    """

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        b, n = base_size(config.image_size), config.n_up
        ch_in, size = config.nc, config.image_size
        for i in range(1, n + 1):
            out = config.ndf * 2 ** (i - 1)
            size //= 2
            layers = [nn.Conv2d(ch_in, out, 4, 2, 1, bias=False)]
            if i > 1:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2))
            self.add_module(f"block{i}", nn.Sequential(*layers))  # state size. (ndf*2**(i-1)) x size x size
            ch_in = out
        self.output = nn.Sequential(nn.Conv2d(ch_in, 1, b, 1, 0, bias=False))  # state size. 1 x 1 x 1
        self.apply(init_weights)

    @property
    def hidden_blocks(self) -> list[str]:
        return [f"block{i}" for i in range(1, self.config.n_up + 1)]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden block's activations, [(N, ndf*2**(i-1), s_i, s_i) for each block]."""
        feats = []
        for name in self.hidden_blocks:
            x = getattr(self, name)(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.hidden_blocks:
            x = getattr(self, name)(x)
        return self.output(x).flatten()

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        """D(x) as in the paper: probability (N,) that x is real."""
        return torch.sigmoid(self(x))


def layer_names(model: Generator | Discriminator) -> list[str]:
    """Valid ``--layer`` values for a model: its block names plus its aliases."""
    aliases = G_ALIASES if isinstance(model, Generator) else D_ALIASES
    return model.hidden_blocks + ["output"] + list(aliases)


def resolve_layer(model: Generator | Discriminator, layer: str) -> str:
    """Turn a block name or alias into a block name; raise ConfigError listing the valid names."""
    blocks = model.hidden_blocks
    if layer in blocks or layer == "output":
        return layer
    if isinstance(model, Generator):
        if layer == "second-highest":
            return blocks[-2]
        if layer == "top":
            return blocks[-1]
    elif layer == "last":
        return blocks[-1]
    kind = "generator" if isinstance(model, Generator) else "discriminator"
    raise ConfigError(f"unknown {kind} layer {layer!r}; valid layers: {', '.join(layer_names(model))}")


def layer_shape(model: Generator | Discriminator, layer: str) -> tuple[int, int]:
    """(channels, side) of a block's output."""
    cfg, name = model.config, resolve_layer(model, layer)
    if name == "output":
        return (cfg.nc, cfg.image_size) if isinstance(model, Generator) else (1, 1)
    i = int(name[len("block"):])
    b, n = base_size(cfg.image_size), cfg.n_up
    if isinstance(model, Generator):
        return cfg.ngf * 2 ** (n - i), b * 2 ** (i - 1)
    return cfg.ndf * 2 ** (i - 1), cfg.image_size // 2 ** i
