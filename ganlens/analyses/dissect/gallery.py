"""The heat-map gallery: the top units of a few classes, each over the samples where it fires most."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.dissect.record import LayerStats, LayerLabels, ShownUnit
from ganlens.analyses.dissect.units import forward, interp_matrix


def shown_units(records: list[LayerLabels], stats: dict[str, LayerStats], order: list[str], per_class: int = 3,
                classes: int = 4) -> list[ShownUnit]:
    """The ``per_class`` units of highest IoU labelled with each class in ``order``, for up to ``classes``
    classes, with their strongest samples."""
    shown = []
    for name in order:
        units = sorted(((u.iou, r.layer.name, u.unit) for r in records for u in r.units if u.label == name),
                       reverse=True)[:per_class]
        shown += [ShownUnit(name, L, u, i, [int(s) for s in stats[L].top_samples[u]]) for i, L, u in units]
        if len({s.cls for s in shown}) >= classes:
            break
    return shown


def gallery(gan, records: list[LayerLabels], stats: dict[str, LayerStats], order: list[str], per_class: int = 3,
            classes: int = 4) -> tuple[list[ShownUnit], dict[str, np.ndarray]]:
    """Top units of up to ``classes`` classes (in ``order``), each over its TOP_SAMPLES strongest samples.
    Returns (the units shown, arrays {"units_images" (M, T, nc, S, S), "units_maps" (M, T, S, S) activation /
    level, "units_fire" (M, T, S, S)})."""
    shown = shown_units(records, stats, order, per_class, classes)
    if not shown:
        return [], {}
    seeds = sorted({s for e in shown for s in e.seeds})
    by_name = {r.layer.name: r.layer for r in records}
    with torch.inference_mode():
        x, acts = forward(gan, gan.latents(seeds), [by_name[name] for name in sorted({e.layer for e in shown})])
    side, pos = x.shape[-1], {s: i for i, s in enumerate(seeds)}
    imgs, maps, fire = [], [], []
    for e in shown:
        idx = [pos[s] for s in e.seeds]
        a = acts[e.layer][idx, e.unit]                                             # (T, h, w)
        U = interp_matrix(a.shape[-1], side, a.device)
        up = (U @ a @ U.T).cpu()
        st = stats[e.layer]
        level = float(st.level[e.unit])
        imgs.append(x[idx])
        maps.append(up / level if level > 0 else up)
        fire.append(up > float(st.threshold[e.unit]))
    return shown, {"units_images": torch.stack(imgs).half().numpy(), "units_maps": torch.stack(maps).half().numpy(),
                   "units_fire": torch.stack(fire).numpy()}
