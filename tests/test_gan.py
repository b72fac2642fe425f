"""The "any PyTorch GAN" core: ganlens.wrap, layers by module path and generic aliases, the one
generation helper, Results, provenance, --model and --layer list, on networks ganlens did not build."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import ganlens
from archs import ALL, NZ, mlp_nets, paper_nets, sn_nets
from ganlens import cli
from ganlens.core import generate, hooks, layers, results
from ganlens.core.errors import GanlensError

ARCHS = Path(__file__).parent / "archs.py"


# ------------------------------------------------------------------------------------------------ wrap

@pytest.mark.parametrize("name", sorted(ALL))
def test_wrap_finds_latent_shape_image_shape_and_layers(name):
    gan = ALL[name]()
    want = {"paper": (2, 3, 32), "sn": (4, 3, 32), "mlp": (2, 1, 28), "onebyone": (4, 3, 32)}[name]
    assert (gan.latent_dims, gan.nc, gan.image_size) == want
    z = gan.latents([0, 1, 2])
    x = gan.generate(z)
    assert x.shape == (3, gan.nc, gan.image_size, gan.image_size) and x.abs().max() <= 1
    assert torch.equal(x, gan.G(gan.g_input(z)).float())  # the helper adds nothing but batching
    tg, td = gan.layers("G"), gan.layers("D")
    assert tg.output.shape == (gan.nc, gan.image_size, gan.image_size)
    assert td.output.channels == 1
    assert {"top", "second-highest", "output"} <= set(tg.aliases) and {"last", "output"} <= set(td.aliases)
    assert gan.sha256 is None and gan.origin()["checkpoint"] == "in-memory"


def test_aliases_follow_the_generic_rule():
    paper = ALL["paper"]()
    g = {l.name: l for l in paper.layers("G").layers}
    # Linear -> Unflatten -> BatchNorm -> ReLU is one 4x4 layer, read after its ReLU (module "3")
    assert g["3"].shape == (32, 4, 4) and g["3"].module == "Linear"
    assert paper.layer("G", "top").shape == (8, 16, 16) and paper.layer("G", "second-highest").shape == (16, 8, 8)
    assert paper.layer("D", "last").shape == (32, 4, 4)
    assert paper.layer("D", "output").spatial is False          # the Linear logit is a 1x1 map
    mlp = ALL["mlp"]()
    assert [l.shape for l in mlp.layers("G").hidden] == [(64, 1, 1), (128, 1, 1)]
    assert mlp.layer("G", "top").name == "4" and mlp.layer("G", "second-highest").name == "1"
    one = ALL["onebyone"]()
    assert one.layer("G", "top").shape == (8, 32, 32)            # the 32x32 map before the 1x1 conv
    assert one.layer("G", "output").shape == (3, 32, 32)


def test_own_dcgan_keeps_its_block_names(tiny_pair):
    config, G, D = tiny_pair
    gan = ganlens.wrap(G, D, nz=config.nz)
    assert gan.layers("G").names() == ["block1", "block2", "block3", "output"]
    assert gan.layer("G", "second-highest").name == "block2" and gan.layer("G", "top").name == "block3"
    assert gan.layer("D", "last").name == "block3"
    assert gan.layer("G", "block2.2").name == "block2.2"       # any module path that runs once


def test_inplace_relu_and_shared_activation_modules():
    """Tutorial nets use ReLU(inplace=True); a custom net may reuse one activation module: its name is
    ambiguous as a hook point, so the layer is read at the module before it."""
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(NZ, 8), nn.Linear(8, 8), nn.Linear(8, 12)
            self.act = nn.LeakyReLU(0.2)

        def forward(self, z):
            return torch.tanh(self.fc3(self.act(self.fc2(self.act(self.fc1(z)))))).view(-1, 3, 2, 2)

    gan = ganlens.wrap(Shared(), nz=NZ)
    assert gan.layers("G").names() == ["fc1", "fc2", "fc3"]
    with pytest.raises(GanlensError, match="runs 2 times"):
        gan.layer("G", "act")
    G, _ = sn_nets()
    t = ganlens.wrap(G, nz=NZ).layers("G")
    assert t.names()[:3] == ["2", "5", "8"]                     # after ReLU(True), which returns its input


def test_wrap_errors_are_one_line():
    G, D = mlp_nets()
    with pytest.raises(GanlensError, match="must return images"):
        ganlens.wrap(G[:-1], nz=NZ)                              # no Unflatten: (B, 784)
    with pytest.raises(GanlensError, match="is nz right"):
        ganlens.wrap(G, nz=NZ + 1)
    with pytest.raises(GanlensError, match="D fails on images"):
        ganlens.wrap(G, paper_nets()[1], nz=NZ)                  # a 32x32 colour D for 28x28 grey images
    with pytest.raises(GanlensError, match="image_shape"):
        ganlens.wrap(D=D, nz=None)
    with pytest.raises(GanlensError, match="nn.Module"):
        ganlens.wrap(G=lambda z: z, nz=NZ)
    d_only = ganlens.wrap(D=D, nz=None, image_shape=(1, 28, 28))
    assert d_only.layer("D", "last").shape == (64, 1, 1)
    with pytest.raises(GanlensError, match="no generator"):
        d_only.require_G()


def test_layer_table_lists_names_shapes_and_aliases(capsys):
    gan = ALL["paper"]()
    text = gan.layers("D").describe()
    assert "last" in text and "32x4x4" in text and "no spatial dims" in text
    with pytest.raises(cli.Listed):
        cli.layer(gan, "G", "list")
    out = capsys.readouterr().out
    assert "second-highest" in out and "ConvTranspose2d" in out
    with pytest.raises(GanlensError, match="--layer nope: unknown generator layer 'nope'; valid layers: 3, 6, 9, 11"):
        cli.layer(gan, "G", "nope")


# ----------------------------------------------------------------------------------------------- hooks

@pytest.mark.parametrize("name", sorted(ALL))
def test_edits_work_on_every_layer_shape_and_leave_no_hook(name):
    gan = ALL[name]()
    z = gan.latents(range(4))
    layer = gan.layer("G", "second-highest")
    a, x = generate.activations(gan, z, layer.name, with_images=True)
    assert a.shape == (4,) + layer.shape and torch.equal(x, gan.generate(z))
    chans = [0, 1]
    with hooks.ablate(gan.G, layer.name, chans):
        a0 = generate.activations(gan, z, layer.name)
    assert (a0[:, chans] == 0).all() and torch.equal(a0[:, 2:], a[:, 2:])
    edited = gan.generate(z, edit=hooks.ablate(gan.G, layer.name, chans, [5.0, 6.0]))
    assert not torch.equal(edited, x)
    mask = torch.zeros(layer.shape[1:], dtype=torch.bool)
    mask[0, 0] = True
    with hooks.set_channels(gan.G, layer.name, [0], 7.0, mask=mask):
        a1 = generate.activations(gan, z, layer.name)
    assert (a1[:, 0, 0, 0] == 7).all() and torch.equal(a1[:, 1:], a[:, 1:])
    assert hooks.count_hooks(gan.G) == 0


def test_features_of_a_discriminator_by_alias():
    gan = ALL["mlp"]()
    x = gan.generate(gan.latents(range(3)))
    names = [gan.layer("D", n).name for n in ("last", "output")]
    f = generate.features(gan.D, x, names)
    assert f[names[0]].shape == (3, 64, 1, 1) and f[names[1]].shape == (3, 1, 1, 1)
    assert torch.allclose(f[names[1]].flatten(), gan.D(x).flatten())


def test_random_like_is_seeded_reinitialised_and_leaves_the_rng(tiny_pair):
    gan = ALL["sn"]()
    state = torch.random.get_rng_state()
    r1, r2, r3 = (ganlens.random_like(gan.D, s) for s in (0, 0, 1))
    assert torch.equal(torch.random.get_rng_state(), state)
    x = gan.generate(gan.latents(range(2)))
    assert torch.equal(r1(x), r2(x)) and not torch.equal(r1(x), r3(x)) and not torch.equal(r1(x), gan.D(x))
    assert r1.training is False
    assert ganlens.layers.table(r1).names() == gan.layers("D").names()
    config, G, D = tiny_pair                                     # ganlens's own class: rebuilt as in training
    torch.manual_seed(3)
    want = ganlens.Discriminator(config)
    assert all(torch.equal(a, b) for a, b in zip(ganlens.random_like(D, 3).state_dict().values(),
                                                  want.state_dict().values()))


# --------------------------------------------------------------------------------------------- results

def test_result_saves_json_then_figures_and_matches_to_dict(tmp_path):
    import matplotlib.figure

    def plot(data, arrays):
        from ganlens.core import figures
        fig, ax = figures.figure("one")
        ax.plot(arrays["y"])
        ax.set_title(f"{data['n']} points")
        return fig

    r = results.Result("demo", {"n": 3, "x": np.float32(0.5)}, {"y": np.arange(3.0)}, plots={"demo": plot})
    assert isinstance(r.figure(), matplotlib.figure.Figure)
    written = r.save(tmp_path / "out")
    assert {p.name for p in written} == {"demo.json", "demo.npz", "demo.pdf", "demo.png"}
    assert json.loads((tmp_path / "out" / "demo.json").read_text()) == r.to_dict() == {"n": 3, "x": 0.5}
    with pytest.raises(GanlensError, match="no figure 'other'"):
        r.figure("other")

    def broken(data, arrays):
        raise GanlensError("drawing failed")
    with pytest.raises(GanlensError):
        results.Result("demo", {"n": 1}, plots={"demo": broken}).save(tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists() and not list(tmp_path.glob(".fresh*"))


def test_provenance_records_the_call_or_the_command():
    gan = ALL["mlp"]()
    p = results.provenance(gan, 3, call="ganlens.walk(rows=2)")
    assert p["call"] == "ganlens.walk(rows=2)" and p["command"] is None and p["seed"] == 3
    assert p["model"]["checkpoint"] == "in-memory" and p["model"]["sha256"] is None
    with results.running_command("python -m ganlens.walk --rows 2"):
        q = results.provenance(gan, 3, call="ganlens.walk(rows=2)")
    assert q["command"] == "python -m ganlens.walk --rows 2" and q["call"] is None


def test_atomic_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a.txt"
    results.atomic_write(target, "one")

    def fail(f):
        f.write(b"half")
        raise OSError("disk full")
    with pytest.raises(OSError):
        results.atomic_write(target, fail)
    assert target.read_text() == "one" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_analysis_modules_are_callable_and_importable():
    import ganlens.walk as walk_module
    assert callable(ganlens.walk) and ganlens.walk is walk_module and callable(walk_module.lerp)
    assert ganlens.train.__analysis__.__name__ == "train"


# -------------------------------------------------------------------------------------------- --model

def test_model_flag_builds_and_loads_weights(tmp_path):
    gan = cli.user_model(f"{ARCHS}:paper_gan")
    assert gan.source == f"--model {ARCHS}:paper_gan" and gan.name == "paper32"
    sd = {k: v + 1 for k, v in gan.G.state_dict().items() if v.is_floating_point()}
    torch.save({"netG": sd}, tmp_path / "g.pth")
    args = cli.Parser("p", "d").parse_args([])
    args.model, args.checkpoint = f"{ARCHS}:paper_gan", str(tmp_path / "g.pth")
    loaded = cli.load_model(args, torch.device("cpu"))
    assert torch.equal(loaded.G.state_dict()["0.weight"], sd["0.weight"])
    assert loaded.sha256 == ganlens.gan.file_sha256(tmp_path / "g.pth") and "G weights from g.pth" in loaded.source


@pytest.mark.parametrize("spec,message", [
    ("nofile.py:f", "no such file nofile.py"),
    ("archs_missing:f", "importing archs_missing failed: ModuleNotFoundError"),
    (f"{ARCHS}", "expected FILE.py:FUNC"),
    (f"{ARCHS}:nothing_here", "has no function nothing_here"),
    (f"{ARCHS}:paper_nets", "paper_nets() returned tuple; it must return ganlens.wrap"),
])
def test_model_flag_errors(spec, message):
    with pytest.raises(GanlensError) as e:
        cli.user_model(spec)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_model_weights_that_do_not_fit(tmp_path):
    torch.save({"netG": {"0.weight": torch.zeros(3, 3)}}, tmp_path / "bad.pth")
    gan = cli.user_model(f"{ARCHS}:paper_gan")
    with pytest.raises(GanlensError, match="its G weights do not fit the --model G"):
        ganlens.checkpoints.load_weights(gan, tmp_path / "bad.pth")


# ------------------------------------------------------------------------------------------ validators

@pytest.mark.parametrize("argv,message", [
    (["--n", "0"], "--n must be at least 1, got 0"),
    (["--n", "x"], "argument --n: invalid int value: 'x'"),
    (["--f", "nan"], "--f must be a finite number"),
    (["--f", "1"], "--f must be below 1, got 1"),
    (["--seed", "-1"], "--seed must be in 0..2**63-1, got -1"),
    (["--seed", str(2**63)], "--seed must be in 0..2**63-1"),
])
def test_range_validators_give_the_old_one_line_messages(capsys, argv, message):
    p = cli.Parser("prog", "d")
    p.add_argument("--n", type=cli.at_least(1), default=1)
    p.add_argument("--f", type=cli.number(0, 1, open_high=True), default=0.5)
    p.add_argument("--seed", type=cli.seed_value, default=0)
    with pytest.raises(SystemExit):
        p.parse_args(argv)
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_probing_pass_leaves_modes_and_batchnorm_statistics_alone():
    G, D = paper_nets()
    D.train()
    D[4].eval()                                                  # a mixed state must come back exactly
    before = {k: v.clone() for k, v in D.state_dict().items()}
    modes = [m.training for m in D.modules()]
    gan = ganlens.wrap(G, nz=NZ)
    layers.register(D, lambda: torch.zeros(2, 3, 32, 32), "D")
    assert layers.table(D).names()[-1] == "9"
    assert [m.training for m in D.modules()] == modes
    assert all(torch.equal(before[k], v) for k, v in D.state_dict().items())
    assert gan.G.training is False                               # wrap puts the networks it is given in eval mode


@pytest.mark.parametrize("fmt", ["new", "old"])
def test_random_copies_of_spectral_norm_layers_have_norm_one(fmt):
    from torch.nn.utils import spectral_norm as old_sn
    from torch.nn.utils.parametrizations import spectral_norm as new_sn
    sn = new_sn if fmt == "new" else old_sn
    torch.manual_seed(0)
    D = nn.Sequential(sn(nn.Conv2d(3, 16, 4, 2, 1)), nn.LeakyReLU(0.2), sn(nn.Conv2d(16, 1, 4, 1, 0)), nn.Flatten())
    D(torch.randn(2, 3, 8, 8))                     # train-mode steps settle u, v for the trained weights
    D.eval()
    R = ganlens.random_like(D, 1)
    for m in (R[0], R[2]):
        w = m.weight.detach().reshape(m.weight.shape[0], -1)
        assert abs(torch.linalg.matrix_norm(w, ord=2).item() - 1) < 0.02, fmt
