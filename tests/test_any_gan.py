"""Every command on networks ganlens did not build, from the command line (``--model FILE.py:FUNC``):
the paper's Linear + 5x5 GAN, a spectral-norm critic, an MLP GAN on 1x28x28 and a G ending in a 1x1
transposed convolution (tests/archs.py). Each run must exit 0, write its JSON with the shared provenance
block, and record the in-memory model; ``--layer list`` prints the table and writes nothing."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from archs import ALL
from ganlens.data import boxes as boxfile
from ganlens import cli

ARCHS = Path(__file__).parent / "archs.py"
SHAPES = {"paper": (3, 32), "sn": (3, 32), "mlp": (1, 28), "onebyone": (3, 32)}


def labelled_npz(path: Path, nc: int, size: int, n: int = 60) -> Path:
    """n images (N, H, W, C) uint8: class 1 has a bright square in the top-left quarter, class 0 not."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 80, (n, size, size, nc), dtype=np.uint8)
    y = np.arange(n) % 2
    x[y == 1, : size // 3, : size // 3] = 250
    np.savez(path, images=x, labels=y)
    return path


def run(command: str, argv: list[str]) -> int:
    mod = importlib.import_module(f"ganlens.{command}")
    return cli.run(mod.main, [str(a) for a in argv], mod.PROG)


def check_json(path: Path, arch: str) -> dict:
    j = json.loads(path.read_text())
    prov = j["provenance"]
    assert prov["command"].startswith("python -m ganlens.") and f"{ARCHS}:{arch}_gan" in prov["command"]
    assert prov["model"]["checkpoint"] == "in-memory" and prov["model"]["sha256"] is None
    return j


@pytest.mark.parametrize("arch", sorted(ALL))
def test_every_command_runs_on_a_foreign_architecture(tmp_path, arch):
    nc, size = SHAPES[arch]
    data = labelled_npz(tmp_path / "data.npz", nc, size)
    model = ["--model", f"{ARCHS}:{arch}_gan"]
    out = tmp_path / "out"
    out.mkdir()
    assert run("walk", model + ["--rows", "1", "--points", "3", "--steps", "2", "--out", out / "walk"]) == 0
    check_json(out / "walk" / "walk.json", arch)
    assert run("filters", model + ["--data", data, "--units", "3", "--top", "2", "--n-images", "40",
                                   "--random-draws", "2", "--no-progress", "--out", out / "filters"]) == 0
    f = check_json(out / "filters" / "filters.json", arch)
    assert len(f["trained"]["units"]) == 3
    assert run("arith", model + ["--expr", "A - B + C", "--A", "1,2", "--B", "3,4", "--C", "5,6",
                                 "--out", out / "arith"]) == 0
    check_json(out / "arith" / "arith.json", arch)
    assert run("probe", model + ["--data", data, "--C", "0.01,1", "--splits", "2", "--random-draws", "2",
                                 "--no-cache", "--out", out / "probe"]) == 0
    p = check_json(out / "probe" / "probe.json", arch)
    assert 0 <= p["accuracy"] <= 1
    if arch != "mlp":  # boxes need a spatial G layer; the MLP's error is tested below
        gan = ALL[arch]()
        b = boxfile.parse({"format": "ganlens.boxes/1", "label": "square", "image_size": [size, size],
                           "latent": {"dim": gan.nz, "distribution": gan.latent},
                           "samples": [{"seed": s, "boxes": [[0, 0, size // 2, size // 2]]} for s in range(6)]})
        boxfile.write(tmp_path / "boxes.json", b)
        assert run("forget", model + ["--boxes", tmp_path / "boxes.json", "--n", "2", "--n-eval", "8",
                                      "--dose-n", "4", "--folds", "2", "--control-draws", "2",
                                      "--out", out / "forget"]) == 0
        check_json(out / "forget" / "forget.json", arch)


@pytest.mark.parametrize("command,flag", [("filters", "--layer"), ("forget", "--layer"), ("probe", "--layers")])
def test_layer_list_prints_the_table_and_writes_nothing(tmp_path, capsys, command, flag):
    argv = ["--model", f"{ARCHS}:paper_gan", flag, "list", "--out", tmp_path / "o"]
    if command == "forget":
        argv += ["--boxes", tmp_path / "missing.json"]
    assert run(command, argv) == 0
    out = capsys.readouterr().out
    assert "aliases" in out and ("second-highest" in out or "last" in out)
    assert not (tmp_path / "o").exists()
