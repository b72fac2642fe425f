"""ganlens.annotate: the offline box annotator page, --boxes preload, COCO import, and (in a real headless
browser, where one is installed) drawing, undo, delete, download and reload."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ganlens import annotate
from ganlens.data import boxes
from ganlens.core import checkpoints
from ganlens.core.generate import images

EVIL = "</script><script>alert(1)</script>"
CHROMIUM = Path("/usr/bin/chromium")


# ---------------------------------------------------------------------------------------------- helpers

def check_box_format(obj: dict, image_size: int, nz: int) -> None:
    """The ganlens.boxes/1 spec, checked independently of ganlens.annotate's own reader."""
    assert obj["format"] == "ganlens.boxes/1"
    assert isinstance(obj["label"], str) and obj["label"]
    assert obj["image_size"] == [image_size, image_size]
    assert obj["latent"] == {"dim": nz, "distribution": "normal"}
    assert set(obj) <= {"format", "label", "image_size", "latent", "checkpoint_sha256", "samples"}
    for s in obj["samples"]:
        assert set(s) <= {"seed", "z", "boxes"} and ("seed" in s or "z" in s)
        if "seed" in s:
            assert type(s["seed"]) is int
        if "z" in s:
            assert len(s["z"]) == nz and all(isinstance(v, (int, float)) and math.isfinite(v) for v in s["z"])
        for b in s["boxes"]:
            assert len(b) == 4 and all(type(v) is int for v in b)
            assert 0 <= b[0] < b[2] <= image_size and 0 <= b[1] < b[3] <= image_size


def page_data(html: str) -> dict:
    blocks = re.findall(r'<script type="application/json" id="ganlens-data">(.*?)</script>', html, re.S)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def cli(argv, capsys) -> tuple[int, str]:
    """Run the command as ``python -m ganlens.annotate`` would; return (exit code, stderr)."""
    from ganlens import cli as _cli
    code = _cli.run(annotate.main, [str(a) for a in argv], annotate.PROG)
    return code, capsys.readouterr().err


def one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"{annotate.PROG}: error: "), err
    for f in fragments:
        assert f in err, err


@pytest.fixture
def page(tmp_path, tiny_checkpoint, capsys):
    """``page(*flags, n=4)`` -> (path of a page written from the tiny 32x32 model, its data)."""
    def make(*flags, n=4, name="windows.html"):
        out = tmp_path / name
        args = ["--checkpoint", tiny_checkpoint, "--device", "cpu", "--out", out, *flags]
        if n is not None:
            args += ["--n", n]
        code, err = cli(args, capsys)
        assert code == 0, err
        make.err = err
        return out, page_data(out.read_text())
    return make


def box_file(samples, label="window", size=32, nz=16, **extra) -> dict:
    return {"format": "ganlens.boxes/1", "label": label, "image_size": [size, size],
            "latent": {"dim": nz, "distribution": "normal"}, **extra, "samples": samples}


# ---------------------------------------------------------------------------------------------- page

def test_page_embeds_the_samples_and_escapes_the_label(page, tiny_checkpoint, tmp_path):
    out, data = page("--label", EVIL, "--first-seed", "7", n=5)
    html = out.read_text()
    assert EVIL not in html and "<script>alert" not in html and html.count("</script>") == 2
    assert data["label"] == EVIL
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html.split("<title>")[1].split("</title>")[0]
    assert len(data["images"]) == len(data["samples"]) == 5
    assert [s["seed"] for s in data["samples"]] == [7, 8, 9, 10, 11]
    model = checkpoints.load(tiny_checkpoint)
    assert data["checkpoint_sha256"] == model.sha256 and data["image_size"] == [32, 32]
    assert data["scale"] == annotate.PAGE_PIXELS // 32  # integer upscale for crisp pixels
    assert "image-rendering: pixelated" in html
    # generated as the page does (ganlens.generate.images: channels_last, one batch of 5); the contiguous layout
    # may give other ulps on another CPU's kernels and a pixel on a rounding boundary one grey level apart
    want = images(model, model.latents(range(7, 12)), uint8=True).permute(0, 2, 3, 1).numpy()
    for k, (b64, s) in enumerate(zip(data["images"], data["samples"])):
        png = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(cv2.cvtColor(png, cv2.COLOR_BGR2RGB), want[k])  # lossless, same sample
        assert torch.equal(torch.tensor(s["z"]), checkpoints.latent_from_seed(s["seed"], 16))
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r'(src|href)="(https?:)?//', html) and "default-src 'none'" in html
    assert not list(tmp_path.glob(".windows.html.*"))  # no temporary file left behind


