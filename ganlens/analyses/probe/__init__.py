"""The linear probe (the paper's Table 1): a linear L2-SVM on D's max-pooled features, over repeated
stratified K-fold splits, against the same probe on random Ds of the same architecture.

    r = ganlens.probe(gan, "rooms:n=2000,seed=1")       # or an .npz / folder with labels, or an ImageSet
    r["accuracy"], r["random_accuracy"], r["trained_beats_random"], r.figure(), r.save("out/probe")

Modules: :mod:`.features` (D's features), :mod:`.labels` (labelled images), :mod:`.cache` (feature cache),
:mod:`.svm` (the exact solver), :mod:`.search` (C search on one split), :mod:`.compute` (splits, spread,
comparison, :func:`probe`), :mod:`.record` (records, JSON), :mod:`.figure`. Method: docs/methods.md, "probe".
"""

from ganlens.analyses.probe.cache import (CACHE_VERSION, cache_dir, cache_path, cache_read, cache_write,
                                          cached_features, net_fingerprint)
from ganlens.analyses.probe.compute import (DRAWS, RULE, SPLITS, compare_random, folds_of, kfold_splits, parse_C,
                                            probe, split_seeds, spread, summarise)
from ganlens.analyses.probe.features import (BATCH_SIZE, POOL, compact, d_features, extract, feature_dim,
                                             resolve_layers)
from ganlens.analyses.probe.figure import plot_probe
from ganlens.analyses.probe.labels import (MIN_WINDOW_PIXELS, TASKS, class_names, data_key, labelled,
                                           labelled_set, rooms_labels)
from ganlens.analyses.probe.record import (Comparison, Features, Labelled, NetworkFit, Paired, ProbeRun, Settings,
                                           Split, SplitFit, to_result)
from ganlens.analyses.probe.search import C_GRID, fit_all, fit_probe, fit_split, split

__all__ = [
    "probe", "resolve_layers", "d_features", "feature_dim", "extract", "compact", "rooms_labels", "class_names",
    "data_key", "labelled", "labelled_set", "net_fingerprint", "cache_dir", "cache_path", "cache_read",
    "cache_write", "cached_features", "split", "kfold_splits", "split_seeds", "folds_of", "fit_split", "fit_probe",
    "fit_all", "spread", "summarise", "compare_random", "parse_C", "plot_probe", "to_result",
    "Split", "Labelled", "Features", "SplitFit", "NetworkFit", "Paired", "Comparison", "Settings", "ProbeRun",
    "POOL", "BATCH_SIZE", "C_GRID", "SPLITS", "DRAWS", "RULE", "TASKS", "MIN_WINDOW_PIXELS", "CACHE_VERSION",
]
