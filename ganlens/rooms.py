"""``python -m ganlens.rooms``: write the procedural rooms data set (:mod:`ganlens.data.rooms`) and a preview."""

from __future__ import annotations

from pathlib import Path

import cv2

from ganlens import cli
from ganlens.core.errors import GanlensError, require_at_least, require_memory
from ganlens.data.rooms import (PALETTE, render_room, make_rooms, colorize_mask, preview_grid, CHUNK,
                                SCENE_BYTES_PER_PIXEL, RENDER_BYTES_PER_PIXEL, save_rooms_folder)  # noqa: F401 (re-exported)

PROG = "python -m ganlens.rooms"


def main(argv=None) -> int:
    """Command line: write a rooms folder and/or a preview grid."""
    p = cli.Parser(
        PROG, "Procedural bedroom-like scenes with exact per-pixel class masks (LSUN stand-in).",
        "  python -m ganlens.rooms --n 50000 --size 64 --seed 0 --out data/rooms64\n"
        "  python -m ganlens.rooms --n 64 --size 64 --grid rooms_grid.png\n"
        "  python -m ganlens.rooms --n 1000 --size 128 --seed 1 --out data/rooms128 --grid grid.png\n",
    )
    p.add_argument("--n", type=int, default=1000, help="number of scenes (default 1000)")
    p.add_argument("--size", type=int, default=64, help="image side in pixels: 32, 64 or 128 (default 64)")
    p.add_argument("--seed", type=cli.seed_value, default=0, help="stream seed (default 0)")
    p.add_argument("--out", help="folder to write images/, masks/ and rooms.json into")
    p.add_argument("--grid", type=Path, help="PNG preview of the first 64 scenes and their masks")
    args = p.parse_args(argv)
    if args.out is None and args.grid is None:
        p.error("give --out and/or --grid")
    require_at_least({"n": (args.n, 1), "size": (args.size, 1)}, flags=True)
    require_memory(args.size ** 2 * (SCENE_BYTES_PER_PIXEL * min(args.n, CHUNK) + RENDER_BYTES_PER_PIXEL),
                   f"--size {args.size} (rooms keeps up to {CHUNK} scenes in memory)")
    if args.out is not None:
        cli.check_out(args.out)  # a str, not a Path: --out "" is refused, not taken for "."
        args.out = Path(args.out)
    if args.grid is not None:
        if args.grid.is_dir():
            raise GanlensError(f"--grid {args.grid}: is a folder, expected a .png file name")
        try:
            args.grid.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise GanlensError(f"--grid {args.grid}: {args.grid.parent} is a file, not a folder")
        except OSError as e:
            raise GanlensError(f"--grid {args.grid}: cannot make folder {args.grid.parent}: {e.strerror}")
    if args.out is not None:
        with cli.staged_output(args.out) as stage:  # an error or Ctrl-C part-way leaves no half-written folder
            save_rooms_folder(stage, args.n, args.size, args.seed)
        print(f"wrote {args.n} scenes ({args.size}x{args.size}) to {args.out}")
    if args.grid is not None:
        images, masks = make_rooms(min(args.n, 64), args.size, args.seed)
        try:
            ok = cv2.imwrite(str(args.grid), preview_grid(images, masks)[..., ::-1])
        except cv2.error:  # an extension OpenCV has no writer for
            ok = False
        if not ok:
            raise GanlensError(f"--grid {args.grid}: could not write an image there (use a .png name)")
        print(f"wrote preview grid to {args.grid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main, None, PROG))
