"""ganlens.guided and ganlens.filters: guided backprop through LeakyReLU (also in place, also on a net in
train mode), receptive fields of any network, the top-k search, the analysis on every test architecture
(Python API and --model), and the command."""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
import torch
from captum.attr import NeuronGuidedBackprop
from torch import nn

import ganlens
from ganlens import checkpoints, cli
from ganlens.data import TensorSet, load_all, open_images, to_float
from ganlens.filters import PROG, main, receptive_field, search_top
from ganlens.guided import guided_backprop, plain_gradient
from ganlens.hooks import count_hooks, retain
from ganlens.models import DCGANConfig, Discriminator, Generator

from archs import ALL, sn_gan
from foreign import tutorial_discriminator

TINY = DCGANConfig(nz=8, ngf=8, ndf=8, nc=3, image_size=64)
ARCHS = Path(__file__).parent / "archs.py"


def hand_net(w1, b1, w2) -> nn.Sequential:
    """1 pixel-wise input -> 2 channels -> LeakyReLU(0.2) -> 1 channel -> LeakyReLU(0.2), 1x1 convs."""
    net = nn.Sequential(OrderedDict(conv1=nn.Conv2d(1, 2, 1), act1=nn.LeakyReLU(0.2),
                                    conv2=nn.Conv2d(2, 1, 1, bias=False), act2=nn.LeakyReLU(0.2)))
    with torch.no_grad():
        net.conv1.weight.copy_(torch.tensor(w1, dtype=torch.float).view(2, 1, 1, 1))
        net.conv1.bias.copy_(torch.tensor(b1, dtype=torch.float))
        net.conv2.weight.copy_(torch.tensor(w2, dtype=torch.float).view(1, 2, 1, 1))
    return net.eval()


def tiny_D(seed=0, config=TINY) -> Discriminator:
    torch.manual_seed(seed)
    return Discriminator(config).eval().requires_grad_(False)


def test_guided_gradient_by_hand():
    # x = 1: conv1 -> (2, -0.5), act1 -> (2, -0.1) with slopes (1, 0.2); conv2 (-1, 3) -> -2.3,
    # act2 -> -0.46 with slope 0.2.
    # plain:  0.2 * (-1*1*2 + 3*0.2*(-1))                   = -0.52
    # guided: relu(1*0.2) = 0.2 -> 0.2*(-1, 3) = (-0.2, 0.6) -> relu((-0.2*1, 0.6*0.2)) = (0, 0.12)
    #         -> 0*2 + 0.12*(-1)                             = -0.12
    net = hand_net([2.0, -1.0], [0.0, 0.5], [-1.0, 3.0])
    x = torch.ones(1, 1, 1, 1)
    g = guided_backprop(net, "act2", x, [0], [[0, 0]])
    p = plain_gradient(net, "act2", x, [0], [[0, 0]])
    assert torch.allclose(p, torch.tensor(-0.52).view(1, 1, 1, 1))
    assert torch.allclose(g, torch.tensor(-0.12).view(1, 1, 1, 1))
    # captum's own NeuronGuidedBackprop hooks only nn.ReLU: on LeakyReLU it returns the plain gradient.
    with pytest.warns(UserWarning):
        c = NeuronGuidedBackprop(net, net.act2).attribute(x.clone().requires_grad_(), (0, 0, 0))
    assert torch.allclose(c, p)
    assert count_hooks(net) == 0


def test_guided_equals_plain_where_nothing_is_negative():
    # Positive weights and input: every pre-activation and every gradient is positive, nothing to drop.
    net = hand_net([2.0, 1.0], [0.0, 0.5], [1.0, 3.0])
    x = torch.full((1, 1, 1, 1), 0.7)
    assert torch.allclose(guided_backprop(net, "act2", x, [0], [[0, 0]]),
                          plain_gradient(net, "act2", x, [0], [[0, 0]]))


class _GuidedLeaky(torch.autograd.Function):
    """Reference guided LeakyReLU: forward as usual, backward relu(g) * slope(x)."""

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.nn.functional.leaky_relu(x, slope)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.clamp(min=0) * torch.where(x > 0, 1.0, ctx.slope), None


