"""The records passed between arith's steps (:class:`Settings`, :class:`Draw`, :class:`Pools`,
:class:`Demo`, :class:`ExprRun`, :class:`Evaluation`, :class:`TurnRun`) and the one place they become
arith.json's blocks and arith.npz's arrays. The JSON keys are those arith.json has always had."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ganlens.analyses.arith.concepts import Concept
from ganlens.analyses.arith.decide import ALPHA, CAVEAT, CONTROLS, LATENT_CONDITIONS, RULE, claim_name, compare
from ganlens.analyses.arith.expr import Term, format_expr
from ganlens.analyses.arith.judge import Judge
from ganlens.analyses.arith.latents import JITTER, NEIGHBOURS, noise_amplitude, typical_norm
from ganlens.core.results import checkpoint_block, provenance
from ganlens.data.sets import to_uint8

TARGET, CONTEXT = "window", "door"   # the demo's attributes (rooms detector classes)
EXEMPLARS = 3          # per concept in the demo, as in the paper
DRAWS = 64             # random exemplar draws of the demo (JSON: trials.draws)
CANDIDATES = 256       # samples the demo's pools are sorted from (JSON: candidates)
MAX_SHOWN = 6          # exemplars drawn per concept in the figure (all are used)


@dataclass(frozen=True)
class Settings:
    """:func:`arith`'s settings (checked by ``compute``): ``n`` candidate samples and ``draws`` exemplar
    draws of the demo, the neighbours' ``jitter``, the concept ``norm``, the judged ``target``/``context``."""

    seed: int = 0
    jitter: float = JITTER
    norm: str = "none"
    n: int = CANDIDATES
    draws: int = DRAWS
    turn_steps: int = 9
    target: str = TARGET
    context: str = CONTEXT

    @property
    def attributes(self) -> tuple[str, str]:
        return self.target, self.context


@dataclass
class Draw:
    """One set of exemplars for an expression, with what its controls need.

    z: {concept: (k, nz) exemplar latents}; random: {concept: (k, nz)} random exemplars standing in for
    every concept but the last term's (the null); noise: (8, nz) float64 neighbour noise shared by Y
    and the latent controls; images: {concept: uint8 (k, nc, H, W)} exemplar images (the pixel control);
    seeds: what the JSON records of this draw.
    """

    z: dict
    random: dict
    noise: torch.Tensor
    images: dict
    seeds: dict = field(default_factory=dict)


@dataclass
class Pools:
    """The demo's candidates sorted by the judge: ``concepts`` {pool: seeds in order}, ``seeds`` every
    candidate seed, ``images`` {seed: uint8 (nc, H, W)}."""

    concepts: dict[str, list[int]]
    seeds: list[int]
    images: dict[int, torch.Tensor]


@dataclass
class Demo:
    """The rooms demo's concepts (the first :data:`EXEMPLARS` seeds of each pool), its pools, the judge's
    rate of each attribute among the ``n`` candidates from seed ``start``, and the concept names."""

    concepts: dict[str, Concept]
    pools: Pools
    rates: dict[str, float]
    n: int
    start: int
    names: dict[str, str]
    target: str
    context: str


@dataclass
class ExprRun:
    """One expression on the figure's exemplars: concept vectors (nz,), Y, its 8 neighbours and the 3x3
    grid's latents (9, nz); uint8 images of the exemplars, of G(vector) and of the grid; the pixel-space
    means and result (float, [-1, 1])."""

    terms: list[Term]
    names: list[str]
    concepts: dict[str, Concept]
    vectors: dict[str, torch.Tensor]
    y: torch.Tensor
    neighbours: torch.Tensor
    z_grid: torch.Tensor
    exemplar_images: dict[str, torch.Tensor]
    mean_images: torch.Tensor
    pixel_means: dict[str, torch.Tensor]
    pixel_result: torch.Tensor
    grid_images: torch.Tensor
    typical_norm: float
    uniform: bool


@dataclass
class Evaluation:
    """Y and the controls over draws: uint8 images of the latent conditions (D, 5, 9, nc, H, W) and the pixel
    results (D, nc, H, W); with a judge the outcomes ``latent`` {measure: (D, 5, 9) bool} and ``pixel``
    {measure: (D,) bool} (the measures: the attributes and the expected outcome)."""

    draws: list[Draw]
    first: str
    last: str
    latent_images: torch.Tensor
    pixel_images: torch.Tensor
    attributes: tuple[str, ...]
    expected: dict[str, bool]
    latent: dict | None = None
    pixel: dict | None = None


