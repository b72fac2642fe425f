"""The records the steps of ``ganlens.filters`` pass on (scan, IoU counts, purity, the layer comparison,
guided maps, the whole analysis), and :func:`result`, the one place they become ``filters.json`` and a
Result. Every JSON key is made here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ganlens import stats
from ganlens.analyses.filters.defs import (ABOVE_RULE, DETECTOR_IOU, IOU_DOC, LAYER_RULE, NO_SEMANTIC, NOT_SPATIAL,
                                           PURITY_DOC, PURITY_NULL_DOC, RANDOM_INIT_DOC, RESPONSE_DOC, SCORE_DOC,
                                           SHOW)
from ganlens.analyses.filters.figure import plot
from ganlens.core.gan import GAN
from ganlens.core.layers import Layer
from ganlens.core.results import Result, provenance


def _r6(x) -> float:
    return round(float(x), 6)


# ----------------------------------------------------------------------------------------------- the scan

@dataclass
class Top:
    """The K strongest responses per unit: values, image indices and (y, x) argmax, each (U, K)/(U, K, 2)."""

    values: torch.Tensor
    images: torch.Tensor
    positions: torch.Tensor

    def first(self, k: int) -> "Top":
        """The K' <= K strongest (they are sorted)."""
        return Top(self.values[:, :k], self.images[:, :k], self.positions[:, :k])

    def rows(self, units: list[int]) -> "Top":
        """Only the rows of ``units`` (row = unit index when every unit of the layer was scanned)."""
        idx = torch.as_tensor(units, dtype=torch.long)
        return Top(self.values[idx], self.images[idx], self.positions[idx])


@dataclass
class Scan:
    """One net's pass over the data: its top responses, each unit's quantile threshold (U,), the level a
    unit is compared with to fire (U,, :func:`~ganlens.analyses.filters.scan.firing_cut`) and, when they fit
    in memory, the units' activation maps (N, U, h, w) float32 on the CPU (else None)."""

    top: Top
    threshold: torch.Tensor
    maps: torch.Tensor | None
    cut: torch.Tensor


# ------------------------------------------------------------------------------------------ the scores

@dataclass
class NetCounts:
    """One net's fired pixels: per unit and mask value (U, V), and per unit in all (U,), int64."""

    inter: torch.Tensor
    fired: torch.Tensor


@dataclass
class Counts:
    """What the IoU is computed from: how many images had a mask, the pixels of each mask value (V,) and
    each net's :class:`NetCounts`, V = 1 + the largest mask value."""

    images: int
    area: torch.Tensor
    nets: dict[str, NetCounts]


@dataclass
class Labels:
    """Integer class labels of the data's images (N,), the class names (None: the numbers) and where they
    came from."""

    values: np.ndarray
    classes: list[str] | None
    source: str


@dataclass
class UnitPurity:
    """A unit's most common class among its top-k images (``class_name``), its purity, that class's prior, the
    lift (purity / prior) and the permutation p-value of the purity (values as reported, 6 digits)."""

    unit: int
    class_name: str
    purity: float
    prior: float
    lift: float
    p_value: float

    def to_dict(self) -> dict:
        return {"class": self.class_name, "purity": self.purity, "prior": self.prior, "lift": self.lift,
                "p_value": self.p_value, "unit": self.unit}


@dataclass
class MannWhitney:
    seed: int
    U: float
    p_value: float


@dataclass
class AboveBest:
    """Trained units above the best random draw at their index, of ``n_units``; chance = N / (R + 1)."""

    count: int
    n_units: int
    chance: float
    p_value: float

    def to_dict(self) -> dict:
        return {"count": self.count, "n_units": self.n_units, "chance": _r6(self.chance), "p_value": self.p_value,
                "rule": ABOVE_RULE}


@dataclass
class LayerComparison:
    """The trained layer's unit scores (N,) against each random draw's (R, N): detector counts, one-sided
    Mann-Whitney per draw and the count above the best draw (none of these without draws)."""

    trained: np.ndarray
    draws: np.ndarray
    detectors_trained: int
    detectors_random: list[int]
    seeds: list[int]
    mann_whitney: list[MannWhitney] = field(default_factory=list)
    above_best: AboveBest | None = None

    @property
    def higher_than_every_draw(self) -> bool:
        return bool(all(t.p_value < stats.LEVEL for t in self.mann_whitney))

    @property
    def more_than_every_draw(self) -> bool:
        return bool(self.detectors_trained > max(self.detectors_random))

    def to_dict(self) -> dict:
        out = {"n_units": int(len(self.trained)), "trained_mean": _r6(self.trained.mean()),
               "random_means": [_r6(d.mean()) for d in self.draws],
               "detectors": {"trained": self.detectors_trained, "random": list(self.detectors_random)},
               "rule": LAYER_RULE}
        if not len(self.draws):
            return out
        out["mann_whitney"] = [{"seed": t.seed, "U": t.U, "p_value": t.p_value} for t in self.mann_whitney]
        out["higher_than_every_draw"] = self.higher_than_every_draw
        out["detectors"]["more_than_every_draw"] = self.more_than_every_draw
        out["above_best_draw"] = self.above_best.to_dict()
        return out


