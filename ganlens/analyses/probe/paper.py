"""Table 1 of the paper (linear probe on D's features, trained vs random) and its figure: the settings of its
run, the table and the caption, built from the saved JSON. The registry names :data:`FIGURE`; ``ganlens.paper``
runs it."""

from __future__ import annotations

from ganlens.core.latex import PaperFigure, count, latex_comment, latex_escape, model_name, model_sha256, pct, tt


def _probe_setup(j: dict) -> str:
    d, f, sp, svm = j["data"], j["features"], j["split"], j["svm"]
    task = f", task {latex_escape(d['task'])}" if d["task"] else ""
    seeds = sp.get("seeds", [sp["seed"]])
    which = f"seeds {seeds[0]}--{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return (f"{count(d['images'])} images of {tt(d['spec'])}{task} ({', '.join(map(latex_escape, d['classes']))}); "
            f"{len(seeds)} fold{'s' if len(seeds) > 1 else ''} of {_scheme(sp)} with "
            f"{count(sp['train'])}/{count(sp['val'])}/{count(sp['test'])} images (train/val/test, {which}), each "
            f"choosing $C$ from "
            f"\\{{{', '.join(f'{c:g}' for c in svm['C_grid'])}\\}} by validation accuracy. "
            f"Features: layers {', '.join(map(latex_escape, f['layers']))}, each max-pooled to "
            f"${f['pool']}\\times{f['pool']}$ ({count(f['dim'])} numbers).")


def _probe_verdict(j: dict) -> str:
    """Trained vs random in words: the means, the spread, the rule and whether the claim holds."""
    t, draws, c = j["trained"], j["random"]["draws"], j["comparison"]
    means = [d["accuracy"] for d in draws]
    verdict = ("significantly higher than every random draw" if c["trained_beats_random"] else
               f"not higher than the best random draw (seed {c['best_random_seed']})")
    if "level" in c:      # corrected resampled t-test against every draw
        rule = (f"rule: against every draw the Nadeau--Bengio corrected resampled $t$-test of the paired per-fold "
                f"differences must be significant one-sided at {c['level']:g}; largest $p$ = "
                f"{_p(c['largest_p_one_sided'])}")
    else:
        rule = "rule: its mean over the splits must exceed every draw's mean"
    ci = t["spread"].get("ci")
    interval = f" (95\\% CI {pct(ci[0])}--{pct(ci[1])}, corrected)" if ci else ""
    return (f"Trained D {pct(t['accuracy'])} $\\pm$ {100 * t['spread']['std']:.1f}{interval} over {t['spread']['n']} "
            f"splits; {len(draws)} random Ds (seeds {draws[0]['seed']}--{draws[-1]['seed']}) "
            f"{pct(min(means))}--{pct(max(means))} (mean {pct(j['random_accuracy'])}). The trained D is "
            f"{verdict} ({rule}); it is above every draw on "
            f"{c['splits_above_every_draw']} of {t['spread']['n']} splits.")


def _scheme(sp: dict) -> str:
    if "folds" in sp:
        return f"{sp['repeats']}$\\times${sp['folds']}-fold stratified cross-validation"
    return "stratified random splits"


def _p(p) -> str:
    return "n/a" if p is None else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def caption_probe_figure(j: dict) -> str:
    return (f"Linear L2-SVM on the discriminator features of {model_name(j)} vs {len(j['random']['draws'])} randomly "
            f"initialised Ds of the same architecture (r$s$: seed $s$). Left: test accuracy on each split (dots), "
            f"mean $\\pm$ std over the splits (bars), majority class (dashed); right: validation accuracy against "
            f"$C$, mean over the splits (circle: the $C$ chosen most often). " + _probe_verdict(j) + " "
            + _probe_setup(j))


def probe_table(j: dict, source: str, command: str) -> str:
    """Table 1 as a one-column ``table`` with a ``tabular`` (no extra packages): per D the mean test accuracy
    $\\pm$ std over the splits, the C chosen most often and the range over the splits; every random draw,
    their mean, and the majority class."""
    t, r = j["trained"], j["random"]
    m = r["accuracy"]   # the spread of the draws' means

    def row(name, res):
        s = res["spread"]
        return (name, f"{pct(s['mean'])} $\\pm$ {100 * s['std']:.1f}", f"{res['C']:g}",
                f"{100 * s['min']:.1f}--{100 * s['max']:.1f}")
    by_mean = sorted(r["draws"], key=lambda d: d["accuracy"])
    shown = r["draws"] if len(r["draws"]) <= 10 else [by_mean[0], by_mean[-1]]   # a table that fits a column
    rows = [row("trained", t)] + [row(f"random, seed {d['seed']}", d) for d in shown]
    rows += [(f"random, mean of {m['n']}", f"{pct(j['random_accuracy'])} $\\pm$ {100 * m['std']:.1f}", "--",
              f"{100 * m['min']:.1f}--{100 * m['max']:.1f}"),
             ("majority class", pct(j["chance"]["majority"]), "--", "--")]
    caption = (f"Linear probe (L2-SVM) on the discriminator's features of {model_name(j)}, trained vs random "
               f"weights of the same architecture: test accuracy, mean $\\pm$ std over the splits, the $C$ chosen on "
               f"most splits and the range (min--max, \\%) over the splits; for the mean of the random draws, the std "
               f"and range of their means" + ("" if len(shown) == len(r["draws"]) else
                                           f" (rows: the worst and best of the {len(r['draws'])} draws)") + ". "
               + _probe_verdict(j) + " " + _probe_setup(j))
    lines = [latex_comment(f"generated by ganlens.paper from {source}; regenerate, do not edit"),
             latex_comment(f"command: {command}"),
             "\\begin{table}[t]", "  \\centering", f"  \\caption{{{caption}}}", "  \\label{tab:ganlens-probe}",
             "  \\small", "  \\begin{tabular}{@{}lrrr@{}}", "    \\hline",
             "    D & test accuracy & $C$ & range \\\\", "    \\hline"]
    lines += [f"    {a} & {b} & {c} & {d} \\\\" for a, b, c, d in rows[:1]] + ["    \\hline"]
    lines += [f"    {a} & {b} & {c} & {d} \\\\" for a, b, c, d in rows[1:]]
    lines += ["    \\hline", "  \\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)



def _probe_settings(j):
    return {"data": j["data"]["spec"], "images": j["data"]["images"], "task": j["data"]["task"],
            "layers": j["features"]["layers"], "pool": j["features"]["pool"], "feature_dim": j["feature_dim"],
            "C_grid": j["svm"]["C_grid"], "split": j["split"], "random_seeds": j["random"]["seeds"],
            "device": j["provenance"].get("device")}


FIGURE = PaperFigure(
    "table1_probe", "Table 1 (linear probe on D's features, trained vs random)", "ganlens.probe", "probe.json",
    ("--data", "rooms:n=2000,seed=1", "--task", "has-window", "--layers", "all", "--pool", "4",
     "--C", "0.0001,0.001,0.01,0.1,1", "--splits", "5", "--random-draws", "5", "--no-cache"),
    {"probe": caption_probe_figure}, {"probe": "table1_probe_figure"},
    _probe_settings, model_sha256, table=probe_table)
