"""Progressive growing (Karras et al. 2018 "Progressive Growing of GANs"; StyleGAN 2019): the schedule
and what the training loop does with it.

Schedule (the semantics of NVIDIA's TF `training_schedule`, written from its documented behaviour):
  phase = floor(kimg / (stable + fade)); t = kimg - phase * (stable + fade)
  lod = max(log2(final_res) - floor(log2(start_res)) - phase - max(t - stable, 0) / fade, 0)
so each resolution is trained `stable` kimg and then its successor fades in over `fade` kimg. The
resolution trained at lod is final_res / 2 ** floor(lod); minibatch and learning rate follow that
resolution's entry in the papers' tables. The schedule is read every `minibatch_repeats` minibatches
(at the image count of the first of them) and Adam's state is cleared whenever floor(lod) or ceil(lod)
changes, as in NVIDIA's loops.

Reals follow the lod (NVIDIA's process_reals): box-averaged to the trained resolution (rounded to
whole levels, as the multi-resolution TFRecords stored them), blended during a fade with their 2x
coarser version, then repeated back to the full resolution, so G and D always see full-size images.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from networks.training.loss import StyleGANLoss

# The papers' one-GPU tables (StyleGAN train.py and ProGAN config.py '-preset-v2-1gpu').
PAPER_MINIBATCH = ((4, 128), (8, 128), (16, 128), (32, 64), (64, 32), (128, 16), (256, 8), (512, 4))
STYLEGAN_LR = ((128, 0.0015), (256, 0.002), (512, 0.003), (1024, 0.003))
PROGAN_LR = ((1024, 0.0015),)


@dataclass(frozen=True)
class ProgressiveOptions:
    start_res: int = 8                            # First trained resolution (px): StyleGAN 8, ProGAN 4.
    stable_kimg: float = 600                      # kimg at each resolution before the next one fades in.
    fade_kimg: float = 600                        # kimg of each fade-in (lod falls by 1 linearly).
    minibatch_table: tuple = PAPER_MINIBATCH      # (resolution, minibatch) pairs: the papers' one-GPU table.
    minibatch_base: int = 4                       # Table minibatch above its largest resolution.
    lr_base: float = 0.001                        # Papers' G and D learning rate where lr_table has no entry.
    lr_table: tuple = STYLEGAN_LR                 # (resolution, lr) pairs; ProGAN's has only 1024 px.
    minibatch_repeats: int = 4                    # Minibatches between two reads of the schedule.
    reset_opt_on_lod: bool = True                 # Clear Adam's state when floor/ceil(lod) changes.


@dataclass(frozen=True)
class Sched:
    kimg: float          # Image count the schedule was read at, in thousands.
    lod: float           # Level of detail: 0 = full resolution, k + f = fading from final / 2^(k+1) to / 2^k.
    resolution: int      # Trained resolution final / 2 ** floor(lod) (px).
    minibatch: int       # Global minibatch at this resolution.
    g_lr: float
    d_lr: float


def lod_at(kimg: float, final_res: int, start_res: int, stable_kimg: float, fade_kimg: float) -> float:
    """The level of detail after `kimg` thousand images (see the module docstring)."""
    phase_dur = stable_kimg + fade_kimg
    phase = math.floor(kimg / phase_dur) if phase_dur > 0 else 0
    t = kimg - phase * phase_dur
    lod = (final_res.bit_length() - 1) - math.floor(math.log2(start_res)) - phase
    if fade_kimg > 0:
        lod -= max(t - stable_kimg, 0.0) / fade_kimg
    return max(float(lod), 0.0)


def _table(pairs, res, default):
    return dict(pairs).get(res, default)


def schedule(p: ProgressiveOptions, cur_nimg: int, final_res: int, batch: int, g_lr: float, d_lr: float,
             nproc: int = 1) -> Sched:
    """The schedule at cur_nimg images. `batch` is the run's minibatch at the final resolution and the
    lrs are its base rates: both scale the papers' tables (batch(r) = batch * table(r) / table(final),
    lr(r) = lr * table(r) / lr_base), so the defaults (batch 32 at 64 px, lr 0.001) are the papers'."""
    kimg = cur_nimg / 1000
    # float32, as the networks' lod buffers hold it, so reals and networks fade by the same number.
    lod = float(torch.tensor(lod_at(kimg, final_res, p.start_res, p.stable_kimg, p.fade_kimg), dtype=torch.float32))
    res = final_res >> int(math.floor(lod))
    ratio = _table(p.minibatch_table, res, p.minibatch_base) / _table(p.minibatch_table, final_res, p.minibatch_base)
    minibatch = max(int(round(batch * ratio)), nproc)
    minibatch -= minibatch % nproc
    lr_scale = _table(p.lr_table, res, p.lr_base) / p.lr_base
    return Sched(kimg, lod, res, minibatch, g_lr * lr_scale, d_lr * lr_scale)


def kimg_grown(p: ProgressiveOptions, final_res: int, lod: float = 0.0) -> float:
    """The first kimg at which the schedule's lod is <= lod (a fine-tune of a network at that lod starts there)."""
    levels = (final_res.bit_length() - 1) - math.floor(math.log2(p.start_res))
    if lod >= levels:
        return 0.0
    k = math.floor(lod)
    frac = lod - k
    phase = levels - k - 1                      # The phase that fades toward level k.
    return phase * (p.stable_kimg + p.fade_kimg) + p.stable_kimg + (1 - frac) * p.fade_kimg


