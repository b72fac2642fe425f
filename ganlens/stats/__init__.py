"""Every interval, test and null that ganlens reports, in one place, thin over scipy.

Each function returns plain floats or a small frozen dataclass; callers name the JSON keys. Decision rules
(a p-value compared with a level, an interval that excludes a value) have a simulation test of their
false-positive rate under their null in ``tests/test_stats.py``.

Samples that share a latent, an exemplar draw or a rater are one *cluster*: test on clusters (sign test,
Wilcoxon signed-rank, cluster bootstrap), not on the samples inside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats as _st

LEVEL = 0.05          # the nominal level of every decision rule
CONFIDENCE = 0.95     # the confidence of every interval


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [float(self.low), float(self.high)]


@dataclass(frozen=True)
class Paired:
    """Exact McNemar test: ``a_only`` pairs where only a is True, ``b_only`` where only b is, two-sided p."""
    a_only: int
    b_only: int
    p: float

    def lost_gained(self) -> dict:
        """The JSON block of an edit's before (a) / after (b) comparison: {"lost", "gained", "p_value"}."""
        return {"lost": self.a_only, "gained": self.b_only, "p_value": self.p}


@dataclass(frozen=True)
class SignTest:
    """Sign test over clusters: clusters where x is above / below y (ties dropped), two-sided p."""
    higher: int
    lower: int
    p: float


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p: float


# ------------------------------------------------------------------------------------------ intervals

def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> Interval | None:
    """Exact (Clopper-Pearson) interval of a rate of ``k`` successes in ``n`` trials; None when n = 0.
    ``scipy.stats.binomtest(k, n).proportion_ci(method="exact")``."""
    if n == 0:
        return None
    ci = _st.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return Interval(float(ci.low), float(ci.high))


def t_interval(x: np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """Student t interval of the mean of ``x`` (``scipy.stats.ttest_1samp(x, 0).confidence_interval``); its
    bounds are NaN where it is undefined (fewer than 2 values or no spread)."""
    ci = _st.ttest_1samp(np.asarray(x, float), 0.0).confidence_interval(confidence)
    return Interval(float(ci.low), float(ci.high))


def cluster_bootstrap(data: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray] | None = None,
                      n_boot: int = 2000, seed: int = 0, confidence: float = CONFIDENCE) -> Interval:
    """Percentile bootstrap interval of a statistic, resampling whole clusters with replacement.

    data: (n_clusters, ...) one row per cluster (e.g. per-draw outcomes (draws, samples)). statistic maps a
    batch of resampled data (B, n_clusters, ...) to (B,); default: the mean of everything in a resample.
    """
    data = np.asarray(data, float)
    if statistic is None:
        def statistic(x):
            return x.reshape(len(x), -1).mean(1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(data), (n_boot, len(data)))
    boot = np.asarray(statistic(data[idx]), float)
    a = (1 - confidence) / 2
    low, high = np.quantile(boot, [a, 1 - a])
    return Interval(float(low), float(high))


# ------------------------------------------------------------------------------------------ paired tests

def mcnemar(a: np.ndarray, b: np.ndarray) -> Paired:
    """Exact McNemar test of paired booleans a, b (same units): two-sided binomial test with p = 1/2 on the
    discordant pairs (``scipy.stats.binomtest``); p = 1 when there are none. Valid only when the pairs are
    independent: pairs sharing a draw are a cluster (use :func:`sign_test`)."""
    a, b = np.asarray(a, bool).ravel(), np.asarray(b, bool).ravel()
    x, y = int((a & ~b).sum()), int((~a & b).sum())
    return Paired(x, y, float(_st.binomtest(x, x + y, 0.5).pvalue) if x + y else 1.0)


