"""ganlens.boxes: the box-file format, every validation error, and boxes at feature resolution."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from ganlens.data import boxes
from ganlens.core.checkpoints import latent_from_seed
from ganlens.core.errors import GanlensError
from ganlens.core.models import DCGANConfig

CONFIG = DCGANConfig(nz=16, ngf=8, ndf=8, image_size=32)


def good(**changes) -> dict:
    d = {"format": "ganlens.boxes/1", "label": "window", "image_size": [32, 32],
         "latent": {"dim": 16, "distribution": "normal"},
         "samples": [{"seed": 0, "boxes": [[1, 2, 10, 12]]}, {"seed": 5, "boxes": []},
                     {"z": [0.5] * 16, "boxes": [[0, 0, 32, 32], [3, 3, 4, 4]]}]}
    d.update(changes)
    return d


def problems(d, model=CONFIG) -> list[str]:
    return boxes.validate(d, model=model)


def test_good_file_round_trip(tmp_path):
    assert problems(good()) == []
    path = tmp_path / "b.json"
    path.write_text(json.dumps(good(note="by hand", checkpoint_sha256="ab" * 32, extra_key=1)))
    bf = boxes.read(path, CONFIG)
    assert bf.label == "window" and (bf.width, bf.height) == (32, 32) and bf.n_boxes == 3
    assert bf.note == "by hand" and bf.extra == {"extra_key": 1}
    assert bf.samples[0].boxes == [(1, 2, 10, 12)] and bf.samples[1].boxes == []
    z = bf.latents()
    assert z.shape == (3, 16)
    assert torch.equal(z[0], latent_from_seed(0, 16)) and torch.equal(z[1], latent_from_seed(5, 16))
    assert torch.equal(z[2], torch.full((16,), 0.5))
    out = boxes.write(tmp_path / "c.json", bf)
    again = boxes.read(out, CONFIG)
    assert again.to_dict() == bf.to_dict()


def test_z_wins_over_seed():
    d = good(samples=[{"seed": 3, "z": [1.0] * 16, "boxes": [[0, 0, 4, 4]]}])
    bf = boxes.parse(d)
    assert torch.equal(bf.latents()[0], torch.ones(16))


def test_uniform_distribution_uses_the_uniform_seed_rule():
    d = good(latent={"dim": 16, "distribution": "uniform"})
    bf = boxes.parse(d)
    assert torch.equal(bf.latents()[0], latent_from_seed(0, 16, "uniform"))


@pytest.mark.parametrize("box, needle", [
    ([-1, 0, 5, 5], "out of range"),
    ([0, 0, 33, 5], "out of range"),
    ([0, 30, 5, 40], "out of range"),
    ([5, 0, 5, 5], "empty box"),
    ([6, 0, 5, 5], "empty box"),
    ([0, 7, 5, 7], "empty box"),
    ([0, 0, 5.5, 5], "integer pixels"),
    ([0, 0, 5.0, 5], "integer pixels"),      # floats are rejected even when whole
    ([0, True, 5, 5], "integer pixels"),
    ([0, "1", 5, 5], "integer pixels"),
    ([0, 0, 5], "expected [x0, y0, x1, y1]"),
    ({"x0": 0}, "expected [x0, y0, x1, y1]"),
])
def test_bad_boxes_are_reported_with_sample_and_box_index(box, needle):
    d = good()
    d["samples"][2]["boxes"][1] = box
    got = problems(d)
    assert len(got) == 1, got
    assert got[0].startswith("samples[2].boxes[1]") and needle in got[0], got


@pytest.mark.parametrize("change, needle", [
    ({"format": "ganlens.boxes/2"}, "format: expected 'ganlens.boxes/1'"),
    ({"label": ""}, "label: expected a non-empty string"),
    ({"image_size": [32]}, "image_size: expected [width, height]"),
    ({"image_size": [32.0, 32]}, "image_size: expected [width, height]"),
    ({"image_size": [64, 64]}, "image_size 64x64 does not match the generator's 32x32"),
    ({"latent": {"dim": 100, "distribution": "normal"}}, "latent.dim 100 does not match the generator's nz 16"),
    ({"latent": {"dim": 16, "distribution": "uniform"}}, "latent.distribution 'uniform' does not match"),
    ({"latent": {"dim": 16, "distribution": "cauchy"}}, "latent.distribution: expected one of normal, uniform"),
    ({"latent": {"dim": -3, "distribution": "normal"}}, "latent.dim: expected a positive integer"),
    ({"latent": 16}, "latent: expected an object"),
    ({"checkpoint_sha256": "xyz"}, "checkpoint_sha256: expected 64 hex digits"),
    ({"samples": []}, "samples: the list is empty"),
    ({"samples": {"seed": 0}}, "samples: expected a list"),
])
def test_bad_fields(change, needle):
    got = problems(good(**change))
    assert any(needle in p for p in got), got


@pytest.mark.parametrize("field", ["format", "label", "image_size", "latent", "samples"])
def test_missing_fields(field):
    d = good()
    del d[field]
    got = problems(d)
    assert any(f"missing field '{field}'" in p for p in got), got


@pytest.mark.parametrize("sample, needle", [
    ({"boxes": [[0, 0, 4, 4]]}, "samples[1]: needs 'seed' or 'z'"),
    ({"seed": -1, "boxes": []}, "samples[1].seed: expected an integer"),
    ({"seed": 1.5, "boxes": []}, "samples[1].seed: expected an integer"),
    ({"seed": 2 ** 63, "boxes": []}, "samples[1].seed: expected an integer"),
    ({"z": [0.0] * 15, "boxes": []}, "samples[1].z: has 15 numbers, latent.dim is 16"),
    ({"z": [0.0] * 15 + ["a"], "boxes": []}, "samples[1].z: expected a list of finite numbers"),
    ({"z": [0.0] * 15 + [float("nan")], "boxes": []}, "samples[1].z: expected a list of finite numbers"),
    ({"seed": 1}, "samples[1]: missing field 'boxes'"),
    ({"seed": 1, "boxes": [0, 0, 4, 4]}, "samples[1].boxes[0]: expected [x0, y0, x1, y1]"),
    ({"seed": 1, "boxes": "none"}, "samples[1].boxes: expected a list"),
    ("seed 1", "samples[1]: expected an object"),
])
def test_bad_samples(sample, needle):
    d = good()
    d["samples"][1] = sample
    got = problems(d)
    assert any(needle in p for p in got), got


def test_no_positive_box_at_all():
    d = good(samples=[{"seed": 0, "boxes": []}, {"seed": 1, "boxes": []}])
    got = problems(d)
    assert len(got) == 1 and "no box at all in 2 samples" in got[0]


def test_every_problem_reported_one_line_each(tmp_path):
    d = good(image_size=[64, 64])
    d["samples"][0]["boxes"][0] = [10, 0, 5, 5]
    d["samples"][2]["boxes"][1] = [0, 0, 2.5, 2]
    d["samples"][1] = {"boxes": []}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(boxes.BoxFileError) as e:
        boxes.read(path, CONFIG)
    assert len(e.value.problems) == 4
    lines = str(e.value).splitlines()
    assert lines[0] == f"{path}: 4 problems in box file"
    assert all(line.startswith(str(path)) for line in lines)
    for needle in ("image_size 64x64", "samples[0].boxes[0]: empty box", "samples[1]: needs 'seed' or 'z'",
                   "samples[2].boxes[1]: coordinates must be integer pixels"):
        assert any(needle in line for line in lines), lines


@pytest.mark.parametrize("text, needle", [
    ("{not json", "bad JSON"),
    ("[1, 2]", "expected a JSON object at the top level"),
    ("", "bad JSON"),
])
def test_unreadable_files(tmp_path, text, needle):
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(GanlensError, match=needle):
        boxes.read(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(GanlensError, match="no such box file"):
        boxes.read(tmp_path / "nope.json")
    with pytest.raises(GanlensError, match="is a folder"):
        boxes.read(tmp_path)


def test_write_refuses_a_bad_file(tmp_path):
    bf = boxes.parse(good())
    bf.samples[0].boxes = [(5, 5, 1, 1)]
    with pytest.raises(ValueError, match="empty box"):
        boxes.write(tmp_path / "x.json", bf)
    assert not (tmp_path / "x.json").exists()


def test_sha_warning():
    bf = boxes.parse(good(checkpoint_sha256="ab" * 32))
    assert boxes.sha_warning(bf, "b.json", "ab" * 32) is None
    w = boxes.sha_warning(bf, "b.json", "cd" * 32)
    assert "\n" not in w and "b.json" in w and "differs" in w
    assert boxes.sha_warning(boxes.parse(good()), "b.json", "cd" * 32) is None
    assert boxes.sha_warning(bf, "b.json", None) is None        # networks in memory: no file to compare with


def test_checked_against_any_gan_by_its_image_size_nz_and_latent(tmp_path):
    """``model=`` takes a ganlens.GAN of any networks (or a DCGANConfig; ``config=`` still works)."""
    from archs import paper_gan
    gan = paper_gan()                                            # 32x32, nz 16: fits good()
    assert problems(good(), gan) == [] and boxes.validate(good(), config=CONFIG) == []
    bad = good(image_size=[64, 64], latent={"dim": 8, "distribution": "uniform"})
    got = problems(bad, gan)
    assert got[:3] == ["image_size 64x64 does not match the generator's 32x32 images",
                       "latent.dim 8 does not match the generator's nz 16",
                       "latent.distribution 'uniform' does not match the generator's 'normal' latents"]
    assert boxes.validate(bad, config=CONFIG) == got
    path = tmp_path / "b.json"
    path.write_text(json.dumps(good()))
    bf = boxes.read(path, gan)
    assert bf.path == str(path) and boxes.read(path, config=CONFIG) == bf
    assert boxes.check(bf, gan) is bf
    bf.latent_dim = 8
    bf.samples[2].z = None                                     # (z of the wrong length would be a 2nd problem)
    bf.samples[2].seed = 3
    with pytest.raises(boxes.BoxFileError, match="latent.dim 8 does not match") as e:
        boxes.check(bf, gan)
    assert e.value.problems == ["latent.dim 8 does not match the generator's nz 16"]


# --- boxes at feature resolution -----------------------------------------------------------------------

def test_pixel_mask_is_exclusive_of_x1_y1():
    m = boxes.pixel_mask([(1, 2, 4, 3)], 6, 5)
    assert m.shape == (5, 6) and m.sum() == 3
    assert m[2, 1:4].all() and not m[2, 4] and not m[3].any()


@pytest.mark.parametrize("side", [4, 8, 16, 32])
def test_cell_coverage_at_layer_resolutions(side):
    f = 64 // side
    # A box that is exactly cells (1..2) x (0..1) at this resolution.
    box = (0 * f, 1 * f, 2 * f, 3 * f)
    cov = boxes.cell_coverage([box], 64, side)
    want = np.zeros((side, side))
    want[1:3, 0:2] = 1
    np.testing.assert_array_equal(cov, want)
    lab = boxes.cell_labels([box], 64, side)
    np.testing.assert_array_equal(lab, want.astype(np.int8))


def test_cell_labels_partial_and_small_boxes():
    # side 4 at 64 px: cells of 16 px. Box covers cell (0,0) fully and 4 px of cell (0,1) (25%).
    lab = boxes.cell_labels([(0, 0, 20, 16)], 64, 4)
    assert lab[0, 0] == 1 and lab[0, 1] == -1 and lab[1, 0] == 0 and (lab[1:] == 0).all()
    # Half of a cell counts as positive (>= 0.5).
    lab = boxes.cell_labels([(0, 0, 8, 16)], 64, 4)
    assert lab[0, 0] == 1
    # A box smaller than a cell still gives one positive: its most covered cell.
    lab = boxes.cell_labels([(17, 18, 21, 22)], 64, 4)
    assert lab[1, 1] == 1 and (lab == 1).sum() == 1 and (lab == -1).sum() == 0
    # Straddling four cells (2x2 px in each): the first of the equally covered cells is taken.
    lab = boxes.cell_labels([(14, 14, 18, 18)], 64, 4)
    assert (lab == 1).sum() == 1 and lab[0, 0] == 1 and (lab == -1).sum() == 3
    # An empty box list: every cell negative.
    assert (boxes.cell_labels([], 64, 16) == 0).all()


def test_cell_coverage_when_the_side_does_not_divide_the_image():
    """Cells of 32/3 px: cell i spans pixels [i*32/3, (i+1)*32/3); a border pixel counts for both cells by
    the share of it in each. Box (0, 0, 16, 16) covers cell (0, 0) fully, half of cells (0, 1) and (1, 0)
    (16 - 10.67 = 5.33 of 10.67 px) and a quarter of cell (1, 1)."""
    cov = boxes.cell_coverage([(0, 0, 16, 16)], 32, 3)
    np.testing.assert_allclose(cov, [[1, 0.5, 0], [0.5, 0.25, 0], [0, 0, 0]], rtol=0, atol=1e-15)
    lab = boxes.cell_labels([(0, 0, 16, 16)], 32, 3)
    np.testing.assert_array_equal(lab, [[1, 1, 0], [1, -1, 0], [0, 0, 0]])
    # 28 px at side 8 (3.5 px cells): a box on pixels 0..6 is exactly cells (0..1, 0..1).
    np.testing.assert_array_equal(boxes.cell_labels([(0, 0, 7, 7)], 28, 8)[:3, :3], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    # Coverage times cell area adds up to the box's area; a whole-image box covers every cell.
    for side in (3, 5, 7, 10, 13):
        cov = boxes.cell_coverage([(3, 5, 20, 11)], 32, side)
        assert abs(cov.sum() * (32 / side) ** 2 - 17 * 6) < 1e-9
        assert (boxes.cell_coverage([(0, 0, 32, 32)], 32, side) == 1).all()
    # A box smaller than a cell still gives its most covered cell; cells it barely touches are left out.
    lab = boxes.cell_labels([(11, 11, 12, 12)], 32, 3)
    assert lab[1, 1] == 1 and (lab == 1).sum() == 1 and (lab == -1).sum() == 0


def test_cell_coverage_matches_whole_pixel_cells_when_the_side_divides():
    """The integer rule gives exactly the old rule (mean of the f x f pixels of each cell) on random boxes."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        side = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
        bs = []
        for _ in range(int(rng.integers(0, 4))):
            x0, y0 = (int(v) for v in rng.integers(0, 60, 2))
            bs.append((x0, y0, x0 + int(rng.integers(1, 65 - x0)), y0 + int(rng.integers(1, 65 - y0))))
        f = 64 // side
        old = boxes.pixel_mask(bs, 64, 64).astype(np.float32).reshape(side, f, side, f).mean(axis=(1, 3))
        np.testing.assert_array_equal(boxes.cell_coverage(bs, 64, side), old)
