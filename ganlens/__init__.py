"""ganlens: look inside trained GANs and put what you see into papers.

Public API::

    import ganlens
    gan = ganlens.load("my_checkpoint.pth")          # or ganlens.load() for the shipped rooms model
    gan = ganlens.wrap(G=my_G, D=my_D, nz=100)        # or any PyTorch networks you built
    z = gan.latents([0, 1, 2])                         # (3, nz) by the seed rule
    images = gan.generate(z)                           # (3, nc, H, W) in [-1, 1]
    r = ganlens.walk(gan)                              # every analysis returns a Result:
    r.to_dict(), r.figure(), r.save("out/walk")        # its JSON, a matplotlib Figure, files

Layout (each layer imports only from the ones above it in this list): ``core/`` (model type, checkpoints,
layers, hooks, generation, results, figure style), ``stats/``, ``data/`` (image sets, the rooms testbed, box
and rating files), ``analyses/`` (one package per analysis: computation, record, figure), ``tools/`` (train,
annotate, export, paper), and at the top the commands (``ganlens/<name>.py`` is ``python -m ganlens.<name>``),
the command helper (:mod:`ganlens.cli`) and the registry (:mod:`ganlens.registry`).
"""

import importlib
import importlib.abc
import importlib.util
import sys

from ganlens.core.checkpoints import DEFAULT_CHECKPOINT, LoadedModel, load
from ganlens.core.errors import GanlensError
from ganlens.core.gan import GAN, latent_from_seed, random_like, wrap
from ganlens.core.layers import Layer, LayerTable
from ganlens.core.models import DCGANConfig, Discriminator, Generator
from ganlens.core.results import Result
from ganlens.core.version import __version__
from ganlens.registry import ANALYSES

# Modules that moved into core/, data/ and analyses/: their old names (``ganlens.hooks``, ``from ganlens.boxes import
# read``) keep importing the same module object, so users' code and notebooks keep working.
MOVED = {
    **{name: f"ganlens.core.{name}" for name in (
        "errors", "models", "architectures", "layers", "hooks", "gan", "checkpoints", "generate", "results",
        "figures", "validate", "guided")},
    "boxes": "ganlens.data.boxes", "ratings": "ganlens.data.ratings",
    "memorization": "ganlens.analyses.memorization", "invert_core": "ganlens.analyses.invert.reconstruct",
    "invert_stats": "ganlens.analyses.invert.membership", "invert_figures": "ganlens.analyses.invert.figure",
    "forget_select": "ganlens.analyses.forget.select", "filters_layer": "ganlens.analyses.filters.layer",
    "svm": "ganlens.analyses.probe.svm", "dissect_effects": "ganlens.analyses.dissect.effects",
    "dissect_threshold": "ganlens.analyses.dissect.threshold",
}


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import ganlens.<old name>`` -> the module at its new place (one module object under both names).
    Written by hand: importlib has no alias mechanism; this is the documented finder/loader protocol."""

    def find_spec(self, fullname, path=None, target=None):
        head, _, leaf = fullname.rpartition(".")
        if head == __name__ and leaf in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name.rpartition(".")[2]])
        spec.loader_state = module.__spec__  # the import system is about to overwrite it with the alias's spec
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state


if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedFinder())


def __getattr__(name: str):
    """``ganlens.walk(gan, ...)`` etc.: analysis modules are imported on first use (start-up stays fast)
    and are callable (see :func:`ganlens.core.results.analysis_module`); moved modules by their old names."""
    if name in ANALYSES:
        return importlib.import_module(ANALYSES[name])
    if name in MOVED:
        return importlib.import_module(MOVED[name])
    raise AttributeError(f"module 'ganlens' has no attribute {name!r}")


__all__ = ["load", "wrap", "GAN", "Result", "Layer", "LayerTable", "LoadedModel", "latent_from_seed",
           "random_like", "DEFAULT_CHECKPOINT", "GanlensError", "DCGANConfig", "Generator", "Discriminator",
           "__version__"]
