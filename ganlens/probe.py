"""Linear probe on the discriminator's features: ``python -m ganlens.probe`` (the paper's Table 1).

Radford et al. measure how good D's features are by training a regularised linear L2-SVM on them. This
command does the same on any labelled image set:

* **Features.** Every hidden conv block of D (after its LeakyReLU; ``--layers`` picks a subset) is
  max-pooled to a 4x4 grid (``--pool``), flattened, and the blocks are concatenated: for a 64x64 D with
  ndf=64 that is (64 + 128 + 256 + 512) x 16 = 15,360 numbers per image. Features are stored as float16
  (fresh or from the cache alike, so both give the same numbers), then standardised on the training
  split.
* **Classifier.** scikit-learn ``LinearSVC`` (squared hinge loss, L2 penalty, one-vs-rest), with C
  picked from ``--C`` by accuracy on a validation split (ties: the smaller C, i.e. more regularisation),
  refitted on train + validation, and scored once on the test split. Splits are stratified and seeded.
* **Baseline.** The same features from a randomly initialised D of the same shape (the paper's
  initialisation, N(0, 0.02) weights; BatchNorm at its initial running statistics), seeded by ``--seed``.
* **Data.** ``rooms`` specs get labels from the exact rooms masks (``--task has-window``: any window
  pixel; ``--task windows``: number of windows, counted as 4-connected components of the window mask of
  at least MIN_WINDOW_PIXELS pixels, 3 or more pooled as "3+"). The default, ``rooms:n=2000,seed=1``,
  is a stream of scenes the shipped model never trained on (it trained on seed 0). Folders with one
  sub-folder per class and ``.npz`` files with a ``labels`` array are used as they are.
* **Cache.** Features are cached per (network, data, layers, pool, task) in ``--cache`` (default
  ``$GANLENS_CACHE`` or ``~/.cache/ganlens``) as ``.npz`` files read with ``allow_pickle=False``; the key
  holds the checkpoint's sha256 (or the random D's seed and shape) and the data spec (rooms) or a hash
  of the images and labels (folders, .npz). A damaged cache file is recomputed and replaced.

Outputs in ``--out``: ``probe.json`` (``accuracy``, ``C``, ``feature_dim``, ``per_class`` at the top; the
full trained / random / chance results below) and ``probe.pdf/png`` (test accuracy per class for trained
vs random D, and validation accuracy against C).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import checkpoints, cli, figures
from .data import ImageSet, RoomsSet, iter_chunks, open_images, to_float
from .errors import GanlensError
from .models import Discriminator

PROG = "python -m ganlens.probe"
EXAMPLES = f"""  {PROG}                                      # shipped model, has-window on 2000 unseen rooms
  {PROG} --data rooms:n=4000,seed=1 --task windows
  {PROG} --checkpoint netD_epoch_24.pth --data ~/cifar10_png/ --limit 10000 --device cuda
  {PROG} --data labelled.npz --layers block3,block4 --C 0.001,0.01,0.1 --cache /scratch/ganlens-cache
