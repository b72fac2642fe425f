"""Unit labels: thresholds (pass 1, and the IQR rule's selection), IoU counts (pass 2), each unit's class, and
per class the units labelled with it and why none are."""

from __future__ import annotations

import time

import numpy as np
import torch

from ganlens.analyses.dissect import threshold as thr
from ganlens.analyses.dissect.record import BestUnit, ClassInfo, Counts, LayerLabels, LayerStats, Labels, UnitLabel
from ganlens.data.segment import Segmentation
from ganlens.analyses.dissect.units import (CHUNK, ELEMS, forward, interp_matrix, iou_matrix, iou_pass,
                                            labels_tensor, quantile_pass)
from ganlens.core.layers import Layer


def iqr_thresholds(gan, layers: list[Layer], seg: Segmentation, n_select: int, allowed: list[int],
                   stats: dict[str, LayerStats], seed: int) -> None:
    """GAN Dissection's IQR thresholds on ``n_select`` selection latents (:func:`threshold.select_levels`):
    replaces each layer's threshold in ``stats`` and records the selection."""
    K, dev, mats = len(seg.classes), gan.device, {}
    with torch.inference_mode():
        chosen = thr.select_levels(gan.latents(range(thr.SELECT_SEED, thr.SELECT_SEED + n_select)), layers,
                                   lambda z: forward(gan, z, layers), lambda x: labels_tensor(seg(x), K, dev), K,
                                   lambda h: mats.setdefault(h, interp_matrix(h, gan.image_size, dev)),
                                   (ELEMS, CHUNK, seed), allowed)
    for name, sel in chosen.items():
        st = stats[name]
        st.threshold, st.selection = sel.threshold.to(st.threshold.device), sel


def label_units(layers: list[Layer], stats: dict[str, LayerStats], counts: Counts, seg: Segmentation,
                allowed: list[int], n: int, iou_floor: float | None, rule: thr.ThresholdRule) -> list[LayerLabels]:
    """Per layer: its units with label (:func:`threshold.unit_labels`), IoU and IQR with that class,
    threshold, fired fraction (``coverage``) and, under the IQR rule, the level's nominal fraction and
    selection IQR; units per class; the IoU matrix (C, K)."""
    records = []
    side = counts.side
    for lay in layers:
        c = counts.layers[lay.name]
        iou = iou_matrix(c.inter, c.fired, counts.class_pixels)
        iqr = thr.iqr_and_iou(c.inter, c.fired, counts.class_pixels, float(n * side * side))[0].numpy()
        st = stats[lay.name]
        sel = st.selection
        best, ok = thr.unit_labels(rule, iou, iqr, allowed, None if sel is None else sel.cls, iou_floor)
        th, lev = st.threshold.cpu().numpy(), st.level.cpu().numpy()
        cov = (c.fired / (n * side * side)).numpy()
        units = [UnitLabel(u, seg.classes[best[u]] if ok[u] else None, str(rule), seg.classes[best[u]],
                           float(iou[u, best[u]]), float(iqr[u, best[u]]), float(th[u]), float(lev[u]),
                           float(cov[u]), *_selection(sel, u)) for u in range(lay.channels)]
        labelled = [u.label for u in units if u.label is not None]
        records.append(LayerLabels(lay, {name: labelled.count(name) for name in seg.classes if name in labelled},
                                   units, st.k_kept, iou))
    return records


def _selection(sel: thr.Selection | None, u: int) -> tuple:
    """The IQR rule's choice for unit u on the selection latents (nothing under the quantile rule)."""
    if sel is None:
        return ()
    return float(sel.fraction[u]), float(sel.iqr[u])


def _best_units(records: list[LayerLabels], K: int) -> list[tuple[str, int, float]]:
    """Per class: (layer, unit, IoU) of its best unit, the first in layer and unit order among equals; one
    argmax per layer instead of a Python loop over classes x units (5,000 class names took minutes)."""
    best: list = [None] * K
    for r in records:
        m = np.asarray(r.iou, dtype=np.float64)[: len(r.units), :K]
        arg, val = m.argmax(0), m.max(0)
        for k in range(K):
            if best[k] is None or val[k] > best[k][2]:
                best[k] = (r.layer.name, int(arg[k]), float(val[k]))
    return best


def class_summary(records: list[LayerLabels], counts: Counts, seg: Segmentation, allowed: list[int], n: int,
                  iou_floor: float) -> dict[str, ClassInfo]:
    """Per class: pixel share and image rate over the dissection samples, units labelled per layer, the best
    unit anywhere, and a note saying with numbers why a class has no unit."""
    total = float(counts.class_pixels.sum()) or 1.0
    cover = max(u.coverage for r in records for u in r.units)
    by_name = {r.layer.name: r for r in records}
    out = {}
    for k, (name, best) in enumerate(zip(seg.classes, _best_units(records, len(seg.classes)))):
        per_layer = {r.layer.name: r.counts.get(name, 0) for r in records}
        rec = ClassInfo(float(counts.class_pixels[k]) / total, float(counts.class_images[k]) / n, per_layer,
                        sum(per_layer.values()), BestUnit(*best, by_name[best[0]].units[best[1]].label))
        if k not in allowed:
            rec.note = "not among the classes asked for"
        elif rec.total_units == 0:
            rec.note = _why_none(rec, cover, n, iou_floor)
        out[name] = rec
    return out


def _why_none(rec: ClassInfo, cover: float, n: int, iou_floor: float) -> str:
    """Why no unit is labelled with a class, with numbers: its best unit and the most IoU coverage allows."""
    share, best = rec.pixel_share, rec.best_unit
    bound = min(cover, share) / max(cover, share) if max(cover, share) > 0 else 0.0
    why = f"labelled {best.its_label}" if best.its_label else f"under the floor {iou_floor:g}"
    return (f"no unit is labelled with it: best IoU {best.iou:.3f} ({best.layer} unit {best.unit}, {why}); "
            f"the class covers "
            f"{100 * share:.2f}% of the pixels and is in {100 * rec.image_rate:.1f}% of the {n} "
            f"samples; a unit firing on {100 * cover:.2f}% of the pixels (the most any unit does here) "
            f"can reach at most IoU {bound:.3f} with it")


def label_pass(gan, layers: list[Layer], seg: Segmentation, rule: thr.ThresholdRule, n: int, n_select: int,
               iou_floor: float | None, allowed: list[int], seed: int, timings: dict) -> Labels:
    """Thresholds, IoU counts and labels (docs/methods.md, dissect); adds "thresholds" and "iou" seconds to
    ``timings``."""
    t = time.perf_counter()
    stats = quantile_pass(gan, layers, n, rule.q)
    if rule.kind == "iqr":
        iqr_thresholds(gan, layers, seg, n_select, allowed, stats, seed)
    timings["thresholds"], t = time.perf_counter() - t, time.perf_counter()
    counts = iou_pass(gan, layers, n, {name: st.threshold for name, st in stats.items()}, seg)
    timings["iou"] = time.perf_counter() - t
    records = label_units(layers, stats, counts, seg, allowed, n, iou_floor, rule)
    floor = rule.iou_floor if iou_floor is None else iou_floor
    return Labels(stats, counts, records, class_summary(records, counts, seg, allowed, n, floor))
