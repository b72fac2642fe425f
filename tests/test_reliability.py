"""Reliability, round two (issue 15): each class of failure found by the adversarial pass, several cases
each, fixed by one mechanism. Every case checks the one-line message, the exit status and that nothing
half-written is left."""

from __future__ import annotations

import json
import re
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlens.core import checkpoints, results
from ganlens import cli
from ganlens.core.errors import GanlensError
from ganlens.core.models import DCGANConfig, Discriminator, Generator

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
    assert sorted(p.name for p in out.iterdir()) == [results.WRITTEN, "x"]  # and the record of what it wrote


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


# --------------------------------------------------------------------------- 7: no NaN / inf in JSON

@pytest.mark.parametrize("value,where", [(float("nan"), "a.b[1]"), (float("inf"), "x"), (-float("inf"), "r[0].y")])
def test_results_never_write_nan_or_infinity(tmp_path, value, where):
    data = {"a": {"b": [1.0, 2.0]}, "x": 1.0, "r": [{"y": 0.0}]}
    if where == "a.b[1]":
        data["a"]["b"][1] = value
    elif where == "x":
        data["x"] = value
    else:
        data["r"][0]["y"] = value
    with pytest.raises(GanlensError, match=rf"holds {value} at {re.escape(where)}, which JSON cannot store"):
        results.Result("demo", data).save(tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -------------------------------------------------------------------------------- 8: one seed rule

@pytest.mark.parametrize("seed", [-1, 2**63, 2**64, 10**30])
def test_one_seed_rule_everywhere(tmp_path, capsys, seed):
    from ganlens.data import boxes
    from ganlens.core.gan import latent_from_seed
    with pytest.raises(GanlensError, match="seeds are integers 0..2\\*\\*63-1"):
        latent_from_seed(seed, 4)
    code = walk(["--seed", seed, "--out", tmp_path / "o"])
    one_line(capsys, code, "--seed must be in 0..2**63-1")
    problems = boxes.validate({"format": boxes.FORMAT, "label": "x", "image_size": [64, 64],
                               "latent": {"dim": 100, "distribution": "normal"},
                               "samples": [{"seed": seed, "boxes": [[0, 0, 4, 4]]}]})
    assert any("0 <= seed < 2**63" in p for p in problems)
    assert latent_from_seed(2**63 - 1, 4).shape == (4,)


# ------------------------------------------------------------------------- 12, 18, 20: box files

def box_json(samples) -> dict:
    return {"format": "ganlens.boxes/1", "label": "window", "image_size": [64, 64],
            "latent": {"dim": 100, "distribution": "normal"}, "samples": samples}


def test_box_file_parsing_limits(tmp_path):
    from ganlens.data import boxes
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(GanlensError, match="nested too deeply"):
        boxes.read(deep)
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(box_json([{"z": [1e300] + [0.0] * 99, "boxes": [[0, 0, 4, 4]]}])))
    with pytest.raises(GanlensError, match=r"z: expected a list of finite numbers within \+-10000"):
        boxes.read(huge)
    big_int = tmp_path / "bigint.json"
    big_int.write_text(json.dumps(box_json([{"z": [0.0] * 99, "boxes": [[0, 0, 4, 4]]}])).replace(
        '"z": [0.0', '"z": [' + "9" * 400 + ", 0.0"))
    with pytest.raises(GanlensError, match="z: expected a list of finite numbers"):
        boxes.read(big_int)


def test_box_file_with_many_problems_prints_twenty_and_a_count(tmp_path):
    from ganlens.data import boxes
    path = tmp_path / "many.json"
    path.write_text(json.dumps(box_json([{"seed": i, "boxes": [[5, 5, 1, 1]]} for i in range(5000)])))
    with pytest.raises(boxes.BoxFileError) as e:
        boxes.read(path)
    lines = str(e.value).splitlines()
    assert len(lines) == 22 and "5000 problems" in lines[0] and "... and 4980 more problem(s)" in lines[-1]


def test_duplicate_seeds_are_refused_in_box_files_as_in_coco_import(tmp_path):
    from ganlens.data import boxes
    problems = boxes.validate(box_json([{"seed": 3, "boxes": [[0, 0, 4, 4]]}, {"seed": 3, "boxes": []}]))
    assert problems == ["samples[1].seed: seed 3 is already samples[0]; merge their boxes"]


# ------------------------------------------------------------------------------- 15: .npz contents

