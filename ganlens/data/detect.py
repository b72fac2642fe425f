"""An object detector for rooms that is independent of any generator: ``python -m ganlens.detect``.

The forgetting experiment needs to count objects in generated images with something that is *not* the
box classifier it tests. This module is that judge for the ``rooms`` classes: a small fully convolutional
segmentation net (~30k weights) trained only on rendered rooms and their exact masks
(:mod:`ganlens.rooms`), never on generator output or features. It labels every pixel with one of
``rooms.CLASSES``; an image **contains** a class when the class's largest connected region covers at
least ``MIN_AREA`` of the image (64 px at 64x64, chosen on validation rooms of render seed 303 where it
gives window precision 0.95 and recall 0.97; the smallest rendered window is ~100 px).

Its own precision and recall are measured on held-out rooms (another render seed) and stored beside
the weights (``ganlens/default/detector_rooms64.json``), with the command that trained it.

    python -m ganlens.detect --train --out ganlens/default/detector_rooms64.pt   # ~4 min on 2 free CPU cores
    python -m ganlens.detect --evaluate                                          # held-out precision/recall
    python -m ganlens.detect --annotate annotations/windows.json --label window --n 150

``--annotate`` writes a box file (:mod:`ganlens.boxes`) for a generator: one box per detected region
(its bounding box), on samples named by seed.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganlens.data import boxes as boxfile
from ganlens.core import checkpoints
from ganlens.core.errors import GanlensError
from ganlens.core.generate import images as generate_images
from ganlens.data.rooms import CLASSES, make_rooms

PROG = "python -m ganlens.detect"
EXAMPLES = f"""  {PROG} --evaluate                            # precision/recall of the shipped detector
  {PROG} --train --out ganlens/default/detector_rooms64.pt
  {PROG} --annotate annotations/windows.json --label window --n 150
  {PROG} --annotate my_beds.json --label bed --checkpoint runs/rooms64/last.pt --n 50
  {PROG} --annotate my_beds.json --label bed --model my_gan.py:build --checkpoint G.pth
