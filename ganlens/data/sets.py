"""Image data for training and analysis: image folders, ``.npz`` arrays, LSUN lmdb, and ``rooms``.

Every source is an :class:`ImageSet`: a torch ``Dataset`` of uint8 tensors (C, H, W) at the requested
size and channel count, with optional integer labels. :func:`iter_chunks` streams any set in bounded
memory; :func:`to_float` maps uint8 to the generator's [-1, 1] range.

Data specs (the ``--data`` flag):
  ``rooms``                      the default rooms training set (20,000 scenes, seed 0)
  ``rooms:n=5000,seed=3``        another rooms set
  ``PATH/``                      a folder of images, flat or in class sub-folders (sub-folder = label)
  ``PATH.npz``                   arrays ``images`` (or ``x``): (N,H,W,C), (N,C,H,W) or (N,H,W), uint8
                                 (or float in [0, 1]); optional ``labels`` (or ``y``)
  ``PATH/bedroom_train_lmdb``    LSUN lmdb (needs ``pip install ganlens[lsun]``)

Corrupt or unreadable images inside a folder are skipped with one warning that counts them; a folder
with no readable image is an error. Images of other sizes are resized (shorter side) and centre-cropped,
as in the DCGAN reference code.
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np
import torch

from ganlens.core.pixels import to_float, to_uint8  # noqa: F401 (re-exported)
from torch.utils.data import Dataset

from ganlens.core.errors import GanlensError, require_memory
from ganlens.core.results import WRITTEN
from ganlens.core.validate import kind, path_arg
from ganlens.data.rooms import make_rooms

T = TypeVar("T")

MAX_CLASS = 65535  # a label of 10**12 would make every per-class count allocate terabytes

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
ROOMS_DEFAULT = {"n": 20000, "seed": 0}


def _fit(img: torch.Tensor, size: int, nc: int) -> torch.Tensor:
    """uint8 (C,H,W) -> uint8 (nc,size,size): channel conversion, shorter-side resize, centre crop."""
    from torchvision.transforms.v2 import functional as TF  # lazy: torchvision costs ~1.4 s of start-up
    if img.dtype == torch.uint16:  # 16-bit PNGs decode to uint16; without this they would wrap or overflow
        img = (img.to(torch.float64) * (255 / 65535)).round().to(torch.uint8)
    if img.shape[0] in (2, 4):  # drop alpha: grey+alpha -> grey, RGBA -> RGB
        img = img[:-1]
    if nc == 1 and img.shape[0] == 3:
        img = TF.rgb_to_grayscale(img)
    elif nc == 3 and img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    if img.shape[1:] != (size, size):
        img = TF.center_crop(TF.resize(img, size, antialias=True), [size, size])
    return img.contiguous()


class ImageSet(Dataset):
    """A dataset of uint8 images (nc, size, size). ``labels`` is an int array (N,) or None."""

    spec: str
    size: int
    nc: int
    labels: np.ndarray | None = None
    classes: list[str] | None = None
    prefetch = False  # chunk() is a pure function of (start, stop), safe in a second thread (iter_chunks)

    def chunk(self, start: int, stop: int) -> torch.Tensor:
        """Images start..stop-1 as one uint8 tensor (B, nc, size, size)."""
        return torch.stack([self[i] for i in range(start, stop)])


class RoomsSet(ImageSet):
    """Procedural rooms scenes, rendered on demand (deterministic in seed and index)."""

    prefetch = True

    def __init__(self, n: int, size: int, seed: int = 0, nc: int = 3):
        if nc != 3:
            raise GanlensError(f"--data rooms: rooms are colour images, but the model has nc={nc}")
        self.n, self.size, self.seed, self.nc = n, size, seed, nc
        self.spec = f"rooms:n={n},seed={seed}"

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.chunk(i, i + 1)[0]

    def chunk(self, start: int, stop: int) -> torch.Tensor:
        images, _ = make_rooms(stop - start, size=self.size, seed=self.seed, start=start)
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()

    def masks(self, start: int, stop: int) -> np.ndarray:
        """Per-pixel class masks (B, size, size) uint8 for images start..stop-1 (see rooms.CLASSES)."""
        return make_rooms(stop - start, size=self.size, seed=self.seed, start=start)[1]


class FolderSet(ImageSet):
    """Images in a folder, flat or in class sub-folders; unreadable files are skipped with a warning."""

    def __init__(self, root: Path, size: int, nc: int = 3):
        self.root, self.size, self.nc, self.spec = root, size, nc, str(root)
        files = image_files(root)
        if not files:
            raise GanlensError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        from torchvision.io import ImageReadMode, decode_image, read_file

        self.images, bad = [], []
        # Decode everything up front: a corrupt file is found now, not half-way through a run, and
        # the decoded uint8 tensors are small next to the models that use them.
        for p in files:
            try:
                _check_declared_size(p)
                img = decode_image(read_file(str(p)), mode=ImageReadMode.UNCHANGED)
                self.images.append(_fit(img[0] if img.dim() == 4 else img, size, nc))  # animated: first frame
            except (RuntimeError, ValueError, GanlensError) as e:
                bad.append((p, e))
        if bad:
            why = f" ({bad[0][1]})" if isinstance(bad[0][1], GanlensError) else ""
            print(f"warning: {root}: skipped {len(bad)} unreadable image(s), e.g. {bad[0][0].name}{why}",
                  file=sys.stderr)
        if not self.images:
            raise GanlensError(f"{root}: none of the {len(files)} image files could be read")
        kept = [p for p in files if p not in {b for b, _ in bad}]
        dirs = sorted({p.parent.relative_to(root).as_posix() for p in kept})
        if len(dirs) > 1 or dirs != ["."]:
            self.classes = dirs
            self.labels = np.array([dirs.index(p.parent.relative_to(root).as_posix()) for p in kept])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


MAX_IMAGE_PIXELS = 1 << 26  # 67 megapixels (8192 x 8192): a larger declared size is not decoded


def _check_declared_size(path: Path) -> None:
    """Refuse an image whose header declares more than MAX_IMAGE_PIXELS pixels before decoding it (a 2.6 MB
    PNG can declare 30000 x 30000 and decode to 2.7 GB). PIL reads only the header here."""
    from PIL import Image, UnidentifiedImageError
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # the header only; our limit is below
    try:
        with Image.open(path) as im:
            w, h = im.size
            bands = len(im.getbands())
    except (OSError, UnidentifiedImageError, ValueError):
        return  # not for PIL to judge: the decoder says whether it can read it
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    if w * h > MAX_IMAGE_PIXELS:
        raise GanlensError(f"declares {w}x{h} pixels, about {w * h * bands / 2**30:.1f} GiB decoded; "
                           f"images above {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels are not read")


class TensorSet(ImageSet):
    """Images held in one uint8 tensor (N, nc, size, size) (from .npz)."""

    def __init__(self, images: torch.Tensor, spec: str, labels: np.ndarray | None = None):
        self.images, self.spec, self.labels = images, spec, labels
        self.nc, self.size = images.shape[1], images.shape[2]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]

    def chunk(self, start: int, stop: int) -> torch.Tensor:
        return self.images[start:stop]


def _load_npz(path: Path, size: int, nc: int) -> TensorSet:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04" and not magic.startswith(b"\x93NUM"):  # neither a zip archive nor a .npy array
        raise GanlensError(f"{path}: not an .npz file (it starts {magic!r}); write one with "
                           f"np.savez(path, images=..., labels=...)")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise GanlensError(f"{path}: not a readable .npz file ({str(e).splitlines()[0][:120]})")
    if not isinstance(arrays, np.lib.npyio.NpzFile):  # a single .npy array saved under a .npz name
        raise GanlensError(f"{path}: a single .npy array, expected an .npz archive (np.savez(path, images=...))")
    key = next((k for k in ("images", "x", "X") if k in arrays.files), None)
    if key is None:
        raise GanlensError(f"{path}: no 'images' (or 'x') array; found {', '.join(arrays.files) or 'none'}")
    x = _array(arrays, key, path)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or len(x) == 0 or x.shape[1] not in (1, 3, 4):
        raise GanlensError(f"{path}: '{key}' must be (N,H,W,C), (N,C,H,W) or (N,H,W) with N > 0 and 1, 3 or 4 "
                           f"channels, got {x.shape}")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating) or not (x.min() >= 0 and x.max() <= 1):  # NaN fails too
            raise GanlensError(f"{path}: '{key}' must be uint8, or float in [0, 1]; got {x.dtype} "
                               f"in [{x.min()}, {x.max()}]")
        x = np.round(x * 255).astype(np.uint8)
    images = torch.from_numpy(np.ascontiguousarray(x))
    images = torch.stack([_fit(im, size, nc) for im in images]) if images.shape[1:] != (nc, size, size) else images
    labels = next((_array(arrays, k, path) for k in ("labels", "y") if k in arrays.files), None)
    if labels is not None and (labels.ndim != 1 or len(labels) != len(images)):
        raise GanlensError(f"{path}: labels must be one integer per image, got shape {labels.shape} "
                           f"for {len(images)} images")
    if labels is not None and not np.issubdtype(labels.dtype, np.integer):
        raise GanlensError(f"{path}: labels must be integers (class ids 0, 1, ...), got {labels.dtype}")
    if labels is not None and (labels.min() < 0 or labels.max() > MAX_CLASS):
        raise GanlensError(f"{path}: labels must be class ids 0..{MAX_CLASS}, got {labels.min()}..{labels.max()}")
    return TensorSet(images, str(path), None if labels is None else labels.astype(np.int64))


NPZ_BOMB_BYTES = 1 << 28   # an array above 256 MiB ...
NPZ_BOMB_RATIO = 200       # ... stored over 200x smaller (deflate tops out near 1000x) is a zip bomb, not images


def _check_npz_member(arrays, key: str, path: Path) -> None:
    """Refuse, before inflating it, an .npz array whose header declares more than this machine's memory, or
    a zip bomb (see NPZ_BOMB_RATIO), with the estimate."""
    names = arrays.zip.namelist()
    info = arrays.zip.getinfo(f"{key}.npy" if f"{key}.npy" in names else key)
    with arrays.zip.open(info) as f:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f)
    nbytes = float(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    what = f"{path}: array '{key}' {tuple(shape)} {dtype}"
    require_memory(2 * nbytes, what)  # the array and its converted copy
    if nbytes > NPZ_BOMB_BYTES and nbytes > NPZ_BOMB_RATIO * max(info.compress_size, 1):
        raise GanlensError(f"{what}: declares {nbytes / 2**20:.0f} MiB stored in {info.compress_size / 2**20:.2f} MiB "
                           f"(over {NPZ_BOMB_RATIO}x compression); refused as a zip bomb, not images")


def _array(arrays, key: str, path: Path) -> np.ndarray:
    """One array of an .npz; arrays are read lazily, so a pickled (object) or damaged one fails here. The
    size its header declares is checked first (a 2 MB .npz can inflate to 2 GB)."""
    try:
        _check_npz_member(arrays, key, path)
        return arrays[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:  # object arrays: "cannot be loaded when allow_pickle=False"
        msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise GanlensError(f"{path}: array '{key}' cannot be read ({msg}); ganlens reads numeric arrays only")


class LSUNSet(ImageSet):
    """An LSUN category through torchvision's LSUN reader (needs the ``lmdb`` package)."""

    def __init__(self, path: Path, size: int, nc: int = 3):
        try:
            import lmdb  # noqa: F401
        except ImportError:
            raise GanlensError(f"{path}: reading LSUN needs the lmdb package: pip install 'ganlens[lsun]'")
        from torchvision.datasets import LSUN
        self.size, self.nc, self.spec = size, nc, str(path)
        self.lsun = LSUN(str(path.parent), classes=[path.name[: -len("_lmdb")]])

    def __len__(self) -> int:
        return len(self.lsun)

    def __getitem__(self, i: int) -> torch.Tensor:
        from torchvision.transforms.v2.functional import pil_to_tensor

        pil, _ = self.lsun[i]
        return _fit(pil_to_tensor(pil), self.size, self.nc)


