"""ganlens.hooks: retain and ablate give exactly the hand-computed tensors and never leave a hook behind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganlens.core.errors import GanlensError
from ganlens.core.hooks import ablate, count_hooks, layer_module, retain
from ganlens.core.models import Discriminator


def by_hand(net, x, stop=None, edit=None):
    """Run ``net``'s blocks in order; ``edit(name, out)`` may change a block's output. Returns
    {block name: output} and the network's final output (G: image; D: logits (N,))."""
    outs = {}
    for name in net.hidden_blocks + ["output"]:
        x = getattr(net, name)(x)
        if edit:
            x = edit(name, x)
        outs[name] = x
    return outs, x.flatten() if isinstance(net, Discriminator) else x


def test_retain_equals_running_the_blocks(tiny_pair):
    config, G, D = tiny_pair
    z = torch.randn(4, config.nz)
    with retain(G, ["block1", "second-highest", "top", "output"]) as acts:
        img = G(z)
        assert count_hooks(G) == 4
    assert count_hooks(G) == 0
    manual, final = by_hand(G, z[:, :, None, None])
    assert set(acts) == {"block1", "block2", "block3", "output"}  # aliases resolved to block names
    for name, t in acts.items():
        assert torch.equal(t, manual[name]), name
        assert not t.requires_grad
    assert torch.equal(img, final)

    with retain(D, "last") as dacts:
        logits = D(img)
    manual_d, final_d = by_hand(D, img)
    assert list(dacts) == ["block3"]
    assert torch.equal(dacts["block3"], manual_d["block3"])
    assert torch.equal(logits, final_d)


def test_retain_keeps_the_latest_pass_and_can_keep_the_graph(tiny_pair):
    config, G, _ = tiny_pair
    z1, z2 = torch.randn(2, config.nz), torch.randn(3, config.nz)
    G.requires_grad_(True)
    with retain(G, "block2", detach=False) as acts:
        G(z1)
        G(z2)
    assert acts["block2"].shape[0] == 3
    assert torch.equal(acts["block2"], by_hand(G, z2[:, :, None, None])[0]["block2"])
    acts["block2"].sum().backward()  # still attached to the graph
    assert G.block1[0].weight.grad is not None


@pytest.mark.parametrize("layer,block", [("second-highest", "block2"), ("block1", "block1"), ("top", "block3")])
def test_ablate_zeros_exactly_the_chosen_channels(tiny_pair, layer, block):
    config, G, _ = tiny_pair
    z = torch.randn(4, config.nz)
    channels = [0, 3, 5]
    plain = by_hand(G, z[:, :, None, None])[0]

    def zero(name, x):
        if name == block:
            x = x.clone()
            x[:, channels] = 0
        return x
    manual, manual_img = by_hand(G, z[:, :, None, None], edit=zero)

    with ablate(G, layer, channels):
        with retain(G, [block, "output"]) as acts:  # registered after ablate: sees the edited output
            img = G(z)
    assert count_hooks(G) == 0
    got = acts[block]
    assert (plain[block][:, channels] != 0).any()  # there was something to zero
    assert torch.equal(got[:, channels], torch.zeros_like(got[:, channels]))  # every position
    others = [c for c in range(got.shape[1]) if c not in channels]
    assert torch.equal(got[:, others], plain[block][:, others])  # the rest untouched
    assert torch.equal(img, manual_img)
    assert not torch.equal(img, plain["output"])  # and it changes the image
    assert torch.equal(G(z), plain["output"])  # after the block, G is back to normal


def test_ablate_discriminator_and_empty_channel_list(tiny_pair):
    config, G, D = tiny_pair
    x = G(torch.randn(3, config.nz))
    with ablate(D, "last", list(range(D.block3[0].out_channels))):
        logits = D(x)
    assert torch.equal(logits, D.output(torch.zeros(3, 32, 4, 4)).flatten())  # all zero -> zero logit
    assert torch.equal(logits, torch.zeros(3))
    with ablate(D, "block1", []):
        assert torch.equal(D(x), by_hand(D, x)[1])
    assert count_hooks(D) == 0


def test_no_hook_left_behind_when_the_body_raises(tiny_pair):
    config, G, D = tiny_pair
    with pytest.raises(RuntimeError, match="boom"):
        with retain(G, ["block1", "block2"]):
            G(torch.randn(1, config.nz))
            raise RuntimeError("boom")
    assert count_hooks(G) == 0
    with pytest.raises(KeyError):
        with ablate(D, "block2", [1]):
            raise KeyError("x")
    assert count_hooks(D) == 0
    with pytest.raises(ValueError):
        with ablate(G, "block2", [1]), retain(G, "block3"):
            assert count_hooks(G) == 2
            raise ValueError
    assert count_hooks(G) == 0


def test_bad_layers_and_channels(tiny_pair):
    config, G, D = tiny_pair
    with pytest.raises(GanlensError, match="valid layers"):
        with retain(G, ["block1", "nope"]):
            pass
    assert count_hooks(G) == 0
    with pytest.raises(GanlensError, match="last"):
        with ablate(D, "second-highest", [0]):
            pass
    with pytest.raises(GanlensError, match="out of range"):
        with ablate(G, "block1", [999]):
            G(torch.randn(1, config.nz))
    assert count_hooks(G) == 0
    with pytest.raises(GanlensError, match="out of range"):
        with ablate(G, "block1", [-1]):
            G(torch.randn(1, config.nz))
    assert count_hooks(G) == 0


def test_any_module_by_path():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0.0, -50.0]))
    x = torch.tensor([[3.0, -2.0]])
    with retain(net, "1") as acts:
        net(x)
    assert torch.equal(acts["1"], torch.tensor([[3.0, 0.0, 0.0]]))  # ReLU of (3, -2, -49)
    assert layer_module(net, "2")[1] is net[2]
    with pytest.raises(GanlensError, match="unknown layer"):
        layer_module(net, "7")
    assert count_hooks(net) == 0
