"""A run folder that one trainer writes at a time, holding only what ganlens wrote there."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ganlens.core import checkpoints, results
from ganlens.core.errors import GanlensError

OUTPUT_NAME = re.compile(r"(ckpt_\d+\.pt|samples_\d+\.png|loss\.(pdf|png)|history\.json|train\.json)")


def lock(out: Path, resumed: bool):
    """An exclusive lock on the run folder (``.train.lock``, fcntl.flock): a second ``ganlens.train`` on the
    same --out (a new run or a --resume) is refused instead of mixing two runs. Released when the process
    ends, however it ends. Returns the open lock file (keep it open)."""
    import fcntl
    out.mkdir(exist_ok=True)
    lock_file = open(out / ".train.lock", "a")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise GanlensError(f"--out {out}: another ganlens.train is writing this run folder right now; "
                           f"wait for it to finish or use another --out")
    if not resumed and (out / "last.pt").exists():  # it finished a run while we were starting
        raise GanlensError(f"--out {out}: already holds a run (last.pt); use --resume or another --out")
    claim_outputs(out, resumed)
    return lock_file


def claim_outputs(out: Path, resumed: bool) -> None:
    """Refuse a run folder whose output names (ckpt_*.pt, samples_*.png, loss, history.json, train.json)
    are taken by files ganlens did not write: it would replace or prune them. A folder resumed from
    before ganlens kept its record (no .ganlens-written.json) is adopted as the run's own."""
    names = [p.name for p in out.iterdir() if OUTPUT_NAME.fullmatch(p.name)]
    if resumed and not (out / results.WRITTEN).exists():
        results.record_written(out, names + ["last.pt"])
    results.refuse_taken(out, names)


def remove_stale(out: Path) -> None:
    """Remove the temp files a run killed while saving left behind, saying so."""
    stale = checkpoints.remove_stale_temp_files(out)
    if stale:
        print(f"removed {len(stale)} unfinished checkpoint file(s) of an interrupted run from {out}",
              file=sys.stderr)
