"""Every command, run as a user runs it, answers a mistake with one clear line and leaves --out alone.

Each case calls a command's ``main(argv)`` through :func:`ganlens.cli.run` (exactly what
``python -m ganlens.X`` does; argparse errors leave through ``SystemExit(2)`` as they do there) and
checks, with :func:`fails`:

* the exit status is not 0;
* stderr holds exactly one non-empty line, ``python -m ganlens.X: error: <message>``, and the message
  names the file or flag and the problem (each case lists its key phrases);
* no "Traceback" anywhere, and nothing on stdout;
* ``--out`` holds no file afterwards, and no staging folder or temp file is left beside it.

Decisions (the contract these tests pin down):

* **Box files with several problems** print a header line (``FILE: N problems in box file``) and then
  one line per problem, each naming the file and the sample/box index (``samples[1].boxes[0]: ...``).
  This is the one multi-line error; :func:`fails` takes ``problems=N`` for it and checks every line.
* **Float coordinates** in a box file are rejected, even ``3.0``: a silently rounded box is another box.
* **Warnings** (lines starting ``warning:``) are allowed on stderr only where documented: a data folder
  with unreadable images (skipped, one warning that counts them; the command goes on) and a box file
  whose ``checkpoint_sha256`` names another checkpoint. A failing command prints no progress bar.
* **Corrupt image among good ones**: skipped with one warning line, the run succeeds.
  **Mixed image sizes**: resized (shorter side) and centre-cropped, as in the DCGAN reference code; the
  run succeeds without a warning.
* **Read-only --out**: the tests run as root, where chmod does not stop writes, so "cannot write" is made
  real with a parent that is a regular file.
"""

from __future__ import annotations

import importlib
import shlex
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlens.core import checkpoints
from ganlens import cli
from ganlens.data.boxes import FORMAT as BOX_FORMAT
from ganlens.registry import COMMANDS
from ganlens.core.models import DCGANConfig, Discriminator, Generator

PYTHON = sys.executable


# --------------------------------------------------------------------------------------------- helpers

def prog(command: str) -> str:
    return f"python -m ganlens.{command}"


def run(command: str, argv: list[str]) -> int:
    """``python -m ganlens.<command> argv`` in this process: GanlensError -> one line, argparse -> exit 2."""
    mod = importlib.import_module(f"ganlens.{command}")
    try:
        return cli.run(mod.main, [str(a) for a in argv], prog(command))
    except SystemExit as e:  # argparse's error(), as the real process would exit
        return e.code


