"""Layers of any network, addressed by module path, found by one tracing forward pass.

A *layer* is a point in the network where a feature map can be read or edited: the output of a
convolution or linear module, followed through the shape-preserving modules applied right after it
(BatchNorm, activations, dropout, ``nn.Unflatten``), so that ``block3`` of a DCGAN generator means its
ReLU output, the map the next convolution sees. Each layer is named by the shallowest module whose
output *is* that tensor (``block3`` rather than ``block3.2``; ``main.2`` in a flat ``nn.Sequential``).

One forward pass with hooks on every module records each call's input and output tensors; nothing in
the network is assumed (no class, no attribute names, no ``forward`` code is read). Linear outputs
``(B, C)`` are layers of shape ``(C, 1, 1)``, so every analysis treats them as 1x1 maps.

Aliases, resolved by a generic rule on any network (the output layer is the last one executed):

* generator: ``top`` = the hidden layer of largest spatial size (ties: the later one),
  ``second-highest`` = the one below it in that order (the paper's "second highest convolution layer");
* discriminator: ``last`` = the last hidden layer executed before the output layer;
* both: ``output`` = the output layer.

    table = layer_table(G, z)          # z: an example input batch
    table.resolve("second-highest")    # Layer(name='block3', shape=(64, 16, 16), ...)
    print(table.describe())            # what ``--layer list`` prints
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ganlens.core.errors import GanlensError
from ganlens.core.models import Discriminator, Generator

POINT_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
                 nn.Linear, nn.Bilinear, nn.LazyLinear)
# Applied right after a conv/linear, these keep the map's meaning: the layer is read after them.
FOLLOW_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm1d, nn.InstanceNorm2d,
                  nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm,
                  nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU,
                  nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
                  nn.Softsign, nn.Tanhshrink, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout,
                  nn.Identity, nn.Unflatten)
ALIASES = {"G": {"top": "hidden layer of largest spatial size (ties: the later one)",
                 "second-highest": "the hidden layer below 'top' when hidden layers are ordered by spatial "
                                   "size, then execution order",
                 "output": "the output layer (the last conv/linear layer executed)"},
           "D": {"last": "the last hidden layer executed before the output layer",
                 "output": "the output layer (the last conv/linear layer executed)"}}


@dataclass(frozen=True)
class Layer:
    """One readable point of a network.

    name: module path whose output is the map; shape: per-sample (C, H, W) ((C, 1, 1) for a (B, C)
    output); module: class name of the conv/linear that makes it; order: execution order (0 = first);
    spatial: False when the module outputs (B, C).
    """

    name: str
    shape: tuple[int, int, int]
    module: str
    order: int
    spatial: bool = True

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def side(self) -> int:
        """Height of the map (1 for linear layers); maps are square in every DCGAN-like network."""
        return self.shape[1]

    @property
    def area(self) -> int:
        return self.shape[1] * self.shape[2]


@dataclass
class _Call:
    path: str
    module: nn.Module
    inp: torch.Tensor | None
    out: torch.Tensor | None


class LayerTable:
    """Every layer of one network (execution order; the output layer last), its aliases, and the shape of
    any module path that ran once in the tracing pass."""

    def __init__(self, layers: list[Layer], shapes: dict[str, tuple], calls: dict[str, int], role: str):
        if not layers:
            raise GanlensError("the network has no convolution or linear layer that ganlens can read")
        self.layers, self.shapes, self.calls, self.role = layers, shapes, calls, role
        self.aliases = self._aliases()

    @property
    def hidden(self) -> list[Layer]:
        """Every layer but the output layer, in execution order."""
        return self.layers[:-1]

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def _aliases(self) -> dict[str, str]:
        out = {"output": self.output.name}
        hidden = self.hidden
        if not hidden:
            return out
        if self.role == "G":
            ranked = sorted(hidden, key=lambda l: (l.area, l.order))
            out["top"] = ranked[-1].name
            if len(ranked) > 1:
                out["second-highest"] = ranked[-2].name
        else:
            out["last"] = hidden[-1].name
        return out

    def names(self) -> list[str]:
        return [l.name for l in self.layers]

    def resolve(self, name: str) -> Layer:
        """A layer by alias, layer name or any module path that ran exactly once; GanlensError otherwise."""
        name = str(name).strip()
        target = self.aliases.get(name, name)
        for l in self.layers:
            if l.name == target:
                return l
        if target in self.shapes:
            shape = self.shapes[target]
            return Layer(target, _per_sample(shape), "module", -1, len(shape) >= 4)
        if self.calls.get(target, 0) > 1:
            raise GanlensError(f"layer {name!r} runs {self.calls[target]} times in one forward pass, so a hook "
                               f"on it is ambiguous; name a module that runs once")
        if name in ALIASES[self.role]:
            raise GanlensError(f"layer alias {name!r} does not apply: this network has "
                               f"{len(self.hidden)} hidden layer(s) ({', '.join(self.names()) or 'none'})")
        valid = ", ".join(self.names() + sorted(set(self.aliases) - set(self.names())))
        who = "generator" if self.role == "G" else "discriminator"
        raise GanlensError(f"unknown {who} layer {name!r}; valid layers: {valid} (or any module path; "
                           f"--layer list shows shapes)")

    def describe(self) -> str:
        """The table ``--layer list`` prints: name, shape, module, aliases."""
        inv: dict[str, list[str]] = {}
        for alias, target in self.aliases.items():
            inv.setdefault(target, []).append(alias)
        rows = [("layer", "shape (C x H x W)", "made by", "aliases")]
        for l in self.layers:
            shape = "x".join(map(str, l.shape)) + ("" if l.spatial else " (1x1: no spatial dims)")
            rows.append((l.name, shape, l.module, ", ".join(sorted(inv.get(l.name, []))) or "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _per_sample(shape: tuple) -> tuple[int, int, int]:
    if len(shape) == 2:
        return (int(shape[1]), 1, 1)
    if len(shape) == 4:
        return (int(shape[1]), int(shape[2]), int(shape[3]))
    if len(shape) == 3:  # (B, C, L): a 1-d map, shown as C x 1 x L
        return (int(shape[1]), 1, int(shape[2]))
    raise GanlensError(f"a layer output of shape {tuple(shape)} is not a feature map (expected (B, C) or "
                       f"(B, C, H, W))")


def _first_tensor(x):
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list)) and x and isinstance(x[0], torch.Tensor):
        return x[0]
    return None


def trace(net: nn.Module, example: torch.Tensor, role: str) -> LayerTable:
    """Run ``net(example)`` once with hooks on every module and build its :class:`LayerTable`.

    role: "G" or "D" (which aliases apply). The pass runs in eval mode under ``torch.no_grad``; every
    module's train/eval flag is restored afterwards, so BatchNorm statistics and modes are left as they were.
    """
    calls: list[_Call] = []
    count: dict[str, int] = {}
    paths = {m: p for p, m in net.named_modules() if p}
    handles = []

    def hook(module, inputs, output):
        p = paths[module]
        count[p] = count.get(p, 0) + 1
        calls.append(_Call(p, module, _first_tensor(inputs), _first_tensor(output)))

    modes = {m: m.training for m in net.modules()}
    try:
        net.eval()
        for m in paths:
            handles.append(m.register_forward_hook(hook))
        with torch.no_grad():
            net(example)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return _build(calls, count, role)


def _build(calls: list[_Call], count: dict[str, int], role: str) -> LayerTable:
    by_input: dict[int, list[_Call]] = {}
    for c in calls:
        if c.inp is not None:
            by_input.setdefault(id(c.inp), []).append(c)
    layers, seen = [], set()
    for c in calls:
        if not isinstance(c.module, POINT_MODULES) or count[c.path] != 1 or c.out is None or c.out.dim() < 2:
            continue
        end, used = c, {id(c)}
        while True:  # follow shape-preserving modules applied to this very tensor (in place or not)
            nxt = [d for d in by_input.get(id(end.out), ()) if id(d) not in used and count[d.path] == 1
                   and isinstance(d.module, FOLLOW_MODULES) and d.out is not None
                   and (d.out.shape == end.out.shape or isinstance(d.module, nn.Unflatten))]
            if not nxt:
                break
            end = nxt[0]
            used.add(id(end))
        name = _shallowest(end, calls, count)
        if name in seen:
            continue
        seen.add(name)
        layers.append(Layer(name, _per_sample(tuple(end.out.shape)), type(c.module).__name__, len(layers),
                            end.out.dim() >= 4))
    shapes = {c.path: tuple(c.out.shape) for c in calls if count[c.path] == 1 and c.out is not None
              and c.out.dim() in (2, 3, 4)}
    return LayerTable(layers, shapes, count, role)


def _shallowest(end: _Call, calls: list[_Call], count: dict[str, int]) -> str:
    """The shortest module path (an ancestor of ``end`` or itself) that runs once and returns ``end.out``."""
    parts = end.path.split(".")
    outs = {c.path: c.out for c in calls if count[c.path] == 1}
    for k in range(1, len(parts)):
        p = ".".join(parts[:k])
        if outs.get(p) is end.out:
            return p
    return end.path


# ---------------------------------------------------------------------------------- per-network tables

_EXAMPLES: "weakref.WeakKeyDictionary[nn.Module, tuple[Callable[[], torch.Tensor], str]]" = weakref.WeakKeyDictionary()
_TABLES: "weakref.WeakKeyDictionary[nn.Module, LayerTable]" = weakref.WeakKeyDictionary()


def register(net: nn.Module, example: Callable[[], torch.Tensor], role: str) -> None:
    """Tell ganlens how to trace ``net`` (a function returning an example input batch, and G or D)."""
    _EXAMPLES[net] = (example, role)
    _TABLES.pop(net, None)


def table(net: nn.Module) -> LayerTable:
    """The (cached) :class:`LayerTable` of a network that :func:`register` or ``ganlens.wrap`` has seen."""
    if net in _TABLES:
        return _TABLES[net]
    if net not in _EXAMPLES:
        _register_own(net)
    example, role = _EXAMPLES[net]
    t = trace(net, example(), role)
    _TABLES[net] = t
    return t


def known(net: nn.Module) -> bool:
    """Whether ganlens can trace ``net`` (registered, or one of its own classes)."""
    return net in _EXAMPLES or isinstance(net, (Generator, Discriminator))


def _register_own(net: nn.Module) -> None:
    """ganlens's own classes know their input; any other network must come through ``ganlens.wrap``."""
    if isinstance(net, Generator):
        cfg = net.config
        register(net, lambda: torch.zeros(2, cfg.nz, 1, 1, device=_device(net)), "G")
    elif isinstance(net, Discriminator):
        cfg = net.config
        register(net, lambda: torch.zeros(2, cfg.nc, cfg.image_size, cfg.image_size, device=_device(net)), "D")
    else:
        raise GanlensError(f"{type(net).__name__}: ganlens does not know this network's input; pass it through "
                           f"ganlens.wrap(G=..., D=..., nz=...) first")


def _device(net: nn.Module) -> torch.device:
    p = next(iter(net.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def resolve(net: nn.Module, name: str) -> Layer:
    """:meth:`LayerTable.resolve` on ``net``'s table."""
    return table(net).resolve(name)
