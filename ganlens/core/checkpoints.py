"""Checkpoints: ganlens's own format, foreign GAN state dicts, and the shipped default model.

Every checkpoint ganlens reads goes through :func:`read`, which calls ``torch.load(..., weights_only=True,
map_location="cpu")`` and nothing else: a checkpoint can hold tensors and plain containers, never code,
and a file saved from CUDA tensors opens on a machine without a GPU.

ganlens format (``format: ganlens.checkpoint/1``)::

    {"format": ..., "config": DCGANConfig fields, "G": state dict, "D": state dict or None,
     "state": {"iteration", "epoch", "optG", "optD"} (for --resume, optional),
     "provenance": {"command", "seed", "data", "iterations", "ganlens", "torch", "date", ...}}

Foreign files are recognised by their keys and tensor shapes, with no flags:

* **Where the weights are.** A raw state dict, or one under ``netG_state_dict``, ``netD_state_dict``,
  ``netG``, ``netD``, ``generator``, ``discriminator``, ``G`` or ``D``; or one state dict holding both
  networks under role prefixes (``generator.``/``discriminator.``, as PyTorch Lightning saves a module's
  attributes, ``netG.``/``netD.``, ``G.``/``D.``, ``critic.``), raw or under ``state_dict``,
  ``model_state_dict`` or ``model`` (keys under no role prefix, such as a metric's weights, are left
  out). DataParallel's ``module.`` and torch.compile's ``_orig_mod.`` prefixes are dropped. A lone state
  dict is D's when its last conv/linear weight has one output, else G's.
* **Spectral norm**, in both torch formats (``X.weight_orig`` + ``X.weight_u``/``X.weight_v``;
  ``X.parametrizations.weight.original`` + ``X.parametrizations.weight.0._u``/``._v``), is folded into a
  plain weight W / sigma, sigma = u . (W_mat v) from the stored vectors: what torch computes in eval mode.
* **Architecture.** The pytorch/examples ``dcgan/main.py`` / PyTorch DCGAN tutorial layout (G's first
  transposed conv is (nz, C, b, b) and makes a b x b map, every later one a bias-free stride-2 4x4
  doubling with BatchNorm; D mirrors it) loads into ganlens's own :class:`Generator`/:class:`Discriminator`
  (``gan.config`` set). Any other layout is read by :mod:`ganlens.architectures` (the paper's Linear +
  5x5 family, critics without BatchNorm, a 1x1 last transposed conv, MLPs; its docstring states the
  rules, and the activations it assumes) into a plain ``nn.Sequential`` (``gan.config`` None).
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import warnings
import zipfile
from pathlib import Path

import torch

from ganlens.core import architectures
from ganlens.core.version import __version__  # noqa: F401 (re-exported)
from ganlens.core.errors import GanlensError
from ganlens.core.gan import GAN, file_sha256, latent_from_seed, wrap  # noqa: F401 (re-exported)
from ganlens.core.models import ConfigError, DCGANConfig, Discriminator, Generator
from ganlens.core.results import atomic_write, command_line
from ganlens.core.validate import path_arg
from ganlens.core.results import provenance as record

FORMAT = "ganlens.checkpoint/1"
DEFAULT_CHECKPOINT = Path(__file__).parents[1] / "default" / "rooms64.pt"
G_KEYS = ("netG_state_dict", "netG", "generator", "G")
D_KEYS = ("netD_state_dict", "netD", "discriminator", "D")
SD_KEYS = ("state_dict", "model_state_dict", "model")
ROLE_PREFIXES = {"G": ("generator.", "netG.", "G."), "D": ("discriminator.", "netD.", "D.", "critic.")}
PREFIXES = ("module.", "_orig_mod.")
FAMILIES = ("tutorial DCGAN (ConvT from z, 4x4 stride 2), paper DCGAN (Linear + 5x5 stride 2, bias), "
            "critics without BatchNorm, 1x1 last ConvT, MLP; spectral norm in both torch formats")
_SN = re.compile(r"^(?:(?P<module>.+)\.)?(?P<tail>weight_orig|parametrizations\.weight\.original)$")
_PARAM = re.compile(r"^(?P<module>.+)\.(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)$")


LoadedModel = GAN  # the name of the model type before ganlens.wrap existed


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
        out = {k: v.detach().to("cpu") for k, v in _unwrap(net).state_dict().items()}
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


def _unwrap(net: torch.nn.Module) -> torch.nn.Module:
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
                           f"{_first_line(str(e)) or type(e).__name__}")


MAX_TENSORS = 20000        # a GAN checkpoint (optimiser state included) holds hundreds; 32k took 8.8 GB to unpickle
MAX_PICKLE_BYTES = 1 << 26  # the structure (data.pkl) of a checkpoint is small; the tensors are stored beside it


def _check_declared_size(path: Path) -> None:
    """Before unpickling a torch zip checkpoint: refuse one whose structure holds more than MAX_TENSORS tensors
    (counted as storage references in data.pkl, without building anything) or whose stored tensors would not
    fit in memory, with the estimate."""
    import pickletools
    from ganlens.core.errors import require_memory
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


def check_finite(path, role: str, net: torch.nn.Module) -> None:
    """Refuse weights that cannot make an image: NaN or infinite values, or negative BatchNorm variances.
    The message names the first bad tensor (set GANLENS_ALLOW_NONFINITE=1 to load such a file anyway, for
    debugging a diverged run)."""
    if os.environ.get("GANLENS_ALLOW_NONFINITE") == "1":
        return
    for name, t in net.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise GanlensError(f"{path}: {role} tensor {name!r} holds {bad} NaN/infinite value(s) of {t.numel()}; "
                               f"the run diverged (set GANLENS_ALLOW_NONFINITE=1 to load it anyway)")
        if name.endswith("running_var") and (t < 0).any():
            raise GanlensError(f"{path}: {role} tensor {name!r} holds negative variances; the file is corrupt")


def load_error(e: BaseException) -> str:
    """The informative line of torch's load_state_dict error: the first mismatched key with both shapes, or
    the missing / unexpected keys (torch's own first line names only the class)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in lines:
        m = re.match(r"size mismatch for ([^:]+): copying a param with shape torch.Size\((\[[^\]]*\])\) from "
                     r"checkpoint, the shape in current model is torch.Size\((\[[^\]]*\])\)", ln)
        if m:
            return f"{m[1]} has shape {m[2]} in the file but {m[3]} in the network"
    for ln in lines:
        if ln.startswith(("Missing key", "Unexpected key")):
            return ln[:300]
    return _first_line(str(e))


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


def _first_line(msg: str) -> str:
    return msg.strip().splitlines()[0][:200] if msg.strip() else ""


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
        (G, D, nz, shape, config, source), prov = _from_foreign(path, obj), {}
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


def _state_dicts(path: Path, obj) -> tuple[dict | None, dict | None]:
    """Find (G state dict, D state dict) in a foreign file; either may be None."""
    if not isinstance(obj, dict):
        raise GanlensError(f"{path}: not a checkpoint: it holds a {type(obj).__name__}, expected a dict "
                           f"of tensors (a state dict) or a dict wrapping one")
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _split(obj) or _classify(path, obj)
    g = next((obj[k] for k in G_KEYS if isinstance(obj.get(k), dict)), None)
    d = next((obj[k] for k in D_KEYS if isinstance(obj.get(k), dict)), None)
    inner = next((obj[k] for k in SD_KEYS if isinstance(obj.get(k), dict)), None)
    if g is None and d is None and inner is not None:
        return _split(inner) or _classify(path, inner)
    if g is None and d is None:
        keys = ", ".join(sorted(map(str, obj))[:8]) or "nothing"
        raise GanlensError(f"{path}: no generator or discriminator weights found (top-level keys: {keys}); "
                           f"expected a state dict or one under {', '.join(G_KEYS + D_KEYS + SD_KEYS)}")
    return g, d


def _split(sd: dict) -> tuple[dict | None, dict | None] | None:
    """One state dict holding both networks under role prefixes (``generator.``/``discriminator.`` as a
    PyTorch Lightning module saves them, ``netG.``/``netD.``, ``G.``/``D.``, ``critic.``) -> (G, D) with
    the prefixes dropped; keys under no role prefix (metrics, fixed noise) are left out. None when no key
    has a role prefix."""
    sd = _strip(sd)
    found = {}
    for role, prefixes in ROLE_PREFIXES.items():
        for p in prefixes:
            part = {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}
            if part:
                found[role] = part
                break
    return (found.get("G"), found.get("D")) if found else None


def _classify(path: Path, sd: dict) -> tuple[dict | None, dict | None]:
    """A lone state dict is D's when its last conv or linear weight has one output: (1, C, k, k) or (1, n);
    G's last is (ngf, nc, k, k) (a transposed conv) or (n_pixels, hidden)."""
    weights = [v for k, v in _strip(sd).items() if k.endswith(("weight", "weight_orig", "weight.original"))
               and isinstance(v, torch.Tensor) and v.dim() in (2, 4)]
    if weights and weights[-1].shape[0] == 1:
        return None, sd
    return sd, None


def check_dtypes(path, sd: dict) -> None:
    """Weights are floating-point: a bool, integer or complex tensor (other than BatchNorm's step counter)
    would be converted silently by load_state_dict; refused naming the tensor."""
    for k, v in sd.items():
        if isinstance(v, torch.Tensor) and not v.is_floating_point() and not str(k).endswith("num_batches_tracked"):
            raise GanlensError(f"{path}: tensor {k} is {str(v.dtype).replace('torch.', '')}; weights must be "
                               f"floating-point")


def _strip(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        k = str(k)
        changed = True
        while changed:
            changed = False
            for p in PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p):], True
        out[k] = v
    return out


