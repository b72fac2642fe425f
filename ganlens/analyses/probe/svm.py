"""An exact, batched linear L2-SVM (squared hinge, L2 penalty, one-vs-rest): the linear probe's solver.

The objective is scikit-learn ``LinearSVC``'s, per one-vs-rest problem with labels y in {-1, +1}:

    min_w  0.5 ||w||^2 + C * sum_i max(0, 1 - y_i <w, [x_i, 1]>)^2

(the intercept is a penalised weight of a constant feature 1, as liblinear with ``intercept_scaling=1``).

    K = gram(standardise(features))                       # one Gram matrix (N, N) per network
    sol = solve(Problems(K[tr][:, tr], targets(y[tr], n_classes)), C)
    predict(K[te][:, tr], sol.beta)                       # class ids of the test images

Newton's method on the active set over sub-blocks of K, in float64 on K's device; why and how:
docs/methods.md, section "probe".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganlens.analyses.api import renamed

MAX_NEWTON = 100          # Newton steps per problem; it stops in far fewer


@dataclass
class Problems:
    """The one-vs-rest problems of one training set: Gram block K (n, n) float64 (bias included), targets
    Y (n, P) in {-1, +1} (P = 1 for two classes, else one column per class)."""

    K: torch.Tensor
    Y: torch.Tensor


@dataclass
class Solution:
    """Coefficients beta (n, P) of the images (w = sum_i beta_i [x_i, 1]), the objective value of each
    problem (P,), Newton steps taken, whether every problem terminated exactly, the active sets (n, P)
    bool: the images inside the margin, y <w, x> < 1, the decision values K beta (n, P) of the training
    images, and the inverse of K + I/2C where the problems stepped together from one (else None)."""

    beta: torch.Tensor
    objective: np.ndarray
    steps: int
    converged: bool
    active: torch.Tensor
    scores: torch.Tensor
    inverse: torch.Tensor | None = None


def standardise(features: np.ndarray, device=None, cols: int = 512) -> torch.Tensor:
    """Features (N, F) of any float dtype -> float32 (N, F), each feature at mean 0 and unit variance over the
    N images (scikit-learn ``StandardScaler``: population std, a constant feature is only centred)."""
    x = torch.as_tensor(np.asarray(features), device=device).float()
    mean = torch.empty(x.shape[1], dtype=torch.float64, device=x.device)
    var = torch.empty_like(mean)
    for s in range(0, x.shape[1], cols):     # float64 statistics, a slice of columns at a time
        part = x[:, s:s + cols].double()
        mean[s:s + cols] = m = part.mean(0)
        var[s:s + cols] = part.sub_(m).square_().mean(0)      # two passes: 3x faster than torch.std's
    std = var.sqrt()
    std = torch.where(std > 0, std, torch.ones_like(std))
    return ((x - mean.float()) / std.float()).contiguous()


@renamed(chunk="batch_size")
def gram(x: torch.Tensor, batch_size: int = 4096, blocks: int = 4) -> torch.Tensor:
    """K = X X^T + 1 (N, N) float64 from standardised features (N, F) float32, accumulated in float64
    ``batch_size`` features at a time (float32 loses digits that large C values need).

    K is symmetric, so only the blocks on and below the diagonal of a ``blocks`` x ``blocks`` split of the rows
    are multiplied (10 of 16 for 4: about 30% less time; no BLAS routine for X X^T alone is exposed by torch)
    and mirrored: K is exactly symmetric."""
    n = x.shape[0]
    edges = [round(i * n / blocks) for i in range(blocks + 1)]
    K = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    for s in range(0, x.shape[1], batch_size):
        part = x[:, s:s + batch_size].double()
        for lo, hi in zip(edges[:-1], edges[1:]):
            K[lo:hi, :hi] += part[lo:hi] @ part[:hi].T
    K.tril_()
    K += K.T.triu(1)
    return K.add_(1)


def targets(y: np.ndarray | torch.Tensor, n_classes: int, device=None) -> torch.Tensor:
    """Class ids (n,) -> one-vs-rest targets (n, P) in {-1, +1} float64: P = 1 (class 1 positive) for two
    classes, as LinearSVC does, else one column per class."""
    y = torch.as_tensor(np.asarray(y), device=device).long()
    if n_classes == 2:
        return (2.0 * (y == 1).double() - 1.0)[:, None]
    return 2.0 * (y[:, None] == torch.arange(n_classes, device=y.device)[None, :]).double() - 1.0


def block(M: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """M[rows][:, cols] for index tensors. On a CPU by numpy's ``take``, which lets go of the GIL (the networks
    fitted side by side go on) and is 2x faster than torch's indexing on one thread (140 vs 275 us for 250 of
    1,200; 6 vs 15 ms for 1,600 of 2,000)."""
    if M.device.type == "cpu":
        r, c = rows.numpy(), cols.numpy()
        return torch.from_numpy(np.take(np.take(M.numpy(), r, 0), c, 1))
    return M.index_select(0, rows.to(M.device)).index_select(1, cols.to(M.device))


def thin_mm(A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """A @ X for a thin X (n, P), computed as (X^T A^T)^T: MKL runs that form about twice as fast on a CPU (1.5 vs
    2.9 ms for A (1,200, 1,200), P = 10, one thread; 3.8 vs 5.3 ms at 1,600)."""
    return torch.nn.functional.linear(X.T, A).T


def objective(K: torch.Tensor, Y: torch.Tensor, beta: torch.Tensor, C: float,
              out: torch.Tensor | None = None) -> torch.Tensor:
    """The primal objective (P,) of coefficients beta (n, P) on Gram K (n, n) and targets Y (n, P); ``out``:
    K @ beta, if the caller has it."""
    out = K @ beta if out is None else out
    return 0.5 * (beta * out).sum(0) + C * ((1 - Y * out).clamp(min=0) ** 2).sum(0)


@dataclass
class _Base:
    """A factorised active set: the sorted indices ``a`` and the Cholesky factor of K[a, a] + lam I."""

    a: torch.Tensor
    L: torch.Tensor


def _factorise(K: torch.Tensor, a: torch.Tensor, lam: float) -> _Base:
    M = block(K, a, a)
    M.diagonal().add_(lam)
    return _Base(a, torch.linalg.cholesky(M))


class _Factor:
    """The factor of K + I/2C over the whole training block, made on first use and shared by every class at
    that C (a base whose active set is every image)."""

    def __init__(self, K: torch.Tensor, lam: float):
        self.K, self.lam, self.value = K, lam, None

    def get(self) -> _Base:
        if self.value is None:
            self.value = _factorise(self.K, torch.arange(self.K.shape[0], device=self.K.device), self.lam)
        return self.value


UPDATE_WEIGHT = 3.0   # a triangular-solve flop costs more than a Cholesky flop (measured: docs/methods.md)


def _update_cost(m0: int, removed: int, added: int) -> float:
    """Cost of :func:`_solve_from` a base of m0 images for an active set that removes and adds some, in
    Cholesky-flop equivalents."""
    return UPDATE_WEIGHT * (m0 * m0 * (2.0 * (removed + 1) + added) + m0 * added * added) + added ** 3 / 3


def _solve_from(K: torch.Tensor, y: torch.Tensor, active: torch.Tensor, base: _Base, lam: float) -> torch.Tensor:
    """The Newton target from a factorised base set A0 (exact, float64): with E = A0 + S (S the active images
    outside A0) and R = A0 - A, beta_E = M_EE^-1 (y_A + E_R mu) with mu chosen so that beta_R = 0; M_EE^-1 by
    the block (Schur complement) elimination on A0's factor. Costs :func:`_update_cost`, not |A|^3 / 3."""
    n, out = K.shape[0], torch.zeros_like(y)
    in0 = torch.zeros(n, dtype=torch.bool, device=K.device)
    in0[base.a] = True
    S = (active & ~in0).nonzero().flatten()
    rpos = (~active[base.a]).nonzero().flatten()                 # removed, as positions within A0
    m0, c = len(base.a), 1 + len(rpos)
    V0 = torch.zeros(m0, c, dtype=K.dtype, device=K.device)
    V0[:, 0] = torch.where(active[base.a], y[base.a], torch.zeros_like(y[base.a]))
    V0[rpos, 1 + torch.arange(len(rpos), device=K.device)] = 1.0
    L = base.L
    W0 = torch.linalg.solve_triangular(L, V0, upper=False)
    if len(S):
        Z = torch.linalg.solve_triangular(L, block(K, base.a, S), upper=False)
        Sc = block(K, S, S) - Z.T @ Z
        Sc.diagonal().add_(lam)
        Lc = torch.linalg.cholesky(Sc)
        VS = torch.zeros(len(S), c, dtype=K.dtype, device=K.device)
        VS[:, 0] = y[S]
        XS = torch.linalg.solve_triangular(Lc.T, torch.linalg.solve_triangular(Lc, VS - Z.T @ W0, upper=False),
                                           upper=True)
        X0 = torch.linalg.solve_triangular(L.T, W0 - Z @ XS, upper=True)
    else:
        XS = torch.zeros(0, c, dtype=K.dtype, device=K.device)
        X0 = torch.linalg.solve_triangular(L.T, W0, upper=True)
    X = torch.cat([X0, XS])
    x = X[:, 0]
    if len(rpos):
        x = x + X[:, 1:] @ torch.linalg.solve(X[rpos, 1:], -X[rpos, 0])
    out[base.a] = x[:m0]
    out[S] = x[m0:]
    out[~active] = 0.0
    return out


