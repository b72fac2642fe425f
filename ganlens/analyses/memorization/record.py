"""What the memorization check passes between its steps, and the parts of its JSON that are fixed text."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ganlens.analyses.memorization.copying import (COPY_FRACTION_THRESHOLD, COPY_QUANTILE, CT_THRESHOLD,
                                                   MIN_GENERATED_PER_CELL)
from ganlens.analyses.memorization.search import K_RELATIVE


class Nearest(NamedTuple):
    """The nearest training image of each query of one set, in one space: its index in the training set (Q,),
    the distance (Q,) and the relative distance d1 / mean(d1..dk) (Q,)."""

    index: np.ndarray
    distance: np.ndarray
    relative: np.ndarray


def rule_block(spaces: list[str]) -> dict:
    """The verdict rule as memorization JSON's "rule" block: every space votes."""
    return {"C_T_below": CT_THRESHOLD, "C_T_spaces": spaces, "copy_fraction_spaces": spaces,
            "copy_fraction_above": COPY_FRACTION_THRESHOLD, "copy_quantile": COPY_QUANTILE,
            "k_relative": K_RELATIVE, "min_generated_per_cell": MIN_GENERATED_PER_CELL,
            "text": f"every space votes: copying if, in any space ({', '.join(spaces)}), more than "
                    f"{COPY_FRACTION_THRESHOLD:.0%} of generated samples have a relative nearest-training distance "
                    f"d1/mean(d1..d{K_RELATIVE}) below the {COPY_QUANTILE:.0%} quantile of held-out real images, "
                    f"or C_T < {CT_THRESHOLD}; flagged_by names the spaces that flagged"}