def files_in(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    if folder.is_file():
        return [folder.name]
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


def fails(capsys, record_property, command: str, argv: list, *phrases: str, out: Path | None = None,
          problems: int = 0, warnings: int = 0) -> str:
    """Run a command that must fail and check the contract above; return the error message.

    ``phrases`` must all appear in the error line (with ``problems``: in the error as a whole).
    ``problems``: a box-file error with a header and this many problem lines. ``warnings``: documented
    warning lines allowed before the error. ``out``: the --out folder (or file) that must stay empty.
    """
    rc = run(command, argv)
    cap = capsys.readouterr()
    assert rc not in (0, None), f"{command} {argv} succeeded"
    assert "Traceback" not in cap.err + cap.out
    assert cap.out == "", f"stdout of a failing command: {cap.out!r}"
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    warn, rest = lines[:warnings], lines[warnings:]
    assert all("warning:" in ln for ln in warn), lines
    assert len(rest) == 1 + problems, f"expected {1 + problems} error line(s), got: {lines}"
    head = f"{prog(command)}: error: "
    assert rest[0].startswith(head), rest[0]
    msg = "\n".join([rest[0][len(head):]] + rest[1:])
    for phrase in phrases:
        assert phrase in (msg if problems else rest[0]), f"{phrase!r} not in {msg!r}"
    if out is not None:
        assert files_in(out) == [], f"{command} left {files_in(out)} in --out"
        leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
        assert leftovers == [], f"staging/temp files left: {leftovers}"
    record_property("message", msg)
    return msg


@pytest.fixture
def check(capsys, record_property):
    """``check(command, argv, *phrases, out=..., problems=..., warnings=...)``: see :func:`fails`."""
    return lambda command, argv, *phrases, **kw: fails(capsys, record_property, command, argv, *phrases, **kw)


@pytest.fixture
def out(tmp_path) -> Path:
    """An --out folder that exists and is empty (commands that write one file put it inside)."""
    d = tmp_path / "out"
    d.mkdir()
    return d


def save_tiny(path: Path, *, G=True, D=True, image_size=32, nz=16) -> Path:
    torch.manual_seed(0)
    cfg = DCGANConfig(nz=nz, ngf=8, ndf=8, nc=3, image_size=image_size)
    return checkpoints.save(path, cfg, Generator(cfg) if G else None, Discriminator(cfg) if D else None)


def box_file(path: Path, **top) -> Path:
    """A good box file for the tiny 32x32, nz=16 model, with top-level fields replaced as given."""
    data = {"format": BOX_FORMAT, "label": "window", "image_size": [32, 32],
            "latent": {"dim": 16, "distribution": "normal"},
            "samples": [{"seed": 0, "boxes": [[2, 2, 12, 10]]}, {"seed": 1, "boxes": [[16, 4, 30, 20]]},
                        {"seed": 2, "boxes": []}]}
    data.update(top)
    path.write_text(json.dumps(data))
    return path


def commands(**want) -> tuple[str, ...]:
    """The registered commands (ganlens.registry.COMMANDS) whose fields have the values ``want``: a command
    added to the registry gets every test below that applies to it, without another list."""
    return tuple(n for n, c in COMMANDS.items() if all(getattr(c, k) == v for k, v in want.items()))


SEGMENTER = f"{Path(__file__).with_name('test_dissect.py')}:toy_segmenter"


def argv_for(command: str, ckpt, out: Path, boxes: Path | None = None) -> list:
    """Minimal argv that runs ``command`` on checkpoint ``ckpt``, writing into the folder ``out``: the
    registry's ``example`` flags for an analysis, written out here for the tools."""
    tools = {
        "annotate": ["--checkpoint", ckpt, "--out", out / "page.html", "--label", "window", "--n", "2",
                     "--device", "cpu"],
        "export": [ckpt, "--out", out / "model.pt"],
        "detect": ["--annotate", out / "boxes.json", "--checkpoint", ckpt, "--n", "2"],
    }
    if command in tools:
        return tools[command]
    example = [a.format(boxes=boxes, segmenter=SEGMENTER) for a in shlex.split(COMMANDS[command].example)]
    assert example, f"registry entry {command!r} needs an example (flags of a small run)"
    return ["--checkpoint", ckpt, "--out", out, "--device", "cpu"] + example


CKPT_COMMANDS = commands(checkpoint=True)


def test_every_registered_command_is_covered_here_and_every_command_module_is_registered(tmp_path):
    """A new command must be registered (ganlens.registry) and get an argv here, or this fails."""
    mains = {p.stem for p in Path(importlib.import_module("ganlens").__file__).parent.glob("*.py")
             if 'if __name__ == "__main__"' in p.read_text() and p.stem not in ("__main__", "registry")}
    assert mains == set(COMMANDS), mains ^ set(COMMANDS)
    for name in COMMANDS:
        assert out_argv(name, tmp_path / "t.pt", tmp_path / "o", tmp_path / "b.json")
    assert set(OUT_NAME) == set(commands(out="file"))


@pytest.fixture
def boxes(tmp_path) -> Path:
    return box_file(tmp_path / "boxes.json")


@pytest.fixture
def ckpt(tmp_path) -> Path:
    return save_tiny(tmp_path / "tiny.pt")


# ------------------------------------------------------------------------------------------ checkpoints

@pytest.mark.parametrize("command", CKPT_COMMANDS)
def test_missing_checkpoint(check, command, tmp_path, out, boxes):
    missing = tmp_path / "nope.pt"
    check(command, argv_for(command, missing, out, boxes), str(missing), "no such file", out=out)


@pytest.mark.parametrize("command", ("walk", "probe", "export"))
def test_empty_checkpoint(check, command, tmp_path, out, boxes):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    check(command, argv_for(command, empty, out, boxes), str(empty), "empty file", out=out)


@pytest.mark.parametrize("command", ("filters", "annotate"))
def test_folder_as_checkpoint(check, command, tmp_path, out, boxes):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    check(command, argv_for(command, folder, out, boxes), str(folder), "is a folder", out=out)


@pytest.mark.parametrize("command", ("walk", "forget", "arith"))
def test_text_file_as_checkpoint(check, command, tmp_path, out, boxes):
    text = tmp_path / "notes.pt"
    text.write_text("these are my notes, not a model\n")
    check(command, argv_for(command, text, out, boxes), str(text), "not a PyTorch checkpoint", "text file", out=out)


@pytest.mark.parametrize("command", ("walk", "filters", "export"))
def test_truncated_checkpoint(check, command, tmp_path, out, boxes, ckpt):
    cut = tmp_path / "cut.pt"
    data = ckpt.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    check(command, argv_for(command, cut, out, boxes), str(cut), "truncated or corrupt", out=out)


class Exploit:
    """Unpickling this creates ``marker``: the proof that a loader ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def evil_files(tmp_path: Path, marker: Path) -> dict[str, Path]:
    files = {"torch.save zip": tmp_path / "evil.pt", "legacy torch.save": tmp_path / "evil_legacy.pth",
             "plain pickle": tmp_path / "evil.pkl"}
    torch.save({"netG": Exploit(marker)}, files["torch.save zip"])
    torch.save({"G": Exploit(marker)}, files["legacy torch.save"], _use_new_zipfile_serialization=False)
    files["plain pickle"].write_bytes(pickle.dumps({"state_dict": Exploit(marker)}, protocol=2))
    pickle.loads(pickle.dumps(Exploit(tmp_path / "proof")))  # the payload does work when unpickled unsafely
    assert (tmp_path / "proof").exists()
    return files


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("command", CKPT_COMMANDS)
def test_code_running_pickle_is_refused(check, command, tmp_path, out, boxes):
    marker = tmp_path / "pwned"
    for kind, evil in evil_files(tmp_path, marker).items():
        msg = check(command, argv_for(command, evil, out, boxes), str(evil), out=out)
        assert not marker.exists(), f"{command}: loading a {kind} file ran its code"
        if kind == "torch.save zip":
            assert "refused" in msg and "open" in msg, msg  # names what the file references (io.open)


def test_code_running_pickle_as_a_detector_or_resume_file(check, tmp_path, out, ckpt):
    marker = tmp_path / "pwned"
    evil = evil_files(tmp_path, marker)["torch.save zip"]
    check("detect", ["--evaluate", "--detector", evil], str(evil), "refused")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    check("train", ["--resume", evil, "--out", run_dir, "--device", "cpu"], str(evil), "refused")
    assert not marker.exists()


def test_code_running_pickle_at_the_process_level(tmp_path):
    """The real process: exit 2, one line, no traceback, the file's code did not run."""
    marker = tmp_path / "pwned"
    evil = evil_files(tmp_path, marker)["torch.save zip"]
    proc = subprocess.run([PYTHON, "-m", "ganlens.export", str(evil), "--out", str(tmp_path / "x.pt")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "refused" in proc.stderr and str(evil) in proc.stderr
    assert not marker.exists() and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("command", ("walk", "probe"))
def test_unsupported_layout(check, command, tmp_path, out, boxes):
    mlp = tmp_path / "mlp.pth"
    torch.save(torch.nn.Sequential(torch.nn.Linear(784, 10), torch.nn.ReLU(), torch.nn.Linear(10, 2)).state_dict(), mlp)
    check(command, argv_for(command, mlp, out, boxes), str(mlp), "no known DCGAN layout", "(10, 784)", out=out)


def test_unknown_checkpoint_format_tag(check, tmp_path, out):
    future = tmp_path / "future.pt"
    torch.save({"format": "ganlens.checkpoint/9", "G": {}}, future)
    check("walk", argv_for("walk", future, out), str(future), "unknown checkpoint format", out=out)


@pytest.mark.parametrize("command", commands(needs="D"))
def test_generator_only_where_d_is_needed(check, command, tmp_path, out, boxes):
    g_only = save_tiny(tmp_path / "g_only.pt", D=False)
    check(command, argv_for(command, g_only, out, boxes), str(g_only), "no discriminator", "needs one", out=out)


@pytest.mark.parametrize("command", commands(needs="G"))
def test_discriminator_only_where_g_is_needed(check, command, tmp_path, out, boxes):
    d_only = save_tiny(tmp_path / "d_only.pt", G=False)
    check(command, argv_for(command, d_only, out, boxes), str(d_only), "no generator", out=out)


def test_generator_only_foreign_file_where_d_is_needed(check, tmp_path, out):
    from foreign import tutorial_generator
    netG = tmp_path / "netG_epoch_24.pth"
    torch.save(tutorial_generator(nz=16, ngf=8, image_size=32).state_dict(), netG)
    check("filters", argv_for("filters", netG, out), str(netG), "no discriminator", "foreign DCGAN", out=out)


# -------------------------------------------------------------------------------------------- box files

def test_missing_box_file(check, tmp_path, out, ckpt):
    missing = tmp_path / "boxes.json"
    check("forget", argv_for("forget", ckpt, out, missing), str(missing), "no such box file", out=out)


@pytest.mark.parametrize("command", ("forget", "annotate"))
def test_box_file_not_json(check, command, tmp_path, out, ckpt):
    bad = tmp_path / "boxes.json"
    bad.write_text('{"format": "ganlens.boxes/1", "label": "window",\n  "samples": [}\n')
    argv = argv_for(command, ckpt, out, bad) + (["--boxes", bad] if command == "annotate" else [])
    check(command, argv, str(bad), "bad JSON", "line 2", problems=1, out=out)


def box_argv(command, ckpt, out, bf):
    if command == "annotate":
        return ["--checkpoint", ckpt, "--out", out / "page.html", "--boxes", bf, "--device", "cpu"]
    return argv_for(command, ckpt, out, bf)


BAD_BOX_FILES = {
    # case: (box_file(**kwargs), phrases that the problem line must hold)
    "missing keys": ({"samples": [{"seed": 0}], "label": None}, ["samples[0]: missing field 'boxes'"]),
    "wrong format tag": ({"format": "labelme/5"}, ["format: expected 'ganlens.boxes/1', got 'labelme/5'"]),
    "box out of range": ({"samples": [{"seed": 0, "boxes": [[2, 2, 40, 10]]}]},
                         ["samples[0].boxes[0]", "[2, 2, 40, 10] is out of range", "0 <= x <= 32"]),
    "x0 >= x1": ({"samples": [{"seed": 0, "boxes": [[1, 1, 5, 5]]}, {"seed": 1, "boxes": [[9, 2, 9, 8]]}]},
                 ["samples[1].boxes[0]", "empty box [9, 2, 9, 8]", "needs x0 < x1"]),
    "negative coordinates": ({"samples": [{"seed": 0, "boxes": [[-3, 2, 8, 8]]}]},
                             ["samples[0].boxes[0]", "[-3, 2, 8, 8] is out of range"]),
    "float coordinates": ({"samples": [{"seed": 0, "boxes": [[2.0, 2, 8.5, 8]]}]},
                          ["samples[0].boxes[0]", "coordinates must be integer pixels", "a float 2.0"]),
    "image_size of another model": ({"image_size": [64, 64]},
                                    ["image_size 64x64 does not match the generator's 32x32 images"]),
    "latent dim mismatch": ({"latent": {"dim": 100, "distribution": "normal"}},
                            ["latent.dim 100 does not match the generator's nz 16"]),
    "zero positive boxes": ({"samples": [{"seed": 0, "boxes": []}, {"seed": 1, "boxes": []}]},
                            ["no box at all in 2 samples", "needs positives"]),
    "seed not an integer": ({"samples": [{"seed": "7", "boxes": [[1, 1, 4, 4]]}]},
                            ["samples[0].seed: expected an integer", '"7"']),
}


@pytest.mark.parametrize("command", ("forget", "annotate"))
@pytest.mark.parametrize("case", BAD_BOX_FILES)
def test_bad_box_file(check, command, case, tmp_path, out, ckpt):
    change, phrases = BAD_BOX_FILES[case]
    # "missing keys": label (null), a sample's boxes, and so no box at all: three problems
    n = 3 if case == "missing keys" else 1
    bf = box_file(tmp_path / "boxes.json", **change)
    msg = check(command, box_argv(command, ckpt, out, bf), str(bf), f"{n} problem", *phrases, problems=n, out=out)
    for line in msg.splitlines()[1:]:
        assert line.startswith(f"{bf}: "), line  # every problem line names the file


def test_box_file_with_several_problems_lists_each(check, tmp_path, out, ckpt):
    bf = box_file(tmp_path / "boxes.json", image_size=[64, 64], samples=[
        {"seed": 0, "boxes": [[2, 2, 12, 10], [5, 5, 3, 9]]},
        {"seed": -1, "boxes": [[0, 0, 70, 8]]},
        {"boxes": [[1, 1, 2.5, 2]]}])
    msg = check("forget", box_argv("forget", ckpt, out, bf), str(bf), "6 problems in box file", problems=6, out=out)
    lines = msg.splitlines()[1:]
    expected = ["image_size 64x64 does not match", "samples[0].boxes[1]: empty box", "samples[1].seed: expected",
                "samples[1].boxes[0]: box [0, 0, 70, 8] is out of range", "samples[2]: needs 'seed' or 'z'",
                "samples[2].boxes[0]: coordinates must be integer"]
    assert all(e in line for e, line in zip(expected, lines)), lines


def test_box_file_for_another_checkpoint_warns_and_goes_on(check, tmp_path, out, ckpt):
    """A sha256 mismatch is a warning, not an error (documented in ganlens.boxes); the next error still
    comes on one line of its own."""
    bf = box_file(tmp_path / "boxes.json", checkpoint_sha256="ab" * 32, latent={"dim": 8, "distribution": "normal"})
    check("forget", box_argv("forget", ckpt, out, bf), "latent.dim 8", problems=1, out=out)
    bf = box_file(tmp_path / "boxes.json", checkpoint_sha256="ab" * 32)
    check("annotate", box_argv("annotate", ckpt, out, bf) + ["--label", "door"], "--label 'door'",
          "holds 'window' boxes", out=out)


def test_detector_and_model_of_other_sizes(check, tmp_path, out, ckpt):
    check("detect", argv_for("detect", ckpt, out), f"--checkpoint {ckpt}", "makes 3x32px images",
          "trained on 3x64px", out=out)


def test_detect_label_the_detector_does_not_know(check, tmp_path, out, ckpt):
    check("detect", argv_for("detect", ckpt, out) + ["--label", "unicorn"], "--label unicorn", "the detector knows",
          out=out)


# ------------------------------------------------------------------------------------------------- data

def write_png(path: Path, h: int, w: int, seed: int) -> None:
    from torchvision.io import write_png as wp
    g = torch.Generator().manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    wp(torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g), str(path))


TRAIN = ["--image-size", "32", "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch-size", "8", "--device", "cpu",
         "--log-every", "1"]


@pytest.mark.parametrize("command", ("train", "filters", "probe", "walk"))
def test_empty_data_folder(check, command, tmp_path, out, ckpt):
    empty = tmp_path / "images"
    empty.mkdir()
    (empty / "README.txt").write_text("images go here")
    argv = (TRAIN + ["--data", empty, "--out", out / "run", "--iters", "1"] if command == "train" else
            argv_for(command, ckpt, out) + ["--data", empty])
    check(command, argv, str(empty), "no images found", out=out)


@pytest.mark.parametrize("command", ("train", "filters"))
def test_missing_data(check, command, tmp_path, out, ckpt):
    missing = tmp_path / "no_such_images"
    argv = (TRAIN + ["--data", missing, "--out", out / "run", "--iters", "1"] if command == "train" else
            argv_for(command, ckpt, out) + ["--data", missing])
    check(command, argv, f"--data {missing}", "no such file or folder", out=out)


def test_only_corrupt_images(check, tmp_path, out, ckpt):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "b.jpg").write_text("text")
    check("probe", argv_for("probe", ckpt, out) + ["--data", folder], str(folder),
          "none of the 2 image files could be read", warnings=1, out=out)


def test_corrupt_image_among_good_ones_is_skipped_with_one_warning(tmp_path, capsys):
    """Decision: skip and warn once (counting them), go on. Mixed sizes: resized and centre-cropped."""
    folder = tmp_path / "images"
    for i in range(8):
        write_png(folder / f"{i:02d}.png", 32, 32, i)
    for i in range(8, 16):
        write_png(folder / f"{i:02d}.png", 48, 40, i)  # another size, another aspect ratio
    (folder / "99_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut off")
    run_dir = tmp_path / "run"
    assert run("train", TRAIN + ["--data", folder, "--out", run_dir, "--iters", "2", "--ckpt-every", "2"]) == 0
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if "warning" in ln]
    assert warnings == [f"warning: {folder}: skipped 1 unreadable image(s), e.g. 99_broken.png"]
    assert "Traceback" not in err
    assert json.loads((run_dir / "train.json").read_text())["data"] == f"{folder} (16 images)"