def _fold_spectral_norm(path: Path, sd: dict, role: str) -> tuple[dict, int]:
    """(state dict with every spectral-norm weight folded into a plain ``X.weight``, how many were folded).

    Both torch formats: ``X.weight_orig`` + ``X.weight_u``/``X.weight_v`` (``torch.nn.utils.spectral_norm``)
    and ``X.parametrizations.weight.original`` + ``X.parametrizations.weight.0._u``/``._v``
    (``torch.nn.utils.parametrizations.spectral_norm``). At eval torch uses W / sigma with
    sigma = u . (W_mat v) from the stored vectors and no power iteration, so the folded weight computes
    exactly what the original network computes in eval mode.
    """
    vectors = {}
    for k in sd:
        m = _SN.match(k)
        if m:
            pre = f"{m['module']}." if m["module"] else ""
            vectors[k] = ((pre + "weight_u", pre + "weight_v") if k.endswith("weight_orig") else
                          (pre + "parametrizations.weight.0._u", pre + "parametrizations.weight.0._v"))
    skip = {name for pair in vectors.values() for name in pair}
    out = {}
    for k, v in sd.items():
        if k in skip:
            continue
        if k not in vectors:
            out[k] = v
            continue
        u, vec = (sd.get(name) for name in vectors[k])
        try:
            w = _spectral_weight(v, u, vec, transposed=role == "G" and v.dim() == 4)
        except (ValueError, RuntimeError, AttributeError, TypeError) as e:
            raise GanlensError(f"{path}: spectral-norm weight {k!r} {tuple(v.shape)} without usable u and v "
                               f"vectors: {_first_line(str(e)) or type(e).__name__}")
        out[k[: _SN.match(k).start("tail")] + "weight"] = w
    return out, len(vectors)


