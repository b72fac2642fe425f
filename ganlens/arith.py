"""Vector arithmetic on latents: ``ganlens.arith(gan, ...)`` / ``python -m ganlens.arith`` (Fig. 7 and 8).

    r = ganlens.arith(gan, "A - B + C", {"A": [3, 17, 42], "B": [5, 8, 99], "C": z_c})   # z_c: (k, nz)
    r = ganlens.arith(gan, turn="L:R", concepts={"L": [11, 12], "R": [21, 22]})
    r = ganlens.arith(ganlens.load())        # the rooms window demo
    r.to_dict(), r.figure(), r.figure("turn"), r.save("out/arith")

* **Concepts.** A concept is a list of exemplars: seeds (latents by the :func:`ganlens.latent_from_seed`
  rule) or a file of latents (``.npy`` or ``.txt``, shape (k, nz) or (nz,); no pickles). As in the paper,
  a concept's vector is the mean of its exemplars' latents (the paper used 3 per concept).
* **Expressions.** ``--expr "A - B + C"`` is parsed by :func:`parse_expr` (never ``eval``): concept names
  (a letter or a word: ``[A-Za-z][A-Za-z0-9_]*``) joined by ``+`` and ``-``, each with an optional
  numeric coefficient (``2A``, ``0.5*B``). Single letters take ``--A SEEDS`` .. ``--Z SEEDS``; any name
  takes ``--concept NAME=SEEDS``. The result ``Y = sum(coef * mean(concept))``.
* **Neighbours.** ``Y`` is shown in the centre of a 3x3 grid with 8 neighbours ``Y + noise``. The paper
  adds uniform noise of +-0.25 to uniform latents in [-1, 1]; here the noise is uniform with the same
  size *relative to the latent distribution* (noise std = ``--jitter`` x latent std): +-0.25 for
  uniform latents, +-0.25*sqrt(3) = +-0.433 for normal ones. Decision for uniform latents: the 8
  neighbours are clipped to [-1, 1], so every jittered latent lies where the generator was trained;
  the centre is Y exactly as computed (the fraction of its coordinates outside [-1, 1] is reported).
* **Pixel-space control.** The same arithmetic on the exemplars' images (each concept = the mean of its
  exemplar images, in [-1, 1]; the result clipped to [-1, 1]), which is what the paper contrasts.
* **Turn** (``--turn FROM:TO``, Fig. 8): the direction ``d = mean(TO) - mean(FROM)``; row 0 walks from
  mean(FROM) to mean(TO) (``mean(FROM) + t d``), further rows add ``t d`` to other samples
  (``--turn-seeds``), ``t`` from 0 to 1 in ``--turn-steps`` frames.
* **Rooms measure** (``--measure window``, automatic for checkpoints trained on ``rooms``): a sample
  "has a window" when more than 1 % of the upper 5/8 of the image is sky-coloured (HSV hue 0.52-0.66,
  saturation >= 0.15, value >= 0.7): rooms draws windows as framed sky and keeps walls, floors and
  pictures out of the sky hues. Its accuracy against the exact rooms masks is measured on real rooms
  scenes at every run and stored in the JSON (about 91 %, false positives about 1 %). On rooms
  models the concept names ``window``, ``nowindow`` and ``room`` are filled automatically when not
  given: among ``--candidates`` samples, the 3 with the largest window score, and the 6 with the
  smallest (3 for ``nowindow``, 3 for ``room``). With no ``--expr`` and no ``--turn`` the command runs that demo:
  ``window - nowindow + room`` and the turn ``nowindow:window``, plus ``--trials`` random draws of
  exemplars from the same pools that compare the window rate of the 9 result samples with a control
  (``mean(room)`` + the same noise, i.e. no arithmetic).

Outputs of ``Result.save`` (the command's ``--out``): ``arith.pdf/png`` (exemplars, concept means, pixel-space means, results and the
3x3 grid), ``turn.pdf/png`` with ``--turn``, ``arith.json`` and ``arith.npz`` (latents and images the
figures are drawn from).
"""

from __future__ import annotations

import argparse
import math
import re
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.patches import Rectangle

