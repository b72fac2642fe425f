"""The training curves: losses and D's outputs against the iteration (``loss.pdf``/``loss.png``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganlens.core import figures
from ganlens.tools.train.record import HISTORY_FIELDS


def history_figure(history):
    """Losses and D outputs against the iteration, from history rows (iteration, loss_d, loss_g, d_x, d_g_z)."""
    h = np.asarray(history, dtype=np.float64).reshape(-1, len(HISTORY_FIELDS))
    with figures.style():
        fig, (a1, a2) = figures.figure("two", aspect=0.3, ncols=2)
        a1.plot(h[:, 0], h[:, 1], label="loss D")
        a1.plot(h[:, 0], h[:, 2], label="loss G")
        a1.set_xlabel("iteration")
        a1.legend(frameon=False)
        a2.plot(h[:, 0], h[:, 3], label="D(x)")
        a2.plot(h[:, 0], h[:, 4], label="D(G(z))")
        a2.set_xlabel("iteration")
        a2.set_ylim(0, 1)
        a2.legend(frameon=False)
    return fig


def plot_history(history: list, stem: Path) -> None:
    """``stem``.pdf and .png of :func:`history_figure`."""
    figures.save(history_figure(history), stem)
