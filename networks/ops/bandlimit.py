"""Band-limited affine resampling of images (Alias-Free GAN, appendix E.3): the filter and the warp.

An affine warp of a sampled image is alias-free only if both the input's and the output's pixel grids bound the
spectrum: the ideal low-pass keeps the frequencies inside the unit box of the input AND inside the same box carried
through the warp. `oriented_lowpass` builds that filter (the spatial convolution of the two sincs, windowed by the
convolution of two Lanczos windows); `affine_resample` upsamples with it and reads the warped grid bilinearly;
`oriented_bandlimit` applies the same band limit without moving the image. These are the operators of NVIDIA's
EQ-R metric; coordinates follow torch's affine_grid (x right, y down, [-1, 1] across the image).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from networks.ops import upfirdn2d

__all__ = ["sinc", "lanczos_window", "oriented_lowpass", "affine_resample", "oriented_bandlimit"]


def sinc(x: torch.Tensor) -> torch.Tensor:
    """sin(pi x) / (pi x), 1 at x = 0 (other integers give float round-off, not an exact 0)."""
    px = (math.pi * x).abs()
    return torch.where(px < 1e-30, torch.ones_like(x), torch.sin(px) / px.clamp(min=1e-30))


def lanczos_window(x: torch.Tensor, a: float) -> torch.Tensor:
    """The Lanczos window sinc(x / a) for |x| < a, 0 elsewhere."""
    u = x.abs() / a
    return torch.where(u < 1, sinc(u), torch.zeros_like(u))


def _circular_conv(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return torch.fft.ifftn(torch.fft.fftn(p) * torch.fft.fftn(q)).real


def oriented_lowpass(mat, a: int = 3, amax: int = 16, aflt: int = 64, up: int = 4,
                     cutoff_in: float = 1, cutoff_out: float = 1) -> torch.Tensor:
    """The band limit of warping through `mat` [3, 3] (its 2x2 part), as a [2 amax up - 1]^2 filter at `up`x.

    a: Lanczos window radius (input pixels); amax: kept radius; aflt: radius of the FFT support the
    convolutions are computed on (circularly, so aflt >> amax). Each of the up x up polyphase components is
    normalised to sum 1 / up^2 (upsample2d's gain of up^2 then keeps flat areas flat).
    """
    if not a <= amax < aflt:
        raise ValueError(f"need a <= amax < aflt (got {a}, {amax}, {aflt})")
    m = torch.as_tensor(mat, dtype=torch.float32)[:2, :2]      # built on mat's device: FFTs of 511^2 are slow on CPU
    n = 2 * aflt * up - 1
    # Tap positions in input pixels, in FFT order: index 0 holds position 0, negative positions wrap to the end.
    pos = ((torch.arange(n, device=m.device) + aflt * up - 1) % n + 1) / up - aflt
    yi, xi = torch.meshgrid(pos, pos, indexing="ij")
    xo = m[0, 0] * xi + m[0, 1] * yi      # the same taps in the warped coordinates
    yo = m[1, 0] * xi + m[1, 1] * yi
    ideal = _circular_conv(sinc(cutoff_in * xi) * sinc(cutoff_in * yi), sinc(cutoff_out * xo) * sinc(cutoff_out * yo))
    window = _circular_conv(lanczos_window(xi, a) * lanczos_window(yi, a),
                            lanczos_window(xo, a) * lanczos_window(yo, a))
    f = (ideal * window).roll([aflt * up - 1] * 2, dims=[0, 1])    # position 0 to the centre
    crop = (aflt - amax) * up
    f = f[crop:n - crop, crop:n - crop]                             # [2 amax up - 1]^2
    k = 2 * amax * up
    phases = F.pad(f, [0, 1, 0, 1]).reshape(2 * amax, up, 2 * amax, up)
    phases = phases / (phases.sum(dim=(0, 2), keepdim=True) * up ** 2)
    return phases.reshape(k, k)[:-1, :-1]


def affine_resample(x: torch.Tensor, mat, up: int = 4, **filter_kwargs):
    """x [N, C, H, W] warped so that output point p reads x at inverse(mat) p -> (image, mask), both [N, C, H, W].

    p in affine_grid's normalised coordinates; mat's translation in image-size units. The image is upsampled `up`x
    through `oriented_lowpass(mat)` and sampled bilinearly; mask (0/1) marks outputs whose reads stay clear of the
    zero border by the filter's length.
    """
    n, _, h, w = x.shape
    mat = torch.as_tensor(mat, dtype=torch.float32, device=x.device)
    f = oriented_lowpass(mat, up=up, **filter_kwargs)
    p = f.shape[0] // 2                       # upsample2d adds p pixels (of the fine grid) on every side
    inv = torch.linalg.inv(mat)
    theta = torch.zeros(2, 3, device=x.device)
    for row, size in ((0, w), (1, h)):
        # Normalised coordinates span 2 per image; the fine grid's first sample sits half a fine pixel in;
        # the padded fine image is (size + 2 p / up) coarse pixels wide.
        shrink = size / (size + 2 * p / up)
        theta[row, :2] = inv[row, :2] * shrink
        theta[row, 2] = (2 * inv[row, 2] + 1 / (up * size)) * shrink
    grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=False)
    fine = upfirdn2d.upsample2d(x, f, up=up, padding=p)
    out = F.grid_sample(fine, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    edge = 2 * p + 1
    inside = torch.zeros_like(fine)
    inside[:, :, edge:-edge, edge:-edge] = 1
    mask = F.grid_sample(inside, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out, mask


def oriented_bandlimit(x: torch.Tensor, mat, **filter_kwargs):
    """x [N, C, H, W] filtered with `oriented_lowpass(mat, up=1)`, not moved -> (image, mask) [N, C, H, W].

    mask: 0 within half a filter length of the border, where the zero padding enters.
    """
    f = oriented_lowpass(torch.as_tensor(mat, dtype=torch.float32, device=x.device), up=1, **filter_kwargs)
    out = upfirdn2d.filter2d(x, f)
    r = f.shape[0] // 2
    mask = torch.zeros_like(out)
    mask[:, :, r:-r, r:-r] = 1
    return out, mask