def sign_test(x: np.ndarray, y: np.ndarray) -> SignTest:
    """Two-sided sign test of paired per-cluster values x, y (e.g. per-draw rates): binomial test with p = 1/2
    on the clusters where they differ."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    hi, lo = int((x > y).sum()), int((x < y).sum())
    return SignTest(hi, lo, float(_st.binomtest(hi, hi + lo, 0.5).pvalue) if hi + lo else 1.0)


def wilcoxon(x: np.ndarray, y: np.ndarray) -> TestResult:
    """Two-sided Wilcoxon signed-rank test of paired per-cluster values (``scipy.stats.wilcoxon``, zero
    differences dropped); p = 1 when every pair is equal."""
    d = np.asarray(x, float) - np.asarray(y, float)
    if not np.any(d != 0):
        return TestResult(0.0, 1.0)
    r = _st.wilcoxon(d, zero_method="wilcox")
    return TestResult(float(r.statistic), float(r.pvalue))


def cochran_q(x: np.ndarray) -> TestResult:
    """Cochran's Q test that k paired binary conditions have the same rate. x: (subjects, k) bool.
    Q = (k-1) (k sum_j C_j^2 - T^2) / (k T - sum_i R_i^2), chi-square with k-1 degrees of freedom.
    Works along the last two axes, so a batch (..., subjects, k) gives arrays."""
    x = np.asarray(x, float)
    k = x.shape[-1]
    cols, rows = x.sum(-2), x.sum(-1)
    total = rows.sum(-1)
    den = k * total - (rows ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = (k - 1) * (k * (cols ** 2).sum(-1) - total ** 2) / den
    q = np.where(den > 0, q, 0.0)
    p = np.where(den > 0, _st.chi2.sf(q, k - 1), 1.0)
    return TestResult(q if q.ndim else float(q), p if p.ndim else float(p))


def _corrected_var(d: np.ndarray, n_train: int, n_test: int) -> np.ndarray:
    """Nadeau & Bengio's variance of the mean of J resampled scores: s^2 (1/J + n_test/n_train), last axis."""
    return d.var(-1, ddof=1) * (1 / d.shape[-1] + n_test / n_train)


def corrected_resampled_t(diffs: np.ndarray, n_train: int, n_test: int) -> TestResult:
    """Nadeau & Bengio (2003) corrected resampled t-test of J per-split differences (e.g. repeated K-fold
    accuracies of two models): variance s^2 (1/J + n_test/n_train), t with J - 1 degrees of freedom,
    two-sided. Accounts for training sets that overlap between splits. Works along the last axis."""
    d = np.asarray(diffs, float)
    j = d.shape[-1]
    var = _corrected_var(d, n_train, n_test)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = d.mean(-1) / np.sqrt(var)
    t = np.where(var > 0, t, 0.0)
    p = np.where(var > 0, 2 * _st.t.sf(np.abs(t), j - 1), 1.0)
    return TestResult(t if t.ndim else float(t), p if p.ndim else float(p))


def corrected_resampled_interval(values: np.ndarray, n_train: int, n_test: int,
                                 confidence: float = CONFIDENCE) -> tuple[float, Interval]:
    """The Nadeau-Bengio corrected standard error of the mean of J >= 2 resampled scores and its t interval
    (J - 1 degrees of freedom)."""
    v = np.asarray(values, float)
    se = float(np.sqrt(_corrected_var(v, n_train, n_test)))
    half = float(_st.t.ppf(0.5 + confidence / 2, len(v) - 1)) * se
    return se, Interval(float(v.mean()) - half, float(v.mean()) + half)


# ------------------------------------------------------------------------------------------ two samples

