"""The probe's records: what each step returns (@dataclass), and :func:`to_result`, the one place they
become the JSON dict (``probe.json``; its keys are fixed) and a :class:`ganlens.core.results.Result`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ganlens.analyses.probe.figure import plot_probe
from ganlens.core.layers import Layer
from ganlens.core.results import Result, provenance
from ganlens.data.sets import ImageSet


class Split(NamedTuple):
    """One split's sorted image indices: train, validation (to choose C) and test."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclass
class Labelled:
    """The labelled images of a run: the data set (opened at the model's size), the rooms task (None: the
    data's own labels) and what its label means, how many images are used, their labels (n,) int64, the
    class names and the count of each class."""

    data: ImageSet
    task: str | None
    meaning: str
    n: int
    labels: np.ndarray
    classes: list[str]
    counts: np.ndarray


@dataclass
class Features:
    """Features (n, F) of each network (float16, or float32 beyond float16's range), the labels (n,) and
    which networks were read from the cache."""

    by_net: dict[str, np.ndarray]
    labels: np.ndarray
    cached: list[str]


@dataclass
class SplitFit:
    """One split: C chosen on validation (``val_accuracy`` keyed by ``f"{C:g}"``), refit on train + val,
    scored once on test. per_class: test recall per class id (None: absent from the test set); confusion
    [[true][pred]]; objective: the refit's value per one-vs-rest problem."""

    accuracy: float
    C: float
    val_accuracy: dict[str, float]
    train_accuracy: float
    per_class: list[float | None]
    confusion: list[list[int]]
    converged: bool
    newton_steps: int
    objective: list[float]

    def to_dict(self, classes: list[str]) -> dict:
        return dict(dataclasses.asdict(self), per_class=dict(zip(classes, self.per_class)))


@dataclass
class NetworkFit:
    """One network over the splits: the random D's seed (None: the trained D), the mean test accuracy, its
    spread (:func:`ganlens.analyses.probe.compute.spread`), the C chosen on most splits, the mean test
    recall per class name, and every split."""

    seed: int | None
    accuracy: float
    spread: dict
    C: float
    per_class: dict[str, float | None]
    splits: list[SplitFit]

    @property
    def split_accuracies(self) -> np.ndarray:
        return np.array([f.accuracy for f in self.splits])

    def to_dict(self, classes: list[str]) -> dict:
        return {"seed": self.seed, "accuracy": self.accuracy, "spread": self.spread, "C": self.C,
                "per_class": self.per_class, "splits": [f.to_dict(classes) for f in self.splits]}


@dataclass
class Paired:
    """The trained D against one random draw, split by split (differences trained - random)."""

    seed: int
    mean_difference: float
    splits_higher: int
    splits_tied: int
    splits: int
    corrected_t: float | None
    p_one_sided: float | None


@dataclass
class Comparison:
    """The claim "trained D beats random Ds" (``rule``, ``trained_beats_random``) and what it rests on."""

    rule: str
    level: float
    trained_beats_random: bool
    largest_p_one_sided: float | None
    above_every_draw_mean: bool
    trained_mean: float
    best_random_seed: int
    best_random_mean: float
    margin_over_best: float
    draws_beaten: int
    draws: int
    splits_above_every_draw: int
    paired: list[Paired]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Settings:
    """What was asked for: D's layers and their feature counts, pooling, the C grid, split shares, the
    number of splits and of random draws, K of the K-fold scheme, the seed, the feature cache folder (None:
    none) and the Python call (for the provenance)."""

    layers: list[Layer]
    dims: dict[str, int]
    pool: int
    Cs: list[float]
    val_fraction: float
    test_fraction: float
    splits: int
    draws: int
    folds: int
    seed: int
    cache: Path | None
    call: str

    @property
    def split_seeds(self) -> list[int]:
        return [self.seed + k for k in range(self.splits)]

    @property
    def draw_seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.draws)]


