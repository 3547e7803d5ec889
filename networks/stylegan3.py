"""StyleGAN3 (-T and -R) generator.

Karras et al., "Alias-Free Generative Adversarial Networks" (NeurIPS 2021).
The synthesis network starts from Fourier features and keeps every signal
band-limited: each layer up-samples, applies the leaky ReLU, low-pass filters and
down-samples (`filtered_lrelu`), with cutoffs that rise geometrically layer by layer.
Module and parameter names match NVIDIA's checkpoints.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from networks.config import StyleGAN3Config
from networks.layers import FullyConnectedLayer, MappedGenerator
from networks.ops.filtered_lrelu import filtered_lrelu
from networks.ops.filters import design_lowpass_filter
from networks.ops.modulated_conv import modulated_conv2d_sg3


def make_transform(translate=(0.0, 0.0), angle_deg: float = 0.0) -> np.ndarray:
    """The user transform m [3, 3] (rotation in degrees, translation in input-plane units).

    m = [[cos a, sin a, tx], [-sin a, cos a, ty], [0, 0, 1]]; the network's
    `synthesis.input.transform` buffer holds inverse(m) while rendering.
    """
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), math.sin(a), translate[0]],
                     [-math.sin(a), math.cos(a), translate[1]],
                     [0.0, 0.0, 1.0]], dtype=np.float64)


def inverse_transform(m: np.ndarray) -> np.ndarray:
    """inverse(m) for `synthesis.input.transform`; a singular matrix raises ValueError in one line."""
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValueError("transform must be a finite 3x3 matrix")
    if abs(np.linalg.det(m)) < 1e-12:
        raise ValueError("transform is singular (determinant 0) and cannot be inverted")
    return np.linalg.inv(m)


class SynthesisInput(nn.Module):
    """Fourier features, rotated and translated per sample by w. w [N, w_dim] -> [N, C, size, size]."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels = w_dim, channels
        self.size = np.broadcast_to(np.asarray(size), [2])
        self.sampling_rate, self.bandwidth = sampling_rate, bandwidth
        # Random frequencies inside a disc of radius `bandwidth`, denser towards the centre.
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        phases = torch.rand([channels]) - 0.5
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        # Per-sample rotation (r_c, r_s) and translation (t_x, t_y) predicted from w.
        t = self.affine(w)                                          # [N, 4]
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = m_r @ m_t @ self.transform.unsqueeze(0)         # [N, 3, 3]

        freqs = self.freqs.unsqueeze(0)                              # [1, C, 2]
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)   # [N, C]
        freqs = freqs @ transforms[:, :2, :2]                        # [N, C, 2]
        # Fade out frequencies that the transform pushes past the band limit.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        # Sample points of the unit-spaced grid, in input-plane coordinates.
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * self.size[0] / self.sampling_rate
        theta[1, 1] = 0.5 * self.size[1] / self.sampling_rate
        grid = torch.nn.functional.affine_grid(theta.unsqueeze(0), [1, 1, int(self.size[1]), int(self.size[0])],
                                               align_corners=False)  # [1, H, W, 2]
        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (2 * math.pi)) * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / math.sqrt(self.channels)).t()        # mix channels
        return x.permute(0, 3, 1, 2)                                 # [N, C, H, W]

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={list(self.size)}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class SynthesisLayer(nn.Module):
    """Modulated conv + filtered leaky ReLU. [N, I, in_size, in_size] -> [N, O, out_size, out_size]."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, use_fp16: bool,
                 in_channels: int, out_channels: int, in_size: int, out_size: int,
                 in_sampling_rate: float, out_sampling_rate: float, in_cutoff: float, out_cutoff: float,
                 in_half_width: float, out_half_width: float, cfg: StyleGAN3Config):
        super().__init__()
        self.is_torgb, self.is_critically_sampled, self.use_fp16 = is_torgb, is_critically_sampled, use_fp16
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.in_cutoff, self.out_cutoff = in_cutoff, out_cutoff
        self.conv_kernel = 1 if is_torgb else cfg.conv_kernel
        self.conv_clamp = cfg.conv_clamp
        self.magnitude_ema_beta = cfg.magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # The leaky ReLU runs at `tmp_sampling_rate`, oversampled to keep its new frequencies below Nyquist.
        tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else cfg.lrelu_upsampling)
        self.up_factor = int(np.rint(tmp_sampling_rate / in_sampling_rate))
        self.down_factor = int(np.rint(tmp_sampling_rate / out_sampling_rate))
        assert in_sampling_rate * self.up_factor == tmp_sampling_rate
        assert out_sampling_rate * self.down_factor == tmp_sampling_rate
        self.up_taps = cfg.filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.down_taps = cfg.filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(self.up_taps, in_cutoff, in_half_width * 2,
                                                                tmp_sampling_rate))
        # Critically sampled layers keep separable filters: a radial one would cut too much there.
        radial = cfg.use_radial_filters and not is_critically_sampled
        self.register_buffer("down_filter", design_lowpass_filter(self.down_taps, out_cutoff, out_half_width * 2,
                                                                  tmp_sampling_rate, radial=radial))

        # Padding so that the output has out_size samples, centred as in the paper's Appendix C.3.
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]

    def forward(self, x, w, noise_mode: str = "random", force_fp32: bool = False, update_emas: bool = False):
        del noise_mode  # StyleGAN3 has no noise inputs; accepted for a uniform interface.
        if update_emas:
            magnitude = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()

        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        dtype = torch.float16 if self.use_fp16 and not force_fp32 and x.device.type == "cuda" else torch.float32
        x = modulated_conv2d_sg3(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb,
                                 padding=self.conv_kernel - 1, input_gain=input_gain)
        gain = 1 if self.is_torgb else math.sqrt(2)
        slope = 1 if self.is_torgb else 0.2
        return filtered_lrelu(x, fu=self.up_filter, fd=self.down_filter, b=self.bias.to(x.dtype), up=self.up_factor,
                              down=self.down_factor, padding=self.padding, gain=gain, slope=slope,
                              clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return (f"in={self.in_channels}x{int(self.in_size[0])}, out={self.out_channels}x{int(self.out_size[0])}, "
                f"up={self.up_factor}, down={self.down_factor}, torgb={self.is_torgb}, "
                f"critical={self.is_critically_sampled}, fp16={self.use_fp16}")


def layer_schedule(cfg: StyleGAN3Config) -> dict:
    """Per-layer cutoffs, stopbands, sampling rates, sizes and channels (index 0 = the input)."""
    n = cfg.num_layers
    last_cutoff = cfg.img_resolution / 2
    last_stopband = last_cutoff * cfg.last_stopband_rel
    exponents = np.minimum(np.arange(n + 1) / (n - cfg.num_critical), 1)
    cutoffs = cfg.first_cutoff * (last_cutoff / cfg.first_cutoff) ** exponents
    stopbands = cfg.first_stopband * (last_stopband / cfg.first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, cfg.img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + cfg.margin_size * 2
    sizes[-2:] = cfg.img_resolution
    channels = np.rint(np.minimum((cfg.channel_base / 2) / cutoffs, cfg.channel_max))
    channels[-1] = cfg.img_channels
    return dict(cutoffs=cutoffs, stopbands=stopbands, sampling_rates=sampling_rates, half_widths=half_widths,
                sizes=sizes, channels=channels)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> img [N, img_channels, R, R]."""

    def __init__(self, cfg: StyleGAN3Config):
        super().__init__()
        self.cfg = cfg
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.img_resolution, cfg.img_channels
        self.num_ws = cfg.num_layers + 2
        self.output_scale = cfg.output_scale
        s = layer_schedule(cfg)
        self.input = SynthesisInput(cfg.w_dim, int(s["channels"][0]), int(s["sizes"][0]),
                                    s["sampling_rates"][0], s["cutoffs"][0])
        self._layer_names = []
        for idx in range(cfg.num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                cfg.w_dim, is_torgb=(idx == cfg.num_layers),
                is_critically_sampled=(idx >= cfg.num_layers - cfg.num_critical),
                use_fp16=bool(s["sampling_rates"][idx] * (2 ** cfg.num_fp16_res) > cfg.img_resolution),
                in_channels=int(s["channels"][prev]), out_channels=int(s["channels"][idx]),
                in_size=int(s["sizes"][prev]), out_size=int(s["sizes"][idx]),
                in_sampling_rate=int(s["sampling_rates"][prev]), out_sampling_rate=int(s["sampling_rates"][idx]),
                in_cutoff=s["cutoffs"][prev], out_cutoff=s["cutoffs"][idx],
                in_half_width=s["half_widths"][prev], out_half_width=s["half_widths"][idx], cfg=cfg)
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            self.add_module(name, layer)
            self._layer_names.append(name)

    @property
    def layer_names(self) -> list[str]:
        return ["input"] + list(self._layer_names)

    def layer_shapes(self) -> dict[str, list[int]]:
        """Output shape [C, H, W] of every hookable layer, without running it."""
        size = int(self.input.size[0])
        shapes = {"input": [self.input.channels, size, size]}
        for n in self._layer_names:
            layer = getattr(self, n)
            shapes[n] = [layer.out_channels, int(layer.out_size[0]), int(layer.out_size[1])]
        return shapes

    @property
    def w_resolutions(self) -> list[int]:
        """Output size of the layer each w index drives (w 0 drives the input)."""
        return [int(self.input.size[0])] + [int(getattr(self, n).out_size[0]) for n in self._layer_names]

    def forward(self, ws, noise_mode: str = "random", force_fp32: bool = False, update_emas: bool = False, **_):
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), f"ws must be [N, {self.num_ws}, {self.w_dim}]"
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self._layer_names, ws[1:]):
            x = getattr(self, name)(x, w, force_fp32=force_fp32, update_emas=update_emas)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


class Generator(MappedGenerator):
    """StyleGAN3: z [N, z_dim], c [N, c_dim] -> img [N, img_channels, R, R], roughly in [-1, 1]."""

    def __init__(self, cfg: StyleGAN3Config):
        super().__init__(cfg, SynthesisNetwork(cfg))
