"""Inversion of real images and what it says about memorization (membership test) and mode dropping (class
shares of generated vs real images): :func:`invert`, the analysis."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ganlens.analyses.api import renamed
from ganlens.analyses.invert import membership as st
from ganlens.analyses.invert import reconstruct as core
from ganlens.analyses.invert.record import ModesState, arrays_of, images_block, modes_json
from ganlens.analyses.invert.figure import plot_membership, plot_modes, plot_pairs
from ganlens.core.checkpoints import read
from ganlens.core.errors import GanlensError, NotApplicable, require_at_least
from ganlens.core.results import Result, atomic_write, provenance
from ganlens.data.segment import as_segmentation
from ganlens.data.sets import ImageSet, RoomsSet, for_model, parse_rooms, to_float
from ganlens.data.training import open_data


def open_set(gan, data, n: int, flag: str) -> ImageSet:
    """``data`` opened for ``gan`` (sizes checked); ``rooms`` is the checkpoint's own rooms training set."""
    try:
        opened = open_data(gan, data) if flag == "images" else for_model(gan, data, flag)
    except GanlensError as e:
        raise GanlensError(str(e).replace("--data", flag, 1) if flag != "images" else str(e))
    if len(opened) == 0:
        raise GanlensError(f"{flag} {opened.spec}: holds no images")
    return opened


def auto_heldout(data: ImageSet, n: int) -> ImageSet:
    """Rooms scenes of another seed (never trained on), as many as are inverted; other data: an error."""
    if not isinstance(data, RoomsSet):
        raise NotApplicable(f"no held-out set for {data.spec}: the membership test needs real images of the same "
                           f"distribution never trained on (heldout= / --heldout PATH)")
    return RoomsSet(n=n, size=data.size, seed=data.seed + 1, nc=data.nc)


def encoder_for(gan, encoder, s: core.Settings) -> tuple[torch.nn.Module | None, dict | None]:
    """(encoder or None, its JSON block). ``encoder``: None/False, True (train one), an nn.Module, or the path
    of a cache (reused when it was trained for this G with these settings, else trained again)."""
    if encoder is None or encoder is False:
        return None, None
    if isinstance(encoder, torch.nn.Module):
        return encoder.to(gan.device).eval(), {"source": "given"}
    key = {"g_sha256": core.g_fingerprint(gan), "steps": s.encoder_steps, "seed": s.seed}
    if encoder is not True and Path(encoder).is_file():
        saved = read(encoder)
        if isinstance(saved, dict) and saved.get("key") == key:
            E = core.make_encoder(gan.nz, gan.nc, gan.image_size)
            E.load_state_dict(saved["state_dict"])
            return E.to(gan.device).eval(), {"source": f"cache {encoder}", **key}
    t0 = time.perf_counter()
    E = core.train_encoder(gan, s.encoder_steps, s.seed)
    return E, {"source": "trained", "train_seconds": round(time.perf_counter() - t0, 2), **key}


def _modes_recorder(seg, classes: list[str]):
    """(on_batch callback for core.run, state): real images' class shares and errors inside masks."""
    state = ModesState(st.MaskErrors(len(classes)))

    def on_batch(start, real, recon):
        maps = seg(to_float(real))
        state.shares.append(st.class_shares(maps, len(classes)))
        state.errors.add(maps, real.numpy(), recon.numpy())
    return on_batch, state


def generated_shares(gan, seg, samples: int, k: int, batch: int = 256) -> np.ndarray:
    """Per-sample class shares (samples, k) of G's samples (seeds 0..samples-1), streamed."""
    out = []
    for i in range(0, samples, batch):
        x = gan.generate(gan.latents(range(i, min(i + batch, samples))))
        out.append(st.class_shares(seg(x), k))
    return np.concatenate(out)


def modes_block(gan, seg, state: ModesState, samples: int) -> dict:
    """Mode dropping: G's class shares on ``samples`` samples against the real images' (``state``)."""
    classes = list(seg.classes)
    real = np.concatenate(state.shares)
    gen = generated_shares(gan, seg, samples, len(classes))
    return modes_json(seg, samples, len(real), st.compare_shares(gen, real, classes), state.errors.result(classes))


def check_settings(**kw) -> None:
    require_at_least({k: (kw[k], low) for k, low in (("n", 1), ("steps", 1), ("starts", 1), ("batch_size", 1),
                                                      ("keep", 1), ("draws", 10), ("samples", 2),
                                                      ("encoder_steps", 1))
                      if k in kw}, flags=kw.pop("flags", False))
    if kw.get("objective", "pixel") not in core.OBJECTIVES:
        raise GanlensError(f"objective must be one of {', '.join(core.OBJECTIVES)}, got {kw['objective']!r}")
    for k in ("lr", "prior"):
        v = kw.get(k)
        if v is not None and not (np.isfinite(v) and v >= (0 if k == "prior" else 1e-12)):
            raise GanlensError(f"{k} must be a finite number {'>= 0' if k == 'prior' else '> 0'}, got {v!r}")


