"""Vector arithmetic on latents: ``ganlens.arith(gan, ...)`` / ``python -m ganlens.arith`` (Fig. 7 and 8).

    r = ganlens.arith(gan, "A - B + C", {"A": [3, 17, 42], "B": [5, 8, 99], "C": z_c})   # z_c: (k, nz)
    r = ganlens.arith(gan, turn="L:R", concepts={"L": [11, 12], "R": [21, 22]})
    r = ganlens.arith(ganlens.load())        # the rooms demo, judged by the rooms detector
    r = ganlens.arith(gan, "A - B + C", {...}, measure=my_judge)   # my_judge(uint8 images) -> {name: bools}
    r.to_dict(), r.figure(), r.figure("controls"), r.figure("turn"), r.save("out/arith")

The analysis lives in :mod:`ganlens.analyses.arith` (its parts: expression parser, concepts, controls, the
sign test over draws, judge, demo, turn, records, figures); this module is the command and re-exports its
public names. Method, controls, decision rule and the numbers on the shipped model: docs/methods.md, arith.

Outputs of ``Result.save`` (the command's ``--out``): ``arith.pdf/png`` (exemplars, concept vectors,
pixel-space means, results and the 3x3 grid), ``controls.pdf/png`` (Y and each control for the figure's
exemplars), ``turn.pdf/png`` with ``--turn``, ``arith.json`` and ``arith.npz`` (latents and images the
figures are drawn from).
"""

from __future__ import annotations

import argparse
import string
import sys

from ganlens import cli
from ganlens.analyses.api import analysis_module
from ganlens.analyses.arith import (ALPHA, BOOTSTRAP, CANDIDATES, CAVEAT, CONTEXT, CONTROLS, DRAWS, EXEMPLARS,
                                    JITTER, LATENT_CONDITIONS, MAX_COEF, MAX_SEEDS, MAX_SHOWN, MEASURES, NAME,
                                    NEIGHBOURS, NORMS, NUMBER, RULE, SEEDS, TARGET, Concept, Demo, Draw, Evaluation,
                                    ExprRun, Judge, Pools, Settings, Term, TurnRun, arith, as_concept, auto_concepts,
                                    beats, claim_name, combine, compare, compute_expr, compute_turn, concept_from_spec,
                                    concept_vectors, condition_latents, demo_expr, demo_names, detector_judge,
                                    draw_rate, evaluate, figure_draw, first_and_last, format_expr, grid_latents,
                                    is_rooms_model, jitter, judged, load_z_file, neighbourhood, noise_amplitude,
                                    outcomes, parse_expr, parse_seeds, parse_turn, pixel_arith, plot_arith,
                                    plot_controls, plot_turn, render_draws, rescale, resolve_judge, result_vector,
                                    run_expr, score, trial_draws, turn_latents, typical_norm, uniform_noise, versus)
from ganlens.core.errors import GanlensError
from ganlens.core.results import Result

