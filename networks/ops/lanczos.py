"""Band-limited resampling of images at arbitrary positions with a Lanczos kernel (`lanczos_sample`).

Used where an image must be moved by a transform the pixel grid cannot follow exactly: undoing StyleGAN3's
input transform on the output (the explorer's "untransform") and the reference side of the equivariance
metrics. Positions are in pixel-index units (pixel i has its centre at i); taps outside the image read 0;
the weights are normalised so that flat areas stay flat.
"""
from __future__ import annotations

import math

import torch

__all__ = ["lanczos", "lanczos_sample", "lanczos_sample_ref"]


def lanczos(x: torch.Tensor, a: int) -> torch.Tensor:
    """sinc(x) * sinc(x / a) on |x| < a, 0 outside: exactly 1 at 0 and 0 at the other integers."""
    out = torch.sinc(x) * torch.sinc(x / a)
    out = torch.where(x == x.round(), (x == 0).to(out.dtype), out)  # sin(pi k) is 1e-16, not 0, in floats
    return torch.where(x.abs() < a, out, torch.zeros_like(out))


def lanczos_sample(img: torch.Tensor, px: torch.Tensor, py: torch.Tensor, a: int = 3):
    """img [N, C, H, W] sampled at (py, px) [Ho, Wo] -> (out [N, C, Ho, Wo], valid [Ho, Wo] bool).

    valid: the whole 2a x 2a footprint lies inside the image. Positions within 1e-6 of a pixel centre snap to it,
    so whole-pixel moves copy pixels exactly.
    """
    n, ch, h, w = img.shape
    px = torch.where((px - px.round()).abs() < 1e-6, px.round(), px)
    py = torch.where((py - py.round()).abs() < 1e-6, py.round(), py)
    x0, y0 = torch.floor(px).long(), torch.floor(py).long()
    taps = range(1 - a, a + 1)
    wx = [(x0 + k, lanczos(px - (x0 + k), a)) for k in taps]
    wy = [(y0 + k, lanczos(py - (y0 + k), a)) for k in taps]
    src = img.reshape(n * ch, h * w)
    out = torch.zeros(n * ch, px.numel(), dtype=img.dtype, device=img.device)
    for iy, wgt_y in wy:
        for ix, wgt_x in wx:
            inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
            weight = torch.where(inside, wgt_x * wgt_y, torch.zeros_like(wgt_x))
            if not bool(weight.any()):
                continue
            idx = (iy.clamp(0, h - 1) * w + ix.clamp(0, w - 1)).reshape(-1)
            out += src[:, idx] * weight.reshape(1, -1).to(img.dtype)
    # A fractional position's weights sum to about, not exactly, 1.
    total = sum(wgt for _, wgt in wx) * sum(wgt for _, wgt in wy)
    norm = torch.where(total.abs() > 1e-8, total, torch.ones_like(total)).reshape(1, -1).to(img.dtype)
    valid = (x0 - a + 1 >= 0) & (x0 + a <= w - 1) & (y0 - a + 1 >= 0) & (y0 + a <= h - 1)
    return (out / norm).reshape(n, ch, *px.shape), valid


def lanczos_sample_ref(img: torch.Tensor, px: torch.Tensor, py: torch.Tensor, a: int = 3) -> torch.Tensor:
    """The same samples, output pixel by output pixel, from the definition (slow; for tests on tiny images)."""
    n, ch, h, w = img.shape
    out = torch.zeros(n, ch, *px.shape, dtype=torch.float64)

    def kernel(t: float) -> float:
        if t == 0:
            return 1.0
        if abs(t) >= a:
            return 0.0
        return a * math.sin(math.pi * t) * math.sin(math.pi * t / a) / (math.pi * t) ** 2

    for j in range(px.shape[0]):
        for i in range(px.shape[1]):
            x, y = float(px[j, i]), float(py[j, i])
            x = round(x) if abs(x - round(x)) < 1e-6 else x
            y = round(y) if abs(y - round(y)) < 1e-6 else y
            xs = range(math.floor(x) - a + 1, math.floor(x) + a + 1)
            ys = range(math.floor(y) - a + 1, math.floor(y) + a + 1)
            total = sum(kernel(x - u) for u in xs) * sum(kernel(y - v) for v in ys)
            for v in ys:
                for u in xs:
                    if 0 <= u < w and 0 <= v < h:
                        out[:, :, j, i] += img[:, :, v, u].double() * kernel(x - u) * kernel(y - v)
            out[:, :, j, i] /= total if abs(total) > 1e-8 else 1.0
    return out.to(img.dtype)
