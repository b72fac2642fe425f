"""ganlens.probe: D features of any network, the SVM probe on known-answer data, rooms labels, the cache
(keyed by the network's state), the analysis on every test architecture (Python API and --model), and
the command end to end on tiny models."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
import torch

import ganlens
from ganlens import cli, probe
from ganlens.core.hooks import count_hooks, retain

from archs import ALL, mlp_gan

ARCHS = Path(__file__).parent / "archs.py"


def run(argv, capsys):
    code = cli.run(probe.main, argv, probe.PROG)
    return code, capsys.readouterr().err


def test_features_are_max_pooled_layers(tiny_pair):
    _, G, D = tiny_pair
    gan = ganlens.wrap(G, D, nz=16)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    layers = probe.resolve_layers(gan)
    names = [l.name for l in layers]
    assert names == ["block1", "block2", "block3"]
    f = probe.d_features(D, x, layers)
    dims = probe.feature_dim(layers)
    assert f.shape == (2, sum(dims.values())) == (2, (8 + 16 + 32) * 16)
    with torch.no_grad(), retain(D, names) as acts:
        D(x)
    assert torch.equal(f[:, -32 * 16:], acts["block3"].flatten(1))  # the 4x4 layer is kept as it is
    assert torch.equal(f[:, :8 * 16].reshape(2, 8, 4, 4)[:, :, 0, 0], acts["block1"][:, :, :4, :4].amax((2, 3)))
    assert probe.d_features(D, x, [gan.layer("D", "block2")]).shape == (2, 16 * 16)
    assert [l.name for l in probe.resolve_layers(gan, "last, block1")] == ["block1", "block3"]
    with pytest.raises(probe.GanlensError, match="--layers output"):
        probe.resolve_layers(gan, "output")


def test_linear_layers_are_features_as_they_are():
    gan = mlp_gan()   # D: Flatten, Linear 784->128 ("2" after its LeakyReLU), Linear 128->64 ("4"), logit
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    layers = probe.resolve_layers(gan)
    assert [l.name for l in layers] == ["2", "4"] and probe.feature_dim(layers) == {"2": 128, "4": 64}
    with torch.no_grad():
        h = gan.D[:5](x)
    assert torch.equal(probe.d_features(gan.D, x, layers)[:, 128:], h)


def test_net_fingerprint_follows_weights_and_architecture_not_layout():
    gan = ALL["paper"]()
    fp = probe.net_fingerprint(gan.D)
    same = copy.deepcopy(gan.D).to(memory_format=torch.channels_last)
    assert probe.net_fingerprint(same) == fp
    with torch.no_grad():
        same[0].weight[0, 0, 0, 0] += 1e-3
    assert probe.net_fingerprint(same) != fp
    other = copy.deepcopy(gan.D)
    other[1].negative_slope = 0.1     # same weights, another network
    assert probe.net_fingerprint(other) != fp


def _blobs(n=300, d=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.standard_normal((n, d)).astype(np.float32)
    X[:, 0] += np.where(y == 1, 6.0, -6.0)   # separable along one direction
    return X, y


def test_probe_separable_data_and_shuffled_labels():
    X, y = _blobs()
    parts = probe.split(y, 0.2, 0.2, 0)
    assert sum(map(len, parts)) == len(y) and len(np.intersect1d(parts[0], parts[2])) == 0
    r = probe.fit_probe(X, y, parts, seed=0)  # the full default C grid
    assert r.accuracy == 1.0 and r.per_class == [1.0, 1.0]
    assert r.C in probe.C_GRID and np.array(r.confusion).sum() == len(parts[2])
    y_shuffled = np.random.default_rng(1).permutation(y)
    r = probe.fit_probe(X, y_shuffled, probe.split(y_shuffled, 0.2, 0.2, 0), Cs=(1e-3, 1e-1), seed=0)
    assert 0.3 < r.accuracy < 0.7  # chance is 0.5 (60 test images: 3.9 standard deviations)


def test_rooms_labels():
    from ganlens.data.rooms import WINDOW, BED
    m = np.zeros((3, 64, 64), np.uint8)
    m[1, 5:15, 5:15] = WINDOW
    m[1, 5:15, 30:40] = WINDOW
    m[1, 50:52, 50:51] = WINDOW          # a 2-pixel sliver: a window for has-window, not counted
    m[2, 40:60, 10:50] = BED
    assert probe.rooms_labels(m, "has-window").tolist() == [0, 1, 0]
    assert probe.rooms_labels(m, "windows").tolist() == [0, 2, 0]


def test_features_beyond_float16_stay_float32():
    """A random copy of a spectral-norm D can reach 1e5 (its stored singular vectors no longer fit the new
    weights); float16 would make that inf and the SVM fail, so such features stay float32, exactly."""
    small, big = np.array([[1.5, -2.0]], np.float32), np.array([[1.5, 1.8e5]], np.float32)
    assert probe.compact(small).dtype == np.float16 and probe.compact(big).dtype == np.float32
    assert np.array_equal(probe.compact(big), big)


def test_cache_roundtrip_and_damage(tmp_path, capsys):
    p = probe.cache_path(tmp_path, {"a": 1})
    assert p != probe.cache_path(tmp_path, {"a": 2})
    x, y = np.ones((4, 3), np.float16), np.arange(4, dtype=np.int64)
    probe.cache_write(p, x, y)
    got = probe.cache_read(p, 4, 3)
    assert np.array_equal(got[0], x) and np.array_equal(got[1], y)
    assert probe.cache_read(p, 5, 3) is None                   # another shape: not these features
    p.write_bytes(b"garbage")
    assert probe.cache_read(p, 4, 3) is None and "recomputing" in capsys.readouterr().err
    assert [q.name for q in tmp_path.iterdir()] == [p.name]    # no temp file left by the atomic write


def _npz(path, n=40, labels=True, size=32, nc=3):
    """Two classes: dark and bright images (with noise), (N, H, W, C) uint8 ((N, H, W) for nc=1)."""
    y = np.arange(n) % 2
    images = np.where(y[:, None, None, None] == 1, 220, 30) * np.ones((1, size, size, nc), np.int16)
    images = (images + np.random.default_rng(0).integers(-20, 20, images.shape)).clip(0, 255).astype(np.uint8)
    arrays = {"images": images[..., 0] if nc == 1 else images}
    if labels:
        arrays["labels"] = y
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arch", sorted(ALL))
def test_probe_on_every_architecture(arch, tmp_path):
    gan = ALL[arch]()
    data = _npz(tmp_path / "d.npz", 50, size=gan.image_size, nc=gan.nc)
    r = ganlens.probe(gan, str(data), C=(0.01, 1.0))
    j = r.to_dict()
    hidden = [layer.name for layer in gan.layers("D").hidden]
    assert j["features"]["layers"] == hidden
    assert j["feature_dim"] == sum(c * min(4, h) * min(4, w) for c, h, w in (gan.layer("D", n).shape for n in hidden))
    assert j["accuracy"] >= 0.9 and j["split"] == {"train": 30, "val": 10, "test": 10, "seed": 0, "seeds": [0, 1, 2, 3, 4],
                                                   "count": 5, "stratified": True, "folds": 5, "repeats": 1,
                                                   "scheme": "repeated stratified K-fold"}
    assert len(j["trained"]["splits"]) == 5 and [d["seed"] for d in j["random"]["draws"]] == [0, 1, 2, 3, 4]
    assert j["checkpoint"]["path"] == "in-memory" and j["checkpoint"]["sha256"] is None
    assert j["provenance"]["feature_cache"] == {"folder": None, "read": []}
    assert isinstance(r.figure(), matplotlib.figure.Figure)
    r.save(tmp_path / "out")
    assert json.loads((tmp_path / "out/probe.json").read_text()) == j
    assert {p.name for p in (tmp_path / "out").iterdir() if p.name != ".ganlens-written.json"} == {"probe.json", "probe.pdf", "probe.png"}
    assert count_hooks(gan.D) == 0


def test_in_memory_model_is_cached_by_its_state(tmp_path):
    gan = mlp_gan()
    data = str(_npz(tmp_path / "d.npz", 30, size=28, nc=1))
    cache = tmp_path / "cache"
    first = ganlens.probe(gan, data, C=(0.1,), cache=cache)
    again = ganlens.probe(gan, data, C=(0.1,), cache=cache)
    nets = ["random-0", "random-1", "random-2", "random-3", "random-4", "trained"]
    assert first["provenance"]["feature_cache"]["read"] == [] and len(list(cache.iterdir())) == 6
    assert again["provenance"]["feature_cache"]["read"] == nets
    drop = ("provenance", "timing")
    assert {k: v for k, v in again.to_dict().items() if k not in drop} == \
        {k: v for k, v in first.to_dict().items() if k not in drop}
    with torch.no_grad():
        gan.D[1].weight[0, 0] += 0.5   # new weights: the trained D's features are computed again
    changed = ganlens.probe(gan, data, C=(0.1,), cache=cache)
    assert changed["provenance"]["feature_cache"]["read"] == nets[:-1]   # the random Ds are the same
    assert len(list(cache.iterdir())) == 7


@pytest.mark.parametrize("fn", ["paper_gan", "onebyone_gan"])
def test_cli_with_model(fn, tmp_path, capsys):
    gan = getattr(__import__("archs"), fn)()
    data = _npz(tmp_path / "d.npz", 30, size=gan.image_size, nc=gan.nc)
    out = tmp_path / "out"
    last = gan.layers("D").aliases["last"]
    code, err = run(["--model", f"{ARCHS}:{fn}", "--data", str(data), "--out", str(out), "--device", "cpu",
                     "--cache", str(tmp_path / "cache"), "--C", "0.1", "--layers", f"last,{last}"], capsys)
    assert code == 0, err
    r = json.loads((out / "probe.json").read_text())
    assert r["features"]["layers"] == [last] and r["checkpoint"]["source"] == f"--model {ARCHS}:{fn}"
    assert r["accuracy"] >= 0.9 and r["provenance"]["command"].startswith(probe.PROG)
    assert err.strip().split("\n")[-1].startswith("probe: test accuracy")
    assert cli.run(probe.main, ["--model", f"{ARCHS}:{fn}", "--layers", "list"], probe.PROG) == 0
    assert last in capsys.readouterr().out


def test_cli_end_to_end_npz_and_cache(tiny_checkpoint, tmp_path, capsys):
    data = _npz(tmp_path / "d.npz")
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["--checkpoint", str(tiny_checkpoint), "--data", str(data), "--out", str(out), "--device", "cpu",
            "--cache", str(cache), "--C", "0.01,1"]
    code, err = run(argv, capsys)
    assert code == 0, err
    assert {p.name for p in out.iterdir() if p.name != ".ganlens-written.json"} == {"probe.json", "probe.pdf", "probe.png"}
    r = json.loads((out / "probe.json").read_text())
    assert r["accuracy"] == 1.0 and r["feature_dim"] == (8 + 16 + 32) * 16
    assert set(r["per_class"]) == {"0", "1"} and r["C"] in (0.01, 1.0)
    assert {"accuracy", "random_accuracy", "trained", "random", "chance", "features", "split"} <= set(r)
    assert len(list(cache.glob("probe-features-*.npz"))) == 6
    code, err = run(argv, capsys)
    assert code == 0 and "from the cache" in err
    again = json.loads((out / "probe.json").read_text())
    drop = ("provenance", "timing")
    assert {k: v for k, v in again.items() if k not in drop} == {k: v for k, v in r.items() if k not in drop}
    # The Python call gives the same numbers.
    py = ganlens.probe(ganlens.load(tiny_checkpoint), str(data), C=(0.01, 1)).to_dict()
    assert {k: v for k, v in py.items() if k not in drop} == {k: v for k, v in r.items() if k not in drop}


def test_cli_rooms_task(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run(["--checkpoint", str(tiny_checkpoint), "--data", "rooms:n=50,seed=1", "--out", str(out),
                     "--device", "cpu", "--no-cache", "--C", "0.01", "--layers", "last"], capsys)
    assert code == 0, err
    r = json.loads((out / "probe.json").read_text())
    assert r["data"]["task"] == "has-window" and r["data"]["classes"] == ["no window", "window"]
    assert r["feature_dim"] == 32 * 16 and sum(r["data"]["class_counts"]) == 50


@pytest.mark.parametrize("extra, says", [
    (["--data", "NOLABELS"], "no labels"),
    (["--data", "NPZ", "--task", "windows"], "--task windows: tasks label rooms data"),
    (["--data", "NPZ", "--C", "0,x"], "--C 0,x: expected a comma list"),
    (["--data", "NPZ", "--layers", "block9"], "--layers block9"),
    (["--data", "NPZ", "--pool", "0"], "--pool must be at least 1, got 0"),
    (["--data", "NPZ", "--val-fraction", "0.5", "--test-fraction", "0.45"], "together below 0.9"),
    (["--data", "rooms:n=8,seed=1"], "needs at least 5 per class"),
    (["--data", "NPZ", "--splits", "0"], "--splits must be at least 1, got 0"),
    (["--data", "NPZ", "--random-draws", "0"], "--random-draws must be at least 1, got 0"),
])
def test_cli_errors_are_one_line_and_write_nothing(tiny_checkpoint, tmp_path, capsys, extra, says):
    npz, nolabels = _npz(tmp_path / "d.npz"), _npz(tmp_path / "n.npz", labels=False)
    extra = [str(npz) if a == "NPZ" else str(nolabels) if a == "NOLABELS" else a for a in extra]
    out = tmp_path / "out"
    try:
        code, err = run(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--device", "cpu", "--no-cache"]
                        + extra, capsys)
    except SystemExit as e:   # argparse's own range checks exit as the real process would
        code, err = e.code, capsys.readouterr().err
    last = err.rstrip("\n").split("\n")[-1]  # a progress bar may come first (the labels come with the images)
    assert code == 2 and says in last and last.startswith(probe.PROG) and "Traceback" not in err
    assert not out.exists()


def test_library_rejects_bad_settings():
    gan = ALL["paper"]()
    with pytest.raises(ganlens.GanlensError, match="--C -1: expected a comma list of positive numbers"):
        ganlens.probe(gan, "rooms:n=20", C=[-1])
    with pytest.raises(ganlens.GanlensError, match="--limit must be at least 1, got 0"):
        ganlens.probe(gan, "rooms:n=20", limit=0)


# ------------------------------------------------------------------- spread over splits, random draws

A, B = (3, 5), (20, 17)   # two pixels of a 28x28 image


def _pixel_pair(path, n=100, seed=0):
    """Noise images whose label is only in two pixels: label 1 -> A white, B black; label 0 -> the reverse."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    images[:, A[0], A[1]] = np.where(y == 1, 255, 0)
    images[:, B[0], B[1]] = np.where(y == 1, 0, 255)
    np.savez(path, images=images, labels=y)
    return path


