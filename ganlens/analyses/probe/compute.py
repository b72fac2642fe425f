"""The linear probe: D's features -> an L2-SVM over repeated stratified K-fold splits, against the same
probe on random Ds of the same architecture.

    r = probe(gan, "rooms:n=2000,seed=1")          # a Result: r["accuracy"], r["trained_beats_random"]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ganlens import stats
from ganlens.analyses.api import renamed
from ganlens.analyses.probe.cache import cache_dir, cached_features
from ganlens.analyses.probe.features import BATCH_SIZE, POOL, feature_dim, resolve_layers
from ganlens.analyses.probe.labels import labelled, labelled_set
from ganlens.analyses.probe.record import (Comparison, Features, Labelled, NetworkFit, Paired, ProbeRun, Settings,
                                           Split, SplitFit, to_result)
from ganlens.analyses.probe.search import C_GRID, fit_all
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.layers import Layer
from ganlens.core.results import Result

SPLITS = 5                 # stratified train/val/test splits (seeds --seed, --seed + 1, ...)
DRAWS = 5                  # random Ds (seeds --seed, --seed + 1, ...)
RULE = ("trained D higher only if, against every random draw, the Nadeau-Bengio corrected resampled t-test of "
        "the paired per-split differences (trained - random) is significant one-sided at 0.05 (an intersection-"
        "union test: level 0.05 whatever the number of draws); needs at least 2 splits")


# ------------------------------------------------------------------------------------------- settings

def parse_C(C) -> list[float]:
    """A comma string or a sequence of C values -> sorted distinct positive floats."""
    text = C if isinstance(C, str) else ",".join(map(str, C))
    try:
        cs = sorted({float(s) for s in text.split(",") if s.strip()})
    except ValueError:
        cs = []
    if not cs or not all(np.isfinite(c) and c > 0 for c in cs):
        raise GanlensError(f"--C {text}: expected a comma list of positive numbers, e.g. 0.001,0.01,0.1")
    return cs


def _check(pool, limit, val_fraction, test_fraction, batch_size, splits, draws) -> None:
    require_at_least({"pool": (pool, 1), "batch_size": (batch_size, 1), "limit": (limit, 1), "splits": (splits, 1),
                      "draws": (draws, 1)}, flags=True)
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 0.9):
        raise GanlensError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction}: each must "
                           f"be in (0, 1) and together below 0.9")


# --------------------------------------------------------------------------------------------- splits

def split_seeds(seed: int, splits: int) -> list[int]:
    """The seeds of the ``splits`` validation splits inside the folds: seed, seed + 1, ..."""
    return [seed + k for k in range(splits)]


def folds_of(test_fraction: float) -> int:
    """K of the K-fold scheme: the test share rounded to 1/K (0.2 -> 5 folds), at least 2."""
    return max(2, round(1 / test_fraction))


def kfold_splits(labels: np.ndarray, val_fraction: float, test_fraction: float, splits: int,
                 seed: int) -> list[Split]:
    """``splits`` (train, val, test) index triples: the test sets are the folds of repeated stratified K-fold
    (K = :func:`folds_of`, ``ceil(splits / K)`` repeats, scikit-learn ``RepeatedStratifiedKFold`` with
    ``random_state=seed``; the first ``splits`` folds in order), and each fold's rest is split into train
    and a stratified validation share ``val_fraction / (1 - 1/K)`` (seed ``seed + k`` for the k-th fold).
    Test sets of one repeat do not overlap, so the spread of their accuracies can be corrected for the
    training sets that do (:func:`ganlens.stats.corrected_resampled_t`)."""
    from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split
    k = folds_of(test_fraction)
    scheme = RepeatedStratifiedKFold(n_splits=k, n_repeats=-(-splits // k), random_state=seed)
    out = []
    for i, (rest, te) in enumerate(scheme.split(np.zeros(len(labels)), labels)):
        if i == splits:
            break
        tr, va = train_test_split(rest, test_size=val_fraction / (1 - 1 / k), stratify=labels[rest],
                                  random_state=seed + i)
        out.append(Split(np.sort(tr), np.sort(va), np.sort(te)))
    return out


# ---------------------------------------------------------------------------------- spread, comparison

def spread(values, n_train: int | None = None, n_test: int | None = None) -> dict:
    """{"mean", "std" (population, ddof=0), "min", "max", "n"} of a list of accuracies; with the training and
    test sizes of resampled splits also the Nadeau-Bengio corrected standard error of the mean,
    sqrt(s^2 (1/J + n_test/n_train)) (s^2 with ddof=1), and its t 95% interval ("ci", J - 1 degrees of
    freedom)."""
    v = np.asarray(values, float)
    out = {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max()),
           "n": int(len(v))}
    if n_train and n_test and len(v) > 1:
        se, ci = stats.corrected_resampled_interval(v, n_train, n_test)
        out.update(corrected_se=se, ci=ci.as_list())
    return out


def summarise(fits: list[SplitFit], classes: list[str], seed: int | None = None,
              sizes: tuple[int, int] | None = None) -> NetworkFit:
    """One network's split results -> its :class:`NetworkFit`: mean accuracy and spread over the splits, the
    C chosen on most splits (ties: the smaller), mean test recall per class. seed: the random D's (None for
    the trained one); sizes: the refit's training and test sizes (for the corrected standard error)."""
    per_class = {}
    for k, c in enumerate(classes):
        got = [f.per_class[k] for f in fits if f.per_class[k] is not None]
        per_class[c] = float(np.mean(got)) if got else None
    s = spread([f.accuracy for f in fits], *(sizes or (None, None)))
    cs = [f.C for f in fits]
    modal = min(set(cs), key=lambda c: (-cs.count(c), c))
    return NetworkFit(seed=seed, accuracy=s["mean"], spread=s, C=modal, per_class=per_class, splits=fits)


