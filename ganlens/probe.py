"""Linear probe on the discriminator's features: ``ganlens.probe(gan, data)`` and ``python -m ganlens.probe``
(the paper's Table 1), on any discriminator.

Radford et al. measure how good D's features are by training a regularised linear L2-SVM on them. This
does the same on any labelled image set:

    r = ganlens.probe(gan, "rooms:n=2000,seed=1")          # or an .npz / folder with labels, or an ImageSet
    r["accuracy"], r["random_accuracy"], r["trained_beats_random"], r.figure(), r.save("out/probe")

* **Features.** Every hidden layer of D (``gan.layers("D").hidden``: each conv/linear output after the
  modules that follow it, e.g. its LeakyReLU; ``layers=`` picks a subset) is max-pooled to a 4x4 grid
  (``pool``; a smaller map to its own size, so a Linear layer (B, C) gives C numbers), flattened, and the
  layers are concatenated: for a 64x64 DCGAN D with ndf=64 that is (64 + 128 + 256 + 512) x 16 = 15,360
  numbers per image. Features are stored as float16 (fresh or from the cache alike, so both give the
  same numbers; float32 for a network whose features exceed float16's range, named in
  ``features.float32_networks``), then standardised over all the images of the run (mean 0, variance 1 per
  feature; no labels are used).
* **Classifier.** The linear L2-SVM of scikit-learn's ``LinearSVC`` (squared hinge loss, L2 penalty,
  one-vs-rest, the intercept penalised as liblinear does), solved exactly by :mod:`ganlens.svm` (Newton's
  method on the images' coefficients, one Gram matrix per network; liblinear stays the reference in the
  tests), with C picked from ``C`` by accuracy on a validation split (ties: the smaller C, i.e. more
  regularisation), refitted on train + validation, and scored once on the test split.
* **Spread.** All of that is repeated on ``splits`` folds of repeated stratified K-fold (K = 1 / test
  fraction, so 5 folds of 20% by default; each fold's rest split into train and validation, each fold with
  its own choice of C): ``accuracy`` is the mean test accuracy over the folds, ``accuracy_spread`` its
  mean, std, min, max and the Nadeau-Bengio corrected standard error and 95% interval (the training sets of
  the folds overlap, so the plain standard error is too small); ``C`` is the C chosen on most folds.
* **Baseline.** The same features and folds from ``random_draws`` random Ds, ``gan.random_D(seed + i)``:
  Ds of the same architecture with the paper's initialisation (N(0, 0.02) weights; BatchNorm at its
  initial running statistics). Every draw is reported (``r["random"]["draws"]``). The claim
  ``trained_beats_random`` holds only when, against every draw, the corrected resampled t-test of the paired
  per-fold differences is significant one-sided at 0.05 (:data:`RULE`; its false-positive rate under the
  null is simulated in the tests); the former rule (mean above every draw's mean) stays beside it as
  ``comparison.above_every_draw_mean``.
* **Data.** ``rooms`` specs get labels from the exact rooms masks (``task="has-window"``: any window
  pixel; ``"windows"``: number of windows, counted as 4-connected components of the window mask of
  at least MIN_WINDOW_PIXELS pixels, 3 or more pooled as "3+"). The command's default,
  ``rooms:n=2000,seed=1``, is a stream of scenes the shipped model never trained on (it trained on seed
  0). Folders with one sub-folder per class and ``.npz`` files with a ``labels`` array are used as they are.
* **Cache.** ``cache=`` a folder (the command: ``--cache``, default ``$GANLENS_CACHE`` or
  ``~/.cache/ganlens``; ``cache=True`` means that default; None: no cache) keeps features per (network,
  data, layers, pool, task) as ``.npz`` files read with ``allow_pickle=False``. The network is named by
  a sha256 of its state dict and its module description (``repr``), for a checkpoint and an in-memory
  model alike, so changed weights or a changed architecture never hit an old entry; the data by its
  spec (rooms) or a hash of the images and labels (folders, .npz). A damaged file is recomputed.

Errors name the command-line flag (``--C``, ``--layers``) that matches each keyword argument.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ganlens import cli
from ganlens.core import figures
from ganlens.data.sets import ImageSet, RoomsSet, for_model, iter_chunks, to_float
from ganlens import stats, svm
from ganlens.core.errors import GanlensError, require_at_least, require_memory
from ganlens.core.hooks import channels_last, retain
from ganlens.core.results import Result, atomic_write, provenance
from ganlens.analyses.api import analysis_module

PROG = "python -m ganlens.probe"
EXAMPLES = f"""  {PROG}                                      # shipped model, has-window on 2000 unseen rooms
  {PROG} --data rooms:n=4000,seed=1 --task windows
  {PROG} --splits 10 --random-draws 10             # a tighter spread; one C grid per split and D
  {PROG} --checkpoint netD_epoch_24.pth --data ~/cifar10_png/ --limit 10000 --device cuda
  {PROG} --data labelled.npz --layers block3,block4 --C 0.001,0.01,0.1 --cache /scratch/ganlens-cache
  {PROG} --model my_gan.py:build --data digits.npz --layers list   # your own networks: their layers
