"""ganlens.probe: D features, the SVM probe on known-answer data, rooms labels, the cache, and the
command end to end on tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganlens import cli, probe


def run(argv, capsys):
    code = cli.run(probe.main, argv, probe.PROG)
    return code, capsys.readouterr().err


def test_features_are_max_pooled_blocks(tiny_pair):
    _, _, D = tiny_pair
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    f = probe.d_features(D, x)
    dims = probe.feature_dim(D, D.hidden_blocks)
    assert f.shape == (2, sum(dims.values())) == (2, (8 + 16 + 32) * 16)
    acts = D.features(x)
    assert torch.equal(f[:, -32 * 16:], acts[-1].flatten(1))  # the 4x4 block is kept as it is
    assert torch.equal(f[:, :8 * 16].reshape(2, 8, 4, 4)[:, :, 0, 0], acts[0][:, :, :4, :4].amax((2, 3)))
    assert probe.d_features(D, x, ["block2"]).shape == (2, 16 * 16)
    assert probe.resolve_layers(D, "last, block1") == ["block1", "block3"]
    with pytest.raises(probe.GanlensError, match="--layers output"):
        probe.resolve_layers(D, "output")


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
    assert r["accuracy"] == 1.0 and r["per_class"] == [1.0, 1.0]
    assert r["C"] in probe.C_GRID and np.array(r["confusion"]).sum() == len(parts[2])
    y_shuffled = np.random.default_rng(1).permutation(y)
    r = probe.fit_probe(X, y_shuffled, probe.split(y_shuffled, 0.2, 0.2, 0), Cs=(1e-3, 1e-1), seed=0)
    assert 0.3 < r["accuracy"] < 0.7  # chance is 0.5 (60 test images: 3.9 standard deviations)


def test_rooms_labels():
    from ganlens.rooms import WINDOW, BED
    m = np.zeros((3, 64, 64), np.uint8)
    m[1, 5:15, 5:15] = WINDOW
    m[1, 5:15, 30:40] = WINDOW
    m[1, 50:52, 50:51] = WINDOW          # a 2-pixel sliver: a window for has-window, not counted
    m[2, 40:60, 10:50] = BED
    assert probe.rooms_labels(m, "has-window").tolist() == [0, 1, 0]
    assert probe.rooms_labels(m, "windows").tolist() == [0, 2, 0]


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


def _npz(path, n=40, labels=True):
    y = np.arange(n) % 2
    images = np.where(y[:, None, None, None] == 1, 220, 30).astype(np.uint8) * np.ones((1, 32, 32, 3), np.uint8)
    images = (images.astype(np.int16) + np.random.default_rng(0).integers(-20, 20, images.shape)).clip(0, 255)
    arrays = {"images": images.astype(np.uint8)}
    if labels:
        arrays["labels"] = y
    np.savez(path, **arrays)
    return path


def test_cli_end_to_end_npz_and_cache(tiny_checkpoint, tmp_path, capsys):
    data = _npz(tmp_path / "d.npz")
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["--checkpoint", str(tiny_checkpoint), "--data", str(data), "--out", str(out), "--device", "cpu",
            "--cache", str(cache), "--C", "0.01,1"]
    code, err = run(argv, capsys)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"probe.json", "probe.pdf", "probe.png"}
    r = json.loads((out / "probe.json").read_text())
    assert r["accuracy"] == 1.0 and r["feature_dim"] == (8 + 16 + 32) * 16
    assert set(r["per_class"]) == {"0", "1"} and r["C"] in (0.01, 1.0)
    assert {"accuracy", "random_accuracy", "trained", "random", "chance", "features", "split"} <= set(r)
    assert len(list(cache.glob("probe-features-*.npz"))) == 2
    code, err = run(argv, capsys)
    assert code == 0 and "from the cache" in err
    again = json.loads((out / "probe.json").read_text())
    assert {k: v for k, v in again.items() if k != "provenance"} == {k: v for k, v in r.items() if k != "provenance"}


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
    (["--data", "rooms:n=8,seed=1"], "needs at least 5 per class"),
])
def test_cli_errors_are_one_line_and_write_nothing(tiny_checkpoint, tmp_path, capsys, extra, says):
    npz, nolabels = _npz(tmp_path / "d.npz"), _npz(tmp_path / "n.npz", labels=False)
    extra = [str(npz) if a == "NPZ" else str(nolabels) if a == "NOLABELS" else a for a in extra]
    out = tmp_path / "out"
    code, err = run(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--device", "cpu", "--no-cache"]
                    + extra, capsys)
    last = err.rstrip("\n").split("\n")[-1]  # a progress bar may come first (the labels come with the images)
    assert code == 2 and says in last and last.startswith(probe.PROG) and "Traceback" not in err
    assert not out.exists()