@dataclass
class TurnRun:
    """A turn: ``z`` (R + 1, T, nz) and its uint8 ``frames`` (R + 1, T, nc, H, W); with a judge ``has``
    {attribute: (R + 1, T) bool}."""

    start: str
    end: str
    seeds: list[int]
    steps: int
    norm: str
    z: torch.Tensor
    frames: torch.Tensor
    direction_norm: float
    concepts: dict[str, Concept]
    has: dict[str, np.ndarray] | None = None


def expr_block(run: ExprRun) -> dict:
    """arith.json's ``expr``, ``terms``, ``concepts``, ``result`` and ``shown``."""
    names, y = run.names, run.y
    return {"expr": format_expr(run.terms),
            "terms": [{"coef": t.coef, "concept": t.name} for t in run.terms],
            "concepts": {n: run.concepts[n].describe() for n in names},
            "result": {"latent_norm": float(y.double().norm()),
                       "typical_norm": run.typical_norm,
                       "concept_mean_norms": {n: float(run.concepts[n].mean.double().norm()) for n in names},
                       "concept_vector_norms": {n: float(run.vectors[n].double().norm()) for n in names},
                       "neighbour_distance_mean": float((run.neighbours.double() - y.double()).norm(dim=1).mean()),
                       "outside_support_fraction": float((y.abs() > 1).double().mean()) if run.uniform else None},
            "shown": {"exemplars": {n: min(MAX_SHOWN, len(run.concepts[n].z)) for n in names}}}


def expr_arrays(run: ExprRun) -> dict[str, np.ndarray]:
    """arith.npz's arrays of the expression figure."""
    out = {"means": run.mean_images.numpy(),
           "pixel_means": to_uint8(torch.stack([run.pixel_means[n] for n in run.names])).numpy(),
           "pixel_result": to_uint8(run.pixel_result[None]).numpy(),
           "grid": run.grid_images.numpy(), "z_grid": run.z_grid.numpy(), "y": run.y.numpy()}
    out.update({f"exemplars_{n}": run.exemplar_images[n][:MAX_SHOWN].numpy() for n in run.names})
    out.update({f"z_{n}": run.concepts[n].z.numpy() for n in run.names})
    return out


def evaluation_block(ev: Evaluation) -> dict:
    """arith.json's ``controls`` / ``trials``: the draws described and, with a judge, scored (:func:`compare`)."""
    block = {"draws": len(ev.draws), "samples_per_draw": ev.latent_images.shape[2], "A": ev.first, "C": ev.last,
             "conditions_order": list(LATENT_CONDITIONS) + ["pixel"]}
    if ev.latent is None:
        return dict(block, scored=False)
    lat, pix, claim = ev.latent, ev.pixel, claim_name(ev.expected)
    block.update(scored=True, attributes=list(ev.attributes), expected=ev.expected, claim_measure=claim, rule=RULE,
                 caveat=CAVEAT, **compare(lat, pix, claim))
    block["draw0"] = {"latent": {c: {m: o[0, i].tolist() for m, o in lat.items()}
                                 for i, c in enumerate(LATENT_CONDITIONS)},
                      "pixel": {m: bool(o[0]) for m, o in pix.items()}}
    block["per_draw"] = [{"seeds": d.seeds, "claim_rate": {c: float(lat[claim][k, i].mean())
                                                           for i, c in enumerate(LATENT_CONDITIONS)},
                          "pixel_claim": bool(pix[claim][k])} for k, d in enumerate(ev.draws)]
    return block


def evaluation_arrays(ev: Evaluation) -> dict[str, np.ndarray]:
    """The controls figure's arrays: draw 0's ``controls_grid`` (5, 9, nc, H, W), ``controls_pixel`` (1, nc, H, W)."""
    return {"controls_grid": ev.latent_images[0].numpy(), "controls_pixel": ev.pixel_images[:1].numpy()}


def claim_block(block: dict, source: str) -> dict:
    """arith.json's ``claim``: the scored evaluation ``block`` that decides (``source``: "trials" or "controls")."""
    m = block["claim_measure"]
    return {"from": source, "measure": m, "samples": block["draws"] * block["samples_per_draw"], "rule": RULE,
            "rates": {c: v["rates"][m] for c, v in block["conditions"].items()},
            "Y_centre": block["conditions"]["Y"]["centre_rates"][m],
            "p_vs_Y": {c: block["conditions"][c]["vs_Y"]["p"] for c in CONTROLS + ("A_alone", "C_alone")},
            "draws_with_all_samples_equal": block["draws_with_all_samples_equal"],
            "beats": block["beats"], "claim_stands": block["claim_stands"]}


