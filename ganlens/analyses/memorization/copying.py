"""The data-copying test C_T of Meehan et al. (2020), the vote of the spaces, and relative distances."""

from __future__ import annotations

import numpy as np

from ganlens import stats
from ganlens.core.errors import GanlensError


CT_THRESHOLD = -3.0            # a z-score: 3 standard deviations towards "closer than real data"

COPY_QUANTILE = 0.05           # held-out quantile that defines "suspiciously close"

COPY_FRACTION_THRESHOLD = 0.25  # 5x the share expected of a model that does not copy

MIN_GENERATED_PER_CELL = 20    # Meehan et al.'s tau = 20 / m: a cell counts with more than 20 samples

Z_METHODS = {          # how a cell's Mann-Whitney U becomes a z-score (stats.mann_whitney_z's settings)
    "meehan": {"tie_correct": False, "continuity": 0.5},          # data_copying_tests.Zu: mean n m / 2 - 0.5
    "tie-corrected": {"tie_correct": True, "continuity": 0.0},    # scipy's asymptotic z with tiecorrect
}


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
