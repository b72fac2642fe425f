"""Dissection's figures, drawn from the saved JSON and arrays: units per class per layer (``dissect``), top
units as heat maps (``units``), samples before / after removal and insertion (``remove``, ``insert``), and the
dose curves (``dose``)."""

from __future__ import annotations

import textwrap

import matplotlib
import numpy as np
import torch

from ganlens.core import figures
from ganlens.core.figures import sheet


def _colours(classes: list[str]) -> dict[str, tuple]:
    cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    return {c: cmap(i % cmap.N) for i, c in enumerate(classes)}


def plot_counts(result: dict, arrays: dict):
    """Units labelled with each class, one panel per layer (bars in the segmenter's class order)."""
    recs, classes = result["layers"], result["segmenter"]["classes"]
    shown = list(classes)
    colours, s = _colours(classes), result["settings"]
    with figures.style():
        width = "two" if len(recs) > 2 else "one"
        fig, axes = figures.figure(width, aspect=0.36 if len(recs) > 2 else 0.7, ncols=len(recs), sharey=True,
                                   squeeze=False, layout="constrained")
        for ax, r in zip(axes[0], recs):
            vals = [r["counts"].get(c, 0) for c in shown]
            ax.bar(range(len(shown)), vals, color=[colours[c] for c in shown], width=0.75)
            for i, v in enumerate(vals):
                if v:
                    ax.text(i, v, str(v), ha="center", va="bottom", fontsize=6)
            ax.set_xticks(range(len(shown)))
            ax.set_xticklabels(shown, rotation=60, ha="right", fontsize=6)
            c, h, w = r["shape"]
            ax.set_title(f"{r['layer']} ({c} units, {h}x{w})\n{r['unlabelled']} unlabelled", fontsize=7)
        axes[0][0].set_ylabel("units labelled")
        axes[0][0].set_ylim(0, 1.15 * max([1] + [v for r in recs for v in r["counts"].values()]))
        title = f"units labelled: {result['method']['label']}; threshold {s['threshold']}; {s['n']} samples"
        fig.suptitle(textwrap.fill(title, figures.line_chars(width, 6)), fontsize=6)
    return fig


