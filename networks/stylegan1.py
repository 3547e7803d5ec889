"""StyleGAN (v1, Karras et al. 2019): G_style (mapping + AdaIN synthesis) and D_basic, as NVlabs/stylegan has them.

Written from the paper and the format facts in tests/data/nvidia-compat/README.md ("StyleGAN (v1)").
Weights are stored as TF stores them, at unit scale (equalized lr, `networks.progressive`), conv weights in
PyTorch's [out, in, kh, kw] layout as plain cross-correlation kernels; the loader flips the fused (>= 128 px)
up-sampling convs of a TF file, after which fused and non-fused layers compute the same thing.

ws [N, num_ws, w_dim], num_ws = 2 log2(R) - 2: row 2 log2(r) - 4 drives the r x r block's first layer, the
next row its second. lod (`synthesis.lod`, `D.lod`) fades between resolutions as ProGAN does.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from networks.config import StyleGAN1Config, StyleGAN1DiscriminatorConfig, nf
from networks.layers import truncate
from networks.ops.blur import blur3
from networks.progressive import (EqualizedConv2d, EqualizedLinear, downscale2x, get_lod, lod_alpha, lrelu,
                                  pixel_norm, upscale2x)
from networks.stylegan2 import minibatch_stddev

NOISE_MODES = ("const", "random", "none")


def _log2(res: int) -> int:
    log2 = int(res).bit_length() - 1
    if res != 2 ** log2 or res < 4:
        raise ValueError(f"resolution {res} is not a power of two >= 4")
    return log2


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per sample and channel: subtract the spatial mean, divide by the RMS of the result (+ eps)."""
    x = x - x.mean(dim=[2, 3], keepdim=True)
    return x * (x.square().mean(dim=[2, 3], keepdim=True) + eps).rsqrt()


class InstanceNorm(nn.Module):
    """`instance_norm` as a module (hookable in the layer view)."""

    def forward(self, x):
        return instance_norm(x)


class Blur(nn.Module):
    """The [1,2,1] blur (`networks.ops.blur.blur3`) as a module: [N, C, H, W] -> the same shape."""

    def forward(self, x):
        return blur3(x)


class MappingNetwork(nn.Module):
    """z [N, z_dim], c [N, c_dim] -> ws [N, num_ws, w_dim]: pixel norm, dense + bias + leaky ReLU per layer."""

    def __init__(self, cfg: StyleGAN1Config, num_ws: int):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.c_dim, cfg.w_dim, num_ws
        self.num_layers = cfg.mapping_layers
        self.w_avg_beta = cfg.dlatent_avg_beta
        if cfg.c_dim > 0:
            # TF's LabelConcat: a raw (no equalized lr) [label_size, z_dim] matrix.
            self.embed = nn.Parameter(torch.randn([cfg.c_dim, cfg.z_dim]))
        features = [cfg.z_dim * (2 if cfg.c_dim else 1)] + [cfg.mapping_fmaps] * (cfg.mapping_layers - 1) + [cfg.w_dim]
        for i in range(cfg.mapping_layers):
            self.add_module(f"fc{i}", _DenseAct(features[i], features[i + 1], lrmul=cfg.mapping_lrmul))
        self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))

    def forward(self, z, c, truncation_psi: float = 1, truncation_cutoff: Optional[int] = None,
                update_emas: bool = False) -> torch.Tensor:
        assert z is not None and z.shape[1:] == (self.z_dim,), f"z must be [N, {self.z_dim}]"
        x = z.to(torch.float32)
        if self.c_dim > 0:
            assert c is not None and c.shape[1:] == (self.c_dim,), f"c must be [N, {self.c_dim}]"
            x = torch.cat([x, c.to(torch.float32).matmul(self.embed)], dim=1)
        x = pixel_norm(x)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            ws = truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)
        return ws


