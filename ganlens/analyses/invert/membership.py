"""Statistics on inversions: the membership test and mode dropping.

Membership (Webster et al. 2019, "Detecting overfitting of deep generative networks via latent recovery";
Hayes et al. 2019 for the AUC framing): a generator that memorized its training images reconstructs them
better than held-out images of the same distribution. Score = reconstruction distance (smaller = "member").

* ``auc``: P(a training image is reconstructed better than a held-out one), ties 1/2 (the Mann-Whitney U of
  scipy divided by m n). 0.5 = no difference, 1 = every training image better.
* ``interval``: percentile bootstrap (each group resampled on its own; images are independent: one latent
  search per image).
* ``p_value``: one-sided permutation test of AUC > 0.5 (labels shuffled, ``permutations`` draws,
  p = (1 + #{AUC* >= AUC}) / (1 + draws)). The verdict "memorizes" needs p < ``ALPHA``.
* ``bound``: when not significant, an exact copy of a fraction f of training images (reconstructed
  perfectly, the rest like held-out ones) gives AUC = 0.5 + f / 2, so f <= 2 (upper - 0.5).

Mode dropping: a segmenter labels G's samples and the real images; per class the mean pixel share (the
fraction of an image's pixels in the class) with a 95% normal interval of the mean, and the difference
generated - real with a 95% interval (Welch standard error; images are independent). A class is
under-generated when the interval of the difference lies below zero. For inverted real images the RMS
reconstruction error inside each class's pixels (images where the class covers >= ``MIN_PIXELS`` pixels).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ganlens import stats as gstats

ALPHA = gstats.LEVEL         # the level of the "memorizes" verdict
LEVEL = gstats.CONFIDENCE    # the confidence of every interval
MIN_PIXELS = 4


# ---------------------------------------------------------------------------------------- membership

def auc(member: np.ndarray, nonmember: np.ndarray) -> float:
    """P(member distance < non-member distance), ties counted 1/2."""
    return float(gstats.mann_whitney(nonmember, member).statistic / (len(member) * len(nonmember)))


def _auc_sorted(member: np.ndarray, nonmember_sorted: np.ndarray) -> float:
    hi = np.searchsorted(nonmember_sorted, member, side="right")
    lo = np.searchsorted(nonmember_sorted, member, side="left")
    n = len(nonmember_sorted)
    return float(((n - hi) + 0.5 * (hi - lo)).sum() / (len(member) * n))


def bootstrap_interval(member: np.ndarray, nonmember: np.ndarray, draws: int, seed: int,
                       level: float = LEVEL) -> list[float]:
    """Percentile bootstrap interval of the AUC (each group resampled with replacement)."""
    rng = np.random.default_rng(seed)
    m, n = len(member), len(nonmember)
    vals = np.empty(draws)
    for b in range(draws):
        a = member[rng.integers(0, m, m)]
        c = np.sort(nonmember[rng.integers(0, n, n)])
        vals[b] = _auc_sorted(a, c)
    tail = (1 - level) / 2
    return [float(np.quantile(vals, tail)), float(np.quantile(vals, 1 - tail))]


def permutation_p(member: np.ndarray, nonmember: np.ndarray, draws: int, seed: int) -> float:
    """One-sided permutation p-value of AUC > 0.5 (member distances smaller), from ranks."""
    m = len(member)
    ranks = stats.rankdata(np.concatenate([member, nonmember]))
    observed = ranks[:m].sum()
    rng = np.random.default_rng(seed)
    null, done = [], 0
    while done < draws:
        k = min(1000, draws - done)
        null.append(rng.permuted(np.tile(ranks, (k, 1)), axis=1)[:, :m].sum(1))
        done += k
    # a smaller rank sum = members closer = a larger AUC: the null of -rank sum against -observed
    return gstats.permutation_p(-observed, -np.concatenate(null))


def membership(member: np.ndarray, nonmember: np.ndarray, *, draws: int = 2000, seed: int = 0,
               train_total: int | None = None) -> dict:
    """The membership test on reconstruction distances of training (member) and held-out images."""
    from sklearn.metrics import roc_curve
    a = auc(member, nonmember)
    ci = bootstrap_interval(member, nonmember, draws, seed)
    p = permutation_p(member, nonmember, draws, seed + 1)
    labels = np.r_[np.ones(len(member)), np.zeros(len(nonmember))]
    fpr, tpr, _ = roc_curve(labels, -np.r_[member, nonmember])
    out = {"auc": a, "interval": ci, "level": LEVEL, "p_value": p, "alpha": ALPHA, "permutations": draws,
           "bootstrap_draws": draws, "training_images": len(member), "heldout_images": len(nonmember),
           "median_distance": {"training": float(np.median(member)), "heldout": float(np.median(nonmember))},
           "memorizes": bool(p < ALPHA), "roc": {"fpr": fpr.round(5).tolist(), "tpr": tpr.round(5).tolist()}}
    out["copy_fraction_bound"] = float(min(1.0, max(0.0, 2 * (ci[1] - 0.5))))
    out["verdict"] = verdict(out, train_total)
    return out


def verdict(m: dict, train_total: int | None) -> str:
    """What the numbers rule out, and what they cannot."""
    lo, hi = m["interval"]
    head = (f"AUC {m['auc']:.3f} [{lo:.3f}, {hi:.3f}], permutation p = {m['p_value']:.3g} "
            f"({m['training_images']} training vs {m['heldout_images']} held-out images)")
    tested = m["training_images"]
    scope = (f"only {tested} of {train_total} training images were tested; copies among the others are not ruled "
             f"out" if train_total and train_total > tested else "copies of images that were not tested are not "
             "ruled out")
    if m["memorizes"]:
        return (f"memorizes: training images are reconstructed better than held-out ones ({head}); the best "
                f"reconstructed training images are the likely copies")
    return (f"no evidence of memorization at this sample size ({head}). This bounds the effect: an exact copy of a "
            f"share f of these training images would give AUC = 0.5 + f/2, so f <= {m['copy_fraction_bound']:.2f}; "
            f"it does not prove absence of copies: {scope}, and a copy G holds but the optimiser cannot reach "
            f"looks like no copy")


# ---------------------------------------------------------------------------------------- mode dropping

def class_shares(maps: np.ndarray, k: int) -> np.ndarray:
    """Class maps (N, S, S) -> per-image pixel share of each class (N, k)."""
    flat = maps.reshape(len(maps), -1)
    out = np.zeros((len(maps), k))
    for c in range(k):
        out[:, c] = (flat == c).mean(1)
    return out


def _mean_ci(x: np.ndarray) -> dict:
    m = float(x.mean()) if len(x) else None
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0
    q = stats.norm.ppf(0.5 + LEVEL / 2)
    return {"mean": m, "interval": None if m is None else [m - q * se, m + q * se], "n": int(len(x))}


def compare_shares(generated: np.ndarray, real: np.ndarray, classes: list[str]) -> dict:
    """Per class: mean share generated vs real, their difference with a 95% interval, and whether the class is
    under- (interval below 0) or over-generated (above 0)."""
    q = stats.norm.ppf(0.5 + LEVEL / 2)
    out = {}
    for c, name in enumerate(classes):
        g, r = generated[:, c], real[:, c]
        diff = float(g.mean() - r.mean())
        se = float(np.sqrt(g.var(ddof=1) / len(g) + r.var(ddof=1) / len(r)))
        ci = [diff - q * se, diff + q * se]
        out[name] = {"generated": _mean_ci(g), "real": _mean_ci(r), "difference": diff, "interval": ci,
                     "ratio": float(g.mean() / r.mean()) if r.mean() > 0 else None,
                     "under_generated": bool(ci[1] < 0), "over_generated": bool(ci[0] > 0)}
    return out


class MaskErrors:
    """Accumulates, per image and class, the squared reconstruction error and pixel count inside the class."""

    def __init__(self, k: int):
        self.k, self.sse, self.count = k, [], []

    def add(self, maps: np.ndarray, real: np.ndarray, recon: np.ndarray) -> None:
        err = (((real.astype(np.float64) - recon.astype(np.float64)) / 255) ** 2).mean(1).reshape(len(maps), -1)
        flat = maps.reshape(len(maps), -1)
        sse, cnt = np.zeros((len(maps), self.k)), np.zeros((len(maps), self.k))
        for c in range(self.k):
            inside = flat == c
            sse[:, c] = (err * inside).sum(1)
            cnt[:, c] = inside.sum(1)
        self.sse.append(sse)
        self.count.append(cnt)

    def result(self, classes: list[str]) -> dict:
        sse, cnt = np.concatenate(self.sse), np.concatenate(self.count)
        out = {}
        for c, name in enumerate(classes):
            ok = cnt[:, c] >= MIN_PIXELS
            rms = np.sqrt(sse[ok, c] / cnt[ok, c])
            out[name] = {"rms_error": _mean_ci(rms), "images": int(ok.sum())}
        return out
