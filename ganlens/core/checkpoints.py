"""Checkpoints: ganlens's own format, foreign GAN state dicts, and the shipped default model.

Every checkpoint ganlens reads goes through :func:`read`, which calls ``torch.load(..., weights_only=True,
map_location="cpu")`` and nothing else: a checkpoint can hold tensors and plain containers, never code,
and a file saved from CUDA tensors opens on a machine without a GPU.

ganlens format (``format: ganlens.checkpoint/1``)::

    {"format": ..., "config": DCGANConfig fields, "G": state dict, "D": state dict or None,
     "state": {"iteration", "epoch", "optG", "optD"} (for --resume, optional),
     "provenance": {"command", "seed", "data", "iterations", "ganlens", "torch", "date", ...}}

Foreign files (state dicts saved by other code) are recognised by their keys and tensor shapes, with no
flags, in :mod:`ganlens.core.foreign`; :mod:`ganlens.core.weights` checks the tensors of both.
"""

from __future__ import annotations

import pickle
import pickletools
import re
import sys
import warnings
import zipfile
from pathlib import Path

import torch

from ganlens.core.errors import GanlensError, first_line, require_memory
from ganlens.core.foreign import (D_KEYS, FAMILIES, G_KEYS, PREFIXES, ROLE_PREFIXES, SD_KEYS, from_foreign,
                                  strip_prefixes, user_parts)
from ganlens.core.gan import GAN, file_sha256, latent_from_seed, wrap
from ganlens.core.models import ConfigError, DCGANConfig, Discriminator, Generator
from ganlens.core.results import atomic_write, command_line
from ganlens.core.results import provenance as record
from ganlens.core.validate import path_arg
from ganlens.core.version import __version__
from ganlens.core.weights import check_dtypes, check_finite, load_error

FORMAT = "ganlens.checkpoint/1"
DEFAULT_CHECKPOINT = Path(__file__).parents[1] / "default" / "rooms64.pt"
LoadedModel = GAN  # the name of the model type before ganlens.wrap existed
__all__ = ["FORMAT", "DEFAULT_CHECKPOINT", "LoadedModel", "provenance", "save", "remove_stale_temp_files", "unwrap", "read",
           "load", "load_weights", "MAX_TENSORS", "MAX_PICKLE_BYTES",
           # re-exported from where they live (core.gan, core.foreign, core.weights, core.version)
           "GAN", "wrap", "file_sha256", "latent_from_seed", "__version__", "check_dtypes", "check_finite",
           "load_error", "G_KEYS", "D_KEYS", "SD_KEYS", "ROLE_PREFIXES", "PREFIXES", "FAMILIES"]


def provenance(seed: int | None = None, **extra) -> dict:
    """Who made a file and how (the record a checkpoint or a model card keeps): the shared
    :func:`ganlens.results.provenance` block, whose command is always filled in, with how this process was
    started when no ``python -m ganlens.X`` command is running (a trainer called from Python)."""
    out = record(None, seed, **extra)
    out["command"] = out["command"] or command_line()
    return out


def save(path: str | Path, config: DCGANConfig, G: Generator, D: Discriminator | None = None, *,
         state: dict | None = None, provenance: dict | None = None, half: bool = False) -> Path:
    """Write a ganlens checkpoint atomically (temp file in the same folder, fsync, rename).

    ``half`` stores float weights as float16 (used for the shipped model; training keeps float32).
    A reader never sees a half-written file, and a crash leaves the previous file in place.
    """
    def sd(net):
        if net is None:
            return None
        out = {k: v.detach().to("cpu") for k, v in unwrap(net).state_dict().items()}
        if half:
            for k, v in out.items():  # beyond float16's range a weight would become inf (and the file be refused)
                if v.is_floating_point() and v.numel() and v.abs().max() > torch.finfo(torch.float16).max:
                    raise GanlensError(f"--half: {k} reaches {v.abs().max().item():.4g}, beyond float16's range "
                                       f"(65504); export without --half")
            out = {k: v.half() if v.is_floating_point() else v for k, v in out.items()}
        return out

    payload = {"format": FORMAT, "config": config.to_dict(), "G": sd(G), "D": sd(D),
               "state": state, "provenance": provenance or {}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda f: torch.save(payload, f))


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temp files (``.NAME.pt.*.tmp``) that :func:`save` leaves when its process is killed
    between writing and renaming; returns what was removed. Finished checkpoints are never touched."""
    stale = sorted(Path(folder).glob(".*.pt.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def unwrap(net: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside DDP / torch.compile wrappers."""
    while hasattr(net, "module") or hasattr(net, "_orig_mod"):
        net = getattr(net, "module", None) or getattr(net, "_orig_mod")
    return net


