"""The [1, 2, 1] x [1, 2, 1] / 16 blur of StyleGAN (v1): per channel, zero padding 1, stride 1.

`blur3(x)`: x [N, C, H, W] -> [N, C, H, W]. 'fast' is separable: [1, 2, 1] / 4 along the rows, then along
the columns, as shifted adds (faster on CPUs than a depthwise convolution); 'ref' sums the nine shifted,
weighted copies of the zero-padded input, which is the definition written out.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .impl import resolve_impl

__all__ = ["blur3", "BLUR_TAPS"]

BLUR_TAPS = (1.0, 2.0, 1.0)  # separable taps; the 2-D kernel is their outer product divided by 16


def _blur_ref(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[2:]
    p = F.pad(x, [1, 1, 1, 1])
    out = torch.zeros_like(x)
    for dy, ty in enumerate(BLUR_TAPS):
        for dx, tx in enumerate(BLUR_TAPS):
            out = out + p[:, :, dy:dy + h, dx:dx + w] * (ty * tx / 16.0)
    return out


def blur3(x: torch.Tensor, impl: str | None = None) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H, W], each channel blurred with the normalised [1,2,1] kernel."""
    if resolve_impl(impl) == "ref":
        return _blur_ref(x)
    p = F.pad(x, [1, 1, 0, 0])
    x = (p[..., :-2] + p[..., 2:] + 2 * p[..., 1:-1]) * 0.25
    p = F.pad(x, [0, 0, 1, 1])
    return (p[..., :-2, :] + p[..., 2:, :] + 2 * p[..., 1:-1, :]) * 0.25
