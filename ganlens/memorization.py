"""Has a generator memorized its training set? Nearest neighbours and the data-copying test.

    r = ganlens.memorization(gan, "rooms")          # or a folder, an .npz, an opened ImageSet
    r["verdict"], r.figure(), r.save("out/memorization")

``ganlens.walk(gan, data=...)`` runs the same check (:func:`check`) with the walk frames as extra queries.

Radford et al. (2016) argue from pictures (smooth latent walks) that the DCGAN does not memorize, and
say they did no nearest-neighbour search. This module does the search and turns it into numbers:

* **Spaces.** ``pixel``: images in [0, 1], distance = root-mean-square pixel difference (0 = identical,
  1 = black vs white), so numbers do not depend on the image size. ``feature``: the discriminator's last
  hidden layer (the layer alias ``last``, on any D; a linear layer counts as a 1x1 map), globally
  average-pooled and L2-normalised (distance in [0, 2], a monotone function of the cosine). D was
  trained on exactly this data, so its features are the cheapest embedding that knows the domain;
  without a D only pixel space is used.
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
  and generated samples with a Mann-Whitney U test, z-scored under the null; average the z-scores
  over cells whose share of generated samples is strictly above tau = ``MIN_GENERATED_PER_CELL`` / m
  (the reference's 20 / m), weighted by the share of held-out images in each cell. C_T << 0: samples sit
  closer to the training set than real data does (copying); C_T >> 0: farther (under-fitting, typical
  early in training); about 0: neither. The z-score is the reference's (:func:`z_u`, ``"meehan"``): U
  from ``scipy.stats.mannwhitneyu``, ``z = (U - (m n / 2 - 0.5)) / sqrt(m n (N + 1) / 12)``. The
  tie-corrected z (variance times ``scipy.stats.tiecorrect``, no continuity correction; sharper when
  exact copies tie at distance 0) is reported beside it as ``C_T_tie_corrected``.

Verdict rule (thresholds are stored in the JSON next to the numbers): **every space votes**. The model
is flagged as copying when, in any space, ``copy_fraction > COPY_FRACTION_THRESHOLD`` or
``C_T < CT_THRESHOLD``; ``flagged_by`` names the space(s) that flagged it and ``votes`` says which test
did. One space is not enough on its own: D's features are trained to ignore what does not tell real
from fake, so training images plus Gaussian noise (sigma 12/255) sit *farther* from the training set
than real images in D-feature space (C_T +7.1 with the shipped D, 300 training rooms) while pixel space
sees the copies (C_T -7.7). The cost: pixel distances favour blur
(a blurry sample is close to many training images), so a very blurry, under-trained model can get a
negative pixel C_T without copying (a 500-step rooms model: pixel C_T -3.6, feature C_T +6.7). When
only pixel C_T flags, look at the neighbours figure before calling it copying.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ganlens import stats
from ganlens.data.sets import ImageSet, iter_chunks, to_float
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.generate import features, images
from ganlens.core.results import Result, provenance
from ganlens.analyses.api import analysis_module

CT_THRESHOLD = -3.0            # a z-score: 3 standard deviations towards "closer than real data"
COPY_QUANTILE = 0.05           # held-out quantile that defines "suspiciously close"
COPY_FRACTION_THRESHOLD = 0.25  # 5x the share expected of a model that does not copy
MIN_GENERATED_PER_CELL = 20    # Meehan et al.'s tau = 20 / m: a cell counts with more than 20 samples
KMEANS_FIT_IMAGES = 2000       # k-means cells are fitted on this many random training images
K_RELATIVE = 10                # neighbours in the relative distance d_1 / mean(d_1..d_k)


@dataclass
class Space:
    """An embedding: uint8 images (B, nc, H, W) -> float vectors (B, d) on the CPU, compared by L2.

    ``cell_embed`` (optional) gives the vectors the k-means cells are fitted on. The data-copying test
    is valid for any partition built from training data alone, so pixel space uses a cheap 8x8
    average-pooled picture of the image (layout and colour) instead of k-means in 12,288 dimensions.
    ``layer``: the network layer the vectors come from (None for pixels).
    """

    name: str
    embed: Callable[[torch.Tensor], torch.Tensor]
    cell_embed: Callable[[torch.Tensor], torch.Tensor] | None = None
    layer: str | None = None

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


def feature_space(net, layer: str = "last", batch: int = 256) -> Space:
    """A discriminator layer (default: the alias ``last``, its last hidden layer), global-average-pooled
    and L2-normalised: (B, C). net: a :class:`ganlens.GAN` (its D) or a discriminator ``nn.Module`` that
    ganlens can probe. A linear layer (B, C) is a 1x1 map, so its pooled vector is the layer itself.

    Converts D to channels_last in place (1.4-1.9x faster convolutions on CPU; equal up to float rounding).
    """
    from ganlens.core.gan import GAN
    from ganlens.core.layers import _device, resolve
    D = net.require_D() if isinstance(net, GAN) else net
    name = net.layer("D", layer).name if isinstance(net, GAN) else resolve(D, layer).name
    device = _device(D)
    D.to(memory_format=torch.channels_last)

    def embed(x: torch.Tensor) -> torch.Tensor:
        out = []
        for i in range(0, len(x), batch):
            xb = to_float(x[i:i + batch].to(device)).contiguous(memory_format=torch.channels_last)
            f = features(D, xb, [name], batch=batch, reduce=_global_mean)[name].flatten(1)
            out.append(F.normalize(f, dim=1))
        return torch.cat(out)
    return Space("feature", embed, layer=name)


def _global_mean(a: torch.Tensor) -> torch.Tensor:
    return a.mean((2, 3), keepdim=True)


def spaces_for(gan, layer: str = "last") -> list[Space]:
    """Pixel space, and D's feature space when the GAN has a D with a hidden layer ``layer``."""
    if gan.D is None or (layer == "last" and "last" not in gan.layers("D").aliases):
        return [pixel_space()]
    return [pixel_space(), feature_space(gan, layer)]


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
    arrays, plus "images" (training images searched) and "seconds". Candidates found with the fast
    |a|^2+|b|^2-2ab expansion are re-ranked by their direct distances, so an exact copy has distance 0 up to
    float rounding and the answer does not depend on ``chunk`` (ties: the lower index).
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
    for s in spaces:  # every kept distance is a direct one (:func:`_exact_smallest`)
        st = state[s.name]
        st["knn"] = st["knn"][:, :min(k, searched)]
    if searched == 0:
        raise GanlensError("--data: no training images left to search after holding some out")
    out = {s.name: {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in state[s.name].items()}
           for s in spaces}
    for s in spaces:
        out[s.name].setdefault("cell", None)
        out[s.name].setdefault("cell_distance", None)
    out["images"], out["seconds"] = searched, time.perf_counter() - t0
    return out