def read(path: str | Path) -> object:
    """``torch.load(path, weights_only=True)`` with every failure turned into a one-line GanlensError.

    This is the only place in ganlens that unpickles anything.
    """
    path = Path(path)
    if not path.exists():
        raise GanlensError(f"{path}: no such file")
    if path.is_dir():
        raise GanlensError(f"{path}: is a folder, expected a checkpoint file")
    if path.stat().st_size == 0:
        raise GanlensError(f"{path}: empty file, expected a PyTorch checkpoint")
    _check_declared_size(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the error below says it all
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if not zipfile.is_zipfile(path) and _pickle_protocol(path) is not None:
            raise _raw_pickle(path)
        # torch wraps every weights-only failure in "Weights only load failed ..."; only a GLOBAL
        # (a reference to a Python callable or class) means the file holds objects. Random or foreign
        # bytes fail on an opcode instead and are simply not a checkpoint.
        if "GLOBAL" in msg or "Unsupported global" in msg:
            what = re.search(r"GLOBAL ([\w.]+)", msg)
            found = f" (it references {what.group(1)})" if what else ""
            raise GanlensError(f"{path}: refused: the file holds Python objects, not only tensors{found}; "
                               f"ganlens loads checkpoints with weights_only=True and never runs their code")
        text = _text_head(path)
        if text is not None:
            raise GanlensError(f"{path}: not a PyTorch checkpoint: it is a text file (starts {text!r}); "
                               f"expected a file written by torch.save")
        detail = next((ln.strip() for ln in msg.splitlines() if ln.strip() and not ln.startswith(
            ("Weights only load failed", "Please file an issue", "Check the documentation"))), "")
        raise GanlensError(f"{path}: not a PyTorch checkpoint (unpickling failed: {detail[:200]}); "
                           f"ganlens reads files written by torch.save with tensors and plain containers only")
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, IndexError, KeyError) as e:
        if "magic number" in str(e) and _pickle_protocol(path) is not None:  # a pickle, not torch's legacy format
            raise _raw_pickle(path)
        text = _text_head(path)
        if text is not None:  # a text file (notes, JSON, a config) unpickles into nonsense like "pop from empty list"
            raise GanlensError(f"{path}: not a PyTorch checkpoint: it is a text file (starts {text!r}); "
                               f"expected a file written by torch.save")
        raise GanlensError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): "
                           f"{first_line(str(e)) or type(e).__name__}")


MAX_TENSORS = 20000        # a GAN checkpoint (optimiser state included) holds hundreds; 32k took 8.8 GB to unpickle
MAX_PICKLE_BYTES = 1 << 26  # the structure (data.pkl) of a checkpoint is small; the tensors are stored beside it


def _check_declared_size(path: Path) -> None:
    """Before unpickling a torch zip checkpoint: refuse one whose structure holds more than MAX_TENSORS tensors
    (counted as storage references in data.pkl, without building anything) or whose stored tensors would not
    fit in memory, with the estimate."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            pkl = next((i for i in infos if i.filename.endswith("/data.pkl") or i.filename == "data.pkl"), None)
            stored = sum(i.file_size for i in infos if "/data/" in i.filename)
            require_memory(stored, f"{path}: its tensors ({stored / 2**20:.0f} MiB stored)")
            if pkl is None:
                return
            if pkl.file_size > MAX_PICKLE_BYTES:
                raise GanlensError(f"{path}: its structure (data.pkl) is {pkl.file_size / 2**20:.0f} MiB; a checkpoint's "
                                   f"is well under {MAX_PICKLE_BYTES >> 20} MiB; refused before unpickling")
            with z.open(pkl) as f:
                n = sum(op.name == "BINPERSID" for op, _, _ in pickletools.genops(f))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError):
        return  # not a (readable) zip checkpoint: torch.load says what it is
    if n > MAX_TENSORS:
        raise GanlensError(f"{path}: holds {n} tensors (a GAN checkpoint holds hundreds; at most {MAX_TENSORS} are "
                           f"read); refused before unpickling")


def _raw_pickle(path: Path) -> GanlensError:
    return GanlensError(f"{path}: refused: a raw Python pickle (protocol {_pickle_protocol(path)}), not a file "
                        f"written by torch.save; ganlens loads checkpoints with weights_only=True and never "
                        f"unpickles Python objects")


def _pickle_protocol(path: Path) -> int | None:
    """The protocol of a raw pickle (it starts with PROTO n, n >= 2), else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return None
    return head[1] if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5 else None


