"""ganlens.arith: expression parsing, exact arithmetic, jitter support, turn paths, the norm correction, the
statistics, the three controls on planted truths (a generator whose attributes are linear in z, where the
claim must stand; one where they are not, and the single-attribute design, where it must not), the rooms
detector as the judge, the Python API on every test architecture, and the command end to end."""

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
from ganlens.analyses.arith import Term, combine, parse_expr
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


def test_norm_correction_rescales_concepts_and_results():
    gan = ALL["mlp"]()
    concepts = {"A": [1, 2, 3], "B": [4, 5, 6], "C": [7, 8, 9]}
    plain = ganlens.arith(gan, "A - B + C", concepts, measure="none")
    typical = ganlens.arith(gan, "A - B + C", concepts, measure="none", norm="typical")
    mean = gan.latents([1, 2, 3]).double().mean(0)
    assert plain["settings"]["norm"] == "none" and typical["settings"]["norm"] == "typical"
    assert plain["result"]["concept_vector_norms"]["A"] == pytest.approx(float(mean.norm()), rel=1e-5)
    assert float(mean.norm()) < 0.75 * gan.nz ** 0.5          # a mean of 3 is short: ~1/sqrt(3) of sqrt(nz)
    for n in "ABC":
        assert typical["result"]["concept_vector_norms"][n] == pytest.approx(gan.nz ** 0.5, rel=1e-5)
    assert typical["result"]["latent_norm"] == pytest.approx(gan.nz ** 0.5, rel=1e-5)
    unit = {n: (v := gan.latents(concepts[n]).double().mean(0)) / v.norm() for n in "ABC"}
    y = unit["A"] - unit["B"] + unit["C"]                           # each concept at the typical norm, then Y too
    assert np.allclose(typical.arrays["y"], (y / y.norm() * gan.nz ** 0.5).numpy(), atol=1e-5)
    assert arith.typical_norm(12, "uniform") == pytest.approx(2.0)
    with pytest.raises(ganlens.GanlensError, match="norm must be one of none, typical"):
        ganlens.arith(gan, "A", {"A": [1]}, norm="unit")


def test_draw_level_rates_and_tests():
    from scipy.stats import binomtest
    out = np.array([[1] * 9, [0] * 9, [1] * 9, [1, 0] * 4 + [1]], bool)        # 4 draws x 9 samples
    r = arith.draw_rate(out, seed=0)
    assert (r["k"], r["n"]) == (23, 36) and r["rate"] == pytest.approx(23 / 36)
    lo, hi = r["ci95"]
    assert 0 <= lo < 23 / 36 < hi <= 1 and hi - lo > 0.4       # 4 draws: a wide interval, not 36 samples' width
    v = arith.versus(np.array([0.9, 0.8, 0.5, 0.6]), np.array([0.1, 0.8, 0.2, 0.7]), seed=0)
    assert (v["draws_Y_higher"], v["draws_Y_lower"], v["draws"]) == (2, 1, 4)
    assert v["p"] == pytest.approx(binomtest(2, 3, 0.5).pvalue) and v["difference"] == pytest.approx(0.25)
    assert not arith.beats(np.ones(5), np.zeros(5))              # 5 of 5 draws: p = 0.0625, not below 0.05
    assert arith.beats(np.ones(6), np.zeros(6)) and not arith.beats(np.zeros(6), np.ones(6))


def test_the_claim_can_lose_to_the_expression_without_its_subtraction():
    """If A + C (no subtraction) gives the expected outcome as often as Y, Y does not beat it: no claim."""
    rng = np.random.default_rng(1)
    draws = 20
    good = rng.random((draws, 1, 9)) < 0.8
    lat = np.concatenate([good, good, np.zeros((draws, 3, 9), bool)], 1)    # Y, A_plus_C, null, A, C
    pix = np.zeros(draws, bool)
    out = arith.compare({"claim": lat}, {"claim": pix}, "claim")
    assert out["beats"]["null"] and out["beats"]["pixel"] and out["beats"]["A_alone"]
    assert not out["beats"]["A_plus_C"] and not out["claim_stands"]
    assert out["conditions"]["A_plus_C"]["vs_Y"]["difference"] == 0.0


def test_the_decision_holds_its_level_with_clustered_outcomes():
    """Null: Y and the control have the same distribution of per-draw rates, but each draw has its own rate
    (beta(0.3, 0.3): most draws give 9 equal outcomes, as on the shipped model). McNemar over samples would
    reject often; the draw-level rule must not (one-sided claim: at most 5% plus simulation error)."""
    rng = np.random.default_rng(0)
    sims, draws = 2000, 64
    py, px = rng.beta(0.3, 0.3, (2, sims, draws, 1))
    y = (rng.random((sims, draws, 9)) < py).mean(2)
    x = (rng.random((sims, draws, 9)) < px).mean(2)
    wins = np.mean([arith.beats(y[i], x[i]) for i in range(sims)])
    assert wins <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / sims)
    yy = rng.random((400, draws, 9)) < py[:400]                 # the old rule on the same kind of data
    xx = rng.random((400, draws, 9)) < px[:400]
    old = np.mean([ganlens.stats.mcnemar(yy[i], xx[i]).p < 0.05 for i in range(400)])
    assert old > 0.2


