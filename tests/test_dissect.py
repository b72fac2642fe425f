"""ganlens.dissect: the pieces against exact references (bilinear upsampling by matrices, exact quantiles,
sparse IoU counting), a hand-built generator with a planted truth (unit 0 draws a red square: label, IoU,
removal, insertion, random controls, agreement with forget's probe), a network ganlens did not build with a toy
segmenter from Python, from ``--model ... --segmenter ...`` and through ``ganlens.paper``, and bad inputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganlens
from ganlens.data import boxes as boxfile
from ganlens import cli, dissect, paper
from ganlens.analyses.dissect import effects as fx
from ganlens.analyses.dissect import threshold as thr
from ganlens.core.errors import GanlensError
from ganlens.core.hooks import count_hooks

sys.path.insert(0, str(Path(__file__).parent))   # importable on its own too: --segmenter tests/test_dissect.py:...
from archs import mlp_gan, paper_gan  # noqa: E402

HERE = Path(__file__).parent
ARCHS = HERE / "archs.py"
NZ = 8
SQUARE = (8, 8, 16, 16)          # unit 0's square, image pixels (x0, y0, x1, y1)
ON = 1.3                         # unit 0 and 1 draw when their latent coordinate exceeds this (~10% of samples)


# --- a generator with a planted truth --------------------------------------------------------------------

def planted_gan() -> ganlens.GAN:
    """32x32 images. Hidden layer "1" (8x8) and "3" (32x32, each cell copied to a 4x4 block): unit 0 is on in a
    2x2-cell square when z[0] > ON and draws it red; unit 1 the same with z[1], elsewhere, in green; units 2-5
    fire broadly on z[2..5] and only tint blue. A 1x1 output layer turns units into colours."""
    g = torch.Generator().manual_seed(0)
    l1 = nn.ConvTranspose2d(NZ, 6, 8, 1, 0)
    l2 = nn.ConvTranspose2d(6, 6, 4, 4, 0)
    out = nn.ConvTranspose2d(6, 3, 1, 1, 0)
    with torch.no_grad():
        for m in (l1, l2, out):
            m.weight.zero_()
        l1.weight[0, 0, 2:4, 2:4] = 1.0
        l1.weight[1, 1, 5:7, 1:3] = 1.0
        for u in range(2, 6):
            l1.weight[u, u] = torch.randn(8, 8, generator=g) * 0.5
        l1.bias.copy_(torch.tensor([-ON, -ON, 0, 0, 0, 0]))
        for u in range(6):
            l2.weight[u, u] = 1.0
        l2.bias.zero_()
        out.weight[0, 0] = 1000.0          # red from unit 0
        out.weight[1, 1] = 1000.0          # green from unit 1
        out.weight[2:, 2] = 1.0            # faint blue from the others
        out.bias.fill_(-3.0)
    G = nn.Sequential(l1, nn.ReLU(), l2, nn.ReLU(), out, nn.Tanh())
    return ganlens.wrap(G, nz=NZ, name="planted")


def planted_segment(x: torch.Tensor) -> torch.Tensor:
    """background 0, red "square" 1, green "other" 2."""
    return torch.where(x[:, 0] > 0, 1, torch.where(x[:, 1] > 0, 2, 0))


PLANTED = (planted_segment, ["background", "square", "other"])


def toy_segment(x: torch.Tensor) -> torch.Tensor:
    """The brightest 5% of each image's pixels are "bright" (1), the rest "other" (0)."""
    m = x.float().mean(1).flatten(1)
    return (m > m.quantile(0.95, dim=1, keepdim=True)).long().view(x.shape[0], *x.shape[2:])


def toy_segmenter():
    """For --segmenter tests/test_dissect.py:toy_segmenter."""
    return toy_segment, ["other", "bright"]


def square_boxes(gan, n: int = 60) -> boxfile.BoxFile:
    """A box file (label "square") around unit 0's square on the samples that draw it."""
    z = gan.latents(range(n))
    samples = [{"seed": s, "boxes": [list(SQUARE)] if z[s, 0] > ON + 0.01 else []} for s in range(n)]
    return boxfile.parse({"format": boxfile.FORMAT, "label": "square", "image_size": [32, 32],
                          "latent": {"dim": NZ, "distribution": "normal"}, "samples": samples})


