"""StyleGAN2 generator and discriminator.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020),
with the StyleGAN2-ADA conventions (conv_clamp, fp16 at the highest resolutions).
Module and parameter names match NVIDIA's checkpoints so state dicts load as they are.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from networks.config import DiscriminatorConfig, StyleGAN2Config
from networks.layers import FullyConnectedLayer, MappedGenerator, MappingNetwork
from networks.ops.bias_act import activation_gain, bias_act
from networks.ops.conv2d_resample import conv2d_resample
from networks.ops.modulated_conv import modulated_conv2d
from networks.ops.upfirdn2d import downsample2d, setup_filter, upsample2d


def _compute_dtype(use_fp16: bool, force_fp32: bool, device: torch.device) -> torch.dtype:
    # fp16 only pays off (and is only exact enough) with CUDA's tensor cores.
    return torch.float16 if use_fp16 and not force_fp32 and device.type == "cuda" else torch.float32


# ----------------------------------------------------------------------------------------------
# Generator


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv + noise + bias + lrelu. x: [N, I, r/up, r/up] -> [N, O, r, r]."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, resample_filter=(1, 3, 3, 1),
                 conv_clamp: Optional[float] = None):
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = activation_gain("lrelu")
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x, w, noise_mode: str = "random", fused_modconv: bool = True, gain: float = 1):
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        elif noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', not {noise_mode!r}")
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act="lrelu", gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation. x: [N, I, r, r] -> [N, img_channels, r, r]."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: Optional[float] = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x, w, fused_modconv: bool = True):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class Conv2dLayer(nn.Module):
    """Plain conv with equalized lr, optional up/down-sampling by a FIR filter. [N, I, H, W] -> [N, O, H', W']."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1, resample_filter=(1, 3, 3, 1),
                 conv_clamp: Optional[float] = None):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = activation_gain(activation)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x, gain: float = 1):
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, f=self.resample_filter, up=self.up, down=self.down, padding=self.padding,
                            flip_weight=(self.up == 1))
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (x, img) at r/2 -> (x, img) at r. Consumes num_conv + num_torgb ws."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, is_last: bool, use_fp16: bool,
                 cfg: StyleGAN2Config):
        super().__init__()
        self.in_channels, self.resolution, self.is_last, self.use_fp16 = in_channels, resolution, is_last, use_fp16
        self.architecture = cfg.architecture
        self.fused_modconv_default = cfg.fused_modconv_default
        self.channels_last = use_fp16 and cfg.fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(list(cfg.resample_filter)))
        layer = dict(w_dim=cfg.w_dim, resolution=resolution, use_noise=cfg.use_noise,
                     resample_filter=cfg.resample_filter, conv_clamp=cfg.conv_clamp)
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, **layer)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer)
        self.num_conv += 1
        if is_last or cfg.architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, cfg.img_channels, cfg.w_dim, conv_clamp=cfg.conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and cfg.architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=cfg.resample_filter)

    def forward(self, x, img, ws, force_fp32: bool = False, fused_modconv=None, update_emas: bool = False,
                noise_mode: str = "random"):
        del update_emas  # StyleGAN2 blocks keep no running statistics.
        w_iter = iter(ws.unbind(dim=1))
        dtype = _compute_dtype(self.use_fp16, force_fp32, ws.device)
        memory_format = torch.channels_last if self.channels_last and dtype == torch.float16 else torch.contiguous_format
        if fused_modconv is None:
            fused_modconv = self.fused_modconv_default
            if fused_modconv == "inference_only":
                # Inference: per layer, whichever form is cheaper (ops.modulated_conv.prefer_fused).
                fused_modconv = False if self.training else None

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype, memory_format=memory_format).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        elif self.architecture == "resnet":
            x = x.to(dtype=dtype, memory_format=memory_format)
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv, gain=math.sqrt(0.5))
            x = y.add_(x)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = img.add_(y) if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> img [N, img_channels, R, R]."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        log2 = int(math.log2(cfg.img_resolution))
        assert cfg.img_resolution == 2 ** log2 and cfg.img_resolution >= 4, "resolution must be a power of two"
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.img_resolution, cfg.img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {r: min(cfg.channel_base // r, cfg.channel_max) for r in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - cfg.num_fp16_res), 8)
        self.num_ws = 0
        for r in self.block_resolutions:
            block = SynthesisBlock(channels[r // 2] if r > 4 else 0, channels[r], r, is_last=(r == cfg.img_resolution),
                                   use_fp16=(r >= fp16_resolution), cfg=cfg)
            self.num_ws += block.num_conv + (block.num_torgb if r == cfg.img_resolution else 0)
            setattr(self, f"b{r}", block)

    @property
    def layer_names(self) -> list[str]:
        names = []
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            names += [f"b{r}.{n}" for n in ("conv0", "conv1", "torgb") if hasattr(block, n)]
            names.append(f"b{r}")
        return names

    def layer_shapes(self) -> dict[str, list[int]]:
        """Output shape [C, H, W] of every hookable layer, without running it ('<block>:0' = x, ':1' = img)."""
        shapes = {}
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            ch = block.conv1.weight.shape[0]
            for n in ("conv0", "conv1"):
                if hasattr(block, n):
                    shapes[f"b{r}.{n}"] = [ch, r, r]
            if hasattr(block, "torgb"):
                shapes[f"b{r}.torgb"] = [self.img_channels, r, r]
            shapes[f"b{r}:0"] = [ch, r, r]
            if hasattr(block, "torgb"):  # blocks without ToRGB pass img=None on
                shapes[f"b{r}:1"] = [self.img_channels, r, r]
        return shapes

    @property
    def w_resolutions(self) -> list[int]:
        """Resolution driven by each w index: conv0/conv1 of a block, then torgb of the last one."""
        out = []
        for r in self.block_resolutions:
            out += [r] * getattr(self, f"b{r}").num_conv
        return out + [self.img_resolution] * (self.num_ws - len(out))

    def forward(self, ws, noise_mode: str = "random", force_fp32: bool = False, update_emas: bool = False,
                fused_modconv=None):
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), f"ws must be [N, {self.num_ws}, {self.w_dim}]"
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, block_ws, force_fp32=force_fp32, fused_modconv=fused_modconv,
                           update_emas=update_emas, noise_mode=noise_mode)
        return img


class Generator(MappedGenerator):
    """StyleGAN2: z [N, z_dim], c [N, c_dim] -> img [N, img_channels, R, R], roughly in [-1, 1]."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__(cfg, SynthesisNetwork(cfg))


# ----------------------------------------------------------------------------------------------
# Discriminator


class DiscriminatorBlock(nn.Module):
    """(x, img) at r -> (x, img) at r/2."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, use_fp16: bool,
                 cfg: DiscriminatorConfig, resample_filter=(1, 3, 3, 1)):
        super().__init__()
        self.in_channels, self.use_fp16, self.architecture = in_channels, use_fp16, cfg.architecture
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        conv = dict(activation="lrelu", conv_clamp=cfg.conv_clamp)
        if in_channels == 0 or cfg.architecture == "skip":
            self.fromrgb = Conv2dLayer(cfg.img_channels, tmp_channels, kernel_size=1, **conv)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, **conv)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, down=2, resample_filter=resample_filter,
                                 **conv)
        if cfg.architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    resample_filter=resample_filter)

    def forward(self, x, img, force_fp32: bool = False):
        dtype = _compute_dtype(self.use_fp16, force_fp32, (x if x is not None else img).device)
        if x is not None:
            x = x.to(dtype)
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.fromrgb(img.to(dtype))
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=math.sqrt(0.5))
            x = y.add_(x)
        else:
            x = self.conv1(self.conv0(x))
        return x, img


