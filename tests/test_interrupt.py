"""A training run killed with SIGKILL loses at most one checkpoint interval, and --resume finishes it
with exactly the weights of a run that was never interrupted.

The run is the real entry point in its own process (``ganlens.train`` run as ``__main__``, as
``python -m`` does) with one thread. A kill cannot be caught, so nothing in ganlens gets to clean up:
what survives is what :func:`ganlens.checkpoints.save` put on disk (temp file, fsync, rename) and what
``--resume`` makes of it. Two moments are tested:

* ``between``: the kill lands between two saves;
* ``during``: the kill lands while a checkpoint is being written: its temp file is complete but not yet
  renamed, the worst moment for a non-atomic writer. The resumed run must remove the stale temp file.

In both, every ``.pt`` on disk must be whole, ``--resume`` must start from the newest finished checkpoint
(a numbered one when the kill came between it and ``last.pt``), which is never more than one interval
(``--ckpt-every``) behind the iteration the run had reached, and the finished run must equal, bit for
bit, the uninterrupted one (networks and optimiser states).

To land the kill at those moments on any machine, the child process sleeps ``PAUSE`` seconds just before
each rename (``os.replace``) and after each save; the sleeps change no byte that is written.

Related tests elsewhere: a corrupt ``last.pt`` falls back to the newest readable numbered checkpoint
(``tests/test_train.py::test_resume_is_bitwise_exact_and_survives_a_corrupt_last_pt``), and NaN losses or
weights stop the run with the last good checkpoint kept
(``tests/test_train.py::test_nan_stops_and_keeps_the_last_good_checkpoint``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganlens.core import checkpoints
from ganlens import cli, train
from ganlens.tools.train import figure as train_figure

ITERS, EVERY, KILL_AFTER = 40, 5, 10
SETTINGS = ["--data", "rooms:n=64", "--image-size", "32", "--ngf", "8", "--ndf", "8", "--nz", "16",
            "--batch-size", "16", "--iters", str(ITERS)]
# not saved in a run: a resumed run is given them again
RUN = ["--device", "cpu", "--ckpt-every", str(EVERY), "--keep", "3", "--log-every", "5", "--sample-every", "1000"]
PAUSE = 0.1
CHILD = """
import os, runpy, sys, time
from ganlens import checkpoints
pause = float(os.environ["GANLENS_TEST_PAUSE"])
_replace, _save = os.replace, checkpoints.save

def replace(src, dst, *args, **kwargs):  # the temp file is complete (written, fsynced); not yet renamed
    time.sleep(pause)
    return _replace(src, dst, *args, **kwargs)

def save(*args, **kwargs):
    path = _save(*args, **kwargs)
    time.sleep(pause)
    return path

os.replace, checkpoints.save = replace, save
sys.argv[0] = "ganlens.train"
runpy.run_module("ganlens.train", run_name="__main__", alter_sys=True)
"""
TMP = re.compile(r"^\.(last\.pt|ckpt_(\d{7})\.pt)\..+\.tmp$")


def iteration_of(name: str) -> int | None:
    """The iteration in ``ckpt_0000015.pt`` or its temp file ``.ckpt_0000015.pt.x1y2.tmp``."""
    m = re.fullmatch(r"\.?ckpt_(\d{7})\.pt(\..+\.tmp)?", name)
    return int(m[1]) if m else None


def temp_files(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if TMP.match(p.name))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same run, never interrupted (in this process, one thread, as the child)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("interrupt") / "reference"
    mp = pytest.MonkeyPatch()
    mp.setattr(train_figure, "plot_history", lambda history, stem: None)  # reads the history only; weights unchanged
    try:
        assert train.main(SETTINGS + RUN + ["--out", str(out)]) == 0
    finally:
        mp.undo()
    return checkpoints.read(out / "last.pt")


def kill_mid_run(run: Path, moment: str) -> tuple[int, list[str]]:
    """Start the run, SIGKILL it at ``moment`` after a numbered checkpoint past KILL_AFTER; return the
    iteration it had reached (its newest checkpoint, finished or in flight) and the files it left."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GANLENS_TEST_PAUSE": str(PAUSE)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *SETTINGS, *RUN, "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    try:
        while True:
            names = [p.name for p in run.iterdir()] if run.exists() else []
            done = [iteration_of(n) for n in names if n.startswith("ckpt_")]  # renamed: complete
            tmps = [n for n in names if TMP.match(n)]
            if done and max(done) > KILL_AFTER and (bool(tmps) == (moment == "during")):
                os.kill(proc.pid, signal.SIGKILL)
                break
            assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no checkpoint past iteration 10 within 120 s"
            time.sleep(0.005)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    left = sorted(p.name for p in run.iterdir())
    reached = max(i for i in map(iteration_of, left) if i is not None)
    return reached, left


@pytest.mark.parametrize("moment", ["between", "during"])
def test_sigkill_then_resume_matches_an_uninterrupted_run(moment, tmp_path, reference, capsys, monkeypatch,
                                                        record_property):
    run = tmp_path / "run"
    reached, left = kill_mid_run(run, moment)
    assert KILL_AFTER < reached < ITERS, left
    assert (temp_files(run) != []) == (moment == "during"), left

    # Whatever the kill interrupted, every checkpoint on disk is whole.
    finished = [run / n for n in left if n == "last.pt" or re.fullmatch(r"ckpt_\d{7}\.pt", n)]
    assert run / "last.pt" in finished
    for path in finished:
        assert checkpoints.read(path)["state"]["iteration"] % EVERY == 0

    monkeypatch.setattr(train_figure, "plot_history", lambda history, stem: None)
    assert cli.run(train.main, ["--resume", "--out", str(run)] + RUN, train.PROG) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    m = re.search(r"resuming (\S+) at iteration (\d+) of (\d+)", err)
    assert m, err
    start = int(m[2])
    assert int(m[3]) == ITERS
    assert start >= reached - EVERY, f"lost more than one checkpoint interval: killed at {reached}, resumed at {start}"
    complete = max(iteration_of(n) for n in left if n.startswith("ckpt_"))
    assert start == complete, f"resumed at {start}, but a finished checkpoint of iteration {complete} was on disk"
    record_property("killed", f"at iteration {reached}, leaving {left}; resumed at {start}")

    final = checkpoints.read(run / "last.pt")
    assert final["state"]["iteration"] == reference["state"]["iteration"] == ITERS
    for net in ("G", "D"):
        assert final[net].keys() == reference[net].keys()
        for k in final[net]:
            assert torch.equal(final[net][k], reference[net][k]), f"{net}.{k} differs from the uninterrupted run"
    for opt in ("optG", "optD"):
        a, b = final["state"][opt]["state"], reference["state"][opt]["state"]
        for i in a:
            for k in a[i]:
                assert torch.equal(a[i][k], b[i][k]), f"{opt}[{i}].{k} differs from the uninterrupted run"
    assert temp_files(run) == [], "the resumed run left the killed run's temp files behind"
    assert sorted(p.name for p in run.glob("ckpt_*.pt"))[-1] == f"ckpt_{ITERS:07d}.pt"
