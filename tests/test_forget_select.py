"""ganlens.analyses.forget.select (was ganlens.forget_select): random control sets never hold the dropped
maps, the one-standard-error rule, folds whose fill values and cap come from their training images only, and
the nested held-out measurement (a fold's k is chosen without that fold)."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.forget import select as fsel
from ganlens.analyses.forget.record import Boxed, Classifier, FoldModel, FoldRow


def test_random_sets_never_hold_the_excluded_maps():
    rng = np.random.default_rng(0)
    for _ in range(50):
        order, drop = rng.permutation(20), list(rng.choice(20, 6, replace=False))
        got = fsel.random_set(order, drop, 6)
        assert len(got) == 6 and not set(got) & set(drop)
        assert got == [int(i) for i in order if i not in drop][:6]          # the random order's first others
    assert sorted(fsel.random_set(np.arange(4), [0, 1, 2], 3)) == [0, 1, 3]  # only when too few others exist


def test_one_se_takes_the_largest_k_within_one_standard_error_of_the_best():
    # fold scores: a flat top from index 1 to 3, then a drop
    s = np.array([[0.1, 0.50, 0.50, 0.50, 0.1], [0.2, 0.52, 0.58, 0.55, 0.2], [0.1, 0.60, 0.57, 0.58, 0.1]])
    chosen, close, mean, se = fsel.one_se(s)
    assert int(np.argmax(mean)) == 2 and close == [1, 2, 3] and chosen == 3
    assert se[2] == np.std(s[:, 2], ddof=1) / np.sqrt(3)
    sharp = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])                   # no spread: only the best
    assert fsel.one_se(sharp)[:2] == (1, [1])


def test_folds_fit_fill_and_cap_on_their_training_images_only():
    means = torch.arange(8, dtype=torch.float32)[:, None].repeat(1, 3)       # image i: every map's mean is i
    means[6:] = 1000.0                                                      # images 6, 7: held out by fold 1
    probe = Classifier(np.array([1.0, 0.5, 0.2]), 0.0, 1.0, None, [
        FoldModel(np.array([1.0, -0.5, -0.2]), np.array([0, 1, 2])),
        FoldModel(np.array([0.3, 0.5, 0.2]), np.array([6, 7]))])
    boxed = Boxed(index=np.array([1, 2, 6]), z=None, base=None, masks=None)
    folds, validated = fsel.make_folds(probe, boxed, means)
    assert validated and [f.held.tolist() for f in folds] == [[0, 1], [2]]
    torch.testing.assert_close(folds[0].fill, torch.full((3,), (3 + 4 + 5 + 1000 + 1000) / 5))
    torch.testing.assert_close(folds[1].fill, torch.full((3,), float(np.mean(range(6)))))   # never 1000
    assert (folds[0].cap, folds[1].cap) == (1, 3) and folds[0].positive() == [0] and folds[1].order == [1, 0, 2]
    assert fsel.make_folds(probe, boxed, None)[0][0].fill is None           # zero fill


def test_held_out_cv_chooses_each_folds_k_without_that_fold():
    def row(scores, inside):
        return FoldRow(held_out_images=10, cap=3, random_ratio=1.0, score=scores, inside=inside, outside=[1.0] * 3,
                       ratio=inside, random_ratio_by_k=[1.0] * 3, random_inside=[1.0] * 3, random_outside=[1.0] * 3)
    # Fold 0 alone prefers k = 3, the other two folds k = 1 (no spread): fold 0 is measured at k = 1; without
    # fold 1 (or 2), folds 0 and 2 (or 1) disagree so much that every k is within one SE: the largest, k = 3
    rows = [row([0.0, 0.0, 9.0], [5.0, 6.0, 7.0]), row([1.0, 0.0, 0.0], [2.0, 3.0, 4.0]),
            row([1.0, 0.1, 0.0], [2.0, 3.0, 4.0])]
    got = fsel.held_out_cv(rows, [1, 2, 3])
    assert got.k_per_fold == [1, 3, 3] and got.selected.inside == (5.0 + 4.0 + 4.0) / 3
    assert got.control_ratio_mean == 1.0 and got.samples == 30
