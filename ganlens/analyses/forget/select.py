"""Step 2: which maps forget drops, chosen and measured out of sample.

:func:`cv_selection` chooses k (the number of largest classifier weights to drop) by cross-validation over the
annotated images; :func:`held_out_cv` and :func:`held_out_rule` measure a rule's inside/outside change on
held-out images (docs/methods.md, forget).
"""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.forget.measure import localisation
from ganlens.analyses.forget.record import Boxed, Change, Classifier, CVChoice, Fold, FoldRow, HeldOut
from ganlens.core.results import finite_or_none

SCORE_DOC = ("held-out pixel change inside the boxes minus rho_random times the change outside them (rho_random: "
             "inside/outside ratio of the fold's random sets, all sizes pooled); [0, 1] pixel units")
RULE_DOC = "the largest k whose mean held-out score is within one standard error of the best k's"
FIT_PER_FOLD = ("probe weights, the cap of k (positive weights) and the mean-fill values: on the fold's training "
                "images only")


def candidate_ks(n_positive: int) -> list[int]:
    """The numbers of top-weight maps cross-validation chooses among: round(sqrt(2) ** i) = 1, 2, 3, 4, 6,
    8, 11, 16, 23, 32, 45, 64, ... below ``n_positive`` (the largest number of positive weights of a fold's
    classifier), and ``n_positive`` itself; [1] when no weight is positive. A fold uses min(k, its own
    number of positive weights), so the largest candidate is the paper's rule in every fold."""
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


def make_folds(classifier: Classifier, boxed: Boxed, image_means: torch.Tensor | None) -> tuple[list[Fold], bool]:
    """The classifier's cross-validation folds as :class:`Fold` s, and whether they hold images out.

    image_means: (N, C) each annotated image's mean activation per map (mean fill), or None (zero fill).
    Without folds (fewer than 2 images with boxes) one in-sample "fold": the full classifier on every image."""
    models = [(m.weights, m.test_images) for m in classifier.fold_models]
    validated = bool(models)
    if not validated:
        models = [(classifier.weights, np.array([], int))]
    folds = []
    for weights, test_images in models:
        everything = np.arange(len(boxed.index))
        held = np.flatnonzero(np.isin(boxed.index, test_images)) if validated else everything
        if len(held) == 0:
            continue
        fill = None
        if image_means is not None:
            train = ~np.isin(np.arange(len(image_means)), test_images)
            fill = image_means[torch.from_numpy(train)].mean(0)
        folds.append(Fold(np.asarray(weights, float), held, fill))
    return folds, validated


