"""`sg-explorer video PKL --output out.mp4 ...`: interpolation, transform and layer videos.

Output format by the --output name: .mp4 (H.264), .webm (VP9), .gif, or a folder of numbered PNG frames (a path
ending in '/' or without an extension; lossless, pixel-exact). Beside it (unless --no-sidecars): <name>.recipe.json
(for a keyframe video a valid --keyframes input) and <name>.command.txt. The file appears only when complete;
Ctrl-C leaves nothing behind.
"""
from __future__ import annotations

import argparse

from explorer.errors import UserError

EPILOG = """\
frames: keyframes = len(seeds) / (grid cells) unless --num-keyframes; total = keyframes * --w-frames with --loop
(the last keyframe leads back into the first), (keyframes-1) * --w-frames + 1 with --no-loop.
files: beside OUTPUT, OUTPUT.recipe.json (every setting; for a keyframe video also the keyframes, a valid
--keyframes input) and OUTPUT.command.txt (the command line that re-renders it); --no-sidecars writes neither.
examples:
  sg-explorer video net.pkl --seeds 0-31 --grid 2x2 --w-frames 60 --output walk.mp4
  sg-explorer video sg3.pkl --seeds 5 --w-frames 240 --translate-anim 0.1,4 --rotate-anim 15 --output t.mp4
  sg-explorer video sg3.pkl --seeds 0-3 --layer L4_84_512 --channels 0,1,2 --output frames/
  sg-explorer video --keyframes recipe.json --output tour.webm
"""


def add_arguments(parser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("pkl", nargs="?", default="",
                        help="checkpoint path or URL (optional with --keyframes: the recipe's states name one)")
    parser.add_argument("--output", "-o", required=True,
                        help="out.mp4 | out.webm | out.gif | folder/ (numbered PNGs; a path without extension)")
    parser.add_argument("--seeds", default="0", help="seeds walked through, e.g. 0-31 (default 0)")
    parser.add_argument("--grid", default="1x1", help="COLSxROWS; each cell walks its own share of the seeds")
    parser.add_argument("--num-keyframes", type=int, default=None,
                        help="keyframes per cell (seeds repeat to fill); default len(seeds) / cells")
    parser.add_argument("--shuffle-seed", type=int, default=None, help="shuffle the seeds with this RNG seed")
    parser.add_argument("--w-frames", type=int, default=120, help="frames per keyframe transition (default 120)")
    parser.add_argument("--kind", default="cubic", choices=["linear", "cubic", "slerp"],
                        help="interpolation: linear, cubic (Catmull-Rom through the keys; the default), slerp (in z)")
    parser.add_argument("--space", default=None, choices=["w", "z"],
                        help="interpolate in w (default) or z (default for slerp)")
    parser.add_argument("--loop", dest="loop", action="store_true", default=True,
                        help="the last keyframe leads back into the first (default)")
    parser.add_argument("--no-loop", dest="loop", action="store_false", help="end on the last keyframe")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1)")
    parser.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N ws")
    parser.add_argument("--class", dest="class_idx", type=int, default=None, help="class label (conditional nets)")
    parser.add_argument("--noise-mode", default="const", choices=["const", "random", "none"],
                        help="per-pixel noise: the stored constant (default), fresh random, or none")
    parser.add_argument("--noise-seed", type=int, default=0,
                        help="--noise-mode random: frame k draws its noise from seed NOISE_SEED + k")
    parser.add_argument("--net", default="G_ema", choices=["G_ema", "G"], help="which generator")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device (default cpu)")
    parser.add_argument("--fp32", action="store_true", help="CUDA: run fp16 layers in fp32")
    parser.add_argument("--fps", type=float, default=None,
                        help="frames per second (default 30, or the recipe's with --keyframes)")
    parser.add_argument("--crf", type=int, default=None, help="quality for .mp4 (0..51) / .webm (0..63), lower is "
                                                              "better (default 18 for H.264, 32 for VP9)")
    parser.add_argument("--bitrate", default=None, help="target bitrate for .mp4/.webm, e.g. 8M (instead of --crf)")
    parser.add_argument("--size", default=None, help="WxH of the output frames (default: natural size)")
    parser.add_argument("--translate-anim", default=None, metavar="RADIUS,PERIOD",
                        help="StyleGAN3: translate along a circle of RADIUS image widths every PERIOD seconds")
    parser.add_argument("--rotate-anim", type=float, default=None, metavar="DEG_PER_SEC",
                        help="StyleGAN3: rotate at this many degrees per second")
    parser.add_argument("--untransform", action="store_true",
                        help="StyleGAN3: resample the output back so an equivariant network looks still")
    parser.add_argument("--layer", default=None, help="show this synthesis layer instead of the image "
                                                      "(names: sg-explorer info PKL)")
    parser.add_argument("--channels", default="0,1,2", help="layer channels shown: one (grey) or three (RGB)")
    parser.add_argument("--amplify-db", type=float, default=0.0, help="layer view gain in dB")
    parser.add_argument("--normalize", action="store_true", help="layer view: scale each channel to max |v| = 1")
    parser.add_argument("--side-by-side", default=None, metavar="PKL2", help="render a second checkpoint beside")
    parser.add_argument("--keyframes", default=None, metavar="RECIPE.json",
                        help="render a keyframe recipe (list of {state, frames}) instead of a seed walk")
    parser.add_argument("--batch", type=int, default=8, help="frames generated per batch (default 8)")
    parser.add_argument("--no-sidecars", dest="sidecars", action="store_false",
                        help="write only the video: no OUTPUT.recipe.json and OUTPUT.command.txt beside it")
    parser.add_argument("--edit-sweep", default=None, metavar="FILE.npz:INDEX:FROM:TO[:LAYERS]",
                        help="sweep direction INDEX of a directions file from FROM to TO stds over --w-frames "
                             "frames, on the first seed")