"""
FORMAT = "ganlens.detector/1"
DEFAULT_DETECTOR = Path(__file__).parents[1] / "default" / "detector_rooms64.pt"
MIN_AREA = 64 / 4096          # an image contains a class when its largest region is >= this share (1/64)
TRAIN = {"seed": 101, "n": 6000}
HELDOUT = {"seed": 202, "n": 1000}
WIDTH = 24


class Segmenter(nn.Module):
    """images (N, nc, S, S) in [-1, 1] -> class logits (N, n_classes, S/2, S/2); S divisible by 4.

    stem: stride-2 conv to S/2 (fine detail); body: stride-2 conv to S/4, then 3x3 convs with dilation
    1, 2, 4 (a ~60 px receptive field: a window is told from a picture by its frame, sky and wall);
    logits: the body's 1x1 class scores upsampled to S/2 plus the stem's 1x1 class scores. Logits are
    kept at half resolution because upsampling 9 channels to S costs more than the whole net; class
    maps are upsampled after the argmax (2x2 pixel blocks, see :meth:`Detector.segment`). ReLUs are
    in place (nothing hooks this net; it saves a copy of every activation).
    """

    def __init__(self, n_classes: int = len(CLASSES), nc: int = 3, width: int = WIDTH):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(nc, width, 4, 2, 1), nn.ReLU(inplace=True))        # width x S/2 x S/2
        self.body = nn.Sequential(
            nn.Conv2d(width, 32, 3, 2, 1), nn.ReLU(inplace=True),                              # 32 x S/4 x S/4
            nn.Conv2d(32, 32, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, 1, 2, dilation=2), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, 1, 4, dilation=4), nn.ReLU(inplace=True),
            nn.Conv2d(32, n_classes, 1),                                           # n_classes x S/4 x S/4
        )
        self.skip = nn.Conv2d(width, n_classes, 1)                                 # n_classes x S/2 x S/2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        b = F.interpolate(self.body(s), size=s.shape[-2:], mode="bilinear", align_corners=False)
        return b + self.skip(s)


@dataclass
class Detector:
    """A trained :class:`Segmenter` plus the rule that turns pixels into "contains an object"."""

    net: Segmenter
    classes: tuple[str, ...]
    image_size: int
    nc: int
    min_area: float = MIN_AREA
    info: dict | None = None

    def class_index(self, label: str) -> int | None:
        """Index of ``label`` ("window" or "windows"), or None if this detector does not know it."""
        for name in (label, label[:-1] if label.endswith("s") else label):
            if name in self.classes:
                return self.classes.index(name)
        return None

    @torch.no_grad()
    def segment(self, images: torch.Tensor, batch: int = 500) -> np.ndarray:
        """images (N, nc, S, S) in [-1, 1] -> class map (N, S, S) uint8."""
        self.net.eval()
        dev = next(self.net.parameters()).device
        out = [self.net(images[i:i + batch].to(dev).float().contiguous(memory_format=torch.channels_last))
               .argmax(1).to(torch.uint8).cpu() for i in range(0, len(images), batch)]
        half = torch.cat(out).numpy()
        return half.repeat(2, axis=1).repeat(2, axis=2)  # each half-resolution label covers 2x2 pixels

    def min_pixels(self, size: int) -> int:
        return max(1, int(round(self.min_area * size * size)))

    def measure(self, seg: np.ndarray, cls: int, all_classes: bool = False) -> dict[str, np.ndarray]:
        """For class maps (N, S, S): "present" (N,) bool (largest region >= min area), "area" (N,) share
        of pixels labelled ``cls``, "shares" (N, n_classes) pixel share of every class and, with
        ``all_classes``, "class_present" (N, n_classes) bool: at least the minimum area of the class in
        all (for ``cls``: in one region, as "present")."""
        n, s = seg.shape[0], seg.shape[-1]
        k = self.min_pixels(s)
        present = np.array([largest_region(seg[i] == cls) >= k for i in range(n)], bool)
        counts = np.stack([np.bincount(m.ravel(), minlength=len(self.classes)) for m in seg]) / (s * s)
        out = {"present": present, "area": counts[:, cls], "shares": counts}
        if all_classes:  # cheaper rule for the other classes: >= the minimum area in all, connected or not
            out["class_present"] = counts * (s * s) >= k
            out["class_present"][:, cls] = present
        return out

    def boxes(self, seg: np.ndarray, cls: int) -> list[list[list[int]]]:
        """Bounding boxes [[x0, y0, x1, y1], ...] (x1, y1 exclusive) of each region of ``cls`` with at
        least the minimum area, per image."""
        k = self.min_pixels(seg.shape[-1])
        out = []
        for m in seg:
            n, _, stats, _ = cv2.connectedComponentsWithStats((m == cls).astype(np.uint8), connectivity=8)
            out.append([[int(x), int(y), int(x + w), int(y + h)] for x, y, w, h, a in stats[1:] if a >= k])
        return out


def largest_region(mask: np.ndarray) -> int:
    """Pixels in the largest 8-connected region of a (H, W) bool mask (0 if empty)."""
    if not mask.any():
        return 0
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return int(stats[1:, cv2.CC_STAT_AREA].max())


def load_detector(path: str | Path | None = None, device: str | torch.device = "cpu") -> Detector:
    """Read a detector file (``ganlens.detector/1``, tensors only, via :func:`ganlens.checkpoints.read`)."""
    path = Path(path) if path is not None else DEFAULT_DETECTOR
    obj = checkpoints.read(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise GanlensError(f"{path}: not a ganlens detector file (expected format {FORMAT})")
    missing = [k for k in ("classes", "nc", "width", "state_dict", "image_size", "min_area") if k not in obj]
    if missing:
        raise GanlensError(f"{path}: damaged detector file: no {', '.join(missing)}")
    net = Segmenter(len(obj["classes"]), obj["nc"], obj["width"])
    try:
        net.load_state_dict(obj["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as e:
        detail = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise GanlensError(f"{path}: damaged detector file: weights do not fit ({detail})")
    net.eval().requires_grad_(False).to(device, memory_format=torch.channels_last)
    return Detector(net, tuple(obj["classes"]), obj["image_size"], obj["nc"], obj["min_area"], obj.get("info"))


def detector_for(label: str, image_size: int, nc: int, device="cpu") -> tuple[Detector, int] | None:
    """The shipped detector and the class index for ``label``, or None when none fits (another object,
    image size or channel count: the detector is only trusted where it was validated)."""
    if not DEFAULT_DETECTOR.exists():
        return None
    det = load_detector(DEFAULT_DETECTOR, device)
    cls = det.class_index(label)
    if cls is None or det.image_size != image_size or det.nc != nc:
        return None
    return det, cls


# --- training and evaluation -------------------------------------------------------------------------

def _to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, S, S, 3) -> float (N, 3, S, S) in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def _augment(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Flips, brightness/contrast, blur and noise: generated images are softer and noisier than renders."""
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    x, y = torch.where(flip[:, None, None, None], x.flip(-1), x), torch.where(flip[:, None, None], y.flip(-1), y)
    gain = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.4
    shift = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.3
    x = x * gain + shift
    sigma = float(torch.rand(1, generator=gen)) * 1.5
    if sigma > 0.3:
        k = torch.arange(-2, 3, dtype=torch.float32)
        k = torch.exp(-k ** 2 / (2 * sigma ** 2))
        k = (k / k.sum())
        x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), k.view(1, 1, 1, 5).repeat(3, 1, 1, 1), groups=3)
        x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), k.view(1, 1, 5, 1).repeat(3, 1, 1, 1), groups=3)
    x = x + torch.randn(x.shape, generator=gen) * float(torch.rand(1, generator=gen)) * 0.1
    return x.clamp(-1, 1), y


