"""The decision over draws: a draw (one set of exemplars and its 9 samples) is the unit. Rates carry
percentile-bootstrap intervals over draws; Y beats a control by the sign test over draws (:data:`RULE`)."""

from __future__ import annotations

import numpy as np

from ganlens import stats

ALPHA = 0.05           # Y beats a control when the sign test over draws gives p below this (and Y is higher)
LATENT_CONDITIONS = ("Y", "A_plus_C", "null", "A_alone", "C_alone")
CONTROLS = ("A_plus_C", "null", "pixel")   # the three that decide the claim; A_alone, C_alone are descriptive
BOOTSTRAP = 2000       # resamples of draws for the intervals
RULE = (f"Y beats a control when, over draws of exemplars, more draws have Y's rate of the expected outcome above "
        f"the control's than below and the two-sided sign test gives p < {ALPHA} (latent controls: the rate over "
        f"the draw's 9 samples; pixel: Y's centre vs the pixel result of the same draw); the claim that the "
        f"arithmetic works stands only when Y beats all of A_plus_C, null and pixel (A_alone, C_alone are "
        f"descriptive). One draw is one cluster: no test, the claim cannot stand")
CAVEAT = ("the 9 samples of a draw share its exemplars, so they are not independent (see "
          "draws_with_all_samples_equal): decisions count draws (sign test) and intervals resample draws "
          "(percentile bootstrap)")


def draw_rate(per_draw: np.ndarray, seed: int) -> dict:
    """Outcomes (D, S) bool of D draws x S samples -> rate over all samples with a 95 % interval by the
    percentile bootstrap over draws (the samples of a draw share its exemplars: a draw is the unit)."""
    x = np.asarray(per_draw, float).reshape(len(per_draw), -1)
    out = {"k": int(x.sum()), "n": int(x.size), "rate": float(x.mean()) if x.size else None, "ci95": None}
    if len(x) > 1:
        out["ci95"] = stats.cluster_bootstrap(x, n_boot=BOOTSTRAP, seed=seed).as_list()
    return out


def versus(y: np.ndarray, x: np.ndarray, seed: int) -> dict:
    """Y's per-draw rates y (D,) against a control's x (D,): the sign test over draws (the decision), the
    mean difference with a bootstrap 95 % interval over draws, and the Wilcoxon signed-rank p beside it."""
    r = stats.sign_test(y, x)
    d = np.asarray(y, float) - np.asarray(x, float)
    ci = stats.cluster_bootstrap(d, n_boot=BOOTSTRAP, seed=seed).as_list() if len(d) > 1 else None
    return {"draws_Y_higher": r.higher, "draws_Y_lower": r.lower, "draws": int(len(d)), "p": r.p,
            "test": "sign test over draws", "difference": float(d.mean()), "difference_ci95": ci,
            "wilcoxon_p": stats.wilcoxon(y, x).p}


def beats(y: np.ndarray, x: np.ndarray, alpha: float = ALPHA) -> bool:
    """The decision: more draws with Y's rate above the control's than below, and sign-test p < alpha."""
    r = stats.sign_test(y, x)
    return bool(r.higher > r.lower and r.p < alpha)


def claim_name(expected: dict[str, bool]) -> str:
    return " & ".join(a if v else f"no {a}" for a, v in expected.items())


def compare(lat_out: dict, pix_out: dict, claim: str, seed: int = 0) -> dict:
    """Rates (bootstrap 95 % intervals over draws) of every condition and measure; each control against Y on
    the claim measure over draws (:func:`versus`); which controls Y beats and whether the claim stands
    (rule: :data:`RULE`)."""
    conds = {c: {"rates": {m: draw_rate(o[:, i], seed) for m, o in lat_out.items()}}
             for i, c in enumerate(LATENT_CONDITIONS)}
    conds["Y"]["centre_rates"] = {m: draw_rate(o[:, 0, 4:5], seed) for m, o in lat_out.items()}
    conds["pixel"] = {"rates": {m: draw_rate(o[:, None], seed) for m, o in pix_out.items()}}
    y = lat_out[claim][:, 0].mean(1)
    rates = {c: lat_out[claim][:, i].mean(1) for i, c in enumerate(LATENT_CONDITIONS)}
    pairs = {c: (y, rates[c]) for c in LATENT_CONDITIONS[1:]}
    pairs["pixel"] = (lat_out[claim][:, 0, 4].astype(float), pix_out[claim].astype(float))
    for c, (a, b) in pairs.items():
        conds[c]["vs_Y"] = versus(a, b, seed)
    conds["pixel"]["vs_Y"]["compared_with"] = "Y's centre of each draw"
    won = {c: beats(*pairs[c]) for c in CONTROLS + ("A_alone", "C_alone")}
    y_all = lat_out[claim][:, 0]
    same = float(np.mean(y_all.all(1) | ~y_all.any(1)))
    return {"conditions": conds, "beats": won, "claim_stands": all(won[c] for c in CONTROLS),
            "draws_with_all_samples_equal": same}


