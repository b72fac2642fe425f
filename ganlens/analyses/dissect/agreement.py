"""Agreement with forgetting: forget's probe is fit on the edit layer of a box file's class, and the units
dissection labels with the class are compared with the maps the probe gives a positive weight.

Every use of forget by dissection is here."""

from __future__ import annotations

import numpy as np

from ganlens import stats
from ganlens.analyses.dissect.record import Agreement, LayerLabels, Target
from ganlens.data.segment import Segmentation
from ganlens.core.errors import GanlensError
from ganlens.core.results import finite_or_none
from ganlens.analyses.forget import read_boxes, run_classifier

__all__ = ["agreement"]


def agreement(gan, boxes, seg: Segmentation, records: list[LayerLabels], targets: dict[str, Target],
              seed: int) -> Agreement:
    """Units dissection labels with the box file's class vs the maps forget's probe selects, on one layer (the
    class's edit layer, else the layer of its best unit); overlap, Jaccard, a hypergeometric p-value and the
    Spearman correlation of IoU with probe weight over all units of the layer."""
    if boxes is None:
        return Agreement("no box file given (boxes= / --boxes)")
    bf = read_boxes(boxes, gan)
    label = bf.label if bf.label in seg.classes else bf.label.rstrip("s")
    if label not in seg.classes:
        return Agreement(f"the box file's label {bf.label!r} is not a segmenter class")
    cls = seg.classes.index(label)
    rec = next(r for r in records if r.layer.name == targets[label].layer.name) if label in targets else \
        max(records, key=lambda r: float(r.iou[:, cls].max()))
    try:
        p = run_classifier(gan, rec.layer, bf, np.random.default_rng(seed), negatives_per_image=20, C=1.0,
                           folds=5, top_k=None, fill="mean", draws=1, seed=seed)
    except GanlensError as e:
        return Agreement(f"forget's probe: {e}")
    w = np.asarray(p.classifier.weights, float)
    iou = rec.iou[:, cls]
    dis = {u.unit for u in rec.units if u.label == label}
    fgt = {int(u) for u in np.flatnonzero(w > 0)}
    both, c = len(dis & fgt), len(w)
    rho = stats.spearman(iou, w)
    top = {int(u) for u in np.argsort(-iou, kind="stable")[:len(fgt)]}
    return Agreement(None, label, rec.layer.name, str(bf.path or "in-memory"), (p.classifier.cv or {}).get("auc_mean"),
                     sorted(dis), sorted(fgt), both, both / len(dis | fgt) if dis | fgt else None,
                     stats.hypergeom_tail(both, c, len(dis), len(fgt)) if dis and fgt else None,
                     len(dis) * len(fgt) / c, len(top & fgt), finite_or_none(rho.statistic), finite_or_none(rho.p))
