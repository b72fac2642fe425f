"""Blind human ratings of a forget run, scored: the raters' files (from the pages ``python -m ganlens.annotate
--rate`` writes) against the pages' key -> ``human_ratings.json`` (:func:`ganlens.data.ratings.add_ratings`)."""

from __future__ import annotations

from pathlib import Path

from ganlens.data import ratings


def score_ratings(key: str | Path, files: list, out: str | Path | None = None) -> tuple[dict, Path, str]:
    """Score the raters' ``files`` against ``key`` into human_ratings.json beside the key, or into ``out``.
    Returns (the JSON, its path, one line: raters, latents scored, the rate per condition, Cochran's Q)."""
    block, path = ratings.add_ratings(key, files, out)
    r = block["rates"]
    shown = ", ".join(f"{c} {'n/a' if r[c]['rate'] is None else format(r[c]['rate'], '.2f')} "
                      f"[{r[c]['ci95'][0]:.2f}, {r[c]['ci95'][1]:.2f}]" for c in ratings.CONDITIONS)
    q = block["cochran_q"]
    line = (f"{block['n_raters']} raters; {block['n_latents_scored']} latents rated in every condition "
            f"({block['n_latents_dropped']} dropped); {block['label']} rate {shown}; Cochran's Q p = "
            f"{q['p_value']:.2g}; wrote {path}")
    return block, path, line