@dataclass
class IouScores:
    """Every unit of every net scored by IoU with the concepts: the counts, the concepts measured
    ({mask value: name}), per net IoU and precision tables (U, concepts) and thresholds (U,), the units each
    net shows, and the layers compared on each unit's best-concept IoU."""

    counts: Counts
    concepts: dict[int, str]
    iou: dict[str, np.ndarray]
    precision: dict[str, np.ndarray]
    thresholds: dict[str, torch.Tensor]
    shown: dict[str, list[int]]
    layer: LayerComparison
    masks_source: str
    masks_kind: str
    spatial: bool
    quantile: float


@dataclass
class PurityScores:
    """Every unit of every net scored by the class purity of its top-``k`` images, the units each net shows,
    and the layers compared on purity."""

    k: int
    labels: str
    classes: int
    units: dict[str, list[UnitPurity]]
    shown: dict[str, list[int]]
    layer: LayerComparison


@dataclass
class Semantic:
    """What the units respond to: IoU and / or purity (None where not measured), the random draws' seeds and
    the units each net shows (by the headline score: IoU first)."""

    seeds: list[int]
    iou: IouScores | None
    purity: PurityScores | None
    shown: dict[str, list[int]]

    @property
    def headline(self) -> str | None:
        return "iou" if self.iou is not None else "purity" if self.purity is not None else None


@dataclass
class Guided:
    """Guided maps of a net's shown units: crops of the images and the maps (U, K, nc, r, r) (NaN outside
    the image), the activations (U, K) recomputed in float32, the crop boxes (U, K, 4) y0, x0, y1, x1 and
    the maps' autocorrelations (U, K)."""

    images: np.ndarray
    maps: np.ndarray
    activations: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray


@dataclass
class Filters:
    """The whole analysis: its settings, the semantic scores, each net's top images of its shown units and
    their guided maps, the call that made it and how long it took."""

    gan: GAN
    layer: Layer
    layer_flag: str
    units_flag: str | None
    top: int
    n: int
    seed: int
    seeds: list[int]
    device: torch.device
    data: str
    field: tuple[int, int, int]
    quantile: float
    semantic: Semantic
    tops: dict[str, Top]
    guided: dict[str, Guided]
    call: str
    search_seconds: float
    total_seconds: float


# ----------------------------------------------------------------------------------------- to JSON

def _layer_block(cmp: LayerComparison, score: str, rule: str) -> dict:
    return {**cmp.to_dict(), "score": score, "detector_rule": rule,
            "trained_scores": [_r6(v) for v in cmp.trained], "random_scores": [[_r6(v) for v in d] for d in cmp.draws]}


def _iou_unit(s: IouScores, key: str, i: int, total: float) -> dict:
    names, values = list(s.concepts.values()), list(s.concepts)
    table, prec = s.iou[key], s.precision[key]
    j = int(table[i].argmax())
    return {"unit": i, "label": names[j], "iou": _r6(table[i, j]), "precision": _r6(prec[i, j]),
            "lift": round(float(prec[i, j]) * total / float(s.counts.area[values[j]]), 6),
            "ious": {c: _r6(v) for c, v in zip(names, table[i])},
            "threshold": _r6(s.thresholds[key][i]),
            "fired_share": round(float(s.counts.nets[key].fired[i]) / max(total, 1), 6)}


def _iou_units(s: IouScores, key: str, total: float) -> list[dict]:
    if not s.concepts:
        return [{"unit": i, "label": None, "iou": 0.0, "precision": 0.0, "lift": 0.0} for i in s.shown[key]]
    return [_iou_unit(s, key, i, total) for i in s.shown[key]]


def iou_block(s: IouScores) -> dict:
    """``filters.json["semantic"]["iou"]``."""
    keys, area = list(s.iou), s.counts.area
    total = float(area.sum())
    rec = {key: _iou_units(s, key, total) for key in keys}
    short = ("unit", "label", "iou", "precision", "lift")
    return {"definition": IOU_DOC, "quantile": s.quantile, "detector_iou": DETECTOR_IOU, "spatial": s.spatial,
            "spatial_note": None if s.spatial else NOT_SPATIAL,
            "masks": {"source": s.masks_source, "kind": s.masks_kind, "images": s.counts.images,
                      "concepts": list(s.concepts.values()),
                      "pixel_share": {c: round(float(area[v]) / max(total, 1), 6) for v, c in s.concepts.items()}},
            "layer": _layer_block(s.layer, "each unit's best-concept IoU", f"IoU > {DETECTOR_IOU} (NetDissect)"),
            "trained": rec[keys[0]],
            "random": [{"seed": seed, "units": [{k: u[k] for k in short} for u in rec[key]]}
                       for seed, key in zip(s.layer.seeds, keys[1:])]}


