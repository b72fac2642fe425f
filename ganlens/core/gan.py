"""The one model type: any PyTorch GAN, from a checkpoint file (:func:`ganlens.load`) or from modules
the user built (:func:`wrap`).

    import ganlens
    gan = ganlens.wrap(G=my_generator, D=my_discriminator, nz=100)   # any nn.Modules
    gan = ganlens.load("netG_epoch_24.pth")                          # or a checkpoint file
    z = gan.latents([0, 1, 2])            # (3, nz) by the seed rule
    x = gan.generate(z)                   # (3, nc, H, W) in [-1, 1]

Nothing downstream knows whether the networks are ganlens's own classes: G takes latents ``(B, nz)`` or
``(B, nz, 1, 1)`` (found by one tracing call) and returns images ``(B, C, H, W)`` in [-1, 1]; D takes
such images. Layers are addressed by module path or alias (:mod:`ganlens.layers`).
"""

from __future__ import annotations

import copy
import hashlib
import operator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

from ganlens.core import layers as _layers
from ganlens.core.errors import GanlensError, first_line
from ganlens.core.generate import images
from ganlens.core.models import Discriminator, Generator

LATENTS = ("normal", "uniform")
SEED_MAX = 2**63 - 1  # what torch.Generator.manual_seed takes; cli.seed_value and box files use the same rule
IN_MEMORY = "in-memory"


def _is_index(x) -> bool:
    """An integer-like scalar (numpy integers); a numpy array has __index__ too, but it fails."""
    try:
        operator.index(x)
    except TypeError:
        return False
    return True


def latent_from_seed(seed: int, nz: int, latent: str = "normal") -> torch.Tensor:
    """The latent vector (nz,) for a seed. This rule is a contract: box files name samples by seed.

    normal: ``torch.randn(nz, generator=torch.Generator().manual_seed(seed))``;
    uniform: ``torch.rand(...) * 2 - 1`` with the same generator.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) and not _is_index(seed) or not 0 <= int(seed) <= SEED_MAX:
        raise GanlensError(f"seed {seed!r}: seeds are integers 0..2**63-1 (one rule for every command and file)")
    gen = torch.Generator().manual_seed(int(seed))
    if latent == "normal":
        return torch.randn(nz, generator=gen)
    if latent == "uniform":
        return torch.rand(nz, generator=gen) * 2 - 1
    raise GanlensError(f"unknown latent distribution {latent!r}; use one of {', '.join(LATENTS)}")


@dataclass(eq=False)
class GAN:
    """A generator and/or discriminator with what ganlens needs to analyse them.

    G, D: ``nn.Module`` or None (in eval mode). nz, latent: the latent size and distribution ("normal"
    or "uniform"). nc, image_size: the images' channels and side (found by running G once, or given).
    name: a short name for figures; path: the checkpoint file (None in memory); source: how it was read;
    provenance: what the checkpoint says about its training; config: the :class:`ganlens.DCGANConfig`
    when the networks are ganlens's own classes (None otherwise). ``latent_dims`` is 4 when G takes
    ``(B, nz, 1, 1)``, 2 when it takes ``(B, nz)``.
    """

    G: nn.Module | None
    D: nn.Module | None
    nz: int | None
    latent: str = "normal"
    name: str = IN_MEMORY
    path: Path | None = None
    source: str = "in memory (ganlens.wrap)"
    provenance: dict = field(default_factory=dict)
    config: object | None = None
    nc: int | None = None
    image_size: int | None = None
    latent_dims: int = 4

    # ------------------------------------------------------------------------------------------ latents

    def latents(self, seeds) -> torch.Tensor:
        """Latents (len(seeds), nz) by the seed rule of :func:`latent_from_seed`."""
        nz = self.require_nz()
        seeds = list(seeds)
        if not seeds:
            return torch.zeros(0, nz)
        return torch.stack([latent_from_seed(s, nz, self.latent) for s in seeds])

    def g_input(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, nz) (or (N, nz, 1, 1)) shaped the way G takes them."""
        z = z.reshape(len(z), -1)
        return z[:, :, None, None] if self.latent_dims == 4 else z

    def generate(self, z: torch.Tensor, **kw) -> torch.Tensor:
        """``ganlens.generate.images(self, z, **kw)``: (N, nc, H, W) in [-1, 1] on the CPU."""
        return images(self, z, **kw)

    # ------------------------------------------------------------------------------------------ checks

    def require_G(self) -> nn.Module:
        if self.G is None:
            raise GanlensError(f"{self.where}: holds no generator ({self.source}); this needs one")
        return self.G

    def require_D(self) -> nn.Module:
        if self.D is None:
            raise GanlensError(f"{self.where}: holds no discriminator ({self.source}); this command needs one")
        return self.D

    def require_nz(self) -> int:
        if self.nz is None:
            raise GanlensError(f"{self.where}: the latent size is unknown (no generator); pass nz=")
        return self.nz

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else f"model {self.name!r}"

    # ------------------------------------------------------------------------------------------ layers

    def layers(self, net: str = "G") -> _layers.LayerTable:
        """The :class:`ganlens.layers.LayerTable` of G or D."""
        return _layers.table(self.require_G() if net == "G" else self.require_D())

    def layer(self, net: str, name: str) -> _layers.Layer:
        """A layer of G or D by alias, name or module path (GanlensError listing the valid ones)."""
        return self.layers(net).resolve(name)

    # ------------------------------------------------------------------------------------------ where

    @property
    def device(self) -> torch.device:
        return _layers._device(self.G if self.G is not None else self.D)

    def to(self, device) -> "GAN":
        for net in (self.G, self.D):
            if net is not None:
                net.to(device)
        return self

    @cached_property
    def sha256(self) -> str | None:
        """sha256 of the checkpoint file; None for networks in memory."""
        return file_sha256(self.path) if self.path is not None else None

    def origin(self) -> dict:
        """What the model is and where it came from, for every JSON ganlens writes."""
        return {"name": self.name, "checkpoint": str(self.path) if self.path is not None else IN_MEMORY,
                "sha256": self.sha256, "source": self.source, "nz": self.nz, "latent": self.latent,
                "nc": self.nc, "image_size": self.image_size,
                "G": type(self.G).__name__ if self.G is not None else None,
                "D": type(self.D).__name__ if self.D is not None else None,
                "config": self.config.to_dict() if hasattr(self.config, "to_dict") else None,
                "trained_on": self.provenance.get("data")}

    def random_D(self, seed: int) -> nn.Module:
        """A copy of D with fresh random weights drawn from ``seed`` (see :func:`random_like`)."""
        return random_like(self.require_D(), seed)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- wrap

