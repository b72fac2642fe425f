"""The settings' defaults and the definitions written into ``filters.json`` and its figure (one place, so the
computation, the JSON and the figure say the same)."""

from __future__ import annotations

QUANTILE = 0.995      # NetDissect's top quantile (Bau et al. 2017): a unit fires on its top 0.5% activations
DETECTOR_IOU = 0.04   # NetDissect calls a unit a detector of a concept above this IoU
PURITY_TOP = 100      # k of the top-k class purity (at most N / 10)
RANDOM_DRAWS = 5      # random Ds compared with the trained one
PERMUTATIONS = 999    # label permutations of the purity null
SHOW = 6              # units shown in the figure by default: each net's highest-scoring
CHUNK = 256           # images per batch of the passes over the data (``batch_size``)
MAP_CACHE_BYTES = 512 * 2 ** 20   # keep the units' maps from the scan (no second D pass) up to this size

SCORE = "autocorrelation"
SCORE_DOC = ("spatial autocorrelation of the guided map inside the receptive field: the mean of the "
             "lag-1 Pearson correlations between horizontally and vertically adjacent pixels of the "
             "colour-summed map, over the pixels that lie in the image; ~0 for pixel noise, towards 1 "
             "for maps made of smooth strokes and regions. Descriptive only: it measures smoothness, not "
             "what the unit responds to (an untrained D with spatially constant kernels scores high)")
NO_SEMANTIC = "no masks or labels: semantic score not measured"
NOT_SPATIAL = ("the layer's units have no spatial map (1x1): upsampled, a map is constant, so a unit fires on whole "
               "images and its IoU only measures on which images it fires, weighted by the concept's area in them")
IOU_DOC = ("Network-Dissection IoU (Bau et al. 2017): the unit's activation map is upsampled to the image "
           "(bilinear, align_corners=False), thresholded at its top-quantile level T (P(activation > T) = "
           "1 - quantile over the raw activations at every position of the N images searched; numpy's "
           "linear interpolation) and compared with each concept's mask; IoU = sum over images |fired & "
           "concept| / sum over images |fired | concept|. The unit's label is its best concept; precision: "
           "the share of the unit's fired pixels that lie in that concept; lift: precision / the concept's "
           "pixel_share (1 = no preference); "
           "fired_share: the share of all pixels where the unit fires")
PURITY_DOC = ("purity of the unit's top-k images (largest activation over positions): the share of the most "
              "common class among them; prior: that class's share of all N images searched; lift = purity / "
              "prior (1 = no selectivity); p_value: against the label-permutation null of the max-class purity")
LAYER_RULE = ("the trained layer scores higher when its units' scores are higher than every random draw's by a "
              "one-sided Mann-Whitney test at 0.05 (intersection-union: each draw must be beaten)")
ABOVE_RULE = ("units whose trained score is above the best of the R random draws' scores at the same index; "
              "chance level N / (R + 1); one-sided exact binomial test")
PURITY_NULL_DOC = ("label-permutation null of the max-class purity of k images: k images drawn without "
                   "replacement from the N searched, 999 draws; p = (1 + #null >= observed) / 1000; detectors: "
                   "Benjamini-Hochberg at q = 0.05 over the layer's units")
RESPONSE_DOC = ("largest activation of the unit over spatial positions (the layer's output: after "
                "the normalisation and activation that follow its conv/linear)")
RANDOM_INIT_DOC = ("the DCGAN paper's initialisation (ganlens.gan.random_like), one D per seed --seed .. "
                   "--seed + draws - 1; BatchNorm at its initial running statistics (mean 0, var 1), eval "
                   "mode; \"random\" and the figure show the first")