def _planted_mlp():
    """The MLP of tests/archs.py whose hidden unit 0 reads pixel A minus pixel B: one feature that
    separates the labels of :func:`_pixel_pair` by a wide margin; a random D has no such unit."""
    gan = mlp_gan()
    with torch.no_grad():
        w = gan.D[1].weight
        w[0] = 0
        w[0, A[0] * 28 + A[1]], w[0, B[0] * 28 + B[1]] = 5.0, -5.0
        gan.D[1].bias[0] = 0
    return gan


def test_planted_unit_beats_every_random_draw_on_every_split(tmp_path):
    data = str(_pixel_pair(tmp_path / "pp.npz"))
    r = ganlens.probe(_planted_mlp(), data, C=(0.01, 1.0)).to_dict()
    assert r["split"]["count"] == 5 and len(r["trained"]["splits"]) == 5
    assert r["accuracy"] == r["trained"]["accuracy"] == r["accuracy_spread"]["mean"] == 1.0
    assert r["accuracy_spread"]["std"] == 0.0
    draws = r["random"]["draws"]
    assert [d["seed"] for d in draws] == r["random"]["seeds"] == [0, 1, 2, 3, 4]    # every draw reported
    assert all(len(d["splits"]) == 5 for d in draws)
    # a random D sees the two pixels among 782 noisy ones: 0.61 to 0.82 over the five draws (one draw alone
    # could make the trained D look 0.18 or 0.39 better)
    assert r["random_best"] == max(d["accuracy"] for d in draws) <= 0.9
    c = r["comparison"]
    assert r["trained_beats_random"] is c["trained_beats_random"] is True
    assert c["draws_beaten"] == 5 and c["splits_above_every_draw"] == 5
    assert all(p["splits_higher"] == 5 and p["mean_difference"] >= 0.1 for p in c["paired"])
    assert c["margin_over_best"] == r["accuracy"] - r["random_best"] >= 0.1