Z_METHODS = {          # how a cell's Mann-Whitney U becomes a z-score (stats.mann_whitney_z's settings)
    "meehan": {"tie_correct": False, "continuity": 0.5},          # data_copying_tests.Zu: mean n m / 2 - 0.5
    "tie-corrected": {"tie_correct": True, "continuity": 0.0},    # scipy's asymptotic z with tiecorrect
}
RERANK = 8         # candidates beyond k that may be re-ranked by exact distance
EXPANSION_TOL = 1e-5   # error of a float32 |a|^2+|b|^2-2ab squared distance, relative to |a|^2+|b|^2 (eps * sqrt(d)
                       # for d up to ~3e6 values, with a margin)


def _exact_smallest(q: torch.Tensor, t: torch.Tensor, d: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``m`` candidates of each query with the smallest |a|^2+|b|^2-2ab distances ``d`` (Q, B), sorted by
    distance with ties broken by column: (distances (Q, m), columns (Q, m)).

    The expansion is fast, but its rounding error (up to :data:`EXPANSION_TOL` of |a|^2+|b|^2 in the squared
    distance) can exceed the gaps between near-copies and depends on the chunk: every candidate within that
    error of the best gets its distance recomputed directly (``(a - b).norm()``, the same in any chunk), so
    the nearest image and its distance do not depend on the chunk size. The others keep their expansion
    distance: they are clearly farther than the nearest."""
    m = min(m, d.shape[1])
    vals, cand = d.topk(m, dim=1, largest=False)
    scale = EXPANSION_TOL * (q.square().sum(1, keepdim=True) + t.square().sum(1)[cand])
    near = vals.square() <= vals[:, :1].square() + scale
    near[:, 0] = True
    near &= torch.isfinite(vals)
    for j in range(m):
        rows = near[:, j].nonzero().flatten()
        if len(rows):
            vals[rows, j] = (q[rows] - t[cand[rows, j]]).norm(dim=1)
    vals = torch.where(torch.isfinite(d.gather(1, cand)), vals, torch.full_like(vals, math.inf))
    by_col = cand.argsort(dim=1)                                      # ties: the smaller column first
    vals, cand = vals.gather(1, by_col), cand.gather(1, by_col)
    order = vals.argsort(dim=1, stable=True)
    return vals.gather(1, order), cand.gather(1, order)


def _update(st: dict, q: torch.Tensor, t: torch.Tensor, idx: torch.Tensor, tc: torch.Tensor | None) -> None:
    k = st["knn"].shape[1]
    d = torch.cdist(q, t)  # (Q, B)
    exact, cols = _exact_smallest(q, t, d, k + RERANK)
    st["knn"] = torch.cat([st["knn"], exact[:, :k]], 1).sort(dim=1, stable=True).values[:, :k]
    best, arg = exact[:, 0], idx[cols[:, 0]]
    better = (best < st["distance"]) | ((best == st["distance"]) & (arg < st["index"]))
    st["distance"] = torch.where(better, best, st["distance"])
    st["index"] = torch.where(better, arg, st["index"])
    if tc is not None:
        dc = d.masked_fill(st["cell"][:, None] != tc[None, :], math.inf)
        exact_c, _ = _exact_smallest(q, t, dc, 1 + RERANK)
        st["cell_distance"] = torch.minimum(st["cell_distance"], exact_c[:, 0])


def z_u(test: np.ndarray, gen: np.ndarray, method: str = "meehan") -> float:
    """Mann-Whitney U of generated vs test nearest-training distances, z-scored under H0.

    U = ``scipy.stats.mannwhitneyu(gen, test).statistic`` counts pairs where the generated sample is farther
    from the training set than the test image (ties count 1/2). ``"meehan"`` (Meehan et al.'s ``Zu``):
    ``(U - (m n / 2 - 0.5)) / sqrt(m n (N + 1) / 12)``, their continuity correction and no tie correction.
    ``"tie-corrected"``: ``(U - m n / 2) / sd`` with the variance times ``scipy.stats.tiecorrect`` of the
    pooled ranks (``|z|`` is the normal quantile of ``mannwhitneyu(..., method="asymptotic",
    use_continuity=False).pvalue / 2``), sharper when exact copies tie at 0. z < 0: generated samples are
    closer (copying), z > 0 farther; 0 when the variance is 0 (nothing to rank).
    """
    if method not in Z_METHODS:
        raise GanlensError(f"z method must be one of {', '.join(Z_METHODS)}, got {method!r}")
    return stats.mann_whitney_z(gen, test, **Z_METHODS[method])


def data_copying_test(test_dist: np.ndarray, test_cells: np.ndarray, gen_dist: np.ndarray,
                      gen_cells: np.ndarray, k: int, tau: float | None = None, z: str = "meehan") -> dict:
    """C_T of Meehan et al. (2020) (``data_copying_tests.C_T``) from in-cell nearest-training distances and
    cell labels.

    test_dist/test_cells: (n,) held-out images; gen_dist/gen_cells: (m,) generated samples. A cell counts when
    its share of generated samples is strictly above ``tau`` (default ``MIN_GENERATED_PER_CELL / m``, the
    reference's 20 / m) and it holds test images; C_T is the mean of the cells' z (:func:`z_u` with ``z``)
    weighted by their share of test images. Returns {"C_T", "C_T_<other z method>", "cells", "cells_used",
    "Z_U": {cell: z}, "test_share", "generated_share", "tau", ...}; C_T is None when no cell counts.
    """
    m = max(len(gen_cells), 1)
    tau = MIN_GENERATED_PER_CELL / m if tau is None else tau
    test_share = np.bincount(test_cells, minlength=k) / max(len(test_cells), 1)
    gen_share = np.bincount(gen_cells, minlength=k) / m
    used = [c for c in range(k) if gen_share[c] > tau and test_share[c] > 0]
    out = {"cells": k, "cells_used": used, "tau": tau}
    for method in [z] + [v for v in Z_METHODS if v != z]:
        zs = {c: z_u(test_dist[test_cells == c], gen_dist[gen_cells == c], method) for c in used}
        w = test_share[used]
        ct = float(np.dot(w, [zs[c] for c in used]) / w.sum()) if used else None
        if method == z:
            out.update({"C_T": ct, "Z_U": {str(c): zs[c] for c in used}})
        else:
            out[f"C_T_{method.replace('-', '_')}"] = ct
    return dict(out, test_share=test_share.round(4).tolist(), generated_share=gen_share.round(4).tolist(),
                z_statistic=f"{z}: " + ("Mann-Whitney U (scipy) z-scored as Meehan et al.'s Zu: mean m n / 2 - 0.5 "
                                        "(their continuity correction), no tie correction" if z == "meehan" else
                                        "Mann-Whitney U (scipy) z-scored with the tie-corrected null variance "
                                        "(scipy.stats.tiecorrect), no continuity correction"),
                cell_rule="a cell counts when its share of generated samples is > tau and it holds test images")


def vote(spaces: dict[str, dict]) -> dict:
    """The verdict from every space's numbers: {space: {"copy_fraction": f, "data_copying": {"C_T": c}}}.

    Returns {"memorizes", "verdict", "flagged_by" (spaces that flagged, in order), "votes" ({space:
    {"copy_fraction": bool, "C_T": bool, "flags": bool}}), "reasons" (one line per flag)}.
    """
    votes, reasons = {}, []
    for name, e in spaces.items():
        ct = e["data_copying"]["C_T"]
        v = {"copy_fraction": e["copy_fraction"] > COPY_FRACTION_THRESHOLD,
             "C_T": ct is not None and ct < CT_THRESHOLD}
        v["flags"] = v["copy_fraction"] or v["C_T"]
        votes[name] = v
        if v["copy_fraction"]:
            reasons.append(f"{name}: {e['copy_fraction']:.0%} of samples are near-copies (relative distance "
                           f"below {1 - COPY_QUANTILE:.0%} of held-out images)")
        if v["C_T"]:
            reasons.append(f"{name}: C_T = {ct:.2f} < {CT_THRESHOLD}")
    flagged = [n for n, v in votes.items() if v["flags"]]
    return {"memorizes": bool(flagged), "verdict": "copies training images" if flagged else "no evidence of copying",
            "flagged_by": flagged, "votes": votes, "reasons": reasons}


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

    names = [s.name for s in spaces]
    result = {"reference_images": found["images"], "search_seconds": round(found["seconds"], 2),
              "search_images_per_second": round(found["images"] / max(found["seconds"], 1e-9), 1),
              "spaces": {}, "rule": {
                  "C_T_below": CT_THRESHOLD, "C_T_spaces": names, "copy_fraction_spaces": names,
                  "copy_fraction_above": COPY_FRACTION_THRESHOLD, "copy_quantile": COPY_QUANTILE,
                  "k_relative": K_RELATIVE, "min_generated_per_cell": MIN_GENERATED_PER_CELL,
                  "text": f"every space votes: copying if, in any space ({', '.join(names)}), more than "
                          f"{COPY_FRACTION_THRESHOLD:.0%} of generated samples have a relative nearest-training distance "
                          f"d1/mean(d1..d{K_RELATIVE}) below the {COPY_QUANTILE:.0%} quantile of held-out real images, "
                          f"or C_T < {CT_THRESHOLD}; flagged_by names the spaces that flagged"}}
    neighbours = {}
    for s in spaces:
        f = found[s.name]
        rel = relative_distance(f["knn"])
        neighbours[s.name] = {k: (part(f["index"], k), part(f["distance"], k), part(rel, k)) for k in order}
        g, h = part(f["distance"], "generated"), part(f["distance"], "heldout")
        rg, rh = part(rel, "generated"), part(rel, "heldout")
        thr = float(np.quantile(rh, COPY_QUANTILE))
        ct = data_copying_test(part(f["cell_distance"], "heldout"), part(f["cell"], "heldout"),
                               part(f["cell_distance"], "generated"), part(f["cell"], "generated"),
                               kms[s.name].n_clusters)
        entry = {"nn_distance": {k: _stats(part(f["distance"], k)) for k in order},
                 "relative_distance": {k: _stats(part(rel, k)) for k in order},
                 "ratio_generated_to_heldout": float(np.median(g) / max(np.median(h), 1e-12)),
                 "copy_threshold": thr, "copy_fraction": float((rg < thr).mean()), "data_copying": ct}
        for k in order[2:]:
            entry[f"{k}_copy_fraction"] = float((part(rel, k) < thr).mean())
        result["spaces"][s.name] = entry
    result.update(vote(result["spaces"]))
    return result, neighbours


# ---------------------------------------------------------------------------------------------- data

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
    from ganlens.data.sets import check_data_arg, for_model
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
    from ganlens.data.sets import RoomsSet, open_images, parse_rooms
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


# ------------------------------------------------------------------------------------------ analysis

SHOWN = 6  # query images per group of the neighbours figure


def check(gan, data: ImageSet, spaces: list[Space], *, samples: int = 512, holdout: int = 512, cells: int = 10,
          seed: int = 0, heldout=None, limit: int | None = None, chunk: int = 512, first_seed: int | None = None,
          extra: dict[str, torch.Tensor] | None = None, extra_shown: list[tuple[str, str, np.ndarray]] = (),
          progress: bool = False) -> tuple[dict, dict, dict]:
    """The memorization check of ``gan``'s samples (seeds ``first_seed`` (default ``seed``) onwards).

    extra: more query sets (uint8 images, e.g. walk frames) that get nearest neighbours; extra_shown:
    (group name, set name, indices) columns they add to the neighbours figure. Returns (JSON dict,
    arrays of the neighbours figure, neighbours of :func:`report`).
    """
    held, exclude, held_desc = heldout_images(data, gan.provenance, holdout, seed, heldout)
    first = seed if first_seed is None else first_seed
    sample_seeds = list(range(first, first + samples))
    generated = images(gan, gan.latents(sample_seeds), uint8=True)
    mem, nn = report(data, spaces, generated, held, extra, exclude=exclude, cells=cells, seed=seed, chunk=chunk,
                     limit=limit, progress=progress)
    mem.update({"data": data.spec, "heldout": held_desc, "samples": len(generated), "heldout_images": len(held),
                "sample_seeds": [sample_seeds[0], sample_seeds[-1]], "cells_requested": cells, "limit": limit})
    # The columns of the neighbours figure: typical samples, the most copy-like samples (smallest
    # relative pixel distance), the caller's extra groups, and held-out real images (what the
    # neighbours of an image that is certainly no copy look like).
    pix_rel = nn["pixel"]["generated"][2]
    picks = ([("samples", "generated", np.arange(min(SHOWN, len(generated)))),
              ("most copy-like", "generated", np.argsort(pix_rel, kind="stable")[:SHOWN])] + list(extra_shown)
             + [("held-out real", "heldout", np.arange(min(SHOWN, len(held))))])
    sources = {"generated": generated, "heldout": held, **(extra or {})}
    groups, query, shown = [], [], {s.name: [] for s in spaces}
    for name, src, idx in picks:
        g = {"name": name, "set": src, "count": len(idx), "query_index": idx.tolist()}
        if src == "generated":
            g["seeds"] = [sample_seeds[i] for i in idx]
        query.append(sources[src][torch.as_tensor(idx)])
        for s in spaces:
            ti, td, tr = nn[s.name][src]
            g[s.name] = {"train_index": ti[idx].tolist(), "distance": td[idx].round(6).tolist(),
                         "relative_distance": tr[idx].round(4).tolist()}
            shown[s.name].append(torch.stack([data[int(i)] for i in ti[idx]]))
        groups.append(g)
    mem["shown"] = {"groups": groups}
    arrays = {"neighbours_query": torch.cat(query).numpy()}
    arrays.update({f"neighbours_{s}": torch.cat(v).numpy() for s, v in shown.items()})
    return mem, arrays, nn


TIMING = ("search_seconds", "search_images_per_second")  # speed is not a result: kept apart under "timing"


def memorization(gan, data, *, samples: int = 512, holdout: int = 512, cells: int = 10, seed: int = 0,
                 heldout=None, limit: int | None = None, chunk: int = 512, layer: str = "last",
                 progress: bool = False, method: str = "neighbours", **inversion):
    """Has ``gan``'s generator memorized ``data``? Nearest training images and the data-copying test.

    method="inversion": the membership test of :func:`ganlens.invert` instead (training images' reconstruction
    distances against held-out ones: AUC, bootstrap interval, permutation test); ``heldout`` defaults to "auto"
    and the other keywords (n, steps, starts, ...) go to ``ganlens.invert``.

    data: a spec (``"rooms"``, a folder, an .npz), an opened :class:`ganlens.data.ImageSet` or a uint8
    tensor (N, nc, H, W); heldout: real images never trained on (default: see :func:`heldout_images`).
    samples: generated images tested (seeds ``seed`` onwards); holdout: held-out real images; cells:
    k-means cells of the data-copying test; limit: search only the first ``limit`` training images;
    layer: the D layer of the feature space (without a D: pixel space only).
    Returns a :class:`ganlens.Result` of kind "memorization" (figure "neighbours").
    """
    if method == "inversion":
        from ganlens.invert import invert
        return invert(gan, data, heldout="auto" if heldout is None else heldout, seed=seed, **inversion)
    if method != "neighbours" or inversion:
        raise GanlensError(f"method must be 'neighbours' or 'inversion', got {method!r}"
                           + (f" with {', '.join(inversion)}" if inversion else ""))
    _at_least(samples=(samples, 2), holdout=(holdout, 2), cells=(cells, 1), chunk=(chunk, 1),
              limit=(1 if limit is None else limit, 1))
    gan.require_G()
    data = open_data(gan, data)
    spaces = spaces_for(gan, layer)
    mem, arrays, _ = check(gan, data, spaces, samples=samples, holdout=holdout, cells=cells, seed=seed,
                           heldout=heldout, limit=limit, chunk=chunk, progress=progress)
    mem["timing"] = {k: mem.pop(k) for k in TIMING}
    mem["feature_layer"] = spaces[-1].layer
    call = (f"ganlens.memorization({gan.name!r}, {data.spec!r}, samples={samples}, holdout={holdout}, "
            f"cells={cells}, seed={seed})")
    mem["provenance"] = provenance(gan, seed, call=call)
    return Result("memorization", mem, arrays, {"neighbours": plot_neighbours})


def _at_least(**checks: tuple) -> None:
    """GanlensError "samples must be at least 2, got 1" for the first (value, low) pair below its low."""
    require_at_least(checks)


# -------------------------------------------------------------------------------------------- figures

def plot_neighbours(data: dict, arrays: dict):
    """Queries (top row) above their nearest training images, one row per space (pixel first).

    data: a memorization JSON (or walk.json's "memorization" block) with ``spaces`` and
    ``shown.groups``; arrays: ``neighbours_query`` and ``neighbours_<space>``, uint8 (Q, nc, H, W).
    """
    from ganlens.core import figures
    groups = data["shown"]["groups"]
    spaces = sorted(data["spaces"], key=lambda s: s != "pixel")
    query = arrays["neighbours_query"]
    rows = [("query", query)] + [(f"nearest\n({'D features' if s == 'feature' else s})", arrays[f"neighbours_{s}"])
                                 for s in spaces]
    Q, S = len(query), query.shape[-1]
    gap, ggap = 1, max(3, S // 4)
    ends = np.cumsum([g["count"] for g in groups])[:-1]   # a wider gap after each group but the last
    col_gaps = [ggap if q + 1 in ends else gap for q in range(Q - 1)]
    canvas = figures.tile(np.concatenate([figures.rgb(imgs) for _, imgs in rows]), Q, gap=gap, col_gaps=col_gaps)
    xs = figures.offsets(Q, S, col_gaps)
    xs = [xs[q] for q in np.concatenate([[0], ends])]    # where each group starts
    Hc, Wc = canvas.shape[:2]
    left, top = 0.1, 0.18  # axes fraction of the width for row labels; inches for group titles
    ax_w = figures.TWO_COLUMN * (1 - left)
    ax_h = ax_w * Hc / Wc
    fig_h = ax_h + top
    with figures.style():
        fig, ax = figures.figure("two", aspect=fig_h / figures.TWO_COLUMN)
        ax.set_position([left, 0, 1 - left, ax_h / fig_h])
        figures.show_canvas(ax, canvas, int(ax_w * figures.DPI))
        for g, x0 in zip(groups, xs):
            ax.text(x0 + (g["count"] * (S + gap) - gap) / 2, -S * 0.12, g["name"], ha="center", va="bottom",
                    fontsize=7)
        for k, (label, _) in enumerate(rows):
            ax.text(-S * 0.12, k * (S + gap) + S / 2, label, ha="right", va="center", fontsize=7)
    return fig


analysis_module(__name__, memorization)
