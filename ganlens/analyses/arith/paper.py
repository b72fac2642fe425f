"""Fig. 7 (vector arithmetic) and Fig. 8 (a turn) of the paper: the settings of their run and their captions,
built from the saved JSON. The registry names :data:`FIGURE`; ``ganlens.paper`` runs it."""

from __future__ import annotations

from ganlens.core.latex import PaperFigure, count, fmt, latex_escape, model_name, model_sha256


def _terms(j: dict) -> str:
    out = ""
    for t in j["terms"]:
        c = t["coef"]
        sign = "-" if c < 0 else "+"
        mag = "" if abs(c) == 1 else f"{abs(c):g}\\,"
        out += f" {sign} " if out else ("-" if c < 0 else "")
        out += f"{mag}\\textit{{{latex_escape(t['concept'])}}}"
    return f"${out}$".replace("\\textit", "\\mathit")


def caption_arith(j: dict) -> str:
    s = j["settings"]
    counts = sorted({c["count"] for c in j["concepts"].values()})
    norm = ("" if s.get("norm", "none") == "none" else
            f", rescaled to the typical latent norm {fmt(j['result']['typical_norm'])} (as is $Y$)")
    text = (f"Vector arithmetic on the latents of {model_name(j)}: {_terms(j)}, each concept the mean of "
            f"{'/'.join(map(str, counts))} exemplar latents{norm}. The centre of the $3\\times3$ grid is the result "
            f"$Y$, its {s['neighbours']} neighbours $Y$ + uniform noise $\\pm{fmt(s['noise_amplitude'], 3)}$ per "
            f"coordinate (red frame: $Y$); the same arithmetic on the exemplar images (pixel space) is shown for "
            f"comparison.")
    m = j.get("measure") or {}
    if m:
        q = m["judge"].get("heldout_quality") or {}
        pr = "; ".join(f"{latex_escape(a)} precision {fmt(v['image_precision'])}, recall {fmt(v['image_recall'])}"
                       for a, v in q.items())
        text += (f" Samples judged by the {latex_escape(m['judge']['name'])}"
                 + (f" (on held-out rooms: {pr})" if pr else "")
                 + f"; yellow dot: {latex_escape(s['target'])}, green square: {latex_escape(s['context'])}.")
    if m.get("auto_concepts"):
        a = m["auto_concepts"]
        text += (f" Exemplars: the first 3 seeds of each pool into which the judge sorts {count(a['candidates'])} "
                 f"samples (pool sizes: {', '.join(f'{latex_escape(k)} {v}' for k, v in a['pools'].items())}).")
    c = j.get("claim")
    if c:
        r = c["rates"]
        lost = [k.replace("_", " ") for k in ("A_plus_C", "null", "pixel") if not c["beats"][k]]
        where = (f"over {j['trials']['draws']} random draws of exemplars" if c["from"] == "trials"
                 else "for these exemplars")
        text += (f" Rate of \\emph{{{latex_escape(c['measure'])}}} {where} ({count(c['samples'])} samples): $Y$ "
                 f"{fmt(r['Y']['rate'])}"
                 + (f" [{fmt(r['Y']['ci95'][0])}, {fmt(r['Y']['ci95'][1])}]" if r['Y']['ci95'] else "")
                 + f" (95\\% interval by bootstrap over draws); with the same noise, the expression without its "
                 f"subtraction ($A + C$, scaled to $|Y|$) {fmt(r['A_plus_C']['rate'])}, a norm-matched null (random "
                 f"exemplars for all but the last concept, scaled to $|Y|$) {fmt(r['null']['rate'])}; pixel-space "
                 f"arithmetic {fmt(r['pixel']['rate'])} (vs {fmt(c['Y_centre']['rate'])} for $Y$'s centre); the first "
                 f"concept alone {fmt(r['A_alone']['rate'])}. The samples of one draw share its exemplars, so the "
                 f"rule counts draws: $Y$ beats a control when more draws have $Y$ above it than below and the sign "
                 f"test over draws gives $p < {s['alpha']:g}$; the claim stands only if $Y$ "
                 f"beats all three: " + ("it stands." if c["claim_stands"] else f"it does not ({', '.join(lost)}).")
                 + " Second figure: $Y$ and each control for the exemplars shown.")
    return text


def caption_turn(j: dict) -> str:
    t = j["turn"]
    a, b = latex_escape(t["from"]), latex_escape(t["to"])
    vec = "mean" if t.get("norm", "none") == "none" else "v"
    text = (f"Walking along $d = \\mathrm{{{vec}}}(\\mathit{{{b}}}) - \\mathrm{{{vec}}}(\\mathit{{{a}}})$ in the "
            f"latent space of {model_name(j)}, $t$ from 0 to 1 in {t['steps']} frames. Top row: "
            f"{vec}({a}) + $t\\,d$; other rows: seeds {', '.join(map(str, t['seeds']))} + $t\\,d$ "
            f"($|d| = {fmt(t['direction_norm'])}$)" + ("" if vec == "mean" else "; v: the exemplars' mean rescaled to "
                                                        "the typical latent norm") + ".")
    rates = t.get("rates_by_step") or {}
    names = [n for n in (j["settings"].get("target"), j["settings"].get("context")) if n in rates]
    if names:  # in the settings' order (the JSON's keys are sorted)
        text += " Share of rows the judge finds with " + "; ".join(
            f"{latex_escape(k)}: {fmt(rates[k][0])} at $t=0$, {fmt(rates[k][-1])} at $t=1$" for k in names) + "."
    return text



def _arith_settings(j):
    out = dict(j["settings"], expr=j.get("expr"), concepts=j.get("concepts"))
    if (j.get("measure") or {}).get("auto_concepts"):
        out["auto_concepts"] = j["measure"]["auto_concepts"]
    if j.get("trials"):
        out["trials"] = j["trials"]["draws"]
    if j.get("turn"):
        out["turn"] = {k: j["turn"][k] for k in ("from", "to", "seeds", "steps")}
    return out


FIGURE = PaperFigure(
    "fig7_arith", "Fig. 7 (vector arithmetic) and Fig. 8 (a turn)", "ganlens.arith", "arith.json",
    ("--candidates", "256", "--trials", "16", "--jitter", "0.25", "--turn-steps", "9"),
    {"arith": caption_arith, "turn": caption_turn}, {"arith": "fig7_arith", "turn": "fig8_turn"},
    _arith_settings, model_sha256)
