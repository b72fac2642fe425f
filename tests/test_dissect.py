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
from ganlens import boxes as boxfile
from ganlens import cli, dissect, paper
from ganlens.errors import GanlensError
from ganlens.hooks import count_hooks

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
        torch.testing.assert_close(stats[lay.name]["threshold"], top[:, -1], rtol=0, atol=0)
        torch.testing.assert_close(stats[lay.name]["level"], top.mean(1), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stats[lay.name]["mean"], v.mean(1), rtol=1e-5, atol=1e-6)
        best = a.amax((2, 3)).T.argsort(1, descending=True)[:, :dissect.TOP_SAMPLES].numpy()
        assert (np.sort(stats[lay.name]["top_samples"], 1) == np.sort(best, 1)).all()


def test_sparse_iou_counts_equal_upsampling_every_map():
    g = torch.Generator().manual_seed(3)
    a = torch.relu(torch.randn(5, 7, 4, 4, generator=g))
    t = a.transpose(0, 1).reshape(7, -1).quantile(0.9, dim=1)
    labels = torch.randint(0, 4, (5, 32 * 32), generator=g)       # class 3 = no class (k = 3)
    U = dissect.interp_matrix(4, 32)
    acc = {"inter": torch.zeros(7, 3, dtype=torch.float64), "fired": torch.zeros(7, dtype=torch.float64)}
    dissect.count_layer(a, t, U, U, labels, 3, acc)
    fire = (F.interpolate(a, size=(32, 32), mode="bilinear", align_corners=False) > t[None, :, None, None]).flatten(2)
    onehot = F.one_hot(labels, 4)[..., :3].float()
    torch.testing.assert_close(acc["fired"], fire.sum((0, 2)).double())
    torch.testing.assert_close(acc["inter"], torch.bmm(fire.float(), onehot).sum(0).double())


# --- the planted truth -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted():
    gan = planted_gan()
    r = dissect.dissect(gan, n=300, segmenter=PLANTED, remove="square", insert="square", box=(24, 0, 32, 8),
                        n_eval=200, dose_n=60, control_draws=3, show=4, boxes=square_boxes(gan), seed=0)
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
    assert rm["ace"]["value"] < 0 and rm["ace"]["ci95"][1] < 0 and rm["control"]["ace_mean"] == 0.0
    dose = rm["dose"]
    assert dose["levels"] == [0, 1, 2] and dose["n_latents"] == 60 and dose["by_iou"][0] > 0
    assert dose["by_iou"][1:] == [0.0, 0.0] and all(q == [dose["by_iou"][0]] * 3 for q in dose["random"])


def test_inserting_the_planted_unit_draws_the_square_in_the_region_and_random_units_do_not(planted):
    _, r = planted
    ins = r["insert"]["square"]
    assert ins["region"]["n_used"] == 200 and ins["before"]["rate"] == 0.0
    assert ins["after"]["rate"] == 1.0 and ins["after"]["iou_with_region"] > 0.5 and ins["after"]["share"] == 1.0
    assert all(d["rate"] == 0.0 for d in ins["control"]["draws"])
    assert ins["ace"]["value"] == pytest.approx(1.0)
    assert r.arrays["insert_1_after"][:, 0, 0:8, 24:32].min() > 0.99     # red inside the box...
    assert (r.arrays["insert_1_after"][:, 0, 16:, :16] < 0).all()         # ...and nowhere new


def test_agreement_with_forget_names_the_planted_unit(planted):
    _, r = planted
    a = r["agreement_with_forget"]
    assert a["available"] and a["layer"] == "3" and a["dissection_units"] == [0]
    assert 0 in a["forget_maps"] and a["overlap"] == 1


# --- any GAN, from Python, the command line and the paper ---------------------------------------------------

def test_python_api_on_a_foreign_gan_saves_what_to_dict_says(tmp_path):
    gan = paper_gan()
    r = ganlens.dissect(gan, n=40, segmenter=toy_segmenter(), remove="bright", insert="bright", n_eval=24,
                        dose_n=8, control_draws=2, show=3, region_class="other")
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
    ({"quantile": 1.0}, "quantile must be a number strictly between 0 and 1"),
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


def test_mlp_generator_is_refused_and_bad_flags_name_the_flag(tmp_path, capsys):
    with pytest.raises(GanlensError, match="no hidden conv layer .* MLP"):
        dissect.dissect(mlp_gan(), segmenter=PLANTED)
    base = ["--model", f"{ARCHS}:paper_gan", "--out", str(tmp_path / "o")]
    for extra, match in ((["--segmenter", "nope.py:f"], "--segmenter nope.py:f: no such file"),
                         (["--segmenter", f"{ARCHS}:paper_gan"], "--segmenter .* must be \\(fn, class_names\\)"),
                         (["--box", "1,2,3"], "--box must be four integers"),
                         (["--quantile", "1"], "--quantile must be below 1"),
                         (["--show", "9", "--n-eval", "4"], "--show 9: more samples to show than --n-eval 4")):
        assert cli.run(dissect.main, base + extra, dissect.PROG) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and __import__("re").search(match, err), err


def test_layer_list_prints_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.run(dissect.main, ["--model", f"{ARCHS}:paper_gan", "--layers", "list", "--out", str(out)],
                   dissect.PROG) == 0
    assert "second-highest" in capsys.readouterr().out and not out.exists()