def test_boxes_preload_appears_in_the_page(page, tmp_path, capsys, tiny_checkpoint):
    z = checkpoints.latent_from_seed(99, 16).tolist()
    f = tmp_path / "windows.json"
    f.write_text(json.dumps(box_file([{"seed": 3, "boxes": [[1, 2, 5, 6]]}, {"z": z, "boxes": []},
                                      {"seed": 1, "boxes": [[0, 0, 32, 32], [4, 4, 5, 5]]}],
                                     checkpoint_sha256="0" * 64)))
    _, data = page("--boxes", f, n=3)  # label from the file; seeds 0..2 it lacks are added
    assert data["label"] == "window"
    assert [(s.get("seed"), s["boxes"]) for s in data["samples"]] == [
        (3, [[1, 2, 5, 6]]), (None, []), (1, [[0, 0, 32, 32], [4, 4, 5, 5]]), (0, []), (2, [])]
    assert data["samples"][1]["z"] == z
    assert "differs from the checkpoint's" in page.err  # sha differs: a warning, not an error
    _, alone = page("--boxes", f, n=None, name="again.html")  # without --n: only the file's samples
    assert len(alone["samples"]) == 3 and alone["key"] != data["key"]

    out = tmp_path / "p.html"
    base = ["--checkpoint", tiny_checkpoint, "--device", "cpu", "--out", out]
    one_line_error(*cli(base + ["--boxes", f, "--label", "door"], capsys), "'door'", "'window'")
    f.write_text(json.dumps(box_file([{"seed": 0, "boxes": [[0, 0, 33, 4]]}])))
    code, err = cli(base + ["--boxes", f], capsys)  # ganlens.boxes lists every problem, one line each
    assert code == 2 and "samples[0].boxes[0]" in err and "out of range" in err
    f.write_text(json.dumps(box_file([{"seed": 0, "boxes": [[0, 0, 1, 1]]}], size=64)))
    code, err = cli(base + ["--boxes", f], capsys)
    assert code == 2 and "64x64 does not match" in err
    one_line_error(*cli(base + ["--n", "3"], capsys), "--label is required")
    one_line_error(*cli(base + ["--label", "w", "--out", tmp_path / "nope" / "p.html"], capsys), "does not exist")
    assert not out.exists()


def test_page_and_coco_for_a_model_ganlens_did_not_build(tmp_path, capsys):
    """--model FILE.py:FUNC: the paper's Linear + 5x5 G (32x32, nz 16), generated by ganlens.generate.images."""
    from archs import paper_gan
    spec = f"{Path(__file__).parent / 'archs.py'}:paper_gan"
    out = tmp_path / "glasses.html"
    code, err = cli(["--model", spec, "--label", "glasses", "--n", "3", "--out", out, "--device", "cpu"], capsys)
    assert code == 0 and err.count("\n") == 1, err
    data = page_data(out.read_text())
    assert data["image_size"] == [32, 32] and data["latent"] == {"dim": 16, "distribution": "normal"}
    assert data["checkpoint_sha256"] is None and data["source"] == f"paper32 (--model {spec})"
    gan = paper_gan()
    want = images(gan, gan.latents(range(3)), uint8=True).permute(0, 2, 3, 1).numpy()
    for k, b64 in enumerate(data["images"]):
        png = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(cv2.cvtColor(png, cv2.COLOR_BGR2RGB), want[k])
    src, box_out = tmp_path / "coco.json", tmp_path / "boxes.json"
    src.write_text(json.dumps(coco([{"id": 1, "file_name": "seed_4.png", "width": 32, "height": 32}],
                                   [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 8, 6]}],
                                   [{"id": 1, "name": "glasses"}])))
    code, err = cli(["--model", spec, "--from-coco", src, "--out", box_out], capsys)
    assert code == 0, err
    bf = boxes.read(box_out, gan)
    assert bf.checkpoint_sha256 is None and [(s.seed, s.boxes) for s in bf.samples] == [(4, [(1, 2, 9, 8)])]
    code, err = cli(["--model", spec, "--boxes", box_out, "--out", out, "--device", "cpu"], capsys)
    assert code == 0, err                                  # the box file, checked against the --model G
    assert [(s["seed"], s["boxes"]) for s in page_data(out.read_text())["samples"]] == [(4, [[1, 2, 9, 8]])]