from . import cli, figures
from .data import to_float, to_uint8
from .errors import GanlensError, require_at_least
from .generate import images
from .results import Result, analysis_module, provenance

PROG = "python -m ganlens.arith"
EXAMPLES = f"""  {PROG}                                      # rooms demo: window - nowindow + room, and a turn
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
AUTO_CONCEPTS = ("window", "nowindow", "room")
DEMO_EXPR, DEMO_TURN = "window - nowindow + room", ("nowindow", "window")
# The rooms window measure (see module doc).
SKY_HUE = (0.52, 0.66)
SKY_MIN_SAT, SKY_MIN_VAL = 0.15, 0.7
SKY_TOP = 5 / 8        # windows sit on walls; beds (which may be blue) fill the bottom of the image
WINDOW_THRESHOLD = 0.01
CHECK_ROOMS = 256      # real rooms scenes the measure is checked on at every run


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


def jitter(y: torch.Tensor, n: int, latent: str, scale: float = JITTER,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` neighbours of y (nz,) -> (n, nz): ``y + U(-a, a)`` (a from :func:`noise_amplitude`).

    Uniform latents: the neighbours are clipped to [-1, 1] (the generator's training support).
    """
    a = noise_amplitude(latent, scale)
    noise = (torch.rand(n, y.shape[-1], generator=generator, dtype=torch.float64) * 2 - 1) * a
    out = y.double() + noise
    if latent == "uniform":
        out = out.clamp(-1, 1)
    return out.to(y.dtype)


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


# --------------------------------------------------------------------------------------- rooms measure

def window_score(images: torch.Tensor) -> np.ndarray:
    """uint8 RGB images (N, 3, H, W) -> (N,) fraction of sky-coloured pixels in the upper 5/8.

    Sky: OpenCV HSV (full hue range) hue in SKY_HUE, saturation >= SKY_MIN_SAT, value >= SKY_MIN_VAL.
    """
    import cv2
    x = images.permute(0, 2, 3, 1).contiguous().numpy()
    top = max(1, round(x.shape[1] * SKY_TOP))
    x = x[:, :top]
    hsv = cv2.cvtColor(x.reshape(-1, x.shape[2], 3), cv2.COLOR_RGB2HSV_FULL).reshape(x.shape).astype(np.float32) / 255
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sky = (h >= SKY_HUE[0]) & (h <= SKY_HUE[1]) & (s >= SKY_MIN_SAT) & (v >= SKY_MIN_VAL)
    return sky.reshape(len(x), -1).mean(1)


def has_window(images: torch.Tensor) -> np.ndarray:
    """(N,) bool: window score above WINDOW_THRESHOLD."""
    return window_score(images) > WINDOW_THRESHOLD


def check_window_measure(size: int, n: int = CHECK_ROOMS, seed: int = 1) -> dict:
    """Accuracy of :func:`has_window` against the exact masks of ``n`` real rooms scenes."""
    from .rooms import WINDOW, make_rooms
    images, masks = make_rooms(n, size=size, seed=seed)
    truth = (masks == WINDOW).reshape(n, -1).any(1)
    pred = has_window(torch.from_numpy(images).permute(0, 3, 1, 2))
    return {"scenes": n, "rooms_seed": seed, "accuracy": float((pred == truth).mean()),
            "false_positive_rate": float((pred & ~truth).sum() / max(1, (~truth).sum())),
            "false_negative_rate": float((~pred & truth).sum() / max(1, truth.sum())),
            "with_window": int(truth.sum())}


def is_rooms_model(gan) -> bool:
    return gan.nc == 3 and str(gan.provenance.get("data") or "").startswith("rooms")


def uses_window(gan, measure: str) -> bool:
    """Whether the window measure applies: ``measure`` "window", or "auto" on a rooms model."""
    if measure not in ("auto", "window", "none"):
        raise GanlensError(f"measure must be auto, window or none, got {measure!r}")
    window = measure == "window" or (measure == "auto" and is_rooms_model(gan))
    if window and gan.nc != 3:
        raise GanlensError(f"--measure window: needs colour images, the model makes nc={gan.nc}")
    return window


# ------------------------------------------------------------------------------------------ computing

