"""Fig. 4 of the paper (latent walks, with the memorization test): the settings of its run and its captions,
built from the saved JSON. The registry names :data:`FIGURE`; ``ganlens.paper`` runs it."""

from __future__ import annotations

from ganlens.core.latex import PaperFigure, count, fmt, latex_escape, model_name, model_sha256, tt


def caption_walk(j: dict) -> str:
    s, m = j["settings"], j["summary"]
    seeds = [x for r in j["rows"] for x in r["seeds"]]
    text = (f"Latent walks of {model_name(j)}. Each of the {s['rows']} rows visits {s['points']} random latents "
            f"(seeds {min(seeds)}--{max(seeds)}) in {s['steps']} equal {latex_escape(s['interp'])} steps "
            f"({s['frames_per_row']} frames; frames 0, {s['steps']}, {2 * s['steps']}, \\dots{{}} are the points). "
            f"Median step {fmt(m['step_distance'], 3)} (RMS pixel difference, pixels in $[0,1]$); sharpness "
            f"(largest / median step of a walk) at most {fmt(m['sharpness'])}; {m['jumps']} step(s) larger than "
            f"{s['jump_factor']:g}$\\times$ the walk's median (marked in red).")
    mem = j.get("memorization")
    if mem:
        text += (f" Nearest-neighbour test against the {count(mem['reference_images'])} training images "
                 f"({tt(mem['data'])}; {count(mem['samples'])} samples, {count(mem['heldout_images'])} "
                 f"held-out real images): {latex_escape(mem['verdict'])}{_flagged(mem)}. " + _memorization_numbers(mem))
    return text


def _space_name(s: str) -> str:
    return "D-feature" if s == "feature" else s


def _flagged(mem: dict) -> str:
    return f" (flagged by {' and '.join(map(_space_name, mem['flagged_by']))} space)" if mem.get("flagged_by") else ""


def _memorization_numbers(mem: dict) -> str:
    """Every space's data-copying C_T and near-copy share, and the rule (every space votes)."""
    r, sp = mem["rule"], mem["spaces"]
    ct = ", ".join(f"{_space_name(s)} {fmt(e['data_copying']['C_T'])}" if e["data_copying"]["C_T"] is not None
                   else f"{_space_name(s)} n/a" for s, e in sp.items())
    cf = ", ".join(f"{_space_name(s)} {fmt(e['copy_fraction'], 3)}" for s, e in sp.items())
    return (f"Data-copying $C_T$ (Meehan et al.\\ 2020: their Mann-Whitney $z$ with continuity correction, cells "
            f"holding more than 20 of the samples): {ct}; share of near-copies: "
            f"{cf}. Every space votes: copying if, in any space, $C_T < {r['C_T_below']:g}$ or the share exceeds "
            f"{fmt(r['copy_fraction_above'])}.")


def caption_neighbours(j: dict) -> str:
    mem = j["memorization"]
    groups = ", ".join(f"{latex_escape(g['name'])} ({g['count']})" for g in mem["shown"]["groups"])
    spaces = " and ".join("D-feature" if s == "feature" else s for s in j["spaces"])
    rows = f"rows 2--{1 + len(j['spaces'])}" if len(j["spaces"]) > 1 else "row 2"
    return (f"Memorization check of {model_name(j)}. Row 1: query images, in groups {groups}; {rows}: their nearest "
            f"training images in {spaces} space, among the {count(mem['reference_images'])} images of "
            f"{tt(mem['data'])}. Verdict (every space votes): {latex_escape(mem['verdict'])}{_flagged(mem)}.")



def _walk_settings(j):
    out = dict(j["settings"])
    if j.get("memorization"):
        m = j["memorization"]
        out["memorization"] = {k: m[k] for k in ("data", "heldout", "samples", "heldout_images", "cells_requested",
                                                 "limit", "reference_images")}
    return out


FIGURE = PaperFigure(
    "fig4_walk", "Fig. 4 (latent walks) with a memorization test", "ganlens.walk", "walk.json",
    ("--rows", "4", "--points", "9", "--steps", "8", "--interp", "auto",
     "--data", "rooms", "--samples", "512", "--holdout", "512", "--cells", "10"),
    {"walk": caption_walk, "neighbours": caption_neighbours},
    {"walk": "fig4_walk", "neighbours": "fig4_neighbours"},
    _walk_settings, model_sha256)