# --- pieces against exact references ---------------------------------------------------------------------

@pytest.mark.parametrize("n_in,n_out", [(4, 64), (7, 32), (16, 64), (32, 32)])
def test_interp_matrix_is_bilinear_upsampling(n_in, n_out):
    a = torch.randn(2, 3, n_in, n_in)
    U = dissect.interp_matrix(n_in, n_out)
    want = F.interpolate(a, size=(n_out, n_out), mode="bilinear", align_corners=False)
    torch.testing.assert_close(U @ a @ U.T, want, rtol=0, atol=1e-5)


def test_thresholds_are_exact_quantiles():
    gan = paper_gan()
    lays = dissect.dissect_layers(gan)
    stats = dissect.quantile_pass(gan, lays, 30, 0.97)
    for lay in lays:
        a = ganlens.generate.activations(gan, gan.latents(range(30)), lay.name)
        v = a.transpose(0, 1).reshape(lay.channels, -1)
        k = int(np.ceil(0.03 * v.shape[1]))
        top = v.sort(1, descending=True).values[:, :k]
        torch.testing.assert_close(stats[lay.name].threshold, top[:, -1], rtol=0, atol=0)
        torch.testing.assert_close(stats[lay.name].level, top.mean(1), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stats[lay.name].mean, v.mean(1), rtol=1e-5, atol=1e-6)
        best = a.amax((2, 3)).T.argsort(1, descending=True)[:, :dissect.TOP_SAMPLES].numpy()
        assert (np.sort(stats[lay.name].top_samples, 1) == np.sort(best, 1)).all()


def test_sparse_iou_counts_equal_upsampling_every_map():
    g = torch.Generator().manual_seed(3)
    a = torch.relu(torch.randn(5, 7, 4, 4, generator=g))
    t = a.transpose(0, 1).reshape(7, -1).quantile(0.9, dim=1)
    labels = torch.randint(0, 4, (5, 32 * 32), generator=g)       # class 3 = no class (k = 3)
    U = dissect.interp_matrix(4, 32)
    acc = {"inter": torch.zeros(7, 3, dtype=torch.float64), "fired": torch.zeros(7, dtype=torch.float64)}
    dissect.count_layer(a, t, U, U, labels, 3, acc["inter"], acc["fired"])
    fire = (F.interpolate(a, size=(32, 32), mode="bilinear", align_corners=False) > t[None, :, None, None]).flatten(2)
    onehot = F.one_hot(labels, 4)[..., :3].float()
    torch.testing.assert_close(acc["fired"], fire.sum((0, 2)).double())
    torch.testing.assert_close(acc["inter"], torch.bmm(fire.float(), onehot).sum(0).double())


def test_level_counts_equal_thresholding_every_map_at_every_level():
    g = torch.Generator().manual_seed(4)
    a = torch.relu(torch.randn(5, 3, 4, 4, generator=g))
    labels = torch.randint(0, 3, (5, 16 * 16), generator=g)       # class 2 = no class (k = 2)
    U = dissect.interp_matrix(4, 16)
    up = F.interpolate(a, size=(16, 16), mode="bilinear", align_corners=False).flatten(2)   # (5, 3, 256)
    grid = thr.grid_from_values(up.transpose(0, 1).flatten(1))
    want = torch.quantile(up.transpose(0, 1).flatten(1), torch.from_numpy(1 - thr.FRACS).float(), dim=1).T
    torch.testing.assert_close(grid, want, rtol=0, atol=1e-5)
    acc = torch.zeros(3, len(thr.FRACS) + 1, 3, dtype=torch.float64)
    thr.count_levels(a, grid.flip(1).contiguous(), U, U, labels, 2, acc, elems=1000)
    above = thr.above_counts(acc)                                   # (3, L, 3)
    onehot = F.one_hot(labels, 3).float()
    for i in (0, 30, 60, 99):
        fire = (up > grid[:, i][None, :, None]).float()
        torch.testing.assert_close(above[:, i], torch.bmm(fire, onehot).sum(0).double())


