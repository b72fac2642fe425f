"""Reliability, round three (issue 22): each class of failure found by the third adversarial pass, with
one test per reproducer at least. Every refusal is one line, names the file or flag, and leaves the
user's files as they were."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlens.core import checkpoints, results
from ganlens import cli
from ganlens.core.models import DCGANConfig, Discriminator, Generator

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
    from ganlens.core import figures
    from ganlens import paper
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
    from ganlens.data import sets as data
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


# ------------------------------------------------------------------ 8: user code fails in one line

USER_MODEL = '''
import sys, torch, ganlens
from ganlens.models import DCGANConfig, Discriminator, Generator
{top}
class Mine(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.g = Generator(DCGANConfig(nz=16, ngf=8, ndf=8, nc=3, image_size=32))
        self.armed = False

    def forward(self, z):
        x = self.g(z)
        if self.armed:  # after ganlens.wrap's probing call: inside the analysis
{act}
        return x

def build():
{func}
    G = Mine()
    gan = ganlens.wrap(G=G, D=Discriminator(DCGANConfig(nz=16, ngf=8, ndf=8, nc=3, image_size=32)), nz=16)
    G.armed = True
    return gan
'''

USER_FAILURES = {  # case: (top-level code, code in forward, code in build, exit status, phrases)
    "raises": ("", "            raise ValueError('batch too big for my GPU')", "", 1,
               ["--model", "mine.py:build", "your code raised ValueError: batch too big for my GPU",
                "line 14, in forward", "--debug"]),
    "allocates": ("", "            torch.empty(10**13)", "", 1, ["your code raised RuntimeError", "in forward"]),
    "exits": ("", "            sys.exit(3)", "", 1, ["your code called sys.exit(3)", "in forward"]),
    "exits quietly": ("", "            sys.exit()", "", 1, ["your code called sys.exit(None)"]),
    "returns a tuple": ("", "            return x, x", "", 2, ["G returned tuple", "expected images"]),
    "returns NaN": ("", "            return x * float('nan')", "", 2, ["G returned NaN"]),
    "exits at import": ("sys.exit('bye')", "            pass", "", 2, ["importing", "called sys.exit('bye')"]),
    "exits in FUNC": ("", "            pass", "    sys.exit(0)", 2, ["build() called sys.exit(0)"]),
    "float64": ("", "            pass", "    torch.set_default_dtype(torch.float64)", 2,
                ["weight g.block1.0.weight is float64", "G.float()"]),
}


@pytest.mark.parametrize("case", USER_FAILURES)
def test_user_code_failing_inside_an_analysis_is_one_line(case, tmp_path, capsys):
    top, act, func, status, phrases = USER_FAILURES[case]
    (tmp_path / "mine.py").write_text(USER_MODEL.format(top=top, act=act, func=func))
    out = tmp_path / "out"
    try:
        code = command("walk", ["--model", f"{tmp_path / 'mine.py'}:build", "--out", out, "--device", "cpu",
                                "--rows", "1", "--points", "2", "--steps", "1"])
    finally:
        torch.set_default_dtype(torch.float32)
    line = one_line(capsys, code, *phrases)
    assert code == status and line.startswith("python -m ganlens.walk: error: "), line
    assert not out.exists()


def test_debug_shows_the_users_traceback(tmp_path, capsys):
    top, act, func, _, _ = USER_FAILURES["raises"]
    (tmp_path / "mine.py").write_text(USER_MODEL.format(top=top, act=act, func=func))
    code = command("walk", ["--model", f"{tmp_path / 'mine.py'}:build", "--out", tmp_path / "o", "--device", "cpu",
                            "--rows", "1", "--points", "2", "--steps", "1", "--debug"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" in err and "batch too big" in err.splitlines()[-1]


def test_a_model_file_that_is_not_python(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("def build(): pass\n")
    code = command("walk", ["--model", f"{tmp_path / 'mine.txt'}:build", "--out", tmp_path / "o"])
    one_line(capsys, code, "mine.txt", "not a Python file")


def test_slow_user_code_is_announced(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "SLOW_NOTICE_S", 0.05)
    (tmp_path / "slow.py").write_text("import time\ndef build():\n    time.sleep(0.5)\n    return 1\n")
    with pytest.raises(results.GanlensError, match="returned int"):
        cli.user_model(f"{tmp_path / 'slow.py'}:build")
    assert "build() is still running after" in capsys.readouterr().err


# ------------------------------------------------------------ 9: the Python API checks its arguments

@pytest.fixture(scope="module")
def gan():
    import ganlens
    torch.manual_seed(0)
    return ganlens.wrap(G=Generator(CFG), D=Discriminator(CFG), nz=16)


IMGS = torch.zeros(8, 3, 32, 32, dtype=torch.uint8)
API_CASES = {  # case: (call(ganlens, gan), phrases of the one-line GanlensError)
    "array as a path": (lambda g, gan: g.load(np.zeros((300, 300))), ["ganlens.load", "ndarray of shape (300, 300)"]),
    "dict as a path": (lambda g, gan: g.load({}), ["ganlens.load: path must be a file path", "dict"]),
    "array as the gan": (lambda g, gan: g.walk(np.zeros(3)), ["ganlens.walk: gan must be a ganlens.GAN"]),
    "unknown argument": (lambda g, gan: g.walk(gan, row=2), ["ganlens.walk", "'row'"]),
    "step of 0": (lambda g, gan: g.walk(gan, rows=1, points=2, steps=0), ["steps must be at least 1"]),
    "float steps": (lambda g, gan: g.walk(gan, steps=1.5), ["steps must be an integer"]),
    "dict as data": (lambda g, gan: g.walk(gan, rows=1, data={}), ["data: expected a data spec", "dict"]),
    "array as data": (lambda g, gan: g.walk(gan, rows=1, data=np.zeros((4, 32, 32, 3), np.uint8)),
                      ["numpy array (4, 32, 32, 3)", "torch.from_numpy"]),
    "None as data": (lambda g, gan: g.memorization(gan, None), ["data: expected", "NoneType"]),
    "empty list as data": (lambda g, gan: g.probe(gan, []), ["data: expected", "list"]),
    "float images": (lambda g, gan: g.memorization(gan, IMGS.float()), ["must be uint8"]),
    "float labels": (lambda g, gan: g.probe(gan, (IMGS, np.arange(8) * 0.5)), ["labels must be one integer"]),
    "labels near 1e15": (lambda g, gan: g.probe(gan, (IMGS, np.full(8, 10**15))), ["labels must be class ids 0..65535"]),
    "channels that do not match": (lambda g, gan: g.filters(gan, torch.zeros(8, 1, 32, 32, dtype=torch.uint8)),
                                   ["1x32x32", "the model makes 3x32x32"]),
    "bad tuple": (lambda g, gan: g.probe(gan, (IMGS,)), ["a tuple must be"]),
    "None as boxes": (lambda g, gan: g.forget(gan, None), ["ganlens.forget: boxes must be a file path"]),
    "array as boxes": (lambda g, gan: g.forget(gan, np.zeros(3)), ["boxes must be a file path"]),
    "dict as expr": (lambda g, gan: g.arith(gan, {}), ["ganlens.arith: expr must be a string"]),
    "array of seeds": (lambda g, gan: gan.latents(np.zeros((2, 2))), ["seeds are integers"]),
    "list as latents": (lambda g, gan: gan.generate([1, 2]), ["latents must be a float tensor"]),
    "latents of another size": (lambda g, gan: gan.generate(torch.zeros(2, 7)), ["latents must be a float tensor (N, 16)"]),
    "array as --out": (lambda g, gan: results.Result("x", {"a": 1}).save(np.zeros(3)), ["out must be a folder path"]),
    "huge path": (lambda g, gan: g.load("x" * 5000), ["is not a usable file path"]),
}


@pytest.mark.parametrize("case", API_CASES)
def test_python_api_wrong_argument_is_one_line(case, gan):
    import ganlens
    call, phrases = API_CASES[case]
    with pytest.raises(ganlens.GanlensError) as info:
        call(ganlens, gan)
    msg = str(info.value)
    assert "\n" not in msg and all(p in msg for p in phrases), msg


def test_walk_on_a_nan_generator_is_an_error_not_sharpness_zero(gan):
    import ganlens

    class NaNLater(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.g, self.armed = Generator(CFG), False

        def forward(self, z):
            return self.g(z) * (float("nan") if self.armed else 1.0)
    G = NaNLater()
    nan_gan = ganlens.wrap(G=G, nz=16)
    G.armed = True
    with pytest.raises(ganlens.GanlensError, match="NaN or infinite"):
        ganlens.walk(nan_gan, rows=1, points=2, steps=1)
    assert ganlens.walk(gan, rows=1, points=2, steps=1)["summary"]["sharpness"] > 0  # the control


@pytest.mark.filterwarnings("ignore:Complex modules")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.complex64])
def test_networks_that_are_not_float32_are_named_not_blamed_on_nz(dtype):
    import ganlens
    with pytest.raises(ganlens.GanlensError, match=f"is {str(dtype)[6:]}; ganlens runs float32") as info:
        ganlens.wrap(G=Generator(CFG).to(dtype), nz=16)
    assert "nz" not in str(info.value)


# ------------------------------------------- 10: declared sizes checked before anything is allocated

def png_declaring(path: Path, w: int, h: int) -> Path:
    """A 100-byte PNG whose header declares w x h RGB pixels (no pixel data: nothing is ever decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))
    return path