TRIALS = DRAWS         # the old name of DRAWS
__all__ = [  # the analysis's public names, re-exported: ganlens.arith.<name> keeps working
    "ALPHA", "BOOTSTRAP", "CANDIDATES", "CAVEAT", "CONTEXT", "CONTROLS", "DRAWS", "EXEMPLARS", "JITTER",
    "LATENT_CONDITIONS", "MAX_COEF", "MAX_SEEDS", "MAX_SHOWN", "MEASURES", "NAME", "NEIGHBOURS", "NORMS", "NUMBER",
    "RULE", "SEEDS", "TARGET", "TRIALS", "Concept", "Demo", "Draw", "Evaluation", "ExprRun", "GanlensError", "Judge",
    "Pools", "Settings", "Term", "TurnRun", "arith", "as_concept", "auto_concepts", "beats", "claim_name", "combine",
    "compare", "compute_expr", "compute_turn", "concept_from_spec", "concept_vectors", "condition_latents",
    "demo_expr", "demo_names", "detector_judge", "draw_rate", "evaluate", "figure_draw", "first_and_last",
    "format_expr", "grid_latents", "is_rooms_model", "jitter", "judged", "load_z_file", "neighbourhood",
    "noise_amplitude", "outcomes", "parse_expr", "parse_seeds", "parse_turn", "pixel_arith", "plot_arith",
    "plot_controls", "plot_turn", "render_draws", "rescale", "resolve_judge", "result_vector", "run_expr", "score",
    "trial_draws", "turn_latents", "typical_norm", "uniform_noise", "versus",
    "PROG", "EXAMPLES", "parser", "from_args", "summary", "main", "concept_specs", "flag_concepts",
]
PROG = "python -m ganlens.arith"
EXAMPLES = f"""  {PROG}                                      # rooms demo: window_nodoor - nowindow_nodoor + nowindow_door
  {PROG} --norm typical --draws 128           # the demo with concept vectors at the typical latent norm
  {PROG} --expr "A - B + C" --A 3,17,42 --B 5,8,99 --C 10-12
  {PROG} --expr "smiling_woman - woman + man" --concept smiling_woman=1,2,3 \\
      --concept woman=4,5,6 --concept man=z_man.npy --checkpoint runs/faces/last.pt
  {PROG} --turn L:R --L 11,12,13,14 --R 21,22,23,24 --turn-seeds 100-103 --turn-steps 10
  {PROG} --model my_gan.py:build --expr "A - B + C" --A 1,2,3 --B 4,5,6 --C 7,8,9   # runs my_gan.py
"""


def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Vector arithmetic on latents (the paper's Fig. 7) against three controls (the "
                         "expression without its subtraction, a norm-matched null with random exemplars, pixel "
                         "space), decided over draws of exemplars, turn "
                         "interpolations (Fig. 8) and, on rooms models, a demo judged by the rooms detector.", EXAMPLES)
    p.add_common(out_default="ganlens-out/arith")
    p.add_argument("--expr", type=_checked(parse_expr),
                   help="expression over concepts, e.g. 'A - B + C' or '2 smile - 0.5*B' (no eval)")
    c = p.add_argument_group("concepts", "--A SEEDS .. --Z SEEDS (single-letter names), or --concept NAME=SEEDS; "
                                         "SEEDS is 3,17,42 or 10-12 or a .npy/.txt file of latents (k, nz)")
    for letter in string.ascii_uppercase:
        c.add_argument(f"--{letter}", dest=f"concept_{letter}", metavar="SEEDS|FILE",
                       help="exemplars of concept A (likewise --B .. --Z)" if letter == "A" else argparse.SUPPRESS)
    c.add_argument("--concept", action="append", metavar="NAME=SEEDS|FILE", help="a concept with any name (repeatable)")
    p.add_argument("--jitter", type=cli.number(0, 10), default=JITTER,
                   help=f"neighbour noise std as a fraction of the latent std (default: {JITTER}, the paper's "
                        f"+-0.25 on U(-1,1))")
    t = p.add_argument_group("turn (Fig. 8)")
    t.add_argument("--turn", metavar="FROM:TO", type=_checked(parse_turn),
                   help="interpolate along vector(TO) - vector(FROM), two concept names")
    t.add_argument("--turn-seeds", metavar="SEEDS", type=lambda text: parse_seeds(text, "--turn-seeds"),
                   help="samples the direction is added to (default: the demo's C exemplars, else 1000-1002)")
    t.add_argument("--turn-steps", type=cli.at_least(2), default=9, help="frames per row (default: 9)")
    p.add_argument("--norm", choices=NORMS, default="none",
                   help="none: a concept is the mean of its exemplars (the paper; the mean of k normal latents has "
                        "~1/sqrt(k) of their norm and decodes washed out); typical: concept vectors and results "
                        "rescaled to the typical latent norm (default: none)")
    m = p.add_argument_group("judge and demo")
    m.add_argument("--measure", choices=MEASURES, default="auto",
                   help="detector: judge samples with the rooms detector (class presence per image; 64x64 RGB); "
                        "auto: on rooms models; none: no judge (controls shown, not scored)")
    m.add_argument("--target", default=TARGET, metavar="CLASS",
                   help=f"the attribute Y should have (default: {TARGET})")
    m.add_argument("--context", default=CONTEXT, metavar="CLASS",
                   help=f"the demo's second attribute, which Y should take from C (default: {CONTEXT})")
    m.add_argument("--n", "--candidates", dest="n", type=cli.at_least(9), default=CANDIDATES, metavar="N",
                   help=f"samples the demo's exemplars are sorted from by the judge, and the null's random "
                        f"exemplars come from (default: {CANDIDATES})")
    m.add_argument("--draws", "--trials", dest="draws", type=cli.at_least(0), default=DRAWS, metavar="N",
                   help=f"random exemplar draws of the demo that decide its claim (default: {DRAWS}; 0 = none)")
    return p