"""
DEFAULT_DATA = "rooms:n=2000,seed=1"
TASKS = {"has-window": "1 if any pixel of the rooms mask is window, else 0",
         "windows": "number of windows: 4-connected components of the window mask with at least "
                    "MIN_WINDOW_PIXELS pixels (scaled with the image area), 3 or more pooled"}
POOL = 4
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MIN_WINDOW_PIXELS = 8      # at 64x64; a smaller piece is a sliver left by an occluder, not a window
CACHE_VERSION = 1          # bump when the feature definition changes
MAX_ITER = 2000


# -------------------------------------------------------------------------------------------- features

def resolve_layers(D: Discriminator, text: str) -> list[str]:
    """``all`` or a comma list of block names / aliases -> block names in network order."""
    if text.strip() == "all":
        return list(D.hidden_blocks)
    names = []
    for part in filter(None, (s.strip() for s in text.split(","))):
        name = cli.layer(D, part, "--layers", given=text)
        if name == "output":
            raise GanlensError(f"--layers {text}: the output logit is not a feature map; valid: "
                               f"{', '.join(D.hidden_blocks)}, last or all")
        names.append(name)
    if not names:
        raise GanlensError(f"--layers {text}: no layer named")
    return [b for b in D.hidden_blocks if b in names]


def d_features(D: Discriminator, x: torch.Tensor, layers: list[str] | None = None, pool: int = POOL) -> torch.Tensor:
    """Images (N, nc, H, W) in [-1, 1] -> features (N, sum_l C_l * pool * pool).

    Each chosen block's activations (N, C_l, s_l, s_l) are max-pooled to pool x pool
    (``adaptive_max_pool2d``), flattened channel-major and concatenated in network order.
    """
    layers = layers or D.hidden_blocks
    feats = [F.adaptive_max_pool2d(a, pool).flatten(1)
             for name, a in zip(D.hidden_blocks, D.features(x)) if name in layers]
    return torch.cat(feats, dim=1)


def feature_dim(D: Discriminator, layers: list[str], pool: int = POOL) -> dict[str, int]:
    """{block: its feature count} for the chosen layers."""
    from .models import layer_shape
    return {b: layer_shape(D, b)[0] * pool * pool for b in layers}


def random_discriminator(config, seed: int) -> Discriminator:
    """A D of ``config``'s shape with the paper's initialisation, drawn from ``seed``; eval mode."""
    g = torch.random.fork_rng(devices=[])
    with g:
        torch.manual_seed(seed)
        D = Discriminator(config)
    return D.eval().requires_grad_(False)


# ------------------------------------------------------------------------------------------------ data

def rooms_labels(masks: np.ndarray, task: str) -> np.ndarray:
    """Rooms masks (N, H, W) uint8 -> int labels (N,) for ``task`` (see TASKS)."""
    from .rooms import WINDOW
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
        from .rooms import make_rooms
        for start in range(0, n, chunk):
            imgs, masks = make_rooms(min(chunk, n - start), size=data.size, seed=data.seed, start=start)
            yield torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), rooms_labels(masks, task)
    else:
        for start, batch in iter_chunks(data, chunk, n):
            yield batch, data.labels[start:start + len(batch)]


def extract(nets: dict[str, tuple[Discriminator, list[str]]], data: ImageSet, task: str | None, n: int,
            device, pool: int = POOL, chunk: int = 256, progress: bool = True) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One pass over the first n images -> ({net key: float16 features (n, F)}, int64 labels (n,))."""
    out = {k: [] for k in nets}
    labels = []
    bar = tqdm(total=n, desc="D features", unit="img", disable=not progress, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30)
    for batch, lab in _batches(data, task, n, chunk):
        x = to_float(batch.to(device))
        with torch.inference_mode():
            for k, (D, layers) in nets.items():
                out[k].append(d_features(D, x, layers, pool).to(torch.float16).cpu().numpy())
        labels.append(np.asarray(lab, np.int64))
        bar.update(len(batch))
    bar.close()
    return {k: np.concatenate(v) for k, v in out.items()}, np.concatenate(labels)


# ----------------------------------------------------------------------------------------------- cache