def test_an_image_declaring_30000_squared_pixels_is_not_decoded(tmp_path, capsys):
    from ganlens.data import sets as data
    from test_bad_inputs import write_png
    folder = tmp_path / "imgs"
    write_png(folder / "good.png", 32, 32, 0)
    png_declaring(folder / "bomb.png", 30000, 30000)
    s = data.open_images(str(folder), 32, 3)
    err = capsys.readouterr().err
    assert len(s) == 1 and "bomb.png" in err and "declares 30000x30000 pixels, about 2.5 GiB" in err


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    from PIL import Image
    from ganlens.data import sets as data
    folder = tmp_path / "imgs"
    folder.mkdir()
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    s = data.open_images(str(folder), 32, 3)
    assert len(s) == 1 and tuple(s[0].shape) == (3, 32, 32) and s[0][0].float().mean() > 200  # red: frame 0


def npz_declaring(path: Path, shape: tuple) -> Path:
    """An .npz whose 'images' member declares ``shape`` uint8 but stores no data."""
    import zipfile
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images.npy", buf.getvalue())  # magic and header, then no data
    return path


def test_an_npz_declaring_terabytes_is_refused_with_the_estimate(tmp_path):
    from ganlens.data import sets as data
    bad = npz_declaring(tmp_path / "huge.npz", (10**7, 3, 1024, 1024))
    with pytest.raises(results.GanlensError, match=r"array 'images' \(10000000, 3, 1024, 1024\) uint8 needs about"):
        data.open_images(str(bad), 32, 3)


