"""Checks at the Python API's edge: a value described for an error message (:func:`kind`) and a path argument
(:func:`path_arg`), with the same one-line :class:`GanlensError` messages the commands give (never "File name
too long" from a numpy array taken for a path). Arguments by name: :mod:`ganlens.analyses.api`."""

from __future__ import annotations

import os

from ganlens.core.errors import GanlensError

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