class _Swap(nn.Module):
    def __init__(self, slope):
        super().__init__()
        self.slope = slope

    def forward(self, x):
        return _GuidedLeaky.apply(x, self.slope)


def _swap_rectifiers(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with every nn.LeakyReLU replaced by the reference guided one."""
    ref = copy.deepcopy(net)
    for name, m in list(ref.named_modules()):
        if isinstance(m, nn.LeakyReLU):
            parent, _, child = name.rpartition(".")
            setattr(ref.get_submodule(parent) if parent else ref, child, _Swap(m.negative_slope))
    return ref


def test_guided_matches_reference_on_a_discriminator_and_differs_from_plain():
    D = tiny_D()
    ref = _swap_rectifiers(D)
    x = to_float(torch.randint(0, 256, (3, 3, 64, 64), generator=torch.Generator().manual_seed(1),
                               dtype=torch.uint8))
    units, pos = [0, 5, 63], [[1, 2], [0, 0], [3, 3]]
    g = guided_backprop(D, "last", x, units, pos)
    p = plain_gradient(D, "last", x, units, pos)
    xr = x.clone().requires_grad_()
    with retain(ref, "block4", detach=False) as acts:
        ref(xr)
    a = acts["block4"]
    a[torch.arange(3), torch.tensor(units), torch.tensor(pos)[:, 0], torch.tensor(pos)[:, 1]].sum().backward()
    assert torch.allclose(g, xr.grad, atol=1e-7, rtol=1e-5)
    # It differs from the plain gradient inside the receptive field, and both are 0 outside it.
    start, size, stride = receptive_field(D, "last", (3, 64, 64))
    assert (start, size, stride) == (-15, 46, 16)
    for i, (y, x0) in enumerate(pos):
        inside = torch.zeros(64, 64, dtype=torch.bool)
        r0, c0 = start + y * stride, start + x0 * stride
        inside[max(r0, 0):r0 + size, max(c0, 0):c0 + size] = True
        assert (g[i][:, ~inside] == 0).all() and (p[i][:, ~inside] == 0).all()
        assert (g[i][:, inside] - p[i][:, inside]).abs().max() > 0.1 * p[i].abs().max()
        assert (g[i][:, inside] != 0).any()


def _modes(net):
    return [(m.training, getattr(m, "inplace", None)) for m in net.modules()]


def test_in_place_rectifiers_and_train_mode_are_restored_exactly():
    # pytorch/examples' D: LeakyReLU(0.2, inplace=True) and BatchNorm. The caller has it in train mode
    # with one BatchNorm in eval mode; guided backprop runs in eval mode and puts every flag back.
    torch.manual_seed(0)
    D = tutorial_discriminator(ndf=8, nc=3, image_size=32)
    gan = ganlens.wrap(D=D, nz=None, image_shape=(3, 32, 32))
    layer = gan.layer("D", "last").name   # (the layer table's probing pass runs before train mode)
    D.train()
    D.main[3].eval()
    before, stats = _modes(D), copy.deepcopy(D.state_dict())
    assert any(m[1] is True for m in before)
    out_of_place = tutorial_discriminator(ndf=8, nc=3, image_size=32)   # (its forward is bound: no deepcopy)
    out_of_place.load_state_dict(D.state_dict())
    out_of_place.eval()
    for m in out_of_place.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    units, pos = [0, 1, 2, 3], [[0, 0], [1, 1], [2, 3], [3, 2]]
    g = guided_backprop(D, layer, x, units, pos)
    assert torch.equal(g, guided_backprop(out_of_place, layer, x, units, pos))
    assert torch.equal(plain_gradient(D, layer, x, units, pos), plain_gradient(out_of_place, layer, x, units, pos))
    assert _modes(D) == before
    assert all(torch.equal(v, D.state_dict()[k]) for k, v in stats.items())   # BatchNorm statistics too
    with pytest.raises(IndexError):
        guided_backprop(D, layer, x[:1], [0], [[9, 9]])   # fails mid-call: flags still restored
    assert _modes(D) == before and count_hooks(D) == 0


def test_search_reads_a_module_path_before_an_in_place_activation_overwrites_it():
    gan = sn_gan()           # D: spectral-norm conv "4", then LeakyReLU(0.1, inplace=True) "5"
    with torch.no_grad():
        gan.D[4].bias[0] -= 100.0   # unit 0 is negative everywhere: the LeakyReLU would scale its maximum by 0.1
    images = torch.randint(0, 256, (12, 3, 32, 32), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    top = search_top({"D": gan.D}, "4", TensorSet(images, "r"), [0, 1], 3, 12, torch.device("cpu"),
                     progress=False, bf16=False)["D"]
    ref = copy.deepcopy(gan.D)
    ref[5].inplace = False
    with torch.no_grad():
        conv = ref[:5](to_float(images))[:, :2].flatten(2).max(2).values    # (12, 2) conv outputs
    assert (conv[:, 0] < -50).all()
    assert torch.allclose(top.values, conv.T.topk(3, dim=1).values, atol=1e-5)
    assert gan.D[5].inplace is True and count_hooks(gan.D) == 0


def test_no_hooks_or_swapped_modules_left_also_on_error():
    D = tiny_D()
    kinds = [type(m) for m in D.modules()]
    x = torch.zeros(1, 3, 64, 64)
    before = D(x)
    guided_backprop(D, "last", x, [0], [[0, 0]])
    assert count_hooks(D) == 0
    with pytest.raises(IndexError):
        guided_backprop(D, "last", x, [0], [[9, 9]])   # position outside the 4x4 map: raises mid-call
    assert count_hooks(D) == 0
    assert [type(m) for m in D.modules()] == kinds
    assert torch.equal(D(x), before)
    search_top({"D": D}, "last", TensorSet(torch.zeros(3, 3, 64, 64, dtype=torch.uint8), "z"), [0], 1, 3,
               torch.device("cpu"), progress=False)
    assert count_hooks(D) == 0


@pytest.mark.parametrize("bf16", [False, True])
def test_search_finds_planted_maximum_across_chunks(bf16):
    D = tiny_D()
    with torch.no_grad():   # block1 unit 0 = mean of its 4x4 window (all colours), a monotone response
        D.block1[0].weight[0] = 1.0 / 48
    images = torch.zeros(40, 3, 64, 64, dtype=torch.uint8)
    images[17, :, 9:13, 21:25] = 255   # exactly the window of block1 position (5, 11)
    images[30, :, 40:42, 6:8] = 255    # a weaker response: 4 of 16 pixels bright
    top = search_top({"D": D}, "block1", TensorSet(images, "planted"), [0, 3], 2, 40, torch.device("cpu"),
                     chunk=7, progress=False, bf16=bf16)["D"]
    assert top.images[0].tolist() == [17, 30]
    assert top.positions[0, 0].tolist() == [5, 11]
    # Agrees with a brute-force search for an ordinary unit too.
    with torch.no_grad(), retain(D, "block1") as acts:
        D(to_float(images))
    flat = acts["block1"][:, 3].flatten(1)
    best = flat.max(1).values
    assert torch.equal(top.values[1], best.topk(2).values)   # exact float32 values, also after a bf16 screen
    assert torch.equal(flat[top.images[1], top.positions[1, :, 0] * 32 + top.positions[1, :, 1]],
                          top.values[1])


@pytest.mark.parametrize("arch", sorted(ALL))
def test_receptive_field_is_the_gradient_support_on_every_architecture(arch):
    # Every unit's plain gradient is non-zero exactly on its receptive field (clipped to the image):
    # random weights and LeakyReLU leave no pixel of the field with a zero derivative.
    gan = ALL[arch]()
    S = gan.image_size
    for layer in gan.layers("D").hidden:
        start, size, stride = receptive_field(gan.D, layer.name, (gan.nc, S, S))
        pos = torch.tensor([[y, x] for y in range(layer.shape[1]) for x in range(layer.shape[2])])
        x = torch.rand(len(pos), gan.nc, S, S) * 2 - 1
        g = plain_gradient(gan.D, layer.name, x, [0] * len(pos), pos).abs().sum(1)   # (P, S, S)
        for (y, x0), gi in zip(pos.tolist(), g):
            r0, c0 = start + y * stride, start + x0 * stride
            box = torch.zeros(S, S, dtype=torch.bool)
            box[max(r0, 0):r0 + size, max(c0, 0):c0 + size] = True
            assert torch.equal(gi > 0, box), (arch, layer.name, y, x0)
    if arch == "mlp":
        assert receptive_field(gan.D, "last", (1, 28, 28)) == (0, 28, 0)   # Linear: the whole image


def _npz(path: Path, n: int, nc: int, size: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, nc), dtype=np.uint8)
    np.savez(path, images=images[..., 0] if nc == 1 else images, labels=np.arange(n) % 2)
    return path


@pytest.mark.parametrize("arch", sorted(ALL))
def test_filters_on_every_architecture(arch, tmp_path):
    gan = ALL[arch]()
    data = _npz(tmp_path / "d.npz", 30, gan.nc, gan.image_size)
    modes = _modes(gan.D)
    r = ganlens.filters(gan, str(data), units=2, top=2)
    j = r.to_dict()
    layer = gan.layers("D").aliases["last"]
    assert j["settings"]["layer"] == layer and j["units"] == [0, 1]
    assert j["provenance"]["model"]["checkpoint"] == "in-memory"
    start, size, stride = receptive_field(gan.D, layer, (gan.nc, gan.image_size, gan.image_size))
    assert j["receptive_field"] == {"start": start, "size": size, "stride": stride}
    assert r.arrays["trained_maps"].shape == r.arrays["random_images"].shape == (2, 2, gan.nc, size, size)
    x = to_float(load_all(open_images(str(data), gan.image_size, gan.nc)))
    with torch.no_grad(), retain(gan.D, layer) as acts:   # brute force: the best response of each unit
        gan.D(x)
    a = acts[layer].flatten(2) if acts[layer].dim() > 2 else acts[layer][:, :, None]
    for i, u in enumerate(j["trained"]["units"]):
        assert u["activations"][0] == pytest.approx(float(a[:, i].amax()), rel=1e-4, abs=1e-6)
        assert u["activations"][0] >= u["activations"][1]
        if arch == "mlp":
            assert u["positions"] == [[0, 0], [0, 0]] and u["crop_boxes"][0] == [0, 0, 28, 28]
    assert isinstance(r.figure(), matplotlib.figure.Figure)
    r.save(tmp_path / "out")
    assert json.loads((tmp_path / "out/filters.json").read_text()) == j
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"filters.json", "filters.npz", "filters.pdf",
                                                              "filters.png"}
    assert _modes(gan.D) == modes and count_hooks(gan.D) == 0


@pytest.mark.parametrize("fn", ["mlp_gan", "sn_gan"])
def test_cli_with_model(fn, tmp_path, capsys):
    gan = getattr(__import__("archs"), fn)()
    data = _npz(tmp_path / "d.npz", 20, gan.nc, gan.image_size)
    out = tmp_path / "f"
    assert main(["--model", f"{ARCHS}:{fn}", "--data", str(data), "--n-images", "20", "--top", "3",
                 "--units", "1,0", "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    res = json.loads((out / "filters.json").read_text())
    assert res["units"] == [1, 0] and res["settings"]["source"] == f"--model {ARCHS}:{fn}"
    assert res["settings"]["checkpoint"] == "in-memory" and res["settings"]["layer"] == gan.layers("D").aliases["last"]
    assert len(res["random"]["units"][0]["image_indices"]) == 3
    assert capsys.readouterr().err.count("\n") == 1
    assert cli.run(main, ["--model", f"{ARCHS}:{fn}", "--layer", "list"], PROG) == 0
    listed = capsys.readouterr().out
    assert "last" in listed and gan.layers("D").aliases["last"] in listed


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    path = checkpoints.save(d / "tiny.pt", TINY, Generator(TINY), Discriminator(TINY))
    gonly = checkpoints.save(d / "g_only.pt", TINY, Generator(TINY), None)
    return path, gonly


def test_cli_end_to_end(tiny_ckpt, tmp_path):
    out = tmp_path / "f"
    assert main(["--checkpoint", str(tiny_ckpt[0]), "--data", "rooms:n=24", "--n-images", "24", "--top", "2",
                 "--units", "0,7,12", "--out", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["filters.json", "filters.npz", "filters.pdf", "filters.png"]
    res = json.loads((out / "filters.json").read_text())
    assert res["units"] == [0, 7, 12] and res["settings"]["layer"] == "block4"
    tv = res["trained_vs_random"]
    assert set(tv) >= {"trained", "random", "trained_mean", "random_mean", "units", "score"}
    assert len(tv["trained"]) == len(tv["random"]) == 3
    assert tv["trained_mean"] == pytest.approx(np.mean(tv["trained"]), abs=1e-5)
    for net in ("trained", "random"):
        for u in res[net]["units"]:
            assert len(u["image_indices"]) == 2 and all(0 <= i < 24 for i in u["image_indices"])
            assert u["activations"][0] >= u["activations"][1]
    arrays = np.load(out / "filters.npz")
    assert arrays["trained_maps"].shape == (3, 2, 3, 46, 46)
    # The same call from Python gives the same numbers (a result is the JSON the command writes).
    r = ganlens.filters(ganlens.load(tiny_ckpt[0]), "rooms:n=24", units="0,7,12", top=2, n_images=24)
    drop = ("provenance", "timing")
    assert {k: v for k, v in r.to_dict().items() if k not in drop} == {k: v for k, v in res.items() if k not in drop}


def test_cli_foreign_discriminator_only_grey_32(tmp_path):
    torch.manual_seed(0)
    ckpt = tmp_path / "netD.pth"
    torch.save(tutorial_discriminator(ndf=8, nc=1, image_size=32).state_dict(), ckpt)
    npz = tmp_path / "grey.npz"
    np.savez(npz, images=np.random.default_rng(0).integers(0, 256, (12, 32, 32), dtype=np.uint8))
    out = tmp_path / "f"
    assert main(["--checkpoint", str(ckpt), "--data", str(npz), "--n-images", "12", "--top", "3", "--units", "2",
                 "--no-random-baseline", "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "filters.json").read_text())
    assert res["random"] is None and res["trained_vs_random"]["random"] is None
    assert res["receptive_field"] == {"start": -7, "size": 22, "stride": 8}
    assert np.load(out / "filters.npz")["trained_maps"].shape == (2, 3, 1, 22, 22)


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "{g_only}"], "holds no discriminator"),
    (["--layer", "block9"], "--layer block9: unknown"),
    (["--units", "3,99"], "--units 3,99: unit 99 is out of range; layer block4 has units 0..63"),
    (["--units", "65"], "--units 65: layer block4 has only 64 units"),
    (["--data", "{empty}"], "no images found"),
    (["--top", "30"], "--top 30: more than the 24 image(s) searched"),
])
def test_bad_inputs_give_one_line_errors(tiny_ckpt, tmp_path, capsys, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    base = {"--checkpoint": str(tiny_ckpt[0]), "--data": "rooms:n=24", "--out": str(out)}
    args = [a.format(g_only=tiny_ckpt[1], empty=empty) for a in args]
    for flag, value in base.items():
        if flag not in args:
            args += [flag, value]
    assert cli.run(main, args + ["--no-progress"], PROG) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{PROG}: error: ") and message in err
    if "block9" in message:
        assert "valid layers: block1, block2, block3, block4, output" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]   # no staging folder left either


@pytest.mark.parametrize("kw, message", [
    ({"top": 0}, "--top must be at least 1, got 0"),
    ({"units": [3, 3]}, "--units 3,3: a unit is listed twice"),
    ({"layer": "output.9"}, "unknown discriminator layer 'output.9'"),
])
def test_library_errors(kw, message):
    gan = ALL["paper"]()
    with pytest.raises(ganlens.GanlensError, match=message.replace("(", r"\(")):
        ganlens.filters(gan, "rooms:n=4", **kw)
