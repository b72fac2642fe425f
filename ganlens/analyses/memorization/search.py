"""Nearest training images of query vectors, streaming the training set in chunks, and the k-means cells of
the data-copying test."""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from ganlens.core.embed import Space
from ganlens.core.errors import GanlensError
from ganlens.data.sets import ImageSet, iter_chunks


KMEANS_FIT_IMAGES = 2000       # k-means cells are fitted on this many random training images

K_RELATIVE = 10                # neighbours in the relative distance d_1 / mean(d_1..d_k)


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
        prepared = {s.name: _Queries(queries[s.name]) for s in spaces}
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
                    _update(state[s.name], queries[s.name], t, idx, tc, prepared[s.name])
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


RERANK = 8         # candidates beyond k that may be re-ranked by exact distance

EXPANSION_TOL = 1e-5   # error of a float32 |a|^2+|b|^2-2ab squared distance, relative to |a|^2+|b|^2 (eps * sqrt(d)


class _Queries:
    """What every chunk's distances reuse of the query vectors q (Q, d): their squared norms, and q in the padded
    form of torch.cdist's matrix-product expansion (computed once per search instead of once per chunk)."""

    def __init__(self, q: torch.Tensor):
        self.q = q
        self.sq = q.square().sum(1, keepdim=True)           # = q.pow(2).sum(-1), what torch.cdist pads with
        self.pad = torch.cat([q.mul(-2), self.sq, torch.ones_like(self.sq)], -1)

    def cdist(self, t: torch.Tensor, tsq: torch.Tensor) -> torch.Tensor:
        """torch.cdist(q, t) (Q, B), the same numbers, given tsq = |t|^2 (B,): for more than 25 rows on either
        side (its default compute mode) torch.cdist multiplies [-2q, |q|^2, 1] by [t, 1, |t|^2]; here the query
        half is kept (the queries are the same for every chunk: 0.11 instead of 0.16 s per chunk of 512 64x64
        images)."""
        if len(self.q) <= 25 and len(t) <= 25:
            return torch.cdist(self.q, t)
        tn = tsq[:, None]
        return self.pad.matmul(torch.cat([t, torch.ones_like(tn), tn], -1).mT).clamp_min_(0).sqrt_()


ROWS = 64      # direct distances computed this many at a time (the differences stay in the cache)


def _direct(q: torch.Tensor, t: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """|q[rows] - t[cols]| (R,), a block of about :data:`ROWS` pairs at a time: the same numbers as in one
    operation (each row's norm is reduced on its own; no block of one row unless R is 1), without the
    R x d differences in memory (R x d x 4 bytes: 63 MB for 1,284 queries of 64x64 RGB images)."""
    out = torch.empty(len(rows), dtype=q.dtype, device=q.device)
    parts = max(1, len(rows) // ROWS)
    lo = 0
    for r, c in zip(torch.tensor_split(rows, parts), torch.tensor_split(cols, parts)):
        out[lo:lo + len(r)] = (q[r] - t[c]).norm(dim=1)
        lo += len(r)
    return out


def _exact_smallest(q: torch.Tensor, t: torch.Tensor, d: torch.Tensor, m: int, qsq: torch.Tensor | None = None,
                    tsq: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``m`` candidates of each query with the smallest |a|^2+|b|^2-2ab distances ``d`` (Q, B), sorted by
    distance with ties broken by column: (distances (Q, m), columns (Q, m)).

    The expansion is fast, but its rounding error (up to :data:`EXPANSION_TOL` of |a|^2+|b|^2 in the squared
    distance) can exceed the gaps between near-copies and depends on the chunk: every candidate within that
    error of the best gets its distance recomputed directly (``(a - b).norm()``, the same in any chunk), so
    the nearest image and its distance do not depend on the chunk size. The others keep their expansion
    distance: they are clearly farther than the nearest."""
    m = min(m, d.shape[1])
    vals, cand = d.topk(m, dim=1, largest=False)
    qsq = q.square().sum(1, keepdim=True) if qsq is None else qsq
    tsq = t.square().sum(1) if tsq is None else tsq
    scale = EXPANSION_TOL * (qsq + tsq[cand])
    near = vals.square() <= vals[:, :1].square() + scale
    near[:, 0] = True
    near &= torch.isfinite(vals)
    for j in range(m):
        rows = near[:, j].nonzero().flatten()
        if len(rows):
            vals[rows, j] = _direct(q, t, rows, cand[rows, j])
    vals = torch.where(torch.isfinite(d.gather(1, cand)), vals, torch.full_like(vals, math.inf))
    by_col = cand.argsort(dim=1)                                      # ties: the smaller column first
    vals, cand = vals.gather(1, by_col), cand.gather(1, by_col)
    order = vals.argsort(dim=1, stable=True)
    return vals.gather(1, order), cand.gather(1, order)


def _update(st: dict, q: torch.Tensor, t: torch.Tensor, idx: torch.Tensor, tc: torch.Tensor | None,
            pre: _Queries | None = None) -> None:
    """Merge a chunk of training vectors t (B, d) (indices ``idx``, k-means cells ``tc``) into the search state
    ``st`` of the queries q.

    Only the queries whose nearest candidate in the chunk could enter their k nearest so far (or their nearest
    in the same cell) are re-ranked: for the others every candidate of the chunk is farther than their k-th
    nearest by more than the expansion's error, so merging it would change nothing. The result is the same as
    re-ranking every query (tested); the work falls as the search goes on."""
    k = st["knn"].shape[1]
    pre = _Queries(q) if pre is None else pre
    tsq = t.square().sum(1)
    d = pre.cdist(t, tsq)  # (Q, B)
    slack = 2 * EXPANSION_TOL * (pre.sq[:, 0] + (tsq.max() if len(tsq) else 0.0))   # twice the expansion's error
    rows = _could_enter(d.amin(1), st["knn"][:, -1], slack)
    if len(rows):
        exact, cols = _exact_smallest(_rows(q, rows), t, _rows(d, rows), k + RERANK, _rows(pre.sq, rows), tsq)
        st["knn"][rows] = torch.cat([st["knn"][rows], exact[:, :k]], 1).sort(dim=1, stable=True).values[:, :k]
        best, arg, now, at = exact[:, 0], idx[cols[:, 0]], st["distance"][rows], st["index"][rows]
        better = (best < now) | ((best == now) & (arg < at))
        st["distance"][rows] = torch.where(better, best, now)
        st["index"][rows] = torch.where(better, arg, at)
    if tc is not None:
        dc = d.masked_fill(st["cell"][:, None] != tc[None, :], math.inf)
        rows = _could_enter(dc.amin(1), st["cell_distance"], slack)
        if len(rows):
            exact_c, _ = _exact_smallest(_rows(q, rows), t, _rows(dc, rows), 1 + RERANK, _rows(pre.sq, rows), tsq)
            st["cell_distance"][rows] = torch.minimum(st["cell_distance"][rows], exact_c[:, 0])


def _could_enter(low: torch.Tensor, worst: torch.Tensor, slack: torch.Tensor) -> torch.Tensor:
    """Rows (indices) whose smallest expansion distance ``low`` in a chunk could, within ``slack`` of the squared
    distance, reach ``worst`` (the largest distance still kept: the k-th nearest so far, inf at first)."""
    return (torch.isfinite(low) & (low.square() - slack <= worst.square())).nonzero().flatten()


def _rows(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    return x if len(rows) == len(x) else x[rows]
