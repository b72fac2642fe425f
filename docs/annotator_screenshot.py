"""Retake docs/annotator.png, the README's picture of ``python -m ganlens.annotate``.

    python docs/annotator_screenshot.py [--checkpoint PATH] [--out docs/annotator.png]

Writes a page of 24 samples from the checkpoint (default: the shipped model), draws two boxes on the
fourth sample in headless Chromium (/usr/bin/chromium, driven by the playwright package), selects one and
saves a screenshot. The boxes are placed at fixed source pixels; pass --boxes "x0,y0,x1,y1;..." to put
them on the objects of another model's sample.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="default")
    p.add_argument("--out", default=str(Path(__file__).with_name("annotator.png")))
    p.add_argument("--sample", type=int, default=3, help="index of the sample shown (default: 3)")
    p.add_argument("--boxes", default="8,14,22,34;40,12,56,30", help="x0,y0,x1,y1;... in source pixels")
    args = p.parse_args()
    boxes = [[int(v) for v in b.split(",")] for b in args.boxes.split(";")]
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "windows.html"
        subprocess.run([sys.executable, "-m", "ganlens.annotate", "--checkpoint", args.checkpoint, "--label",
                        "window", "--n", "24", "--device", "cpu", "--out", str(page)], check=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            view = browser.new_page(viewport={"width": 1180, "height": 720})
            view.goto(page.as_uri())
            view.wait_for_function("window.ganlensAnnotate && window.ganlensAnnotate.ready")
            for _ in range(args.sample):
                view.keyboard.press("ArrowRight")
            r = view.locator("#stage-img").bounding_box()
            s = r["width"] / view.evaluate("JSON.parse(document.getElementById('ganlens-data').textContent)"
                                           ".image_size[0]")
            at = lambda x, y: (r["x"] + (x + 0.5) * s, r["y"] + (y + 0.5) * s)  # noqa: E731
            for x0, y0, x1, y1 in boxes:  # press on the first pixel, let go on the last one
                view.mouse.move(*at(x0, y0))
                view.mouse.down()
                view.mouse.move(*at(x1 - 1, y1 - 1), steps=5)
                view.mouse.up()
            x0, y0, x1, y1 = boxes[-1]
            view.mouse.click(*at(x0, y0))                   # select the last box
            view.mouse.move(*at((x0 + x1) // 2, y1 + 4))     # the pointer readout shows a pixel
            view.screenshot(path=args.out)
            browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