def test_iqr_is_mutual_information_over_joint_entropy():
    from sklearn.metrics import mutual_info_score
    g = np.random.default_rng(0)
    fire = g.random(4000) < 0.3
    cls = np.where(g.random(4000) < 0.8, fire, g.random(4000) < 0.5)
    inter, fired = float((fire & cls).sum()), float(fire.sum())
    iqr, iou, agree = thr.iqr_and_iou(torch.tensor([[inter]], dtype=torch.float64), torch.tensor([fired]).double(),
                                      torch.tensor([float(cls.sum())]).double(), 4000.0)
    counts = np.array([[(fire & cls).sum(), (fire & ~cls).sum()], [(~fire & cls).sum(), (~fire & ~cls).sum()]])
    p = counts.ravel() / 4000
    je = -(p * np.log(p)).sum()
    assert float(iqr) == pytest.approx(mutual_info_score(fire, cls) / je, rel=1e-9)
    assert float(iou) == pytest.approx(inter / (fired + cls.sum() - inter))
    assert float(agree) == pytest.approx((fire == cls).mean())


def big_gan() -> ganlens.GAN:
    """32x32 images; hidden layer "1" (8x8): unit 0 = relu(z[0]) on the left three quarters of the map (so in half
    the samples, over 3/4 of the image), drawn red; unit 1 = relu(z[1]) noise, faint blue."""
    g = torch.Generator().manual_seed(0)
    l1, l2, out = nn.ConvTranspose2d(NZ, 2, 8, 1, 0), nn.ConvTranspose2d(2, 2, 4, 4, 0), nn.ConvTranspose2d(2, 3, 1)
    with torch.no_grad():
        for m in (l1, l2, out):
            m.weight.zero_()
            m.bias.zero_()
        l1.weight[0, 0, :, :6] = 1.0 + 0.3 * torch.rand(8, 6, generator=g)
        l1.weight[1, 1] = torch.randn(8, 8, generator=g)
        l2.weight[0, 0] = l2.weight[1, 1] = 1.0
        out.weight[0, 0] = 1000.0
        out.weight[1, 2] = 1.0
        out.bias.fill_(-3.0)
    return ganlens.wrap(nn.Sequential(l1, nn.ReLU(), l2, nn.ReLU(), out, nn.Tanh()), nz=NZ, name="big")


BIG = (lambda x: (x[:, 0] > 0).long(), ["background", "big"])


def test_a_unit_drawing_a_large_class_is_labelled_under_iqr_and_not_under_the_quantile():
    gan = big_gan()
    iqr = dissect.dissect(gan, n=120, n_select=80, segmenter=BIG, layers="1", remove=(), insert=(), seed=0)
    q = dissect.dissect(gan, n=120, segmenter=BIG, layers="1", remove=(), insert=(), threshold="quantile:0.99")
    u_iqr, u_q = iqr["layers"][0]["units"][0], q["layers"][0]["units"][0]
    assert iqr["classes"]["big"]["pixel_share"] > 0.3
    assert u_iqr["label"] == "big" and u_iqr["iou"] > 0.8 and u_iqr["iqr"] > 0.5 and u_iqr["rule"] == "iqr"
    assert 0.25 < u_iqr["coverage"] < 0.5 and u_iqr["selected_fraction"] > 0.2
    assert u_q["label"] is None and u_q["iou"] < 0.04 and u_q["coverage"] < 0.02 and u_q["rule"] == "quantile:0.99"
    assert iqr["method"]["label"].startswith("the unit's IQR-best class if IQR > 0.01 and IoU > 0.05")


def noise_segment(x: torch.Tensor) -> torch.Tensor:
    """Classes that ignore the image: random 8x8-pixel blocks of class 0 or 1 (seeded by the batch)."""
    g = torch.Generator().manual_seed(len(x) + int(x[0, 0, 0, 0].abs() * 1e4))
    small = (torch.rand(len(x), 1, 4, 4, generator=g) > 0.5).float()
    return F.interpolate(small, size=x.shape[-1]).long()[:, 0]


