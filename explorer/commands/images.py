"""`sg-explorer images PKL --seeds 0-3,7 --outdir DIR`: one PNG per seed, pixels as NVIDIA's tools write them.

Pixels: uint8 of (img * 127.5 + 128).clamp(0, 255), img [N, C, H, W] from G(z, c) in about [-1, 1].
--translate / --rotate set StyleGAN3's input transform as NVIDIA's gen_images.py does: the buffer
`synthesis.input.transform` holds inverse([[cos a, sin a, x], [-sin a, cos a, y], [0, 0, 1]]).
"""
from __future__ import annotations

import math
import pathlib

from explorer.errors import UserError


def _pair(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--translate expects X,Y (two numbers), got {text!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise UserError(f"--translate {text}: X and Y must be finite numbers")
    return x, y


def add_arguments(parser) -> None:
    parser.add_argument("pkl", metavar="PKL", help="checkpoint: path, http(s) URL or training run folder")
    parser.add_argument("--seeds", default=None, metavar="LIST",
                        help="seeds, e.g. 0-3,7 (ranges inclusive); required unless --w")
    parser.add_argument("--w", default=None, metavar="FILE.npz",
                        help="render the ws in this file (key 'w' [N, num_ws, w_dim], e.g. project's "
                             "projected_w.npz) as wNNNN.png instead of seeds")
    parser.add_argument("--edit", action="append", default=[], metavar="FILE.npz:INDEX:STRENGTH[:LAYERS]",
                        help="add STRENGTH stds of direction INDEX of a directions file to w, on ws LAYERS "
                             "(e.g. 0-3 or coarse|middle|fine; default the file's layers); repeatable"),
    parser.add_argument("--trunc", type=float, default=1.0, metavar="PSI", help="truncation psi (default 1)")
    parser.add_argument("--trunc-cutoff", type=int, default=None, metavar="N",
                        help="truncate only the first N ws (default all)")
    parser.add_argument("--class", dest="class_idx", type=int, default=None, metavar="IDX",
                        help="class label, 0..c_dim-1 (conditional networks only)")
    parser.add_argument("--noise-mode", default="const", choices=["const", "random", "none"],
                        help="per-pixel noise: the stored constant (default), fresh random, or none")
    parser.add_argument("--noise-seed", type=int, default=0, metavar="N",
                        help="torch seed of the noise with --noise-mode random (default 0)")
    parser.add_argument("--translate", type=str, default=None, metavar="X,Y",
                        help="StyleGAN3: translate the input, in image widths/heights as in NVIDIA's "
                             "gen_images.py (0.25,0 moves the content a quarter width right; +Y is down)")
    parser.add_argument("--rotate", type=float, default=0.0, metavar="DEG",
                        help="StyleGAN3: rotate the input, degrees counter-clockwise (default 0)")
    parser.add_argument("--mix-seed", type=int, default=None, metavar="SEED",
                        help="style mixing: take the ws listed in --mix-ws from this seed")
    parser.add_argument("--mix-ws", default=None, metavar="LIST",
                        help="w indices mixed in from --mix-seed, e.g. 0-3 (coarse) or 8-13 (fine)")
    parser.add_argument("--untransform", action="store_true",
                        help="StyleGAN3: resample the output back by the inverse of --translate/--rotate "
                             "(band-limited), as the explorer's untransform does")
    parser.add_argument("--net", default="G_ema", choices=["G_ema", "G"], help="which generator (default G_ema)")
    parser.add_argument("--device", default="cpu", metavar="cpu|cuda", help="torch device (default cpu)")
    parser.add_argument("--batch", type=int, default=1, metavar="N", help="seeds rendered per forward pass")
    parser.add_argument("--fp16", action="store_true", help="CUDA: let the fp16 layers run in fp16")
    parser.add_argument("--outdir", required=True, metavar="DIR",
                        help="folder for seedNNNN.png (created if missing; its parent must exist)")


def _states(args, seeds: list[int], translate: tuple[float, float], mix_ws: list[int], num_ws: int,
            edits: list) -> list:
    """One RenderState per seed: the engine's description of what NVIDIA's gen_images.py draws for it."""
    from explorer.engine.state import RenderState
    mask = [i in mix_ws for i in range(num_ws)]
    base = RenderState(which=args.net, device=args.device, force_fp32=not args.fp16, class_idx=args.class_idx,
                       trunc_psi=args.trunc, trunc_cutoff=args.trunc_cutoff, noise_mode=args.noise_mode,
                       noise_seed=args.noise_seed, mix_seed=args.mix_seed or 0, mix_mask=mask,
                       translate_x=translate[0], translate_y=translate[1], rotate=args.rotate,
                       untransform=args.untransform, edits=edits)
    # A seed s is the point (s, 0) of the seed plane; step_y 0 keeps seeds past 2**31 exact.
    return [base.replace(x=float(s), step_y=0) for s in seeds]


def run(args) -> int:
    from explorer.devices import resolve_device
    from explorer.engine.latents import parse_seeds
    from explorer.engine.renderer import has_styles, render_batch
    from networks.files import save_png
    from networks import load_network_pkl

    # Every argument is checked before the (slow) load.
    from explorer.commands.directions import check_edit_arg, edit_dict
    if (args.seeds is None) == (args.w is None):
        raise UserError("give either --seeds or --w")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else []
    edit_args = [check_edit_arg(e) for e in args.edit]
    w_file = _load_w(args.w) if args.w is not None else None
    translate = _pair(args.translate) if args.translate else (0.0, 0.0)
    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    if not math.isfinite(args.trunc) or not math.isfinite(args.rotate):
        raise UserError("--trunc and --rotate must be finite numbers")
    if args.trunc_cutoff is not None and args.trunc_cutoff < 0:
        raise UserError("--trunc-cutoff must be >= 0")
    if (args.mix_seed is None) != (args.mix_ws is None):
        raise UserError("style mixing needs both --mix-seed and --mix-ws")
    mix_ws = parse_seeds(args.mix_ws) if args.mix_ws is not None else []
    device = resolve_device(args.device)
    outdir = _outdir(args.outdir)

    data = load_network_pkl(args.pkl)
    G = data.get(args.net)
    if G is None:
        raise UserError(f"the checkpoint has no {args.net}")
    G = G.to(device)
    if (args.translate or args.rotate or args.untransform) and not hasattr(G.synthesis, "input"):
        raise UserError("--translate / --rotate / --untransform need a StyleGAN3 network")
    if not has_styles(G) and (args.trunc != 1 or args.trunc_cutoff is not None or mix_ws):
        # Accepting and ignoring them would hand back an image the user did not ask for.
        raise UserError(f"--trunc / --trunc-cutoff / --mix-ws do not apply: {G.arch} has no truncation or style "
                        "mixing (its one w row is the normalised z)")
    if bad := [i for i in mix_ws if i >= G.num_ws]:
        raise UserError(f"--mix-ws {bad[0]} is out of range: this network has ws 0..{G.num_ws - 1}")
    if G.c_dim:
        if args.class_idx is None:
            raise UserError(f"this network is conditional: give --class (0..{G.c_dim - 1})")
        if not 0 <= args.class_idx < G.c_dim:
            raise UserError(f"--class {args.class_idx} is out of range 0..{G.c_dim - 1}")
    elif args.class_idx is not None:
        raise UserError("--class given, but this network is unconditional")

    edits = [edit_dict(path, k, nums[0], layers, G) for path, k, nums, layers in edit_args]
    states = _states(args, seeds, translate, mix_ws, G.num_ws, edits)
    names = [(f"seed{seed:04d}.png", f"seed {seed}") for seed in seeds]
    if w_file is not None:
        if w_file.shape[1:] != (G.num_ws, G.w_dim):
            raise UserError(f"--w {args.w}: w has shape {list(w_file.shape)}, this network needs "
                            f"[N, {G.num_ws}, {G.w_dim}]")
        states = [states_w.replace(w=w.tolist()) for states_w, w in zip(_states(args, [0] * len(w_file), translate,
                                                                                mix_ws, G.num_ws, edits), w_file)]
        names = [(f"w{i:04d}.png", f"w {i}") for i in range(len(w_file))]
    created = not outdir.exists()
    try:
        outdir.mkdir(exist_ok=True)
        for i in range(0, len(states), args.batch):
            for (name, label), result in zip(names[i:i + args.batch], render_batch(G, states[i:i + args.batch])):
                path = save_png(outdir / name, result.image)
                print(f"{label} -> {path}")
    except BaseException:
        if created:  # a failed run leaves no empty folder behind
            _remove_if_empty(outdir)
        raise
    return 0


def _load_w(path: str):
    """ws [N, num_ws, w_dim] float32 from an .npz with key 'w' (no pickles)."""
    import numpy as np
    try:
        with np.load(path, allow_pickle=False) as z:
            w = z["w"] if "w" in z.files else None
    except (OSError, ValueError, EOFError) as e:
        raise UserError(f"--w {path}: not a readable .npz ({str(e).splitlines()[0] if str(e) else 'unreadable'})") \
            from None
    if w is None or w.ndim != 3 or w.dtype.kind != "f" or not np.all(np.isfinite(w)):
        raise UserError(f"--w {path}: expected key 'w' holding finite floats [N, num_ws, w_dim]")
    return w.astype(np.float32)


def _outdir(text: str) -> pathlib.Path:
    """--outdir checked as video's output is: an existing folder must be writable; a missing one is created at
    the first image, and only inside an existing parent folder."""
    from networks.files import check_writable_dir
    path = pathlib.Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"--outdir {text}: not a folder")
    target = path if path.exists() else path.absolute().parent
    if not target.is_dir():
        raise UserError(f"cannot write {text}: folder {target} does not exist")
    try:
        check_writable_dir(target, create=False)
    except OSError as e:
        raise UserError(f"cannot write {text}: folder {target} is not writable ({e.strerror or e})") from None
    return path


def _remove_if_empty(path: pathlib.Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
