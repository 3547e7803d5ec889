"""The 2x up- and down-sampling 3x3 convolutions of ProGAN and StyleGAN (v1).

Weights are [out, in, 3, 3] cross-correlation kernels, already scaled (equalized lr applied by the caller).

- `upsample_conv2d(x, w)`: [N, in, H, W] -> [N, out, 2H, 2W] = nearest-neighbour 2x (each pixel repeated
  2x2), then a 3x3 'same' correlation with w. 'ref' does exactly that; 'fast' runs one stride-2 transposed
  convolution of the 4x4 kernel that the four 2x2 output phases see (TF's "fused" form), without ever
  building the up-sampled tensor.
- `conv2d_downsample(x, w)`: [N, in, H, W] -> [N, out, H/2, W/2] = 3x3 'same' correlation, then the 2x2
  average. 'ref' does exactly that; 'fast' runs one stride-2 correlation with the 4x4 kernel made of the four
  shifted copies of w summed and scaled by 1/4.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .impl import resolve_impl

__all__ = ["upsample_conv2d", "conv2d_downsample", "shifted_sum4"]


def shifted_sum4(w: torch.Tensor) -> torch.Tensor:
    """[..., 3, 3] -> [..., 4, 4]: the kernel zero-padded to 5x5 with its four one-pixel shifts summed."""
    p = F.pad(w, [1, 1, 1, 1])
    return p[..., 1:, 1:] + p[..., :-1, 1:] + p[..., 1:, :-1] + p[..., :-1, :-1]


def upsample_conv2d(x: torch.Tensor, w: torch.Tensor, impl: str | None = None) -> torch.Tensor:
    if resolve_impl(impl) == "ref":
        up = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        return F.conv2d(up, w, padding=1)
    # The transposed convolution scatters each input pixel through a kernel: the flipped correlation
    # kernel, widened to 4x4 by the 2x2 repetition. conv_transpose2d wants [in, out, kh, kw].
    k = shifted_sum4(w.flip([2, 3])).transpose(0, 1)
    return F.conv_transpose2d(x, k, stride=2, padding=1)


def conv2d_downsample(x: torch.Tensor, w: torch.Tensor, impl: str | None = None) -> torch.Tensor:
    if resolve_impl(impl) == "ref":
        return F.avg_pool2d(F.conv2d(x, w, padding=1), 2)
    return F.conv2d(x, shifted_sum4(w) * 0.25, stride=2, padding=1)