def test_a_random_trained_D_does_not_beat_random(tmp_path):
    """The "trained" D is random draw 0 itself: equal on every split, so not higher than the best draw."""
    gan = mlp_gan()
    same = ganlens.wrap(gan.G, gan.random_D(0), nz=gan.nz)
    r = ganlens.probe(same, str(_pixel_pair(tmp_path / "pp.npz")), C=(0.01, 1.0)).to_dict()
    c = r["comparison"]
    assert r["trained"]["splits"] == r["random"]["draws"][0]["splits"]
    assert r["trained_beats_random"] is False and c["margin_over_best"] <= 0
    assert {k: c["paired"][0][k] for k in ("seed", "mean_difference", "splits_higher", "splits_tied", "splits")} == \
        {"seed": 0, "mean_difference": 0.0, "splits_higher": 0, "splits_tied": 5, "splits": 5}
    assert c["paired"][0]["p_one_sided"] == 1.0 and c["above_every_draw_mean"] is False


def test_a_dead_D_is_below_every_random_draw(tmp_path):
    """All D weights zero: constant features, the SVM can only guess; random Ds see dark vs bright."""
    gan = mlp_gan()
    with torch.no_grad():
        for p in gan.D.parameters():
            p.zero_()
    r = ganlens.probe(gan, str(_npz(tmp_path / "d.npz", 50, size=28, nc=1)), C=(0.01, 1.0)).to_dict()
    assert r["accuracy"] <= 0.6 and all(d["accuracy"] >= 0.9 for d in r["random"]["draws"])
    assert r["trained_beats_random"] is False and r["comparison"]["draws_beaten"] == 0


