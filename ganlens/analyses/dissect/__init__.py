"""GAN Dissection (Bau et al., ICLR 2019): label every generator unit with the object class it draws, then
remove a class by switching its units off and insert it by switching them on in a region, measured by a
segmenter against random units of the same layer::

    r = ganlens.dissect(gan)                                            # rooms models: the rooms segmenter
    r = ganlens.dissect(gan, segmenter=(my_fn, ["sky", "tree", ...]))   # any other model
    r["layers"][0]["counts"], r["remove"]["window"]["after"], r.save("out/dissect")

Steps: :mod:`.units` (layers, the two passes over the samples), :mod:`.threshold` (IQR or quantile rule),
:mod:`.labels`, :mod:`.edits` / :mod:`.remove` / :mod:`.insert` / :mod:`.effects` (the interventions and how
they are measured), :mod:`.agreement` (with forget's probe), :mod:`.record` (records and JSON),
:mod:`.figure`; :mod:`.compute` puts them together. Methods and measured numbers: docs/methods.md, dissect.
"""

from ganlens.analyses.dissect.agreement import agreement
from ganlens.analyses.dissect.compute import FILLS, allowed_classes, check_settings, dissect, run_edits
from ganlens.analyses.dissect.edits import (DEFAULT_REGION_CLASS, dose_levels, make_target, measure, region_class,
                                            render, run_dose, targets_for)
from ganlens.analyses.dissect.effects import compare, mcnemar, rate
from ganlens.analyses.dissect.figure import plot_counts, plot_dose, plot_insert, plot_remove, plot_units, unit_tile
from ganlens.analyses.dissect.gallery import gallery
from ganlens.analyses.dissect.insert import insert_regions, run_insert
from ganlens.analyses.dissect.labels import class_summary, iqr_thresholds, label_pass, label_units
from ganlens.analyses.dissect.record import (EVAL_SEED, Agreement, ClassInfo, Counts, Dose, Edit, Edits, Eval,
                                             Insertion, LayerCounts, LayerLabels, Labels, LayerStats, Measure, Region,
                                             Settings, ShownUnit, Target, UnitLabel)
from ganlens.analyses.dissect.remove import run_remove
from ganlens.data.segment import (DEFAULT_TARGET, MIN_AREA, Segmentation, as_segmentation,
                                              check_classes, rooms_segmentation)
from ganlens.analyses.dissect.units import (CHUNK, ELEMS, TOP_SAMPLES, count_layer, dissect_layers, interp_matrix,
                                            iou_matrix, iou_pass, quantile_pass)

__all__ = [
    "dissect", "check_settings", "allowed_classes", "run_edits", "FILLS",
    "Segmentation", "as_segmentation", "rooms_segmentation", "check_classes", "DEFAULT_TARGET", "MIN_AREA",
    "dissect_layers", "interp_matrix", "quantile_pass", "count_layer", "iou_pass", "iou_matrix", "CHUNK", "ELEMS",
    "TOP_SAMPLES", "iqr_thresholds", "label_units", "class_summary", "label_pass",
    "make_target", "dose_levels", "measure", "render", "run_dose", "targets_for", "region_class",
    "DEFAULT_REGION_CLASS", "run_remove", "run_insert", "insert_regions", "rate", "mcnemar", "compare",
    "agreement", "gallery", "plot_counts", "plot_units", "plot_remove", "plot_insert", "plot_dose", "unit_tile",
    "EVAL_SEED", "Settings", "LayerStats", "LayerCounts", "Counts", "UnitLabel", "LayerLabels", "ClassInfo",
    "Labels", "ShownUnit", "Target", "Eval", "Measure", "Dose", "Region", "Edit", "Insertion", "Edits",
    "Agreement",
]