"""
DEFAULT_DATA = "rooms:n=2000,seed=1"
TASKS = {"has-window": "1 if any pixel of the rooms mask is window, else 0",
         "windows": "number of windows: 4-connected components of the window mask with at least "
                    "MIN_WINDOW_PIXELS pixels (scaled with the image area), 3 or more pooled"}
POOL = 4
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MIN_WINDOW_PIXELS = 8      # at 64x64; a smaller piece is a sliver left by an occluder, not a window
CACHE_VERSION = 1          # bump when the feature definition changes
SPLITS = 5                 # stratified train/val/test splits (seeds --seed, --seed + 1, ...)
RANDOM_DRAWS = 5           # random Ds (seeds --seed, --seed + 1, ...)
CHUNK = 256


# -------------------------------------------------------------------------------------------- features

def resolve_layers(gan, layers: str | list[str] = "all") -> list[str]:
    """``"all"``, a comma list or a list of layer names / aliases / module paths -> D layer names in
    network order (the output layer is not a feature map)."""
    table = gan.layers("D")
    hidden = [l.name for l in table.hidden]
    text = layers if isinstance(layers, str) else ",".join(layers)
    if text.strip() == "all":
        return hidden
    names = []
    for part in filter(None, (s.strip() for s in text.split(","))):
        try:
            name = table.resolve(part).name
        except GanlensError as e:
            raise GanlensError(f"--layers {text}: {e}")
        if name == table.output.name:
            raise GanlensError(f"--layers {text}: the output logit is not a feature map; valid: "
                               f"{', '.join(hidden)}, last or all")
        names.append(name)
    if not names:
        raise GanlensError(f"--layers {text}: no layer named")
    order = {l.name: i for i, l in enumerate(table.layers)}
    return sorted(set(names), key=lambda n: order.get(n, len(order)))


def _grid(h: int, w: int, pool: int) -> tuple[int, int]:
    return min(pool, h), min(pool, w)


def d_features(D: nn.Module, x: torch.Tensor, layers: list[str], pool: int = POOL) -> torch.Tensor:
    """Images (N, nc, H, W) in [-1, 1] -> features (N, sum_l C_l * p_l), one forward pass of D.

    Each layer's activations (N, C_l, h_l, w_l) ((N, C_l, 1, 1) for a linear layer) are max-pooled to
    min(pool, h_l) x min(pool, w_l) (``adaptive_max_pool2d``), flattened channel-major and concatenated
    in the order of ``layers``.
    """
    with retain(D, layers) as acts:
        D(x)
    feats = []
    for name in layers:
        a = acts[name]
        a = a[:, :, None, None] if a.dim() == 2 else a
        feats.append(F.adaptive_max_pool2d(a, _grid(a.shape[2], a.shape[3], pool)).flatten(1))
    return torch.cat(feats, dim=1)


def feature_dim(gan, layers: list[str], pool: int = POOL) -> dict[str, int]:
    """{layer: its feature count} for the chosen D layers."""
    out = {}
    for name in layers:
        c, h, w = gan.layer("D", name).shape
        gh, gw = _grid(h, w, pool)
        out[name] = c * gh * gw
    return out


def net_fingerprint(net: nn.Module) -> str:
    """sha256 of a network's module description (``repr``: layer types, sizes, strides, slopes) and its
    state dict (names, dtypes, shapes, values; independent of memory format and device)."""
    h = hashlib.sha256(repr(net).encode())
    for name, t in sorted(net.state_dict().items()):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ data

def rooms_labels(masks: np.ndarray, task: str) -> np.ndarray:
    """Rooms masks (N, H, W) uint8 -> int labels (N,) for ``task`` (see TASKS)."""
    from ganlens.data.rooms import WINDOW
    win = masks == WINDOW
    if task == "has-window":
        return win.reshape(len(win), -1).any(1).astype(np.int64)
    if task == "windows":
        import cv2
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


def data_key(data: ImageSet, task: str | None, n: int) -> str:
    """What identifies the data in the cache key: rooms specs by their parameters, others by content."""
    if isinstance(data, RoomsSet):
        return f"{data.spec},size={data.size},n={n},task={task}"
    h = hashlib.sha256()
    for _, batch in iter_chunks(data, 2048, n):
        h.update(batch.numpy().tobytes())
    h.update(np.ascontiguousarray(data.labels[:n]).astype(np.int64).tobytes())
    return f"content={h.hexdigest()},shape={data.nc}x{data.size},n={n}"


def _batches(data: ImageSet, task: str | None, n: int, chunk: int):
    """(uint8 images (B, nc, H, W), labels (B,)) over the first n images; rooms render images and masks once."""
    if isinstance(data, RoomsSet):
        from ganlens.data.rooms import make_rooms
        for start in range(0, n, chunk):
            imgs, masks = make_rooms(min(chunk, n - start), size=data.size, seed=data.seed, start=start)
            yield torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), rooms_labels(masks, task)
    else:
        for start, batch in iter_chunks(data, chunk, n):
            yield batch, data.labels[start:start + len(batch)]


def extract(nets: dict[str, tuple[nn.Module, list[str]]], data: ImageSet, task: str | None, n: int,
            device, pool: int = POOL, chunk: int = CHUNK, progress: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One pass over the first n images -> ({net key: features (n, F)}, int64 labels (n,)). Features are
    float16, or float32 for a network with a value beyond float16's range (65504; e.g. a random copy of
    a spectral-norm D), which is not clipped."""
    from ganlens.core.guided import eval_no_inplace
    out = {k: [] for k in nets}
    labels = []
    bar = tqdm(total=n, desc="D features", unit="img", disable=not progress, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30)
    with channels_last([D for D, _ in nets.values()]):     # 1.4x faster convolutions on a CPU
        for batch, lab in _batches(data, task, n, chunk):
            x = to_float(batch.to(device)).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                for k, (D, layers) in nets.items():
                    with eval_no_inplace(D):
                        f = d_features(D, x, layers, pool)
                    out[k].append(_compact(f.cpu().numpy()))
            labels.append(np.asarray(lab, np.int64))
            bar.update(len(batch))
    bar.close()
    return {k: np.concatenate(v) for k, v in out.items()}, np.concatenate(labels)   # float16 + float32 -> float32


