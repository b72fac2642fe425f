"""Figures and paper captions of :mod:`ganlens.invert`, drawn from the saved JSON and arrays only."""

from __future__ import annotations

import numpy as np

from ganlens.core import figures

PAIRS = 8  # real / reconstruction pairs per row of the pairs figure


def _pairs_canvas(real: np.ndarray, recon: np.ndarray, cols: int) -> np.ndarray:
    """Rows of real images above their reconstructions, ``cols`` pairs per row."""
    n = len(real)
    rows = []
    for r0 in range(0, n, cols):
        rows.append(real[r0:r0 + cols])
        rows.append(recon[r0:r0 + cols])
    tiles = [figures.rgb(x) for x in rows]
    tiles = [np.concatenate([t, np.ones((cols - len(t), *t.shape[1:]), np.float32)]) for t in tiles]
    k = len(tiles)
    gaps = [1 if i % 2 == 0 else 4 for i in range(k - 1)]
    return figures.tile(np.concatenate(tiles), cols, gap=1, row_gaps=gaps)


def _show(ax, canvas: np.ndarray, width_in: float) -> None:
    figures.show_canvas(ax, canvas, int(width_in * figures.DPI))


def plot_pairs(data: dict, arrays: dict):
    """Real images (odd rows) above their reconstructions (even rows), with pixel RMS distances."""
    real, recon = arrays["shown_real"], arrays["shown_recon"]
    cols = min(PAIRS, len(real))
    canvas = _pairs_canvas(real, recon, cols)
    h, w = canvas.shape[:2]
    with figures.style():
        fig, ax = figures.figure("one", aspect=h / w)
        ax.set_position([0, 0, 1, 1])
        _show(ax, canvas, figures.ONE_COLUMN)
        med = data["images"]["distance"]["pixel"]["median"]
        ax.set_title(f"real (top) / reconstruction (below); median pixel RMS {med:.3f}", fontsize=7)
    return fig


def plot_membership(data: dict, arrays: dict):
    """ROC of the membership score (pixel space), distance histograms, and the best-reconstructed training
    images above their reconstructions (the likely copies)."""
    m = data["membership"]["pixel"]
    with figures.style():
        fig = figures.figure("two", aspect=0.36)[0]
        fig.clf()
        a1, a2, a3 = fig.add_axes([0.06, 0.17, 0.2, 0.7]), fig.add_axes([0.34, 0.17, 0.2, 0.7]), \
            fig.add_axes([0.58, 0.05, 0.42, 0.85])
        a1.plot(m["roc"]["fpr"], m["roc"]["tpr"], color="C3", lw=1)
        a1.plot([0, 1], [0, 1], color="0.6", lw=0.7, ls="--")
        a1.set_xlabel("false-positive rate")
        a1.set_ylabel("true-positive rate")
        lo, hi = m["interval"]
        a1.set_title(f"AUC {m['auc']:.3f} [{lo:.3f}, {hi:.3f}]\np = {m['p_value']:.3g}")
        tr, he = arrays["distance_pixel"], arrays["heldout_distance_pixel"]
        bins = np.linspace(0, max(tr.max(), he.max()) * 1.02 + 1e-9, 25)
        a2.hist(he, bins, color="0.6", alpha=0.8, label="held-out")
        a2.hist(tr, bins, color="C3", alpha=0.6, label="training")
        a2.set_xlabel("pixel RMS distance")
        a2.set_ylabel("images")
        a2.legend(frameon=False)
        real, recon = arrays["best_real"][:PAIRS], arrays["best_recon"][:PAIRS]
        _show(a3, _pairs_canvas(real, recon, min(4, len(real))), figures.TWO_COLUMN * 0.42)
        a3.set_title("best-reconstructed training images (top) and reconstructions")
    return fig


def plot_modes(data: dict, arrays: dict):
    """Per class: mean pixel share of generated vs real images with 95% intervals (left), and the RMS
    reconstruction error inside the class's pixels (right)."""
    m = data["modes"]
    names = list(m["classes"])
    x = np.arange(len(names))
    with figures.style():
        fig, (a1, a2) = figures.figure("two", aspect=0.3, ncols=2)
        for off, key, color in ((-0.2, "real", "0.55"), (0.2, "generated", "C0")):
            mean = np.array([m["classes"][c][key]["mean"] for c in names])
            ci = np.array([m["classes"][c][key]["interval"] for c in names])
            a1.bar(x + off, mean, 0.4, color=color, label=key,
                   yerr=[mean - ci[:, 0], ci[:, 1] - mean], error_kw={"lw": 0.7})
        for i, c in enumerate(names):
            if m["classes"][c]["under_generated"]:
                a1.text(i, max(m["classes"][c]["real"]["interval"][1], 0) * 1.05, "under", ha="center",
                        fontsize=6, color="C3")
        a1.set_xticks(x, names, rotation=45, ha="right")
        a1.set_ylabel("mean pixel share")
        a1.legend(frameon=False)
        err = m["error_inside_class"]
        vals = [err[c]["rms_error"]["mean"] or 0 for c in names]
        cis = [err[c]["rms_error"]["interval"] or [0, 0] for c in names]
        a2.bar(x, vals, 0.6, color="C1", yerr=[[v - c[0] for v, c in zip(vals, cis)],
                                                [c[1] - v for v, c in zip(vals, cis)]], error_kw={"lw": 0.7})
        a2.set_xticks(x, names, rotation=45, ha="right")
        a2.set_ylabel("RMS error inside class")
        fig.tight_layout()
    return fig


# -------------------------------------------------------------------------------------- paper captions
# Plain text; ganlens.paper escapes it for LaTeX and puts the model's name where MODEL stands.

MODEL = "@MODEL@"


def caption_invert(j: dict) -> str:
    s, im = j["settings"], j["images"]
    return (f"Inversion of {im['images']} real images ({im['data']}) into {MODEL}: Adam on z, {s['steps']} steps, "
            f"{s['starts']} random starts (the best kept after a quarter of the steps), latent-prior penalty "
            f"{s['prior']:g}. Real images above their reconstructions; median RMS pixel distance "
            f"{im['distance']['pixel']['median']:.3f} (pixels in [0, 1]).")


def caption_membership(j: dict) -> str:
    m = j["membership"]["pixel"]
    lo, hi = m["interval"]
    text = (f"Membership test by inversion of {MODEL}: RMS pixel distance of the reconstructions of "
            f"{m['training_images']} training images against {m['heldout_images']} held-out images of the same "
            f"distribution (ROC, histograms). AUC {m['auc']:.3f} (95% bootstrap interval {lo:.3f} to {hi:.3f}), "
            f"one-sided permutation p = {m['p_value']:.3g}. Right: the best-reconstructed training images above "
            f"their reconstructions (the likely copies, if any). ")
    if m["memorizes"]:
        return text + "Training images are reconstructed better: evidence of memorization."
    return text + (f"Not significant: an exact copy of a share f of these training images would give AUC = "
                   f"0.5 + f/2, so f is at most {m['copy_fraction_bound']:.2f}; this does not prove that there are "
                   f"no copies.")


def caption_modes(j: dict) -> str:
    m = j["modes"]
    under = ", ".join(m["under_generated"]) or "none"
    over = ", ".join(m["over_generated"]) or "none"
    return (f"Mode dropping in {MODEL}: mean pixel share per class ({m['segmenter']['name']}) of {m['samples']} "
            f"generated vs {m['real_images']} real images with 95% intervals; under-generated (the interval of "
            f"the difference below 0): {under}; over-generated: {over}. Right: RMS reconstruction error inside "
            f"each class's pixels of the inverted real images.")