@dataclass
class ProbeRun:
    """Everything one probe computed: settings, data, the splits, the fits of the trained D and of each
    random draw (and the spread of their mean accuracies), the comparison, the networks kept in float32,
    those read from the cache, and the seconds taken."""

    settings: Settings
    labelled: Labelled
    parts: list[Split]
    trained: NetworkFit
    draws: list[NetworkFit]
    random_spread: dict
    comparison: Comparison
    float32_networks: list[str]
    cached: list[str]
    features_seconds: float
    svm_seconds: float


def to_result(run: ProbeRun, gan) -> Result:
    """The probe's Result (kind "probe", figure "probe"): ``run`` as the JSON of probe.json."""
    s, lab, c = run.settings, run.labelled, run.comparison
    classes, first = lab.classes, run.parts[0]
    test_counts = np.bincount(lab.labels[first.test], minlength=len(classes))
    out = {
        "accuracy": run.trained.accuracy, "accuracy_spread": run.trained.spread, "C": run.trained.C,
        "feature_dim": sum(s.dims.values()), "per_class": run.trained.per_class,
        "random_accuracy": float(np.mean([d.accuracy for d in run.draws])),
        "random_best": c.best_random_mean, "trained_beats_random": c.trained_beats_random,
        "comparison": c.to_dict(), "trained": run.trained.to_dict(classes),
        "random": {"draws": [d.to_dict(classes) for d in run.draws], "seeds": [d.seed for d in run.draws],
                   "accuracy": run.random_spread},
        "chance": {"majority": float(test_counts.max() / test_counts.sum()), "uniform": 1 / len(classes)},
        "data": {"spec": lab.data.spec, "images": lab.n, "task": lab.task, "labels": lab.meaning,
                 "classes": classes, "class_counts": lab.counts.tolist()},
        "split": {"train": len(first.train), "val": len(first.val), "test": len(first.test), "seed": s.seed,
                  "seeds": s.split_seeds, "count": s.splits, "stratified": True,
                  "scheme": "repeated stratified K-fold", "folds": s.folds, "repeats": -(-s.splits // s.folds)},
        "timing": {"features_seconds": round(run.features_seconds, 3), "svm_seconds": round(run.svm_seconds, 3)},
        "provenance": provenance(gan, s.seed, call=s.call, device=str(gan.device), feature_cache={
            "folder": None if s.cache is None else str(s.cache), "read": run.cached}),
    }
    out.update(_setup(gan, s))
    out["features"]["float32_networks"] = run.float32_networks
    return Result("probe", out, plots={"probe": plot_probe})


def _setup(gan, s: Settings) -> dict:
    """What was probed and how: the model, the features, the SVM."""
    origin = gan.origin()
    return {
        "checkpoint": {"path": origin["checkpoint"], "sha256": gan.sha256, "source": gan.source,
                       "config": origin["config"], "trained_on": gan.provenance.get("data")},
        "features": {"layers": [l.name for l in s.layers], "pool": s.pool, "dim": sum(s.dims.values()),
                     "per_layer_dim": s.dims,
                     "dtype": "float16 (float32 for the networks in float32_networks: beyond float16's range)",
                     "definition": "each layer's output (after the modules that follow its conv/linear, e.g. "
                                   "its LeakyReLU) max-pooled to pool x pool (a smaller map: to its own size), "
                                   "flattened, concatenated; standardised over all the images (mean 0, "
                                   "variance 1 per feature, no labels used)"},
        "svm": {"model": "linear L2-SVM: squared hinge, L2 penalty on the weights and the intercept, one-vs-rest "
                         "(scikit-learn LinearSVC's objective)",
                "solver": "exact: Newton's method on the active set over one Gram matrix per network "
                          "(ganlens.svm); agrees with liblinear run to convergence",
                "C_grid": s.Cs,
                "selection": "per split: the C with the best validation accuracy (ties: smaller C); refit on "
                             "train + val; scored once on test"},
        "random_baseline": "the same features and splits from random Ds with the paper's N(0, 0.02) "
                           "initialisation, torch seeds --seed, --seed + 1, ... (--random-draws of them)",
    }
