"""The probe's figure, drawn from probe.json: ``plot_probe(data, arrays) -> matplotlib Figure``."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from ganlens.core import figures

TRAINED, RANDOM = "#1f5fbf", "#888888"


def plot_probe(result: dict, arrays: dict | None = None):
    """One-column figure from probe.json. Left: test accuracy on each split (dots) and its mean +- std
    (bar) for the trained D and every random draw, majority class dashed. Right: validation accuracy
    against C, mean over the splits (circle: the C chosen most often). Returns the matplotlib Figure."""
    draws = result["random"]["draws"]
    nets = [("trained", result["trained"], TRAINED)] + [(f"r{d['seed']}", d, RANDOM) for d in draws]
    with figures.style():
        fig, (a, b) = figures.figure("one", aspect=0.58, ncols=2, gridspec_kw={"width_ratios": [1.3, 1]})
        _accuracies(a, nets, result["chance"]["majority"])
        _validation(b, nets)
        handles = [Line2D([], [], color=TRAINED, marker="o", ms=3, lw=0, label="trained D"),
                   Line2D([], [], color=RANDOM, marker="o", ms=3, lw=0, label=f"random D ({len(draws)} seeds)"),
                   Line2D([], [], color="black", lw=0.7, ls="--", label="majority class")]
        fig.legend(handles=handles, loc="upper center", ncol=3, frameon=False, fontsize=6, bbox_to_anchor=(0.5, 1.02))
        fig.tight_layout(pad=0.3, w_pad=0.8, rect=(0, 0, 1, 0.9))
    return fig


def _accuracies(a, nets: list[tuple[str, dict, str]], majority: float) -> None:
    """Test accuracy of each network on each split (dots) and mean +- std (bar); the majority class dashed."""
    for i, (name, res, color) in enumerate(nets):
        acc = [f["accuracy"] for f in res["splits"]]
        jitter = np.linspace(-0.18, 0.18, len(acc)) if len(acc) > 1 else np.zeros(1)
        a.plot(i + jitter, acc, "o", ms=2, color=color, alpha=0.7, mew=0)
        a.errorbar([i], [res["spread"]["mean"]], yerr=[res["spread"]["std"]], fmt="_", ms=9, mew=1.2,
                   color=color, ecolor=color, elinewidth=0.8, capsize=2)
    a.axhline(majority, color="black", lw=0.7, ls="--")
    a.set_xlim(-0.7, len(nets) - 0.3)  # the first name clear of the y axis's lowest label
    a.set_xticks(range(len(nets)), [n for n, _, _ in nets], rotation=90 if len(nets) > 4 else 0)
    lo = min(majority, min(f["accuracy"] for _, r, _ in nets for f in r["splits"]))
    a.set_ylim(max(0.0, lo - 0.05), 1.0)
    a.set_ylabel("test accuracy")


def _validation(b, nets: list[tuple[str, dict, str]]) -> None:
    """Validation accuracy against C, mean over the splits; a circle at the C chosen most often."""
    for name, res, color in reversed(nets):
        cs = [float(c) for c in res["splits"][0]["val_accuracy"]]
        val = np.mean([[f["val_accuracy"][f"{c:g}"] for c in cs] for f in res["splits"]], axis=0)
        b.plot(cs, val, "-", lw=1 if name == "trained" else 0.6, color=color)
        b.plot([res["C"]], [val[cs.index(res["C"])]], "o", ms=4, mfc="none", color=color, mew=0.8)
    b.set_xscale("log")
    b.minorticks_off()
    b.set_xticks(cs, [_power(c) for c in cs], fontsize=6)   # plain text (no mathtext), short enough to stand upright
    b.set_xlabel("C")
    b.set_ylabel("val. accuracy")


def _power(c: float) -> str:
    """0.0001 -> '1e-4', 1 -> '1', 0.5 -> '0.5': a C value as a short tick label."""
    mantissa, _, exponent = f"{c:.0e}".partition("e")
    e = int(exponent)
    if f"{c:g}" == f"{float(mantissa) * 10.0 ** e:g}" and e < -1:
        return f"{mantissa}e{e}"
    return f"{c:g}"
