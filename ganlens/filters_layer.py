"""Whole layers, not unit i against unit i: how :mod:`ganlens.filters` compares a trained D with random Ds.

Channel indices of independently initialised networks do not correspond, so "trained unit i beats random
unit i" compares unrelated units. Every unit of the layer is scored (best-concept IoU with masks, top-k
class purity with labels), and the *layers* are compared:

* **detectors**: units with IoU above NetDissect's 0.04 (masks), or whose purity is above a label-permutation
  null after Benjamini-Hochberg at q = 0.05 over the layer's units (labels); trained count beside every draw's;
* **distribution**: one-sided Mann-Whitney of the trained layer's unit scores against each random D's; the
  trained layer is "higher" only when it beats **every** draw at 0.05 (an intersection-union test: no
  correction needed, the rule is conservative);
* **above the best draw**: how many trained units score above the best of the R draws at their index (any
  pairing of units is as good as another), against its chance level N / (R + 1) (one-sided binomial test).

Purity: the class is the most common one among a unit's top-k images, picked *because* it is the largest, so
an interval for it is biased upwards (it excluded the prior for 18% of units with no preference). The
p-value compares the max-class purity with its null under shuffled labels: k images drawn at random
without replacement from the N searched (the same for every unit, so it is simulated once).
"""

from __future__ import annotations

import numpy as np

from ganlens import stats

PERMUTATIONS = 999
LAYER_RULE = ("the trained layer scores higher when its units' scores are higher than every random draw's by a "
              "one-sided Mann-Whitney test at 0.05 (intersection-union: each draw must be beaten)")
ABOVE_RULE = ("units whose trained score is above the best of the R random draws' scores at the same index; "
              "chance level N / (R + 1); one-sided exact binomial test")
PURITY_NULL_DOC = ("label-permutation null of the max-class purity of k images: k images drawn without "
                   "replacement from the N searched, 999 draws; p = (1 + #null >= observed) / 1000; detectors: "
                   "Benjamini-Hochberg at q = 0.05 over the layer's units")


def purity_null(labels: np.ndarray, k: int, n_perm: int = PERMUTATIONS, seed: int = 0) -> np.ndarray:
    """Max-class purity of ``k`` images drawn at random (without replacement) from ``labels``, (n_perm,)."""
    lab = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picks = np.argsort(rng.random((n_perm, len(lab))), axis=1)[:, :k]
    counts = np.stack([np.bincount(row, minlength=int(lab.max()) + 1) for row in lab[picks]])
    return counts.max(1) / k


def purity_units(top_images: np.ndarray, labels: np.ndarray, k: int, null: np.ndarray,
                 classes: list[str] | None = None) -> list[dict]:
    """Per unit (rows of ``top_images``, (U, >= k) image indices, strongest first): its most common class
    among the top ``k``, purity, the class's prior, lift and the permutation p-value of the purity."""
    lab = np.asarray(labels)
    prior = np.bincount(lab) / len(lab)
    out = []
    for row in np.asarray(top_images)[:, :k]:
        counts = np.bincount(lab[row], minlength=len(prior))
        c = int(np.argmax(counts))
        p = counts[c] / k
        out.append({"class": classes[c] if classes and c < len(classes) else str(c),
                    "purity": round(float(p), 6), "prior": round(float(prior[c]), 6),
                    "lift": round(float(p / prior[c]), 6), "p_value": stats.permutation_p(p, null)})
    return out


def purity_detectors(records: list[dict]) -> list[bool]:
    """Units whose purity is a Benjamini-Hochberg discovery among the layer's permutation p-values."""
    return stats.benjamini_hochberg(np.array([r["p_value"] for r in records])).tolist()


def above_best(trained: np.ndarray, draws: np.ndarray) -> dict:
    """Trained units above the best draw at their index, against the chance level N / (R + 1)."""
    n, r = len(trained), len(draws)
    count = int((trained > draws.max(0)).sum())
    return {"count": count, "n_units": n, "chance": round(n / (r + 1), 6),
            "p_value": stats.binomial_tail(count, n, 1 / (r + 1)), "rule": ABOVE_RULE}


def compare_layers(trained, draws, detectors_trained: int, detectors_random: list[int], seeds: list[int]) -> dict:
    """The layer comparison: detector counts, Mann-Whitney against each draw, and the count above the best
    draw. trained: (N,) unit scores; draws: (R, N)."""
    trained, draws = np.asarray(trained, float), np.asarray(draws, float).reshape(len(seeds), -1)
    out = {"n_units": int(len(trained)), "trained_mean": round(float(trained.mean()), 6),
           "random_means": [round(float(d.mean()), 6) for d in draws],
           "detectors": {"trained": int(detectors_trained), "random": [int(d) for d in detectors_random]},
           "rule": LAYER_RULE}
    if not len(draws):
        return out
    mw = [stats.mann_whitney(trained, d, alternative="greater") for d in draws]
    out["mann_whitney"] = [{"seed": s, "U": float(t.statistic), "p_value": float(t.p)} for s, t in zip(seeds, mw)]
    out["higher_than_every_draw"] = bool(all(t.p < stats.LEVEL for t in mw))
    out["detectors"]["more_than_every_draw"] = bool(detectors_trained > max(detectors_random))
    out["above_best_draw"] = above_best(trained, draws)
    return out


def top_units(scores, n_show: int) -> list[int]:
    """The ``n_show`` units of largest score (ties: the smaller index first)."""
    return [int(i) for i in np.argsort(-np.asarray(scores, float), kind="stable")[:n_show]]
