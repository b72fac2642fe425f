"""ganlens.forget: the hook helper's drops, box cells -> probe data, the probe on a known answer, the
command end to end (ganlens and foreign generators, with and without a detector) and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from foreign import tutorial_generator
from ganlens import boxes, checkpoints, cli, forget
from ganlens.hooks import ablate, count_hooks, retain

NZ = 16


# --- the hook helper -------------------------------------------------------------------------------------

def test_ablate_drops_exactly_the_chosen_channels_and_leaves_no_hook(make_pair):
    _, G, _ = make_pair(image_size=64, nz=NZ)
    z = torch.randn(3, NZ)
    with torch.no_grad(), retain(G, "second-highest") as plain:
        G(z)
    drop = [1, 3, 7]
    with torch.no_grad(), ablate(G, "second-highest", drop), retain(G, "second-highest") as acts:
        out = G(z)
    a, b = acts["block3"], plain["block3"]
    keep = [c for c in range(a.shape[1]) if c not in drop]
    assert (a[:, drop] == 0).all() and (b[:, drop] != 0).any()
    assert torch.equal(a[:, keep], b[:, keep])
    # The same thing by hand: zero those maps and run the rest of G.
    with torch.no_grad():
        h = G.block3(G.block2(G.block1(z[:, :, None, None])))
        h[:, drop] = 0
        want = G.output(G.block4(h))
    assert torch.equal(out, want)
    assert count_hooks(G) == 0
    # generate() goes through the same helper, batched, and leaves no hook either.
    got = forget.generate(G, "block3", z, drop, batch=2)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert torch.equal(forget.generate(G, "block3", z), G(z).detach())
    start = forget.layer_input(G, "block3", z)
    assert start.shape == (3, 32, 8, 8)
    torch.testing.assert_close(forget.generate(G, "block3", drop=drop, start=start), want, rtol=0, atol=1e-6)
    fill = torch.arange(16, dtype=torch.float32)
    with torch.no_grad(), ablate(G, "block3", drop, fill[drop]), retain(G, "block3") as acts:
        want_fill = G(z)
    assert all((acts["block3"][:, c] == c).all() for c in drop)
    torch.testing.assert_close(forget.generate(G, "block3", z, drop, fill), want_fill, rtol=0, atol=1e-6)
    assert torch.equal(forget.generate(G, "block1", z), G(z).detach())   # from z itself
    assert count_hooks(G) == 0


def test_ablate_removes_its_hook_after_an_error(make_pair):
    _, G, _ = make_pair(image_size=64, nz=NZ)
    with pytest.raises(RuntimeError):
        with ablate(G, "block3", [0]):
            raise RuntimeError("boom")
    assert count_hooks(G) == 0


# --- probe data and the probe ----------------------------------------------------------------------------

def test_probe_data_takes_cells_under_the_boxes():
    acts = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    d = {"format": boxes.FORMAT, "label": "x", "image_size": [64, 64], "latent": {"dim": 4, "distribution": "normal"},
         "samples": [{"seed": 0, "boxes": [[16, 0, 48, 16]]}, {"seed": 1, "boxes": []}]}
    bf = boxes.parse(d)
    got = forget.probe_data(acts, bf, 64, negatives=5, rng=np.random.default_rng(0))
    pos = got["cells"][got["y"] == 1]
    assert sorted(map(tuple, pos)) == [(0, 1), (0, 2)]
    assert (got["groups"][got["y"] == 1] == 0).all()
    assert (got["y"] == 0).sum() == 10 and (got["groups"] == 1).sum() == 5
    for x, (r, c), g in zip(got["X"], got["cells"], got["groups"]):
        np.testing.assert_array_equal(x, acts[g, :, r, c].numpy())
    neg0 = got["cells"][(got["y"] == 0) & (got["groups"] == 0)]
    assert not any(r == 0 and c in (1, 2) for r, c in neg0)
    assert got["n_ambiguous"] == 0


def test_probe_finds_the_planted_maps():
    """Map 2 is high on the object, map 4 low; the others are noise of very different scales."""
    rng = np.random.default_rng(0)
    n = 1000
    y = (rng.random(n) < 0.3).astype(int)
    X = rng.normal(size=(n, 8)) * np.array([1, 100, 1, 0.01, 1, 5, 1, 1])
    X[:, 2] += 2.0 * y
    X[:, 4] -= 2.0 * y
    groups = np.arange(n) // 10
    probe = forget.fit_probe(X, y, groups, C=1.0, folds=5, seed=0)
    w = probe["weights"]
    assert np.argmax(w) == 2 and np.argmin(w) == 4
    assert w[2] > 1 and w[4] < -1 and np.abs(np.delete(w, [2, 4])).max() < 0.25 * min(w[2], -w[4])
    assert probe["cv"]["folds"] == 5 and probe["cv"]["auc_mean"] > 0.95
    assert forget.select_maps(w, top_k=1) == [2]
    sel = forget.select_maps(w)
    assert sel[0] == 2 and 4 not in sel and all(w[i] > 0 for i in sel)
    assert forget.select_maps(w, top_k=8)[-1] == 4


def test_probe_without_enough_images_for_cv():
    X = np.array([[1.0, 0], [0, 1], [1, 0], [0, 1]])
    y = np.array([1, 0, 1, 0])
    probe = forget.fit_probe(X, y, np.zeros(4, int), folds=5)
    assert probe["cv"] is None and probe["weights"][0] > 0 > probe["weights"][1]


def test_dose_levels():
    assert forget.dose_levels(64, 30) == [0, 8, 15, 30, 45]
    assert forget.dose_levels(64, 60) == [0, 15, 30, 60]
    assert forget.dose_levels(8, 1) == [0, 1, 2]
    assert forget.dose_levels(8, 8) == [0, 2, 4, 8]


# --- the command -----------------------------------------------------------------------------------------

def _box_file(path, label="window", n=12, size=64, nz=NZ, sha=None, **changes):
    rng = np.random.default_rng(1)
    samples = []
    for s in range(n):
        bs = []
        if s % 2 == 0:
            x0, y0 = (int(v) for v in rng.integers(0, size - 20, 2))
            bs = [[x0, y0, x0 + 16, y0 + 12]]
        samples.append({"seed": s, "boxes": bs})
    d = {"format": boxes.FORMAT, "label": label, "image_size": [size, size],
         "latent": {"dim": nz, "distribution": "normal"}, "samples": samples}
    if sha:
        d["checkpoint_sha256"] = sha
    d.update(changes)
    path.write_text(json.dumps(d))
    return path


FAST = ["--n-eval", "24", "--dose-n", "12", "--n", "4", "--control-draws", "2", "--folds", "3",
        "--negatives-per-image", "8"]


@pytest.fixture
def tiny64(tmp_path, make_pair):
    config, G, D = make_pair(image_size=64, nz=NZ)
    return checkpoints.save(tmp_path / "tiny64.pt", config, G, D)


def run(argv):
    return cli.run(forget.main, [str(a) for a in argv], forget.PROG)


def test_cli_end_to_end_with_detector(tmp_path, tiny64, capsys):
    bf = _box_file(tmp_path / "w.json")
    out = tmp_path / "out"
    assert run(["--boxes", bf, "--checkpoint", tiny64, "--out", out, "--device", "cpu"] + FAST) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"forget.json", "forget.npz", "forget.pdf", "forget.png", "dose.pdf", "dose.png",
                     "annotations.pdf", "annotations.png"}
    r = json.loads((out / "forget.json").read_text())
    assert r["n_dropped"] == len(r["dropped_maps"]) >= 1
    w = np.array(r["probe"]["weights"])
    assert len(w) == 16 and sorted(r["dropped_maps"]) == sorted(np.flatnonzero(w > 0).tolist())
    rem = r["removal"]
    for key in ("before", "after", "control_after"):
        assert 0 <= rem[key] <= 1
    assert rem["n_latents"] == 24 and len(rem["control_after_draws"]) == 2
    assert all(len(c) == r["n_dropped"] for c in r["control"]["maps"])
    assert r["dose"]["levels"] == forget.dose_levels(16, r["n_dropped"])
    assert r["dose"]["weight_order"][0] == rem["before"] or r["dose"]["n_latents"] < 24
    assert r["probe"]["cv"]["folds"] == 3 and r["probe"]["n_positive"] > 0
    assert r["settings"]["layer"] == "block3" and r["layer_shape"] == {"channels": 16, "side": 16, "cell_pixels": 4}
    # The figure's top row is G on the fresh latents, the bottom row the same latents with the maps dropped.
    arrays = np.load(out / "forget.npz")
    m = checkpoints.load(tiny64)
    z = m.latents([forget.FRESH_SEED + i for i in range(4)])
    with torch.no_grad():
        np.testing.assert_allclose(arrays["before"], m.G(z).numpy(), atol=1e-5)
        with retain(m.G, "block3") as acts:
            m.G(m.latents(range(12)))                  # the box file's samples: the fill values' source
        means = acts["block3"].mean((0, 2, 3))
        with ablate(m.G, "block3", r["dropped_maps"], means[r["dropped_maps"]]):
            np.testing.assert_allclose(arrays["after"], m.G(z).numpy(), atol=1e-5)
        assert r["settings"]["fill"] == "mean"
    assert "rate" in capsys.readouterr().err


def test_cli_foreign_generator_other_label_has_no_detector_part(tmp_path, capsys):
    G = tutorial_generator(nz=NZ, ngf=8, nc=3, image_size=64)
    ckpt = tmp_path / "netG.pth"
    torch.save(G.state_dict(), ckpt)
    bf = _box_file(tmp_path / "glasses.json", label="glasses")
    out = tmp_path / "out"
    assert run(["--boxes", bf, "--checkpoint", ckpt, "--out", out, "--top-k", "3"] + FAST) == 0
    r = json.loads((out / "forget.json").read_text())
    assert "removal" not in r and r["detector"]["available"] is False
    assert r["label"] == "glasses" and r["n_dropped"] == 3 and r["selection"] == "top-k by weight"
    assert r["dose"]["metric"] == "localisation"
    assert r["localisation"]["selected"]["inside"] > 0
    assert (out / "forget.png").exists() and (out / "annotations.png").exists()


def test_sha_mismatch_warns_and_runs(tmp_path, tiny64, capsys):
    bf = _box_file(tmp_path / "w.json", size=64, sha="0" * 64)
    out = tmp_path / "out"
    assert run(["--boxes", bf, "--checkpoint", tiny64, "--out", out, "--layer", "block2"] + FAST) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "checkpoint_sha256" in err
    r = json.loads((out / "forget.json").read_text())
    assert r["boxes_file"]["checkpoint_sha256_matches"] is False and r["warnings"]
    assert r["layer_shape"]["side"] == 8


def _bad(tmp_path, tiny64, capsys, argv, needles):
    out = tmp_path / "out"
    code = run(["--checkpoint", tiny64, "--out", out] + FAST + argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"{forget.PROG}: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no staging folder left
    return err


@pytest.mark.parametrize("changes, needles", [
    ({"size": 32}, ["1 problem in box file", "image_size 32x32 does not match the generator's 64x64"]),
    ({"latent": {"dim": 100, "distribution": "normal"}}, ["latent.dim 100 does not match the generator's nz 16"]),
    ({"format": "boxes"}, ["format: expected 'ganlens.boxes/1'"]),
    ({"samples": [{"seed": 0, "boxes": []}]}, ["no box at all in 1 samples"]),
    ({"samples": [{"seed": 0, "boxes": [[0, 0, 70, 10]]}, {"seed": 1, "boxes": [[5, 5, 5, 9]]},
                  {"seed": 2, "boxes": [[-2, 0, 4, 4]]}, {"seed": 3, "boxes": [[0, 0, 4.5, 4]]}]},
     ["4 problems in box file", "samples[0].boxes[0]: box [0, 0, 70, 10] is out of range",
      "samples[1].boxes[0]: empty box", "samples[2].boxes[0]: box [-2, 0, 4, 4] is out of range",
      "samples[3].boxes[0]: coordinates must be integer pixels"]),
])
def test_bad_box_files(tmp_path, tiny64, capsys, changes, needles):
    bf = _box_file(tmp_path / "b.json", **changes)
    err = _bad(tmp_path, tiny64, capsys, ["--boxes", bf], needles + [str(bf)])
    lines = err.strip().splitlines()
    n = int(needles[0].split()[0]) if needles[0][0].isdigit() else 1
    assert len(lines) == n + 1 and all(str(bf) in line for line in lines)  # a head line, then one per problem


def test_bad_json_and_missing_box_file(tmp_path, tiny64, capsys):
    bad = tmp_path / "b.json"
    bad.write_text('{"format": "ganlens.boxes/1",')
    _bad(tmp_path, tiny64, capsys, ["--boxes", bad], [str(bad), "bad JSON"])
    _bad(tmp_path, tiny64, capsys, ["--boxes", tmp_path / "none.json"], ["none.json: no such box file"])


@pytest.mark.parametrize("argv, needles", [
    (["--layer", "block9"], ["--layer block9", "valid layers"]),
    (["--layer", "output"], ["--layer output", "no feature maps"]),
    (["--top-k", "17"], ["--top-k 17", "only 16 maps"]),
    (["--top-k", "0"], ["--top-k must be at least 1"]),
    (["--C", "0"], ["--C must be a positive number"]),
    (["--negatives-per-image", "0"], ["--negatives-per-image must be at least 1"]),
    (["--dose-n", "100"], ["--dose-n 100 is more than --n-eval 24"]),
    (["--folds", "1"], ["--folds must be at least 2"]),
    (["--device", "tpu"], ["--device 'tpu'", "not a device"]),
])
def test_bad_flags(tmp_path, tiny64, capsys, argv, needles):
    bf = _box_file(tmp_path / "b.json")
    _bad(tmp_path, tiny64, capsys, ["--boxes", bf] + argv, needles)


def test_bad_checkpoint(tmp_path, tiny64, capsys):
    bf = _box_file(tmp_path / "b.json")
    out = tmp_path / "out"
    assert run(["--boxes", bf, "--checkpoint", tmp_path / "nope.pt", "--out", out]) == 2
    assert "nope.pt: no such file" in capsys.readouterr().err and not out.exists()
