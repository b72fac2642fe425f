"""What do discriminator units respond to (the paper's Fig. 5, on any discriminator)?

    r = ganlens.filters(gan, "rooms", top=4)       # or an ImageSet, a folder, an .npz, a uint8 tensor
    r["semantic"]["iou"]["layer"]["detectors"], r.figure(), r.save("out/filters")

Every unit of a D layer is scored in one streamed pass (:mod:`.scan`): Network-Dissection IoU with concept
masks (:mod:`.masks`, :mod:`.iou`) and / or the class purity of its top images (:mod:`.layer`); the trained
layer is compared as a whole with the same layer of random Ds (:mod:`.layer`); each net's highest-scoring
units get guided-backprop pictures cropped to their receptive field (:mod:`.visual`, :mod:`.field`).
:mod:`.compute` runs it, :mod:`.record` holds the records and writes ``filters.json``, :mod:`.figure` draws it.
Method, references and where ganlens differs: docs/methods.md, filters.
"""

from ganlens.analyses.filters.acts import as_layer, unit_maps
from ganlens.analyses.filters.compute import filters, labels_of, parse_units, semantic, units_text
from ganlens.analyses.filters.defs import (CHUNK, DETECTOR_IOU, MAP_CACHE_BYTES, NO_SEMANTIC, NOT_SPATIAL,
                                           PURITY_TOP, QUANTILE, RANDOM_DRAWS, SCORE, SCORE_DOC, SHOW)
from ganlens.analyses.filters.field import receptive_field
from ganlens.analyses.filters.figure import mosaic, panel_text, plot
from ganlens.analyses.filters.iou import concept_iou, concepts_of, fire, iou_table, pair_counts, score_iou
from ganlens.analyses.filters.layer import (above_best, compare_layers, purity_detectors, purity_k, purity_null,
                                            purity_units, score_purity, top_units)
from ganlens.analyses.filters.masks import Masks, RoomsKeepMasks, open_masks
from ganlens.analyses.filters.record import (Counts, Filters, Guided, IouScores, Labels, LayerComparison,
                                             PurityScores, Scan, Semantic, Top, UnitPurity, compare, result, to_dict)
from ganlens.analyses.filters.scan import firing_cut, scan, screen_bf16, search_top, tail_quantile, tail_size
from ganlens.analyses.filters.visual import crop, structure, visualise

__all__ = ["filters", "semantic", "parse_units", "units_text", "labels_of", "as_layer", "unit_maps",
           "receptive_field", "scan", "search_top", "screen_bf16", "tail_size", "tail_quantile", "firing_cut",
           "Masks", "RoomsKeepMasks", "open_masks", "fire", "concept_iou", "pair_counts", "iou_table", "concepts_of",
           "score_iou", "purity_null", "purity_units", "purity_detectors", "purity_k", "score_purity", "above_best",
           "compare_layers", "top_units", "crop", "structure", "visualise", "mosaic", "panel_text", "plot",
           "Top", "Scan", "Counts", "Labels", "UnitPurity", "LayerComparison", "IouScores", "PurityScores",
           "Semantic", "Guided", "Filters", "compare", "to_dict", "result",
           "CHUNK", "QUANTILE", "DETECTOR_IOU", "PURITY_TOP", "RANDOM_DRAWS", "SHOW", "MAP_CACHE_BYTES",
           "NO_SEMANTIC", "NOT_SPATIAL", "SCORE", "SCORE_DOC"]
