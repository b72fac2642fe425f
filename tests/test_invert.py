"""ganlens.invert: inversion, the membership test and mode dropping on planted cases with known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import ganlens
from ganlens import cli
from ganlens.analyses.invert import membership as st
from ganlens.analyses.invert import reconstruct as core
from ganlens.core.errors import GanlensError

from archs import mlp_gan, paper_gan, sn_gan  # noqa: E402 (tests/ is on sys.path)

NZ = 16
SIZE = 16


def scenes(n: int, seed: int, red: bool = True) -> torch.Tensor:
    """Images of one distribution: a grey background with a coloured square (red in about half of them when
    ``red``, otherwise green or blue), uint8 (n, 3, SIZE, SIZE)."""
    g = np.random.default_rng(seed)
    x = np.full((n, 3, SIZE, SIZE), 0, np.uint8)
    x[:] = g.integers(60, 140, (n, 1, 1, 1)).astype(np.uint8)
    for i in range(n):
        y0, x0 = g.integers(0, SIZE - 6, 2)
        colour = [(230, 20, 20), (20, 200, 40), (30, 40, 220)][g.integers(0 if red else 1, 3)]
        x[i, :, y0:y0 + 6, x0:x0 + 6] = np.array(colour, np.uint8)[:, None, None]
    return torch.from_numpy(x)


class TemplateG(nn.Module):
    """A generator that memorized ``templates``: G(z) = softmax(beta W z) . templates, so each template is
    (up to exp(-beta) rounding) an image G draws."""

    def __init__(self, templates: torch.Tensor, beta: float = 8.0, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.W = nn.Linear(NZ, len(templates), bias=False)
        self.beta = beta
        self.register_buffer("templates", templates.float().div(127.5).sub(1).flatten(1))
        self.shape = templates.shape[1:]

    def forward(self, z):
        w = torch.softmax(self.beta * self.W(z), dim=1)
        return (w @ self.templates).reshape(len(z), *self.shape)


def template_gan(train: torch.Tensor) -> ganlens.GAN:
    return ganlens.wrap(TemplateG(train), nz=NZ, name="memorizer")


def colour_segment(x: torch.Tensor) -> np.ndarray:
    """Class 1 'red' where R is high and G low, class 2 'square' for other saturated pixels, 0 'background'."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    red = (r > 0.5) & (g < -0.5)
    sat = (x.max(1).values - x.min(1).values) > 0.8
    return (red * 1 + (sat & ~red) * 2).numpy().astype(np.int64)


def colour_segmenter():
    """For --segmenter tests/test_invert.py:colour_segmenter."""
    return colour_segment, ["background", "red", "square"]


def brightness():
    """For --perceptual tests/test_invert.py:brightness: mean brightness per 4x4 block."""
    return nn.AvgPool2d(4)


FAST = {"draws": 300}  # default optimisation settings: fast on these 16x16 generators


# --- inversion --------------------------------------------------------------------------------------------

def test_inverts_its_own_samples_closer_than_other_images():
    train = scenes(16, 0)
    gan = template_gan(train)
    own = gan.generate(gan.latents(range(8)), uint8=True)
    r_own = ganlens.invert(gan, own, n=8, **FAST)
    r_other = ganlens.invert(gan, scenes(8, 5), n=8, **FAST)
    d_own, d_other = r_own["images"]["distance"]["pixel"], r_other["images"]["distance"]["pixel"]
    assert d_own["median"] < 0.02 and d_other["median"] > 3 * d_own["median"]
    assert r_own.arrays["latents"].shape == (8, NZ) and r_own.arrays["shown_recon"].dtype == np.uint8


@pytest.mark.parametrize("make", [mlp_gan, sn_gan, paper_gan], ids=["mlp", "spectral-norm", "paper"])
def test_every_wrapped_gan_inverts(make):
    gan = make()
    x = gan.generate(gan.latents(range(3)), uint8=True)
    r = ganlens.invert(gan, x, n=3, steps=4, starts=2, keep=2)
    assert set(r["settings"]["spaces"]) == {"pixel", "feature"}
    assert r.arrays["latents"].shape == (3, NZ) and len(r.arrays["shown_real"]) == 2
    assert all(math.isfinite(v) for v in r.arrays["distance_feature"])


