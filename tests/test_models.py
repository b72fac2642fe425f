"""ganlens.models: shapes at every size, the paper's initialisation, activations, layer names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlens.core.errors import GanlensError
from ganlens.core.models import (ConfigError, DCGANConfig, Discriminator, Generator, base_size, layer_names, layer_shape, resolve_layer)

SIZES = [(28, 1), (32, 3), (64, 3), (128, 3)]
# (image size) -> (G hidden block sides, D hidden block sides)
SIDES = {28: ([7, 14], [14, 7]), 32: ([4, 8, 16], [16, 8, 4]),
         64: ([4, 8, 16, 32], [32, 16, 8, 4]), 128: ([4, 8, 16, 32, 64], [64, 32, 16, 8, 4])}


def pair(image_size, nc=3):
    config = DCGANConfig(nz=16, ngf=8, ndf=8, nc=nc, image_size=image_size)
    return config, Generator(config).eval(), Discriminator(config).eval()


@pytest.mark.parametrize("image_size,nc", SIZES)
def test_shapes_at_every_size(image_size, nc):
    config, G, D = pair(image_size, nc)
    z = torch.randn(2, 16)
    g_sides, d_sides = SIDES[image_size]
    assert G.hidden_blocks == [f"block{i}" for i in range(1, len(g_sides) + 1)]
    assert D.hidden_blocks == [f"block{i}" for i in range(1, len(d_sides) + 1)]

    # G: run the blocks by hand and compare every block's shape with layer_shape and the paper's widths
    x = z[:, :, None, None]
    n = len(g_sides)
    for i, (name, side) in enumerate(zip(G.hidden_blocks, g_sides), start=1):
        x = getattr(G, name)(x)
        assert x.shape == (2, 8 * 2 ** (n - i), side, side)
        assert layer_shape(G, name) == (x.shape[1], side)
    img = G.output(x)
    assert img.shape == (2, nc, image_size, image_size)
    assert layer_shape(G, "output") == (nc, image_size)
    assert torch.equal(G(z), img)                       # forward == the blocks in order
    assert torch.equal(G(z[:, :, None, None]), img)     # (N, nz) and (N, nz, 1, 1) latents agree
    assert img.abs().max() <= 1

    # D: features() are the hidden blocks; logits are (N,)
    feats = D.features(img)
    assert len(feats) == len(d_sides)
    for i, (name, f, side) in enumerate(zip(D.hidden_blocks, feats, d_sides), start=1):
        assert f.shape == (2, 8 * 2 ** (i - 1), side, side)
        assert layer_shape(D, name) == (f.shape[1], side)
    logits = D(img)
    assert logits.shape == (2,)
    assert torch.equal(logits, D.output(feats[-1]).flatten())
    assert torch.equal(D.prob(img), torch.sigmoid(logits))
    assert layer_shape(D, "output") == (1, 1)


def test_init_statistics():
    torch.manual_seed(0)
    config = DCGANConfig()  # ngf=ndf=64 at 64x64: enough weights for tight estimates
    for net in (Generator(config), Discriminator(config)):
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        w = torch.cat([m.weight.flatten() for m in convs])
        assert abs(w.mean().item()) < 1e-3
        assert w.std().item() == pytest.approx(0.02, rel=0.02)
        assert all(m.bias is None for m in convs)
        for m in convs:  # every layer, not just the pool, is N(0, 0.02)
            assert m.weight.std().item() == pytest.approx(0.02, rel=0.15)
        scale = torch.cat([m.weight for m in bns])
        assert scale.mean().item() == pytest.approx(1.0, abs=0.005)
        assert scale.std().item() == pytest.approx(0.02, rel=0.15)
        assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in bns)


@pytest.mark.parametrize("image_size,nc", SIZES)
def test_activations_are_modules_and_not_inplace(image_size, nc):
    _, G, D = pair(image_size, nc)
    for net in (G, D):
        for m in net.modules():
            assert not getattr(m, "inplace", False), f"{m} is in-place"
    for name in G.hidden_blocks:
        block = getattr(G, name)
        assert [type(m) for m in block] == [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU]
    assert [type(m) for m in G.output] == [nn.ConvTranspose2d, nn.Tanh]  # no BN on G's output
    for i, name in enumerate(D.hidden_blocks, start=1):
        block = getattr(D, name)
        want = [nn.Conv2d, nn.LeakyReLU] if i == 1 else [nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU]
        assert [type(m) for m in block] == want  # no BN on D's input block
        assert block[-1].negative_slope == 0.2
    assert [type(m) for m in D.output] == [nn.Conv2d]  # the sigmoid lives in the loss / D.prob


def test_activation_values():
    """A hand-made input: ReLU, LeakyReLU(0.2) and Tanh give the values they should."""
    _, G, D = pair(32)
    x = torch.tensor([-2.0, -0.5, 0.0, 1.5])
    assert torch.equal(G.block1[-1](x), torch.tensor([0.0, 0.0, 0.0, 1.5]))
    assert torch.allclose(D.block1[-1](x), torch.tensor([-0.4, -0.1, 0.0, 1.5]))
    assert torch.equal(G.output[-1](x), torch.tanh(x))


@pytest.mark.parametrize("image_size,g_block,g_side", [(28, "block1", 7), (32, "block2", 8),
                                                       (64, "block3", 16), (128, "block4", 32)])
def test_aliases_resolve_at_every_size(image_size, g_block, g_side):
    nc = 1 if image_size == 28 else 3
    _, G, D = pair(image_size, nc)
    assert resolve_layer(G, "second-highest") == g_block
    assert layer_shape(G, "second-highest")[1] == g_side
    assert resolve_layer(G, "top") == G.hidden_blocks[-1]
    assert layer_shape(G, "top")[1] == image_size // 2
    assert resolve_layer(D, "last") == D.hidden_blocks[-1]
    assert layer_shape(D, "last")[1] == base_size(image_size)
    for net in (G, D):
        for name in layer_names(net):
            resolve_layer(net, name)  # every listed name is valid
        assert resolve_layer(net, "output") == "output"


@pytest.mark.parametrize("which,bad", [("G", "block9"), ("G", "last"), ("D", "second-highest"), ("D", "conv1")])
def test_unknown_layer_lists_valid_names(which, bad):
    _, G, D = pair(64)
    net = G if which == "G" else D
    with pytest.raises(ConfigError) as e:
        resolve_layer(net, bad)
    msg = str(e.value)
    assert repr(bad) in msg
    for name in layer_names(net):
        assert name in msg
    assert isinstance(e.value, GanlensError)


@pytest.mark.parametrize("image_size", [0, 7, 8, 50, 100, 63, 1000])
def test_unsupported_image_size_raises(image_size):
    with pytest.raises(ConfigError, match="image_size"):
        DCGANConfig(image_size=image_size)


@pytest.mark.parametrize("image_size,base", [(28, 7), (32, 4), (64, 4), (128, 4), (48, 3), (16, 4), (56, 7)])
def test_base_size(image_size, base):
    assert base_size(image_size) == base
    _, G, D = pair(image_size)  # every supported size builds and runs
    assert G(torch.randn(1, 16)).shape == (1, 3, image_size, image_size)
    assert D(torch.zeros(1, 3, image_size, image_size)).shape == (1,)


@pytest.mark.parametrize("field,value", [("nz", 0), ("ngf", -1), ("ndf", 2.5), ("nc", True), ("latent", "cauchy")])
def test_bad_config_fields(field, value):
    with pytest.raises(ConfigError, match=field):
        DCGANConfig(**{field: value})


def test_config_dict_round_trip():
    config = DCGANConfig(nz=10, ngf=4, ndf=6, nc=1, image_size=28, latent="uniform")
    assert DCGANConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="bogus"):
        DCGANConfig.from_dict({**config.to_dict(), "bogus": 1})
