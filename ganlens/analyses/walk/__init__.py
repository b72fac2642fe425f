"""Latent walks with numbers (the paper's Fig. 4): step distances, sharpness and jumps, and with ``data`` the
memorization check (method: docs/methods.md, walk and memorization).

    r = ganlens.walk(gan, rows=4, points=9)             # any GAN: ganlens.load(path) or ganlens.wrap(G, D, nz=...)
    r = ganlens.walk(gan, data="rooms")                 # + the memorization report (ganlens.memorization)
    r.to_dict(), r.figure(), r.figure("neighbours"), r.save("out/walk")
"""

from ganlens.analyses.walk.compute import (JUMP_FACTOR, MEDIAN_FLOOR, compute_walk, find_jumps, sharpness,
                                           step_distances, walk)
from ganlens.core.results import checkpoint_block
from ganlens.analyses.walk.figure import MAX_FRAMES_PER_LINE, plot_walk, walk_layout, write_video
from ganlens.core.interpolate import lerp, slerp, walk_latents

__all__ = ["walk", "compute_walk", "walk_latents", "lerp", "slerp", "step_distances", "sharpness", "find_jumps",
           "checkpoint_block", "plot_walk", "walk_layout", "write_video", "JUMP_FACTOR", "MEDIAN_FLOOR",
           "MAX_FRAMES_PER_LINE"]