@renamed(batch="batch_size")
def invert(gan, images="rooms", *, n: int = 256, heldout=None, modes: bool = False, segmenter=None,
           samples: int | None = None, perceptual=None, encoder=None, encoder_steps: int = 400,
           steps: int = 100, starts: int = 4,
           lr: float = 0.05, prior: float = 0.1, batch_size: int = 64, objective: str = "pixel", keep: int = 16,
           draws: int = 2000, seed: int = 0, progress: bool = False) -> Result:
    """Invert the first ``n`` of ``images`` into ``gan``'s latent space (see the module doc for the inputs).

    heldout: real images never trained on (or "auto"): adds the membership test; modes: adds mode dropping
    with ``segmenter`` ((fn, class names) or None for the rooms one) on ``samples`` G samples (default n);
    perceptual: a module images -> features (a distance, and ``objective="perceptual"``); encoder: True, a
    module or a cache path (see :func:`encoder_for`). Returns a Result of kind "invert" (figures "invert",
    "membership" with a held-out set, "modes" with ``modes``).
    """
    check_settings(n=n, steps=steps, starts=starts, batch_size=batch_size, keep=keep, draws=draws, objective=objective,
                   encoder_steps=encoder_steps,
                   lr=lr, prior=prior, samples=samples)
    gan.require_G()
    gan.require_nz()
    if objective == "feature" and (gan.D is None or "last" not in gan.layers("D").aliases):
        raise GanlensError(f"{gan.where}: objective 'feature' needs a discriminator with a hidden layer")
    if objective == "perceptual" and perceptual is None:
        raise GanlensError("objective 'perceptual' needs a perceptual network (perceptual= / --perceptual)")
    s = core.Settings(steps=steps, starts=starts, lr=lr, prior=prior, batch=batch_size, objective=objective,
                      keep=keep, encoder_steps=encoder_steps, seed=seed)
    data = open_set(gan, images, n, "images")
    held = None
    if heldout is not None:
        held = auto_heldout(data, min(n, len(data))) if isinstance(heldout, str) and heldout == "auto" \
            else open_set(gan, heldout, n, "heldout")
    seg = None
    if modes:
        seg = as_segmentation(segmenter, gan)
    return _run(gan, data, held, seg, s, n=n, samples=samples, perceptual=perceptual, encoder=encoder,
                draws=draws, progress=progress)


def _run(gan, data, held, seg, s: core.Settings, *, n, samples, perceptual, encoder, draws, progress) -> Result:
    spaces = core.Spaces(gan, perceptual)
    E, enc_block = encoder_for(gan, encoder, s)
    on_batch, mstate = _modes_recorder(seg, list(seg.classes)) if seg is not None else (None, None)
    t0 = time.perf_counter()
    inv = core.run(gan, data, n, s, spaces, E, on_batch, progress)
    out = {"images": images_block(inv), "settings": {**s.to_dict(), "n": n, "spaces": spaces.names,
                                                "perceptual": perceptual is not None},
           "encoder": enc_block, "membership": None, "modes": None}
    arrays = arrays_of("", inv)
    if held is not None:
        hinv = core.run(gan, held, n, s, spaces, E, None, progress)
        out["heldout"] = images_block(hinv)
        arrays.update(arrays_of("heldout_", hinv))
        train_total = _trained_images(gan, data)
        out["membership"] = {sp: st.membership(inv.distances[sp], hinv.distances[sp], draws=draws, seed=s.seed,
                                               train_total=train_total) for sp in spaces.names}
        out["membership"]["decided_by"] = "pixel"
    if seg is not None:
        out["modes"] = modes_block(gan, seg, mstate, samples or n)
    seconds = time.perf_counter() - t0
    total = len(inv.latents) + (len(arrays["heldout_latents"]) if held is not None else 0)
    out["timing"] = {"seconds": round(seconds, 2), "images_per_second": round(total / max(seconds, 1e-9), 2),
                     "encoder_seconds": (enc_block or {}).pop("train_seconds", None)}
    out["provenance"] = provenance(gan, s.seed, call=f"ganlens.invert({gan.name!r}, {data.spec!r}, n={n}, "
                                                    f"heldout={'yes' if held is not None else None})")
    plots = {"invert": plot_pairs}
    if held is not None:
        plots["membership"] = plot_membership
    if seg is not None:
        plots["modes"] = plot_modes
    files = {"encoder.pt": _encoder_writer(E, enc_block)} if E is not None and enc_block.get("g_sha256") else {}
    return Result("invert", out, arrays, plots, files)


def _trained_images(gan, data: ImageSet) -> int | None:
    trained = str((gan.provenance or {}).get("data") or "")
    if trained.startswith("rooms"):
        return parse_rooms(trained.split(" ")[0])["n"]
    return len(data)


def _encoder_writer(E, block: dict):
    def write(data, arrays, path):
        key = {k: block[k] for k in ("g_sha256", "steps", "seed")}
        state = {k: v.detach().cpu() for k, v in E.state_dict().items()}
        atomic_write(path, lambda f: torch.save({"key": key, "state_dict": state}, f))
    return write
