"""forget's figures, drawn from its saved JSON and arrays through :mod:`ganlens.core.figures`: the samples
before and after the drop (``forget``), the dose and cross-validation curves (``dose``) and the box file's
samples with their boxes (``annotations``)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from ganlens.core import figures
from ganlens.core.figures import sheet


def _column_label(s: dict) -> str:
    if s["source"] == "annotated":
        return "annotated"
    return {True: "fresh,\ndetector: yes", False: "fresh,\ndetector: no"}.get(s.get("detector_found"), "fresh")


def plot_samples(result: dict, arrays: dict):
    """The paper's layout: top row samples that contain the object (annotated first, then fresh latents the
    detector finds it in; each column says which), bottom row the same latents with the maps dropped."""
    before, after = torch.from_numpy(arrays["before"]), torch.from_numpy(arrays["after"])
    n = len(before)
    img = sheet(torch.cat([before, after]), cols=n)
    sel = result["selection"]
    with figures.style():
        fig, ax = figures.figure("two" if n > 4 else "one", aspect=img.shape[0] / img.shape[1] + 0.1)
        figures.show_image(ax, img)
        s = img.shape[0] / 2
        ax.set_yticks([s / 2, s + s / 2])
        ax.set_yticklabels(["samples", f"{result['n_dropped']} maps\ndropped\n({result['settings']['fill']} fill)"])
        shown = result["figure_samples"]["samples"]
        if len(shown) == n:
            w = img.shape[1] / n
            ax.set_xticks([(i + 0.5) * w for i in range(n)])
            ax.set_xticklabels([_column_label(c) for c in shown], fontsize=6)
        ax.tick_params(length=0, pad=2)
        rule = f"maps: {sel['rule']} rule, k = {sel['k']} of {result['layer_shape']['channels']}"
        rem, loc = result.get("removal"), result["localisation"]
        if rem:
            ax.set_title(f"{result['label']} rate {rem['before']:.2f} -> {rem['after']:.2f} (random maps dropped: "
                         f"{rem['control_after']:.2f}), {rem['n_latents']} fresh latents; {rule}", pad=3)
        else:
            ratio, ctl = loc["selected"]["ratio"], loc["control_ratio_mean"]
            ax.set_title(f"pixel change inside / outside the boxes {_num(ratio)} (random maps {_num(ctl)}); {rule}",
                         pad=3)
    return fig


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def plot_dose(result: dict, arrays: dict):
    """Left: object rate (or box localisation) against the number of maps dropped, weight vs random order,
    the chosen k and the other rules' k marked. Right: the cross-validation curve k was chosen on."""
    dose, sel = result["dose"], result["selection"]
    levels = np.array(dose["levels"])
    w = np.array([np.nan if v is None else v for v in dose["weight_order"]], float)       # (L,)
    r = np.array([[np.nan if v is None else v for v in q] for q in dose["random_order"]], float)  # (D, L)
    cv = sel.get("cv_scores")
    with figures.style():
        fig, axes = figures.figure("two", aspect=0.36, ncols=2 if cv else 1)
        ax = axes[0] if cv else axes
        ok = ~np.isnan(w) & ~np.isnan(r).any(0)    # level 0 has no localisation ratio (nothing changes)
        lv, w, r = levels[ok], w[ok], r[:, ok]
        ax.plot(lv, w, "o-", color="C3", ms=3, label="by probe weight (largest first)")
        ax.plot(lv, r.mean(0), "s--", color="C0", ms=3, label=f"random order (mean of {len(r)})")
        if len(r) > 1:
            ax.fill_between(lv, r.min(0), r.max(0), color="C0", alpha=0.2, lw=0, label="random order (range)")
        ax.axvline(result["n_dropped"], color="0.2", lw=0.8,
                   label=f"chosen: {sel['rule']} rule, k = {result['n_dropped']}")
        for style, (name, o) in zip((":", "-."), result.get("other_rules", {}).items()):
            ax.axvline(o["k"], color="0.5", lw=0.8, ls=style, label=f"{name} rule, k = {o['k']}")
        ax.set_xlabel(f"feature maps dropped (of {result['layer_shape']['channels']} in {result['settings']['layer']}, "
                      f"{result['settings']['fill']} fill)\n{dose['n_latents']} {dose['latents']}")
        ax.set_ylabel(dose["metric_label"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if dose["metric"] == "rate":
            ax.set_ylim(-0.02, 1.02)
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, borderaxespad=0.2,
                  columnspacing=1.0, handlelength=1.8, fontsize=6)
        if cv:
            _plot_cv(axes[1], sel, cv)
            fig.subplots_adjust(wspace=0.4)
    return fig


def _tick_labels(ks) -> list[str]:
    """Labels of log-spaced ticks, blank where a tick is too close to the one before to be read (32, 33)."""
    out, last = [], None
    for k in ks:
        show = last is None or np.log2(k / last) >= 0.3 or k == ks[-1]
        if show and out and last is not None and np.log2(k / last) < 0.3:   # the last k wins over its neighbour
            out[-1] = ""
        out.append(str(k) if show else "")
        last = k if show else last
    return out


def _plot_cv(ax, sel: dict, cv: dict) -> None:
    """The cross-validation curve: held-out pixel change inside / outside the boxes and their difference
    (the score, mean +- SE over folds) against k."""
    ks = np.array(sel["candidates"])
    nan = float("nan")
    ax.plot(ks, [nan if v is None else v for v in cv["inside_mean"]], "^-", color="C3", ms=3, lw=0.8,
            label="inside boxes")
    ax.plot(ks, [nan if v is None else v for v in cv["outside_mean"]], "v-", color="C0", ms=3, lw=0.8,
            label="outside boxes")
    ax.errorbar(ks, cv["score_mean"], yerr=cv["score_se"], fmt="o-", color="k", ms=3, lw=1, capsize=2,
                label=f"score: inside - {cv['random_ratio']:.2f} x outside (+- SE, {cv['folds']} folds)")
    ax.axhline(0, color="0.7", lw=0.5)
    ax.axvline(cv["k"], color="0.2", lw=0.8, label=f"chosen k = {cv['k']} (largest within 1 SE of the best)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks)
    ax.set_xticklabels(_tick_labels(ks))
    ax.minorticks_off()
    ax.set_xlabel("top-weight maps dropped (k)\n" + ("held-out annotated images, probe fit on the other folds"
                                                     if cv["validated"] else "annotated images (in-sample)"))
    ax.set_ylabel("mean pixel change [0, 1]")
    ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, borderaxespad=0.2, fontsize=6,
              columnspacing=1.0, handlelength=1.8)


def plot_annotations(result: dict, arrays: dict):
    """Every annotated sample with its boxes in red, in file order (to check the box file by eye)."""
    annotated = torch.from_numpy(arrays["annotated"])
    boxes = [[] for _ in range(len(annotated))]
    for i, *b in arrays["annotated_boxes"].tolist():
        boxes[i].append(b)
    b = result["boxes_file"]
    cols = min(15, b["n_samples"])
    img = sheet(annotated, cols, boxes)
    with figures.style():
        fig, ax = figures.figure("two", aspect=img.shape[0] / img.shape[1] + 0.03)
        figures.show_image(ax, img)
        ax.set_title(f"{b['n_boxes']} {result['label']} boxes on {b['n_samples_with_boxes']} of {b['n_samples']} "
                     f"samples ({cols} per row, in file order)", pad=3)
    return fig