def test_spread_and_first_split_compatibility(tmp_path):
    gan = mlp_gan()
    data = str(_npz(tmp_path / "d.npz", 50, size=28, nc=1))
    one = ganlens.probe(gan, data, C=(0.01, 1.0), splits=1, random_draws=1).to_dict()
    many = ganlens.probe(gan, data, C=(0.01, 1.0), splits=3, draws=2).to_dict()   # random_draws: its old name
    # accuracy is now the mean over the splits; the old single-split number is the first split's
    assert many["trained"]["splits"][0] == one["trained"]["splits"][0] and one["accuracy"] == one["trained"]["splits"][0]["accuracy"]
    assert many["random"]["draws"][0]["splits"][0] == one["random"]["draws"][0]["splits"][0]
    acc = [f["accuracy"] for f in many["trained"]["splits"]]
    sp = many["accuracy_spread"]
    assert {k: sp[k] for k in ("mean", "std", "min", "max", "n")} == \
        {"mean": np.mean(acc), "std": np.std(acc), "min": min(acc), "max": max(acc), "n": 3}
    n_train, n_test = many["split"]["train"] + many["split"]["val"], many["split"]["test"]
    assert sp["corrected_se"] == pytest.approx(np.sqrt(np.var(acc, ddof=1) * (1 / 3 + n_test / n_train)))
    assert many["split"]["seeds"] == [0, 1, 2] and many["random"]["seeds"] == [0, 1]
    assert probe.spread([0.5, 1.0]) == {"mean": 0.75, "std": 0.25, "min": 0.5, "max": 1.0, "n": 2}


