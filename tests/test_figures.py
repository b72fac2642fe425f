"""The one figure style and the one image tiler (figures.tile / place / grid)."""

from __future__ import annotations

import numpy as np
import torch

from ganlens.core import figures


def test_grid_equals_torchvision_make_grid():
    from torchvision.utils import make_grid
    torch.manual_seed(0)
    for n, c in ((7, 3), (1, 3), (5, 1)):
        x = torch.rand(n, c, 6, 6) * 2 - 1
        want = make_grid(x, nrow=3, padding=1, normalize=True, value_range=(-1, 1), pad_value=1.0)
        assert np.allclose(figures.grid(x, nrow=3), want.permute(1, 2, 0).numpy(), atol=1e-6)


def test_tile_gaps_empty_cells_scale_and_boxes():
    imgs = np.zeros((3, 2, 2, 3), np.float32)
    t = figures.tile([imgs[0], None, imgs[1], imgs[2]], cols=2, gap=1, scale=2)
    assert t.shape == (2 * 4 + 1, 2 * 4 + 1, 3)
    assert (t[:4, 5:] == 1).all()                      # the None cell stays the fill colour
    assert (t[:4, :4] == 0).all() and (t[4] == 1).all()  # a one-pixel white gap between rows
    boxed = figures.tile(imgs[:1], cols=1, scale=4, boxes=[[(0, 0, 2, 2)]])
    assert tuple(boxed[0, 0]) == (1.0, 0.0, 0.0)        # red outline on the enlarged tile
    assert figures.offsets(3, 4, gaps=[1, 3]) == [0, 5, 12]


def test_rgb_converts_uint8_float_and_grey_once():
    u8 = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    fl = -torch.ones(1, 3, 2, 2)
    assert figures.rgb(u8).shape == (1, 2, 2, 3) and figures.rgb(u8).max() == 1.0
    assert figures.rgb(fl).min() == 0.0
