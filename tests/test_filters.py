"""ganlens.guided and ganlens.filters: guided backprop through LeakyReLU (also in place, also on a net in
train mode), receptive fields of any network, the top-k search, the semantic scores with planted truths
(a hand-built unit that fires exactly on a planted square: IoU 1, random Ds near 0; a unit wired to a
class: purity 1, random Ds about the prior), masks from folders and box files, the analysis on every test
architecture (Python API and --model), and the command."""

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
from torch.nn import functional as F

import ganlens
from ganlens.core import checkpoints
from ganlens import cli
from ganlens.data.sets import TensorSet, load_all, open_images, to_float
from ganlens.analyses.filters import (NO_SEMANTIC, Masks, RoomsKeepMasks, concept_iou, open_masks, pair_counts,
                                      panel_text, receptive_field, scan, search_top, tail_quantile, tail_size)
from ganlens.core import figures
from ganlens.filters import PROG, main
from ganlens.core.guided import guided_backprop, plain_gradient
from ganlens.core.hooks import count_hooks, retain
from ganlens.core.models import DCGANConfig, Discriminator, Generator

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


def test_guided_backprop_on_a_model_left_in_train_mode_gives_the_eval_maps(make_pair):
    # ganlens's own D with BatchNorm at non-trivial running statistics, left in train mode by the caller:
    # the maps are the eval-mode maps, the statistics are not updated, and train mode is restored.
    _, _, D = make_pair(image_size=64, ndf=8)
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(8)) * 2 - 1
    units, pos = [0, 3, 5, 7], [[0, 0], [1, 2], [3, 3], [2, 1]]
    ref = guided_backprop(D.eval(), "last", x, units, pos)
    D.train()
    stats = copy.deepcopy(D.state_dict())
    g = guided_backprop(D, "last", x, units, pos)
    assert torch.equal(g, ref)
    assert all(torch.equal(v, D.state_dict()[k]) for k, v in stats.items())   # running mean/var, batch count
    assert all(m.training for m in D.modules())
    # Control: in train mode (batch statistics) the same activations have other gradients, and a forward
    # pass updates the statistics: the test above would see either.
    xr = x.clone().requires_grad_()
    with retain(D, "last", detach=False) as acts:
        D(xr)
    a = acts["block4"]
    a[torch.arange(4), torch.tensor(units), torch.tensor(pos)[:, 0], torch.tensor(pos)[:, 1]].sum().backward()
    assert not torch.allclose(xr.grad, plain_gradient(D, "last", x, units, pos), atol=1e-4)
    assert not torch.equal(D.state_dict()["block2.1.running_mean"], stats["block2.1.running_mean"])


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
    # Agrees with a brute-force search for an ordinary unit too: float32 values, also after a bf16 screen.
    # The brute force runs all 40 images at once in the contiguous layout, the search chunks of 7 in
    # channels_last (and re-scores the bf16 candidates in other chunks): the same activation can differ by a
    # few ulps between the two (issue 21), so values are compared to rtol 1e-5 (~100 float32 ulps; a bf16
    # value would be off by ~4e-3), and the images found must be a top 2 of the brute force up to that.
    with torch.no_grad(), retain(D, "block1") as acts:
        D(to_float(images))
    flat = acts["block1"][:, 3].flatten(1)
    best = flat.max(1).values
    torch.testing.assert_close(top.values[1], best.topk(2).values, rtol=1e-5, atol=1e-6)
    at = flat[top.images[1], top.positions[1, :, 0] * 32 + top.positions[1, :, 1]]    # at the found positions
    torch.testing.assert_close(at, top.values[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(best[top.images[1]], top.values[1], rtol=1e-5, atol=1e-6)   # each image's maximum


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
    assert figures.text_problems(r.figure()) == []
    r.save(tmp_path / "out")
    assert json.loads((tmp_path / "out/filters.json").read_text()) == j
    assert {p.name for p in (tmp_path / "out").iterdir() if p.name != ".ganlens-written.json"} == {"filters.json", "filters.npz", "filters.pdf",
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
    pur = res["semantic"]["purity"]    # the .npz has labels: purity is the headline
    assert res["semantic"]["headline"] == "purity" and pur["k"] == 2 and len(pur["random"]) == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "top-2 purity" in err and "random Ds" in err
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
    assert sorted(p.name for p in out.iterdir() if p.name != ".ganlens-written.json") == ["filters.json", "filters.npz", "filters.pdf", "filters.png"]
    res = json.loads((out / "filters.json").read_text())
    assert res["units"] == [0, 7, 12] and res["settings"]["layer"] == "block4"
    sem = res["semantic"]   # rooms data: the rooms masks, five random draws by default
    assert sem["headline"] == "iou" and sem["note"] is None and sem["purity"] is None
    assert sem["random_draws"]["seeds"] == [0, 1, 2, 3, 4]
    iou = sem["iou"]
    assert iou["quantile"] == 0.995 and iou["masks"]["kind"] == "rooms" and iou["masks"]["images"] == 24
    assert iou["masks"]["concepts"][0] == "wall" and len(iou["random"]) == 5
    lay = iou["layer"]        # every unit of the layer is scored; the layers are compared, not unit i with unit i
    assert lay["n_units"] == len(lay["trained_scores"]) == 64 and len(lay["random_scores"]) == 5
    assert [d["seed"] for d in lay["mann_whitney"]] == [0, 1, 2, 3, 4]
    assert lay["higher_than_every_draw"] == all(d["p_value"] < 0.05 for d in lay["mann_whitney"])
    best = np.max(lay["random_scores"], axis=0)
    assert lay["above_best_draw"]["count"] == int((np.array(lay["trained_scores"]) > best).sum())
    assert lay["above_best_draw"]["chance"] == pytest.approx(64 / 6, abs=1e-5)
    assert lay["detectors"]["trained"] == sum(v > 0.04 for v in lay["trained_scores"])
    assert [u["unit"] for u in iou["trained"]] == [0, 7, 12]
    ac = res["descriptive"]["autocorrelation"]   # the old headline, now descriptive
    assert len(ac["trained"]) == 3 and len(ac["random"]) == 5
    assert ac["trained_mean"] == pytest.approx(np.mean(ac["trained"]), abs=1e-5)
    assert "trained_vs_random" not in res
    for net in ("trained", "random"):
        for u in res[net]["units"]:
            assert len(u["image_indices"]) == 2 and all(0 <= i < 24 for i in u["image_indices"])
            assert u["activations"][0] >= u["activations"][1]
    arrays = np.load(out / "filters.npz")
    assert arrays["trained_maps"].shape == (3, 2, 3, 46, 46)
    out2 = tmp_path / "g"
    assert main(["--checkpoint", str(tiny_ckpt[0]), "--data", "rooms:n=24", "--n-images", "24", "--top", "2",
                 "--units", "3", "--masks", "none", "--random-draws", "2", "--out", str(out2), "--no-progress"]) == 0
    res2 = json.loads((out2 / "filters.json").read_text())
    assert res2["semantic"]["headline"] is None and res2["semantic"]["random_draws"]["seeds"] == [0, 1]
    assert len(res2["descriptive"]["autocorrelation"]["random"]) == 2
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
    assert res["random"] is None and res["descriptive"]["autocorrelation"]["random"] == []
    assert res["semantic"]["headline"] is None and res["semantic"]["note"] == NO_SEMANTIC
    assert res["settings"]["random_draws"] == 0
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


# ------------------------------------------------------------------------------ semantic scores

def grey_square_D() -> nn.Sequential:
    """A hand-built D whose unit 0 of layer "act3" is > 0 exactly on flat mid-grey regions of at least
    3x3 pixels (the planted squares) and 0 elsewhere: act1 splits each colour into |x| halves, "flat"
    fires where the 3x3 sum of |x| is below 0.5 (the square eroded by one pixel; random pixels sum ~13),
    "grow" dilates that back by one pixel (less a margin of 0.01): erosion then dilation of a square is the
    square."""
    D = nn.Sequential(OrderedDict(
        split=nn.Conv2d(3, 6, 1), act1=nn.ReLU(), flat=nn.Conv2d(6, 4, 3, padding=1), act2=nn.ReLU(),
        grow=nn.Conv2d(4, 4, 3, padding=1), act3=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(),
        head=nn.Linear(4, 1)))
    with torch.no_grad():
        for p in D.parameters():
            p.zero_()
        for c in range(3):
            D.split.weight[c, c] = 1.0
            D.split.weight[3 + c, c] = -1.0
        D.flat.weight[0] = -1.0
        D.flat.bias[0] = 0.5
        D.grow.weight[0, 0] = 1.0
        # Off the squares "grow" sums zeros: exactly 0 with direct or GEMM convolutions, but a Winograd/FFT
        # kernel (NNPACK; some other CPUs' libraries) leaves noise of ~1e-6 there, which a ReLU keeps where
        # it is positive, and with a threshold of 0 the unit would fire on it (IoU 0.88). A small negative
        # bias puts those pixels clearly below 0; on the squares the unit stays >= 0.38.
        D.grow.bias[0] = -0.01
    return D.eval()


def planted_squares(n: int, with_square, size: int = 32, side: int = 6, seed: int = 0, decoys: bool = False):
    """(uint8 images (n, 3, size, size) of uniform noise, masks (n, size, size): 1 on a mid-grey square of
    ``side`` px planted at a random place in the images i with ``with_square(i)``, 0 elsewhere). With
    ``decoys``, the other images hold as many grey pixels as ``side`` x ``side`` 2x2 blocks that never
    touch (one per 4x4 cell): the same amount of grey, but no flat 3x3 region."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    masks = np.zeros((n, size, size), np.int64)
    for i in range(n):
        if with_square(i):
            y, x = torch.randint(0, size - side + 1, (2,), generator=g).tolist()
            images[i, :, y:y + side, x:x + side] = 128
            masks[i, y:y + side, x:x + side] = 1
        elif decoys:
            for cell in torch.randperm((size // 4) ** 2, generator=g)[:side * side // 4].tolist():
                y, x = 4 * (cell // (size // 4)) + torch.randint(0, 2, (2,), generator=g)
                images[i, :, y:y + 2, x:x + 2] = 128
    return images, masks


def test_planted_square_unit_gets_iou_1_and_random_ds_near_0():
    # 10 of 80 images hold a 6x6 square: 0.44% of all positions, under the top 0.5% that NetDissect's
    # default quantile lets fire, so the threshold is 0 and the unit fires exactly on the squares.
    images, masks = planted_squares(80, lambda i: i % 8 == 3)
    gan = ganlens.wrap(D=grey_square_D(), nz=None, image_shape=(3, 32, 32))
    named = Masks(lambda idx: masks[idx], {0: "background", 1: "square"}, "planted", "array")
    r = ganlens.filters(gan, images, layer="act3", units=[0, 1], top=3, n_images=80, masks=named, batch_size=16)
    iou = r["semantic"]["iou"]
    assert r["semantic"]["headline"] == "iou" and iou["spatial"] is True
    t = iou["trained"][0]
    assert t["label"] == "square" and t["iou"] == 1.0 and t["precision"] == 1.0 and t["threshold"] == 0.0
    assert t["lift"] == pytest.approx(80 * 1024 / (10 * 36), abs=1e-5)   # 1 / the squares' share of pixels
    assert iou["trained"][1]["iou"] == 0.0          # unit 1 is 0 everywhere: it fires nowhere
    draws = [d["units"][0] for d in iou["random"]]
    assert len(draws) == 5 and all(d["iou"] < 0.05 for d in draws), draws
    lay = iou["layer"]              # all 4 units of the layer scored: one detector, none in any random D
    assert lay["n_units"] == 4 and lay["detectors"] == {"trained": 1, "random": [0] * 5, "more_than_every_draw": True}
    assert lay["trained_scores"][0] == 1.0 and max(map(max, lay["random_scores"])) < 0.05
    # By default the figure shows each net's highest-scoring units: the square unit first.
    d = ganlens.filters(gan, images, layer="act3", top=3, n_images=80, masks=named, batch_size=16)
    assert d["units"][0] == 0 and d["semantic"]["iou"]["trained"][0]["label"] == "square"
    # The top images shown are the ones with a square.
    assert all(i % 8 == 3 for i in r["trained"]["units"][0]["image_indices"])
    # The old headline does not see it: the planted unit's guided maps are flat (autocorrelation 0).
    ac = r["descriptive"]["autocorrelation"]
    assert ac["trained"][0] == 0.0 < max(d[0] for d in ac["random"])          # not above the best draw


def test_unit_wired_to_a_class_has_purity_1_and_random_ds_about_the_prior():
    # Class 1 of three (prior 1/3) holds the grey squares: its images are the unit's top-k. The other
    # classes hold as much grey in small blocks, so a random D has nothing to tell the classes apart by.
    images, _ = planted_squares(300, lambda i: i % 3 == 1, seed=1, decoys=True)
    labels = np.arange(300) % 3
    gan = ganlens.wrap(D=grey_square_D(), nz=None, image_shape=(3, 32, 32))
    r = ganlens.filters(gan, (images, labels), layer="act3", units=[0], top=2, n_images=300)
    sem = r["semantic"]
    assert sem["headline"] == "purity" and sem["iou"] is None   # no masks for a tensor of images
    pur = sem["purity"]
    assert pur["k"] == 30 and pur["labels"].startswith("labels of")
    t = pur["trained"][0]
    assert t["class"] == "1" and t["purity"] == 1.0 and t["prior"] == pytest.approx(1 / 3, abs=1e-6)
    assert t["lift"] == pytest.approx(3.0, abs=1e-5) and t["p_value"] == 1 / 1000   # above every permutation
    rnd = [d["units"][0]["purity"] for d in pur["random"]]
    # A class-blind top-30 has a majority share of 0.42 on average (the largest of three shares of 1/3).
    assert len(rnd) == 5 and all(p < 0.6 for p in rnd) and np.mean(rnd) < 0.55, rnd
    assert pur["layer"]["detectors"]["trained"] >= 1 and pur["layer"]["trained_scores"][0] == 1.0


def _brute_force_counts(a, cut, masks, S, n_values):
    """Fired pixels per unit and mask value, counted pixel by pixel from activations ``a`` (N, U, h, w)."""
    up = a.expand(-1, -1, S, S) if a.shape[-1] == 1 else F.interpolate(a, size=(S, S), mode="bilinear")
    fired = up > cut[None, :, None, None]
    m = torch.as_tensor(masks)
    return [[int((fired[:, u] & (m == c)).sum()) for c in range(n_values)] for u in range(a.shape[1])]


def test_iou_matches_brute_force_on_every_architecture_with_chunks_and_without_kept_maps():
    # The brute force runs each net on all 21 images at once, the library in chunks of 5 (scan) and 4 (a second
    # pass without kept maps): the same activation can differ by a few ulps between the two. The counts must
    # not depend on that (a CPU-dependent count is a bug of the method, issue 21): the brute force also runs
    # with every activation nudged by one ulp either way, and must still agree exactly.
    for arch, make in sorted(ALL.items()):
        gan = make()
        S, units, q = gan.image_size, [0, 2], 0.9
        g = torch.Generator().manual_seed(3)
        images = torch.randint(0, 256, (21, gan.nc, S, S), generator=g, dtype=torch.uint8)
        masks = torch.randint(0, 3, (21, 1, 4, 4), generator=g)
        masks = F.interpolate(masks.float(), size=(S, S), mode="nearest")[:, 0].long().numpy()   # blocky concepts
        layer = gan.layers("D").aliases["last"]
        nets = {"trained": gan.D, "random0": gan.random_D(0)}
        data = TensorSet(images, "t")
        for keep in (True, False):
            scans = scan(nets, layer, data, units, 2, 21, torch.device("cpu"), quantile=q, chunk=5, progress=False,
                         keep_maps=keep)
            assert (scans["trained"].maps is not None) == keep
            counts = concept_iou(nets, layer, data, open_masks(masks, data, S), units, scans, 21, torch.device("cpu"),
                                 chunk=4)
            for key, net in nets.items():
                with torch.no_grad(), retain(net, layer) as acts:
                    net(to_float(images))
                a = acts[layer]
                a = (a[:, :, None, None] if a.dim() == 2 else a)[:, units]
                T = np.quantile(a.transpose(0, 1).reshape(2, -1).double().numpy(), q, axis=1)
                assert np.allclose(scans[key].threshold.numpy(), T, rtol=1e-6, atol=1e-7), arch
                for nudged in (a, torch.nextafter(a, torch.tensor(np.inf)), torch.nextafter(a, torch.tensor(-np.inf))):
                    inter = _brute_force_counts(nudged, scans[key].cut, masks, S, 3)
                    assert counts.nets[key].inter.tolist() == inter, (arch, key, keep)
                    assert counts.nets[key].fired.tolist() == [sum(row) for row in inter]
        assert counts.area.tolist() == np.bincount(masks.ravel()).tolist()


def test_a_unit_without_a_spatial_map_scores_whole_images():
    # The MLP's Linear units are 1x1 maps: constant once upsampled, so a unit fires on whole images and its
    # IoU is the overlap of those images' area with the concept: sum of the concept's pixels in the images it
    # fires on / (fired images x pixels + the concept's pixels in the others).
    gan = ALL["mlp"]()
    images = torch.randint(0, 256, (40, 1, 28, 28), generator=torch.Generator().manual_seed(4), dtype=torch.uint8)
    masks = np.zeros((40, 28, 28), np.int64)
    masks[::2, :10] = 1
    r = ganlens.filters(gan, images, units=[0], top=2, n_images=40, masks=masks, quantile=0.9, random_draws=2)
    iou = r["semantic"]["iou"]
    assert iou["spatial"] is False and iou["masks"]["concepts"] == ["class 0", "class 1"]
    assert "fires on whole images" in iou["spatial_note"]
    layer = gan.layers("D").aliases["last"]
    with torch.no_grad(), retain(gan.D, layer) as acts:
        gan.D(to_float(images))
    a = acts[layer][:, 0]
    T = torch.quantile(a, 0.9)
    on = a > T
    assert int(on.sum()) == 4                      # the top 10% of images
    # The library's pass batches and lays out the images otherwise: the same activations a few ulps off must
    # fire on the same images (else the expected IoU below would hold on this CPU only, issue 21).
    for nudged in (torch.nextafter(a, torch.tensor(np.inf)), torch.nextafter(a, torch.tensor(-np.inf))):
        assert torch.equal(nudged > T, on)
    area = torch.as_tensor(masks == 1).sum((1, 2))
    expect = float(area[on].sum()) / (int(on.sum()) * 28 * 28 + float(area[~on].sum()))
    assert iou["trained"][0]["ious"]["class 1"] == pytest.approx(expect, abs=1e-6)


def test_tail_quantile_is_torch_quantile():
    g = torch.Generator().manual_seed(5)
    for total in (1, 2, 7, 200, 1001):
        x = torch.randn(3, total, generator=g)
        x[1, : total // 2] = 0.0        # ties
        for q in (0.5, 0.9, 0.995, 0.999):
            tail = x.topk(tail_size(total, q), dim=1).values
            ref = np.quantile(x.double().numpy(), q, axis=1)   # (torch.quantile takes q as float32)
            assert np.allclose(tail_quantile(tail, total, q).numpy(), ref, rtol=1e-6, atol=1e-7)


def test_scan_top_agrees_with_search_top():
    D = tiny_D()
    images = torch.randint(0, 256, (30, 3, 64, 64), generator=torch.Generator().manual_seed(6), dtype=torch.uint8)
    data = TensorSet(images, "r")
    ref = search_top({"D": D}, "block3", data, [1, 4], 3, 30, torch.device("cpu"), chunk=7, progress=False,
                     bf16=False)["D"]
    top = scan({"D": D}, "block3", data, [1, 4], 3, 30, torch.device("cpu"), chunk=7, progress=False)["D"].top
    assert torch.equal(top.images, ref.images) and torch.equal(top.positions, ref.positions)
    assert torch.allclose(top.values, ref.values)


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_mask_folder_and_box_file_give_the_planted_iou(tmp_path):
    # The same planted squares given as (a) a folder of images in class sub-folders with a mask folder paired
    # by name (classes.txt names the values), (b) an .npz with masks in sorted order, (c) a box file whose
    # seeds are image indices.
    images, masks = planted_squares(40, lambda i: i % 8 == 3, seed=2)
    for i in range(40):   # mask files in another order than the images' sorted names would give
        _write_png(tmp_path / "data" / f"c{i % 2}" / f"img{i:02d}.png", images[i].permute(1, 2, 0).numpy())
        _write_png(tmp_path / "masks" / f"c{i % 2}" / f"img{i:02d}.png", masks[i].astype(np.uint8) * 3)
    (tmp_path / "masks" / "classes.txt").write_text("background\n-\n\nsquare\n")
    gan = ganlens.wrap(D=grey_square_D(), nz=None, image_shape=(3, 32, 32))
    r = ganlens.filters(gan, str(tmp_path / "data"), layer="act3", units=[0], top=2, n_images=40,
                        masks=str(tmp_path / "masks"), random_draws=1)
    sem = r["semantic"]
    assert sem["iou"]["masks"]["kind"] == "folder" and sem["iou"]["masks"]["concepts"] == ["background", "square"]
    assert sem["iou"]["trained"][0]["label"] == "square" and sem["iou"]["trained"][0]["iou"] == 1.0
    assert sem["purity"]["labels"] == "image folder class sub-folders"   # the sub-folders are classes too
    # Box file: seeds name images of the data; only those images count. Image 3's square is boxed, image 11's
    # is not (an empty sample), the other squares' images are not in the file.
    samples = []
    for s in list(range(0, 40, 2)) + [3, 11]:
        ys, xs = np.nonzero(masks[s])
        samples.append({"seed": s, "boxes": [[int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]]
                        if len(ys) and s != 11 else []})
    box = {"format": "ganlens.boxes/1", "label": "square", "image_size": [32, 32],
           "latent": {"dim": 1, "distribution": "normal"}, "samples": samples}
    (tmp_path / "boxes.json").write_text(json.dumps(box))
    r = ganlens.filters(gan, images, layer="act3", units=[0], top=2, n_images=40, masks=str(tmp_path / "boxes.json"),
                        random_draws=1)
    iou = r["semantic"]["iou"]
    assert iou["masks"]["kind"] == "boxes" and iou["masks"]["images"] == 22 and iou["masks"]["concepts"] == ["square"]
    # Among the annotated images the unit fires on two squares, one of them boxed: IoU 36 / 72.
    assert iou["trained"][0]["iou"] == pytest.approx(0.5, abs=1e-6)
    assert iou["trained"][0]["precision"] == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("masks, message", [
    ("{few}", "3 masks for the 40 images"),
    ("{bad_seed}", "samples[0]: on dataset images a sample names its image by 'seed'"),
    ("{rgb}", "a mask must be a single-channel integer PNG"),
    ("{missing}", "no such folder"),
])
def test_bad_masks_are_one_line_errors(tmp_path, masks, message):
    images, _ = planted_squares(40, lambda i: False)
    for i in range(3):
        _write_png(tmp_path / "few" / f"{i}.png", np.zeros((32, 32), np.uint8))
    box = {"format": "ganlens.boxes/1", "label": "x", "image_size": [32, 32], "latent": {"dim": 1, "distribution":
           "normal"}, "samples": [{"seed": 40, "boxes": [[0, 0, 2, 2]]}]}
    (tmp_path / "bad_seed.json").write_text(json.dumps(box))
    for i in range(40):
        _write_png(tmp_path / "rgb" / f"{i:02d}.png", np.zeros((32, 32, 3), np.uint8))
    spec = masks.format(few=tmp_path / "few", bad_seed=tmp_path / "bad_seed.json", rgb=tmp_path / "rgb",
                        missing=tmp_path / "nope")
    gan = ganlens.wrap(D=grey_square_D(), nz=None, image_shape=(3, 32, 32))
    with pytest.raises(ganlens.GanlensError) as e:
        ganlens.filters(gan, images, layer="act3", units=[0], top=2, masks=spec, random_draws=0)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_without_masks_or_labels_the_figure_says_so():
    gan = ALL["sn"]()
    images = torch.randint(0, 256, (12, 3, 32, 32), generator=torch.Generator().manual_seed(7), dtype=torch.uint8)
    r = ganlens.filters(gan, images, units=2, top=2, random_draws=2)
    j = r.to_dict()
    assert j["semantic"]["headline"] is None and j["semantic"]["note"] == NO_SEMANTIC
    assert panel_text(j, "trained")[0] == f"trained D: {NO_SEMANTIC}"
    fig = r.figure()
    # (the figure breaks a title into lines that fit its panel)
    assert [ax.get_title().replace("\n", " ") for ax in fig.axes] == [f"trained D: {NO_SEMANTIC}",
                                                                       f"random D (seed 0): {NO_SEMANTIC}"]


def test_pair_counts_equal_counting_every_pixel():
    g = torch.Generator().manual_seed(9)
    for side in (4, 1):                                             # a spatial map and a 1x1 (Linear) one
        a = torch.randn(6, 5, side, side, generator=g)
        m = torch.randint(0, 4, (6, 16, 16), generator=g)
        cut = torch.quantile(a.transpose(0, 1).reshape(5, -1), 0.8, dim=1)
        got = pair_counts(a, m, cut, 6, pixels=300)                 # several steps of pairs
        up = a.expand(-1, -1, 16, 16) if side == 1 else F.interpolate(a, size=(16, 16), mode="bilinear")
        fired = up > cut[None, :, None, None]
        expect = torch.stack([torch.bincount(m[fired[:, u]], minlength=6) for u in range(5)])
        assert torch.equal(got, expect)


def test_rooms_masks_kept_from_the_scan_are_the_rendered_ones():
    from ganlens.data.sets import RoomsSet
    rooms = RoomsSet(n=30, size=32, seed=4)
    kept = RoomsKeepMasks(rooms, 20)
    assert torch.equal(kept.chunk(0, 12), rooms.chunk(0, 12)) and torch.equal(kept.chunk(12, 30), rooms.chunk(12, 30))
    assert np.array_equal(kept.masks(3, 20), rooms.masks(3, 20))
    assert np.array_equal(kept.masks(15, 30), rooms.masks(15, 30))    # past the kept ones: rendered again
    assert kept.spec == rooms.spec


# ------------------------------------------------------------------------------ the figure's layout

def grey28_D() -> nn.Sequential:
    """A tiny D for 28x28 grey images (MNIST-like): two strided convs to a 7x7 map, then a Linear."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 16, 4, 2, 1), nn.LeakyReLU(0.2),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 1)).eval()


def test_text_problems_finds_overlapping_and_clipped_texts():
    fig, ax = figures.figure("one", aspect=0.3)
    ax.set_title("a title long enough to run into its neighbour " * 4)
    fig.text(0.5, 0.95, "on top of the title", ha="center")
    problems = figures.text_problems(fig)
    assert any("touches 'on top of the title'" in p for p in problems)
    assert any("wide, more than" in p for p in problems)  # saved with a tight box: a page-wide title
    fig, ax = figures.figure("one")
    ax.set_title("fits")
    assert figures.text_problems(fig) == []


@pytest.mark.parametrize("semantic", ["purity", "iou", "none"])
@pytest.mark.parametrize("units, draws", [(1, 2), (3, 0), ([5, 0], 1)])
def test_figure_texts_never_overlap_or_leave_the_canvas_on_a_tiny_28x28_grey_D(semantic, units, draws):
    # A real 28x28 grey D once had its two panel titles run into each other, and a one-unit figure was too
    # short for its three-line title. Every text of the figure must lie inside the canvas, apart from all others.
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (60, 1, 28, 28), generator=g, dtype=torch.uint8)
    gan = ganlens.wrap(D=grey28_D(), nz=None, image_shape=(1, 28, 28))
    data = {"purity": (images, np.arange(60) % 3), "iou": images, "none": images}[semantic]
    masks = (np.arange(60 * 28 * 28).reshape(60, 28, 28) // 14) % 3 if semantic == "iou" else None
    r = ganlens.filters(gan, data, units=units, top=2, n=60, masks=masks, draws=draws)
    assert r["semantic"]["headline"] == (None if semantic == "none" else semantic)
    fig = r.figure()
    assert len(fig.axes) == (2 if draws else 1)
    assert figures.text_problems(fig) == []
    for ax, net in zip(fig.axes, ("trained", "random")):   # the figure says what panel_text says, in lines that fit
        title, labels = panel_text(r.to_dict(), net)
        assert ax.get_title().split() == title.split()
        assert [t.get_text().split() for t in ax.get_yticklabels()] == [t.split() for t in labels]


def test_old_keywords_and_flags_still_work():
    gan = ALL["sn"]()
    images = torch.randint(0, 256, (12, 3, 32, 32), generator=torch.Generator().manual_seed(7), dtype=torch.uint8)
    drop = ("provenance", "timing")
    new = ganlens.filters(gan, images, units=2, top=2, n=10, draws=1).to_dict()
    old = ganlens.filters(gan, images, units=2, top=2, n_images=10, random_draws=1).to_dict()
    assert {k: v for k, v in old.items() if k not in drop} == {k: v for k, v in new.items() if k not in drop}
    assert new["settings"]["n_images_searched"] == 10 and new["settings"]["random_draws"] == 1
    with pytest.raises(ganlens.GanlensError, match="n_images is the old name of n"):
        ganlens.filters(gan, images, n=10, n_images=10)
    with pytest.raises(ganlens.GanlensError, match="--draws must be at least 0"):
        ganlens.filters(gan, images, random_draws=-1)
    data = TensorSet(images, "r")
    assert torch.equal(scan({"D": gan.D}, "last", data, [0], 2, 12, torch.device("cpu"), chunk=5, progress=False)["D"].cut,
                       scan({"D": gan.D}, "last", data, [0], 2, 12, torch.device("cpu"), batch_size=5,
                            progress=False)["D"].cut)
    p = ganlens.filters.parser()
    assert vars(p.parse_args(["--n-images", "7", "--random-draws", "1"])) == vars(p.parse_args(["--n", "7", "--draws", "1"]))
    for name in ("CHUNK", "_screen_bf16", "scan", "search_top", "receptive_field", "Masks", "concept_iou", "panel_text"):
        assert getattr(ganlens.filters, name) is not None, name    # the command module re-exports the analysis