@pytest.mark.parametrize("arrays,phrase", [
    ({"images": np.zeros((4, 32, 32, 5), np.uint8)}, "1, 3 or 4 channels"),
    ({"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.array(["a", "b", "c", "d"])}, "must be integers"),
    ({"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.array([0, 1, -1, 0])}, "class ids 0..65535"),
    ({"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.array([0, 1, 10**12, 0])}, "class ids 0..65535"),
])
def test_npz_contents_are_checked_before_any_work(tmp_path, arrays, phrase):
    from ganlens.data.sets import open_images
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(GanlensError, match=phrase):
        open_images(str(path), 32, 3)


# ------------------------------------------------------------------- 9: memory estimated up front

@pytest.mark.parametrize("flags", [["--ngf", "100000"], ["--image-size", str(2**40)], ["--ndf", "50000"]])
def test_huge_networks_are_refused_with_an_estimate(tmp_path, capsys, flags):
    from ganlens import train
    code = cli.run(train.main, ["--data", "rooms:n=64", "--out", str(tmp_path / "r"), "--iters", "1"] + flags,
                   train.PROG)
    one_line(capsys, code, "needs about", "of memory; this machine has")
    assert not (tmp_path / "r").exists()


def test_a_small_checkpoint_asking_for_a_huge_network(tmp_path):
    torch.save({"format": checkpoints.FORMAT, "config": dict(CFG.to_dict(), ngf=10**6), "G": {}, "D": None},
               tmp_path / "small.pt")
    assert (tmp_path / "small.pt").stat().st_size < 4096
    with pytest.raises(GanlensError, match=r"small.pt: bad config in checkpoint: .*needs about .* [TP]iB"):
        checkpoints.load(tmp_path / "small.pt")


def test_rooms_size_is_checked_before_rendering(tmp_path, capsys):
    from ganlens import rooms
    code = cli.run(rooms.main, ["--n", "10", "--size", "100000", "--out", str(tmp_path / "r")], rooms.PROG)
    one_line(capsys, code, "--size 100000", "needs about")
    assert not (tmp_path / "r").exists()


def test_probe_pool_larger_than_the_maps_does_not_blow_up(tmp_path):
    import ganlens
    from archs import mlp_gan
    gan = mlp_gan()
    x = gan.generate(gan.latents(range(40)), uint8=True)
    r = ganlens.probe(gan, (x, np.arange(40) % 2), pool=1000, C=(1.0,))
    assert r["feature_dim"] == 128 + 64     # a 1x1 layer pools to 1x1, whatever pool says


# ------------------------------------------------------------- 2, 13, 14: export, COCO ids, labels

def test_export_never_replaces_its_input(tmp_path, capsys):
    from ganlens import export
    ckpt = tiny(tmp_path / "last.pt")
    before = ckpt.read_bytes()
    (tmp_path / "link.pt").symlink_to(ckpt)
    for out in (ckpt, tmp_path / "link.pt", tmp_path / "." / "last.pt"):
        code = cli.run(export.main, [str(ckpt), "--out", str(out), "--half"], export.PROG)
        one_line(capsys, code, "is the input checkpoint itself")
    assert ckpt.read_bytes() == before


CAT = [{"id": 1, "name": "window"}]


@pytest.mark.parametrize("bad", [{"images": [{"id": [1], "file_name": "seed_1.png"}], "categories": CAT},
                                 {"images": [{"id": {"a": 1}, "file_name": "seed_1.png"}], "categories": CAT},
                                 {"images": [{"id": 1, "file_name": "seed_1.png"}], "categories": CAT,
                                  "annotations": [{"id": 1, "image_id": [1], "category_id": 1, "bbox": [0, 0, 2, 2]}]},
                                 {"images": [], "categories": [{"id": {"x": 1}, "name": "w"}]}])
def test_coco_ids_that_are_not_ids(bad):
    from ganlens.annotate import coco_to_boxes
    with pytest.raises(GanlensError, match="an integer or a string"):
        coco_to_boxes(bad, 64, {"dim": 100, "distribution": "normal"}, "window")


@pytest.mark.parametrize("label", ["$x^$", "$\\frac{", "{{DATA}}", "a$b$c"])
def test_labels_are_text_in_figures_and_pages(tmp_path, label):
    from ganlens.core import figures
    from ganlens.annotate import build_page

    def plot(data, arrays):
        with figures.style():
            fig, ax = figures.figure("one")
            ax.set_title(data["label"])
            ax.bar([data["label"]], [1])
        return fig
    results.Result("demo", {"label": label}, plots={"demo": plot}).save(tmp_path / "out")
    assert (tmp_path / "out" / "demo.png").exists()
    def page(text):
        return build_page(text, 8, 3, {"dim": 4, "distribution": "normal"}, None, [{"seed": 0, "boxes": []}],
                          np.zeros((1, 8, 8, 3), np.uint8), 1)
    assert page(label).count('"samples"') == page("plain").count('"samples"')   # the data is substituted once
    assert "{{TITLE}}" not in page(label)


@pytest.mark.parametrize("content", [b"hello, these are notes\n", b"\x80\x04K\x01.", b""])
def test_a_file_that_is_not_an_npz_says_so(tmp_path, content):
    from ganlens.data.sets import open_images
    path = tmp_path / "d.npz"
    path.write_bytes(content)
    with pytest.raises(GanlensError, match="not an .npz file") as e:
        open_images(str(path), 32, 3)
    assert "pickle" not in str(e.value)


@pytest.mark.parametrize("expr", ["1e309*A", "1e400 A - B", "9999999 A"])
def test_arith_coefficients_that_overflow_are_refused(expr):
    from ganlens.arith import parse_expr
    with pytest.raises(GanlensError, match="is out of range"):
        parse_expr(expr)


def test_unwritable_checkpoint_folder_is_one_line(tmp_path, capsys, monkeypatch):
    import errno
    from ganlens import train

    def denied(path, data, mode=None):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    monkeypatch.setattr(checkpoints, "atomic_write", denied)
    code = cli.run(train.main, ["--data", "rooms:n=16", "--image-size", "32", "--ngf", "8", "--ndf", "8", "--nz", "8",
                                "--batch-size", "8", "--iters", "1", "--out", str(tmp_path / "run")], train.PROG)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip() and not ln.startswith("train:")]
    assert code == 1 and len(err) == 1 and "ckpt_0000001.pt: Permission denied" in err[0], err


@pytest.mark.parametrize("steps", ["0", "-3"])
def test_detect_train_steps_must_be_positive(capsys, steps, tmp_path):
    from ganlens import detect
    code = cli.run(detect.main, ["--train", "--steps", steps, "--out", str(tmp_path / "d.pt")], detect.PROG)
    one_line(capsys, code, f"--steps must be at least 1, got {steps}")