# ---------------------------------------------------------------------------------------------- COCO

def coco(images, annotations, categories=({"id": 1, "name": "window"},)):
    return {"images": images, "annotations": annotations, "categories": list(categories)}


def test_from_coco(tmp_path, tiny_checkpoint, capsys):
    src, out = tmp_path / "coco.json", tmp_path / "boxes.json"
    images = [{"id": 10, "file_name": "export/seed_000005.png", "width": 32, "height": 32},
              {"id": 11, "file_name": "seed-2.jpg", "width": 256, "height": 256},  # 8x upscale
              {"id": 12, "file_name": "3.png", "width": 32, "height": 32}]        # no boxes: still a sample
    anns = [{"id": 1, "image_id": 10, "category_id": 1, "bbox": [2, 3, 10, 4.4]},
            {"id": 2, "image_id": 11, "category_id": 1, "bbox": [8, 16, 80, 19]},
            {"id": 3, "image_id": 10, "category_id": 1, "bbox": [0, 0, 32, 32]}]
    src.write_text(json.dumps(coco(images, anns)))
    base = ["--checkpoint", tiny_checkpoint, "--from-coco", src, "--out", out]
    code, err = cli(base, capsys)
    assert code == 0, err
    obj = json.loads(out.read_text())
    check_box_format(obj, 32, 16)
    assert obj["label"] == "window" and obj["checkpoint_sha256"] == checkpoints.load(tiny_checkpoint).sha256
    assert obj["samples"] == [{"seed": 2, "boxes": [[1, 2, 11, 4]]},   # [1, 2, 11, 4.375] -> rounded
                              {"seed": 3, "boxes": []},
                              {"seed": 5, "boxes": [[2, 3, 12, 7], [0, 0, 32, 32]]}]
    assert boxes.read(out, checkpoints.load(tiny_checkpoint).config).to_dict() == obj

    def fails(coco_obj, *fragments, raw=None, extra=()):
        out.unlink(missing_ok=True)
        src.write_text(raw if raw is not None else json.dumps(coco_obj))
        one_line_error(*cli(base + list(extra), capsys), *fragments)
        assert not out.exists()

    im = [{"id": 1, "file_name": "seed_0.png", "width": 32, "height": 32}]
    fails(None, "bad JSON", "line 1", raw='{"images": [')
    fails(coco(im, [{"id": 7, "image_id": 1, "category_id": 1}]), "annotations[0] (id 7)", "no bbox")
    fails(coco(im, [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [30, 0, 5, 5]}]), "outside")
    fails(coco(im, [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [-1, 0, 5, 5]}]), "outside")
    fails(coco(im, [{"id": 7, "image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5]}]), "image_id 2",
          "not among the images")
    fails(coco(im, [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5]}]), "4 numbers")
    fails(coco([{"id": 1, "file_name": "kitchen.png"}], []), "kitchen.png", "seed")
    fails(coco(im + [{"id": 2, "file_name": "seed0.png"}], []), "seed 0 again")
    fails(coco([{"id": 1, "file_name": "seed_0.png", "width": 48, "height": 48}], []), "48x48")
    fails(coco(im, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]},
                    {"image_id": 1, "category_id": 2, "bbox": [0, 0, 2, 2]}],
               [{"id": 1, "name": "window"}, {"id": 2, "name": "door"}]), "several categories", "--label")
    fails(coco(im, []), "no category named 'bed'", extra=["--label", "bed"])
    fails(coco(im, []), "no box at all")
    fails([], "not a COCO file")


