"""`sg-explorer project PKL --target IMG --outdir DIR`: find the w that draws an image (NVIDIA's StyleGAN2-ADA
projector's optimisation, networks/edit/projector.py).

Writes DIR/target.png (the target as cropped and resized), DIR/proj.png (the projection), DIR/projected_w.npz
(key `w`, [1, num_ws, w_dim]) and with --video DIR/proj.mp4 (target | projection per step). With --noise optimize
(StyleGAN2's default) proj.png uses the optimised noise buffers, so `images --w` of the npz (the network's own
noise) differs slightly; --noise fixed keeps the network's noise and makes proj.png exactly what the w renders.
"""
from __future__ import annotations

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("pkl", metavar="PKL", help="checkpoint: path, http(s) URL or training run folder")
    parser.add_argument("--target", required=True, metavar="IMG", help="image to project (centre-cropped, resized)")
    parser.add_argument("--steps", type=int, default=1000, metavar="N", help="optimisation steps (default 1000)")
    parser.add_argument("--w-plus", action="store_true", help="optimise each of the num_ws rows separately (W+)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="torch seed of the optimisation noise")
    parser.add_argument("--lpips", default=None, metavar="FILE",
                        help="LPIPS-VGG16 weights (plain state dict, key names in networks/edit/lpips.py); "
                             "default: pixel MSE loss")
    parser.add_argument("--noise", default="optimize", choices=["optimize", "fixed"],
                        help="StyleGAN2 noise buffers: optimise them as NVIDIA's projector (default) or keep "
                             "the network's")
    parser.add_argument("--w-avg-samples", type=int, default=10000, metavar="M",
                        help="mapped samples for the start point w_avg and w_std (default 10000)")
    parser.add_argument("--video", action="store_true", help="also write DIR/proj.mp4 of the optimisation")
    parser.add_argument("--net", default="G_ema", choices=["G_ema", "G"], help="which generator (default G_ema)")
    parser.add_argument("--device", default="cpu", metavar="cpu|cuda", help="torch device (default cpu)")
    parser.add_argument("--outdir", required=True, metavar="DIR", help="output folder (created if missing)")


def write_w(path, w) -> None:
    import numpy as np
    from networks.files import atomic_open
    with atomic_open(path) as f:
        np.savez(f, w=np.asarray(w, np.float32))


def run(args) -> int:
    import pathlib
    import sys

    import numpy as np

    from explorer.commands.directions import load_generator
    from networks.edit.projector import ProjectConfig, load_target, project, psnr
    from networks.files import check_writable_dir, save_png

    if args.steps < 1:
        raise UserError("--steps must be at least 1")
    if args.w_avg_samples < 2:
        raise UserError("--w-avg-samples must be at least 2")
    if not pathlib.Path(args.target).is_file():
        raise UserError(f"--target {args.target}: no such file")
    lpips = None
    if args.lpips is not None:
        from networks.edit.lpips import LPIPSError, load_lpips
        try:
            lpips = load_lpips(args.lpips)
        except LPIPSError as e:
            raise UserError(str(e)) from None
    try:
        outdir = check_writable_dir(args.outdir)
    except OSError as e:
        raise UserError(f"--outdir {args.outdir}: {e.strerror or e}") from None
    G = load_generator(args.pkl, args.net, args.device)
    try:
        target = load_target(args.target, G.img_resolution, G.img_channels)
    except ValueError as e:
        raise UserError(f"--target {e}") from None
    cfg = ProjectConfig(steps=args.steps, w_plus=args.w_plus, seed=args.seed, w_avg_samples=args.w_avg_samples,
                        optimize_noise=(args.noise == "optimize"))

    def progress(step, steps, loss):
        if step == steps or step % 10 == 0:
            print(f"\rstep {step}/{steps} loss {loss:.5g}", end="", file=sys.stderr, flush=True)

    result = project(G, target, cfg, lpips=lpips, progress=progress, record_history=args.video)
    print(file=sys.stderr)
    target_px = ((target.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    save_png(outdir / "target.png", target_px)
    save_png(outdir / "proj.png", result.image)
    write_w(outdir / "projected_w.npz", result.w)
    if args.video:
        _write_video(G, outdir / "proj.mp4", target_px, result.history)
    print(f"projected in {result.steps_done} steps ({result.seconds_per_step * 1000:.1f} ms/step), "
          f"PSNR {psnr(result.image, target_px):.2f} dB -> {outdir}")
    return 0


def _write_video(G, path, target_px, history) -> None:
    """target | projection at every step, 30 fps (frames drawn with the network's own noise)."""
    import numpy as np
    import torch

    from explorer.engine.renderer import render_batch
    from explorer.engine.state import RenderState
    from explorer.video.files import finalize, remove, temp_sibling
    from explorer.video.writers import make_writer

    h, w = target_px.shape[:2]
    size = (2 * w + (2 * w) % 16, h + h % 16)   # H.264 wants sizes divisible by 2; 16 keeps encoders happy
    tmp = temp_sibling(path)
    writer = make_writer("mp4", tmp, size, 30.0)
    dev = next(iter(G.parameters())).device
    state = RenderState(noise_mode="const", force_fp32=True)   # the projector's own rendering of w
    try:
        with torch.no_grad():
            for ws in history:
                # The engine's one render path, so a frame equals what `images --w` draws for the same w.
                px = render_batch(G, [state], ws=torch.from_numpy(ws)[None].to(dev))[0].image
                frame = np.zeros([size[1], size[0], 3], np.uint8)
                frame[:h, :w] = target_px if target_px.shape[2] == 3 else np.repeat(target_px, 3, axis=2)
                frame[:h, w:2 * w] = px
                writer.write(frame)
        writer.close()
        finalize(tmp, path)
    except BaseException:
        writer.abort()
        remove(tmp)
        raise