# ------------------------------------------------------------------------------------ reals
def box_down(x: torch.Tensor, factor: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H / factor, W / factor]: means of factor x factor blocks."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def repeat_up(x: torch.Tensor, factor: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H * factor, W * factor]: each pixel repeated (nearest neighbour)."""
    return x if factor == 1 else x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def lod_reals(img_uint8: torch.Tensor, lod: float) -> torch.Tensor:
    """uint8 [N, C, H, W] reals -> float [N, C, H, W] in [-1, 1] as D sees them at `lod`."""
    k = int(math.floor(lod))
    frac = lod - k
    x = box_down(img_uint8.float(), 2 ** k)
    if k > 0:
        x = x.round()                            # The stored lower levels were whole uint8 values.
    x = x / 127.5 - 1
    if frac > 0:
        x = torch.lerp(x, repeat_up(box_down(x, 2), 2), frac)
    return repeat_up(x, 2 ** k)


# ------------------------------------------------------------------------------------ the loop's side
def set_network_lod(module: torch.nn.Module, lod: float) -> None:
    """Writes lod into the network's `lod` buffer(s) (part A's networks.progressive.set_lod)."""
    from networks.progressive import set_lod
    set_lod(module, float(lod))


class Grower:
    """Applies the schedule to a Trainer: lod buffers of G and D, the step's minibatch (trainer.step_opts),
    the optimisers' learning rates and their reset at lod boundaries. State for an exact resume:
    `sched_nimg` (the image count the current schedule was read at) and `offset_nimg` (a fine-tune
    starts the schedule where the resumed network's lod is)."""

    def __init__(self, popts: ProgressiveOptions, final_res: int, offset_nimg: int = 0):
        self.popts, self.final_res = popts, final_res
        self.offset_nimg = int(offset_nimg)
        self.sched_nimg = 0
        self.current: Optional[Sched] = None

    def read(self, trainer, cur_nimg: int) -> Sched:
        o = trainer.opts
        return schedule(self.popts, cur_nimg + self.offset_nimg, self.final_res, o.batch, o.g_lr, o.dlr, o.nproc)

    def apply(self, trainer, s: Sched, reset: bool) -> None:
        self.current = s
        for net in (trainer.G, trainer.D, trainer.G_ema):
            set_network_lod(net, s.lod)
        o = trainer.opts
        chunk = min(o.batch_gpu, s.minibatch // o.nproc) if o.batch_gpu else None
        trainer.step_opts = dataclasses.replace(o, batch=s.minibatch, batch_gpu=chunk)
        for phase in trainer.phases:
            lr = s.g_lr if phase.name.startswith("G") else s.d_lr
            for group in phase.opt.param_groups:
                group["lr"] = lr
            if reset:
                phase.opt.state.clear()

    def before_step(self, trainer) -> None:
        """Re-reads the schedule at the first minibatch of each round of minibatch_repeats."""
        c = trainer.counters
        if c.batch_idx % self.popts.minibatch_repeats != 0 and self.current is not None:
            return
        s = self.read(trainer, c.cur_nimg)
        prev = self.current
        reset = (self.popts.reset_opt_on_lod and prev is not None and
                 (math.floor(s.lod) != math.floor(prev.lod) or math.ceil(s.lod) != math.ceil(prev.lod)))
        self.sched_nimg = c.cur_nimg
        self.apply(trainer, s, reset)

    def state(self) -> dict:
        return {"sched_nimg": self.sched_nimg, "offset_nimg": self.offset_nimg}

    def restore(self, trainer, state: Optional[dict]) -> None:
        """Resumes the schedule of a snapshot (the optimiser states it restores are kept)."""
        state = state or {}
        self.offset_nimg = int(state.get("offset_nimg", 0))
        self.sched_nimg = int(state.get("sched_nimg", trainer.counters.cur_nimg))
        self.apply(trainer, self.read(trainer, self.sched_nimg), reset=False)

    def batches(self, trainer):
        """Endless (img, label) chunks; the loader is rebuilt whenever the step's minibatch changes, starting
        at this process's share of the images consumed so far (exact across resumes)."""
        key, it = None, None
        while True:
            o = trainer.step_opts
            if (o.batch, o.chunk) != key:
                key = (o.batch, o.chunk)
                if trainer.counters.cur_nimg % o.batch:
                    raise RuntimeError(f"minibatch {o.batch} does not divide the {trainer.counters.cur_nimg} "
                                       "images consumed so far")
                it = trainer._loader(trainer.counters.cur_nimg // trainer.info.world, o.batch, o.chunk)
            yield next(it)



class GrowingStyleGANLoss(StyleGANLoss):
    """StyleGANLoss for StyleGAN (v1): style mixing draws its cutoff among the layers the current lod uses
    (num_ws - 2 floor(lod), as the v1 generator does), so a mix never lands only in faded-out layers."""

    def mixing_layers(self, num_ws: int) -> int:
        lod = float(getattr(self.G.synthesis, "lod", torch.zeros([])))
        return max(num_ws - 2 * int(math.floor(lod)), 2)
