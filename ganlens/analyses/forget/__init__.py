"""Make a generator forget an object and measure it (Radford et al. 2016, Fig. 6; docs/methods.md, forget).

A linear classifier on a G layer's feature cells tells cells inside the boxes of a box file from the rest;
the maps it weights most are dropped at every position while G runs whole, and the change is measured
(pixels inside vs outside the boxes on held-out images, the object's rate by a detector where one fits,
random maps as the control)::

    r = ganlens.forget(gan, "annotations/windows.json")     # or a ganlens.data.boxes.BoxFile
    r["removal"]["after"], r["selection"]["k"], r.figure("dose"), r.save("out/forget")

Modules: classifier (step 1), select (step 2, the choice of k), measure (the edit, localisation), judge
(the detector's rates), compute (the steps in order), record (typed records), result (JSON and Result),
figure, ratings (blind human ratings, scored).
"""

from ganlens.analyses.forget.classifier import CLASSIFIER_DOC, MIN_COVER, box_cells, fit_classifier, select_maps
from ganlens.analyses.forget.compute import (FILLS, SELECTS, check_layer, check_settings, forget, held_out,
                                             read_boxes, run, run_classifier, run_localisation)
from ganlens.analyses.forget.judge import Judged, binom_ci, mcnemar, rates, run_dose, run_removal
from ganlens.analyses.forget.measure import (BATCH, FRESH_SEED, as_layer, boxed_samples, dose_levels, fresh_seeds,
                                             generate, generate_each, localisation, mean_ratio)
from ganlens.analyses.forget.ratings import score_ratings
from ganlens.analyses.forget.record import (Boxed, Change, Classifier, Cells, CVChoice, Dose, Fold, FoldModel,
                                            FoldRow, HeldOut, InSample, Localisation, Selection, Settings)
from ganlens.analyses.forget.result import (CI_METHOD, RULES, assemble, figure_samples, judge_record,
                                            other_rules_record, removal_record, selection_record)
from ganlens.analyses.forget.select import candidate_ks, cv_selection, make_folds, one_se, random_set

__all__ = ["forget", "run", "run_classifier", "read_boxes", "generate", "generate_each", "fit_classifier",
           "box_cells", "select_maps", "localisation", "boxed_samples", "mean_ratio", "dose_levels", "fresh_seeds",
           "candidate_ks", "cv_selection", "make_folds", "one_se", "random_set", "check_settings", "check_layer",
           "as_layer", "held_out", "run_localisation", "Judged", "run_removal", "run_dose", "binom_ci", "mcnemar",
           "rates", "removal_record", "other_rules_record", "selection_record", "judge_record", "figure_samples",
           "assemble", "score_ratings", "Settings", "Selection", "Cells", "Classifier", "FoldModel", "Boxed",
           "Change", "Fold", "FoldRow", "HeldOut", "CVChoice", "Dose", "InSample", "Localisation", "FRESH_SEED",
           "BATCH", "FILLS", "SELECTS", "RULES", "CI_METHOD", "CLASSIFIER_DOC", "MIN_COVER"]