def test_memory_keeps_only_keep_reconstructions_and_streams_batches():
    gan = template_gan(scenes(16, 0))
    seen = []
    inv = core.run(gan, ganlens.data.TensorSet(scenes(10, 3), "t"), 10, core.Settings(steps=2, starts=1, batch=3,
                                                                                          keep=2),
                   core.Spaces(gan, None), on_batch=lambda s, r, y: seen.append(len(r)))
    assert seen == [3, 3, 3, 1] and len(inv.shown[0]) == 2 and len(inv.best[0]) == 2
    assert inv.best[1].shape == (2, 3, SIZE, SIZE) and inv.latents.shape == (10, NZ)
    d = inv.distances["pixel"]
    assert list(inv.best[0]) == list(np.argsort(d, kind="stable")[:2])


def test_prior_penalty_keeps_latents_typical_and_uniform_latents_clamped():
    gan = template_gan(scenes(16, 0))
    r = ganlens.invert(gan, scenes(6, 1), n=6, steps=30, starts=1, lr=0.3, prior=5.0)
    assert np.all(np.abs(r.arrays["latent_norm"] - 1) < 0.25)
    uni = ganlens.wrap(TemplateG(scenes(16, 0)), nz=NZ, latent="uniform")
    r = ganlens.invert(uni, scenes(4, 1), n=4, steps=20, starts=1, lr=0.5)
    assert np.abs(r.arrays["latents"]).max() <= 1.0


def test_perceptual_distance_and_objective():
    gan = template_gan(scenes(16, 0))
    r = ganlens.invert(gan, scenes(4, 2), n=4, perceptual=nn.AvgPool2d(4), objective="perceptual", steps=5)
    assert r["settings"]["spaces"] == ["pixel", "perceptual"] and r["images"]["distance"]["perceptual"]["n"] == 4
    with pytest.raises(GanlensError, match="perceptual network"):
        ganlens.invert(gan, scenes(2, 2), n=2, objective="perceptual", steps=1)


def test_encoder_guess_is_a_start_and_its_cache_is_keyed_by_G(tmp_path):
    gan = template_gan(scenes(16, 0))
    x = scenes(4, 1)
    r = ganlens.invert(gan, x, n=4, steps=2, starts=1, encoder=True, encoder_steps=20)
    assert r["encoder"]["source"] == "trained" and "encoder.pt" in r.files
    r.save(tmp_path / "a")
    again = ganlens.invert(gan, x, n=4, steps=2, starts=1, encoder=tmp_path / "a" / "encoder.pt",
                           encoder_steps=20)
    assert again["encoder"]["source"].startswith("cache")
    other = template_gan(scenes(16, 9))
    fresh = ganlens.invert(other, x, n=4, steps=2, starts=1, encoder=tmp_path / "a" / "encoder.pt",
                           encoder_steps=20)
    assert fresh["encoder"]["source"] == "trained"


# --- membership -------------------------------------------------------------------------------------------

def test_memorizing_generator_is_caught():
    train = scenes(24, 0)
    gan = template_gan(train)
    r = ganlens.invert(gan, train, n=24, heldout=scenes(24, 1), **FAST)
    m = r["membership"]["pixel"]
    assert m["auc"] >= 0.9 and m["interval"][0] > 0.5 and m["p_value"] < 0.05 and m["memorizes"]
    assert "memorizes" in m["verdict"]
    assert r["images"]["best"]["pixel"][0] < 0.02        # the likely copies are reconstructed almost exactly


def test_two_heldout_sets_of_one_distribution_give_auc_near_half():
    gan = template_gan(scenes(24, 0))
    r = ganlens.invert(gan, scenes(24, 7), n=24, heldout=scenes(24, 8), **FAST)
    m = r["membership"]["pixel"]
    assert m["interval"][0] <= 0.5 <= m["interval"][1] and not m["memorizes"]
    assert "does not prove absence of copies" in m["verdict"] and m["copy_fraction_bound"] < 1


