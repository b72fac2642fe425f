"""The probe's feature cache: ``.npz`` files per (network, data, layers, pool, task) in a folder, read with
``allow_pickle=False``; a damaged file is recomputed, a cache that cannot be written is only a warning.

    folder = cache_dir(True)                     # $GANLENS_CACHE or ~/.cache/ganlens
    cached_features(nets, layers, data, task, n, pool, folder, device)   # from the cache where present
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganlens.analyses.probe.features import extract, feature_dim
from ganlens.analyses.probe.labels import data_key, own_labels
from ganlens.analyses.probe.record import Features
from ganlens.core.layers import Layer
from ganlens.core.results import atomic_write
from ganlens.data.sets import ImageSet

CACHE_VERSION = 1          # bump when the feature definition changes


def net_fingerprint(net: nn.Module) -> str:
    """sha256 of a network's module description (``repr``: layer types, sizes, strides, slopes) and its
    state dict (names, dtypes, shapes, values; independent of memory format and device)."""
    h = hashlib.sha256(repr(net).encode())
    for name, t in sorted(net.state_dict().items()):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cache_dir(flag: str | Path | bool | None = True) -> Path | None:
    """The cache folder: a path as given; True: ``$GANLENS_CACHE`` or ``~/.cache/ganlens``; None/False: none."""
    if flag is None or flag is False:
        return None
    if flag is not True:
        return Path(flag).expanduser()
    if os.environ.get("GANLENS_CACHE"):
        return Path(os.environ["GANLENS_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ganlens"


def cache_path(folder: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return folder / f"probe-features-{digest}.npz"


def cache_read(path: Path, n: int, dim: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(features, labels) from a cache file, or None if absent, damaged (truncated, NaN) or holding other
    labels than ``labels`` (the data's own, when known without rendering): then it is recomputed. The
    labels returned are the data's, never the file's, when the data has them."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["features"], z["labels"]
        if x.shape == (n, dim) and x.dtype in (np.float16, np.float32) and y.shape == (n,) and y.dtype == np.int64 \
                and np.isfinite(x).all() and (labels is None or np.array_equal(y, labels)):
            return x, (y if labels is None else labels)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        print(f"warning: cache {path}: unreadable ({type(e).__name__}); recomputing", file=sys.stderr)
        return None
    print(f"warning: cache {path}: unexpected contents; recomputing", file=sys.stderr)
    return None


def cache_write(path: Path, features: np.ndarray, labels: np.ndarray) -> None:
    """Atomic write (:func:`ganlens.core.results.atomic_write`); a cache that cannot be written is only a warning."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, features=features, labels=labels))
    except OSError as e:
        print(f"warning: cache {path.parent}: cannot write ({e.strerror or e}); continuing without", file=sys.stderr)


def cached_features(nets: dict[str, nn.Module], layers: list[Layer], data: ImageSet, task: str | None, n: int,
                    pool: int, folder: Path | None, device, batch_size: int, progress: bool = False) -> Features:
    """Features (n, F) of every net, from the cache in ``folder`` where present (None: no cache), computed
    (and cached) for the others in one pass over the data; the labels (n,); which nets came from the cache.
    The network is keyed by :func:`net_fingerprint`, the data by :func:`ganlens.analyses.probe.labels.data_key`."""
    paths = {}
    if folder is not None:
        common = {"v": CACHE_VERSION, "data": data_key(data, task, n), "layers": [l.name for l in layers],
                  "pool": pool}
        paths = {k: cache_path(folder, dict(common, net=f"state:{net_fingerprint(net)}")) for k, net in nets.items()}
    dim, own = sum(feature_dim(layers, pool).values()), own_labels(data, n)
    feats, labels = {}, None
    for k, path in paths.items():
        got = cache_read(path, n, dim, own)
        if got is not None:
            feats[k], labels = got
    cached = sorted(feats)
    missing = {k: (net, layers) for k, net in nets.items() if k not in feats}
    if missing:
        new, labels = extract(missing, data, task, n, device, pool, batch_size, progress)
        for k, x in new.items():
            feats[k] = x
            if k in paths:
                cache_write(paths[k], x, labels)
    return Features(feats, labels, cached)