# ---------------------------------------------------------------------------------------------- browser

def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium); not installed")
    return sync_playwright


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _browser_or_skip()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield b
        finally:
            b.close()


def open_page(browser, path: Path):
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 720})
    p = ctx.new_page()
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    p.goto(path.as_uri())
    p.wait_for_function("window.ganlensAnnotate && window.ganlensAnnotate.ready")
    return ctx, p, errors


def drag(p, scale: int, a: tuple[float, float], b: tuple[float, float]) -> None:
    """Press at source pixel ``a`` and let go at ``b`` (pixel centres; values outside the image go past it)."""
    r = p.locator("#stage-img").bounding_box()
    at = lambda q: (r["x"] + (q[0] + 0.5) * scale, r["y"] + (q[1] + 0.5) * scale)  # noqa: E731
    p.mouse.move(*at(a))
    p.mouse.down()
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    p.mouse.move(*at(mid), steps=3)
    p.mouse.move(*at(b), steps=3)
    p.mouse.up()


def click(p, scale: int, q: tuple[float, float]) -> None:
    r = p.locator("#stage-img").bounding_box()
    p.mouse.click(r["x"] + (q[0] + 0.5) * scale, r["y"] + (q[1] + 0.5) * scale)


def download(p) -> dict:
    with p.expect_download() as d:
        p.click("#btn-download")
    assert d.value.suggested_filename == "windows.json"
    return json.loads(Path(d.value.path()).read_text())


def test_draw_undo_delete_download_reload(browser, page, tmp_path):
    out, data = page("--label", "window", n=4)
    S = data["scale"]
    ctx, p, errors = open_page(browser, out)
    try:
        # sample 0: two boxes, one drawn backwards; a third one undone
        drag(p, S, (3, 4), (10, 12))            # -> [3, 4, 11, 13]: pixels 3..10 x 4..12, x1/y1 exclusive
        drag(p, S, (20, 25), (15, 20))          # -> [15, 20, 21, 26]
        drag(p, S, (0, 0), (2, 2))
        p.keyboard.press("Control+z")
        assert p.locator("#stage .box").count() == 2
        # sample 2 (two steps right): a box dragged past the image's corner is clamped to it
        p.keyboard.press("ArrowRight")
        p.keyboard.press("ArrowRight")
        drag(p, S, (28, 29), (40, 45))          # -> [28, 29, 32, 32]
        drag(p, S, (5, 5), (8, 9))              # -> [5, 5, 9, 10], then selected by a click and deleted
        drag(p, S, (1, 1), (12, 14))            # -> [1, 1, 13, 15], holds the one above
        click(p, S, (6, 6))                     # selects the smallest box under the pointer
        assert p.locator("#stage .box.selected").count() == 1
        p.keyboard.press("Delete")
        assert p.locator("#stage .box").count() == 2
        p.keyboard.press("Control+z")            # undo the delete ...
        p.keyboard.press("Control+y")            # ... and redo it
        assert "4 boxes on 2 of 4 samples" in p.locator("#counter").inner_text()
        p.screenshot(path=tmp_path / "annotator.png")
        got = download(p)
        want = [[[3, 4, 11, 13], [15, 20, 21, 26]], [], [[28, 29, 32, 32], [1, 1, 13, 15]], []]
        check_box_format(got, 32, 16)
        assert boxes.validate(got, config=checkpoints.load(out.parent / "tiny.pt").config) == []
        assert [s["boxes"] for s in got["samples"]] == want
        assert [s["seed"] for s in got["samples"]] == [0, 1, 2, 3]
        assert [s["z"] for s in got["samples"]] == [s["z"] for s in data["samples"]]
        assert got["checkpoint_sha256"] == data["checkpoint_sha256"]

        p.reload()                              # the work survives a reload
        p.wait_for_function("window.ganlensAnnotate && window.ganlensAnnotate.ready")
        assert "Restored" in p.locator("#status").inner_text()
        assert p.locator("#stage .box").count() == 2  # and it reopens on sample 2
        assert download(p) == got
        p.keyboard.press("g")                   # grid view shows every sample with its boxes
        assert p.locator("#grid .thumb").count() == 4 and p.locator("#grid .box").count() == 4
        p.keyboard.press("ArrowRight")          # ... and the keyboard moves through it: Enter opens sample 3
        p.keyboard.press("Enter")
        assert p.locator("#stage-img").is_visible() and "sample 4 / 4 (seed 3)" in p.locator("#counter").inner_text()
        assert errors == []
    finally:
        ctx.close()


