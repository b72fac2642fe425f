"""ganlens.forget: the layer cut through the hook helper, box cells -> probe data, the probe on a known
answer, the map selection on planted truths (a generator where a few maps draw the object in the box and many
weakly positive maps draw everything else: the default targets the object, the paper's rule and random maps do
not; boxes unrelated to the object: nothing targets), exact binomial intervals, the judge's independence, the
figure's samples, blind human ratings (scored on planted answers, and the command end to end), the Python
API on GANs ganlens did not build (the paper's Linear + 5x5 G, a spectral-norm GAN, a G ending in a 1x1
transposed conv, a layer whose side does not divide the image), the MLP G's clear refusal, the command end
to end (ganlens, foreign and --model generators, with and without a detector) and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

import ganlens
from archs import ALL
from foreign import tutorial_generator
from ganlens.data import boxes
from ganlens.core import checkpoints
from ganlens import cli, forget
from ganlens.core.errors import GanlensError
from ganlens.core.hooks import ablate, count_hooks, retain

NZ = 16
ARCHS = Path(__file__).parent / "archs.py"


# --- the layer cut: G runs whole, the hook drops the maps ------------------------------------------------

def test_generate_drops_exactly_the_chosen_maps_and_leaves_no_hook(make_pair):
    config, G, D = make_pair(image_size=64, nz=NZ)
    gan = ganlens.wrap(G, D, nz=NZ, config=config)
    z = torch.randn(3, NZ)
    drop = [1, 3, 7]
    with torch.no_grad(), ablate(G, "second-highest", drop), retain(G, "second-highest") as acts:
        G(z)
    keep = [c for c in range(16) if c not in drop]
    with torch.no_grad(), retain(G, "block3") as plain:
        G(z)
    assert (acts["block3"][:, drop] == 0).all() and (plain["block3"][:, drop] != 0).any()
    assert torch.equal(acts["block3"][:, keep], plain["block3"][:, keep])
    # The old layer cut by hand (blocks before block3 once, the rest with the maps zeroed) gives the same images.
    with torch.no_grad():
        h = G.block3(G.block2(G.block1(z[:, :, None, None])))
        h[:, drop] = 0
        want = G.output(G.block4(h))
        fill = torch.arange(16, dtype=torch.float32)
        h[:, drop] = fill[drop][None, :, None, None]
        want_fill = G.output(G.block4(h))
    torch.testing.assert_close(forget.generate(gan, "block3", z, drop), want, rtol=0, atol=1e-5)
    torch.testing.assert_close(forget.generate(gan, "second-highest", z, drop, fill), want_fill, rtol=0, atol=1e-5)
    torch.testing.assert_close(forget.generate(gan, "block3", z), G(z).detach(), rtol=0, atol=1e-5)
    assert count_hooks(G) == 0


def test_generate_each_is_generate_for_each_set(make_pair):
    config, G, D = make_pair(image_size=64, nz=NZ)
    gan = ganlens.wrap(G, D, nz=NZ, config=config)
    z, fill = torch.randn(3, NZ), torch.linspace(-1, 1, 16)
    drops = [[], [1, 3], [0, 5, 7, 9]]
    for f in (None, fill):
        for got, d in zip(forget.generate_each(gan, "block3", z, drops, f), drops):
            torch.testing.assert_close(got, forget.generate(gan, "block3", z, d, f), rtol=0, atol=1e-5)
    assert count_hooks(G) == 0


def test_ablate_removes_its_hook_after_an_error(make_pair):
    _, G, _ = make_pair(image_size=64, nz=NZ)
    with pytest.raises(RuntimeError):
        with ablate(G, "block3", [0]):
            raise RuntimeError("boom")
    assert count_hooks(G) == 0


# --- probe data and the probe ----------------------------------------------------------------------------

def test_box_cells_take_cells_under_the_boxes():
    acts = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    d = {"format": boxes.FORMAT, "label": "x", "image_size": [64, 64], "latent": {"dim": 4, "distribution": "normal"},
         "samples": [{"seed": 0, "boxes": [[16, 0, 48, 16]]}, {"seed": 1, "boxes": []}]}
    bf = boxes.parse(d)
    got = forget.box_cells(acts, bf, 64, negatives=5, rng=np.random.default_rng(0))
    pos = got.cells[got.y == 1]
    assert sorted(map(tuple, pos)) == [(0, 1), (0, 2)]
    assert (got.groups[got.y == 1] == 0).all()
    assert (got.y == 0).sum() == 10 and (got.groups == 1).sum() == 5
    for x, (r, c), g in zip(got.X, got.cells, got.groups):
        np.testing.assert_array_equal(x, acts[g, :, r, c].numpy())
    neg0 = got.cells[(got.y == 0) & (got.groups == 0)]
    assert not any(r == 0 and c in (1, 2) for r, c in neg0)
    assert got.n_ambiguous == 0


def test_probe_finds_the_planted_maps():
    """Map 2 is high on the object, map 4 low; the others are noise of very different scales."""
    rng = np.random.default_rng(0)
    n = 1000
    y = (rng.random(n) < 0.3).astype(int)
    X = rng.normal(size=(n, 8)) * np.array([1, 100, 1, 0.01, 1, 5, 1, 1])
    X[:, 2] += 2.0 * y
    X[:, 4] -= 2.0 * y
    groups = np.arange(n) // 10
    probe = forget.fit_classifier(X, y, groups, C=1.0, folds=5, seed=0)
    w = probe.weights
    assert np.argmax(w) == 2 and np.argmin(w) == 4
    assert w[2] > 1 and w[4] < -1 and np.abs(np.delete(w, [2, 4])).max() < 0.25 * min(w[2], -w[4])
    assert probe.cv["folds"] == 5 and probe.cv["auc_mean"] > 0.95
    assert forget.select_maps(w, top_k=1) == [2]
    sel = forget.select_maps(w)
    assert sel[0] == 2 and 4 not in sel and all(w[i] > 0 for i in sel)
    assert forget.select_maps(w, top_k=8)[-1] == 4


def test_probe_without_enough_images_for_cv():
    X = np.array([[1.0, 0], [0, 1], [1, 0], [0, 1]])
    y = np.array([1, 0, 1, 0])
    probe = forget.fit_classifier(X, y, np.zeros(4, int), folds=5)
    assert probe.cv is None and probe.weights[0] > 0 > probe.weights[1]


def test_old_names_keep_working():
    """fit_probe / run_probe (now fit_classifier / run_classifier), control_draws (now draws), forget.sheet."""
    from ganlens.analyses import forget as package
    from ganlens.core import figures
    assert forget.fit_probe is package.fit_classifier and forget.run_probe is package.run_classifier
    assert forget.sheet is figures.sheet and forget.read_boxes is package.read_boxes
    assert forget.generate is package.generate and forget.probe_data is package.box_cells
    with pytest.raises(GanlensError, match="control_draws is the old name of draws"):
        ganlens.forget(ALL["paper"](), "b.json", draws=2, control_draws=2)
    args = forget.parser().parse_args(["--boxes", "b.json", "--control-draws", "4"])
    assert args.draws == 4 and forget.parser().parse_args(["--boxes", "b.json"]).draws == 3


def test_dose_levels():
    assert forget.dose_levels(64, 30) == [0, 8, 15, 30, 45]
    assert forget.dose_levels(64, 60) == [0, 15, 30, 60]
    assert forget.dose_levels(8, 1) == [0, 1, 2]
    assert forget.dose_levels(8, 8) == [0, 2, 4, 8]
    assert forget.dose_levels(64, 11, also=[30, 64]) == [0, 3, 6, 11, 16, 30]   # the other rules' k, below 64


def test_candidate_ks():
    assert forget.candidate_ks(30) == [1, 2, 3, 4, 6, 8, 11, 16, 23, 30]       # the paper's k is the largest
    assert forget.candidate_ks(68) == [1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 68]
    assert forget.candidate_ks(3) == [1, 2, 3] and forget.candidate_ks(1) == [1] and forget.candidate_ks(0) == [1]


def test_binom_ci_is_the_exact_clopper_pearson_interval():
    from scipy.stats import beta
    for k, n in ((0, 10), (3, 10), (345, 500), (10, 10)):
        lo, hi = forget.binom_ci(k, n)
        want_lo = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
        want_hi = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
        assert lo == pytest.approx(want_lo, abs=1e-9) and hi == pytest.approx(want_hi, abs=1e-9)
    assert forget.binom_ci(0, 0) is None


# --- map selection on planted truths -----------------------------------------------------------------------

PLANT_OBJ, PLANT_BG, PLANT_C = 3, 18, 24
PLANT_BOX = (8, 8, 20, 20)          # pixels; cells 2..4 of the 8x8 layer, 4 pixels per cell


def planted_object_gan() -> ganlens.GAN:
    """The face generator of issue 13 in miniature (32x32, layer "0" has 24 maps of 8x8).

    z0 > 1/3 draws a red square in PLANT_BOX: object map c (c < 3) draws row 2 + c of its cells (and, when
    z_{1+c} > 1, faintly everything else). 18 background maps paint the whole image from z_4.. and are a
    little higher in the box when z0 > 0, so a probe gives them small positive weights; the other 3 maps
    draw random textures. Dropping the 3 object maps removes the square; dropping every positive weight
    also repaints the rest.
    """
    g = torch.Generator().manual_seed(0)
    up = nn.ConvTranspose2d(NZ, PLANT_C, 8)           # z -> (24, 8, 8)
    out = nn.ConvTranspose2d(PLANT_C, 3, 4, 4)        # each cell paints a 4x4 block of the 32x32 image
    with torch.no_grad():
        for t in (up.weight, up.bias, out.weight, out.bias):
            t.zero_()
        box = torch.zeros(8, 8)
        box[2:5, 2:5] = 1
        for c in range(PLANT_OBJ):
            row = torch.zeros(8, 8)
            row[2 + c, 2:5] = 1
            up.weight[0, c], up.weight[1 + c, c], up.bias[c] = 3 * row, 1 - row, -1
            out.weight[c, 0], out.weight[c, 1], out.weight[c, 2] = 0.6, -0.4, -0.4
        for c in range(PLANT_OBJ, PLANT_OBJ + PLANT_BG):
            up.weight[4 + (c - PLANT_OBJ) % (NZ - 4), c] = 0.5 + torch.rand(8, 8, generator=g)
            up.weight[0, c], up.bias[c] = 0.3 * box, 1.5
            out.weight[c] = 0.2 * torch.randn(3, 1, 1, generator=g)
        for c in range(PLANT_OBJ + PLANT_BG, PLANT_C):
            up.weight[:, c] = 0.3 * torch.randn(NZ, 8, 8, generator=g)
            out.weight[c] = 0.2 * torch.randn(3, 4, 4, generator=g)
    return ganlens.wrap(nn.Sequential(up, nn.ReLU(), out, nn.Tanh()), nz=NZ, name="planted-object")


def planted_boxes(gan, n: int = 60, unrelated: bool = False) -> boxes.BoxFile:
    """A box around the square on every sample that has one; ``unrelated``: boxes anywhere, on any sample."""
    z, rng = gan.latents(range(n)), np.random.default_rng(0)
    samples = []
    for s in range(n):
        box, has = PLANT_BOX, 3 * float(z[s, 0]) - 1 > 0
        if unrelated:
            x, y = (int(v) for v in rng.integers(0, 20, 2))
            box, has = (x, y, x + 12, y + 12), bool(rng.random() < 0.4)
        samples.append(boxes.Sample(seed=s, z=None, boxes=[box] if has else []))
    return boxes.BoxFile(label="square", width=32, height=32, latent_dim=NZ, distribution="normal", samples=samples)


PLANTED = dict(layer="0", n=4, n_eval=8, dose_n=4, draws=3, folds=5)


def test_planted_object_the_default_targets_it_the_paper_rule_and_random_maps_do_not():
    gan = planted_object_gan()
    r = ganlens.forget(gan, planted_boxes(gan), **PLANTED)
    sel, loc, paper = r["selection"], r["localisation"], r["other_rules"]["paper"]
    cv, ks = sel["cv_scores"], sel["candidates"]
    assert sel["rule"] == "cv" and cv["validated"] and cv["folds"] == 5 and "random maps" in sel["why"]
    # Held out, the object-specific change peaks at the 3 object maps, and many more maps only lower it.
    assert ks[int(np.argmax(cv["score_mean"]))] in (2, 3, 4) and cv["score_mean"][-1] < 0.5 * max(cv["score_mean"])
    # The rule takes the largest k within one standard error of that peak: the object maps and a few more.
    assert sel["k"] == max(cv["within_one_se"]) and {0, 1, 2} <= set(r["dropped_maps"])
    # The paper's rule takes the 3 object maps and a dozen weakly positive background maps with them.
    assert {0, 1, 2} <= set(paper["maps"]) and paper["k"] >= 10 and r["n_dropped"] < paper["k"]
    # Out of sample (held-out folds), the default changes the square more, and the rest less, than the paper's rule.
    assert loc["held_out"] and loc["selected"]["ratio"] > 1.25 * paper["localisation"]["ratio"]
    assert paper["localisation"]["outside"] > 1.2 * loc["selected"]["outside"]
    assert loc["control_ratio_mean"] < 1 and paper["localisation"]["control_ratio_mean"] < 1   # random maps
    assert loc["in_sample"]["selected"]["ratio"] > loc["selected"]["ratio"]     # in sample is optimistic
    assert all(not set(c) & set(r["dropped_maps"]) for c in r["control"]["maps"])   # controls: other maps
    literal = r["other_rules"]["paper_literal"]                              # zero fill: reported beside it
    assert literal["maps"] == paper["maps"] and literal["fill"] == "zero" and paper["fill"] == "mean"
    # --select paper is the old behaviour, with the cross-validated choice reported beside it.
    old = ganlens.forget(gan, planted_boxes(gan), select="paper", **PLANTED)
    assert old["dropped_maps"] == paper["maps"] and old["other_rules"]["cv"]["maps"] == r["dropped_maps"]
    assert old["selection"]["rule"] == "paper" and old["selection"]["candidates"] == ks


def test_boxes_unrelated_to_the_object_target_nothing():
    """The low case: boxes placed at random. Held-out, no k changes the boxes more than random maps do,
    and the chosen maps change the boxes no more than the rest of the image."""
    gan = planted_object_gan()
    r = ganlens.forget(gan, planted_boxes(gan, unrelated=True), **PLANTED)
    cv = r["selection"]["cv_scores"]
    assert max(cv["score_mean"]) < 0.005 and min(cv["score_mean"]) > -0.02
    assert 0.8 < r["localisation"]["selected"]["ratio"] < 1.3
    assert r["probe"]["cv"]["auc_mean"] < 0.65


# --- judge, figure samples, blind ratings ---------------------------------------------------------------

def test_the_judge_is_never_called_independent_of_boxes_it_drew():
    shipped = boxes.read(Path(__file__).parents[1] / "annotations" / "windows.json")
    j = forget.judge_record(shipped, judge=("detector", 1))
    assert j["independent_of_boxes"] is False and j["kind"] == "rooms detector"
    assert "same detector" in j["why"] and "not an independent check" in j["why"]
    shipped.note = "drawn by hand in CVAT by two people"
    assert forget.judge_record(shipped, judge=("detector", 1))["independent_of_boxes"] is None
    assert forget.judge_record(shipped, judge=None)["kind"] is None


def test_figure_samples_show_the_object():
    bf = boxes.BoxFile(label="x", width=32, height=32, latent_dim=NZ, distribution="normal",
                       samples=[boxes.Sample(seed=s, z=None, boxes=[(0, 0, 4, 4)] if s in (1, 4, 7) else [])
                                for s in range(9)])
    seeds = [forget.FRESH_SEED + i for i in range(10)]
    present = np.array([0, 0, 1, 0, 0, 1, 0, 0, 0, 1], bool)
    got = forget.figure_samples(bf, present, seeds, 4)
    assert [(s["source"], s["index"]) for s in got["samples"]] == [("annotated", 1), ("annotated", 4),
                                                                    ("fresh", 2), ("fresh", 5)]
    got = forget.figure_samples(bf, np.zeros(10, bool), seeds, 5)        # no fresh positive: all annotated first
    assert [(s["source"], s["index"]) for s in got["samples"]] == [("annotated", 1), ("annotated", 4),
                                                                    ("annotated", 7), ("fresh", 0), ("fresh", 1)]
    got = forget.figure_samples(bf, None, seeds, 2)                       # no detector: annotated only
    assert [s["index"] for s in got["samples"]] == [1, 4] and "no detector" in got["why"]


def test_rating_pages_and_ratings_command_end_to_end(tmp_path, capsys):
    """forget -> annotate --rate (3 pages + key) -> every rater's file -> forget --ratings writes the scores."""
    from ganlens import annotate
    from ganlens.data import ratings
    gan = ALL["paper"]()
    out = tmp_path / "forget"
    ganlens.forget(gan, small_boxes(gan), **SMALL).save(out)
    spec = f"{ARCHS}:paper_gan"
    argv = ["--model", spec, "--rate", out, "--n", "6", "--raters", "3", "--device", "cpu"]
    assert cli.run(annotate.main, [str(a) for a in argv], annotate.PROG) == 0
    assert "keep it from the raters" in capsys.readouterr().err
    key = json.loads((out / "rate.key.json").read_text())
    assert [pg["file"] for pg in key["pages"]] == ["rate-1.html", "rate-2.html", "rate-3.html"]
    assert all((out / pg["file"]).is_file() for pg in key["pages"]) and key["detector"] is None
    files = []
    for p, pg in enumerate(key["pages"]):
        files.append(tmp_path / f"r{p}.json")
        files[-1].write_text(json.dumps({"format": ratings.RATINGS_FORMAT, "page": pg["page"], "rater": f"rater{p}",
                                         "answers": [it["condition"] != "after" for it in pg["items"]]}))
    before = (out / "forget.json").read_bytes()
    assert run(["--ratings", *files, "--key", out / "rate.key.json"]) == 0
    assert "6 latents rated in every condition (0 dropped)" in capsys.readouterr().err
    h = json.loads((out / "human_ratings.json").read_text())
    assert h["rates"]["after"]["yes"] == 0 and h["rates"]["before"]["yes"] == 6
    assert (out / "forget.json").read_bytes() == before                   # the forget result is never rewritten
    assert run(["--out", out]) == 2 and "--boxes FILE.json is required" in capsys.readouterr().err