def _solve_active(K: torch.Tensor, y: torch.Tensor, active: torch.Tensor, lam: float, factor: _Factor,
                  base: _Base | None = None) -> tuple[torch.Tensor, _Base | None]:
    """The Newton target: beta (n,) with beta_A = (K_AA + lam I)^-1 y_A and 0 elsewhere, and the problem's
    factorised base after it.

    Three exact ways, whichever costs the fewest flops: factorise the active block (|A|^3 / 3; it becomes the
    base), or start from a factorised set close to A by :func:`_solve_from`: the problem's last factorised
    active set (Newton's later steps change few images), or the whole block's factor shared by every class at
    this C (when A leaves out only a few images)."""
    n = K.shape[0]
    a = active.nonzero().flatten()
    if len(a) == 0:
        return torch.zeros_like(y), base
    options = {"direct": len(a) ** 3 / 3}
    if base is not None:
        in0 = torch.zeros(n, dtype=torch.bool, device=K.device)
        in0[base.a] = True
        options["base"] = _update_cost(len(base.a), int((in0 & ~active).sum()), int((active & ~in0).sum()))
    full = n ** 3 / 3 if factor.value is None else 0.0
    options["full"] = full + _update_cost(n, n - len(a), 0)
    way = min(options, key=options.get)
    if way == "direct":
        return _direct(K, y, a, lam)
    return _solve_from(K, y, active, base if way == "base" else factor.get(), lam), base


