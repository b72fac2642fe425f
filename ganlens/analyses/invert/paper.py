"""The inversion figures (reconstructions, the membership test, mode dropping): the settings of their run and
their captions, built from the saved JSON. The registry names :data:`FIGURE`; ``ganlens.paper`` runs it.

The captions are :mod:`.figure`'s plain text, LaTeX-escaped here, with the model named as in every caption."""

from __future__ import annotations

from ganlens.analyses.invert import figure as invert_figures
from ganlens.core.latex import PaperFigure, latex_escape, model_name, model_sha256, settings_without_model


def _latex(text: str, j: dict) -> str:
    """A plain-text caption as LaTeX: escaped, and :data:`.figure.MODEL` replaced by the model."""
    return latex_escape(text).replace(invert_figures.MODEL, model_name(j))


def caption_invert(j: dict) -> str:
    return _latex(invert_figures.caption_invert(j), j)


def caption_membership(j: dict) -> str:
    return _latex(invert_figures.caption_membership(j), j)


def caption_modes(j: dict) -> str:
    return _latex(invert_figures.caption_modes(j), j)


FIGURE = PaperFigure(
    "fig_invert", "Inversion: memorization (membership test) and mode dropping", "ganlens.invert",
    "invert.json", ("--n", "256", "--heldout", "auto", "--modes", "--steps", "100", "--starts", "4",
                    "--draws", "2000"),
    {"invert": caption_invert, "membership": caption_membership, "modes": caption_modes},
    {"invert": "fig_invert", "membership": "fig_invert_membership", "modes": "fig_invert_modes"},
    settings_without_model, model_sha256)