# --------------------------------------------------------------------------------- planted truths

WINDOW_X = (1, 9, 17, 25)   # where a window may sit (top), chosen by the signs of z[2], z[3]
DOOR_X = (4, 20)            # where a door may sit (bottom), chosen by the sign of z[4]


class _PlantedG(torch.nn.Module):
    """Toy rooms, 32x32 on black: a red "window" when f(z)[0] > 0.5 and a green "door" when f(z)[1] > 0.5,
    each at one of several places chosen by other coordinates (so averaging images blurs them out,
    as the paper says of pixel arithmetic). f = identity: attributes linear in z (arithmetic can work);
    f = sin(40 z): attributes that latent arithmetic cannot carry."""

    def __init__(self, linear: bool = True):
        super().__init__()
        self.linear = linear

    def forward(self, z):
        z = z.flatten(1)
        f = z if self.linear else torch.sin(40 * z)
        x = torch.full((len(z), 3, 32, 32), -1.0)
        place = (z[:, 2] > 0).long() + 2 * (z[:, 3] > 0).long()
        for i in range(len(z)):
            if f[i, 0] > 0.5:
                x0 = WINDOW_X[int(place[i])]
                x[i, 0, 2:9, x0:x0 + 6] = 1
            if f[i, 1] > 0.5:
                x0 = DOOR_X[int(z[i, 4] > 0)]
                x[i, 1, 17:31, x0:x0 + 8] = 1
        return x


def _judge(x: torch.Tensor) -> dict:
    """The planted truth: a window is >= 8 clearly red pixels, a door >= 8 clearly green ones."""
    r, g = x[:, 0].int(), x[:, 1].int()
    return {"window": ((r > 200) & (g < 100)).sum((1, 2)) >= 8, "door": ((g > 200) & (r < 100)).sum((1, 2)) >= 8}


def test_the_claim_stands_when_attributes_are_linear_in_z():
    gan = ganlens.wrap(_PlantedG(), nz=16)
    r = ganlens.arith(gan, measure=_judge, n=160, draws=30)
    assert r["expr"] == "window_nodoor - nowindow_nodoor + nowindow_door" and r["settings"]["demo"]
    c = r["claim"]
    assert c["from"] == "trials" and c["measure"] == "window & door" and c["samples"] == 30 * 9
    assert c["beats"] == {"A_plus_C": True, "null": True, "pixel": True, "A_alone": True, "C_alone": True}
    assert c["claim_stands"]
    assert c["rates"]["Y"]["rate"] > 0.5 > c["rates"]["A_alone"]["rate"] + c["rates"]["null"]["rate"]
    assert c["rates"]["pixel"]["rate"] < 0.2                     # the averaged images blur the objects away
    t = r["trials"]["conditions"]
    assert t["A_alone"]["rates"]["window"]["rate"] > 0.9          # A alone has the window, not the door
    # the exemplars were sorted by the judge, the figure takes the first 3 of each pool in seed order
    z = {n: gan.latents(r["concepts"][n]["seeds"]) for n in r["figure"]["names"]}
    assert (z["window_nodoor"][:, 0] > 0.5).all() and (z["window_nodoor"][:, 1] <= 0.5).all()
    assert (z["nowindow_door"][:, 0] <= 0.5).all() and (z["nowindow_door"][:, 1] > 0.5).all()
    assert r["concepts"]["window_nodoor"]["seeds"] == sorted(r["concepts"]["window_nodoor"]["seeds"])
    assert r["turn"]["rates_by_step"]["window"][-1] > r["turn"]["rates_by_step"]["window"][0]
    assert r["turn"]["seeds"] == r["concepts"]["nowindow_door"]["seeds"]


def test_the_claim_fails_when_latent_arithmetic_cannot_carry_the_attributes():
    gan = ganlens.wrap(_PlantedG(linear=False), nz=16)
    r = ganlens.arith(gan, measure=_judge, candidates=160, trials=12)
    assert not r["claim"]["claim_stands"] and not r["claim"]["beats"]["null"]
    assert r["claim"]["rates"]["Y"]["rate"] < 0.5


def test_one_attribute_is_no_test_mean_A_alone_wins():
    """The old demo's design (A and B + C from the same pools): Y = mean(A) + zero-mean noise, so A alone
    does at least as well and the claim must not stand."""
    gan = ganlens.wrap(_PlantedG(), nz=16)
    z = gan.latents(range(300))
    win = [s for s in range(300) if z[s, 0] > 0.5][:3]
    none = [s for s in range(300) if z[s, 0] <= 0.5][:6]
    r = ganlens.arith(gan, "A - B + C", {"A": win, "B": none[:3], "C": none[3:]}, measure=_judge)
    c = r["claim"]
    assert c["from"] == "controls" and c["measure"] == "window" and c["samples"] == 9
    assert c["rates"]["A_alone"]["rate"] >= c["rates"]["Y"]["rate"] and not c["beats"]["A_alone"]
    assert not c["claim_stands"]