def _spectral_weight(w: torch.Tensor, u: torch.Tensor, v: torch.Tensor, transposed: bool) -> torch.Tensor:
    """W / sigma as torch's spectral norm computes it at eval. The norm is taken along dim 0, or dim 1 for
    transposed convs (torch's default); u's length decides when only one of them fits."""
    dims = [d for d in (0, 1) if d < w.dim() and w.shape[d] == u.numel() and w.numel() == u.numel() * v.numel()]
    if not dims:
        raise ValueError(f"u {tuple(u.shape)} and v {tuple(v.shape)} do not fit")
    dim = 1 if transposed and 1 in dims else dims[0]
    mat = w.float().movedim(dim, 0).reshape(w.shape[dim], -1)
    sigma = torch.dot(u.float(), torch.mv(mat, v.float()))
    return (w.float() / sigma).to(w.dtype)


def _modules(path: Path, sd: dict, natural: bool = True) -> list[tuple[str, dict]]:
    """Group a state dict into [(module path, {param: tensor})] in the natural order of the names
    (``main.2`` before ``main.10``), or in the state dict's own order with ``natural=False``."""
    groups: dict[str, dict] = {}
    for k, v in _strip(sd).items():
        m = _PARAM.match(k)
        if not m or not isinstance(v, torch.Tensor):
            raise GanlensError(f"{path}: unexpected entry {k!r} in state dict; not a DCGAN layout")
        groups.setdefault(m["module"], {})[m["param"]] = v
    key = lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]  # noqa: E731
    return [(name, groups[name]) for name in (sorted(groups, key=key) if natural else groups)]


