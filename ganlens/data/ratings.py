"""Blind human ratings of a forget run: the pages' design, the key and rating file formats, and the scores.

A person judges whether ``python -m ganlens.forget`` removed an object without knowing which images were
edited. Showing one latent before, after and with random maps dropped on one page is not blind: the three
are recognisably the same scene and the edit is the odd one out. So ``python -m ganlens.annotate --rate
FORGET --raters R`` writes **R pages**, one per rater, that hold every latent **once**, in one condition:
latent ``i`` is shown on page ``p`` in condition ``(i + p) mod 3`` (a Latin square; with R a multiple of 3
every latent is seen in every condition equally often and every page shows each condition on a third of
its images). Every image is sent as its raw pixels (``H * W * C`` bytes, base64) and drawn on a canvas, so
its encoded size is the same for every image and says nothing about its condition (a PNG's size did: the
unedited image was the smallest of its triplet in 43 of 60). The order of a page is a secret random
permutation, fixed when the page is written. Which image is which lives only in the **key** (one file for
all pages).

Key ``ganlens.ratings-key/2``::

    {"format", "label", "question", "forget_sha256": sha256 of the forget.json the pages were made from,
     "dropped_maps", "control_maps", "conditions": {condition: what it is}, "design",
     "detector": {"seeds": [...], "before" / "after" / "control": [bool, ...]} or null,
     "pages": [{"page": id, "file": "rate-1.html", "items": [{"image": k, "condition": c, "seed": s}]}]}

Rating file ``ganlens.ratings/2`` (the page's Download): ``{"format", "page", "rater": a random id kept by
the rater's browser, "answers": [true / false / null per image, in page order]}``.

Scoring (:func:`score`): each (latent, condition) gets the majority of its raters' answers (ties are left
out); only latents with an answer in **every** condition are scored, and the JSON says how many were
dropped and why. Rates per condition with exact (Clopper-Pearson) 95% intervals; Cochran's Q over the
latents (one block per latent, the three conditions paired), then exact McNemar tests of each pair of
conditions with Benjamini-Hochberg over the three; Fleiss' kappa over the images seen by two or more
raters; and, where forget had a detector, how often the raters' verdict matches it. The same file twice, or
two files of one rater (one browser), are refused: a rater is one cluster, counted once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganlens import stats
from ganlens.data.boxes import read_json
from ganlens.core.errors import GanlensError
from ganlens.core.results import provenance, write_json

RATINGS_FORMAT = "ganlens.ratings/2"        # what a rating page downloads
KEY_FORMAT = "ganlens.ratings-key/2"        # the pages' hidden key
CONDITIONS = ("before", "after", "control")
PAIRS = (("before", "after"), ("before", "control"), ("control", "after"))
OUT_NAME = "human_ratings.json"
DESIGN = ("Latin square: latent i on page p in condition (i + p) mod 3, each latent once per page; images as raw "
          "pixels of equal length drawn on a canvas; order per page a secrets.SystemRandom permutation")


# ------------------------------------------------------------------------------------------ the pages

def latin_square(n_latents: int, n_pages: int) -> np.ndarray:
    """(n_pages, n_latents) condition index (into :data:`CONDITIONS`) of each latent on each page."""
    return (np.arange(n_latents)[None, :] + np.arange(n_pages)[:, None]) % len(CONDITIONS)


def plan_pages(seeds: list[int], n_pages: int, names: list[str]) -> list[dict]:
    """The key's ``pages``: page ``p`` shows every latent once, in its Latin-square condition, in a secret
    random order (``secrets``, not any seed: nothing can replay it)."""
    square, rng = latin_square(len(seeds), n_pages), secrets.SystemRandom()
    pages = []
    for p in range(n_pages):
        order = list(range(len(seeds)))
        rng.shuffle(order)
        items = [{"image": k, "condition": CONDITIONS[square[p, i]], "seed": int(seeds[i])}
                 for k, i in enumerate(order)]
        pages.append({"page": secrets.token_hex(8), "file": names[p], "items": items})
    return pages


def pixels_base64(image: np.ndarray) -> str:
    """uint8 (H, W, C) -> base64 of its raw bytes: the same length for every image of one size."""
    return base64.b64encode(np.ascontiguousarray(image, np.uint8).tobytes()).decode("ascii")


def check_forget_json(j, where, channels: int) -> None:
    """A forget.json the rating pages can be made from, or a one-line error naming what is damaged."""
    def fail(problem):
        raise GanlensError(f"--rate {where}: {problem}; run python -m ganlens.forget again")
    if not isinstance(j.get("settings"), dict) or not isinstance(j["settings"].get("layer"), str):
        fail('"settings" must be an object naming the layer')
    if not isinstance(j.get("label"), str):
        fail('"label" must be a string')
    w = (j.get("probe") or {}).get("weights") if isinstance(j.get("probe"), dict) else None
    if not isinstance(w, list):
        fail('no probe weights ("probe": {"weights": [...]})')
    if len(w) != channels:
        raise GanlensError(f"--rate {where}: the layer of this model has {channels} maps, the result {len(w)}; "
                           f"pass the same --checkpoint / --model")
    if not _maps(j.get("dropped_maps"), channels) or not j["dropped_maps"]:
        fail(f'"dropped_maps" must list map indices 0..{channels - 1}')
    sets = (j.get("control") or {}).get("maps") if isinstance(j.get("control"), dict) else None
    if not isinstance(sets, list) or not sets or not all(_maps(s, channels) and s for s in sets):
        fail(f'"control" must hold random map sets ("maps": [[indices 0..{channels - 1}], ...])')


def _maps(v, channels: int) -> bool:
    return isinstance(v, list) and all(isinstance(m, int) and not isinstance(m, bool) and 0 <= m < channels
                                       for m in v) and len(set(v)) == len(v)


# ------------------------------------------------------------------------------------------ reading

@dataclass
class Key:
    """A checked key: per page id, its items as (condition, seed) in page order; the raw dict."""
    pages: dict[str, list[tuple[str, int]]]
    raw: dict


@dataclass
class Rating:
    """One rater's file: where it came from, its content hash, page, rater id and answers."""
    file: str
    sha256: str
    page: str
    rater: str
    answers: list


