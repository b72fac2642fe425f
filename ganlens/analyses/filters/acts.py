"""Reading units of a D layer: the ``layer`` argument of the public functions resolved once into a
:class:`~ganlens.core.layers.Layer`, and the maps or largest responses of chosen units. D runs in eval mode
without in-place ops (:func:`ganlens.core.guided.eval_no_inplace`): a module path whose output a later
in-place activation overwrites is read as it was made."""

from __future__ import annotations

import torch
from torch import nn

from ganlens.core import layers as _layers
from ganlens.core.guided import eval_no_inplace
from ganlens.core.hooks import layer_module, retain
from ganlens.core.layers import Layer


def as_layer(net: nn.Module, layer: Layer | str) -> Layer:
    """A Layer as it is; a name, alias or module path resolved on ``net``'s layer table (on a network
    ganlens cannot trace, a plain module path, whose shape is then unknown: (0, 0, 0))."""
    if isinstance(layer, Layer):
        return layer
    if _layers.known(net):
        return _layers.resolve(net, layer)
    name, _ = layer_module(net, layer)
    return Layer(name, (0, 0, 0), "module", -1)


def _as_map(a: torch.Tensor) -> torch.Tensor:
    return a[:, :, None, None] if a.dim() == 2 else a


def unit_maps(D: nn.Module, layer: Layer, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Activation maps (B, U, h, w) float32 of units ``idx`` of ``layer`` for images x in [-1, 1] (a (B, C)
    output is (B, U, 1, 1))."""
    with torch.inference_mode(), eval_no_inplace(D), retain(D, layer.name) as acts:
        D(x)
    return _as_map(next(iter(acts.values())))[:, idx].float()


def responses(D: nn.Module, layer: Layer, x: torch.Tensor, idx: torch.Tensor, bf16: bool):
    """(max over positions, flat argmax), each (B, U), and the map width, of units ``idx`` of ``layer``
    for images x in [-1, 1], in bf16 autocast when ``bf16``."""
    with torch.inference_mode(), torch.autocast(x.device.type, torch.bfloat16, enabled=bf16), \
            eval_no_inplace(D), retain(D, layer.name) as acts:
        D(x)
    a = _as_map(next(iter(acts.values())))
    vals, arg = a[:, idx].flatten(2).float().max(dim=2)
    return vals, arg, a.shape[-1]


def all_maps(D: nn.Module, layer: Layer, x: torch.Tensor) -> torch.Tensor:
    """Every unit's map (B, C, h, w) of ``layer`` (no grad; D in eval mode), as the layer made it."""
    with torch.no_grad(), eval_no_inplace(D), retain(D, layer.name) as acts:
        D(x)
    return _as_map(next(iter(acts.values())))
