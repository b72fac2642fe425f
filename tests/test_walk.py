"""ganlens.walk and ganlens.memorization: paths, sharpness, the copy detector, the feature space on any D,
the Python API and the CLI end to end, on ganlens's own DCGAN and on the test architectures of archs.py."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import nn

import ganlens
from ganlens.core import checkpoints
from ganlens import cli, walk
from ganlens.analyses import memorization
from ganlens.data.sets import RoomsSet, TensorSet, open_images, to_float
from archs import ALL
from foreign import tutorial_generator

SIZE = 32


class CopyingGenerator(nn.Module):
    """The worst memorizer: z -> the stored training image whose anchor latent is most aligned with z."""

    def __init__(self, images: torch.Tensor, nz: int = 16, seed: int = 0):
        super().__init__()
        self.images = to_float(images)
        self.anchors = torch.randn(len(images), nz, generator=torch.Generator().manual_seed(seed))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.flatten(1)
        return self.images[(nn.functional.normalize(z, dim=1) @ self.anchors.T).argmax(1)]


# ------------------------------------------------------------------------------------------- paths

@pytest.mark.parametrize("path", [walk.lerp, walk.slerp])
def test_interpolation_endpoints_are_exact(path):
    z0, z1 = torch.randn(100), torch.randn(100) * 3
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    z = path(z0, z1, t)
    assert z.shape == (4, 100)
    assert torch.equal(z[0], z0) and torch.equal(z[-1], z1)
    points = torch.randn(5, 100)
    w = walk.walk_latents(points, 4, "slerp" if path is walk.slerp else "linear")
    assert w.shape == (4 * 4 + 1, 100)
    assert torch.equal(w[::4], points)  # frame k*steps is point k exactly


def test_slerp_keeps_norms_where_lerp_does_not():
    z0 = torch.randn(100)
    z1 = torch.randn(100)
    z1 = z1 / z1.norm() * z0.norm()
    t = torch.linspace(0, 1, 11)
    norms = walk.slerp(z0, z1, t).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, float(z0.norm())), rtol=1e-5)
    assert walk.lerp(z0, z1, t).norm(dim=1)[5] < 0.8 * z0.norm()  # the straight line cuts the shell
    # unequal norms: the radius moves linearly between them
    z2 = z1 * 2
    r = walk.slerp(z0, z2, t).norm(dim=1)
    assert torch.allclose(r, (1 - t) * z0.norm() + t * z2.norm(), rtol=1e-5)
    # (near-)antipodal and identical points stay finite
    assert torch.isfinite(walk.slerp(z0, -z0, t)).all() and torch.isfinite(walk.slerp(z0, z0, t)).all()


# --------------------------------------------------------------------------------------- sharpness

def test_sharpness_flags_an_injected_jump():
    steps = np.full(32, 0.02) + np.linspace(0, 0.01, 32)  # an even walk, steps vary by 1.5x
    assert walk.sharpness(steps) < 2 and walk.find_jumps(steps) == []
    steps[17] = 0.2
    assert walk.find_jumps(steps) == [17]
    assert walk.sharpness(steps) == pytest.approx(0.2 / np.median(steps))
    frozen = np.zeros(16)
    frozen[3] = 0.3  # a generator that switches images: nothing moves, then everything does
    assert walk.find_jumps(frozen) == [3] and math.isfinite(walk.sharpness(frozen))


def test_walk_of_a_copying_generator_has_jumps_and_a_smooth_one_has_none(make_pair):
    _, G, _ = make_pair(image_size=SIZE)
    points = torch.randn(2, 5, 16)
    frames, rows = walk.compute_walk(ganlens.wrap(G, nz=16), points, steps=6, interp="slerp")
    assert frames.shape == (2, 25, 3, SIZE, SIZE) and frames.dtype == torch.uint8
    assert all(r.jumps == [] for r in rows)
    assert max(r.sharpness["pixel"] for r in rows) < walk.JUMP_FACTOR

    copier = CopyingGenerator(RoomsSet(8, SIZE).chunk(0, 8))
    frames, rows = walk.compute_walk(ganlens.wrap(copier, nz=16), points, steps=6, interp="slerp")
    assert sum(len(r.jumps) for r in rows) >= 2
    for r in rows:  # every flagged step is a switch between stored images, every other step is zero
        d = np.array(r.step_distance["pixel"])
        assert sorted(j.step for j in r.jumps) == np.flatnonzero(d > 0).tolist()


# ----------------------------------------------------------------------------------- memorization

def _copy_check(generated, data, heldout, spaces):
    result, nn_ = memorization.report(data, spaces, generated, heldout, cells=3, chunk=16, progress=False)
    return result, nn_


def test_memorization_flags_a_copier_and_not_fresh_images(make_pair):
    train = RoomsSet(64, SIZE, seed=0)
    heldout = RoomsSet(64 + 40, SIZE, seed=0).chunk(64, 104)       # rooms the "model" never saw
    _, _, D = make_pair(image_size=SIZE)
    spaces = [memorization.pixel_space(), memorization.feature_space(D)]
    picks = torch.randint(0, 64, (40,), generator=torch.Generator().manual_seed(1))
    copies = train.chunk(0, 64)[picks]
    noisy = (copies.float() + 8 * torch.randn(copies.shape)).clamp(0, 255).to(torch.uint8)
    fresh = RoomsSet(300, SIZE, seed=0).chunk(200, 240)              # same distribution, not training

    res, nn_ = _copy_check(copies, train, heldout, spaces)
    assert res["memorizes"] and res["verdict"] == "copies training images"
    assert np.array_equal(nn_["pixel"]["generated"][0], picks.numpy())  # finds the very image copied
    assert res["spaces"]["pixel"]["nn_distance"]["generated"]["max"] < 1e-3
    assert res["spaces"]["pixel"]["copy_fraction"] == 1.0
    assert res["reference_images"] == 64

    assert _copy_check(noisy, train, heldout, spaces)[0]["memorizes"]

    res, _ = _copy_check(fresh, train, heldout, spaces)
    assert not res["memorizes"], res["reasons"]
    assert res["verdict"] == "no evidence of copying"
    assert res["spaces"]["pixel"]["copy_fraction"] < memorization.COPY_FRACTION_THRESHOLD
    assert 0.7 < res["spaces"]["pixel"]["ratio_generated_to_heldout"] < 1.4
    json.dumps(res)  # plain numbers only


def test_search_streams_and_matches_brute_force():
    data = TensorSet(torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8), "random")
    q_images = torch.randint(0, 256, (7, 3, 8, 8), dtype=torch.uint8)
    space = memorization.pixel_space()
    q = space.embed(q_images)
    found = memorization.search(data, [space], {"pixel": q}, exclude=np.array([3, 10]), chunk=9, progress=False)
    keep = [i for i in range(50) if i not in (3, 10)]
    d = torch.cdist(q.double(), space.embed(data.images[keep]).double())
    assert found["images"] == 48
    # The search takes float32 distances of chunks of 9 through cdist's |a|^2+|b|^2-2ab expansion, the brute
    # force float64 ones: the nearest image must be the brute force's up to float32 rounding (rtol 1e-5), and
    # the very same image wherever the runner-up is farther than that (a near-tie may go either way on
    # another CPU's kernels).
    got = torch.as_tensor(found["pixel"]["index"])
    col = torch.as_tensor([keep.index(int(i)) for i in got])
    two = d.topk(2, dim=1, largest=False).values
    assert torch.allclose(d[torch.arange(len(d)), col], two[:, 0], rtol=1e-5)
    clear = two[:, 1] > two[:, 0] * (1 + 1e-5)
    assert clear.sum() >= 5 and torch.equal(got[clear], torch.as_tensor(keep)[d.argmin(1)][clear])
    np.testing.assert_allclose(found["pixel"]["distance"], two[:, 0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(found["pixel"]["knn"], d.sort(1).values[:, :10].numpy(), rtol=1e-5)


def test_nearest_image_and_knn_do_not_depend_on_the_chunk_size():
    # Near-copies of one query (each 1 grey level off at 40 pixels): distances ~1e-3 a few ulps apart, where
    # the float32 expansion's cancellation error (~1e-4) is larger than the gaps. Searched in one chunk, in
    # chunks of 7 and image by image, the nearest image and the sorted k nearest distances must agree.
    g = torch.Generator().manual_seed(0)
    base = torch.randint(0, 256, (1, 3, 16, 16), generator=g, dtype=torch.uint8)
    imgs = base.repeat(64, 1, 1, 1)
    flat = imgs.view(64, -1)
    for i in range(64):
        idx = torch.randperm(flat.shape[1], generator=g)[:40]
        flat[i, idx] = (flat[i, idx].int() + torch.where(flat[i, idx] < 255, 1, -1)).to(torch.uint8)
    space = memorization.pixel_space()
    q = space.embed(base)
    exact = (space.embed(imgs).double() - q.double()).norm(dim=1)
    for chunk in (64, 7, 1):
        got = memorization.search(TensorSet(imgs, "near"), [space], {"pixel": q}, chunk=chunk, progress=False)["pixel"]
        assert got["index"][0] == int(exact.argmin()), chunk
        np.testing.assert_allclose(got["knn"][0], exact.sort().values[:got["knn"].shape[1]].numpy(), rtol=1e-5)


def test_data_copying_statistic_signs():
    rng = np.random.default_rng(0)
    test = rng.uniform(1, 2, 200)
    cells = rng.integers(0, 2, 200)
    close = memorization.data_copying_test(test, cells, rng.uniform(0, 1, 200), cells, 2)
    far = memorization.data_copying_test(test, cells, rng.uniform(2, 3, 200), cells, 2)
    same = memorization.data_copying_test(test, cells, rng.uniform(1, 2, 200), cells, 2)
    assert close["C_T"] < -10 < 10 < far["C_T"] and abs(same["C_T"]) < 3
    assert close["cells_used"] == [0, 1] and sum(close["test_share"]) == pytest.approx(1)
    few = memorization.data_copying_test(test, cells, np.ones(5), np.zeros(5, int), 2)
    assert few["C_T"] is None  # no cell holds 20 generated samples


def test_mann_whitney_z_is_scipys_with_the_tie_correction():
    """z_u "tie-corrected" = scipy's asymptotic, tie-corrected Mann-Whitney z with its sign; exact copies tie at 0."""
    from scipy.stats import mannwhitneyu, norm
    rng = np.random.default_rng(1)
    for test, gen in [(rng.integers(0, 4, 60).astype(float), rng.integers(0, 3, 45).astype(float)),  # many ties
                      (rng.uniform(1, 2, 50), np.r_[np.zeros(30), rng.uniform(1, 2, 20)])]:       # 30 copies at 0
        z = memorization.z_u(test, gen, "tie-corrected")
        p = mannwhitneyu(gen, test, method="asymptotic", use_continuity=False).pvalue
        assert abs(z) == pytest.approx(norm.isf(p / 2), rel=1e-6) and z < 0
    # ties make the test sharper than the untied formula says: 40 exact copies against 40 real distances
    copies, real = np.zeros(40), rng.uniform(0.1, 1, 40)
    untied = (0 - 40 * 40 / 2) / math.sqrt(40 * 40 * 81 / 12)
    assert memorization.z_u(real, copies, "tie-corrected") == pytest.approx(untied * math.sqrt(80 ** 3 - 80) / math.sqrt(
        80 ** 3 - 80 - (40 ** 3 - 40)))                                # the 40 tied zeros shrink the variance
    half = np.r_[np.zeros(20), rng.uniform(0.1, 1, 20)]
    assert memorization.z_u(real, half, "tie-corrected") < memorization.z_u(real, half + 1e-9 * np.arange(40), "tie-corrected")  # tied zeros count more
    assert memorization.z_u(np.zeros(10), np.zeros(10), "tie-corrected") == 0.0  # nothing to rank