def demo_block(demo: Demo) -> dict:
    """arith.json's ``measure.auto_concepts`` (without ``names``): how the demo's pools were made."""
    t, c, names, e = demo.target, demo.context, demo.names, EXEMPLARS
    pools = demo.pools.concepts
    return {"candidates": demo.n, "candidate_seeds": [demo.start, demo.start + demo.n - 1],
            "rates": dict(demo.rates), "pools": {n: len(p) for n, p in pools.items()}, "expected": names["expected"],
            "rule": f"pools by the judge: {t} and no {c} ({names['A']}), neither ({names['B']}), {c} "
                    f"and no {t} ({names['C']}); the figure's exemplars are the first {e} seeds of each "
                    f"pool (seed order, no ranking); each trial draws {e} at random from each pool and "
                    f"{e} random candidates per concept but the last for the null"}


def turn_block(turn: TurnRun) -> dict:
    """arith.json's ``turn``."""
    a, b = turn.start, turn.end
    out = {"from": a, "to": b, "seeds": turn.seeds, "steps": turn.steps, "norm": turn.norm,
           "t": torch.linspace(0, 1, turn.steps).tolist(), "direction_norm": turn.direction_norm,
           "concepts": {n: turn.concepts[n].describe() for n in (a, b)},
           "rows": [f"vector({a}) -> vector({b})"] + [f"seed {s} + t d" for s in turn.seeds]}
    if turn.has is not None:
        out["rates_by_step"] = {k: v.mean(0).tolist() for k, v in turn.has.items()}
        out["attributes"] = {k: v.tolist() for k, v in turn.has.items()}
    return out


def turn_arrays(turn: TurnRun) -> dict[str, np.ndarray]:
    return {"turn_frames": turn.frames.numpy(), "turn_z": turn.z.numpy()}


def header(gan, s: Settings, demo: bool, judge: Judge | None) -> dict:
    """arith.json's ``checkpoint``, ``settings``, ``definitions``, ``provenance`` and (judged) ``measure``."""
    uniform = gan.latent == "uniform"
    settings = {"seed": s.seed, "device": str(gan.device), "jitter": s.jitter, "neighbours": NEIGHBOURS,
                "noise_amplitude": noise_amplitude(gan.latent, s.jitter), "latent": gan.latent,
                "neighbours_clipped_to": [-1, 1] if uniform else None, "demo": demo, "norm": s.norm,
                "measure": judge.info["name"] if judge is not None else None,
                "target": s.target, "context": s.context, "alpha": ALPHA}
    call = f"ganlens.arith({gan.name!r}, jitter={s.jitter}, norm={s.norm!r}, seed={s.seed}{', demo' if demo else ''})"
    out = {"checkpoint": checkpoint_block(gan), "settings": settings, "definitions": _definitions(gan, s.norm),
           "provenance": provenance(gan, s.seed, call=call)}
    if judge is not None:
        out["measure"] = {"judge": judge.info, "attributes": list(s.attributes)}
    return out


def _definitions(gan, norm: str) -> dict:
    norms = {"none": "concept vectors and Y as computed (the paper)",
             "typical": f"concept vectors, Y and the latent controls rescaled to the typical latent norm "
                        f"{typical_norm(gan.nz, gan.latent):.4g} (sqrt(nz), or sqrt(nz/3) for uniform latents); "
                        f"the mean of k normal latents has ~1/sqrt(k) of it and decodes washed out"}
    return {
        "concept": "mean of its exemplars' latents" + ("" if norm == "none" else ", rescaled to the typical norm"),
        "norm": norms[norm],
        "neighbours": "Y + U(-a, a) per coordinate, a = noise_amplitude (noise std = jitter x latent std); "
                      "uniform latents: neighbours clipped to [-1, 1], centre unchanged",
        "pixel_result": "the same arithmetic on the mean exemplar images in [-1, 1], clipped to [-1, 1]",
        "controls": {"A_plus_C": "the positive terms only (the expression without its subtraction), rescaled "
                                 "to |Y|, with the same 8 noise vectors: it has both concepts' attributes "
                                 "to offer, so the claim can lose to it",
                     "A_alone": "the first positive term's concept alone, with the same 8 noise vectors "
                                "(descriptive: with a two-attribute claim it cannot pass by construction)",
                     "null": "the expression with random exemplars (random candidate seeds) for every concept "
                             "but the last, rescaled to |Y| (norm-matched), with the same noise",
                     "pixel": "pixel_result (one image per draw); a judge scores presence, not realism: a "
                              "double exposure that shows the object counts",
                     "C_alone": "the last term's concept alone (descriptive, does not vote)"}}
