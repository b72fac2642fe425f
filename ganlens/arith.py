"""Vector arithmetic on latents: ``ganlens.arith(gan, ...)`` / ``python -m ganlens.arith`` (Fig. 7 and 8).

    r = ganlens.arith(gan, "A - B + C", {"A": [3, 17, 42], "B": [5, 8, 99], "C": z_c})   # z_c: (k, nz)
    r = ganlens.arith(gan, turn="L:R", concepts={"L": [11, 12], "R": [21, 22]})
    r = ganlens.arith(ganlens.load())        # the rooms demo, judged by the rooms detector
    r = ganlens.arith(gan, "A - B + C", {...}, measure=my_judge)   # my_judge(uint8 images) -> {name: bools}
    r.to_dict(), r.figure(), r.figure("controls"), r.figure("turn"), r.save("out/arith")

* **Concepts.** A concept is a list of exemplars: seeds (latents by the :func:`ganlens.latent_from_seed`
  rule) or a file of latents (``.npy`` or ``.txt``, shape (k, nz) or (nz,); no pickles). As in the paper,
  a concept's vector is the mean of its exemplars' latents (the paper used 3 per concept).
* **Norm correction** (``norm``, default ``"none"``, the paper's method). The mean of k latents drawn
  from N(0, I) has about 1/sqrt(k) of their typical norm sqrt(nz), and G decodes such short latents as
  washed-out, average-looking images. ``norm="typical"`` rescales every concept vector and every result
  (Y and the latent controls below) to the typical norm: sqrt(nz) for normal latents, sqrt(nz/3) for
  uniform ones. The setting is recorded in the JSON (``settings.norm``).
* **Expressions.** ``--expr "A - B + C"`` is parsed by :func:`parse_expr` (never ``eval``): concept names
  (a letter or a word: ``[A-Za-z][A-Za-z0-9_]*``) joined by ``+`` and ``-``, each with an optional
  numeric coefficient (``2A``, ``0.5*B``). Single letters take ``--A SEEDS`` .. ``--Z SEEDS``; any name
  takes ``--concept NAME=SEEDS``. The result ``Y = sum(coef * vector(concept))``.
* **Neighbours.** ``Y`` is shown in the centre of a 3x3 grid with 8 neighbours ``Y + noise``. The paper
  adds uniform noise of +-0.25 to uniform latents in [-1, 1]; here the noise is uniform with the same
  size *relative to the latent distribution* (noise std = ``--jitter`` x latent std): +-0.25 for
  uniform latents, +-0.25*sqrt(3) = +-0.433 for normal ones. Decision for uniform latents: the 8
  neighbours are clipped to [-1, 1], so every jittered latent lies where the generator was trained;
  the centre is Y exactly as computed (the fraction of its coordinates outside [-1, 1] is reported).
* **Controls** (a claim needs a control it can lose to). Besides Y, with the same 8 noise vectors:
  (a) ``A_plus_C``: the positive terms only, the expression without its subtraction (``mean(A) + mean(C)``),
  rescaled to |Y|: it has both concepts' attributes to offer, so if adding them is all it takes, Y cannot
  beat it (the first concept alone, ``A_alone``, cannot pass a two-attribute claim and is descriptive
  only); (b) ``null``: a norm-matched null,
  the same expression with random exemplars (random seeds among the candidates) in place of every
  concept but the last (``random3 - random3 + C``), rescaled to Y's norm; (c) ``pixel``: the same
  arithmetic on the exemplars' images (each concept = the mean of its exemplar images in [-1, 1], the
  result clipped to [-1, 1]), which is what the paper contrasts; and, descriptive only, ``C_alone``:
  the last term's concept alone, and ``A_alone``. ``controls.pdf/png`` shows them.
* **Judge and rule** (``measure``): with a judge, every sample gets attributes (``--target`` and
  ``--context``, default ``window`` and ``door``). The rooms detector (:mod:`ganlens.detect`: class
  presence per image, trained on rendered rooms only, precision/recall on held-out rooms stored in the
  JSON) is the judge for rooms models (``auto``) or when asked (``detector``); from Python any function
  ``judge(uint8 images) -> {attribute: (N,) bools}`` can be given. The *expected outcome* of Y is the
  target (and, in the demo, the context) being present. The 9 samples of one draw share its exemplars,
  so they are one cluster (on the shipped model most draws give 9 equal outcomes), and decisions are made
  over draws: Y **beats** a control when more draws have Y's rate of the expected outcome above the
  control's than below and the two-sided sign test over draws (:func:`ganlens.stats.sign_test`; pixel
  space: Y's centre against the pixel result of the same draw) gives p < ``ALPHA``; its false-positive
  rate with clustered outcomes is simulated in the tests. The claim "the arithmetic works" **stands only
  when Y beats all three controls** (a), (b) and (c); one draw (user exemplars, no trials) is one
  cluster, so no claim stands from it. Rates carry 95 % intervals by the percentile bootstrap over draws;
  each comparison the mean per-draw difference with its bootstrap interval and the Wilcoxon p beside.
* **Rooms demo** (no ``--expr``/``--turn`` on a rooms model): concepts that differ in two attributes,
  ``window_nodoor - nowindow_nodoor + nowindow_door``, expected ``window_door`` (window and door both
  present: the window comes from A - B, the door from C, so mean(A) alone, with no door, cannot pass).
  The detector sorts ``--candidates`` samples into the three pools; the figure's exemplars are the
  first 3 seeds of each pool (seed order, no ranking); ``--trials`` draws of 3 random exemplars per
  pool (and 6 random candidates for the null) give the statistics that decide the claim. The turn
  walks from ``nowindow_nodoor`` to ``window_nodoor`` and adds that direction to the C exemplars.
* **Turn** (``--turn FROM:TO``, Fig. 8): the direction ``d = vector(TO) - vector(FROM)``; row 0 walks from
  vector(FROM) to vector(TO) (``vector(FROM) + t d``), further rows add ``t d`` to other samples
  (``--turn-seeds``), ``t`` from 0 to 1 in ``--turn-steps`` frames.

Outputs of ``Result.save`` (the command's ``--out``): ``arith.pdf/png`` (exemplars, concept vectors,
pixel-space means, results and the 3x3 grid), ``controls.pdf/png`` (Y and each control for the figure's
exemplars), ``turn.pdf/png`` with ``--turn``, ``arith.json`` and ``arith.npz`` (latents and images the
figures are drawn from).
"""

from __future__ import annotations

import argparse
import math
import re
import string
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from matplotlib.patches import Rectangle

from ganlens import cli, stats
from ganlens.core import figures
from ganlens.data.sets import to_float, to_uint8
from ganlens.core.errors import GanlensError, require_at_least
from ganlens.core.generate import images
from ganlens.core.results import Result, provenance
from ganlens.analyses.api import analysis_module

