"""Shared test fixtures: seeded randomness, one CPU thread, tiny DCGANs and checkpoints of them.

One thread: the tests share two cores with other jobs, where multi-threaded small convolutions run
~30x slower, and one thread also makes float reductions run in one fixed order (bitwise-reproducible
results, which the resume test relies on).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from ganlens.core import checkpoints
from ganlens.core.models import DCGANConfig, Discriminator, Generator

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


@pytest.fixture
def make_pair():
    """``make_pair(image_size=32, nc=3, nz=16, ngf=8, ndf=8, seed=0)`` -> (config, G, D), both in eval mode.

    BatchNorm running statistics are set to non-trivial seeded values so that eval-mode outputs
    depend on them (a wrong copy of the buffers shows up in the outputs).
    """
    def make(image_size=32, nc=3, nz=16, ngf=8, ndf=8, seed=0, latent="normal"):
        torch.manual_seed(seed)
        config = DCGANConfig(nz=nz, ngf=ngf, ndf=ndf, nc=nc, image_size=image_size, latent=latent)
        G, D = Generator(config), Discriminator(config)
        g = torch.Generator().manual_seed(seed + 1)
        for m in list(G.modules()) + list(D.modules()):
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        return config, G.eval(), D.eval()
    return make


@pytest.fixture
def tiny_pair(make_pair):
    """(config, G, D): a 32x32 colour DCGAN with nz=16, ngf=ndf=8, in eval mode."""
    return make_pair()


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_pair):
    """Path of a ganlens checkpoint (G and D) of ``tiny_pair``'s networks."""
    config, G, D = tiny_pair
    return checkpoints.save(tmp_path / "tiny.pt", config, G, D, provenance=checkpoints.provenance(seed=0))
