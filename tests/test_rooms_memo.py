"""Rendered rooms scenes kept during a command (ganlens.data.rooms.memo): same arrays, bounded, released."""

import numpy as np
import pytest

from ganlens.data.rooms import make_rooms, memo, scene


def _counting(monkeypatch):
    calls = []
    real = scene.render_room

    def render(rng, size=64):
        calls.append(size)
        return real(rng, size)
    monkeypatch.setattr(scene, "render_room", render)
    return calls


def test_kept_scenes_are_identical_and_rendered_once(monkeypatch):
    fresh_images, fresh_masks = make_rooms(6, size=32, seed=3, start=2)
    calls = _counting(monkeypatch)
    with memo.kept():
        a = make_rooms(6, size=32, seed=3, start=2)
        b = make_rooms(4, size=32, seed=3, start=6)       # 6, 7 kept; 8, 9 new
        assert len(calls) == 6 + 2
        b[0][0] = 0                                        # a caller's array is its own copy
        c = make_rooms(6, size=32, seed=3, start=2)
    assert len(calls) == 8
    for x, y in ((a, (fresh_images, fresh_masks)), (c, (fresh_images, fresh_masks))):
        assert np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])
    assert np.array_equal(b[0][1], fresh_images[5]) and np.array_equal(b[1][:2], fresh_masks[4:])


def test_nothing_is_kept_outside_the_block_or_beyond_the_limit(monkeypatch):
    calls = _counting(monkeypatch)
    make_rooms(2, size=32, seed=1)
    make_rooms(2, size=32, seed=1)
    assert len(calls) == 4 and memo.get((1, 32, 0)) is None
    per_scene = 32 * 32 * 4
    with memo.kept(limit=3 * per_scene):
        make_rooms(5, size=32, seed=1)
        assert [memo.get((1, 32, i)) is not None for i in range(5)] == [True, True, True, False, False]
        with memo.kept():                                  # nested: the outer store
            make_rooms(5, size=32, seed=1)
        assert len(calls) == 4 + 5 + 2
    assert memo.get((1, 32, 0)) is None                   # released when the block ends


def test_the_paper_tool_and_the_memorization_check_keep_scenes_only_while_they_run(monkeypatch, tmp_path):
    from ganlens.analyses.memorization import compute
    from ganlens.tools.paper import build
    from ganlens.tools.paper.runner import Job
    seen = []

    def report(*args, **kw):                          # stands in for the search: is a block active?
        make_rooms(1, size=16, seed=9)
        seen.append(memo.get((9, 16, 0)) is not None)
        raise RuntimeError("stop")
    monkeypatch.setattr(compute, "report", report)
    monkeypatch.setattr(compute, "heldout_images", lambda *a: (None, None, None))
    monkeypatch.setattr(compute, "images", lambda *a, **k: None)

    class G:
        provenance, latents = None, staticmethod(lambda seeds: None)
    with pytest.raises(RuntimeError, match="stop"):
        compute.check(G(), None, [], n=2)
    assert seen == [True] and memo.get((9, 16, 0)) is None

    def generate(figs, stage, job):                   # stands in for the figures
        make_rooms(1, size=16, seed=8)
        seen.append(memo.get((8, 16, 0)) is not None)
        raise RuntimeError("stop")
    monkeypatch.setattr(build, "generate", generate)
    job = Job(out=tmp_path / "paper", tex_prefix="", base={"gan": None}, extra={}, call=None)
    with pytest.raises(RuntimeError, match="stop"):
        build.run({}, [], job, None)
    assert seen == [True, True] and memo.get((8, 16, 0)) is None


def test_other_commands_keep_nothing():
    # a command that renders its scenes once (the trainer loads them all) must not hold a second copy
    from ganlens import cli
    seen = []
    assert cli.run(lambda argv: seen.append(make_rooms(1, size=16, seed=7) and memo.get((7, 16, 0))), [], "t") == 0
    assert seen == [None]
