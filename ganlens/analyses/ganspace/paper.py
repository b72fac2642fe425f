"""GANSpace's paper figure: the settings of its run and its captions, built from the saved ganspace.json.
The registry names :data:`FIGURE`; ``ganlens.paper`` runs it (``analyses/fig_ganspace.py``)."""

from __future__ import annotations

from ganlens.core.latex import PaperFigure, count, fmt, latex_escape, model_name, pct, tt

REFERENCE = 'H\\"{a}rk\\"{o}nen et al.\\ 2020'


def _p(p: float) -> str:
    """A p-value for LaTeX math: 0.031, or 4.7\\times 10^{-10}."""
    if p >= 1e-3:
        return f"{p:.2g}"
    mant, exp = f"{p:.1e}".split("e")
    return f"{mant}\\times 10^{{{int(exp)}}}"


def _seeds(pair: list[int]) -> str:
    return f"{pair[0]}--{pair[1]}" if pair[1] != pair[0] else str(pair[0])


def _rule(j: dict) -> str:
    r, s = j["rule"], j["settings"]
    verdict = "fires" if r["fires"] else "does not fire"
    return (f"Rule ``principal directions change images more than random ones'': for each of the {s['draws']} "
            f"random draws, a Wilcoxon signed-rank test over the {s['samples']} latents (one cluster each) with "
            f"$p<{r['level']:g}$ and the principal set higher; it fires when every draw is beaten (false-positive "
            f"rate at most $1/({s['draws']}+1) = {fmt(r['false_positive_bound'], 3)}$). It {verdict}: "
            f"{r['draws_beaten']} of {s['draws']} draws beaten, largest $p = {_p(r['p_value'])}$.")


def caption_ganspace(j: dict) -> str:
    s, ev, ch = j["settings"], j["explained_variance"], j["change"]
    shape = "\\times".join(map(str, s["layer_shape"]))
    top = ", ".join(f"PC{i + 1} {pct(v)}" for i, v in enumerate(ev["ratio"][:3]))
    ratio = "n/a" if ch["ratio"] is None else fmt(ch["ratio"])
    return (f"GANSpace ({REFERENCE}) on {model_name(j)}. PCA of layer {tt(s['layer'])} (${shape}$) over "
            f"{count(s['n'])} latents (seeds {_seeds(s['pca_seeds'])}); the top {s['components']} components "
            f"explain {pct(ev['cumulative'][-1])} of its variance ({top}; a random direction "
            f"{100 * ev['random_directions_mean']:.3f}\\%) and are carried back to unit latent directions by least squares. "
            f"Rows: latents (seeds {_seeds([s['edit_seeds'][0], s['edit_seeds'][0] + s['show'] - 1])}) edited "
            f"along each component from $-{s['sigma']:g}\\sigma$ to $+{s['sigma']:g}\\sigma$ ($\\sigma$ = "
            f"{fmt(s['sigma_latent'], 3)} latent units) after centring on the mean along it; last rows: random "
            f"orthonormal directions. Bottom: explained variance per component; image change per unit latent step "
            f"(RMS pixel difference, pixels in $[0,1]$) of each latent, principal vs the mean of the random draws: "
            f"{ch['principal_mean']:.3g} vs {ch['random_mean']:.3g} (ratio {ratio}). " + _rule(j))


def caption_objects(j: dict) -> str:
    s, o = j["settings"], j["objects"]
    r = o["random"]
    tops = ", ".join(f"PC{c['component']} {latex_escape(c['top_class'])} {100 * c['delta']:+.1f} "
                     f"({pct(c['random_exceed'])})" for c in o["components"])
    return (f"Objects moved by the GANSpace directions of {model_name(j)}: share of the image's pixels that the rooms "
            f"segmenter gives each class at $+{s['sigma']:g}\\sigma$ minus at $-{s['sigma']:g}\\sigma$, mean over "
            f"{s['samples']} latents, for the top {s['components']} components (top) and the first random draw's "
            f"directions (bottom). The class each component moves most, in points of pixel share (in brackets: "
            f"the share of the {count(r['directions'])} random directions that move their own top class as much): "
            f"{tops}. Random directions move their top class by a median of {100 * r['max_abs_delta_median']:.1f} points (95th percentile "
            f"{100 * r['max_abs_delta_p95']:.1f}).")


def _settings(j: dict) -> dict:
    return dict(j["settings"])


def _model_sha256(j: dict) -> str | None:
    return j["provenance"]["model"]["sha256"]


FIGURE = PaperFigure(
    "fig_ganspace", "GANSpace (Harkonen et al. 2020): principal latent directions against random ones",
    "ganlens.ganspace", "ganspace.json",
    ("--layer", "first", "--n", "2000", "--components", "8", "--draws", "20", "--samples", "32", "--show", "2",
     "--sigma", "3"),
    {"ganspace": caption_ganspace, "objects": caption_objects},
    {"ganspace": "fig_ganspace", "objects": "fig_ganspace_objects"},
    _settings, _model_sha256)
