"""ProGAN (Karras et al. 2018, progressive growing): G_paper and D_paper as tkarras/progressive_growing_of_gans
has them.

Written from the paper and the format facts in tests/data/nvidia-compat/README.md ("ProGAN"). Weights are
stored at unit scale (equalized lr), convs as [out, in, kh, kw] cross-correlation kernels applied after the
nearest-neighbour up-sampling (the loader flips and transposes TF's fused `Conv0_up` weights into that form).

The "w" of the project's interface is the pixel-normalised [z, c] as one row: `G.mapping(z, c)` ->
[N, 1, z_dim + c_dim], `G.synthesis(ws)` starts at the 4x4 dense layer. `G.mapping.w_avg` is zeros and
truncation does not apply (ProGAN has none): psi and cutoff are accepted and ignored.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from networks.config import ProGANConfig, ProGANDiscriminatorConfig, nf
from networks.progressive import (EqualizedConv2d, EqualizedLinear, downscale2x, get_lod, lrelu, pixel_norm)
from networks.stylegan1 import MinibatchStddev, _log2, blend_lod, discriminate_lod


class MappingNetwork(nn.Module):
    """z [N, z_dim], c [N, c_dim] -> "ws" [N, 1, z_dim + c_dim]: the concatenation, pixel-normalised."""

    def __init__(self, cfg: ProGANConfig):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.c_dim, cfg.w_dim, 1
        self.normalize_latents = cfg.normalize_latents
        self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))  # truncation centre; unused (no truncation)

    def forward(self, z, c, truncation_psi: float = 1, truncation_cutoff: Optional[int] = None,
                update_emas: bool = False) -> torch.Tensor:
        del truncation_psi, truncation_cutoff, update_emas  # ProGAN has no truncation and no w statistics
        assert z is not None and z.shape[1:] == (self.z_dim,), f"z must be [N, {self.z_dim}]"
        x = z.to(torch.float32)
        if self.c_dim > 0:
            assert c is not None and c.shape[1:] == (self.c_dim,), f"c must be [N, {self.c_dim}]"
            x = torch.cat([x, c.to(torch.float32)], dim=1)
        if self.normalize_latents:
            x = pixel_norm(x)
        return x.unsqueeze(1)


class _Bias(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros([channels]))

    def add(self, x):
        return x + self.bias.to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))


class GLayer(nn.Module):
    """conv (3x3, or 2x up-sampling 3x3) + bias + leaky ReLU + pixel norm: [N, in, h, w] -> [N, out, r, r]."""

    def __init__(self, in_channels: int, out_channels: int, up: bool, cfg: ProGANConfig):
        super().__init__()
        self.up, self.use_pixelnorm = up, cfg.use_pixelnorm
        self.conv = EqualizedConv2d(in_channels, out_channels, 3, use_wscale=cfg.use_wscale,
                                    resample="up" if up else None)
        self.b = _Bias(out_channels)

    def forward(self, x):
        x = lrelu(self.b.add(self.conv(x)))
        return pixel_norm(x) if self.use_pixelnorm else x


class GDense(nn.Module):
    """The 4x4 start: dense (gain sqrt(2)/4) to [N, C, 4, 4], bias, leaky ReLU, pixel norm."""

    def __init__(self, in_features: int, channels: int, cfg: ProGANConfig):
        super().__init__()
        self.channels, self.use_pixelnorm = channels, cfg.use_pixelnorm
        self.dense = EqualizedLinear(in_features, channels * 16, gain=math.sqrt(2) / 4, bias=False,
                                     use_wscale=cfg.use_wscale)
        self.b = _Bias(channels)

    def forward(self, x):
        x = lrelu(self.b.add(self.dense(x).reshape(-1, self.channels, 4, 4)))
        return pixel_norm(x) if self.use_pixelnorm else x


class ToRGB(nn.Module):
    """1x1 conv (gain 1) + bias: [N, C, r, r] -> [N, img_channels, r, r]."""

    def __init__(self, in_channels: int, out_channels: int, use_wscale: bool):
        super().__init__()
        self.conv = EqualizedConv2d(in_channels, out_channels, 1, gain=1.0, use_wscale=use_wscale)
        self.b = _Bias(out_channels)

    def forward(self, x):
        return self.b.add(self.conv(x))


class SynthesisBlock(nn.Module):
    """4x4: dense + conv; r x r: up-sampling conv0 + conv1; each with its ToRGB."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, cfg: ProGANConfig):
        super().__init__()
        if resolution == 4:
            self.conv0 = GDense(in_channels, out_channels, cfg)
        else:
            self.conv0 = GLayer(in_channels, out_channels, True, cfg)
        self.conv1 = GLayer(out_channels, out_channels, False, cfg)
        self.torgb = ToRGB(out_channels, cfg.num_channels, cfg.use_wscale)

    def forward(self, x):
        return self.conv1(self.conv0(x))