def test_an_npz_zip_bomb_is_refused(tmp_path, monkeypatch):
    from ganlens.data import sets as data
    monkeypatch.setattr(data, "NPZ_BOMB_BYTES", 1 << 20)  # the rule at a size a test can afford
    np.savez_compressed(tmp_path / "bomb.npz", images=np.zeros((400, 32, 32, 3), np.uint8))  # 1.2 MB -> ~1 KB
    with pytest.raises(results.GanlensError, match="zip bomb"):
        data.open_images(str(tmp_path / "bomb.npz"), 32, 3)
    np.savez_compressed(tmp_path / "ok.npz", images=np.zeros((4, 32, 32, 3), np.uint8))  # small: read
    assert len(data.open_images(str(tmp_path / "ok.npz"), 32, 3)) == 4


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
def test_a_truncated_npz_is_one_line(tmp_path, ckpt, capsys, cut):
    rng = np.random.default_rng(0)
    np.savez_compressed(tmp_path / "d.npz", images=rng.integers(0, 255, (16, 32, 32, 3), dtype=np.uint8))
    b = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(b[: int(len(b) * cut)])
    code = command("walk", walk_argv(ckpt, tmp_path / "o") + ["--data", tmp_path / "d.npz"])
    one_line(capsys, code, "d.npz")


def test_a_checkpoint_of_32k_tensors_is_refused_before_unpickling(tmp_path, monkeypatch):
    base = torch.zeros(1)
    torch.save({"chain": [base[0:1] for _ in range(300)]}, tmp_path / "many.pt")  # 300 views of one storage
    monkeypatch.setattr(checkpoints, "MAX_TENSORS", 200)  # the rule at a count a test can afford
    with pytest.raises(results.GanlensError, match="holds 300 tensors"):
        checkpoints.read(tmp_path / "many.pt")
    assert checkpoints.read(tiny(tmp_path / "ok.pt"))["format"] == checkpoints.FORMAT