def _one_sided(test: stats.TestResult, diff: np.ndarray) -> float:
    """One-sided p (trained higher) from the two-sided corrected t; differences without spread carry no
    evidence (p = 1)."""
    if np.ptp(diff) == 0:
        return 1.0
    return float(test.p / 2 if test.statistic > 0 else 1 - test.p / 2)


def _paired(seed: int, diff: np.ndarray, n_train: int, n_test: int) -> Paired:
    test = stats.corrected_resampled_t(diff, n_train, n_test) if len(diff) > 1 else None
    return Paired(seed=seed, mean_difference=float(diff.mean()), splits_higher=int((diff > 0).sum()),
                  splits_tied=int((diff == 0).sum()), splits=int(len(diff)),
                  corrected_t=None if test is None else float(test.statistic),
                  p_one_sided=None if test is None else _one_sided(test, diff))


def compare_random(trained: np.ndarray, draws: dict[int, np.ndarray], n_train: int, n_test: int,
                   level: float = stats.LEVEL) -> Comparison:
    """The claim "trained D beats random Ds" from test accuracies per split: ``trained`` (splits,) and
    ``draws`` {random D's seed: (splits,)} on the same splits.

    Rule (:data:`RULE`): against each draw, the corrected resampled t-test (:func:`ganlens.stats.
    corrected_resampled_t`, n_train / n_test: the sizes the refit trained and tested on) of the paired
    differences over the splits, one-sided; the claim needs every draw's p below ``level``. Beside it the
    former descriptive rule (mean above every draw's mean).
    """
    t = np.asarray(trained, float)
    means = {s: float(np.asarray(a, float).mean()) for s, a in draws.items()}
    mean, best = float(t.mean()), max(means, key=means.get)
    paired = [_paired(s, t - np.asarray(a, float), n_train, n_test) for s, a in draws.items()]
    every = np.array([a for a in draws.values()], float).max(0)
    ps = [q.p_one_sided for q in paired]
    return Comparison(
        rule=RULE, level=level, trained_beats_random=bool(all(p is not None and p < level for p in ps)),
        largest_p_one_sided=None if None in ps else float(max(ps)), above_every_draw_mean=bool(mean > means[best]),
        trained_mean=mean, best_random_seed=best, best_random_mean=means[best],
        margin_over_best=float(mean - means[best]),
        draws_beaten=int(sum(mean > m for m in means.values())), draws=len(draws),
        splits_above_every_draw=int((t > every).sum()), paired=paired)


# ------------------------------------------------------------------------------------------- analysis

