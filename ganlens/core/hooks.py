"""The one hook helper: capture a layer's output, or edit it (zero or fill chosen channels, set them inside
a region, or replace the whole output), addressed by module path or alias (:mod:`ganlens.layers`).

All are context managers; hooks are removed in ``finally`` whatever happens inside the block. Outputs of
shape (B, C) (linear layers) are edited as (B, C, 1, 1) maps.

    with retain(G, "second-highest") as acts:
        G(z)
    acts["block3"]            # (N, C, 16, 16) for a 64x64 model

    with ablate(G, "second-highest", [3, 17, 40]):
        images = G(z)         # those feature maps are zero at every position
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from ganlens.core import layers as _layers
from ganlens.core.errors import GanlensError


def layer_module(model: nn.Module, layer: str) -> tuple[str, nn.Module]:
    """(module path, module) for a layer name, alias or module path.

    Aliases need the network's layer table (networks from ``ganlens.wrap``/``ganlens.load`` and ganlens's
    own classes have one); on any other network a plain module path works.
    """
    if _layers.known(model):
        name = _layers.resolve(model, layer).name
    else:
        name = layer
    try:
        return name, model.get_submodule(name)
    except AttributeError:
        raise GanlensError(f"unknown layer {layer!r}")


@contextlib.contextmanager
def _hooked(model: nn.Module, hooks: dict[str, Callable]) -> Iterator[None]:
    handles = []
    try:
        for layer, fn in hooks.items():
            handles.append(layer_module(model, layer)[1].register_forward_hook(fn))
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def retain(model: nn.Module, layers: str | Sequence[str], detach: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """Record each named layer's output on every forward pass inside the block.

    Yields a dict keyed by block name (aliases resolved) holding the latest output tensor.
    """
    layers = [layers] if isinstance(layers, str) else list(layers)
    store: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(module, inputs, output):
            store[name] = output.detach() if detach else output
        return hook

    names = [layer_module(model, layer)[0] for layer in layers]
    with _hooked(model, {name: keep(name) for name in names}):
        yield store


@contextlib.contextmanager
def edit(model: nn.Module, layer: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Replace ``layer``'s output ``y`` by ``fn(y)`` on every forward pass inside the block.

    ``fn`` sees a (B, C, H, W) tensor (a (B, C) output as (B, C, 1, 1)) and returns one of the same shape;
    the result is given back in the layer's own shape.
    """
    name, _ = layer_module(model, layer)

    def hook(mod, inputs, output):
        flat = output.dim() == 2
        y = fn(output[:, :, None, None] if flat else output)
        return y[:, :, 0, 0] if flat else y

    with _hooked(model, {name: hook}):
        yield


def _channels(channels: Sequence[int]) -> torch.Tensor:
    return torch.as_tensor([int(c) for c in channels], dtype=torch.long)


def _check_channels(idx: torch.Tensor, n: int, name: str) -> None:
    if idx.numel() and (idx.max() >= n or idx.min() < 0):
        raise GanlensError(f"channel index out of range for layer {name} with {n} channels")


def ablate(model: nn.Module, layer: str, channels: Sequence[int],
           values: torch.Tensor | Sequence[float] | None = None):
    """Zero ``channels`` of ``layer``'s output at every spatial position during the block.

    With ``values`` (one number per channel), set each channel to its value at every position instead of
    zero (e.g. the map's mean activation: a "mean ablation" that removes where a map fires, not its average).
    """
    return set_channels(model, layer, channels, 0.0 if values is None else values)


def set_channels(model: nn.Module, layer: str, channels: Sequence[int],
                 values: torch.Tensor | Sequence[float] | float, mask: torch.Tensor | None = None):
    """Set ``channels`` of ``layer`` to ``values`` (a number, or one per channel) during the block:
    at every position, or only where ``mask`` is true (mask (H, W) or (B, H, W) bool at the layer's
    resolution; GAN Dissection's "insert" sets units inside a region)."""
    name, _ = layer_module(model, layer)
    idx = _channels(channels)
    fill = torch.as_tensor(values, dtype=torch.float32).flatten()
    if fill.numel() not in (1, idx.numel()):
        raise GanlensError(f"ablate: {fill.numel()} values for {idx.numel()} channels of layer {name}")

    def fn(y: torch.Tensor) -> torch.Tensor:
        _check_channels(idx, y.shape[1], name)
        out = y.clone()
        i = idx.to(y.device)
        v = fill.to(y.device, y.dtype).expand(idx.numel())[None, :, None, None]
        if mask is None:
            out[:, i] = v.expand(len(y), -1, *y.shape[2:])
        else:
            m = mask.to(y.device).bool()
            m = (m[None] if m.dim() == 2 else m)[:, None]            # (1|B, 1, H, W)
            out[:, i] = torch.where(m, v, out[:, i])
        return out

    return edit(model, layer, fn)


def count_hooks(model: nn.Module) -> int:
    """Forward (pre-)hooks and backward hooks still registered anywhere in ``model`` (tests use it)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


@contextlib.contextmanager
def channels_last(nets: Sequence[nn.Module]) -> Iterator[None]:
    """Nets in channels_last inside the block (about 1.4x faster convolutions on a CPU), each back in its own
    layout after, whatever happens inside."""
    was = [any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
               for p in net.parameters()) for net in nets]
    try:
        for net in nets:
            net.to(memory_format=torch.channels_last)
        yield
    finally:
        for net, cl in zip(nets, was):
            net.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
