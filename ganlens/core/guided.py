"""Guided backpropagation (Springenberg et al. 2015) that is correct on LeakyReLU networks.

Guided backprop passes back, through each rectifier, only the positive part of the incoming gradient,
multiplied by the rectifier's own derivative: ``g_in = max(g_out, 0) * f'(x)``. captum's
``GuidedBackprop`` / ``NeuronGuidedBackprop`` hook only ``nn.ReLU`` modules, so on a DCGAN
discriminator (``LeakyReLU(0.2)``) they hook nothing and silently return the plain gradient.

Why this shape (read ``captum/attr/_core/guided_backprop_deconvnet.py``): captum's
``ModifiedReluGradientAttribution`` already does everything but choose the modules. Its backward hook
receives the gradient w.r.t. the rectifier's *input*, i.e. ``g_out * f'(x)``, and returns
``relu(g_out * f'(x))``. For any rectifier with ``f'(x) >= 0`` (ReLU: 0/1, LeakyReLU with slope
``a >= 0``: a/1) that equals ``relu(g_out) * f'(x)``, which is guided backprop. So the one change
needed is to register that same hook on ``nn.LeakyReLU`` too: we subclass and override
``_register_hooks``, and keep captum's hook registration (forward pre-hook + tensor hooks), its
``try/finally`` removal, its neuron-gradient machinery (``NeuronGuidedBackprop`` with a callable
selector) and its input bookkeeping. No module is replaced; the state we add is hooks, which captum
removes in ``finally`` (we also clear the handle list so repeated calls do not grow it).

Any network: the layer is a name, alias or module path (:mod:`ganlens.layers`); a layer with no spatial
dimensions (a Linear output (B, C)) is a (C, 1, 1) map, so its only position is (0, 0). During a call
the network runs in eval mode and with every ``inplace`` flag off (``nn.LeakyReLU(0.2, inplace=True)``,
as in pytorch/examples, breaks tensor hooks: the rectifier overwrites the tensor the hook was put on);
both are put back exactly as they were in ``finally``, module by module, so a caller's train/eval mode
and BatchNorm statistics are untouched.

    maps = guided_backprop(D, "last", images, units, positions)   # (B, nc, H, W)
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Sequence

import torch
from captum._utils.common import _register_backward_hook
from captum.attr import GuidedBackprop, NeuronGradient, NeuronGuidedBackprop
from torch import nn

from ganlens.core.errors import GanlensError
from ganlens.core.hooks import layer_module

RECTIFIERS = (nn.ReLU, nn.LeakyReLU)


class LeakyGuidedBackprop(GuidedBackprop):
    """captum's ``GuidedBackprop`` that also rewrites the gradient of ``nn.LeakyReLU`` (slope >= 0)."""

    def _register_hooks(self, module: nn.Module) -> None:
        if isinstance(module, nn.LeakyReLU) and module.negative_slope < 0:
            # relu(g * f'(x)) = relu(g) * f'(x) needs f'(x) >= 0 everywhere.
            raise GanlensError(f"guided backprop needs rectifiers with slope >= 0; found LeakyReLU("
                               f"{module.negative_slope})")
        if isinstance(module, RECTIFIERS):
            self.backward_hooks.extend(_register_backward_hook(module, self._backward_hook, self))

    def _remove_hooks(self) -> None:
        super()._remove_hooks()
        self.backward_hooks.clear()


class NeuronLeakyGuidedBackprop(NeuronGuidedBackprop):
    """captum's ``NeuronGuidedBackprop`` driven by :class:`LeakyGuidedBackprop`."""

    def __init__(self, model: nn.Module, layer: nn.Module):
        super().__init__(model, layer)
        self.guided_backprop = LeakyGuidedBackprop(model)


@contextlib.contextmanager
def eval_no_inplace(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode with every ``inplace`` flag off inside the block; each module's own
    ``training`` and ``inplace`` values are restored in ``finally`` (not ``model.train(mode)``, which
    would overwrite submodules a caller had set differently)."""
    modes = [(m, m.training) for m in model.modules()]
    inplace = [m for m in model.modules() if getattr(m, "inplace", None) is True]
    try:
        for m in inplace:
            m.inplace = False
        model.eval()
        yield model
    finally:
        for m in inplace:
            m.inplace = True
        for m, mode in modes:
            m.training = mode


def _selector(units: torch.Tensor, positions: torch.Tensor):
    """A captum neuron selector: row i of the layer output (B, C, H, W) at (units[i], y_i, x_i) -> (B,);
    a (B, C) output (linear layer) is a 1x1 map, read at units[i] (positions must be (0, 0))."""
    def select(out: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(out.shape[0], device=out.device)
        if out.dim() == 2:
            if positions.numel() and positions.abs().max() > 0:
                raise IndexError(f"position {positions.abs().max().item()} out of range for a 1x1 layer")
            return out[rows, units.to(out.device)]
        return out[rows, units.to(out.device), positions[:, 0].to(out.device), positions[:, 1].to(out.device)]
    return select


def _leaf(images: torch.Tensor) -> torch.Tensor:
    """A fresh float leaf that requires grad (captum warns when it has to set that itself)."""
    return images.detach().float().clone().requires_grad_(True)


def _check(model: nn.Module, layer: str, images: torch.Tensor, units, positions):
    name, module = layer_module(model, layer)
    units = torch.as_tensor(units, dtype=torch.long).reshape(-1)
    positions = torch.as_tensor(positions, dtype=torch.long).reshape(-1, 2)
    if not (len(images) == len(units) == len(positions)):
        raise GanlensError(f"guided backprop: {len(images)} images, {len(units)} units and {len(positions)} "
                           f"positions; need one of each per row")
    return module, units, positions


def guided_backprop(model: nn.Module, layer: str, images: torch.Tensor, units: Sequence[int] | torch.Tensor,
                    positions: Sequence[Sequence[int]] | torch.Tensor) -> torch.Tensor:
    """Guided-backprop maps of single layer activations, one per image.

    images: (B, C, H, W) float input; units: (B,) channel index per row; positions: (B, 2) (y, x) in the
    layer's output map per row. Returns (B, C, H, W): d^guided activation[i, units[i], y_i, x_i] / d images[i].
    ``model`` runs in eval mode (rows are independent only without batch statistics) with in-place
    rectifiers made out-of-place; both are restored afterwards (:func:`eval_no_inplace`).
    Rectifiers must be ``nn.ReLU`` / ``nn.LeakyReLU`` modules (functional calls are not seen).
    """
    module, units, positions = _check(model, layer, images, units, positions)
    gbp = NeuronLeakyGuidedBackprop(model, module)
    with warnings.catch_warnings(), eval_no_inplace(model):
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        return gbp.attribute(_leaf(images), _selector(units, positions)).detach()


def plain_gradient(model: nn.Module, layer: str, images: torch.Tensor, units: Sequence[int] | torch.Tensor,
                   positions: Sequence[Sequence[int]] | torch.Tensor) -> torch.Tensor:
    """The ordinary gradient of the same activations (captum ``NeuronGradient``), (B, C, H, W); eval mode
    as in :func:`guided_backprop`."""
    module, units, positions = _check(model, layer, images, units, positions)
    with eval_no_inplace(model):
        return NeuronGradient(model, module).attribute(_leaf(images), _selector(units, positions)).detach()
