"""Rendered scenes kept for reuse inside a block (:func:`kept`): rendering is ~1 ms of Python per scene, and
some runs draw the same scenes again: the paper suite (the walk's 20,000 training scenes, then the filters'
first 5,000 and the inversion's first 256) and the memorization check (its k-means sample, then its search).

    with kept():                  # analyses/run_all.py runs every figure inside one; the memorization check too
        make_rooms(512, seed=0)   # rendered once; again inside the block: copied from memory

Outside a block nothing is kept (a command that renders its scenes once, such as the trainer, and library
calls from a notebook hold no extra memory). The memory is bounded (:data:`LIMIT`), a constant however large
the set (streaming stays flat in the number of images): once full, later scenes are rendered each time, the
first ones stay (runs reuse the first scenes of a set most). A kept scene is the very array rendered, copied
out, so results are identical with and without it."""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from ganlens.core.errors import physical_memory

LIMIT = 256 * 2**20       # bytes at most (and at most an eighth of the machine's memory): 16,384 64x64 scenes

_lock = threading.Lock()
_store: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] | None = None
_room = 0


@contextlib.contextmanager
def kept(limit: int = LIMIT):
    """Keep rendered scenes inside the block, up to ``limit`` bytes (nested blocks share the outer one's)."""
    global _store, _room
    with _lock:
        outer = _store is not None
        if not outer:
            total = physical_memory()
            _store, _room = {}, min(limit, total // 8) if total else limit
    try:
        yield
    finally:
        if not outer:
            with _lock:
                _store, _room = None, 0


def get(key: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """The kept (image, mask) of scene ``key`` = (seed, size, index), or None."""
    store = _store
    return None if store is None else store.get(key)


def put(key: tuple[int, int, int], image: np.ndarray, mask: np.ndarray) -> None:
    """Keep a freshly rendered scene if a block is active and there is room (the arrays must not change later)."""
    global _room
    with _lock:
        size = image.nbytes + mask.nbytes
        if _store is not None and key not in _store and _room >= size:
            _store[key] = (image, mask)
            _room -= size