PROG = "python -m ganlens.arith"
EXAMPLES = f"""  {PROG}                                      # rooms demo: window_nodoor - nowindow_nodoor + nowindow_door
  {PROG} --norm typical --trials 128          # the demo with concept vectors at the typical latent norm
  {PROG} --expr "A - B + C" --A 3,17,42 --B 5,8,99 --C 10-12
  {PROG} --expr "smiling_woman - woman + man" --concept smiling_woman=1,2,3 \\
      --concept woman=4,5,6 --concept man=z_man.npy --checkpoint runs/faces/last.pt
  {PROG} --turn L:R --L 11,12,13,14 --R 21,22,23,24 --turn-seeds 100-103 --turn-steps 10
  {PROG} --model my_gan.py:build --expr "A - B + C" --A 1,2,3 --B 4,5,6 --C 7,8,9   # runs my_gan.py
"""
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
SEEDS = re.compile(r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$")
MAX_COEF = 1e6         # beyond this a latent leaves any distribution G was trained on (and floats overflow)
JITTER = 0.25          # the paper's +-0.25 on U(-1, 1) latents, as a fraction of the latent std
NEIGHBOURS = 8         # around the centre of a 3x3 grid
MAX_SHOWN = 6          # exemplars drawn per concept in the figure (all are used)
MAX_SEEDS = 100_000    # a range like 0-99999999 is a typo, not a concept
EXEMPLARS = 3          # per concept in the demo, as in the paper
TARGET, CONTEXT = "window", "door"   # the demo's attributes (rooms detector classes)
MEASURES = ("auto", "detector", "none")
NORMS = ("none", "typical")
ALPHA = 0.05           # Y beats a control when the sign test over draws gives p below this (and Y is higher)
LATENT_CONDITIONS = ("Y", "A_plus_C", "null", "A_alone", "C_alone")
CONTROLS = ("A_plus_C", "null", "pixel")   # the three that decide the claim; A_alone, C_alone are descriptive
BOOTSTRAP = 2000       # resamples of draws for the intervals
TRIALS = 64


# --------------------------------------------------------------------------------------- expressions

@dataclass(frozen=True)
class Term:
    """``coef * concept``."""

    coef: float
    name: str


def parse_expr(text: str) -> list[Term]:
    """``"A - 0.5*B + 2 C"`` -> [Term(1, "A"), Term(-0.5, "B"), Term(2, "C")]. No eval.

    Grammar: ``[+|-] [NUMBER [*]] NAME ((+|-) [NUMBER [*]] NAME)*``. Raises GanlensError with one line
    naming the expression, the position and the problem.
    """
    def fail(msg: str):
        raise GanlensError(f"--expr {text!r}: {msg}")

    if not text.strip():
        fail("empty expression; write e.g. 'A - B + C'")
    terms, i, n = [], 0, len(text)
    sign, expect_term = 1.0, True
    first = True

    def skip(i):
        while i < n and text[i].isspace():
            i += 1
        return i

    while True:
        i = skip(i)
        if expect_term:
            if i < n and text[i] in "+-" and first:
                sign = -1.0 if text[i] == "-" else 1.0
                i = skip(i + 1)
            if i >= n:
                fail(f"ends after {text.rstrip()[-1]!r}; a concept name must follow" if terms or not first
                     else "empty expression; write e.g. 'A - B + C'")
            coef = 1.0
            m = NUMBER.match(text, i)
            if m:
                coef = float(m.group())
                if not math.isfinite(coef) or abs(coef) > MAX_COEF:
                    fail(f"the coefficient {m.group()} at position {m.start() + 1} is out of range "
                         f"(|coefficient| <= {MAX_COEF:g})")
                i = skip(m.end())
                if i < n and text[i] == "*":
                    i = skip(i + 1)
                if i >= n or not NAME.match(text, i):
                    fail(f"the number {m.group()} at position {m.start() + 1} must be followed by a concept name")
            m = NAME.match(text, i)
            if not m:
                what = "an operator" if text[i] in "+-*" else f"unexpected character {text[i]!r}"
                fail(f"{what} at position {i + 1}, expected a concept name (letters, digits, _)")
            terms.append(Term(sign * coef, m.group()))
            i, expect_term, first = m.end(), False, False
        else:
            if i >= n:
                return terms
            if text[i] not in "+-":
                if NAME.match(text, i) or NUMBER.match(text, i):
                    fail(f"expected + or - before {text[i:].split()[0]!r} at position {i + 1}")
                fail(f"unexpected character {text[i]!r} at position {i + 1}; use concept names, numbers, + and -")
            sign, expect_term = (-1.0 if text[i] == "-" else 1.0), True
            i += 1


def format_expr(terms: list[Term]) -> str:
    """Canonical text of an expression: ``A - B + C``, ``2 A - 0.5 B``."""
    out = []
    for k, t in enumerate(terms):
        mag = abs(t.coef)
        body = t.name if mag == 1 else f"{mag:g} {t.name}"
        out.append((("-" if t.coef < 0 else "") + body) if k == 0 else (("- " if t.coef < 0 else "+ ") + body))
    return " ".join(out)


def combine(terms: list[Term], vectors: dict[str, torch.Tensor]) -> torch.Tensor:
    """``sum(coef * vectors[name])`` in float64, returned in the vectors' dtype; any shape (same for all)."""
    first = vectors[terms[0].name]
    acc = torch.zeros_like(first, dtype=torch.float64)
    for t in terms:
        acc = acc + t.coef * vectors[t.name].double()
    return acc.to(first.dtype)


# ------------------------------------------------------------------------------------------ concepts

def parse_seeds(text: str, flag: str) -> list[int]:
    """``"3,17,42"`` or ``"10-12,40"`` -> [3, 17, 42] / [10, 11, 12, 40] (order kept, repeats refused)."""
    if not SEEDS.match(text):
        raise GanlensError(f"{flag} {text}: expected seeds like 3,17,42 or 10-12")
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        lo, hi = int(lo), int(hi or lo)
        if hi < lo:
            raise GanlensError(f"{flag} {text}: range {lo}-{hi} runs backwards")
        if hi - lo + 1 + len(seeds) > MAX_SEEDS:
            raise GanlensError(f"{flag} {text}: more than {MAX_SEEDS} seeds")
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise GanlensError(f"{flag} {text}: a seed is listed twice")
    return seeds


def load_z_file(path: str | Path, nz: int, flag: str) -> torch.Tensor:
    """Latents (k, nz) float32 from a ``.npy`` (allow_pickle=False) or whitespace ``.txt`` file."""
    path = Path(path)
    if path.suffix.lower() not in (".npy", ".txt"):
        raise GanlensError(f"{flag} {path}: expected seeds like 3,17,42 or a .npy/.txt file of latents")
    if not path.is_file():
        raise GanlensError(f"{flag} {path}: no such file")
    try:
        z = np.load(path, allow_pickle=False) if path.suffix.lower() == ".npy" else np.loadtxt(path, ndmin=1)
    except (ValueError, OSError, EOFError) as e:
        raise GanlensError(f"{flag} {path}: not a readable {path.suffix} array ({str(e).splitlines()[0][:120]})")
    if not isinstance(z, np.ndarray) or not np.issubdtype(z.dtype, np.number):
        raise GanlensError(f"{flag} {path}: expected a numeric array, got {getattr(z, 'dtype', type(z))}")
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != nz or len(z) == 0:
        raise GanlensError(f"{flag} {path}: latents must have shape (k, {nz}) or ({nz},) for this model, "
                           f"got {tuple(z.shape)}")
    if not np.isfinite(z).all():
        raise GanlensError(f"{flag} {path}: latents contain NaN or infinity")
    return torch.from_numpy(z.astype(np.float32))


@dataclass
class Concept:
    """A concept's exemplars: latents (k, nz) and where they came from."""

    name: str
    z: torch.Tensor
    seeds: list[int] | None = None
    file: str | None = None

    @property
    def mean(self) -> torch.Tensor:
        return self.z.double().mean(0).float()

    def describe(self) -> dict:
        return {"count": len(self.z), "seeds": self.seeds, "file": self.file}


def concept_from_spec(name: str, spec: str, flag: str, gan) -> Concept:
    """Seeds (``3,17,42``, ``10-12``) or a latent file -> Concept."""
    if SEEDS.match(spec):
        seeds = parse_seeds(spec, flag)
        return Concept(name, gan.latents(seeds), seeds=seeds)
    return Concept(name, load_z_file(spec, gan.require_nz(), flag), file=spec)


def as_concept(name: str, value, gan) -> Concept:
    """A concept from Python: a :class:`Concept`, a list of seeds, a latent tensor/array (k, nz) or (nz,),
    or a string (seeds like ``"3,17,42"`` or a .npy/.txt file of latents)."""
    flag = f"concepts[{name!r}]"
    if not NAME.fullmatch(str(name)):
        raise GanlensError(f"{flag}: a concept name is a letter or a word ([A-Za-z][A-Za-z0-9_]*)")
    if isinstance(value, Concept):
        return value
    if isinstance(value, (str, Path)):
        return concept_from_spec(name, str(value), flag, gan)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        z = torch.as_tensor(value).float()
        z = z[None] if z.dim() == 1 else z
        if z.dim() != 2 or z.shape[1] != gan.nz or len(z) == 0 or not torch.isfinite(z).all():
            raise GanlensError(f"{flag}: latents must be finite, of shape (k, {gan.nz}) or ({gan.nz},); got "
                               f"{tuple(value.shape)}")
        return Concept(name, z.detach().cpu())
    seeds = list(value)
    if not seeds or not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0 for x in seeds):
        raise GanlensError(f"{flag}: expected a list of seeds (integers >= 0) or latents (k, {gan.nz})")
    return Concept(name, gan.latents(seeds), seeds=[int(x) for x in seeds])


