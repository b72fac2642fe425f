"""Blind rating pages of a ``python -m ganlens.forget`` result, one per rater, and their key (the design and
the file formats: :mod:`ganlens.data.ratings`; why the pages look as they do: docs/methods.md, section
"annotate")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganlens.core.errors import GanlensError
from ganlens.data import ratings
from ganlens.data.sets import to_uint8
from ganlens.analyses.forget import generate
from ganlens.tools.annotate.page import PAGE_PIXELS, fill_template, read_json_file

DEFAULT_RATE_N = 60  # latents on each rating page, each shown once (a third in each condition)
DEFAULT_RATERS = 3   # rating pages (one per rater): 3 make a Latin square of the 3 conditions


def forget_result(path) -> tuple[Path, dict, dict]:
    """A ``python -m ganlens.forget`` result to rate: its folder or forget.json -> (forget.json path, its
    data, the arrays of forget.npz beside it that the rating page needs)."""
    path = Path(path)
    j_path = path / "forget.json" if path.is_dir() else path
    if not j_path.is_file():
        raise GanlensError(f"--rate {path}: no forget.json there (give a python -m ganlens.forget --out folder)")
    j = read_json_file(j_path)
    if not isinstance(j, dict) or not {"settings", "dropped_maps", "control", "label"} <= set(j):
        raise GanlensError(f"--rate {j_path}: not a python -m ganlens.forget result")
    if not isinstance(j["settings"], dict):
        raise GanlensError(f'--rate {j_path}: "settings" must be an object; run python -m ganlens.forget again')
    npz = j_path.with_suffix(".npz")
    if not npz.is_file():
        raise GanlensError(f"--rate {j_path}: {npz.name} is missing beside it (the rating page needs its seeds)")
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ("eval_seeds", "fill") if k in z.files}
    if "eval_seeds" not in arrays or (j["settings"].get("fill") == "mean" and "fill" not in arrays):
        raise GanlensError(f"--rate {j_path}: written by an older ganlens (no evaluation seeds or fill values in "
                           f"{npz.name}); run python -m ganlens.forget again")
    return j_path, j, arrays


def rating_pages(gan, forget_json: str | Path, n: int = DEFAULT_RATE_N, raters: int = DEFAULT_RATERS,
                 scale: int | None = None, names: list[str] | None = None) -> tuple[list[str], dict]:
    """The blind rating pages of a forget result, one per rater, and their key: ([HTML, ...], key dict).

    gan: the :class:`ganlens.GAN` the forget result was made with (checked by sha256 and layer shape).
    Each page shows the first ``n`` evaluation latents once, in the condition a Latin square gives it
    (:mod:`ganlens.ratings`), as raw pixels in a secret random order; the key lists, per page and image, its
    condition and seed. ``names``: the pages' file names recorded in the key (default rate-1.html, ...).
    """
    j_path, j, arrays = forget_result(forget_json)
    s = j["settings"] if isinstance(j.get("settings"), dict) else {}
    if s.get("checkpoint_sha256") and gan.sha256 and s["checkpoint_sha256"] != gan.sha256:
        raise GanlensError(f"--rate {j_path}: made with checkpoint sha256 {s['checkpoint_sha256'][:12]}..., not "
                           f"this model's {gan.sha256[:12]}...; pass the same --checkpoint / --model")
    lay = gan.layer("G", s["layer"]) if isinstance(s.get("layer"), str) else None
    ratings.check_forget_json(j, j_path, lay.channels if lay else 0)
    seeds = [int(v) for v in arrays["eval_seeds"][:n]]
    if len(seeds) < n:
        raise GanlensError(f"--n {n}: the forget run has only {len(seeds)} evaluation latents")
    z = gan.latents(seeds)
    fill = torch.from_numpy(arrays["fill"]) if "fill" in arrays else None
    drops = {"before": [], "after": j["dropped_maps"], "control": j["control"]["maps"][0]}
    made = {c: to_uint8(generate(gan, lay.name, z, drops[c], fill)).permute(0, 2, 3, 1).numpy()
            for c in ratings.CONDITIONS}
    names = names or [f"rate-{p + 1}.html" for p in range(raters)]
    key = rating_key(j, j_path, arrays, seeds, ratings.plan_pages(seeds, raters, names), drops["control"])
    where = {sd: i for i, sd in enumerate(seeds)}
    common = {"mode": "rate", "format": ratings.RATINGS_FORMAT, "label": j["label"], "question": key["question"],
              "image_size": [gan.image_size, gan.image_size], "nc": gan.nc,
              "scale": scale or max(1, PAGE_PIXELS // gan.image_size),
              "source": f"{gan.path.name if gan.path is not None else gan.name} ({gan.source})"}
    pages = [fill_template("rate", f"{key['question']} - ganlens rating", {
        **common, "page": pg["page"],
        "pixels": [ratings.pixels_base64(made[it["condition"]][where[it["seed"]]]) for it in pg["items"]]})
        for pg in key["pages"]]
    return pages, key


def rating_key(j: dict, j_path: Path, arrays: dict, seeds: list[int], pages: list[dict], control: list) -> dict:
    """The key of the rating pages (``ganlens.ratings-key/2``, :mod:`ganlens.ratings`)."""
    s, label = j["settings"], j["label"]
    detector = None
    if all(f"judge_{c}" in arrays for c in ratings.CONDITIONS):
        detector = {"seeds": seeds, **{c: [bool(v) for v in arrays[f"judge_{c}"][:len(seeds)]]
                                       for c in ratings.CONDITIONS}}
    return {"format": ratings.KEY_FORMAT, "label": label, "question": f"Is there a {label}?",
            "forget_json": j_path.name, "forget_sha256": ratings.sha256_file(j_path),
            "checkpoint_sha256": s.get("checkpoint_sha256"), "layer": s["layer"], "fill": s.get("fill"),
            "dropped_maps": j["dropped_maps"], "control_maps": control,
            "conditions": {"before": "the generator unchanged",
                           "after": f"the {len(j['dropped_maps'])} maps forget dropped ({s.get('fill')} fill)",
                           "control": f"{len(control)} random maps (forget's first control set)"},
            "design": ratings.DESIGN, "n_latents": len(seeds), "detector": detector, "pages": pages}