def train(steps: int = 1500, batch: int = 32, lr: float = 3e-3, seed: int = 0, n: int = TRAIN["n"],
          data_seed: int = TRAIN["seed"], size: int = 64, log=print) -> Segmenter:
    """Train a :class:`Segmenter` on ``n`` rooms of render seed ``data_seed`` (cross-entropy, Adam,
    cosine learning rate). Deterministic for a given seed and thread count."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    images, masks = make_rooms(n, size, seed=data_seed)
    x_all, y_all = _to_float(images), torch.from_numpy(masks).long()
    net = Segmenter()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, n, (batch,), generator=gen)
        x, y = _augment(x_all[idx], y_all[idx], gen)
        logits = F.interpolate(net(x), size=y.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0 or step == 0:
            log(f"step {step + 1}/{steps} loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)")
    return net.eval()


def evaluate(det: Detector, n: int = HELDOUT["n"], seed: int = HELDOUT["seed"]) -> dict:
    """Precision/recall on ``n`` held-out rooms (render seed ``seed``), per class.

    image level: "contains the class" by the detector's rule vs the true mask under the same rule (the
    largest true region >= min area); pixel level: precision, recall and IoU of the class's pixels.
    """
    images, masks = make_rooms(n, det.image_size, seed=seed)
    seg = det.segment(_to_float(images))
    k = det.min_pixels(det.image_size)
    out = {"heldout": {"render_seed": seed, "n": n}, "min_area_pixels": k, "classes": {}}
    for c, name in enumerate(det.classes):
        pred = np.array([largest_region(s == c) >= k for s in seg])
        true = np.array([largest_region(m == c) >= k for m in masks])
        tp, fp, fn = int((pred & true).sum()), int((pred & ~true).sum()), int((~pred & true).sum())
        ptp = int(((seg == c) & (masks == c)).sum())
        pp, tt = int((seg == c).sum()), int((masks == c).sum())
        out["classes"][name] = {
            "image_precision": round(tp / max(tp + fp, 1), 4), "image_recall": round(tp / max(tp + fn, 1), 4),
            "images_with_class": int(true.sum()), "false_positive_images": fp, "missed_images": fn,
            "pixel_precision": round(ptp / max(pp, 1), 4), "pixel_recall": round(ptp / max(tt, 1), 4),
            "pixel_iou": round(ptp / max(pp + tt - ptp, 1), 4)}
    return out


def save_detector(path: Path, net: Segmenter, info: dict) -> None:
    """Weights as float32 tensors + plain metadata (readable with weights_only=True), written atomically."""
    payload = {"format": FORMAT, "classes": list(CLASSES), "image_size": 64, "nc": 3, "width": WIDTH,
               "min_area": MIN_AREA, "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
               "info": info}
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
