"""The one hook helper: capture a layer's output, or zero chosen channels of it, addressed by name.

Both are context managers; hooks are removed in ``finally`` whatever happens inside the block.

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

from .errors import GanlensError
from .models import Discriminator, Generator, resolve_layer


def layer_module(model: nn.Module, layer: str) -> tuple[str, nn.Module]:
    """(block name, module) for a layer name or alias; any submodule path works on other models."""
    name = resolve_layer(model, layer) if isinstance(model, (Generator, Discriminator)) else layer
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
def ablate(model: nn.Module, layer: str, channels: Sequence[int],
           values: torch.Tensor | Sequence[float] | None = None) -> Iterator[None]:
    """Zero ``channels`` of ``layer``'s output at every spatial position during the block.

    With ``values`` (one number per channel), set each channel to its value at every position instead of
    zero (e.g. the map's mean activation: a "mean ablation" that removes where a map fires, not its average).
    """
    name, module = layer_module(model, layer)
    idx = torch.as_tensor(list(channels), dtype=torch.long)
    fill = None if values is None else torch.as_tensor(values, dtype=torch.float32).flatten()
    if fill is not None and fill.numel() != idx.numel():
        raise GanlensError(f"ablate: {fill.numel()} values for {idx.numel()} channels of layer {name}")

    def hook(mod, inputs, output):
        if idx.numel() and (idx.max() >= output.shape[1] or idx.min() < 0):
            raise GanlensError(f"channel index out of range for layer {name} with {output.shape[1]} channels")
        out = output.clone()
        if fill is None:
            out[:, idx.to(out.device)] = 0
        else:
            out[:, idx.to(out.device)] = fill.to(out.device, out.dtype)[None, :, None, None]
        return out

    with _hooked(model, {name: hook}):
        yield


def count_hooks(model: nn.Module) -> int:
    """Forward (pre-)hooks and backward hooks still registered anywhere in ``model`` (tests use it)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())