@renamed(random_draws="draws")
def probe(gan, data, *, task: str | None = None, layers: str | list = "all", pool: int = POOL, C=C_GRID,
          val_fraction: float = 0.2, test_fraction: float = 0.2, splits: int = SPLITS, draws: int = DRAWS,
          limit: int | None = None, seed: int = 0, cache: str | Path | bool | None = None,
          batch_size: int = BATCH_SIZE, progress: bool = False) -> Result:
    """Linear L2-SVM probe on D's features over several splits, against the same probe on several random
    Ds of the same architecture.

    gan: a :class:`ganlens.GAN` with a D. data: a labelled data spec (``rooms:n=N,seed=S``, a folder
    with one sub-folder per class, an .npz with ``labels``) or an opened :class:`ganlens.data.ImageSet`.
    task: the label of rooms data (``has-window`` (default) or ``windows``). layers: ``"all"`` hidden D
    layers, or names / aliases / module paths / Layer objects. pool: max-pool each layer to pool x pool.
    C: the SVM's C values to choose from. splits: stratified train/val/test splits (seeds ``seed``,
    ``seed + 1``, ...), each with its own choice of C. draws (formerly random_draws): random Ds
    ``gan.random_D(seed + i)``. limit: use the first N images. cache: a feature-cache folder, True for the
    default one, None for no cache. Returns a Result of kind "probe" (figure "probe"): ``accuracy`` is the
    trained D's mean test accuracy over the splits, ``random_accuracy`` the mean over the random draws,
    ``comparison`` the rule and its verdict.
    """
    Cs = parse_C(C)
    _check(pool, limit, val_fraction, test_fraction, batch_size, splits, draws)
    D = gan.require_D()
    chosen = resolve_layers(gan, layers)
    data, task = labelled_set(gan, data, task)
    n = len(data) if limit is None else min(limit, len(data))
    call = (f"ganlens.probe(gan, {data.spec!r}, task={task!r}, layers={_shown(layers)!r}, pool={pool}, C={Cs}, "
            f"val_fraction={val_fraction}, test_fraction={test_fraction}, splits={splits}, "
            f"draws={draws}, limit={limit}, seed={seed})")
    s = Settings(chosen, feature_dim(chosen, pool), pool, Cs, val_fraction, test_fraction, splits, draws,
                 folds_of(test_fraction), seed, cache_dir(cache), call)
    nets = {"trained": D, **{f"random-{seed + i}": gan.random_D(seed + i) for i in range(draws)}}
    t0 = time.perf_counter()
    feats = cached_features(nets, chosen, data, task, n, pool, s.cache, gan.device, batch_size, progress)
    t_feat = time.perf_counter() - t0
    return to_result(_fit(feats, labelled(data, task, feats.labels), s, gan.device, progress, t_feat), gan)


def _shown(layers):
    """The ``layers`` argument as the provenance's call writes it: a string as given, Layer objects by name."""
    if isinstance(layers, (str, Layer)):
        return layers.name if isinstance(layers, Layer) else layers
    return [l.name if isinstance(l, Layer) else l for l in layers]


def _fit(feats: Features, lab: Labelled, s: Settings, device, progress: bool, features_seconds: float) -> ProbeRun:
    """The SVMs of every network on every split, each network summarised, the trained D compared with the
    random draws."""
    parts = kfold_splits(lab.labels, s.val_fraction, s.test_fraction, s.splits, s.seed)
    sizes = (len(parts[0].train) + len(parts[0].val), len(parts[0].test))    # the refit's training and test sizes
    t0 = time.perf_counter()
    fits = fit_all(feats.by_net, lab.labels, parts, s.Cs, len(lab.classes), device, progress)
    trained = summarise(fits["trained"], lab.classes, sizes=sizes)
    draws = [summarise(fits[f"random-{d}"], lab.classes, seed=d, sizes=sizes) for d in s.draw_seeds]
    comparison = compare_random(trained.split_accuracies, {d.seed: d.split_accuracies for d in draws}, *sizes)
    wide = sorted(k for k, x in feats.by_net.items() if x.dtype == np.float32)
    return ProbeRun(s, lab, parts, trained, draws, spread([d.accuracy for d in draws]), comparison, wide,
                    feats.cached, features_seconds, time.perf_counter() - t0)
