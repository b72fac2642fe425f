"""Every registered analysis's figures, made from its registry ``example`` on a tiny RGB model and on a 28x28
grey one: no two pieces of text overlap, none is cut off, and
the figure is no wider than a page's text (:func:`ganlens.core.figures.text_problems`).
A new analysis gets this test from its registry line."""

from __future__ import annotations

import importlib
import json
import shlex
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

import ganlens
from archs import NZ, paper_gan
from ganlens import registry
from ganlens.core import figures
from ganlens.core.errors import NotApplicable

SEGMENTER = f"{Path(__file__).with_name('test_dissect.py')}:toy_segmenter"


def grey28_gan() -> ganlens.GAN:
    """A small convolutional GAN on 1x28x28 images (MNIST-like), as researchers train them."""
    torch.manual_seed(3)
    G = nn.Sequential(nn.Linear(NZ, 16 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (16, 7, 7)),
                      nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.ConvTranspose2d(8, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 16, 4, 2, 1), nn.LeakyReLU(0.2),
                      nn.Flatten(), nn.Linear(16 * 7 * 7, 1))
    return ganlens.wrap(G.eval(), D.eval(), nz=NZ, name="grey28")


MODELS = {"rgb32": paper_gan, "grey28": grey28_gan}
ENTRIES = [c for c in registry.COMMANDS.values() if c.analysis and c.example]


def box_file(gan: ganlens.GAN, path: Path) -> Path:
    s = gan.image_size
    samples = [{"seed": i, "boxes": [[1 + i % 3, 2, s // 2 + i % 4, s // 2]]} for i in range(8)]
    path.write_text(json.dumps({"format": "ganlens.boxes/1", "label": "window", "image_size": [s, s],
                                "latent": {"dim": gan.nz, "distribution": gan.latent}, "samples": samples}))
    return path


def grey_images(gan: ganlens.GAN, path: Path, n: int = 48) -> Path:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, gan.image_size, gan.image_size), generator=g, dtype=torch.uint8)
    np.savez(path, images=images.numpy(), labels=np.arange(n) % 2)
    return path


def test_every_analysis_with_a_command_is_checked_here():
    assert {c.name for c in ENTRIES} == {n for n, c in registry.COMMANDS.items() if c.analysis and n != "train"}


def _figure(title: str):
    with figures.style():
        fig, ax = figures.figure("two", aspect=0.3)
        ax.axis("off")
        ax.set_title(title)
    return fig


def test_text_problems_finds_overlap_and_clipping():
    fig = _figure("a title far too long for the text width of a paper, so that the figure saved with a tight bounding "
                  "box becomes wider than the page and LaTeX has to shrink it")
    fig.text(0.5, 0.5, "here")
    fig.text(0.5, 0.5, "there")
    found = figures.text_problems(fig)
    plt.close(fig)
    assert len(found) == 2 and "wide, more than" in found[0] and "'here' overlaps or touches 'there'" in found[1], found
    fig = _figure("fits")
    fig.text(0.5, 0.5, "here")
    assert figures.text_problems(fig) == []
    plt.close(fig)


def test_text_problems_finds_labels_that_touch():
    # tick labels with no gap between them read as one word ("1e-41e-3"): flagged below 2 pixels, not above
    for gap_px, flagged in ((0.5, True), (6.0, False)):
        fig = _figure("fits")
        fig.set_dpi(figures.DPI)
        fig.canvas.draw()
        left = fig.text(0.3, 0.5, "1e-4")
        right_x = left.get_window_extent(fig.canvas.get_renderer()).x1 + gap_px
        fig.text(right_x / fig.bbox.width, 0.5, "1e-3")
        found = figures.text_problems(fig)
        plt.close(fig)
        assert bool(found) == flagged and all("touches" in f for f in found), (gap_px, found)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda c: c.name)
def test_figure_text_is_readable(entry, model, tmp_path):
    gan = MODELS[model]()
    command = importlib.import_module(entry.module)
    example = [a.format(boxes=box_file(gan, tmp_path / "boxes.json"), segmenter=SEGMENTER)
               for a in shlex.split(entry.example)]
    if gan.nc == 1:  # rooms are colour: a grey model gets grey images of its own size
        example = [str(grey_images(gan, tmp_path / "grey.npz")) if a.startswith("rooms") else a for a in example]
    args = command.parser().parse_args(example + ["--out", str(tmp_path / "out"), "--device", "cpu"])
    args.checkpoint = "in-memory"  # the model given here, not the shipped one (whose box file dissect reads)
    try:
        result = command.from_args(args, gan)
    except NotApplicable as e:
        pytest.skip(f"{entry.name} does not apply to {model}: {e}")
    saved = json.loads(json.dumps(result.to_dict()))
    arrays = {k: v for k, v in result.arrays.items()}
    for name, plot in result.plots.items():
        fig = plot(saved, arrays)
        assert isinstance(fig, Figure)
        problems = figures.text_problems(fig)
        plt.close(fig)
        assert problems == [], f"{entry.name} figure {name!r} on {model}: {problems}"
