"""ganlens.data: data specs, image folders, .npz arrays, chunked streaming, value ranges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from ganlens.data.sets import (FolderSet, RoomsSet, TensorSet, iter_chunks, load_all, open_images, parse_rooms, to_float, to_uint8)
from ganlens.core.errors import GanlensError

# data.py decodes with torchvision.io, deprecated in torchvision 0.29 (see the report); still correct
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")


def png(path, array):
    """Write an (H, W) or (H, W, C) uint8 array (C = 2: grey+alpha, 4: RGBA), or an (H, W) uint16
    array (a 16-bit PNG), as a PNG; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == np.uint16:
        assert cv2.imwrite(str(path), array)
    else:
        Image.fromarray(array).save(path)
    return path


def solid(h, w, rgb):
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


def chw(rgb, size):
    """The uint8 tensor (3, size, size) of one colour."""
    return torch.tensor(rgb, dtype=torch.uint8)[:, None, None].expand(3, size, size)


# --- rooms specs -----------------------------------------------------------------------------------

def test_parse_rooms():
    assert parse_rooms("rooms") == {"n": 20000, "seed": 0}
    assert parse_rooms("rooms:n=10,seed=3") == {"n": 10, "seed": 3}
    assert parse_rooms("rooms:seed=5") == {"n": 20000, "seed": 5}
    assert parse_rooms("rooms:n=7") == {"n": 7, "seed": 0}


@pytest.mark.parametrize("spec", ["rooms:n=abc", "rooms:x=1", "rooms:n=-3", "rooms:n=0", "roomsx",
                                  "rooms:n=5;seed=1", "rooms:n=1.5"])
def test_bad_rooms_specs(spec):
    with pytest.raises(GanlensError) as e:
        parse_rooms(spec)
    assert spec in str(e.value) and "\n" not in str(e.value)


def test_open_rooms():
    data = open_images("rooms:n=10,seed=3", 32)
    assert isinstance(data, RoomsSet) and len(data) == 10
    assert data.spec == "rooms:n=10,seed=3" and (data.size, data.nc) == (32, 3)
    batch = data.chunk(2, 5)
    assert batch.shape == (3, 3, 32, 32) and batch.dtype == torch.uint8
    assert torch.equal(batch[1], data[3])  # rendering depends on (seed, index) only
    assert torch.equal(open_images("rooms:n=10,seed=3", 32).chunk(2, 5), batch)
    assert not torch.equal(open_images("rooms:n=10,seed=4", 32).chunk(2, 5), batch)
    assert data.masks(0, 2).shape == (2, 32, 32)
    assert len(open_images("rooms", 32)) == 20000
    with pytest.raises(GanlensError, match="colour"):
        open_images("rooms:n=4", 32, nc=1)


def test_open_missing_or_unknown(tmp_path):
    with pytest.raises(GanlensError, match="no such file"):
        open_images(str(tmp_path / "nope"), 16)
    (tmp_path / "a.csv").write_text("1,2\n")
    with pytest.raises(GanlensError, match="expected rooms, a folder"):
        open_images(str(tmp_path / "a.csv"), 16)


# --- folders ---------------------------------------------------------------------------------------

def test_flat_folder(tmp_path):
    colours = {"b.png": (0, 0, 255), "a.png": (255, 0, 0), "c.png": (10, 200, 30)}
    for name, rgb in colours.items():
        png(tmp_path / name, solid(16, 16, rgb))
    (tmp_path / "notes.txt").write_text("not an image")
    data = open_images(str(tmp_path), 16)
    assert isinstance(data, FolderSet) and len(data) == 3
    assert data.labels is None and data.classes is None
    for i, name in enumerate(sorted(colours)):  # sorted by file name
        assert torch.equal(data[i], chw(colours[name], 16))
    assert torch.equal(data.chunk(0, 3), torch.stack([data[i] for i in range(3)]))


def test_class_subfolders(tmp_path):
    png(tmp_path / "dogs" / "1.png", solid(8, 8, (1, 1, 1)))
    png(tmp_path / "cats" / "2.png", solid(8, 8, (2, 2, 2)))
    png(tmp_path / "cats" / "1.png", solid(8, 8, (3, 3, 3)))
    png(tmp_path / "dogs" / "0.png", solid(8, 8, (4, 4, 4)))
    data = open_images(str(tmp_path), 8)
    assert data.classes == ["cats", "dogs"]
    assert data.labels.tolist() == [0, 0, 1, 1]
    assert [int(data[i][0, 0, 0]) for i in range(4)] == [3, 2, 4, 1]  # cats/1, cats/2, dogs/0, dogs/1