@pytest.mark.parametrize("field,value,phrase", [
    ("image_size", [10**9, 10**9], "image_size: expected [width, height] as two positive integers up to 16384"),
    ("latent", {"dim": 10**12, "distribution": "normal"}, "latent.dim: expected a positive integer up to 1048576"),
])
def test_a_box_file_with_huge_counts_is_refused(field, value, phrase):
    from ganlens.data import boxes
    data = {"format": boxes.FORMAT, "label": "window", "image_size": [32, 32],
            "latent": {"dim": 16, "distribution": "normal"}, "samples": [{"seed": 0, "boxes": []}]}
    data[field] = value
    assert any(p.startswith(phrase) for p in boxes.validate(data))


def test_a_box_file_with_too_many_boxes_is_refused(monkeypatch):
    from ganlens.data import boxes
    monkeypatch.setattr(boxes, "MAX_BOXES", 3)
    data = {"format": boxes.FORMAT, "label": "window", "image_size": [32, 32],
            "latent": {"dim": 16, "distribution": "normal"}, "samples": [{"seed": 0, "boxes": [[0, 0, 2, 2]] * 4}]}
    assert any("4 boxes, more than 3 per sample" in p for p in boxes.validate(data))


# ------------------------------------------------- 12: the probe cache: damage, and labels never from it

def test_damaged_cache_entries_are_recomputed_not_a_traceback(tmp_path, capsys):
    from ganlens import probe
    p = probe.cache_path(tmp_path, {"a": 1})
    x, y = np.ones((6, 3), np.float16), np.arange(6, dtype=np.int64) % 2
    probe.cache_write(p, x, y)
    whole = p.read_bytes()
    for cut in (0.3, 0.6, 0.9):  # truncated files
        p.write_bytes(whole[: int(len(whole) * cut)])
        assert probe.cache_read(p, 6, 3) is None
    probe.cache_write(p, np.full((6, 3), np.nan, np.float32), y)  # all NaN
    assert probe.cache_read(p, 6, 3) is None
    assert capsys.readouterr().err.count("recomputing") == 4


def test_cache_labels_never_replace_the_datas(tmp_path):
    import ganlens
    from ganlens import probe
    from archs import mlp_gan
    gan = mlp_gan()
    y = np.arange(30) % 2
    images = torch.from_numpy(np.where(y[:, None, None, None] == 1, 220, 30).astype(np.uint8)
                              * np.ones((1, 1, 28, 28), np.uint8))
    cache = tmp_path / "cache"
    first = ganlens.probe(gan, (images, y), C=(0.1,), cache=cache, random_draws=1, splits=2)
    for f in cache.iterdir():  # a stale or shared cache with other labels
        with np.load(f) as z:
            feats = z["features"]
        probe.cache_write(f, feats, (1 - y).astype(np.int64))
    again = ganlens.probe(gan, (images, y), C=(0.1,), cache=cache, random_draws=1, splits=2)
    assert again["provenance"]["feature_cache"]["read"] == []  # not taken: labels differ from the data's
    drop = ("provenance", "timing")
    assert {k: v for k, v in again.to_dict().items() if k not in drop} == \
        {k: v for k, v in first.to_dict().items() if k not in drop}


@pytest.mark.parametrize("args,phrases", [
    (["--args", "fig4_walk=--rows '2"], ["No closing quotation"]),
    (["--args", "fig4_walk=--help"], ["--help is not a figure flag"]),
    (["--args", "fig4_walk=-h"], ["--help is not a figure flag"]),
    (["--args", "fig4_walk=--checkpoint other.pt"], ["--checkpoint is set once for every figure"]),
    (["--args", "fig4_walk=--model=x.py:build"], ["--model is set once"]),
])
def test_run_all_argument_mixes_are_one_line(args, phrases, tmp_path, capsys):
    from ganlens import paper
    out = tmp_path / "paper"
    code = cli.run(paper.main, ["--out", str(out), "--only", "fig4_walk", "--device", "cpu"] + args, "run_all")
    one_line(capsys, code, *phrases)
    assert not out.exists()


def test_a_figure_script_refuses_a_second_model_flag(tmp_path, capsys):
    from ganlens import paper
    code = cli.run(lambda a: paper.main(a, only="fig4_walk"), ["--out", str(tmp_path / "p"), "--device", "cpu",
                                                               "--rows", "1", "--model", "x.py:build"], "fig4")
    assert code != 0 and "Traceback" not in capsys.readouterr().err


# ---------------------------------------------------------- 13: no wrong result with exit status 0

def test_walk_with_a_huge_number_of_steps_is_refused_with_the_estimate(ckpt, tmp_path, capsys):
    code = command("walk", walk_argv(ckpt, tmp_path / "o") + ["--steps", str(10**9)])
    one_line(capsys, code, "1 walks of 2 points and 1000000000 steps", "needs about", "of memory")


