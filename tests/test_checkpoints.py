"""ganlens.checkpoints: our format, foreign DCGAN files, the seed rule, and one-line errors for bad files."""

from __future__ import annotations

import hashlib
import os
import pickle
import shlex

import pytest
import torch

from archs import mlp_nets, onebyone_nets, paper_nets
from foreign import (PaperDiscriminator, PaperGenerator, critic, tutorial_discriminator, tutorial_generator,
                     with_spectral_norm)
import ganlens
from ganlens.core import checkpoints
from ganlens.core.checkpoints import FORMAT, latent_from_seed, load
from ganlens.core.errors import GanlensError
from ganlens.core.models import ConfigError, Generator

NZ, NGF, NDF = 20, 8, 12  # distinct values, so a mix-up between them shows


def one_line_error(path, fn=None, match=None):
    """Call ``fn`` (default: load(path)); assert a GanlensError with one line naming ``path``."""
    with pytest.raises(GanlensError) as e:
        (fn or (lambda: load(path)))()
    msg = str(e.value)
    assert "\n" not in msg
    assert str(path) in msg
    if match:
        assert match in msg, msg
    return msg


# --- ganlens format --------------------------------------------------------------------------------

def test_round_trip_identical_outputs(tmp_path, tiny_pair):
    config, G, D = tiny_pair
    prov = checkpoints.provenance(seed=7, data="rooms:n=10,seed=0")
    state = {"iteration": 12, "note": "x"}
    path = checkpoints.save(tmp_path / "sub" / "m.pt", config, G, D, state=state, provenance=prov)
    assert path == tmp_path / "sub" / "m.pt"
    m = load(path)
    assert m.config == config
    assert not m.G.training and not m.D.training
    assert not any(p.requires_grad for p in m.G.parameters())
    z = torch.randn(5, config.nz)
    assert torch.equal(m.G(z), G(z))
    x = G(z)
    assert torch.equal(m.D(x), D(x))
    for ours, theirs in ((m.G, G), (m.D, D)):
        a, b = ours.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    for key in ("command", "seed", "ganlens", "torch", "date"):
        assert key in m.provenance
    assert m.provenance["seed"] == 7
    assert m.provenance["data"] == "rooms:n=10,seed=0"
    assert m.provenance["torch"] == str(torch.__version__)
    assert m.provenance["ganlens"] == checkpoints.__version__
    assert m.source == "ganlens checkpoint"
    assert m.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    raw = checkpoints.read(path)
    assert raw["format"] == FORMAT and raw["state"] == state
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]  # no temp file left behind


def test_save_unwraps_wrapped_modules(tmp_path, tiny_pair):
    config, G, D = tiny_pair
    wrapper = torch.nn.Module()
    wrapper.module = G  # what DataParallel / DDP look like
    m = load(checkpoints.save(tmp_path / "w.pt", config, wrapper, D))
    z = torch.randn(2, config.nz)
    assert torch.equal(m.G(z), G(z))


