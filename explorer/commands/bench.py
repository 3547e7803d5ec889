"""`sg-explorer bench ...`: speed and memory figures (benchmarks, not tests)."""
from __future__ import annotations

import os
import sys

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("--arch", default="stylegan3-t",
                        choices=["stylegan2", "stylegan3-t", "stylegan3-r", "stylegan", "progan"],
                        help="generator timed (default stylegan3-t), NVIDIA's default config at --res")
    parser.add_argument("--res", type=int, default=256, help="output resolution (power of two)")
    parser.add_argument("--batch", type=int, default=1, help="images per forward pass (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per implementation (median)")
    parser.add_argument("--impl", default="fast,ref", help="ops to time: fast, ref or fast,ref")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--fp16", action="store_true", help="CUDA: run the fp16 layers in fp16")
    parser.add_argument("--memory", action="store_true",
                        help="peak memory of one image in a fresh process (e.g. --arch stylegan3-t --res 1024)")
    parser.add_argument("--gui", action="store_true",
                        help="UI frame rate, slider- and drag-to-screen latency, texture upload (PKL or a random "
                             "StyleGAN2 at --res)")
    parser.add_argument("pkl", nargs="?", metavar="PKL", help="--gui: the checkpoint to time (default: random weights)")
    parser.add_argument("--view", default="output", choices=["output", "layer", "spectrum"],
                        help="--gui: main view mode while timing (layer, spectrum: the largest layer)")
    parser.add_argument("--video", action="store_true", help="video export frames per second, encoding overhead")
    parser.add_argument("--train", action="store_true", help="training images per second per cfg at 64x64")
    parser.add_argument("--contended", action="store_true",
                        help="quiet vs beside one busy process (started and stopped here), fast and reference "
                             "ops, StyleGAN2 and StyleGAN3-T at --res")


def run(args) -> int:
    if args.res < 4 or args.res & (args.res - 1):
        raise UserError("--res must be a power of two >= 4")
    if args.batch < 1 or args.repeats < 1:
        raise UserError("--batch and --repeats must be at least 1")
    if args.repeats == 1:
        print("warning: --repeats 1 times a single run, which one busy moment of the machine decides; "
              "the figure is not stable (use 3 or more)", file=sys.stderr)
    impls = [s.strip() for s in args.impl.split(",") if s.strip()]
    if not impls or any(i not in ("fast", "ref") for i in impls):
        raise UserError("--impl takes fast, ref or fast,ref")
    if args.pkl is not None and not args.gui:
        raise UserError("PKL is timed by --gui only (the other figures use random weights at --res)")
    from explorer.devices import resolve_device
    device = resolve_device(args.device)
    if args.gui:
        from explorer.gui.bench import bench_gui
        if args.pkl is not None and not args.pkl.startswith(("http://", "https://")) and not os.path.exists(args.pkl):
            raise UserError(f"{args.pkl}: no such file")
        bench_gui(checkpoint=args.pkl, resolution=args.res, view=args.view)
        return 0
    if args.video:
        from explorer.video.bench import bench_video
        bench_video()
        return 0
    if args.train:
        from networks.training.bench import bench_training
        bench_training(device=str(device), impls=impls)
        return 0
    from networks import benchmark
    if args.memory:
        benchmark.bench_memory(args.arch, args.res)
        return 0
    if args.contended:
        benchmark.bench_contended(res=args.res, batch=args.batch, repeats=args.repeats, impls=impls,
                                  device=str(device), force_fp32=not args.fp16)
        return 0
    benchmark.bench_speed(args.arch, args.res, args.batch, args.repeats, impls, str(device), not args.fp16)
    return 0