def wrap(G: nn.Module | None = None, D: nn.Module | None = None, *, nz: int | None, latent: str = "normal",
         name: str | None = None, image_shape: tuple[int, int, int] | None = None,
         path: str | Path | None = None, source: str | None = None, provenance: dict | None = None,
         config=None) -> GAN:
    """Any generator and/or discriminator as a :class:`GAN`.

    G: an ``nn.Module`` taking latents ``(B, nz)`` or ``(B, nz, 1, 1)`` (found out with one tracing call)
    and returning images ``(B, C, H, W)`` in [-1, 1]. D: an ``nn.Module`` taking such images. Networks
    that take or return flat vectors can be wrapped with ``nn.Flatten`` / ``nn.Unflatten``, e.g.
    ``nn.Sequential(mlp_G, nn.Unflatten(1, (1, 28, 28)))``. image_shape (C, H, W) is needed only without G.
    Both networks are put in eval mode (BatchNorm uses its running statistics); weights are not touched.
    """
    if G is None and D is None:
        raise GanlensError("ganlens.wrap: give G, D or both")
    for role, net in (("G", G), ("D", D)):
        if net is not None and not isinstance(net, nn.Module):
            raise GanlensError(f"ganlens.wrap: {role} must be a torch.nn.Module, got {type(net).__name__}")
        if net is not None:
            _check_dtypes(net, role)
    if latent not in LATENTS:
        raise GanlensError(f"ganlens.wrap: latent must be one of {', '.join(LATENTS)}, got {latent!r}")
    if G is not None and (not isinstance(nz, int) or isinstance(nz, bool) or nz < 1):
        raise GanlensError(f"ganlens.wrap: nz must be a positive integer (the latent size G takes), got {nz!r}")
    path = Path(path) if path is not None else None
    gan = GAN(G.eval() if G is not None else None, D.eval() if D is not None else None, nz, latent,
              name or (path.stem if path is not None else IN_MEMORY), path,
              source or "in memory (ganlens.wrap)", dict(provenance or {}), config)
    if G is not None:
        gan.latent_dims, shape = _trace_G(gan)
        gan.nc, gan.image_size = shape[0], shape[1]
        _layers.register(G, lambda: gan.g_input(torch.zeros(2, nz, device=_layers._device(G))), "G")
    else:
        if image_shape is None:
            raise GanlensError("ganlens.wrap: without G, pass image_shape=(C, H, W) for D's input")
        gan.nc, gan.image_size = int(image_shape[0]), int(image_shape[1])
    if image_shape is not None and G is not None and tuple(image_shape)[:2] != (gan.nc, gan.image_size):
        raise GanlensError(f"ganlens.wrap: G makes {gan.nc}x{gan.image_size}px images, image_shape says "
                           f"{tuple(image_shape)}")
    if D is not None:
        _trace_D(gan)
        size = (gan.nc, gan.image_size, gan.image_size)
        _layers.register(D, lambda: torch.zeros(2, *size, device=_layers._device(D)), "D")
    return gan


