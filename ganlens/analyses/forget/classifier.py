"""Step 1: the box classifier on G features. Feature cells under boxes (positives) and away from them
(negatives) -> a standardised L2 logistic regression, cross-validated by image; its weights rank the maps."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.forget.record import Cells, Classifier, FoldModel
from ganlens.data import boxes as boxfile

MIN_COVER = 0.5     # a cell is positive when at least this share of it lies in a box
CLASSIFIER_DOC = ("StandardScaler + LogisticRegression(L2, C, class_weight='balanced', lbfgs) on the layer's "
                  "maps at one feature cell; positives: cells >= 50% inside a box (and each box's most covered "
                  "cell); negatives: random cells with no pixel in any box; partly covered cells are left out")


def box_cells(acts: torch.Tensor, bf: boxfile.BoxFile, image_size: int, negatives: int,
               rng: np.random.Generator) -> Cells:
    """Cells for the classifier from layer maps ``acts`` (N, C, s, s) of the box file's N samples.

    Every positive cell is used; ``negatives`` negative cells per image are drawn without replacement (all
    of them if fewer); partly covered cells are left out (counted in ``n_ambiguous``).
    """
    n, c, side, _ = acts.shape
    a = acts.permute(0, 2, 3, 1).float().cpu().numpy()        # (N, s, s, C)
    X, y, groups, cells, ambiguous = [], [], [], [], 0
    for i, s in enumerate(bf.samples):
        lab = boxfile.cell_labels(s.boxes, image_size, side, MIN_COVER)
        pos = np.argwhere(lab == 1)
        neg = np.argwhere(lab == 0)
        ambiguous += int((lab == -1).sum())
        if len(neg) > negatives:
            neg = neg[np.sort(rng.choice(len(neg), negatives, replace=False))]
        for rc, label in ((pos, 1), (neg, 0)):
            if len(rc):
                X.append(a[i, rc[:, 0], rc[:, 1]])
                y += [label] * len(rc)
                groups += [i] * len(rc)
                cells.append(rc)
    return Cells(np.concatenate(X).astype(np.float32), np.array(y), np.array(groups), np.concatenate(cells),
                 ambiguous)


def _pipeline(C: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000,
                                                              random_state=seed))


def _fold_scores(y: np.ndarray, score: np.ndarray) -> dict:
    """One fold's held-out AUC (None with one class), accuracy and balanced accuracy (the JSON's per_fold)."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
    pred = (score > 0).astype(int)
    return {"n_test": int(len(y)), "n_test_positive": int(y.sum()),
            "auc": float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else None,
            "accuracy": float(accuracy_score(y, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred))}


def _cv_block(per_fold: list[dict], y: np.ndarray, oof: np.ndarray) -> dict:
    """The JSON's probe.cv block from the folds' scores and the out-of-fold decision values ``oof``."""
    from sklearn.metrics import roc_auc_score
    aucs = [f["auc"] for f in per_fold if f["auc"] is not None]
    done = ~np.isnan(oof)
    return {"folds": len(per_fold), "grouped_by": "image",
            "auc_mean": float(np.mean(aucs)) if aucs else None,
            "auc_std": float(np.std(aucs)) if aucs else None,
            "auc_pooled": float(roc_auc_score(y[done], oof[done])) if len(np.unique(y[done])) == 2 else None,
            "accuracy_mean": float(np.mean([f["accuracy"] for f in per_fold])),
            "balanced_accuracy_mean": float(np.mean([f["balanced_accuracy"] for f in per_fold])),
            "per_fold": per_fold}


def fit_classifier(X: np.ndarray, y: np.ndarray, groups: np.ndarray, C: float = 1.0, folds: int = 5,
                   seed: int = 0) -> Classifier:
    """Fit the classifier on all cells X (M, C), labels y (M,), and cross-validate it by image (``groups``).

    CV folds: ``StratifiedGroupKFold`` (groups = images), at most as many folds as images with a positive
    cell; none (``cv`` None, no fold models) with fewer than 2.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    model = _pipeline(C, seed).fit(X, y)
    out = Classifier(model[-1].coef_[0].astype(np.float64), float(model[-1].intercept_[0]),
                     float(roc_auc_score(y, model.decision_function(X))), None, [])
    k = min(folds, len(np.unique(groups[y == 1])), len(np.unique(groups)))
    if k < 2:
        return out
    per_fold, oof = [], np.full(len(y), np.nan)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, test in splitter.split(X, y, groups):
        if len(np.unique(y[train])) < 2:
            continue
        m = _pipeline(C, seed).fit(X[train], y[train])
        out.fold_models.append(FoldModel(m[-1].coef_[0].astype(np.float64), np.unique(groups[test])))
        oof[test] = m.decision_function(X[test])
        per_fold.append(_fold_scores(y[test], oof[test]))
    out.cv = _cv_block(per_fold, y, oof)
    return out


def select_maps(weights: np.ndarray, top_k: int | None = None) -> list[int]:
    """Maps to drop, largest weight first: every map with weight > 0 (the paper), or the ``top_k`` largest."""
    order = np.argsort(-weights, kind="stable")
    if top_k is not None:
        return [int(i) for i in order[:top_k]]
    return [int(i) for i in order if weights[i] > 0]
