"""Concept masks of the searched images: the rooms masks, a mask folder, a ``ganlens.boxes/1`` file or an
array, read a batch at a time (:func:`open_masks` -> :class:`Masks`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ganlens.core.errors import GanlensError
from ganlens.data import boxes
from ganlens.data.rooms import CLASSES, make_rooms
from ganlens.data.sets import FolderSet, ImageSet, RoomsSet, image_files, mask_files, mask_names, read_mask


@dataclass
class Masks:
    """Per-pixel concept masks for images of a data set, read a batch at a time.

    read: image indices (B,) int array -> (B, H, W) int64 masks at the model's image size, values >= 0.
    names: {mask value: concept name} of the values that are concepts (None: every value that occurs, named
    "class <v>"). images: indices of the images that have a mask (None: every image). spec, kind: where
    the masks came from ("rooms", "folder", "boxes", "array"), for the JSON.
    """

    read: Callable[[np.ndarray], np.ndarray]
    names: dict[int, str] | None
    spec: str
    kind: str
    images: np.ndarray | None = None

    def rows(self, n: int) -> np.ndarray:
        """The indices, among the first ``n`` images, that have a mask."""
        return np.arange(n) if self.images is None else self.images[self.images < n]


def open_masks(masks, data: ImageSet, size: int) -> Masks | None:
    """Concept masks for ``data``: None -> the rooms masks when the data is rooms, else none; False -> none;
    a :class:`Masks`; an integer array (N, size, size) (one mask per image, every value a concept); a path:
    a mask folder (one integer PNG per image: paired by name with an image folder, else in sorted order;
    optional ``classes.txt`` names the values) or a ``ganlens.boxes/1`` file (.json) on the data's images,
    whose sample ``seed`` is the image's index in the data (0-based; the latent block is not used)."""
    if masks is False:
        return None
    if masks is None:
        if isinstance(data, RoomsSet):
            return Masks(lambda idx: _rooms_masks(data, idx), dict(enumerate(CLASSES)), data.spec, "rooms")
        return None
    if isinstance(masks, Masks):
        return masks
    if isinstance(masks, (np.ndarray, torch.Tensor)):
        arr = np.asarray(masks)
        if arr.shape != (len(data), size, size) or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0:
            raise GanlensError(f"masks: expected non-negative integers ({len(data)}, {size}, {size}), one per "
                               f"image, got {arr.dtype} {arr.shape}")
        return Masks(lambda idx: arr[idx].astype(np.int64), None, f"array {arr.shape}", "array")
    path = Path(masks)
    if path.suffix.lower() == ".json":
        return _box_masks(path, data, size)
    return _folder_masks(path, data, size)


class RoomsKeepMasks(RoomsSet):
    """A rooms set that keeps the masks rendered with each batch of its first ``keep`` images, so that the
    IoU pass after the scan renders no scene twice (uint8, size x size bytes per image)."""

    def __init__(self, data: RoomsSet, keep: int):
        super().__init__(data.n, data.size, data.seed, data.nc)
        self.kept = np.zeros((min(keep, data.n), data.size, data.size), np.uint8)
        self.have = np.zeros(len(self.kept), bool)

    def chunk(self, start: int, stop: int) -> torch.Tensor:
        images, masks = make_rooms(stop - start, size=self.size, seed=self.seed, start=start)
        end = min(stop, len(self.kept))
        if end > start:
            self.kept[start:end], self.have[start:end] = masks[:end - start], True
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()

    def masks(self, start: int, stop: int) -> np.ndarray:
        if stop <= len(self.kept) and self.have[start:stop].all():
            return self.kept[start:stop]
        return super().masks(start, stop)


def _rooms_masks(data: RoomsSet, idx: np.ndarray) -> np.ndarray:
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1:    # a run of images: render them together
        return data.masks(int(idx[0]), int(idx[-1]) + 1).astype(np.int64)
    return np.concatenate([data.masks(int(i), int(i) + 1) for i in idx]).astype(np.int64)


def _folder_masks(root: Path, data: ImageSet, size: int) -> Masks:
    files = mask_files(root)
    if isinstance(data, FolderSet):
        images = image_files(data.root)
        if len(images) != len(data):
            raise GanlensError(f"--masks {root}: {len(images) - len(data)} image(s) of {data.spec} could not be "
                               f"read, so masks cannot be paired with images by name")
        files = _pair_by_name(root, files, data.root, images)
    elif len(files) != len(data):
        raise GanlensError(f"--masks {root}: {len(files)} masks for the {len(data)} images of {data.spec}; "
                           f"masks pair with images in sorted order, one each")
    return Masks(lambda idx: np.stack([read_mask(files[i], size) for i in idx]), mask_names(root), str(root),
                 "folder")


def _pair_by_name(root: Path, files: list[Path], image_root: Path, images: list[Path]) -> list[Path]:
    """The mask of each image: same relative path without suffix, else the same file stem."""
    rel = {p.relative_to(root).with_suffix("").as_posix(): p for p in files}
    stems: dict[str, list[Path]] = {}
    for p in files:
        stems.setdefault(p.stem, []).append(p)
    out, missing = [], []
    for img in images:
        key = img.relative_to(image_root).with_suffix("").as_posix()
        found = rel.get(key) or (stems[img.stem][0] if len(stems.get(img.stem, [])) == 1 else None)
        (out if found else missing).append(found or key)
    if missing:
        raise GanlensError(f"--masks {root}: no mask for {len(missing)} of {len(images)} images, e.g. "
                           f"{missing[0]} (expected {missing[0]}.png)")
    return out


def _box_masks(path: Path, data: ImageSet, size: int) -> Masks:
    bf = boxes.read(path)
    if (bf.width, bf.height) != (size, size):
        raise GanlensError(f"--masks {path}: boxes are drawn on {bf.width}x{bf.height} images, the model sees "
                           f"{size}x{size}")
    seeds = [s.seed for s in bf.samples]
    if None in seeds or max(seeds) >= len(data):
        bad = next(i for i, s in enumerate(seeds) if s is None or s >= len(data))
        raise GanlensError(f"--masks {path}: samples[{bad}]: on dataset images a sample names its image by "
                           f"'seed' = the image's index in {data.spec} (0..{len(data) - 1})")
    by_image = {s.seed: s.boxes for s in bf.samples}

    def read(idx):   # value 0 inside the boxes (the concept), 1 outside (no concept)
        return np.stack([1 - boxes.pixel_mask(by_image[int(i)], size, size) for i in idx]).astype(np.int64)
    return Masks(read, {0: bf.label}, str(path), "boxes", np.array(sorted(by_image)))
