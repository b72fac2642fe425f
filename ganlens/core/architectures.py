"""Networks read off a state dict: a DCGAN-family generator or discriminator inferred from the names and
shapes of its tensors alone, and built as a plain ``nn.Sequential`` with the weights copied in.

:mod:`ganlens.checkpoints` uses this for every foreign layout that is not the PyTorch tutorial's (which
loads into ganlens's own classes): the paper's Linear + 5x5 architecture, critics without BatchNorm,
generators ending in a 1x1 transposed conv, MLPs, and any of these with spectral norm (folded into plain
weights by the checkpoint reader before it gets here).

Rules (G = generator, layers are transposed convs; D = discriminator, layers are convs):

* **Modules.** A module with a 2-D ``weight`` is a Linear, one with a 4-D square ``weight`` a conv; one
  with a 1-D ``weight``, ``bias``, ``running_mean`` and ``running_var`` a BatchNorm (without affine
  weights, or without running statistics, it is not recognised). Modules come in state-dict order (the
  order they were registered, which is execution order in ``nn.Sequential`` and in most hand-written
  classes); the checkpoint reader then tries the natural order of their names.
* **Shapes.** A BatchNorm right after a layer normalises it: over the Linear's features when the widths
  match (``BatchNorm1d``), else after reshaping to maps (``BatchNorm2d``). A Linear output that feeds a
  conv or a 2-D BatchNorm of width C is reshaped channel-major, ``nn.Unflatten(1, (C, b, b))`` with
  ``C*b*b`` its width (PyTorch's ``.view(-1, C, b, b)``); a map that feeds a Linear is flattened.
* **G kernels.** A transposed conv on a 1x1 map (the latent ``(B, nz, 1, 1)``, when G starts with a conv)
  projects to k x k: stride 1, padding 0. After that, kernel 4: stride 2, padding 1; kernel 5: stride 2,
  padding 2, output_padding 1 (both double the side); kernel 1: stride 1, padding 0. Other kernels are
  refused (a 3x3 transposed conv is stride 1 or 2 in the wild: its shape cannot tell).
* **D kernels.** Kernel 4: stride 2, padding 1; kernel 5: stride 2, padding 2 (both halve the side);
  kernel 1: stride 1, padding 0; the last conv covers the whole remaining map (stride 1, padding 0, 1x1
  out), as the tutorial's does. D's input side follows: the last conv's kernel, or the side ``m`` of its
  Linear's input ``C*m*m``, times 2 per halving; an MLP D takes ``nc*S*S`` inputs with nc 1 if that is a
  square, else 3 (the same rule sizes an MLP G's output).
* **Checks.** Channels must chain; a conv net must double (G) or halve (D) the side at least twice and
  make or take images of side 8 or more; D must end in one logit.
* **What a file cannot say.** Activations hold no weights, so the DCGAN conventions are used: ReLU after
  each hidden G layer (after its BatchNorm), Tanh after G's last; LeakyReLU(0.2) after each hidden D
  layer; no Sigmoid (D returns logits ``(N,)``, like ganlens's own Discriminator). BatchNorm eps is
  PyTorch's 1e-5. A network trained with another slope (e.g. LeakyReLU(0.1)) or activation loads but
  computes something else: build it in Python and use ``--model`` for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import skip_init

NORM_PARAMS = ("weight", "bias", "running_mean", "running_var")


class LayoutError(ValueError):
    """The tensors fit none of the rules above (the message says where, without the file name)."""


@dataclass
class Part:
    """One module of a state dict: name (module path), kind ("linear", "conv" or "norm"), its tensors."""

    name: str
    kind: str
    params: dict

    @property
    def w(self) -> torch.Tensor:
        return self.params["weight"]


class Nest(nn.Module):
    """A container with one child under the name the original code gave it (``main``), so that module
    paths (``main.4``) and state-dict keys are the same as in the user's own network."""

    def __init__(self, name: str, child: nn.Module):
        super().__init__()
        self.add_module(name, child)
        self.child_name = name

    def forward(self, x):
        return getattr(self, self.child_name)(x)


def parts(mods: list[tuple[str, dict]]) -> list[Part]:
    """[(module path, {param: tensor})] -> [Part], or LayoutError naming the first module that is none."""
    out = []
    for name, p in mods:
        w = p.get("weight")
        if w is not None and w.dim() == 2 and set(p) <= {"weight", "bias"}:
            out.append(Part(name, "linear", p))
        elif w is not None and w.dim() == 4 and w.shape[2] == w.shape[3] and set(p) <= {"weight", "bias"}:
            out.append(Part(name, "conv", p))
        elif w is not None and w.dim() == 1 and all(k in p for k in NORM_PARAMS):
            out.append(Part(name, "norm", p))
        elif w is None and "running_mean" in p:
            raise LayoutError(f"module {name!r} holds running statistics but no weight "
                              f"(BatchNorm(affine=False) is not recognised)")
        else:
            shapes = {k: tuple(v.shape) for k, v in p.items()}
            raise LayoutError(f"module {name!r} ({shapes}) is no Linear, conv or BatchNorm")
    if not out:
        raise LayoutError("no layers")
    if out[0].kind == "norm":
        raise LayoutError(f"module {out[0].name!r}: a BatchNorm before any layer")
    return out


