"""The analysis: :func:`arith` (a GAN, an expression over concepts and settings -> a Result), made of the
expression on the figure's exemplars (:func:`compute_expr`), its controls over draws (``controls``, ``demo``)
and the turn (``turn``)."""

from __future__ import annotations

import torch

from ganlens.analyses.api import renamed
from ganlens.analyses.arith.concepts import Concept, as_concept, parse_seeds
from ganlens.analyses.arith.controls import figure_draw, pixel_arith, score
from ganlens.analyses.arith.demo import auto_concepts, demo_expr, demo_names, trial_draws
from ganlens.analyses.arith.expr import NAME, Term, format_expr, parse_expr, parse_turn
from ganlens.analyses.arith.figure import plot_arith, plot_controls, plot_turn
from ganlens.analyses.arith.judge import Judge, resolve_judge
from ganlens.analyses.arith.latents import (JITTER, NEIGHBOURS, NORMS, concept_vectors, grid_latents, neighbourhood,
                                            result_vector, typical_norm, uniform_noise)
from ganlens.analyses.arith.record import (CANDIDATES, CONTEXT, DRAWS, TARGET, ExprRun, Pools, Settings, claim_block,
                                           demo_block, evaluation_arrays, evaluation_block, expr_arrays, expr_block,
                                           header, turn_arrays, turn_block)
from ganlens.analyses.arith.turn import compute_turn
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.generate import images
from ganlens.core.results import Result


def compute_expr(gan, terms: list[Term], concepts: dict[str, Concept], noise: torch.Tensor,
                 norm: str = "none") -> ExprRun:
    """Latent and pixel arithmetic for one expression on the concepts' exemplars.

    noise: (8, nz) the neighbours' noise (:func:`uniform_noise`); norm: "none" or "typical".
    """
    names = list(dict.fromkeys(t.name for t in terms))
    means = concept_vectors({n: concepts[n].z for n in names}, norm, gan)
    y = result_vector(terms, means, norm, gan)
    neighbours = neighbourhood(y, noise, gan.latent)
    z_grid = grid_latents(y, neighbours)
    ex_z = torch.cat([concepts[n].z for n in names])
    counts = [len(concepts[n].z) for n in names]
    imgs = images(gan, torch.cat([ex_z, torch.stack([means[n] for n in names]), z_grid]), uint8=True)
    ex_imgs = dict(zip(names, torch.split(imgs[:len(ex_z)], counts)))
    pix_means, pix_result = pixel_arith(terms, ex_imgs)
    return ExprRun(terms, names, {n: concepts[n] for n in names}, means, y, neighbours, z_grid, ex_imgs,
                   imgs[len(ex_z):len(ex_z) + len(names)], pix_means, pix_result, imgs[len(ex_z) + len(names):],
                   typical_norm(gan.nz, gan.latent), gan.latent == "uniform")


def run_expr(gan, terms: list[Term], concepts: dict[str, Concept], noise: torch.Tensor,
             norm: str = "none") -> tuple[dict, dict]:
    """:func:`compute_expr` as (its JSON dict, its arrays for the figure)."""
    run = compute_expr(gan, terms, concepts, noise, norm)
    return expr_block(run), expr_arrays(run)


@renamed(candidates="n", trials="draws")
def arith(gan, expr=None, concepts: dict | None = None, *, turn=None, turn_seeds=None, turn_steps: int = 9,
          jitter: float = JITTER, measure="auto", target: str = TARGET, context: str = CONTEXT, norm: str = "none",
          n: int = CANDIDATES, draws: int = DRAWS, seed: int = 0) -> Result:
    """Vector arithmetic on ``gan``'s latents (the paper's Fig. 7) with three controls, and turns (Fig. 8).

    expr: ``"A - B + C"`` (or a list of :class:`Term`); concepts: {name: seeds list, latents (k, nz) tensor,
    or a :class:`Concept`}; turn: ``"FROM:TO"`` or (FROM, TO), walked in ``turn_steps`` frames from the
    vector of FROM and from ``turn_seeds`` (default 1000-1002); jitter: neighbour noise std as a fraction
    of the latent std; norm: "none" (concept = mean of exemplars, the paper) or "typical" (concept vectors
    and results rescaled to the typical latent norm); measure: "auto" (the rooms detector on rooms
    models), "detector", "none", or a function ``uint8 images (N, nc, H, W) -> {attribute: (N,) bools}``
    judging ``target`` and ``context``. With no expr and no turn and a judge: the demo
    ``{target}_no{context} - no{target}_no{context} + no{target}_{context}`` with exemplars sorted by the
    judge among ``n`` samples (old name: candidates), ``draws`` random draws (old name: trials) deciding the
    claim, and a turn. Returns a :class:`ganlens.Result` of kind "arith" (figures "arith", "controls" and/or
    "turn").
    """
    s = Settings(seed, jitter, norm, n, draws, turn_steps, target, context)
    _check_settings(s)
    gan.require_G()
    terms = parse_expr(expr) if isinstance(expr, str) else (list(expr) if expr is not None else None)
    turn = parse_turn(turn) if isinstance(turn, str) else (tuple(turn) if turn is not None else None)
    judge = resolve_judge(gan, measure, s.attributes)
    demo = terms is None and turn is None
    if demo:
        terms, turn = _demo_plan(judge, s)
    concepts, auto = _gather(gan, concepts, expr, terms, turn, judge, s)
    result, arrays, plots, pools = header(gan, s, demo, judge), {}, {}, None
    if auto:
        found = auto_concepts(gan, judge, target, context, n, seed)
        concepts.update({c: found.concepts[c] for c in auto})
        result["measure"]["auto_concepts"] = dict(demo_block(found), names=auto)
        pools = found.pools
    if terms is not None:
        _expr_part(result, arrays, gan, terms, concepts, judge, pools, s, demo)
        plots["arith"], plots["controls"] = plot_arith, plot_controls
    if turn is not None:
        t = compute_turn(gan, turn, concepts, _turn_seeds(turn_seeds, concepts, demo, s), turn_steps, judge,
                         s.attributes, norm)
        result["turn"] = turn_block(t)
        arrays.update(turn_arrays(t))
        plots["turn"] = plot_turn
    return Result("arith", result, arrays, plots)