def _text_head(path: Path) -> str | None:
    """The first line (up to 40 characters) of a file that is UTF-8 text, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if b"\0" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:  # a multi-byte character cut at 512 bytes is still text
        if e.start < len(head) - 3:
            return None
        text = head[:e.start].decode("utf-8")
    if not text.strip() or any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        return None
    return text.strip().splitlines()[0][:40]


def load(path: str | Path | None = None, device: str | torch.device = "cpu") -> GAN:
    """Load any checkpoint ganlens supports (``None`` or ``"default"``: the shipped model).

    Returns a :class:`ganlens.GAN` with G and D in eval mode on ``device``. Raises GanlensError with one
    line naming the file and the problem for anything else.
    """
    if path is not None:
        path = path_arg(path, "path", "ganlens.load")  # a numpy array or a dict is not a file name
    if path is None or str(path) == "default":
        if path is not None and Path("default").exists():
            print("warning: ./default exists, but --checkpoint default means the shipped model; pass ./default "
                  "for that file", file=sys.stderr)
        path = DEFAULT_CHECKPOINT
        if not path.exists():
            raise GanlensError(f"{path}: the default model is missing from this install; "
                               f"pass --checkpoint or reinstall ganlens")
    path = Path(path)
    obj = read(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        G, D, config, source, prov = _from_ganlens(path, obj)
        nz, shape = config.nz if G is not None else None, (config.nc, config.image_size, config.image_size)
    elif isinstance(obj, dict) and isinstance(obj.get("format"), str):
        raise GanlensError(f"{path}: unknown checkpoint format {obj['format']!r} (this ganlens reads {FORMAT})")
    else:
        (G, D, nz, shape, config, source), prov = from_foreign(path, obj), {}
    for role, net in (("G", G), ("D", D)):
        if net is not None:
            check_finite(path, role, net)
            net.eval().requires_grad_(False).to(device)
    return wrap(G, D, nz=nz, latent=config.latent if config is not None else "normal", path=path, source=source,
                provenance=prov, config=config, image_shape=shape)


def _from_ganlens(path: Path, obj: dict) -> tuple:
    missing = [k for k in ("config", "G") if k not in obj]
    if missing:
        raise GanlensError(f"{path}: ganlens checkpoint without {', '.join(missing)}")
    if not isinstance(obj["config"], dict):
        raise GanlensError(f"{path}: bad config in checkpoint: a {type(obj['config']).__name__}, expected a dict "
                           f"of DCGANConfig fields")
    try:
        config = DCGANConfig.from_dict(obj["config"])
    except (ConfigError, TypeError) as e:
        raise GanlensError(f"{path}: bad config in checkpoint: {e}")
    G = _build(path, Generator, config, obj["G"]) if obj["G"] is not None else None
    D = _build(path, Discriminator, config, obj.get("D")) if obj.get("D") is not None else None
    return G, D, config, "ganlens checkpoint", obj.get("provenance") or {}


def _build(path: Path, cls, config: DCGANConfig, sd: dict):
    if not isinstance(sd, dict):
        raise GanlensError(f"{path}: {cls.__name__} weights are a {type(sd).__name__}, expected a state dict")
    net = cls(config)
    check_dtypes(path, sd)
    try:
        net.load_state_dict(sd)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise GanlensError(f"{path}: {cls.__name__} weights do not match its config: {load_error(e)}")
    return net


def load_weights(gan: GAN, path: str | Path) -> GAN:
    """Load a checkpoint's weights (read with ``weights_only=True``) into networks the user built
    (``--model``): a ganlens checkpoint; a dict wrapping G/D state dicts under the usual keys; one state
    dict holding both under role prefixes (``generator.``/``discriminator.`` as PyTorch Lightning saves
    it, ``netG.``/``netD.``, ``G.``/``D.``), raw or under ``state_dict``; or one raw state dict (given to G
    if its keys fit G, else to D). Prefixes ``module.`` / ``_orig_mod.`` are dropped.
    Updates ``gan.path`` and ``gan.source``; a mismatch is a one-line GanlensError."""
    path = Path(path)
    obj = read(path)
    if not isinstance(obj, dict):
        raise GanlensError(f"{path}: holds a {type(obj).__name__}, expected a state dict or a dict of them")
    parts = {"G": obj.get("G"), "D": obj.get("D")} if obj.get("format") == FORMAT else user_parts(obj, gan)
    loaded = []
    for role, sd in parts.items():
        net = gan.G if role == "G" else gan.D
        if sd is None or net is None:
            continue
        try:
            check_dtypes(path, sd)
            net.load_state_dict(strip_prefixes(sd))
        except (RuntimeError, TypeError, AttributeError, KeyError) as e:
            raise GanlensError(f"{path}: its {role} weights do not fit the --model {role}: {load_error(e)}")
        check_finite(path, role, net)
        loaded.append(role)
    if not loaded:
        raise GanlensError(f"{path}: no weights for the --model networks (G: {gan.G is not None}, "
                           f"D: {gan.D is not None}) in this file")
    gan.path, gan.source = path, f"{gan.source} with {'+'.join(loaded)} weights from {path.name}"
    gan.__dict__.pop("sha256", None)
    return gan


