"""The Python API's edge: ``ganlens.<analysis>(...)`` calls an analysis with its arguments checked before
any work, with the same one-line :class:`GanlensError` messages the commands give (never an AttributeError
from a dict taken for a GAN).

:func:`checked` wraps every analysis function (:func:`analysis_module` applies it), so a new analysis gets
these checks by its parameter names: ``gan``, ``boxes``, ``expr``; data arguments are checked where data is
opened (:func:`ganlens.data.for_model`), paths by :func:`ganlens.core.validate.path_arg`.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from typing import Callable

from ganlens.core.errors import GanlensError
from ganlens.core.gan import GAN
from ganlens.core.validate import kind, path_arg
from ganlens.data.boxes import BoxFile


def check_gan(gan, where: str) -> None:
    if not isinstance(gan, GAN):
        raise GanlensError(f"{where}: gan must be a ganlens.GAN (from ganlens.load(path) or "
                           f"ganlens.wrap(G=..., D=..., nz=...)), got {kind(gan)}")


def _check_boxes(boxes, where: str) -> None:
    if not isinstance(boxes, BoxFile):
        path_arg(boxes, "boxes", where)


def _check_expr(expr, where: str) -> None:
    if not isinstance(expr, (str, list, tuple)):
        raise GanlensError(f"{where}: expr must be a string such as 'A - B + C' or a list of terms, got {kind(expr)}")


BY_NAME: dict[str, Callable[[object, str], None]] = {"gan": check_gan, "boxes": _check_boxes, "expr": _check_expr}


def checked(name: str, fn: Callable) -> Callable:
    """``fn`` with its arguments bound and checked first: a wrong argument name or count, and each
    parameter named in :data:`BY_NAME`, give a GanlensError naming ``ganlens.<name>``."""
    sig = inspect.signature(fn)
    where = f"ganlens.{name}"

    old_names = getattr(fn, "__renamed__", {})  # @renamed keyword arguments: checked under their new names

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            bound = sig.bind(*args, **{old_names.get(k, k): v for k, v in kwargs.items()})
        except TypeError as e:
            raise GanlensError(f"{where}: {e}") from None
        for param, value in bound.arguments.items():
            check = BY_NAME.get(param)
            if check is not None and not (value is None and sig.parameters[param].default is None):
                check(value, where)
        return fn(*args, **kwargs)

    return call


class _AnalysisModule(types.ModuleType):
    """A module that can be called: ``ganlens.walk(gan, ...)`` calls the analysis function of
    ``ganlens/walk.py``, while ``python -m ganlens.walk`` and ``from ganlens.walk import lerp`` work as
    usual (a module and a function cannot both be the attribute ``ganlens.walk`` otherwise)."""

    def __call__(self, *args, **kwargs):
        return self.__analysis__(*args, **kwargs)


def analysis_module(name: str, fn: Callable) -> None:
    """Make module ``name`` callable as ``fn`` (each analysis module calls this at its end)."""
    mod = sys.modules[name]
    mod.__analysis__ = checked(name.rsplit(".", 1)[-1], fn)  # arguments checked at the edge, one-line errors
    mod.__class__ = _AnalysisModule


def renamed(**old_to_new: str) -> Callable[[Callable], Callable]:
    """Keyword arguments that were renamed (one name per setting across analyses: ``n``, ``batch_size``,
    ``draws``) keep working under their old names: ``@renamed(control_draws="draws")``. Giving both is an
    error naming both."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def call(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise GanlensError(f"{fn.__name__}: {old} is the old name of {new}; give one of them")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)
        call.__renamed__ = dict(old_to_new)
        return call
    return wrap
