"""ganlens.train: a tiny run's outputs, bitwise-exact --resume, recovery from a corrupt last.pt,
NaN stops, and one-line errors for bad flags.

Runs are tiny (32x32 rooms, ngf=ndf=8, nz=16, batch 16, a few iterations) and single-threaded: conftest
sets torch.set_num_threads(1), which also fixes the order of float reductions, so two runs of the same
steps give bitwise-identical weights.
"""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from ganlens.core import checkpoints, figures
from ganlens import cli, train
from ganlens.tools.train import figure as train_figure
from ganlens.core.errors import GanlensError

TINY = ["--data", "rooms:n=64", "--image-size", "32", "--ngf", "8", "--ndf", "8", "--nz", "16",
        "--batch-size", "16", "--device", "cpu"]
# flags that are not saved in the run (a resumed run must be given them again)
RUN = ["--device", "cpu", "--ckpt-every", "1", "--keep", "2", "--log-every", "2"]


def run(out, *flags):
    return train.main(TINY + RUN + ["--out", str(out), *flags])


def resume(out, *flags):
    return train.main(RUN + ["--out", str(out), "--resume", *flags])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A 6-iteration run, uninterrupted."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("train") / "ref"
    assert run(out, "--iters", "6") == 0
    return out


@pytest.fixture
def no_loss_plot(monkeypatch):
    """Skip the loss figure (2 of a tiny run's 3 seconds on a busy CPU) where a test does not look at it.
    Plotting reads the history only, so skipping it cannot change the weights (the resume test compares
    runs with and without it)."""
    calls = []
    monkeypatch.setattr(train_figure, "plot_history", lambda history, stem: calls.append(len(history)))
    return calls


def assert_same_run(a, b):
    """Two last.pt files hold bitwise-identical networks, optimiser states and iteration counts."""
    ra, rb = checkpoints.read(a / "last.pt"), checkpoints.read(b / "last.pt")
    assert ra["state"]["iteration"] == rb["state"]["iteration"] == 6
    for net in ("G", "D"):
        assert ra[net].keys() == rb[net].keys()
        for k in ra[net]:
            assert torch.equal(ra[net][k], rb[net][k]), f"{net}.{k} differs"
    for opt in ("optG", "optD"):
        sa, sb = ra["state"][opt]["state"], rb["state"][opt]["state"]
        assert sa.keys() == sb.keys()
        for i in sa:
            for k in sa[i]:
                assert torch.equal(sa[i][k], sb[i][k]), f"{opt}[{i}].{k} differs"


def test_run_writes_its_outputs(reference):
    names = sorted(p.name for p in reference.iterdir())
    assert names == [".ganlens-written.json", ".train.lock", "ckpt_0000005.pt", "ckpt_0000006.pt", "history.json", "last.pt", "loss.pdf", "loss.png",
                     "samples_0000004.png", "samples_0000006.png", "train.json"]  # only --keep 2 newest
    from ganlens.core import results  # the record of what the run wrote: all but itself and the lock
    assert results.written(reference) == set(names[2:])

    m = checkpoints.load(reference / "last.pt")
    assert m.config.to_dict() == {"nz": 16, "ngf": 8, "ndf": 8, "nc": 3, "image_size": 32, "latent": "normal"}
    assert m.provenance["iterations"] == 6 and m.provenance["seed"] == 0
    assert m.provenance["data"] == "rooms:n=64,seed=0"
    assert all(torch.isfinite(p).all() for p in m.G.parameters())
    numbered = checkpoints.read(reference / "ckpt_0000006.pt")
    assert numbered["state"]["iteration"] == 6
    assert checkpoints.read(reference / "ckpt_0000005.pt")["state"]["iteration"] == 5

    history = json.loads((reference / "history.json").read_text())
    assert history["fields"] == ["iteration", "loss_d", "loss_g", "d_x", "d_g_z"]
    assert [row[0] for row in history["rows"]] == [2, 4, 6]  # --log-every 2
    for row in history["rows"]:
        assert row[1] > 0 and row[2] > 0 and 0 < row[3] < 1 and 0 < row[4] < 1

    info = json.loads((reference / "train.json").read_text())
    assert info["iterations"] == 6 and info["resumed_from"] == ""
    assert info["config"] == m.config.to_dict()
    assert info["settings"]["batch_size"] == 16 and info["settings"]["iters"] == 6

    # the sample sheet is G(seeds 0..63) at iteration 6, 8 per row, each pixel 2x2
    sheet = cv2.cvtColor(cv2.imread(str(reference / "samples_0000006.png")), cv2.COLOR_BGR2RGB)
    assert sheet.shape == (2 * (8 * 33 + 1),) * 2 + (3,)
    with torch.no_grad():
        want = figures.grid(m.G(m.latents(range(64))), nrow=8)
    want = (want * 255).round().astype(np.int16)
    diff = np.abs(sheet[::2, ::2].astype(np.int16) - want)
    assert diff.max() <= 1 and diff.mean() < 0.01  # off-by-one only where float rounding differs
    assert (reference / "loss.pdf").read_bytes().startswith(b"%PDF")