# --- the Python API on any GAN -----------------------------------------------------------------------------

def small_boxes(gan, n: int = 10, seed: int = 1, label: str = "glasses") -> boxes.BoxFile:
    """A box file of ``n`` samples (seeds 0..n-1) of ``gan``, a box on every other one."""
    rng = np.random.default_rng(seed)
    size = gan.image_size
    samples = []
    for s in range(n):
        bs = []
        if s % 2 == 0:
            x0, y0 = (int(v) for v in rng.integers(0, size - size // 3, 2))
            bs = [(x0, y0, x0 + size // 4, y0 + size // 5)]
        samples.append(boxes.Sample(seed=s, z=None, boxes=bs))
    return boxes.BoxFile(label=label, width=size, height=size, latent_dim=gan.nz, distribution=gan.latent,
                         samples=samples)


SMALL = dict(n=3, n_eval=6, dose_n=4, draws=2, folds=2, negatives_per_image=6)


def check_result(r, tmp_path, gan, bf):
    assert r.kind == "forget" and r["label"] == bf.label
    assert r["n_dropped"] == len(r["dropped_maps"]) >= 1 and r["settings"]["checkpoint"] == "in-memory"
    assert r["provenance"]["call"].startswith("ganlens.forget(gan, ") and r["provenance"]["model"]["name"] == gan.name
    assert "removal" not in r.data and r["detector"]["available"] is False  # 32x32: the rooms detector does not fit
    assert r["dose"]["metric"] == "localisation" and r["localisation"]["selected"]["inside"] > 0
    files = r.save(tmp_path / "out")
    assert {p.name for p in files} == {"forget.json", "forget.npz", "forget.pdf", "forget.png", "dose.pdf",
                                       "dose.png", "annotations.pdf", "annotations.png"}
    assert r.to_dict() == json.loads((tmp_path / "out" / "forget.json").read_text())
    fig = r.figure()
    assert isinstance(fig, matplotlib.figure.Figure)
    plt.close(fig)
    arrays = np.load(tmp_path / "out" / "forget.npz")
    # Without a detector the figure shows annotated samples with boxes (here 3 of the 5), in file order.
    shown = r["figure_samples"]["samples"]
    want = [i for i, s in enumerate(bf.samples) if s.boxes][:SMALL["n"]]
    assert [(s["source"], s["index"]) for s in shown] == [("annotated", i) for i in want]
    assert r["judge"] == {"kind": None, "independent_of_boxes": None, "why": r["judge"]["why"]}
    with torch.no_grad():
        np.testing.assert_allclose(arrays["before"], gan.G(gan.g_input(bf.latents()[want])).numpy(), atol=1e-5)
    assert arrays["annotated"].shape == (len(bf.samples), gan.nc, gan.image_size, gan.image_size)
    assert arrays["eval_seeds"].tolist() == forget.fresh_seeds(bf, SMALL["n_eval"])
    assert count_hooks(gan.G) == 0


@pytest.mark.parametrize("arch", ["paper", "sn", "onebyone"])
def test_python_api_on_conv_generators_ganlens_did_not_build(arch, tmp_path):
    gan = ALL[arch]()
    bf = small_boxes(gan)
    assert torch.equal(bf.latents(), gan.latents(range(10)))        # the seed rule names the same samples
    r = ganlens.forget(gan, bf, **SMALL)
    lay = gan.layer("G", "second-highest")
    assert r["settings"]["layer"] == lay.name and r["settings"]["layer_flag"] == "second-highest"
    assert r["layer_shape"] == {"channels": lay.channels, "side": lay.side, "cell_pixels": 32 // lay.side}
    assert len(r["probe"]["weights"]) == lay.channels
    check_result(r, tmp_path, gan, bf)


def test_python_api_with_a_top_k_and_zero_fill_on_the_top_layer(tmp_path):
    gan = ALL["paper"]()
    bf = small_boxes(gan)
    r = forget.forget(gan, bf, layer="top", top_k=2, fill="zero", **SMALL)
    assert r["n_dropped"] == 2 and r["selection"]["rule"] == "top-k" and r["settings"]["layer"] == "9"
    assert set(r["other_rules"]) == {"cv", "paper"}                 # both rules reported beside a hand-set k
    # Zero fill: the dropped maps are zero at every position of the top layer (8 maps of 16x16).
    with torch.no_grad(), ablate(gan.G, "9", r["dropped_maps"]), retain(gan.G, "9") as acts:
        gan.G(gan.latents([0]))
    assert (acts["9"][:, r["dropped_maps"]] == 0).all()


def nondividing_gan() -> ganlens.GAN:
    """A G whose hidden maps are 5x5 and 10x10 for 32x32 images (resized up before the last conv)."""
    torch.manual_seed(0)
    G = nn.Sequential(nn.ConvTranspose2d(NZ, 16, 5, 1, 0), nn.BatchNorm2d(16), nn.ReLU(),
                      nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.Upsample(size=32, mode="nearest"), nn.Conv2d(8, 3, 3, 1, 1), nn.Tanh())
    return ganlens.wrap(G, nz=NZ, name="odd")


def test_a_layer_whose_side_does_not_divide_the_image(tmp_path):
    gan = nondividing_gan()
    assert gan.layer("G", "top").side == 10                        # 3.2 pixels per cell
    bf = small_boxes(gan)
    r = ganlens.forget(gan, bf, layer="top", **SMALL)
    assert r["layer_shape"] == {"channels": 8, "side": 10, "cell_pixels": 3.2}
    for name in ("forget", "dose", "annotations"):
        fig = r.figure(name)
        assert isinstance(fig, matplotlib.figure.Figure)
        plt.close(fig)
    arrays = np.load(r.save(tmp_path / "out")[0].parent / "forget.npz")
    # Positives are the cells at least half inside a box, by the proportional cell -> pixel rule.
    for i, s in enumerate(bf.samples):
        want = {tuple(c) for c in np.argwhere(boxes.cell_labels(s.boxes, 32, 10) == 1)}
        got = {tuple(c) for c, g, y in zip(arrays["probe_cells"], arrays["probe_groups"], arrays["probe_y"])
               if g == i and y == 1}
        assert got == want
    assert r["probe"]["n_positive"] == sum(len(w) for w in [np.argwhere(boxes.cell_labels(s.boxes, 32, 10) == 1)
                                                            for s in bf.samples])


def test_mlp_generator_is_refused_clearly(tmp_path):
    gan = ALL["mlp"]()
    bf = small_boxes(gan)
    with pytest.raises(GanlensError, match=r"layer 'second-highest': layer 1 has no spatial map \(64x1x1"):
        ganlens.forget(gan, bf, **SMALL)
    with pytest.raises(GanlensError, match="the output has no feature maps"):
        ganlens.forget(gan, bf, layer="output", **SMALL)


@pytest.mark.parametrize("kwargs, needle", [
    ({"top_k": 0}, "top_k must be at least 1, got 0"),
    ({"top_k": 99}, "top_k 99: layer 6 has only 16 maps"),
    ({"n_eval": 3, "dose_n": 4}, "dose_n 4 is more than n_eval 3"),
    ({"C": -1.0}, "C must be a positive number"),
    ({"fill": "noise"}, "fill must be one of mean, zero"),
    ({"folds": 1}, "folds must be at least 2"),
    ({"layer": "main.99"}, "layer 'main.99': unknown generator layer"),
])
def test_python_api_bad_settings(kwargs, needle):
    gan = ALL["paper"]()
    with pytest.raises(GanlensError, match=needle.replace("(", r"\(")):
        ganlens.forget(gan, small_boxes(gan), **{**SMALL, **kwargs})


def test_python_api_box_file_checked_against_the_gan(tmp_path):
    gan = ALL["paper"]()
    bf = small_boxes(gan)
    bf.latent_dim = 100
    with pytest.raises(boxes.BoxFileError, match="latent.dim 100 does not match the generator's nz 16"):
        ganlens.forget(gan, bf, **SMALL)
    path = tmp_path / "b.json"
    boxes.write(path, small_boxes(gan))
    r = ganlens.forget(gan, str(path), **SMALL)                    # a path works too, and is recorded
    assert r["settings"]["boxes"] == str(path) and r["boxes_file"]["n_boxes"] == 5


def test_command_with_model_runs_in_process(tmp_path, capsys):
    gan = ALL["paper"]()
    path = boxes.write(tmp_path / "b.json", small_boxes(gan))
    out = tmp_path / "out"
    argv = ["--model", f"{ARCHS}:paper_gan", "--boxes", path, "--out", out, "--device", "cpu",
            "--n-eval", "6", "--dose-n", "4", "--n", "3", "--control-draws", "2", "--folds", "2"]
    assert run(argv) == 0
    err = capsys.readouterr().err
    assert "change inside/outside boxes" in err and err.count("\n") == 1
    r = json.loads((out / "forget.json").read_text())
    assert r["settings"]["source"] == f"--model {ARCHS}:paper_gan" and r["provenance"]["command"].startswith(forget.PROG)
    again = ganlens.forget(gan, path, n=3, n_eval=6, dose_n=4, control_draws=2, folds=2).to_dict()
    for k in ("probe", "dropped_maps", "localisation", "dose"):
        assert again[k] == r[k]                                    # the command is the Python call
    assert run(["--model", f"{ARCHS}:mlp_gan", "--boxes", path, "--out", out]) == 2
    assert "no spatial map" in capsys.readouterr().err


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


FAST = ["--n-eval", "24", "--dose-n", "12", "--n", "4", "--draws", "2", "--folds", "3",
        "--negatives-per-image", "8"]


@pytest.fixture
def tiny64(tmp_path, make_pair):
    config, G, D = make_pair(image_size=64, nz=NZ)
    return checkpoints.save(tmp_path / "tiny64.pt", config, G, D)


def run(argv):
    """``python -m ganlens.forget argv`` in this process (argparse errors exit 2, as they do there)."""
    try:
        return cli.run(forget.main, [str(a) for a in argv], forget.PROG)
    except SystemExit as e:
        return e.code


def test_cli_end_to_end_with_detector(tmp_path, tiny64, capsys):
    bf = _box_file(tmp_path / "w.json")
    out = tmp_path / "out"
    assert run(["--boxes", bf, "--checkpoint", tiny64, "--out", out, "--device", "cpu"] + FAST) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {".ganlens-written.json", "forget.json", "forget.npz", "forget.pdf", "forget.png", "dose.pdf", "dose.png",
                     "annotations.pdf", "annotations.png"}
    r = json.loads((out / "forget.json").read_text())
    assert r["n_dropped"] == len(r["dropped_maps"]) >= 1
    w = np.array(r["probe"]["weights"])
    order = np.argsort(-w, kind="stable").tolist()
    sel = r["selection"]
    assert sel["rule"] == "cv" and sel["k"] == r["n_dropped"] and r["dropped_maps"] == order[:sel["k"]]
    assert sel["candidates"] == forget.candidate_ks(int((w > 0).sum())) and sel["k"] in sel["candidates"]
    assert sel["cv_scores"]["folds"] == 3 and len(sel["cv_scores"]["score_mean"]) == len(sel["candidates"])
    paper = r["other_rules"]["paper"]                              # the paper's rule, reported beside it
    assert sorted(paper["maps"]) == sorted(np.flatnonzero(w > 0).tolist())
    assert 0 <= paper["removal"]["after"] <= 1 and paper["localisation"]["ratio"] is not None
    rem = r["removal"]
    for key in ("before", "after", "control_after"):
        assert 0 <= rem[key] <= 1
    assert rem["n_latents"] == 24 and len(rem["control_after_draws"]) == 2
    # exact binomial intervals on the judged latents, and the verdicts themselves in forget.npz
    arrays = np.load(out / "forget.npz")
    assert rem["before_ci95"] == forget.binom_ci(int(arrays["judge_before"].sum()), 24)
    assert rem["after_ci95"] == forget.binom_ci(int(arrays["judge_after"].sum()), 24)
    assert arrays["judge_before"].mean() == rem["before"] and arrays["judge_control"].mean() == rem["control_after_draws"][0]
    assert rem["control_after_draws_ci95"][0] == forget.binom_ci(int(arrays["judge_control"].sum()), 24)
    assert r["judge"]["kind"] == "rooms detector" and r["judge"]["independent_of_boxes"] is None  # no note: unknown
    assert all(len(c) == r["n_dropped"] for c in r["control"]["maps"])
    assert r["dose"]["levels"] == forget.dose_levels(16, r["n_dropped"], [paper["k"]])
    assert r["dose"]["weight_order"][0] == rem["before"] or r["dose"]["n_latents"] < 24
    assert r["probe"]["cv"]["folds"] == 3 and r["probe"]["n_positive"] > 0
    assert r["settings"]["layer"] == "block3" and r["layer_shape"] == {"channels": 16, "side": 16, "cell_pixels": 4}
    # The figure: annotated samples with boxes (about half), then fresh latents the detector finds a window in.
    shown = r["figure_samples"]["samples"]
    assert [s["source"] for s in shown[:2]] == ["annotated", "annotated"] and shown[0]["index"] == 0
    fresh = [s for s in shown if s["source"] == "fresh"]
    assert all(s["detector_found"] for s in fresh[:r["figure_samples"]["n_fresh_found"]])
    m = checkpoints.load(tiny64)
    z_all = torch.cat([m.latents(range(12)), m.latents(forget.fresh_seeds(forget.read_boxes(str(bf), m), 24))])
    z = z_all[[s["index"] if s["source"] == "annotated" else 12 + s["index"] for s in shown]]
    with torch.no_grad():
        np.testing.assert_allclose(arrays["before"], m.G(z).numpy(), atol=1e-5)
        with retain(m.G, "block3") as acts:
            m.G(m.latents(range(12)))                  # the box file's samples: the fill values' source
        means = acts["block3"].mean((0, 2, 3))
        with ablate(m.G, "block3", r["dropped_maps"], means[r["dropped_maps"]]):
            np.testing.assert_allclose(arrays["after"], m.G(z).numpy(), atol=1e-5)
        assert r["settings"]["fill"] == "mean"
    assert "rate" in capsys.readouterr().err
    # The command is the Python call: same numbers (the detector branch of the API).
    api = ganlens.forget(m, bf, n_eval=24, dose_n=12, n=4, draws=2, folds=3, negatives_per_image=8)
    assert api.to_dict()["removal"] == r["removal"] and api["dose"] == r["dose"] and api["probe"] == r["probe"]
    assert api["settings"] == r["settings"]


def test_cli_foreign_generator_other_label_has_no_detector_part(tmp_path, capsys):
    G = tutorial_generator(nz=NZ, ngf=8, nc=3, image_size=64)
    ckpt = tmp_path / "netG.pth"
    torch.save(G.state_dict(), ckpt)
    bf = _box_file(tmp_path / "glasses.json", label="glasses")
    out = tmp_path / "out"
    assert run(["--boxes", bf, "--checkpoint", ckpt, "--out", out, "--top-k", "3"] + FAST) == 0
    r = json.loads((out / "forget.json").read_text())
    assert "removal" not in r and r["detector"]["available"] is False
    assert r["label"] == "glasses" and r["n_dropped"] == 3 and r["selection"]["rule"] == "top-k"
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