def test_corrupt_images_skipped_with_warning(tmp_path, capsys):
    png(tmp_path / "cats" / "good1.png", solid(8, 8, (50, 60, 70)))
    png(tmp_path / "dogs" / "good2.png", solid(8, 8, (80, 90, 100)))
    (tmp_path / "cats" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    good = png(tmp_path / "dogs" / "zz.png", solid(32, 32, (1, 2, 3))).read_bytes()
    (tmp_path / "dogs" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "dogs" / "empty.jpg").write_bytes(b"")
    (tmp_path / "dogs" / "zz.png").unlink()
    data = open_images(str(tmp_path), 8)
    assert len(data) == 2
    assert data.labels.tolist() == [0, 1]  # labels follow the kept files only
    assert torch.equal(data[0], chw((50, 60, 70), 8)) and torch.equal(data[1], chw((80, 90, 100), 8))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning" in err and "skipped 3" in err and str(tmp_path) in err


def test_folder_without_readable_images(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanlensError, match="no images found") as e:
        open_images(str(tmp_path / "empty"), 16)
    assert str(tmp_path / "empty") in str(e.value)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"junk")
    with pytest.raises(GanlensError, match="none of the 1 image files"):
        open_images(str(tmp_path / "bad"), 16)


def test_mixed_sizes_resized_and_centre_cropped(tmp_path):
    # 32 high x 64 wide: red | green (centre half) | blue. Shorter side -> 16 gives 16 x 32; the centre
    # 16 x 16 crop is the green band.
    wide = solid(32, 64, (0, 255, 0))
    wide[:, :16] = (255, 0, 0)
    wide[:, 48:] = (0, 0, 255)
    png(tmp_path / "a_wide.png", wide)
    tall = solid(64, 32, (0, 0, 200))
    tall[16:48] = (200, 100, 0)
    png(tmp_path / "b_tall.png", tall)
    png(tmp_path / "c_big.png", solid(40, 40, (7, 77, 177)))
    png(tmp_path / "d_small.png", solid(4, 4, (99, 9, 199)))
    data = open_images(str(tmp_path), 16)
    assert [tuple(data[i].shape) for i in range(4)] == [(3, 16, 16)] * 4
    a, b = data[0].int(), data[1].int()
    assert torch.equal(a[:, :, 1:-1], chw((0, 255, 0), 16)[:, :, 1:-1].int())  # interior exactly green
    assert (a[0, :, [0, -1]] < 128).all() and (a[2, :, [0, -1]] < 128).all()  # edges mostly green
    assert torch.equal(b[:, 1:-1, :], chw((200, 100, 0), 16)[:, 1:-1, :].int())
    assert torch.equal(data[2], chw((7, 77, 177), 16))  # a constant image stays constant
    assert torch.equal(data[3], chw((99, 9, 199), 16))  # and upsampling too


def test_grey_and_colour_conversion(tmp_path):
    png(tmp_path / "grey" / "g.png", np.full((8, 8), 100, np.uint8))
    png(tmp_path / "colour" / "c.png", solid(8, 8, (200, 100, 50)))
    grey_as_colour = open_images(str(tmp_path / "grey"), 8, nc=3)[0]
    assert torch.equal(grey_as_colour, chw((100, 100, 100), 8))
    colour_as_grey = open_images(str(tmp_path / "colour"), 8, nc=1)[0]
    assert colour_as_grey.shape == (1, 8, 8)
    want = 0.2989 * 200 + 0.587 * 100 + 0.114 * 50  # ITU-R 601 luma, as torchvision computes it
    assert (colour_as_grey.int() - want).abs().max() <= 1
    assert torch.equal(open_images(str(tmp_path / "grey"), 8, nc=1)[0], torch.full((1, 8, 8), 100, dtype=torch.uint8))


def test_alpha_and_16_bit_images(tmp_path):
    """RGBA, grey+alpha and 16-bit PNGs all come out uint8 with the requested channels."""
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (10, 20, 30), 128
    png(tmp_path / "a.png", rgba)
    la = np.zeros((8, 8, 2), np.uint8)
    la[..., 0], la[..., 1] = 60, 255
    png(tmp_path / "b.png", la)
    png(tmp_path / "c.png", np.full((8, 8), 65535, np.uint16))
    png(tmp_path / "d.png", np.full((8, 8), 257 * 40, np.uint16))
    colour = open_images(str(tmp_path), 8, nc=3)
    assert all(colour[i].dtype == torch.uint8 and colour[i].shape == (3, 8, 8) for i in range(4))
    assert torch.equal(colour[0], chw((10, 20, 30), 8))
    assert torch.equal(colour[1], chw((60, 60, 60), 8))
    assert torch.equal(colour[2], chw((255, 255, 255), 8))
    assert torch.equal(colour[3], chw((40, 40, 40), 8))
    grey = open_images(str(tmp_path), 8, nc=1)
    assert [grey[i].shape for i in range(4)] == [(1, 8, 8)] * 4
    assert grey.chunk(0, 4)[1:, 0, 0, 0].tolist() == [60, 255, 40]


# --- .npz ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_npz_colour_layouts(tmp_path, layout):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 3, 8, 8), dtype=np.uint8)  # NCHW
    np.savez(tmp_path / "d.npz", images=x if layout == "NCHW" else x.transpose(0, 2, 3, 1))
    data = open_images(str(tmp_path / "d.npz"), 8)
    assert isinstance(data, TensorSet) and len(data) == 5 and data.labels is None
    assert torch.equal(load_all(data), torch.from_numpy(x))