def cache_dir(flag: str | None) -> Path:
    if flag:
        return Path(flag).expanduser()
    if os.environ.get("GANLENS_CACHE"):
        return Path(os.environ["GANLENS_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ganlens"


def cache_path(folder: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return folder / f"probe-features-{digest}.npz"


def cache_read(path: Path, n: int, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(features, labels) from a cache file, or None if absent or damaged (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["features"], z["labels"]
        if x.shape == (n, dim) and x.dtype == np.float16 and y.shape == (n,) and y.dtype == np.int64:
            return x, y
    except (OSError, ValueError, KeyError, EOFError) as e:
        print(f"warning: cache {path}: unreadable ({type(e).__name__}); recomputing", file=sys.stderr)
        return None
    print(f"warning: cache {path}: unexpected contents; recomputing", file=sys.stderr)
    return None


def cache_write(path: Path, features: np.ndarray, labels: np.ndarray) -> None:
    """Atomic write (temp file + rename); a cache that cannot be written is only a warning."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, features=features, labels=labels)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        print(f"warning: cache {path.parent}: cannot write ({e.strerror or e}); continuing without", file=sys.stderr)


# --------------------------------------------------------------------------------------------- the SVM

def split(labels: np.ndarray, val: float, test: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (train, val, test) index arrays."""
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(labels))
    rest, te = train_test_split(idx, test_size=test, stratify=labels, random_state=seed)
    tr, va = train_test_split(rest, test_size=val / (1 - test), stratify=labels[rest], random_state=seed + 1)
    return np.sort(tr), np.sort(va), np.sort(te)


def _svm(C: float, seed: int):
    from sklearn.svm import LinearSVC
    return LinearSVC(C=C, loss="squared_hinge", penalty="l2", dual="auto", max_iter=MAX_ITER, random_state=seed)


def fit_probe(X: np.ndarray, y: np.ndarray, parts: tuple[np.ndarray, np.ndarray, np.ndarray],
              Cs=C_GRID, seed: int = 0, n_classes: int | None = None) -> dict:
    """Choose C on the validation split, refit on train + val, score on test.

    X (N, F) any float dtype; y (N,) int. Returns {"accuracy", "C", "val_accuracy" {C: acc},
    "train_accuracy", "per_class" [test recall per class], "confusion" [[true][pred]], "converged"}.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler
    tr, va, te = parts
    K = n_classes or int(y.max()) + 1
    X = X.astype(np.float32, copy=False)
    converged = True

    def fit(idx, C):
        nonlocal converged
        scaler = StandardScaler().fit(X[idx])
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always", ConvergenceWarning)
            clf = _svm(C, seed).fit(scaler.transform(X[idx]), y[idx])
        converged &= not any(issubclass(x.category, ConvergenceWarning) for x in w)
        return lambda rows: clf.predict(scaler.transform(X[rows]))

    val_acc = {}
    for C in Cs:
        val_acc[C] = float((fit(tr, C)(va) == y[va]).mean())
    best = max(Cs, key=lambda c: (val_acc[c], -c))
    trva = np.sort(np.concatenate([tr, va]))
    predict = fit(trva, best)
    pred = predict(te)
    conf = np.zeros((K, K), np.int64)
    np.add.at(conf, (y[te], pred), 1)
    per_class = [float(conf[k, k] / conf[k].sum()) if conf[k].sum() else None for k in range(K)]
    return {"accuracy": float((pred == y[te]).mean()), "C": best,
            "val_accuracy": {f"{c:g}": a for c, a in val_acc.items()},
            "train_accuracy": float((predict(trva) == y[trva]).mean()),
            "per_class": per_class, "confusion": conf.tolist(), "converged": bool(converged)}


# ---------------------------------------------------------------------------------------------- figure

def plot_probe(result: dict, stem: Path) -> list[Path]:
    """One-column figure from probe.json: test accuracy (all, per class) for trained vs random D, and
    validation accuracy against C (chosen C marked)."""
    classes = result["data"]["classes"]
    tr, rd = result["trained"], result["random"]
    fig, (a, b) = figures.figure("one", aspect=0.58, ncols=2, gridspec_kw={"width_ratios": [1.6, 1]})
    labels = ["all"] + classes
    x = np.arange(len(labels))
    w = 0.38
    vals_t, vals_r = ([r["accuracy"]] + [np.nan if r["per_class"][c] is None else r["per_class"][c] for c in classes]
                      for r in (tr, rd))
    a.bar(x - w / 2, vals_t, w, label="trained D", color="#1f5fbf")
    a.bar(x + w / 2, vals_r, w, label="random D", color="#bbbbbb")
    a.axhline(result["chance"]["majority"], color="black", lw=0.7, ls="--", label="majority class")
    a.set_xticks(x, labels, rotation=30 if max(map(len, labels)) > 4 else 0, ha="right" if max(map(len, labels)) > 4 else "center")
    a.set_ylim(0, 1)
    a.set_ylabel("test accuracy")
    for key, res, color in (("trained D", tr, "#1f5fbf"), ("random D", rd, "#888888")):
        cs = [float(c) for c in res["val_accuracy"]]
        b.plot(cs, list(res["val_accuracy"].values()), "o-", ms=2.5, lw=1, color=color, label=key)
        b.plot([res["C"]], [res["val_accuracy"][f"{res['C']:g}"]], "o", ms=5, mfc="none", color=color)
    b.set_xscale("log")
    b.set_xlabel("C")
    b.set_ylabel("val. accuracy")
    handles, names = a.get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=3, frameon=False, fontsize=6, bbox_to_anchor=(0.5, 1.02))
    fig.tight_layout(pad=0.3, w_pad=0.8, rect=(0, 0, 1, 0.9))
    return figures.save(fig, stem)


# ------------------------------------------------------------------------------------------------ main

def parser() -> cli.Parser:
    p = cli.Parser(PROG, "Linear L2-SVM probe on the discriminator's features, against a random-D baseline "
                         "(the paper's Table 1).", EXAMPLES)
    p.add_common(out_default="ganlens-out/probe")
    p.add_argument("--data", default=DEFAULT_DATA, metavar="PATH|rooms",
                   help=f"labelled images: rooms:n=N,seed=S (labels from the masks), a folder with one "
                        f"sub-folder per class, or an .npz with images and labels (default: {DEFAULT_DATA})")
    p.add_argument("--task", choices=tuple(TASKS), help="label for rooms data (default: has-window)")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--layers", default="all", help="D blocks to use: all, or e.g. block2,block3,last (default: all)")
    p.add_argument("--pool", type=int, default=POOL, help=f"max-pool each block to POOL x POOL (default: {POOL})")
    p.add_argument("--C", default=",".join(f"{c:g}" for c in C_GRID), metavar="LIST",
                   help=f"SVM C values to choose from on the validation split (default: {','.join(f'{c:g}' for c in C_GRID)})")
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation share (default: 0.2)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="test share (default: 0.2)")
    p.add_argument("--batch-size", type=int, default=256, help="images per feature batch (default: 256)")
    p.add_argument("--cache", metavar="DIR", help="feature cache folder (default: $GANLENS_CACHE or ~/.cache/ganlens)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    return p


def _parse_C(text: str) -> list[float]:
    try:
        cs = sorted({float(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise GanlensError(f"--C {text}: expected a comma list of positive numbers, e.g. 0.001,0.01,0.1")
    if not cs or not all(np.isfinite(c) and c > 0 for c in cs):
        raise GanlensError(f"--C {text}: expected a comma list of positive numbers, e.g. 0.001,0.01,0.1")
    return cs


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    t0 = time.perf_counter()
    Cs = _parse_C(args.C)
    for name, low in (("pool", 1), ("batch_size", 1)):
        if getattr(args, name) < low:
            raise GanlensError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(args, name)}")
    if args.limit is not None and args.limit < 1:
        raise GanlensError(f"--limit must be at least 1, got {args.limit}")
    if not (0 < args.val_fraction < 1 and 0 < args.test_fraction < 1 and args.val_fraction + args.test_fraction < 0.9):
        raise GanlensError(f"--val-fraction {args.val_fraction} and --test-fraction {args.test_fraction}: each must "
                           f"be in (0, 1) and together below 0.9")
    dev, model = cli.start(args)  # checks --out before the work, then device, seed, checkpoint
    D = model.require_D()
    cfg = model.config
    layers = resolve_layers(D, args.layers)
    data = open_images(args.data, cfg.image_size, cfg.nc)
    is_rooms = isinstance(data, RoomsSet)
    if args.task and not is_rooms:
        raise GanlensError(f"--task {args.task}: tasks label rooms data; --data {args.data} brings its own labels")
    task = (args.task or "has-window") if is_rooms else None
    if not is_rooms and data.labels is None:
        raise GanlensError(f"--data {args.data}: no labels; use a folder with one sub-folder per class or an .npz "
                           f"with a 'labels' array")
    n = len(data) if args.limit is None else min(args.limit, len(data))

    dims = feature_dim(D, layers, args.pool)
    dim = sum(dims.values())
    random_D = random_discriminator(cfg, args.seed).to(dev)
    dkey = data_key(data, task, n)
    common = {"v": CACHE_VERSION, "data": dkey, "layers": layers, "pool": args.pool}
    keys = {"trained": dict(common, net=f"sha256:{model.sha256}"),
            "random": dict(common, net=f"random:seed={args.seed},{json.dumps(cfg.to_dict(), sort_keys=True)}")}
    folder = cache_dir(args.cache)
    feats, labels = {}, None
    for k, key in keys.items():
        got = None if args.no_cache else cache_read(cache_path(folder, key), n, dim)
        if got is not None:
            feats[k], labels = got
    missing = {k: (net, layers) for k, net in (("trained", D), ("random", random_D)) if k not in feats}
    if missing:
        new, labels_new = extract(missing, data, task, n, dev, args.pool, args.batch_size)
        labels = labels_new
        for k, x in new.items():
            feats[k] = x
            if not args.no_cache:
                cache_write(cache_path(folder, keys[k]), x, labels)
    cached = sorted(set(keys) - set(missing))
    if cached:
        print(f"features of the {' and '.join(cached)} D from the cache in {folder}", file=sys.stderr)

    classes = class_names(task, data, labels)
    K = len(classes)
    counts = np.bincount(labels, minlength=K)
    if (counts > 0).sum() < 2:
        raise GanlensError(f"--data {args.data}: all {n} images have one label ({classes[int(labels[0])]}); "
                           f"a probe needs at least two classes")
    small = [classes[k] for k in range(K) if 0 < counts[k] < 5]
    if small:
        raise GanlensError(f"--data {args.data}: class {small[0]!r} has {counts[classes.index(small[0])]} image(s); "
                           f"the stratified train/val/test split needs at least 5 per class")
    parts = split(labels, args.val_fraction, args.test_fraction, args.seed)
    t_fit = time.perf_counter()
    res = {k: fit_probe(feats[k], labels, parts, Cs, args.seed, K) for k in ("trained", "random")}
    t_fit = time.perf_counter() - t_fit
    for r in res.values():
        r["per_class"] = dict(zip(classes, r["per_class"]))
    test_counts = np.bincount(labels[parts[2]], minlength=K)
    result = {
        "accuracy": res["trained"]["accuracy"], "C": res["trained"]["C"], "feature_dim": dim,
        "per_class": res["trained"]["per_class"], "random_accuracy": res["random"]["accuracy"],
        "trained": res["trained"], "random": res["random"],
        "chance": {"majority": float(test_counts.max() / test_counts.sum()), "uniform": 1 / K},
        "checkpoint": {"path": str(model.path), "sha256": model.sha256, "source": model.source,
                       "config": cfg.to_dict(), "trained_on": model.provenance.get("data")},
        "data": {"spec": data.spec, "images": n, "task": task, "labels": TASKS.get(task, "from --data"),
                 "classes": classes, "class_counts": counts.tolist()},
        "features": {"layers": layers, "pool": args.pool, "dim": dim, "per_layer_dim": dims, "dtype": "float16",
                     "definition": "each block's LeakyReLU output max-pooled to pool x pool, flattened, "
                                   "concatenated; standardised on the training split"},
        "svm": {"model": "sklearn LinearSVC, squared hinge, L2 penalty, one-vs-rest", "C_grid": Cs,
                "selection": "best validation accuracy (ties: smaller C); refit on train + val",
                "max_iter": MAX_ITER},
        "split": {"train": len(parts[0]), "val": len(parts[1]), "test": len(parts[2]), "seed": args.seed,
                  "stratified": True},
        "random_baseline": "same features from a D with the paper's N(0, 0.02) initialisation, torch seed = --seed",
        "provenance": checkpoints.provenance(args.seed, device=str(dev)),
    }
    with cli.staged_output(args.out) as stage:
        cli.write_json(stage / "probe.json", result)
        plot_probe(json.loads((stage / "probe.json").read_text()), stage / "probe")  # plot from what was saved
        written = sorted(p.name for p in stage.iterdir())
    print(f"probe: test accuracy {result['accuracy']:.3f} (C={result['C']:g}) with trained D vs "
          f"{result['random_accuracy']:.3f} with random D; majority class {result['chance']['majority']:.3f}; "
          f"{dim} features, {n} images ({task or data.spec}); SVMs {t_fit:.1f} s", file=sys.stderr)
    print(f"wrote {', '.join(written)} to {args.out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
