"""GAN Dissection of a generator: :func:`dissect` labels its units with the classes they draw (:mod:`.labels`),
removes and inserts classes through them (:mod:`.remove`, :mod:`.insert`) and measures both against random
units; every setting is checked first (:func:`check_settings`)."""

from __future__ import annotations

import math
import time
from dataclasses import asdict

import numpy as np
import torch

from ganlens.analyses.api import renamed
from ganlens.analyses.dissect import effects as fx
from ganlens.analyses.dissect import threshold as thr
from ganlens.analyses.dissect.agreement import agreement
from ganlens.analyses.dissect.edits import make_target, region_class, render, targets_for
from ganlens.analyses.dissect.figure import plot_counts, plot_dose, plot_insert, plot_remove, plot_units
from ganlens.analyses.dissect.gallery import gallery
from ganlens.analyses.dissect.insert import insert_regions, region_info, run_insert
from ganlens.analyses.dissect.labels import label_pass
from ganlens.analyses.dissect.record import (EVAL_SEED, Edits, Eval, Insertion, Labels, Settings, Target,
                                             to_json)
from ganlens.analyses.dissect.remove import run_remove
from ganlens.data.segment import Segmentation, as_segmentation
from ganlens.analyses.dissect.units import dissect_layers
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.layers import Layer
from ganlens.core.results import Result, provenance

FILLS = ("zero", "mean")


def _check_box(box, size: int, name: str) -> None:
    ok = (len(box) == 4 and all(isinstance(v, (int, np.integer)) for v in box)
          and 0 <= box[0] < box[2] <= size and 0 <= box[1] < box[3] <= size)
    if not ok:
        raise GanlensError(f"{name} {list(box)}: expected integers x0, y0, x1, y1 with 0 <= x0 < x1 <= "
                           f"{size} and 0 <= y0 < y1 <= {size} (image pixels, x1 and y1 exclusive)")


def _resolve(gan, layers, edit_layer, name) -> tuple[list[Layer], Layer | None]:
    """The dissected layers and the edit layer as Layer objects (resolved here, once)."""
    try:
        lays = dissect_layers(gan, layers)
        edit = edit_layer if edit_layer is None or isinstance(edit_layer, Layer) else gan.layer("G", edit_layer)
    except GanlensError as e:
        raise GanlensError(f"{name('layers') if edit_layer is None else name('edit_layer')}: {e}")
    if edit is not None and edit.name not in [lay.name for lay in lays]:
        raise GanlensError(f"{name('edit_layer')} {edit_layer if isinstance(edit_layer, str) else edit.name}: not "
                           f"among the dissected layers ({', '.join(lay.name for lay in lays)})")
    return lays, edit


@renamed(control_draws="draws")
def check_settings(gan, *, layers=None, n: int = 1000, threshold="iqr", n_select: int = 200,
                   iou_floor: float | None = None, fill: str = "zero", draws: int = 3, n_eval: int = 500,
                   dose_n: int = 100, show: int = 8, k: int | None = None, box=None, region_size: int | None = None,
                   edit_layer=None, flags: bool = False) -> tuple[list[Layer], Layer | None]:
    """(layers to dissect, edit layer or None) after checking every setting; a one-line GanlensError
    otherwise, naming settings as Python arguments or, with ``flags``, as the command's flags."""
    def name(key):
        return "--" + key.replace("_", "-") if flags else key
    require_at_least({"n": (n, 1), "draws": (draws, 1), "n_eval": (n_eval, 1), "dose_n": (dose_n, 1),
                      "show": (show, 1), "k": (k, 1), "region_size": (region_size, 1), "n_select": (n_select, 1)},
                     flags=flags)
    thr.parse_rule(threshold, name("threshold"))
    ok = iou_floor is None or (isinstance(iou_floor, (int, float)) and math.isfinite(iou_floor) and 0 <= iou_floor <= 1)
    if not ok:
        raise GanlensError(f"{name('iou_floor')} must be a number between 0 and 1, got {iou_floor!r}")
    if fill not in FILLS:
        raise GanlensError(f"{name('fill')} must be one of {', '.join(FILLS)}, got {fill!r}")
    if show > n_eval:
        raise GanlensError(f"{name('show')} {show}: more samples to show than {name('n_eval')} {n_eval}")
    gan.require_G()
    lays, edit = _resolve(gan, layers, edit_layer, name)
    widest = max(lay.channels for lay in lays if edit is None or lay.name == edit.name)
    if k is not None and k >= widest:
        raise GanlensError(f"{name('k')} {k}: layer {edit.name if edit else 'each dissected layer'} has only "
                           f"{widest} units (random controls need others)")
    if box is not None:
        _check_box(box, gan.image_size, name("box"))
    if region_size is not None and region_size > gan.image_size:
        raise GanlensError(f"{name('region_size')} {region_size}: larger than the image ({gan.image_size} px)")
    return lays, edit