def test_export_half_refuses_weights_beyond_float16(tmp_path, capsys):
    torch.manual_seed(0)
    G = Generator(CFG)
    with torch.no_grad():
        G.block1[0].weight[0, 0, 0, 0] = 1e6
    src = checkpoints.save(tmp_path / "big.pt", CFG, G, Discriminator(CFG))
    code = command("export", [src, "--out", tmp_path / "m.pt", "--half"])
    one_line(capsys, code, "--half", "reaches 1e+06", "beyond float16's range")
    assert command("export", [src, "--out", tmp_path / "m32.pt"]) == 0  # without --half: fine


@pytest.mark.parametrize("bad", [-1, 2, 10**12])
def test_segmenter_class_ids_outside_the_names_are_refused(bad):
    from ganlens import dissect
    seg = dissect.Segmentation(lambda x: np.full((len(x), 8, 8), bad, np.int64), ("sky", "tree"), "mine")
    with pytest.raises(results.GanlensError, match=f"returned class id {bad}; ids must be 0..1"):
        seg(torch.zeros(2, 3, 8, 8))
    ok = dissect.Segmentation(lambda x: np.ones((len(x), 8, 8), np.int64), ("sky", "tree"), "mine")
    assert ok(torch.zeros(2, 3, 8, 8)).max() == 1


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_weights_that_are_not_floats_are_refused_not_converted(tmp_path, dtype):
    torch.manual_seed(0)
    G = Generator(CFG)
    sd = G.state_dict()
    sd["block1.0.weight"] = sd["block1.0.weight"].to(dtype)
    torch.save({"format": checkpoints.FORMAT, "config": CFG.to_dict(), "G": sd, "D": None, "state": None,
                "provenance": {}}, tmp_path / "g.pt")
    with pytest.raises(results.GanlensError, match=f"tensor block1.0.weight is {str(dtype)[6:]}; weights must be"):
        checkpoints.load(tmp_path / "g.pt")
    torch.save(sd, tmp_path / "foreign.pth")  # a foreign state dict too
    with pytest.raises(results.GanlensError, match="weights must be floating-point"):
        checkpoints.load(tmp_path / "foreign.pth")


@pytest.mark.parametrize("dtype", [np.bool_, np.int64, np.complex64])
def test_npz_images_that_are_not_uint8_or_float_are_refused(tmp_path, dtype):
    from ganlens.data import sets as data
    np.savez(tmp_path / "d.npz", images=np.ones((4, 32, 32, 3), dtype))
    with pytest.raises(results.GanlensError, match="must be uint8, or float in"):
        data.open_images(str(tmp_path / "d.npz"), 32, 3)


def test_dissect_counts_with_thousands_of_unused_class_names_equal_the_few_used():
    """5,000 class names of which the segmenter uses 3 (and some pixels of no class): the counts equal those
    with the 3 names alone, and the work no longer grows with the names (141 s before, see docs)."""
    import time
    from ganlens import dissect
    g = torch.Generator().manual_seed(3)
    a = torch.relu(torch.randn(5, 7, 4, 4, generator=g))
    t = a.transpose(0, 1).reshape(7, -1).quantile(0.9, dim=1)
    few = torch.randint(0, 4, (5, 32 * 32), generator=g)            # classes 0..2, 3 = no class
    U = dissect.interp_matrix(4, 32)
    acc3 = {"inter": torch.zeros(7, 3, dtype=torch.float64), "fired": torch.zeros(7, dtype=torch.float64)}
    dissect.count_layer(a, t, U, U, few, 3, acc3["inter"], acc3["fired"])
    K = 5000
    many = torch.where(few == 3, torch.full_like(few, K), few * 1000)  # used ids 0, 1000, 2000; K = no class
    accK = {"inter": torch.zeros(7, K, dtype=torch.float64), "fired": torch.zeros(7, dtype=torch.float64)}
    t0 = time.perf_counter()
    dissect.count_layer(a, t, U, U, many, K, accK["inter"], accK["fired"])
    assert time.perf_counter() - t0 < 2.0
    torch.testing.assert_close(accK["fired"], acc3["fired"])
    torch.testing.assert_close(accK["inter"][:, [0, 1000, 2000]], acc3["inter"])
    assert accK["inter"].sum() == acc3["inter"].sum()