def purity_block(s: PurityScores) -> dict:
    """``filters.json["semantic"]["purity"]``."""
    keys = list(s.units)
    return {"definition": PURITY_DOC, "null": PURITY_NULL_DOC, "k": s.k, "labels": s.labels, "classes": s.classes,
            "layer": _layer_block(s.layer, f"each unit's top-{s.k} max-class purity", PURITY_NULL_DOC),
            "trained": [s.units[keys[0]][i].to_dict() for i in s.shown[keys[0]]],
            "random": [{"seed": seed, "units": [s.units[key][i].to_dict() for i in s.shown[key]]}
                       for seed, key in zip(s.layer.seeds, keys[1:])]}


def semantic_block(s: Semantic) -> dict:
    """``filters.json["semantic"]``: "headline" names the score the figure and the summary line use."""
    return {"headline": s.headline, "note": NO_SEMANTIC if s.headline is None else None,
            "random_draws": {"seeds": s.seeds, "init": "ganlens.gan.random_like (the DCGAN paper's initialisation)"},
            "iou": iou_block(s.iou) if s.iou is not None else None,
            "purity": purity_block(s.purity) if s.purity is not None else None}


def compare(units: list[int], trained: list[float], draws: list[list[float]]) -> dict:
    """Descriptive: a score of the shown units per net, trained beside each draw (positions pair the nets'
    shown units; it says nothing about the layers: :func:`~ganlens.analyses.filters.layer.compare_layers`)."""
    out = {"units": units, "trained": trained, "trained_mean": _r6(np.mean(trained)), "random": draws}
    if draws:
        out["random_means"] = [_r6(np.mean(d)) for d in draws]
    return out


def _descriptive(f: Filters) -> dict:
    """The old headline, kept as a descriptive number: autocorrelation of the guided maps per net."""
    per = [[_r6(s) for s in g.scores.mean(1)] for g in f.guided.values()]
    return {"autocorrelation": {"definition": SCORE_DOC, **compare(f.semantic.shown["trained"], per[0], per[1:])}}


def _shown_units(g: Guided, top: Top, units: list[int]) -> dict:
    return {"units": [{"unit": u,
                       "image_indices": top.images[i].tolist(),
                       "activations": [_r6(a) for a in g.activations[i]],
                       "positions": top.positions[i].tolist(),
                       "crop_boxes": g.boxes[i].tolist(),
                       "autocorrelations": [_r6(s) for s in g.scores[i]],
                       "autocorrelation": _r6(g.scores[i].mean())}
                      for i, u in enumerate(units)]}


def _settings(f: Filters) -> dict:
    """The settings and definitions part of filters.json."""
    gan, origin, units_flag = f.gan, f.gan.origin(), f.units_flag
    return {
        "settings": {"checkpoint": origin["checkpoint"], "checkpoint_sha256": gan.sha256, "source": gan.source,
                     "config": origin["config"], "data": f.data, "layer": f.layer.name, "layer_flag": f.layer_flag,
                     "units_flag": units_flag, "top": f.top, "n_images_searched": f.n, "seed": f.seed,
                     "random_baseline": bool(f.seeds), "random_draws": len(f.seeds), "quantile": f.quantile,
                     "device": str(f.device), "search_precision": "float32"},
        "unit_choice": (f"each net's {SHOW} highest-scoring units on the headline score (the first {SHOW} without "
                        f"one); every unit of the layer is scored" if units_flag is None
                        else "first N channel indices, as in the paper" if "," not in units_flag
                        else "unit indices given by --units"),
        "response": RESPONSE_DOC,
        "random_init": RANDOM_INIT_DOC,
        "layer_shape": {"channels": f.layer.channels, "side": f.layer.side},
        "receptive_field": dict(zip(("start", "size", "stride"), f.field)),
    }


def to_dict(f: Filters) -> dict:
    """``filters.json``."""
    shown, random = f.semantic.shown, "random0" if f.seeds else None
    return {**_settings(f), "units": shown["trained"], "semantic": semantic_block(f.semantic),
            "descriptive": _descriptive(f),
            "trained": _shown_units(f.guided["trained"], f.tops["trained"], shown["trained"]),
            "random": _shown_units(f.guided[random], f.tops[random], shown[random]) if random else None,
            "search_nets": len(f.guided), "provenance": provenance(f.gan, f.seed, call=f.call, device=str(f.device)),
            # when/how fast, not results: kept under "timing" so that comparisons of runs can ignore it
            "timing": {"search_seconds": round(f.search_seconds, 3),
                       "search_images_per_second": round(f.n / f.search_seconds, 1),
                       "total_seconds": round(f.total_seconds, 3)}}


def result(f: Filters) -> Result:
    """The Result of kind "filters": ``filters.json``, the arrays ``<net>_images`` / ``<net>_maps``
    (U, K, nc, r, r) of the trained D and the first random D, and the figure "filters"."""
    drawn = {"trained": "trained", **({"random": "random0"} if f.seeds else {})}
    arrays = {f"{net}_{a}": getattr(f.guided[key], a) for net, key in drawn.items() for a in ("images", "maps")}
    return Result("filters", to_dict(f), arrays, plots={"filters": plot})
