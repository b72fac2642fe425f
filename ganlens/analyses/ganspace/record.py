"""The records GANSpace's steps pass on, and :func:`to_result`, the one place they become the JSON (and the
Result with its arrays and figures)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganlens.analyses.ganspace.figure import plot_ganspace, plot_objects
from ganlens.core.layers import Layer
from ganlens.core.results import Result, provenance

DEFINITIONS = {
    "explained_variance_ratio": "variance of the layer's activations along the component / their total variance "
                                "(ddof 0, flattened activations)",
    "sigma_activation": "standard deviation of the component's PCA coordinate over the n latents",
    "sigma_latent": "standard deviation of a latent's coordinate along a unit direction (1 for normal latents, "
                    "1/sqrt(3) for uniform ones); edits move +-sigma_latent per step",
    "latent_direction": "least-squares regression of the latents on the standardised PCA coordinates, each row "
                        "scaled to unit length (Harkonen et al. 2020)",
    "edit": "the latent moved to the latent mean along the direction, then k sigma_latent along it (the "
            "reference's centred strips), k = -sigma..+sigma",
    "change": "RMS pixel difference (pixels in [0, 1]) between the +sigma and -sigma edits, divided by their "
              "latent distance 2 sigma sigma_latent; per latent, averaged over the directions of a set",
    "random_directions": "each draw: `components` random orthonormal latent directions (QR of a Gaussian "
                         "matrix), edited exactly as the principal ones",
    "fit_correlation": "correlation over the n latents between a component's PCA coordinate and the latents' "
                       "coordinate along its latent direction",
}


@dataclass
class Basis:
    """The PCA of one layer and its latent directions. act_comp (m, D), act_std and var_ratio (m,): the top
    m >= k components (the scree); lat_comp (k, nz): unit latent directions of the top k."""

    layer: Layer
    act_mean: np.ndarray
    act_comp: np.ndarray
    act_std: np.ndarray
    var_ratio: np.ndarray
    total_var: float
    random_var_ratio: np.ndarray
    lat_comp: np.ndarray
    lat_mean: np.ndarray
    lat_std: float
    fit_corr: np.ndarray


@dataclass
class Measured:
    """One set of m directions edited at L latents: change (L, m); with a judge, the class shares (L, m, C)
    of the -sigma and +sigma images."""

    change: np.ndarray
    shares_minus: np.ndarray | None = None
    shares_plus: np.ndarray | None = None


@dataclass(frozen=True)
class DrawTest:
    """The principal set against one random draw, paired per latent: Wilcoxon signed-rank p (two-sided),
    mean difference of the changes (principal - random), latents where principal is higher / lower."""

    draw: int
    p: float
    mean_difference: float
    higher: int
    lower: int


@dataclass(frozen=True)
class Decision:
    """The rule's verdict: fires when every draw is beaten (p < level, principal higher); p_value = the
    largest per-draw p (1 for a draw the principal set does not exceed)."""

    fires: bool
    p_value: float
    draws: tuple[DrawTest, ...]
    level: float

    @property
    def beaten(self) -> int:
        return sum(t.p < self.level and t.mean_difference > 0 for t in self.draws)

    @property
    def false_positive_bound(self) -> float:
        """Firing means the principal set's mean change exceeds every draw's: under the null (the principal
        set is one more random draw) that happens with probability 1/(draws+1)."""
        return 1.0 / (len(self.draws) + 1)


@dataclass(frozen=True)
class ComponentObjects:
    """Object shares moved by one direction: deltas (C,) mean over latents of share(+sigma) - share(-sigma);
    top: class of the largest |delta|; p: Wilcoxon over latents of that class's shares (+ vs -);
    random_exceed: share of the random directions whose largest |delta| is at least this one's."""

    deltas: np.ndarray
    top: int
    p: float
    random_exceed: float


@dataclass
class ObjectEffects:
    """The rooms judge's reading of the edits, principal and random (random_deltas (draws, k, C))."""

    classes: tuple[str, ...]
    components: list[ComponentObjects]
    random_deltas: np.ndarray
    random_max: np.ndarray