def _outline(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a (H, W) bool mask (inside pixels with a 4-neighbour outside)."""
    p = np.pad(mask, 1)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


def unit_tile(img: np.ndarray, heat: np.ndarray, fire: np.ndarray, scale: int) -> np.ndarray:
    """One heatmap tile: the image (nc, S, S) in [-1, 1] under the unit's upsampled activation / level (S, S)
    in a colour map, the pixels above its threshold outlined in cyan; enlarged ``scale`` times."""
    x = (np.clip(img.astype(np.float32), -1, 1) + 1) / 2
    x = np.repeat(x, 3, 0) if x.shape[0] == 1 else x[:3]
    x = x.transpose(1, 2, 0)
    h = matplotlib.colormaps["inferno"](np.clip(heat.astype(np.float32), 0, 1))[..., :3]
    t = 0.45 * x + 0.55 * h
    t = np.repeat(np.repeat(t, scale, 0), scale, 1)
    edge = _outline(np.repeat(np.repeat(fire, scale, 0), scale, 1))
    t[edge] = (0.0, 1.0, 1.0)
    return t


def plot_units(result: dict, arrays: dict):
    """The top units of each class (rows) over the samples where they fire most (columns): activation /
    level as a heat map over the image, pixels above the unit's threshold outlined."""
    shown = result["shown_units"]
    imgs, maps, fire = arrays["units_images"], arrays["units_maps"], arrays["units_fire"]
    m, t, s = maps.shape[0], maps.shape[1], maps.shape[-1]
    scale, gap = max(1, 96 // s), 2
    side = s * scale
    canvas = np.ones((m * (side + gap) - gap, t * (side + gap) - gap, 3), np.float32)
    for i in range(m):
        for j in range(t):
            canvas[i * (side + gap):i * (side + gap) + side, j * (side + gap):j * (side + gap) + side] = \
                unit_tile(imgs[i, j], maps[i, j], fire[i, j], scale)
    with figures.style():
        fig, ax = figures.figure("one", aspect=canvas.shape[0] / canvas.shape[1] * 0.72)
        figures.show_image(ax, canvas)
        ax.set_yticks([i * (side + gap) + side / 2 for i in range(m)])
        ax.set_yticklabels([f"{e['class']}\n{e['layer']} #{e['unit']}\nIoU {e['iou']:.2f}" for e in shown], fontsize=6)
        ax.tick_params(axis="y", length=0, pad=2)
        ax.set_title(f"top units per class, each over its {t} strongest samples\n(colour: activation / level; "
                     f"cyan: above threshold)", fontsize=7, pad=3)
    return fig


def _rows(ax, img: np.ndarray, labels: list[str]) -> None:
    figures.show_image(ax, img)
    h = img.shape[0] / len(labels)
    ax.set_yticks([h * (i + 0.5) for i in range(len(labels))])
    ax.set_yticklabels(labels, fontsize=6)
    ax.tick_params(axis="y", length=0, pad=2)


def plot_remove(result: dict, arrays: dict):
    """Per removed class: samples, the same latents with its top-k units removed, and with k random units."""
    recs = result["remove"]
    classes = result["segmenter"]["classes"]
    before = torch.from_numpy(arrays["eval_before"]).float()
    n = len(before)
    with figures.style():
        fig, axes = figures.figure("two", aspect=0.42 * len(recs) * 8 / max(n, 8) + 0.04, nrows=len(recs),
                                   squeeze=False)
        for ax, (c, r) in zip(axes[:, 0], recs.items()):
            i = classes.index(c)
            rows = [before, torch.from_numpy(arrays[f"remove_{i}_after"]).float(),
                    torch.from_numpy(arrays[f"remove_{i}_control"]).float()]
            units = "unit" if r["k"] == 1 else "units"
            _rows(ax, sheet(torch.cat(rows), cols=n), ["samples", f"{r['k']} {c} {units}\nremoved",
                                                       f"{r['k']} random\n{units} removed"])
            ax.set_title(f"{c} ({r['layer']}, {r['edit']}): rate {r['before']['rate']:.2f} -> {r['after']['rate']:.2f}"
                         f", random units {r['control']['rate_mean']:.2f}; {r['n_latents']} latents", fontsize=7, pad=3)
    return fig


def plot_insert(result: dict, arrays: dict):
    """Per inserted class: samples with the target region (red), the top-k units set inside it, k random units."""
    recs = {c: r for c, r in result["insert"].items() if "after" in r}
    classes = result["segmenter"]["classes"]
    with figures.style():
        n = max(len(arrays[f"insert_{classes.index(c)}_before"]) for c in recs)
        fig, axes = figures.figure("two", aspect=0.42 * len(recs) * 8 / max(n, 8) + 0.04, nrows=len(recs),
                                   squeeze=False)
        for ax, (c, r) in zip(axes[:, 0], recs.items()):
            i = classes.index(c)
            rows = [torch.from_numpy(arrays[f"insert_{i}_{key}"]).float() for key in ("before", "after", "control")]
            boxes = [[list(b)] for b in arrays[f"insert_{i}_boxes"].tolist()] * 3
            units = "unit" if r["k"] == 1 else "units"
            _rows(ax, sheet(torch.cat(rows), cols=len(rows[0]), boxes=boxes),
                  ["samples\n(target region)", f"{r['k']} {c} {units}\nset inside",
                   f"{r['k']} random\n{units} set inside"])
            ax.set_title(f"{c} in the region ({r['layer']}): rate {r['before']['rate']:.2f} -> {r['after']['rate']:.2f}"
                         f", random units {r['control']['rate_mean']:.2f}; {r['n_latents']} latents", fontsize=7, pad=3)
    return fig


def plot_dose(result: dict, arrays: dict):
    """Presence rate against the number of units edited, in IoU order vs random orders, per edit."""
    panels = [("remove", c, r) for c, r in result["remove"].items()] + \
             [("insert", c, r) for c, r in result["insert"].items() if "dose" in r]
    with figures.style():
        fig, axes = figures.figure("two" if len(panels) > 1 else "one", aspect=0.34 if len(panels) > 1 else 0.7,
                                   ncols=len(panels), squeeze=False)
        for ax, (kind, c, r) in zip(axes[0], panels):
            d = r["dose"]
            lv, rnd = np.array(d["levels"]), np.array(d["random"], float)
            ax.plot(lv, d["by_iou"], "o-", color="C3", ms=3, label=f"{c} units (IoU order)")
            ax.plot(lv, rnd.mean(0), "s--", color="C0", ms=3, label=f"random units (mean of {len(rnd)})")
            if len(rnd) > 1:
                ax.fill_between(lv, rnd.min(0), rnd.max(0), color="C0", alpha=0.2, lw=0)
            ax.axvline(r["k"], color="0.5", lw=0.6, ls=":")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(f"units {'removed' if kind == 'remove' else 'set in the region'} ({r['layer']})")
            ax.set_title(f"{kind} {c}: {d['n_latents']} latents", fontsize=7)
            ax.legend(frameon=False, fontsize=6, loc="best")
        axes[0][0].set_ylabel("share of samples with the class\n(in the region, for insert)")
    return fig