def test_a_random_net_labels_few_units_under_iqr_and_none_with_classes_that_ignore_the_image(make_pair):
    _, G, _ = make_pair(image_size=32, nz=16)
    gan = ganlens.wrap(G, nz=16, name="random")
    settings = dict(n=60, n_select=40, remove=(), insert=(), seed=0)
    noise = dissect.dissect(gan, segmenter=(noise_segment, ["a", "b"]), **settings)
    assert noise["summary"]["units"] == 56 and noise["summary"]["labelled"] == 0
    # brightness classes do depend on a random net's units: a few wide units pass with the dominant class
    bright = dissect.dissect(gan, segmenter=toy_segmenter(), **settings)
    assert bright["summary"]["labelled"] <= 0.1 * 56


# --- the planted truth -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted():
    gan = planted_gan()
    r = dissect.dissect(gan, n=300, segmenter=PLANTED, remove="square", insert="square", box=(24, 0, 32, 8),
                        n_eval=200, dose_n=60, control_draws=3, show=4, boxes=square_boxes(gan), seed=0,
                        threshold="quantile:0.99")
    return gan, r


def test_planted_unit_gets_its_class_with_iou_near_one(planted):
    gan, r = planted
    d = r.to_dict()
    assert [x["layer"] for x in d["layers"]] == ["1", "3"]
    fine = d["layers"][1]["units"]
    assert fine[0]["label"] == "square" and fine[0]["iou"] > 0.97
    assert fine[1]["label"] == "other" and fine[1]["iou"] > 0.97
    assert all(u["label"] != "square" for u in fine[1:])
    # on the coarse layer bilinear upsampling blurs the square's edges: still labelled, lower IoU
    coarse = d["layers"][0]["units"][0]
    assert coarse["label"] == "square" and 0.2 < coarse["iou"] < fine[0]["iou"]
    assert d["classes"]["square"]["best_unit"] == {"layer": "3", "unit": 0, "iou": fine[0]["iou"],
                                                   "its_label": "square"}
    assert count_hooks(gan.G) == 0


def test_removing_the_planted_unit_removes_the_square_and_random_units_do_not(planted):
    _, r = planted
    rm = r["remove"]["square"]
    assert rm["layer"] == "3" and rm["units"] == [0] and rm["k"] == 1
    assert 0.04 < rm["before"]["rate"] < 0.2 and rm["after"]["rate"] == 0.0 and rm["after"]["share"] == 0.0
    assert rm["mcnemar_before_vs_after"]["gained"] == 0 and rm["mcnemar_before_vs_after"]["p_value"] < 1e-3
    lo, hi = rm["after"]["ci95"]
    assert lo == 0.0 and 0 < hi < 0.03                        # exact binomial interval of 0 / 200
    for draw in rm["control"]["draws"]:
        assert 0 not in draw["units"] and draw["rate"] == rm["before"]["rate"]
    eff = rm["removal_effect"]
    assert eff["value"] < 0 and eff["ci95"][1] < 0 and rm["control"]["removal_effect_mean"] == 0.0
    # the paper's ACE: the unit at its square-present mean everywhere vs zeroed, on the same latents
    assert rm["ace"]["value"] > 0.05 and rm["ace"]["ci95"][0] > 0 and rm["control"]["ace_mean"] == 0.0
    dose = rm["dose"]
    assert dose["levels"] == [0, 1, 2] and dose["n_latents"] == 60 and dose["by_iou"][0] > 0
    assert dose["by_iou"][1:] == [0.0, 0.0] and all(q == [dose["by_iou"][0]] * 3 for q in dose["random"])


def test_inserting_the_planted_unit_draws_the_square_in_the_region_and_random_units_do_not(planted):
    _, r = planted
    ins = r["insert"]["square"]
    assert ins["region"]["n_used"] == 200 and ins["before"]["rate"] == 0.0
    assert ins["after"]["rate"] == 1.0 and ins["after"]["iou_with_region"] > 0.5 and ins["after"]["share"] == 1.0
    assert all(d["rate"] == 0.0 for d in ins["control"]["draws"])
    assert ins["insertion_effect"]["value"] == pytest.approx(1.0) and ins["ablation_effect"]["value"] == 0.0
    assert ins["ace"]["value"] == pytest.approx(1.0) and ins["control"]["ace_mean"] == 0.0
    assert r.arrays["insert_1_after"][:, 0, 0:8, 24:32].min() > 0.99     # red inside the box...
    assert (r.arrays["insert_1_after"][:, 0, 16:, :16] < 0).all()         # ...and nowhere new


