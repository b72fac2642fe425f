"""The one generation helper: latents -> images, or -> a layer's activations, with optional edits of a
layer on the way (the "layer cut" forget and dissection use), in chunks, on any device.

    x = images(gan, z)                                    # (N, nc, H, W) float in [-1, 1], CPU
    x = images(gan, z, uint8=True)                        # (N, nc, H, W) uint8
    a = activations(gan, z, "second-highest")             # (N, C, h, w) float32, CPU
    with hooks.ablate(gan.G, "block3", [3, 17]):           # or: images(gan, z, edit=...)
        x = images(gan, z)

G runs in ``torch.inference_mode`` and in eval mode; when G takes (B, nz, 1, 1) latents it is converted
to channels_last in place (1.4x faster convolutions on CPU, equal up to float rounding).
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager

import torch

from ganlens.core import hooks
from ganlens.core.pixels import to_uint8
from ganlens.core.errors import GanlensError
from ganlens.core.validate import kind

BATCH = 256


def prepare(gan) -> tuple[torch.nn.Module, torch.device, bool]:
    """(G, its device, whether it takes (B, nz, 1, 1) latents), a conv G switched to channels_last in place."""
    G = gan.require_G()
    dev = gan.device
    conv = gan.latent_dims == 4
    if conv:
        G.to(memory_format=torch.channels_last)
    return G, dev, conv


def _batches(gan, z: torch.Tensor, batch: int, conv: bool, dev: torch.device):
    z = z.reshape(len(z), -1)
    for i in range(0, len(z), batch):
        zb = gan.g_input(z[i:i + batch].to(dev).float())
        yield zb.contiguous(memory_format=torch.channels_last) if conv else zb


def _latents(gan, z) -> torch.Tensor:
    """``z`` checked: a float tensor of latents (N, nz) or (N, nz, 1, 1) for this G."""
    if not (isinstance(z, torch.Tensor) and z.is_floating_point() and z.dim() >= 1
            and (len(z) == 0 or z[0].numel() == gan.nz)):
        got = f"{z.dtype} {tuple(z.shape)}" if isinstance(z, torch.Tensor) else kind(z)
        raise GanlensError(f"{gan.where}: latents must be a float tensor (N, {gan.nz}) (gan.latents(seeds) makes "
                           f"them), got {got}")
    return z


def _checked(gan, x, n: int) -> torch.Tensor:
    """G's output for a batch of ``n`` latents, or a one-line GanlensError: not a tensor of images of the
    size found when the GAN was wrapped, or NaN / infinite values (a result from them would be garbage
    reported as numbers, e.g. "sharpness 0.00")."""
    want = (n, gan.nc, gan.image_size, gan.image_size)
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != want:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise GanlensError(f"{gan.where}: G returned {got} for {n} latents; expected images {want}")
    if not torch.isfinite(x).all():
        raise GanlensError(f"{gan.where}: G returned NaN or infinite pixel values for {n} latents; check its "
                           f"weights and its last layer (tanh)")
    return x


def images(gan, z: torch.Tensor, *, batch: int = BATCH, uint8: bool = False,
           edit: ContextManager | Callable[[], ContextManager] | None = None) -> torch.Tensor:
    """Latents (N, nz) -> images on the CPU: float (N, nc, H, W) in [-1, 1], or uint8 with ``uint8=True``.

    edit: a context manager from :mod:`ganlens.hooks` (``ablate``, ``set_channels``, ``edit``) applied
    to every chunk, or a function returning one.
    """
    G, dev, conv = prepare(gan)
    z = _latents(gan, z)
    if len(z) == 0:
        return torch.zeros(0, gan.nc, gan.image_size, gan.image_size,
                           dtype=torch.uint8 if uint8 else torch.float32)
    out = []
    cm = edit if hasattr(edit, "__enter__") or edit is None else edit()
    cm = cm or contextlib.nullcontext()
    with torch.inference_mode(), cm:
        for zb in _batches(gan, z, batch, conv, dev):
            x = _checked(gan, G(zb), len(zb))
            out.append(to_uint8(x).cpu().contiguous() if uint8 else x.float().cpu().contiguous())
    return torch.cat(out)


def activations(gan, z: torch.Tensor, layer: str, *, batch: int = BATCH, with_images: bool = False,
                edit: ContextManager | None = None):
    """A G layer's activations for latents (N, nz) -> float32 (N, C, h, w) on the CPU ((N, C, 1, 1) for a
    linear layer). With ``with_images``, returns (activations, float images in [-1, 1])."""
    G, dev, conv = prepare(gan)
    name = gan.layer("G", layer).name
    acts, imgs = [], []
    with torch.inference_mode(), (edit or contextlib.nullcontext()), hooks.retain(G, name) as store:
        for zb in _batches(gan, z, batch, conv, dev):
            x = _checked(gan, G(zb), len(zb))
            a = store[name].float()
            acts.append((a[:, :, None, None] if a.dim() == 2 else a).cpu())
            if with_images:
                imgs.append(x.float().cpu())
    a = torch.cat(acts) if acts else torch.zeros(0)
    return (a, torch.cat(imgs) if imgs else torch.zeros(0)) if with_images else a


def features(net: torch.nn.Module, x: torch.Tensor, layers: list[str], *, batch: int = BATCH,
             reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Activations of ``layers`` of any network (D, usually) for inputs x, as (N, C, h, w) float32 on the
    CPU ((N, C, 1, 1) for linear layers), each passed through ``reduce`` (e.g. pooling) when given."""
    dev = next(iter(net.parameters())).device
    out: dict[str, list] = {name: [] for name in layers}
    with torch.inference_mode(), hooks.retain(net, layers) as store:
        for i in range(0, len(x), batch):
            net(x[i:i + batch].to(dev))
            for name in layers:
                a = store[name]
                a = a[:, :, None, None] if a.dim() == 2 else a
                out[name].append((reduce(a) if reduce else a).float().cpu())
    return {name: torch.cat(v) for name, v in out.items()}
