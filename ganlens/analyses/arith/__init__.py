"""Vector arithmetic on latents (the paper's Fig. 7) against three controls, decided over draws of
exemplars, and turns (Fig. 8).

    from ganlens.analyses.arith import arith
    r = arith(gan, "A - B + C", {"A": [3, 17, 42], "B": [5, 8, 99], "C": z_c})   # z_c: (k, nz)
    r = arith(gan, turn="L:R", concepts={"L": [11, 12], "R": [21, 22]})
    r = arith(ganlens.load())                     # the rooms demo, judged by the rooms detector
    r = arith(gan, "A - B + C", {...}, measure=my_judge)   # my_judge(uint8 images) -> {name: bools}

Modules: ``expr`` (the expression parser), ``concepts`` (exemplars), ``latents`` (noise, norms, the grid),
``judge``, ``decide`` (the sign test over draws), ``controls``, ``demo`` (the rooms demo), ``turn``,
``record`` (the records and the JSON), ``figure``, ``compute`` (:func:`arith`). Method: docs/methods.md, arith.
"""

from ganlens.analyses.arith.compute import arith, compute_expr, run_expr
from ganlens.analyses.arith.concepts import (MAX_SEEDS, SEEDS, Concept, as_concept, concept_from_spec, load_z_file,
                                             parse_seeds)
from ganlens.analyses.arith.controls import (condition_latents, evaluate, figure_draw, first_and_last, outcomes,
                                             pixel_arith, render_draws, score)
from ganlens.analyses.arith.decide import (ALPHA, BOOTSTRAP, CAVEAT, CONTROLS, LATENT_CONDITIONS, RULE, beats,
                                           claim_name, compare, draw_rate, versus)
from ganlens.analyses.arith.demo import auto_concepts, demo_expr, demo_names, trial_draws
from ganlens.analyses.arith.expr import MAX_COEF, NAME, NUMBER, Term, combine, format_expr, parse_expr, parse_turn
from ganlens.analyses.arith.figure import plot_arith, plot_controls, plot_turn
from ganlens.analyses.arith.judge import MEASURES, Judge, detector_judge, is_rooms_model, judged, resolve_judge
from ganlens.analyses.arith.latents import (JITTER, NEIGHBOURS, NORMS, concept_vectors, grid_latents, jitter,
                                            neighbourhood, noise_amplitude, rescale, result_vector, typical_norm,
                                            uniform_noise)
from ganlens.analyses.arith.record import (CANDIDATES, CONTEXT, DRAWS, EXEMPLARS, MAX_SHOWN, TARGET, Demo, Draw,
                                           Evaluation, ExprRun, Pools, Settings, TurnRun)
from ganlens.analyses.arith.turn import compute_turn, turn_latents

__all__ = [
    "arith", "compute_expr", "run_expr", "MAX_SEEDS", "SEEDS", "Concept", "as_concept", "concept_from_spec",
    "load_z_file", "parse_seeds", "condition_latents", "evaluate", "figure_draw", "first_and_last", "outcomes",
    "pixel_arith", "render_draws", "score", "ALPHA", "BOOTSTRAP", "CAVEAT", "CONTROLS", "LATENT_CONDITIONS", "RULE",
    "beats", "claim_name", "compare", "draw_rate", "versus", "auto_concepts", "demo_expr", "demo_names",
    "trial_draws", "MAX_COEF", "NAME", "NUMBER", "Term", "combine", "format_expr", "parse_expr", "parse_turn",
    "plot_arith", "plot_controls", "plot_turn", "MEASURES", "Judge", "detector_judge", "is_rooms_model", "judged",
    "resolve_judge", "JITTER", "NEIGHBOURS", "NORMS", "concept_vectors", "grid_latents", "jitter", "neighbourhood",
    "noise_amplitude", "rescale", "result_vector", "typical_norm", "uniform_noise", "CANDIDATES", "CONTEXT", "DRAWS",
    "EXEMPLARS", "MAX_SHOWN", "TARGET", "Demo", "Draw", "Evaluation", "ExprRun", "Pools", "Settings", "TurnRun",
    "compute_turn", "turn_latents",
]