def parse_rooms(spec: str) -> dict:
    """``rooms`` or ``rooms:n=5000,seed=3`` -> {"n": ..., "seed": ...}."""
    opts = dict(ROOMS_DEFAULT)
    rest = spec[len("rooms"):]
    if rest:
        if not rest.startswith(":"):
            raise GanlensError(f"--data {spec}: expected rooms or rooms:n=N,seed=S")
        for item in filter(None, rest[1:].split(",")):
            m = re.fullmatch(r"(n|seed)=(\d+)", item.strip())
            if not m:
                raise GanlensError(f"--data {spec}: bad rooms option {item!r}; expected n=N or seed=S")
            opts[m[1]] = int(m[2])
    if opts["n"] < 1:
        raise GanlensError(f"--data {spec}: n must be at least 1")
    return opts


def open_images(spec: str, size: int, nc: int = 3) -> ImageSet:
    """Open a data spec (see module doc) as uint8 images (nc, size, size)."""
    if spec == "rooms" or spec.startswith("rooms:"):
        return RoomsSet(size=size, nc=nc, **parse_rooms(spec))
    path = Path(spec)
    if not path.exists():
        raise GanlensError(f"--data {spec}: no such file or folder")
    if path.is_dir() and path.name.endswith("_lmdb"):
        return LSUNSet(path, size, nc)
    if path.is_dir():
        return FolderSet(path, size, nc)
    if path.suffix == ".npz":
        return _load_npz(path, size, nc)
    raise GanlensError(f"--data {spec}: expected rooms, a folder of images, a .npz file or an LSUN *_lmdb folder")