def test_npz_grey_nhw_float_and_labels(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((6, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2], np.int32)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = open_images(str(tmp_path / "d.npz"), 8, nc=1)
    assert data.nc == 1 and data.size == 8
    assert torch.equal(load_all(data), torch.from_numpy(np.round(x * 255).astype(np.uint8))[:, None])
    assert data.labels.dtype == np.int64 and data.labels.tolist() == y.tolist()
    # the same arrays, resized to 16 and made colour
    big = open_images(str(tmp_path / "d.npz"), 16, nc=3)
    assert load_all(big).shape == (6, 3, 16, 16)
    assert torch.equal(big[0][0], big[0][2])


@pytest.mark.parametrize("arrays,match", [
    ({"images": np.zeros((2, 8, 8), np.float32) + 2}, "float in \\[0, 1\\]"),
    ({"images": np.full((2, 8, 8), np.nan, np.float32)}, "float in \\[0, 1\\]"),
    ({"images": np.zeros((2, 8, 8), np.int16)}, "uint8"),
    ({"images": np.zeros((8, 8), np.uint8)}, "\\(N,H,W,C\\)"),
    ({"images": np.zeros((0, 8, 8), np.uint8)}, "N > 0"),
    ({"images": np.zeros((1, 2, 3, 8, 8), np.uint8)}, "\\(N,H,W,C\\)"),
    ({"pixels": np.zeros((2, 8, 8), np.uint8)}, "no 'images'"),
    ({"images": np.zeros((2, 8, 8), np.uint8), "labels": np.zeros(3)}, "labels"),
    ({"images": np.zeros((2, 8, 8), np.uint8), "labels": np.zeros((2, 4))}, "labels"),
])
def test_npz_bad_arrays(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(GanlensError, match=match) as e:
        open_images(str(tmp_path / "bad.npz"), 8, nc=1)
    assert str(tmp_path / "bad.npz") in str(e.value) and "\n" not in str(e.value)


def test_npz_bad_files(tmp_path):
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(GanlensError, match="not an .npz file"):
        open_images(str(tmp_path / "text.npz"), 8)
    with open(tmp_path / "single.npz", "wb") as f:  # np.save under an .npz name
        np.save(f, np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(GanlensError, match="single .npy array"):
        open_images(str(tmp_path / "single.npz"), 8)


# --- streaming and ranges --------------------------------------------------------------------------

@pytest.mark.parametrize("n,chunk,limit", [(10, 3, None), (10, 10, None), (10, 4, 7), (10, 32, 5), (1, 1, None)])
def test_iter_chunks_covers_every_image_once(n, chunk, limit):
    images = torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 1, 2, 2).contiguous()
    data = TensorSet(images, "test")
    seen, starts = [], []
    for start, batch in iter_chunks(data, chunk, limit):
        assert 1 <= len(batch) <= chunk
        assert batch.shape[1:] == (1, 2, 2)
        starts.append(start)
        seen += batch[:, 0, 0, 0].tolist()
    want = n if limit is None else min(n, limit)
    assert seen == list(range(want))
    assert starts == list(range(0, want, chunk))
    assert torch.equal(load_all(data, limit), images[:want])


def test_iter_chunks_on_a_folder_set(tmp_path):
    for i in range(5):
        png(tmp_path / f"{i}.png", solid(4, 4, (i, i, i)))
    data = open_images(str(tmp_path), 4)
    got = torch.cat([b for _, b in iter_chunks(data, 2)])
    assert got[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4]


def test_to_float_to_uint8_round_trip():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    f = to_float(x)
    assert f.dtype == torch.float32
    assert f.min() == -1 and f.max() == 1
    assert f.flatten()[0] == -1 and f.flatten()[255] == 1
    assert torch.allclose(f.flatten(), torch.arange(256) / 127.5 - 1)
    assert torch.equal(to_uint8(f), x)
    assert x.flatten()[128] == 128  # the input is not modified
    assert torch.equal(to_uint8(torch.tensor([-3.0, -1.0, 0.0, 1.0, 7.0])),
                       torch.tensor([0, 0, 128, 255, 255], dtype=torch.uint8))  # clipped, rounded
    assert to_uint8(torch.zeros(2, requires_grad=True)).dtype == torch.uint8


def test_iter_chunks_renders_ahead_and_gives_the_same_chunks():
    """Rooms are rendered one chunk ahead in a second thread: the same chunks in the same order; a caller
    that stops early and a chunk that fails behave as without it."""
    rooms = RoomsSet(300, 32, seed=4)
    assert rooms.prefetch
    got = list(iter_chunks(rooms, 64, 250))
    assert [s for s, _ in got] == [0, 64, 128, 192] and torch.equal(torch.cat([b for _, b in got]), rooms.chunk(0, 250))
    stream = iter_chunks(rooms, 64)
    next(stream)
    stream.close()  # waits for the chunk being rendered, leaves no thread behind

    class Failing(RoomsSet):
        def chunk(self, start, stop):
            if start >= 64:
                raise OSError("disk gone")
            return super().chunk(start, stop)

    stream = iter_chunks(Failing(300, 32), 64)
    assert next(stream)[0] == 0
    with pytest.raises(OSError, match="disk gone"):
        next(stream)