def check_key(obj, where: str = "key") -> Key:
    """A rating key (``ganlens.ratings-key/2``) or a one-line error (old format, damaged, duplicates)."""
    if isinstance(obj, dict) and obj.get("format") == "ganlens.ratings-key/1":
        raise GanlensError(f"{where}: a key of an older rating page that showed every condition of a latent on "
                           f"one page (not blind); write new pages with python -m ganlens.annotate --rate")
    if not isinstance(obj, dict) or obj.get("format") != KEY_FORMAT:
        raise GanlensError(f"{where}: not a rating key (expected format {KEY_FORMAT!r})")
    if not isinstance(obj.get("forget_sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", obj["forget_sha256"]):
        raise GanlensError(f'{where}: no "forget_sha256" (the sha256 of the forget.json the pages show)')
    pages = obj.get("pages")
    if not isinstance(pages, list) or not pages:
        raise GanlensError(f'{where}: "pages" must list the rating pages')
    out: dict[str, list[tuple[str, int]]] = {}
    for n, page in enumerate(pages):
        pid = page.get("page") if isinstance(page, dict) else None
        if not isinstance(pid, str) or pid in out:
            raise GanlensError(f"{where}: pages[{n}] needs a page id of its own (got {pid!r})")
        out[pid] = _page_items(page.get("items"), f"{where}: page {pid}")
    return Key(out, obj)


def _page_items(items, where: str) -> list[tuple[str, int]]:
    if not isinstance(items, list) or not items or not all(
            isinstance(i, dict) and i.get("condition") in CONDITIONS and isinstance(i.get("seed"), int)
            and not isinstance(i.get("seed"), bool) for i in items):
        raise GanlensError(f'{where}: "items" must list {{condition: {"/".join(CONDITIONS)}, seed: int}} objects')
    got = [(i["condition"], i["seed"]) for i in items]
    seen: dict[int, str] = {}
    for c, s in got:
        if s in seen:
            again = "twice" if seen[s] == c else f"as {seen[s]} and as {c}"
            raise GanlensError(f"{where}: lists latent seed {s} {again}; a page shows each latent once")
        seen[s] = c
    return got


def read_rating(path, key: Key) -> Rating:
    """One rating file, checked against the key: format, page, rater id and one answer per image."""
    path = Path(path)
    if not path.is_file():
        raise GanlensError(f"{path}: no such ratings file" if not path.exists() else f"{path}: is not a file")
    obj = read_json(path)
    if isinstance(obj, dict) and obj.get("format") == "ganlens.ratings/1":
        raise GanlensError(f"{path}: ratings of an older, not blind, rating page; rate the new pages")
    if not isinstance(obj, dict) or obj.get("format") != RATINGS_FORMAT:
        raise GanlensError(f"{path}: not a ratings file (expected format {RATINGS_FORMAT!r})")
    page, rater, answers = obj.get("page"), obj.get("rater"), obj.get("answers")
    if page not in key.pages:
        raise GanlensError(f"{path}: rates page {page!r}, which is not one of the key's {len(key.pages)} pages")
    if not isinstance(rater, str) or not rater:
        raise GanlensError(f'{path}: no "rater" id (the page writes one)')
    n = len(key.pages[page])
    if not isinstance(answers, list) or len(answers) != n or not all(a is None or isinstance(a, bool) for a in answers):
        raise GanlensError(f'{path}: "answers" must hold {n} values, each true, false or null')
    canon = json.dumps({"page": page, "rater": rater, "answers": answers}, sort_keys=True)
    return Rating(str(path), hashlib.sha256(canon.encode()).hexdigest(), page, rater, answers)


def read_ratings(paths, key: Key) -> list[Rating]:
    """Every rater's file; the same content twice or one rater twice is refused (a rater counts once)."""
    out: list[Rating] = []
    for p in paths:
        r = read_rating(p, key)
        for o in out:
            if o.sha256 == r.sha256:
                raise GanlensError(f"{r.file}: the same ratings as {o.file}; give each rater's file once")
            if o.rater == r.rater:
                raise GanlensError(f"{r.file}: rater {r.rater} again (also {o.file}); one rater rates one page "
                                   f"once, or they would see a latent in two conditions")
        out.append(r)
    if not any(a is not None for r in out for a in r.answers):
        raise GanlensError("no image was rated in any ratings file")
    return out


# ------------------------------------------------------------------------------------------ scoring

def answer_table(ratings: list[Rating], key: Key) -> dict[tuple[int, str], list[bool]]:
    """(seed, condition) -> every answer given to that image, over all raters."""
    table: dict[tuple[int, str], list[bool]] = {}
    for r in ratings:
        for (c, s), a in zip(key.pages[r.page], r.answers):
            if a is not None:
                table.setdefault((s, c), []).append(a)
    return table


def majority(answers: list[bool]) -> bool | None:
    """The majority verdict of one image's answers; None on a tie."""
    yes = sum(answers)
    return None if 2 * yes == len(answers) else 2 * yes > len(answers)


def complete_latents(table: dict) -> tuple[list[int], np.ndarray, dict]:
    """(seeds, (n, 3) verdicts, dropped counts): the latents with a verdict in every condition."""
    seeds = sorted({s for s, _ in table})
    verdict = {k: majority(v) for k, v in table.items()}
    keep, rows, tied, missing = [], [], 0, 0
    for s in seeds:
        got = [verdict.get((s, c)) for c in CONDITIONS]
        if all(v is not None for v in got):
            keep.append(s)
            rows.append(got)
        elif any((s, c) in table and verdict[(s, c)] is None for c in CONDITIONS):
            tied += 1
        else:
            missing += 1
    dropped = {"not_rated_in_every_condition": missing, "tied_answers": tied}
    return keep, np.array(rows, bool).reshape(-1, len(CONDITIONS)), dropped


def paired_tests(x: np.ndarray) -> dict:
    """Cochran's Q over latents (rows) and the three conditions, then exact McNemar of each pair with
    Benjamini-Hochberg over the three."""
    q = stats.cochran_q(x)
    tests = [stats.mcnemar(x[:, CONDITIONS.index(a)], x[:, CONDITIONS.index(b)]) for a, b in PAIRS]
    found = stats.benjamini_hochberg(np.array([t.p for t in tests]))
    pairs = {f"{a}_vs_{b}": {f"yes_{a}_only": t.a_only, f"yes_{b}_only": t.b_only, "p_value": t.p,
                             "differ": bool(f and q.p < stats.LEVEL)}
             for (a, b), t, f in zip(PAIRS, tests, found)}
    return {"cochran_q": {"Q": float(q.statistic), "p_value": float(q.p), "n_latents": int(len(x))},
            "mcnemar": pairs,
            "rule": f"pairs differ when Cochran's Q p < {stats.LEVEL} and the pair's exact McNemar test is a "
                    f"Benjamini-Hochberg discovery at q = {stats.LEVEL} among the three pairs"}


def agreement(table: dict) -> dict:
    """Fleiss' kappa over the images rated by the most common number (>= 2) of raters."""
    counts = [len(v) for v in table.values() if len(v) >= 2]
    if not counts:
        return {"fleiss_kappa": None, "n_images": 0,
                "why": "no image was rated by two raters (each page shows a latent once; with --raters 6 or "
                       "more, or two raters of one page, images are rated twice)"}
    m = max(set(counts), key=counts.count)
    rows = [[len(v) - sum(v), sum(v)] for v in table.values() if len(v) == m]
    return {"fleiss_kappa": stats.fleiss_kappa(np.array(rows)), "n_images": len(rows), "raters_per_image": m}


def detector_agreement(table: dict, detector: dict | None) -> dict | None:
    """How often the raters' majority verdict and forget's detector agree on the same image."""
    if not detector:
        return None
    where = {int(s): i for i, s in enumerate(detector["seeds"])}
    pairs = [(v, bool(detector[c][where[s]])) for (s, c), a in table.items()
             if s in where and (v := majority(a)) is not None]
    if not pairs:
        return {"n": 0}
    h, d = np.array(pairs, bool).T
    return {"n": len(pairs), "agree": float((h == d).mean()), "both_yes": int((h & d).sum()),
            "both_no": int((~h & ~d).sum()), "raters_yes_detector_no": int((h & ~d).sum()),
            "raters_no_detector_yes": int((~h & d).sum())}


def condition_rates(x: np.ndarray) -> dict:
    """Per condition: yes / n over the scored latents with its exact 95% interval."""
    out = {}
    for j, c in enumerate(CONDITIONS):
        yes, n = int(x[:, j].sum()), int(len(x))
        ci = stats.clopper_pearson(yes, n)
        out[c] = {"yes": yes, "n": n, "rate": yes / n if n else None, "ci95": ci.as_list() if ci else None}
    return out


def score(ratings: list[Rating], key: Key) -> dict:
    """Every rater's answers -> rates, paired tests and agreement on the latents rated in every condition."""
    table = answer_table(ratings, key)
    seeds, x, dropped = complete_latents(table)
    n_latents = len({s for s, _ in table})
    if not seeds:
        raise GanlensError(f"no latent was rated in every condition ({', '.join(CONDITIONS)}) by these "
                           f"{len(ratings)} file(s) of {len(set(r.page for r in ratings))} of the key's "
                           f"{len(key.pages)} pages: each page shows a latent in one condition, so score the "
                           f"files of every page together")
    raters = [{"file": r.file, "page": r.page, "rater": r.rater, "n_rated": sum(a is not None for a in r.answers),
               "n_images": len(r.answers)} for r in ratings]
    return {"n_raters": len(ratings), "raters": raters, "n_latents_rated": n_latents, "n_latents_scored": len(seeds),
            "n_latents_dropped": n_latents - len(seeds), "dropped": dropped,
            "verdict_per_image": "majority of the raters who saw it (a tie leaves the latent out)",
            "rates": condition_rates(x), "ci_method": "exact (Clopper-Pearson) 95%, stats.clopper_pearson",
            **paired_tests(x), "agreement": agreement(table),
            "agreement_with_detector": detector_agreement(table, key.raw.get("detector"))}


# ------------------------------------------------------------------------------------------ the command's work

def sha256_file(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def add_ratings(key_path, rating_paths, out=None) -> tuple[dict, Path]:
    """Score the raters' files against the key and write ``human_ratings.json`` into ``out`` (a folder), or
    beside the key. No output path is ever taken from an input file; where that folder holds a forget.json,
    it must be the one the pages were made from (its sha256 is in the key). Returns (the JSON, its path)."""
    key_path = Path(key_path)
    if not key_path.is_file():
        raise GanlensError(f"{key_path}: no such rating key" if not key_path.exists() else f"{key_path}: not a file")
    key = check_key(read_json(key_path), str(key_path))
    folder = Path(out) if out is not None else key_path.parent
    target = folder / "forget.json"
    if target.is_file() and sha256_file(target) != key.raw["forget_sha256"]:
        raise GanlensError(f"{target}: not the forget result the rating pages of {key_path} were made from (its "
                           f"sha256 differs from the key's); write the scores elsewhere with --out DIR")
    ratings = read_ratings(rating_paths, key)
    block = {"format": "ganlens.human-ratings/1", "key": str(key_path), "key_sha256": sha256_file(key_path),
             "forget_sha256": key.raw["forget_sha256"], "label": key.raw.get("label"),
             "question": key.raw.get("question"), "conditions": key.raw.get("conditions"),
             "design": key.raw.get("design"), **score(ratings, key),
             "provenance": provenance(call="ganlens.ratings.add_ratings")}
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / OUT_NAME, block)
    return block, folder / OUT_NAME