class _DenseAct(nn.Module):
    """Equalized dense layer + bias + leaky ReLU: [N, in] -> [N, out]."""

    def __init__(self, in_features: int, out_features: int, lrmul: float = 1.0):
        super().__init__()
        self.dense = EqualizedLinear(in_features, out_features, lrmul=lrmul)

    def forward(self, x):
        return lrelu(self.dense(x))


class SynthesisLayer(nn.Module):
    """One layer: [conv (up-sampling + blur for a block's first)] then the epilogue:
    noise, bias, leaky ReLU, instance norm, AdaIN from its w row. x [N, in, r/2 or r] -> [N, out, r, r]."""

    def __init__(self,
                 in_channels: int,                 # 0 = the 4x4 const layer (no conv).
                 out_channels: int,
                 w_dim: int,
                 resolution: int,                  # Output resolution.
                 up: bool = False,                 # 2x up-sampling conv followed by the blur.
                 use_noise: bool = True):
        super().__init__()
        self.up, self.use_noise, self.resolution = up, use_noise, resolution
        self.conv = (EqualizedConv2d(in_channels, out_channels, 3, resample="up" if up else None)
                     if in_channels else None)
        if up:
            self.blur = Blur()
        self.norm = InstanceNorm()
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([out_channels]))
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.style = EqualizedLinear(w_dim, 2 * out_channels, gain=1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
            if self.up:
                x = self.blur(x)
        if self.use_noise and noise_mode != "none":
            if noise_mode == "const":
                noise = self.noise_const.to(x.dtype)
            else:
                noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device, dtype=x.dtype)
            x = x + noise * self.noise_strength.to(x.dtype).reshape(1, -1, 1, 1)
        x = self.norm(lrelu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)))
        style = self.style(w)
        scale, shift = style.chunk(2, dim=1)
        return x * (scale + 1).unsqueeze(2).unsqueeze(3) + shift.unsqueeze(2).unsqueeze(3)


