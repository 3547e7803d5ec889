"""Generator speed and memory benchmarks (printed by `sg-explorer bench`).

Each run times the fast ops and the reference ops on the same model in one process,
so the ratio between them is measured under the same conditions.
"""
from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from networks import ops
from networks.build import build_generator
from networks.config import ProGANConfig, StyleGAN1Config, StyleGAN2Config, StyleGAN3Config

ARCHS = ("stylegan2", "stylegan3-t", "stylegan3-r", "stylegan", "progan")


def default_config(arch: str, res: int):
    """NVIDIA's default training config for this resolution (channel_base 16384 up to 256, 32768 above)."""
    base = 16384 if res <= 256 else 32768
    if arch == "stylegan2":
        return StyleGAN2Config(img_resolution=res, channel_base=base, channel_max=512, conv_clamp=256,
                               fused_modconv_default="inference_only")
    ema_beta = 0.5 ** (32 / (20 * 1e3))  # NVIDIA's train.py: batch 32, ema over 20 kimg
    if arch == "stylegan3-t":
        return StyleGAN3Config(img_resolution=res, channel_base=base, channel_max=512, magnitude_ema_beta=ema_beta)
    if arch == "stylegan3-r":
        return StyleGAN3Config(img_resolution=res, channel_base=base * 2, channel_max=1024, conv_kernel=1,
                               use_radial_filters=True, magnitude_ema_beta=ema_beta)
    if arch == "stylegan":   # NVlabs/stylegan's G_style defaults (the FFHQ / CelebA-HQ files)
        return StyleGAN1Config(resolution=res)
    if arch == "progan":     # G_paper's defaults (karras2018iclr-*.pkl)
        return ProGANConfig(resolution=res)
    raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHS}")


@dataclass
class Timing:
    impl: str
    seconds_per_image: float
    gflop_per_image: float

    @property
    def gflops(self) -> float:
        return self.gflop_per_image / self.seconds_per_image


def count_gflop(G, ws) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        G.synthesis(ws, noise_mode="const", force_fp32=True)
    return counter.get_total_flops() / 1e9


def time_generator(G, batch: int, impl: str, repeats: int, device: torch.device, force_fp32: bool = True) -> Timing:
    z = torch.randn([batch, G.z_dim], device=device)
    c = torch.zeros([batch, G.c_dim], device=device)
    with ops.default_impl(impl), torch.no_grad():
        ws = G.mapping(z, c)
        gflop = count_gflop(G, ws) / batch
        G.synthesis(ws, noise_mode="const", force_fp32=force_fp32)  # warm-up
        times = []
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            G.synthesis(ws, noise_mode="const", force_fp32=force_fp32)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return Timing(impl, statistics.median(times) / batch, gflop)


def bench_speed(arch: str, res: int, batch: int = 1, repeats: int = 3, impls=("fast", "ref"),
                device: str = "cpu", force_fp32: bool = True) -> list[Timing]:
    dev = torch.device(device)
    torch.manual_seed(0)
    G = build_generator(default_config(arch, res)).eval().requires_grad_(False).to(dev)
    params = sum(p.numel() for p in G.parameters())
    print(f"{arch} {res}x{res}, batch {batch}, {params / 1e6:.1f} M parameters, device {dev}, "
          f"torch threads {torch.get_num_threads()}, {'fp32' if force_fp32 else 'fp16 where configured'}")
    results = [time_generator(G, batch, impl, repeats, dev, force_fp32) for impl in impls]
    for t in results:
        print(f"  {t.impl:<5} ops: {t.seconds_per_image:8.3f} s/image  {t.gflops:7.1f} GFLOP/s "
              f"({t.gflop_per_image:.1f} GFLOP/image counted)")
    if len(results) == 2:
        print(f"  fast vs ref: {speed_words(results[0].seconds_per_image, results[1].seconds_per_image)}")
    peak = (torch.cuda.max_memory_allocated(dev) / 2 ** 30 if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
    print(f"  peak {'GPU memory allocated' if dev.type == 'cuda' else 'RSS of this process'}: {peak:.2f} GiB")
    return results


def speed_words(fast_s: float, ref_s: float) -> str:
    """'2.50x faster' when fast_s < ref_s, '1.30x slower' when it is slower: the ratio never reads backwards."""
    if fast_s <= ref_s:
        return f"{ref_s / fast_s:.2f}x faster"
    return f"{fast_s / ref_s:.2f}x slower"


@contextmanager
def busy_process():
    """One other process spinning on a core for the duration (what a desktop's browser or a second export does)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.2)  # let it reach the spin loop before timing starts
        yield proc
    finally:
        proc.kill()
        proc.wait()


@dataclass
class Contended:
    arch: str
    impl: str
    quiet: float          # s/image alone
    contended: float      # s/image beside one busy process

    @property
    def slowdown(self) -> float:
        return self.contended / self.quiet


def bench_contended(archs=("stylegan2", "stylegan3-t"), res: int = 256, batch: int = 1, repeats: int = 3,
                    impls=("fast", "ref"), device: str = "cpu", force_fp32: bool = True) -> list[Contended]:
    """Quiet and contended s/image side by side, for each arch and ops implementation, in this process (the
    thread settings of networks.threads apply as in every entry point). The busy process is started and stopped
    here; quiet figures are taken first, so they are as quiet as the machine is."""
    dev = torch.device(device)
    out = []
    from networks import threads
    print(f"threads: {threads.describe()}")
    for arch in archs:
        torch.manual_seed(0)
        G = build_generator(default_config(arch, res)).eval().requires_grad_(False).to(dev)
        quiet = {impl: time_generator(G, batch, impl, repeats, dev, force_fp32) for impl in impls}
        with busy_process():
            busy = {impl: time_generator(G, batch, impl, repeats, dev, force_fp32) for impl in impls}
        for impl in impls:
            out.append(Contended(arch, impl, quiet[impl].seconds_per_image, busy[impl].seconds_per_image))
    print(f"{'':<17}{'ops':<6}{'quiet s/img':>12}{'contended':>11}{'slowdown':>10}")
    for r in out:
        print(f"{r.arch + f' {res}':<17}{r.impl:<6}{r.quiet:>12.3f}{r.contended:>11.3f}{r.slowdown:>9.2f}x")
    for arch in archs:
        got = {r.impl: r for r in out if r.arch == arch}
        if "fast" in got and "ref" in got:
            print(f"{arch} contended, fast vs ref: {speed_words(got['fast'].contended, got['ref'].contended)}")
    return out


def _peak_rss_child(arch: str, res: int, queue) -> None:
    torch.manual_seed(0)
    G = build_generator(default_config(arch, res)).eval().requires_grad_(False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with torch.no_grad():
        G(torch.randn([1, G.z_dim]), torch.zeros([1, G.c_dim]), noise_mode="const", force_fp32=True)
    seconds = time.perf_counter() - t0
    queue.put((before / 2 ** 20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, seconds))


def bench_memory(arch: str, res: int) -> tuple[float, float]:
    """Peak resident memory (GiB) of a fresh process generating one image: (after model build, after generation)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_rss_child, args=(arch, res, queue))
    proc.start()
    before, after, seconds = queue.get()
    proc.join()
    print(f"{arch} {res}x{res}, one image on the CPU: peak RSS {after:.2f} GiB "
          f"(model alone {before:.2f} GiB), {seconds:.1f} s")
    return before, after
