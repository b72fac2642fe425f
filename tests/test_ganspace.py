"""GANSpace (ganlens.analyses.ganspace): a planted dominant direction is recovered, an isotropic layer gives no
verdict, the rule's false-positive rate under its null is measured by simulation, the figures' text does not
overlap, and bad input gives one line."""

from __future__ import annotations

import json
import math

import matplotlib.text
import numpy as np
import pytest
import torch
from torch import nn

import ganlens
from ganlens import cli, stats
from ganlens.analyses.ganspace import (FIRST, centred_edits, decide, decompose, measure, null_rate, random_frames,
                                       resolve_layer)
from ganlens.analyses.ganspace.paper import FIGURE
from ganlens.core.errors import GanlensError
from ganlens.ganspace import ganspace
from archs import mlp_gan

NZ = 16
SMALL = dict(n=120, components=2, draws=3, samples=8, show=1, batch_size=64)


def planted_gan(gain: float, nz: int = NZ, seed: int = 0):
    """z -> Linear (+ Unflatten) to 8x4x4 -> two transposed convolutions -> 3x16x16. The Linear's weight is
    small noise plus ``gain`` * a v^T: the latent direction v drives one activation direction a."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    lin = nn.Linear(nz, 128)
    v = torch.randn(nz, generator=g)
    v /= v.norm()
    a = torch.randn(128, generator=g)
    a /= a.norm()
    with torch.no_grad():
        lin.weight.copy_(0.1 * torch.randn(128, nz, generator=g) + gain * a[:, None] * v[None, :])
        lin.bias.zero_()
    G = nn.Sequential(lin, nn.Unflatten(1, (8, 4, 4)), nn.ConvTranspose2d(8, 8, 4, 2, 1), nn.ReLU(),
                      nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh())
    return ganlens.wrap(G, nz=nz, name=f"planted{gain:g}"), v.double().numpy()


def isotropic_gan(nz: int = NZ, seed: int = 0):
    """The first layer is an orthogonal map (its activations are isotropic): no direction is special there."""
    torch.manual_seed(seed)
    lin = nn.Linear(nz, nz, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.linalg.qr(torch.randn(nz, nz))[0])
    G = nn.Sequential(lin, nn.Linear(nz, 128), nn.Unflatten(1, (8, 4, 4)), nn.ConvTranspose2d(8, 8, 4, 2, 1),
                      nn.ReLU(), nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh())
    return ganlens.wrap(G, nz=nz, name="isotropic")


# ------------------------------------------------------------------------------------------- the method

def test_a_planted_dominant_direction_is_the_first_component():
    gan, v = planted_gan(gain=6.0)
    layer = resolve_layer(gan, FIRST)
    assert layer.shape == (8, 4, 4)
    basis = decompose(gan, layer, gan.latents(range(300)), components=3, seed=0, batch_size=128)
    assert abs(float(basis.lat_comp[0] @ v)) > 0.9             # the regressed latent direction is v
    assert basis.var_ratio[0] > 0.5 and basis.fit_corr[0] > 0.9
    assert np.allclose(np.linalg.norm(basis.lat_comp, axis=1), 1.0)
    r = ganspace(gan, **dict(SMALL, draws=5, samples=10))
    assert r["rule"]["fires"] and r["summary"]["change_ratio"] > 1     # and it changes images most


def test_an_isotropic_layer_gives_no_verdict():
    r = ganspace(isotropic_gan(), n=300, components=3, draws=20, samples=16, show=1)
    assert not r["rule"]["fires"]
    assert r["rule"]["false_positive_bound"] == pytest.approx(1 / 21, abs=1e-6)
    ratios = r["explained_variance"]["ratio"]
    assert max(ratios) < 2.5 / NZ                                    # no component stands out


def test_centred_edits_set_the_coordinate_along_the_direction():
    rng = np.random.default_rng(0)
    z, mean = rng.standard_normal((4, NZ)), rng.standard_normal(NZ) * 0.1
    dirs = random_frames(NZ, 3, 1, seed=5)[0]
    assert np.allclose(dirs @ dirs.T, np.eye(3))
    offsets = np.array([-3.0, 0.0, 3.0])
    lat = centred_edits(z, dirs, mean, offsets)                      # (4, 3, 3, nz)
    coord = np.einsum("lmsz,mz->lms", lat - mean, dirs)
    assert np.allclose(coord, offsets[None, None, :])
    rest = lat - np.einsum("lms,mz->lmsz", coord, dirs)              # the rest of the latent is kept
    kept = z[:, None, :] - np.einsum("lm,mz->lmz", (z - mean) @ dirs.T, dirs)
    assert np.allclose(rest, kept[:, :, None, :])


def test_the_rule_on_numbers():
    rng = np.random.default_rng(0)
    random = rng.uniform(1, 2, (5, 12))
    assert decide(random.mean(0) + 1, random).fires
    same = decide(random[0], random)
    assert not same.fires and same.p_value == 1.0
    assert not decide(random.mean(0) - 1, random).fires
    assert not decide(np.full(4, 9.0), rng.uniform(1, 2, (3, 4))).fires    # 4 latents: the rule cannot fire


def test_false_positive_rate_of_the_rule_under_its_null(make_pair):
    """Random orthonormal frames of a tiny DCGAN, each in turn playing the principal set against 20 others."""
    _, G, _ = make_pair(nz=NZ)
    gan = ganlens.wrap(G, nz=NZ)
    z = gan.latents(range(10)).double().numpy()
    frames = random_frames(NZ, 2, 48, seed=3)
    pool = np.stack([measure(gan, z, f, np.zeros(NZ), 3.0, None, 512).change.mean(axis=1) for f in frames])
    fired, trials = null_rate(pool, draws=20, trials=300, seed=1)
    ci = stats.clopper_pearson(fired, trials)
    assert fired / trials <= 0.06 and ci.low < 0.05, (fired, trials)
    assert fired / trials <= 1 / 21 + 0.02                           # within Monte Carlo error of its bound


# ------------------------------------------------------------------------------------- models and JSON

def test_grey_28x28_model_says_objects_could_not_be_measured():
    r = ganspace(mlp_gan(), **SMALL)
    d = r.to_dict()
    assert d["objects"]["measured"] is False and "could not be measured" in d["objects"]["reason"]
    assert d["settings"]["layer"] == mlp_gan().layers("G").hidden[0].name
    assert len(d["components"]) == 2 and len(d["rule"]["draws"]) == 3
    assert r.arrays["frames"].shape == (2, 1, 7, 1, 28, 28)
    assert set(r.plots) == {"ganspace"}
    s = d["explained_variance"]
    assert s["cumulative"][-1] == pytest.approx(sum(s["ratio"]), abs=1e-5) and 0 < s["cumulative"][-1] <= 1


def _overlaps(fig) -> list[tuple[str, str]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


def test_rooms_sized_model_measures_objects_and_no_figure_text_overlaps(make_pair):
    _, G, _ = make_pair(image_size=64, nz=NZ)
    r = ganspace(ganlens.wrap(G, nz=NZ, name="rooms-sized"), n=100, components=3, draws=2, samples=6, show=2)
    o = r["objects"]
    assert o["measured"] and len(o["components"]) == 3 and o["random"]["directions"] == 6
    assert all(c["top_class"] in o["classes"] for c in o["components"])
    for name in ("ganspace", "objects"):
        fig = r.figure(name)
        assert _overlaps(fig) == [], name
    for stem, caption in FIGURE.captions.items():
        text = caption(r.to_dict())
        assert "GANSpace" in text and "_" not in text.replace("\\_", ""), stem


def test_figure_text_does_not_overlap_on_a_grey_model_with_many_columns():
    r = ganspace(mlp_gan(), **dict(SMALL, components=4, show=4))
    assert _overlaps(r.figure()) == []


# ------------------------------------------------------------------------------------- command and API

def test_command_end_to_end_and_python_api(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "gs"
    argv = ["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--device", "cpu", "--n", "80",
            "--components", "2", "--draws", "2", "--samples", "6", "--show", "1", "--layer", "block2"]
    assert cli.run(ganlens.ganspace.main, argv, "python -m ganlens.ganspace") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ganspace: layer block2") and "rule" in err[0]
    data = json.loads((out / "ganspace.json").read_text())
    assert data["settings"]["layer"] == "block2" and data["provenance"]["command"].startswith("python -m")
    assert {p.name for p in out.iterdir()} >= {"ganspace.json", "ganspace.npz", "ganspace.pdf", "ganspace.png"}
    gan = ganlens.load(tiny_checkpoint)
    r = ganlens.ganspace(gan, layer="second-highest", n=40, components=1, draws=1, samples=2)
    assert r["settings"]["layer"] == gan.layer("G", "second-highest").name and math.isfinite(r["change"]["ratio"])


def test_layer_list_prints_the_table(tiny_checkpoint, capsys):
    argv = ["--checkpoint", str(tiny_checkpoint), "--layer", "list", "--device", "cpu"]
    assert cli.run(ganlens.ganspace.main, argv, "python -m ganlens.ganspace") == 0
    assert "block1" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs,phrase", [
    (dict(n=2), "n must be at least 3"),
    (dict(n=10, components=12), "at most 9 components"),
    (dict(layer="nope"), "unknown generator layer 'nope'"),
    (dict(samples=2, show=3), "show=3 is more than samples=2"),
    (dict(sigma=0), "sigma must be a positive number"),
    (dict(draws=0), "draws must be at least 1"),
    (dict(layer=3), "layer must be a layer name"),
])
def test_bad_arguments_give_one_line(kwargs, phrase):
    with pytest.raises(GanlensError) as e:
        ganlens.ganspace(mlp_gan(), **dict(dict(n=20, components=1, draws=1, samples=2), **kwargs))
    assert phrase in str(e.value) and "\n" not in str(e.value)


def test_bad_flags_and_bad_gan_give_one_line(tiny_checkpoint, tmp_path, capsys):
    base = ["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "o"), "--device", "cpu"]
    for extra, phrase in ((["--layer", "block9"], "--layer block9"), (["--sigma", "0"], "--sigma must be above 0"),
                          (["--n", "5", "--components", "8"], "components=8")):
        try:
            code = cli.run(ganlens.ganspace.main, base + extra, "python -m ganlens.ganspace")
        except SystemExit as e:
            code = e.code
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert code == 2 and len(err) == 1 and phrase in err[0], (extra, err)
    assert not (tmp_path / "o").exists()
    with pytest.raises(GanlensError, match="gan must be a ganlens.GAN"):
        ganlens.ganspace("rooms64.pt")
