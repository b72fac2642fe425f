"""ganlens.analyses.filters.layer: the layer comparison and the purity null, simulated under their nulls (false-positive
rates at most the nominal 5% + simulation error) and on planted differences (they fire)."""

from __future__ import annotations

import numpy as np

from ganlens.analyses.filters import layer as fl

SE = 2 * np.sqrt(0.05 * 0.95)


def test_purity_null_and_bh_detectors_hold_their_level_where_units_ignore_the_labels():
    rng = np.random.default_rng(0)
    n, k, units, runs = 400, 40, 32, 150
    labels = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    null = fl.purity_null(labels, k, seed=1)
    assert null.shape == (999,) and null.min() >= 0.6 * 0.5
    unit_fp, any_detector = [], 0
    for _ in range(runs):
        tops = np.argsort(rng.random((units, n)), axis=1)[:, :k]          # top-k sets unrelated to the labels
        rec = fl.purity_units(tops, labels, k, null)
        unit_fp.append(np.mean([r.p_value < 0.05 for r in rec]))
        any_detector += any(fl.purity_detectors(rec))
    assert np.mean(unit_fp) <= 0.05 + SE / np.sqrt(runs * units) * 3     # units of one run share a null draw
    assert any_detector / runs <= 0.05 + SE / np.sqrt(runs), any_detector  # BH: family-wise under the global null
    # A unit whose top-k all come from the rare class is a detector; its p-value is the smallest possible.
    rare = np.flatnonzero(labels == 2)[:k]
    rec = fl.purity_units(np.vstack([rare, tops[1:]]), labels, k, null)
    assert rec[0].class_name == "2" and rec[0].purity == 1.0 and rec[0].p_value == 1 / 1000
    assert fl.purity_detectors(rec)[0]


def test_layer_rules_hold_their_level_when_the_trained_layer_is_just_another_draw():
    rng = np.random.default_rng(2)
    runs, n, r = 400, 64, 5
    higher = above = 0
    for _ in range(runs):
        scores = rng.gamma(2.0, 0.005, (r + 1, n))                     # IoU-like, skewed; all nets exchangeable
        out = fl.compare_layers(scores[0], scores[1:], 0, [0] * r, list(range(r))).to_dict()
        higher += out["higher_than_every_draw"]
        above += out["above_best_draw"]["p_value"] < 0.05
        assert out["above_best_draw"]["chance"] == round(n / (r + 1), 6)
    bound = 0.05 + SE / np.sqrt(runs)
    assert higher / runs <= bound and above / runs <= bound, (higher, above)


def test_layer_rules_fire_on_a_layer_that_scores_higher():
    rng = np.random.default_rng(3)
    draws = rng.gamma(2.0, 0.005, (5, 64))
    trained = rng.gamma(2.0, 0.005, 64) * 2.0                          # every unit twice as selective
    out = fl.compare_layers(trained, draws, 12, [1, 0, 2, 1, 0], [0, 1, 2, 3, 4]).to_dict()
    assert out["higher_than_every_draw"] and all(d["p_value"] < 0.05 for d in out["mann_whitney"])
    assert out["above_best_draw"]["p_value"] < 1e-3 and out["detectors"]["more_than_every_draw"]
    assert fl.top_units([0.1, 0.5, 0.5, 0.2], 3) == [1, 2, 3]