def test_preloaded_boxes_and_evil_label_in_the_browser(browser, page, tmp_path):
    f = tmp_path / "boxes.json"
    f.write_text(json.dumps(box_file([{"seed": 5, "boxes": [[2, 2, 9, 9]]}], label=EVIL)))
    out, data = page("--boxes", f, n=2)
    ctx, p, errors = open_page(browser, out)
    try:
        assert p.locator("#label").inner_text() == EVIL   # shown as text, never run
        assert p.title().startswith(EVIL)
        assert p.locator("#stage .box").count() == 1
        p.keyboard.press("ArrowRight")
        drag(p, data["scale"], (0, 31), (31, 0))
        got = download(p)
        assert got["label"] == EVIL
        assert [(s["seed"], s["boxes"]) for s in got["samples"]] == [(5, [[2, 2, 9, 9]]), (0, [[0, 0, 32, 32]]),
                                                                     (1, [])]
        assert errors == []  # no alert dialog, no script error
    finally:
        ctx.close()


# ---------------------------------------------------------------------------------------------- rating page

@pytest.fixture
def rating(tmp_path):
    """(page paths, key, gan, forget folder) of 3 blind rating pages (6 latents each) for a forget run of the
    paper's G."""
    from archs import paper_gan
    import ganlens
    gan = paper_gan()
    bf = boxes.BoxFile(label=EVIL, width=32, height=32, latent_dim=16, distribution="normal",
                       samples=[boxes.Sample(seed=s, z=None, boxes=[(2, 2, 14, 12)] if s % 2 else []) for s in range(8)])
    ganlens.forget(gan, bf, n=2, n_eval=6, dose_n=3, control_draws=2, folds=2).save(tmp_path / "forget")
    pages, key = annotate.rating_pages(gan, tmp_path / "forget", n=6, raters=3)
    paths = []
    for html, pg in zip(pages, key["pages"]):
        paths.append(tmp_path / "forget" / pg["file"])
        paths[-1].write_text(html)
    return paths, key, gan, tmp_path / "forget"


def test_rating_pages_are_blind(rating):
    """Reproducer: one page held before / after / control of each latent, and the PNG sizes told "before"."""
    from ganlens.data.sets import to_uint8
    from ganlens.forget import generate
    paths, key, gan, folder = rating
    j = json.loads((folder / "forget.json").read_text())
    drop = {"before": [], "after": j["dropped_maps"], "control": j["control"]["maps"][0]}
    fill = torch.from_numpy(np.load(folder / "forget.npz")["fill"])
    lengths = set()
    for path, pg in zip(paths, key["pages"]):
        html = path.read_text()
        data = page_data(html)
        assert set(data) == {"mode", "format", "page", "label", "question", "image_size", "nc", "scale", "source",
                             "pixels"}
        assert data["question"] == f"Is there a {EVIL}?" and EVIL not in html and html.count("</script>") == 2
        assert not re.search(r"before|after|control|1000000|seed", html.split("<script>", 1)[0].split("ganlens-data", 1)[1])
        assert data["page"] == pg["page"] and len(data["pixels"]) == 6
        assert sorted(it["seed"] for it in pg["items"]) == [1_000_000_000 + i for i in range(6)]  # each latent once
        assert sorted(it["condition"] for it in pg["items"]) == sorted(["before", "after", "control"] * 2)
        lengths |= {len(b64) for b64 in data["pixels"]}
        for k in (0, 5):                                       # the raw pixels are the run's edit of its latent
            it = pg["items"][k]
            want = to_uint8(generate(gan, j["settings"]["layer"], gan.latents([it["seed"]]), drop[it["condition"]],
                                     fill))[0].permute(1, 2, 0).numpy()
            got = np.frombuffer(base64.b64decode(data["pixels"][k]), np.uint8).reshape(32, 32, 3)
            np.testing.assert_array_equal(got, want)
    assert len(lengths) == 1                                   # every image's bytes the same length
    seen = {(it["seed"], it["condition"]) for pg in key["pages"] for it in pg["items"]}
    assert len(seen) == 18 and key["forget_sha256"] == hashlib.sha256((folder / "forget.json").read_bytes()).hexdigest()


