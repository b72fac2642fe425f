"""Interventions of ``ganlens.dissect`` as GAN Dissection defines them (Bau et al., ICLR 2019; CSAILVision/gandissect
``netdissect/aceoptimize.py``).

*Insertion value.* A unit inserted for class c is set to its mean activation where c is present:
gandissect's ``weighted_mean_present_feature``, sum over samples and cells of the layer of
``activation x (share of the cell covered by c)`` divided by the sum of those shares (the class mask is
average-pooled to the layer's resolution). Chosen and random units are set the same way, to *their own*
class-present mean, so random units get values they take in the class's presence, not their extremes.

*Average causal effect* (the paper's Eq. 3): ``ACE = E_z[s_c(units := inserted)] - E_z[s_c(units := 0)]`` on the
same latents, where s_c is the class's pixel share (of the image for removal, of the target region for
insertion). The one-sided effects against the unedited image are reported beside it under their own names:
``removal_effect`` (after removal - before), ``insertion_effect`` (after insertion - before) and
``ablation_effect`` (units zeroed in the region - before).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import ttest_1samp

from ganlens.core.results import finite_or_none


def class_shares(labels: torch.Tensor, k: int, side: int, shape: tuple[int, int]) -> torch.Tensor:
    """(B, K, h, w): the share of each layer cell covered by each class, from labels (B, S*S) (K: no class)."""
    onehot = F.one_hot(labels.view(len(labels), side, side), k + 1)[..., :k].permute(0, 3, 1, 2).float()
    return F.adaptive_avg_pool2d(onehot, shape)


def add_present(acc: dict, a: torch.Tensor, shares: torch.Tensor) -> None:
    """Add one chunk to ``acc``: "present_sum" (C, K) += sum of activation x class share, "present_weight" (K,)
    += sum of class shares. a: (B, C, h, w); shares: (B, K, h, w)."""
    acc["present_sum"] += torch.einsum("bchw,bkhw->ck", a.double(), shares.double())
    acc["present_weight"] += shares.double().sum((0, 2, 3))


def present_mean(present_sum: torch.Tensor, present_weight: torch.Tensor) -> torch.Tensor:
    """(C, K) each unit's mean activation where each class is present (gandissect's 1e-20 guard)."""
    return (present_sum / (present_weight[None, :] + 1e-20)).float()


def mean_ci(diff: np.ndarray) -> dict:
    """The mean of paired differences over latents with a t 95% interval."""
    mean = float(diff.mean()) if len(diff) else None
    if len(diff) < 2 or float(diff.std()) == 0.0:
        return {"value": mean, "ci95": [mean, mean] if mean is not None else None}
    ci = ttest_1samp(diff, 0.0).confidence_interval(0.95)
    return {"value": mean, "ci95": [finite_or_none(ci.low), finite_or_none(ci.high)]}


def paper_ace(inserted: dict, ablated: dict) -> dict:
    """The paper's ACE: mean over the same latents of s_c(inserted) - s_c(ablated) (``share`` of measure())."""
    return mean_ci(np.asarray(inserted["share"]) - np.asarray(ablated["share"]))


def add_ace(rec: dict, on: dict, off: dict, controls_on: list[dict], controls_off: list[dict]) -> None:
    """Put the paper's ACE of the chosen units and of each random draw (and their mean) into a compare() record."""
    rec["ace"] = paper_ace(on, off)
    for d, a, b in zip(rec["control"]["draws"], controls_on, controls_off):
        d["ace"] = paper_ace(a, b)
    draws = rec["control"]["draws"]
    rec["control"]["ace_mean"] = float(np.mean([d["ace"]["value"] for d in draws])) if draws else None