def minibatch_stddev(x: torch.Tensor, group_size: Optional[int], num_channels: int = 1) -> torch.Tensor:
    """Appends the std over groups of samples as extra feature maps: [N, C, H, W] -> [N, C + F, H, W]."""
    n, c, h, w = x.shape
    g = min(group_size, n) if group_size is not None else n
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)                   # [G, n/G, F, c, H, W]
    y = (y - y.mean(dim=0)).square().mean(dim=0)            # variance over each group
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])               # [n/G, F]
    y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)           # [N, F, H, W]
    return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 features -> logits [N, 1] (projected onto the label embedding when conditional)."""

    def __init__(self, in_channels: int, cmap_dim: int, cfg: DiscriminatorConfig):
        super().__init__()
        self.architecture, self.cmap_dim = cfg.architecture, cmap_dim
        self.mbstd_group_size, self.mbstd_num_channels = cfg.mbstd_group_size, cfg.mbstd_num_channels
        if cfg.architecture == "skip":
            self.fromrgb = Conv2dLayer(cfg.img_channels, in_channels, kernel_size=1, activation="lrelu")
        self.conv = Conv2dLayer(in_channels + cfg.mbstd_num_channels, in_channels, kernel_size=3, activation="lrelu",
                                conv_clamp=cfg.conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * 4 * 4, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x, img, cmap):
        x = x.to(torch.float32)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd_num_channels > 0:
            x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if cmap is not None:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """img [N, C, R, R], c [N, c_dim] -> logits [N, 1]."""

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        self.c_dim, self.img_resolution, self.img_channels = cfg.c_dim, cfg.img_resolution, cfg.img_channels
        log2 = int(math.log2(cfg.img_resolution))
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = {r: min(cfg.channel_base // r, cfg.channel_max) for r in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (log2 + 1 - cfg.num_fp16_res), 8)
        cmap_dim = cfg.cmap_dim if cfg.cmap_dim is not None else channels[4]
        cmap_dim = cmap_dim if cfg.c_dim > 0 else 0
        for r in self.block_resolutions:
            block = DiscriminatorBlock(channels[r] if r < cfg.img_resolution else 0, channels[r], channels[r // 2],
                                       use_fp16=(r >= fp16_resolution), cfg=cfg)
            setattr(self, f"b{r}", block)
        if cfg.c_dim > 0:
            self.mapping = MappingNetwork(0, cfg.c_dim, cmap_dim, None, cfg.mapping)
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim, cfg)

    def forward(self, img, c, update_emas: bool = False, force_fp32: bool = False):
        del update_emas
        x = None
        for r in self.block_resolutions:
            x, img = getattr(self, f"b{r}")(x, img, force_fp32=force_fp32)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)
