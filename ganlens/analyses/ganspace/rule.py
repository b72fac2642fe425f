"""The decision rule "principal directions change images more than random ones", and its null simulation.

    d = decide(principal, random)         # principal (L,), random (draws, L): per-latent mean change
    d.fires, d.p_value

Latents are the clusters: each latent gives one paired value per set of directions. The principal set must
beat *every* random draw (Wilcoxon signed-rank over latents, p < 0.05, principal higher). Firing implies that
the principal set's mean change exceeds every draw's, so if the principal set were just one more random set
the rule would fire with probability at most 1/(draws + 1) whatever the number of latents; the latent-level
tests make it stricter still. :func:`null_rate` measures the rate by simulation.
"""

from __future__ import annotations

import numpy as np

from ganlens import stats
from ganlens.analyses.ganspace.record import Decision, DrawTest

MIN_LATENTS = 6   # the fewest latents whose two-sided exact Wilcoxon p can be below 0.05 (2/64)


def decide(principal: np.ndarray, random: np.ndarray, level: float = stats.LEVEL) -> Decision:
    """The rule on per-latent changes: principal (L,) along the principal set, random (draws, L) along
    each random draw's set, same latents in the same order."""
    principal = np.asarray(principal, float)
    random = np.atleast_2d(np.asarray(random, float))
    tests = []
    for d, r in enumerate(random):
        diff = principal - r
        tests.append(DrawTest(d, stats.wilcoxon(principal, r).p, float(diff.mean()), int((diff > 0).sum()),
                              int((diff < 0).sum())))
    p_value = max(t.p if t.mean_difference > 0 else 1.0 for t in tests)
    return Decision(fires=bool(p_value < level), p_value=float(p_value), draws=tuple(tests), level=level)


def null_rate(pool: np.ndarray, draws: int, trials: int, seed: int = 0) -> tuple[int, int]:
    """How often the rule fires when the "principal" set is itself random: pool (M, L) per-latent mean changes
    of M random direction sets (M > draws); each trial takes draws + 1 distinct sets, the first playing the
    principal one. Returns (trials fired, trials). A trial whose principal set does not have the largest mean
    change cannot fire (firing needs a positive mean difference against every draw), so only the others are
    tested: the same count, found without thousands of Wilcoxon tests."""
    pool = np.asarray(pool, float)
    if len(pool) <= draws:
        raise ValueError(f"null_rate: {len(pool)} sets cannot give {draws} draws plus a principal set")
    rng = np.random.default_rng(seed)
    fired = 0
    for _ in range(trials):
        pick = rng.choice(len(pool), draws + 1, replace=False)
        means = pool[pick].mean(axis=1)
        if means[0] > means[1:].max():
            fired += decide(pool[pick[0]], pool[pick[1:]]).fires
    return fired, trials