def _line_search(o: torch.Tensor, q: torch.Tensor, y: torch.Tensor, bq: float, dq: float, C: float) -> float:
    """The exact minimiser in [0, 1] of the objective along beta + t d (o = K beta, q = K d, bq = beta^T K d,
    dq = d^T K d): :func:`_line_searches` of one problem."""
    one = torch.tensor([bq], dtype=o.dtype, device=o.device)
    return float(_line_searches(o[:, None], q[:, None], y[:, None], one, one.new_tensor([dq]), C)[0])


def _optimal(K: torch.Tensor, y: torch.Tensor, beta: torch.Tensor, o: torch.Tensor, C: float) -> bool:
    """Whether beta is the minimiser to 1e-12 of the objective (:func:`_optimal_all` of one problem)."""
    return bool(_optimal_all(K, y[:, None], beta[:, None], o[:, None], C)[0])


def _newton_one(K: torch.Tensor, y: torch.Tensor, C: float, factor: _Factor,
                start: torch.Tensor | None = None) -> tuple[torch.Tensor, int, bool]:
    """One problem: coefficients (n,), Newton steps, whether it reached the minimiser. ``start``: a guess
    of the active set (e.g. the solution's at the previous C), else every image.

    Stops when a full step leaves the active set as it was (then the step landed on the exact minimiser) or
    when the gradient vanishes to float64 precision (images exactly on the margin can flip in and out of the
    active set by a rounding error without changing the objective)."""
    lam = 1.0 / (2.0 * C)
    beta = torch.zeros_like(y)
    o = torch.zeros_like(y)
    active = torch.ones_like(y, dtype=torch.bool) if start is None else start.clone()
    base = None
    for step in range(1, MAX_NEWTON + 1):
        target, base = _solve_active(K, y, active, lam, factor, base)
        d = target - beta
        q = K @ d
        t = _line_search(o, q, y, float(beta @ q), float(d @ q), C)
        beta, o = beta + t * d, o + t * q
        now = y * o < 1
        if (t >= 1.0 - 1e-12 and bool((now == active).all())) or _optimal(K, y, beta, o, C):
            return beta, step, True
        active = now
    return beta, MAX_NEWTON, _optimal(K, y, beta, o, C)


