"""The records forget's steps pass to each other (what each step returns). Their JSON blocks are made in
:mod:`ganlens.analyses.forget.result`; JSON keys are those forget has always written."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass
class Settings:
    """One run's settings as given; ``layer_flag`` is the layer as the caller named it (an alias or a module
    path). The JSON's "settings" block holds them under their JSON names (``draws``: "control_draws")."""
    layer_flag: str
    negatives_per_image: int = 20
    C: float = 1.0
    select: str = "cv"
    top_k: int | None = None
    n: int = 8
    n_eval: int = 500
    dose_n: int = 100
    draws: int = 3
    folds: int = 5
    fill: str = "mean"
    seed: int = 0

    def to_dict(self) -> dict:
        return {("control_draws" if k == "draws" else k): v for k, v in asdict(self).items()}

    def call(self, boxes: str) -> str:
        """The Python call that makes this run (the provenance's "call")."""
        args = ", ".join(f"{'layer' if k == 'layer_flag' else k}={v!r}" for k, v in asdict(self).items())
        return f"ganlens.forget(gan, {boxes!r}, {args})"


class _OldKeys:
    """``record["key"]`` for records that were dicts before (``p["probe"]["weights"]``), so callers written
    against the dicts ``ganlens.forget.run_probe`` returned keep working; ganlens itself reads the attributes."""
    OLD: dict[str, str] = {}

    def __getitem__(self, key: str):
        return getattr(self, self.OLD.get(key, key))


@dataclass
class Cells(_OldKeys):
    """The classifier's training cells: X (M, C) float32 maps at one feature cell, y (M,) 1 = inside a box,
    groups (M,) the sample each cell is from, cells (M, 2) (row, col); n_ambiguous: cells left out."""
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    cells: np.ndarray
    n_ambiguous: int


@dataclass
class FoldModel:
    """One cross-validation fold's classifier: its standardised weights (C,) and the images it held out."""
    weights: np.ndarray
    test_images: np.ndarray


@dataclass
class Classifier(_OldKeys):
    """The box classifier fit on all cells: standardised weights (C,), intercept, training AUC, ``cv`` (the
    JSON's probe.cv block, or None with fewer than 2 images holding positives) and one model per fold."""
    weights: np.ndarray
    intercept: float
    train_auc: float
    cv: dict | None
    fold_models: list[FoldModel]


@dataclass
class Boxed:
    """The annotated samples with boxes: their positions in the box file (M,), latents (M, nz), images
    (M, nc, S, S) and the union of their boxes (M, S, S) bool."""
    index: np.ndarray
    z: torch.Tensor
    base: torch.Tensor
    masks: np.ndarray


@dataclass
class Change:
    """Mean |pixel change| (images in [0, 1]) inside and outside the boxes, and their ratio (None when
    nothing changed outside)."""
    inside: float
    outside: float
    ratio: float | None

    @classmethod
    def of(cls, inside: float, outside: float) -> "Change":
        return cls(inside, outside, inside / outside if outside > 0 else None)


@dataclass
class Fold:
    """One cross-validation fold: its classifier's weights, its held-out images with boxes (positions in
    :class:`Boxed`) and the fill values fit on its training images (None: zero fill)."""
    weights: np.ndarray
    held: np.ndarray
    fill: torch.Tensor | None

    @property
    def order(self) -> list[int]:
        return [int(i) for i in np.argsort(-self.weights, kind="stable")]

    @property
    def cap(self) -> int:
        return max(1, int((self.weights > 0).sum()))

    def positive(self) -> list[int]:
        return [i for i in self.order if self.weights[i] > 0] or self.order[:1]


@dataclass
class FoldRow:
    """One fold's held-out numbers for every candidate k: the top-k edit (inside, outside, ratio, score) and
    random sets of as many maps (their pooled inside/outside ratio ``random_ratio``)."""
    held_out_images: int
    cap: int
    random_ratio: float
    inside: list[float]
    outside: list[float]
    ratio: list[float | None]
    random_ratio_by_k: list[float | None]
    random_inside: list[float]
    random_outside: list[float]
    score: list[float]


@dataclass
class HeldOut:
    """A rule's localisation on held-out annotated images, pooled over folds, against random sets."""
    selected: Change
    control: list[Change]
    control_ratio_mean: float | None
    k_per_fold: list[int]
    samples: int
    how: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CVChoice:
    """The cross-validated choice of k (:func:`ganlens.analyses.forget.select.cv_selection`)."""
    k: int
    candidates: list[int]
    within_one_se: list[int]
    rule: str
    validated: bool
    folds: int
    random_orders: int
    fit_per_fold: str
    score: str
    score_mean: list[float]
    score_se: list[float]
    random_ratio: float
    ratio_mean: list[float | None]
    random_ratio_by_k_mean: list[float | None]
    inside_mean: list[float | None]
    outside_mean: list[float | None]
    per_fold: list[FoldRow]
    held_out: HeldOut

    def scores(self) -> dict:
        """The JSON's selection.cv_scores: everything but the candidates."""
        return {k: v for k, v in asdict(self).items() if k != "candidates"}


@dataclass
class Selection(_OldKeys):
    """Steps 1-2 (:func:`ganlens.analyses.forget.run_classifier`): the annotated samples' images, the fill
    values (C,) (None: zero fill), the classifier's cells and fit, the samples with boxes, the cross-validated
    choice (None when not asked), its folds, the rule that chose the maps and the maps it drops (weight
    order), the maps of the other rules, every map by weight, random orders of all maps (dropped maps last)
    and the controls (their first len(dropped) maps)."""
    OLD = {"data": "cells", "probe": "classifier"}
    annotated: torch.Tensor
    fill: torch.Tensor | None
    cells: Cells
    classifier: Classifier
    boxed: Boxed
    cv: CVChoice | None
    folds: list[Fold]
    rule: str
    dropped: list[int]
    order: list[int]
    perms: list[list[int]]
    others: dict[str, list[int]]
    controls: list[list[int]]

    @property
    def fill_name(self) -> str:
        return "mean" if self.fill is not None else "zero"


@dataclass
class Dose:
    """The dose curve: the metric as ``levels`` maps are dropped in weight order and in each random order."""
    metric: str
    metric_label: str
    latents: str
    n_latents: int
    levels: list[int]
    weight_order: list[float | None]
    random_order: list[list[float | None]]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class InSample:
    """The chosen maps' localisation on every annotated image with boxes (optimistic: fit on them)."""
    selected: Change
    control_ratio_mean: float | None
    how: str


@dataclass
class Localisation:
    """Step 3: the chosen rule's held-out localisation, the other rules', the in-sample one and, without a
    detector, the dose curve of the in-sample ratio."""
    held: HeldOut
    others: dict[str, HeldOut]
    in_sample: InSample
    dose: Dose | None