@dataclass(frozen=True)
class Settings:
    layer: Layer
    n: int
    components: int
    draws: int
    samples: int
    show: int
    sigma: float
    seed: int
    batch_size: int
    device: str
    latent: str
    offsets: tuple[float, ...]   # the figure's columns, in sigmas

    @property
    def pca_seeds(self) -> list[int]:
        return [self.seed, self.seed + self.n - 1]

    @property
    def edit_seeds(self) -> list[int]:
        return [self.seed + self.n, self.seed + self.n + self.samples - 1]


@dataclass
class Run:
    """Everything one call computed; :func:`to_result` writes it."""

    settings: Settings
    basis: Basis
    principal: Measured
    random: list[Measured]
    decision: Decision
    frames: np.ndarray          # uint8 (k, show, columns, nc, H, W)
    random_frames: np.ndarray   # uint8 (r, show, columns, nc, H, W): the first draw's first r directions
    objects: ObjectEffects | None = None
    no_objects: str = ""        # why the objects could not be measured


# ---------------------------------------------------------------------------------------------- JSON

def _f(x, digits: int = 6) -> float:
    """``x`` to ``digits`` significant digits (changes of an untrained G can be 1e-7: decimals would give 0)."""
    return float(f"{float(x):.{digits}g}")


def _settings(s: Settings, b: Basis) -> dict:
    return {"layer": s.layer.name, "layer_shape": list(s.layer.shape), "n": s.n, "components": s.components,
            "draws": s.draws, "samples": s.samples, "show": s.show, "sigma": s.sigma, "seed": s.seed,
            "batch_size": s.batch_size, "device": s.device, "latent": s.latent, "sigma_latent": b.lat_std,
            "pca_seeds": s.pca_seeds, "edit_seeds": s.edit_seeds, "columns_sigma": list(s.offsets),
            "scree_components": len(b.var_ratio), "estimator": "PCA, randomized SVD (scikit-learn)",
            "regression": "least squares of z on the standardised PCA coordinates (scipy gelsd)"}


def _components(r: Run) -> list[dict]:
    b, change = r.basis, r.principal.change
    rand = np.stack([m.change for m in r.random])  # (D, L, k)
    return [{"component": c + 1, "explained_variance_ratio": _f(b.var_ratio[c]),
             "sigma_activation": _f(b.act_std[c]), "sigma_latent": b.lat_std,
             "fit_correlation": _f(b.fit_corr[c]), "change": _f(change[:, c].mean()),
             "change_random": _f(rand[:, :, c].mean())} for c in range(r.settings.components)]


def _explained(b: Basis, k: int) -> dict:
    return {"ratio": [_f(v) for v in b.var_ratio[:k]], "cumulative": [_f(v) for v in np.cumsum(b.var_ratio[:k])],
            "scree": [_f(v) for v in b.var_ratio], "total_variance": _f(b.total_var),
            "random_directions": [_f(v) for v in b.random_var_ratio],
            "random_directions_mean": _f(b.random_var_ratio.mean())}


def _change(r: Run) -> dict:
    p = r.principal.change.mean(axis=1)                                # (L,)
    rand = np.stack([m.change.mean(axis=1) for m in r.random])         # (D, L)
    pm, rm = float(p.mean()), float(rand.mean())
    return {"unit": "RMS pixel difference (pixels in [0, 1]) per unit of latent distance",
            "principal_mean": _f(pm), "random_mean": _f(rm), "ratio": _f(pm / rm) if rm > 0 else None,
            "per_latent": {"principal": [_f(v) for v in p], "random": [_f(v) for v in rand.mean(axis=0)]},
            "per_draw": [_f(v) for v in rand.mean(axis=1)]}


