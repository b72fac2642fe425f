"""Steps 5-6 with a detector: the object's rate on fresh latents before, after, with random maps dropped, for
each other rule, and along the dose curve; each run generated and judged once."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.forget.record import Dose, Selection
from ganlens.analyses.forget.select import random_set
from ganlens.stats import clopper_pearson, mcnemar as _mcnemar


class Judged:
    """Images of the evaluation latents with some maps dropped, judged by the detector; each run (a key)
    is generated and measured once and kept in ``measured`` (the detector's measure() per key)."""

    def __init__(self, gen, judge, z: torch.Tensor, zero_gen=None):
        self.gen, (self.det, self.cls), self.z, self.measured = gen, judge, z, {}
        self.zero_gen = zero_gen or gen

    def __call__(self, key: tuple, drop, n: int, zero: bool = False) -> torch.Tensor:
        imgs = (self.zero_gen if zero else self.gen)(self.z[:n], [int(i) for i in drop])
        self.measured[key] = self.det.measure(self.det.segment(imgs), self.cls,
                                              all_classes=key[0] in ("before", "after", "control"))
        return imgs

    def rate(self, key: tuple, drop, n: int) -> float:
        if key not in self.measured:
            self(key, drop, n)
        return self.measured[key]["present"][:n].mean()

    def present(self, *key) -> np.ndarray:
        """The detector's verdict (N,) bool of a run already judged."""
        return self.measured[key]["present"]


def run_removal(judged: Judged, sel: Selection, n_eval: int) -> None:
    """Step 6: before, after, the controls, and each other rule with controls of its size, on all
    ``n_eval`` latents."""
    judged(("before",), (), n_eval)
    judged(("after",), sel.dropped, n_eval)
    for d, c in enumerate(sel.controls):
        judged(("control", d), c, n_eval)
    for name, maps in sel.others.items():
        zero = name == "paper_literal"
        judged(("other", name), maps, n_eval, zero)
        for d, q in enumerate(sel.perms):
            judged(("other_control", name, d), random_set(q, maps, len(maps)), n_eval, zero)


def run_dose(judged: Judged, sel: Selection, levels: list[int], dose_n: int) -> Dose:
    """Step 5: the object rate on the first ``dose_n`` latents as ``levels`` maps are dropped in weight
    order and in each random order (runs of step 6 are reused where they match)."""
    known = {tuple(m): ("other", r) for r, m in sel.others.items() if r != "paper_literal"}
    known[tuple(sel.dropped)] = ("after",)
    k_drop, w_curve, r_curve = len(sel.dropped), [], [[] for _ in sel.perms]
    for k in levels:
        if k == 0:
            m = judged.present("before")[:dose_n].mean()
            w_curve.append(m)
            for r in r_curve:
                r.append(m)
            continue
        w_curve.append(judged.rate(known.get(tuple(sel.order[:k]), ("w", k)), sel.order[:k], dose_n))
        for d, q in enumerate(sel.perms):
            key = ("control", d) if k == k_drop else ("r", d, k)
            r_curve[d].append(judged.rate(key, q[:k], dose_n))
    classes = judged.det.classes
    return Dose("rate", f"share of samples with a {classes[judged.cls]}", "fresh latents (detector)", dose_n,
                levels, [float(v) for v in w_curve], [[float(v) for v in r] for r in r_curve])


def binom_ci(k: int, n: int) -> list[float] | None:
    """Exact (Clopper-Pearson) 95% interval of a rate of ``k`` successes in ``n`` trials (None when n = 0)."""
    ci = clopper_pearson(k, n)
    return ci.as_list() if ci is not None else None


def rates(present: np.ndarray) -> tuple[float, list[float] | None]:
    """(rate, exact 95% interval) of booleans (N,)."""
    return float(present.mean()), binom_ci(int(present.sum()), len(present))


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact McNemar test of paired booleans a (before) and b (after) on the same latents (a JSON block)."""
    return _mcnemar(a, b).lost_gained()