def solve(problems: Problems, C: float, start: torch.Tensor | None = None,
          inverse: torch.Tensor | None = None) -> Solution:
    """Every one-vs-rest problem of ``problems`` at one C, exactly (Newton's method on the active set). ``start``:
    guesses of the active sets (n, P) bool (e.g. :attr:`Solution.active` at a nearby C); they only change
    how many Newton steps it takes, not the solution. Several problems (more than two classes) step together
    from one explicit inverse of K + I/2C (:func:`_newton_shared`; ``inverse``: that inverse if the caller
    has it, e.g. from :func:`bordered_inverse`); a single one on its own (:func:`_newton_one`)."""
    K, Y = problems.K, problems.Y
    inv = None
    if Y.shape[1] >= SHARED_MIN:
        beta, steps, done, inv = _newton_shared(K, Y, C, start, inverse)
    else:
        factor = _Factor(K, 1.0 / (2.0 * C))
        cols, steps, done = [], 0, True
        for p in range(Y.shape[1]):
            b, s, ok = _newton_one(K, Y[:, p].contiguous(), C, factor, None if start is None else start[:, p])
            cols.append(b)
            steps, done = max(steps, s), done and ok
        beta = torch.stack(cols, 1)
    scores = thin_mm(K, beta)
    return Solution(beta, objective(K, Y, beta, C, scores).cpu().numpy(), steps, done, (Y * scores) < 1, scores,
                    inv)


# ------------------------------------------------------------------ several problems at one C, stepping together

SHARED_MIN = 2        # problems that share one inverse of K + I/2C (an inverse costs ~3 Cholesky factorisations)
RESIDUAL = 1e-9       # a shared-inverse Newton target whose residual exceeds this (relative) is solved directly


def _direct(K: torch.Tensor, y: torch.Tensor, a: torch.Tensor, lam: float) -> tuple[torch.Tensor, _Base]:
    """beta (n,): (K_AA + lam I)^-1 y_A on the active images (indices ``a``, not empty), 0 elsewhere, by
    Cholesky of the active block; and that factorised block."""
    base = _factorise(K, a, lam)
    out = torch.zeros_like(y)
    out[a] = torch.cholesky_solve(y[a, None], base.L)[:, 0]
    return out, base


