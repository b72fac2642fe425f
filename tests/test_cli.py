"""ganlens.cli: one-line errors, devices, staged output folders, reproducible JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganlens import cli
from ganlens.core import results
from ganlens.core.errors import GanlensError


def test_run_turns_ganlens_error_into_one_line(capsys):
    def main(argv):
        raise GanlensError(f"{argv[0]}: no such file")
    assert cli.run(main, ["x.pt"], "python -m ganlens.demo") == 2
    captured = capsys.readouterr()
    assert captured.err == "python -m ganlens.demo: error: x.pt: no such file\n"
    assert captured.out == ""


def test_run_exit_codes(capsys):
    assert cli.run(lambda argv: None, [], "p") == 0
    assert cli.run(lambda argv: 3, [], "p") == 3

    def interrupted(argv):
        raise KeyboardInterrupt
    assert cli.run(interrupted, [], "p") == 130
    assert capsys.readouterr().err == "p: interrupted\n"

    def bug(argv):
        raise ZeroDivisionError  # a bug is not a user error: it keeps its traceback
    with pytest.raises(ZeroDivisionError):
        cli.run(bug, [], "p")


def test_parser_error_is_one_line(capsys):
    p = cli.Parser("python -m ganlens.demo", "A demo.", "  python -m ganlens.demo --seed 1\n")
    p.add_common(out_default="out/demo")
    args = p.parse_args(["--seed", "4"])
    assert (args.seed, args.device, args.checkpoint, args.out) == (4, "auto", "default", "out/demo")
    for bad in (["--bogus"], ["--seed", "four"], ["extra"]):
        with pytest.raises(SystemExit) as e:
            p.parse_args(bad)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("python -m ganlens.demo: error: ")
        assert "usage" not in err
    assert "examples:" in p.format_help() and "--seed 1" in p.format_help()


def test_device(monkeypatch):
    assert cli.device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.device("auto") == torch.device("cpu")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(GanlensError, match="CUDA is not available") as e:
            cli.device(name)
        assert "--device" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(GanlensError, match="not a device"):
        cli.device("gpu0")
    with pytest.raises(GanlensError, match="only cpu and cuda"):
        cli.device("meta")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cli.device("auto") == torch.device("cuda")
    assert cli.device("cuda:1") == torch.device("cuda", 1)


def listing(folder: Path) -> dict:
    """Files in ``folder`` but ganlens's record of what it wrote there (results.WRITTEN)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != results.WRITTEN}


def test_staged_output_untouched_when_the_body_raises(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    (out / "result.json").write_text("previous result")
    for exc in (RuntimeError("late failure"), KeyboardInterrupt(), GanlensError("bad input")):
        with pytest.raises(type(exc)):
            with cli.staged_output(out) as stage:
                assert stage.parent == out and stage.name.startswith(".ganlens-stage-")
                (stage / "result.json").write_text("half")
                (stage / "new.txt").write_text("new")
                raise exc
        assert listing(out) == {"old.txt": b"old", "result.json": b"previous result"}
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # staging folder removed


def test_staged_output_body_oserror_is_not_blamed_on_out(tmp_path):
    with pytest.raises(FileNotFoundError):
        with cli.staged_output(tmp_path / "out"):
            open(tmp_path / "missing-input.txt")
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_staged_output_moves_files_in_on_success(tmp_path):
    out = tmp_path / "out"
    (out / "figs").mkdir(parents=True)
    (out / "figs" / "stale.png").write_bytes(b"stale")
    (out / "keep.txt").write_text("keep")
    (out / "result.json").write_text("old")
    results.record_written(out, ["figs", "result.json"])  # an earlier run wrote these: they may be replaced
    with cli.staged_output(out) as stage:
        (stage / "result.json").write_text("new")
        (stage / "figs").mkdir()
        (stage / "figs" / "a.png").write_bytes(b"png")
        assert listing(out)["result.json"] == b"old"  # nothing moves before the body ends
    assert listing(out) == {"figs/a.png": b"png", "keep.txt": b"keep", "result.json": b"new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    fresh = tmp_path / "fresh"
    with cli.staged_output(fresh) as stage:
        (stage / "x").write_text("1")
    assert listing(fresh) == {"x": b"1"}


def test_staged_output_bad_out(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(GanlensError, match="not a folder"):
        with cli.staged_output(tmp_path / "file"):
            pass
    with pytest.raises(GanlensError, match="does not exist"):
        with cli.staged_output(tmp_path / "no" / "such" / "out"):
            pass


def test_write_json_is_byte_identical_for_equal_input(tmp_path):
    a = {"b": [1, 2.5, np.float32(0.25)], "a": {"y": np.int64(3), "x": Path("p/q")}, "t": torch.tensor([1, 2])}
    b = {"t": torch.tensor([1, 2]), "a": {"x": Path("p/q"), "y": 3}, "b": [1, 2.5, 0.25]}
    cli.write_json(tmp_path / "a.json", a)
    cli.write_json(tmp_path / "b.json", b)
    data = (tmp_path / "a.json").read_bytes()
    assert data == (tmp_path / "b.json").read_bytes()
    assert data.endswith(b"}\n")
    assert data.index(b'"a"') < data.index(b'"b"') < data.index(b'"t"')  # sorted keys
    assert b'"x": "p/q"' in data and b"np." not in data
    cli.write_json(tmp_path / "a.json", a)
    assert (tmp_path / "a.json").read_bytes() == data
    with pytest.raises(TypeError, match="not JSON serialisable"):
        cli.write_json(tmp_path / "c.json", {"x": object()})


def test_seed_everything():
    cli.seed_everything(5)
    a = torch.rand(3), np.random.rand(3)
    cli.seed_everything(5)
    b = torch.rand(3), np.random.rand(3)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    cli.seed_everything(2**40 + 5)  # numpy seeds must fit 32 bits
