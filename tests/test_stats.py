"""ganlens.stats: each function against scipy or a textbook value, each decision rule's false-positive rate
under its null by simulation (at most 5% plus two simulation standard errors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from ganlens import stats


def bound(sims: int, level: float = 0.05) -> float:
    """Nominal level plus two binomial standard errors of a simulated rejection rate."""
    return level + 2 * math.sqrt(level * (1 - level) / sims)


def clustered_pairs(rng, sims, clusters, size, effect=0.0):
    """(sims, clusters, size) paired binary outcomes x, y. Each cluster (an exemplar draw) has its own rate for
    x and for y, drawn from the same beta(0.3, 0.3) (so many clusters are all-0 or all-1): the null is no
    difference over the population of clusters, while inside one cluster x and y may differ."""
    px, py = rng.beta(0.3, 0.3, (2, sims, clusters, 1))
    x = rng.random((sims, clusters, size)) < np.clip(px + effect, 0, 1)
    y = rng.random((sims, clusters, size)) < py
    return x, y


# ------------------------------------------------------------------------------------------ values

def test_clopper_pearson_matches_scipy_and_covers():
    ci = stats.clopper_pearson(7, 20)
    ref = st.binomtest(7, 20).proportion_ci(method="exact")
    assert (ci.low, ci.high) == (ref.low, ref.high)
    assert stats.clopper_pearson(0, 0) is None
    # textbook: 0 of n -> upper bound 1 - (alpha/2)^(1/n)
    assert stats.clopper_pearson(0, 10).high == pytest.approx(1 - 0.025 ** 0.1)
    # exact coverage (no simulation needed): P(interval covers p) >= 95% for every p
    n = 30
    cis = [stats.clopper_pearson(k, n) for k in range(n + 1)]
    for p in (0.02, 0.1, 0.3, 0.5, 0.77):
        cover = sum(st.binom.pmf(k, n, p) for k, c in enumerate(cis) if c.low <= p <= c.high)
        assert cover >= 0.95


def test_mcnemar_value_and_false_positive_rate():
    a = np.array([1, 1, 1, 0, 0, 1, 0, 1], bool)
    b = np.array([0, 0, 1, 0, 1, 1, 0, 0], bool)
    r = stats.mcnemar(a, b)
    assert (r.a_only, r.b_only) == (3, 1)
    assert r.p == pytest.approx(st.binomtest(3, 4, 0.5).pvalue) == pytest.approx(0.625)
    assert stats.mcnemar(a, a).p == 1.0
    rng = np.random.default_rng(1)
    sims = 1000
    x = rng.random((sims, 60)) < 0.3          # independent pairs, same rate: the test's null
    y = rng.random((sims, 60)) < 0.3
    rejected = np.mean([stats.mcnemar(x[i], y[i]).p < 0.05 for i in range(sims)])
    assert rejected <= bound(sims)


def test_mcnemar_over_clustered_samples_is_not_valid():
    """Why arith and dissect decide on clusters: McNemar over samples of shared draws rejects a true null."""
    rng = np.random.default_rng(2)
    sims = 300
    x, y = clustered_pairs(rng, sims, 30, 9)
    rejected = np.mean([stats.mcnemar(x[i], y[i]).p < 0.05 for i in range(sims)])
    assert rejected > 0.15


def test_sign_test_value_and_false_positive_rate_on_clusters():
    r = stats.sign_test([0.5, 0.2, 0.9, 0.1, 0.3], [0.1, 0.2, 0.3, 0.2, 0.0])
    assert (r.higher, r.lower) == (3, 1)
    assert r.p == pytest.approx(0.625)
    rng = np.random.default_rng(3)
    sims = 1000
    x, y = clustered_pairs(rng, sims, 30, 9)
    xr, yr = x.mean(2), y.mean(2)
    rejected = np.mean([stats.sign_test(xr[i], yr[i]).p < 0.05 for i in range(sims)])
    assert rejected <= bound(sims)


def test_wilcoxon_value_and_false_positive_rate_on_clusters():
    x, y = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]), np.array(
        [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
    r = stats.wilcoxon(x, y)
    ref = st.wilcoxon(x - y)
    assert (r.statistic, r.p) == pytest.approx((ref.statistic, ref.pvalue))
    assert r.p == pytest.approx(0.0390625)      # Hollander & Wolfe's depression data: exact p = 0.039
    assert stats.wilcoxon(x, x).p == 1.0
    rng = np.random.default_rng(4)
    sims = 400
    a, b = clustered_pairs(rng, sims, 30, 9)
    ar, br = a.mean(2), b.mean(2)
    rejected = np.mean([stats.wilcoxon(ar[i], br[i]).p < 0.05 for i in range(sims)])
    assert rejected <= bound(sims)


def test_cluster_bootstrap_matches_scipy_and_false_positive_rate():
    rng = np.random.default_rng(5)
    data = rng.normal(1.0, 1.0, (40, 9)) + rng.normal(0, 2, (40, 1))
    ci = stats.cluster_bootstrap(data, n_boot=4000)
    ref = st.bootstrap((data.mean(1),), np.mean, n_resamples=4000, method="percentile",
                       random_state=0).confidence_interval
    assert ci.low == pytest.approx(ref.low, abs=0.1) and ci.high == pytest.approx(ref.high, abs=0.1)
    assert ci.low < data.mean() < ci.high
    sims = 400                                   # clustered differences with mean 0: the interval's null
    x, y = clustered_pairs(rng, sims, 40, 9)
    d = x.astype(float) - y
    rejected = np.mean([not (c.low <= 0 <= c.high) for c in
                        (stats.cluster_bootstrap(d[i], n_boot=500, seed=i) for i in range(sims))])
    assert rejected <= bound(sims)


def test_permutation_test_value_and_false_positive_rate():
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 1.2])
    labels = np.array([0, 0, 0, 1, 1, 1])

    def diff(lab):
        lab = np.asarray(lab)
        return (x * lab).sum(-1) / 3 - (x * (1 - lab)).sum(-1) / 3
    r = stats.permutation_test(diff, labels, n_perm=4999)
    # exact: the observed split is the largest of C(6,3) = 20, so p = 1/20
    assert r.p == pytest.approx(1 / 20, abs=0.01)
    assert stats.permutation_p(1.0, np.array([0.0, 2.0, 1.0])) == pytest.approx(3 / 4)
    rng = np.random.default_rng(6)
    sims = 500
    data = rng.normal(size=(sims, 20))
    lab = np.repeat([0, 1], 10)
    ps = []
    for i in range(sims):
        v = data[i]
        ps.append(stats.permutation_test(lambda l, v=v: (v * l).sum(-1) - (v * (1 - l)).sum(-1), lab,
                                         n_perm=199, seed=i).p)
    assert np.mean(np.array(ps) <= 0.05) <= bound(sims)


def test_benjamini_hochberg_value_and_error_rate():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    # textbook: sorted 0.005, 0.01, 0.03, 0.04, 0.5 against 0.01, 0.02, 0.03, 0.04, 0.05 -> first four pass
    assert stats.benjamini_hochberg(p).tolist() == [True, True, True, True, False]
    assert stats.benjamini_hochberg(np.array([0.03, 0.5])).tolist() == [False, False]
    rng = np.random.default_rng(7)
    sims = 4000                                 # global null: any discovery is a false one (FWER = FDR)
    any_found = stats.benjamini_hochberg(rng.random((sims, 20))).any(1).mean()
    assert any_found <= bound(sims)


def test_hypergeom_tail_matches_fisher_and_false_positive_rate():
    # 20 of 100 marked, 10 drawn, 5 of them marked
    p = stats.hypergeom_tail(5, 100, 20, 10)
    table = [[5, 15], [5, 75]]
    assert p == pytest.approx(st.fisher_exact(table, alternative="greater").pvalue)
    rng = np.random.default_rng(8)
    sims = 4000
    k = rng.hypergeometric(20, 80, 10, sims)
    rejected = np.mean(st.hypergeom.sf(k - 1, 100, 20, 10) < 0.05)
    assert stats.hypergeom_tail(int(k[0]), 100, 20, 10) == pytest.approx(st.hypergeom.sf(k[0] - 1, 100, 20, 10))
    assert rejected <= bound(sims)


def test_mann_whitney_matches_scipy_and_false_positive_rate():
    x, y = np.array([1.1, 2.3, 0.4, 5.0, 3.3]), np.array([0.2, 0.9, 1.0, 0.3])
    r = stats.mann_whitney(x, y)
    ref = st.mannwhitneyu(x, y)
    assert (r.statistic, r.p) == (ref.statistic, ref.pvalue)
    a = st.mannwhitneyu(x, y, method="asymptotic", use_continuity=False).pvalue
    assert abs(stats.mann_whitney_z(x, y)) == pytest.approx(st.norm.isf(a / 2))
    c = st.mannwhitneyu(x, y, method="asymptotic", use_continuity=True).pvalue
    u = ref.statistic                           # U above its mean: continuity pulls z towards 0
    assert u > 10 and abs(stats.mann_whitney_z(x, y, continuity=-0.5)) == pytest.approx(st.norm.isf(c / 2))
    rng = np.random.default_rng(9)
    sims = 2000
    res = stats.mann_whitney(rng.normal(size=(sims, 15)), rng.normal(size=(sims, 20)))
    assert np.mean(res.p < 0.05) <= bound(sims)


def test_fleiss_kappa_textbook():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa = 0.210
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                       [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert stats.fleiss_kappa(counts) == pytest.approx(0.210, abs=5e-4)
    assert stats.fleiss_kappa(np.array([[3, 0], [0, 3], [3, 0]])) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        stats.fleiss_kappa(np.array([[1, 1], [2, 1]]))


def test_cochran_q_value_and_false_positive_rate():
    rng = np.random.default_rng(10)
    x = rng.random((30, 2)) < 0.5
    b, c = int((x[:, 0] & ~x[:, 1]).sum()), int((~x[:, 0] & x[:, 1]).sum())
    assert stats.cochran_q(x).statistic == pytest.approx((b - c) ** 2 / (b + c))   # k = 2: McNemar's chi2
    # textbook (Sheskin): 12 subjects x 3 conditions
    t = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 1],
                  [1, 1, 0], [0, 0, 0], [1, 0, 0], [1, 1, 0]], bool)
    cols, rows = t.sum(0), t.sum(1)
    q = 2 * (3 * (cols ** 2).sum() - rows.sum() ** 2) / (3 * rows.sum() - (rows ** 2).sum())
    assert stats.cochran_q(t).statistic == pytest.approx(q)
    assert stats.cochran_q(t).p == pytest.approx(st.chi2.sf(q, 2))
    sims = 3000                                 # subjects with their own rate, conditions exchangeable
    p = rng.beta(0.5, 0.5, (sims, 40, 1))
    res = stats.cochran_q(rng.random((sims, 40, 3)) < p)
    assert np.mean(res.p < 0.05) <= bound(sims)


def test_corrected_resampled_t_value_and_false_positive_rate():
    d = np.array([0.02, 0.05, -0.01, 0.03, 0.04, 0.00, 0.02, 0.06, 0.01, 0.03])
    plain = stats.corrected_resampled_t(d, n_train=10 ** 12, n_test=0)
    ref = st.ttest_1samp(d, 0.0)
    assert (plain.statistic, plain.p) == pytest.approx((ref.statistic, ref.pvalue))
    r = stats.corrected_resampled_t(d, n_train=90, n_test=10)
    t = d.mean() / math.sqrt(d.var(ddof=1) * (1 / 10 + 10 / 90))
    assert r.statistic == pytest.approx(t) and r.p == pytest.approx(2 * st.t.sf(abs(t), 9))
    # null: two equally good classifiers, 10 x repeated 10-fold CV on 100 shared examples
    rng = np.random.default_rng(11)
    sims, n, reps, k = 1000, 100, 10, 10
    diff = (rng.random((sims, n)) < 0.7).astype(float) - (rng.random((sims, n)) < 0.7)
    order = np.argsort(rng.random((sims, reps, n)), axis=2)
    folds = np.take_along_axis(np.broadcast_to(diff[:, None], (sims, reps, n)), order, 2)
    per_fold = folds.reshape(sims, reps * k, n // k).mean(2)
    res = stats.corrected_resampled_t(per_fold, n_train=90, n_test=10)
    assert np.mean(res.p < 0.05) <= bound(sims)
    naive = st.ttest_1samp(per_fold, 0.0, axis=1).pvalue          # the uncorrected test does not hold
    assert np.mean(naive < 0.05) > 0.2


def test_binomial_tail_is_the_upper_tail():
    from scipy.stats import binom
    for k, n, p in ((0, 10, 0.2), (3, 10, 1 / 6), (10, 10, 0.5), (40, 256, 1 / 6)):
        assert stats.binomial_tail(k, n, p) == pytest.approx(binom.sf(k - 1, n, p), rel=1e-9, abs=1e-15)
    assert stats.binomial_tail(0, 0, 0.5) == 1.0
    # its decision rule (p < 0.05) under the null: at most 5% of runs (+ simulation error), exact test
    rng = np.random.default_rng(0)
    runs = 2000
    fired = np.mean([stats.binomial_tail(int(rng.binomial(64, 1 / 6)), 64, 1 / 6) < 0.05 for _ in range(runs)])
    assert fired <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / runs)


def test_corrected_resampled_interval_is_the_t_interval_with_the_corrected_variance():
    from scipy.stats import t as t_dist
    v = np.array([0.9, 0.92, 0.88, 0.93, 0.89])
    se, ci = stats.corrected_resampled_interval(v, n_train=1600, n_test=400)
    assert se == pytest.approx(np.sqrt(v.var(ddof=1) * (1 / 5 + 400 / 1600)), rel=1e-12)
    half = t_dist.ppf(0.975, 4) * se
    assert ci.as_list() == pytest.approx([v.mean() - half, v.mean() + half], rel=1e-12)
    # the test and the interval agree: 0 lies outside the interval of differences exactly when p < 0.05
    d = v - 0.87
    _, dci = stats.corrected_resampled_interval(d, 1600, 400)
    assert (dci.low > 0) == (stats.corrected_resampled_t(d, 1600, 400).p < 0.05)


def test_t_interval_and_spearman_are_scipys():
    x = np.array([0.1, -0.3, 0.25, 0.4, 0.05, -0.1])
    ref = st.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert stats.t_interval(x).as_list() == [ref.low, ref.high]
    half = st.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))      # textbook: mean +- t s / sqrt(n)
    assert stats.t_interval(x).as_list() == pytest.approx([x.mean() - half, x.mean() + half], rel=1e-12)
    y = np.array([3.0, 1.0, 4.0, 1.5, 5.0, 9.0])
    r = st.spearmanr(x, y)
    assert (stats.spearman(x, y).statistic, stats.spearman(x, y).p) == (r.statistic, r.pvalue)
    assert stats.spearman(x, 2 * x + 1).statistic == pytest.approx(1.0)
