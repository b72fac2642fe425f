"""GANSpace (Härkönen et al., NeurIPS 2020) on any GAN: ``ganspace(gan, ...) -> Result``.

    r = ganspace(gan)                                   # the first hidden layer, 2000 latents, top 8 components
    r = ganspace(gan, layer="block2", components=4, draws=20)
    r["summary"], r.figure(), r.save("out/ganspace")

Steps: PCA of the layer's activations over latents ``gan.latents(seed .. seed+n-1)`` (:mod:`.decompose`);
latent directions by regression; edits of ``samples`` further latents along the top ``components`` and along
``draws`` sets of random orthonormal directions (:mod:`.edits`); the rule (:mod:`.rule`); on rooms models,
the objects each direction moves (:mod:`.objects`).
"""

from __future__ import annotations

import math

import numpy as np

from ganlens.analyses.ganspace.decompose import FIRST, decompose, resolve_layer
from ganlens.analyses.ganspace.edits import frames, measure, random_frames
from ganlens.analyses.ganspace.objects import object_effects, rooms_judge
from ganlens.analyses.ganspace.record import Run, Settings, to_result
from ganlens.analyses.ganspace.rule import decide
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.layers import Layer
from ganlens.core.results import Result

COLUMNS = 7          # the figure's columns: -sigma .. +sigma in 7 equal steps (-3..+3 at sigma 3)
RANDOM_ROWS = 2      # rows of random directions under the principal ones in the figure


def _check(gan, n, components, draws, samples, show, sigma, seed, batch_size) -> None:
    require_at_least({"n": (n, 3), "components": (components, 1), "draws": (draws, 1), "samples": (samples, 2),
                      "show": (show, 1), "batch_size": (batch_size, 1), "seed": (seed, 0)})
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
        raise GanlensError(f"sigma must be a positive number (the edit range in standard deviations), got {sigma!r}")
    if show > samples:
        raise GanlensError(f"show={show} is more than samples={samples} (the latents shown are among those edited)")
    gan.require_G()


def ganspace(gan, *, layer: str | Layer = FIRST, n: int = 2000, components: int = 8, draws: int = 20,
             samples: int = 32, show: int = 2, sigma: float = 3.0, seed: int = 0, batch_size: int = 256) -> Result:
    """GANSpace of ``gan``'s generator at ``layer`` ("first": its first hidden layer; any name or alias of G).

    PCA of the layer over ``n`` latents; the top ``components`` carried back to unit latent directions by
    regression; each of ``samples`` further latents edited to -sigma and +sigma (sigma_latent units) along
    every direction and along ``draws`` sets of random orthonormal directions; the change per unit latent step
    (RMS pixels) compared per latent by the rule of :mod:`ganlens.analyses.ganspace.rule`. The figure shows
    ``show`` latents edited from -sigma to +sigma. Returns a Result of kind "ganspace"."""
    _check(gan, n, components, draws, samples, show, sigma, seed, batch_size)
    lay = resolve_layer(gan, layer)
    offsets = tuple(float(v) for v in np.linspace(-sigma, sigma, COLUMNS))
    s = Settings(lay, n, components, draws, samples, show, float(sigma), seed, batch_size, str(gan.device),
                 gan.latent, offsets)
    z_fit = gan.latents(range(seed, seed + n))
    basis = decompose(gan, lay, z_fit, components, seed, batch_size)
    z = gan.latents(range(seed + n, seed + n + samples)).double().numpy()
    judge, why = rooms_judge(gan)
    step = sigma * basis.lat_std
    rand_dirs = random_frames(gan.nz, components, draws, seed)
    principal = measure(gan, z, basis.lat_comp, basis.lat_mean, step, judge, batch_size)
    random = [measure(gan, z, d, basis.lat_mean, step, judge, batch_size) for d in rand_dirs]
    decision = decide(principal.change.mean(axis=1), np.stack([m.change.mean(axis=1) for m in random]))
    cols = np.array(offsets) * basis.lat_std
    shown = frames(gan, z[:show], basis.lat_comp, basis.lat_mean, cols, batch_size)
    shown_random = frames(gan, z[:show], rand_dirs[0][:RANDOM_ROWS], basis.lat_mean, cols, batch_size)
    run = Run(s, basis, principal, random, decision, shown, shown_random, no_objects=why)
    if judge is not None:
        run.objects = object_effects(principal, random, judge.classes)
    call = (f"ganlens.ganspace({gan.name!r}, layer={lay.name!r}, n={n}, components={components}, draws={draws}, "
            f"samples={samples}, show={show}, sigma={sigma:g}, seed={seed})")
    return to_result(run, gan, call)
