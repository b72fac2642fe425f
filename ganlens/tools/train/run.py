"""One training run (:func:`train`): set-up (new or resumed), the loop, sample grids, checkpoints and the
final JSON files."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ganlens.core import checkpoints, figures, results
from ganlens.core.devices import device
from ganlens.core.errors import GanlensError
from ganlens.core.gan import latent_from_seed, wrap
from ganlens.core.results import Result, provenance
from ganlens.data.sets import RoomsSet, load_all, open_images, to_float
from ganlens.tools.train import checkpointing, figure, folder
from ganlens.tools.train.record import HISTORY_FIELDS, N_FIXED, Settings, TrainRecord
from ganlens.tools.train.schedule import epoch_order, step_latents, use_bf16
from ganlens.tools.train.stepper import Stepper, distributed, rank_device


def train(data: str = "rooms", out: str | Path = "runs/train", *, progress: bool = True, **settings):
    """Train the paper's DCGAN (or continue a run with ``resume="auto"``/a checkpoint path) and return a
    :class:`ganlens.results.Result` (kind "train": the ``train.json`` numbers; figure "loss") whose
    ``.gan`` is the trained model. Checkpoints, sample grids and logs go into the run folder ``out`` as
    training goes (docs/methods.md, "train"). ``settings``: the fields of :class:`Settings`."""
    unknown = set(settings) - set(Settings.__dataclass_fields__)
    if unknown:
        raise GanlensError(f"ganlens.train: unknown setting(s) {', '.join(sorted(unknown))}")
    s = Settings(data=data, out=str(out), **settings)
    s.check()
    run = _Run(s, progress)
    run.loop()
    summary = run.finish()
    history = np.array(run.history, dtype=np.float64).reshape(-1, len(HISTORY_FIELDS))
    result = Result("train", summary or {}, {"history": history},
                    plots={"loss": lambda d, a: figure.history_figure(a["history"])})
    result.gan = wrap(run.G_plain.eval(), run.D_plain.eval(), nz=run.config.nz, latent=run.config.latent,
                      path=Path(s.out) / "last.pt", source="ganlens.train", config=run.config)
    return result


class _Run:
    """One training run: set-up (new or resumed), the loop, checkpoints, samples and the final JSON."""

    def __init__(self, s: Settings, progress: bool):
        self.s, self.progress = s, progress
        self.rank, self.world = distributed()
        self.dev, self.out = rank_device(device(s.device), self.world), Path(s.out)
        if s.batch_size % self.world:
            raise GanlensError(f"--batch-size {s.batch_size} must be divisible by the {self.world} processes")
        self.resumed = checkpointing.resume(self.out, s) if s.resume else None
        self.config = self.resumed.config if self.resumed else checkpointing.new_config(self.out, s)
        results.check_out(self.out)  # also a parent that is a file, which .exists() let through to a traceback at mkdir
        self.data = open_images(s.data, self.config.image_size, self.config.nc)
        self.steps_per_epoch = len(self.data) // s.batch_size
        if self.steps_per_epoch == 0:
            raise GanlensError(f"--data {s.data}: {len(self.data)} images is fewer than one batch of {s.batch_size}")
        self.total = s.iters if s.iters is not None else (5 if s.epochs is None else s.epochs) * self.steps_per_epoch
        start = self.resumed.state.get("iteration", 0) if self.resumed else 0
        if self.total < start:
            raise GanlensError(f"--iters {self.total}: the run in {self.out} is already at iteration {start}; "
                               f"resume with a larger --iters/--epochs")
        self._build()

    @property
    def resume_from(self) -> Path | None:
        return self.resumed.path if self.resumed else None

    def _build(self) -> None:
        s, dev = self.s, self.dev
        torch.manual_seed(s.seed)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.st = Stepper.build(self.config, s.lr, s.beta1, dev, use_bf16(s.amp, dev), compile=s.compile,
                                ddp=self.world > 1)
        self.G_plain, self.D_plain = checkpoints.unwrap(self.st.G), checkpoints.unwrap(self.st.D)
        self.start, self.history = 0, []
        if self.resumed is not None:
            self._restore(self.resumed.ckpt)
        self.images = load_all(self.data)  # uint8 (N, nc, H, W): 12 KB per 64x64 colour image
        if dev.type == "cuda" and self.images.numel() < 0.3 * torch.cuda.mem_get_info(dev)[0]:
            self.images = self.images.to(dev)
        self.fixed = torch.stack([latent_from_seed(i, self.config.nz, self.config.latent)
                                  for i in range(N_FIXED)]).to(dev)
        self.settings = {k: v for k, v in vars(s).items() if k != "resume"} | {"iters": self.total}
        self.data_desc = self.data.spec if isinstance(self.data, RoomsSet) else f"{self.data.spec} ({len(self.data)} images)"

    def _restore(self, ckpt: dict) -> None:
        """Weights, optimiser states, iteration and history of the checkpoint the run continues from."""
        state = ckpt["state"]
        self.G_plain.load_state_dict(ckpt["G"])
        self.D_plain.load_state_dict(ckpt["D"])
        self.st.optG.load_state_dict(state["optG"])
        self.st.optD.load_state_dict(state["optD"])
        self.start, self.history = state["iteration"], [list(h) for h in state["history"]]
        if self.rank == 0:
            print(f"resuming {self.resume_from} at iteration {self.start} of {self.total}", file=sys.stderr)

    def save_checkpoint(self, it: int) -> None:
        if self.rank != 0:
            return
        for net in (self.G_plain, self.D_plain):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                self.bar.close()  # as on the NaN-loss path: no half-drawn progress bar after the error line
                raise GanlensError(f"weights became NaN/inf before iteration {it}; {self._kept()}")
        prov = checkpoints.provenance(self.s.seed, data=self.data_desc, iterations=it, device=str(self.dev),
                                      world_size=self.world, args=self.settings)
        state = {"iteration": it, "optG": self.st.optG.state_dict(), "optD": self.st.optD.state_dict(),
                 "history": self.history, "args": self.settings}
        checkpointing.write_checkpoint(self.out, it, self.config, self.G_plain, self.D_plain, state, prov,
                                       self.s.keep)

    def save_samples(self, it: int) -> None:
        if self.rank != 0:
            return
        self.G_plain.eval()
        with torch.no_grad():
            fake = self.G_plain(self.fixed[:, :, None, None]).float()
        self.G_plain.train()
        names = [f"samples_{it:07d}.png"] + (["loss.pdf", "loss.png"] if self.history else [])
        results.refuse_taken(self.out, names)
        results.record_written(self.out, names)
        figures.save_grid_png(fake, self.out / names[0], nrow=8, scale=2)
        if self.history:
            figure.plot_history(self.history, self.out / "loss")

    def _open_folder(self) -> None:
        """Rank 0 locks the run folder and clears an interrupted save's temp files; other ranks only make it."""
        if self.rank != 0:
            self.out.mkdir(exist_ok=True)
            return
        self.lock_file = folder.lock(self.out, resumed=self.resumed is not None)
        folder.remove_stale(self.out)  # a run killed while saving leaves its temp file

    def loop(self) -> None:
        s, dev, rank = self.s, self.dev, self.rank
        per_rank = s.batch_size // self.world
        self._open_folder()
        sample_every = s.sample_every or self.steps_per_epoch
        acc, acc_n = torch.zeros(4, device=dev), 0
        order, order_epoch = None, -1
        self.bar = tqdm(total=self.total, initial=self.start, desc="train", unit="it", dynamic_ncols=True,
                        disable=rank != 0 or not self.progress,
                        mininterval=0.5 if sys.stderr.isatty() else 30)  # a log file gets a line every 30 s
        self.t0, self.done = time.perf_counter(), 0
        try:  # the bar ends its line before any error line (a full disk, NaN, Ctrl-C) is printed
            for it in range(self.start, self.total):
                epoch, pos = divmod(it, self.steps_per_epoch)
                if epoch != order_epoch:
                    order, order_epoch = epoch_order(s.seed, epoch, len(self.images)).to(self.images.device), epoch
                idx = order[pos * s.batch_size + rank * per_rank: pos * s.batch_size + (rank + 1) * per_rank]
                real = to_float(self.images[idx].to(dev, non_blocking=True)).contiguous(memory_format=torch.channels_last)
                z = step_latents(s.seed, it, per_rank, self.config.nz, self.config.latent, dev, rank)
                acc += self.st.step(real, z)
                acc_n += 1
                self.done += 1
                it1 = it + 1
                if it1 % s.log_every == 0 or it1 == self.total:
                    self._log(acc / acc_n, it1)
                    acc.zero_()
                    acc_n = 0
                self.bar.update(1)
                if it1 % sample_every == 0 or it1 == self.total:
                    self.save_samples(it1)
                if it1 % s.ckpt_every == 0 or it1 == self.total:
                    self.save_checkpoint(it1)
        finally:
            self.bar.close()

    def _log(self, mean: torch.Tensor, it1: int) -> None:
        vals = mean.tolist()  # the one host sync every --log-every steps
        if not all(math.isfinite(v) for v in vals[:2]):
            self.bar.close()
            raise GanlensError(f"losses became NaN/inf near iteration {it1} (loss_D={vals[0]}, "
                               f"loss_G={vals[1]}); stopped; {self._kept()}")
        self.history.append([it1] + vals)
        self.bar.set_postfix(loss_d=f"{vals[0]:.3f}", loss_g=f"{vals[1]:.3f}", d_x=f"{vals[2]:.2f}",
                             d_g_z=f"{vals[3]:.2f}", refresh=False)

    def _kept(self) -> str:
        return checkpointing.kept(self.out, self.s.ckpt_every)

    def finish(self) -> dict | None:
        """Write history.json and train.json (rank 0); returns train.json's content (None on other ranks)."""
        seconds = time.perf_counter() - self.t0
        dump = os.environ.get("GANLENS_DUMP_RANKS")
        if dump:  # debugging DDP: every rank's final weights, to check that the ranks stayed identical
            torch.save({"G": self.G_plain.state_dict(), "D": self.D_plain.state_dict()},
                       Path(dump) / f"rank{self.rank}.pt")
        summary = None
        if self.rank == 0:
            summary = self._record(seconds).to_dict()
            results.refuse_taken(self.out, ["history.json", "train.json"])
            results.record_written(self.out, ["history.json", "train.json"])
            results.write_json(self.out / "history.json", {"fields": HISTORY_FIELDS, "rows": self.history})
            results.write_json(self.out / "train.json", summary)
        if self.world > 1:
            torch.distributed.destroy_process_group()
        return summary

    def _record(self, seconds: float) -> TrainRecord:
        s = self.s
        return TrainRecord(
            settings=self.settings, config=self.config, data=self.data_desc, device=str(self.dev),
            world_size=self.world, iterations=self.total, resumed_from=str(self.resume_from or ""),
            seconds_this_run=seconds, images_per_second=self.done * s.batch_size / seconds if self.done else 0.0,
            provenance=provenance(None, s.seed, call=f"ganlens.train(data={s.data!r}, out={s.out!r}, ...)",
                                  device=str(self.dev)))
