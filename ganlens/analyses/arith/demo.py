"""The rooms demo: concepts that differ in two attributes, ``window_nodoor - nowindow_nodoor +
nowindow_door``, expected ``window_door``; the judge sorts candidate samples into the three pools
(:func:`auto_concepts`) and random draws from the pools decide the claim (:func:`trial_draws`)."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.analyses.arith.concepts import Concept
from ganlens.analyses.arith.expr import Term
from ganlens.analyses.arith.judge import Judge, judged
from ganlens.analyses.arith.latents import NEIGHBOURS, uniform_noise
from ganlens.analyses.arith.record import CONTEXT, EXEMPLARS, TARGET, Demo, Draw, Pools
from ganlens.core.errors import GanlensError
from ganlens.core.generate import images


def demo_names(target: str = TARGET, context: str = CONTEXT) -> dict[str, str]:
    """The demo's concepts: A (target, no context), B (neither), C (context, no target), and the expected Y."""
    return {"A": f"{target}_no{context}", "B": f"no{target}_no{context}", "C": f"no{target}_{context}",
            "expected": f"{target}_{context}"}


def demo_expr(target: str = TARGET, context: str = CONTEXT) -> str:
    n = demo_names(target, context)
    return f"{n['A']} - {n['B']} + {n['C']}"


def auto_concepts(gan, judge: Judge, target: str, context: str, n: int, start: int) -> Demo:
    """Sort seeds start..start+n-1 into the demo's three pools by the judge; the demo's concepts are the
    first :data:`EXEMPLARS` seeds of each pool (seed order, no ranking)."""
    seeds = list(range(start, start + n))
    imgs = images(gan, gan.latents(seeds), uint8=True)
    att = judged(judge, imgs, (target, context))
    t, c = att[target], att[context]
    names = demo_names(target, context)
    masks = {names["A"]: t & ~c, names["B"]: ~t & ~c, names["C"]: ~t & c}
    pools = {name: [s for s, m in zip(seeds, mask) if m] for name, mask in masks.items()}
    short = [f"{len(p)} {name}" for name, p in pools.items() if len(p) < EXEMPLARS]
    if short:
        raise GanlensError(f"automatic rooms demo: among {n} samples (seeds {start}..{start + n - 1}) "
                           f"the judge finds only {', '.join(short)}; each pool needs {EXEMPLARS} (raise --n, "
                           f"or give --expr with your own seeds)")
    concepts = {name: Concept(name, gan.latents(p[:EXEMPLARS]), seeds=p[:EXEMPLARS]) for name, p in pools.items()}
    return Demo(concepts, Pools(pools, seeds, dict(zip(seeds, imgs))),
                {target: float(t.mean()), context: float(c.mean())}, n, start, names, target, context)


def trial_draws(gan, terms: list[Term], pools: Pools, draws: int, scale: float, seed: int) -> list[Draw]:
    """``draws`` random draws of :data:`EXEMPLARS` exemplars per pool, random candidates for the null and
    fresh neighbour noise (numpy seed ``seed``, torch seed ``seed + 1``)."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    last = terms[-1].name
    out = []
    for _ in range(draws):
        pick = {n: [int(s) for s in rng.choice(p, EXEMPLARS, replace=False)] for n, p in pools.concepts.items()}
        others = [n for n in pick if n != last]
        rnd = [int(s) for s in rng.choice(pools.seeds, EXEMPLARS * len(others), replace=False)]
        rand = {n: rnd[i * EXEMPLARS:(i + 1) * EXEMPLARS] for i, n in enumerate(others)}
        out.append(Draw(z={n: gan.latents(s) for n, s in pick.items()}, random={n: gan.latents(s) for n, s in rand.items()},
                        noise=uniform_noise(NEIGHBOURS, gan.nz, gan.latent, scale, gen),
                        images={n: torch.stack([pools.images[s] for s in v]) for n, v in pick.items()},
                        seeds={"exemplars": pick, "random": rand}))
    return out