def for_model(gan, data, flag: str = "data") -> ImageSet:
    """Images for an analysis of ``gan``: a data spec (``"rooms"``, a folder, an .npz, LSUN) opened at the
    model's size and channels, an opened :class:`ImageSet` of that size, a uint8 tensor (N, nc, H, W), or a
    pair (uint8 tensor, integer labels (N,)). ``flag`` names the argument in error messages."""
    check_data_arg(data, flag)
    if isinstance(data, tuple):
        images, labels = data
        data = TensorSet(_check_tensor(images, flag), f"tensor of {len(images)} labelled images",
                         check_labels(labels, len(images), flag))
    elif isinstance(data, torch.Tensor):
        data = TensorSet(_check_tensor(data, flag), f"tensor of {len(data)} images")
    if isinstance(data, ImageSet):
        if (data.nc, data.size) != (gan.nc, gan.image_size):
            raise GanlensError(f"{flag} {data.spec}: images are {data.nc}x{data.size}x{data.size}, the model makes "
                               f"{gan.nc}x{gan.image_size}x{gan.image_size}; open it with ganlens.data.open_images"
                               f"(spec, {gan.image_size}, {gan.nc})")
        return data
    return open_images(str(data), gan.image_size, gan.nc)


def check_data_arg(data, flag: str) -> None:
    """The kinds of data an analysis takes (see :func:`for_model`); anything else is one line, not an error
    from deep inside (a numpy array used as a file name)."""
    if isinstance(data, (ImageSet, torch.Tensor)):
        return
    if isinstance(data, tuple):
        if len(data) != 2 or not isinstance(data[0], torch.Tensor):
            raise GanlensError(f"{flag}: a tuple must be (uint8 images (N, nc, H, W), labels (N,)), got "
                               f"({', '.join(kind(d) for d in data)})")
        return
    if isinstance(data, np.ndarray):
        raise GanlensError(f"{flag}: got a numpy array {data.shape}; pass a uint8 torch tensor (N, nc, H, W), e.g. "
                           f"torch.from_numpy(a).permute(0, 3, 1, 2) for (N, H, W, C) images")
    if not isinstance(data, (str, os.PathLike)):
        raise GanlensError(f"{flag}: expected a data spec (\"rooms\", a folder, an .npz path), an ImageSet, a uint8 "
                           f"tensor (N, nc, H, W) or (tensor, labels); got {kind(data)}")
    path_arg(data, flag)


