"""Speed of the linear probe (``ganlens.probe``, the paper's Table 1) with its default settings, against
scikit-learn's liblinear on the same features in the same job.

Two cases, each with the command's defaults (5 splits, 5 random Ds, C in {1e-4, ..., 1}, no feature cache):

* ``shipped``: the shipped model's D on ``rooms:n=2000,seed=1``, has-window (7,680 features).
* ``digits``: 2,000 labelled 32x32 grey images in 10 classes through a 32x32 grey DCGAN D with ndf=64
  (7,168 features): digits 0-9 drawn with OpenCV's Hershey fonts at random sizes, positions, stroke widths and
  slants, plus noise, an MNIST stand-in (no data can be downloaded here); D has the paper's initialisation
  (N(0, 0.02)), untrained: what is timed is the size of the problem, which a trained D does not change.

For each: the whole ``ganlens.probe`` call (features, then SVMs), and the reference: scikit-learn's former
pipeline (``StandardScaler`` + ``LinearSVC``, max_iter 2000, in a ``GridSearchCV`` over the same C grid with the
validation split as its fold, refit on train + val) on the trained D's features of ``--reference-splits``
splits, timed and multiplied by the number of (network, split) searches the probe runs; with accuracies of
both on those splits.

    python benchmarks/probe_speed.py                       # both cases, 1 reference split each
    python benchmarks/probe_speed.py --case digits --reference-splits 0   # no liblinear
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout: import this ganlens
    sys.path.insert(0, str(ROOT))

import ganlens  # noqa: E402
from ganlens import probe  # noqa: E402
from ganlens.data.sets import TensorSet  # noqa: E402
from ganlens.core.models import DCGANConfig, Discriminator, Generator  # noqa: E402


def digits(n: int = 2000, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n grey images (n, 1, size, size) uint8 of the digits 0-9 and their labels (n,)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    fonts = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX]
    out = np.zeros((n, 1, size, size), np.uint8)
    for i, d in enumerate(labels):
        img = np.zeros((size, size), np.uint8)
        scale = rng.uniform(0.7, 1.1)
        x, y = int(rng.integers(3, 12)), int(rng.integers(22, 30))
        cv2.putText(img, str(d), (x, y), fonts[rng.integers(len(fonts))], scale, 255, int(rng.integers(1, 4)))
        shear = np.float32([[1, rng.uniform(-0.3, 0.3), 0], [0, 1, 0]])
        img = cv2.warpAffine(img, shear, (size, size))
        noise = rng.normal(0, 12, (size, size))
        out[i, 0] = np.clip(img + noise, 0, 255).astype(np.uint8)
    return out, labels


def case_shipped():
    return ganlens.load(), "rooms:n=2000,seed=1", None


def case_digits():
    torch.manual_seed(0)
    cfg = DCGANConfig(nz=100, ngf=64, ndf=64, nc=1, image_size=32)
    gan = ganlens.wrap(Generator(cfg).eval(), Discriminator(cfg).eval(), nz=100, name="digits32-random")
    images, labels = digits()
    return gan, TensorSet(torch.from_numpy(images), "digits", labels=labels), None


def reference(feats: np.ndarray, y: np.ndarray, parts, Cs) -> tuple[float, list[float]]:
    """scikit-learn's former probe pipeline on one network's features over the given splits:
    (seconds, test accuracies)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, PredefinedSplit
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC
    accs, t = [], time.perf_counter()
    X = feats.astype(np.float32)
    for tr, va, te in parts:
        trva = np.sort(np.concatenate([tr, va]))
        fold = np.where(np.isin(trva, va), 0, -1)
        pipe = Pipeline([("scale", StandardScaler()),
                         ("svm", LinearSVC(C=Cs[0], loss="squared_hinge", dual="auto", max_iter=2000, random_state=0))])
        search = GridSearchCV(pipe, {"svm__C": Cs}, scoring="accuracy", cv=PredefinedSplit(fold), refit=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X[trva], y[trva])
        accs.append(float((search.predict(X[te]) == y[te]).mean()))
    return time.perf_counter() - t, accs


def run(name: str, ref_splits: int) -> None:
    gan, data, _ = {"shipped": case_shipped, "digits": case_digits}[name]()
    t = time.perf_counter()
    r = ganlens.probe(gan, data, cache=None)
    wall = time.perf_counter() - t
    tm, searches = r["timing"], (1 + len(r["random"]["draws"])) * r["split"]["count"]
    print(f"{name}: ganlens.probe {wall:.1f} s wall (features {tm['features_seconds']:.1f} s, SVMs "
          f"{tm['svm_seconds']:.1f} s for {searches} (network x split) searches); {r['feature_dim']} features, "
          f"{r['data']['images']} images, {len(r['data']['classes'])} classes; accuracy {r['accuracy']:.3f}, "
          f"random best {r['random_best']:.3f}; target 20 s")
    if ref_splits <= 0:
        return
    d = ganlens.probe.resolve_layers(gan, "all")
    data_set, task = probe.labelled_set(gan, data, None)
    feats, labels = probe.extract({"trained": (gan.D, d)}, data_set, task, len(data_set), gan.device)
    seeds = probe.split_seeds(0, ref_splits)
    parts = [probe.split(labels, 0.2, 0.2, s) for s in seeds]
    secs, accs = reference(feats["trained"], labels, parts, list(probe.C_GRID))
    ours = [s["accuracy"] for s in r["trained"]["splits"][:ref_splits]]
    print(f"{name}: liblinear (former pipeline) {secs / ref_splits:.1f} s per (network x split) search -> about "
          f"{secs / ref_splits * searches:.0f} s for the {searches} searches; test accuracy on the first "
          f"{ref_splits} split(s): liblinear {', '.join(f'{a:.4f}' for a in accs)}, ganlens "
          f"{', '.join(f'{a:.4f}' for a in ours)} (scaler on the training split vs over all images)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=("shipped", "digits", "both"), default="both")
    p.add_argument("--reference-splits", type=int, default=1,
                   help="splits of the trained D to time liblinear on (0: none; default 1)")
    args = p.parse_args(argv)
    print(f"machine: {torch.get_num_threads()} torch threads")
    for name in ("shipped", "digits") if args.case == "both" else (args.case,):
        run(name, args.reference_splits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