class ToRGB(nn.Module):
    """1x1 conv (gain 1) + bias, no activation: [N, C, r, r] -> [N, img_channels, r, r]."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = EqualizedConv2d(in_channels, out_channels, 1, gain=1.0)
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x):
        return self.conv(x) + self.bias.to(x.dtype).reshape(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """The r x r block: conv0 (const epilogue at 4x4, else up-sampling conv), conv1, and its ToRGB."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, cfg: StyleGAN1Config):
        super().__init__()
        self.resolution = resolution
        if resolution == 4:
            self.const = nn.Parameter(torch.ones([out_channels, 4, 4]))
            self.conv0 = SynthesisLayer(0, out_channels, cfg.w_dim, 4, use_noise=cfg.use_noise)
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, cfg.w_dim, resolution, up=True,
                                        use_noise=cfg.use_noise)
        self.conv1 = SynthesisLayer(out_channels, out_channels, cfg.w_dim, resolution, use_noise=cfg.use_noise)
        self.torgb = ToRGB(out_channels, cfg.num_channels)

    def forward(self, x, ws, noise_mode: str = "random"):
        """x [N, in, r/2, r/2] (None at 4x4), ws [N, 2, w_dim] -> features [N, out, r, r]."""
        if self.resolution == 4:
            x = self.const.to(ws.dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        x = self.conv0(x, ws[:, 0], noise_mode)
        return self.conv1(x, ws[:, 1], noise_mode)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> img [N, img_channels, R, R] (always full size, blended by `lod`)."""

    def __init__(self, cfg: StyleGAN1Config):
        super().__init__()
        log2 = _log2(cfg.resolution)
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.resolution, cfg.num_channels
        self.num_ws = cfg.num_ws
        self.max_lod = log2 - 2
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        ch = {r: nf(int(math.log2(r)) - 1, cfg.fmap_base, cfg.fmap_decay, cfg.fmap_max) for r in self.block_resolutions}
        for r in self.block_resolutions:
            setattr(self, f"b{r}", SynthesisBlock(ch[r // 2] if r > 4 else 0, ch[r], r, cfg))
        self.register_buffer("lod", torch.zeros([]))

    @property
    def layer_names(self) -> list[str]:
        return [f"b{r}.{n}" for r in self.block_resolutions for n in ("conv0", "conv1", "torgb")]

    def layer_shapes(self) -> dict[str, list[int]]:
        """Output shape [C, H, W] of every hookable layer, without running it."""
        shapes = {}
        for r in self.block_resolutions:
            ch = getattr(self, f"b{r}").conv1.bias.shape[0]
            shapes[f"b{r}.conv0"] = shapes[f"b{r}.conv1"] = [ch, r, r]
            shapes[f"b{r}.torgb"] = [self.img_channels, r, r]
        return shapes

    @property
    def w_resolutions(self) -> list[int]:
        return [r for r in self.block_resolutions for _ in range(2)]

    def forward(self, ws, noise_mode: str = "random", force_fp32: bool = False, update_emas: bool = False,
                **_ignored):
        del force_fp32, update_emas  # float32 throughout; nothing to track
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f"ws must be [N, {self.num_ws}, {self.w_dim}]"
        assert noise_mode in NOISE_MODES, f"noise_mode must be one of {NOISE_MODES}"
        return blend_lod(self, ws.to(torch.float32), get_lod(self.lod, self.max_lod),
                         lambda block, x, i: block(x, ws[:, 2 * i:2 * i + 2].to(torch.float32), noise_mode))


def blend_lod(net: nn.Module, ws: torch.Tensor, lod: float, run_block) -> torch.Tensor:
    """Runs the blocks coarse to fine and fades their ToRGB images by lod (ProGAN's rule):
    img = hi + (up2x(img) - hi) * clip(lod - level, 0, 1), level 0 = full resolution.
    Blocks a full fade hides (alpha 1) are skipped; the image is then up-sampled to full size."""
    x = img = None
    top = len(net.block_resolutions) - 1
    for i, r in enumerate(net.block_resolutions):
        level = top - i
        alpha = lod_alpha(lod, level)
        if alpha >= 1:
            img = upscale2x(img)
            continue
        block = getattr(net, f"b{r}")
        x = run_block(block, x, i)
        hi = block.torgb(x)
        img = hi if (img is None or alpha <= 0) else hi + (upscale2x(img) - hi) * alpha
    return img


class Generator(nn.Module):
    """z [N, z_dim], c [N, c_dim] -> img [N, C, R, R]; NVIDIA's generator interface."""

    arch = "stylegan"

    def __init__(self, cfg: StyleGAN1Config):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.resolution, cfg.num_channels
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg, self.num_ws)

    def forward(self, z, c, truncation_psi: float = 1, truncation_cutoff: Optional[int] = None,
                noise_mode: str = "const", force_fp32: bool = False, update_emas: bool = False, **synthesis_kwargs):
        """truncation_cutoff None = every row (the PyTorch tools' meaning; TF's G_style defaulted to 8)."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, **synthesis_kwargs)


# ---------------------------------------------------------------------------------------------- D_basic


class _ConvAct(nn.Module):
    """k x k equalized conv + bias + leaky ReLU (FromRGB, Conv0, 4x4/Conv)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.conv = EqualizedConv2d(in_channels, out_channels, kernel_size)
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x):
        return lrelu(self.conv(x) + self.bias.to(x.dtype).reshape(1, -1, 1, 1))


