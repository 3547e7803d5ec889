"""`sg-explorer images PKL --seeds 0-3,7 --outdir DIR`: one PNG per seed, pixels as NVIDIA's tools write them."""
from __future__ import annotations

import pathlib

from explorer.errors import UserError


def _pair(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--translate expects X,Y (two numbers), got {text!r}") from None
    return x, y


def add_arguments(parser) -> None:
    parser.add_argument("pkl", help="checkpoint: path, http(s) URL or training run folder")
    parser.add_argument("--seeds", required=True, help="seeds, e.g. 0-3,7")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1)")
    parser.add_argument("--trunc-cutoff", type=int, default=None, help="truncate only the first N ws")
    parser.add_argument("--class", dest="class_idx", type=int, default=None, help="class label (conditional nets)")
    parser.add_argument("--noise-mode", default="const", choices=["const", "random", "none"])
    parser.add_argument("--noise-seed", type=int, default=0, help="seed of the noise in --noise-mode random")
    parser.add_argument("--translate", type=str, default=None, help="StyleGAN3 input translation X,Y")
    parser.add_argument("--rotate", type=float, default=0.0, help="StyleGAN3 input rotation, degrees")
    parser.add_argument("--net", default="G_ema", choices=["G_ema", "G"], help="which generator")
    parser.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    parser.add_argument("--batch", type=int, default=1, help="seeds rendered per forward pass")
    parser.add_argument("--fp16", action="store_true", help="let fp16 layers run in fp16 on CUDA")
    parser.add_argument("--outdir", required=True, help="folder for seedNNNN.png")


def run(args) -> int:
    import numpy as np
    import torch

    from explorer.devices import resolve_device
    from explorer.engine.latents import parse_seeds, seeds_to_z
    from explorer.files import check_writable_dir, save_png
    from networks import load_network_pkl
    from networks.stylegan3 import make_transform

    # Every argument is checked before the (slow) load.
    seeds = parse_seeds(args.seeds)
    translate = _pair(args.translate) if args.translate else (0.0, 0.0)
    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    if args.trunc_cutoff is not None and args.trunc_cutoff < 0:
        raise UserError("--trunc-cutoff must be >= 0")
    device = resolve_device(args.device)
    try:
        outdir = check_writable_dir(args.outdir)
    except OSError as e:
        raise UserError(f"--outdir {args.outdir}: {e.strerror or e}") from None

    data = load_network_pkl(args.pkl)
    G = data.get(args.net)
    if G is None:
        raise UserError(f"the checkpoint has no {args.net}")
    G = G.to(device)
    if (args.translate or args.rotate) and not hasattr(G.synthesis, "input"):
        raise UserError("--translate / --rotate need a StyleGAN3 network")
    c = torch.zeros([1, G.c_dim], device=device)
    if G.c_dim:
        if args.class_idx is None:
            raise UserError(f"this network is conditional: give --class (0..{G.c_dim - 1})")
        if not 0 <= args.class_idx < G.c_dim:
            raise UserError(f"--class {args.class_idx} is out of range 0..{G.c_dim - 1}")
        c[:, args.class_idx] = 1
    elif args.class_idx is not None:
        raise UserError("--class given, but this network is unconditional")
    if hasattr(G.synthesis, "input"):
        m = np.linalg.inv(make_transform(translate, args.rotate))
        G.synthesis.input.transform.copy_(torch.from_numpy(m).float())

    torch.manual_seed(args.noise_seed)
    with torch.no_grad():
        for i in range(0, len(seeds), args.batch):
            chunk = seeds[i:i + args.batch]
            z = torch.from_numpy(seeds_to_z(chunk, G.z_dim)).to(device)
            img = G(z, c.repeat(len(chunk), 1), truncation_psi=args.trunc, truncation_cutoff=args.trunc_cutoff,
                    noise_mode=args.noise_mode, force_fp32=not args.fp16)
            pixels = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()
            for seed, px in zip(chunk, pixels):
                path = save_png(pathlib.Path(outdir) / f"seed{seed:04d}.png", px)
                print(f"seed {seed} -> {path}")
    return 0
