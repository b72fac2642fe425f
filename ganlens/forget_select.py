"""Which maps forget drops, chosen and measured out of sample (:mod:`ganlens.forget`, step 2).

The default drops the ``k`` largest probe weights. ``k`` comes from cross-validation over the annotated images
(folds by image, :func:`ganlens.forget.fit_probe`): in each fold, everything the edit depends on is fit on the
fold's **training** images only (the probe's weights, the cap of the candidate grid = the number of maps
with a positive weight, and the mean-fill values), and the fold's held-out images with boxes are generated
with the fold probe's top-``k`` maps dropped and with a random set of as many maps (never one of those
``k``). Score: the pixel change inside the boxes minus ``rho_random`` times the change outside them
(``rho_random``: the inside/outside ratio of the fold's random sets). Rule: the **largest** ``k`` whose mean
score is within one standard error of the best (the curve is flat near its top, and among the ``k`` the
data cannot tell apart the largest removes the most).

The inside/outside change that forget reports is measured out of sample as well (:func:`held_out_cv`,
:func:`held_out_rule`): for the cross-validated rule, fold ``f``'s held-out images at the ``k`` that the rule
picks from the *other* folds' scores (so neither the probe nor ``k`` saw them); for a fixed rule (the paper's,
top-K), the fold probe's maps on its held-out images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganlens.core.results import finite_or_none

SCORE_DOC = ("held-out pixel change inside the boxes minus rho_random times the change outside them (rho_random: "
             "inside/outside ratio of the fold's random sets, all sizes pooled); [0, 1] pixel units")
RULE_DOC = "the largest k whose mean held-out score is within one standard error of the best k's"


def candidate_ks(n_positive: int) -> list[int]:
    """The numbers of top-weight maps cross-validation chooses among: round(sqrt(2) ** i) = 1, 2, 3, 4, 6,
    8, 11, 16, 23, 32, 45, 64, ... below ``n_positive`` (the largest number of positive weights of a fold's
    probe), and ``n_positive`` itself. A fold uses min(k, its own number of positive weights): a map its
    probe gives a negative weight is no part of the object, so the largest candidate is the paper's rule in
    every fold. [1] when no weight is positive."""
    top, v, ks = max(1, int(n_positive)), 1.0, set()
    while round(v) < top:
        ks.add(int(round(v)))
        v *= 2 ** 0.5
    return sorted(ks | {top})


def random_set(order, exclude, k: int) -> list[int]:
    """The first ``k`` maps of a random ``order`` that are not in ``exclude`` (then, only when fewer than
    ``k`` others exist, the excluded ones in that order)."""
    ex = {int(i) for i in exclude}
    rest = [int(i) for i in order if int(i) not in ex] + [int(i) for i in order if int(i) in ex]
    return rest[:k]


@dataclass
class Fold:
    """One cross-validation fold: its probe's weights, its held-out images with boxes (positions in the
    boxed samples) and the fill values fit on its training images (None: zero fill)."""
    weights: np.ndarray
    held: np.ndarray
    fill: torch.Tensor | None

    @property
    def order(self) -> list[int]:
        return [int(i) for i in np.argsort(-self.weights, kind="stable")]

    @property
    def cap(self) -> int:
        return max(1, int((self.weights > 0).sum()))

    def positive(self) -> list[int]:
        return [i for i in self.order if self.weights[i] > 0] or self.order[:1]


def make_folds(probe: dict, boxed: dict, image_means: torch.Tensor | None) -> tuple[list[Fold], bool]:
    """The folds of :func:`ganlens.forget.fit_probe` as :class:`Fold` s, and whether they hold images out.

    image_means: (N, C) each annotated image's mean activation per map (mean fill), or None (zero fill).
    Without folds (fewer than 2 images with boxes) one in-sample "fold": the full probe on every image."""
    models = probe["fold_models"]
    validated = bool(models)
    if not validated:
        models = [{"weights": probe["weights"], "test_images": np.array([], int)}]
    folds = []
    for m in models:
        everything = np.arange(len(boxed["index"]))
        held = np.flatnonzero(np.isin(boxed["index"], m["test_images"])) if validated else everything
        if len(held) == 0:
            continue
        fill = None
        if image_means is not None:
            train = ~np.isin(np.arange(len(image_means)), m["test_images"])
            fill = image_means[torch.from_numpy(train)].mean(0)
        folds.append(Fold(np.asarray(m["weights"], float), held, fill))
    return folds, validated


def _localise(gen_each, fold: Fold, boxed: dict, sets: list[list[int]], fill) -> list[dict]:
    """Localisation (:func:`ganlens.forget.localisation`) of the fold's held-out images under each set."""
    from ganlens.forget import localisation
    base, z, masks = (boxed[k][fold.held] for k in ("base", "z", "masks"))
    step = 2 * max(1, 1024 // (2 * len(fold.held)))                  # about 1024 images per batched run
    made = [m for i in range(0, len(sets), step) for m in gen_each(z, sets[i:i + step], fill=fill)]
    return [localisation(base, m, masks) for m in made]


def fold_row(gen_each, fold: Fold, boxed: dict, candidates: list[int], perm) -> dict:
    """One fold's held-out numbers for every candidate k (top-k of the fold probe, capped, and random)."""
    sets = []
    for k in candidates:
        top = fold.order[:min(k, fold.cap)]
        sets += [top, random_set(perm, top, len(top))]
    locs = _localise(gen_each, fold, boxed, sets, fold.fill)
    top, rand = locs[0::2], locs[1::2]
    rho = float(np.mean([c["inside"] for c in rand]) / max(np.mean([c["outside"] for c in rand]), 1e-12))
    return {"held_out_images": int(len(fold.held)), "cap": fold.cap, "random_ratio": rho,
            "inside": [c["inside"] for c in top], "outside": [c["outside"] for c in top],
            "ratio": [c["ratio"] for c in top], "random_ratio_by_k": [c["ratio"] for c in rand],
            "random_inside": [c["inside"] for c in rand], "random_outside": [c["outside"] for c in rand],
            "score": [c["inside"] - rho * c["outside"] for c in top]}


def one_se(scores: np.ndarray) -> tuple[int, list[int], np.ndarray, np.ndarray]:
    """(chosen index, indices within one SE of the best, mean, se) of scores (folds, K): the largest index
    whose mean is within one standard error of the best mean."""
    S = np.asarray(scores, float)
    mean = S.mean(0)
    se = S.std(0, ddof=1) / np.sqrt(len(S)) if len(S) > 1 else np.zeros(S.shape[1])
    best = int(np.argmax(mean))
    close = [j for j in range(len(mean)) if mean[j] >= mean[best] - se[best]]
    return max(close), close, mean, se


def cv_selection(gen_each, folds: list[Fold], validated: bool, boxed: dict, candidates: list[int],
                 perms: list) -> dict:
    """Choose k (module docstring). gen_each(z, drops, fill=...) -> images per set of dropped maps; perms:
    random orders of all maps (fold i uses perms[i % len(perms)]). Returns {"k", "candidates",
    "within_one_se", "validated", "folds", "score_mean", "score_se", "random_ratio", "ratio_mean",
    "random_ratio_by_k_mean", "inside_mean", "outside_mean", "per_fold", "held_out" (:func:`held_out_cv`)}."""
    rows = [fold_row(gen_each, f, boxed, candidates, perms[i % len(perms)]) for i, f in enumerate(folds)]
    chosen, close, mean, se = one_se([r["score"] for r in rows])

    def avg(key):
        vals = np.array([[np.nan if v is None else v for v in r[key]] for r in rows], float)
        return [None if np.isnan(c).all() else finite_or_none(np.nanmean(c)) for c in vals.T]
    return {"k": candidates[chosen], "candidates": list(candidates), "within_one_se": [candidates[j] for j in close],
            "rule": RULE_DOC, "validated": validated, "folds": len(rows), "random_orders": min(len(perms), len(rows)),
            "fit_per_fold": "probe weights, the cap of k (positive weights) and the mean-fill values: on the "
                            "fold's training images only",
            "score": SCORE_DOC, "score_mean": [float(v) for v in mean], "score_se": [float(v) for v in se],
            "random_ratio": float(np.mean([r["random_ratio"] for r in rows])),
            "ratio_mean": avg("ratio"), "random_ratio_by_k_mean": avg("random_ratio_by_k"),
            "inside_mean": avg("inside"), "outside_mean": avg("outside"), "per_fold": rows,
            "held_out": held_out_cv(rows, candidates)}


def pooled(parts: list[tuple[int, dict, dict]], k_per_fold: list[int], how: str) -> dict:
    """Held-out localisation pooled over folds, weighted by held-out images: parts = [(n images, edit
    {inside, outside}, random {inside, outside})]."""
    n = np.array([p[0] for p in parts], float)

    def mean(i, key):
        return float(np.dot(n, [p[i][key] for p in parts]) / n.sum())
    ins, out, rins, rout = mean(1, "inside"), mean(1, "outside"), mean(2, "inside"), mean(2, "outside")
    return {"selected": {"inside": ins, "outside": out, "ratio": ins / out if out > 0 else None},
            "control": [{"inside": p[2]["inside"], "outside": p[2]["outside"],
                         "ratio": p[2]["inside"] / p[2]["outside"] if p[2]["outside"] > 0 else None} for p in parts],
            "control_ratio_mean": rins / rout if rout > 0 else None, "k_per_fold": k_per_fold,
            "samples": int(n.sum()), "how": how}


def held_out_cv(rows: list[dict], candidates: list[int]) -> dict:
    """The cross-validated rule's localisation out of sample: fold f at the k the rule picks from the other
    folds' scores (nested: neither the probe nor k saw fold f's images)."""
    parts, ks = [], []
    for f, r in enumerate(rows):
        others = [o["score"] for g, o in enumerate(rows) if g != f] or [r["score"]]
        j = one_se(others)[0]
        ks.append(candidates[j])
        parts.append((r["held_out_images"], {"inside": r["inside"][j], "outside": r["outside"][j]},
                      {"inside": r["random_inside"][j], "outside": r["random_outside"][j]}))
    return pooled(parts, ks, "each fold's held-out images, the fold probe's top k maps, k chosen by the rule on "
                             "the other folds' scores; random sets of as many maps, never those maps")


def held_out_rule(gen_each, folds: list[Fold], boxed: dict, perms: list, maps_of, zero_fill: bool = False) -> dict:
    """A fixed rule's localisation out of sample: maps_of(fold) -> the maps the rule takes from the fold's
    probe, dropped on the fold's held-out images (fill fit on its training images, or zero), against a random
    set of as many other maps."""
    parts, ks = [], []
    for i, f in enumerate(folds):
        maps = maps_of(f)
        rand = random_set(perms[i % len(perms)], maps, len(maps))
        edit, ctl = _localise(gen_each, f, boxed, [maps, rand], None if zero_fill else f.fill)
        parts.append((len(f.held), edit, ctl))
        ks.append(len(maps))
    return pooled(parts, ks, "each fold's held-out images, the maps the rule takes from the fold's probe; random "
                             "sets of as many maps, never those maps")
