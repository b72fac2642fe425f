"""ganlens.arith: expression parsing, exact arithmetic, jitter support, turn paths, the rooms window
measure, the Python API on every test architecture, and the command end to end on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

import ganlens
from ganlens import arith, cli, latent_from_seed
from ganlens.arith import Term, combine, parse_expr
from archs import ALL


def run(argv, capsys):
    code = cli.run(arith.main, argv, arith.PROG)
    return code, capsys.readouterr().err


# ------------------------------------------------------------------------------------------ expressions

def test_parse_expr_terms_and_coefficients():
    assert parse_expr("A - B + C") == [Term(1, "A"), Term(-1, "B"), Term(1, "C")]
    assert parse_expr(" -2A+0.5*smile_2 - 1e-1 B") == [Term(-2, "A"), Term(0.5, "smile_2"), Term(-0.1, "B")]
    assert arith.format_expr(parse_expr("2A - 0.5*B + C")) == "2 A - 0.5 B + C"


@pytest.mark.parametrize("expr, says", [
    ("", "empty expression"),
    ("A -", "ends after '-'"),
    ("A B", "expected + or - before 'B'"),
    ("A + + B", "an operator at position 5"),
    ("A ? B", "unexpected character '?'"),
    ("2 + A", "the number 2 at position 1 must be followed by a concept name"),
    ("__import__('os')", "unexpected character '_'"),
])
def test_parse_expr_errors_are_one_line(expr, says):
    with pytest.raises(arith.GanlensError) as e:
        parse_expr(expr)
    msg = str(e.value)
    assert says in msg and f"--expr {expr!r}" in msg and "\n" not in msg


def test_parse_seeds_and_z_files(tmp_path):
    assert arith.parse_seeds("3,17, 10-12", "--A") == [3, 17, 10, 11, 12]
    for bad, says in (("3,x", "expected seeds"), ("5-3", "runs backwards"), ("1,1", "listed twice")):
        with pytest.raises(arith.GanlensError, match=says):
            arith.parse_seeds(bad, "--A")
    np.save(tmp_path / "z.npy", np.ones((2, 4), np.float32))
    np.savetxt(tmp_path / "z.txt", np.arange(4.0))
    assert arith.load_z_file(tmp_path / "z.npy", 4, "--A").shape == (2, 4)
    assert torch.equal(arith.load_z_file(tmp_path / "z.txt", 4, "--A"), torch.arange(4.0)[None])
    with pytest.raises(arith.GanlensError, match=r"shape \(k, 5\)"):
        arith.load_z_file(tmp_path / "z.npy", 5, "--A")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(arith.GanlensError, match="not a readable .npy"):  # allow_pickle=False
        arith.load_z_file(tmp_path / "o.npy", 4, "--A")
    with pytest.raises(arith.GanlensError, match=".npy/.txt"):
        arith.load_z_file(tmp_path / "z.pt", 4, "--A")


# ------------------------------------------------------------------------------------------- arithmetic

def test_arithmetic_is_exact_for_a_linear_generator():
    """For G(z) = W z, G(mean A - mean B + mean C) equals the same arithmetic on the exemplar images."""
    nz = 16
    W = torch.randn(3 * 8 * 8, nz, dtype=torch.float64)
    G = lambda z: (z.double() @ W.T).reshape(-1, 3, 8, 8)  # noqa: E731
    concepts = {n: arith.Concept(n, torch.stack([latent_from_seed(s, nz) for s in seeds]), seeds=seeds)
                for n, seeds in (("A", [3, 17, 42]), ("B", [5, 8, 99]), ("C", [1, 2]))}
    terms = parse_expr("A - 2 B + 0.5 C")
    y = combine(terms, {n: c.mean for n, c in concepts.items()})
    manual = (concepts["A"].z.double().mean(0) - 2 * concepts["B"].z.double().mean(0)
              + 0.5 * concepts["C"].z.double().mean(0))
    assert torch.allclose(y.double(), manual, atol=1e-6)
    pixel = combine(terms, {n: G(c.z).mean(0) for n, c in concepts.items()})
    assert torch.allclose(G(y)[0], pixel, atol=1e-5)
    # seeds follow the latent_from_seed rule
    assert torch.equal(concepts["A"].z[1], latent_from_seed(17, nz))


def test_jitter_respects_the_latent_distribution():
    g = torch.Generator().manual_seed(0)
    y = torch.full((64,), 0.95)
    n = arith.jitter(y, 4000, "uniform", 0.25, g)
    assert n.min() >= -1 and n.max() <= 1                        # uniform: clipped into the support
    assert (n == 1).any()                                        # ... which the noise did reach
    z = torch.zeros(64)
    n = arith.jitter(z, 4000, "normal", 0.25, g)
    assert n.abs().max() <= 0.25 * 3 ** 0.5 + 1e-6               # U(-0.433, 0.433)
    assert abs(float(n.std()) - 0.25) < 0.01                     # std = 0.25 x latent std (1)
    n = arith.jitter(z, 4000, "uniform", 0.25, g)
    assert abs(float(n.abs().max()) - 0.25) < 1e-3               # the paper's +-0.25 on U(-1, 1)
    grid = arith.grid_latents(y, torch.zeros(8, 64))
    assert torch.equal(grid[4], y) and grid.shape == (9, 64)


def test_turn_rows_follow_the_direction():
    a, b = torch.randn(8), torch.randn(8)
    bases = torch.randn(2, 8)
    zt = arith.turn_latents(a, b, bases, 5)
    assert zt.shape == (3, 5, 8)
    assert torch.allclose(zt[0, 0], a) and torch.equal(zt[0, -1], b)
    assert torch.allclose(zt[1, 0], bases[0]) and torch.allclose(zt[2, -1] - bases[1], b - a, atol=1e-6)


# ---------------------------------------------------------------------------------------- rooms measure

def _room(sky: bool, size=32) -> torch.Tensor:
    img = torch.empty(3, size, size, dtype=torch.uint8)
    img[:] = torch.tensor([200, 190, 170], dtype=torch.uint8)[:, None, None]  # wall
    if sky:
        img[:, 4:12, 8:16] = torch.tensor([110, 170, 240], dtype=torch.uint8)[:, None, None]
    img[:, 24:, :] = torch.tensor([60, 90, 230], dtype=torch.uint8)[:, None, None]  # a blue bed: bottom, ignored
    return img


def test_window_measure():
    imgs = torch.stack([_room(True), _room(False)])
    assert arith.has_window(imgs).tolist() == [True, False]
    check = arith.check_window_measure(32, n=24)
    assert check["accuracy"] > 0.75 and check["scenes"] == 24


class _SkyG(torch.nn.Module):
    """Toy generator: paints a window when z[0] > 0.5 (in [-1, 1], like tanh output)."""

    def forward(self, z):
        sky = (z.flatten(1)[:, 0] > 0.5).tolist()  # G may get (N, nz) or (N, nz, 1, 1)
        return torch.stack([_room(s) for s in sky]).float() / 127.5 - 1


def test_auto_window_demo_moves_the_measure():
    model = ganlens.wrap(_SkyG(), nz=16)
    concepts, desc, pools = arith.auto_concepts(model, 60, 0)
    assert desc["with_window"] >= 3 and desc["window_free"] >= 6
    assert all(model.latents(concepts["window"].seeds)[:, 0].gt(0.5))
    trials = arith.run_trials(model, pools, 6, 0.25, 0)
    assert trials["result_window_rate"] > trials["control_window_rate"]
    assert trials["count"] == 6 and len(trials["per_trial"]) == 6
    # the whole demo from Python, on a model with no rooms provenance: measure="window" turns it on
    r = ganlens.arith(model, measure="window", candidates=60, trials=4)
    assert r["expr"] == "window - nowindow + room" and r["settings"]["demo"]
    assert r["measure"]["trials"]["count"] == 4 and r["turn"]["seeds"] == r["concepts"]["room"]["seeds"]
    assert r["turn"]["window_rate_by_step"][-1] >= r["turn"]["window_rate_by_step"][0]


# ---------------------------------------------------------------------------------------------- the CLI

@pytest.mark.parametrize("argv, says", [
    (["--expr", "A - - B"], "--expr 'A - - B': an operator at position 5"),
    (["--expr", "A - B + D", "--A", "1", "--B", "2"], "--expr 'A - B + D': unknown concept D (no exemplars given); "
                                                     "pass --D SEEDS or --concept D=SEEDS"),
    (["--expr", "smile - A", "--A", "1"], "unknown concept smile"),
    (["--expr", "A", "--A", "1", "--concept", "A=2"], "concept A is given twice"),
    (["--expr", "A", "--A", "1,x"], "--A 1,x: expected seeds"),
    (["--turn", "A", "--A", "1"], "--turn A: expected FROM:TO"),
    ([], "--expr: give an expression"),  # the automatic demo needs a rooms model
])
def test_cli_errors_are_one_line_and_write_nothing(tiny_checkpoint, tmp_path, capsys, argv, says):
    out = tmp_path / "out"
    code, err = run(argv + ["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--device", "cpu",
                            "--measure", "none"], capsys)
    assert code == 2
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_cli_end_to_end(tiny_checkpoint, tmp_path, capsys):
    np.save(tmp_path / "c.npy", np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32))
    out = tmp_path / "out"
    argv = ["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--device", "cpu", "--expr", "A - B + C",
            "--A", "1,2,3", "--B", "4-6", "--concept", f"C={tmp_path / 'c.npy'}", "--turn", "B:A",
            "--turn-seeds", "7,8", "--turn-steps", "3", "--measure", "window"]
    code, err = run(argv, capsys)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"arith.json", "arith.npz", "arith.pdf", "arith.png",
                                              "turn.pdf", "turn.png"}
    r = json.loads((out / "arith.json").read_text())
    assert r["expr"] == "A - B + C" and r["concepts"]["B"]["seeds"] == [4, 5, 6]
    assert r["concepts"]["C"]["count"] == 2
    assert r["settings"]["noise_amplitude"] == pytest.approx(0.25 * 3 ** 0.5)
    assert len(r["measure"]["expr"]["grid_has_window"]) == 9
    assert r["turn"]["seeds"] == [7, 8] and len(r["turn"]["window_rate_by_step"]) == 3
    z = np.load(out / "arith.npz", allow_pickle=False)
    # the saved centre latent is the arithmetic of the saved exemplar latents
    y = z["z_A"].astype(np.float64).mean(0) - z["z_B"].mean(0) + z["z_C"].mean(0)
    assert np.allclose(z["y"], y, atol=1e-5) and np.array_equal(z["z_grid"][4], z["y"])
    assert z["turn_frames"].shape == (3, 3, 3, 32, 32)
    # same arguments, same numbers
    first = (out / "arith.json").read_text()
    assert run(argv, capsys)[0] == 0
    strip = lambda s: {k: v for k, v in json.loads(s).items() if k != "provenance"}  # noqa: E731
    assert strip(first) == strip((out / "arith.json").read_text())


# ------------------------------------------------------------------------------------------- any GAN

@pytest.mark.parametrize("arch", sorted(ALL))
def test_arith_on_any_gan(arch, tmp_path):
    gan = ALL[arch]()
    z_c = torch.randn(2, gan.nz, generator=torch.Generator().manual_seed(3))
    r = ganlens.arith(gan, "A - B + 0.5 C", {"A": [1, 2], "B": [3], "C": z_c, "unused": [9]}, turn="B:A",
                      turn_seeds=[7, 8], turn_steps=3, measure="none")
    assert r.kind == "arith" and r["expr"] == "A - B + 0.5 C" and set(r["concepts"]) == {"A", "B", "C"}
    assert r["concepts"]["C"] == {"count": 2, "seeds": None, "file": None}
    y = gan.latents([1, 2]).double().mean(0) - gan.latents([3]).double().mean(0) + 0.5 * z_c.double().mean(0)
    assert np.allclose(r.arrays["y"], y.numpy(), atol=1e-5) and np.array_equal(r.arrays["z_grid"][4], r.arrays["y"])
    shape = (gan.nc, gan.image_size, gan.image_size)
    assert r.arrays["grid"].shape == (9, *shape) and r.arrays["turn_frames"].shape == (3, 3, *shape)
    assert r["turn"]["seeds"] == [7, 8] and "measure" not in r.data
    r.save(tmp_path / "out")
    assert r.to_dict() == json.loads((tmp_path / "out" / "arith.json").read_text())
    assert {"arith.png", "turn.png", "arith.npz"} <= {p.name for p in (tmp_path / "out").iterdir()}
    for name in ("arith", "turn"):
        assert isinstance(fig := r.figure(name), Figure)
        plt.close(fig)


def test_python_api_errors():
    gan = ALL["mlp"]()
    for kw, says in ((dict(expr="A - B", concepts={"A": [1]}), "unknown concept B"),
                     (dict(expr="A", concepts={"A": torch.zeros(2, 5)}), r"shape \(k, 16\)"),
                     (dict(expr="A", concepts={"A": [1.5]}), "a list of seeds"),
                     (dict(expr="A", concepts={"A": [1]}, measure="window"), "needs colour images"),
                     (dict(), "give an expression"),
                     (dict(turn="A", concepts={"A": [1]}), "expected FROM:TO"),
                     (dict(expr="A", concepts={"A": [1]}, turn_steps=1), "turn_steps must be at least 2")):
        with pytest.raises(ganlens.GanlensError, match=says):
            ganlens.arith(gan, **kw)


@pytest.mark.parametrize("arch", ["mlp_gan", "onebyone_gan"])
def test_cli_with_model(arch, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--model", f"{Path(__file__).parent / 'archs.py'}:{arch}", "--out", str(out), "--device", "cpu",
            "--expr", "A - B", "--A", "1,2", "--B", "3", "--turn", "B:A", "--turn-steps", "2"]
    code, err = run(argv, capsys)
    assert code == 0, err
    assert err.count("\n") == 1 and err.startswith("arith: A - B: |Y| = ")
    j = json.loads((out / "arith.json").read_text())
    assert j["settings"]["measure"] is None and j["turn"]["seeds"] == [1000, 1001, 1002]  # auto: not a rooms model
    assert j["checkpoint"]["source"] == f"--model {argv[1]}" and j["provenance"]["command"].startswith(arith.PROG)
    assert {"arith.png", "turn.png"} <= {p.name for p in out.iterdir()}