def test_fewer_images_than_a_batch(check, tmp_path, out):
    folder = tmp_path / "images"
    for i in range(3):
        write_png(folder / f"{i}.png", 32, 32, i)
    check("train", TRAIN + ["--data", folder, "--out", out / "run", "--iters", "1"], f"--data {folder}",
          "3 images is fewer than one batch of 8", out=out)


def test_unlabelled_data_for_probe(check, tmp_path, out, ckpt):
    folder = tmp_path / "images"
    for i in range(6):
        write_png(folder / f"{i}.png", 32, 32, i)
    check("probe", argv_for("probe", ckpt, out) + ["--data", folder], f"--data {folder}", "no labels", out=out)


# ------------------------------------------------------------------------------------------------ flags

@pytest.mark.parametrize("command,argv_extra,phrases", [
    ("filters", ["--layer", "conv9"], ["--layer conv9", "unknown discriminator layer", "valid layers: block1, block2"]),
    ("forget", ["--layer", "block7"], ["--layer block7", "unknown generator layer", "valid layers: block1"]),
    ("probe", ["--layers", "block2,fc"], ["--layers block2,fc", "valid layers"]),
])
def test_unknown_layer_lists_the_valid_ones(check, command, argv_extra, phrases, tmp_path, out, ckpt, boxes):
    check(command, argv_for(command, ckpt, out, boxes) + argv_extra, *phrases, out=out)