def _rule(d: Decision, samples: int) -> dict:
    return {"text": "principal directions change images more than random ones: for every random draw, a "
                    "Wilcoxon signed-rank test over latents (one cluster each; paired: the latent's mean change "
                    "along the principal set vs along the draw's set) gives p < level with the principal set "
                    "higher",
            "test": "scipy.stats.wilcoxon, two-sided, per draw (ganlens.stats.wilcoxon)", "level": d.level,
            "fires": d.fires, "p_value": d.p_value, "draws_beaten": d.beaten, "draws_total": len(d.draws),
            "false_positive_bound": _f(d.false_positive_bound),
            "draws": [{"draw": t.draw, "p": t.p, "mean_difference": _f(t.mean_difference),
                       "higher": t.higher, "lower": t.lower} for t in d.draws],
            "note": None if samples >= 6 else "with fewer than 6 latents no two-sided Wilcoxon p is below 0.05: "
                                              "the rule cannot fire"}


def _objects(r: Run) -> dict:
    o = r.objects
    if o is None:
        return {"measured": False, "reason": r.no_objects}
    comps = [{"component": c + 1, "top_class": o.classes[e.top], "delta": _f(e.deltas[e.top]), "p": e.p,
              "random_exceed": _f(e.random_exceed), "deltas": {k: _f(v) for k, v in zip(o.classes, e.deltas)}}
             for c, e in enumerate(o.components)]
    tops = np.abs(o.random_deltas).argmax(axis=-1).ravel()
    return {"measured": True, "judge": "the rooms segmenter (ganlens.data.detect, shipped detector)",
            "classes": list(o.classes), "components": comps,
            "definition": "share of the image's pixels the segmenter gives each class; delta = mean over latents "
                          "of share at +sigma minus share at -sigma",
            "random": {"directions": int(o.random_max.size), "max_abs_delta_median": _f(np.median(o.random_max)),
                       "max_abs_delta_p95": _f(np.quantile(o.random_max, 0.95)),
                       "top_class_counts": {c: int((tops == i).sum()) for i, c in enumerate(o.classes)
                                            if (tops == i).any()}}}


def to_dict(r: Run, gan, call: str) -> dict:
    """The JSON of one run (ganspace.json)."""
    s, b, d = r.settings, r.basis, r.decision
    change = _change(r)
    verdict = ("principal directions change images more than random ones" if d.fires else
               "not shown: principal directions do not change images more than every random draw")
    summary = {"explained_variance_top": [_f(v) for v in b.var_ratio[:min(3, s.components)]],
               "explained_variance_cumulative": _f(b.var_ratio[:s.components].sum()),
               "change_ratio": change["ratio"], "fires": d.fires, "p_value": d.p_value, "verdict": verdict}
    return {"settings": _settings(s, b), "definitions": DEFINITIONS, "components": _components(r),
            "explained_variance": _explained(b, s.components), "change": change, "rule": _rule(d, s.samples),
            "objects": _objects(r), "summary": summary, "provenance": provenance(gan, s.seed, call=call)}


def to_result(r: Run, gan, call: str) -> Result:
    """The Result: ganspace.json, ganspace.npz (edit frames, per-latent changes, the basis) and the figures
    ``ganspace`` (edits, scree, change per latent) and, where objects were measured, ``objects``."""
    arrays = {"frames": r.frames, "random_frames": r.random_frames,
              "change_principal": r.principal.change.astype(np.float32),
              "change_random": np.stack([m.change for m in r.random]).astype(np.float32),
              "latent_directions": r.basis.lat_comp.astype(np.float32),
              "latent_mean": r.basis.lat_mean.astype(np.float32),
              "activation_components": r.basis.act_comp[:r.settings.components].astype(np.float32),
              "activation_mean": r.basis.act_mean.astype(np.float32)}
    plots = {"ganspace": plot_ganspace}
    if r.objects is not None:
        arrays["object_deltas"] = np.stack([e.deltas for e in r.objects.components]).astype(np.float32)
        arrays["random_object_deltas"] = r.objects.random_deltas.astype(np.float32)
        plots["objects"] = plot_objects
    return Result("ganspace", to_dict(r, gan, call), arrays, plots)