def test_resume_is_bitwise_exact_and_survives_a_corrupt_last_pt(reference, tmp_path, capsys, no_loss_plot):
    first = tmp_path / "first"
    assert run(first, "--iters", "3") == 0
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)

    assert resume(first, "--iters", "6") == 0  # architecture and data come from the checkpoint
    assert_same_run(reference, first)
    info = json.loads((first / "train.json").read_text())
    assert info["resumed_from"] == str(first / "last.pt")
    assert info["settings"]["image_size"] == 32 and info["settings"]["nz"] == 16  # not the flag defaults
    assert info["settings"]["data"] == "rooms:n=64"
    assert "resuming" in capsys.readouterr().err

    data = (copy / "last.pt").read_bytes()
    (copy / "last.pt").write_bytes(data[: len(data) // 3])  # a crash mid-write on a filesystem without rename
    assert resume(copy, "--iters", "6") == 0
    err = capsys.readouterr().err
    assert "warning" in err and "last.pt" in err and "older checkpoint" in err
    assert json.loads((copy / "train.json").read_text())["resumed_from"] == str(copy / "ckpt_0000003.pt")
    assert_same_run(reference, copy)


def test_resume_without_a_readable_checkpoint(tmp_path):
    out = tmp_path / "broken"
    out.mkdir()
    (out / "last.pt").write_bytes(b"garbage")
    with pytest.raises(GanlensError, match="no readable checkpoint"):
        resume(out)
    with pytest.raises(GanlensError, match="no readable checkpoint"):
        resume(tmp_path / "empty")
    foreign = tmp_path / "foreign.pt"
    torch.save({"main.0.weight": torch.zeros(1)}, foreign)
    with pytest.raises(GanlensError, match="not a ganlens training checkpoint"):
        train.main(RUN + ["--out", str(tmp_path / "x"), "--resume", str(foreign)])


def test_refuses_to_overwrite_a_run(reference):
    before = (reference / "last.pt").read_bytes()
    with pytest.raises(GanlensError, match="already holds a run") as e:
        run(reference, "--iters", "6")
    assert "--resume" in str(e.value) and "\n" not in str(e.value)
    assert (reference / "last.pt").read_bytes() == before


def poison(monkeypatch, from_call, report_nan):
    """Make Stepper.step, from its ``from_call``-th call on, turn G's weights into NaN (and report NaN
    losses if ``report_nan``)."""
    real, calls = train.Stepper.step, []

    def step(self, real_batch, z):
        calls.append(1)
        out = real(self, real_batch, z)
        if len(calls) >= from_call:
            with torch.no_grad():
                for p in self.G.parameters():
                    p.fill_(float("nan"))
            if report_nan:
                out = torch.full_like(out, float("nan"))
        return out
    monkeypatch.setattr(train.Stepper, "step", step)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # the NaN sample sheet
@pytest.mark.parametrize("report_nan,log_every,match", [(True, "1", "losses became NaN/inf near iteration 4"),
                                                         (False, "50", "weights became NaN/inf before iteration 4")])
def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, no_loss_plot, report_nan, log_every,
                                                     match):
    poison(monkeypatch, from_call=4 if report_nan else 3, report_nan=report_nan)
    out = tmp_path / "nan"
    with pytest.raises(GanlensError, match=match) as e:
        train.main(TINY + ["--out", str(out), "--iters", "6", "--ckpt-every", "2", "--log-every", log_every])
    assert "\n" not in str(e.value) and "last good checkpoint" in str(e.value)
    assert sorted(p.name for p in out.glob("*.pt")) == ["ckpt_0000002.pt", "last.pt"]
    m = checkpoints.load(out / "last.pt")
    assert m.provenance["iterations"] == 2
    assert all(torch.isfinite(t).all() for net in (m.G, m.D) for t in net.state_dict().values())


@pytest.mark.parametrize("flags,match", [
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--keep", "0"], "--keep must be at least 1"),
    (["--image-size", "50"], "image_size 50 is not supported"),
    (["--nc", "0"], "nc must be a positive integer"),
    (["--iters", "0"], "--iters must be at least 1, got 0"),
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--sample-every", "0"], "--sample-every must be at least 1, got 0"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--lr", "-1"], "--lr must be above 0, got -1"),
    (["--lr", "inf"], "--lr must be a finite number"),
    (["--beta1", "2"], "--beta1 must be below 1, got 2"),
    (["--data", "rooms:n=8"], "fewer than one batch of 16"),
    (["--data", "rooms:n=x"], "bad rooms option"),
    (["--device", "tpu"], "--device"),
])
def test_bad_flags_give_one_line_errors(tmp_path, capsys, flags, match):
    out = tmp_path / "out"
    assert cli.run(train.main, TINY + ["--out", str(out), "--iters", "2"] + flags, train.PROG) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{train.PROG}: error: ") and match in err, err
    assert not out.exists()


