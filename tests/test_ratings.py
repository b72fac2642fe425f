"""ganlens.ratings: the Latin-square design of the blind rating pages, the key and rating files (duplicates,
old formats, damaged keys), the scores on planted answers (high and low), only latents rated in every
condition are scored, Fleiss' kappa, the false-positive rate of the paired rule under its null, and where
the scores are written (never to a path an input file names)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ganlens import cli, forget
from ganlens.data import ratings
from ganlens.core.errors import GanlensError

SHA = "ab" * 32
C = ratings.CONDITIONS


def make_key(n: int = 30, pages: int = 3) -> dict:
    seeds = [1_000_000_000 + i for i in range(n)]
    square = ratings.latin_square(n, pages)
    plan = [{"page": f"p{p}", "file": f"rate-{p + 1}.html",
             "items": [{"image": i, "condition": C[square[p, i]], "seed": s} for i, s in enumerate(seeds)]}
            for p in range(pages)]
    return {"format": ratings.KEY_FORMAT, "label": "window", "forget_sha256": SHA, "pages": plan}


def files_for(key: dict, answer, raters=None) -> list[dict]:
    """One rating file per page: answer(condition, latent index, page) -> True / False / None."""
    return [{"format": ratings.RATINGS_FORMAT, "page": pg["page"], "rater": (raters or {}).get(p, f"r{p:015d}"),
             "answers": [answer(it["condition"], it["seed"] - 1_000_000_000, p) for it in pg["items"]]}
            for p, pg in enumerate(key["pages"])]


def write_all(tmp_path: Path, key: dict, files: list[dict]) -> tuple[Path, list[Path]]:
    kp = tmp_path / "rate.key.json"
    kp.write_text(json.dumps(key))
    paths = []
    for k, f in enumerate(files):
        paths.append(tmp_path / f"r{k}.ratings.json")
        paths[-1].write_text(json.dumps(f))
    return kp, paths


def scored(tmp_path, key, files):
    kp, paths = write_all(tmp_path, key, files)
    k = ratings.check_key(json.loads(kp.read_text()))
    return ratings.score(ratings.read_ratings(paths, k), k)


def test_latin_square_shows_each_latent_once_per_page_and_in_every_condition_across_three():
    sq = ratings.latin_square(60, 3)
    assert sq.shape == (3, 60)
    for p in range(3):                                           # each page: 20 of each condition
        assert np.bincount(sq[p], minlength=3).tolist() == [20, 20, 20]
    assert all(sorted(sq[:, i]) == [0, 1, 2] for i in range(60))  # each latent: every condition once
    pages = ratings.plan_pages(list(range(60)), 3, ["a", "b", "c"])
    assert len({p["page"] for p in pages}) == 3
    for p, pg in enumerate(pages):                               # a secret order, but the square's conditions
        assert sorted(it["seed"] for it in pg["items"]) == list(range(60))
        assert all(it["condition"] == C[sq[p, it["seed"]]] for it in pg["items"])
    assert [it["seed"] for it in pages[0]["items"]] != list(range(60))


def test_scores_on_planted_answers_high_and_low(tmp_path):
    key = make_key(30)
    plan = {"before": set(range(27)), "after": {0, 1, 2, 29}, "control": set(range(26))}
    r = scored(tmp_path, key, files_for(key, lambda c, i, p: i in plan[c]))
    for c, yes in (("before", 27), ("after", 4), ("control", 26)):
        assert r["rates"][c]["yes"] == yes and r["rates"][c]["n"] == 30
        assert r["rates"][c]["ci95"] == ratings.stats.clopper_pearson(yes, 30).as_list()
    assert r["n_latents_scored"] == 30 and r["n_latents_dropped"] == 0 and r["cochran_q"]["p_value"] < 1e-6
    m = r["mcnemar"]
    assert (m["before_vs_after"]["yes_before_only"], m["before_vs_after"]["yes_after_only"]) == (24, 1)
    assert m["before_vs_after"]["differ"] and m["control_vs_after"]["differ"]
    assert not m["before_vs_control"]["differ"] and m["before_vs_control"]["p_value"] == 1.0
    assert r["agreement"]["fleiss_kappa"] is None and "two raters" in r["agreement"]["why"]
    # low: the answer depends on the latent only, never on the condition
    r = scored(tmp_path, key, files_for(key, lambda c, i, p: i % 2 == 0))
    assert r["cochran_q"]["p_value"] == 1.0 and not any(v["differ"] for v in r["mcnemar"].values())
    assert all(r["rates"][c]["rate"] == 0.5 for c in C)


def test_only_latents_rated_in_every_condition_are_scored(tmp_path):
    """Reproducer: two files covering disjoint halves used to give "before 1.00, after 0.00" silently."""
    key = make_key(30)
    files = files_for(key, lambda c, i, p: c != "after")
    with pytest.raises(GanlensError, match="no latent was rated in every condition"):
        scored(tmp_path, key, files[:2])                         # 2 of 3 pages: each latent in 2 conditions
    files[0]["answers"] = [a if k < 10 else None for k, a in enumerate(files[0]["answers"])]
    r = scored(tmp_path, key, files)
    assert r["n_latents_scored"] == 10 and r["n_latents_dropped"] == 20
    assert r["dropped"] == {"not_rated_in_every_condition": 20, "tied_answers": 0}


def test_fleiss_kappa_with_two_raters_per_image(tmp_path):
    key = make_key(30, pages=6)                                  # pages p and p + 3 show the same images
    same = scored(tmp_path, key, files_for(key, lambda c, i, p: (i * 7 + C.index(c)) % 3 == 0))
    assert same["agreement"]["fleiss_kappa"] == pytest.approx(1.0) and same["agreement"]["raters_per_image"] == 2
    rng = np.random.default_rng(0)
    coin = scored(tmp_path, key, files_for(key, lambda c, i, p: bool(rng.random() < 0.5)))
    assert abs(coin["agreement"]["fleiss_kappa"]) < 0.2 and coin["agreement"]["n_images"] == 90 - coin["dropped"]["tied_answers"] * 0


def test_paired_rule_false_positive_rate_under_the_null():
    """Latents differ (some show the object clearly), the three raters of a Latin square differ in bias, the
    edit does nothing: the rule "some pair differs" must fire in at most 5% of runs (+ simulation error).
    One run is scored end to end (the verdict table equals the answers); the rest go through the same rule."""
    rng = np.random.default_rng(1)
    key = ratings.check_key(make_key(40))
    sq = ratings.latin_square(40, 3)                    # (page, latent) -> condition: the rater of each cell
    page_of = np.argsort(sq, axis=0).T                  # (latent, condition) -> page
    runs, fired = 300, 0
    for run in range(runs):
        latent, bias = rng.normal(0, 1.5, 40), rng.normal(0, 0.7, 3)
        x = rng.random((40, 3)) < 1 / (1 + np.exp(-(latent[:, None] + bias[page_of])))
        if run == 0:
            files = [ratings.Rating("f", str(p), f"p{p}", str(p),
                                    [bool(x[s - 1_000_000_000, C.index(c)]) for c, s in key.pages[f"p{p}"]])
                     for p in range(3)]
            assert ratings.score(files, key)["mcnemar"] == ratings.paired_tests(x)["mcnemar"]
        fired += any(v["differ"] for v in ratings.paired_tests(x)["mcnemar"].values())
    assert fired / runs <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / runs), fired


@pytest.mark.parametrize("change, needle", [
    (lambda f, k: f.update(page="other"), "rates page 'other', which is not one of the key's 3 pages"),
    (lambda f, k: f.update(format="x"), "not a ratings file"),
    (lambda f, k: f.update(format="ganlens.ratings/1"), "older, not blind"),
    (lambda f, k: f.update(answers=[True]), "must hold 30 values"),
    (lambda f, k: f.update(answers=["yes"] * 30), "each true, false or null"),
    (lambda f, k: f.pop("rater"), 'no "rater" id'),
    (lambda f, k: k["pages"][0]["items"].__setitem__(1, dict(k["pages"][0]["items"][0])), "twice; a page shows"),
    (lambda f, k: k["pages"][0]["items"][1].update(seed=k["pages"][0]["items"][0]["seed"]), "as "),
    (lambda f, k: k.update(format="ganlens.ratings-key/1"), "older rating page"),
    (lambda f, k: k.pop("forget_sha256"), "no \"forget_sha256\""),
    (lambda f, k: k["pages"][1].update(page="p0"), "needs a page id of its own"),
])
def test_bad_key_and_rating_files_are_one_line_errors(tmp_path, change, needle):
    key = make_key(30)
    files = files_for(key, lambda c, i, p: True)
    change(files[0], key)
    kp, paths = write_all(tmp_path, key, files)
    with pytest.raises(GanlensError, match=needle.replace("(", r"\(")):
        ratings.add_ratings(kp, paths)


def test_the_same_file_or_rater_twice_is_refused(tmp_path):
    """Reproducer: the same rating file given 50 times counted as 50 raters."""
    key = make_key(30)
    files = files_for(key, lambda c, i, p: i % 3 == 0)
    kp, paths = write_all(tmp_path, key, files)
    with pytest.raises(GanlensError, match="the same ratings as"):
        ratings.add_ratings(kp, paths + [paths[0]] * 49)
    files[1]["rater"] = files[0]["rater"]                        # one browser rated two pages
    kp, paths = write_all(tmp_path, key, files)
    with pytest.raises(GanlensError, match="rater r000000000000000 again"):
        ratings.add_ratings(kp, paths)


def test_scores_are_written_beside_the_key_never_where_the_key_says(tmp_path):
    """Reproducer: a key's forget_json naming an unrelated file (absolute or ../..) had it rewritten."""
    victim = tmp_path / "victim" / "package.json"
    victim.parent.mkdir()
    victim.write_text('{"name": "x"}')
    run = tmp_path / "a" / "b"
    run.mkdir(parents=True)
    (run / "forget.json").write_text('{"dropped_maps": [1]}')
    for target in (str(victim), "../../victim/package.json"):
        key = {**make_key(30), "forget_json": target, "forget_sha256": ratings.sha256_file(run / "forget.json")}
        kp, paths = write_all(run, key, files_for(key, lambda c, i, p: c != "after"))
        block, out = ratings.add_ratings(kp, paths)
        assert out == run / "human_ratings.json" and victim.read_text() == '{"name": "x"}'
        assert json.loads(out.read_text())["rates"]["after"]["yes"] == 0
    (run / "forget.json").write_text('{"dropped_maps": [2]}')   # remade after the pages were written
    with pytest.raises(GanlensError, match="not the forget result the rating pages"):
        ratings.add_ratings(kp, paths)
    block, out = ratings.add_ratings(kp, paths, tmp_path / "scores")
    assert out == tmp_path / "scores" / "human_ratings.json" and block["n_raters"] == 3


def test_forget_ratings_command(tmp_path, capsys):
    key = make_key(30)
    kp, paths = write_all(tmp_path, {**key, "forget_json": "/etc/passwd"}, files_for(key, lambda c, i, p: c != "after"))

    def run(argv):
        return cli.run(forget.main, [str(a) for a in argv], forget.PROG)
    assert run(["--ratings", *paths, "--key", kp]) == 0
    err = capsys.readouterr().err
    assert "3 raters; 30 latents rated in every condition (0 dropped)" in err and "after 0.00 [0.00, 0.12]" in err
    assert (tmp_path / "human_ratings.json").is_file()
    assert run(["--ratings", paths[0]]) == 2 and "needs --key" in capsys.readouterr().err
    assert run(["--ratings", paths[0], "--key", tmp_path / "nope.json"]) == 2
    assert "no such rating key" in capsys.readouterr().err
    assert run(["--ratings", paths[0], paths[0], "--key", kp]) == 2
    assert capsys.readouterr().err.count("\n") == 1
