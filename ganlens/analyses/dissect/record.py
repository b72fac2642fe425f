"""The records dissection passes between its steps, and the one place they become its JSON (:func:`to_json`):
the JSON keys are those of ``dissect.json`` (``control_draws`` stays the key of the ``draws`` setting)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ganlens.analyses.dissect import effects as fx
from ganlens.analyses.dissect import threshold as thr
from ganlens.core.layers import Layer

EVAL_SEED = 1_000_000_000   # evaluation latents of the edits: seeds EVAL_SEED + i (as forget), never the samples


@dataclass
class Settings:
    """The settings of one dissection as given (``layers`` and ``edit_layer`` as names, for the JSON)."""

    layers: object = None
    n: int = 1000
    threshold: str = "iqr"
    n_select: int = 200
    iou_floor: float | None = None
    classes: object = None
    remove: object = None
    insert: object = None
    edit_layer: str | None = None
    k: int | None = None
    fill: str = "zero"
    draws: int = 3
    n_eval: int = 500
    dose_n: int = 100
    region_class: str | None = None
    box: list | None = None
    region_size: int | None = None
    show: int = 8
    seed: int = 0

    def to_dict(self) -> dict:
        """The JSON's settings (the ``draws`` setting under its key ``control_draws``)."""
        return {("control_draws" if key == "draws" else key): v for key, v in asdict(self).items()}


# --- labels --------------------------------------------------------------------------------------------------

@dataclass
class LayerStats:
    """Pass 1 over the dissection samples for the units of one layer (and the IQR rule's choice, once run)."""

    threshold: torch.Tensor       # (C,) on G's device: the unit fires above it
    level: torch.Tensor           # (C,) mean of its kept top values (the scale of its heat maps)
    mean: torch.Tensor            # (C,) its mean activation
    top_samples: np.ndarray       # (C, TOP_SAMPLES) the samples where it is strongest
    k_kept: int                   # values kept per unit
    selection: thr.Selection | None = None


@dataclass
class LayerCounts:
    """Pass 2 sums for one layer: fired pixels (C,), of them per class (C, K), and the class-present sums."""

    inter: torch.Tensor
    fired: torch.Tensor
    present_sum: torch.Tensor     # (C, K) sum of activation x class share of the cell
    present_weight: torch.Tensor  # (K,) sum of class shares

    @classmethod
    def zeros(cls, channels: int, k: int, device) -> "LayerCounts":
        def z(*shape):
            return torch.zeros(*shape, dtype=torch.float64, device=device)
        return cls(z(channels, k), z(channels), z(channels, k), z(k))

    def cpu(self) -> "LayerCounts":
        return LayerCounts(self.inter.cpu(), self.fired.cpu(), self.present_sum.cpu(), self.present_weight.cpu())


@dataclass
class Counts:
    """Pass 2 over the dissection samples: per layer counts, pixels (K,) and images (K,) of each class."""

    layers: dict[str, LayerCounts]
    class_pixels: torch.Tensor
    class_images: torch.Tensor
    side: int


@dataclass
class UnitLabel:
    unit: int
    label: str | None
    rule: str
    best_class: str
    iou: float
    iqr: float
    threshold: float
    level: float
    coverage: float
    selected_fraction: float | None = None   # the IQR rule's choice on the selection latents
    selection_iqr: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.selected_fraction is None:
            del d["selected_fraction"], d["selection_iqr"]
        return d


@dataclass
class LayerLabels:
    """The labels of one layer's units, the units per class, and the IoU matrix (C, K) they come from."""

    layer: Layer
    counts: dict[str, int]
    units: list[UnitLabel]
    values_kept_per_unit: int
    iou: np.ndarray

    @property
    def labelled(self) -> int:
        return sum(u.label is not None for u in self.units)

    def to_dict(self) -> dict:
        lay = self.layer
        return {"layer": lay.name, "shape": list(lay.shape), "module": lay.module, "counts": self.counts,
                "labelled": self.labelled, "unlabelled": lay.channels - self.labelled,
                "values_kept_per_unit": self.values_kept_per_unit, "units": [u.to_dict() for u in self.units]}


@dataclass
class BestUnit:
    layer: str
    unit: int
    iou: float
    its_label: str | None


@dataclass
class ClassInfo:
    """One class over the dissection samples: pixel share, image rate, units labelled per layer, best unit."""

    pixel_share: float
    image_rate: float
    units: dict[str, int]
    total_units: int
    best_unit: BestUnit
    note: str | None = None


