"""The probe's exact linear L2-SVM (ganlens.analyses.probe.svm) against scikit-learn's liblinear, the reference.

Same data, same C: the objective values agree within 1e-4 relative (ours can only be lower: it is exact, liblinear
stops at a tolerance) and the predictions agree (accuracies within 0.5 points), on a 10-class case and on the
shipped model's D features; the optimality conditions hold to float64 precision.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

import ganlens
from ganlens import probe
from ganlens.analyses.probe import svm
from ganlens.data.sets import to_float


def _liblinear(x: np.ndarray, y: np.ndarray, C: float):
    """LinearSVC run to convergence (tight tolerance): its one-vs-rest objectives and predictions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = LinearSVC(C=C, loss="squared_hinge", penalty="l2", dual=True, tol=1e-9, max_iter=100_000).fit(x, y)
    classes = np.unique(y)
    cols = [1] if len(classes) == 2 else list(range(len(classes)))
    objs = []
    for row, k in enumerate(cols):
        w, b = ref.coef_[row], ref.intercept_[row]
        t = np.where(y == classes[k], 1.0, -1.0)
        objs.append(0.5 * (w @ w + b * b) + C * (np.maximum(0, 1 - t * (x @ w + b)) ** 2).sum())
    return np.array(objs), ref.predict(x)