class _BlurDown(nn.Module):
    """Conv1_down: blur, 3x3 conv, 2x2 average, bias, leaky ReLU. [N, in, r, r] -> [N, out, r/2, r/2]."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.blur = Blur()
        self.conv = EqualizedConv2d(in_channels, out_channels, 3, resample="down")
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x):
        x = self.conv(self.blur(x))
        return lrelu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1))


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, img_channels: int):
        super().__init__()
        self.fromrgb = _ConvAct(img_channels, in_channels, 1)
        self.conv0 = _ConvAct(in_channels, in_channels, 3)
        self.conv1 = _BlurDown(in_channels, out_channels)

    def forward(self, x):
        return self.conv1(self.conv0(x))


class MinibatchStddev(nn.Module):
    """Appends the std over groups of samples: [N, C, 4, 4] -> [N, C + F, 4, 4] (a module so it can be hooked)."""

    def __init__(self, group_size: int, num_features: int = 1):
        super().__init__()
        self.group_size, self.num_features = group_size, num_features

    def forward(self, x):
        if self.group_size <= 0 or self.num_features <= 0:
            return x
        return minibatch_stddev(x, self.group_size, self.num_features)


class DiscriminatorEpilogue(nn.Module):
    """4x4 features -> per-class scores [N, max(label_size, 1)]: stddev, conv, dense, dense (gain 1)."""

    def __init__(self, channels: int, dense_channels: int, out_features: int, img_channels: int,
                 mbstd_group_size: int, mbstd_num_features: int):
        super().__init__()
        extra = mbstd_num_features if mbstd_group_size > 0 else 0
        self.fromrgb = _ConvAct(img_channels, channels, 1)
        self.mbstd = MinibatchStddev(mbstd_group_size, mbstd_num_features)
        self.conv = _ConvAct(channels + extra, channels, 3)
        self.fc = EqualizedLinear(channels * 16, dense_channels)
        self.out = EqualizedLinear(dense_channels, out_features, gain=1.0)

    def forward(self, x):
        x = self.conv(self.mbstd(x))
        return self.out(lrelu(self.fc(x.flatten(1))))


def discriminate_lod(net: nn.Module, img: torch.Tensor, lod: float) -> torch.Tensor:
    """Runs D's blocks top down on img [N, C, R, R], fading each block's output toward the FromRGB of the
    2x2-averaged image by clip(lod - level, 0, 1); starts at the first level a full fade does not hide.
    Returns the 4x4 epilogue's output."""
    levels = [r for r in net.block_resolutions] + [4]
    start = 0
    while start < len(levels) - 1 and lod_alpha(lod, start) >= 1:
        img = downscale2x(img)
        start += 1
    x = None
    for level in range(start, len(levels)):
        block = getattr(net, f"b{levels[level]}")
        if x is None:
            x = block.fromrgb(img)
        if level == len(levels) - 1:
            return block(x)
        x = block(x)
        img = downscale2x(img)
        alpha = lod_alpha(lod, level)
        if alpha > 0:
            y = getattr(net, f"b{levels[level + 1]}").fromrgb(img)
            x = x + (y - x) * alpha
    raise AssertionError("unreachable")


class Discriminator(nn.Module):
    """img [N, C, R, R], c [N, c_dim] -> scores [N, 1] (with labels: sum over classes of score * c)."""

    arch = "stylegan"

    def __init__(self, cfg: StyleGAN1DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        log2 = _log2(cfg.resolution)
        self.c_dim, self.img_resolution, self.img_channels = cfg.label_size, cfg.resolution, cfg.num_channels
        self.max_lod = log2 - 2
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        n = lambda s: nf(s, cfg.fmap_base, cfg.fmap_decay, cfg.fmap_max)  # noqa: E731
        for r in self.block_resolutions:
            k = int(math.log2(r))
            setattr(self, f"b{r}", DiscriminatorBlock(n(k - 1), n(k - 2), cfg.num_channels))
        self.b4 = DiscriminatorEpilogue(n(1), n(0), max(cfg.label_size, 1), cfg.num_channels,
                                        cfg.mbstd_group_size, cfg.mbstd_num_features)
        self.register_buffer("lod", torch.zeros([]))

    def forward(self, img, c=None, update_emas: bool = False, force_fp32: bool = False):
        del update_emas, force_fp32
        scores = discriminate_lod(self, img.to(torch.float32), get_lod(self.lod, self.max_lod))
        if self.c_dim > 0:
            scores = (scores * c.to(scores.dtype)).sum(dim=1, keepdim=True)
        return scores
