"""The Python API's edge: the arguments of ``ganlens.<analysis>(...)`` checked before any work, with the
same one-line :class:`GanlensError` messages the commands give (never "File name too long" from a numpy
array taken for a path, nor an AttributeError from a dict taken for a GAN).

:func:`checked` wraps every analysis function (:func:`ganlens.results.analysis_module` applies it), so a
new analysis gets these checks by its parameter names: ``gan``, ``boxes``, ``expr``; data arguments are
checked where data is opened (:func:`ganlens.data.for_model`), paths by :func:`path_arg`.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Callable

from .errors import GanlensError

MAX_PATH = 4096  # longer "paths" are not paths (an array's repr, a whole file's text)


def kind(value) -> str:
    """A short description of a value for an error message: its type, and its shape when it has one."""
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else type(value).__name__


def path_arg(value, name: str, where: str = "ganlens") -> str:
    """``value`` as a path string, or a GanlensError: not a str or os.PathLike, empty, or too long."""
    if not isinstance(value, (str, os.PathLike)):
        raise GanlensError(f"{where}: {name} must be a file path (str or pathlib.Path), got {kind(value)}")
    text = os.fspath(value)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip() or len(text) > MAX_PATH or "\x00" in text:
        shown = repr(text[:60]) + ("..." if len(text) > 60 else "")
        raise GanlensError(f"{where}: {name} {shown} is not a usable file path")
    return text


def check_gan(gan, where: str) -> None:
    from .gan import GAN
    if not isinstance(gan, GAN):
        raise GanlensError(f"{where}: gan must be a ganlens.GAN (from ganlens.load(path) or "
                           f"ganlens.wrap(G=..., D=..., nz=...)), got {kind(gan)}")


def _check_boxes(boxes, where: str) -> None:
    from .boxes import BoxFile
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

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise GanlensError(f"{where}: {e}") from None
        for param, value in bound.arguments.items():
            check = BY_NAME.get(param)
            if check is not None and not (value is None and sig.parameters[param].default is None):
                check(value, where)
        return fn(*args, **kwargs)

    return call