def _clustered(n=160, d=120, k=10, seed=0):
    """Correlated features (a 12-dimensional signal in d dimensions plus noise) and k classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = rng.normal(size=(k, 12))
    x = (centres[y] + 1.5 * rng.normal(size=(n, 12))) @ rng.normal(size=(12, d)) + 0.3 * rng.normal(size=(n, d))
    return x, y


def _agree(x_std: np.ndarray, y: np.ndarray, C: float, n_classes: int):
    K = svm.gram(torch.as_tensor(x_std, dtype=torch.float32))
    sol = svm.solve(svm.Problems(K, svm.targets(y, n_classes)), C)
    ref_obj, ref_pred = _liblinear(x_std.astype(np.float64), y, C)
    assert sol.converged
    assert np.all(sol.objective <= ref_obj * (1 + 1e-9))                     # exact: never above the reference
    assert np.allclose(sol.objective, ref_obj, rtol=1e-4, atol=0), (C, sol.objective, ref_obj)
    ours = svm.predict(K, sol.beta)
    assert abs((ours == y).mean() - (ref_pred == y).mean()) <= 0.005
    return sol


@pytest.mark.parametrize("C", [1e-4, 1e-2, 1.0])
def test_ten_classes_agree_with_liblinear(C):
    x, y = _clustered()
    _agree(svm.standardise(x).numpy(), y, C, 10)


def test_shipped_model_features_agree_with_liblinear():
    gan = ganlens.load()
    from ganlens.data.rooms import make_rooms
    imgs, masks = make_rooms(96, size=64, seed=1)
    x = to_float(torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous())
    names = probe.resolve_layers(gan, "all")
    with torch.no_grad():
        feats = probe.d_features(gan.D, x, names).numpy()
    y = probe.rooms_labels(masks, "has-window")
    assert 10 < y.sum() < 86
    for C in (1e-3, 1e-1):
        _agree(svm.standardise(feats).numpy(), y, C, 2)


def test_the_solution_is_the_exact_minimiser():
    # Stationarity of the primal in the images' coefficients: beta = 2C * y * max(0, 1 - y * (K beta)).
    x, y = _clustered(n=120, d=300, k=3, seed=1)
    K = svm.gram(svm.standardise(x))
    for C in (1e-3, 1.0, 100.0):
        Y = svm.targets(y, 3)
        sol = svm.solve(svm.Problems(K, Y), C)
        margin = (1 - Y * (K @ sol.beta)).clamp(min=0)
        assert torch.allclose(sol.beta, 2 * C * Y * margin, atol=1e-9 * max(1.0, C)), C
        assert sol.steps < 30


def test_every_sub_block_solve_gives_the_same_newton_target():
    # direct factorisation, the whole block's shared factor, and a factorised base set that differs from A by
    # images removed and added: all the exact (K_AA + lam I)^-1 y_A
    x, y = _clustered(n=80, d=50, k=2, seed=2)
    K = svm.gram(svm.standardise(x))
    t = svm.targets(y, 2)[:, 0]
    lam = 0.7
    rng = np.random.default_rng(3)
    for share in (0.2, 0.6, 0.99):
        active = torch.as_tensor(rng.random(80) < share)
        a = active.nonzero().flatten()
        want = torch.linalg.solve(K[a][:, a] + lam * torch.eye(len(a), dtype=K.dtype), t[a])
        near = active.clone()
        near[torch.as_tensor(rng.choice(80, 6, replace=False))] ^= True       # 6 images in or out
        base = svm._factorise(K, near.nonzero().flatten(), lam)
        factor = svm._Factor(K, lam)
        ways = {"auto": svm._solve_active(K, t, active, lam, factor)[0],
                "full": svm._solve_from(K, t, active, factor.get(), lam),
                "base": svm._solve_from(K, t, active, base, lam)}
        for way, got in ways.items():
            assert torch.allclose(got[a], want, rtol=1e-8, atol=1e-10), (share, way)
            assert not got[~active].any()


def test_standardise_matches_standard_scaler():
    from sklearn.preprocessing import StandardScaler
    x, _ = _clustered(n=50, d=20)
    x[:, 3] = 2.0                                # a constant feature is only centred
    ref = StandardScaler().fit_transform(x)
    assert np.allclose(svm.standardise(x).numpy(), ref, atol=1e-5)


def test_line_searches_find_the_minimiser_along_each_direction():
    # the batched exact line search against a ternary search on the objective along beta + t d, which is convex
    # in t: phi(t) = t bq + t^2 dq / 2 + C sum max(0, r - t s)^2 (r = 1 - y o, s = y q), including images exactly
    # on the margin (r == 0) and directions that leave some terms unchanged (s == 0); the one-problem search
    # (_line_search, the same code on one column) agrees to rounding
    rng = np.random.default_rng(4)
    for trial in range(60):
        n, P = 40, 5
        O = torch.tensor(rng.normal(size=(n, P)) * 2)
        if trial % 3 == 0:
            O = torch.round(O)
        Q = torch.tensor(rng.normal(size=(n, P)))
        Q[rng.random((n, P)) < 0.1] = 0.0
        Y = torch.tensor(np.where(rng.random((n, P)) < 0.5, -1.0, 1.0))
        bq, dq = torch.tensor(rng.normal(size=P)), torch.tensor(np.abs(rng.normal(size=P)) * 5)
        C = float(10 ** rng.uniform(-3, 1))
        t = svm._line_searches(O, Q, Y, bq, dq, C)
        for c in range(P):
            r, sl = (1 - Y[:, c] * O[:, c]).numpy(), (Y[:, c] * Q[:, c]).numpy()

            def phi(u, c=c, r=r, sl=sl):
                return u * float(bq[c]) + 0.5 * u * u * float(dq[c]) + C * (np.maximum(0, r - u * sl) ** 2).sum()

            lo, hi = 0.0, 1.0
            for _ in range(200):
                m1, m2 = lo + (hi - lo) / 3, hi - (hi - lo) / 3
                lo, hi = (lo, m2) if phi(m1) <= phi(m2) else (m1, hi)
            assert abs(float(t[c]) - (lo + hi) / 2) <= 1e-7, (trial, c, float(t[c]), lo)
            one = svm._line_search(O[:, c], Q[:, c], Y[:, c], float(bq[c]), float(dq[c]), C)
            assert abs(one - float(t[c])) <= 1e-12 * max(1.0, abs(one)), (trial, c)


@pytest.mark.parametrize("residual", [svm.RESIDUAL, -1.0])
def test_problems_stepping_together_match_one_at_a_time(monkeypatch, residual):
    # several classes at one C from one shared inverse vs each class on its own: the same minimisers and the
    # same number of Newton steps; residual -1 sends every target to the direct factorisation (the fallback)
    monkeypatch.setattr(svm, "RESIDUAL", residual)
    x, y = _clustered(n=200, d=150, k=6, seed=6)
    K = svm.gram(svm.standardise(x))
    prob = svm.Problems(K, svm.targets(y, 6))
    prev = {}
    for C in (1e-4, 1e-2, 1.0, 100.0):
        together = svm.solve(prob, C, prev.get("together"))
        monkeypatch.setattr(svm, "SHARED_MIN", 10 ** 6)
        alone = svm.solve(prob, C, prev.get("alone"))
        monkeypatch.setattr(svm, "SHARED_MIN", 2)
        prev = {"together": together.active, "alone": alone.active}
        assert together.converged and alone.converged
        assert np.allclose(together.objective, alone.objective, rtol=1e-10, atol=0), C
        assert torch.allclose(together.beta, alone.beta, rtol=0, atol=1e-9 * max(1.0, C)), C
        assert torch.equal(together.active, alone.active)
        assert together.steps == alone.steps, C


def test_fit_all_gives_the_same_numbers_with_any_number_of_workers_and_restores_threads(monkeypatch):
    # networks are fitted side by side on one thread each: the numbers cannot depend on how many run at once
    # or on the caller's thread count, and the caller gets its thread count back
    from ganlens.analyses.probe import search
    from ganlens.analyses.probe.compute import kfold_splits
    x, y = _clustered(n=150, d=80, k=4, seed=7)
    rng = np.random.default_rng(8)
    feats = {f"net{i}": (x + rng.normal(size=x.shape) * i).astype(np.float32) for i in range(3)}
    parts = kfold_splits(y, 0.2, 0.2, 3, 0)
    threads = torch.get_num_threads()
    runs = []
    for w in (1, 3):
        monkeypatch.setattr(search, "workers", lambda networks, n, w=w: w)
        runs.append(search.fit_all(feats, y, parts, search.C_GRID, 4))
        assert torch.get_num_threads() == threads
    for k in feats:
        for a, b in zip(*(r[k] for r in runs)):
            assert (a.accuracy, a.C, a.val_accuracy, a.objective) == (b.accuracy, b.C, b.val_accuracy, b.objective)
    assert 1 <= search.workers(6, 2000) <= 6


def test_bordered_inverse_is_the_inverse_of_the_whole_block():
    x, _ = _clustered(n=120, d=400, seed=9)              # more features than images, as D features
    K = svm.gram(svm.standardise(x))
    old = torch.as_tensor(np.random.default_rng(10).random(120) < 0.75)
    o = old.nonzero().flatten()
    for lam in (1e-2, 1.0, 1e3):
        inv_o = torch.linalg.inv(K[o][:, o] + lam * torch.eye(len(o), dtype=K.dtype))
        got = svm.bordered_inverse(inv_o, K, old, lam)
        want = torch.linalg.inv(K + lam * torch.eye(120, dtype=K.dtype))
        assert torch.allclose(got, want, rtol=1e-7, atol=1e-9 * float(want.abs().max())), lam
    # a block whose new part is not positive definite given the old one (not a Gram matrix): refused, not inverted
    bad = K.clone()
    w = (~old).nonzero().flatten()
    bad[w, w] = -1e6
    assert svm.bordered_inverse(torch.linalg.inv(K[o][:, o] + torch.eye(len(o), dtype=K.dtype)), bad, old, 1.0) is None