def _checked(parse):
    """argparse ``type=``: run ``parse`` on the text now (its GanlensError is the one-line message), keep the text."""
    def check(text: str) -> str:
        parse(text)
        return text
    check.__name__ = parse.__name__
    return check


def flag_concepts(args, gan) -> dict[str, Concept]:
    """The concepts of --A..--Z and --concept that the expression, the turn or the demo uses (seeds or
    latent files); a warning names the others."""
    specs = concept_specs(args)
    used = set(list(demo_names(args.target, args.context).values())[:3]) if args.expr is None and args.turn is None \
        else set()
    used |= {t.name for t in parse_expr(args.expr)} if args.expr is not None else set()
    used |= set(parse_turn(args.turn)) if args.turn is not None else set()
    unused = [n for n in specs if n not in used]
    if unused:
        print(f"warning: concept(s) {', '.join(unused)} given but not used", file=sys.stderr)
    return {n: concept_from_spec(n, spec, flag, gan) for n, (spec, flag) in specs.items() if n in used}


def concept_specs(args) -> dict[str, tuple[str, str]]:
    """{name: (spec, flag)} from --A..--Z and --concept NAME=SPEC; a name given twice is an error."""
    out: dict[str, tuple[str, str]] = {}
    for letter in string.ascii_uppercase:
        v = getattr(args, f"concept_{letter}")
        if v is not None:
            out[letter] = (v, f"--{letter}")
    for item in args.concept or []:
        name, eq, spec = item.partition("=")
        name = name.strip()
        if not eq or not NAME.fullmatch(name) or not spec.strip():
            raise GanlensError(f"--concept {item}: expected NAME=SEEDS or NAME=FILE, e.g. --concept smile=3,17,42")
        if name in out:
            raise GanlensError(f"--concept {item}: concept {name} is given twice")
        out[name] = (spec.strip(), f"--concept {name}=")
    return out


def summary(args, result: Result) -> str:
    """The command's line on stderr: the result's norm and, when judged, Y against the three controls."""
    data, parts = result.data, []
    if "expr" in data:
        parts.append(f"{data['expr']}: |Y| = {data['result']['latent_norm']:.2f} (norm {data['settings']['norm']})")
    c = data.get("claim")
    if c:
        r = c["rates"]
        ci = r["Y"]["ci95"]
        parts.append(f"{c['measure']} over {c['samples']} samples ({c['from']}): Y {r['Y']['rate']:.2f} "
                     f"[{ci[0]:.2f}, {ci[1]:.2f}] vs {r['A_plus_C']['rate']:.2f} A+C, {r['null']['rate']:.2f} null, "
                     f"{r['pixel']['rate']:.2f} pixel (Y centre {c['Y_centre']['rate']:.2f})")
        lost = [k for k in CONTROLS if not c["beats"][k]]
        parts.append("claim stands (Y beats all three)" if c["claim_stands"] else
                     f"claim does not stand (Y does not beat {', '.join(lost)})")
    t = data.get("turn", {})
    if t.get("rates_by_step"):
        parts.append(f"turn {t['from']}->{t['to']}: " + ", ".join(f"{k} {v[0]:.2f} -> {v[-1]:.2f}"
                                                                  for k, v in t["rates_by_step"].items()))
    return "arith: " + "; ".join(parts)


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    return arith(gan, args.expr, flag_concepts(args, gan), turn=args.turn, turn_seeds=args.turn_seeds,
                 turn_steps=args.turn_steps, jitter=args.jitter, measure=args.measure, target=args.target,
                 context=args.context, norm=args.norm, n=args.n, draws=args.draws, seed=args.seed)


main = cli.analysis_main(parser, from_args, summary)
analysis_module(__name__, arith)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
