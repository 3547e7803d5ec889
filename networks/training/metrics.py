"""Equivariance metrics of StyleGAN3 generators (Karras et al. 2021, "Alias-Free GAN", section 3 / appendix).

EQ-T: PSNR in dB between g(t[z]) (the input Fourier features translated by t) and t[g(z)] (the output
image translated by the same amount), over the pixels valid in both; t uniform in +-translate_max of the
image size, whole pixels. EQ-T_frac: the same with sub-pixel t, the output translated by band-limited
(windowed-sinc) interpolation. EQ-R: the same for rotations, angle uniform in +-rotate_max * 180 degrees.
PSNR = 10 log10(peak^2 / MSE) with peak 2, the dynamic range of images in [-1, 1]. Higher is better.
"""
from __future__ import annotations

import copy
import math
from typing import Iterable

import numpy as np
import torch

from networks.ops.lanczos import lanczos_sample
from networks.stylegan3 import inverse_transform, make_transform

NAMES = {"eqt": "EQ-T", "eqt_frac": "EQ-T_frac", "eqr": "EQ-R"}


REFERENCE_TAPS = 4  # Lanczos-4 for the reference warp: the metric should measure the network, not the warp


def _set_transform(G, angle: float, tx: float, ty: float) -> None:
    """User transform (rotation `angle` radians, translation in image-size units); the buffer holds its inverse."""
    m = inverse_transform(make_transform((tx, ty), math.degrees(angle)))
    G.synthesis.input.transform.copy_(torch.from_numpy(m).float())


def _pixel_grid(h: int, w: int, device):
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    return xs, ys


def reference_source(kind: str, h: int, w: int, angle: float, tx: float, ty: float, device):
    """Where each output pixel of t[g(z)] reads g(z): (src_x, src_y) [H, W] in pixel-index units.

    The network convention: a user translation (tx, ty) moves the content by (tx * W, ty * H) pixels;
    a user rotation by `angle` turns the content by -angle about the image centre (y points down).
    """
    xs, ys = _pixel_grid(h, w, device)
    if kind in ("eqt", "eqt_frac"):
        return xs - tx * w, ys - ty * h
    cx, cy = (w - 1) / 2, (h - 1) / 2
    u, v = xs - cx, ys - cy
    c, s = math.cos(angle), math.sin(angle)
    return c * u - s * v + cx, s * u + c * v + cy


@torch.no_grad()
def equivariance(G, which: Iterable[str], num_samples: int = 1000, batch: int = 8, device="cpu", seed: int = 0,
                 translate_max: float = 0.125, rotate_max: float = 1.0) -> dict:
    """{name: PSNR dB} for name in which (subset of 'eqt', 'eqt_frac', 'eqr'). G: a StyleGAN3 generator."""
    which = list(which)
    if not hasattr(G.synthesis, "input") or not hasattr(G.synthesis.input, "transform"):
        raise ValueError("equivariance metrics need a StyleGAN3 generator")
    G = copy.deepcopy(G).eval().requires_grad_(False).to(device)  # The transform buffer is ours to change.
    rnd = np.random.RandomState(seed)
    h = w = G.img_resolution
    se = {k: 0.0 for k in which}
    count = {k: 0.0 for k in which}
    done = 0
    while done < num_samples:
        n = min(batch, num_samples - done)
        z = torch.from_numpy(rnd.randn(n, G.z_dim).astype(np.float32)).to(device)
        c = torch.zeros([n, G.c_dim], device=device)
        if G.c_dim:
            c[torch.arange(n), torch.from_numpy(rnd.randint(G.c_dim, size=n))] = 1
        ws = G.mapping(z, c)
        _set_transform(G, 0.0, 0.0, 0.0)
        img0 = G.synthesis(ws, noise_mode="const")
        for kind in which:
            angle, tx, ty = 0.0, 0.0, 0.0
            if kind in ("eqt", "eqt_frac"):
                tx, ty = (rnd.rand(2) * 2 - 1) * translate_max
                if kind == "eqt":
                    tx, ty = round(tx * w) / w, round(ty * h) / h
            else:
                angle = float((rnd.rand() * 2 - 1) * math.pi * rotate_max)
            _set_transform(G, angle, tx, ty)
            img1 = G.synthesis(ws, noise_mode="const")
            src_x, src_y = reference_source(kind, h, w, angle, tx, ty, device)
            ref, valid = lanczos_sample(img0, src_x, src_y, REFERENCE_TAPS)
            mask = valid.to(img0.dtype)
            se[kind] += float(((img1 - ref).square() * mask).sum())
            count[kind] += float(mask.sum()) * n * img0.shape[1]
        done += n
    out = {}
    for kind in which:
        mse = se[kind] / max(count[kind], 1.0)
        out[kind] = float(20 * math.log10(2) - 10 * math.log10(max(mse, 1e-20)))
    return out
