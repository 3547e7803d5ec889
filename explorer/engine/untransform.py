"""The StyleGAN3 user transform and its undoing on the output image.

Coordinates: the image spans [-0.5, 0.5] in both axes (x to the right, y down), so a translation of 1.0 is one
image width. The user transform m = [[cos a, sin a, tx], [-sin a, cos a, ty], [0, 0, 1]] moves the content at
point p to m @ p; the network buffer `synthesis.input.transform` holds inverse(m).
"""
from __future__ import annotations

import math

import numpy as np
import torch

LANCZOS_A = 3  # Lanczos-3: 6 taps per axis, a good band-limited compromise between ringing and blur


def make_transform(translate_x: float = 0.0, translate_y: float = 0.0, rotate_deg: float = 0.0) -> np.ndarray:
    """User transform m [3, 3] float64 (translation in image widths, rotation in degrees)."""
    a = math.radians(rotate_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, s, translate_x], [-s, c, translate_y], [0.0, 0.0, 1.0]], dtype=np.float64)


def is_identity(m: np.ndarray, eps: float = 1e-12) -> bool:
    return bool(np.abs(np.asarray(m) - np.eye(3)).max() <= eps)


def _lanczos(x: torch.Tensor, a: int = LANCZOS_A) -> torch.Tensor:
    """Lanczos kernel sinc(x) * sinc(x / a) on |x| < a, 0 outside; exactly 1 at 0 and 0 at other integers."""
    out = torch.sinc(x) * torch.sinc(x / a)
    return torch.where(x.abs() < a, out, torch.zeros_like(out))


def untransform_image(img: torch.Tensor, m: np.ndarray) -> torch.Tensor:
    """Undoes the user transform m on img [N, C, H, W] (any float range): out(p) = img(m @ p).

    Band-limited resampling with a Lanczos-3 kernel, evaluated per tap so rotations work too; samples falling
    outside the image read as 0. An identity m returns img unchanged; whole-pixel translations move pixels back
    exactly (source positions within 1e-6 of a pixel centre are snapped to it).
    """
    if is_identity(m):
        return img
    n, ch, h, w = img.shape
    dev = img.device
    # Pixel centres in image units (float64 so whole-pixel shifts stay whole).
    xs = (torch.arange(w, dtype=torch.float64, device=dev) + 0.5) / w - 0.5
    ys = (torch.arange(h, dtype=torch.float64, device=dev) + 0.5) / h - 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    mt = torch.as_tensor(np.asarray(m, dtype=np.float64), device=dev)
    sx = mt[0, 0] * gx + mt[0, 1] * gy + mt[0, 2]
    sy = mt[1, 0] * gx + mt[1, 1] * gy + mt[1, 2]
    # Back to pixel indices (pixel i has centre i).
    px = (sx + 0.5) * w - 0.5
    py = (sy + 0.5) * h - 0.5
    px = torch.where((px - px.round()).abs() < 1e-6, px.round(), px)
    py = torch.where((py - py.round()).abs() < 1e-6, py.round(), py)
    x0 = torch.floor(px).long()
    y0 = torch.floor(py).long()
    src = img.reshape(n * ch, h * w)
    out = torch.zeros(n * ch, h * w, dtype=img.dtype, device=dev)
    taps = range(1 - LANCZOS_A, LANCZOS_A + 1)
    wx = [(x0 + k, _lanczos(px - (x0 + k))) for k in taps]
    wy = [(y0 + k, _lanczos(py - (y0 + k))) for k in taps]
    for iy, wgt_y in wy:
        for ix, wgt_x in wx:
            inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
            weight = torch.where(inside, wgt_x * wgt_y, torch.zeros_like(wgt_x))
            if not bool(weight.any()):
                continue
            idx = (iy.clamp(0, h - 1) * w + ix.clamp(0, w - 1)).reshape(-1)
            out += src[:, idx] * weight.reshape(1, -1).to(img.dtype)
    # The Lanczos weights of a fractional position sum to about, not exactly, 1: normalise so flat areas stay flat.
    total = sum(wgt for _, wgt in wx) * sum(wgt for _, wgt in wy)
    norm = torch.where(total.abs() > 1e-8, total, torch.ones_like(total)).reshape(1, -1).to(img.dtype)
    return (out / norm).reshape(n, ch, h, w)