@pytest.mark.parametrize("command,argv_extra,phrases", [
    ("filters", ["--units", "3,99"], ["--units 3,99", "unit 99 is out of range", "units 0..31"]),
    ("filters", ["--units", "500"], ["--units 500", "has only 32 units"]),
    ("forget", ["--top-k", "500"], ["--top-k 500", "has only 16 maps"]),
])
def test_unit_index_out_of_range(check, command, argv_extra, phrases, tmp_path, out, ckpt, boxes):
    check(command, argv_for(command, ckpt, out, boxes) + argv_extra, *phrases, out=out)


@pytest.mark.parametrize("command", commands(device=True))
def test_cuda_without_cuda(check, command, tmp_path, out, ckpt, boxes, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = (TRAIN + ["--data", "rooms:n=16", "--out", out / "run", "--iters", "1"] if command == "train"
            else argv_for(command, ckpt, out, boxes))
    check(command, argv + ["--device", "cuda"], "--device cuda", "CUDA is not available", out=out)


def test_device_that_is_not_a_device(check, tmp_path, out, ckpt):
    check("walk", argv_for("walk", ckpt, out) + ["--device", "gpu"], "--device 'gpu'", "not a device", out=out)


def out_argv(command: str, ckpt, out: Path, boxes: Path) -> list:
    """argv for ``command`` with --out (or --annotate) set to ``out`` itself."""
    if command == "train":
        return TRAIN + ["--data", "rooms:n=16", "--iters", "1", "--out", out]
    if command == "rooms":
        return ["--n", "2", "--size", "32", "--out", out]
    if command == "detect":  # the shipped detector reads 64x64 images: a tiny 64x64 model gets past that check
        ckpt = save_tiny(Path(ckpt).with_name("tiny64.pt"), image_size=64)
    if command in ("annotate", "export", "detect"):
        argv = argv_for(command, ckpt, out.parent, boxes)
        flag = "--annotate" if command == "detect" else "--out"
        argv[argv.index(flag) + 1] = out
        return argv
    argv = argv_for(command, ckpt, out.parent, boxes)
    argv[argv.index("--out") + 1] = out
    return argv


OUT_COMMANDS = tuple(COMMANDS)
OUT_NAME = {"annotate": "page.html", "export": "model.pt", "detect": "boxes.json"}  # commands(out="file")


@pytest.mark.parametrize("command", OUT_COMMANDS)
def test_out_in_a_missing_folder(check, command, tmp_path, ckpt, boxes):
    target = tmp_path / "no" / "such" / OUT_NAME.get(command, "result")
    check(command, out_argv(command, ckpt, target, boxes), str(target), "does not exist", out=tmp_path / "no")
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("command", OUT_COMMANDS)
def test_out_that_cannot_be_written(check, command, tmp_path, ckpt, boxes):
    """As root chmod does not stop writes: the parent is a regular file, which nothing can write into."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    target = blocker / OUT_NAME.get(command, "result")
    check(command, out_argv(command, ckpt, target, boxes), str(target), f"{blocker} is a file, not a folder",
          out=tmp_path / "unused")
    assert blocker.read_text() == "a file, not a folder"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("command,argv_extra,flag", [
    ("train", ["--iters", "1.5"], "--iters"),
    ("train", ["--batch-size", "many"], "--batch-size"),
    ("walk", ["--steps", "eight"], "--steps"),
    ("filters", ["--top", "4k"], "--top"),
    ("forget", ["--n-eval", "1e3"], "--n-eval"),
    ("annotate", ["--n", "ten"], "--n"),
    ("arith", ["--seed", "0x"], "--seed"),
    ("probe", ["--pool", "2.0"], "--pool"),
    ("rooms", ["--n", "x"], "--n"),
    ("detect", ["--steps", "-"], "--steps"),
    ("invert", ["--starts", "two"], "--starts"),
])
def test_non_integer_flags(check, command, argv_extra, flag, tmp_path, out, ckpt, boxes):
    argv = (out_argv(command, ckpt, out / OUT_NAME.get(command, "result"), boxes) if command != "detect"
            else ["--train", "--out", out / "det.pt"]) + argv_extra
    check(command, argv, f"argument {flag}", "invalid int value", "(see --help)", out=out)


@pytest.mark.parametrize("command,argv_extra,phrases", [
    ("walk", ["--points", "1"], ["--points must be at least 2, got 1"]),
    ("filters", ["--units", "a,b"], ["--units a,b", "expected a count"]),
    ("forget", ["--C", "-1"], ["--C must be a positive number"]),
    ("arith", ["--A", "5-2"], ["--A 5-2", "runs backwards"]),
    ("probe", ["--C", "0,0.1"], ["--C 0,0.1", "positive numbers"]),
    ("annotate", ["--scale", "0"], ["--scale must be 1..64"]),
    ("rooms", ["--n", "0"], ["--n must be at least 1, got 0"]),
    ("rooms", ["--size", "0"], ["--size must be at least 1, got 0"]),
    ("train", ["--ckpt-every", "0"], ["--ckpt-every must be at least 1"]),
    ("invert", ["--steps", "0"], ["--steps must be at least 1, got 0"]),
    ("invert", ["--lr", "0"], ["--lr must be above 0"]),
])
def test_out_of_range_flags(check, command, argv_extra, phrases, tmp_path, out, ckpt, boxes):
    argv = out_argv(command, ckpt, out / OUT_NAME.get(command, "result"), boxes) + argv_extra
    check(command, argv, *phrases, out=out)


def test_train_resume_from_a_foreign_file(check, tmp_path, out):
    from foreign import tutorial_generator
    netG = tmp_path / "netG.pth"
    torch.save(tutorial_generator(nz=16, ngf=8, image_size=32).state_dict(), netG)
    check("train", TRAIN + ["--resume", netG, "--out", out / "run"], str(netG), "not a ganlens training checkpoint",
          out=out)


def test_detect_bad_detector_file(check, tmp_path, ckpt):
    check("detect", ["--evaluate", "--detector", ckpt], str(ckpt), "not a ganlens detector file")
    broken = tmp_path / "det.pt"
    torch.save({"format": "ganlens.detector/1", "classes": ["window"]}, broken)
    check("detect", ["--evaluate", "--detector", broken], str(broken), "detector")


# -------------------------------------------------------------------------------------- process level

@pytest.mark.parametrize("command,argv", [
    ("walk", ["--checkpoint", "{tmp}/missing.pt", "--out", "{tmp}/out"]),
    ("forget", ["--checkpoint", "{ckpt}", "--boxes", "{tmp}/bad.json", "--out", "{tmp}/out", "--device", "cpu"]),
    ("rooms", ["--n", "2", "--out", "{tmp}/blocker/rooms"]),
])
def test_no_traceback_from_the_real_process(command, argv, tmp_path, ckpt):
    """``python -m ganlens.X``: the exit status, stderr and --out the user sees."""
    (tmp_path / "bad.json").write_text("[1, 2")
    (tmp_path / "blocker").write_text("x")
    argv = [a.format(tmp=tmp_path, ckpt=ckpt) for a in argv]
    proc = subprocess.run([PYTHON, "-m", f"ganlens.{command}", *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"python -m ganlens.{command}: error: ") and str(tmp_path) in lines[0]
    assert len(lines) == (2 if command == "forget" else 1), lines
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------- other files from users

def test_pickled_latent_file_is_refused(check, tmp_path, out, ckpt):
    """arith reads latents with allow_pickle=False: an object array's code never runs."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "smile.npy"
    np.save(evil, np.array([Exploit(marker), 1.0], dtype=object), allow_pickle=True)
    argv = argv_for("arith", ckpt, out)
    argv[argv.index("--A") + 1] = evil
    check("arith", argv, f"--A {evil}", "not a readable .npy array", "allow_pickle=False", out=out)
    assert not marker.exists()


def test_pickled_npz_data_is_refused(check, tmp_path, out, ckpt):
    marker = tmp_path / "pwned"
    evil = tmp_path / "data.npz"
    np.savez(evil, images=np.array([Exploit(marker)], dtype=object))
    check("train", TRAIN + ["--data", evil, "--out", out / "run", "--iters", "1"], str(evil),
          "array 'images' cannot be read", "allow_pickle=False", out=out)
    assert not marker.exists()


def test_latent_file_of_another_model(check, tmp_path, out, ckpt):
    z = tmp_path / "z.npy"
    np.save(z, np.zeros((3, 100), np.float32))
    argv = argv_for("arith", ckpt, out)
    argv[argv.index("--B") + 1] = z
    check("arith", argv, f"--B {z}", "latents must have shape (k, 16)", "got (3, 100)", out=out)


@pytest.mark.parametrize("argv,phrases", [
    (["--n", "3", "--grid", "{tmp}/grid.txt"], ["--grid", "grid.txt", "could not write an image"]),
    (["--n", "3", "--grid", "{tmp}/blocker/grid.png"], ["--grid", "blocker is a file, not a folder"]),
    (["--n", "3", "--seed", "-1", "--out", "{tmp}/out/rooms"], ["--seed must be in 0..2**63-1, got -1"]),
    (["--n", "3"], ["give --out and/or --grid"]),
])
def test_rooms_bad_outputs(check, argv, phrases, tmp_path, out):
    (tmp_path / "blocker").write_text("x")
    check("rooms", [a.format(tmp=tmp_path) for a in argv], *phrases, out=out)
    assert not (tmp_path / "grid.txt").exists()


# ------------------------------------------------------------------------------------------------ invert

BAD_G = """import torch
from torch import nn
import ganlens


class NoGrad(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(16, 3 * 8 * 8)

    def forward(self, z):
        with torch.no_grad():
            return torch.tanh(self.lin(z)).reshape(len(z), 3, 8, 8)


class NaNs(NoGrad):
    def forward(self, z):
        out = torch.tanh(self.lin(z)).reshape(len(z), 3, 8, 8)
        return torch.where(z.abs().sum() > 0, out * float("nan"), out)


def no_grad():
    return ganlens.wrap(NoGrad(), nz=16)


def nans():
    return ganlens.wrap(NaNs(), nz=16)
"""


def invert_model(tmp_path, func: str) -> list:
    path = tmp_path / "bad_g.py"
    path.write_text(BAD_G)
    images = tmp_path / "eight.npz"
    np.savez(images, images=np.zeros((4, 3, 8, 8), np.uint8))
    return ["--model", f"{path}:{func}", "--data", images, "--n", "2", "--steps", "2", "--starts", "1",
            "--device", "cpu"]


def test_invert_without_a_heldout_set(check, tmp_path, out):
    argv = invert_model(tmp_path, "nans") + ["--heldout", "auto", "--out", out]
    check("invert", argv, "no held-out set", "eight.npz", out=out)


def test_invert_a_generator_without_gradients(check, tmp_path, out):
    check("invert", invert_model(tmp_path, "no_grad") + ["--out", out], "carries no gradient", out=out)


def test_invert_a_generator_that_makes_nan(check, tmp_path, out):
    check("invert", invert_model(tmp_path, "nans") + ["--out", out], "NaN or infinite", out=out)


def test_invert_images_of_wrong_channels(check, tmp_path, out, ckpt):
    bad = tmp_path / "two.npz"
    np.savez(bad, images=np.zeros((4, 2, 32, 32), np.uint8))
    check("invert", argv_for("invert", ckpt, out) + ["--heldout", bad], str(bad), "channels", out=out)


def test_invert_tensor_of_wrong_size():
    import ganlens
    from ganlens.core.errors import GanlensError
    config = DCGANConfig(nz=16, ngf=8, ndf=8, nc=3, image_size=32)
    gan = ganlens.wrap(Generator(config), nz=16)
    with pytest.raises(GanlensError, match="images are 1x28x28, the model makes 3x32x32"):
        ganlens.invert(gan, torch.zeros(4, 1, 28, 28, dtype=torch.uint8), n=2, steps=1)
    with pytest.raises(GanlensError, match="heldout"):
        ganlens.invert(gan, torch.zeros(4, 3, 32, 32, dtype=torch.uint8), heldout=torch.zeros(4, 3, 16, 16,
                       dtype=torch.uint8), n=2, steps=1)
