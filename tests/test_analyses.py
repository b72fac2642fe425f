"""analyses/ and ganlens.paper: every figure of run_all on a tiny rooms-like model with tiny settings, run
twice (--check); the manifest lists every output, snippets point at existing files and state the saved
settings, numbers are identical between runs, PDFs embed TrueType fonts, LaTeX specials are escaped."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlens.data import boxes
from ganlens.core import checkpoints, results
from ganlens import cli, paper, registry
from ganlens.core.models import DCGANConfig, Discriminator, Generator

ROOT = Path(__file__).resolve().parents[1]
NZ = 16
TINY = {
    "fig4_walk": "--rows 1 --points 3 --steps 2 --samples 8 --holdout 8 --cells 1",
    "fig5_filters": "--data rooms:n=16 --n-images 16 --top 2 --units 2 --random-draws 2",
    "fig6_forget": "--n-eval 12 --dose-n 6 --n 4 --control-draws 2 --folds 2 --negatives-per-image 4",
    "fig7_arith": "--expr 'A - B + C' --A 1 --B 2 --C 3 --turn B:A --turn-seeds 4 --turn-steps 3 --measure none",
    "table1_probe": "--data rooms:n=50,seed=1 --C 0.01,0.1 --layers last --splits 2 --random-draws 2",
    "fig_dissect": (f"--segmenter {Path(__file__).parent / 'test_dissect.py'}:toy_segmenter --n 30 --n-eval 12 "
                    f"--dose-n 6 --show 2 --control-draws 2 --remove bright --insert bright --region-class other"),
    "fig_invert": (f"--n 4 --steps 2 --starts 2 --draws 20 --keep 2 --samples 4 "
                   f"--segmenter {Path(__file__).parent / 'test_dissect.py'}:toy_segmenter"),
}


def tiny_flags(key: str) -> str:
    """TINY's flags for a figure, else its analysis's registry example (a new figure needs no entry here)."""
    if key in TINY:
        return TINY[key]
    return registry.COMMANDS[paper.FIGURES[key].module.rpartition(".")[2]].example


def tiny_args(ckpt, boxfile, out, *extra):
    argv = ["--checkpoint", str(ckpt), "--boxes", str(boxfile), "--out", str(out), "--device", "cpu"]
    for key in paper.FIGURES:
        argv += ["--args", f"{key}={tiny_flags(key)}"]
    return argv + list(extra)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(checkpoint, box file, output folder of one ``run_all --check`` run, its exit status, stderr)."""
    tmp = tmp_path_factory.mktemp("analyses")
    torch.manual_seed(0)
    config = DCGANConfig(nz=NZ, ngf=8, ndf=8, nc=3, image_size=32)
    G, D = Generator(config).eval(), Discriminator(config).eval()
    prov = checkpoints.provenance(0, data="rooms:n=48,seed=0")   # walk --data rooms -> its training set
    ckpt = checkpoints.save(tmp / "tiny_rooms.pt", config, G, D, provenance=prov)
    rng = np.random.default_rng(1)
    samples = []
    for s in range(10):
        x0, y0 = (int(v) for v in rng.integers(0, 16, 2))
        samples.append({"seed": s, "boxes": [[x0, y0, x0 + 12, y0 + 10]] if s % 2 == 0 else []})
    bf = tmp / "windows.json"
    bf.write_text(json.dumps({"format": boxes.FORMAT, "label": "window", "image_size": [32, 32],
                              "latent": {"dim": NZ, "distribution": "normal"}, "samples": samples}))
    out = tmp / "paper"
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.run(paper.main, tiny_args(ckpt, bf, out, "--check"), "run_all")
    return ckpt, bf, out, code, err.getvalue()


def test_manifest_lists_every_output_and_each_file_exists(tiny):
    ckpt, _, out, code, err = tiny
    assert code == 0, err
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == paper.FORMAT and sorted(m["figures"]) == sorted(paper.FIGURES)
    assert m["checkpoint"]["sha256"] == checkpoints.file_sha256(ckpt)
    assert {"ganlens", "torch"} <= set(m["versions"])
    listed = set()
    for key, e in m["figures"].items():
        assert e["status"] == "ok", (key, e.get("reason"))
        assert e["command"].startswith(f"python -m {paper.FIGURES[key].module} ") and f"{out}/{key}" in e["command"]
        assert e["seed"] == 0 and e["checkpoint_sha256"] == m["checkpoint"]["sha256"]
        assert e["settings"] and e["json"] in e["files"] and e["tex"]
        assert any(f.endswith(".pdf") for f in e["files"]) and any(f.endswith(".png") for f in e["files"])
        assert m["timing"]["figures"][key] > 0
        for f in e["files"]:
            assert (out / f).is_file(), f
        listed |= set(e["files"])
        # numbers_sha256 is the hash of the saved JSON without its volatile keys
        assert e["numbers_sha256"] == paper.numbers_sha256(json.loads((out / e["json"]).read_text()))
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != results.WRITTEN}
    on_disk -= {"manifest.json"}  # and the records of what ganlens wrote (results.WRITTEN), not results
    assert on_disk == listed
    assert m["timing"]["total_seconds"] > 0 and "date" in m["provenance"]
    # Tiny settings given with --args reach the commands and are stated in the manifest.
    assert m["figures"]["fig4_walk"]["settings"]["rows"] == 1
    assert m["figures"]["table1_probe"]["settings"]["data"] == "rooms:n=50,seed=1"


