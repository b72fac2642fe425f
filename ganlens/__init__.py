"""ganlens: look inside trained DCGANs and put what you see into papers.

Public API::

    import ganlens
    m = ganlens.load("my_checkpoint.pth")      # or ganlens.load() for the shipped rooms model
    z = m.latents([0, 1, 2])                     # (3, nz) by the seed rule
    images = m.G(z)                              # (3, nc, H, W) in [-1, 1]
"""

__version__ = "0.1.0"

from .checkpoints import DEFAULT_CHECKPOINT, LoadedModel, latent_from_seed, load  # noqa: E402
from .errors import GanlensError  # noqa: E402
from .models import DCGANConfig, Discriminator, Generator  # noqa: E402

__all__ = ["load", "LoadedModel", "latent_from_seed", "DEFAULT_CHECKPOINT", "GanlensError",
           "DCGANConfig", "Generator", "Discriminator", "__version__"]