def test_folds_are_stratified_and_each_image_is_tested_once_per_repeat():
    y = np.repeat([0, 1, 2], [40, 25, 35])
    parts = probe.kfold_splits(y, 0.2, 0.2, 10, seed=3)
    assert len(parts) == 10
    for rep in (parts[:5], parts[5:]):
        tests = np.concatenate([te for _, _, te in rep])
        assert sorted(tests.tolist()) == list(range(100))             # the folds of one repeat partition the data
    for tr, va, te in parts:
        assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te)) and len(tr) + len(va) + len(te) == 100
        assert np.bincount(y[te], minlength=3).tolist() == [8, 5, 7]   # stratified
        assert len(va) == 20


def _null_fold_accuracies(rng, n=100, d=6, nets=2, folds=5):
    """Accuracies (nets, folds) of a nearest-centroid classifier on K-fold splits of data where every "net"
    sees the same signal through its own noise: no net is better than another (the null)."""
    y = rng.integers(0, 2, n)
    signal = 0.5 * (2 * y - 1)[:, None] + rng.normal(size=(n, d))
    parts = probe.kfold_splits(y, 0.2, 0.2, folds, seed=int(rng.integers(1 << 30)))
    acc = np.zeros((nets, folds))
    for k in range(nets):
        x = signal + rng.normal(size=(n, d))
        for f, (tr, va, te) in enumerate(parts):
            fit = np.concatenate([tr, va])
            c0, c1 = x[fit][y[fit] == 0].mean(0), x[fit][y[fit] == 1].mean(0)
            pred = ((x[te] - c1) ** 2).sum(1) < ((x[te] - c0) ** 2).sum(1)
            acc[k, f] = (pred == y[te]).mean()
    return acc, (len(parts[0][0]) + len(parts[0][1]), len(parts[0][2]))