def _check_dtypes(net: nn.Module, role: str) -> None:
    """ganlens runs float32 networks: a float64 or half network (which would fail on float32 latents and be
    reported as a wrong nz) and bool, integer or complex weights are refused, naming the tensor."""
    for name, p in net.named_parameters():
        if p.dtype != torch.float32:
            fix = f" ({role}.float() converts it)" if p.dtype.is_floating_point else ""
            raise GanlensError(f"ganlens.wrap: {role}'s weight {name} is {str(p.dtype).replace('torch.', '')}; "
                               f"ganlens runs float32 networks{fix}")


def _trace_G(gan: GAN) -> tuple[int, tuple[int, int, int]]:
    """(latent dims 4 or 2, image shape (C, H, W)) from one call of G on zero latents."""
    dev = _layers._device(gan.G)
    errors = []
    for dims in (4, 2):
        z = torch.zeros(2, gan.nz, device=dev)
        z = z[:, :, None, None] if dims == 4 else z
        try:
            with torch.no_grad():
                out = gan.G(z)
        except Exception as e:  # noqa: BLE001 - any failure of user code means "not this input shape"
            errors.append(f"{tuple(z.shape)}: {first_line(str(e)) or type(e).__name__}")
            continue
        if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != 2:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise GanlensError(f"{gan.where}: G returned {got} for latents {tuple(z.shape)}; it must return "
                               f"images (B, C, H, W), e.g. nn.Sequential(G, nn.Unflatten(1, (1, 28, 28)))")
        if out.shape[2] != out.shape[3]:
            raise GanlensError(f"{gan.where}: G makes {out.shape[2]}x{out.shape[3]} images; ganlens supports "
                               f"square images")
        if out.dtype != torch.float32:  # NaN pixels are refused where images are made (generate.images)
            raise GanlensError(f"{gan.where}: G returned {str(out.dtype).replace('torch.', '')} images for zero "
                               f"latents; it must return float32 images in [-1, 1]")
        return dims, (int(out.shape[1]), int(out.shape[2]), int(out.shape[3]))
    raise GanlensError(f"{gan.where}: G fails on latents (B, {gan.nz}, 1, 1) and (B, {gan.nz}) "
                       f"({'; '.join(errors)}); is nz right?")


def _trace_D(gan: GAN) -> None:
    x = torch.zeros(2, gan.nc, gan.image_size, gan.image_size, device=_layers._device(gan.D))
    try:
        with torch.no_grad():
            out = gan.D(x)
    except Exception as e:  # noqa: BLE001
        raise GanlensError(f"{gan.where}: D fails on images (B, {gan.nc}, {gan.image_size}, {gan.image_size}): "
                           f"{first_line(str(e)) or type(e).__name__}")
    if not isinstance(out, torch.Tensor) or out.dim() == 0 or out.shape[0] != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise GanlensError(f"{gan.where}: D returned {got} for 2 images; it must return one score per image")


# -------------------------------------------------------------------------------------- random copies

