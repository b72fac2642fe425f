"""Insertion: a class's top-k units set to their class-present means inside a target region (a box, or per
latent the square of the region class), on fresh latents, against as many random units set the same way."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ganlens.analyses.dissect.edits import measure, render, run_dose, with_controls
from ganlens.analyses.dissect.record import Edit, Eval, Region, RegionInfo, Target
from ganlens.data.segment import Segmentation
from ganlens.core import hooks
from ganlens.core.generate import images
from ganlens.data.boxes import cell_labels, pixel_mask


def _box_region(n: int, s: int, side: int, box) -> Region:
    cells = torch.from_numpy(cell_labels([list(box)], s, side, 0.5) == 1)
    return Region(np.arange(n), cells.expand(n, -1, -1).clone(),
                  np.broadcast_to(pixel_mask([list(box)], s, s), (n, s, s)).copy(),
                  np.tile(np.asarray(box, np.int64), (n, 1)), None)


def insert_regions(maps: np.ndarray, region_cls: int, side: int, size: int, box) -> Region:
    """Target regions for insertion on class maps (N, S, S): ``box`` (image pixels) on every latent, or per
    latent the square of ``size`` pixels (on the edit layer's ``side`` cells) with the most ``region_cls``
    pixels; latents where it is under half that class are left out."""
    n, s = len(maps), maps.shape[-1]
    if box is not None:
        return _box_region(n, s, side, box)
    r = min(side, max(1, round(size * side / s)))
    frac = F.adaptive_avg_pool2d(torch.from_numpy(maps == region_cls).float()[:, None], side)
    win = F.avg_pool2d(frac, r, stride=1)[:, 0]                                  # (N, side-r+1, side-r+1)
    best = win.flatten(1).max(1)
    i, j = best.indices // win.shape[-1], best.indices % win.shape[-1]
    used = np.flatnonzero(best.values.numpy() >= 0.5)
    cells = torch.zeros(len(used), side, side, dtype=torch.bool)
    pixels = np.zeros((len(used), s, s), bool)
    boxes = np.zeros((len(used), 4), np.int64)
    for q, u in enumerate(used):
        a, b = int(i[u]), int(j[u])
        cells[q, a:a + r, b:b + r] = True
        x0, y0, x1, y1 = (round(v * s / side) for v in (b, a, b + r, a + r))
        pixels[q, y0:y1, x0:x1] = True
        boxes[q] = (x0, y0, x1, y1)
    return Region(used, cells, pixels, boxes, best.values.numpy()[used], r)


def region_info(reg: Region, region: str, box, n_eval: int) -> RegionInfo:
    """How the regions were chosen, and how many latents have one."""
    if box is not None:
        rule = f"the box {list(box)} (image pixels, x1 and y1 exclusive) on every latent"
    else:
        rule = (f"per latent, the square of {reg.square_cells}x{reg.square_cells} cells of the edit layer with "
                f"the most {region!r} pixels in the unedited image; latents where it is under half {region!r} are "
                f"left out")
    cover = float(reg.cover.mean()) if reg.cover is not None and len(reg.cover) else None
    return RegionInfo(rule, None if box is not None else region, int(len(reg.used)), n_eval - int(len(reg.used)),
                      cover)


def run_insert(gan, seg: Segmentation, t: Target, ev: Eval, level: torch.Tensor, reg: Region, dose_n: int,
               show: int) -> tuple[Edit | None, dict]:
    """Insert class ``t`` (top-k units set to ``level`` (C,), their class-present means, inside each latent's
    region); the paper's ACE against the same units zeroed there. Returns (the edit, or None when no latent
    has a region; images {"before", "after", "control"} and "boxes" of the first ``show`` used latents)."""
    used = reg.used
    z, px, min_px = ev.z[used], reg.pixels, seg.min_pixels(ev.maps.shape[-1])
    if len(used) == 0:
        return None, {}

    def run(units, n, keep=0, values=level):
        def edit(i, j):
            return hooks.set_channels(gan.G, t.layer.name, units, values[units], mask=reg.cells[i:j])
        maps, shown = render(gan, seg, z[:n], edit, keep)
        return measure(maps, t.cls, min_px, px[:n]), shown
    before = measure(ev.maps[used], t.cls, min_px, px)
    after, shown_after, controls, shown_ctl = with_controls(run, t, len(z), show)
    units = [t.chosen()] + [t.control(d) for d in range(len(t.perms))]
    off = [run(u, len(z), values=torch.zeros_like(level))[0] for u in units]
    dose = run_dose(lambda u, m: run(u, m)[0], t, min(dose_n, len(z)), before, after, controls)
    edit = Edit("insert", t, before, after, controls, [after] + controls, off, dose,
                "each unit set to its mean activation where the class is present (gandissect's "
                "weighted_mean_present_feature), inside the region",
                "units set to their class-present mean vs zero, inside the region",
                [float(v) for v in level[t.chosen()].cpu()])
    first = [int(q) for q in range(min(show, len(used)))]
    shown_before = images(gan, z[first]) if first else torch.zeros(0)
    return edit, {"before": shown_before, "after": shown_after, "control": shown_ctl, "boxes": reg.boxes[first]}
