"""Removal: a class's top-k units switched off (zero, or their mean) at every position, on fresh latents,
against as many random units of the same layer."""

from __future__ import annotations

import torch

from ganlens.analyses.dissect.edits import measure, render, run_dose, with_controls
from ganlens.analyses.dissect.record import Edit, Eval, Target
from ganlens.data.segment import Segmentation
from ganlens.core import hooks


def run_remove(gan, seg: Segmentation, t: Target, ev: Eval, fill_values: torch.Tensor | None, present: torch.Tensor,
               dose_n: int, show: int) -> tuple[Edit, dict]:
    """Remove class ``t`` (top-k units set to ``fill_values`` (C,), None: zero, at every position) on the
    evaluation latents; the paper's ACE sets the same units to ``present`` (C,) (their class-present means) vs
    zero everywhere. Returns (the edit, images {"after", "control"} of the first ``show`` latents)."""
    min_px, n = seg.min_pixels(ev.maps.shape[-1]), len(ev.z)

    def run(units, n, keep=0, values=fill_values):
        vals = None if values is None else values[units]
        maps, shown = render(gan, seg, ev.z[:n], lambda i, j: hooks.ablate(gan.G, t.layer.name, units, vals), keep)
        return measure(maps, t.cls, min_px), shown
    before = measure(ev.maps, t.cls, min_px)
    after, shown_after, controls, shown_ctl = with_controls(run, t, n, show)
    units = [t.chosen()] + [t.control(d) for d in range(len(t.perms))]
    on = [run(u, n, values=present)[0] for u in units]
    off = [after] + controls if fill_values is None else [run(u, n, values=None)[0] for u in units]
    dose = run_dose(lambda u, m: run(u, m)[0], t, min(dose_n, n), before, after, controls)
    edit = Edit("remove", t, before, after, controls, on, off, dose,
                "zero at every position" if fill_values is None else "mean activation at every position",
                "units set to their class-present mean vs zero, at every position")
    return edit, {"after": shown_after, "control": shown_ctl}