@pytest.mark.parametrize("flags", [["--batch-size", "x"], ["--iters", "3", "--epochs", "1"], ["--latent", "cauchy"]])
def test_unparseable_flags(tmp_path, capsys, flags):
    with pytest.raises(SystemExit) as e:
        train.main(["--out", str(tmp_path / "o")] + flags)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{train.PROG}: error: ")


def test_grey_npz_run(tmp_path, no_loss_plot):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "digits.npz", images=rng.integers(0, 256, (32, 28, 28), dtype=np.uint8))
    out = tmp_path / "grey"
    assert train.main(["--data", str(tmp_path / "digits.npz"), "--out", str(out), "--image-size", "28", "--nc", "1",
                       "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch-size", "16", "--iters", "2",
                       "--latent", "uniform", "--device", "cpu"]) == 0
    m = checkpoints.load(out / "last.pt")
    assert (m.config.nc, m.config.image_size, m.config.latent) == (1, 28, "uniform")
    assert json.loads((out / "train.json").read_text())["data"] == f"{tmp_path / 'digits.npz'} (32 images)"
    assert (out / "samples_0000002.png").exists()
    assert no_loss_plot == [1]  # the loss figure was asked for, with one history row


def test_randomness_is_a_function_of_seed_and_step():
    a = train.step_latents(0, 5, 4, 16, "normal", torch.device("cpu"))
    assert torch.equal(a, train.step_latents(0, 5, 4, 16, "normal", torch.device("cpu")))
    assert not torch.equal(a, train.step_latents(0, 6, 4, 16, "normal", torch.device("cpu")))
    assert not torch.equal(a, train.step_latents(1, 5, 4, 16, "normal", torch.device("cpu")))
    u = train.step_latents(0, 5, 64, 16, "uniform", torch.device("cpu"))
    assert u.min() >= -1 and u.max() <= 1
    order = train.epoch_order(0, 2, 100)
    assert sorted(order.tolist()) == list(range(100))
    assert torch.equal(order, train.epoch_order(0, 2, 100))
    assert not torch.equal(order, train.epoch_order(0, 3, 100))


def test_a_second_writer_of_a_run_folder_is_refused(tmp_path, capsys):
    """Two trainers on one --out would overwrite each other: the run folder is locked (fcntl.flock)."""
    import fcntl
    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".train.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)      # another process in the middle of a run
        assert cli.run(train.main, TINY + ["--out", str(out), "--iters", "2"], train.PROG) == 2
        assert "another ganlens.train is writing this run folder" in capsys.readouterr().err
        assert not (out / "last.pt").exists()
    assert cli.run(train.main, TINY + ["--out", str(out), "--iters", "2"], train.PROG) == 0   # free again
    assert cli.run(train.main, TINY + ["--out", str(out), "--resume", "--iters", "1"], train.PROG) == 2
    assert "already at iteration 2" in capsys.readouterr().err
    assert json.loads((out / "train.json").read_text())["iterations"] == 2   # train.json not rewritten


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")
def test_nan_before_any_checkpoint_says_none_was_kept(tmp_path, monkeypatch, no_loss_plot):
    poison(monkeypatch, from_call=1, report_nan=True)
    out = tmp_path / "nan0"
    with pytest.raises(GanlensError) as e:
        train.main(TINY + ["--out", str(out), "--iters", "6", "--ckpt-every", "4", "--log-every", "1"])
    assert "no checkpoint was written yet (--ckpt-every 4)" in str(e.value) and not list(out.glob("*.pt"))
