"""One paper run: the chosen figures into a staged copy of the output folder, optionally a second time
(``--check``), the manifest, everything moved in at once, a report on stderr."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ganlens.core import results
from ganlens.core.errors import GanlensError
from ganlens.core.latex import PaperFigure
from ganlens.data.rooms.memo import kept
from ganlens.tools.paper import manifest
from ganlens.tools.paper.numbers import compare_runs
from ganlens.tools.paper.runner import Job, generate


def run(figures: dict[str, PaperFigure], keys: list[str], job: Job, ck: str | Path | None, check_flag=None,
        check_dir: Path | None = None) -> int:
    """Run the figures ``keys`` of ``figures`` (every figure of the paper, in order) into ``job.out``, merging
    the manifest with the one there; ``ck``: the checkpoint file the manifest names. ``check_flag``: --check's
    value (None: no check; then ``check_dir``: the folder to compare with, or None for a second run). Returns
    the exit status: 1 if a figure failed or the check found a difference."""
    out, gan = job.out, job.base["gan"]
    figs = [figures[k] for k in keys]
    t0 = time.perf_counter()
    with results.staged_output(out, exclusive=True) as stage:  # one run_all per folder: the manifests merge
        old = manifest.read(out / "manifest.json")
        with kept():                        # rooms scenes rendered once for every figure (walk, filters, invert)
            entries, seconds = generate(figs, stage, job)
        total = round(time.perf_counter() - t0, 2)
        _check_model(entries, gan.sha256, ck)
        # --check's second run is outside kept(): it renders its scenes afresh, so rendering is checked too
        check = None if check_flag is None else _check(check_dir, figs, stage, job, entries)
        m = manifest.build(list(figures), old, entries, seconds, total, {"path": str(ck), "sha256": gan.sha256},
                           job.base, keys, check)
        results.write_json(stage / "manifest.json", m)
        # a figure skipped or failed now must not leave an earlier run's files beside a manifest that says so
        stale = [figures[k] for k, e in entries.items() if e["status"] != "ok"]
    remove_stale(out, stale)
    manifest.report(m, keys, out, check)
    bad = [k for k in keys if entries[k]["status"] == "failed"]
    return 1 if bad or (check is not None and not check["identical"]) else 0


def _check_model(entries: dict, sha: str | None, ck) -> None:
    """Every figure's JSON names the checkpoint that was loaded (no figure ran another model)."""
    for key, e in entries.items():
        if e["status"] == "ok" and sha is not None and e["checkpoint_sha256"] != sha:
            raise GanlensError(f"{key}: the JSON names checkpoint sha256 {e['checkpoint_sha256'][:12]}, "
                               f"not {sha[:12]} of {ck}")


def _check(check_dir: Path | None, figs: list[PaperFigure], stage: Path, job: Job, entries: dict) -> dict:
    """--check: the verdict of a second run in this process (or of the folder ``check_dir``) against this one."""
    if check_dir is None:
        with tempfile.TemporaryDirectory(prefix=f".{job.out.name}.check.", dir=stage.parent) as tmp:
            t1 = time.perf_counter()
            generate(figs, Path(tmp), job)
            per = compare_runs(stage, Path(tmp), entries)
            check = {"against": "a second run in this process", "seconds": round(time.perf_counter() - t1, 2)}
    else:
        per = compare_runs(stage, check_dir, entries)
        check = {"against": str(check_dir)}
    check.update(identical=all(v["identical"] for v in per.values()) and bool(per), figures=per)
    return check


def remove_stale(out: Path, figs: list[PaperFigure]) -> None:
    """Remove earlier results of figures that were skipped or failed now, if (and only if) ganlens wrote them."""
    ours = results.written(out)
    gone = []
    for fig in figs:
        for name in [fig.key] + [f"{n}.tex" for n in list(fig.snippets.values()) + [fig.key]]:
            if name in ours:
                path = out / name
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
                gone.append(name)
    if gone:
        results.record_written(out, drop=gone)