def _localise(gen_each, fold: Fold, boxed: Boxed, sets: list[list[int]], fill) -> list[Change]:
    """Localisation of the fold's held-out images under each set of dropped maps."""
    base, z, masks = boxed.base[fold.held], boxed.z[fold.held], boxed.masks[fold.held]
    step = 2 * max(1, 1024 // (2 * len(fold.held)))                  # about 1024 images per batched run
    made = [m for i in range(0, len(sets), step) for m in gen_each(z, sets[i:i + step], fill=fill)]
    return [localisation(base, m, masks) for m in made]


def fold_row(gen_each, fold: Fold, boxed: Boxed, candidates: list[int], perm) -> FoldRow:
    """One fold's held-out numbers for every candidate k (top-k of the fold classifier, capped, and random)."""
    sets = []
    for k in candidates:
        top = fold.order[:min(k, fold.cap)]
        sets += [top, random_set(perm, top, len(top))]
    locs = _localise(gen_each, fold, boxed, sets, fold.fill)
    top, rand = locs[0::2], locs[1::2]
    rho = float(np.mean([c.inside for c in rand]) / max(np.mean([c.outside for c in rand]), 1e-12))
    return FoldRow(int(len(fold.held)), fold.cap, rho, [c.inside for c in top], [c.outside for c in top],
                   [c.ratio for c in top], [c.ratio for c in rand], [c.inside for c in rand],
                   [c.outside for c in rand], [c.inside - rho * c.outside for c in top])


def one_se(scores: np.ndarray) -> tuple[int, list[int], np.ndarray, np.ndarray]:
    """(chosen index, indices within one SE of the best, mean, se) of scores (folds, K): the largest index
    whose mean is within one standard error of the best mean."""
    S = np.asarray(scores, float)
    mean = S.mean(0)
    se = S.std(0, ddof=1) / np.sqrt(len(S)) if len(S) > 1 else np.zeros(S.shape[1])
    best = int(np.argmax(mean))
    close = [j for j in range(len(mean)) if mean[j] >= mean[best] - se[best]]
    return max(close), close, mean, se


def _fold_mean(rows: list[FoldRow], key: str) -> list[float | None]:
    """Per candidate, the mean over folds of ``key`` (None where every fold has None)."""
    vals = np.array([[np.nan if v is None else v for v in getattr(r, key)] for r in rows], float)
    return [None if np.isnan(c).all() else finite_or_none(np.nanmean(c)) for c in vals.T]


def cv_selection(gen_each, folds: list[Fold], validated: bool, boxed: Boxed, candidates: list[int],
                 perms: list) -> CVChoice:
    """Choose k: gen_each(z, drops, fill=...) -> images per set of dropped maps; perms: random orders of all
    maps (fold i uses perms[i % len(perms)])."""
    rows = [fold_row(gen_each, f, boxed, candidates, perms[i % len(perms)]) for i, f in enumerate(folds)]
    chosen, close, mean, se = one_se([r.score for r in rows])
    return CVChoice(
        k=candidates[chosen], candidates=list(candidates), within_one_se=[candidates[j] for j in close],
        rule=RULE_DOC, validated=validated, folds=len(rows), random_orders=min(len(perms), len(rows)),
        fit_per_fold=FIT_PER_FOLD, score=SCORE_DOC, score_mean=[float(v) for v in mean],
        score_se=[float(v) for v in se], random_ratio=float(np.mean([r.random_ratio for r in rows])),
        ratio_mean=_fold_mean(rows, "ratio"), random_ratio_by_k_mean=_fold_mean(rows, "random_ratio_by_k"),
        inside_mean=_fold_mean(rows, "inside"), outside_mean=_fold_mean(rows, "outside"), per_fold=rows,
        held_out=held_out_cv(rows, candidates))


def pooled(parts: list[tuple[int, Change, Change]], k_per_fold: list[int], how: str) -> HeldOut:
    """Held-out localisation pooled over folds, weighted by held-out images: parts = [(n images, the edit's
    change, the random set's change)]."""
    n = np.array([p[0] for p in parts], float)

    def mean(values):
        return float(np.dot(n, values) / n.sum())
    ins, out = mean([p[1].inside for p in parts]), mean([p[1].outside for p in parts])
    rins, rout = mean([p[2].inside for p in parts]), mean([p[2].outside for p in parts])
    return HeldOut(Change.of(ins, out), [Change.of(p[2].inside, p[2].outside) for p in parts],
                   rins / rout if rout > 0 else None, k_per_fold, int(n.sum()), how)


def held_out_cv(rows: list[FoldRow], candidates: list[int]) -> HeldOut:
    """The cross-validated rule's localisation out of sample: fold f at the k the rule picks from the other
    folds' scores (nested: neither the classifier nor k saw fold f's images)."""
    parts, ks = [], []
    for f, r in enumerate(rows):
        others = [o.score for g, o in enumerate(rows) if g != f] or [r.score]
        j = one_se(others)[0]
        ks.append(candidates[j])
        parts.append((r.held_out_images, Change.of(r.inside[j], r.outside[j]),
                      Change.of(r.random_inside[j], r.random_outside[j])))
    return pooled(parts, ks, "each fold's held-out images, the fold probe's top k maps, k chosen by the rule on "
                             "the other folds' scores; random sets of as many maps, never those maps")


def held_out_rule(gen_each, folds: list[Fold], boxed: Boxed, perms: list, maps_of, zero_fill: bool = False) -> HeldOut:
    """A fixed rule's localisation out of sample: maps_of(fold) -> the maps the rule takes from the fold's
    classifier, dropped on the fold's held-out images (fill fit on its training images, or zero), against a
    random set of as many other maps."""
    parts, ks = [], []
    for i, f in enumerate(folds):
        maps = maps_of(f)
        rand = random_set(perms[i % len(perms)], maps, len(maps))
        edit, ctl = _localise(gen_each, f, boxed, [maps, rand], None if zero_fill else f.fill)
        parts.append((len(f.held), edit, ctl))
        ks.append(len(maps))
    return pooled(parts, ks, "each fold's held-out images, the maps the rule takes from the fold's probe; random "
                             "sets of as many maps, never those maps")
