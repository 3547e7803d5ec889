"""A tiny stand-in generator with the project's network interface, for what the real fixtures cannot show.

The 'stylegan3' flavour is exactly translation-equivariant: its input is a sum of sinusoids evaluated at
inverse(m) @ p and everything after it is pointwise, so the untransformed output of a translated render equals
the untranslated one (away from the border); the fixtures' random weights are not equivariant. `load(name)`
returns a real fixture network (tests/data/nvidia-compat).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
from torch import nn

FIXTURES = Path(__file__).parent / "data" / "nvidia-compat"


class ToyMapping(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, num_ws):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        g = torch.Generator().manual_seed(1)
        self.weight = nn.Parameter(torch.randn(w_dim, z_dim + c_dim, generator=g) / math.sqrt(z_dim + c_dim))
        self.register_buffer("w_avg", torch.randn(w_dim, generator=g) * 0.1)

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        x = z / z.square().mean(dim=1, keepdim=True).add(1e-8).sqrt()
        if self.c_dim:
            x = torch.cat([x, c.to(x.dtype)], dim=1)
        w = torch.tanh(x @ self.weight.t())
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cut] = self.w_avg.lerp(ws[:, :cut], truncation_psi)
        return ws


class ToyInput(nn.Module):
    def __init__(self, res, channels, with_transform):
        super().__init__()
        self.res = res
        g = torch.Generator().manual_seed(2)
        angles = torch.rand(channels, generator=g) * 2 * math.pi
        radii = 1 + torch.rand(channels, generator=g) * (res / 5 - 1)  # cycles per image width, below Nyquist
        self.register_buffer("freqs", torch.stack([angles.cos(), angles.sin()], dim=1) * radii[:, None])
        if with_transform:
            self.register_buffer("transform", torch.eye(3))

    def forward(self, w):
        n = w.shape[0]
        coords = (torch.arange(self.res, dtype=torch.float64) + 0.5) / self.res - 0.5
        gy, gx = torch.meshgrid(coords, coords, indexing="ij")
        p = torch.stack([gx, gy, torch.ones_like(gx)], dim=0).reshape(3, -1)
        t = getattr(self, "transform", torch.eye(3)).to(torch.float64)
        q = (t @ p)[:2]                                                      # [2, HW]
        phase = (self.freqs.to(torch.float64) @ q)                            # [C, HW]
        shift = w[:, : self.freqs.shape[0]].to(torch.float64) * math.pi     # [N, C]
        x = torch.sin(2 * math.pi * phase[None] + shift[:, :, None])
        return x.reshape(n, -1, self.res, self.res).to(torch.float32)


class ToyPointwise(nn.Module):
    def __init__(self, cin, cout, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(cout, cin, generator=g) / math.sqrt(cin))

    def forward(self, x, w):
        style = 1 + 0.5 * w[:, : x.shape[1], None, None]
        return torch.einsum("oc,nchw->nohw", self.weight, x * style)


class ToyBlock(nn.Module):
    """Returns a tuple, like a StyleGAN2 synthesis block: (features, image)."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = ToyPointwise(channels, channels, 3)
        self.torgb = ToyPointwise(channels, 3, 4)

    def forward(self, x, ws):
        x = torch.nn.functional.leaky_relu(self.conv1(x, ws[:, 1]), 0.2)
        return x, torch.tanh(self.torgb(x, ws[:, 2]))


class ToySynthesis(nn.Module):
    def __init__(self, res, channels, w_dim, flavour):
        super().__init__()
        self.flavour, self.num_ws, self.w_dim = flavour, 3, w_dim
        self.img_resolution = res
        self.input = ToyInput(res, channels, with_transform=(flavour != "stylegan2"))
        self.b = ToyBlock(channels)

    @property
    def layer_names(self):
        return ["input", "b.conv1", "b.torgb", "b"]

    @property
    def w_resolutions(self):
        return [self.img_resolution] * self.num_ws

    def forward(self, ws, noise_mode="const", force_fp32=False, update_emas=False):
        x = self.input(ws[:, 0])
        if noise_mode == "random":
            x = x + 0.01 * torch.randn_like(x)
        _, img = self.b(x, ws)
        return img


class ToyGenerator(nn.Module):
    def __init__(self, res=32, z_dim=16, c_dim=0, w_dim=16, channels=8, flavour="stylegan3-t"):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = res, 3
        self.arch = flavour
        self.cfg = None
        self.synthesis = ToySynthesis(res, channels, w_dim, flavour)
        self.num_ws = self.synthesis.num_ws
        self.mapping = ToyMapping(z_dim, c_dim, w_dim, self.num_ws)

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, noise_mode="const", force_fp32=False):
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff), noise_mode=noise_mode)


def fixture_path(name: str) -> Path:
    return FIXTURES / name / "network.pkl"


@functools.lru_cache(maxsize=None)
def _load_cached(name: str):
    import networks
    return networks.load_network_pkl(fixture_path(name))["G_ema"].eval()


def load(name: str):
    """A fixture's G_ema in eval mode (one copy per process: callers must not change its weights)."""
    return _load_cached(name)


def test_toy_is_translation_equivariant():
    G = ToyGenerator()
    ws = G.mapping(torch.randn(1, G.z_dim), None)
    base = G.synthesis(ws)
    G.synthesis.input.transform.copy_(torch.tensor([[1.0, 0, -2 / 32], [0, 1, 0], [0, 0, 1]]))  # inverse(m), tx=2px
    moved = G.synthesis(ws)
    torch.testing.assert_close(moved[..., 2:], base[..., :-2], atol=1e-5, rtol=0)