@dataclass
class Labels:
    """Everything the labelling steps produce."""

    stats: dict[str, LayerStats]
    counts: Counts
    layers: list[LayerLabels]
    classes: dict[str, ClassInfo]

    def of(self, layer: Layer) -> LayerLabels:
        return next(r for r in self.layers if r.layer.name == layer.name)


@dataclass
class ShownUnit:
    """A unit of the heat-map figure and the samples it is shown on."""

    cls: str
    layer: str
    unit: int
    iou: float
    seeds: list[int]

    def to_dict(self) -> dict:
        return {"class": self.cls, "layer": self.layer, "unit": self.unit, "iou": self.iou, "seeds": self.seeds}


# --- edits ---------------------------------------------------------------------------------------------------

@dataclass
class Target:
    """The units edited for one class: layer, units in IoU order, k, dose levels, random orders for controls."""

    cls: int
    name: str
    layer: Layer
    ranking: list[int]
    ious: list[float]
    k: int
    levels: list[int]
    perms: list[list[int]]

    def chosen(self, m: int | None = None) -> list[int]:
        return self.ranking[:self.k if m is None else m]

    def control(self, d: int, m: int | None = None) -> list[int]:
        return self.perms[d][:self.k if m is None else m]


@dataclass
class Eval:
    """The evaluation latents, their unedited class maps and the first images shown in figures."""

    z: torch.Tensor
    maps: np.ndarray
    shown: torch.Tensor


@dataclass
class Measure:
    """One class on N images: present (N,) bool, pixel share (N,) of the image or region, IoU (N,) with it."""

    present: np.ndarray
    share: np.ndarray
    iou: np.ndarray | None = None


@dataclass
class Dose:
    levels: list[int]
    n_latents: int
    by_iou: list[float]
    random: list[list[float]]


@dataclass
class Region:
    """Insertion regions: latents used (M,), cells (M, side, side) at the edit layer, pixels (M, S, S), boxes
    (M, 4) [x0, y0, x1, y1] exclusive, share of the region class in each square (None with a box)."""

    used: np.ndarray
    cells: torch.Tensor
    pixels: np.ndarray
    boxes: np.ndarray
    cover: np.ndarray | None
    square_cells: int | None = None


@dataclass
class RegionInfo:
    rule: str
    cls: str | None
    n_used: int
    n_left_out: int
    mean_cover: float | None

    def to_dict(self) -> dict:
        return {"rule": self.rule, "class": self.cls, "n_used": self.n_used, "n_left_out": self.n_left_out,
                "mean_cover": self.mean_cover}


@dataclass
class Edit:
    """One removal or insertion of a class, measured on the same latents: before, after, random controls, the
    paper's ACE arms (units at their class-present mean, ``on``, vs zeroed, ``off``: chosen units first, then
    each random draw), the dose curve."""

    kind: str                     # "remove" | "insert"
    target: Target
    before: Measure
    after: Measure
    controls: list[Measure]
    on: list[Measure]
    off: list[Measure]
    dose: Dose
    edit: str
    ace_edit: str
    values: list[float] | None = None   # insertion: the values the units are set to

    @property
    def effect(self) -> str:
        return "removal_effect" if self.kind == "remove" else "insertion_effect"

    def to_dict(self) -> dict:
        t = self.target
        units = [t.control(d) for d in range(len(t.perms))]
        rec = fx.compare(self.before, self.after, self.controls, units, self.effect)
        fx.add_ace(rec, self.on[0], self.off[0], self.on[1:], self.off[1:])
        if self.kind == "insert":
            rec["ablation_effect"] = fx.mean_ci(self.off[0].share - self.before.share)
        rec["dose"] = asdict(self.dose)
        rec.update(layer=t.layer.name, k=t.k, units=t.chosen(), unit_ious=t.ious[:t.k], edit=self.edit,
                   n_latents=len(self.before.present), ace_edit=self.ace_edit)
        if self.values is not None:
            rec["values"] = self.values
        return rec


@dataclass
class Insertion:
    """An insertion: where (``region``) and, when some latent had a region, the edit."""

    region: RegionInfo
    edit: Edit | None

    def to_dict(self) -> dict:
        if self.edit is None:
            return {"region": self.region.to_dict(), "skipped": "no latent has a region that qualifies"}
        return dict(self.edit.to_dict(), region=self.region.to_dict())


