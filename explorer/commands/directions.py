"""`sg-explorer directions PKL --method sefa|ganspace --output FILE.npz`: semantic directions in W.

SeFa (closed form, from the style weights of the chosen layers) or GANSpace (PCA of --samples mapped w); the file
holds `directions` [K, w_dim] unit rows, `values` [K], `stds` [K] (one unit of edit strength), `method`, `layers`
(format: networks/edit/directions.py). Use it with `images --edit FILE:INDEX:STRENGTH` or the window's panel.
"""
from __future__ import annotations

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("pkl", metavar="PKL", help="checkpoint: path, http(s) URL or training run folder")
    parser.add_argument("--method", required=True, choices=["sefa", "ganspace"],
                        help="sefa: eigenvectors of the style weights (instant); ganspace: PCA of sampled w")
    parser.add_argument("--layers", default=None, metavar="LIST",
                        help="SeFa: w indices whose styles are factorised, e.g. 0-3, or coarse|middle|fine "
                             "(default all but to-RGB)")
    parser.add_argument("--num", type=int, default=10, metavar="K", help="number of directions (default 10)")
    parser.add_argument("--samples", type=int, default=None, metavar="M",
                        help="mapped samples: GANSpace's PCA (default 10000), SeFa's strength unit (default 1000)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="RandomState seed of the samples")
    parser.add_argument("--net", default="G_ema", choices=["G_ema", "G"], help="which generator (default G_ema)")
    parser.add_argument("--device", default="cpu", metavar="cpu|cuda", help="torch device (default cpu)")
    parser.add_argument("--output", "-o", required=True, metavar="FILE.npz", help="direction file written")


def parse_layers(text, G) -> list[int] | None:
    """'0-3,7' or 'coarse' / 'middle' / 'fine' (StyleGAN's resolution groups) -> w indices; None -> None."""
    from explorer.engine.latents import parse_seeds
    from networks.edit.directions import layer_presets
    if text is None:
        return None
    presets = layer_presets(G)
    if text in presets:
        return presets[text]
    try:
        layers = parse_seeds(text)
    except UserError:
        raise UserError(f"bad layer list {text!r}: expected w indices like 0-3,7 or coarse|middle|fine") from None
    if bad := [i for i in layers if i >= G.num_ws]:
        raise UserError(f"layer {bad[0]} is out of range: this network has ws 0..{G.num_ws - 1}")
    return layers


def load_generator(pkl: str, net: str, device: str):
    from explorer.devices import resolve_device
    from networks import load_network_pkl
    dev = resolve_device(device)
    G = load_network_pkl(pkl).get(net)
    if G is None:
        raise UserError(f"the checkpoint has no {net}")
    return G.to(dev).eval()


def run(args) -> int:
    import pathlib
    import sys
    import time

    from networks.edit.directions import DirectionError, ganspace, save_directions, sefa

    out = pathlib.Path(args.output)
    if out.suffix.lower() != ".npz":
        raise UserError(f"--output {args.output}: a direction file ends in .npz")
    if args.num < 1:
        raise UserError("--num must be at least 1")
    if args.samples is not None and args.samples < 2:
        raise UserError("--samples must be at least 2")
    if args.method == "ganspace" and args.layers is not None:
        raise UserError("--layers is for SeFa; GANSpace directions live in w (edits choose their layers)")
    if not out.parent.is_dir():
        raise UserError(f"--output {args.output}: folder {out.parent} does not exist")
    G = load_generator(args.pkl, args.net, args.device)
    layers = parse_layers(args.layers, G)
    t0 = time.perf_counter()
    try:
        if args.method == "sefa":
            d = sefa(G, layers, num=args.num, std_samples=args.samples or 1000, seed=args.seed)
        else:
            def progress(done, total):
                print(f"\rsampling w {done}/{total}", end="", file=sys.stderr, flush=True)
            d = ganspace(G, samples=args.samples or 10000, num=args.num, seed=args.seed, progress=progress)
            print(file=sys.stderr)
    except DirectionError as e:
        raise UserError(str(e)) from None
    seconds = time.perf_counter() - t0
    try:
        save_directions(out, d)
    except OSError as e:
        raise UserError(f"--output {args.output}: {e.strerror or e}") from None
    print(f"{args.method}: {len(d.directions)} directions from ws {_short(d.layers)} in {seconds:.2f} s -> {out}")
    print("values: " + " ".join(f"{v:.4g}" for v in d.values))
    return 0


def _short(layers: list[int]) -> str:
    from explorer.engine.latents import format_seeds
    return format_seeds(layers) if layers else "-"


def check_edit_arg(text: str, option: str = "--edit", extra: int = 1) -> tuple:
    """'FILE.npz:INDEX:STRENGTH[:LAYERS]' (extra=1) or 'FILE.npz:INDEX:FROM:TO[:LAYERS]' (extra=2), checked
    before the network loads -> (file (absolute), index, [numbers], layers text or None)."""
    import os

    from networks.edit.directions import DirectionError, load_directions_cached
    form = "FILE.npz:INDEX:STRENGTH[:LAYERS]" if extra == 1 else "FILE.npz:INDEX:FROM:TO[:LAYERS]"
    parts = text.split(":")
    n = 2 + extra
    layers = None
    if len(parts) > n and (not _is_number(parts[-1]) or os.path.exists(":".join(parts[:-n]))):
        layers, parts = parts[-1], parts[:-1]
    if len(parts) < n:
        raise UserError(f"{option} {text!r}: expected {form}")
    path, index, numbers = ":".join(parts[:-(n - 1)]), parts[-(n - 1)], parts[-(n - 2):]
    try:
        index = int(index)
        numbers = [float(v) for v in numbers]
    except ValueError:
        raise UserError(f"{option} {text!r}: expected {form} (INDEX an integer, strengths numbers)") from None
    if index < 0 or not all(abs(v) < float("inf") for v in numbers):
        raise UserError(f"{option} {text!r}: INDEX must be >= 0 and strengths finite numbers")
    try:
        d = load_directions_cached(path)
    except DirectionError as e:
        raise UserError(f"{option}: {e}") from None
    if index >= len(d.directions):
        raise UserError(f"{option} {text!r}: {path} has directions 0..{len(d.directions) - 1}")
    return os.path.abspath(path), index, numbers, layers


def edit_dict(path: str, index: int, strength: float, layers_text, G) -> dict:
    """A render-state edit for G; LAYERS omitted = the file's own layers (SeFa's factorised ws; GANSpace all)."""
    from networks.edit.directions import load_directions_cached
    if layers_text is None:
        layers = [i for i in load_directions_cached(path).layers if i < G.num_ws] or None
    else:
        layers = parse_layers(layers_text, G)
    return {"file": path, "index": index, "strength": float(strength), "layers": layers}


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def sweep_recipe(text: str, spec, cache):
    """`video --edit-sweep FILE.npz:INDEX:FROM:TO[:LAYERS]`: a keyframe recipe of spec.w_frames frames of the first
    seed (spec's truncation, class, noise) whose edit strength runs linearly from FROM to TO, one keyframe per frame
    (so every frame holds its exact strength and the recipe written beside the video re-renders it)."""
    import numpy as np

    from explorer.engine.state import RenderState
    from explorer.video.recipe import Keyframe, Recipe
    if spec.keyframes or spec.side_by_side or spec.layer:
        raise UserError("--edit-sweep renders the first seed's image: no --keyframes, --side-by-side or --layer")
    path, index, (lo, hi), layers_text = check_edit_arg(text, "--edit-sweep", extra=2)
    if spec.w_frames < 2:
        raise UserError("--edit-sweep needs --w-frames of at least 2")
    G = cache.get(spec.checkpoint, spec.which, spec.device)
    base = RenderState(checkpoint=spec.checkpoint, which=spec.which, device=spec.device, force_fp32=spec.force_fp32,
                       x=float(spec.seeds[0]), step_y=0, class_idx=spec.class_idx, trunc_psi=spec.trunc_psi,
                       trunc_cutoff=spec.trunc_cutoff, noise_mode=spec.noise_mode, noise_seed=spec.noise_seed)
    frames = [Keyframe(base.replace(edits=[edit_dict(path, index, float(s), layers_text, G)]), 1)
              for s in np.linspace(lo, hi, spec.w_frames)]
    return Recipe(keyframes=frames, loop=False, kind="linear", fps=float(spec.fps or 30.0))
