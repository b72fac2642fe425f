"""Foreign GAN checkpoints: state dicts saved by other code, recognised by their keys and tensor shapes, with
no flags (:func:`ganlens.core.checkpoints.load` calls :func:`from_foreign` for every file not in ganlens's
format; :func:`user_parts` finds the weights for networks the user built).

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
  (``gan.config`` set). Any other layout is read by :mod:`ganlens.core.architectures` (the paper's Linear +
  5x5 family, critics without BatchNorm, a 1x1 last transposed conv, MLPs; its docstring states the
  rules, and the activations it assumes) into a plain ``nn.Sequential`` (``gan.config`` None).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ganlens.core import architectures
from ganlens.core.errors import GanlensError, first_line
from ganlens.core.gan import GAN
from ganlens.core.models import ConfigError, DCGANConfig, Discriminator, Generator
from ganlens.core.weights import check_dtypes

G_KEYS = ("netG_state_dict", "netG", "generator", "G")
D_KEYS = ("netD_state_dict", "netD", "discriminator", "D")
SD_KEYS = ("state_dict", "model_state_dict", "model")
ROLE_PREFIXES = {"G": ("generator.", "netG.", "G."), "D": ("discriminator.", "netD.", "D.", "critic.")}
PREFIXES = ("module.", "_orig_mod.")
FAMILIES = ("tutorial DCGAN (ConvT from z, 4x4 stride 2), paper DCGAN (Linear + 5x5 stride 2, bias), "
            "critics without BatchNorm, 1x1 last ConvT, MLP; spectral norm in both torch formats")
_SN = re.compile(r"^(?:(?P<module>.+)\.)?(?P<tail>weight_orig|parametrizations\.weight\.original)$")
_PARAM = re.compile(r"^(?P<module>.+)\.(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)$")


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
    sd = strip_prefixes(sd)
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
    weights = [v for k, v in strip_prefixes(sd).items() if k.endswith(("weight", "weight_orig", "weight.original"))
               and isinstance(v, torch.Tensor) and v.dim() in (2, 4)]
    if weights and weights[-1].shape[0] == 1:
        return None, sd
    return sd, None



def strip_prefixes(sd: dict) -> dict:
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
                               f"vectors: {first_line(str(e)) or type(e).__name__}")
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
    for k, v in strip_prefixes(sd).items():
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
        raise GanlensError(f"{path}: weights do not fit the inferred {type(net).__name__}: {first_line(str(e))}")



def from_foreign(path: Path, obj) -> tuple:
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
    sd, n_sn = _fold_spectral_norm(path, strip_prefixes(sd), role)
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



def user_parts(obj: dict, gan: GAN) -> dict:
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
    keys = set(strip_prefixes(sd))
    nets = [(r, n) for r, n in (("G", gan.G), ("D", gan.D)) if n is not None]
    role = next((r for r, n in nets if keys == set(strip_prefixes(n.state_dict()))), nets[0][0] if nets else "G")
    return {role: sd}