def test_run_twice_gives_identical_numbers(tiny):
    _, _, out, code, err = tiny
    m = json.loads((out / "manifest.json").read_text())
    assert m["check"]["identical"] is True, m["check"]
    assert set(m["check"]["figures"]) == set(paper.FIGURES)
    assert "numbers identical" in err
    # the volatile keys really are volatile (so stripping them is needed), the rest is not
    walk = json.loads((out / "fig4_walk/walk.json").read_text())
    assert "date" in walk["provenance"] and "search_seconds" in walk["timing"]
    assert "search_seconds" not in walk["memorization"]
    assert "timing" in json.loads((out / "fig5_filters/filters.json").read_text())


def test_check_against_a_folder_reports_a_changed_number(tiny, tmp_path):
    ckpt, bf, out, _, _ = tiny
    ref = tmp_path / "ref"
    shutil.copytree(out, ref)
    j = json.loads((ref / "fig7_arith/arith.json").read_text())
    j["result"]["latent_norm"] += 1e-9
    j["provenance"]["date"] = "1999-01-01"            # volatile: never a difference
    cli.write_json(ref / "fig7_arith/arith.json", j)
    new = tmp_path / "new"
    argv = tiny_args(ckpt, bf, new, "--only", "fig7_arith", "table1_probe", "--check", str(ref))
    assert cli.run(paper.main, argv, "run_all") == 1
    check = json.loads((new / "manifest.json").read_text())["check"]
    assert check["identical"] is False
    assert check["figures"]["fig7_arith"]["differences"] == ["result.latent_norm"]
    assert check["figures"]["table1_probe"]["identical"] is True


def test_snippets_reference_existing_files_and_state_the_settings(tiny):
    _, _, out, _, _ = tiny
    m = json.loads((out / "manifest.json").read_text())
    snippets = [t for e in m["figures"].values() for t in e["tex"]]
    assert {"fig4_walk.tex", "fig4_neighbours.tex", "fig5_filters.tex", "fig6_forget.tex", "fig6_dose.tex",
            "fig7_arith.tex", "fig8_turn.tex", "table1_probe.tex"} <= set(snippets)
    for name in snippets:
        tex = (out / name).read_text()
        for path in re.findall(r"\\includegraphics\[[^]]*\]\{([^}]*)\}", tex):
            # relative to a LaTeX main file next to the output folder (--tex-prefix's default)
            assert not Path(path).is_absolute() and (out.parent / path).is_file(), (name, path)
        assert tex.count("{") == tex.count("}") and "\\caption{" in tex and "\\label{" in tex
        caption = tex.split("\\caption{", 1)[1].split("\\label{", 1)[0]
        text = re.sub(r"\$[^$]*\$", "", caption)                   # math ($C_T < -3$) may use _ as LaTeX does
        assert re.search(r"(?<!\\)[_%&#]", text) is None, name      # LaTeX specials escaped in captions
    walk = json.loads((out / "fig4_walk/walk.json").read_text())
    tex = (out / "fig4_walk.tex").read_text()
    s = walk["settings"]
    assert f"Each of the {s['rows']} rows visits {s['points']} random latents" in tex
    assert f"in {s['steps']} equal slerp steps" in tex and f"{walk['summary']['sharpness']:.2f}" in tex
    assert "\\texttt{tiny\\_rooms.pt}" in tex and "begin{figure*}" in tex
    assert f"\\texttt{{rooms:n=48,seed=0}}" in tex
    probe = json.loads((out / "table1_probe/probe.json").read_text())
    table = (out / "table1_probe.tex").read_text()
    assert "\\begin{tabular}" in table
    assert f"{100 * probe['accuracy']:.1f}\\%" in table and f"{100 * probe['random_accuracy']:.1f}\\%" in table
    assert f"& {probe['C']:g} &" in table and str(probe["feature_dim"]) in table
    assert "\\texttt{rooms:n=50,seed=1}" in table
    forget = json.loads((out / "fig6_forget/forget.json").read_text())
    assert f"the {forget['n_dropped']} of {forget['layer_shape']['channels']} feature maps" in \
        (out / "fig6_forget.tex").read_text()


