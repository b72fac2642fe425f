"""How dissection's edits are valued and measured, as GAN Dissection defines them (Bau et al., ICLR 2019;
CSAILVision/gandissect ``netdissect/aceoptimize.py``): the insertion value (each unit's mean activation where
the class is present), the paper's average causal effect (ACE), and the rates, McNemar tests and one-sided
effects of before vs after vs random units (docs/methods.md, dissect)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ganlens import stats
from ganlens.core.results import finite_or_none


def class_shares(labels: torch.Tensor, k: int, side: int, shape: tuple[int, int]) -> torch.Tensor:
    """(B, K, h, w): the share of each layer cell covered by each class, from labels (B, S*S) (K: no class)."""
    onehot = F.one_hot(labels.view(len(labels), side, side), k + 1)[..., :k].permute(0, 3, 1, 2).float()
    return F.adaptive_avg_pool2d(onehot, shape)


def add_present(acc, a: torch.Tensor, shares: torch.Tensor) -> None:
    """Add one chunk to ``acc`` (a :class:`~ganlens.analyses.dissect.record.LayerCounts`): ``present_sum``
    (C, K) += sum of activation x class share, ``present_weight`` (K,) += sum of class shares.
    a: (B, C, h, w); shares: (B, K, h, w)."""
    acc.present_sum += torch.einsum("bchw,bkhw->ck", a.double(), shares.double())
    acc.present_weight += shares.double().sum((0, 2, 3))


def present_mean(present_sum: torch.Tensor, present_weight: torch.Tensor) -> torch.Tensor:
    """(C, K) each unit's mean activation where each class is present (gandissect's 1e-20 guard)."""
    return (present_sum / (present_weight[None, :] + 1e-20)).float()


def mean_ci(diff: np.ndarray) -> dict:
    """The mean of paired differences over latents with a t 95% interval."""
    mean = float(diff.mean()) if len(diff) else None
    if len(diff) < 2 or float(diff.std()) == 0.0:
        return {"value": mean, "ci95": [mean, mean] if mean is not None else None}
    ci = stats.t_interval(diff)
    return {"value": mean, "ci95": [finite_or_none(ci.low), finite_or_none(ci.high)]}


def paper_ace(inserted, ablated) -> dict:
    """The paper's ACE: mean over the same latents of s_c(inserted) - s_c(ablated) (their ``share``)."""
    return mean_ci(np.asarray(inserted.share) - np.asarray(ablated.share))


def add_ace(rec: dict, on, off, controls_on: list, controls_off: list) -> None:
    """Put the paper's ACE of the chosen units and of each random draw (and their mean) into a compare() record."""
    rec["ace"] = paper_ace(on, off)
    for d, a, b in zip(rec["control"]["draws"], controls_on, controls_off):
        d["ace"] = paper_ace(a, b)
    draws = rec["control"]["draws"]
    rec["control"]["ace_mean"] = float(np.mean([d["ace"]["value"] for d in draws])) if draws else None


def rate(present: np.ndarray) -> dict:
    """Share of True with its exact (Clopper-Pearson) 95% interval."""
    x, n = int(present.sum()), int(len(present))
    if n == 0:
        return {"rate": None, "ci95": None, "count": 0, "n": 0}
    return {"rate": x / n, "ci95": stats.clopper_pearson(x, n).as_list(), "count": x, "n": n}


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact McNemar test of paired booleans on the same latents (forget's keys: lost, gained, p_value)."""
    return stats.mcnemar(a, b).lost_gained()


def summary(m) -> dict:
    """Rate, mean share and (with a region) mean IoU with the region of one measure."""
    out = rate(m.present)
    out["share"] = float(m.share.mean()) if len(m.share) else None
    if m.iou is not None:
        out["iou_with_region"] = float(m.iou.mean()) if len(m.iou) else None
    return out


def compare(before, after, controls: list, units: list[list[int]], effect: str) -> dict:
    """Before vs after vs each random control (measures on the same latents); ``effect`` names the one-sided
    effect, mean of (share after - before) ("removal_effect" / "insertion_effect")."""
    draws = [dict(summary(c), units=u, **{effect: mean_ci(c.share - before.share)},
                  mcnemar_vs_before=mcnemar(before.present, c.present),
                  mcnemar_vs_edit=mcnemar(c.present, after.present)) for c, u in zip(controls, units)]

    def mean(key):
        return float(np.mean([d[key] for d in draws])) if draws and draws[0][key] is not None else None
    return {"before": summary(before), "after": summary(after),
            "mcnemar_before_vs_after": mcnemar(before.present, after.present),
            effect: mean_ci(after.share - before.share),
            "control": {"rule": "random units of the same layer outside the chosen ones, edited the same way",
                        "rate_mean": mean("rate"), "share_mean": mean("share"),
                        f"{effect}_mean": float(np.mean([d[effect]["value"] for d in draws])) if draws else None,
                        "draws": draws}}