class SynthesisNetwork(nn.Module):
    """ws [N, 1, z_dim + c_dim] -> img [N, img_channels, R, R] (always full size, blended by `lod`)."""

    def __init__(self, cfg: ProGANConfig):
        super().__init__()
        log2 = _log2(cfg.resolution)
        self.w_dim, self.num_ws = cfg.w_dim, 1
        self.img_resolution, self.img_channels = cfg.resolution, cfg.num_channels
        self.max_lod = log2 - 2
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        ch = {r: nf(int(math.log2(r)) - 1, cfg.fmap_base, cfg.fmap_decay, cfg.fmap_max) for r in self.block_resolutions}
        for r in self.block_resolutions:
            setattr(self, f"b{r}", SynthesisBlock(cfg.w_dim if r == 4 else ch[r // 2], ch[r], r, cfg))
        self.register_buffer("lod", torch.zeros([]))

    @property
    def layer_names(self) -> list[str]:
        return [f"b{r}.{n}" for r in self.block_resolutions for n in ("conv0", "conv1", "torgb")]

    def layer_shapes(self) -> dict[str, list[int]]:
        shapes = {}
        for r in self.block_resolutions:
            ch = getattr(self, f"b{r}").conv1.b.bias.shape[0]
            shapes[f"b{r}.conv0"] = shapes[f"b{r}.conv1"] = [ch, r, r]
            shapes[f"b{r}.torgb"] = [self.img_channels, r, r]
        return shapes

    @property
    def w_resolutions(self) -> list[int]:
        return [self.img_resolution]  # the one row drives every resolution

    def forward(self, ws, noise_mode: str = "const", force_fp32: bool = False, update_emas: bool = False,
                **_ignored):
        del noise_mode, force_fp32, update_emas  # no noise inputs; float32 throughout
        assert ws.ndim == 3 and ws.shape[1:] == (1, self.w_dim), f"ws must be [N, 1, {self.w_dim}]"
        x0 = ws[:, 0].to(torch.float32)
        return blend_lod(self, ws, get_lod(self.lod, self.max_lod),
                         lambda block, x, i: block(x0 if x is None else x))


class Generator(nn.Module):
    """z [N, z_dim], c [N, c_dim] -> img [N, C, R, R]; NVIDIA's generator interface (truncation ignored)."""

    arch = "progan"

    def __init__(self, cfg: ProGANConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.resolution, cfg.num_channels
        self.num_ws = 1
        self.mapping = MappingNetwork(cfg)
        self.synthesis = SynthesisNetwork(cfg)

    def forward(self, z, c, truncation_psi: float = 1, truncation_cutoff: Optional[int] = None,
                noise_mode: str = "const", force_fp32: bool = False, update_emas: bool = False, **synthesis_kwargs):
        ws = self.mapping(z, c)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, **synthesis_kwargs)


# ---------------------------------------------------------------------------------------------- D_paper


class DConv(nn.Module):
    """k x k conv + bias + leaky ReLU; `down`: then 2x2 average, fused (stride-2 conv before the bias) or not
    (after the activation, as D_paper with fused_scale False does)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, use_wscale: bool,
                 down: bool = False, fused: bool = True):
        super().__init__()
        self.down, self.fused = down, fused
        self.conv = EqualizedConv2d(in_channels, out_channels, kernel_size, use_wscale=use_wscale,
                                    resample="down" if down and fused else None)
        self.b = _Bias(out_channels)

    def forward(self, x):
        x = lrelu(self.b.add(self.conv(x)))
        return downscale2x(x) if self.down and not self.fused else x


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, cfg: ProGANDiscriminatorConfig):
        super().__init__()
        self.fromrgb = DConv(cfg.num_channels, in_channels, 1, cfg.use_wscale)
        self.conv0 = DConv(in_channels, in_channels, 3, cfg.use_wscale)
        self.conv1 = DConv(in_channels, out_channels, 3, cfg.use_wscale, down=True, fused=cfg.fused_scale)

    def forward(self, x):
        return self.conv1(self.conv0(x))


class DiscriminatorEpilogue(nn.Module):
    """4x4 features -> [N, 1 + label_size]: stddev, conv, dense (lrelu), dense (gain 1)."""

    def __init__(self, channels: int, dense_channels: int, cfg: ProGANDiscriminatorConfig):
        super().__init__()
        extra = 1 if cfg.mbstd_group_size > 0 else 0
        self.fromrgb = DConv(cfg.num_channels, channels, 1, cfg.use_wscale)
        self.mbstd = MinibatchStddev(cfg.mbstd_group_size, 1)
        self.conv = DConv(channels + extra, channels, 3, cfg.use_wscale)
        self.fc = EqualizedLinear(channels * 16, dense_channels, use_wscale=cfg.use_wscale)
        self.out = EqualizedLinear(dense_channels, 1 + cfg.label_size, gain=1.0, use_wscale=cfg.use_wscale)

    def forward(self, x):
        x = self.conv(self.mbstd(x))
        return self.out(lrelu(self.fc(x.flatten(1))))


class Discriminator(nn.Module):
    """img [N, C, R, R] -> score [N, 1]. `forward_with_labels(img)` -> (score [N, 1], label logits [N, c_dim]):
    D_paper's auxiliary classifier. D takes no labels; `c` is accepted for the common interface and unused."""

    arch = "progan"

    def __init__(self, cfg: ProGANDiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        log2 = _log2(cfg.resolution)
        self.c_dim, self.img_resolution, self.img_channels = cfg.label_size, cfg.resolution, cfg.num_channels
        self.max_lod = log2 - 2
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        n = lambda s: nf(s, cfg.fmap_base, cfg.fmap_decay, cfg.fmap_max)  # noqa: E731
        for r in self.block_resolutions:
            k = int(math.log2(r))
            setattr(self, f"b{r}", DiscriminatorBlock(n(k - 1), n(k - 2), cfg))
        self.b4 = DiscriminatorEpilogue(n(1), n(0), cfg)
        self.register_buffer("lod", torch.zeros([]))

    def forward_with_labels(self, img) -> tuple[torch.Tensor, torch.Tensor]:
        out = discriminate_lod(self, img.to(torch.float32), get_lod(self.lod, self.max_lod))
        return out[:, :1], out[:, 1:]

    def forward(self, img, c=None, update_emas: bool = False, force_fp32: bool = False):
        del c, update_emas, force_fp32
        return self.forward_with_labels(img)[0]
