"""Layers shared by the StyleGAN2 and StyleGAN3 generators and the discriminator.

Equalized learning rate (ProGAN, Karras et al. 2018): weights are stored at unit
scale and multiplied by `lr_multiplier / sqrt(fan_in)` at run time, so every
layer learns at the same pace under Adam.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from networks.config import MappingConfig
from networks.ops.bias_act import bias_act


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scales each vector to unit root-mean-square along `dim`."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """y = act(x @ (W * gain).T + b * lr_multiplier). x: [N, in_features] -> [N, out_features]."""

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 bias: bool = True,                  # Learnable bias; False = none.
                 activation: str = "linear",         # Any bias_act activation name.
                 lr_multiplier: float = 1.0,         # Learning-rate multiplier for weight and bias.
                 weight_init: float = 1.0,           # Std of the initial weights (0 = zeros).
                 bias_init: Union[float, Sequence[float]] = 0.0):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        if bias:
            init = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features])
            self.bias = nn.Parameter(torch.from_numpy(init / lr_multiplier))
        else:
            self.bias = None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class MappingNetwork(nn.Module):
    """z [N, z_dim] and c [N, c_dim] -> w [N, num_ws, w_dim] (or [N, w_dim] when num_ws is None).

    The same network serves StyleGAN2 (8 layers), StyleGAN3 (2 layers) and the
    discriminator's label projection (z_dim = 0, no w_avg).
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: Optional[int], cfg: MappingConfig):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = cfg.num_layers
        self.w_avg_beta = cfg.w_avg_beta
        embed_features = (cfg.embed_features if cfg.embed_features is not None else w_dim) if c_dim > 0 else 0
        layer_features = cfg.layer_features if cfg.layer_features is not None else w_dim
        features = [z_dim + embed_features] + [layer_features] * (cfg.num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(cfg.num_layers):
            self.add_module(f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation=cfg.activation,
                                                          lr_multiplier=cfg.lr_multiplier))
        if num_ws is not None and cfg.w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: Optional[torch.Tensor], c: Optional[torch.Tensor], truncation_psi: float = 1,
                truncation_cutoff: Optional[int] = None, update_emas: bool = False) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            assert z is not None and z.shape[1:] == (self.z_dim,), f"z must be [N, {self.z_dim}]"
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            assert c is not None and c.shape[1:] == (self.c_dim,), f"c must be [N, {self.c_dim}]"
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)

        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            x = truncate(x, self.w_avg, truncation_psi, truncation_cutoff)
        return x


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: Optional[int] = None) -> torch.Tensor:
    """Pulls ws [N, num_ws, w_dim] toward w_avg by psi on the first `cutoff` ws (all when None)."""
    cutoff = ws.shape[1] if cutoff is None else cutoff
    out = ws.clone()
    out[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], psi)
    return out


class MappedGenerator(nn.Module):
    """A mapping network in front of a synthesis network: z [N, z_dim], c [N, c_dim] -> img [N, C, R, R].

    The call interface of NVIDIA's generators; StyleGAN2 and StyleGAN3 differ only in the synthesis network.
    """

    def __init__(self, cfg, synthesis: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.synthesis = synthesis
        self.num_ws = synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, cfg.mapping)

    @property
    def arch(self) -> str:
        return self.cfg.arch

    def forward(self, z, c, truncation_psi: float = 1, truncation_cutoff: Optional[int] = None,
                noise_mode: str = "const", force_fp32: bool = False, update_emas: bool = False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, update_emas=update_emas,
                              **synthesis_kwargs)
