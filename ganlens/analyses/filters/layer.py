"""Whole layers, not unit i against unit i: how a trained D's layer is compared with the same layer of random
Ds (detectors, Mann-Whitney against each draw, units above the best draw), and the class purity of each unit's
top-k images with its label-permutation null. Why this shape: docs/methods.md, filters."""

from __future__ import annotations

import numpy as np

from ganlens import stats
from ganlens.analyses.filters.defs import PERMUTATIONS
from ganlens.analyses.filters.record import AboveBest, LayerComparison, Labels, MannWhitney, PurityScores, Scan, UnitPurity


def purity_null(labels: np.ndarray, k: int, n_perm: int = PERMUTATIONS, seed: int = 0) -> np.ndarray:
    """Max-class purity of ``k`` images drawn at random (without replacement) from ``labels``, (n_perm,)."""
    lab = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picks = np.argsort(rng.random((n_perm, len(lab))), axis=1)[:, :k]
    counts = np.stack([np.bincount(row, minlength=int(lab.max()) + 1) for row in lab[picks]])
    return counts.max(1) / k


def purity_units(top_images: np.ndarray, labels: np.ndarray, k: int, null: np.ndarray,
                 classes: list[str] | None = None) -> list[UnitPurity]:
    """Per unit (rows of ``top_images``, (U, >= k) image indices, strongest first): its most common class
    among the top ``k``, purity, the class's prior, lift and the permutation p-value of the purity."""
    lab = np.asarray(labels)
    prior = np.bincount(lab) / len(lab)
    out = []
    for unit, row in enumerate(np.asarray(top_images)[:, :k]):
        counts = np.bincount(lab[row], minlength=len(prior))
        c = int(np.argmax(counts))
        p = counts[c] / k
        # reported to 6 digits, and compared between layers as reported
        out.append(UnitPurity(unit, classes[c] if classes and c < len(classes) else str(c), round(float(p), 6),
                              round(float(prior[c]), 6), round(float(p / prior[c]), 6), stats.permutation_p(p, null)))
    return out


def purity_detectors(records: list[UnitPurity]) -> list[bool]:
    """Units whose purity is a Benjamini-Hochberg discovery among the layer's permutation p-values."""
    return stats.benjamini_hochberg(np.array([r.p_value for r in records])).tolist()


def above_best(trained: np.ndarray, draws: np.ndarray) -> AboveBest:
    """Trained units above the best draw at their index, against the chance level N / (R + 1)."""
    n, r = len(trained), len(draws)
    count = int((trained > draws.max(0)).sum())
    return AboveBest(count, n, n / (r + 1), stats.binomial_tail(count, n, 1 / (r + 1)))


def compare_layers(trained, draws, detectors_trained: int, detectors_random: list[int],
                   seeds: list[int]) -> LayerComparison:
    """The layer comparison: detector counts, Mann-Whitney against each draw, and the count above the best
    draw. trained: (N,) unit scores; draws: (R, N)."""
    trained, draws = np.asarray(trained, float), np.asarray(draws, float).reshape(len(seeds), len(trained))
    out = LayerComparison(trained, draws, int(detectors_trained), [int(d) for d in detectors_random], list(seeds))
    if len(draws):
        mw = [stats.mann_whitney(trained, d, alternative="greater") for d in draws]
        out.mann_whitney = [MannWhitney(s, float(t.statistic), float(t.p)) for s, t in zip(seeds, mw)]
        out.above_best = above_best(trained, draws)
    return out


def top_units(scores, n_show: int) -> list[int]:
    """The ``n_show`` units of largest score (ties: the smaller index first)."""
    return [int(i) for i in np.argsort(-np.asarray(scores, float), kind="stable")[:n_show]]


def purity_k(n: int, purity_top: int) -> int:
    """Top-k images whose class purity is measured: min(purity_top, N/10), at least 1."""
    return max(1, min(purity_top, n // 10))


def score_purity(scans: dict[str, Scan], labels: Labels, n: int, k: int, seeds: list[int], units: list[int] | None,
                 n_show: int, seed: int) -> PurityScores:
    """Every unit of every net (the keys of ``scans``, the trained D first) scored by the purity of its top-``k``
    images among the first ``n``, with its permutation p-value and BH detectors; the trained layer compared
    with the random draws; the units each net shows (``units``, else its ``n_show`` highest-scoring)."""
    keys, lab = list(scans), labels.values[:n]
    null = purity_null(lab, k, seed=seed)
    per = {key: purity_units(scans[key].top.images.numpy(), lab, k, null, labels.classes) for key in keys}
    scores = {key: np.array([d.purity for d in per[key]]) for key in keys}
    det = {key: int(sum(purity_detectors(per[key]))) for key in keys}
    shown = {key: list(units) if units is not None else top_units(scores[key], n_show) for key in keys}
    layer = compare_layers(scores[keys[0]], [scores[kk] for kk in keys[1:]], det[keys[0]], [det[kk] for kk in keys[1:]],
                           seeds)
    return PurityScores(k, labels.source, len(np.unique(lab)), per, shown, layer)
