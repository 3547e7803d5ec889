"""The training loop: phases, lazy regularisation, G EMA, ADA, ticks, snapshots, exact resume.

One step consumes one global minibatch of `batch` reals. Phases run in order Gmain, Greg, Dmain, Dreg
(or Gboth / Dboth without lazy regularisation; Dboth, Gboth for the progressive cfgs, whose schedule
`networks.training.progressive.Grower` applies before each step); a regularisation phase runs every
`interval` steps with its loss scaled by the interval, and its optimiser uses lr * c and betas ** c with
c = I / (I + 1).
Gradients are NVIDIA's: each chunk adds interval * grad(chunk mean loss), so a process's chunks sum,
and processes average theirs. Randomness (latents, labels, noise, style mixing, augmentation) of each
chunk is seeded from (seed, step, phase, global chunk index), so N processes see exactly the samples of
one process that splits the batch into the same global chunks (their gradients then differ by the factor
N that summing makes, which Adam all but cancels), and a resumed run repeats exactly what the
uninterrupted run would have done.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import pathlib
import resource
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from networks.files import save_png
from networks.training import snapshot as snap
from networks.training.augment import PRESETS, AdaController, AugmentPipe
from networks.training.dataset import DatasetError, DatasetOptions, ImageDataset, InfiniteSampler, one_line
from networks.training.distributed import DistInfo, average_gradients, barrier, broadcast_module
from networks.training import progressive
from networks.training.loss import StyleGANLoss, real_to_float
from networks.training.loss_wgangp import WGANGPLoss
from networks.training.options import TrainOptions, network_configs


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message is one line for the user."""


class TrainingDiverged(TrainingError):
    """A loss became NaN or infinite; the last good snapshot is kept."""


@dataclass
class Phase:
    name: str
    module: torch.nn.Module
    params: list
    opt: torch.optim.Optimizer
    interval: int


@dataclass
class Counters:
    cur_nimg: int = 0
    cur_tick: int = 0
    batch_idx: int = 0
    tick_start_nimg: int = 0


def _chunk_seed(seed: int, step: int, phase: int, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, step, phase, chunk]).generate_state(1)[0])


def _lazy_optimizer(params, lr: float, interval: Optional[int]) -> torch.optim.Optimizer:
    c = interval / (interval + 1) if interval else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(0 ** c, 0.99 ** c), eps=1e-8)


def _freeze_d_layers(D: torch.nn.Module, count: int) -> set:
    """Names of D's parameters in its first `count` layers, counted as NVIDIA's Freeze-D does: block by
    block from the highest resolution, each block's fromrgb (where it has one), conv0, conv1, skip."""
    if count <= 0:
        return set()
    layers = [f"b{r}.{name}." for r in getattr(D, "block_resolutions", [])
              for name in ("fromrgb", "conv0", "conv1", "skip") if hasattr(getattr(D, f"b{r}"), name)]
    prefixes = tuple(layers[:count])
    return {n for n, _ in D.named_parameters() if n.startswith(prefixes)}


