"""The paper's DCGAN trainer as a library: ``ganlens.train(data, out, **settings)`` -> a Result whose ``.gan``
is the trained model (``python -m ganlens.train`` is its command).

:class:`Stepper` is one training step (the benchmark's too); :func:`step_latents` and :func:`epoch_order`
make a run's randomness a function of (seed, iteration), so a resumed run continues exactly. How a step
differs from the reference's and what a run folder holds: docs/methods.md, section "train".
"""

from ganlens.tools.train.checkpointing import find_resume, kept, saved_iteration
from ganlens.tools.train.figure import history_figure, plot_history
from ganlens.tools.train.folder import OUTPUT_NAME
from ganlens.tools.train.record import HISTORY_FIELDS, N_FIXED, Settings, TrainRecord
from ganlens.tools.train.run import train
from ganlens.tools.train.schedule import epoch_order, step_latents, use_bf16
from ganlens.tools.train.stepper import Stepper, distributed

__all__ = ["train", "Settings", "TrainRecord", "Stepper", "step_latents", "epoch_order", "use_bf16", "distributed",
           "find_resume", "saved_iteration", "kept", "history_figure", "plot_history", "HISTORY_FIELDS", "N_FIXED",
           "OUTPUT_NAME"]