def _square(n: int) -> int | None:
    r = math.isqrt(n)
    return r if r * r == n and r > 0 else None


def image_of(n: int) -> tuple[int, int]:
    """(nc, side) of a flat image of n values: nc 1 if n is a square, else 3."""
    for nc in (1, 3):
        if n % nc == 0 and _square(n // nc):
            return nc, _square(n // nc)
    raise LayoutError(f"{n} values are not a 1xSxS or 3xSxS image")


class _Builder:
    """Appends layers for parts in order, tracking the per-sample shape ((n,) or (C, s, s))."""

    def __init__(self, role: str, shape: tuple):
        self.role, self.shape, self.layers, self.index, self.steps = role, shape, [], {}, 0

    def add(self, p: Part, last: bool) -> None:
        if p.kind == "norm":
            return self._norm(p)
        if self.layers:
            self.layers.append(nn.ReLU() if self.role == "G" else nn.LeakyReLU(0.2))
        bias = p.params.get("bias") is not None
        if p.kind == "linear":
            self._to_vector(p, p.w.shape[1])
            layer = skip_init(nn.Linear, p.w.shape[1], p.w.shape[0], bias=bias)
            self.shape = (p.w.shape[0],)
        else:
            cin, cout = (p.w.shape[0], p.w.shape[1]) if self.role == "G" else (p.w.shape[1], p.w.shape[0])
            self._to_map(p, cin)
            k, side = p.w.shape[2], self.shape[1]
            stride, pad, extra = _conv_rule(p, side, self.role, last)
            if self.role == "G":
                layer = skip_init(nn.ConvTranspose2d, cin, cout, k, stride, pad, output_padding=extra, bias=bias)
                side = (side - 1) * stride - 2 * pad + k + extra
            else:
                layer = skip_init(nn.Conv2d, cin, cout, k, stride, pad, bias=bias)
                side = (side + 2 * pad - k) // stride + 1
            self.steps += stride == 2
            self.shape = (cout, side, side)
        self._append(p, layer)

    def _append(self, p: Part, layer: nn.Module) -> None:
        with torch.no_grad():
            for k, t in layer.state_dict().items():
                t.copy_(p.params[k] if k in p.params else torch.zeros_like(t))
        self.index[p.name] = len(self.layers)
        self.layers.append(layer)

    def _norm(self, p: Part) -> None:
        nf = p.w.shape[0]
        if len(self.shape) == 1 and self.shape[0] == nf:
            return self._append(p, skip_init(nn.BatchNorm1d, nf))
        self._to_map(p, nf)
        self._append(p, skip_init(nn.BatchNorm2d, nf))

    def _to_vector(self, p: Part, n: int) -> None:
        if len(self.shape) == 3:
            self.layers.append(nn.Flatten())
            self.shape = (math.prod(self.shape),)
        if self.shape[0] != n:
            raise LayoutError(f"module {p.name!r} takes {n} inputs, the layer before gives {self.shape[0]}")

    def _to_map(self, p: Part, c: int) -> None:
        if len(self.shape) == 1:
            side = _square(self.shape[0] // c) if self.shape[0] % c == 0 else None
            if side is None:
                raise LayoutError(f"module {p.name!r} takes {c} channels, which {self.shape[0]} features "
                                  f"do not reshape to")
            self.layers.append(nn.Unflatten(1, (c, side, side)))
            self.shape = (c, side, side)
        if self.shape[0] != c:
            raise LayoutError(f"module {p.name!r} takes {c} channels, the layer before gives {self.shape[0]}")


def _conv_rule(p: Part, side: int, role: str, last: bool) -> tuple[int, int, int]:
    """(stride, padding, output_padding) of a conv with kernel k on a side x side map (module docstring)."""
    k = p.w.shape[2]
    if role == "G" and side == 1:
        return 1, 0, 0
    if role == "D" and last:
        if k != side:
            raise LayoutError(f"last conv {p.name!r} has a {k}x{k} kernel on a {side}x{side} map")
        return 1, 0, 0
    if k == 4:
        return 2, 1, 0
    if k == 5:
        return 2, 2, 1 if role == "G" else 0
    if k == 1:
        return 1, 0, 0
    what = "transposed conv" if role == "G" else "conv"
    raise LayoutError(f"module {p.name!r}: a {k}x{k} {what} whose stride cannot be inferred "
                      f"(known: 4x4 and 5x5 stride 2, 1x1 stride 1)")


def generator(mods: list[tuple[str, dict]]) -> tuple[nn.Module, dict]:
    """(G, info) for a generator's modules; info: nz, nc, image_size, layout (a short description)."""
    ps = parts(mods)
    first, last = ps[0], [p for p in ps if p.kind != "norm"][-1]
    nz = first.w.shape[1] if first.kind == "linear" else first.w.shape[0]
    b = _Builder("G", (nz,) if first.kind == "linear" else (nz, 1, 1))
    for p in ps:
        b.add(p, p is last)
    b.layers.append(nn.Tanh())
    if len(b.shape) == 1:
        nc, side = image_of(b.shape[0])
        b.layers.append(nn.Unflatten(1, (nc, side, side)))
        b.shape = (nc, side, side)
    _check(b, ps, b.shape[1])
    return _finish(b, ps), {"nz": nz, "nc": b.shape[0], "image_size": b.shape[1], "layout": layout(ps, "G")}


def discriminator(mods: list[tuple[str, dict]]) -> tuple[nn.Module, dict]:
    """(D, info) for a discriminator's modules; info: nc, image_size, layout."""
    ps = parts(mods)
    weighted = [p for p in ps if p.kind != "norm"]
    nc, side = _d_input(weighted)
    b = _Builder("D", (nc, side, side))
    for p in ps:
        b.add(p, p is weighted[-1])
    if math.prod(b.shape) != 1:
        raise LayoutError(f"last layer {weighted[-1].name!r} gives {math.prod(b.shape)} outputs, not one logit")
    b.layers.append(nn.Flatten(0))
    _check(b, ps, side)
    return _finish(b, ps), {"nc": nc, "image_size": side, "layout": layout(ps, "D")}


def _d_input(weighted: list[Part]) -> tuple[int, int]:
    """(nc, side) of D's input images, from its first and last layers and the halvings between."""
    if weighted[0].kind == "linear":
        return image_of(weighted[0].w.shape[1])
    halvings, channels = 0, weighted[0].w.shape[1]
    for p in weighted:
        if p.kind == "linear":  # a Linear after maps of C channels: its input is C*m*m
            m = _square(p.w.shape[1] // channels) if p.w.shape[1] % channels == 0 else None
            if m is None:
                raise LayoutError(f"module {p.name!r} takes {p.w.shape[1]} inputs, no {channels}xMxM map")
            return weighted[0].w.shape[1], m * 2 ** halvings
        if p is weighted[-1]:
            return weighted[0].w.shape[1], p.w.shape[2] * 2 ** halvings
        halvings += p.w.shape[2] in (4, 5)
        channels = p.w.shape[0]
    raise LayoutError("no output layer")  # unreachable: the last weighted part returns above


def _check(b: _Builder, ps: list[Part], side: int) -> None:
    """A conv net doubles (G) or halves (D) the side at least twice; images are 8x8 or more."""
    if any(p.kind == "conv" for p in ps) and b.steps < 2:
        raise LayoutError(f"the convs {'double' if b.role == 'G' else 'halve'} the side {b.steps} time(s), "
                          f"a DCGAN does it at least twice")
    if side < 8:
        raise LayoutError(f"{'makes' if b.role == 'G' else 'takes'} {side}x{side} images")


def _finish(b: _Builder, ps: list[Part]) -> nn.Module:
    """The Sequential, nested under the original's container names when its indices match them."""
    net = nn.Sequential(*b.layers)
    prefixes = {p.name[: len(p.name) - len(str(b.index[p.name]))] for p in ps}
    if len(prefixes) == 1 and all(p.name.endswith(str(b.index[p.name])) for p in ps):
        prefix = prefixes.pop()
        names = prefix.split(".")[:-1]
        if prefix == "" or (prefix.endswith(".") and all(n.isidentifier() for n in names)):
            for name in reversed(names):
                net = Nest(name, net)
    return net


def layout(ps: list[Part], role: str) -> str:
    """A short description: 'Linear + 5x5 ConvT, BatchNorm, bias'."""
    kernels = sorted({p.w.shape[2] for p in ps if p.kind == "conv"}, reverse=True)
    conv = "ConvT" if role == "G" else "conv"
    head = "MLP" if not kernels else " + ".join(f"{k}x{k}" for k in kernels) + f" {conv}"
    if kernels and ps[0].kind == "linear":
        head = f"Linear + {head}"
    elif kernels and any(p.kind == "linear" for p in ps):
        head += " + Linear"
    norm = "BatchNorm" if any(p.kind == "norm" for p in ps) else "no BatchNorm"
    bias = "bias" if any(p.params.get("bias") is not None for p in ps if p.kind != "norm") else "no bias"
    return f"{head}, {norm}, {bias}"