class Trainer:
    """Holds the networks, optimisers and counters of one process; `run()` trains to opts.kimg."""

    def __init__(self, opts: TrainOptions, info: DistInfo = DistInfo(), run_dir: Optional[pathlib.Path] = None,
                 resume_data: Optional[dict] = None, log: Callable[[str], None] = print):
        weights = resume_data is not None and any(resume_data.get(k) is not None for k in ("G", "G_ema"))
        if weights and not resume_data.get("resume") and not opts.finetune:
            opts = opts.fine_tuning()  # Foreign or exported weights: NVIDIA's resume settings.
        self.opts, self.info, self.run_dir = opts, info, run_dir
        self.log = log if info.is_main else (lambda _m: None)
        self.device = torch.device(info.device)
        self.step_callback: Optional[Callable[[int, dict], None]] = None  # (batch_idx, stats): tests
        torch.backends.cudnn.benchmark = True

        self.data_options = DatasetOptions(path=opts.data, use_labels=opts.cond, xflip=opts.mirror,
                                           random_seed=opts.seed)
        try:
            self.dataset = ImageDataset(self.data_options)
        except ValueError as e:
            raise TrainingError(str(e)) from None
        if opts.cond and self.dataset.label_dim == 0:
            raise TrainingError(f"--cond needs labels in {opts.data}/dataset.json")
        self.training_set_kwargs = dataclasses.replace(self.data_options,
                                                       resolution=self.dataset.resolution).to_kwargs()

        self._build_networks(resume_data)
        self.augment_pipe: Optional[AugmentPipe] = None
        self.ada: Optional[AdaController] = None
        if opts.aug != "noaug":
            self.augment_pipe = AugmentPipe(**PRESETS[opts.augpipe]).train().requires_grad_(False).to(self.device)
            self.augment_pipe.p.fill_(opts.p if opts.aug == "fixed" else 0.0)
            if opts.aug == "ada":
                self.ada = AdaController(target=opts.target, interval=opts.ada_interval, kimg=opts.ada_kimg)
        if opts.cfg == "progan":
            self.loss = WGANGPLoss(self.G, self.D, self.augment_pipe, device=self.device)
        else:
            loss_cls = progressive.GrowingStyleGANLoss if opts.cfg == "stylegan" else StyleGANLoss
            self.loss = loss_cls(self.G, self.D, self.augment_pipe, opts.loss_options(), self.device)
        self._build_phases()
        self.counters = Counters()
        self.step_opts = opts                      # This step's options (the grower sets batch per resolution).
        self.grower: Optional[progressive.Grower] = None
        popts = opts.progressive_options()
        if popts is not None:
            self.grower = progressive.Grower(popts, self.dataset.resolution,
                                             offset_nimg=self._grown_offset(popts, resume_data))
            self.grower.apply(self, self.grower.read(self, 0), reset=False)
        if resume_data is not None and resume_data.get("resume"):
            self._restore(resume_data)
        self.tick_stats: dict = {}
        self.last_snapshot: Optional[pathlib.Path] = None

    # ------------------------------------------------------------------ setup
    def _build_networks(self, resume_data: Optional[dict]) -> None:
        from networks import build_discriminator, build_generator
        opts = self.opts
        res, ch, c_dim = self.dataset.resolution, self.dataset.num_channels, self.dataset.label_dim
        g_cfg, d_cfg = network_configs(opts, res, ch, c_dim)
        fp16 = getattr(g_cfg, "num_fp16_res", 0)
        src = resume_data or {}
        G_src = src.get("G") if src.get("G") is not None else src.get("G_ema")
        if G_src is not None:
            # Fine-tuning adopts the resumed network's architecture; only the fp16 use follows this device.
            g_cfg = _with_fp16(G_src.cfg, fp16)
            if src.get("D") is not None:
                d_cfg = _with_fp16(src["D"].cfg, fp16)
            if g_cfg.img_resolution != res or g_cfg.c_dim != c_dim:
                raise TrainingError(f"--resume network makes {g_cfg.img_resolution}px images with c_dim "
                                    f"{g_cfg.c_dim}; the data set is {res}px with c_dim {c_dim}")
        torch.manual_seed(opts.seed)
        self.G = build_generator(g_cfg).train().requires_grad_(False).to(self.device)
        self.D = build_discriminator(d_cfg).train().requires_grad_(False).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval()
        for key, net in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            other = src.get(key)
            if other is None and key in ("G", "G_ema"):
                other = src.get("G_ema" if key == "G" else "G")
            if other is not None:
                missing = net.load_state_dict(other.state_dict(), strict=False)
                if missing.missing_keys or missing.unexpected_keys:
                    raise TrainingError(f"--resume {key} does not match: {len(missing.missing_keys)} missing, "
                                        f"{len(missing.unexpected_keys)} unexpected tensors")
        broadcast_module(self.G, self.info)
        broadcast_module(self.D, self.info)
        broadcast_module(self.G_ema, self.info)

    def _build_phases(self) -> None:
        opts = self.opts
        frozen = _freeze_d_layers(self.D, opts.freezed)
        g_params = list(self.G.parameters())
        d_params = [p for n, p in self.D.named_parameters() if n not in frozen]
        self.phases: list[Phase] = []
        for name, module, params, lr, interval in (("G", self.G, g_params, opts.g_lr, opts.g_reg_interval),
                                                   ("D", self.D, d_params, opts.dlr, opts.d_reg_interval)):
            opt = _lazy_optimizer(params, lr, interval)
            if interval is None:
                self.phases.append(Phase(name + "both", module, params, opt, 1))
            else:
                self.phases.append(Phase(name + "main", module, params, opt, 1))
                self.phases.append(Phase(name + "reg", module, params, opt, interval))
        if opts.progressive_options() is not None:   # NVIDIA's v1 / ProGAN loop trains D, then G.
            self.phases.sort(key=lambda ph: ph.name[0] != "D")

    def _restore(self, data: dict) -> None:
        r = data["resume"]
        if r.get("version") != snap.RESUME_VERSION:
            raise TrainingError(f"resume state version {r.get('version')} is not supported")
        c = r["counters"]
        self.counters = Counters(cur_nimg=int(c["cur_nimg"]), cur_tick=int(c["cur_tick"]),
                                 batch_idx=int(c["batch_idx"]), tick_start_nimg=int(c["cur_nimg"]))
        opts_by_name = {p.name[0]: p.opt for p in self.phases}
        opts_by_name["G"].load_state_dict(r["G_opt"])
        opts_by_name["D"].load_state_dict(r["D_opt"])
        self.loss.pl_mean.copy_(torch.as_tensor(r["pl_mean"]))
        if self.augment_pipe is not None and data.get("augment_pipe") is not None:
            self.augment_pipe.p.copy_(data["augment_pipe"].p)
        if self.ada is not None and r.get("ada"):
            self.ada.sign_sum, self.ada.count = float(r["ada"]["sign_sum"]), float(r["ada"]["count"])
        if self.grower is not None:
            self.grower.restore(self, r.get("progressive"))
        snap.restore_rng(r.get("rng"))

    def _grown_offset(self, popts, resume_data: Optional[dict]) -> int:
        """A fine-tune of foreign weights starts the growing schedule at the resumed network's lod."""
        if not resume_data or resume_data.get("resume") or not self.opts.finetune:
            return 0
        lod = float(getattr(self.G.synthesis, "lod", torch.zeros([])))
        return int(round(progressive.kimg_grown(popts, self.dataset.resolution, lod) * 1000))

    def resume_state(self) -> dict:
        phases = {p.name[0]: p.opt for p in self.phases}
        c = self.counters
        return {
            "version": snap.RESUME_VERSION,
            "options": self.opts.to_dict(),
            "counters": {"cur_nimg": c.cur_nimg, "cur_tick": c.cur_tick, "batch_idx": c.batch_idx},
            "G_opt": phases["G"].state_dict(),
            "D_opt": phases["D"].state_dict(),
            "pl_mean": self.loss.pl_mean.detach().cpu().clone(),
            "ada": ({"sign_sum": self.ada.sign_sum, "count": self.ada.count} if self.ada else None),
            "augment_p": float(self.augment_pipe.p) if self.augment_pipe is not None else None,
            "rng": snap.capture_rng(),
            "progressive": self.grower.state() if self.grower is not None else None,
        }

    # ------------------------------------------------------------------ data
    def _data_iterator(self):
        if self.grower is not None:                 # The minibatch changes with the resolution.
            return self.grower.batches(self)
        opts = self.opts
        consumed = self.counters.batch_idx * opts.per_process_batch   # This rank's items used so far.
        return self._loader(consumed, opts.batch, opts.chunk)

    def _loader(self, consumed: int, batch: int, chunk: int):
        """Chunks of `chunk` (img, label) from this rank's share of global batches of `batch`, after `consumed`."""
        opts, info = self.opts, self.info
        sampler = InfiniteSampler(len(self.dataset), rank=info.rank, world=info.world, seed=opts.seed,
                                  start=consumed, global_batch=batch)
        loader = torch.utils.data.DataLoader(self.dataset, sampler=sampler, batch_size=chunk,
                                             num_workers=opts.num_workers, pin_memory=self.device.type == "cuda",
                                             persistent_workers=opts.num_workers > 0)
        return iter(loader)

    def _gen_labels(self, n: int) -> torch.Tensor:
        if self.dataset.label_dim == 0:
            return torch.zeros([n, 0], device=self.device)
        idx = torch.randint(len(self.dataset), [n]).tolist()
        return torch.from_numpy(np.stack([self.dataset.get_label(i) for i in idx])).to(self.device)

    # ------------------------------------------------------------------ one step
    def step(self, data_iter) -> dict:
        """Trains on one global minibatch; returns the global means of this step's loss terms."""
        if self.grower is not None:
            self.grower.before_step(self)
        opts, info, c = self.step_opts, self.info, self.counters
        rounds = opts.per_process_batch // opts.chunk
        try:
            reals = [next(data_iter) for _ in range(rounds)]
        except DatasetError as e:  # Raised in a worker, it arrives with the worker's traceback.
            raise TrainingError(one_line(e)) from None
        if self.grower is not None:   # Reals at the schedule's lod (faded, repeated to full size).
            reals = [(progressive.lod_reals(img.to(self.device), self.grower.current.lod), lab.to(self.device))
                     for img, lab in reals]
        else:
            reals = [(real_to_float(img, self.device), lab.to(self.device)) for img, lab in reals]
        step_stats: dict = {}
        for phase_idx, phase in enumerate(self.phases):
            if c.batch_idx % phase.interval != 0:
                continue
            phase.module.requires_grad_(False)
            for p in phase.params:
                p.requires_grad_(True)
            phase.opt.zero_grad(set_to_none=True)
            # G's running statistics (w_avg, magnitude EMAs) move in the D phase. Each chunk starts from
            # the same values and the results are averaged over chunks and processes: being affine in
            # the batch mean, that equals one update with the global batch, however the batch is split.
            emas = self._ema_buffers() if phase.name in ("Dmain", "Dboth") else []
            start = [b.detach().clone() for b in emas]
            acc = [torch.zeros_like(b) for b in emas]
            sums: dict = {}
            pl_chunks = torch.zeros(info.world * rounds)   # Mean path length of each global chunk (Greg).
            has_pl = False
            for r, (real_img, real_c) in enumerate(reals):
                for b, b0 in zip(emas, start):
                    b.copy_(b0)
                torch.manual_seed(_chunk_seed(opts.seed, c.batch_idx, phase_idx, info.rank * rounds + r))
                z = torch.randn([opts.chunk, self.G.z_dim], device=self.device)
                gen_c = self._gen_labels(opts.chunk)
                # gain = interval for every chunk: chunk gradients add up (NVIDIA's accumulation).
                stats = self.loss.accumulate(phase.name, real_img, real_c, z, gen_c,
                                             gain=phase.interval, cur_nimg=c.cur_nimg)
                if "_pl_length" in stats:
                    pl_chunks[info.rank * rounds + r] = stats.pop("_pl_length")
                    has_pl = True
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                for a, b in zip(acc, emas):
                    a += b.detach()
            keys = sorted(sums)
            # Per-chunk means averaged over chunks; sign sums and counts are totals (summed, not averaged).
            local = [sums[k] if k in ("_real_sign_sum", "_real_count") else sums[k] / rounds for k in keys]
            bad = sum(0 if math.isfinite(v) else 1 for v in local)
            head = torch.tensor([float(bad)] + [v if math.isfinite(v) else 0.0 for v in local], dtype=torch.float32)
            extras = torch.cat([head] + [(a / rounds).flatten().float().cpu() for a in acc]
                               + ([pl_chunks] if has_pl else []))
            reduced = average_gradients(phase.params, extras, info)
            if reduced[0] > 0:
                raise TrainingDiverged(self._diverged_message(phase.name, keys, local))
            phase.opt.step()
            phase.module.requires_grad_(False)
            offset = 1 + len(keys)
            with torch.no_grad():
                for b in emas:
                    b.copy_(reduced[offset:offset + b.numel()].view_as(b))
                    offset += b.numel()
            if has_pl:  # Averaged over processes, each slot held by one: times world restores it.
                self.loss.update_pl_mean((reduced[offset:offset + pl_chunks.numel()] * info.world).tolist())
            merged = {k: float(v) for k, v in zip(keys, reduced[1:1 + len(keys)].tolist())}
            if "_real_sign_sum" in merged:
                sign_sum = merged.pop("_real_sign_sum") * info.world
                count = merged.pop("_real_count") * info.world
                if self.ada is not None:
                    self.ada.sign_sum += sign_sum
                    self.ada.count += count
            step_stats.update(merged)

        self._update_ema()
        if self.ada is not None:
            rt = self.ada.maybe_update(self.augment_pipe, c.batch_idx, opts.batch)
            if rt is not None:
                step_stats["Progress/rt"] = rt
        c.cur_nimg += opts.batch
        c.batch_idx += 1
        if self.step_callback is not None:
            self.step_callback(c.batch_idx - 1, dict(step_stats))
        return step_stats

    def _ema_buffers(self) -> list:
        """G's buffers that the forward pass updates when update_emas=True."""
        return [b for n, b in self.G.named_buffers()
                if n.endswith("w_avg") or n.endswith("magnitude_ema")]

    def _diverged_message(self, phase: str, keys: list, values: list) -> str:
        bad = [k for k, v in zip(keys, values) if not math.isfinite(v)] or ["a loss on another process"]
        kept = f"; last good snapshot: {self.last_snapshot}" if self.last_snapshot else "; no snapshot written yet"
        return (f"non-finite {', '.join(bad)} in phase {phase} at step {self.counters.batch_idx} "
                f"(kimg {self.counters.cur_nimg / 1000:.3f}); training stopped{kept}")

    @torch.no_grad()
    def _update_ema(self) -> None:
        opts, c = self.step_opts, self.counters
        ema_nimg = opts.ema_nimg
        if opts.ema_rampup is not None:
            ema_nimg = min(ema_nimg, c.cur_nimg * opts.ema_rampup)
        beta = 0.5 ** (opts.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # ------------------------------------------------------------------ outputs
    def _write_snapshot(self) -> Optional[pathlib.Path]:
        if not self.info.is_main or self.run_dir is None:
            return None
        path = snap.save_snapshot(self.run_dir, self.counters.cur_nimg, self.G, self.D, self.G_ema,
                                  self.augment_pipe, self.training_set_kwargs, self.resume_state())
        self._write_fakes()
        return path

    def _write_fakes(self) -> None:
        grid = snap.fakes_grid(self.G_ema)
        kimg = self.counters.cur_nimg // 1000
        save_png(self.run_dir / f"fakes{kimg:06d}.png", grid)
        save_png(self.run_dir / "fakes.png", grid)

    def _write_reals(self) -> None:
        if not self.info.is_main or self.run_dir is None:
            return
        n = min(32, self.dataset.raw_size)
        try:
            imgs = torch.stack([self.dataset[i][0] for i in range(n)]).float() / 127.5 - 1
        except DatasetError as e:
            raise TrainingError(str(e)) from None
        save_png(self.run_dir / "reals.png", snap.images_to_grid(imgs, snap.grid_shape(n)[0]))

    def _metric_options(self):
        """One MetricOptions for the run: the feature network and the data set's features load once."""
        if getattr(self, "_metric_opts", None) is None:
            from networks.metrics.registry import MetricOptions
            self._metric_opts = MetricOptions(
                data=self.opts.data, num=self.opts.metric_samples or (1000 if self.device.type == "cuda" else 64),
                feature_net=self.opts.feature_net, device=str(self.device), seed=self.opts.seed, log=self.log)
        return self._metric_opts

    def _check_metrics(self) -> None:
        """Before the first step: a missing feature network fails now, not at the first snapshot."""
        if not self.opts.metrics or not self.info.is_main:
            return
        from networks.metrics import MetricError, registry
        try:
            registry.check(self.opts.metrics, self.G_ema, self._metric_options())
            if any(m in registry.FEATURE_METRICS for m in self.opts.metrics):
                registry.feature_network(self._metric_options())
        except MetricError as e:
            raise TrainingError(f"--metrics: {e}") from None

    def _run_metrics(self, snapshot_path: Optional[pathlib.Path]) -> dict:
        """NVIDIA's per-snapshot metrics: one metric-<name>.jsonl line each; the results for stats.jsonl."""
        if not self.opts.metrics or not self.info.is_main:
            return {}
        from networks.metrics import MetricError, registry
        out = {}
        for name in self.opts.metrics:
            start = time.time()
            try:
                results = registry.compute(name, self.G_ema, self._metric_options())
            except MetricError as e:
                raise TrainingError(f"--metrics {name}: {e}") from None
            total = time.time() - start
            record = {"results": results, "metric": name, "total_time": total,
                      "total_time_str": _format_time(total), "num_gpus": self.info.world,
                      "snapshot_pkl": snapshot_path.name if snapshot_path else None, "timestamp": time.time(),
                      "kimg": self.counters.cur_nimg / 1000}
            if name in registry.EQUIVARIANCE_METRICS:
                record["unit"] = "dB"
            with open(self.run_dir / f"metric-{name}.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            out.update(results)
        return out

    # ------------------------------------------------------------------ the loop
    def run(self) -> Optional[pathlib.Path]:
        """Trains until opts.kimg thousand images; returns the last snapshot (rank 0)."""
        opts, c = self.opts, self.counters
        total_nimg = int(opts.kimg * 1000)
        self._write_reals()
        self._check_metrics()
        if self.info.is_main and self.run_dir is not None:
            with open(self.run_dir / "training_options.json", "w") as f:
                json.dump({**opts.to_dict(), "training_set_kwargs": self.training_set_kwargs,
                           "world": self.info.world, "resumed_at_kimg": c.cur_nimg / 1000}, f, indent=2)
        data_iter = self._data_iterator()
        self.log(f"training {opts.cfg} {self.dataset.resolution}x{self.dataset.resolution} for {opts.kimg:g} kimg "
                 f"(batch {opts.batch}, {self.info.world} process(es) on {self.device.type}) from kimg "
                 f"{c.cur_nimg / 1000:.1f}" + (f" into {self.run_dir}" if self.run_dir else ""))
        if opts.finetune and c.cur_nimg == 0:
            self.log("fine-tuning pretrained weights as NVIDIA's --resume: no EMA ramp-up, ADA over "
                     f"{opts.ada_kimg:g} kimg" + (", no D-input blur" if opts.cfg == "stylegan3-r" else ""))
        tick_start_time = start_time = time.time()
        c.tick_start_nimg = c.cur_nimg
        bar = self._bar(total_nimg)
        done = c.cur_nimg >= total_nimg
        while not done:
            stats = self.step(data_iter)
            for k, v in stats.items():
                s = self.tick_stats.setdefault(k, [0.0, 0])
                s[0] += v
                s[1] += 1
            if bar is not None:
                bar.update(self.step_opts.batch)
            done = c.cur_nimg >= total_nimg
            if not done and c.cur_nimg < c.tick_start_nimg + opts.tick * 1000:
                continue
            # ---- tick
            if bar is not None:
                bar.close()
            tick_time = time.time() - tick_start_time
            c.cur_tick += 1
            record = self._tick_record(tick_time)
            record["sec_total"] = time.time() - start_time  # of this process, as NVIDIA's "time"
            self.log(self._tick_line(record))
            snapshot_path = None
            if done or c.cur_tick % opts.snap == 0:
                barrier(self.info)
                snapshot_path = self._write_snapshot()
                if snapshot_path is not None:
                    self.last_snapshot = snapshot_path
                    record["snapshot"] = snapshot_path.name
                    results = self._run_metrics(snapshot_path)
                    record.update({f"Metrics/{k}": v for k, v in results.items()})
                barrier(self.info)
            if self.info.is_main and self.run_dir is not None:
                with open(self.run_dir / "stats.jsonl", "a") as f:
                    f.write(json.dumps(record) + "\n")
            self.tick_stats = {}
            c.tick_start_nimg = c.cur_nimg
            tick_start_time = time.time()
            bar = None if done else self._bar(total_nimg)
        self.log(f"done: {self.last_snapshot}" if self.last_snapshot else "done")
        return self.last_snapshot

    def _bar(self, total_nimg: int):
        if not self.info.is_main:
            return None
        from tqdm import tqdm
        remaining = min(self.opts.tick * 1000, total_nimg - self.counters.cur_nimg)
        return tqdm(total=int(remaining), unit="img", leave=False, desc=f"tick {self.counters.cur_tick + 1}",
                    disable=None, file=sys.stderr)

    def _tick_record(self, tick_time: float) -> dict:
        c = self.counters
        nimg = max(c.cur_nimg - c.tick_start_nimg, 1)
        rec = {"tick": c.cur_tick, "kimg": c.cur_nimg / 1000, "step": c.batch_idx,
               "sec_per_tick": tick_time, "sec_per_kimg": tick_time / nimg * 1000,
               "augment_p": float(self.augment_pipe.p) if self.augment_pipe is not None else 0.0,
               "cpu_mem_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
               "timestamp": time.time()}
        if self.grower is not None:
            rec.update(lod=self.grower.current.lod, resolution=self.grower.current.resolution,
                       batch=self.grower.current.minibatch)
        if self.device.type == "cuda":
            rec["gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2 ** 30
            torch.cuda.reset_peak_memory_stats(self.device)
        rec.update({k: s / n for k, (s, n) in self.tick_stats.items()})
        return rec

    @staticmethod
    def _tick_line(r: dict) -> str:
        parts = [f"tick {r['tick']:<4d}", f"kimg {r['kimg']:<8.3f}", f"time {_hms(r.get('sec_total', 0))}",
                 f"sec/tick {r['sec_per_tick']:<7.1f}",
                 f"sec/kimg {r['sec_per_kimg']:<7.2f}"]
        for key, label in (("Loss/G/loss", "G"), ("Loss/D/loss", "D"), ("Loss/r1_penalty", "r1"),
                           ("Loss/pl_penalty", "pl")):
            if key in r:
                parts.append(f"{label} {r[key]:.4f}")
        if "lod" in r:
            parts.append(f"lod {r['lod']:.2f}")
        parts.append(f"augment {r['augment_p']:.3f}")
        mem = f"cpumem {r['cpu_mem_gb']:.2f}GB"
        if "gpu_mem_gb" in r:
            mem += f" gpumem {r['gpu_mem_gb']:.2f}GB"
        parts.append(mem)
        return "  ".join(parts)


def train_process(info: DistInfo, opts: TrainOptions, run_dir: Optional[str], resume_path: Optional[str]) -> None:
    """Entry point of each training process (spawned, torchrun or in-process)."""
    torch.manual_seed(opts.seed)
    np.random.seed(opts.seed)
    resume_data = None
    if resume_path:
        from networks import load_network_pkl
        resume_data = load_network_pkl(resume_path)
    trainer = Trainer(opts, info, pathlib.Path(run_dir) if run_dir else None, resume_data)
    trainer.run()


def _format_time(seconds: float) -> str:
    """NVIDIA's format_time: '12s', '3m 04s', '2h 05m 09s', '1d 02h 03m'."""
    s = int(np.rint(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s // 60 % 60:02d}m {s % 60:02d}s"
    return f"{s // 86400}d {s // 3600 % 24:02d}h {s // 60 % 60:02d}m"


def _with_fp16(cfg, fp16: int):
    """cfg with num_fp16_res = fp16 where the architecture has fp16 layers (StyleGAN v1 / ProGAN have none)."""
    names = {f.name for f in dataclasses.fields(cfg)}
    return dataclasses.replace(cfg, num_fp16_res=fp16) if "num_fp16_res" in names else cfg


def _hms(seconds: float) -> str:
    """12s, 3m 04s, 2h 05m: the elapsed-time format of NVIDIA's tick lines."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s // 60 % 60:02d}m"