@dataclass
class Edits:
    remove: dict[str, Edit]
    insert: dict[str, Insertion]
    targets: dict[str, Target]
    region_class: str


AGREEMENT_RULE = ("dissection: units labelled with the class on this layer; forget: maps with probe weight > 0 "
                  "(python -m ganlens.forget's rule and settings); p-value: hypergeometric, overlap at least this "
                  "large by chance; top_iou_units_in_forget_maps: of the len(forget_maps) units of highest IoU")


@dataclass
class Agreement:
    """Units dissection labels with a box file's class vs the maps forget's probe selects (or why not)."""

    reason: str | None = None
    label: str | None = None
    layer: str | None = None
    boxes: str | None = None
    probe_cv_auc: float | None = None
    dissection_units: list[int] | None = None
    forget_maps: list[int] | None = None
    overlap: int = 0
    jaccard: float | None = None
    overlap_p_value: float | None = None
    overlap_expected_by_chance: float | None = None
    top_iou_units_in_forget_maps: int = 0
    rho: float | None = None
    rho_p_value: float | None = None

    def to_dict(self) -> dict:
        if self.reason is not None:
            return {"available": False, "reason": self.reason}
        d = asdict(self)
        del d["reason"]
        rho = {"rho": d.pop("rho"), "p_value": d.pop("rho_p_value")}
        return {"available": True, **d, "spearman_iou_vs_probe_weight": rho, "rule": AGREEMENT_RULE}


# --- the JSON ------------------------------------------------------------------------------------------------

def method(settings: Settings, min_area: float) -> dict:
    """The JSON's "method": each rule in words."""
    rule = thr.parse_rule(settings.threshold)
    floor = rule.iou_floor if settings.iou_floor is None else settings.iou_floor
    return {"threshold": thr.THRESHOLD_DOC[rule.kind],
            "iou": "pixels where the unit fires and the class is, over all samples / pixels where either is",
            "iqr": "mutual information / joint entropy of (unit fires, class is there) over all pixels",
            "label": thr.LABEL_DOC[rule.kind].format(floor=floor, iqr=thr.IQR_FLOOR),
            "presence": f"the class's largest 8-connected region covers >= {min_area:.4g} of the image "
                        f"(inside the region for insertion)",
            "ace": "GAN Dissection's average causal effect: mean over the same latents of (class pixel share "
                   "with the units set to their class-present mean - with them zeroed), of the image for "
                   "removal, of the region for insertion; 95% t interval",
            "removal_effect": "mean over latents of (class pixel share after removal - before)",
            "insertion_effect": "mean over latents of (share of the region after insertion - before)",
            "ablation_effect": "mean over latents of (share of the region with the units zeroed there - before)",
            "rates_ci": "exact binomial (Clopper-Pearson) 95%", "mcnemar": "exact, on the paired latents",
            "dissection_latents": "seeds 0 .. n-1", "edit_latents": f"seeds {EVAL_SEED} + i"}


def to_json(gan, seg, settings: Settings, labels: Labels, edits: Edits, agree: Agreement,
            shown: list[ShownUnit], boxes) -> dict:
    """The JSON of a dissect result (everything but "seconds" and "provenance")."""
    origin = gan.origin()
    n_units = sum(len(r.units) for r in labels.layers)
    labelled = sum(r.labelled for r in labels.layers)
    info = labels.classes
    return {
        "settings": dict(settings.to_dict(), checkpoint=origin["checkpoint"], checkpoint_sha256=gan.sha256,
                         source=gan.source, segmenter=seg.name,
                         boxes=None if boxes is None else str(getattr(boxes, "path", boxes)), device=str(gan.device)),
        "segmenter": seg.describe(),
        "method": method(settings, seg.min_area),
        "summary": {"units": n_units, "labelled": labelled, "unlabelled": n_units - labelled,
                    "per_class": {c: v.total_units for c, v in info.items() if v.total_units},
                    "region_class": edits.region_class},
        "layers": [r.to_dict() for r in labels.layers],
        "classes": {c: asdict(v) for c, v in info.items()},
        "remove": {c: e.to_dict() for c, e in edits.remove.items()},
        "insert": {c: e.to_dict() for c, e in edits.insert.items()},
        "agreement_with_forget": agree.to_dict(),
        "shown_units": [s.to_dict() for s in shown],
    }
