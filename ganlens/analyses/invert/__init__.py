"""Inversion: for each real image the latent whose generated image is closest, and what that says about
memorization (training vs held-out images) and mode dropping (classes G draws less often than the data).
Method: docs/methods.md, invert.

    r = ganlens.invert(gan, "rooms", n=256)                            # latents, reconstructions, distances
    r = ganlens.invert(gan, "rooms", heldout="auto")                   # + membership test (AUC, ROC)
    r = ganlens.invert(gan, "rooms", modes=True)                       # + per-class shares (a segmenter)
    r = ganlens.memorization(gan, "rooms", method="inversion")         # the same membership test
    r["membership"]["verdict"], r.figure("membership"), r.save("out/invert")

The search: :mod:`.reconstruct`; the statistics: :mod:`.membership`; the figures and captions: :mod:`.figure`.
"""

from ganlens.analyses.invert.compute import (auto_heldout, check_settings, encoder_for, generated_shares, invert,
                                             modes_block, open_set)

__all__ = ["invert", "open_set", "auto_heldout", "encoder_for", "generated_shares", "modes_block", "check_settings"]