def _int_list(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"bad {what} {text!r}; expected comma-separated integers") from None


def spec_from_args(args):
    from explorer.engine.latents import parse_seeds
    from explorer.video.spec import VideoSpec, parse_pair

    translate = None
    if args.translate_anim is not None:
        translate = parse_pair(args.translate_anim, "--translate-anim", sep=",", kind=float)
    return VideoSpec(
        checkpoint=args.pkl or "", output=args.output, seeds=parse_seeds(args.seeds),
        grid=parse_pair(args.grid, "--grid"), num_keyframes=args.num_keyframes, shuffle_seed=args.shuffle_seed,
        w_frames=args.w_frames, kind=args.kind, space=args.space, loop=args.loop, trunc_psi=args.trunc,
        trunc_cutoff=args.trunc_cutoff, class_idx=args.class_idx, noise_mode=args.noise_mode,
        noise_seed=args.noise_seed, which=args.net, device=args.device, force_fp32=args.fp32, fps=args.fps,
        crf=args.crf, bitrate=args.bitrate, size=parse_pair(args.size, "--size") if args.size else None,
        translate_anim=translate, rotate_anim=args.rotate_anim, untransform=args.untransform, layer=args.layer,
        channels=_int_list(args.channels, "--channels"), amplify_db=args.amplify_db, normalize=args.normalize,
        side_by_side=args.side_by_side, keyframes=args.keyframes, batch=args.batch)


def run(args) -> int:
    import sys

    from tqdm import tqdm

    from explorer.video import export_video

    spec = spec_from_args(args).validate()  # every argument and the output path, before loading anything
    recipe = cache = None
    if args.edit_sweep is not None:           # the sweep is a keyframe recipe: one keyframe per frame
        from explorer.commands.directions import sweep_recipe
        from explorer.engine.cache import NetworkCache
        cache = NetworkCache()
        recipe = sweep_recipe(args.edit_sweep, spec, cache)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="frame", desc="video", file=sys.stderr, dynamic_ncols=True)
        bar.update(done - bar.n)

    try:
        path = export_video(spec, progress=progress, sidecars=args.sidecars, recipe=recipe, cache=cache)
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {path} ({spec.command})")
    return 0