def mann_whitney(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided") -> TestResult:
    """Mann-Whitney U of x against y (``scipy.stats.mannwhitneyu``); U counts pairs with x > y (ties 1/2).
    Works along the last axis."""
    r = _st.mannwhitneyu(x, y, alternative=alternative, axis=-1)
    return TestResult(r.statistic if np.ndim(r.statistic) else float(r.statistic),
                      r.pvalue if np.ndim(r.pvalue) else float(r.pvalue))


def mann_whitney_z(x: np.ndarray, y: np.ndarray, tie_correct: bool = True, continuity: float = 0.0) -> float:
    """Signed z of the Mann-Whitney U of x against y: (U - m n / 2 + continuity) / sd, sd^2 = m n (N + 1) / 12,
    times ``scipy.stats.tiecorrect`` of the pooled ranks when ``tie_correct``. z < 0: x tends to be smaller.
    0 when the variance is 0 (nothing to rank)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    m, n = len(x), len(y)
    u = _st.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").statistic
    var = m * n * (m + n + 1) / 12
    if tie_correct:
        var *= _st.tiecorrect(_st.rankdata(np.concatenate([x, y])))
    return float((u - m * n / 2 + continuity) / math.sqrt(var)) if var > 0 else 0.0


def spearman(x: np.ndarray, y: np.ndarray) -> TestResult:
    """Spearman rank correlation of x and y and its two-sided p (``scipy.stats.spearmanr``); NaN where it is
    undefined (a constant input)."""
    r = _st.spearmanr(x, y)
    return TestResult(float(r.statistic), float(r.pvalue))


def hypergeom_tail(k: int, population: int, successes: int, draws: int) -> float:
    """P(X >= k) for X hypergeometric: ``draws`` taken from ``population`` of which ``successes`` are marked
    (one-sided Fisher's exact test of an overlap). ``scipy.stats.hypergeom.sf(k - 1, ...)``."""
    return float(_st.hypergeom.sf(k - 1, population, successes, draws))


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the one-sided exact binomial test of ``k`` successes against the
    chance rate ``p`` (``scipy.stats.binomtest(k, n, p, alternative="greater")``); 1 when n = 0."""
    return float(_st.binomtest(int(k), int(n), p, alternative="greater").pvalue) if n else 1.0


# ------------------------------------------------------------------------------------------ nulls

def permutation_test(statistic: Callable[[np.ndarray], np.ndarray], labels: np.ndarray,
                     n_perm: int = 999, seed: int = 0) -> TestResult:
    """One-sided permutation p-value of a statistic against shuffled labels, with the +1 correction:
    p = (1 + #{null >= observed}) / (1 + n_perm).

    statistic maps labels (..., n) to (...): it is called once on ``labels`` (n,) and once on a batch of
    ``n_perm`` permutations (n_perm, n), so it should be vectorised over the leading axis.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    perms = np.take(labels, rng.permuted(np.tile(np.arange(len(labels)), (n_perm, 1)), axis=1))
    observed = float(statistic(labels))
    null = np.asarray(statistic(perms), float)
    return TestResult(observed, permutation_p(observed, null))


def permutation_p(observed: float, null: np.ndarray) -> float:
    """(1 + #{null >= observed}) / (1 + len(null)): a p-value that is valid (never below 1/(B+1))."""
    null = np.asarray(null, float)
    return float((1 + np.sum(null >= observed - 1e-12 * max(1.0, abs(observed)))) / (1 + len(null)))


def benjamini_hochberg(p: np.ndarray, q: float = LEVEL) -> np.ndarray:
    """Discoveries (bool, same shape) of the Benjamini-Hochberg step-up rule at false-discovery rate q.
    Works along the last axis."""
    p = np.asarray(p, float)
    if p.size == 0:
        return p.astype(bool)
    adj = _st.false_discovery_control(p, axis=-1, method="bh")
    return adj <= q


# ------------------------------------------------------------------------------------------ agreement

def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of ratings: counts (subjects, categories), each row summing to the same number of raters
    n >= 2. kappa = (P_bar - P_e) / (1 - P_e); 1.0 when P_e = 1 (everyone always in one category)."""
    c = np.asarray(counts, float)
    n = c.sum(1)
    if len(c) == 0 or np.any(n != n[0]) or n[0] < 2:
        raise ValueError("fleiss_kappa: every subject needs the same number (>= 2) of ratings")
    n = n[0]
    p_j = c.sum(0) / c.sum()
    p_i = ((c ** 2).sum(1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), float((p_j ** 2).sum())
    return float((p_bar - p_e) / (1 - p_e)) if p_e < 1 else 1.0