def test_failing_save_keeps_previous_file(tmp_path, tiny_pair, monkeypatch):
    config, G, D = tiny_pair
    path = checkpoints.save(tmp_path / "m.pt", config, G, D)
    before = path.read_bytes()
    real_save = torch.save

    def broken_save(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")  # something reaches the disk, then the write fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", broken_save)
    G2 = Generator(config)
    with pytest.raises(OSError):
        checkpoints.save(path, config, G2, D)
    monkeypatch.setattr(checkpoints.torch, "save", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save(path, config, G2, D)
    monkeypatch.setattr(checkpoints.torch, "save", real_save)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    z = torch.randn(2, config.nz)
    assert torch.equal(load(path).G(z), G(z))


def test_half_precision_save_loads(tmp_path, tiny_pair):
    config, G, D = tiny_pair
    path = checkpoints.save(tmp_path / "h.pt", config, G, D, half=True)
    raw = checkpoints.read(path)
    assert all(v.dtype == torch.float16 for v in raw["G"].values() if v.is_floating_point())
    assert raw["G"]["block1.1.num_batches_tracked"].dtype == torch.int64
    m = load(path)
    for ours, theirs in ((m.G, G), (m.D, D)):
        sd = theirs.state_dict()
        for k, v in ours.state_dict().items():
            assert v.dtype == sd[k].dtype  # loaded back as float32
            want = sd[k].half().float() if sd[k].is_floating_point() else sd[k]
            assert torch.equal(v, want), k
    z = torch.randn(4, config.nz)
    assert torch.allclose(m.G(z), G(z), atol=2e-2)
    assert path.stat().st_size < 0.7 * checkpoints.save(tmp_path / "f.pt", config, G, D).stat().st_size


def test_generator_only_ganlens_file(tmp_path, tiny_pair):
    config, G, _ = tiny_pair
    path = checkpoints.save(tmp_path / "g.pt", config, G)
    m = load(path)
    assert m.D is None and m.require_G() is m.G
    one_line_error(path, m.require_D, match="no discriminator")


def test_default_checkpoint(monkeypatch, tmp_path, tiny_checkpoint):
    monkeypatch.setattr(checkpoints, "DEFAULT_CHECKPOINT", tmp_path / "missing" / "rooms64.pt")
    one_line_error(tmp_path / "missing" / "rooms64.pt", lambda: load(None), match="default model")
    monkeypatch.setattr(checkpoints, "DEFAULT_CHECKPOINT", tiny_checkpoint)
    assert load().path == tiny_checkpoint
    assert load("default").config.image_size == 32


# --- the seed rule ---------------------------------------------------------------------------------

def test_latent_from_seed_rule():
    for seed in (0, 1, 123456789):
        want = torch.randn(NZ, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(latent_from_seed(seed, NZ), want)
        want_u = torch.rand(NZ, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        assert torch.equal(latent_from_seed(seed, NZ, "uniform"), want_u)
    assert not torch.equal(latent_from_seed(0, NZ), latent_from_seed(1, NZ))
    u = latent_from_seed(5, 10000, "uniform")
    assert u.min() >= -1 and u.max() <= 1 and u.min() < -0.99 and u.max() > 0.99
    with pytest.raises(GanlensError):
        latent_from_seed(0, NZ, "cauchy")


@pytest.mark.parametrize("latent", ["normal", "uniform"])
def test_loaded_model_latents(tmp_path, make_pair, latent):
    config, G, D = make_pair(latent=latent)
    m = load(checkpoints.save(tmp_path / "m.pt", config, G, D))
    z = m.latents([3, 0, 3])
    assert z.shape == (3, config.nz)
    assert torch.equal(z[0], latent_from_seed(3, config.nz, latent))
    assert torch.equal(z[1], latent_from_seed(0, config.nz, latent))
    assert torch.equal(z[0], z[2])


# --- foreign files ---------------------------------------------------------------------------------

def foreign_pair(image_size, nc):
    torch.manual_seed(image_size + nc)
    fg = tutorial_generator(nz=NZ, ngf=NGF, nc=nc, image_size=image_size).eval()
    fd = tutorial_discriminator(ndf=NDF, nc=nc, image_size=image_size).eval()
    return fg, fd


def assert_same_networks(m, fg, fd, image_size, nc):
    """The loaded networks compute exactly what the foreign ones compute (eval mode)."""
    with torch.no_grad():
        if fg is not None:
            z = torch.randn(3, NZ, 1, 1)
            assert torch.equal(m.G(z), fg(z))
        if fd is not None:
            x = torch.rand(3, nc, image_size, image_size) * 2 - 1
            assert torch.equal(torch.sigmoid(m.D(x)), fd(x))
            assert torch.equal(m.D.prob(x), fd(x))


@pytest.mark.parametrize("image_size,nc", [(28, 1), (28, 3), (32, 1), (32, 3), (64, 1), (64, 3)])
def test_foreign_raw_state_dicts(tmp_path, image_size, nc):
    fg, fd = foreign_pair(image_size, nc)
    torch.save(fg.state_dict(), tmp_path / "netG.pth")
    torch.save(fd.state_dict(), tmp_path / "netD.pth")

    g = load(tmp_path / "netG.pth")
    assert (g.config.nz, g.config.ngf, g.config.nc, g.config.image_size) == (NZ, NGF, nc, image_size)
    assert g.D is None
    assert "generator" in g.source and g.provenance == {}
    assert_same_networks(g, fg, None, image_size, nc)
    one_line_error(tmp_path / "netG.pth", g.require_D, match="no discriminator")

    d = load(tmp_path / "netD.pth")
    assert (d.config.ndf, d.config.nc, d.config.image_size) == (NDF, nc, image_size)
    assert d.G is None
    assert "discriminator" in d.source
    assert_same_networks(d, None, fd, image_size, nc)
    one_line_error(tmp_path / "netD.pth", d.require_G, match="no generator")


WRAPPERS = {
    "netG_state_dict+netD_state_dict": lambda g, d: {"netG_state_dict": g, "netD_state_dict": d, "epoch": 4},
    "netG+netD": lambda g, d: {"netG": g, "netD": d, "optimizerG": {"state": {}, "param_groups": []}},
    "generator+discriminator": lambda g, d: {"generator": g, "discriminator": d},
    "state_dict(G)": lambda g, d: {"state_dict": g, "epoch": 1},
    "state_dict(D)": lambda g, d: {"state_dict": d},
    "netG only": lambda g, d: {"netG": g},
    "netD_state_dict only": lambda g, d: {"netD_state_dict": d},
    "discriminator only": lambda g, d: {"discriminator": d, "iteration": 9},
    "generator only": lambda g, d: {"generator": g},
}


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
@pytest.mark.parametrize("prefix", ["", "module."])
def test_foreign_wrapped_and_prefixed(tmp_path, wrapper, prefix):
    fg, fd = foreign_pair(32, 3)
    g_sd = {prefix + k: v for k, v in fg.state_dict().items()}
    d_sd = {prefix + k: v for k, v in fd.state_dict().items()}
    obj = WRAPPERS[wrapper](g_sd, d_sd)
    torch.save(obj, tmp_path / "ckpt.pth")
    m = load(tmp_path / "ckpt.pth")
    has_g = any(v is g_sd for v in obj.values())
    has_d = any(v is d_sd for v in obj.values())
    assert (m.G is not None, m.D is not None) == (has_g, has_d)
    assert (m.config.nc, m.config.image_size) == (3, 32)
    if has_g:
        assert (m.config.nz, m.config.ngf) == (NZ, NGF)
    if has_d:
        assert m.config.ndf == NDF
    assert_same_networks(m, fg if has_g else None, fd if has_d else None, 32, 3)


def test_foreign_old_file_without_num_batches_tracked(tmp_path):
    fg, fd = foreign_pair(64, 3)
    g_sd = {k: v for k, v in fg.state_dict().items() if not k.endswith("num_batches_tracked")}
    d_sd = {k: v for k, v in fd.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(g_sd) < len(fg.state_dict())
    torch.save({"netG": g_sd, "netD": d_sd}, tmp_path / "old.pth")
    m = load(tmp_path / "old.pth")
    assert_same_networks(m, fg, fd, 64, 3)


def test_foreign_prefixes_stack_and_compile(tmp_path):
    fg, _ = foreign_pair(32, 1)
    torch.save({"module._orig_mod." + k: v for k, v in fg.state_dict().items()}, tmp_path / "g.pth")
    assert_same_networks(load(tmp_path / "g.pth"), fg, None, 32, 1)


def test_foreign_generator_and_discriminator_disagree(tmp_path):
    fg, _ = foreign_pair(32, 3)
    _, fd = foreign_pair(64, 3)
    torch.save({"netG": fg.state_dict(), "netD": fd.state_dict()}, tmp_path / "mix.pth")
    one_line_error(tmp_path / "mix.pth", match="3x32x32")


# --- bad files -------------------------------------------------------------------------------------

def test_missing_empty_folder(tmp_path):
    one_line_error(tmp_path / "nope.pt", match="no such file")
    (tmp_path / "empty.pt").write_bytes(b"")
    one_line_error(tmp_path / "empty.pt", match="empty")
    (tmp_path / "dir.pt").mkdir()
    one_line_error(tmp_path / "dir.pt", match="folder")


def test_text_and_random_bytes(tmp_path):
    (tmp_path / "notes.pt").write_text("these are not weights\nline two\n")
    one_line_error(tmp_path / "notes.pt")
    (tmp_path / "noise.pt").write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    msg = one_line_error(tmp_path / "noise.pt", match="not a PyTorch checkpoint")
    assert "Python objects" not in msg  # random bytes are not a refused pickle


def test_truncated_checkpoint(tmp_path, tiny_checkpoint):
    data = tiny_checkpoint.read_bytes()
    for n in (10, len(data) // 2, len(data) - 100):
        (tmp_path / "cut.pt").write_bytes(data[:n])
        one_line_error(tmp_path / "cut.pt")


class Exploit:
    """Unpickling this runs a shell command that creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_code_running_pickle_is_refused(tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(Exploit(proof)))  # the payload works when unpickled unsafely...
    assert proof.exists()

    marker = tmp_path / "pwned"
    payloads = {
        "torch.pth": lambda p: torch.save({"netG": Exploit(marker)}, p),
        "ganlens.pt": lambda p: torch.save({"format": FORMAT, "config": {}, "G": Exploit(marker)}, p),
        "legacy.pth": lambda p: torch.save(Exploit(marker), p, _use_new_zipfile_serialization=False),
        "plain.pkl": lambda p: p.write_bytes(pickle.dumps(Exploit(marker), protocol=2)),
        "plain4.pkl": lambda p: p.write_bytes(pickle.dumps({"G": Exploit(marker)}, protocol=4)),
    }
    for name, write in payloads.items():
        write(tmp_path / name)
        one_line_error(tmp_path / name)
        assert not marker.exists(), f"{name}: loading ran the file's code"
    msg = one_line_error(tmp_path / "torch.pth", match="refused")
    assert "system" in msg


def test_shapes_that_fit_no_layout(tmp_path):
    fg, fd = foreign_pair(32, 3)
    sd = fg.state_dict()
    sd["main.3.weight"] = torch.zeros(32, 16, 3, 3)  # a 3x3 kernel where DCGAN has 4x4
    torch.save(sd, tmp_path / "odd.pth")
    msg = one_line_error(tmp_path / "odd.pth", match="fit no known DCGAN layout")
    assert "(32, 16, 3, 3)" in msg and f"({NZ}, 32, 4, 4)" in msg

    dsd = fd.state_dict()
    dsd["main.2.weight"] = torch.zeros(2 * NDF, NDF + 1, 4, 4)
    torch.save(dsd, tmp_path / "oddD.pth")
    one_line_error(tmp_path / "oddD.pth", match=f"({2 * NDF}, {NDF + 1}, 4, 4)")

    torch.save({"layer.weight": torch.zeros(8, 3, 4, 4), "head.weight": torch.zeros(1, 8, 4, 4)}, tmp_path / "two.pth")
    one_line_error(tmp_path / "two.pth", match="(1, 8, 4, 4)")

    torch.save({"fc.weight": torch.zeros(10, 784), "fc.bias": torch.zeros(10)}, tmp_path / "mlp.pth")
    msg = one_line_error(tmp_path / "mlp.pth", match="(10, 784)")
    assert "tried: tutorial DCGAN" in msg and "paper DCGAN" in msg and "MLP" in msg and "spectral norm" in msg

    torch.save({"main.0.weight": torch.zeros(3), "step": torch.tensor(1)}, tmp_path / "junk.pth")
    one_line_error(tmp_path / "junk.pth")

    # modules without a weight (a bias alone; BatchNorm(affine=False)) once crashed with KeyError
    torch.save({"main.0.bias": torch.zeros(3), "main.1.running_mean": torch.zeros(3)}, tmp_path / "bias.pth")
    one_line_error(tmp_path / "bias.pth", match="(3,)")
    no_affine = {k: v for k, v in sd.items() if not k.startswith("main.1.") or "running" in k or "batches" in k}
    no_affine["main.3.weight"] = fg.state_dict()["main.3.weight"]
    torch.save(no_affine, tmp_path / "noaffine.pth")
    one_line_error(tmp_path / "noaffine.pth", match="main.1")


def test_unknown_format_tag(tmp_path, tiny_pair):
    config, G, _ = tiny_pair
    torch.save({"format": "ganlens.checkpoint/99", "config": config.to_dict(), "G": G.state_dict()},
               tmp_path / "future.pt")
    one_line_error(tmp_path / "future.pt", match="'ganlens.checkpoint/99'")


def test_dict_without_weights(tmp_path):
    torch.save({"epoch": 3, "note": "hello"}, tmp_path / "meta.pt")
    msg = one_line_error(tmp_path / "meta.pt", match="no generator or discriminator weights")
    assert "epoch" in msg and "note" in msg
    torch.save({}, tmp_path / "nothing.pt")
    one_line_error(tmp_path / "nothing.pt")
    torch.save([torch.zeros(3)], tmp_path / "list.pt")
    one_line_error(tmp_path / "list.pt", match="list")


def test_bad_ganlens_files(tmp_path, tiny_pair):
    config, G, D = tiny_pair
    torch.save({"format": FORMAT, "G": G.state_dict()}, tmp_path / "noconfig.pt")
    one_line_error(tmp_path / "noconfig.pt", match="config")
    torch.save({"format": FORMAT, "config": {**config.to_dict(), "image_size": 50}, "G": G.state_dict()},
               tmp_path / "badsize.pt")
    one_line_error(tmp_path / "badsize.pt", match="image_size 50")
    torch.save({"format": FORMAT, "config": {**config.to_dict(), "ngf": 16}, "G": G.state_dict()},
               tmp_path / "mismatch.pt")
    one_line_error(tmp_path / "mismatch.pt", match="Generator weights do not match")


# --- other families, inferred with no flags (issue 12, point 5) ----------------------------------------

def assert_same_outputs(m, G=None, D=None, logits=True):
    """The loaded networks compute what the originals compute in eval mode: G from latents, D from images
    (one logit per image, shape (N,), when ``logits``: what ganlens builds)."""
    with torch.no_grad():
        if G is not None:
            z = m.g_input(torch.randn(4, m.nz))
            want, got = G.eval()(z), m.G(z)
            assert got.shape == want.shape == (4, m.nc, m.image_size, m.image_size)
            assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
        if D is not None:
            x = torch.rand(4, m.nc, m.image_size, m.image_size) * 2 - 1
            want, got = D.eval()(x).reshape(4), m.D(x)
            assert got.shape == (4,) if logits else got.numel() == 4
            got = got.reshape(4)
            assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def lightning(g_sd=None, d_sd=None, g="generator.", d="discriminator."):
    """A PyTorch Lightning checkpoint: both networks in one ``state_dict`` under attribute prefixes."""
    sd = {**{g + k: v for k, v in (g_sd or {}).items()}, **{d + k: v for k, v in (d_sd or {}).items()},
          "fid.inception.fc.weight": torch.zeros(3, 2)}  # a metric's weights: not G or D, left out
    return {"state_dict": sd, "epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.1.0",
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 2e-4, "params": [0, 1]}]}],
            "lr_schedulers": [], "callbacks": {}, "loops": {"fit_loop": {"epoch_progress": {"current": 3}}}}


SAVE = {
    "raw": lambda path, g, d: [torch.save(g, path.with_suffix(".G.pth")), torch.save(d, path.with_suffix(".D.pth"))],
    "netG+netD": lambda path, g, d: torch.save({"netG": g, "netD": d, "epoch": 2}, path),
    "lightning": lambda path, g, d: torch.save(lightning(g, d), path),
    "module.": lambda path, g, d: torch.save({"generator": {"module." + k: v for k, v in g.items()},
                                              "discriminator": {"module." + k: v for k, v in d.items()}}, path),
}


def save_and_load(tmp_path, G, D, wrapping):
    """Save G's and D's state dicts in ``wrapping`` and load them back: one GAN with both networks."""
    path = tmp_path / "ckpt.pth"
    SAVE[wrapping](path, G.state_dict(), D.state_dict())
    if wrapping != "raw":
        return load(path)
    g, d = load(path.with_suffix(".G.pth")), load(path.with_suffix(".D.pth"))
    assert g.D is None and d.G is None and (d.nc, d.image_size) == (g.nc, g.image_size)
    return ganlens.wrap(g.G, d.D, nz=g.nz)


@pytest.mark.parametrize("size,bn,logit,wrapping", [
    (32, True, "linear", "raw"), (64, False, "conv", "netG+netD"), (128, True, "conv", "lightning"),
    (32, False, "linear", "module."), (64, True, "linear", "lightning")])
def test_paper_family(tmp_path, size, bn, logit, wrapping):
    """The official DCGAN code's layout: Linear to 4x4xC, 5x5 stride-2 (transposed) convs with bias."""
    G = PaperGenerator(nz=NZ, ngf=4, nc=3, size=size, bn=bn)
    D = PaperDiscriminator(ndf=4, nc=3, size=size, bn=bn, logit=logit)
    m = save_and_load(tmp_path, G, D, wrapping)
    assert (m.nz, m.nc, m.image_size, m.latent_dims) == (NZ, 3, size, 2)
    assert m.config is None or wrapping == "raw"
    assert_same_outputs(m, G, D)
    if wrapping != "raw":
        assert "Linear + 5x5 ConvT" in m.source and ("no BatchNorm" in m.source) != bn


def test_paper_nets_keep_their_module_paths(tmp_path):
    """tests/archs.py's plain Sequentials come back with the same module paths (``--layer 4`` means the
    same layer as in the user's code) and the same state-dict keys."""
    G, D = paper_nets(size=64)
    torch.save({"netG": G.state_dict(), "netD": D.state_dict()}, tmp_path / "p.pth")
    m = load(tmp_path / "p.pth")
    assert m.G.state_dict().keys() == G.state_dict().keys() and m.D.state_dict().keys() == D.state_dict().keys()
    assert [type(x) for x in m.G] == [type(x) for x in G] and m.config is None
    assert_same_outputs(m, G, D)
    G2 = tutorial_generator(nz=NZ, ngf=NGF, nc=3, image_size=32)
    G2.main[0] = torch.nn.ConvTranspose2d(NZ, 4 * NGF, 4, 1, 0, bias=True)  # a bias: not ganlens's own class
    torch.save(G2.state_dict(), tmp_path / "main.pth")
    m2 = load(tmp_path / "main.pth")
    assert m2.G.state_dict().keys() == G2.state_dict().keys() and m2.layer("G", "main.6").shape == (NGF, 16, 16)
    assert_same_outputs(m2, G2)


def test_state_dict_in_another_order_loads(tmp_path):
    """Keys sorted as strings (``main.10`` before ``main.2``): the natural order of names is tried next."""
    G, _ = paper_nets(size=64)
    D = PaperDiscriminator(ndf=4, nc=1, size=128)
    torch.save(dict(sorted(G.state_dict().items())), tmp_path / "sorted.pth")
    assert list(torch.load(tmp_path / "sorted.pth"))[2].startswith("10.")
    assert_same_outputs(load(tmp_path / "sorted.pth"), G)
    torch.save(dict(sorted(D.state_dict().items())), tmp_path / "sortedD.pth")  # bn2, bn3, conv1, ...: no order fits
    one_line_error(tmp_path / "sortedD.pth", match="fit no known DCGAN layout")


@pytest.mark.parametrize("fmt", ["old", "new"])
def test_spectral_norm_both_formats(tmp_path, fmt):
    """weight_orig/_u/_v and parametrizations.weight.original/.0._u/.0._v fold into plain weights that
    reproduce eval outputs; in G too, where a transposed conv's norm runs along dim 1 (a square ConvT(8, 8)
    is the case where only the role can tell)."""
    G, _ = onebyone_nets(nz=NZ)
    G = with_spectral_norm(G, fmt, example=torch.randn(8, NZ, 1, 1))
    D = with_spectral_norm(critic(ndf=8, nc=3, size=32), fmt, example=torch.randn(8, 3, 32, 32))
    P = with_spectral_norm(PaperGenerator(nz=NZ, ngf=4, size=32), fmt, example=torch.randn(8, NZ))
    keys = list(D.state_dict())
    assert ("0.weight_orig" in keys) == (fmt == "old") and ("0.parametrizations.weight.0._u" in keys) == (fmt == "new")
    m = save_and_load(tmp_path, G, D, "lightning")
    assert "spectral norm (5 layers, folded)" in m.source and "spectral norm (4 layers, folded)" in m.source
    assert_same_outputs(m, G, D)
    torch.save(P.state_dict(), tmp_path / "p.pth")
    assert_same_outputs(load(tmp_path / "p.pth"), P)
    sd = {k: v for k, v in D.state_dict().items() if not k.endswith(("_u", "weight_u"))}
    torch.save(sd, tmp_path / "no_u.pth")
    one_line_error(tmp_path / "no_u.pth", match="without usable u and v")


def test_spectral_norm_tutorial_layout_uses_ganlens_classes(tmp_path):
    fg, fd = foreign_pair(32, 3)
    fd = with_spectral_norm(fd, "new", example=torch.rand(4, 3, 32, 32))
    torch.save({"netG": fg.state_dict(), "netD": fd.state_dict()}, tmp_path / "t.pth")
    m = load(tmp_path / "t.pth")
    assert m.config is not None and m.config.ndf == NDF and "tutorial layout, spectral norm" in m.source
    with torch.no_grad():
        x = torch.rand(3, 3, 32, 32) * 2 - 1
        assert torch.allclose(m.D.prob(x), fd(x), atol=1e-6)


@pytest.mark.parametrize("bias", [True, False])
def test_critic_without_batchnorm_and_onebyone_generator(tmp_path, bias):
    G, _ = onebyone_nets(nz=NZ)
    D = critic(ndf=8, nc=3, size=32, bias=bias)
    m = save_and_load(tmp_path, G, D, "netG+netD")
    assert "4x4 + 1x1 ConvT" in m.source and f"no BatchNorm, {'bias' if bias else 'no bias'}" in m.source
    assert m.G.state_dict().keys() == G.state_dict().keys()
    assert_same_outputs(m, G, D)
    assert m.layers("G").output.shape == (3, 32, 32) and m.layers("G").resolve("top").shape == (8, 32, 32)


def test_mlp_gan(tmp_path):
    G, D = mlp_nets(nz=NZ)
    m = save_and_load(tmp_path, G, D, "raw")
    assert (m.nc, m.image_size) == (1, 28)
    assert_same_outputs(m, G, D)


@pytest.mark.parametrize("g,d", [("generator.", "discriminator."), ("netG.", "netD."), ("G.", "D."),
                                 ("module.G.", "module.critic.")])
def test_role_prefixes(tmp_path, g, d):
    G, D = paper_nets(size=32)
    torch.save(lightning(G.state_dict(), D.state_dict(), g, d), tmp_path / "l.ckpt")
    assert_same_outputs(load(tmp_path / "l.ckpt"), G, D)
    torch.save(lightning(G.state_dict(), D.state_dict(), g, d)["state_dict"], tmp_path / "raw.ckpt")  # no wrapper
    assert_same_outputs(load(tmp_path / "raw.ckpt"), G, D)
    torch.save(lightning(G.state_dict(), None, g, d), tmp_path / "g.ckpt")
    m = load(tmp_path / "g.ckpt")
    assert m.D is None
    assert_same_outputs(m, G)


def test_load_weights_lightning_into_model(tmp_path):
    """``--model`` + a Lightning checkpoint: weights go to the user's own networks by prefix."""
    G, D = paper_nets(size=32, seed=5)
    gan = ganlens.wrap(*paper_nets(size=32, seed=6), nz=16)
    torch.save(lightning(G.state_dict(), D.state_dict()), tmp_path / "l.ckpt")
    checkpoints.load_weights(gan, tmp_path / "l.ckpt")
    assert gan.path == tmp_path / "l.ckpt" and "G+D weights from l.ckpt" in gan.source
    assert_same_outputs(gan, G, D, logits=False)
    torch.save({"netG." + k: v for k, v in G.state_dict().items()}, tmp_path / "g.pth")
    gan2 = checkpoints.load_weights(ganlens.wrap(*paper_nets(size=32, seed=7), nz=16), tmp_path / "g.pth")
    assert "with G weights" in gan2.source
    assert_same_outputs(gan2, G)


def test_cuda_file_reads_on_cpu(tmp_path, monkeypatch):
    """A file saved from CUDA tensors records their device ('cuda:0'); ``read`` maps it to the CPU. Built
    here without a GPU by making torch.save tag every storage as CUDA, which is all a CUDA save writes
    differently."""
    G, D = paper_nets(size=32)
    sd = {"netG": G.state_dict(), "netD": D.state_dict()}
    with monkeypatch.context() as mp:
        mp.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(sd, tmp_path / "cuda.pth")
    if not torch.cuda.is_available():  # the file really is a CUDA file: a plain load fails here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(tmp_path / "cuda.pth", weights_only=True)
    m = load(tmp_path / "cuda.pth")
    assert m.device.type == "cpu"
    assert_same_outputs(m, G, D)


def test_unrecognised_layers_say_why(tmp_path):
    G = torch.nn.Sequential(torch.nn.ConvTranspose2d(NZ, 16, 4), torch.nn.ReLU(),
                            torch.nn.ConvTranspose2d(16, 8, 3, 2, 1, output_padding=1), torch.nn.ReLU(),
                            torch.nn.ConvTranspose2d(8, 3, 4, 2, 1), torch.nn.Tanh())
    torch.save(G.state_dict(), tmp_path / "k3.pth")
    one_line_error(tmp_path / "k3.pth", match="a 3x3 transposed conv whose stride cannot be inferred")
    G, D = paper_nets(size=32)
    torch.save({"netG": G.state_dict(), "netD": PaperDiscriminator(ndf=4, size=64).state_dict()}, tmp_path / "m.pth")
    one_line_error(tmp_path / "m.pth", match="generator makes 3x32x32 images but discriminator takes 3x64x64")
    sd = D.state_dict()
    sd["0.weight_g"] = sd["0.weight"]  # weight norm is not recognised
    torch.save(sd, tmp_path / "wn.pth")
    one_line_error(tmp_path / "wn.pth", match="'0.weight_g'")


def test_linear_then_batchnorm1d_generator(tmp_path):
    """Ports that normalise the projection before reshaping: Linear -> BatchNorm1d(C*4*4) -> ReLU -> view."""
    nn = torch.nn
    G = nn.Sequential(nn.Linear(NZ, 16 * 16), nn.BatchNorm1d(16 * 16), nn.ReLU(), nn.Unflatten(1, (16, 4, 4)),
                      nn.ConvTranspose2d(16, 8, 5, 2, 2, output_padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.ConvTranspose2d(8, 1, 5, 2, 2, output_padding=1), nn.Tanh())
    for m in G:
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    torch.save({"generator": G.state_dict()}, tmp_path / "g.pth")
    m = load(tmp_path / "g.pth")
    assert isinstance(m.G[1], nn.BatchNorm1d) and (m.nc, m.image_size) == (1, 16)
    assert_same_outputs(m, G)