def _weight(m: nn.Module) -> torch.Tensor | None:
    """The trainable weight tensor of a module, under spectral norm in either torch format too."""
    if parametrize.is_parametrized(m, "weight"):
        return m.parametrizations.weight.original
    if hasattr(m, "weight_orig"):
        return m.weight_orig
    w = getattr(m, "weight", None)
    return w if isinstance(w, torch.Tensor) else None


SN_ITERATIONS = 50  # power iterations that re-estimate a re-initialised weight's spectral norm


def _reset_spectral_norm(m: nn.Module, gen: torch.Generator | None = None) -> None:
    """After a spectral-norm weight was re-drawn, its stored singular vectors (u, v) belong to the old weight
    and would leave the new one far from norm 1 in eval mode (no power iteration runs there): draw fresh
    ones and run power iterations, in either torch format (parametrizations or the old hook)."""
    if parametrize.is_parametrized(m, "weight"):
        for p in m.parametrizations.weight:
            if hasattr(p, "_power_method") and hasattr(p, "_u"):
                w = p._reshape_weight_to_matrix(m.parametrizations.weight.original)
                p._u.copy_(torch.nn.functional.normalize(torch.randn_like(p._u), dim=0, eps=p.eps))
                p._v.copy_(torch.nn.functional.normalize(torch.randn_like(p._v), dim=0, eps=p.eps))
                p._power_method(w, SN_ITERATIONS)
        return
    for hook in m._forward_pre_hooks.values():
        if type(hook).__name__ == "SpectralNorm" and hasattr(m, hook.name + "_u"):
            w = hook.reshape_weight_to_matrix(getattr(m, hook.name + "_orig"))
            u, v = getattr(m, hook.name + "_u"), getattr(m, hook.name + "_v")
            u.copy_(torch.nn.functional.normalize(torch.randn_like(u), dim=0, eps=hook.eps))
            for _ in range(SN_ITERATIONS):
                v.copy_(torch.nn.functional.normalize(w.t() @ u, dim=0, eps=hook.eps))
                u.copy_(torch.nn.functional.normalize(w @ v, dim=0, eps=hook.eps))
            setattr(m, hook.name, hook.compute_weight(m, do_power_iteration=False))


def paper_init(net: nn.Module) -> None:
    """The DCGAN paper's initialisation on any network: conv and linear weights ~ N(0, 0.02), biases 0;
    normalisation layers: scale ~ N(1, 0.02), shift 0, running statistics reset (mean 0, variance 1);
    spectral-norm layers get singular vectors of their new weight (so they have norm 1, as in training)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, _layers.POINT_MODULES):
                w = _weight(m)
                if w is not None:
                    w.normal_(0.0, 0.02)
                    _reset_spectral_norm(m)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
                if getattr(m, "weight", None) is not None:
                    m.weight.normal_(1.0, 0.02)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
                if hasattr(m, "reset_running_stats") and getattr(m, "track_running_stats", False):
                    m.reset_running_stats()


def _deepcopy(net: nn.Module) -> nn.Module:
    """copy.deepcopy that also works after a forward pass of the old spectral_norm, whose hook leaves the
    computed ``weight`` (a non-leaf tensor) as a plain attribute: it is detached for the copy, then put back."""
    computed = [(m, h.name, getattr(m, h.name)) for m in net.modules() for h in m._forward_pre_hooks.values()
                if type(h).__name__ == "SpectralNorm" and isinstance(getattr(m, h.name, None), torch.Tensor)]
    try:
        for m, name, t in computed:
            setattr(m, name, t.detach())
        return copy.deepcopy(net)
    finally:
        for m, name, t in computed:
            setattr(m, name, t)


def random_like(net: nn.Module, seed: int) -> nn.Module:
    """A network of the same architecture with fresh weights by the DCGAN paper's initialisation
    (:func:`paper_init`) drawn from ``seed``, in eval mode; the global random state is left as it was.

    ganlens's own classes are rebuilt by their constructor (the same initialisation, in the order the
    trainer draws it). Any other network is deep-copied and re-initialised.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(net, (Generator, Discriminator)):
            fresh = type(net)(net.config)
        else:
            fresh = _deepcopy(net)
            paper_init(fresh)
    fresh = fresh.to(_layers._device(net)).eval().requires_grad_(False)
    if net in _layers._EXAMPLES:
        example, role = _layers._EXAMPLES[net]
        _layers.register(fresh, example, role)
    return fresh
