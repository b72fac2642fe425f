"""The training images of a model (``rooms`` means the checkpoint's own rooms set) and real images it
never saw (held-out images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganlens.core.errors import GanlensError
from ganlens.data.sets import ImageSet, RoomsSet, check_data_arg, for_model, open_images, parse_rooms


def resolve_data(spec: str, provenance: dict) -> str:
    """``rooms`` means the checkpoint's own rooms training set when its provenance names one."""
    trained = str(provenance.get("data") or "")
    if spec == "rooms" and trained.startswith("rooms"):
        return trained.split(" ")[0]
    return spec


def open_data(gan, data) -> ImageSet:
    """Training images for ``gan`` from a data spec (``"rooms"``, a folder, an .npz, LSUN), an opened
    :class:`ganlens.data.ImageSet` or a uint8 tensor (N, nc, H, W). ``rooms`` is the checkpoint's own
    rooms set when its provenance names one. The set's ``spec`` says what was opened."""
    check_data_arg(data, "data")  # a numpy array, a dict or None: one line, not a file named by its repr
    if isinstance(data, (ImageSet, torch.Tensor, tuple)):
        return for_model(gan, data)
    spec = resolve_data(str(data), gan.provenance)
    opened = for_model(gan, spec)
    opened.spec = spec  # what the JSON names: the spec as resolved ("rooms:n=2000" stays as typed)
    return opened


def heldout_images(data: ImageSet, provenance: dict, count: int, seed: int,
                   heldout=None) -> tuple[torch.Tensor, np.ndarray | None, str]:
    """(held-out uint8 images, training indices to exclude from the search, description).

    heldout: real images never trained on (a spec or an ImageSet). Without it: rooms scenes are a
    function of (seed, index), so scenes after the training set's n are real rooms the model never saw;
    other data: a random split of ``count`` images (at most a fifth) is taken out of the searched set (if
    the model trained on all of it these were seen in training, which can only hide copying of those few,
    so pass ``heldout`` for a clean split).
    """
    if heldout is not None:
        h = heldout if isinstance(heldout, ImageSet) else open_images(str(heldout), data.size, data.nc)
        if (h.nc, h.size) != (data.nc, data.size):
            raise GanlensError(f"heldout {h.spec}: images are {h.nc}x{h.size}x{h.size}, the training images "
                               f"{data.nc}x{data.size}x{data.size}")
        n = min(count, len(h))
        idx = np.sort(np.random.default_rng(seed).choice(len(h), n, replace=False))
        name = heldout if isinstance(heldout, (str, Path)) else h.spec
        return torch.stack([h[int(i)] for i in idx]), None, f"{n} images of --heldout {name}"
    if isinstance(data, RoomsSet):
        start = data.n
        trained = str(provenance.get("data") or "")
        if trained.startswith("rooms"):
            opts = parse_rooms(trained.split(" ")[0])
            if opts["seed"] == data.seed:
                start = max(start, opts["n"])
        more = RoomsSet(n=start + count, size=data.size, seed=data.seed, nc=data.nc)
        return more.chunk(start, start + count), None, f"rooms scenes {start}..{start + count - 1} (seed {data.seed})"
    n = len(data)
    if n < 10:
        raise GanlensError(f"--data {data.spec}: {n} images; the memorization check needs at least 10")
    k = max(2, min(count, n // 5))
    idx = np.sort(np.random.default_rng(seed).choice(n, k, replace=False))
    return torch.stack([data[int(i)] for i in idx]), idx, f"{k} random images of --data left out of the search"