def _targets(K: torch.Tensor, inv: torch.Tensor, Y: torch.Tensor, A: torch.Tensor,
             lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The Newton targets T (n, P) of several problems at one C and K @ T: column c of T is (K_AA + lam I)^-1 y_A
    on its active set A (column c of A), 0 elsewhere, from ``inv`` = (K + lam I)^-1. With R the images outside
    A, beta = inv (y_A + E_R mu) and mu from inv_RR mu = -(inv y_A)_R, so that beta_R = 0 (block elimination):
    a factorisation of |R| x |R| per problem instead of |A| x |A|. A problem whose R is the larger, or whose
    target misses its equations by more than :data:`RESIDUAL` of their scale, is factorised directly."""
    n, P = Y.shape
    V = thin_mm(inv, torch.where(A, Y, torch.zeros_like(Y)))
    U = torch.zeros_like(Y)
    direct = []
    for c in range(P):
        r = (~A[:, c]).nonzero().flatten()
        if 2 * len(r) > n:
            direct.append(c)
        elif len(r):
            L, info = torch.linalg.cholesky_ex(block(inv, r, r))
            if int(info):
                direct.append(c)
            else:
                U[r, c] = torch.cholesky_solve(-V[r, c:c + 1], L)[:, 0]
    T = torch.where(A, V + thin_mm(inv, U), torch.zeros_like(Y))
    KT = thin_mm(K, T)
    res = torch.where(A, KT + lam * T - Y, torch.zeros_like(Y)).abs().amax(0)
    scale = (KT.abs() + lam * T.abs()).amax(0).clamp(min=1.0)
    for c in sorted(set(direct) | set((res > RESIDUAL * scale).nonzero().flatten().tolist())):
        if A[:, c].any():
            T[:, c] = _direct(K, Y[:, c], A[:, c].nonzero().flatten(), lam)[0]
            KT[:, c] = K @ T[:, c]
    return T, KT


def _line_searches(O: torch.Tensor, Q: torch.Tensor, Y: torch.Tensor, bq: torch.Tensor, dq: torch.Tensor,
                   C: float) -> torch.Tensor:
    """The exact minimisers t (P,) in [0, 1] of the objectives of several problems (one per column; bq, dq (P,))
    along beta + t d (O = K beta, Q = K d, bq = beta^T K d, dq = d^T K d).

    The derivative is bq + t dq - 2C sum_i s_i max(0, r_i - t s_i) with r = 1 - y o, s = y q: increasing and
    linear between the breakpoints r_i / s_i, so it is walked segment by segment (sorted breakpoints,
    cumulative sums) to its zero. Each column's breakpoints are sorted, the ones outside (0, 1) after them as
    padding that changes nothing."""
    r, s = 1 - Y * O, Y * Q
    on = (r > 0) | ((r == 0) & (s < 0))
    zero = torch.zeros_like(r)
    a0 = bq - 2 * C * torch.where(on, s * r, zero).sum(0)
    g0 = dq + 2 * C * torch.where(on, s * s, zero).sum(0)
    bp = torch.where(s != 0, r / torch.where(s != 0, s, torch.ones_like(s)), torch.full_like(s, -1.0))
    inside = (bp > 0) & (bp < 1)
    key, order = torch.where(inside, bp, torch.full_like(bp, 2.0)).sort(0)
    si, ri, ins, was_on = (v.gather(0, order) for v in (s, r, inside, on))
    sign = torch.where(was_on, -1.0, 1.0).to(r.dtype)
    alphas = torch.cat([a0[None], a0 + torch.cumsum(torch.where(ins, -sign * 2 * C * si * ri, zero), 0)])
    gammas = torch.cat([g0[None], g0 + torch.cumsum(torch.where(ins, sign * 2 * C * si * si, zero), 0)])
    ones = torch.ones_like(a0)[None]
    ends = torch.cat([torch.where(ins, key, torch.ones_like(key)), ones])
    hit = alphas + gammas * ends >= 0
    k = hit.to(torch.uint8).argmax(0, keepdim=True)                 # the first segment whose end is at or past 0
    start = torch.cat([torch.zeros_like(ones), ends[:-1]]).gather(0, k)[0]
    g, a, end = gammas.gather(0, k)[0], alphas.gather(0, k)[0], ends.gather(0, k)[0]
    t = torch.where(g > 0, -a / torch.where(g > 0, g, torch.ones_like(g)), start)
    return torch.where(hit.any(0), torch.minimum(torch.maximum(t, start), end), torch.ones_like(t))


def _optimal_all(K: torch.Tensor, Y: torch.Tensor, B: torch.Tensor, O: torch.Tensor, C: float) -> torch.Tensor:
    """Whether each problem's beta (columns) is its minimiser to 1e-12 of the objective: (P,) bool. The objective
    is 1-strongly convex in the weights, so it is within |gradient|^2 / 2 of its minimum; the gradient in weight
    space is X^T (beta - 2C y max(0, 1 - y o)), and |gradient|^2 <= 1e-12 max(1, |w|^2) bounds the gap by 1e-12
    of the objective (>= |w|^2 / 2)."""
    G = B - 2 * C * Y * (1 - Y * O).clamp(min=0)
    return (G * thin_mm(K, G)).sum(0) <= 1e-12 * (B * O).sum(0).clamp(min=1.0)


def _row_major(inv: torch.Tensor) -> torch.Tensor:
    """An inverse of a symmetric matrix from ``torch.cholesky_inverse`` in row-major order: LAPACK returns it
    column-major, and products with it run ~3x slower that way (7.8 vs 2.9 ms). On a CPU torch mirrors LAPACK's
    triangle, so it is exactly symmetric and its transpose is the same matrix, row-major, without a copy (5 ms
    at 1,200); elsewhere the transpose is as much an inverse of the symmetric matrix."""
    return inv.mT if inv.stride(0) == 1 and inv.dim() == 2 else inv.contiguous()


def _newton_shared(K: torch.Tensor, Y: torch.Tensor, C: float, start: torch.Tensor | None = None,
                   inv: torch.Tensor | None = None) -> tuple[torch.Tensor, int, bool, torch.Tensor]:
    """The P problems of one Gram block at one C together: coefficients (n, P), the Newton steps of the slowest,
    whether every problem reached its minimiser, and the inverse of K + I/2C (``inv``, if given, else made).
    Each problem takes the steps it takes in :func:`_newton_one` (the same targets to rounding, the same line
    search and stopping rules); the targets come from one inverse of K + I/2C (:func:`_targets`) and the
    products with K are one matrix product for all the problems still stepping."""
    lam = 1.0 / (2.0 * C)
    if inv is None:
        M = K.clone()
        M.diagonal().add_(lam)
        inv = _row_major(torch.cholesky_inverse(torch.linalg.cholesky(M)))
        del M
    B, O = torch.zeros_like(Y), torch.zeros_like(Y)
    A = torch.ones_like(Y, dtype=torch.bool) if start is None else start.clone()
    todo = torch.arange(Y.shape[1], device=K.device)
    for step in range(1, MAX_NEWTON + 1):
        y, a, b, o = Y[:, todo], A[:, todo], B[:, todo], O[:, todo]
        T, KT = _targets(K, inv, y, a, lam)
        D, Q = T - b, KT - o                                   # o = K b, kept up to date as below
        t = _line_searches(o, Q, y, (b * Q).sum(0), (D * Q).sum(0), C)
        b, o = b + t * D, torch.where(t >= 1.0, KT, o + t * Q)
        B[:, todo], O[:, todo] = b, o
        now = y * o < 1
        fin = (t >= 1.0 - 1e-12) & (now == a).all(0)
        if not bool(fin.all()):
            rest = (~fin).nonzero().flatten()
            fin[rest] = _optimal_all(K, y[:, rest], b[:, rest], o[:, rest], C)
        A[:, todo] = now
        todo = todo[~fin]
        if len(todo) == 0:
            return B, step, True, inv
    return B, MAX_NEWTON, bool(_optimal_all(K, Y[:, todo], B[:, todo], O[:, todo], C).all()), inv


def bordered_inverse(inv: torch.Tensor, K: torch.Tensor, old: torch.Tensor, lam: float) -> torch.Tensor | None:
    """(K + lam I)^-1 of a Gram block K (m, m) from ``inv``, the inverse of its principal block on the images
    ``old`` (bool (m,), in their order), by the block (Schur complement) formula: with o = old, w = the new
    images, W = inv K_ow and S = K_ww + lam I - K_wo W, the inverse is [[inv + W S^-1 W^T, -W S^-1],
    [-S^-1 W^T, S^-1]]. Matrix products instead of a fresh inversion of all m (the probe's refit: 1,200
    training images bordered by 400 validation images). None if S is not numerically positive definite."""
    o, w = old.nonzero().flatten(), (~old).nonzero().flatten()
    Kow = block(K, o, w)
    W = inv @ Kow
    S = block(K, w, w) - Kow.T @ W
    S.diagonal().add_(lam)
    L, info = torch.linalg.cholesky_ex(S)
    if int(info):
        return None
    Si = _row_major(torch.cholesky_inverse(L))
    WS = W @ Si
    out = torch.empty_like(K)
    out[o[:, None], o] = inv + WS @ W.T
    out[o[:, None], w] = -WS
    out[w[:, None], o] = -WS.T
    out[w[:, None], w] = Si
    return out


def predict(K_rows: torch.Tensor, beta: torch.Tensor) -> np.ndarray:
    """Class ids (m,) from the Gram rows of the images to classify against the training images (m, n) and
    the coefficients (n, P) (:func:`classes` of their decision values)."""
    return classes(thin_mm(K_rows, beta))


def classes(scores: torch.Tensor) -> np.ndarray:
    """Class ids (m,) from decision values (m, P): > 0 is class 1 for two classes, else the argmax over classes
    (ties: the first, as scikit-learn)."""
    if scores.shape[1] == 1:
        return (scores[:, 0] > 0).long().cpu().numpy()
    return scores.argmax(1).cpu().numpy()