def _compact(f: np.ndarray) -> np.ndarray:
    """float32 features -> float16 where every finite value fits, else float32 as they are."""
    with np.errstate(over="ignore"):
        half = f.astype(np.float16)
    return half if np.isfinite(half).all() or not np.isfinite(f).all() else f


# ----------------------------------------------------------------------------------------------- cache

def cache_dir(flag: str | Path | bool | None = True) -> Path | None:
    """The cache folder: a path as given; True: ``$GANLENS_CACHE`` or ``~/.cache/ganlens``; None/False: none."""
    if flag is None or flag is False:
        return None
    if flag is not True:
        return Path(flag).expanduser()
    if os.environ.get("GANLENS_CACHE"):
        return Path(os.environ["GANLENS_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ganlens"


def cache_path(folder: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return folder / f"probe-features-{digest}.npz"


def cache_read(path: Path, n: int, dim: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(features, labels) from a cache file, or None if absent, damaged (truncated, NaN) or holding other
    labels than ``labels`` (the data's own, when known without rendering): then it is recomputed. The
    labels returned are the data's, never the file's, when the data has them."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["features"], z["labels"]
        if x.shape == (n, dim) and x.dtype in (np.float16, np.float32) and y.shape == (n,) and y.dtype == np.int64 \
                and np.isfinite(x).all() and (labels is None or np.array_equal(y, labels)):
            return x, (y if labels is None else labels)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        print(f"warning: cache {path}: unreadable ({type(e).__name__}); recomputing", file=sys.stderr)
        return None
    print(f"warning: cache {path}: unexpected contents; recomputing", file=sys.stderr)
    return None


def cache_write(path: Path, features: np.ndarray, labels: np.ndarray) -> None:
    """Atomic write (:func:`ganlens.results.atomic_write`); a cache that cannot be written is only a warning."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, features=features, labels=labels))
    except OSError as e:
        print(f"warning: cache {path.parent}: cannot write ({e.strerror or e}); continuing without", file=sys.stderr)


def _features(nets: dict[str, nn.Module], layers, dim, data, task, n, pool, folder, device, chunk, progress):
    """Features (n, dim) of every net (from the cache in ``folder`` where present, None: no cache) and the
    labels (n,); and which nets came from the cache."""
    paths = {}
    if folder is not None:
        common = {"v": CACHE_VERSION, "data": data_key(data, task, n), "layers": layers, "pool": pool}
        paths = {k: cache_path(folder, dict(common, net=f"state:{net_fingerprint(net)}")) for k, net in nets.items()}
    feats, labels = {}, None
    own = None if isinstance(data, RoomsSet) else np.asarray(data.labels[:n], np.int64)  # rooms: set by the key
    for k, path in paths.items():
        got = cache_read(path, n, dim, own)
        if got is not None:
            feats[k], labels = got
    cached = sorted(feats)
    missing = {k: (net, layers) for k, net in nets.items() if k not in feats}
    if missing:
        new, labels = extract(missing, data, task, n, device, pool, chunk, progress)
        for k, x in new.items():
            feats[k] = x
            if k in paths:
                cache_write(paths[k], x, labels)
    return feats, labels, cached


# --------------------------------------------------------------------------------------------- the SVM

def split(labels: np.ndarray, val: float, test: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (train, val, test) index arrays."""
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(labels))
    rest, te = train_test_split(idx, test_size=test, stratify=labels, random_state=seed)
    tr, va = train_test_split(rest, test_size=val / (1 - test), stratify=labels[rest], random_state=seed + 1)
    return np.sort(tr), np.sort(va), np.sort(te)


def _accuracy_parts(y_true: np.ndarray, pred: np.ndarray, K: int) -> tuple[float, list, list]:
    """(accuracy, per-class recall (None for an absent class), confusion [[true][pred]])."""
    conf = np.zeros((K, K), np.int64)
    np.add.at(conf, (y_true, pred), 1)
    per_class = [float(conf[k, k] / conf[k].sum()) if conf[k].sum() else None for k in range(K)]
    return float((pred == y_true).mean()), per_class, conf.tolist()


def _block(K: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
    r, c = torch.as_tensor(rows, device=K.device), torch.as_tensor(cols, device=K.device)
    return K.index_select(0, r).index_select(1, c)


def _refit_start(K: torch.Tensor, sol: svm.Solution, tr, va, trva, Y: torch.Tensor) -> torch.Tensor:
    """A guess of the refit's active sets (len(trva), P): the training images as at the chosen C, the
    validation images by their margin under that solution."""
    margin = Y.new_zeros(len(trva), Y.shape[1], dtype=torch.bool)
    pos = {int(i): k for k, i in enumerate(trva)}
    rows_tr = torch.as_tensor([pos[int(i)] for i in tr], device=K.device)
    rows_va = torch.as_tensor([pos[int(i)] for i in va], device=K.device)
    margin[rows_tr] = sol.active
    margin[rows_va] = (Y[rows_va] * (_block(K, va, tr) @ sol.beta)) < 1
    return margin


def fit_split(K: torch.Tensor, y: np.ndarray, parts: tuple[np.ndarray, np.ndarray, np.ndarray], Cs=C_GRID,
              n_classes: int | None = None) -> dict:
    """Choose C on the validation split, refit on train + val, score on test, with the exact SVM of
    :mod:`ganlens.svm` on the Gram matrix K (N, N) of the standardised features of all N images.

    Ties in validation accuracy go to the smaller C. y (N,) int. Returns {"accuracy", "C", "val_accuracy"
    {C: acc}, "train_accuracy", "per_class" [test recall per class], "confusion" [[true][pred]], "converged",
    "newton_steps", "objective" (of the refit, one value per one-vs-rest problem)}.
    """
    tr, va, te = parts
    nk = n_classes or int(y.max()) + 1
    Cs = sorted(Cs)
    train = svm.Problems(_block(K, tr, tr), svm.targets(y[tr], nk, K.device))
    val, sols, steps, done, prev = {}, {}, 0, True, None
    Kva = _block(K, va, tr)
    for C in Cs:                                     # each C starts from the previous one's active sets
        sols[C] = prev = svm.solve(train, C, None if prev is None else prev.active)
        val[C] = float((svm.predict(Kva, prev.beta) == y[va]).mean())
        steps, done = max(steps, prev.steps), done and prev.converged
    best = max(Cs, key=lambda c: (val[c], -c))
    trva = np.sort(np.concatenate([tr, va]))
    refit = svm.Problems(_block(K, trva, trva), svm.targets(y[trva], nk, K.device))
    sol = svm.solve(refit, best, _refit_start(K, sols[best], tr, va, trva, refit.Y))
    acc, per_class, conf = _accuracy_parts(y[te], svm.predict(_block(K, te, trva), sol.beta), nk)
    return {"accuracy": acc, "C": float(best), "val_accuracy": {f"{c:g}": val[c] for c in Cs},
            "train_accuracy": float((svm.predict(_block(K, trva, trva), sol.beta) == y[trva]).mean()),
            "per_class": per_class, "confusion": conf, "converged": bool(done and sol.converged),
            "newton_steps": max(steps, sol.steps), "objective": [float(v) for v in sol.objective]}


def split_seeds(seed: int, splits: int) -> list[int]:
    """The seeds of the ``splits`` validation splits inside the folds: seed, seed + 1, ..."""
    return [seed + k for k in range(splits)]


def folds_of(test_fraction: float) -> int:
    """K of the K-fold scheme: the test share rounded to 1/K (0.2 -> 5 folds), at least 2."""
    return max(2, round(1 / test_fraction))


def kfold_splits(labels: np.ndarray, val_fraction: float, test_fraction: float, splits: int,
                 seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``splits`` (train, val, test) index triples: the test sets are the folds of repeated stratified K-fold
    (K = :func:`folds_of`, ``ceil(splits / K)`` repeats, scikit-learn ``RepeatedStratifiedKFold`` with
    ``random_state=seed``; the first ``splits`` folds in order), and each fold's rest is split into train
    and a stratified validation share ``val_fraction / (1 - 1/K)`` (seed ``seed + k`` for the k-th fold).
    Test sets of one repeat do not overlap, so the spread of their accuracies can be corrected for the
    training sets that do (:func:`ganlens.stats.corrected_resampled_t`)."""
    from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split
    k = folds_of(test_fraction)
    scheme = RepeatedStratifiedKFold(n_splits=k, n_repeats=-(-splits // k), random_state=seed)
    out = []
    for i, (rest, te) in enumerate(scheme.split(np.zeros(len(labels)), labels)):
        if i == splits:
            break
        tr, va = train_test_split(rest, test_size=val_fraction / (1 - 1 / k), stratify=labels[rest],
                                  random_state=seed + i)
        out.append((np.sort(tr), np.sort(va), np.sort(te)))
    return out


def spread(values, n_train: int | None = None, n_test: int | None = None) -> dict:
    """{"mean", "std" (population, ddof=0), "min", "max", "n"} of a list of accuracies; with the training and
    test sizes of resampled splits also the Nadeau-Bengio corrected standard error of the mean,
    sqrt(s^2 (1/J + n_test/n_train)) (s^2 with ddof=1), and its t 95% interval ("ci", J - 1 degrees of
    freedom)."""
    v = np.asarray(values, float)
    out = {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max()),
           "n": int(len(v))}
    if n_train and n_test and len(v) > 1:
        se, ci = stats.corrected_resampled_interval(v, n_train, n_test)
        out.update(corrected_se=se, ci=ci.as_list())
    return out


def _modal_C(fits: list[dict]) -> float:
    """The C chosen on most splits (ties: the smaller C)."""
    cs = [f["C"] for f in fits]
    return min(set(cs), key=lambda c: (-cs.count(c), c))


def fit_probe(X: np.ndarray, y: np.ndarray, parts: tuple[np.ndarray, np.ndarray, np.ndarray], Cs=C_GRID,
              seed: int = 0, n_classes: int | None = None, device=None) -> dict:
    """:func:`fit_split` on features X (N, F) of any float dtype: standardised over the N images, then the
    Gram matrix. ``seed`` is kept for compatibility; the exact solver has no randomness."""
    return fit_split(svm.gram(svm.standardise(X, device)), y, parts, Cs, n_classes)


def fit_all(feats: dict[str, np.ndarray], y: np.ndarray, parts: list[tuple], Cs, n_classes: int,
            device=None, progress: bool = False) -> dict[str, list[dict]]:
    """:func:`fit_split` of every network's features (N, F) on every split (``parts[k]``) -> {network: [one
    result per split]}. One Gram matrix per network (features standardised over all N images)."""
    n = len(y)
    require_memory(8.0 * n * n * 4, f"the probe's Gram matrices of {n} images (use --limit for fewer)")
    bar = tqdm(total=len(feats) * len(parts), desc="SVM (network x split)", disable=not progress,
               dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30)
    out = {}
    for k, x in feats.items():
        K = svm.gram(svm.standardise(x, device))
        out[k] = []
        for p in parts:
            out[k].append(fit_split(K, y, p, Cs, n_classes))
            bar.update(1)
        del K
    bar.close()
    return out


def summarise(fits: list[dict], classes: list[str], seed: int | None = None, sizes: tuple[int, int] | None = None) -> dict:
    """One network's :func:`fit_probe` results over the splits -> {"seed" (of the random D; None for the
    trained one), "accuracy" (mean over splits), "spread", "C" (the modal C), "per_class" {class: mean test
    recall}, "splits" [the results, per_class keyed by class name]}."""
    for f in fits:
        f["per_class"] = dict(zip(classes, f["per_class"]))
    per_class = {}
    for c in classes:
        got = [f["per_class"][c] for f in fits if f["per_class"][c] is not None]
        per_class[c] = float(np.mean(got)) if got else None
    s = spread([f["accuracy"] for f in fits], *(sizes or (None, None)))
    return {"seed": seed, "accuracy": s["mean"], "spread": s, "C": _modal_C(fits), "per_class": per_class,
            "splits": fits}


RULE = ("trained D higher only if, against every random draw, the Nadeau-Bengio corrected resampled t-test of "
        "the paired per-split differences (trained - random) is significant one-sided at 0.05 (an intersection-"
        "union test: level 0.05 whatever the number of draws); needs at least 2 splits")


def _one_sided(test: stats.TestResult, diff: np.ndarray) -> float:
    """One-sided p (trained higher) from the two-sided corrected t; differences without spread carry no
    evidence (p = 1)."""
    if np.ptp(diff) == 0:
        return 1.0
    return float(test.p / 2 if test.statistic > 0 else 1 - test.p / 2)


def compare_random(trained: dict, draws: list[dict], n_train: int, n_test: int, level: float = stats.LEVEL) -> dict:
    """The claim "trained D beats random Ds", and the paired comparison on each split.

    Rule (:data:`RULE`): against each draw, the corrected resampled t-test (:func:`ganlens.stats.
    corrected_resampled_t`, n_train / n_test: the sizes the refit trained and tested on) of the paired
    differences over the splits, one-sided; the claim needs every draw's p below ``level``. Beside it the
    former descriptive rule (mean above every draw's mean), which a trained D that is just one more random
    draw passes with probability 1 / (draws + 1).
    """
    t = np.array([f["accuracy"] for f in trained["splits"]])
    best = max(draws, key=lambda d: d["accuracy"])
    paired = []
    for d in draws:
        diff = t - np.array([f["accuracy"] for f in d["splits"]])
        test = stats.corrected_resampled_t(diff, n_train, n_test) if len(diff) > 1 else None
        p_one = None if test is None else _one_sided(test, diff)
        paired.append({"seed": d["seed"], "mean_difference": float(diff.mean()), "splits_higher": int((diff > 0).sum()),
                       "splits_tied": int((diff == 0).sum()), "splits": int(len(diff)),
                       "corrected_t": None if test is None else float(test.statistic), "p_one_sided": p_one})
    every = np.array([[f["accuracy"] for f in d["splits"]] for d in draws]).max(0)
    ps = [q["p_one_sided"] for q in paired]
    beats = all(p is not None and p < level for p in ps)
    return {"rule": RULE, "level": level, "trained_beats_random": bool(beats),
            "largest_p_one_sided": None if None in ps else float(max(ps)),
            "above_every_draw_mean": bool(trained["accuracy"] > best["accuracy"]),
            "trained_mean": trained["accuracy"], "best_random_seed": best["seed"],
            "best_random_mean": best["accuracy"], "margin_over_best": float(trained["accuracy"] - best["accuracy"]),
            "draws_beaten": int(sum(trained["accuracy"] > d["accuracy"] for d in draws)), "draws": len(draws),
            "splits_above_every_draw": int((t > every).sum()), "paired": paired}


def plot_probe(result: dict, arrays: dict | None = None):
    """One-column figure from probe.json. Left: test accuracy on each split (dots) and its mean +- std
    (bar) for the trained D and every random draw, majority class dashed. Right: validation accuracy
    against C, mean over the splits (circle: the C chosen most often). Returns the matplotlib Figure."""
    tr, draws = result["trained"], result["random"]["draws"]
    nets = [("trained", tr, "#1f5fbf")] + [(f"r{d['seed']}", d, "#888888") for d in draws]
    with figures.style():
        fig, (a, b) = figures.figure("one", aspect=0.58, ncols=2, gridspec_kw={"width_ratios": [1.6, 1]})
        for i, (name, res, color) in enumerate(nets):
            acc = [f["accuracy"] for f in res["splits"]]
            jitter = np.linspace(-0.18, 0.18, len(acc)) if len(acc) > 1 else np.zeros(1)
            a.plot(i + jitter, acc, "o", ms=2, color=color, alpha=0.7, mew=0)
            a.errorbar([i], [res["spread"]["mean"]], yerr=[res["spread"]["std"]], fmt="_", ms=9, mew=1.2,
                       color=color, ecolor=color, elinewidth=0.8, capsize=2)
        a.axhline(result["chance"]["majority"], color="black", lw=0.7, ls="--")
        a.set_xticks(range(len(nets)), [n for n, _, _ in nets], rotation=30 if len(nets) > 4 else 0,
                     ha="right" if len(nets) > 4 else "center")
        lo = min(result["chance"]["majority"], min(f["accuracy"] for _, r, _ in nets for f in r["splits"]))
        a.set_ylim(max(0.0, lo - 0.05), 1.0)
        a.set_ylabel("test accuracy")
        for name, res, color in reversed(nets):
            cs = [float(c) for c in res["splits"][0]["val_accuracy"]]
            val = np.mean([[f["val_accuracy"][f"{c:g}"] for c in cs] for f in res["splits"]], axis=0)
            b.plot(cs, val, "-", lw=1 if name == "trained" else 0.6, color=color)
            b.plot([res["C"]], [val[cs.index(res["C"])]], "o", ms=4, mfc="none", color=color, mew=0.8)
        b.set_xscale("log")
        b.minorticks_off()
        b.set_xticks(cs, [f"{c:g}" for c in cs], rotation=45, ha="right")   # plain numbers: no mathtext here
        b.set_xlabel("C")
        b.set_ylabel("val. accuracy")
        from matplotlib.lines import Line2D
        handles = [Line2D([], [], color="#1f5fbf", marker="o", ms=3, lw=0, label="trained D"),
                   Line2D([], [], color="#888888", marker="o", ms=3, lw=0, label=f"random D ({len(draws)} seeds)"),
                   Line2D([], [], color="black", lw=0.7, ls="--", label="majority class")]
        fig.legend(handles=handles, loc="upper center", ncol=3, frameon=False, fontsize=6, bbox_to_anchor=(0.5, 1.02))
        fig.tight_layout(pad=0.3, w_pad=0.8, rect=(0, 0, 1, 0.9))
    return fig


# --------------------------------------------------------------------------------------------- analysis

def parse_C(C) -> list[float]:
    """A comma string or a sequence of C values -> sorted distinct positive floats."""
    text = C if isinstance(C, str) else ",".join(map(str, C))
    try:
        cs = sorted({float(s) for s in text.split(",") if s.strip()})
    except ValueError:
        cs = []
    if not cs or not all(np.isfinite(c) and c > 0 for c in cs):
        raise GanlensError(f"--C {text}: expected a comma list of positive numbers, e.g. 0.001,0.01,0.1")
    return cs


def _check(pool, limit, val_fraction, test_fraction, batch_size, splits, random_draws) -> None:
    require_at_least({"pool": (pool, 1), "batch_size": (batch_size, 1), "limit": (limit, 1), "splits": (splits, 1),
                      "random_draws": (random_draws, 1)}, flags=True)
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 0.9):
        raise GanlensError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction}: each must "
                           f"be in (0, 1) and together below 0.9")


def _labelled(gan, data, task: str | None) -> tuple[ImageSet, str | None]:
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


def _classes(task, data, labels, n) -> tuple[list[str], np.ndarray]:
    classes = class_names(task, data, labels)
    counts = np.bincount(labels, minlength=len(classes))
    if (counts > 0).sum() < 2:
        raise GanlensError(f"--data {data.spec}: all {n} images have one label ({classes[int(labels[0])]}); "
                           f"a probe needs at least two classes")
    small = [k for k in range(len(classes)) if 0 < counts[k] < 5]
    if small:
        raise GanlensError(f"--data {data.spec}: class {classes[small[0]]!r} has {counts[small[0]]} image(s); "
                           f"the stratified train/val/test split needs at least 5 per class")
    return classes, counts


def probe(gan, data, *, task: str | None = None, layers: str | list[str] = "all", pool: int = POOL, C=C_GRID,
          val_fraction: float = 0.2, test_fraction: float = 0.2, splits: int = SPLITS,
          random_draws: int = RANDOM_DRAWS, limit: int | None = None, seed: int = 0,
          cache: str | Path | bool | None = None, batch_size: int = CHUNK, progress: bool = False) -> Result:
    """Linear L2-SVM probe on D's features over several splits, against the same probe on several random
    Ds of the same architecture.

    gan: a :class:`ganlens.gan.GAN` with a D. data: a labelled data spec (``rooms:n=N,seed=S``, a folder
    with one sub-folder per class, an .npz with ``labels``) or an opened :class:`ganlens.data.ImageSet`.
    task: the label of rooms data (``has-window`` (default) or ``windows``). layers: ``"all"`` hidden D
    layers or names / aliases / module paths. pool: max-pool each layer to pool x pool. C: the SVM's C
    values to choose from. splits: stratified train/val/test splits (seeds ``seed``, ``seed + 1``, ...),
    each with its own choice of C. random_draws: random Ds ``gan.random_D(seed + i)``. limit: use the first
    N images. cache: a feature-cache folder, True for the default one, None for no cache. Returns a Result
    of kind "probe" (figure "probe"): ``accuracy`` is the trained D's mean test accuracy over the splits,
    ``random_accuracy`` the mean over the random draws, ``comparison`` the rule and its verdict.
    """
    Cs = parse_C(C)
    _check(pool, limit, val_fraction, test_fraction, batch_size, splits, random_draws)
    D = gan.require_D()
    names = resolve_layers(gan, layers)
    data, task = _labelled(gan, data, task)
    n = len(data) if limit is None else min(limit, len(data))
    dims = feature_dim(gan, names, pool)
    rand = {f"random-{seed + i}": seed + i for i in range(random_draws)}
    nets = {"trained": D, **{k: gan.random_D(s) for k, s in rand.items()}}
    folder, t0 = cache_dir(cache), time.perf_counter()
    feats, labels, cached = _features(nets, names, sum(dims.values()), data, task, n, pool, folder, gan.device,
                                      batch_size, progress)
    t_feat = time.perf_counter() - t0
    wide = sorted(k for k, x in feats.items() if x.dtype == np.float32)
    classes, counts = _classes(task, data, labels, n)
    seeds = split_seeds(seed, splits)
    parts = kfold_splits(labels, val_fraction, test_fraction, splits, seed)
    sizes = (len(parts[0][0]) + len(parts[0][1]), len(parts[0][2]))       # the refit's training and test sizes
    t0 = time.perf_counter()
    fits = fit_all(feats, labels, parts, Cs, len(classes), gan.device, progress)
    trained = summarise(fits["trained"], classes, sizes=sizes)
    draws = [summarise(fits[k], classes, seed=s, sizes=sizes) for k, s in rand.items()]
    comparison = compare_random(trained, draws, *sizes)
    test_counts = np.bincount(labels[parts[0][2]], minlength=len(classes))
    call = (f"ganlens.probe(gan, {data.spec!r}, task={task!r}, layers={layers!r}, pool={pool}, C={Cs}, "
            f"val_fraction={val_fraction}, test_fraction={test_fraction}, splits={splits}, "
            f"random_draws={random_draws}, limit={limit}, seed={seed})")
    out = {
        "accuracy": trained["accuracy"], "accuracy_spread": trained["spread"], "C": trained["C"],
        "feature_dim": sum(dims.values()), "per_class": trained["per_class"],
        "random_accuracy": float(np.mean([d["accuracy"] for d in draws])),
        "random_best": comparison["best_random_mean"], "trained_beats_random": comparison["trained_beats_random"],
        "comparison": comparison, "trained": trained,
        "random": {"draws": draws, "seeds": list(rand.values()), "accuracy": spread([d["accuracy"] for d in draws])},
        "chance": {"majority": float(test_counts.max() / test_counts.sum()), "uniform": 1 / len(classes)},
        "data": {"spec": data.spec, "images": n, "task": task, "labels": TASKS.get(task, "from --data"),
                 "classes": classes, "class_counts": counts.tolist()},
        "split": {"train": len(parts[0][0]), "val": len(parts[0][1]), "test": len(parts[0][2]), "seed": seed,
                  "seeds": seeds, "count": splits, "stratified": True, "scheme": "repeated stratified K-fold",
                  "folds": folds_of(test_fraction), "repeats": -(-splits // folds_of(test_fraction))},
        "timing": {"features_seconds": round(t_feat, 3), "svm_seconds": round(time.perf_counter() - t0, 3)},
        "provenance": provenance(gan, seed, call=call, device=str(gan.device), feature_cache={
            "folder": None if folder is None else str(folder), "read": cached}),
    }
    out.update(_setup(gan, names, pool, dims, Cs))
    out["features"]["float32_networks"] = wide
    return Result("probe", out, plots={"probe": plot_probe})


def _setup(gan, names, pool, dims, Cs) -> dict:
    """What was probed and how: the model, the features, the SVM."""
    origin = gan.origin()
    return {
        "checkpoint": {"path": origin["checkpoint"], "sha256": gan.sha256, "source": gan.source,
                       "config": origin["config"], "trained_on": gan.provenance.get("data")},
        "features": {"layers": names, "pool": pool, "dim": sum(dims.values()), "per_layer_dim": dims,
                     "dtype": "float16 (float32 for the networks in float32_networks: beyond float16's range)",
                     "definition": "each layer's output (after the modules that follow its conv/linear, e.g. "
                                   "its LeakyReLU) max-pooled to pool x pool (a smaller map: to its own size), "
                                   "flattened, concatenated; standardised over all the images (mean 0, "
                                   "variance 1 per feature, no labels used)"},
        "svm": {"model": "linear L2-SVM: squared hinge, L2 penalty on the weights and the intercept, one-vs-rest "
                         "(scikit-learn LinearSVC's objective)",
                "solver": "exact: Newton's method on the active set over one Gram matrix per network "
                          "(ganlens.svm); agrees with liblinear run to convergence",
                "C_grid": Cs,
                "selection": "per split: the C with the best validation accuracy (ties: smaller C); refit on "
                             "train + val; scored once on test"},
        "random_baseline": "the same features and splits from random Ds with the paper's N(0, 0.02) "
                           "initialisation, torch seeds --seed, --seed + 1, ... (--random-draws of them)",
    }


# ------------------------------------------------------------------------------------------------ main

def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Linear L2-SVM probe on the discriminator's features, against a random-D baseline "
                         "(the paper's Table 1).", EXAMPLES)
    p.add_common(out_default="ganlens-out/probe")
    p.add_argument("--data", default=DEFAULT_DATA, metavar="PATH|rooms",
                   help=f"labelled images: rooms:n=N,seed=S (labels from the masks), a folder with one "
                        f"sub-folder per class, or an .npz with images and labels (default: {DEFAULT_DATA})")
    p.add_argument("--task", choices=tuple(TASKS), help="label for rooms data (default: has-window)")
    p.add_argument("--limit", type=cli.at_least(1), help="use only the first N images")
    p.add_argument("--layers", default="all",
                   help="D layers to use: all, list (print them), or names / module paths, e.g. "
                        "block2,block3,last (default: all)")
    p.add_argument("--pool", type=cli.at_least(1), default=POOL,
                   help=f"max-pool each layer to POOL x POOL (default: {POOL})")
    p.add_argument("--C", default=",".join(f"{c:g}" for c in C_GRID), metavar="LIST",
                   help=f"SVM C values to choose from on the validation split (default: {','.join(f'{c:g}' for c in C_GRID)})")
    p.add_argument("--val-fraction", type=cli.number(0, 1, open_low=True, open_high=True), default=0.2,
                   help="validation share (default: 0.2)")
    p.add_argument("--test-fraction", type=cli.number(0, 1, open_low=True, open_high=True), default=0.2,
                   help="test share (default: 0.2)")
    p.add_argument("--splits", type=cli.at_least(1), default=SPLITS,
                   help=f"stratified train/val/test splits, seeds --seed, --seed + 1, ...; each chooses its own C "
                        f"(default: {SPLITS})")
    p.add_argument("--random-draws", type=cli.at_least(1), default=RANDOM_DRAWS,
                   help=f"random Ds of the same architecture, seeds --seed, --seed + 1, ... (default: {RANDOM_DRAWS})")
    p.add_argument("--batch-size", type=cli.at_least(1), default=CHUNK,
                   help=f"images per feature batch (default: {CHUNK})")
    p.add_argument("--cache", metavar="DIR", help="feature cache folder (default: $GANLENS_CACHE or ~/.cache/ganlens)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    return p


def from_args(args, gan) -> Result:
    """The analysis the command's flags ask for (``ganlens.paper`` calls this too)."""
    if args.layers.strip() == "list":
        cli.layer(gan, "D", "list", "--layers")  # prints the layer table and ends the command
    return probe(gan, args.data, task=args.task, layers=args.layers, pool=args.pool, C=args.C,
                 val_fraction=args.val_fraction, test_fraction=args.test_fraction, splits=args.splits,
                 random_draws=args.random_draws, limit=args.limit, seed=args.seed,
                 cache=None if args.no_cache else (args.cache or True), batch_size=args.batch_size, progress=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    t0 = time.perf_counter()
    dev, gan = cli.start(args)  # checks --out before the work, then device, seed, checkpoint / --model
    r = from_args(args, gan)
    r.save(args.out)
    read, c = r["provenance"]["feature_cache"]["read"], r["comparison"]
    cached = f"; features of {len(read)} of {1 + c['draws']} Ds from the cache" if read else ""
    verdict = "higher than" if c["trained_beats_random"] else "NOT higher than"
    k, d = r["split"]["count"], c["draws"]
    print(f"probe: test accuracy {r['accuracy']:.3f} +- {r['accuracy_spread']['std']:.3f} over {k} split"
          f"{'s' * (k > 1)} (C={r['C']:g}) with trained D, {verdict} each of {d} random D{'s' * (d > 1)} (best "
          f"{c['best_random_mean']:.3f}, mean {r['random_accuracy']:.3f}); majority class {r['chance']['majority']:.3f}; "
          f"{r['feature_dim']} features, {r['data']['images']} images ({r['data']['task'] or r['data']['spec']})"
          f"{cached}; wrote {args.out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


analysis_module(__name__, probe)

if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
