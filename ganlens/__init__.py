"""ganlens: look inside trained GANs and put what you see into papers.

Public API::

    import ganlens
    gan = ganlens.load("my_checkpoint.pth")          # or ganlens.load() for the shipped rooms model
    gan = ganlens.wrap(G=my_G, D=my_D, nz=100)        # or any PyTorch networks you built
    z = gan.latents([0, 1, 2])                         # (3, nz) by the seed rule
    images = gan.generate(z)                           # (3, nc, H, W) in [-1, 1]
    r = ganlens.walk(gan)                              # every analysis returns a Result:
    r.to_dict(), r.figure(), r.save("out/walk")        # its JSON, a matplotlib Figure, files
"""

__version__ = "0.1.0"

from .checkpoints import DEFAULT_CHECKPOINT, LoadedModel, load  # noqa: E402
from .errors import GanlensError  # noqa: E402
from .gan import GAN, latent_from_seed, random_like, wrap  # noqa: E402
from .layers import Layer, LayerTable  # noqa: E402
from .models import DCGANConfig, Discriminator, Generator  # noqa: E402
from .results import Result  # noqa: E402

ANALYSES = ("walk", "memorization", "filters", "forget", "arith", "probe", "train", "dissect", "invert")


def __getattr__(name: str):
    """``ganlens.walk(gan, ...)`` etc.: analysis modules are imported on first use (start-up stays fast)
    and are callable (see :func:`ganlens.results.analysis_module`)."""
    if name in ANALYSES:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ganlens' has no attribute {name!r}")


__all__ = ["load", "wrap", "GAN", "Result", "Layer", "LayerTable", "LoadedModel", "latent_from_seed",
           "random_like", "DEFAULT_CHECKPOINT", "GanlensError", "DCGANConfig", "Generator", "Discriminator",
           "__version__"]
