"""GANSpace (Härkönen et al., NeurIPS 2020): principal components of a generator layer, carried back to latent
directions, with edits along them and a control against random directions.

    r = ganlens.ganspace(gan)                           # or ganlens.analyses.ganspace.ganspace(gan, ...)
    r = ganlens.ganspace(gan, layer="block2", n=2000, components=8, draws=20, samples=32)
    r.to_dict(), r.figure(), r.figure("objects"), r.save("out/ganspace")

Method, the rule and where it differs from the reference: docs/methods.md (GANSpace).
"""

from ganlens.analyses.ganspace.compute import COLUMNS, ganspace
from ganlens.analyses.ganspace.decompose import FIRST, LATENT_STD, decompose, pca, regress, resolve_layer
from ganlens.analyses.ganspace.edits import centred_edits, measure, random_frames
from ganlens.analyses.ganspace.figure import plot_ganspace, plot_objects
from ganlens.analyses.ganspace.record import Basis, Decision, Measured, Run
from ganlens.analyses.ganspace.rule import MIN_LATENTS, decide, null_rate

__all__ = ["ganspace", "decompose", "pca", "regress", "resolve_layer", "centred_edits", "measure",
           "random_frames", "decide", "null_rate", "plot_ganspace", "plot_objects", "Basis", "Decision", "Measured",
           "Run", "FIRST", "LATENT_STD", "COLUMNS", "MIN_LATENTS"]