def _layout_error(path: Path, what: str, convs: list, mods=(), reason: str = "") -> GanlensError:
    shapes = ", ".join(str(tuple(w.shape)) for w in convs) or "none"
    if not convs:  # say what the file does hold instead (e.g. an MLP's (10, 784))
        others = [tuple(t.shape) for _, p in mods for t in p.values() if t.dim() > 0][:8]
        shapes += f"; other tensors: {', '.join(map(str, others))}" if others else ""
    why = f": {reason}" if reason else ""
    return GanlensError(f"{path}: {what} shapes fit no known DCGAN layout{why} (conv weights found: {shapes}; "
                        f"tried: {FAMILIES})")


def _conv_weights(mods) -> list[torch.Tensor]:
    # .get: a module may have no weight (a bias alone, or BatchNorm(affine=False)'s running stats)
    return [p["weight"] for _, p in mods if p.get("weight") is not None and p["weight"].dim() == 4]


def _infer_g(path: Path, mods) -> DCGANConfig:
    convs = _conv_weights(mods)
    if len(convs) < 3:
        raise _layout_error(path, "generator", convs, mods)
    nz, b = convs[0].shape[0], convs[0].shape[2]
    ngf, nc, n = convs[-1].shape[0], convs[-1].shape[1], len(convs) - 1
    for i, w in enumerate(convs):
        want_in = nz if i == 0 else ngf * 2 ** (n - i)
        want_out = nc if i == n else ngf * 2 ** (n - 1 - i)
        k = b if i == 0 else 4
        if tuple(w.shape) != (want_in, want_out, k, k):
            raise _layout_error(path, "generator", convs)
    try:
        return DCGANConfig(nz=nz, ngf=ngf, ndf=ngf, nc=nc, image_size=b * 2 ** n)
    except ConfigError:
        raise _layout_error(path, "generator", convs)


def _infer_d(path: Path, mods) -> DCGANConfig:
    convs = _conv_weights(mods)
    if len(convs) < 3:
        raise _layout_error(path, "discriminator", convs, mods)
    ndf, nc, n, b = convs[0].shape[0], convs[0].shape[1], len(convs) - 1, convs[-1].shape[2]
    for i, w in enumerate(convs):
        want_in = nc if i == 0 else ndf * 2 ** (i - 1)
        want_out = 1 if i == n else ndf * 2 ** i
        k = b if i == n else 4
        if tuple(w.shape) != (want_out, want_in, k, k):
            raise _layout_error(path, "discriminator", convs)
    try:
        return DCGANConfig(ndf=ndf, nc=nc, image_size=b * 2 ** n)
    except ConfigError:
        raise _layout_error(path, "discriminator", convs)


def _remap(path: Path, net: torch.nn.Module, mods) -> None:
    """Copy foreign modules into ``net`` position by position (conv to conv, BatchNorm to BatchNorm)."""
    ours = [(name, m) for name, m in net.named_modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.BatchNorm2d))]
    if len(ours) != len(mods):
        raise GanlensError(f"{path}: {len(mods)} layers with weights, a {type(net).__name__} of this shape "
                           f"has {len(ours)}; not a DCGAN layout")
    sd = {}
    for (name, module), (theirs, params) in zip(ours, mods):
        is_bn = isinstance(module, torch.nn.BatchNorm2d)
        w = params.get("weight")
        if w is None or is_bn != (w.dim() == 1) or ("bias" in params and not is_bn):
            raise GanlensError(f"{path}: layer {theirs!r} does not match a DCGAN {type(net).__name__} "
                               f"(expected {'BatchNorm' if is_bn else 'a bias-free conv'})")
        for pname, tensor in module.state_dict().items():
            sd[f"{name}.{pname}"] = params.get(pname, tensor)  # old files lack num_batches_tracked
    try:
        net.load_state_dict(sd)
    except RuntimeError as e:
        raise GanlensError(f"{path}: weights do not fit the inferred {type(net).__name__}: {_first_line(str(e))}")


