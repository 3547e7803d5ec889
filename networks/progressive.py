"""Building blocks of the progressive-growing lineage (ProGAN, StyleGAN v1) and the `lod` they fade by.

Equalized learning rate as these papers' TensorFlow code has it: the stored weight has unit scale
(N(0, 1 / lrmul) at init) and is used times `gain / sqrt(fan_in) * lrmul`; the gain sits on the weight,
not after the activation, so stored TF weights load unchanged. `lod` (level of detail) is a float32
scalar buffer: 0 = full resolution, L = resolution / 2^L, fractions blend two neighbouring levels.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from networks.ops.resample_conv import conv2d_downsample, upsample_conv2d

__all__ = ["set_lod", "get_lod", "lod_alpha", "EqualizedLinear", "EqualizedConv2d", "pixel_norm",
           "upscale2x", "downscale2x", "lrelu"]


def set_lod(module: nn.Module, value: float) -> None:
    """Writes `value` into every buffer named `lod` in the module tree (G.synthesis's, D's)."""
    for name, buf in module.named_buffers():
        if name == "lod" or name.endswith(".lod"):
            buf.fill_(float(value))


def get_lod(buf: torch.Tensor, max_lod: int) -> float:
    """The buffer's value as a Python float, clamped to [0, max_lod] (TF clips the same way)."""
    return min(max(float(buf), 0.0), float(max_lod))


def lod_alpha(lod: float, level: int) -> float:
    """Blend weight of the coarser image at `level` (0 = full resolution): clip(lod - level, 0, 1)."""
    return min(max(lod - level, 0.0), 1.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU, slope 0.2, no gain (the gain is in the weights)."""
    return F.leaky_relu(x, 0.2)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean over dim 1 of x^2 + eps): per sample (and pixel) unit RMS over the features."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def upscale2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x: [N, C, H, W] -> [N, C, 2H, 2W]."""
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def downscale2x(x: torch.Tensor) -> torch.Tensor:
    """2x2 average: [N, C, H, W] -> [N, C, H/2, W/2]."""
    return F.avg_pool2d(x, 2)


class EqualizedLinear(nn.Module):
    """x [N, in] -> x @ (W * scale).T [+ b * lrmul], no activation. W stored [out, in] at unit scale."""

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 gain: float = math.sqrt(2),       # He gain; 1 for linear outputs.
                 lrmul: float = 1.0,               # Learning-rate multiplier (0.01 in the mapping network).
                 bias: bool = True,                # Learnable bias, stored / lrmul.
                 use_wscale: bool = True):         # False: weights used as stored (init std gain / sqrt(fan_in)).
        super().__init__()
        he_std = gain / math.sqrt(in_features)
        init_std, self.w_scale = (1.0 / lrmul, he_std * lrmul) if use_wscale else (he_std / lrmul, lrmul)
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) * init_std)
        self.bias = nn.Parameter(torch.zeros([out_features])) if bias else None
        self.b_scale = lrmul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.matmul((self.weight * self.w_scale).t().to(x.dtype))
        if self.bias is not None:
            b = self.bias * self.b_scale if self.b_scale != 1 else self.bias
            x = x + b.to(x.dtype)
        return x


class EqualizedConv2d(nn.Module):
    """k x k 'same' cross-correlation with W * gain / sqrt(k*k*in), no bias. W stored [out, in, k, k].

    resample 'up': nearest 2x first ([N, in, H, W] -> [N, out, 2H, 2W]); 'down': 2x2 average after
    ([N, out, H/2, W/2]); both through `networks.ops.resample_conv` (fast and reference paths). The bias is
    left to the caller: the networks add noise (StyleGAN) or blur between the convolution and the bias.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 gain: float = math.sqrt(2),       # He gain; 1 for ToRGB.
                 use_wscale: bool = True,          # False: weights used as stored.
                 resample: Optional[str] = None):  # None | 'up' | 'down' (3x3 kernels only).
        super().__init__()
        assert resample in (None, "up", "down") and (resample is None or kernel_size == 3)
        he_std = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        init_std, self.w_scale = (1.0, he_std) if use_wscale else (he_std, 1.0)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]) * init_std)
        self.padding, self.resample = kernel_size // 2, resample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = (self.weight * self.w_scale).to(x.dtype)
        if self.resample == "up":
            return upsample_conv2d(x, w)
        if self.resample == "down":
            return conv2d_downsample(x, w)
        return F.conv2d(x, w, padding=self.padding)

    def extra_repr(self) -> str:
        return f"weight={list(self.weight.shape)}, resample={self.resample}"
