"""bench_video(): frames per second of video generation alone vs generation + encoding.

Two cases with random weights: a 2x2 grid of a 64x64 StyleGAN2 and a 1x1 256x256 StyleGAN3-T. The encoding
overhead is how much longer the whole export takes than generating the same frames (0 % when the encoder thread
fully hides behind generation). On a busy machine that difference of two runs drifts with the other load, so the
bench also times encoding alone (the generated frames written again through the same writer): its share of the
generation time bounds the overhead even if nothing overlapped.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from explorer.engine.cache import NetworkCache
from explorer.video.export import export_video
from explorer.video.frames import open_frames
from explorer.video.spec import DEFAULT_FPS, VideoSpec
from explorer.video.writers import make_writer


@dataclass
class VideoBenchResult:
    name: str
    frame_size: tuple
    frames: int
    gen_fps: float        # frames/s generating only
    total_fps: float      # frames/s generating + encoding + writing
    overhead_pct: float   # (gen_fps / total_fps - 1) * 100
    encode_fps: float = 0.0   # frames/s encoding + writing alone (frames already generated)
    encode_pct: float = 0.0   # encoding-alone time as a percentage of generation time

    def line(self) -> str:
        return (f"{self.name:<34} {self.frame_size[0]}x{self.frame_size[1]:<5} {self.frames:>4} frames  "
                f"generate {self.gen_fps:7.2f} fps  generate+encode {self.total_fps:7.2f} fps  "
                f"encoding overhead {self.overhead_pct:+6.1f} %  "
                f"(encoding alone {self.encode_fps:7.1f} fps = {self.encode_pct:5.1f} % of generation time)")


def default_cases(channel_base: Optional[int] = None) -> list:
    """(name, config, grid). channel_base None keeps the configs' defaults (full-width networks)."""
    from networks.config import StyleGAN2Config, StyleGAN3Config
    extra = {} if channel_base is None else {"channel_base": channel_base}
    return [("StyleGAN2 64x64, 2x2 grid", StyleGAN2Config(img_resolution=64, **extra), (2, 2)),
            ("StyleGAN3-T 256x256, 1x1", StyleGAN3Config(img_resolution=256, **extra), (1, 1))]


def bench_case(name: str, G, grid: tuple, frames: int, device: str = "cpu", fmt: str = ".mp4",
               batch: int = 8) -> VideoBenchResult:
    cache = NetworkCache(loader=lambda _p: {"G_ema": G})
    with tempfile.TemporaryDirectory() as tmp:
        # Enough keyframes that every frame interpolates (frames / w_frames transitions).
        spec = VideoSpec(checkpoint="bench", output=str(Path(tmp) / f"bench{fmt}"),
                         seeds=list(range(grid[0] * grid[1] * 2)), grid=grid, w_frames=max(1, frames // 2),
                         device=device, batch=batch, kind="cubic")
        n = spec.total_frames
        source = open_frames(spec, cache)
        _sync(device)
        next(iter(open_frames(dataclasses.replace(spec, w_frames=1), cache).batches()))  # warm-up
        _sync(device)
        t0 = time.perf_counter()
        kept = [frame for batch in source.batches() for frame in batch]
        _sync(device)
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        writer = make_writer(spec.format, Path(tmp) / f"encode-only{fmt}", source.size, DEFAULT_FPS)
        for frame in kept:
            writer.write(frame)
        writer.close()
        encode = time.perf_counter() - t0
        t0 = time.perf_counter()
        export_video(spec, cache=cache)
        _sync(device)
        total = time.perf_counter() - t0
    return VideoBenchResult(name, tuple(source.size), n, n / gen, n / total, (total / gen - 1) * 100, n / encode,
                            encode / gen * 100)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench_video(frames: int = 16, device: str = "cpu", channel_base: Optional[int] = None,
                build: Optional[Callable] = None, print_fn: Callable[[str], None] = print) -> list:
    """Prints and returns one VideoBenchResult per default case.

    build(cfg) -> generator defaults to networks.build_generator (random weights). On a small CPU pass a smaller
    channel_base (e.g. 4096) to keep the run short; the printout names it.
    """
    if build is None:
        from networks import build_generator as build
    torch.manual_seed(0)
    results = []
    print_fn(f"video bench: device {device}, torch threads {torch.get_num_threads()}, "
             f"channel_base {'default' if channel_base is None else channel_base}")
    for name, cfg, grid in default_cases(channel_base):
        G = build(cfg).eval().requires_grad_(False).to(device)
        r = bench_case(name, G, grid, frames, device)
        print_fn(r.line())
        results.append(r)
    return results


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--channel-base", type=int, default=None)
    a = p.parse_args()
    bench_video(a.frames, a.device, a.channel_base)