def test_the_rooms_detector_judges_real_rooms():
    """The judge of rooms models: on rendered rooms it agrees with the exact masks (images in uint8)."""
    from ganlens.data.rooms import WINDOW, DOOR, make_rooms
    judge = arith.detector_judge(ganlens.load(), ("window", "door"))
    assert judge.info["name"] == "rooms detector" and judge.info["heldout_quality"]["window"]["image_recall"] > 0.9
    imgs, masks = make_rooms(64, size=64, seed=7)
    got = judge(torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous())
    for name, cls in (("window", WINDOW), ("door", DOOR)):
        truth = (masks == cls).reshape(64, -1).sum(1) >= 64
        assert (got[name] == truth).mean() > 0.85, name
    with pytest.raises(ganlens.GanlensError, match="knows wall, floor"):
        arith.detector_judge(ganlens.load(), ("window", "sofa"))


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
            "--turn-seeds", "7,8", "--turn-steps", "3", "--measure", "none"]
    code, err = run(argv, capsys)
    assert code == 0, err
    assert {p.name for p in out.iterdir() if p.name != ".ganlens-written.json"} == {"arith.json", "arith.npz", "arith.pdf", "arith.png",
                                              "controls.pdf", "controls.png", "turn.pdf", "turn.png"}
    r = json.loads((out / "arith.json").read_text())
    assert r["expr"] == "A - B + C" and r["concepts"]["B"]["seeds"] == [4, 5, 6]
    assert r["concepts"]["C"]["count"] == 2
    assert r["settings"]["noise_amplitude"] == pytest.approx(0.25 * 3 ** 0.5)
    assert r["controls"]["scored"] is False and "claim" not in r and "measure" not in r  # no judge: shown, not scored
    assert r["turn"]["seeds"] == [7, 8]
    z = np.load(out / "arith.npz", allow_pickle=False)
    # the saved centre latent is the arithmetic of the saved exemplar latents
    y = z["z_A"].astype(np.float64).mean(0) - z["z_B"].mean(0) + z["z_C"].mean(0)
    assert np.allclose(z["y"], y, atol=1e-5) and np.array_equal(z["z_grid"][4], z["y"])
    assert z["turn_frames"].shape == (3, 3, 3, 32, 32) and z["controls_grid"].shape == (5, 9, 3, 32, 32)
    # The controls' Y is the figure's grid: the same latents, rendered by G in another batch (conditions x
    # 9 samples x draws vs exemplars + means + grid), so a pixel on a rounding boundary of the uint8
    # conversion may come out one grey level apart on another CPU's convolution kernels.
    diff = np.abs(z["controls_grid"][0].astype(np.int16) - z["grid"].astype(np.int16))
    assert diff.max() <= 1 and diff.mean() < 0.01
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
    assert {"arith.png", "controls.png", "turn.png", "arith.npz"} <= {p.name for p in (tmp_path / "out").iterdir()}
    for name in ("arith", "controls", "turn"):
        assert isinstance(fig := r.figure(name), Figure)
        plt.close(fig)


def test_python_api_errors():
    gan = ALL["mlp"]()
    for kw, says in ((dict(expr="A - B", concepts={"A": [1]}), "unknown concept B"),
                     (dict(expr="A", concepts={"A": torch.zeros(2, 5)}), r"shape \(k, 16\)"),
                     (dict(expr="A", concepts={"A": [1.5]}), "a list of seeds"),
                     (dict(expr="A", concepts={"A": [1]}, measure="detector"), "judges 64x64 RGB"),
                     (dict(expr="A", concepts={"A": [1]}, measure="sky"), "measure must be one of"),
                     (dict(expr="A", concepts={"A": [1]}, target="door"), "--target and --context must differ"),
                     (dict(), "give an expression"),
                     (dict(turn="A", concepts={"A": [1]}), "expected FROM:TO"),
                     (dict(expr="A", concepts={"A": [1]}, turn_steps=1), "turn_steps must be at least 2")):
        with pytest.raises(ganlens.GanlensError, match=says):
            ganlens.arith(gan, **kw)


def test_demo_on_the_shipped_model(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run(["--out", str(out), "--device", "cpu", "--trials", "3", "--candidates", "128"], capsys)
    assert code == 0, err
    assert err.count("\n") == 1 and "window & door over 27 samples (trials)" in err and "claim " in err
    j = json.loads((out / "arith.json").read_text())
    assert j["measure"]["judge"]["name"] == "rooms detector" and j["settings"]["norm"] == "none"
    assert set(j["claim"]["beats"]) == {"A_plus_C", "A_alone", "null", "pixel", "C_alone"} and j["trials"]["draws"] == 3
    assert {"controls.png", "arith.png", "turn.png"} <= {p.name for p in out.iterdir()}


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
