"""Box files (``ganlens.boxes/1``): bounding boxes drawn on generated samples, and their validation.

A box file names generated samples (by latent ``z``, or by ``seed`` through the seed rule of
:func:`ganlens.latent_from_seed`) and the object boxes drawn on them. It is shared by the forgetting
experiment (``python -m ganlens.forget``), annotators and any other tool::

    {"format": "ganlens.boxes/1", "label": "window", "image_size": [64, 64],
     "latent": {"dim": 100, "distribution": "normal"},
     "checkpoint_sha256": "optional", "note": "optional: who drew the boxes and how",
     "samples": [{"seed": 0, "z": [100 floats, optional], "boxes": [[x0, y0, x1, y1], ...]}, ...]}

Rules (every one is checked by :func:`validate`, which reports all problems at once, one line each):

* ``image_size`` is ``[width, height]`` of the generated image; coordinates are pixels of that image,
  origin top-left, ``x1``/``y1`` exclusive, so ``0 <= x0 < x1 <= width`` and ``0 <= y0 < y1 <= height``.
* Coordinates must be JSON integers: a float (even ``3.0``) is rejected rather than rounded, because a
  silently rounded box is a different box (round in the tool that writes the file). Negative
  coordinates are out of range, not "count from the end". Booleans are not integers.
* A sample needs ``seed`` (an integer, 0 <= seed < 2**63) or ``z`` (``latent.dim`` finite numbers); when
  both are present ``z`` wins. ``boxes`` is required and may be empty: such a sample still gives negatives.
* The file must hold at least one box over all samples.
* Against a generator (``validate(data, model=gan)``, ``read(path, gan)``): ``image_size`` must be its
  image size, ``latent.dim`` its nz, ``latent.distribution`` its latent distribution (seeds make different
  latents under another one). ``model`` is anything with ``image_size``, ``nz`` and ``latent``: a
  :class:`ganlens.GAN` (any network) or a :class:`ganlens.DCGANConfig`.
* ``checkpoint_sha256`` that differs from the checkpoint's is a **warning**, not an error: the same
  weights can live in files with other bytes (re-saved, converted to float16, wrapped), and the
  annotation grid that ``forget`` writes shows at a glance whether the boxes still sit on the objects.

Other keys (``note``, per-sample comments) are kept and ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlens.core.errors import GanlensError
from ganlens.core.gan import LATENTS, latent_from_seed
from ganlens.core.results import atomic_write

FORMAT = "ganlens.boxes/1"
MAX_SEED = 2 ** 63
MAX_Z = 1e4            # a latent coordinate beyond this is no sample of any latent distribution (and overflows G)
MAX_SIDE = 16384       # image_size, latent.dim, samples and boxes per sample are bounded: a box file of a few
MAX_DIM = 1 << 20      # bytes must not make ganlens allocate gigabytes (masks, latents) before any other check
MAX_SAMPLES = 1 << 20
MAX_BOXES = 10000      # per sample
SHOWN_PROBLEMS = 20    # a box file with thousands of problems prints the first 20 and a count


class BoxFileError(GanlensError):
    """A box file with problems; ``problems`` lists them, one line each (the message holds them all)."""

    def __init__(self, path, problems: list[str]):
        self.path, self.problems = str(path), list(problems)
        n = len(self.problems)
        head = f"{path}: {n} problem{'s' if n > 1 else ''} in box file"
        shown = [f"{path}: {p}" for p in self.problems[:SHOWN_PROBLEMS]]
        if n > SHOWN_PROBLEMS:
            shown.append(f"{path}: ... and {n - SHOWN_PROBLEMS} more problem(s)")
        super().__init__("\n".join([head] + shown))


@dataclass
class Sample:
    """One annotated sample: ``seed`` and/or ``z`` (nz floats), and its boxes [(x0, y0, x1, y1), ...]."""

    seed: int | None
    z: list[float] | None
    boxes: list[tuple[int, int, int, int]]


@dataclass
class BoxFile:
    label: str
    width: int
    height: int
    latent_dim: int
    distribution: str
    samples: list[Sample]
    checkpoint_sha256: str | None = None
    note: str | None = None
    extra: dict = field(default_factory=dict)
    path: str | None = field(default=None, compare=False)   # the file it was read from (None: built in memory)

    @property
    def n_boxes(self) -> int:
        return sum(len(s.boxes) for s in self.samples)

    def latents(self) -> torch.Tensor:
        """(n_samples, latent_dim) float32: ``z`` where given, else the seed rule."""
        out = []
        for s in self.samples:
            if s.z is not None:
                out.append(torch.tensor(s.z, dtype=torch.float32))
            else:
                out.append(latent_from_seed(s.seed, self.latent_dim, self.distribution))
        return torch.stack(out)

    def to_dict(self) -> dict:
        d = dict(self.extra)
        d.update({"format": FORMAT, "label": self.label, "image_size": [self.width, self.height],
                  "latent": {"dim": self.latent_dim, "distribution": self.distribution},
                  "samples": [{k: v for k, v in (("seed", s.seed), ("z", s.z), ("boxes", [list(b) for b in s.boxes]))
                               if v is not None} for s in self.samples]})
        if self.checkpoint_sha256 is not None:
            d["checkpoint_sha256"] = self.checkpoint_sha256
        if self.note is not None:
            d["note"] = self.note
        return d


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _type(v) -> str:
    return {bool: "a boolean", float: "a float", str: "a string", list: "a list", dict: "an object",
            type(None): "null"}.get(type(v), type(v).__name__)


def validate(data, *, model=None, config=None) -> list[str]:
    """All problems of a parsed box file (a list of one-line messages, empty when the file is good).

    With ``model`` (a :class:`ganlens.GAN`, or anything with ``image_size``, ``nz`` and ``latent``, such as
    a ``DCGANConfig``; ``config=`` is its old name), also check that the file fits that generator (image
    size, latent dim, distribution).
    """
    model = model if model is not None else config
    if not isinstance(data, dict):
        return [f"expected a JSON object at the top level, got {_type(data)}"]
    problems = _header_problems(data)
    width, height = _image_size(data, problems)
    dim, dist = _latent(data, problems)
    sha = data.get("checkpoint_sha256")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64
                                and all(c in "0123456789abcdef" for c in sha.lower())):
        problems.append("checkpoint_sha256: expected 64 hex digits")
    if model is not None:
        problems += _model_problems(model, width, height, dim, dist)
    samples = data.get("samples")
    if "samples" not in data:
        return problems + ["missing field 'samples'"]
    if not isinstance(samples, list):
        return problems + [f"samples: expected a list, got {_type(samples)}"]
    if not samples:
        return problems + ["samples: the list is empty"]
    if len(samples) > MAX_SAMPLES:
        return problems + [f"samples: {len(samples)} samples, more than {MAX_SAMPLES}"]
    n_boxes, first = 0, {}
    for i, s in enumerate(samples):
        found, n = _sample_problems(f"samples[{i}]", s, dim, width, height)
        problems += found
        n_boxes += n
        seed = s.get("seed") if isinstance(s, dict) else None
        if _is_int(seed) and seed in first:  # one rule everywhere (COCO import refuses them too)
            problems.append(f"samples[{i}].seed: seed {seed} is already samples[{first[seed]}]; merge their boxes")
        elif _is_int(seed):
            first[seed] = i
    if n_boxes == 0:
        label = data.get("label")
        problems.append(f"no box at all in {len(samples)} samples: the classifier needs positives (draw at least one "
                        f"{label if isinstance(label, str) else 'object'} box)")
    return problems


def _header_problems(data: dict) -> list[str]:
    problems = []
    fmt = data.get("format")
    if fmt != FORMAT:
        problems.append(f"format: expected {FORMAT!r}, got {fmt!r}" if "format" in data
                        else f"missing field 'format' (expected {FORMAT!r})")
    label = data.get("label")
    if not isinstance(label, str) or not label.strip():
        problems.append("missing field 'label'" if "label" not in data else
                        f"label: expected a non-empty string, got {_type(label)}")
    return problems


def _image_size(data: dict, problems: list[str]) -> tuple[int | None, int | None]:
    """(width, height), or (None, None) with a problem appended."""
    size = data.get("image_size")
    if "image_size" not in data:
        problems.append("missing field 'image_size' ([width, height])")
    elif not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and 0 < v <= MAX_SIDE for v in size)):
        problems.append(f"image_size: expected [width, height] as two positive integers up to {MAX_SIDE}, got {json.dumps(size)}")
    else:
        return size[0], size[1]
    return None, None


def _latent(data: dict, problems: list[str]) -> tuple[int | None, str | None]:
    """(latent.dim, latent.distribution), each None with a problem appended when bad."""
    lat = data.get("latent")
    dim = dist = None
    if "latent" not in data:
        problems.append("missing field 'latent' ({\"dim\": nz, \"distribution\": \"normal\"})")
    elif not isinstance(lat, dict):
        problems.append(f"latent: expected an object, got {_type(lat)}")
    else:
        if not (_is_int(lat.get("dim")) and 0 < lat["dim"] <= MAX_DIM):
            problems.append(f"latent.dim: expected a positive integer up to {MAX_DIM}, got {json.dumps(lat.get('dim'))}")
        else:
            dim = lat["dim"]
        if lat.get("distribution") not in LATENTS:
            problems.append(f"latent.distribution: expected one of {', '.join(LATENTS)}, "
                            f"got {json.dumps(lat.get('distribution'))}")
        else:
            dist = lat["distribution"]
    return dim, dist


def _sample_problems(where: str, s, dim: int | None, width: int | None, height: int | None) -> tuple[list[str], int]:
    """(problems of one sample, its number of boxes)."""
    if not isinstance(s, dict):
        return [f"{where}: expected an object, got {_type(s)}"], 0
    problems = []
    has_seed, has_z = s.get("seed") is not None, s.get("z") is not None
    if not has_seed and not has_z:
        problems.append(f"{where}: needs 'seed' or 'z'")
    if has_seed and not (_is_int(s["seed"]) and 0 <= s["seed"] < MAX_SEED):
        problems.append(f"{where}.seed: expected an integer 0 <= seed < 2**63, got {json.dumps(s['seed'])}")
    if has_z:
        z = s["z"]
        if not isinstance(z, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              and abs(v) <= MAX_Z for v in z):  # ints too big for a float too
            problems.append(f"{where}.z: expected a list of finite numbers within +-{MAX_Z:g}")
        elif dim is not None and len(z) != dim:
            problems.append(f"{where}.z: has {len(z)} numbers, latent.dim is {dim}")
    if "boxes" not in s:
        return problems + [f"{where}: missing field 'boxes' (use [] for a sample without objects)"], 0
    if not isinstance(s["boxes"], list):
        return problems + [f"{where}.boxes: expected a list, got {_type(s['boxes'])}"], 0
    if len(s["boxes"]) > MAX_BOXES:
        return problems + [f"{where}.boxes: {len(s['boxes'])} boxes, more than {MAX_BOXES} per sample"], 0
    for j, b in enumerate(s["boxes"]):
        problems += _box_problems(f"{where}.boxes[{j}]", b, width, height)
    return problems, len(s["boxes"])


def _model_problems(model, width, height, dim, dist) -> list[str]:
    out = []
    if width is not None and (width, height) != (model.image_size, model.image_size):
        out.append(f"image_size {width}x{height} does not match the generator's "
                   f"{model.image_size}x{model.image_size} images")
    if dim is not None and dim != model.nz:
        out.append(f"latent.dim {dim} does not match the generator's nz {model.nz}")
    if dist is not None and dist != model.latent:
        out.append(f"latent.distribution {dist!r} does not match the generator's {model.latent!r} latents")
    return out


def _box_problems(where: str, b, width: int | None, height: int | None) -> list[str]:
    if not isinstance(b, list) or len(b) != 4:
        return [f"{where}: expected [x0, y0, x1, y1], got {json.dumps(b)}"]
    bad = [v for v in b if not _is_int(v)]
    if bad:
        return [f"{where}: coordinates must be integer pixels, got {json.dumps(b)} "
                f"({_type(bad[0])} {json.dumps(bad[0])}; round in the tool that writes the file)"]
    x0, y0, x1, y1 = b
    out = []
    if x0 >= x1 or y0 >= y1:
        out.append(f"{where}: empty box {json.dumps(b)}: needs x0 < x1 and y0 < y1 (x1, y1 exclusive)")
    if min(b) < 0 or (width is not None and (x0 > width or x1 > width or y0 > height or y1 > height)):
        lim = f"0 <= x <= {width}, 0 <= y <= {height}" if width is not None else "coordinates >= 0"
        out.append(f"{where}: box {json.dumps(b)} is out of range ({lim})")
    return out


def parse(data: dict, path: str | Path | None = None) -> BoxFile:
    """A validated dict -> :class:`BoxFile` (call :func:`validate` first); ``path``: where it was read."""
    known = {"format", "label", "image_size", "latent", "samples", "checkpoint_sha256", "note"}
    samples = [Sample(seed=s.get("seed"), z=[float(v) for v in s["z"]] if s.get("z") is not None else None,
                      boxes=[tuple(b) for b in s["boxes"]]) for s in data["samples"]]
    return BoxFile(label=data["label"], width=data["image_size"][0], height=data["image_size"][1],
                   latent_dim=data["latent"]["dim"], distribution=data["latent"]["distribution"],
                   samples=samples, checkpoint_sha256=data.get("checkpoint_sha256"), note=data.get("note"),
                   extra={k: v for k, v in data.items() if k not in known},
                   path=str(path) if path is not None else None)


def read_json(path: Path, error=None):
    """A JSON file, or a one-line error: not text, bad JSON, or nested too deeply (which makes Python's
    parser hit its recursion limit). ``error``: BoxFileError-like class taking (path, [problem])."""
    def fail(problem: str):
        raise (error(path, [problem]) if error else GanlensError(f"{path}: {problem}"))
    try:
        return json.loads(path.read_text())
    except UnicodeDecodeError:
        fail("not a text file (expected JSON)")
    except json.JSONDecodeError as e:
        fail(f"bad JSON: {e.msg} at line {e.lineno} column {e.colno}")
    except RecursionError:
        fail("JSON nested too deeply to be a box or COCO file")
    except ValueError as e:  # e.g. an integer literal of thousands of digits
        fail(f"bad JSON: {str(e).splitlines()[0][:120]}")


def read(path: str | Path, model=None, *, config=None) -> BoxFile:
    """Read and validate a box file; raise :class:`BoxFileError` listing every problem (one line each).

    ``model``: the generator the boxes were drawn on (a :class:`ganlens.GAN` or a ``DCGANConfig``; see
    :func:`validate`), checked when given.
    """
    path = Path(path)
    if not path.exists():
        raise GanlensError(f"{path}: no such box file")
    if path.is_dir():
        raise GanlensError(f"{path}: is a folder, expected a box file (.json)")
    data = read_json(path, BoxFileError)
    problems = validate(data, model=model if model is not None else config)
    if problems:
        raise BoxFileError(path, problems)
    return parse(data, path)


def check(boxfile: BoxFile, model) -> BoxFile:
    """A :class:`BoxFile` built in memory (or read without a model), checked against ``model`` as
    :func:`read` checks a file; raise :class:`BoxFileError` listing every problem."""
    problems = validate(boxfile.to_dict(), model=model)
    if problems:
        raise BoxFileError(boxfile.path or "box file", problems)
    return boxfile


def write(path: str | Path, boxfile: BoxFile) -> Path:
    """Write a box file atomically (validated first; a ValueError lists problems, so a tool never writes a
    bad one). Samples are written one per line, so diffs of hand-edited files stay readable.
    """
    d = boxfile.to_dict()
    problems = validate(d)
    if problems:
        raise ValueError("; ".join(problems))
    samples = d.pop("samples")
    head = json.dumps(d, indent=2, sort_keys=True)
    body = ",\n".join("    " + json.dumps(s, sort_keys=True) for s in samples)
    text = head[:-2] + ',\n  "samples": [\n' + body + "\n  ]\n}\n"
    json.loads(text)  # the hand-made layout must still be JSON
    return atomic_write(path, text)


def sha_warning(boxfile: BoxFile, path, sha256: str | None) -> str | None:
    """A one-line warning when the box file names another checkpoint than ``sha256``, else None (also
    for networks in memory, ``sha256`` None: there is no file to compare with)."""
    if boxfile.checkpoint_sha256 and sha256 and boxfile.checkpoint_sha256.lower() != sha256.lower():
        return (f"warning: {path}: checkpoint_sha256 {boxfile.checkpoint_sha256[:12]}... differs from the "
                f"checkpoint's {sha256[:12]}...; boxes may not sit on this model's objects "
                f"(check annotations.png)")
    return None


# --- boxes at feature resolution ----------------------------------------------------------------------

def pixel_mask(boxes, width: int, height: int) -> np.ndarray:
    """Union of boxes as a (height, width) bool mask (x1, y1 exclusive)."""
    m = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in boxes:
        m[y0:y1, x0:x1] = True
    return m


def _overlap(image_size: int, side: int) -> np.ndarray:
    """(side, image_size) int64: length of cell i's span [i*S/side, (i+1)*S/side) inside pixel p's span
    [p, p+1), in units where a pixel is ``side`` long and a cell ``S`` long (so all are integers)."""
    cells = np.arange(side)[:, None]
    pixels = np.arange(image_size)[None, :]
    lo = np.maximum(cells * image_size, pixels * side)
    hi = np.minimum((cells + 1) * image_size, (pixels + 1) * side)
    return np.maximum(hi - lo, 0).astype(np.int64)


def cell_coverage(boxes, image_size: int, side: int) -> np.ndarray:
    """Fraction (side, side) float64 of each feature cell covered by the union of boxes.

    A layer with ``side`` x ``side`` maps of a generator making ``image_size`` images tiles the image
    with cells of ``image_size / side`` pixels: cell (i, j) covers rows ``i*S/side .. (i+1)*S/side`` and
    the same columns, the pixels its activation is upsampled onto. When ``side`` divides ``S`` a cell is
    ``S/side`` whole pixels (rows ``i*f .. (i+1)*f - 1``); otherwise a pixel on a cell border counts for
    each cell by the share of it that lies in the cell. Computed in integers: exact fractions.
    """
    if side < 1:
        raise GanlensError(f"a layer of side {side} has no cells")
    w = _overlap(image_size, side)
    m = pixel_mask(boxes, image_size, image_size).astype(np.int64)
    return (w @ m @ w.T) / float(image_size * image_size)


def cell_labels(boxes, image_size: int, side: int, min_cover: float = 0.5) -> np.ndarray:
    """Labels (side, side) int8 for the box classifier: 1 positive, 0 negative, -1 ambiguous (left out).

    Positive: at least ``min_cover`` of the cell lies in a box. Every box gives at least one positive
    cell (its most-covered one), so a box smaller than a cell still counts. Negative: no pixel of the
    cell lies in any box. Cells partly covered (0 < cover < min_cover) are ambiguous and not used.
    """
    cover = cell_coverage(boxes, image_size, side)
    lab = np.where(cover >= min_cover, 1, np.where(cover == 0, 0, -1)).astype(np.int8)
    for b in boxes:
        c = cell_coverage([b], image_size, side)
        if not (lab[c > 0] == 1).any():
            lab[np.unravel_index(np.argmax(c), c.shape)] = 1
    return lab
