"""Expressions over concepts, ``"A - 0.5*B + 2 C"``: parsed by hand (never ``eval``), printed back, and
combined on vectors (:func:`combine`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

from ganlens.core.errors import GanlensError

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
MAX_COEF = 1e6         # beyond this a latent leaves any distribution G was trained on (and floats overflow)


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
    terms: list[Term] = []
    i, n, sign = 0, len(text), 1.0
    while True:
        i = _skip(text, i)
        if not terms and i < n and text[i] in "+-":
            sign = -1.0 if text[i] == "-" else 1.0
            i = _skip(text, i + 1)
        if i >= n:
            fail(f"ends after {text.rstrip()[-1]!r}; a concept name must follow" if terms
                 else "empty expression; write e.g. 'A - B + C'")
        term, i = _term(text, i, sign, fail)
        terms.append(term)
        i = _skip(text, i)
        if i >= n:
            return terms
        if text[i] not in "+-":
            if NAME.match(text, i) or NUMBER.match(text, i):
                fail(f"expected + or - before {text[i:].split()[0]!r} at position {i + 1}")
            fail(f"unexpected character {text[i]!r} at position {i + 1}; use concept names, numbers, + and -")
        sign = -1.0 if text[i] == "-" else 1.0
        i += 1


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _term(text: str, i: int, sign: float, fail) -> tuple[Term, int]:
    """``[NUMBER [*]] NAME`` at ``i`` (not at the end) -> (the term with ``sign``, the position after it)."""
    n, coef = len(text), 1.0
    m = NUMBER.match(text, i)
    if m:
        coef = float(m.group())
        if not math.isfinite(coef) or abs(coef) > MAX_COEF:
            fail(f"the coefficient {m.group()} at position {m.start() + 1} is out of range "
                 f"(|coefficient| <= {MAX_COEF:g})")
        i = _skip(text, m.end())
        if i < n and text[i] == "*":
            i = _skip(text, i + 1)
        if i >= n or not NAME.match(text, i):
            fail(f"the number {m.group()} at position {m.start() + 1} must be followed by a concept name")
    m = NAME.match(text, i)
    if not m:
        what = "an operator" if text[i] in "+-*" else f"unexpected character {text[i]!r}"
        fail(f"{what} at position {i + 1}, expected a concept name (letters, digits, _)")
    return Term(sign * coef, m.group()), m.end()


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


def parse_turn(text: str) -> tuple[str, str]:
    """``"FROM:TO"`` -> (FROM, TO), two concept names."""
    a, colon, b = str(text).partition(":")
    if not colon or not NAME.fullmatch(a.strip()) or not NAME.fullmatch(b.strip()):
        raise GanlensError(f"--turn {text}: expected FROM:TO, two concept names, e.g. --turn L:R")
    return a.strip(), b.strip()
