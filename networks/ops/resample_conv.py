"""The 2x up- and down-sampling 3x3 convolutions of ProGAN and StyleGAN (v1).

Weights are [out, in, 3, 3] cross-correlation kernels, already scaled (equalized lr applied by the caller).

- `upsample_conv2d(x, w)`: [N, in, H, W] -> [N, out, 2H, 2W] = nearest-neighbour 2x (each pixel repeated
  2x2), then a 3x3 'same' correlation with w. 'ref' does exactly that; 'fast' never builds the up-sampled
  tensor: each of the four output phases (row and column parity) sees a 2x2 kernel of summed taps on the
  input, so four 2x2 convolutions and an interleave give the result in 16 instead of 36 multiply-adds per
  input pixel and channel pair (below 16x16 inputs, where overhead dominates, it does what 'ref' does).
  `upsample_conv2d_transposed` is TF's "fused" form, a stride-2 transposed convolution of the 4x4
  shifted-sum kernel: the same numbers, slower on CPUs.
- `conv2d_downsample(x, w)`: [N, in, H, W] -> [N, out, H/2, W/2] = 3x3 'same' correlation, then the 2x2
  average. 'ref' does exactly that; 'fast' runs one stride-2 correlation with the 4x4 kernel made of the four
  shifted copies of w summed and scaled by 1/4.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .impl import resolve_impl

__all__ = ["upsample_conv2d", "upsample_conv2d_transposed", "conv2d_downsample", "shifted_sum4"]


def shifted_sum4(w: torch.Tensor) -> torch.Tensor:
    """[..., 3, 3] -> [..., 4, 4]: the kernel zero-padded to 5x5 with its four one-pixel shifts summed."""
    p = F.pad(w, [1, 1, 1, 1])
    return p[..., 1:, 1:] + p[..., :-1, 1:] + p[..., 1:, :-1] + p[..., :-1, :-1]


def _taps(w: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2-tap kernels the even and odd outputs of a nearest-2x-then-3-tap correlation see along `dim`:
    even outputs read inputs (i-1, i) with taps (k0, k1 + k2), odd ones (i, i+1) with (k0 + k1, k2)."""
    k0, k1, k2 = w.unbind(dim)
    return torch.stack([k0, k1 + k2], dim), torch.stack([k0 + k1, k2], dim)


def upsample_conv2d(x: torch.Tensor, w: torch.Tensor, impl: str | None = None) -> torch.Tensor:
    n, _, h, wd = x.shape
    # Below 16x16 inputs the four small convolutions cost more in overhead than the multiply-adds they save.
    if resolve_impl(impl) == "ref" or h * wd < 256:
        up = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        return F.conv2d(up, w, padding=1)
    phases = []
    for a, wa in enumerate(_taps(w, 2)):                  # output row parity
        for b, wab in enumerate(_taps(wa, 3)):            # output column parity
            # Even phases read one pixel before (pad before), odd ones one after (pad after).
            xp = F.pad(x, [1 - b, b, 1 - a, a])
            phases.append(F.conv2d(xp, wab))               # [N, out, H, W]
    y = torch.stack(phases, 2).reshape(n, -1, 2, 2, h, wd)  # [N, out, a, b, H, W]
    return y.permute(0, 1, 4, 2, 5, 3).reshape(n, -1, 2 * h, 2 * wd)


def upsample_conv2d_transposed(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """TF's fused form of `upsample_conv2d`: the flipped kernel's 4x4 shifted sum scattered with stride 2."""
    k = shifted_sum4(w.flip([2, 3])).transpose(0, 1)               # conv_transpose2d wants [in, out, kh, kw]
    return F.conv_transpose2d(x, k, stride=2, padding=1)


def conv2d_downsample(x: torch.Tensor, w: torch.Tensor, impl: str | None = None) -> torch.Tensor:
    if resolve_impl(impl) == "ref":
        return F.avg_pool2d(F.conv2d(x, w, padding=1), 2)
    return F.conv2d(x, shifted_sum4(w) * 0.25, stride=2, padding=1)
