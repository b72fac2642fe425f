"""Has a generator memorized its training set? Nearest training images and the data-copying test of
Meehan et al. (2020), in pixel space and in D's feature space (method: docs/methods.md, memorization).

    r = ganlens.memorization(gan, "rooms")          # or a folder, an .npz, an opened ImageSet
    r["verdict"], r.figure(), r.save("out/memorization")

``ganlens.walk(gan, data=...)`` runs the same check (:func:`check`) with the walk frames as extra queries.
"""

from ganlens.analyses.api import analysis_module
from ganlens.analyses.memorization.compute import SHOWN, TIMING, check, memorization, report
from ganlens.analyses.memorization.copying import (COPY_FRACTION_THRESHOLD, COPY_QUANTILE, CT_THRESHOLD,
                                                   MIN_GENERATED_PER_CELL, Z_METHODS, data_copying_test,
                                                   relative_distance, vote, z_u)
from ganlens.analyses.memorization.figure import plot_neighbours
from ganlens.analyses.memorization.record import Nearest, rule_block
from ganlens.analyses.memorization.search import (EXPANSION_TOL, K_RELATIVE, KMEANS_FIT_IMAGES, RERANK,
                                                  _exact_smallest, _update, fit_cells, search)
from ganlens.core.embed import Space, embed_all, feature_space, pixel_space, spaces_for
from ganlens.data.training import heldout_images, open_data, resolve_data

__all__ = ["memorization", "check", "report", "Nearest", "rule_block", "search", "fit_cells", "data_copying_test", "z_u", "vote",
           "relative_distance", "plot_neighbours", "Space", "pixel_space", "feature_space", "spaces_for",
           "embed_all", "open_data", "heldout_images", "resolve_data", "SHOWN", "TIMING", "COPY_FRACTION_THRESHOLD",
           "COPY_QUANTILE", "CT_THRESHOLD", "MIN_GENERATED_PER_CELL", "Z_METHODS", "EXPANSION_TOL", "K_RELATIVE",
           "KMEANS_FIT_IMAGES", "RERANK", "_exact_smallest", "_update"]

analysis_module(__name__, memorization)