def test_trained_beats_random_rule_holds_its_level_under_the_null():
    # The "trained" D is one more draw from the same distribution as the random one: the rule may claim it
    # beats random at most about 5% of the time. The former rule (mean above the draw's mean) claims it half
    # the time, and a plain paired t-test over the folds, ignoring the overlap of their training sets, more
    # often than 5%.
    rng = np.random.default_rng(0)
    sims, claims, former, naive = 400, 0, 0, 0
    from scipy.stats import ttest_rel
    for _ in range(sims):
        acc, (n_train, n_test) = _null_fold_accuracies(rng)
        c = probe.compare_random(acc[0], {0: acc[1]}, n_train, n_test)
        claims += c.trained_beats_random
        former += c.above_every_draw_mean
        if np.any(acc[0] != acc[1]):
            r = ttest_rel(acc[0], acc[1], alternative="greater")
            naive += bool(r.pvalue < 0.05)
    bound = 0.05 + 3 * np.sqrt(0.05 * 0.95 / sims)
    assert claims / sims <= bound, claims / sims
    assert former / sims > 0.3
    assert naive / sims > claims / sims


def test_trained_beats_random_rule_passes_a_clearly_better_D():
    rng = np.random.default_rng(1)
    acc, (n_train, n_test) = _null_fold_accuracies(rng)
    better = np.clip(acc[1] + 0.15 + rng.normal(0, 0.01, acc.shape[1]), 0, 1)
    c = probe.compare_random(better, {0: acc[1]}, n_train, n_test)
    assert c.trained_beats_random is True and c.largest_p_one_sided < 0.01
