"""Tests for ganlens.rooms: determinism, shapes, exact masks, class statistics, folder round trip."""

import json

import cv2
import numpy as np
import pytest

from ganlens import rooms as rooms_command
from ganlens.data.rooms import canvas
from ganlens.data.rooms import CEILING, CLASSES, WALL, WINDOW, make_rooms, render_room, save_rooms_folder


@pytest.fixture(scope="module")
def batch64():
    """500 scenes at 64x64, seed 0: images (500, 64, 64, 3), masks (500, 64, 64)."""
    return make_rooms(500, 64, seed=0)


def _sky_like(images: np.ndarray) -> np.ndarray:
    """Pixels (..., H, W) whose colour is a saturated blue (OpenCV hue 90-130 of 180, saturation >= 40)."""
    hsv = cv2.cvtColor(images.reshape(-1, images.shape[-2], 3), cv2.COLOR_RGB2HSV).reshape(images.shape)
    return (hsv[..., 0] >= 90) & (hsv[..., 0] <= 130) & (hsv[..., 1] >= 40)


def test_window_index():
    assert CLASSES[WINDOW] == "window" and WINDOW == 4


def test_deterministic_and_sliceable():
    a_img, a_mask = make_rooms(6, 32, seed=3)
    b_img, b_mask = make_rooms(6, 32, seed=3)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_mask, b_mask)
    s_img, s_mask = make_rooms(3, 32, seed=3, start=2)
    np.testing.assert_array_equal(s_img, a_img[2:5])
    np.testing.assert_array_equal(s_mask, a_mask[2:5])
    # Scene i is exactly render_room(default_rng([seed, i])).
    one_img, one_mask = render_room(np.random.default_rng([3, 4]), 32)
    np.testing.assert_array_equal(one_img, a_img[4])
    np.testing.assert_array_equal(one_mask, a_mask[4])
    other_img, _ = make_rooms(6, 32, seed=4)
    assert not np.array_equal(other_img, a_img)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_and_dtypes(size):
    images, masks = make_rooms(4, size, seed=1)
    assert images.shape == (4, size, size, 3) and images.dtype == np.uint8
    assert masks.shape == (4, size, size) and masks.dtype == np.uint8
    assert masks.max() < len(CLASSES)


def test_paired_drawing_covers_identical_pixels():
    """Every Canvas primitive paints exactly the mask pixels it labels (the basis of exact masks)."""
    cv = canvas._Canvas(64, (0.5, 0.45, 0.5, 0.4, 0.5, 0.5))
    quad = np.array([[0.11, 0.13], [0.52, 0.2], [0.47, 0.61], [0.09, 0.55]])
    cv.poly(quad, (10, 20, 30), 1)
    cv.line((0.6, 0.1), (0.9, 0.8), (10, 20, 30), 1, 1)
    cv.circle((0.75, 0.2), 3.3, (10, 20, 30), 1)
    tex = np.full((64, 64, 3), 200, np.uint8)
    cv.textured_poly(np.array([[0.2, 0.7], [0.5, 0.7], [0.5, 0.95], [0.2, 0.95]]), 1, tex)
    painted = cv.img.any(-1)
    np.testing.assert_array_equal(painted, cv.mask == 1)
    assert painted.sum() > 0.2 * 64 * 64


def test_inset_square():
    sq = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    want = np.array([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]])
    np.testing.assert_allclose(canvas._inset(sq, 0.1), want, atol=1e-12)
    np.testing.assert_allclose(canvas._inset(sq[::-1], 0.1), want[::-1], atol=1e-12)  # either orientation


def test_every_class_appears(batch64):
    _, masks = batch64
    present = [(masks == c).any() for c in range(len(CLASSES))]
    assert all(present), [CLASSES[c] for c in range(len(CLASSES)) if not present[c]]


def test_class_frequencies(batch64):
    _, masks = batch64
    per_scene = np.stack([(masks == c).any((1, 2)) for c in range(len(CLASSES))], 1).mean(0)
    freq = dict(zip(CLASSES, per_scene))
    assert 0.4 <= freq["window"] <= 0.6
    assert freq["bed"] == 1.0 and freq["wall"] == 1.0 and freq["floor"] == 1.0
    for name, target in (("lamp", 0.5), ("door", 0.3), ("picture", 0.4), ("rug", 0.4)):
        assert abs(freq[name] - target) < 0.1, (name, freq[name])


def test_window_area(batch64):
    _, masks = batch64
    area = (masks == WINDOW).sum((1, 2))
    area = area[area > 0]
    assert area.min() >= 36  # never smaller than 6x6 pixels at 64x64, even when partly hidden
    assert area.max() <= 0.3 * 64 * 64


def test_window_pixels_are_sky_and_walls_are_not(batch64):
    images, masks = batch64
    sky = _sky_like(images)
    # Frames, mullions and dusk skies are window too, so not all window pixels are blue.
    assert sky[masks == WINDOW].mean() > 0.3
    assert sky[masks == WALL].mean() < 0.02
    # Ceilings are near-white: lighting scales channels equally and noise is shared, so they stay grey.
    ceiling = images[masks == CEILING].astype(int)
    assert (ceiling.max(1) - ceiling.min(1)).max() <= 30


def test_save_rooms_folder_round_trip(tmp_path):
    save_rooms_folder(tmp_path, 5, size=32, seed=2, chunk=2)
    images, masks = make_rooms(5, 32, seed=2)
    for i in range(5):
        img = cv2.imread(str(tmp_path / "images" / f"{i:06d}.png"), cv2.IMREAD_COLOR)[..., ::-1]
        mask = cv2.imread(str(tmp_path / "masks" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(img, images[i])
        np.testing.assert_array_equal(mask, masks[i])
    meta = json.loads((tmp_path / "rooms.json").read_text())
    assert meta["classes"] == list(CLASSES) and meta["n"] == 5 and meta["size"] == 32 and meta["seed"] == 2


def test_main_writes_folder_and_grid(tmp_path, capsys):
    out, grid = tmp_path / "rooms", tmp_path / "grid.png"
    assert rooms_command.main(["--n", "3", "--size", "32", "--seed", "1", "--out", str(out), "--grid", str(grid)]) == 0
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert len(list((out / "masks").iterdir())) == 3
    assert (out / "rooms.json").exists()
    g = cv2.imread(str(grid))
    assert g is not None and g.shape[0] == 32  # one row of 3 scenes
    assert "wrote" in capsys.readouterr().out


def test_main_requires_an_output():
    with pytest.raises(SystemExit):
        rooms_command.main(["--n", "3"])