def allowed_classes(classes, seg: Segmentation) -> list[int]:
    """Indices of the classes units may be labelled with (all when ``classes`` is None)."""
    if classes is None:
        return list(range(len(seg.classes)))
    names = [classes] if isinstance(classes, str) else list(classes)
    if not names:
        raise GanlensError("classes: name at least one class units may be labelled with (or leave it out: all)")
    for c in names:
        if c not in seg.classes:
            raise GanlensError(f"classes: unknown class {c!r}; the segmenter's classes are {', '.join(seg.classes)}")
    return [seg.classes.index(c) for c in names]


def _present(labels: Labels, t: Target, device) -> torch.Tensor:
    """(C,) each unit's mean activation where ``t``'s class is present, on ``device``."""
    c = labels.counts.layers[t.layer.name]
    return fx.present_mean(c.present_sum, c.present_weight)[:, t.cls].to(device)


def run_edits(gan, seg: Segmentation, labels: Labels, edit_layer: Layer | None, s: Settings) -> tuple[Edits, dict]:
    """Remove and insert the chosen classes on fresh latents. Returns (the edits, the figures' arrays)."""
    region = region_class(s.region_class, seg, labels.counts.class_pixels)
    rm = targets_for(s.remove, seg, labels.classes, region, "remove")
    ins = targets_for(s.insert, seg, labels.classes, region, "insert")
    rng = np.random.default_rng(s.seed)
    targets = {c: make_target(seg.classes.index(c), seg, labels.layers, edit_layer, s.k, s.draws, rng)
               for c in dict.fromkeys(rm + ins)}
    edits, arrays = Edits({}, {}, targets, region), {}
    if not targets:
        return edits, arrays
    z = gan.latents(range(EVAL_SEED, EVAL_SEED + s.n_eval))
    with torch.inference_mode():
        ev = Eval(z, *render(gan, seg, z, None, keep=s.show))
    arrays["eval_before"] = ev.shown.numpy()
    for c in rm:
        t = targets[c]
        fill = labels.stats[t.layer.name].mean if s.fill == "mean" else None
        with torch.inference_mode():
            edits.remove[c], shown = run_remove(gan, seg, t, ev, fill, _present(labels, t, gan.device), s.dose_n,
                                                s.show)
        arrays.update({f"remove_{t.cls}_{key}": v.numpy() for key, v in shown.items()})
    for c in ins:
        t = targets[c]
        reg = insert_regions(ev.maps, seg.classes.index(region), t.layer.side,
                             s.region_size or max(1, gan.image_size // 4), s.box)
        with torch.inference_mode():
            e, shown = run_insert(gan, seg, t, ev, _present(labels, t, gan.device), reg, s.dose_n, s.show)
        edits.insert[c] = Insertion(region_info(reg, region, s.box, len(ev.z)), e)
        arrays.update({f"insert_{t.cls}_{key}": np.asarray(v.numpy() if isinstance(v, torch.Tensor) else v)
                       for key, v in shown.items()})
    return edits, arrays


def _plots(shown: list, edits: Edits) -> dict:
    plots = {"dissect": plot_counts}
    plots.update({"units": plot_units} if shown else {})
    plots.update({"remove": plot_remove} if edits.remove else {})
    plots.update({"insert": plot_insert} if any(i.edit is not None for i in edits.insert.values()) else {})
    plots.update({"dose": plot_dose} if edits.remove or edits.insert else {})
    return plots


def _as_given(layers):
    """Layers as the JSON records them: as given, Layer objects by name."""
    if layers is None or isinstance(layers, str):
        return layers
    if isinstance(layers, Layer):
        return layers.name
    return [lay.name if isinstance(lay, Layer) else lay for lay in layers]


@renamed(control_draws="draws")
def dissect(gan, *, layers=None, n: int = 1000, threshold: str = "iqr", n_select: int = 200,
            iou_floor: float | None = None, classes=None, segmenter=None, remove=None, insert=None, edit_layer=None,
            k: int | None = None, fill: str = "zero", draws: int = 3, n_eval: int = 500, dose_n: int = 100,
            region_class: str | None = None, box=None, region_size: int | None = None, boxes=None, show: int = 8,
            seed: int = 0) -> Result:
    """Label ``gan``'s generator units with the classes they draw, remove and insert classes through them,
    and measure it (docs/methods.md, dissect).

    gan: a :class:`ganlens.GAN` with a conv G. layers: G layers, Layer objects or names (default: every
    hidden one with a spatial map of side >= 2). n: dissection samples (seeds 0 .. n-1). threshold: "iqr" or
    "quantile:Q"; n_select: latents the IQR rule picks levels on; iou_floor: IoU a label needs. classes: the
    class names units may be labelled with (default all). segmenter: (fn, class names) or a
    :class:`Segmentation` (default: the rooms segmenter on rooms models). remove / insert: class names
    (default "window" if known; () for none). edit_layer, k, fill ("zero" | "mean"), draws (random unit
    sets; old name control_draws): the edits. n_eval: fresh latents the edits are measured on, dose_n of them
    per dose-curve point, show of them in the figures. region_class, box (x0, y0, x1, y1), region_size (px):
    where insertion happens. boxes: a box file for the agreement with forgetting. Returns a Result (kind
    "dissect"; figures "dissect", "units", "remove", "insert", "dose").
    """
    t_start = time.perf_counter()
    s = Settings(_as_given(layers), n, str(threshold), n_select, iou_floor, classes, remove, insert,
                 _as_given(edit_layer), k, fill, draws, n_eval, dose_n, region_class,
                 list(box) if box is not None else None, region_size, show, seed)
    lays, edit = check_settings(gan, layers=layers, n=n, threshold=threshold, n_select=n_select, iou_floor=iou_floor,
                                fill=fill, draws=draws, n_eval=n_eval, dose_n=dose_n, show=show, k=k, box=box,
                                region_size=region_size, edit_layer=edit_layer)
    seg = as_segmentation(segmenter, gan)
    allowed = allowed_classes(classes, seg)
    timings = {}
    labels = label_pass(gan, lays, seg, thr.parse_rule(threshold), n, n_select, iou_floor, allowed, seed, timings)
    t = time.perf_counter()
    edits, arrays = run_edits(gan, seg, labels, edit, s)
    timings["edits"], t = time.perf_counter() - t, time.perf_counter()
    agree = agreement(gan, boxes, seg, labels.layers, edits.targets, seed)
    timings["agreement"] = time.perf_counter() - t
    info = labels.classes
    order = list(edits.remove) + list(edits.insert) + sorted(info, key=lambda c: -info[c].total_units)
    shown, garrays = gallery(gan, labels.layers, labels.stats, list(dict.fromkeys(order)))
    arrays.update(garrays)
    arrays.update({f"iou_{i}": r.iou.astype(np.float32) for i, r in enumerate(labels.layers)})
    data = to_json(gan, seg, s, labels, edits, agree, shown, boxes)
    timings["total"] = time.perf_counter() - t_start
    data["seconds"] = {key: round(v, 3) for key, v in timings.items()}
    call = ", ".join(f"{key}={v!r}" for key, v in asdict(s).items() if key != "seed")
    data["provenance"] = provenance(gan, seed, call=f"ganlens.dissect(gan, {call}, seed={seed})")
    return Result("dissect", data, arrays, plots=_plots(shown, edits))