def test_insertion_sets_units_to_their_mean_where_the_class_is_present(planted):
    gan, r = planted
    z = gan.latents(range(300))
    x = ganlens.generate.images(gan, z)
    square = (planted_segment(x) == 1).float()                           # (N, 32, 32); layer "1" is 8x8
    a = ganlens.generate.activations(gan, z, "1")                        # (N, 6, 8, 8)
    share = F.adaptive_avg_pool2d(square[:, None], 8)                    # class share of each 4x4 cell
    want = (a * share).sum((0, 2, 3)) / share.sum()
    lays = dissect.dissect_layers(gan, ["1"])
    thresholds = {"1": torch.full((6,), 1e9)}
    c = dissect.iou_pass(gan, lays, 300, thresholds, dissect.as_segmentation(PLANTED, gan)).layers["1"]
    got = fx.present_mean(c.present_sum, c.present_weight)[:, 1]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    ins = r["insert"]["square"]                                          # layer "3": cells are pixels
    a3 = ganlens.generate.activations(gan, z, "3")[:, 0]
    assert ins["values"][0] == pytest.approx(float(a3[square > 0].mean()), rel=1e-4)
    assert "present" in ins["edit"]


def test_agreement_with_forget_names_the_planted_unit(planted):
    _, r = planted
    a = r["agreement_with_forget"]
    assert a["available"] and a["layer"] == "3" and a["dissection_units"] == [0]
    assert 0 in a["forget_maps"] and a["overlap"] == 1


# --- any GAN, from Python, the command line and the paper ---------------------------------------------------

def test_python_api_on_a_foreign_gan_saves_what_to_dict_says(tmp_path):
    gan = paper_gan()
    r = ganlens.dissect(gan, n=40, segmenter=toy_segmenter(), remove="bright", insert="bright", n_eval=24,
                        dose_n=8, draws=2, show=3, region_class="other")
    d = r.to_dict()
    assert [x["layer"] for x in d["layers"]] == [lay.name for lay in gan.layers("G").hidden if lay.side >= 2]
    assert set(d["remove"]) == {"bright"} and "after" in d["insert"]["bright"]
    prov = d["provenance"]
    assert prov["model"]["checkpoint"] == "in-memory" and prov["call"].startswith("ganlens.dissect(")
    files = r.save(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "dissect.json").read_text()) == d
    assert {p.name for p in files} >= {"dissect.json", "dissect.npz", "dissect.png", "remove.png", "insert.png",
                                       "dose.png", "dissect.pdf"}
    assert count_hooks(gan.G) == 0


def test_command_with_model_and_segmenter_flags(tmp_path, capsys):
    out = tmp_path / "d"
    argv = ["--model", f"{ARCHS}:paper_gan", "--segmenter", f"{Path(__file__)}:toy_segmenter", "--n", "30",
            "--n-eval", "16", "--dose-n", "6", "--show", "2", "--control-draws", "2", "--remove", "bright",
            "--insert", "none", "--layers", "6", "--out", str(out), "--device", "cpu"]
    assert cli.run(dissect.main, argv, dissect.PROG) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "remove bright" in err[0] and "dissect.json" in err[0]
    j = json.loads((out / "dissect.json").read_text())
    assert f"{ARCHS}:paper_gan" in j["provenance"]["command"] and j["settings"]["segmenter"].endswith(":toy_segmenter")
    assert [x["layer"] for x in j["layers"]] == ["6"] and j["insert"] == {}
    assert not (out / "insert.png").exists() and (out / "remove.png").exists()


def test_paper_entry_writes_captions_from_the_numbers(tmp_path):
    out = tmp_path / "paper"
    flags = (f"--segmenter {Path(__file__)}:toy_segmenter --n 30 --n-eval 12 --dose-n 6 --show 2 "
             f"--control-draws 2 --remove bright --insert bright --region-class other")
    code = paper.main(["--model", f"{ARCHS}:paper_gan", "--out", str(out), "--only", "fig_dissect",
                       "--args", f"fig_dissect={flags}"])
    assert code == 0
    e = json.loads((out / "manifest.json").read_text())["figures"]["fig_dissect"]
    assert e["status"] == "ok"
    assert {"fig_dissect.tex", "fig_dissect_remove.tex", "fig_dissect_dose.tex"} <= set(e["tex"])
    j = json.loads((out / "fig_dissect" / "dissect.json").read_text())
    tex = (out / "fig_dissect_remove.tex").read_text()
    assert f"{j['remove']['bright']['after']['rate']:.2f}" in tex and "in-memory model" in tex


