"""Projecting an image into W: the optimisation of NVIDIA's StyleGAN2-ADA projector (Karras et al. 2020, sec. 5 of
"Analyzing and Improving the Image Quality of StyleGAN"), written from its documented semantics.

- Start at w_avg, the mean of the mapped w of `w_avg_samples` z drawn from RandomState(123); w_std is the root
  mean squared distance of those w from w_avg (a scalar).
- Adam (betas 0.9, 0.999). Learning rate at t = step / steps: initial_lr * ramp, with
  ramp = (0.5 - 0.5 cos(pi * min(1, (1 - t) / lr_rampdown_length))) * min(1, t / lr_rampup_length).
- Every step, Gaussian noise of std w_std * initial_noise_factor * max(0, 1 - t / noise_ramp_length)^2 is added
  to w before synthesis (exploration early, none after 75% of the steps).
- The per-layer noise buffers (`*noise_const`: StyleGAN2 and v1; StyleGAN3 and ProGAN have none) start as
  N(0, 1), are optimised too, are regularised by the squared mean
  autocorrelation at shifts of one pixel in x and y, summed over a pyramid of 2x2 average-poolings down to 8x8,
  weighted by regularize_noise_weight, and renormalised to zero mean and unit variance after every step.
- Loss: LPIPS-VGG16 on images scaled to at most 256 px (area filter) when given an LPIPS module, else the mean
  squared error of the [-1, 1] images (works offline).
- One w is broadcast to every layer; `w_plus` optimises each of the num_ws rows separately.
The network passed in is never changed: the projection runs on a copy.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from networks.edit.directions import sample_w


@dataclass
class ProjectConfig:
    """The projector's settings (defaults: NVIDIA's)."""
    steps: int = 1000                       # optimisation steps
    w_avg_samples: int = 10000              # mapped samples for w_avg and w_std
    initial_lr: float = 0.1                 # peak Adam learning rate
    initial_noise_factor: float = 0.05      # w noise at step 0, in units of w_std
    lr_rampdown_length: float = 0.25        # fraction of the steps over which the lr falls to 0 (cosine)
    lr_rampup_length: float = 0.05          # fraction of the steps over which the lr rises from 0
    noise_ramp_length: float = 0.75         # fraction of the steps after which no noise is added to w
    regularize_noise_weight: float = 1e5    # weight of the noise buffers' autocorrelation penalty
    w_plus: bool = False                    # optimise every w row separately (W+) instead of one w
    optimize_noise: bool = True             # optimise StyleGAN2's noise buffers (False: keep the network's)
    seed: int = 0                           # torch seed of the noise buffers' start and the w noise
    lpips_max_size: int = 256               # images larger than this are area-downsampled for LPIPS


@dataclass
class ProjectionResult:
    """w [1, num_ws, w_dim] float32; image uint8 [H, W, C]: w drawn by the given network with its own noise."""
    w: np.ndarray
    image: np.ndarray
    steps_done: int
    cancelled: bool
    loss: float
    seconds_per_step: float
    history: list = field(default_factory=list)   # [steps_done] of w [num_ws, w_dim] when record_history


def learning_rate(cfg: ProjectConfig, step: int) -> float:
    t = step / cfg.steps
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp *= min(1.0, t / cfg.lr_rampup_length) if cfg.lr_rampup_length > 0 else 1.0
    return cfg.initial_lr * ramp


def w_noise_scale(cfg: ProjectConfig, step: int, w_std: float) -> float:
    t = step / cfg.steps
    return w_std * cfg.initial_noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp_length) ** 2


def noise_regularization(bufs: list[torch.Tensor]) -> torch.Tensor:
    """Sum over buffers and pyramid levels (down to 8 px) of the squared mean products with the x- and y-shifted
    (circular) copy: zero for white noise, large for structure hidden in the noise."""
    total = torch.zeros([], device=bufs[0].device) if bufs else torch.zeros([])
    for b in bufs:
        x = b[None, None]
        while True:
            total = total + (x * torch.roll(x, shifts=1, dims=3)).mean().square()
            total = total + (x * torch.roll(x, shifts=1, dims=2)).mean().square()
            if x.shape[2] <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    return total


def _to_lpips_size(img: torch.Tensor, size: int) -> torch.Tensor:
    if img.shape[2] > size:
        img = F.interpolate(img, size=(size, size), mode="area")
    return img


def project(G, target: torch.Tensor, cfg: ProjectConfig = ProjectConfig(), lpips=None,
            progress: Optional[Callable[[int, int, float], None]] = None,
            cancel: Optional[Callable[[], bool]] = None, record_history: bool = False) -> ProjectionResult:
    """Projects target [C, H, W] (float in [-1, 1], H = W = G.img_resolution) into W.

    progress(step, steps, loss) after every step; cancel() is asked before every step and stops the run (the
    result then holds the w reached so far). lpips: a networks.edit.lpips.LPIPS or None (pixel MSE).
    """
    if cfg.steps < 1:
        raise ValueError("steps must be at least 1")
    dev = next(iter(G.parameters())).device
    if tuple(target.shape) != (G.img_channels, G.img_resolution, G.img_resolution):
        raise ValueError(f"target must be [{G.img_channels}, {G.img_resolution}, {G.img_resolution}], "
                         f"not {list(target.shape)}")
    G_user = G
    G = copy.deepcopy(G).eval().requires_grad_(False).float()   # its noise buffers are optimised in place
    target = target.to(dev, torch.float32)[None]
    w_samples = sample_w(G, cfg.w_avg_samples, seed=123)
    w_avg = w_samples.mean(axis=0)
    w_std = float(np.sqrt(np.sum((w_samples - w_avg) ** 2) / cfg.w_avg_samples))

    gen = torch.Generator(device=dev).manual_seed(int(cfg.seed))
    bufs = [b for name, b in G.synthesis.named_buffers() if name.endswith("noise_const")] if cfg.optimize_noise else []
    for b in bufs:
        b.copy_(torch.randn(b.shape, generator=gen, device=dev))
        b.requires_grad_(True)
    rows = G.num_ws if cfg.w_plus else 1
    w_opt = torch.tensor(np.tile(w_avg[None, None], [1, rows, 1]), dtype=torch.float32, device=dev,
                         requires_grad=True)
    opt = torch.optim.Adam([w_opt] + bufs, betas=(0.9, 0.999), lr=cfg.initial_lr)
    if lpips is not None:
        lpips = lpips.to(dev)
        target_features = [f.detach() for f in lpips.features(_to_lpips_size(target, cfg.lpips_max_size))]

    history, loss_value, done, cancelled = [], float("nan"), 0, False
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        if cancel is not None and cancel():
            cancelled = True
            break
        for g in opt.param_groups:
            g["lr"] = learning_rate(cfg, step)
        noise = torch.randn(w_opt.shape, generator=gen, device=dev) * w_noise_scale(cfg, step, w_std)
        ws = (w_opt + noise).expand(1, G.num_ws, G.w_dim) if rows == 1 else w_opt + noise
        synth = G.synthesis(ws, noise_mode="const", force_fp32=True)
        if lpips is not None:
            dist = lpips.distance(lpips.features(_to_lpips_size(synth, cfg.lpips_max_size)), target_features).sum()
        else:
            dist = (synth - target).square().mean()
        loss = dist + noise_regularization(bufs) * cfg.regularize_noise_weight if bufs else dist
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for b in bufs:
                b -= b.mean()
                b *= b.square().mean().rsqrt()
        loss_value, done = float(dist.detach()), step + 1
        if record_history:
            history.append(w_opt.detach().expand(1, G.num_ws, G.w_dim)[0].cpu().numpy().copy())
        if progress is not None:
            progress(done, cfg.steps, loss_value)
    elapsed = time.perf_counter() - t0
    with torch.no_grad():
        w = w_opt.detach().expand(1, G.num_ws, G.w_dim).contiguous()
        # The user's network with its own noise, as NVIDIA's proj.png: the image the saved w reproduces.
        img = G_user.synthesis(w, noise_mode="const", force_fp32=True)
        pixels = (img[0].permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()
    return ProjectionResult(w.cpu().numpy().astype(np.float32), pixels, done, cancelled, loss_value,
                            elapsed / max(done, 1), history)


def load_target(path, resolution: int, channels: int = 3) -> torch.Tensor:
    """An image file -> [channels, resolution, resolution] in [-1, 1]: centre-cropped to a square and resized with
    a Lanczos filter (as NVIDIA's projector prepares its target). Raises ValueError (one line) for a bad file."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if channels == 3 else "L")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not a readable image ({e.__class__.__name__})") from None
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    im = im.resize((resolution, resolution), Image.LANCZOS)
    a = np.asarray(im, dtype=np.float32).reshape(resolution, resolution, -1)
    return torch.from_numpy(a).permute(2, 0, 1) / 127.5 - 1


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (peak 255)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
