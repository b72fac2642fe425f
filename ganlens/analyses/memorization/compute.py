"""The memorization check: generated samples and held-out real images against their nearest training images
in every space, with the data-copying test, and :func:`memorization`, the analysis."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.api import renamed
from ganlens.analyses.invert.compute import invert
from ganlens.analyses.memorization.copying import (COPY_QUANTILE, _stats, data_copying_test, relative_distance,
                                                   vote)
from ganlens.analyses.memorization.figure import plot_neighbours
from ganlens.analyses.memorization.record import Nearest, rule_block
from ganlens.analyses.memorization.search import fit_cells, search
from ganlens.core.embed import Space, embed_all, spaces_for
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.generate import images
from ganlens.core.results import Result, provenance
from ganlens.data.rooms.memo import kept
from ganlens.data.sets import ImageSet
from ganlens.data.training import heldout_images, open_data


@renamed(chunk="batch_size")
def report(data: ImageSet, spaces: list[Space], generated: torch.Tensor, heldout: torch.Tensor,
           extra: dict[str, torch.Tensor] | None = None, exclude: np.ndarray | None = None,
           cells: int = 10, seed: int = 0, batch_size: int = 512, limit: int | None = None,
           progress: bool = True) -> tuple[dict, dict]:
    """The whole memorization check. Images are uint8 (N, nc, H, W).

    generated: i.i.d. samples of G; heldout: real images never trained on; extra: more query sets
    (e.g. walk frames) that get nearest neighbours but take no part in the tests; exclude: indices of
    ``data`` to leave out of the reference set; spaces: pixel first, then (optionally) feature.
    Returns (JSON-ready result, neighbours) where neighbours is {space: {set name: :class:`Nearest`}}.
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
    found = search(data, spaces, queries, kms, qcells, exclude, batch_size, limit, progress)

    result = {"reference_images": found["images"], "search_seconds": round(found["seconds"], 2),
              "search_images_per_second": round(found["images"] / max(found["seconds"], 1e-9), 1),
              "spaces": {}, "rule": rule_block([s.name for s in spaces])}
    neighbours = {}
    for s in spaces:
        f = found[s.name]
        rel = relative_distance(f["knn"])
        neighbours[s.name] = {k: Nearest(part(f["index"], k), part(f["distance"], k), part(rel, k)) for k in order}
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


SHOWN = 6  # query images per group of the neighbours figure


@renamed(samples="n", chunk="batch_size")
def check(gan, data: ImageSet, spaces: list[Space], *, n: int = 512, holdout: int = 512, cells: int = 10,
          seed: int = 0, heldout=None, limit: int | None = None, batch_size: int = 512, first_seed: int | None = None,
          extra: dict[str, torch.Tensor] | None = None, extra_shown: list[tuple[str, str, np.ndarray]] = (),
          progress: bool = False) -> tuple[dict, dict, dict]:
    """The memorization check of ``gan``'s samples (seeds ``first_seed`` (default ``seed``) onwards).

    extra: more query sets (uint8 images, e.g. walk frames) that get nearest neighbours; extra_shown:
    (group name, set name, indices) columns they add to the neighbours figure. Returns (JSON dict,
    arrays of the neighbours figure, neighbours of :func:`report`).
    """
    held, exclude, held_desc = heldout_images(data, gan.provenance, holdout, seed, heldout)
    first = seed if first_seed is None else first_seed
    sample_seeds = list(range(first, first + n))
    generated = images(gan, gan.latents(sample_seeds), uint8=True)
    with kept():   # rooms: the k-means sample's scenes are rendered once, for the cells and for the search
        mem, nn = report(data, spaces, generated, held, extra, exclude=exclude, cells=cells, seed=seed,
                         batch_size=batch_size, limit=limit, progress=progress)
    mem.update({"data": data.spec, "heldout": held_desc, "samples": len(generated), "heldout_images": len(held),
                "sample_seeds": [sample_seeds[0], sample_seeds[-1]], "cells_requested": cells, "limit": limit})
    # The columns of the neighbours figure: typical samples, the most copy-like samples (smallest
    # relative pixel distance), the caller's extra groups, and held-out real images (what the
    # neighbours of an image that is certainly no copy look like).
    pix_rel = nn["pixel"]["generated"].relative
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
            near = nn[s.name][src]
            g[s.name] = {"train_index": near.index[idx].tolist(), "distance": near.distance[idx].round(6).tolist(),
                         "relative_distance": near.relative[idx].round(4).tolist()}
            shown[s.name].append(torch.stack([data[int(i)] for i in near.index[idx]]))
        groups.append(g)
    mem["shown"] = {"groups": groups}
    arrays = {"neighbours_query": torch.cat(query).numpy()}
    arrays.update({f"neighbours_{s}": torch.cat(v).numpy() for s, v in shown.items()})
    return mem, arrays, nn


TIMING = ("search_seconds", "search_images_per_second")  # speed is not a result: kept apart under "timing"


@renamed(samples="n", chunk="batch_size")
def memorization(gan, data, *, n: int = 512, holdout: int = 512, cells: int = 10, seed: int = 0,
                 heldout=None, limit: int | None = None, batch_size: int = 512, layer: str = "last",
                 progress: bool = False, method: str = "neighbours", **inversion):
    """Has ``gan``'s generator memorized ``data``? Nearest training images and the data-copying test.

    method="inversion": the membership test of :func:`ganlens.invert` instead (training images' reconstruction
    distances against held-out ones: AUC, bootstrap interval, permutation test); ``heldout`` defaults to "auto"
    and the other keywords (n, steps, starts, ...) go to ``ganlens.invert``.

    data: a spec (``"rooms"``, a folder, an .npz), an opened :class:`ganlens.data.ImageSet` or a uint8
    tensor (N, nc, H, W); heldout: real images never trained on (default: see :func:`heldout_images`).
    n: generated images tested (seeds ``seed`` onwards); holdout: held-out real images; cells:
    k-means cells of the data-copying test; limit: search only the first ``limit`` training images;
    layer: the D layer of the feature space (without a D: pixel space only).
    Returns a :class:`ganlens.Result` of kind "memorization" (figure "neighbours").
    """
    if method == "inversion":
        return invert(gan, data, heldout="auto" if heldout is None else heldout, seed=seed, **inversion)
    if method != "neighbours" or inversion:
        raise GanlensError(f"method must be 'neighbours' or 'inversion', got {method!r}"
                           + (f" with {', '.join(inversion)}" if inversion else ""))
    _at_least(n=(n, 2), holdout=(holdout, 2), cells=(cells, 1), batch_size=(batch_size, 1),
              limit=(1 if limit is None else limit, 1))
    gan.require_G()
    data = open_data(gan, data)
    spaces = spaces_for(gan, layer)
    mem, arrays, _ = check(gan, data, spaces, n=n, holdout=holdout, cells=cells, seed=seed,
                           heldout=heldout, limit=limit, batch_size=batch_size, progress=progress)
    mem["timing"] = {k: mem.pop(k) for k in TIMING}
    mem["feature_layer"] = spaces[-1].layer
    call = (f"ganlens.memorization({gan.name!r}, {data.spec!r}, n={n}, holdout={holdout}, "
            f"cells={cells}, seed={seed})")
    mem["provenance"] = provenance(gan, seed, call=call)
    return Result("memorization", mem, arrays, {"neighbours": plot_neighbours})


def _at_least(**checks: tuple) -> None:
    """GanlensError "n must be at least 2, got 1" for the first (value, low) pair below its low."""
    require_at_least(checks)