def test_rate_blind_in_the_browser_reload_change_download(browser, rating, tmp_path):
    from ganlens.data import ratings
    paths, key, gan, folder = rating
    items = key["pages"][0]["items"]
    plan = [it["condition"] != "after" for it in items]          # a rater who never sees it after the edit
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 720})
    p = ctx.new_page()
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    try:
        p.goto(paths[0].as_uri())
        p.wait_for_function("window.ganlensRate && window.ganlensRate.ready")
        assert p.locator("#question").inner_text() == f"Is there a {EVIL}?"      # text, never markup
        drawn = p.evaluate("""() => { const c = document.getElementById('stage-canvas');
            return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")
        want = base64.b64decode(page_data(paths[0].read_text())["pixels"][0])
        rgba = np.array(drawn, np.uint8).reshape(32, 32, 4)
        np.testing.assert_array_equal(rgba[..., :3], np.frombuffer(want, np.uint8).reshape(32, 32, 3))
        assert (rgba[..., 3] == 255).all() and p.locator("#stage-canvas").bounding_box()["width"] == 32 * 16
        for k in range(3):                                      # three answers by key, each moves on
            assert f"image {k + 1} / 6" in p.locator("#counter").inner_text()
            p.keyboard.press("y" if plan[k] else "n")
        p.reload()                                              # the answers survive a reload
        p.wait_for_function("window.ganlensRate && window.ganlensRate.ready")
        assert "Restored" in p.locator("#status").inner_text() and "image 4 / 6" in p.locator("#counter").inner_text()
        for k in range(3, 6):                                   # the rest by the buttons
            p.click("#btn-yes" if plan[k] else "#btn-no")
        assert "Every image is answered" in p.locator("#status").inner_text()
        p.keyboard.press("Home")                                # go back and change the first answer
        p.keyboard.press("n" if plan[0] else "y")
        plan[0] = not plan[0]
        with p.expect_download() as d:
            p.click("#btn-download")
        assert d.value.suggested_filename == "rate-1.ratings.json"
        got = json.loads(Path(d.value.path()).read_text())
        assert errors == []
    finally:
        ctx.close()
    assert got["format"] == "ganlens.ratings/2"
    assert got["page"] == key["pages"][0]["page"] and got["answers"] == plan and re.fullmatch("[0-9a-f]{16}", got["rater"])
    k = ratings.check_key(key)
    assert ratings.read_rating(_write(tmp_path / "r.json", got), k).answers == plan


def _write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize("damage, needle", [
    (lambda j: j.update(settings=[1, 2]), '"settings" must be an object'),
    (lambda j: j.pop("probe"), "no probe weights"),
    (lambda j: j.update(dropped_maps=[0, 99]), '"dropped_maps" must list map indices 0..15'),
    (lambda j: j["control"].update(maps=[]), '"control" must hold random map sets'),
    (lambda j: j.update(control={}), '"control" must hold random map sets'),
])
def test_rate_on_a_damaged_forget_json_is_one_line(rating, capsys, damage, needle):
    """Reproducers: each of these gave a traceback."""
    from archs import __file__ as archs
    folder = rating[3]
    j = json.loads((folder / "forget.json").read_text())
    damage(j)
    (folder / "forget.json").write_text(json.dumps(j))
    code, err = cli(["--model", f"{archs}:paper_gan", "--device", "cpu", "--rate", folder, "--n", "3"], capsys)
    one_line_error(code, err, needle)
