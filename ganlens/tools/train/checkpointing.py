"""A run's checkpoints: which one ``--resume`` continues from, the settings it restores, writing
``ckpt_NNNNNNN.pt`` + ``last.pt`` (keeping the newest ``--keep``), and what a stopped run leaves."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from ganlens.core import checkpoints, results
from ganlens.core.errors import GanlensError
from ganlens.core.models import ConfigError, DCGANConfig
from ganlens.tools.train.record import Settings


@dataclass
class Resumed:
    """The checkpoint a run continues from: its file, its content, and the model config it holds."""

    path: Path
    ckpt: dict
    config: DCGANConfig

    @property
    def state(self) -> dict:
        """The training state: iteration, optimiser states, history and the run's settings (``args``)."""
        return self.ckpt["state"]


def find_resume(out: Path, resume: str) -> Path:
    """The checkpoint to resume from: the newest readable one.

    last.pt is written just after the numbered checkpoint of the same iteration, so a run killed between
    the two saves leaves a numbered checkpoint newer than last.pt, which is then taken; a corrupt last.pt
    falls back to the newest good numbered one.
    """
    if resume != "auto":
        return Path(resume)
    last, last_it = out / "last.pt", None
    if last.exists():
        try:
            obj = checkpoints.read(last)
            state = obj.get("state") if isinstance(obj, dict) else None
            last_it = state.get("iteration", -1) if isinstance(state, dict) else -1
        except GanlensError as e:
            print(f"warning: {e}; trying an older checkpoint", file=sys.stderr)
    numbered = sorted(out.glob("ckpt_*.pt"), reverse=True)
    if last_it is not None:
        numbered = [p for p in numbered if ckpt_iteration(p) > last_it]
    for path in numbered:
        try:
            checkpoints.read(path)
        except GanlensError as e:
            print(f"warning: {e}; trying an older checkpoint", file=sys.stderr)
            continue
        return path
    if last_it is not None:
        return last
    raise GanlensError(f"--resume: no readable checkpoint in {out}")


def resume(out: Path, s: Settings) -> Resumed:
    """Read the checkpoint ``s.resume`` names (or finds in ``out``) and put the run's own settings into ``s``:
    data, batch size, optimiser and seed win over the flags; the model's shape is the checkpoint's."""
    path = find_resume(out, s.resume)
    ckpt = checkpoints.read(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != checkpoints.FORMAT or not ckpt.get("state"):
        raise GanlensError(f"{path}: not a ganlens training checkpoint (no optimiser state to resume)")
    config = DCGANConfig.from_dict(ckpt["config"])
    saved = ckpt["state"]["args"]
    for k in ("data", "batch_size", "lr", "beta1", "seed"):  # the run's settings win over flags
        setattr(s, k, saved[k])
    for k in ("nz", "ngf", "ndf", "nc", "image_size", "latent"):  # so train.json records the real model
        setattr(s, k, getattr(config, k))
    if s.iters is None and s.epochs is None:
        s.iters = saved["iters"]
    return Resumed(path, ckpt, config)


def new_config(out: Path, s: Settings) -> DCGANConfig:
    """The model of a new run in ``out`` (refused when ``out`` already holds a run)."""
    if (out / "last.pt").exists():
        raise GanlensError(f"--out {out}: already holds a run (last.pt); use --resume or another --out")
    try:
        return DCGANConfig(nz=s.nz, ngf=s.ngf, ndf=s.ndf, nc=s.nc, image_size=s.image_size, latent=s.latent)
    except ConfigError as e:
        raise GanlensError(f"bad model settings: {e}")


def write_checkpoint(out: Path, it: int, config: DCGANConfig, G: torch.nn.Module, D: torch.nn.Module,
                     state: dict, provenance: dict, keep: int) -> None:
    """``ckpt_<it>.pt`` then ``last.pt`` (both recorded as ganlens's before they are written), then the
    numbered checkpoints beyond the newest ``keep`` that this run wrote are removed."""
    name = f"ckpt_{it:07d}.pt"
    results.refuse_taken(out, [name])
    results.record_written(out, [name, "last.pt"])  # before writing: a crash leaves no unrecorded file
    for path in (out / name, out / "last.pt"):
        checkpoints.save(path, config, G, D, state=state, provenance=provenance)
    ours = sorted(n for n in results.written(out) if ckpt_iteration(Path(n)) >= 0)  # never a user's ckpt_*.pt
    for old in ours[:-keep]:
        (out / old).unlink(missing_ok=True)
    results.record_written(out, drop=ours[:-keep])


def saved_iteration(path: Path) -> int | str:
    """The iteration a checkpoint was saved at ("?" when it cannot be read)."""
    try:
        return checkpoints.read(path)["state"]["iteration"]
    except (GanlensError, KeyError, TypeError):
        return "?"


def ckpt_iteration(path: Path) -> int:
    """7 in ``ckpt_0000007.pt``; -1 for other names."""
    m = re.fullmatch(r"ckpt_(\d+)\.pt", path.name)
    return int(m[1]) if m else -1


def kept(out: Path, ckpt_every: int) -> str:
    """What a stopped run leaves: its newest checkpoint, or that there is none yet."""
    last = out / "last.pt"
    if last.exists():
        return f"the last good checkpoint ({last}, iteration {saved_iteration(last)}) is kept"
    return f"no checkpoint was written yet (--ckpt-every {ckpt_every}), so {out} holds none"
