"""The README's Python examples run as written ("Your own GAN in Python"), on untrained networks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def examples() -> list[str]:
    text = README.read_text()
    section = text.split("## Your own GAN in Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_section_has_a_conv_and_an_mlp_example():
    blocks = examples()
    assert len(blocks) == 2 and "ConvTranspose2d" in blocks[0] and "nn.Unflatten" in blocks[1]


@pytest.mark.parametrize("index", [0, 1])
def test_readme_example_runs_verbatim(tmp_path, monkeypatch, index):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(examples()[index], f"README example {index + 1}", "exec"), namespace)  # noqa: S102 - our own README
    if index == 0:
        assert (tmp_path / "ganlens-out" / "my-walk" / "walk.json").exists()
        assert namespace["filters"]["layer_shape"]["channels"] == 128
    else:
        assert (tmp_path / "ganlens-out" / "mlp-arith" / "arith.png").exists()
        assert 0 <= namespace["probe"]["accuracy"] <= 1
