"""Concepts: a concept is a list of exemplars, given as seeds (latents by the :func:`ganlens.latent_from_seed`
rule), a file of latents (``.npy``/``.txt``, no pickles) or latents from Python; its vector is their mean."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganlens.analyses.arith.expr import NAME
from ganlens.core.errors import GanlensError

SEEDS = re.compile(r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$")
MAX_SEEDS = 100_000    # a range like 0-99999999 is a typo, not a concept


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

