"""Per-unit thresholds for dissection: GAN Dissection's IQR rule (the default; gandissect ``collect_iqr``) or a
fixed per-unit quantile (``quantile:0.99``).

Under the IQR rule, on ``n_select`` selection latents (seeds ``SELECT_SEED + i``): a grid of levels per unit (the
1 - f quantiles of its upsampled maps, f in ``FRACS``), the pixels above each level per class, and each unit's
threshold is the level that maximises the information quality ratio (mutual information / joint entropy) with
its best class. Labels are measured on the dissection samples at that threshold. What follows the reference
and where it differs: docs/methods.md, dissect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ganlens.core.errors import GanlensError

FRACS = np.logspace(-3, 0, 100)      # fired fractions of the level grid (gandissect: torch.logspace(-3, 0, 100))
SELECT_SEED = 2_000_000_000          # selection latents: seeds SELECT_SEED + i (never the dissection samples)
MAX_VALUES = 1 << 15                 # upsampled values kept per unit to estimate its level grid
IQR_FLOOR = 0.01                     # gandissect dissect(iqr_threshold=0.01)
IOU_FLOOR = 0.05                     # gandissect dissect(iou_threshold=0.05)
QUANTILE_IOU_FLOOR = 0.04            # Network Dissection's floor, for the fixed-quantile rule
AGREEMENT = 0.8                      # gandissect: IQR only where P(both) + P(neither) > 0.8
MIN_CLASS_SHARE = 1e-3               # gandissect: no MI for classes under 1e-3 of the pixels


@dataclass
class Selection:
    """The IQR rule's choice per unit of one layer, on the selection latents: threshold (C,), nominal fired
    fraction (C,), class (C,) and IQR (C,) with that class."""
    threshold: torch.Tensor
    fraction: np.ndarray
    cls: np.ndarray
    iqr: np.ndarray


@dataclass(frozen=True)
class ThresholdRule:
    """``iqr`` (GAN Dissection's) or ``quantile`` (a fixed per-unit quantile ``q``)."""
    kind: str = "iqr"
    q: float = 0.99

    def __str__(self) -> str:
        return "iqr" if self.kind == "iqr" else f"quantile:{self.q:g}"

    @property
    def iou_floor(self) -> float:
        return IOU_FLOOR if self.kind == "iqr" else QUANTILE_IOU_FLOOR


def parse_rule(text, flag: str = "threshold") -> ThresholdRule:
    """``"iqr"`` or ``"quantile:Q"`` (0 < Q < 1) -> ThresholdRule; a one-line GanlensError otherwise."""
    if isinstance(text, ThresholdRule):
        return text
    s = str(text).strip()
    if s == "iqr":
        return ThresholdRule("iqr")
    if s.startswith("quantile:"):
        try:
            q = float(s.split(":", 1)[1])
        except ValueError:
            q = float("nan")
        if math.isfinite(q) and 0 < q < 1:
            return ThresholdRule("quantile", q)
    raise GanlensError(f"{flag} must be 'iqr' or 'quantile:Q' with 0 < Q < 1 (e.g. quantile:0.99), got {text!r}")


THRESHOLD_DOC = {
    "iqr": "GAN Dissection's IQR rule (gandissect collect_iqr): on the selection latents (seeds "
           f"{SELECT_SEED} + i), per unit the level among its 1 - f quantiles of the upsampled maps "
           "(f = logspace(-3, 0, 100)) that maximises IQR for its best class (agreement > 0.8, level > 0)",
    "quantile": "exact per-unit quantile of the activations at layer resolution over all samples and positions "
                "(running torch.topk), applied to the maps upsampled bilinearly to the image (align_corners=False)"}
LABEL_DOC = {"iqr": "the unit's IQR-best class if IQR > {iqr:g} and IoU > {floor:g} on the dissection samples "
                     "(gandissect's iqr_threshold and iou_threshold)",
              "quantile": "best class by IoU if IoU >= {floor:g} (Network Dissection's floor)"}


# --- the two passes over the selection latents ---------------------------------------------------------------

def _upsampled(a: torch.Tensor, Uh: torch.Tensor, Uw: torch.Tensor, elems: int, unit_major: bool = False):
    """Yield (first sample index, upsampled maps (b, C, S*S), or (C, b, S*S) with ``unit_major``) of activations
    a (B, C, h, w), in slices of at most ``elems`` values. Unit-major maps come out in that layout from the
    product itself, not from a transposed copy (the same values: each map's product is its own)."""
    C, S = a.shape[1], Uh.shape[0]
    step = max(1, elems // (C * S * S))
    for s in range(0, len(a), step):
        part = a[s:s + step]
        if unit_major:
            yield s, (Uh @ part.transpose(0, 1) @ Uw.T).reshape(C, len(part), -1)
        else:
            yield s, (Uh @ part @ Uw.T).flatten(2)                       # (b, C, S*S)


def sample_values(a: torch.Tensor, Uh, Uw, keep: int, gen: torch.Generator, elems: int) -> torch.Tensor:
    """(C, B * keep): the upsampled values of each unit at ``keep`` random pixels of each of B samples."""
    out = []
    for _, up in _upsampled(a, Uh, Uw, elems):
        pix = torch.randint(0, up.shape[-1], (up.shape[0], 1, keep), generator=gen).to(up.device)
        out.append(up.gather(2, pix.expand(-1, up.shape[1], -1)).transpose(0, 1).flatten(1))
    return torch.cat(out, 1)


def grid_from_values(values: torch.Tensor) -> torch.Tensor:
    """(C, L) levels: [:, i] is each unit's 1 - FRACS[i] quantile of its sampled values (so descending)."""
    v = values.sort(1).values
    m = v.shape[1]
    pos = torch.from_numpy((1 - FRACS) * (m - 1)).to(v.device)
    lo, hi = pos.floor().long(), pos.ceil().long()
    w = (pos - lo).to(v.dtype)
    return v[:, lo] * (1 - w) + v[:, hi] * w                           # FRACS[0] = 1e-3 -> highest level first


def count_levels(a: torch.Tensor, levels: torch.Tensor, Uh, Uw, labels: torch.Tensor, k: int, acc: torch.Tensor,
                 elems: int) -> None:
    """Add to ``acc`` (C, L + 1, K + 1) the pixels of each unit by "number of levels its value exceeds" and class.

    levels: (C, L) ascending per unit (the grid flipped); labels: (B, S*S) class per pixel (K: none)."""
    C, L = levels.shape
    small = acc.numel() < 2 ** 31                      # int32 codes: half the memory traffic of int64
    dtype = torch.int32 if small else torch.int64
    unit_base = (torch.arange(C, device=a.device, dtype=dtype) * (L + 1) * (k + 1))[:, None, None]
    lab = labels.to(dtype)
    for s, up in _upsampled(a, Uh, Uw, elems, unit_major=True):       # searchsorted's layout; bincount: any order
        b = up.shape[1]
        bucket = torch.searchsorted(levels, up.reshape(C, -1), out_int32=small).view(C, b, -1)
        idx = unit_base + bucket * (k + 1) + lab[None, s:s + b, :]
        acc += torch.bincount(idx.flatten(), minlength=acc.numel()).view(acc.shape).to(acc.dtype)


def above_counts(acc: torch.Tensor) -> torch.Tensor:
    """(C, L, K + 1) pixels above grid level i (FRACS order) per class, from the bucket histogram of
    :func:`count_levels`: a value exceeds ascending level j iff its bucket is > j, and grid level i is
    ascending level L - 1 - i."""
    above_asc = acc.flip(1).cumsum(1).flip(1)[:, 1:]                   # [:, j]: buckets > j
    return above_asc.flip(1)


def select_pass(latents: torch.Tensor, layers: list, forward, labels_of, k: int, mats, elems: int,
                chunk: int, seed: int) -> dict:
    """The two passes over the selection latents. forward(z) -> (images, {layer: activations (B, C, h, w)});
    labels_of(images) -> (B, S*S) int64 classes (K: none); mats(h) -> the (S, h) upsampling matrix.
    Returns {"grid": {layer: (C, L)}, "above": {layer: (C, L, K + 1)}, "class_pixels" (K,), "pixels"}."""
    n, names = len(latents), [lay.name for lay in layers]
    gen = torch.Generator().manual_seed(seed)
    values = {name: [] for name in names}
    for i in range(0, n, chunk):
        _, acts = forward(latents[i:i + chunk])
        for name in names:
            a = acts[name]
            Uh, Uw = mats(a.shape[-2]), mats(a.shape[-1])
            keep = max(1, min(MAX_VALUES // n, Uh.shape[0] * Uw.shape[0]))
            values[name].append(sample_values(a, Uh, Uw, keep, gen, elems))
    grid = {name: grid_from_values(torch.cat(v, 1)) for name, v in values.items()}
    del values
    acc = {name: None for name in names}
    class_pixels, pixels = torch.zeros(k, dtype=torch.float64), 0
    for i in range(0, n, chunk):
        x, acts = forward(latents[i:i + chunk])
        lab = labels_of(x)
        class_pixels += torch.bincount(lab.flatten().cpu(), minlength=k + 1)[:k].double()
        pixels += lab.numel()
        for name in names:
            a = acts[name]
            if acc[name] is None:
                acc[name] = torch.zeros(a.shape[1], len(FRACS) + 1, k + 1, dtype=torch.float64, device=a.device)
            count_levels(a, grid[name].flip(1).contiguous(), mats(a.shape[-2]), mats(a.shape[-1]), lab, k,
                         acc[name], elems)
    return {"grid": grid, "above": {name: above_counts(v).cpu() for name, v in acc.items()},
            "class_pixels": class_pixels, "pixels": float(pixels)}


# --- information ---------------------------------------------------------------------------------------------

def joint(inter: torch.Tensor, fired: torch.Tensor, class_pixels: torch.Tensor, pixels: float) -> torch.Tensor:
    """(2, 2, ...) joint probabilities of (unit fires, class is there): inter (..., K), fired (..., 1) or
    broadcastable, class_pixels (K,). As gandissect: [[both, fired only], [class only, neither]], clamped to [0, 1]."""
    truth = class_pixels / pixels
    both = inter / pixels
    pred = fired / pixels
    arr = torch.stack([torch.stack([both, pred - both]), torch.stack([truth - both, 1 - (truth + pred - both)])])
    return arr.clamp(0, 1)


def information(arr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mutual information, joint entropy) of (2, 2, ...) joint probabilities (nats; 0 log 0 = 0)."""
    row, col = arr.sum(1, keepdim=True), arr.sum(0, keepdim=True)
    with torch.no_grad():
        mi = torch.where(arr > 0, arr * torch.log(arr / (row * col)), torch.zeros_like(arr)).sum((0, 1))
        je = -torch.where(arr > 0, arr * torch.log(arr), torch.zeros_like(arr)).sum((0, 1))
    return mi.clamp(min=0), je.clamp(min=0)


def iqr_and_iou(inter, fired, class_pixels, pixels) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(IQR, IoU, agreement), each (..., K), of counts inter (..., K) and fired (...) over ``pixels`` pixels."""
    arr = joint(inter, fired[..., None], class_pixels, pixels)
    mi, je = information(arr)
    iqr = torch.where(je > 0, mi / je.clamp(min=1e-300), torch.zeros_like(mi))
    union = fired[..., None] + class_pixels - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
    return iqr, iou, arr[0, 0] + arr[1, 1]


def choose_levels(grid: torch.Tensor, above: torch.Tensor, class_pixels: torch.Tensor, pixels: float,
                  allowed: list[int]) -> dict:
    """Per unit of one layer, the reference's choice: IQR (C, L, K) over the level grid with I = 0 at the
    fraction-1 level and for rare classes, zeroed where agreement <= 0.8 or the level <= 0; each class's best
    level; the unit's class = argmax over ``allowed`` classes. Returns the :class:`Selection`."""
    k = len(class_pixels)
    inter, fired = above[..., :k], above.sum(-1)
    iqr, _, agree = iqr_and_iou(inter, fired, class_pixels, pixels)
    iqr[:, -1, :] = 0                                                  # fraction 1: no information
    iqr[:, :, class_pixels / pixels < MIN_CLASS_SHARE] = 0
    iqr[agree <= AGREEMENT] = 0
    iqr[(grid <= 0)[..., None].expand_as(iqr)] = 0
    best_iqr, best_level = iqr.max(1)                                  # (C, K)
    sub = best_iqr[:, allowed]
    cls = torch.as_tensor(allowed)[sub.argmax(1)]
    units = torch.arange(len(grid))
    lvl = best_level[units, cls]
    return Selection(grid[units, lvl].float(), torch.from_numpy(FRACS)[lvl].numpy(), cls.numpy(),
                     best_iqr[units, cls].numpy())


def unit_labels(rule: ThresholdRule, iou: np.ndarray, iqr: np.ndarray, allowed: list[int], chosen: np.ndarray | None,
                iou_floor: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(best class (C,), labelled (C,) bool) of a layer from IoU and IQR (C, K) at the units' thresholds.

    iqr rule: the class chosen on the selection latents (``chosen``), labelled when IQR > IQR_FLOOR and
    IoU > the IoU floor (gandissect's strict inequalities); quantile rule: the best allowed class by IoU,
    labelled when IoU >= the floor (as before)."""
    floor = rule.iou_floor if iou_floor is None else iou_floor
    rows = np.arange(len(iou))
    if rule.kind == "iqr":
        best = np.asarray(chosen)
        return best, (iqr[rows, best] > IQR_FLOOR) & (iou[rows, best] > floor)
    best = np.asarray(allowed)[iou[:, allowed].argmax(1)]
    return best, iou[rows, best] >= floor


def select_levels(latents: torch.Tensor, layers: list, forward, labels_of, k: int, mats, run: tuple,
                  allowed: list[int]) -> dict[str, Selection]:
    """:func:`select_pass` then :func:`choose_levels` per layer; run = (elems, chunk, seed). Returns
    {layer name: Selection} (thresholds on the CPU)."""
    elems, chunk, seed = run
    sel = select_pass(latents, layers, forward, labels_of, k, mats, elems, chunk, seed)
    return {lay.name: choose_levels(sel["grid"][lay.name].cpu(), sel["above"][lay.name], sel["class_pixels"],
                                    sel["pixels"], allowed) for lay in layers}