def _check_settings(s: Settings) -> None:
    require_at_least({"turn_steps": (s.turn_steps, 2), "n": (s.n, 9), "draws": (s.draws, 0)})
    if not 0 <= s.jitter <= 10:
        raise GanlensError(f"jitter must be in [0, 10], got {s.jitter}")
    if s.norm not in NORMS:
        raise GanlensError(f"norm must be one of {', '.join(NORMS)}, got {s.norm!r}")
    for flag, value in (("target", s.target), ("context", s.context)):
        if not NAME.fullmatch(str(value)):
            raise GanlensError(f"--{flag} {value}: an attribute name is a word ([A-Za-z][A-Za-z0-9_]*)")
    if s.target == s.context:
        raise GanlensError(f"--target and --context must differ, both are {s.target}")


def _demo_plan(judge: Judge | None, s: Settings) -> tuple[list[Term], tuple[str, str]]:
    """The demo's expression and turn (from B to A: the window added to a room without one)."""
    if judge is None:
        raise GanlensError("--expr: give an expression, e.g. --expr 'A - B + C' --A 3,17,42 --B 5,8,99 --C 1,2,4 "
                           "(the automatic demo needs a judge: a rooms model or --measure detector)")
    names = demo_names(s.target, s.context)
    return parse_expr(demo_expr(s.target, s.context)), (names["B"], names["A"])


def _gather(gan, concepts: dict | None, expr, terms, turn, judge: Judge | None,
            s: Settings) -> tuple[dict[str, Concept], list[str]]:
    """(the given concepts the expression and the turn use, the names the demo's pools are to supply)."""
    names = demo_names(s.target, s.context)
    given = {c: as_concept(c, v, gan) for c, v in (concepts or {}).items()}
    needed = list(dict.fromkeys(([t.name for t in terms] if terms else []) + (list(turn) if turn else [])))
    pooled = (names["A"], names["B"], names["C"])
    auto = [c for c in needed if c not in given and c in pooled and judge is not None]
    _check_missing([c for c in needed if c not in given and c not in auto], expr, terms, turn)
    return {c: v for c, v in given.items() if c in needed}, auto


def _check_missing(missing: list[str], expr, terms, turn) -> None:
    """One line naming the first concept with no exemplars and how to give it."""
    if not missing:
        return
    n = missing[0]
    if expr is not None and any(m in [t.name for t in terms] for m in missing):
        where = f"--expr {expr if isinstance(expr, str) else format_expr(terms)!r}"
    else:
        where = f"--turn {turn[0]}:{turn[1]}"
    flag = f"--{n} SEEDS or --concept {n}=SEEDS" if len(n) == 1 and n.isupper() else f"--concept {n}=SEEDS"
    raise GanlensError(f"{where}: unknown concept {n} (no exemplars given); pass {flag}")


def _turn_seeds(turn_seeds, concepts: dict[str, Concept], demo: bool, s: Settings) -> list[int]:
    """The seeds the turn is added to: given, else the demo's C exemplars, else 1000-1002."""
    if isinstance(turn_seeds, str):
        turn_seeds = parse_seeds(turn_seeds, "--turn-seeds")
    if turn_seeds is None:
        turn_seeds = concepts[demo_names(s.target, s.context)["C"]].seeds if demo else [1000, 1001, 1002]
    return [int(x) for x in turn_seeds]


def _expr_part(result: dict, arrays: dict, gan, terms: list[Term], concepts: dict[str, Concept],
               judge: Judge | None, pools: Pools | None, s: Settings, demo: bool) -> None:
    """The figure's expression, its controls (scored when there is a judge) and, in the demo, the draws;
    ``result["claim"]`` sums up the evaluation that decides (the draws when there are any)."""
    noise = uniform_noise(NEIGHBOURS, gan.nz, gan.latent, s.jitter, torch.Generator().manual_seed(s.seed))
    run = compute_expr(gan, terms, concepts, noise, s.norm)
    result.update(expr_block(run))
    arrays.update(expr_arrays(run))
    result["figure"] = {"names": run.names}
    expected = {s.target: True, s.context: True} if demo else {s.target: True}
    draw = figure_draw(gan, terms, concepts, run.exemplar_images, noise, s.seed, s.n, pools)
    controls = score(gan, terms, [draw], judge, s.attributes, expected, s.norm)
    result["controls"] = evaluation_block(controls)
    arrays.update(evaluation_arrays(controls))
    if demo and s.draws:
        draws = trial_draws(gan, terms, pools, s.draws, s.jitter, s.seed)
        result["trials"] = evaluation_block(score(gan, terms, draws, judge, s.attributes, expected, s.norm))
    block = result.get("trials") or result["controls"]
    if block["scored"]:
        result["claim"] = claim_block(block, "trials" if "trials" in result else "controls")
