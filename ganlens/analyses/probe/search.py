"""The probe's SVM on one split: C chosen on validation, refit on train + val, scored once on test, with the
exact solver of :mod:`ganlens.analyses.probe.svm` on one Gram matrix per network.

    fit_all({"trained": features}, labels, parts, C_GRID, n_classes)   # {network: [SplitFit per split]}
    fit_probe(X, y, split(y, 0.2, 0.2, seed=0))                          # one split of features X (N, F)
"""

from __future__ import annotations

import contextlib
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from tqdm import tqdm

from ganlens.analyses.probe import svm
from ganlens.analyses.probe.record import Split, SplitFit
from ganlens.core.errors import physical_memory, require_memory

C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def split(labels: np.ndarray, val: float, test: float, seed: int) -> Split:
    """Stratified (train, val, test) index arrays."""
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(labels))
    rest, te = train_test_split(idx, test_size=test, stratify=labels, random_state=seed)
    tr, va = train_test_split(rest, test_size=val / (1 - test), stratify=labels[rest], random_state=seed + 1)
    return Split(np.sort(tr), np.sort(va), np.sort(te))


def _accuracy_parts(y_true: np.ndarray, pred: np.ndarray, K: int) -> tuple[float, list, list]:
    """(accuracy, per-class recall (None for an absent class), confusion [[true][pred]])."""
    conf = np.zeros((K, K), np.int64)
    np.add.at(conf, (y_true, pred), 1)
    per_class = [float(conf[k, k] / conf[k].sum()) if conf[k].sum() else None for k in range(K)]
    return float((pred == y_true).mean()), per_class, conf.tolist()


def _block(K: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
    return svm.block(K, torch.as_tensor(rows), torch.as_tensor(cols))


def _refit_start(Kva: torch.Tensor, sol: svm.Solution, tr, va, trva, Y: torch.Tensor) -> torch.Tensor:
    """A guess of the refit's active sets (len(trva), P): the training images as at the chosen C, the
    validation images by their margin under that solution (Kva: the Gram rows of the validation images
    against the training images)."""
    margin = Y.new_zeros(len(trva), Y.shape[1], dtype=torch.bool)
    pos = {int(i): k for k, i in enumerate(trva)}
    rows_tr = torch.as_tensor([pos[int(i)] for i in tr], device=Kva.device)
    rows_va = torch.as_tensor([pos[int(i)] for i in va], device=Kva.device)
    margin[rows_tr] = sol.active
    margin[rows_va] = (Y[rows_va] * (Kva @ sol.beta)) < 1
    return margin


def fit_split(K: torch.Tensor, y: np.ndarray, parts: Split | tuple, Cs=C_GRID,
              n_classes: int | None = None) -> SplitFit:
    """Choose C on the validation split, refit on train + val, score on test, with the exact SVM on the Gram
    matrix K (N, N) of the standardised features of all N images. y (N,) int. Ties in validation accuracy
    go to the smaller C; each C starts from the previous one's active sets."""
    tr, va, te = parts
    nk = n_classes or int(y.max()) + 1
    Cs = sorted(Cs)
    train = svm.Problems(_block(K, tr, tr), svm.targets(y[tr], nk, K.device))
    val, sols, steps, done, prev, best = {}, {}, 0, True, None, None
    Kva = _block(K, va, tr)
    for C in Cs:
        sols[C] = prev = svm.solve(train, C, None if prev is None else prev.active)
        val[C] = float((svm.predict(Kva, prev.beta) == y[va]).mean())
        steps, done = max(steps, prev.steps), done and prev.converged
        if best is None or val[C] > val[best]:      # ties: the smaller C, seen first
            if best is not None:
                sols[best].inverse = None
            best = C
        else:
            prev.inverse = None                     # only the best C's inverse is kept (for the refit)
    trva = np.sort(np.concatenate([tr, va]))
    refit = svm.Problems(_block(K, trva, trva), svm.targets(y[trva], nk, K.device))
    inverse = None if sols[best].inverse is None else svm.bordered_inverse(
        sols[best].inverse, refit.K, torch.as_tensor(np.isin(trva, tr), device=K.device), 1.0 / (2.0 * best))
    sol = svm.solve(refit, best, _refit_start(Kva, sols[best], tr, va, trva, refit.Y), inverse)
    acc, per_class, conf = _accuracy_parts(y[te], svm.predict(_block(K, te, trva), sol.beta), nk)
    return SplitFit(accuracy=acc, C=float(best), val_accuracy={f"{c:g}": val[c] for c in Cs},
                    train_accuracy=float((svm.classes(sol.scores) == y[trva]).mean()),
                    per_class=per_class, confusion=conf, converged=bool(done and sol.converged),
                    newton_steps=max(steps, sol.steps), objective=[float(v) for v in sol.objective])


def fit_probe(X: np.ndarray, y: np.ndarray, parts: Split | tuple, Cs=C_GRID, seed: int = 0,
              n_classes: int | None = None, device=None) -> SplitFit:
    """:func:`fit_split` on features X (N, F) of any float dtype: standardised over the N images, then the
    Gram matrix. ``seed`` is kept for compatibility; the exact solver has no randomness."""
    return fit_split(svm.gram(svm.standardise(X, device)), y, parts, Cs, n_classes)


def workers(networks: int, n: int) -> int:
    """How many networks :func:`fit_all` fits side by side on a CPU: one per torch thread, at most one per network
    and as many as memory holds (each ~4 n x n float64 matrices)."""
    total = physical_memory()
    room = int(0.8 * total // (8.0 * n * n * 4)) if total else networks
    return max(1, min(torch.get_num_threads(), networks, room))


@contextlib.contextmanager
def single_threaded():
    """torch at one thread inside the block (the caller's count comes back afterwards)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit_all(feats: dict[str, np.ndarray], y: np.ndarray, parts: list[Split], Cs, n_classes: int,
            device=None, progress: bool = False) -> dict[str, list[SplitFit]]:
    """:func:`fit_split` of every network's features (N, F) on every split (``parts[k]``) -> {network: [one
    result per split]}. One Gram matrix per network (features standardised over all N images).

    On a CPU each network is fitted on one thread, :func:`workers` networks at a time: the fits are independent,
    so they use the cores better side by side than one at a time on every thread (medium-sized Cholesky and
    inverse factorisations scale poorly over threads: 1.3x on 2 cores for the 10-class benchmark), and the
    numbers do not depend on the machine's thread count."""
    n = len(y)
    require_memory(8.0 * n * n * 4, f"the probe's Gram matrices of {n} images (use --limit for fewer)")
    bar = tqdm(total=len(feats) * len(parts), desc="SVM (network x split)", disable=not progress,
               dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30)

    def network(x: np.ndarray) -> list[SplitFit]:
        K = svm.gram(svm.standardise(x, device))
        fits = []
        for p in parts:
            fits.append(fit_split(K, y, p, Cs, n_classes))
            bar.update(1)
        return fits

    if device is not None and torch.device(device).type != "cpu":          # a GPU: one network at a time
        out = {k: network(x) for k, x in feats.items()}
    else:
        pool = ThreadPoolExecutor(workers(len(feats), n))                # before the thread count drops to one
        with single_threaded(), pool:
            out = dict(zip(feats, pool.map(network, feats.values())))
    bar.close()
    return out
