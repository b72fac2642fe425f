"""Reliability, round three (issue 22): each class of failure found by the third adversarial pass, with
one test per reproducer at least. Every refusal is one line, names the file or flag, and leaves the
user's files as they were."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlens import checkpoints, cli, results
from ganlens.models import DCGANConfig, Discriminator, Generator

CFG = DCGANConfig(nz=16, ngf=8, ndf=8, nc=3, image_size=32)
TRAIN = ["--image-size", "32", "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch-size", "8", "--device", "cpu",
         "--log-every", "1", "--data", "rooms:n=8"]


def tiny(path: Path) -> Path:
    torch.manual_seed(0)
    return checkpoints.save(path, CFG, Generator(CFG), Discriminator(CFG))


def command(name: str, argv) -> int:
    import importlib
    mod = importlib.import_module(f"ganlens.{name}")
    try:
        return cli.run(mod.main, [str(a) for a in argv], f"python -m ganlens.{name}")
    except SystemExit as e:
        return e.code


def one_line(capsys, code: int, *phrases: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and "warning:" not in ln]
    assert code not in (0, None) and len(lines) == 1 and "Traceback" not in err, err
    for p in phrases:
        assert p in lines[0], lines[0]
    return lines[0]


def walk_argv(ckpt, out) -> list:
    return ["--checkpoint", ckpt, "--out", out, "--device", "cpu", "--rows", "1", "--points", "2", "--steps", "1"]


@pytest.fixture
def ckpt(tmp_path) -> Path:
    return tiny(tmp_path / "tiny.pt")


# ------------------------------------------------------------------- 1: deletes only what it wrote

def test_rooms_refuses_a_users_images_folder(tmp_path, capsys):
    out = tmp_path / "data"
    (out / "images").mkdir(parents=True)
    (out / "images" / "mine.jpg").write_bytes(b"my photo")
    code = command("rooms", ["--n", "4", "--size", "32", "--out", out])
    one_line(capsys, code, "images", "ganlens did not write")
    assert (out / "images" / "mine.jpg").read_bytes() == b"my photo"
    assert sorted(p.name for p in out.iterdir()) == ["images"]


def test_rooms_replaces_its_own_folder(tmp_path):
    out = tmp_path / "data"
    assert command("rooms", ["--n", "3", "--size", "32", "--out", out]) == 0
    assert command("rooms", ["--n", "2", "--size", "32", "--out", out]) == 0
    assert len(list((out / "images").iterdir())) == 2  # its own earlier folder replaced as a whole
    assert results.written(out) == {"images", "masks", "rooms.json"}


def test_train_refuses_users_checkpoints_and_prunes_only_its_own(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "ckpt_0000001.pt").write_bytes(b"the user's own file")
    code = command("train", TRAIN + ["--iters", "2", "--ckpt-every", "1", "--keep", "1", "--out", out])
    one_line(capsys, code, "ckpt_0000001.pt", "ganlens did not write")
    assert (out / "ckpt_0000001.pt").read_bytes() == b"the user's own file"
    fresh = tmp_path / "run2"
    assert command("train", TRAIN + ["--iters", "3", "--ckpt-every", "1", "--keep", "1", "--out", fresh]) == 0
    assert sorted(p.name for p in fresh.glob("ckpt_*.pt")) == ["ckpt_0000003.pt"]
    assert {"ckpt_0000003.pt", "last.pt", "train.json"} <= results.written(fresh)
    assert "ckpt_0000001.pt" not in results.written(fresh)


def test_result_over_a_users_file_is_refused(tmp_path, ckpt, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "walk.png").write_bytes(b"mine")
    one_line(capsys, command("walk", walk_argv(ckpt, out)), "walk.png", "ganlens did not write")
    assert sorted(p.name for p in out.iterdir()) == ["walk.png"] and (out / "walk.png").read_bytes() == b"mine"
    assert command("walk", walk_argv(ckpt, tmp_path / "o2")) == 0
    assert command("walk", walk_argv(ckpt, tmp_path / "o2")) == 0  # its own results are replaced


# ------------------------------------------------------------------------ 3: no half-moved results

def test_a_folder_where_a_result_file_goes_moves_nothing(tmp_path, ckpt, capsys):
    out = tmp_path / "out"
    assert command("walk", walk_argv(ckpt, out)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    (out / "walk.json").unlink()
    (out / "walk.json").mkdir()   # a folder where walk.json goes
    capsys.readouterr()
    one_line(capsys, command("walk", walk_argv(ckpt, out) + ["--seed", "5"]), "walk.json")
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == {k: v for k, v in before.items() if k != "walk.json"}  # not one new file moved in
    assert not [p for p in out.iterdir() if p.name.startswith(results.STAGE_PREFIX)]


def test_a_recorded_name_of_the_other_kind_moves_nothing(tmp_path):
    out = tmp_path / "out"
    with results.staged_output(out) as st:
        (st / "a").mkdir()
        (st / "b").write_text("old")
    with pytest.raises(results.GanlensError, match="a there is a folder"):
        with results.staged_output(out) as st:
            (st / "a").write_text("new")
            (st / "b").write_text("new")
    assert (out / "a").is_dir() and (out / "b").read_text() == "old"


# --------------------------------------------------------------------- 4: one writer per run_all --out

def test_a_second_run_all_into_a_busy_folder_is_refused(tmp_path, capsys):
    from ganlens import paper
    out = tmp_path / "paper"
    out.mkdir()
    with results.folder_lock(out):  # as a first run_all holds it while it works
        code = cli.run(paper.main, ["--out", str(out), "--only", "fig4_walk", "--device", "cpu"], "run_all")
    one_line(capsys, code, "another ganlens command is writing this folder")
    assert list(out.iterdir()) == []


def test_exclusive_staging_refuses_while_held(tmp_path):
    out = tmp_path / "out"
    with results.staged_output(out, exclusive=True) as st:
        (st / "x").write_text("1")
        with pytest.raises(results.GanlensError, match="another ganlens command"):
            with results.staged_output(out, exclusive=True):
                pass
    assert (out / "x").read_text() == "1"


# ----------------------------------------------------------------- 5: no path becomes a LaTeX line

def test_a_newline_in_a_path_never_starts_a_latex_line(tmp_path):
    from ganlens import figures, paper
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(3, 2))
    figures.save(fig, tmp_path / "f")
    evil = "dir/a\n\\input{/etc/passwd}/b.json"
    command = f"python -m ganlens.forget --boxes '{evil}'"
    text = paper.figure_snippet(tmp_path / "f.pdf", "x/f.pdf", paper.latex_escape(evil), "fig:x", evil, command)
    lines = text.splitlines()
    assert not any(ln.lstrip().startswith("\\input") for ln in lines), text
    assert all(ln.startswith("%") for ln in lines[:3]) and len(lines) == 9
    assert "\\n" in lines[1] and "\n" not in paper.latex_escape("a\r\nb\x00c\u2028")
    assert paper.latex_comment("a\nb\rc") == "% a\\nb\\rc"


# ------------------------------------------------------- 6: --out never /, home, the project, nor ""

@pytest.mark.parametrize("where", ["root-link", "empty", "home", "project"])
def test_out_that_is_no_folder_of_its_own_is_refused(where, tmp_path, ckpt, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if where == "root-link":
        (tmp_path / "link").symlink_to("/")
    out = {"root-link": tmp_path / "link", "empty": "", "home": Path.home(), "project": results.PROJECT_ROOT}[where]
    before = sorted(p.name for p in Path(out or ".").iterdir())
    one_line(capsys, command("walk", walk_argv(ckpt, out)), "--out", "empty" if where == "empty" else "is ")
    assert sorted(p.name for p in Path(out or ".").iterdir()) == before
    with pytest.raises(results.GanlensError):
        results.Result("x", {"a": 1}).save(out)


def test_an_out_inside_data_is_not_read_back_as_images(tmp_path, ckpt, capsys):
    from ganlens import data
    from test_bad_inputs import write_png
    folder = tmp_path / "photos"
    for k in range(2):
        write_png(folder / "cats" / f"{k}.png", 32, 32, k)
    assert command("walk", walk_argv(ckpt, folder / "results")) == 0  # writes walk.png inside --data
    (folder / ".hidden").mkdir()
    write_png(folder / ".hidden" / "x.png", 32, 32, 9)
    s = data.open_images(str(folder), 32, 3)
    assert len(s) == 2 and s.classes == ["cats"]  # no class "results", no hidden file
    assert [p.name for p in data.image_files(folder)] == ["0.png", "1.png"]


def test_rooms_refuses_an_empty_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line(capsys, command("rooms", ["--n", "2", "--size", "32", "--out", ""]), "--out is empty")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------- 7: a console script for untrusted folders

CONSOLE_SCRIPT = """import re, sys
from ganlens.registry import entry
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(entry())
"""  # what pip writes for [project.scripts] ganlens = "ganlens.registry:entry"


def test_console_script_does_not_import_from_the_current_folder(tmp_path):
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[1]
    evil = tmp_path / "data"
    evil.mkdir()
    (evil / "tqdm.py").write_text(f"open({str(tmp_path / 'MARK')!r}, 'w').write('ran')\n")
    script = tmp_path / "bin" / "ganlens"
    script.parent.mkdir()
    script.write_text(CONSOLE_SCRIPT)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(tmp_path)}
    p = subprocess.run([sys.executable, str(script), "walk", "--help"], cwd=evil, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0 and "--checkpoint" in p.stdout, p.stderr
    assert not (tmp_path / "MARK").exists()
    p = subprocess.run([sys.executable, "-m", "ganlens.walk", "--help"], cwd=evil, env=env, capture_output=True,
                       timeout=120)  # the control: python -m does import it (what the README warns about)
    assert (tmp_path / "MARK").exists()


def test_console_entry_dispatches_every_registered_command(tmp_path, ckpt, capsys):
    from ganlens import registry
    assert registry.main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert all(f"  {n} " in listing for n in registry.COMMANDS)
    assert registry.main(["nosuch"]) == 2 and "unknown command 'nosuch'" in capsys.readouterr().err
    assert registry.main([]) == 2
    capsys.readouterr()
    for name in registry.COMMANDS:
        assert registry.main([name, "--help"]) == 0, name
        assert "usage:" in capsys.readouterr().out
    code = registry.main(["walk", "--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "o")])
    assert one_line(capsys, code, "missing.pt").startswith("ganlens walk: error: ")
    assert registry.main(["walk"] + [str(a) for a in walk_argv(ckpt, tmp_path / "o")]) == 0
