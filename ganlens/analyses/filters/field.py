"""Receptive fields of a layer's units, for any network: :func:`receptive_field`."""

from __future__ import annotations

import torch
from torch import nn

from ganlens.analyses.filters.acts import as_layer
from ganlens.core.guided import eval_no_inplace
from ganlens.core.layers import Layer

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.LPPool1d,
         nn.LPPool2d)
RELAYOUT = (nn.Flatten, nn.Unflatten)   # change the shape, not which pixels a number depends on


def _first(v) -> int:
    return int(v[0] if isinstance(v, (tuple, list)) else v)


def _window(m: nn.Module) -> tuple[int, int, int]:
    """(kernel extent incl. dilation, stride, padding) of a conv or pooling module, along rows."""
    k, d = _first(m.kernel_size), _first(getattr(m, "dilation", 1))
    s = _first(m.stride if m.stride is not None else k)   # pools: stride None = kernel size
    p = getattr(m, "padding", 0)
    if isinstance(p, str):   # conv padding "valid" / "same"
        p = 0 if p == "valid" else d * (k - 1) // 2
    return d * (k - 1) + 1, s, _first(p)


def _calls_until(net: nn.Module, target: nn.Module, x: torch.Tensor) -> list[tuple[nn.Module, tuple, tuple]]:
    """(module, input shape, output shape) of every module call that ends before ``target``'s output is
    made (``target`` included), in execution order; one forward pass on ``x`` in eval mode."""
    skip = {m for p, m in net.named_modules() if ".parametrizations." in f".{p}."}  # weight transforms
    calls, done, handles = [], [], []

    def hook(m, inputs, out):
        if done or m in skip:
            return
        inp = inputs[0] if isinstance(inputs, tuple) and inputs else inputs
        if isinstance(inp, torch.Tensor) and isinstance(out, torch.Tensor):
            calls.append((m, tuple(inp.shape), tuple(out.shape)))
        if m is target:
            done.append(True)

    try:
        for m in net.modules():
            handles.append(m.register_forward_hook(hook))
        with torch.no_grad(), eval_no_inplace(net):
            net(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def receptive_field(D: nn.Module, layer: Layer | str, image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(start, size, stride) of a layer's units in input pixels: the unit at (y, x) sees rows
    ``start + y*stride`` .. ``start + y*stride + size - 1`` (same for columns; may reach outside the image).

    layer: a Layer, or a name, alias or module path of D. image_shape: (C, H, W). Convolutions and pools
    grow the field; a Linear, an adaptive pool or any module that changes the spatial size mixes every pixel
    (the whole image from there on: start 0, size H, stride 0). Exact for networks that run as a chain
    (docs/methods.md, filters)."""
    target = D.get_submodule(as_layer(D, layer).name)
    dev = next(iter(D.parameters()), torch.zeros(0)).device
    calls = _calls_until(D, target, torch.zeros(2, *image_shape, device=dev))
    start, size, stride = 0, 1, 1
    whole = (0, int(image_shape[1]), 0)
    for m, ins, outs in calls:
        if isinstance(m, CONVS + POOLS):
            k, s, p = _window(m)
            start, size, stride = start - p * stride, size + (k - 1) * stride, stride * s
        elif isinstance(m, (nn.Linear, nn.Bilinear)) or (
                not isinstance(m, RELAYOUT) and not list(m.children()) and ins[2:] != outs[2:]):
            start, size, stride = whole
    return start, size, stride