def test_c_t_is_meehan_et_al_on_a_small_constructed_case():
    """Numbers computed with the reference's formulas (casey-meehan/data-copying, data_copying_tests.py: Zu with
    mean n m / 2 - 0.5 and sd sqrt(n m (n + m + 1) / 12), C_T over cells with Qm share > tau)."""
    from scipy.stats import mannwhitneyu
    test = np.array([0.3, 0.5, 0.5, 0.7, 0.9, 1.1, 0.2, 0.4, 0.6, 0.8, 0.5, 0.6])
    tcell = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    gen = np.array([0.1, 0.5, 0.5, 0.2, 0.3, 0.6, 0.45, 0.9, 1.0, 0.7, 0.5])
    gcell = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    tau = 2 / 11                                         # cell 2 holds exactly 2 of 11: not strictly above tau

    def reference_zu(p, q):
        n, m = len(p), len(q)
        u = mannwhitneyu(q, p, alternative="less").statistic
        return (u - (n * m / 2 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12)
    zs = [reference_zu(test[tcell == c], gen[gcell == c]) for c in (0, 1)]
    want = (6 / 12 * zs[0] + 4 / 12 * zs[1]) / (10 / 12)
    r = memorization.data_copying_test(test, tcell, gen, gcell, 3, tau=tau)
    assert r["cells_used"] == [0, 1] and r["C_T"] == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(-0.5181, abs=1e-4)      # by hand: U = 4.5 and 12.5, z = -1.8257 and +1.4434
    tied = memorization.data_copying_test(test, tcell, gen, gcell, 3, tau=tau, z="tie-corrected")
    assert tied["C_T"] == pytest.approx(r["C_T_tie_corrected"]) and tied["C_T"] < want   # no continuity, ties
    default = memorization.data_copying_test(test, tcell, gen, gcell, 3)     # tau = 20 / 11: no cell has 20
    assert default["cells_used"] == [] and default["C_T"] is None


def _entry(copy_fraction: float, ct: float | None) -> dict:
    return {"copy_fraction": copy_fraction, "data_copying": {"C_T": ct}}


def test_every_space_votes_and_the_json_says_which_flagged():
    low = memorization.COPY_FRACTION_THRESHOLD / 2
    v = memorization.vote({"pixel": _entry(low, -8.8), "feature": _entry(low, 8.9)})   # the noisy copies
    assert v["memorizes"] and v["flagged_by"] == ["pixel"] and v["votes"]["pixel"] == {
        "copy_fraction": False, "C_T": True, "flags": True}
    assert not v["votes"]["feature"]["flags"] and v["reasons"] == ["pixel: C_T = -8.80 < -3.0"]
    v = memorization.vote({"pixel": _entry(low, 1.0), "feature": _entry(0.9, None)})
    assert v["flagged_by"] == ["feature"] and v["votes"]["feature"]["copy_fraction"]
    v = memorization.vote({"pixel": _entry(low, -2.9), "feature": _entry(low, 5.0)})
    assert not v["memorizes"] and v["flagged_by"] == [] and v["verdict"] == "no evidence of copying"


def _blurred(x: torch.Tensor, sigma: float) -> torch.Tensor:
    import cv2
    a = x.permute(0, 2, 3, 1).numpy()
    return torch.from_numpy(np.stack([cv2.GaussianBlur(im, (0, 0), sigma) for im in a])).permute(0, 3, 1, 2).contiguous()


def test_noisy_and_blurred_copies_are_flagged_with_a_trained_D():
    """The shipped model's trained D: its features push noisy copies *away* from the training set
    (feature C_T > 0, so D alone would say "no copying"); pixel space flags them, and every space votes.
    Fresh rooms (a generator that does not copy, drawn from the training distribution) are not flagged."""
    gan = ganlens.load()
    spaces = memorization.spaces_for(gan)
    train = RoomsSet(300, 64, seed=0)                                  # the first 300 of its training scenes
    heldout = RoomsSet(20120, 64, seed=0).chunk(20000, 20120)           # scenes after its training set
    g = torch.Generator().manual_seed(1)
    copies = train.chunk(0, 300)[torch.randperm(300, generator=g)[:120]]
    noisy = (copies.float() + 12 * torch.randn(copies.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)
    check = lambda x: memorization.report(train, spaces, x, heldout, cells=3, progress=False)[0]  # noqa: E731
    res = check(noisy)                                                  # sigma 12/255
    assert res["memorizes"] and "pixel" in res["flagged_by"] and res["votes"]["pixel"]["C_T"]
    assert res["spaces"]["feature"]["data_copying"]["C_T"] > 0 and not res["votes"]["feature"]["C_T"]
    for sigma in (1.0, 2.0):                                            # cv2.GaussianBlur copies
        res = check(_blurred(copies, sigma))
        assert res["memorizes"] and "pixel" in res["flagged_by"], (sigma, res["reasons"])
    res = check(RoomsSet(30120, 64, seed=0).chunk(30000, 30120))
    assert not res["memorizes"] and res["flagged_by"] == [], res["reasons"]


# -------------------------------------------------------------------------------------------- CLI

@pytest.fixture
def rooms_checkpoint(tmp_path, make_pair):
    config, G, D = make_pair(image_size=SIZE)
    prov = checkpoints.provenance(0, data="rooms:n=48,seed=0")
    return checkpoints.save(tmp_path / "rooms.pt", config, G, D, provenance=prov)


def test_cli_end_to_end(tmp_path, rooms_checkpoint, capsys):
    out = tmp_path / "walk"
    argv = ["--checkpoint", str(rooms_checkpoint), "--out", str(out), "--rows", "2", "--points", "4",
            "--steps", "3", "--data", "rooms", "--samples", "24", "--holdout", "16", "--cells", "2", "--video"]
    assert cli.run(walk.main, argv, walk.PROG) == 0
    names = {p.name for p in out.iterdir()}
    assert {"walk.json", "walk.npz", "walk.pdf", "walk.png", "walk.mp4", "neighbours.pdf", "neighbours.png"} <= names
    j = json.loads((out / "walk.json").read_text())
    assert isinstance(j["sharpness"], float) and isinstance(j["step_distance"], float)
    assert j["summary"]["sharpness"] == j["sharpness"] and "sharpness_feature" in j["summary"]
    assert j["settings"]["interp"] == "slerp" and j["settings"]["frames_per_row"] == 10
    assert len(j["rows"]) == 2 and j["rows"][1]["seeds"] == [4, 5, 6, 7]
    assert len(j["rows"][0]["step_distance"]["pixel"]) == 9 and len(j["rows"][0]["step_distance"]["feature"]) == 9
    mem = j["memorization"]
    assert mem["data"] == "rooms:n=48,seed=0"            # the checkpoint's own training set
    assert mem["heldout"].startswith("rooms scenes 48..")
    assert mem["reference_images"] == 48 and set(mem["spaces"]) == {"pixel", "feature"}
    assert "C_T" in mem["spaces"]["pixel"]["data_copying"] and isinstance(mem["memorizes"], bool)
    arrays = np.load(out / "walk.npz")
    assert arrays["frames"].shape == (2, 10, 3, SIZE, SIZE)
    assert arrays["neighbours_query"].shape == arrays["neighbours_pixel"].shape
    assert "rooms:n=48,seed=0" in capsys.readouterr().err


def test_cli_generator_only_foreign_checkpoint_and_resized_data(tmp_path):
    path = tmp_path / "netG.pth"
    torch.save(tutorial_generator(nz=16, ngf=8, image_size=SIZE).state_dict(), path)
    rng = np.random.default_rng(0)
    npz = tmp_path / "imgs.npz"
    np.savez(npz, images=rng.integers(0, 256, (20, 40, 40, 3), dtype=np.uint8))  # other size: resized
    out = tmp_path / "o"
    argv = ["--checkpoint", str(path), "--out", str(out), "--rows", "1", "--points", "3", "--steps", "2",
            "--interp", "linear", "--data", str(npz), "--samples", "8", "--holdout", "8", "--cells", "1"]
    assert cli.run(walk.main, argv, walk.PROG) == 0
    j = json.loads((out / "walk.json").read_text())
    assert j["spaces"] == ["pixel"] and j["definitions"]["feature"] is None
    assert "sharpness_feature" not in j["summary"]
    assert j["memorization"]["reference_images"] == 16  # 4 of 20 held out of the search
    assert (out / "walk.png").exists() and (out / "neighbours.png").exists()


@pytest.mark.parametrize("make_argv, message", [
    (lambda t, c: ["--checkpoint", str(c), "--data", str(t / "nope")], "--data {t}/nope: no such file or folder"),
    (lambda t, c: ["--checkpoint", str(t / "bad.pt")], "{t}/bad.pt: not a readable PyTorch checkpoint"),
    (lambda t, c: ["--checkpoint", str(c), "--steps", "0"], "--steps must be at least 1, got 0"),
    (lambda t, c: ["--checkpoint", str(c), "--heldout", "x"], "--heldout needs --data"),
])
def test_bad_inputs_give_one_line_and_no_files(tmp_path, rooms_checkpoint, capsys, make_argv, message):
    (tmp_path / "bad.pt").write_bytes(b"PK\x03\x04 this is not a checkpoint")
    out = tmp_path / "out"
    try:
        code = cli.run(walk.main, make_argv(tmp_path, rooms_checkpoint) + ["--out", str(out)], walk.PROG)
    except SystemExit as e:  # a flag out of range: argparse's one-line error
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{walk.PROG}: error: ") and err.count("\n") == 1
    assert message.format(t=tmp_path) in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging left behind


# ------------------------------------------------------------------------------------ feature space

def test_feature_space_is_the_last_hidden_block_of_a_ganlens_D(make_pair):
    """The alias "last" through hooks = the old D.features(x)[-1], pooled and normalised."""
    _, _, D = make_pair(image_size=SIZE)
    x = RoomsSet(6, SIZE).chunk(0, 6)
    space = memorization.feature_space(D)
    assert space.layer == "block3"  # a 32x32 DCGAN has 3 hidden blocks
    with torch.no_grad():
        want = nn.functional.normalize(D.features(to_float(x))[-1].mean((2, 3)), dim=1)
    torch.testing.assert_close(space.embed(x), want, rtol=0, atol=1e-6)


def test_feature_space_of_a_linear_last_layer():
    """An MLP D: its last hidden layer is a Linear + LeakyReLU output (B, C), used as it is."""
    gan = ALL["mlp"]()
    x = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    space = memorization.feature_space(gan)
    assert space.layer == gan.layers("D").aliases["last"]
    with torch.no_grad():
        want = nn.functional.normalize(gan.D[:5](to_float(x)), dim=1)  # Flatten, Linear, LReLU, Linear, LReLU
    torch.testing.assert_close(space.embed(x), want, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------ any GAN

def _images_npz(path: Path, gan, n: int = 24) -> Path:
    """Random uint8 training images of the model's shape, as an .npz data set."""
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (n, gan.nc, gan.image_size, gan.image_size), dtype=np.uint8))
    return path


def _saved_equals_dict(r, out: Path) -> dict:
    r.save(out)
    saved = json.loads((out / f"{r.kind}.json").read_text())
    assert r.to_dict() == saved
    return saved


@pytest.mark.parametrize("arch", sorted(ALL))
def test_walk_and_memorization_on_any_gan(arch, tmp_path):
    gan = ALL[arch]()
    npz = _images_npz(tmp_path / "train.npz", gan)
    r = ganlens.walk(gan, rows=2, points=3, steps=2, data=str(npz), samples=8, holdout=8, cells=1)
    assert r.kind == "walk" and r["spaces"] == ["pixel", "feature"]
    assert r["settings"]["feature_layer"] == gan.layers("D").aliases["last"]
    assert r.arrays["frames"].shape == (2, 5, gan.nc, gan.image_size, gan.image_size)
    assert [row["seeds"] for row in r["rows"]] == [[0, 1, 2], [3, 4, 5]]
    assert r["checkpoint"]["path"] == "in-memory" and r["provenance"]["model"]["checkpoint"] == "in-memory"
    mem = r["memorization"]
    assert mem["reference_images"] == 24 - 4 and mem["sample_seeds"] == [6, 13] and mem["walk_frames"] == 10
    assert np.array(mem["walk_nearest"]["feature"]["index"]).shape == (2, 5)
    saved = _saved_equals_dict(r, tmp_path / "walk")
    assert saved["provenance"]["call"].startswith("ganlens.walk(")
    assert {"walk.png", "walk.pdf", "neighbours.png", "walk.npz"} <= {p.name for p in (tmp_path / "walk").iterdir()}
    for name in ("walk", "neighbours"):
        assert isinstance(fig := r.figure(name), Figure)
        plt.close(fig)

    # the same check on its own, from an opened ImageSet
    data = open_images(str(npz), gan.image_size, gan.nc)
    m = ganlens.memorization(gan, data, samples=8, holdout=8, cells=1)
    assert m.kind == "memorization" and set(m["spaces"]) == {"pixel", "feature"}
    assert m["sample_seeds"] == [0, 7] and m["verdict"] in ("no evidence of copying", "copies training images")
    assert "search_seconds" in m["timing"] and "search_seconds" not in m.data
    _saved_equals_dict(m, tmp_path / "mem")
    assert isinstance(fig := m.figure(), Figure)
    plt.close(fig)


def test_memorization_catches_a_copier_from_python(tmp_path):
    """A wrapped generator that returns training images is flagged; the analysis can fail."""
    train = RoomsSet(64, SIZE, seed=0)
    copier = ganlens.wrap(CopyingGenerator(train.chunk(0, 64)), nz=16)
    r = ganlens.memorization(copier, "rooms:n=64", samples=40, holdout=40, cells=2)
    assert r["memorizes"] and r["spaces"]["pixel"]["copy_fraction"] == 1.0
    assert list(r["spaces"]) == ["pixel"] and r["feature_layer"] is None  # no D: pixel space only
    assert r["heldout"] == "rooms scenes 64..103 (seed 0)"


def test_python_api_errors_are_one_line():
    gan = ALL["mlp"]()
    for kw, says in ((dict(points=1), "points must be at least 2, got 1"),
                     (dict(jump_factor=1.0), "jump_factor must be above 1"),
                     (dict(heldout="x"), "--heldout needs --data"),
                     (dict(data="rooms:n=20"), "rooms are colour images")):
        with pytest.raises(ganlens.GanlensError, match=says):
            ganlens.walk(gan, **kw)
    with pytest.raises(ganlens.GanlensError, match="images are 3x32x32, the model makes 1x28x28"):
        ganlens.memorization(gan, RoomsSet(20, SIZE))


@pytest.mark.parametrize("arch", ["mlp_gan", "paper_gan"])
def test_cli_with_model(arch, tmp_path, capsys):
    gan = getattr(__import__("archs"), arch)()
    npz = _images_npz(tmp_path / "train.npz", gan)
    out = tmp_path / "out"
    argv = ["--model", f"{Path(__file__).parent / 'archs.py'}:{arch}", "--out", str(out), "--device", "cpu",
            "--rows", "1", "--points", "3", "--steps", "2", "--data", str(npz), "--samples", "8", "--holdout", "8",
            "--cells", "1", "--video"]
    assert cli.run(walk.main, argv, walk.PROG) == 0
    err = capsys.readouterr().err.split("\r")[-1]  # after the (cleared) progress bar of the search
    assert err.count("\n") == 1 and err.startswith("walk: 1 walks x 5 frames") and f"against {npz}" in err
    j = json.loads((out / "walk.json").read_text())
    assert j["checkpoint"]["source"].startswith("--model ") and j["provenance"]["command"].startswith(walk.PROG)
    assert {"walk.mp4", "neighbours.png", "walk.png"} <= {p.name for p in out.iterdir()}


def test_search_that_skips_hopeless_queries_equals_reranking_every_query(monkeypatch):
    # The search re-ranks only the queries whose nearest candidate in a chunk could enter their k nearest
    # (or their nearest in the same cell); forcing every query through must give the very same numbers.
    search_mod = importlib.import_module("ganlens.analyses.memorization.search")
    g = torch.Generator().manual_seed(1)
    train = RoomsSet(120, SIZE, seed=0).chunk(0, 120)
    near = train[:30].clone()
    near.view(30, -1)[:, :5] ^= 1                                      # near-copies: gaps below the expansion's error
    data = TensorSet(torch.cat([train, near])[torch.randperm(150, generator=g)], "mixed")
    space = memorization.pixel_space()
    queries = torch.cat([train[:10], RoomsSet(20, SIZE, seed=5).chunk(0, 20)])
    q = {"pixel": space.embed(queries)}
    km = {"pixel": memorization.fit_cells(space, data, 3, 0)}
    qc = {"pixel": km["pixel"].predict(space.cell_vectors(queries, q["pixel"]))}

    def run():
        return memorization.search(data, [space], q, km, qc, chunk=16, progress=False)["pixel"]

    skipped = run()
    calls = []
    real = search_mod._could_enter
    monkeypatch.setattr(search_mod, "_could_enter",
                        lambda low, worst, slack: calls.append(len(real(low, worst, slack))) or
                        torch.arange(len(low)))
    every = run()
    assert sum(calls) < 0.8 * len(calls) * len(queries)                # the skipping did skip work
    for key in ("distance", "index", "knn", "cell", "cell_distance"):
        assert np.array_equal(skipped[key], every[key]), key