# --- bad input ---------------------------------------------------------------------------------------------

def test_no_segmenter_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(GanlensError, match="no segmenter .* --segmenter FILE.py:FUNC"):
        dissect.dissect(paper_gan(), n=4)
    code = cli.run(dissect.main, ["--model", f"{ARCHS}:paper_gan", "--out", str(tmp_path / "o")], dissect.PROG)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no segmenter" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("kwargs,match", [
    ({"threshold": "quantile:1"}, "threshold must be 'iqr' or 'quantile:Q'"),
    ({"threshold": "max"}, "threshold must be 'iqr' or 'quantile:Q'"),
    ({"iou_floor": 2}, "iou_floor must be a number between 0 and 1"),
    ({"n_select": 0}, "n_select must be at least 1"),
    ({"n": 0}, "n must be at least 1"),
    ({"layers": "nope"}, "layers: .*nope"),
    ({"layers": "5"}, "output has no units"),
    ({"remove": "tree"}, "remove: unknown class 'tree'"),
    ({"classes": ()}, "classes: name at least one class"),
    ({"classes": ["square", "sky"]}, "classes: unknown class 'sky'"),
    ({"box": (0, 0, 40, 8)}, "box .*x1 <= 32"),
    ({"edit_layer": "1", "layers": "3"}, "edit_layer 1: not among the dissected layers"),
    ({"k": 6}, "k 6: layer each dissected layer has only 6 units"),
    ({"segmenter": (planted_segment, [])}, "class names must be distinct non-empty strings"),
    ({"segmenter": (lambda x: torch.zeros(len(x), 8, 8, dtype=torch.long), ["a"])}, r"returned shape \(.*8, 8\)"),
    ({"segmenter": (lambda x: x[:, 0], ["a"])}, "integer class indices"),
    ({"segmenter": "seg.py:f"}, "must be \\(fn, class_names\\)"),
])
def test_bad_settings_are_one_line_errors(kwargs, match):
    settings = dict(n=8, segmenter=PLANTED, n_eval=4, dose_n=2, show=2, remove="square", insert=())
    settings.update(kwargs)
    with pytest.raises(GanlensError, match=match) as e:
        dissect.dissect(planted_gan(), **settings)
    assert "\n" not in str(e.value)


def test_draws_keeps_its_old_name_control_draws():
    with pytest.raises(GanlensError, match="control_draws is the old name of draws"):
        dissect.dissect(planted_gan(), segmenter=PLANTED, draws=2, control_draws=2)
    with pytest.raises(GanlensError, match="draws must be at least 1"):
        dissect.dissect(planted_gan(), segmenter=PLANTED, control_draws=0)


def test_mlp_generator_is_refused_and_bad_flags_name_the_flag(tmp_path, capsys):
    with pytest.raises(GanlensError, match="no hidden conv layer .* MLP"):
        dissect.dissect(mlp_gan(), segmenter=PLANTED)
    base = ["--model", f"{ARCHS}:paper_gan", "--out", str(tmp_path / "o")]
    for extra, match in ((["--segmenter", "nope.py:f"], "--segmenter nope.py:f: no such file"),
                         (["--segmenter", f"{ARCHS}:paper_gan"], "--segmenter .* must be \\(fn, class_names\\)"),
                         (["--box", "1,2,3"], "--box must be four integers"),
                         (["--threshold", "quantile:1"], "--threshold must be 'iqr' or 'quantile:Q'"),
                         (["--show", "9", "--n-eval", "4"], "--show 9: more samples to show than --n-eval 4")):
        assert cli.run(dissect.main, base + extra, dissect.PROG) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and __import__("re").search(match, err), err


def test_layer_list_prints_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.run(dissect.main, ["--model", f"{ARCHS}:paper_gan", "--layers", "list", "--out", str(out)],
                   dissect.PROG) == 0
    assert "second-highest" in capsys.readouterr().out and not out.exists()
