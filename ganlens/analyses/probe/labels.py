"""The probe's labelled images: rooms scenes labelled from their masks (``task``), or a data set with its own
labels (a folder with one sub-folder per class, an .npz with ``labels``, an opened ImageSet)."""

from __future__ import annotations

import hashlib
from typing import Iterator

import cv2
import numpy as np
import torch

from ganlens.analyses.probe.record import Labelled
from ganlens.core.errors import GanlensError
from ganlens.data.rooms import WINDOW, make_rooms
from ganlens.data.sets import ImageSet, RoomsSet, ahead, for_model, iter_chunks

TASKS = {"has-window": "1 if any pixel of the rooms mask is window, else 0",
         "windows": "number of windows: 4-connected components of the window mask with at least "
                    "MIN_WINDOW_PIXELS pixels (scaled with the image area), 3 or more pooled"}
MIN_WINDOW_PIXELS = 8      # at 64x64; a smaller piece is a sliver left by an occluder, not a window


def rooms_labels(masks: np.ndarray, task: str) -> np.ndarray:
    """Rooms masks (N, H, W) uint8 -> int labels (N,) for ``task`` (see TASKS)."""
    win = masks == WINDOW
    if task == "has-window":
        return win.reshape(len(win), -1).any(1).astype(np.int64)
    if task == "windows":
        min_px = max(2, round(MIN_WINDOW_PIXELS * masks.shape[1] * masks.shape[2] / 64 ** 2))
        out = np.zeros(len(win), np.int64)
        for i, w in enumerate(win):
            n, _, stats, _ = cv2.connectedComponentsWithStats(w.astype(np.uint8), connectivity=4)
            out[i] = min(3, int((stats[1:, cv2.CC_STAT_AREA] >= min_px).sum()))
        return out
    raise GanlensError(f"--task {task}: unknown task; choose {', '.join(TASKS)}")


def class_names(task: str | None, data: ImageSet, labels: np.ndarray) -> list[str]:
    if task == "has-window":
        return ["no window", "window"]
    if task == "windows":
        return ["0", "1", "2", "3+"]
    if data.classes is not None:
        return list(data.classes)
    return [str(c) for c in range(int(labels.max()) + 1)]


def labelled_set(gan, data, task: str | None) -> tuple[ImageSet, str | None]:
    """The data set opened at the model's size, and the task (rooms: has-window by default; else None)."""
    data = for_model(gan, data)
    is_rooms = isinstance(data, RoomsSet)
    if task and not is_rooms:
        raise GanlensError(f"--task {task}: tasks label rooms data; --data {data.spec} brings its own labels")
    if task is not None and task not in TASKS:
        raise GanlensError(f"--task {task}: unknown task; choose {', '.join(TASKS)}")
    if not is_rooms and data.labels is None:
        raise GanlensError(f"--data {data.spec}: no labels; use a folder with one sub-folder per class or an .npz "
                           f"with a 'labels' array")
    return data, (task or "has-window") if is_rooms else None


def labelled(data: ImageSet, task: str | None, labels: np.ndarray) -> Labelled:
    """The run's labelled images, once the labels (n,) are known (rooms: after rendering); GanlensError when
    fewer than two classes occur or a class has fewer than 5 images (the stratified splits need 5)."""
    n = len(labels)
    classes = class_names(task, data, labels)
    counts = np.bincount(labels, minlength=len(classes))
    if (counts > 0).sum() < 2:
        raise GanlensError(f"--data {data.spec}: all {n} images have one label ({classes[int(labels[0])]}); "
                           f"a probe needs at least two classes")
    small = [k for k in range(len(classes)) if 0 < counts[k] < 5]
    if small:
        raise GanlensError(f"--data {data.spec}: class {classes[small[0]]!r} has {counts[small[0]]} image(s); "
                           f"the stratified train/val/test split needs at least 5 per class")
    return Labelled(data, task, TASKS.get(task, "from --data"), n, labels, classes, counts)


def data_key(data: ImageSet, task: str | None, n: int) -> str:
    """What identifies the data in the cache key: rooms specs by their parameters, others by content."""
    if isinstance(data, RoomsSet):
        return f"{data.spec},size={data.size},n={n},task={task}"
    h = hashlib.sha256()
    for _, batch in iter_chunks(data, 2048, n):
        h.update(batch.numpy().tobytes())
    h.update(np.ascontiguousarray(data.labels[:n]).astype(np.int64).tobytes())
    return f"content={h.hexdigest()},shape={data.nc}x{data.size},n={n}"


def own_labels(data: ImageSet, n: int) -> np.ndarray | None:
    """The first n labels when the data carries them (rooms: None; their labels come with the rendering)."""
    return None if isinstance(data, RoomsSet) else np.asarray(data.labels[:n], np.int64)


def batches(data: ImageSet, task: str | None, n: int, batch_size: int) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    """(uint8 images (B, nc, H, W), labels (B,)) over the first n images; rooms render images and masks once."""
    if isinstance(data, RoomsSet):
        def render(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
            return make_rooms(stop - start, size=data.size, seed=data.seed, start=start)
        for _, (imgs, masks) in ahead(render, n, batch_size):   # the next batch renders while D runs
            yield torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), rooms_labels(masks, task)
    else:
        for start, batch in iter_chunks(data, batch_size, n):
            yield batch, data.labels[start:start + len(batch)]