def check_labels(labels, n: int, flag: str) -> np.ndarray:
    """Class ids, one per image, integers 0..MAX_CLASS, as int64 (N,): a label of 1e15 would make every
    per-class count allocate terabytes."""
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise GanlensError(f"{flag}: labels must be one integer per image, got {labels.dtype} {labels.shape}")
    if n and (labels.min() < 0 or labels.max() > MAX_CLASS):
        raise GanlensError(f"{flag}: labels must be class ids 0..{MAX_CLASS}, got {labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


def _check_tensor(x: torch.Tensor, flag: str) -> torch.Tensor:
    if x.dtype != torch.uint8 or x.dim() != 4 or len(x) == 0:
        raise GanlensError(f"{flag}: a tensor of images must be uint8 (N, nc, H, W) with N > 0, got {x.dtype} "
                           f"{tuple(x.shape)}")
    return x.cpu().contiguous()


def iter_chunks(data: ImageSet, chunk: int = 512, limit: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """Stream (start index, uint8 batch (B, nc, size, size)) over the first ``limit`` images.

    Memory holds one chunk at a time, however large the set (two for a set that renders its images, such as
    rooms: see :func:`ahead`; the chunks are the same).
    """
    n = len(data) if limit is None else min(limit, len(data))
    if data.prefetch:
        yield from ahead(data.chunk, n, chunk)
        return
    for start in range(0, n, chunk):
        yield start, data.chunk(start, min(start + chunk, n))


def ahead(make: Callable[[int, int], T], n: int, chunk: int) -> Iterator[tuple[int, T]]:
    """(start, make(start, stop)) for the chunks of [0, n), each made in a second thread while the caller
    works on the one before: rendering (one core, mostly Python) overlaps the caller's network (which leaves
    a core idle between its operations). ``make`` must be a pure function of (start, stop)."""
    if n <= chunk:
        if n > 0:
            yield 0, make(0, n)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(make, 0, chunk)
        for start in range(0, n, chunk):
            done = pending.result()
            if start + chunk < n:
                pending = pool.submit(make, start + chunk, min(start + 2 * chunk, n))
            yield start, done


def load_all(data: ImageSet, limit: int | None = None) -> torch.Tensor:
    """The first ``limit`` images as one uint8 tensor (N, nc, size, size)."""
    return torch.cat([batch for _, batch in iter_chunks(data, 2048, limit)])


# --------------------------------------------------------------------------------- segmentation masks
# (read by ``python -m ganlens.filters --masks``; new functions only, nothing above depends on them)

MASK_NAMES_FILE = "classes.txt"


def image_files(root: Path) -> list[Path]:
    """The image files of a folder in the order :class:`FolderSet` reads them (sorted paths, sub-folders
    included); unreadable files are in this list but not in the FolderSet.

    Skipped: hidden files and folders (a run's staging folder among them) and every sub-folder that is a
    ganlens output folder (it holds ganlens's record of what it wrote): an ``--out`` inside ``--data`` is
    never read back as images of a new class."""
    root = Path(root)
    outputs = {p.parent for p in root.rglob(WRITTEN) if p.parent != root}
    files = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.suffix.lower() not in IMAGE_SUFFIXES or any(part.startswith(".") for part in rel.parts):
            continue
        if outputs and any(parent in outputs for parent in p.parents):
            continue
        if p.is_file():
            files.append(p)
    return sorted(files)


def mask_files(root: Path) -> list[Path]:
    """The ``.png`` masks of a mask folder, sorted like :func:`image_files` (one integer PNG per image)."""
    root = Path(root)
    if not root.is_dir():
        raise GanlensError(f"--masks {root}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".png" and p.is_file())
    if not files:
        raise GanlensError(f"--masks {root}: no .png masks found")
    return files


def mask_names(root: Path) -> dict[int, str] | None:
    """Concept names of a mask folder from ``classes.txt`` (line i names mask value i; an empty line or "-"
    marks a value that is no concept, e.g. "unlabelled"), or None when the folder has no such file."""
    path = Path(root) / MASK_NAMES_FILE
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return {i: name.strip() for i, name in enumerate(lines) if name.strip() not in ("", "-")}


def read_mask(path: Path, size: int) -> np.ndarray:
    """One integer mask PNG -> (size, size) int64, resized like the images (shorter side to ``size`` by
    nearest neighbour, centre crop). 8- or 16-bit grey or palette PNGs (a palette PNG gives its indices)."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF
    try:
        _check_declared_size(path)
        with Image.open(path) as im:
            mode, arr = im.mode, np.array(im)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, GanlensError) as e:
        raise GanlensError(f"--masks {path}: not a readable PNG ({str(e).splitlines()[0][:100]})")
    if arr.ndim != 2 or mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
        raise GanlensError(f"--masks {path}: a mask must be a single-channel integer PNG (grey or palette), "
                           f"got mode {mode} with shape {arr.shape}")
    if arr.min() < 0:
        raise GanlensError(f"--masks {path}: mask values must be >= 0 (concept ids), got {arr.min()}")
    m = torch.from_numpy(arr.astype(np.int32))[None]
    if m.shape[1:] != (size, size):
        m = TF.center_crop(TF.resize(m, size, interpolation=InterpolationMode.NEAREST_EXACT), [size, size])
    return m[0].numpy().astype(np.int64)