def test_auc_matches_definition_and_permutation_false_positive_rate():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(size=40)
    pairs = np.mean([(x < y) + 0.5 * (x == y) for x in a for y in b])
    assert st.auc(a, b) == pytest.approx(pairs)
    assert st._auc_sorted(a, np.sort(b)) == pytest.approx(pairs)
    sims, rejections = 400, 0
    for i in range(sims):
        x, y = rng.normal(size=20), rng.normal(size=20)
        rejections += st.permutation_p(x, y, 199, i) < st.ALPHA
    rate = rejections / sims
    assert rate <= st.ALPHA + 2 * math.sqrt(st.ALPHA * (1 - st.ALPHA) / sims)


def test_auto_heldout_needs_rooms():
    gan = template_gan(scenes(16, 0))
    with pytest.raises(GanlensError, match="no held-out set"):
        ganlens.invert(gan, scenes(4, 0), n=4, heldout="auto", steps=1)
    with pytest.raises(GanlensError, match="no held-out set"):
        ganlens.memorization(gan, scenes(4, 0), method="inversion", steps=1)


# --- mode dropping ----------------------------------------------------------------------------------------

def test_never_drawn_class_is_under_generated():
    gan = template_gan(scenes(16, 0, red=False))       # memorized only green and blue squares: never red
    r = ganlens.invert(gan, scenes(60, 3), n=60, modes=True, segmenter=colour_segmenter(), samples=60,
                       steps=3, starts=1)
    red = r["modes"]["classes"]["red"]
    assert red["generated"]["mean"] == 0 and red["interval"][1] < 0 and red["under_generated"]
    assert r["modes"]["under_generated"] == ["red"]
    assert r["modes"]["error_inside_class"]["red"]["images"] > 0


def test_share_rule_false_positive_rate_under_the_null():
    rng = np.random.default_rng(1)
    sims, hits = 400, 0
    for _ in range(sims):
        g, rr = rng.beta(2, 8, (50, 1)), rng.beta(2, 8, (50, 1))
        hits += st.compare_shares(g, rr, ["c"])["c"]["under_generated"]
    assert hits / sims <= 0.025 + 2 * math.sqrt(0.025 * 0.975 / sims)


# --- the command ------------------------------------------------------------------------------------------

def test_command_writes_everything_and_reuses_the_encoder(tmp_path, capsys):
    here = Path(__file__)
    np.savez(tmp_path / "train.npz", images=scenes(12, 0).numpy())
    np.savez(tmp_path / "held.npz", images=scenes(12, 1).numpy())
    model = tmp_path / "model.py"
    model.write_text("import sys\nsys.path.insert(0, %r)\nfrom test_invert import template_gan, scenes\n"
                     "def build():\n    return template_gan(scenes(12, 0))\n" % str(here.parent))
    out = tmp_path / "out"
    argv = ["--model", f"{model}:build", "--data", tmp_path / "train.npz", "--heldout", tmp_path / "held.npz",
            "--n", "12", "--modes", "--segmenter", f"{here}:colour_segmenter", "--perceptual", f"{here}:brightness",
            "--steps", "3", "--starts", "1", "--draws", "50", "--encoder", "--encoder-steps", "10",
            "--out", out, "--device", "cpu"]
    from ganlens import invert
    assert cli.run(invert.main, [str(a) for a in argv], "invert") == 0
    names = {p.name for p in out.iterdir()}
    assert {"invert.json", "invert.npz", "invert.pdf", "membership.png", "modes.pdf", "encoder.pt"} <= names
    j = json.loads((out / "invert.json").read_text())
    assert j["provenance"]["command"] and j["membership"]["pixel"]["heldout_images"] == 12
    assert j["settings"]["spaces"] == ["pixel", "perceptual"] and j["encoder"]["source"] == "trained"
    assert cli.run(invert.main, [str(a) for a in argv], "invert") == 0
    assert json.loads((out / "invert.json").read_text())["encoder"]["source"].startswith("cache")
    assert "membership AUC" in capsys.readouterr().err