def pixel_arith(terms: list[Term], images: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Pixel-space control: {name: uint8 (k, nc, H, W)} -> ({name: mean image in [-1, 1]}, result in [-1, 1])."""
    means = {name: to_float(x).double().mean(0) for name, x in images.items()}
    return ({k: v.float() for k, v in means.items()},
            combine(terms, means).clamp(-1, 1).float())


def run_expr(gan, terms: list[Term], concepts: dict[str, Concept], scale: float,
             gen: torch.Generator) -> tuple[dict, dict]:
    """Latent and pixel arithmetic for one expression -> (JSON dict, arrays for the figure)."""
    names = list(dict.fromkeys(t.name for t in terms))
    means = {n: concepts[n].mean for n in names}
    y = combine(terms, means)
    neighbours = jitter(y, NEIGHBOURS, gan.latent, scale, gen)
    z_grid = grid_latents(y, neighbours)
    ex_z = torch.cat([concepts[n].z for n in names])
    counts = [len(concepts[n].z) for n in names]
    imgs = images(gan, torch.cat([ex_z, torch.stack([means[n] for n in names]), z_grid]), uint8=True)
    ex_imgs = dict(zip(names, torch.split(imgs[:len(ex_z)], counts)))
    mean_imgs = imgs[len(ex_z):len(ex_z) + len(names)]
    grid_imgs = imgs[len(ex_z) + len(names):]
    pix_means, pix_result = pixel_arith(terms, ex_imgs)
    arrays = {"names": names,
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
                      "concept_mean_norms": {n: float(means[n].double().norm()) for n in names},
                      "neighbour_distance_mean": float((neighbours.double() - y.double()).norm(dim=1).mean()),
                      "outside_support_fraction": float((y.abs() > 1).double().mean()) if uniform else None},
           "shown": {"exemplars": {n: min(MAX_SHOWN, c) for n, c in zip(names, counts)}}}
    return out, arrays


def auto_concepts(gan, candidates: int, start: int) -> tuple[dict[str, Concept], dict, dict]:
    """Pick window / nowindow / room exemplars among seeds start..start+candidates-1 by the window measure.

    Returns (concepts, JSON description, pools {"window": seeds sorted by score desc, "nowindow": seeds},
    with the candidates' images and scores under "images" and "scores" (keyed by seed)).
    """
    seeds = list(range(start, start + candidates))
    imgs = images(gan, gan.latents(seeds), uint8=True)
    score = window_score(imgs)
    yes = [seeds[i] for i in np.argsort(-score, kind="stable") if score[i] > WINDOW_THRESHOLD]
    no = [seeds[i] for i in np.argsort(score, kind="stable") if score[i] <= WINDOW_THRESHOLD]  # least sky first
    if len(yes) < 3 or len(no) < 6:
        raise GanlensError(f"automatic rooms demo: among {candidates} samples (seeds {start}..{start + candidates - 1}) "
                           f"{len(yes)} show a window and {len(no)} are window-free; it needs 3 and 6 "
                           f"(raise --candidates, or give --expr with your own seeds)")
    picks = {"window": yes[:3], "nowindow": no[:3], "room": no[3:6]}
    concepts = {k: Concept(k, gan.latents(v), seeds=v) for k, v in picks.items()}
    desc = {"candidates": candidates, "candidate_seeds": [start, start + candidates - 1],
            "with_window": len(yes), "window_free": len(no),
            "window_rate": float((score > WINDOW_THRESHOLD).mean()),
            "rule": "window: the 3 largest window scores; nowindow, room: the 6 smallest (3 each); "
                    "trials draw from all samples with / without a window"}
    pools = {"window": yes, "nowindow": no, "images": dict(zip(seeds, imgs)), "scores": dict(zip(seeds, score))}
    return concepts, desc, pools


def run_trials(gan, pools: dict, trials: int, scale: float, seed: int) -> dict:
    """``trials`` random draws of 3 window, 3 nowindow, 3 room exemplars from the pools.

    Per trial: window rate of the 9 samples around Y = window - nowindow + room, of the control
    (mean(room) + the same noise: no arithmetic), and whether the pixel-space result has a window.
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    terms = parse_expr(DEMO_EXPR)
    z_all, pixel, draws = [], [], []
    for _ in range(trials):
        w = rng.choice(pools["window"], 3, replace=False).tolist()
        nr = rng.choice(pools["nowindow"], 6, replace=False).tolist()
        pick = {"window": w, "nowindow": nr[:3], "room": nr[3:]}
        means = {k: gan.latents(v).double().mean(0).float() for k, v in pick.items()}
        y = combine(terms, means)
        noise = (torch.rand(NEIGHBOURS, len(y), generator=gen) * 2 - 1) * noise_amplitude(gan.latent, scale)
        res = grid_latents(y, y + noise)
        ctl = grid_latents(means["room"], means["room"] + noise)  # the same noise: paired comparison
        if gan.latent == "uniform":  # neighbours clipped, centre kept, as in jitter()
            res[[0, 1, 2, 3, 5, 6, 7, 8]] = res[[0, 1, 2, 3, 5, 6, 7, 8]].clamp(-1, 1)
            ctl[[0, 1, 2, 3, 5, 6, 7, 8]] = ctl[[0, 1, 2, 3, 5, 6, 7, 8]].clamp(-1, 1)
        z_all += [res, ctl]
        _, pix = pixel_arith(terms, {k: torch.stack([pools["images"][s] for s in v]) for k, v in pick.items()})
        pixel.append(pix)
        draws.append(pick)
    hw = has_window(images(gan, torch.cat(z_all), uint8=True)).reshape(trials, 2, 9)
    pix_hw = has_window(to_uint8(torch.stack(pixel)))
    per = [{"exemplars": d, "result_window_rate": float(hw[i, 0].mean()),
            "control_window_rate": float(hw[i, 1].mean()), "pixel_result_has_window": bool(pix_hw[i])}
           for i, d in enumerate(draws)]
    r, c = hw[:, 0].mean(1), hw[:, 1].mean(1)
    return {"count": trials, "samples_per_trial": 9,
            "result_window_rate": float(r.mean()), "control_window_rate": float(c.mean()),
            "pixel_result_window_rate": float(pix_hw.mean()),
            "trials_result_above_control": int((r > c).sum()), "trials_result_below_control": int((r < c).sum()),
            "per_trial": per,
            "definition": "result: Y = mean(window) - mean(nowindow) + mean(room) and its 8 jittered neighbours; "
                          "control: mean(room) and the same 8 noise vectors (no arithmetic); "
                          "pixel: the same arithmetic on exemplar images"}


# ---------------------------------------------------------------------------------------------- arith

def arith(gan, expr=None, concepts: dict | None = None, *, turn=None, turn_seeds=None, turn_steps: int = 9,
          jitter: float = JITTER, measure: str = "auto", candidates: int = 256, trials: int = 16,
          seed: int = 0) -> Result:
    """Vector arithmetic on ``gan``'s latents (the paper's Fig. 7) and turns along a direction (Fig. 8).

    expr: ``"A - B + C"`` (or a list of :class:`Term`); concepts: {name: seeds list, latents (k, nz) tensor,
    or a :class:`Concept`}; turn: ``"FROM:TO"`` or (FROM, TO), walked in ``turn_steps`` frames from the
    mean of FROM and from ``turn_seeds`` (default 1000-1002); jitter: neighbour noise std as a fraction
    of the latent std; measure: "window" scores samples by the rooms window measure ("auto": on rooms
    models). With no expr and no turn, on a rooms model: the window demo (``window - nowindow + room``
    with exemplars picked among ``candidates`` samples, ``trials`` random draws, and a turn).
    Returns a :class:`ganlens.Result` of kind "arith" (figures "arith" and/or "turn").
    """
    _check_settings(turn_steps=turn_steps, candidates=candidates, trials=trials, jitter=jitter)
    gan.require_G()
    terms = parse_expr(expr) if isinstance(expr, str) else (list(expr) if expr is not None else None)
    turn = parse_turn(turn) if isinstance(turn, str) else (tuple(turn) if turn is not None else None)
    window = uses_window(gan, measure)
    demo = terms is None and turn is None
    if demo:
        if not window:
            raise GanlensError("--expr: give an expression, e.g. --expr 'A - B + C' --A 3,17,42 --B 5,8,99 --C 1,2,4 "
                               "(the automatic demo needs a rooms model or --measure window)")
        terms, turn = parse_expr(DEMO_EXPR), DEMO_TURN
    given = {n: as_concept(n, v, gan) for n, v in (concepts or {}).items()}
    needed = list(dict.fromkeys(([t.name for t in terms] if terms else []) + (list(turn) if turn else [])))
    auto_names = [n for n in needed if n not in given and n in AUTO_CONCEPTS and window]
    _check_missing([n for n in needed if n not in given and n not in auto_names], expr, terms, turn)
    concepts = {n: c for n, c in given.items() if n in needed}
    result = _header(gan, seed, jitter, demo, window)
    pools = None
    if window:
        result["measure"] = _window_measure(gan.image_size)
        if auto_names:
            auto, desc, pools = auto_concepts(gan, candidates, seed)
            concepts.update({n: auto[n] for n in auto_names})
            result["measure"]["auto_concepts"] = dict(desc, names=auto_names)
    arrays, plots = {}, {}
    if terms is not None:
        _expr_part(result, arrays, gan, terms, concepts, jitter, torch.Generator().manual_seed(seed), window)
        if demo and trials:
            result["measure"]["trials"] = run_trials(gan, pools, trials, jitter, seed)
        plots["arith"] = plot_arith
    if turn is not None:
        if isinstance(turn_seeds, str):
            turn_seeds = parse_seeds(turn_seeds, "--turn-seeds")
        if turn_seeds is None:
            turn_seeds = concepts["room"].seeds if "room" in concepts and demo else [1000, 1001, 1002]
        _turn_part(result, arrays, gan, turn, concepts, [int(s) for s in turn_seeds], turn_steps, window)
        plots["turn"] = plot_turn
    return Result("arith", result, arrays, plots)


def _check_settings(**values) -> None:
    low = {"turn_steps": 2, "candidates": 9, "trials": 0}
    require_at_least({name: (v, low[name]) for name, v in values.items() if name in low})
    if not 0 <= values["jitter"] <= 10:
        raise GanlensError(f"jitter must be in [0, 10], got {values['jitter']}")


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


def _header(gan, seed: int, scale: float, demo: bool, window: bool) -> dict:
    from .walk import checkpoint_block
    uniform = gan.latent == "uniform"
    settings = {"seed": seed, "device": str(gan.device), "jitter": scale, "neighbours": NEIGHBOURS,
                "noise_amplitude": noise_amplitude(gan.latent, scale), "latent": gan.latent,
                "neighbours_clipped_to": [-1, 1] if uniform else None, "demo": demo,
                "measure": "window" if window else None}
    call = f"ganlens.arith({gan.name!r}, jitter={scale}, seed={seed}{', demo' if demo else ''})"
    return {"checkpoint": checkpoint_block(gan), "settings": settings,
            "definitions": {
                "concept": "mean of its exemplars' latents",
                "neighbours": "Y + U(-a, a) per coordinate, a = noise_amplitude (noise std = jitter x latent std); "
                              "uniform latents: neighbours clipped to [-1, 1], centre unchanged",
                "pixel_result": "the same arithmetic on the mean exemplar images in [-1, 1], clipped to [-1, 1]"},
            "provenance": provenance(gan, seed, call=call)}


def _window_measure(size: int) -> dict:
    return {"name": "window", "threshold": WINDOW_THRESHOLD,
            "definition": (f"fraction of the upper {SKY_TOP:g} of the image with HSV hue in [{SKY_HUE[0]}, "
                           f"{SKY_HUE[1]}], saturation >= {SKY_MIN_SAT}, value >= {SKY_MIN_VAL} (sky); has window "
                           f"if > {WINDOW_THRESHOLD}"),
            "check_on_real_rooms": check_window_measure(size)}


def _expr_part(result: dict, arrays: dict, gan, terms, concepts, scale: float, gen, window: bool) -> None:
    info, arr = run_expr(gan, terms, concepts, scale, gen)
    result.update(info)
    arrays.update({k: arr[k].numpy() for k in ("means", "pixel_means", "pixel_result", "grid", "z_grid", "y")})
    arrays.update({f"exemplars_{n}": arr["exemplars"][n].numpy() for n in arr["names"]})
    arrays.update({f"z_{n}": concepts[n].z.numpy() for n in arr["names"]})
    result["figure"] = {"names": arr["names"]}
    if window:
        sc = {"exemplars": {n: window_score(arr["exemplars"][n]).tolist() for n in arr["names"]},
              "means": dict(zip(arr["names"], window_score(arr["means"]).tolist())),
              "grid": window_score(arr["grid"]).tolist(),
              "pixel_result": float(window_score(arr["pixel_result"])[0])}
        result["measure"]["expr"] = {
            "scores": sc, "grid_has_window": [s > WINDOW_THRESHOLD for s in sc["grid"]],
            "result_window_rate": float(np.mean([s > WINDOW_THRESHOLD for s in sc["grid"]])),
            "pixel_result_has_window": sc["pixel_result"] > WINDOW_THRESHOLD}


def _turn_part(result: dict, arrays: dict, gan, turn, concepts, seeds: list[int], steps: int, window: bool) -> None:
    a, b = turn
    zt = turn_latents(concepts[a].mean, concepts[b].mean, gan.latents(seeds), steps)
    frames = images(gan, zt.reshape(-1, gan.nz), uint8=True)
    frames = frames.reshape(*zt.shape[:2], *frames.shape[1:])
    arrays["turn_frames"], arrays["turn_z"] = frames.numpy(), zt.numpy()
    result["turn"] = {"from": a, "to": b, "seeds": seeds, "steps": steps,
                      "t": torch.linspace(0, 1, steps).tolist(),
                      "direction_norm": float((concepts[b].mean.double() - concepts[a].mean.double()).norm()),
                      "concepts": {n: concepts[n].describe() for n in turn},
                      "rows": [f"mean({a}) -> mean({b})"] + [f"seed {s} + t d" for s in seeds]}
    if window:
        hw = has_window(frames.reshape(-1, *frames.shape[2:])).reshape(frames.shape[:2])
        result["turn"]["window_rate_by_step"] = hw.mean(0).tolist()
        result["turn"]["has_window"] = hw.tolist()


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
    """The Fig. 7-style figure from arith.json (``figure.names``, ``terms``, the window marks) and arith.npz.

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
        for ry, s in zip(rows_y, ("exemplars", "G(mean z)", "pixel mean")):
            ax.text(-S * 0.1, ry + S / 2, s, ha="right", va="center", fontsize=7)
        # centre of the grid: Y itself
        ax.add_patch(Rectangle((gx + S + g - 0.5, S + g - 0.5), S, S, fill=False, ec="red", lw=0.8))
        if data["settings"]["measure"] == "window":  # windowed samples of the grid get a mark
            for i in np.flatnonzero(data["measure"]["expr"]["grid_has_window"]):
                r, c = divmod(int(i), 3)
                ax.plot(gx + c * (S + g) + S * 0.88, r * (S + g) + S * 0.12, marker="o", ms=2.5, color="#ffd000",
                        mec="black", mew=0.4)
    return fig


def plot_turn(data: dict, arrays: dict):
    """Fig. 8-style rows from arith.npz ``turn_frames`` (R, T, nc, H, W) uint8, labelled from arith.json's
    ``turn`` (with the window rate per column when measured)."""
    frames, turn = arrays["turn_frames"], data["turn"]
    labels = [f"{turn['from']}\u2192{turn['to']}"] + [f"seed {s}" for s in turn["seeds"]]
    rates = turn.get("window_rate_by_step")
    R, T = frames.shape[:2]
    S, g = frames.shape[-1], 1
    wgap = max(2, S // 10)
    row_gaps = ([g + wgap] + [g] * R)[:R - 1]   # the mean-to-mean row set apart from the seeds' rows
    canvas = figures.tile(figures.rgb(frames.reshape(R * T, *frames.shape[2:])), T, gap=g, row_gaps=row_gaps)
    ys = figures.offsets(R, S, row_gaps)
    # about 0.7 inch a frame, at most the text width: a short turn makes a small figure, not a huge one
    width = min(figures.TWO_COLUMN, 0.55 + 0.7 * T)
    with figures.style():
        fig, ax = _show_canvas(canvas, left=0.55, top=0.15 if rates is None else 0.28, width=width)
        for y, lab in zip(ys, labels):
            ax.text(-S * 0.1, y + S / 2, lab, ha="right", va="center", fontsize=7)
        for t in range(T):
            ax.text(t * (S + g) + S / 2, -S * 0.08, f"t={t / max(1, T - 1):.2f}", ha="center",
                    va="bottom", fontsize=6)
            if rates is not None:
                ax.text(t * (S + g) + S / 2, -S * 0.32, f"{100 * rates[t]:.0f}%", ha="center", va="bottom",
                        fontsize=6, color="#1f5fbf")
        if rates is not None:
            ax.text(-S * 0.1, -S * 0.32, "window rate", ha="right", va="bottom", fontsize=6, color="#1f5fbf")
    return fig


# ------------------------------------------------------------------------------------------------ main

def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Vector arithmetic on latents (the paper's Fig. 7) with a pixel-space control, "
                         "turn interpolations (Fig. 8) and, on rooms models, a measured window demo.", EXAMPLES)
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
                   help="interpolate along mean(TO) - mean(FROM), two concept names")
    t.add_argument("--turn-seeds", metavar="SEEDS", type=lambda text: parse_seeds(text, "--turn-seeds"),
                   help="samples the direction is added to (default: the room concept on rooms, else 1000-1002)")
    t.add_argument("--turn-steps", type=cli.at_least(2), default=9, help="frames per row (default: 9)")
    m = p.add_argument_group("rooms measure")
    m.add_argument("--measure", choices=("auto", "window", "none"), default="auto",
                   help="window: score samples with the sky-colour window measure (auto: on rooms models)")
    m.add_argument("--candidates", type=cli.at_least(9), default=256,
                   help="samples searched for the automatic window/nowindow/room exemplars (default: 256)")
    m.add_argument("--trials", type=cli.at_least(0), default=16,
                   help="random exemplar draws for the window demo's statistic (default: 16; 0 = none)")
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
    used = set(AUTO_CONCEPTS) if args.expr is None and args.turn is None else set()
    used |= {t.name for t in parse_expr(args.expr)} if args.expr is not None else set()
    used |= set(parse_turn(args.turn)) if args.turn is not None else set()
    unused = [n for n in specs if n not in used]
    if unused:
        print(f"warning: concept(s) {', '.join(unused)} given but not used", file=sys.stderr)
    return {n: concept_from_spec(n, spec, flag, gan) for n, (spec, flag) in specs.items() if n in used}


def summary(data: dict) -> str:
    """The command's line on stderr: the result's norm and, when measured, window rates."""
    parts, m = [], data.get("measure") or {}
    if "expr" in data:
        parts.append(f"{data['expr']}: |Y| = {data['result']['latent_norm']:.2f}")
        if "expr" in m:
            parts.append(f"window rate of Y and neighbours {m['expr']['result_window_rate']:.2f}")
        if m.get("trials"):
            tr = m["trials"]
            parts.append(f"{tr['count']} trials: window rate {tr['result_window_rate']:.2f} with arithmetic vs "
                         f"{tr['control_window_rate']:.2f} without (pixel space {tr['pixel_result_window_rate']:.2f})")
    if "window_rate_by_step" in data.get("turn", {}):
        t, r = data["turn"], data["turn"]["window_rate_by_step"]
        parts.append(f"turn {t['from']}->{t['to']}: window rate {r[0]:.2f} -> {r[-1]:.2f}")
    return "arith: " + "; ".join(parts)


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    return arith(gan, args.expr, flag_concepts(args, gan), turn=args.turn, turn_seeds=args.turn_seeds,
                 turn_steps=args.turn_steps, jitter=args.jitter, measure=args.measure, candidates=args.candidates,
                 trials=args.trials, seed=args.seed)


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
