"""Reliability, round two (issue 15): each class of failure found by the adversarial pass, several cases
each, fixed by one mechanism. Every case checks the one-line message, the exit status and that nothing
half-written is left."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlens import checkpoints, cli, results
from ganlens.errors import GanlensError
from ganlens.models import DCGANConfig, Discriminator, Generator

CFG = DCGANConfig(nz=16, ngf=8, ndf=8, nc=3, image_size=32)


def tiny(path: Path, **edit) -> Path:
    torch.manual_seed(0)
    G, D = Generator(CFG), Discriminator(CFG)
    with torch.no_grad():
        for name, value in edit.items():
            net, key = name.split("__")
            dict((G if net == "G" else D).named_buffers(), **dict((G if net == "G" else D).named_parameters()))[
                key.replace("_", ".", 1)].view(-1)[0] = value
    return checkpoints.save(path, CFG, G, D)


def one_line(capsys, code: int, *phrases: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    for p in phrases:
        assert p in lines[0], lines[0]
    return lines[0]


def walk(argv) -> int:
    from ganlens import walk as w
    return cli.run(w.main, [str(a) for a in argv], w.PROG)


# ------------------------------------------------------------ 3, 4: staging, signals, read-only parents

def test_sigterm_and_sighup_clean_up_like_ctrl_c(tmp_path):
    for sig in (signal.SIGTERM, signal.SIGHUP):
        out = tmp_path / f"out{sig}"
        code = ("import os, signal, sys, time\nfrom ganlens import cli, results\n"
                "def main(argv):\n    with results.staged_output(%r) as st:\n"
                "        (st / 'big.bin').write_bytes(b'x' * 1000)\n        os.kill(os.getpid(), %d)\n"
                "        time.sleep(5)\n"
                "sys.exit(cli.run(main, [], 'prog'))\n" % (str(out), sig))
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert p.returncode == 128 + sig and f"stopped by {signal.Signals(sig).name}" in p.stderr, p.stderr
        assert not out.exists() and list(tmp_path.glob(".*")) == []


def test_stale_staging_of_a_killed_run_is_removed(tmp_path):
    out = tmp_path / "out"
    dead = out / f"{results.STAGE_PREFIX}999999999-abc"
    dead.mkdir(parents=True)
    (dead / "half.json").write_text("{")
    mine = out / f"{results.STAGE_PREFIX}{os.getpid()}-live"
    mine.mkdir()
    with results.staged_output(out) as st:
        (st / "a.txt").write_text("a")
    assert not dead.exists() and mine.exists() and (out / "a.txt").read_text() == "a"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_writable_out_in_a_read_only_parent(tmp_path):
    parent = tmp_path / "ro"
    (parent / "out").mkdir(parents=True)
    parent.chmod(0o555)
    try:
        with results.staged_output(parent / "out") as st:
            (st / "x").write_text("1")
    finally:
        parent.chmod(0o755)
    assert (parent / "out" / "x").read_text() == "1"


def test_staging_happens_inside_out_so_renames_stay_on_one_mount(tmp_path):
    out = tmp_path / "out"
    with results.staged_output(out) as st:
        assert st.parent == out
        (st / "x").write_text("1")
    assert sorted(p.name for p in out.iterdir()) == ["x"]


# ------------------------------------------------------------------ 6: non-finite or corrupt weights

@pytest.mark.parametrize("edit,phrase", [
    ({"G__block1_0.weight": float("nan")}, "G tensor 'block1.0.weight' holds 1 NaN/infinite"),
    ({"D__block2_0.weight": float("inf")}, "D tensor 'block2.0.weight' holds 1 NaN/infinite"),
    ({"G__block2_1.running_var": -1.0}, "G tensor 'block2.1.running_var' holds negative variances"),
])
def test_nonfinite_weights_are_refused(tmp_path, capsys, edit, phrase, monkeypatch):
    path = tiny(tmp_path / "bad.pt", **edit)
    with pytest.raises(GanlensError, match=phrase.replace("(", r"\(")):
        checkpoints.load(path)
    code = walk(["--checkpoint", path, "--out", tmp_path / "o"])
    one_line(capsys, code, str(path), phrase)
    assert not (tmp_path / "o").exists()
    monkeypatch.setenv("GANLENS_ALLOW_NONFINITE", "1")
    assert checkpoints.load(path).G is not None       # for debugging a diverged run


# ---------------------------------------------------------------------------- 17, 19, 20: messages

def test_wrong_shape_names_the_key_and_both_shapes(tmp_path):
    obj = torch.load(tiny(tmp_path / "t.pt"), weights_only=True)
    obj["G"]["block2.0.weight"] = torch.zeros(3, 3, 4, 4)
    torch.save(obj, tmp_path / "shape.pt")
    with pytest.raises(GanlensError, match=r"block2.0.weight has shape \[3, 3, 4, 4\] in the file but "
                                           r"\[32, 16, 4, 4\] in the network"):
        checkpoints.load(tmp_path / "shape.pt")
    obj["G"] = {k: v for k, v in obj["G"].items() if k != "block2.0.weight"} if False else obj["G"]
    obj["config"] = ["nz", 16]
    torch.save(obj, tmp_path / "cfg.pt")
    with pytest.raises(GanlensError, match="bad config in checkpoint: a list, expected a dict"):
        checkpoints.load(tmp_path / "cfg.pt")


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_raw_pickles_get_ganlens_own_refusal_and_no_torch_warning(tmp_path, capsys, protocol):
    path = tmp_path / "raw.pkl"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=protocol))
    code = walk(["--checkpoint", path, "--out", tmp_path / "o"])
    line = one_line(capsys, code, f"raw Python pickle (protocol {protocol})", "weights_only=True")
    assert "Unsupported operand" not in line


def test_a_file_named_default_is_not_silently_taken(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("default").write_text("my notes")
    gan = checkpoints.load("default")
    assert gan.path == checkpoints.DEFAULT_CHECKPOINT
    assert "./default exists, but --checkpoint default means the shipped model" in capsys.readouterr().err
    with pytest.raises(GanlensError, match="text file"):
        checkpoints.load("./default")


# ---------------------------------------------------------------------- 10, 11: file-system errors

def test_long_names_and_link_loops_are_one_line(tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    cases = [(["--out", tmp_path / ("x" * 300)], "File name too long"),
             (["--checkpoint", loop, "--out", tmp_path / "o"], str(loop)),
             (["--checkpoint", tmp_path / ("y" * 300), "--out", tmp_path / "o"], "y" * 20),
             (["--data", loop, "--out", tmp_path / "o2"], str(loop))]
    for argv, phrase in cases:
        code = walk(argv)
        one_line(capsys, code, phrase)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()


def test_disk_full_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "walk.npz"))
    monkeypatch.setattr(np, "savez_compressed", full)
    code = walk(["--rows", "1", "--points", "2", "--steps", "1", "--out", tmp_path / "out"])
    one_line(capsys, code, "walk.npz", "No space left on device")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------- 21: quiet stderr

def test_library_warnings_stay_off_stderr(tmp_path, capsys):
    import warnings

    def main(argv):
        warnings.warn("matplotlib says something", UserWarning)
        warnings.warn("sklearn did not converge", RuntimeWarning)
        print("prog: done", file=sys.stderr)
        return 0
    assert cli.run(main, [], "prog") == 0
    assert capsys.readouterr().err == "prog: done\n"