def test_figure_pdfs_embed_truetype_fonts(tiny):
    _, _, out, _, _ = tiny
    fonts = paper.pdf_fonts(out / "table1_probe/probe.pdf")   # axes, ticks and a legend: text for sure
    assert fonts["truetype"] >= 1 and fonts["type3"] == 0 and fonts["type1"] == 0
    assert b"/FontFile2" in (out / "table1_probe/probe.pdf").read_bytes()
    m = json.loads((out / "manifest.json").read_text())
    for e in m["figures"].values():
        for pdf, f in e["fonts"].items():
            assert f["type3"] == 0 and f["type1"] == 0, pdf


def test_one_figure_script_updates_only_its_entry(tiny, tmp_path):
    """analyses/<key>.py runs one figure, passes unknown flags to the command, keeps the other entries."""
    ckpt, _, out, _, _ = tiny
    copy = tmp_path / "paper"
    shutil.copytree(out, copy)
    before = json.loads((copy / "manifest.json").read_text())
    cmd = [sys.executable, str(ROOT / "analyses/table1_probe.py"), "--checkpoint", str(ckpt), "--out", str(copy),
           "--device", "cpu", "--data", "rooms:n=40,seed=2", "--C", "0.1", "--layers", "last"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    after = json.loads((copy / "manifest.json").read_text())
    assert after["figures"]["table1_probe"]["settings"]["data"] == "rooms:n=40,seed=2"
    assert "--data rooms:n=40,seed=2" in after["figures"]["table1_probe"]["command"]
    for key in paper.FIGURES:
        if key != "table1_probe":
            assert after["figures"][key] == before["figures"][key]
    assert "rooms:n=40,seed=2" in (copy / "table1_probe.tex").read_text()


def test_missing_box_file_is_a_clear_skip(tiny, tmp_path):
    ckpt, _, _, _, _ = tiny
    out = tmp_path / "p"
    argv = tiny_args(ckpt, tmp_path / "nope.json", out, "--only", "fig6_forget")
    assert cli.run(paper.main, argv, "run_all") == 0
    e = json.loads((out / "manifest.json").read_text())["figures"]["fig6_forget"]
    assert e["status"] == "skipped" and "nope.json: not found" in e["reason"]
    assert not (out / "fig6_forget").exists() and not (out / "fig6_forget.tex").exists()


def test_numbers_ignore_only_the_volatile_keys():
    a = {"x": [1, {"y": 2.0}], "provenance": {"date": "a"}, "timing": {"s": 1}, "seconds": {"t": 3}}
    b = {"x": [1, {"y": 2.5}], "provenance": {"date": "b"}, "timing": {"s": 9}, "seconds": {"t": 4}}
    assert paper.numbers(a) == {"x": [1, {"y": 2.0}]}
    assert paper.compare(paper.numbers(a), paper.numbers(b)) == ["x[1].y"]
    assert paper.numbers_sha256(a) == paper.numbers_sha256(dict(a, provenance={"date": "c"}))
    assert paper.numbers_sha256(a) != paper.numbers_sha256(b)
    assert paper.compare({"k": 1}, {"k": 1.0}) == ["k"]       # 1 vs 1.0 is a different JSON number
    assert paper.compare({"k": [1]}, {"k": [1, 2]}) == ["k"]
    assert paper.compare({"k": float("nan")}, {"k": float("nan")}) == []


def test_latex_escape_and_paths():
    assert paper.latex_escape("a_b 50% #1 & $x$ {y} ~ ^ \\") == \
        r"a\_b 50\% \#1 \& \$x\$ \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}"
    assert paper.latex_path("paper/fig4_walk/walk.pdf") == "paper/fig4_walk/walk.pdf"
    for bad in ("my paper/x.pdf", "50%/x.pdf", "a#b/x.pdf", "a{b}/x.pdf"):
        with pytest.raises(paper.GanlensError, match="LaTeX cannot read"):
            paper.latex_path(bad)


def test_bad_tex_prefix_fails_before_any_work(tiny, tmp_path, capsys):
    ckpt, bf, _, _, _ = tiny
    out = tmp_path / "o"
    code = cli.run(paper.main, tiny_args(ckpt, bf, out, "--tex-prefix", "my figs/"), "run_all")
    assert code == 2 and "LaTeX cannot read" in capsys.readouterr().err and not out.exists()


def test_a_failing_figure_is_reported_and_the_others_still_run(tiny, tmp_path, capsys):
    ckpt, bf, _, _, _ = tiny
    out = tmp_path / "p"
    argv = tiny_args(ckpt, bf, out, "--only", "fig7_arith", "table1_probe", "--args", "fig7_arith=--bogus 1")
    assert cli.run(paper.main, argv, "run_all") == 1
    m = json.loads((out / "manifest.json").read_text())
    e = m["figures"]["fig7_arith"]
    assert e["status"] == "failed" and "unrecognized arguments: --bogus 1" in e["reason"]
    assert m["figures"]["table1_probe"]["status"] == "ok" and (out / "table1_probe.tex").exists()
    assert not (out / "fig7_arith").exists()
    assert "FAILED" in capsys.readouterr().err


def test_paper_runs_on_a_model_built_in_python(tmp_path):
    """--model: the figures of a network ganlens did not build, loaded once; captions name the in-memory model
    and Fig. 6 is skipped (the shipped box file belongs to the shipped model)."""
    archs = Path(__file__).parent / "archs.py"
    out = tmp_path / "paper"
    code = paper.main(["--model", f"{archs}:paper_gan", "--out", str(out), "--only", "fig6_forget", "fig7_arith",
                       "fig_dissect",
                       "--args", 'fig7_arith=--expr "A - B + C" --A 1,2 --B 3 --C 4 --measure none --turn-steps 3'])
    assert code == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["figures"]["fig6_forget"]["status"] == "skipped"
    assert m["figures"]["fig_dissect"]["status"] == "skipped" and "no segmenter" in m["figures"]["fig_dissect"]["reason"]
    assert m["figures"]["fig7_arith"]["status"] == "ok" and "--model" in m["figures"]["fig7_arith"]["command"]
    assert "in-memory model \\texttt{paper32}" in (out / "fig7_arith.tex").read_text()


# ------------------------------------------------------------------------------------- the LaTeX paper

def _paper(template: str, folder: str, snippets: list[str]) -> str:
    """analyses/paper_template.tex with its snippet list replaced by exactly ``snippets`` (no IfFileExists:
    a missing file is an error)."""
    head, rest = template.split("% BEGIN SNIPPETS", 1)
    tail = rest.split("% END SNIPPETS", 1)[1]
    return head + "".join(f"\\input{{{folder}/{name}}}\n" for name in snippets) + tail


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex not installed (CI installs Debian's texlive-latex-base; "
                           "apt-get install --no-install-recommends texlive-latex-base)")
def test_a_two_column_paper_with_every_snippet_compiles_without_overfull_boxes(tiny, tmp_path):
    """The paper run_all's snippets go into: 10 pt, two 3.25 in columns (ganlens.figures' sizes). Every
    snippet of the run is \\input; pdflatex must succeed with no overfull box (Table 1 was 84-89 pt too wide)."""
    _, _, out, _, _ = tiny
    m = json.loads((out / "manifest.json").read_text())
    snippets = [t for e in m["figures"].values() if e["status"] == "ok" for t in e["tex"]]
    assert "table1_probe.tex" in snippets and len(snippets) >= 8
    template = (ROOT / "analyses/paper_template.tex").read_text()
    assert set(snippets) <= set(re.findall(r"\\input\{paper/([^}]*)\}", template))   # the template lists them all
    # The paper sits next to a copy of the output folder elsewhere: only relative paths can work.
    shutil.copytree(out, tmp_path / "paper")
    (tmp_path / "main.tex").write_text(_paper(template, "paper", snippets))
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "main.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    log = (tmp_path / "main.log").read_text(errors="replace")
    assert res.returncode == 0, log[-3000:]
    bad = [line for line in log.splitlines() if line.startswith(("Overfull \\hbox", "Overfull \\vbox"))
           or "Float too large" in line]
    assert not bad, bad
    assert (tmp_path / "main.pdf").read_bytes().startswith(b"%PDF")
    assert "LaTeX Warning: File" not in log and "not found" not in log


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_the_latex_check_can_fail(tmp_path):
    """The same compile step flags an overfull box: the old Table 1 layout (four wide columns, normal size)."""
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper/table1_probe.tex").write_text(
        "\\begin{table}[t]\\centering\\caption{Old layout.}\n\\begin{tabular}{lrrr}\\hline\n"
        "features & test accuracy & $C$ & feature dim. \\\\\\hline\n"
        "D of \\texttt{rooms64.pt} & 92.5\\% & 0.001 & 7{,}680 \\\\\n"
        "random D (same architecture) & 87.0\\% & 0.0001 & 7{,}680 \\\\\\hline\n\\end{tabular}\\end{table}\n")
    template = (ROOT / "analyses/paper_template.tex").read_text()
    (tmp_path / "main.tex").write_text(_paper(template, "paper", ["table1_probe.tex"]))
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "main.tex"], cwd=tmp_path,
                   capture_output=True, text=True, timeout=300)
    assert re.search(r"Overfull \\hbox \((8\d|9\d)\.\d+pt too wide\)", (tmp_path / "main.log").read_text())
