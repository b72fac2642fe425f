"""Y against its controls for draws of exemplars: the latents of every condition (Y, A_plus_C, null,
A_alone, C_alone, each a 3x3 grid with the draw's noise), the pixel-space result, their images, and the
judge's outcomes (:func:`score`); the figure's own exemplars as a draw (:func:`figure_draw`)."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.arith.concepts import Concept
from ganlens.analyses.arith.decide import LATENT_CONDITIONS, claim_name
from ganlens.analyses.arith.expr import Term, combine
from ganlens.analyses.arith.judge import Judge, judged
from ganlens.analyses.arith.latents import concept_vectors, grid_latents, neighbourhood, rescale, result_vector
from ganlens.analyses.arith.record import Draw, Evaluation, Pools, evaluation_arrays, evaluation_block
from ganlens.core.generate import images
from ganlens.data.sets import to_float, to_uint8


def pixel_arith(terms: list[Term], images: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Pixel-space control: {name: uint8 (k, nc, H, W)} -> ({name: mean image in [-1, 1]}, result in [-1, 1])."""
    means = {name: to_float(x).double().mean(0) for name, x in images.items()}
    return ({k: v.float() for k, v in means.items()},
            combine(terms, means).clamp(-1, 1).float())


def first_and_last(terms: list[Term]) -> tuple[str, str]:
    """(A, C): the concept of the first positive term (the first term if none is positive), and of the last."""
    return next((t.name for t in terms if t.coef > 0), terms[0].name), terms[-1].name


def condition_latents(gan, terms: list[Term], draw: Draw, norm: str) -> dict[str, torch.Tensor]:
    """{condition: (9, nz)}, centre at index 4 and 8 neighbours with the draw's noise, for Y and the latent
    controls: A_plus_C (the positive terms only, i.e. the expression without its subtraction, rescaled to
    |Y|), null (the expression with the draw's random exemplars for every concept but the last, rescaled
    to |Y|), A_alone (the first positive term's concept), C_alone (the last term's concept)."""
    first, last = first_and_last(terms)
    vec = concept_vectors(draw.z, norm, gan)
    rnd = concept_vectors({n: draw.z[n] if n == last else draw.random[n] for n in draw.z}, norm, gan)
    y = result_vector(terms, vec, norm, gan)
    null = rescale(combine(terms, rnd), float(y.double().norm()))
    plus = rescale(combine([t for t in terms if t.coef > 0], vec), float(y.double().norm()))
    centres = {"Y": y, "A_plus_C": plus, "A_alone": vec[first], "null": null, "C_alone": vec[last]}
    return {c: grid_latents(centres[c], neighbourhood(centres[c], draw.noise, gan.latent)) for c in LATENT_CONDITIONS}


def render_draws(gan, terms: list[Term], draws: list[Draw], norm: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images of every draw: latent conditions (D, 5, 9, nc, H, W) and pixel results (D, nc, H, W)."""
    lat = [condition_latents(gan, terms, d, norm) for d in draws]
    z = torch.stack([torch.stack([c[k] for k in LATENT_CONDITIONS]) for c in lat])
    imgs = images(gan, z.reshape(-1, gan.nz), uint8=True)
    pix = to_uint8(torch.stack([pixel_arith(terms, d.images)[1] for d in draws]))
    return imgs.reshape(*z.shape[:3], *imgs.shape[1:]), pix


def outcomes(judge: Judge, lat: torch.Tensor, pix: torch.Tensor, attributes: tuple[str, ...],
             expected: dict[str, bool]) -> tuple[dict, dict]:
    """Judged attributes and the expected outcome: ({measure: (D, 5, 9) bool}, {measure: (D,) bool})."""
    D = len(pix)
    att = judged(judge, torch.cat([lat.reshape(-1, *lat.shape[3:]), pix]), attributes)
    lat_out = {a: v[:-D].reshape(lat.shape[:3]) for a, v in att.items()}
    pix_out = {a: v[-D:] for a, v in att.items()}
    claim = claim_name(expected)
    for out in (lat_out, pix_out):
        out[claim] = np.logical_and.reduce([out[a] == v for a, v in expected.items()])
    return lat_out, pix_out


def score(gan, terms: list[Term], draws: list[Draw], judge: Judge | None, attributes: tuple[str, ...],
          expected: dict[str, bool], norm: str) -> Evaluation:
    """Y and the controls rendered for every draw and, with a judge, judged (without one: shown, not scored)."""
    lat, pix = render_draws(gan, terms, draws, norm)
    first, last = first_and_last(terms)
    ev = Evaluation(draws, first, last, lat, pix, attributes, expected)
    if judge is not None:
        ev.latent, ev.pixel = outcomes(judge, lat, pix, attributes, expected)
    return ev


def evaluate(gan, terms: list[Term], draws: list[Draw], judge: Judge | None, attributes: tuple[str, ...],
             expected: dict[str, bool], norm: str) -> tuple[dict, dict]:
    """:func:`score` as (JSON block, arrays of draw 0 for the controls figure: ``controls_grid`` (5, 9, nc, H,
    W) and ``controls_pixel`` (1, nc, H, W) uint8)."""
    ev = score(gan, terms, draws, judge, attributes, expected, norm)
    return evaluation_block(ev), evaluation_arrays(ev)


def figure_draw(gan, terms: list[Term], concepts: dict[str, Concept], exemplar_images: dict, noise: torch.Tensor,
                seed: int, n: int, pools: Pools | None = None) -> Draw:
    """The figure's own exemplars as a draw; the null's random exemplars are seeds among the candidates
    (``seed``..``seed + n - 1``, the exemplars' own seeds left out), as many per concept as it has."""
    names = list(dict.fromkeys(t.name for t in terms))
    used = {s for c in names for s in (concepts[c].seeds or [])}
    pool = [s for s in (pools.seeds if pools is not None else range(seed, seed + n)) if s not in used]
    others = [c for c in names if c != terms[-1].name]
    counts = [len(concepts[c].z) for c in others]
    rnd = np.random.default_rng(seed + 2).choice(pool or [seed], sum(counts), replace=sum(counts) > len(pool))
    rand = {c: [int(s) for s in part] for c, part in zip(others, np.split(rnd, np.cumsum(counts)[:-1]))}
    return Draw(z={c: concepts[c].z for c in names}, random={c: gan.latents(v) for c, v in rand.items()},
                noise=noise, images=exemplar_images,
                seeds={"exemplars": {c: concepts[c].seeds for c in names}, "random": rand})
