"""`sg-explorer train`: train or fine-tune StyleGAN2 / StyleGAN3-T / StyleGAN3-R, or StyleGAN (v1) / ProGAN
grown progressively (--start-res, --grow-kimg; networks.training.progressive), on a data set zip.

Each run gets OUTDIR/NNNNN-<desc>/ with stats.jsonl (one record per tick), snapshots
network-snapshot-<kimg>.pkl (exact resume state included), fakes*.png grids and metric-*.jsonl.
--resume takes one of our snapshots (continues the run: kimg, augment p, optimiser and RNG state),
an NVIDIA or exported pickle (fine-tunes its G, D, G_ema with NVIDIA's resume settings: no EMA ramp-up,
ada_kimg 100, no StyleGAN3-R blur) or 'latest' (newest complete snapshot in OUTDIR).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from explorer.errors import UserError

# Settings that may change when a run is resumed from our own snapshot; everything else comes from it.
RESUME_OVERRIDES = ("data", "outdir", "kimg", "tick", "snap", "nproc", "device", "workers", "metrics",
                    "metric_samples", "feature_net", "resume", "batch_gpu")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from networks.training.options import AUG_MODES, CFGS
    a = parser.add_argument
    a("--cfg", required=True, choices=CFGS, help="architecture")
    a("--data", required=True, help="data set zip or folder (sg-explorer dataset)")
    a("--outdir", required=True, help="where run folders NNNNN-<desc> are created")
    a("--batch", required=True, type=int,
      help="total minibatch size (all processes); stylegan / progan: at the final resolution, "
           "lower ones scaled by the papers' table")
    a("--gamma", required=True, type=float, help="R1 regularisation weight")
    a("--batch-gpu", type=int, default=None, help="images per forward pass per process (default: batch / nproc)")
    a("--mirror", action="store_true", help="add x-flipped copies of the data set")
    a("--cond", action="store_true", help="train a conditional model on dataset.json labels")
    a("--aug", choices=AUG_MODES, default="ada", help="augmentation: adaptive, none or fixed p")
    a("--augpipe", default="bgc",
      help="augmentation preset: bgc, blit, geom, color, filter, noise, cutout, bg, bgcn, bgcf, bgcfn, bgcfnc")
    a("--target", type=float, default=0.6, help="ADA target for E[sign(D(real))]")
    a("--p", type=float, default=0.2, help="augment probability for --aug fixed")
    a("--resume", default=None, help="snapshot .pkl, NVIDIA pickle, or 'latest' (newest in --outdir)")
    a("--kimg", type=float, default=25000, help="train until this many thousand images")
    a("--tick", type=float, default=4, help="kimg per progress line")
    a("--snap", type=int, default=50, help="ticks per snapshot")
    a("--cbase", type=int, default=None,
      help="channel base: channels at r = cbase / r (default 32768; 16384 for stylegan / progan, the papers')")
    a("--cmax", type=int, default=512, help="max channels")
    a("--map-depth", type=int, default=None, help="mapping layers (default 8 for stylegan2, 2 for stylegan3)")
    a("--num-layers", type=int, default=None,
      help="StyleGAN3 synthesis layers (default 14; fewer make a small model cheaper)")
    a("--glr", type=float, default=None,
      help="G learning rate (default 0.002 stylegan2, 0.0025 stylegan3, 0.001 stylegan / progan)")
    a("--dlr", type=float, default=None, help="D learning rate (default 0.002; 0.001 for stylegan / progan)")
    a("--start-res", type=int, default=None,
      help="stylegan / progan: first trained resolution of progressive growing (default 8 / 4, as the papers)")
    a("--grow-kimg", type=float, default=600,
      help="stylegan / progan: kimg per fade-in and per stable phase (default 600, as the papers)")
    a("--freezed", type=int, default=0, help="freeze the first N layers of D (transfer learning)")
    a("--mbstd-group", type=int, default=4, help="minibatch-stddev group size")
    a("--seed", type=int, default=0, help="random seed")
    a("--nproc", type=int, default=1, help="processes (gloo on CPU, NCCL on CUDA); torchrun also works")
    a("--device", choices=("cpu", "cuda"), default="cuda" if _cuda() else "cpu", help="torch device (default cuda when available)")
    a("--workers", type=int, default=None,
      help="data loader worker processes per training process (default: min(3, cores per process - 1))")
    a("--metrics", default="", help="at each snapshot, comma list of fid, kid, pr (against --data) and eqt, "
      "eqt_frac, eqr (StyleGAN3), or 'none'; as sg-explorer metrics")
    a("--metric-samples", type=int, default=0, help="generated images per metric (0 = 1000 on CUDA, 64 on CPU)")
    a("--feature-net", default=None, metavar="FILE",
      help="fid / kid / pr: pt_inception-2015-12-05-6726825d.pth (default: the download cache)")
    a("--fp32", action="store_true", help="disable fp16 layers and conv clamping")
    a("--z-dim", type=int, default=512, help="latent z dimension (default 512)")
    a("--w-dim", type=int, default=512, help="intermediate w dimension (default 512)")


def _cuda() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except Exception:
        return False


def _parse_metrics(text: str) -> tuple:
    if not text or text.strip().lower() == "none":
        return ()
    return tuple(m.strip().lower().replace("-", "_") for m in text.split(",") if m.strip())


def options_from_args(args: argparse.Namespace):
    from networks.training.options import TrainOptions
    return TrainOptions(cfg=args.cfg, data=args.data, outdir=args.outdir, batch=args.batch, gamma=args.gamma,
                        batch_gpu=args.batch_gpu, mirror=args.mirror, cond=args.cond, aug=args.aug,
                        augpipe=args.augpipe, target=args.target, p=args.p, resume=args.resume, kimg=args.kimg,
                        tick=args.tick, snap=args.snap, cbase=args.cbase, cmax=args.cmax, map_depth=args.map_depth,
                        num_layers=args.num_layers,
                        glr=args.glr, dlr=args.dlr, freezed=args.freezed, mbstd_group=args.mbstd_group,
                        seed=args.seed, nproc=args.nproc, device=args.device, workers=args.workers,
                        metrics=_parse_metrics(args.metrics), metric_samples=args.metric_samples,
                        feature_net=args.feature_net,
                        fp32=args.fp32, z_dim=args.z_dim, w_dim=args.w_dim,
                        start_res=args.start_res, grow_kimg=args.grow_kimg)


def resolve_resume(opts, warn=lambda m: print(m, file=sys.stderr)):
    """(options to train with, path of the checkpoint to resume from or None)."""
    from networks import CheckpointError, load_network_pkl
    from networks.training.options import TrainOptions
    from networks.runs import snapshots_newest_first
    if not opts.resume:
        return opts, None
    if opts.resume == "latest":
        candidates = snapshots_newest_first(opts.outdir)
        if not candidates:
            raise UserError(f"--resume latest: no network-snapshot-*.pkl under {opts.outdir}")
    else:
        if not os.path.isfile(opts.resume) and not opts.resume.startswith(("http://", "https://")):
            raise UserError(f"--resume {opts.resume}: no such file")
        candidates = [opts.resume]
    for path in candidates:
        try:
            data = load_network_pkl(str(path))
        except CheckpointError as e:
            if opts.resume != "latest":
                raise
            warn(f"warning: skipped {path}: {e}")
            continue
        saved = data.get("resume")
        if not saved:
            return opts, str(path)  # NVIDIA pickle (or ours without state): weights only.
        fields = dict(saved.get("options") or {})
        for name in RESUME_OVERRIDES:
            fields[name] = getattr(opts, name)
        fields["metrics"] = opts.metrics
        fields["resume"] = str(path)
        resumed = TrainOptions.from_dict(fields)
        changed = [n for n in ("cfg", "batch", "gamma", "mirror", "cond", "aug", "cbase", "cmax", "seed")
                   if getattr(resumed, n) != getattr(opts, n)]
        if changed:
            warn("warning: continuing the snapshot's run; ignored " +
                 ", ".join(f"--{n} {getattr(opts, n)} (run has {getattr(resumed, n)})" for n in changed))
        return resumed, str(path)
    raise UserError(f"--resume latest: no readable snapshot under {opts.outdir}")


def _run_desc(opts) -> str:
    name = os.path.splitext(os.path.basename(os.path.normpath(opts.data)))[0] or "data"
    return f"{opts.cfg}-{name}-gpus{opts.nproc}-batch{opts.batch}-gamma{opts.gamma:g}"


def run(args: argparse.Namespace) -> int:
    import torch
    from networks.training import distributed, loop
    from networks.training.dataset import DatasetOptions, ImageDataset
    from networks.training.snapshot import next_run_dir

    opts = options_from_args(args)
    if distributed.under_torchrun():
        opts = dataclasses.replace(opts, nproc=int(os.environ["WORLD_SIZE"]))
    opts, resume_path = resolve_resume(opts)
    problems = opts.validate()
    if problems:
        raise UserError(problems[0])
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available (use --device cpu)")
    if opts.device == "cuda" and opts.nproc > torch.cuda.device_count() and not distributed.under_torchrun():
        raise UserError(f"--nproc {opts.nproc}: only {torch.cuda.device_count()} CUDA device(s)")
    try:
        ds = ImageDataset(DatasetOptions(opts.data, use_labels=opts.cond, xflip=opts.mirror))
    except ValueError as e:
        raise UserError(f"--data: {e}") from None
    if opts.cond and ds.label_dim == 0:
        raise UserError(f"--cond: {opts.data} has no labels (dataset.json)")
    if opts.mbstd_group and opts.chunk % min(opts.mbstd_group, opts.chunk):
        raise UserError(f"images per pass ({opts.chunk}) must be a multiple of the mbstd group")
    rank = int(os.environ.get("RANK", 0)) if distributed.under_torchrun() else 0
    run_dir = None
    if rank == 0:
        run_dir = str(next_run_dir(opts.outdir, _run_desc(opts)))
    elif distributed.under_torchrun():
        run_dir = None  # Only rank 0 writes files.
    try:
        distributed.launch(loop.train_process, (opts, run_dir, resume_path), opts.nproc, opts.device)
    except loop.TrainingDiverged as e:
        print(f"sg-explorer: error: {e}", file=sys.stderr)
        return 1
    except loop.TrainingError as e:
        raise UserError(str(e)) from None
    except Exception as e:
        if type(e).__name__ in ("ProcessRaisedException", "ProcessExitedException"):
            last = [ln for ln in str(e).strip().splitlines() if ln.strip()]
            print(f"sg-explorer: error: training process failed: {last[-1] if last else e}", file=sys.stderr)
            return 1
        raise
    return 0
