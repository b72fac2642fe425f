"""Has a generator memorized its training set? Nearest neighbours and the data-copying test.

Radford et al. (2016) argue from pictures (smooth latent walks) that the DCGAN does not memorize, and
say they did no nearest-neighbour search. This module does the search and turns it into numbers:

* **Spaces.** ``pixel``: images in [0, 1], distance = root-mean-square pixel difference (0 = identical,
  1 = black vs white), so numbers do not depend on the image size. ``feature``: the discriminator's last
  hidden block, globally average-pooled and L2-normalised (distance in [0, 2], a monotone function of
  the cosine). D was trained on exactly this data, so its features are the cheapest embedding that knows
  the domain; without a D only pixel space is used.
* **Nearest neighbours** (:func:`search`) stream the reference (training) set in chunks: memory holds
  the queries and one chunk, however large the data. For every query it keeps the nearest training
  image overall and the nearest one inside the query's k-means cell (what the data-copying test needs).
* **Copying vs generalisation.** A generated sample's distance to its nearest training image is compared
  with the same distance for held-out real images (drawn from the training distribution, never trained
  on). A model that generalises makes samples at least as far from the training set as new real images
  are; one that copies makes them much closer. Raw pixel distances favour blur, though: a blurry sample
  is close to many training images at once (a 500-step rooms model is "closer" than real held-out rooms
  in pixel space while being obviously no copy). So copies are judged by the **relative** distance
  ``d_1 / mean(d_1..d_k)`` (nearest over the mean of the ``K_RELATIVE`` nearest, as in Carlini et al. 2023):
  about 0 for a copy or near-copy, close to 1 for an image equally far from many training images.
  ``copy_fraction`` is the share of generated samples whose relative distance is below the 5 % quantile
  of the held-out images' (about 0.05 or less when not copying).
* **Data-copying test** (Meehan, Chaudhuri & Dasgupta, AISTATS 2020): partition space into k-means cells
  fitted on training images; in each cell compare the nearest-training distances of held-out images
  and generated samples with a Mann-Whitney U test (scipy), z-scored under the null; average the z-scores
  over cells with enough generated samples (at least ``MIN_GENERATED_PER_CELL``), weighted by the share
  of held-out images in each cell. C_T << 0: samples sit closer to the training set than real data
  does (copying); C_T >> 0: farther (under-fitting, typical early in training); about 0: neither.

Verdict rule (thresholds are stored in the JSON next to the numbers): the model is flagged as copying
when, in any space, ``copy_fraction > COPY_FRACTION_THRESHOLD``, or when ``C_T < CT_THRESHOLD`` in the
feature space (in pixel space only for checkpoints without a D). Pixel-space C_T is always reported but,
with a D present, it does not vote: it inherits the blur bias above (the 500-step model: pixel C_T -3.6,
feature C_T +6.7, i.e. under-fitting).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data import ImageSet, iter_chunks, to_float
from .errors import GanlensError

CT_THRESHOLD = -3.0            # a z-score: 3 standard deviations towards "closer than real data"
COPY_QUANTILE = 0.05           # held-out quantile that defines "suspiciously close"
COPY_FRACTION_THRESHOLD = 0.25  # 5x the share expected of a model that does not copy
MIN_GENERATED_PER_CELL = 20    # Meehan et al.'s tau = 20 / m: cells with fewer samples are left out
KMEANS_FIT_IMAGES = 2000       # k-means cells are fitted on this many random training images
K_RELATIVE = 10                # neighbours in the relative distance d_1 / mean(d_1..d_k)


@dataclass
class Space:
    """An embedding: uint8 images (B, nc, H, W) -> float vectors (B, d) on the CPU, compared by L2.

    ``cell_embed`` (optional) gives the vectors the k-means cells are fitted on. The data-copying test
    is valid for any partition built from training data alone, so pixel space uses a cheap 8x8
    average-pooled picture of the image (layout and colour) instead of k-means in 12,288 dimensions.
    """

    name: str
    embed: Callable[[torch.Tensor], torch.Tensor]
    cell_embed: Callable[[torch.Tensor], torch.Tensor] | None = None

    def cell_vectors(self, images: torch.Tensor, vectors: torch.Tensor | None = None) -> np.ndarray:
        """(B, d') float32 numpy vectors for k-means; ``vectors`` = already computed ``embed(images)``."""
        if self.cell_embed is not None:
            return self.cell_embed(images).numpy()
        return (vectors if vectors is not None else embed_all(self, images)).numpy()


def pixel_space() -> Space:
    """Pixels in [0, 1], scaled by 1/sqrt(d) so that L2 distance = RMS pixel difference."""
    def embed(x: torch.Tensor) -> torch.Tensor:
        v = x.reshape(len(x), -1).float()
        return v.div_(255.0 * math.sqrt(v.shape[1]))

    def cells(x: torch.Tensor) -> torch.Tensor:
        k = max(1, x.shape[-1] // 8)
        return F.avg_pool2d(x.float().div(255), k).flatten(1)
    return Space("pixel", embed, cells)


def feature_space(D: torch.nn.Module, device: torch.device | str = "cpu", batch: int = 256) -> Space:
    """D's last hidden block, global-average-pooled, L2-normalised: (B, ndf * 2**(n-1)).

    Converts D to channels_last in place (1.4-1.9x faster convolutions on CPU; equal up to float rounding).
    """
    D.to(memory_format=torch.channels_last)

    def embed(x: torch.Tensor) -> torch.Tensor:
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                xb = to_float(x[i:i + batch].to(device)).contiguous(memory_format=torch.channels_last)
                f = D.features(xb)[-1].mean((2, 3))
                out.append(F.normalize(f.float(), dim=1).cpu())
        return torch.cat(out)
    return Space("feature", embed)


def embed_all(space: Space, images: torch.Tensor, batch: int = 512) -> torch.Tensor:
    return torch.cat([space.embed(images[i:i + batch]) for i in range(0, len(images), batch)])


def fit_cells(space: Space, data: ImageSet, k: int, seed: int, exclude: np.ndarray | None = None,
              fit_images: int = KMEANS_FIT_IMAGES, limit: int | None = None):
    """k-means (scikit-learn) cells fitted on up to ``fit_images`` random training images in ``space``.

    A random subset, read by index, keeps memory bounded and needs no extra pass over the data.
    Returns the fitted estimator; ``k`` is lowered so that every cell can hold ~10 fitting images.
    """
    from sklearn.cluster import KMeans
    rng = np.random.default_rng(seed)
    n = len(data) if limit is None else min(limit, len(data))
    pool = np.setdiff1d(np.arange(n), exclude) if exclude is not None else np.arange(n)
    idx = np.sort(rng.choice(pool, size=min(fit_images, len(pool)), replace=False))
    vecs = space.cell_vectors(torch.stack([data[int(i)] for i in idx]))
    k = max(1, min(k, len(vecs) // 10))
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit(vecs)


def search(data: ImageSet, spaces: list[Space], queries: dict[str, torch.Tensor],
           cells: dict | None = None, query_cells: dict | None = None, exclude: np.ndarray | None = None,
           chunk: int = 512, limit: int | None = None, progress: bool = True, k: int = K_RELATIVE) -> dict:
    """Nearest training image of every query, streaming ``data`` in chunks of ``chunk`` images.

    queries: {space name: (Q, d) vectors}; cells: {space name: fitted k-means} (optional) with
    query_cells: {space name: (Q,) cell labels of the queries}; exclude: training indices to skip
    (held-out images taken from the same set); limit: search only the first ``limit`` images.
    Returns {space name: {"distance": (Q,), "index": (Q,) int64, "knn": (Q, k) the k smallest
    distances in increasing order, "cell": (Q,) or None, "cell_distance": (Q,) or None}} as numpy
    arrays, plus "images" (training images searched) and "seconds". Distances of the winners are
    recomputed directly (not through the |a|^2+|b|^2-2ab expansion), so an exact copy has distance 0
    up to float rounding.
    """
    cells = cells or {}
    state = {}
    for s in spaces:
        q = queries[s.name]
        st = {"distance": torch.full((len(q),), math.inf), "index": torch.full((len(q),), -1, dtype=torch.long),
              "knn": torch.full((len(q), k), math.inf)}
        if s.name in cells:
            st["cell"] = torch.from_numpy(np.asarray(query_cells[s.name], dtype=np.int64))
            st["cell_distance"] = torch.full((len(q),), math.inf)
        state[s.name] = st
    skip = torch.from_numpy(np.asarray(exclude, dtype=np.int64)) if exclude is not None and len(exclude) else None
    n = len(data) if limit is None else min(limit, len(data))
    t0, searched = time.perf_counter(), 0
    bar = tqdm(total=n, desc="nearest neighbours", unit="img", disable=not progress, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30, leave=False)
    with torch.inference_mode():
        for start, x in iter_chunks(data, chunk, n):
            idx = torch.arange(start, start + len(x))
            read = len(x)
            if skip is not None:
                keep = ~torch.isin(idx, skip)
                x, idx = x[keep], idx[keep]
            if len(x):
                for s in spaces:
                    t = s.embed(x)
                    tc = None
                    if s.name in cells:
                        tc = torch.from_numpy(cells[s.name].predict(s.cell_vectors(x, t)).astype(np.int64))
                    _update(state[s.name], queries[s.name], t, idx, tc)
                searched += len(x)
            bar.update(read)
    bar.close()
    for s in spaces:  # the exact nearest distance replaces its |a|^2+|b|^2-2ab twin
        st = state[s.name]
        st["knn"] = torch.cat([st["distance"][:, None], st["knn"][:, 1:min(k, searched)]], 1)
    if searched == 0:
        raise GanlensError("--data: no training images left to search after holding some out")
    out = {s.name: {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in state[s.name].items()}
           for s in spaces}
    for s in spaces:
        out[s.name].setdefault("cell", None)
        out[s.name].setdefault("cell_distance", None)
    out["images"], out["seconds"] = searched, time.perf_counter() - t0
    return out


def _update(st: dict, q: torch.Tensor, t: torch.Tensor, idx: torch.Tensor, tc: torch.Tensor | None) -> None:
    d = torch.cdist(q, t)  # (Q, B)
    st["knn"] = torch.cat([st["knn"], d.topk(min(st["knn"].shape[1], d.shape[1]), dim=1, largest=False).values],
                          1).topk(st["knn"].shape[1], dim=1, largest=False).values
    best, arg = d.min(1)
    exact = (q - t[arg]).norm(dim=1)
    better = exact < st["distance"]
    st["distance"] = torch.where(better, exact, st["distance"])
    st["index"] = torch.where(better, idx[arg], st["index"])
    if tc is not None:
        dc = d.masked_fill(st["cell"][:, None] != tc[None, :], math.inf)
        bc, ac = dc.min(1)
        found = torch.isfinite(bc)
        exact_c = torch.where(found, (q - t[ac]).norm(dim=1), bc)
        st["cell_distance"] = torch.minimum(st["cell_distance"], exact_c)


def z_u(test: np.ndarray, gen: np.ndarray) -> float:
    """Mann-Whitney U of generated vs test nearest-training distances, z-scored under H0 (scipy's U).

    U counts pairs where the generated sample is farther from the training set than the test image;
    z < 0 means generated samples are closer (copying), z > 0 farther.
    """
    from scipy.stats import mannwhitneyu
    m, n = len(gen), len(test)
    u = mannwhitneyu(gen, test, alternative="two-sided").statistic
    return float((u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12))


def data_copying_test(test_dist: np.ndarray, test_cells: np.ndarray, gen_dist: np.ndarray,
                      gen_cells: np.ndarray, k: int, min_generated: int = MIN_GENERATED_PER_CELL) -> dict:
    """C_T of Meehan et al. (2020) from in-cell nearest-training distances and cell labels.

    test_dist/test_cells: (n,) held-out images; gen_dist/gen_cells: (m,) generated samples. Returns
    {"C_T": float or None, "cells": k, "cells_used": [...], "Z_U": {cell: z}, "test_share": [...],
    "generated_share": [...]}. C_T is None when no cell has both test images and ``min_generated`` samples.
    """
    test_share = np.bincount(test_cells, minlength=k) / max(len(test_cells), 1)
    gen_count = np.bincount(gen_cells, minlength=k)
    used, zs = [], {}
    for c in range(k):
        t, g = test_dist[test_cells == c], gen_dist[gen_cells == c]
        if len(t) == 0 or len(g) < min_generated:
            continue
        zs[c] = z_u(t, g)
        used.append(c)
    ct = None
    if used:
        w = test_share[used]
        ct = float(np.dot(w, [zs[c] for c in used]) / w.sum())
    return {"C_T": ct, "cells": k, "cells_used": used, "Z_U": {str(c): zs[c] for c in used},
            "test_share": test_share.round(4).tolist(),
            "generated_share": (gen_count / max(len(gen_cells), 1)).round(4).tolist(),
            "min_generated_per_cell": min_generated}


def _stats(d: np.ndarray) -> dict:
    return {"median": float(np.median(d)), "mean": float(d.mean()), "min": float(d.min()),
            "q05": float(np.quantile(d, 0.05)), "max": float(d.max()), "n": int(len(d))}


def relative_distance(knn: np.ndarray) -> np.ndarray:
    """d_1 / mean(d_1..d_k) from sorted k-nearest distances (Q, k) -> (Q,); 0 = copy, ~1 = no nearest one."""
    return knn[:, 0] / np.maximum(knn.mean(1), 1e-12)


def report(data: ImageSet, spaces: list[Space], generated: torch.Tensor, heldout: torch.Tensor,
           extra: dict[str, torch.Tensor] | None = None, exclude: np.ndarray | None = None,
           cells: int = 10, seed: int = 0, chunk: int = 512, limit: int | None = None,
           progress: bool = True) -> tuple[dict, dict]:
    """The whole memorization check. Images are uint8 (N, nc, H, W).

    generated: i.i.d. samples of G; heldout: real images never trained on; extra: more query sets
    (e.g. walk frames) that get nearest neighbours but take no part in the tests; exclude: indices of
    ``data`` to leave out of the reference set; spaces: pixel first, then (optionally) feature.
    Returns (JSON-ready result, neighbours) where neighbours is
    {space: {set name: (train indices (Q,), distances (Q,), relative distances (Q,))}}.
    """
    if len(generated) < 2 or len(heldout) < 2:
        raise GanlensError("the memorization check needs at least 2 generated and 2 held-out images")
    sets = {"generated": generated, "heldout": heldout, **(extra or {})}
    order = list(sets)
    bounds = np.cumsum([0] + [len(sets[k]) for k in order])
    part = lambda a, name: a[bounds[order.index(name)]:bounds[order.index(name) + 1]]  # noqa: E731
    allq = torch.cat([sets[k] for k in order])
    queries = {s.name: embed_all(s, allq) for s in spaces}
    kms = {s.name: fit_cells(s, data, cells, seed, exclude, limit=limit) for s in spaces}
    qcells = {s.name: kms[s.name].predict(s.cell_vectors(allq, queries[s.name])) for s in spaces}
    found = search(data, spaces, queries, kms, qcells, exclude, chunk, limit, progress)

    ct_votes = ["feature"] if any(s.name == "feature" for s in spaces) else [s.name for s in spaces]
    result = {"reference_images": found["images"], "search_seconds": round(found["seconds"], 2),
              "search_images_per_second": round(found["images"] / max(found["seconds"], 1e-9), 1),
              "spaces": {}, "rule": {
                  "C_T_below": CT_THRESHOLD, "C_T_spaces": ct_votes,
                  "copy_fraction_above": COPY_FRACTION_THRESHOLD, "copy_quantile": COPY_QUANTILE,
                  "k_relative": K_RELATIVE, "min_generated_per_cell": MIN_GENERATED_PER_CELL,
                  "text": f"copying if, in any space, more than {COPY_FRACTION_THRESHOLD:.0%} of generated samples "
                          f"have a relative nearest-training distance d1/mean(d1..d{K_RELATIVE}) below the "
                          f"{COPY_QUANTILE:.0%} quantile of held-out real images, or if C_T < {CT_THRESHOLD} "
                          f"in {' or '.join(ct_votes)} space"}}
    neighbours, reasons = {}, []
    for s in spaces:
        f = found[s.name]
        rel = relative_distance(f["knn"])
        neighbours[s.name] = {k: (part(f["index"], k), part(f["distance"], k), part(rel, k)) for k in order}
        g, h = part(f["distance"], "generated"), part(f["distance"], "heldout")
        rg, rh = part(rel, "generated"), part(rel, "heldout")
        thr = float(np.quantile(rh, COPY_QUANTILE))
        copy_fraction = float((rg < thr).mean())
        ct = data_copying_test(part(f["cell_distance"], "heldout"), part(f["cell"], "heldout"),
                               part(f["cell_distance"], "generated"), part(f["cell"], "generated"),
                               kms[s.name].n_clusters)
        entry = {"nn_distance": {k: _stats(part(f["distance"], k)) for k in order},
                 "relative_distance": {k: _stats(part(rel, k)) for k in order},
                 "ratio_generated_to_heldout": float(np.median(g) / max(np.median(h), 1e-12)),
                 "copy_threshold": thr, "copy_fraction": copy_fraction, "data_copying": ct}
        for k in order[2:]:
            entry[f"{k}_copy_fraction"] = float((part(rel, k) < thr).mean())
        result["spaces"][s.name] = entry
        if copy_fraction > COPY_FRACTION_THRESHOLD:
            reasons.append(f"{s.name}: {copy_fraction:.0%} of samples are near-copies (relative distance "
                           f"below {1 - COPY_QUANTILE:.0%} of held-out images)")
        if s.name in ct_votes and ct["C_T"] is not None and ct["C_T"] < CT_THRESHOLD:
            reasons.append(f"{s.name}: C_T = {ct['C_T']:.2f} < {CT_THRESHOLD}")
    result["memorizes"] = bool(reasons)
    result["verdict"] = "copies training images" if reasons else "no evidence of copying"
    result["reasons"] = reasons
    return result, neighbours
