"""Training throughput: images per second per cfg at 64x64 (printed by `sg-explorer bench --train`).

Each cfg trains on a throw-away data set of random images. Steps with only the main phases are timed,
plus one step with each lazy regulariser; the figure amortises those (G every 4, D every 16 steps)
as a real run does. Sizes: NVIDIA's defaults for 64 px (channel_base 16384, channel_max 512, z/w 512; for
StyleGAN v1 and ProGAN that is the papers' fmap_base 8192, timed at full resolution).
"""
from __future__ import annotations

import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch


@dataclass
class TrainBench:
    cfg: str
    device: str
    batch: int
    images_per_second: float
    main_step_s: float       # A step without regularisation phases.
    greg_s: float            # Extra time of the path-length phase (0 for StyleGAN3).
    dreg_s: float            # Extra time of the R1 phase.


def _random_zip(path: str, res: int, count: int = 32) -> None:
    from PIL import Image
    import io
    rnd = np.random.RandomState(0)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            buf = io.BytesIO()
            Image.fromarray(rnd.randint(0, 256, (res, res, 3), dtype=np.uint8)).save(buf, format="PNG")
            zf.writestr(f"00000/img{i:08d}.png", buf.getvalue())


def _timed_step(trainer, it, batch_idx: int, sync) -> float:
    trainer.counters.batch_idx = batch_idx
    sync()
    t0 = time.perf_counter()
    trainer.step(it)
    sync()
    return time.perf_counter() - t0


def bench_cfg(cfg: str, device: str, batch: int, res: int = 64, steps: int = 3, cbase: int = 16384,
              cmax: int = 512, zw_dim: int = 512, data: Optional[str] = None) -> TrainBench:
    from networks.training.loop import Trainer
    from networks.training.options import TrainOptions
    from networks.training.distributed import DistInfo
    with tempfile.TemporaryDirectory() as tmp:
        if data is None:
            data = os.path.join(tmp, "data.zip")
            _random_zip(data, res)
        # Progressive cfgs are timed fully grown (lod 0): --start-res = the bench resolution.
        grown = {"start_res": res} if cfg in ("stylegan", "progan") else {}
        opts = TrainOptions(cfg=cfg, data=data, outdir=tmp, batch=batch, gamma=1.0, cbase=cbase, cmax=cmax,
                            z_dim=zw_dim, w_dim=zw_dim, device=device, workers=0, aug="ada", **grown)
        trainer = Trainer(opts, DistInfo(0, 1, device), run_dir=None, log=lambda m: None)
        it = trainer._data_iterator()
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        _timed_step(trainer, it, 1, sync)                                   # warm-up
        main = float(np.median([_timed_step(trainer, it, 1 + i, sync) for i in range(steps)]))
        greg = max(_timed_step(trainer, it, 4, sync) - main, 0.0) if opts.g_reg_interval else 0.0
        both = _timed_step(trainer, it, 0, sync)
        dreg = max(both - main - greg, 0.0) if opts.d_reg_interval else 0.0   # v1 / ProGAN: inside every step
    per_step = (main + (greg / opts.g_reg_interval if opts.g_reg_interval else 0.0)
                + (dreg / opts.d_reg_interval if opts.d_reg_interval else 0.0))
    return TrainBench(cfg, device, batch, batch / per_step, main, greg, dreg)


def bench_training(device: Optional[str] = None, batch: Optional[int] = None, steps: int = 3,
                   cfgs=("stylegan2", "stylegan3-t", "stylegan3-r", "stylegan", "progan"), impls=("fast", "ref"),
                   print_fn=print) -> list[TrainBench]:
    """Prints and returns images/second for each cfg at 64x64 with the default model sizes, on the fast ops
    and on the reference ops (the same steps in the same process, so their ratio is a fair comparison)."""
    from networks.ops import default_impl
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    batch = batch or (32 if device == "cuda" else 4)
    out = []
    for cfg in cfgs:
        rates = {}
        for impl in impls:
            with default_impl(impl):
                r = bench_cfg(cfg, device, batch, steps=steps)
            out.append(r)
            rates[impl] = r.images_per_second
            lazy = (f"+G reg {r.greg_s * 1000:.0f} ms every 4, +D reg {r.dreg_s * 1000:.0f} ms every 16"
                    if cfg not in ("stylegan", "progan") else "R1 / gradient penalty in every step, lod 0")
            print_fn(f"train {cfg:<12} 64x64  batch {batch:<3d} {device:<5} {impl:<4} ops "
                     f"{r.images_per_second:8.2f} img/s  (step {r.main_step_s * 1000:.0f} ms, {lazy})")
        if len(rates) == 2:
            print_fn(f"      {cfg:<12} fast vs ref: {rates['fast'] / rates['ref']:.2f}x the images per second")
    return out


if __name__ == "__main__":
    bench_training()