def _from_foreign(path: Path, obj) -> tuple:
    """(G, D, nz, image shape, config or None, source) of a foreign file."""
    g_sd, d_sd = _state_dicts(path, obj)
    G, g = _foreign_net(path, "G", g_sd) if g_sd is not None else (None, None)
    D, d = _foreign_net(path, "D", d_sd, base=g and g.get("config")) if d_sd is not None else (None, None)
    if g and d and (g["nc"], g["image_size"]) != (d["nc"], d["image_size"]):
        raise GanlensError(f"{path}: generator makes {g['nc']}x{g['image_size']}x{g['image_size']} images "
                           f"but discriminator takes {d['nc']}x{d['image_size']}x{d['image_size']}")
    info = g or d
    config = None
    if all(x.get("config") for x in (g, d) if x):  # ganlens's own classes (the tutorial layout)
        config = (g or d)["config"] if not (g and d) else DCGANConfig(
            nz=g["config"].nz, ngf=g["config"].ngf, ndf=d["config"].ndf, nc=info["nc"], image_size=info["image_size"])
    parts = [f"{what}: {x['layout']}" for what, x in (("generator", g), ("discriminator", d)) if x]
    shape = (info["nc"], info["image_size"], info["image_size"])
    source = f"foreign DCGAN state dict ({'; '.join(parts)}; {'x'.join(map(str, shape))})"
    return G, D, g["nz"] if g else None, shape, config, source


def _foreign_net(path: Path, role: str, sd: dict, base: DCGANConfig | None = None) -> tuple:
    """(network, info) for one network's state dict: ganlens's own class for the tutorial layout (as
    before), else a plain ``nn.Sequential`` inferred by :mod:`ganlens.architectures` (modules in the
    file's order, then in the natural order of their names). info: nz, nc, image_size, layout, config."""
    check_dtypes(path, sd)
    sd, n_sn = _fold_spectral_norm(path, _strip(sd), role)
    mods = _modules(path, sd)
    spectral = f", spectral norm ({n_sn} layers, folded)" if n_sn else ""
    try:
        cfg = _infer_g(path, mods) if role == "G" else _infer_d(path, mods)
        if base is not None and (base.nc, base.image_size) == (cfg.nc, cfg.image_size):
            cfg = DCGANConfig(nz=base.nz, ngf=base.ngf, ndf=cfg.ndf, nc=cfg.nc, image_size=cfg.image_size)
        net = (Generator if role == "G" else Discriminator)(cfg)
        _remap(path, net, mods)
        return net, {"nz": cfg.nz, "nc": cfg.nc, "image_size": cfg.image_size, "config": cfg,
                     "layout": f"tutorial layout{spectral}"}
    except GanlensError:
        pass
    build = architectures.generator if role == "G" else architectures.discriminator
    reasons = []
    for order in (_modules(path, sd, natural=False), mods):
        try:
            net, info = build(order)
        except architectures.LayoutError as e:
            reasons.append(str(e))
            continue
        return net, {**info, "layout": info["layout"] + spectral}
    what = "generator" if role == "G" else "discriminator"
    raise _layout_error(path, what, _conv_weights(mods), mods, reasons[0])


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
    parts = {"G": obj.get("G"), "D": obj.get("D")} if obj.get("format") == FORMAT else _user_parts(obj, gan)
    loaded = []
    for role, sd in parts.items():
        net = gan.G if role == "G" else gan.D
        if sd is None or net is None:
            continue
        try:
            check_dtypes(path, sd)
            net.load_state_dict(_strip(sd))
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


def _user_parts(obj: dict, gan: GAN) -> dict:
    """{"G": state dict or None, "D": ...} of a foreign file, for networks the user built."""
    g = next((obj[k] for k in G_KEYS if isinstance(obj.get(k), dict)), None)
    d = next((obj[k] for k in D_KEYS if isinstance(obj.get(k), dict)), None)
    if g is not None or d is not None:
        return {"G": g, "D": d}
    sd = obj if obj and all(isinstance(v, torch.Tensor) for v in obj.values()) else next(
        (obj[k] for k in SD_KEYS if isinstance(obj.get(k), dict)), None)
    if sd is None:
        return {}
    split = _split(sd)
    if split is not None:
        return {"G": split[0], "D": split[1]}
    keys = set(_strip(sd))
    nets = [(r, n) for r, n in (("G", gan.G), ("D", gan.D)) if n is not None]
    role = next((r for r, n in nets if keys == set(_strip(n.state_dict()))), nets[0][0] if nets else "G")
    return {role: sd}