def parse_turn(text: str) -> tuple[str, str]:
    """``"FROM:TO"`` -> (FROM, TO), two concept names."""
    a, colon, b = str(text).partition(":")
    if not colon or not NAME.fullmatch(a.strip()) or not NAME.fullmatch(b.strip()):
        raise GanlensError(f"--turn {text}: expected FROM:TO, two concept names, e.g. --turn L:R")
    return a.strip(), b.strip()


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


# ---------------------------------------------------------------------------------------------- noise

def noise_amplitude(latent: str, scale: float = JITTER) -> float:
    """Half-width a of the uniform noise U(-a, a) whose std is ``scale`` x the latent std."""
    latent_std = 1 / math.sqrt(3) if latent == "uniform" else 1.0
    return scale * math.sqrt(3) * latent_std


def uniform_noise(n: int, nz: int, latent: str, scale: float = JITTER,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, nz) float64 noise U(-a, a) per coordinate, a from :func:`noise_amplitude`."""
    return (torch.rand(n, nz, generator=generator, dtype=torch.float64) * 2 - 1) * noise_amplitude(latent, scale)


def neighbourhood(y: torch.Tensor, noise: torch.Tensor, latent: str) -> torch.Tensor:
    """``y + noise`` (n, nz) in y's dtype; uniform latents: clipped to [-1, 1] (the generator's training support)."""
    out = y.double() + noise
    return (out.clamp(-1, 1) if latent == "uniform" else out).to(y.dtype)


def jitter(y: torch.Tensor, n: int, latent: str, scale: float = JITTER,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` neighbours of y (nz,) -> (n, nz): ``y + U(-a, a)`` (a from :func:`noise_amplitude`).

    Uniform latents: the neighbours are clipped to [-1, 1] (the generator's training support).
    """
    return neighbourhood(y, uniform_noise(n, y.shape[-1], latent, scale, generator), latent)


def typical_norm(nz: int, latent: str) -> float:
    """sqrt(E|z|^2) of a latent: sqrt(nz) for N(0, I), sqrt(nz / 3) for U(-1, 1)."""
    return math.sqrt(nz / 3 if latent == "uniform" else nz)


def rescale(v: torch.Tensor, norm: float) -> torch.Tensor:
    """v (nz,) scaled to length ``norm`` (a zero vector stays zero)."""
    n = float(v.double().norm())
    return (v.double() * (norm / n)).to(v.dtype) if n > 0 else v


