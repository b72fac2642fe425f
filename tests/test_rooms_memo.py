"""Rendered rooms scenes kept during a command (ganlens.data.rooms.memo): same arrays, bounded, released."""

import numpy as np

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


def test_commands_keep_scenes_during_their_run(monkeypatch):
    from ganlens import cli
    seen = []
    assert cli.run(lambda argv: seen.append(memo.get((9, 16, 0)) is None and make_rooms(1, size=16, seed=9)
                                            and memo.get((9, 16, 0)) is not None), [], "test") == 0
    assert seen == [True] and memo.get((9, 16, 0)) is None