def grid_latents(y: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Centre y (nz,) and 8 neighbours (8, nz) -> (9, nz) in 3x3 reading order with y at index 4."""
    return torch.cat([neighbours[:4], y[None], neighbours[4:]])


def turn_latents(z_from: torch.Tensor, z_to: torch.Tensor, bases: torch.Tensor, steps: int) -> torch.Tensor:
    """Rows ``base + t (z_to - z_from)``, t = 0..1 in ``steps`` frames; row 0's base is z_from.

    z_from, z_to (nz,); bases (R, nz) -> (R + 1, steps, nz). Row 0 ends at z_to exactly (up to rounding).
    """
    d = (z_to.double() - z_from.double())
    t = torch.linspace(0, 1, steps, dtype=torch.float64)[:, None]
    rows = [z_from.double()[None] + t * d] + [b.double()[None] + t * d for b in bases]
    out = torch.stack(rows).to(z_from.dtype)
    out[0, -1] = z_to
    return out


# ---------------------------------------------------------------------------------------------- judges

@dataclass
class Judge:
    """Says which attributes samples have: ``judge(images)`` with uint8 images (N, nc, H, W) -> {attribute:
    (N,) bool}. ``info`` (stored in the JSON) says what the judge is and how it was validated."""

    fn: Callable[[torch.Tensor], dict]
    info: dict

    def __call__(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        out = self.fn(images)
        if not isinstance(out, dict):
            raise GanlensError(f"measure: the judge must return {{attribute: (N,) bools}}, got {type(out).__name__}")
        return {str(k): np.asarray(v, dtype=bool).reshape(len(images)) for k, v in out.items()}


def is_rooms_model(gan) -> bool:
    return gan.nc == 3 and str(gan.provenance.get("data") or "").startswith("rooms")


def detector_judge(gan, attributes: tuple[str, ...], required: bool = True) -> Judge | None:
    """The rooms detector (:mod:`ganlens.detect`) as a judge of ``attributes`` (rooms classes): an image has
    a class when its largest region of that class covers the detector's minimum area. The detector is
    trusted only where it was validated (64x64 RGB rooms): elsewhere None, or with ``required`` an error."""
    from ganlens.data.detect import DEFAULT_DETECTOR, detector_for
    from ganlens.data.rooms import CLASSES
    found = detector_for(CLASSES[0], gan.image_size, gan.nc, device=gan.device)
    if found is None:
        if required:
            raise GanlensError(f"--measure detector: the rooms detector judges 64x64 RGB rooms images; this model "
                               f"makes {gan.nc}x{gan.image_size}x{gan.image_size} images")
        return None
    det = found[0]
    idx = {a: det.class_index(a) for a in attributes}
    unknown = [a for a, i in idx.items() if i is None]
    if unknown:
        raise GanlensError(f"--target/--context {unknown[0]}: the rooms detector knows {', '.join(det.classes)}")

    def judge(x: torch.Tensor) -> dict[str, np.ndarray]:
        seg = det.segment(to_float(x))
        return {a: det.measure(seg, i)["present"] for a, i in idx.items()}
    info = det.info or {}
    quality = info.get("classes", {})
    return Judge(judge, {
        "name": "rooms detector", "file": f"ganlens/default/{DEFAULT_DETECTOR.name}",
        "rule": f"{info.get('rule', 'class present')} (a segmentation net trained on rendered rooms only)",
        "heldout": info.get("heldout"),
        "heldout_quality": {a: {k: quality[a][k] for k in ("image_precision", "image_recall")}
                            for a in attributes if a in quality}})


def resolve_judge(gan, measure, attributes: tuple[str, ...]) -> Judge | None:
    """``measure``: "auto" (the rooms detector on rooms models), "detector", "none", a :class:`Judge` or a
    function ``uint8 images -> {attribute: (N,) bools}`` that returns every name in ``attributes``."""
    if callable(measure):
        judge = measure if isinstance(measure, Judge) else Judge(measure, {
            "name": getattr(measure, "__name__", "custom"), "rule": "a Python function given as measure="})
        return judge
    if measure not in MEASURES:
        raise GanlensError(f"measure must be one of {', '.join(MEASURES)} or a function, got {measure!r}")
    if measure == "none" or (measure == "auto" and not is_rooms_model(gan)):
        return None
    return detector_judge(gan, attributes, required=measure == "detector")


def judged(judge: Judge, imgs: torch.Tensor, attributes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The judge's verdicts on ``imgs`` for ``attributes``; an error naming any attribute it did not return."""
    out = judge(imgs)
    missing = [a for a in attributes if a not in out]
    if missing:
        raise GanlensError(f"measure: the judge returned {', '.join(out) or 'nothing'}, not {missing[0]} "
                           f"(--target/--context)")
    return {a: out[a] for a in attributes}


# ------------------------------------------------------------------------------------------ statistics

def draw_rate(per_draw: np.ndarray, seed: int) -> dict:
    """Outcomes (D, S) bool of D draws x S samples -> rate over all samples with a 95 % interval by the
    percentile bootstrap over draws (the samples of a draw share its exemplars: a draw is the unit)."""
    x = np.asarray(per_draw, float).reshape(len(per_draw), -1)
    out = {"k": int(x.sum()), "n": int(x.size), "rate": float(x.mean()) if x.size else None, "ci95": None}
    if len(x) > 1:
        out["ci95"] = stats.cluster_bootstrap(x, n_boot=BOOTSTRAP, seed=seed).as_list()
    return out


def versus(y: np.ndarray, x: np.ndarray, seed: int) -> dict:
    """Y's per-draw rates y (D,) against a control's x (D,): the sign test over draws (the decision), the
    mean difference with a bootstrap 95 % interval over draws, and the Wilcoxon signed-rank p beside it."""
    r = stats.sign_test(y, x)
    d = np.asarray(y, float) - np.asarray(x, float)
    ci = stats.cluster_bootstrap(d, n_boot=BOOTSTRAP, seed=seed).as_list() if len(d) > 1 else None
    return {"draws_Y_higher": r.higher, "draws_Y_lower": r.lower, "draws": int(len(d)), "p": r.p,
            "test": "sign test over draws", "difference": float(d.mean()), "difference_ci95": ci,
            "wilcoxon_p": stats.wilcoxon(y, x).p}


def beats(y: np.ndarray, x: np.ndarray, alpha: float = ALPHA) -> bool:
    """The decision: more draws with Y's rate above the control's than below, and sign-test p < alpha."""
    r = stats.sign_test(y, x)
    return bool(r.higher > r.lower and r.p < alpha)


# ------------------------------------------------------------------------------------------ computing

def pixel_arith(terms: list[Term], images: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Pixel-space control: {name: uint8 (k, nc, H, W)} -> ({name: mean image in [-1, 1]}, result in [-1, 1])."""
    means = {name: to_float(x).double().mean(0) for name, x in images.items()}
    return ({k: v.float() for k, v in means.items()},
            combine(terms, means).clamp(-1, 1).float())


def concept_vectors(z: dict[str, torch.Tensor], norm: str, gan) -> dict[str, torch.Tensor]:
    """{name: exemplar latents (k, nz)} -> {name: (nz,)}: the mean of the exemplars ("none"), rescaled to
    the typical latent norm with ``norm="typical"``."""
    means = {n: v.double().mean(0).float() for n, v in z.items()}
    if norm == "typical":
        means = {n: rescale(v, typical_norm(gan.nz, gan.latent)) for n, v in means.items()}
    return means


def result_vector(terms: list[Term], vectors: dict[str, torch.Tensor], norm: str, gan) -> torch.Tensor:
    """Y = sum(coef * vector); rescaled to the typical norm with ``norm="typical"``."""
    y = combine(terms, vectors)
    return rescale(y, typical_norm(gan.nz, gan.latent)) if norm == "typical" else y


def run_expr(gan, terms: list[Term], concepts: dict[str, Concept], noise: torch.Tensor,
             norm: str = "none") -> tuple[dict, dict]:
    """Latent and pixel arithmetic for one expression -> (JSON dict, arrays for the figure).

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
    mean_imgs = imgs[len(ex_z):len(ex_z) + len(names)]
    grid_imgs = imgs[len(ex_z) + len(names):]
    pix_means, pix_result = pixel_arith(terms, ex_imgs)
    arrays = {"names": names, "all_exemplars": ex_imgs,
              "exemplars": {n: ex_imgs[n][:MAX_SHOWN] for n in names},
              "means": mean_imgs,
              "pixel_means": to_uint8(torch.stack([pix_means[n] for n in names])),
              "pixel_result": to_uint8(pix_result[None]),
              "grid": grid_imgs, "z_grid": z_grid, "y": y}
    uniform = gan.latent == "uniform"
    out = {"expr": format_expr(terms),
           "terms": [{"coef": t.coef, "concept": t.name} for t in terms],
           "concepts": {n: concepts[n].describe() for n in names},
           "result": {"latent_norm": float(y.double().norm()),
                      "typical_norm": typical_norm(gan.nz, gan.latent),
                      "concept_mean_norms": {n: float(concepts[n].mean.double().norm()) for n in names},
                      "concept_vector_norms": {n: float(means[n].double().norm()) for n in names},
                      "neighbour_distance_mean": float((neighbours.double() - y.double()).norm(dim=1).mean()),
                      "outside_support_fraction": float((y.abs() > 1).double().mean()) if uniform else None},
           "shown": {"exemplars": {n: min(MAX_SHOWN, c) for n, c in zip(names, counts)}}}
    return out, arrays


# ----------------------------------------------------------------------------------------------- controls

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
    """uint8 images of every draw: latent conditions (D, 4, 9, nc, H, W) and pixel results (D, nc, H, W)."""
    lat = [condition_latents(gan, terms, d, norm) for d in draws]
    z = torch.stack([torch.stack([c[k] for k in LATENT_CONDITIONS]) for c in lat])
    imgs = images(gan, z.reshape(-1, gan.nz), uint8=True)
    pix = to_uint8(torch.stack([pixel_arith(terms, d.images)[1] for d in draws]))
    return imgs.reshape(*z.shape[:3], *imgs.shape[1:]), pix


def claim_name(expected: dict[str, bool]) -> str:
    return " & ".join(a if v else f"no {a}" for a, v in expected.items())


def outcomes(judge: Judge, lat: torch.Tensor, pix: torch.Tensor, attributes: tuple[str, ...],
             expected: dict[str, bool]) -> tuple[dict, dict]:
    """Judged attributes and the expected outcome: ({measure: (D, 4, 9) bool}, {measure: (D,) bool})."""
    D = len(pix)
    att = judged(judge, torch.cat([lat.reshape(-1, *lat.shape[3:]), pix]), attributes)
    lat_out = {a: v[:-D].reshape(lat.shape[:3]) for a, v in att.items()}
    pix_out = {a: v[-D:] for a, v in att.items()}
    claim = claim_name(expected)
    for out in (lat_out, pix_out):
        out[claim] = np.logical_and.reduce([out[a] == v for a, v in expected.items()])
    return lat_out, pix_out


def compare(lat_out: dict, pix_out: dict, claim: str, seed: int = 0) -> dict:
    """Rates (bootstrap 95 % intervals over draws) of every condition and measure; each control against Y on
    the claim measure over draws (:func:`versus`); which controls Y beats and whether the claim stands
    (rule: :data:`RULE`)."""
    conds = {c: {"rates": {m: draw_rate(o[:, i], seed) for m, o in lat_out.items()}}
             for i, c in enumerate(LATENT_CONDITIONS)}
    conds["Y"]["centre_rates"] = {m: draw_rate(o[:, 0, 4:5], seed) for m, o in lat_out.items()}
    conds["pixel"] = {"rates": {m: draw_rate(o[:, None], seed) for m, o in pix_out.items()}}
    y = lat_out[claim][:, 0].mean(1)
    rates = {c: lat_out[claim][:, i].mean(1) for i, c in enumerate(LATENT_CONDITIONS)}
    pairs = {c: (y, rates[c]) for c in LATENT_CONDITIONS[1:]}
    pairs["pixel"] = (lat_out[claim][:, 0, 4].astype(float), pix_out[claim].astype(float))
    for c, (a, b) in pairs.items():
        conds[c]["vs_Y"] = versus(a, b, seed)
    conds["pixel"]["vs_Y"]["compared_with"] = "Y's centre of each draw"
    won = {c: beats(*pairs[c]) for c in CONTROLS + ("A_alone", "C_alone")}
    y_all = lat_out[claim][:, 0]
    same = float(np.mean(y_all.all(1) | ~y_all.any(1)))
    return {"conditions": conds, "beats": won, "claim_stands": all(won[c] for c in CONTROLS),
            "draws_with_all_samples_equal": same}


RULE = (f"Y beats a control when, over draws of exemplars, more draws have Y's rate of the expected outcome above "
        f"the control's than below and the two-sided sign test gives p < {ALPHA} (latent controls: the rate over "
        f"the draw's 9 samples; pixel: Y's centre vs the pixel result of the same draw); the claim that the "
        f"arithmetic works stands only when Y beats all of A_plus_C, null and pixel (A_alone, C_alone are "
        f"descriptive). One draw is one cluster: no test, the claim cannot stand")
CAVEAT = ("the 9 samples of a draw share its exemplars, so they are not independent (see "
          "draws_with_all_samples_equal): decisions count draws (sign test) and intervals resample draws "
          "(percentile bootstrap)")


def evaluate(gan, terms: list[Term], draws: list[Draw], judge: Judge | None, attributes: tuple[str, ...],
             expected: dict[str, bool], norm: str) -> tuple[dict, dict]:
    """Y and the controls for every draw -> (JSON block, arrays of draw 0 for the controls figure:
    ``controls_grid`` (5, 9, nc, H, W) and ``controls_pixel`` (1, nc, H, W) uint8). Without a judge the
    block only describes the draws (the controls are shown, not scored)."""
    lat, pix = render_draws(gan, terms, draws, norm)
    arrays = {"controls_grid": lat[0].numpy(), "controls_pixel": pix[:1].numpy()}
    first, last = first_and_last(terms)
    block = {"draws": len(draws), "samples_per_draw": lat.shape[2], "A": first, "C": last,
             "conditions_order": list(LATENT_CONDITIONS) + ["pixel"]}
    if judge is None:
        return dict(block, scored=False), arrays
    lat_out, pix_out = outcomes(judge, lat, pix, attributes, expected)
    claim = claim_name(expected)
    block.update(scored=True, attributes=list(attributes), expected=expected, claim_measure=claim, rule=RULE,
                 caveat=CAVEAT, **compare(lat_out, pix_out, claim))
    block["draw0"] = {"latent": {c: {m: o[0, i].tolist() for m, o in lat_out.items()}
                                 for i, c in enumerate(LATENT_CONDITIONS)},
                      "pixel": {m: bool(o[0]) for m, o in pix_out.items()}}
    block["per_draw"] = [{"seeds": d.seeds, "claim_rate": {c: float(lat_out[claim][k, i].mean())
                                                           for i, c in enumerate(LATENT_CONDITIONS)},
                          "pixel_claim": bool(pix_out[claim][k])} for k, d in enumerate(draws)]
    return block, arrays


# --------------------------------------------------------------------------------------------- the demo

def demo_names(target: str = TARGET, context: str = CONTEXT) -> dict[str, str]:
    """The demo's concepts: A (target, no context), B (neither), C (context, no target), and the expected Y."""
    return {"A": f"{target}_no{context}", "B": f"no{target}_no{context}", "C": f"no{target}_{context}",
            "expected": f"{target}_{context}"}


def demo_expr(target: str = TARGET, context: str = CONTEXT) -> str:
    n = demo_names(target, context)
    return f"{n['A']} - {n['B']} + {n['C']}"


def auto_concepts(gan, judge: Judge, target: str, context: str, candidates: int,
                  start: int) -> tuple[dict[str, Concept], dict, dict]:
    """Sort seeds start..start+candidates-1 into the demo's three pools by the judge.

    Returns (concepts: the first :data:`EXEMPLARS` seeds of each pool, JSON description, pools:
    {"concepts": {name: seeds}, "all": every candidate seed, "images": {seed: uint8 image}}).
    """
    seeds = list(range(start, start + candidates))
    imgs = images(gan, gan.latents(seeds), uint8=True)
    att = judged(judge, imgs, (target, context))
    t, c = att[target], att[context]
    names = demo_names(target, context)
    masks = {names["A"]: t & ~c, names["B"]: ~t & ~c, names["C"]: ~t & c}
    pools = {n: [s for s, m in zip(seeds, mask) if m] for n, mask in masks.items()}
    short = [f"{len(p)} {n}" for n, p in pools.items() if len(p) < EXEMPLARS]
    if short:
        raise GanlensError(f"automatic rooms demo: among {candidates} samples (seeds {start}..{start + candidates - 1}) "
                           f"the judge finds only {', '.join(short)}; each pool needs {EXEMPLARS} (raise --candidates, "
                           f"or give --expr with your own seeds)")
    concepts = {n: Concept(n, gan.latents(p[:EXEMPLARS]), seeds=p[:EXEMPLARS]) for n, p in pools.items()}
    desc = {"candidates": candidates, "candidate_seeds": [start, start + candidates - 1],
            "rates": {target: float(t.mean()), context: float(c.mean())},
            "pools": {n: len(p) for n, p in pools.items()}, "expected": names["expected"],
            "rule": f"pools by the judge: {target} and no {context} ({names['A']}), neither ({names['B']}), {context} "
                    f"and no {target} ({names['C']}); the figure's exemplars are the first {EXEMPLARS} seeds of each "
                    f"pool (seed order, no ranking); each trial draws {EXEMPLARS} at random from each pool and "
                    f"{EXEMPLARS} random candidates per concept but the last for the null"}
    return concepts, desc, {"concepts": pools, "all": seeds, "images": dict(zip(seeds, imgs))}


def trial_draws(gan, terms: list[Term], pools: dict, trials: int, scale: float, seed: int) -> list[Draw]:
    """``trials`` random draws of :data:`EXEMPLARS` exemplars per pool, random candidates for the null and
    fresh neighbour noise (numpy seed ``seed``, torch seed ``seed + 1``)."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    last = terms[-1].name
    out = []
    for _ in range(trials):
        pick = {n: [int(s) for s in rng.choice(p, EXEMPLARS, replace=False)] for n, p in pools["concepts"].items()}
        others = [n for n in pick if n != last]
        rnd = [int(s) for s in rng.choice(pools["all"], EXEMPLARS * len(others), replace=False)]
        rand = {n: rnd[i * EXEMPLARS:(i + 1) * EXEMPLARS] for i, n in enumerate(others)}
        out.append(Draw(z={n: gan.latents(s) for n, s in pick.items()}, random={n: gan.latents(s) for n, s in rand.items()},
                        noise=uniform_noise(NEIGHBOURS, gan.nz, gan.latent, scale, gen),
                        images={n: torch.stack([pools["images"][s] for s in v]) for n, v in pick.items()},
                        seeds={"exemplars": pick, "random": rand}))
    return out


def figure_draw(gan, terms: list[Term], concepts: dict[str, Concept], exemplar_images: dict, noise: torch.Tensor,
                seed: int, candidates: int, pools: dict | None = None) -> Draw:
    """The figure's own exemplars as a draw; the null's random exemplars are seeds among the candidates
    (``seed``..``seed + candidates - 1``, the exemplars' own seeds left out), as many per concept as it has."""
    names = list(dict.fromkeys(t.name for t in terms))
    used = {s for n in names for s in (concepts[n].seeds or [])}
    pool = [s for s in (pools["all"] if pools else range(seed, seed + candidates)) if s not in used]
    others = [n for n in names if n != terms[-1].name]
    counts = [len(concepts[n].z) for n in others]
    rnd = np.random.default_rng(seed + 2).choice(pool or [seed], sum(counts), replace=sum(counts) > len(pool))
    rand = {n: [int(s) for s in part] for n, part in zip(others, np.split(rnd, np.cumsum(counts)[:-1]))}
    return Draw(z={n: concepts[n].z for n in names}, random={n: gan.latents(v) for n, v in rand.items()},
                noise=noise, images=exemplar_images,
                seeds={"exemplars": {n: concepts[n].seeds for n in names}, "random": rand})


# ---------------------------------------------------------------------------------------------- arith

def arith(gan, expr=None, concepts: dict | None = None, *, turn=None, turn_seeds=None, turn_steps: int = 9,
          jitter: float = JITTER, measure="auto", target: str = TARGET, context: str = CONTEXT, norm: str = "none",
          candidates: int = 256, trials: int = TRIALS, seed: int = 0) -> Result:
    """Vector arithmetic on ``gan``'s latents (the paper's Fig. 7) with three controls, and turns (Fig. 8).

    expr: ``"A - B + C"`` (or a list of :class:`Term`); concepts: {name: seeds list, latents (k, nz) tensor,
    or a :class:`Concept`}; turn: ``"FROM:TO"`` or (FROM, TO), walked in ``turn_steps`` frames from the
    vector of FROM and from ``turn_seeds`` (default 1000-1002); jitter: neighbour noise std as a fraction
    of the latent std; norm: "none" (concept = mean of exemplars, the paper) or "typical" (concept vectors
    and results rescaled to the typical latent norm); measure: "auto" (the rooms detector on rooms
    models), "detector", "none", or a function ``uint8 images (N, nc, H, W) -> {attribute: (N,) bools}``
    judging ``target`` and ``context``. With no expr and no turn and a judge: the demo
    ``{target}_no{context} - no{target}_no{context} + no{target}_{context}`` with exemplars sorted by the
    judge among ``candidates`` samples, ``trials`` random draws deciding the claim, and a turn.
    Returns a :class:`ganlens.Result` of kind "arith" (figures "arith", "controls" and/or "turn").
    """
    _check_settings(turn_steps=turn_steps, candidates=candidates, trials=trials, jitter=jitter, norm=norm,
                    target=target, context=context)
    gan.require_G()
    terms = parse_expr(expr) if isinstance(expr, str) else (list(expr) if expr is not None else None)
    turn = parse_turn(turn) if isinstance(turn, str) else (tuple(turn) if turn is not None else None)
    attributes = (target, context)
    judge = resolve_judge(gan, measure, attributes)
    demo, names = terms is None and turn is None, demo_names(target, context)
    if demo:
        if judge is None:
            raise GanlensError("--expr: give an expression, e.g. --expr 'A - B + C' --A 3,17,42 --B 5,8,99 --C 1,2,4 "
                               "(the automatic demo needs a judge: a rooms model or --measure detector)")
        terms, turn = parse_expr(demo_expr(target, context)), (names["B"], names["A"])
    given = {n: as_concept(n, v, gan) for n, v in (concepts or {}).items()}
    needed = list(dict.fromkeys(([t.name for t in terms] if terms else []) + (list(turn) if turn else [])))
    pooled = (names["A"], names["B"], names["C"])
    auto_names = [n for n in needed if n not in given and n in pooled and judge is not None]
    _check_missing([n for n in needed if n not in given and n not in auto_names], expr, terms, turn)
    concepts = {n: c for n, c in given.items() if n in needed}
    result = _header(gan, seed, jitter, demo, judge, norm, attributes)
    pools = None
    if auto_names:
        auto, desc, pools = auto_concepts(gan, judge, target, context, candidates, seed)
        concepts.update({n: auto[n] for n in auto_names})
        result["measure"]["auto_concepts"] = dict(desc, names=auto_names)
    arrays, plots = {}, {}
    if terms is not None:
        expected = {target: True, context: True} if demo else {target: True}
        opts = dict(jitter=jitter, norm=norm, seed=seed, candidates=candidates, trials=trials if demo else 0,
                    attributes=attributes, expected=expected)
        _expr_part(result, arrays, gan, terms, concepts, judge, pools, opts)
        plots["arith"], plots["controls"] = plot_arith, plot_controls
    if turn is not None:
        if isinstance(turn_seeds, str):
            turn_seeds = parse_seeds(turn_seeds, "--turn-seeds")
        if turn_seeds is None:
            turn_seeds = concepts[names["C"]].seeds if demo else [1000, 1001, 1002]
        _turn_part(result, arrays, gan, turn, concepts, [int(s) for s in turn_seeds], turn_steps, judge, attributes,
                   norm)
        plots["turn"] = plot_turn
    return Result("arith", result, arrays, plots)


def _check_settings(**values) -> None:
    low = {"turn_steps": 2, "candidates": 9, "trials": 0}
    require_at_least({name: (v, low[name]) for name, v in values.items() if name in low})
    if not 0 <= values["jitter"] <= 10:
        raise GanlensError(f"jitter must be in [0, 10], got {values['jitter']}")
    if values["norm"] not in NORMS:
        raise GanlensError(f"norm must be one of {', '.join(NORMS)}, got {values['norm']!r}")
    for flag in ("target", "context"):
        if not NAME.fullmatch(str(values[flag])):
            raise GanlensError(f"--{flag} {values[flag]}: an attribute name is a word ([A-Za-z][A-Za-z0-9_]*)")
    if values["target"] == values["context"]:
        raise GanlensError(f"--target and --context must differ, both are {values['target']}")


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


def _header(gan, seed: int, scale: float, demo: bool, judge: Judge | None, norm: str, attributes) -> dict:
    from ganlens.walk import checkpoint_block
    uniform = gan.latent == "uniform"
    settings = {"seed": seed, "device": str(gan.device), "jitter": scale, "neighbours": NEIGHBOURS,
                "noise_amplitude": noise_amplitude(gan.latent, scale), "latent": gan.latent,
                "neighbours_clipped_to": [-1, 1] if uniform else None, "demo": demo, "norm": norm,
                "measure": judge.info["name"] if judge is not None else None,
                "target": attributes[0], "context": attributes[1], "alpha": ALPHA}
    call = f"ganlens.arith({gan.name!r}, jitter={scale}, norm={norm!r}, seed={seed}{', demo' if demo else ''})"
    out = {"checkpoint": checkpoint_block(gan), "settings": settings,
           "definitions": {
               "concept": "mean of its exemplars' latents" + ("" if norm == "none" else ", rescaled to the typical norm"),
               "norm": {"none": "concept vectors and Y as computed (the paper)",
                        "typical": f"concept vectors, Y and the latent controls rescaled to the typical latent norm "
                                   f"{typical_norm(gan.nz, gan.latent):.4g} (sqrt(nz), or sqrt(nz/3) for uniform latents); "
                                   f"the mean of k normal latents has ~1/sqrt(k) of it and decodes washed out"}[norm],
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
                            "C_alone": "the last term's concept alone (descriptive, does not vote)"}},
           "provenance": provenance(gan, seed, call=call)}
    if judge is not None:
        out["measure"] = {"judge": judge.info, "attributes": list(attributes)}
    return out


def _expr_part(result: dict, arrays: dict, gan, terms, concepts, judge, pools, opts: dict) -> None:
    """The figure's expression, its controls (scored when there is a judge) and, in the demo, the trials;
    ``result["claim"]`` sums up the evaluation that decides (the trials when there are any)."""
    noise = uniform_noise(NEIGHBOURS, gan.nz, gan.latent, opts["jitter"], torch.Generator().manual_seed(opts["seed"]))
    info, arr = run_expr(gan, terms, concepts, noise, opts["norm"])
    result.update(info)
    arrays.update({k: arr[k].numpy() for k in ("means", "pixel_means", "pixel_result", "grid", "z_grid", "y")})
    arrays.update({f"exemplars_{n}": arr["exemplars"][n].numpy() for n in arr["names"]})
    arrays.update({f"z_{n}": concepts[n].z.numpy() for n in arr["names"]})
    result["figure"] = {"names": arr["names"]}
    draw = figure_draw(gan, terms, concepts, arr["all_exemplars"], noise, opts["seed"], opts["candidates"], pools)
    ev = (gan, terms)
    result["controls"], carr = evaluate(*ev, [draw], judge, opts["attributes"], opts["expected"], opts["norm"])
    arrays.update(carr)
    if opts["trials"]:
        draws = trial_draws(gan, terms, pools, opts["trials"], opts["jitter"], opts["seed"])
        result["trials"], _ = evaluate(*ev, draws, judge, opts["attributes"], opts["expected"], opts["norm"])
    block = result.get("trials") or result["controls"]
    if block["scored"]:
        m = block["claim_measure"]
        result["claim"] = {"from": "trials" if "trials" in result else "controls", "measure": m,
                           "samples": block["draws"] * block["samples_per_draw"], "rule": RULE,
                           "rates": {c: v["rates"][m] for c, v in block["conditions"].items()},
                           "Y_centre": block["conditions"]["Y"]["centre_rates"][m],
                           "p_vs_Y": {c: block["conditions"][c]["vs_Y"]["p"] for c in CONTROLS + ("A_alone", "C_alone")},
                           "draws_with_all_samples_equal": block["draws_with_all_samples_equal"],
                           "beats": block["beats"], "claim_stands": block["claim_stands"]}


def _turn_part(result: dict, arrays: dict, gan, turn, concepts, seeds: list[int], steps: int, judge,
               attributes, norm: str) -> None:
    a, b = turn
    vec = concept_vectors({n: concepts[n].z for n in turn}, norm, gan)
    zt = turn_latents(vec[a], vec[b], gan.latents(seeds), steps)
    frames = images(gan, zt.reshape(-1, gan.nz), uint8=True)
    frames = frames.reshape(*zt.shape[:2], *frames.shape[1:])
    arrays["turn_frames"], arrays["turn_z"] = frames.numpy(), zt.numpy()
    result["turn"] = {"from": a, "to": b, "seeds": seeds, "steps": steps, "norm": norm,
                      "t": torch.linspace(0, 1, steps).tolist(),
                      "direction_norm": float((vec[b].double() - vec[a].double()).norm()),
                      "concepts": {n: concepts[n].describe() for n in turn},
                      "rows": [f"vector({a}) -> vector({b})"] + [f"seed {s} + t d" for s in seeds]}
    if judge is not None:
        att = judged(judge, frames.reshape(-1, *frames.shape[2:]), attributes)
        has = {k: v.reshape(frames.shape[:2]) for k, v in att.items()}
        result["turn"]["rates_by_step"] = {k: v.mean(0).tolist() for k, v in has.items()}
        result["turn"]["attributes"] = {k: v.tolist() for k, v in has.items()}


# -------------------------------------------------------------------------------------------- figures

def _show_canvas(canvas: np.ndarray, left: float, top: float, width="two"):
    """A figure showing ``canvas`` (H, W, 3) pixel-exact, with margins (inches) for labels on the left/top.

    Returns (fig, ax) with data coordinates = canvas pixels. Call inside ``figures.style()``.
    """
    Hc, Wc = canvas.shape[:2]
    w_in = {"one": figures.ONE_COLUMN, "two": figures.TWO_COLUMN}.get(width, width)
    ax_w = w_in - left
    ax_h = ax_w * Hc / Wc
    fig, ax = figures.figure(w_in, aspect=(ax_h + top) / w_in)
    ax.set_position([left / w_in, 0, ax_w / w_in, ax_h / (ax_h + top)])
    figures.show_canvas(ax, canvas, int(ax_w * figures.DPI))
    return fig, ax


def _arith_canvas(npz: dict, names: list[str], terms: list[dict]):
    """(canvas, texts (x, y, text, size), column titles (x, text), x of the 3x3 grid, y of the 3 rows).

    Not a grid (each concept's G(mean z) and pixel mean sit centred under its exemplars), so the tiles
    are placed at computed positions by :func:`ganlens.figures.place`.
    """
    S = npz["means"].shape[-1]
    g, op_w = 1, max(6, S // 2)
    widths = [max(1, len(npz[f"exemplars_{n}"])) * (S + g) - g for n in names]
    W = sum(widths) + op_w * len(names) + op_w // 2 + S + op_w + 3 * (S + g) - g
    rows_y = figures.offsets(3, S, g)
    coef = {}
    for t in terms:
        coef[t["concept"]] = coef.get(t["concept"], 0) + t["coef"]
    x, texts, tops, tiles, at = 0, [], [], [], []
    for k, (n, w) in enumerate(zip(names, widths)):
        c = coef[n]
        sym = ("" if c > 0 else "\u2212") if k == 0 else ("+" if c > 0 else "\u2212")
        label = sym + ("" if abs(c) == 1 else f"{abs(c):g}\u00d7")
        if k > 0 or label:
            texts += [(x + op_w / 2, ry + S / 2, label, 9) for ry in rows_y[1:]]
        x += op_w
        ex = figures.rgb(npz[f"exemplars_{n}"])
        tiles += [*ex, *figures.rgb(npz["means"][k:k + 1]), *figures.rgb(npz["pixel_means"][k:k + 1])]
        at += [(0, xj) for xj in figures.offsets(len(ex), S, g, x)] + [(ry, x + (w - S) // 2) for ry in rows_y[1:]]
        tops.append((x + w / 2, n))
        x += w
    x += op_w // 2
    texts += [(x - op_w / 2 + 1, ry + S / 2, "=", 9) for ry in rows_y[1:]]
    tiles += [*figures.rgb(npz["grid"][4:5]), *figures.rgb(npz["pixel_result"])]
    at += [(ry, x) for ry in rows_y[1:]]
    tops.append((x + S / 2, "result"))
    x += S + op_w
    tiles.append(figures.tile(figures.rgb(npz["grid"]), 3, gap=g))
    at.append((0, x))
    tops.append((x + (3 * (S + g) - g) / 2, "Y and 8 neighbours"))
    return figures.place(tiles, at, (3 * (S + g) - g, W)), texts, tops, x, rows_y


def plot_arith(data: dict, arrays: dict):
    """The Fig. 7-style figure from arith.json (``figure.names``, ``terms``, the judge's marks) and arith.npz.

    Columns: one block per concept (exemplars on top, G(mean z) and the pixel mean below), the operator
    between blocks, then the results (G(Y), pixel-space result) and the 3x3 grid of Y and its neighbours.
    """
    canvas, texts, tops, gx, rows_y = _arith_canvas(arrays, data["figure"]["names"], data["terms"])
    S, g = arrays["means"].shape[-1], 1
    with figures.style():
        fig, ax = _show_canvas(canvas, left=0.62, top=0.16)
        for tx, ty, s, size in texts:
            ax.text(tx, ty, s, ha="center", va="center", fontsize=size)
        for tx, s in tops:
            ax.text(tx, -S * 0.08, s, ha="center", va="bottom", fontsize=7)
        vec = "G(mean z)" if data["settings"].get("norm", "none") == "none" else "G(vector)"
        for ry, s in zip(rows_y, ("exemplars", vec, "pixel mean")):
            ax.text(-S * 0.1, ry + S / 2, s, ha="right", va="center", fontsize=7)
        # centre of the grid: Y itself
        ax.add_patch(Rectangle((gx + S + g - 0.5, S + g - 0.5), S, S, fill=False, ec="red", lw=0.8))
        marks = (data.get("controls") or {}).get("draw0")
        if marks:  # the judge's attributes of the grid's samples (same latents as the controls' Y)
            _marks(ax, marks["latent"]["Y"], data["settings"], lambda i: (gx + (i % 3) * (S + g), (i // 3) * (S + g)), S)
    return fig


def plot_turn(data: dict, arrays: dict):
    """Fig. 8-style rows from arith.npz ``turn_frames`` (R, T, nc, H, W) uint8, labelled from arith.json's
    ``turn`` (with the judge's rate of each attribute per column when judged)."""
    frames, turn = arrays["turn_frames"], data["turn"]
    labels = [f"{turn['from']}\u2192{turn['to']}"] + [f"seed {s}" for s in turn["seeds"]]
    rates = turn.get("rates_by_step") or {}
    R, T = frames.shape[:2]
    S, g = frames.shape[-1], 1
    wgap = max(2, S // 10)
    row_gaps = ([g + wgap] + [g] * R)[:R - 1]   # the vector-to-vector row set apart from the seeds' rows
    canvas = figures.tile(figures.rgb(frames.reshape(R * T, *frames.shape[2:])), T, gap=g, row_gaps=row_gaps)
    ys = figures.offsets(R, S, row_gaps)
    # about 0.7 inch a frame, at most the text width: a short turn makes a small figure, not a huge one
    width = min(figures.TWO_COLUMN, 0.75 + 0.7 * T)
    with figures.style():
        fig, ax = _show_canvas(canvas, left=0.75, top=0.15 + 0.12 * len(rates), width=width)
        for y, lab in zip(ys, labels):
            ax.text(-S * 0.1, y + S / 2, lab, ha="right", va="center", fontsize=7)
        for t in range(T):
            ax.text(t * (S + g) + S / 2, -S * 0.08, f"t={t / max(1, T - 1):.2f}", ha="center",
                    va="bottom", fontsize=6)
        names = [n for n in (data["settings"].get("target"), data["settings"].get("context")) if n in rates]
        for k, name in enumerate(names):   # the JSON's keys are sorted: the settings give the order
            r, y = rates[name], -S * (0.32 + 0.24 * k)
            color = MARK_COLOURS[k % len(MARK_COLOURS)]
            ax.text(-S * 0.1, y, f"{name} rate", ha="right", va="bottom", fontsize=6, color=color)
            for t in range(T):
                ax.text(t * (S + g) + S / 2, y, f"{100 * r[t]:.0f}%", ha="center", va="bottom", fontsize=6, color=color)
    return fig


MARKS = (("o", "#ffd000"), ("s", "#33cc33"))   # the target's and the context's marks on judged samples
MARK_COLOURS = ("#1f5fbf", "#1a8a1a")           # their rate labels


def _marks(ax, attributes: dict, settings: dict, corner, S: int) -> None:
    """Mark judged samples: ``attributes`` {name: [bool per sample]}, ``corner(i)`` the sample's (x, y)
    top-left in canvas pixels; the target gets a yellow dot at the top right, the context a green
    square at the top left."""
    for k, name in enumerate((settings["target"], settings["context"])):
        marker, colour = MARKS[k]
        for i, v in enumerate(attributes.get(name, [])):
            if v:
                x, y = corner(i)
                ax.plot(x + S * (0.88 if k == 0 else 0.12), y + S * 0.12, marker=marker, ms=2.5, color=colour,
                        mec="black", mew=0.4)


def plot_controls(data: dict, arrays: dict):
    """Y and its controls for the figure's exemplars, from arith.npz ``controls_grid`` (5, 9, nc, H, W) and
    ``controls_pixel`` (1, nc, H, W): one row each (centre, then the 8 neighbours), the pixel result last;
    row labels carry the rate of the expected outcome from arith.json's ``claim`` when judged."""
    grid, pix, c = arrays["controls_grid"], arrays["controls_pixel"], data["controls"]
    order = list(grid[:, [4, 0, 1, 2, 3, 5, 6, 7, 8]])          # the centre first, then the neighbours
    cells = [t for row in order for t in figures.rgb(row)] + list(figures.rgb(pix)) + [None] * 8
    S, g = grid.shape[-1], 1
    col_gaps = [max(2, S // 8)] + [g] * 7                       # the centre set apart from its neighbours
    row_gaps = [g] * (len(grid) - 1) + [max(2, S // 8)]
    canvas = figures.tile(cells, 9, gap=g, col_gaps=col_gaps, row_gaps=row_gaps)
    xs, ys = figures.offsets(9, S, col_gaps), figures.offsets(len(grid) + 1, S, row_gaps)
    names = {"Y": "Y", "A_plus_C": "A + C (no subtraction)", "A_alone": f"{c['A']} alone", "null": "null (random A, B)",
             "C_alone": f"{c['C']} alone", "pixel": "pixel space"}
    claim = data.get("claim")
    with figures.style():
        fig, ax = _show_canvas(canvas, left=1.25, top=0.16, width=min(figures.TWO_COLUMN, 1.25 + 0.55 * 9))
        for k, cond in enumerate(c["conditions_order"]):
            label = names[cond]
            if claim:
                r = claim["rates"][cond]
                label += f"\n{100 * r['rate']:.0f}%" + (f" [{100 * r['ci95'][0]:.0f}, {100 * r['ci95'][1]:.0f}]"
                                                        if r["ci95"] else "")
            ax.text(-S * 0.1, ys[k] + S / 2, label, ha="right", va="center", fontsize=6)
        if claim:
            ax.text(-S * 0.1, -S * 0.08, f"{claim['measure']}: rate over {claim['samples']} samples of "
                    f"{data[claim['from']]['draws']} draws", ha="right", va="bottom", fontsize=6)
        ax.text(xs[0] + S / 2, -S * 0.08, "centre", ha="center", va="bottom", fontsize=6)
        ax.text((xs[1] + xs[8] + S) / 2, -S * 0.08, "8 neighbours (the same noise in every row)", ha="center",
                va="bottom", fontsize=6)
        if c.get("draw0"):
            for k, cond in enumerate(LATENT_CONDITIONS):
                pos = [xs[0]] + xs[1:]
                slot = [4, 0, 1, 2, 3, 5, 6, 7, 8]
                att = {a: [v[slot[j]] for j in range(9)] for a, v in c["draw0"]["latent"][cond].items()}
                _marks(ax, att, data["settings"], lambda i, k=k: (pos[i], ys[k]), S)
            _marks(ax, {a: [v] for a, v in c["draw0"]["pixel"].items()}, data["settings"],
                   lambda i: (xs[0], ys[len(grid)]), S)
    return fig
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
    m.add_argument("--candidates", type=cli.at_least(9), default=256,
                   help="samples the demo's exemplars are sorted from by the judge, and the null's random "
                        "exemplars come from (default: 256)")
    m.add_argument("--trials", type=cli.at_least(0), default=TRIALS,
                   help=f"random exemplar draws of the demo that decide its claim (default: {TRIALS}; 0 = none)")
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


def summary(data: dict) -> str:
    """The command's line on stderr: the result's norm and, when judged, Y against the three controls."""
    parts = []
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
                 context=args.context, norm=args.norm, candidates=args.candidates, trials=args.trials, seed=args.seed)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    t0 = time.perf_counter()
    _, gan = cli.start(args)  # checks --out before the work, then device, seed, model
    r = from_args(args, gan)
    written = r.save(args.out)
    print(f"{summary(r.data)}; wrote {', '.join(p.name for p in written)} to {args.out} in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


analysis_module(__name__, arith)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
