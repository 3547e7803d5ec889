"""LPIPS with VGG16 features (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018): the perceptual loss of the projector when the user supplies the weights.

Weights file: a plain state dict (torch.save of {name: tensor}), loaded with torch.load(weights_only=True), never
unpickling code. Expected keys (torchvision's vgg16().features names and the `lpips` package's head names):
- `features.{i}.weight` [out, in, 3, 3] and `features.{i}.bias` [out] for the 13 convolutions
  i in 0 2 5 7 10 12 14 17 19 21 24 26 28 (channels 64 64 | 128 128 | 256 256 256 | 512 512 512 | 512 512 512);
- `lin{k}.model.1.weight` [1, C_k, 1, 1] (or `lin{k}.weight`) for k = 0..4, C = 64 128 256 512 512.
Input: images [N, 3, H, W] in [-1, 1]. Distance: sum over the five taps (relu1_2 relu2_2 relu3_3 relu4_3 relu5_3)
of the spatial mean of lin_k((f1 - f2)^2) with f = features scaled to unit length over channels.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
CONV_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
POOL_AFTER = {2, 7, 14, 21}             # features index of the conv whose ReLU is followed by 2x2 max-pooling
TAPS = {2: 0, 7: 1, 14: 2, 21: 3, 28: 4}  # conv index whose ReLU output is LPIPS tap k
TAP_CHANNELS = (64, 128, 256, 512, 512)
# The LPIPS input normalisation ("ScalingLayer"): (x - shift) / scale on [-1, 1] images.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class LPIPSError(ValueError):
    """A bad LPIPS weights file (one line)."""


def expected_shapes() -> dict[str, tuple]:
    """Every key of the weights file and its shape."""
    shapes, cin = {}, 3
    for i, c in zip(CONV_INDICES, CONV_CHANNELS):
        shapes[f"features.{i}.weight"] = (c, cin, 3, 3)
        shapes[f"features.{i}.bias"] = (c,)
        cin = c
    for k, c in enumerate(TAP_CHANNELS):
        shapes[f"lin{k}.model.1.weight"] = (1, c, 1, 1)
    return shapes


class LPIPS(nn.Module):
    """d(x, y) [N] for images x, y [N, 3, H, W] in [-1, 1]."""

    def __init__(self, state: dict):
        super().__init__()
        shapes = expected_shapes()
        state = {(f"lin{k[3]}.model.1.weight" if k.startswith("lin") and k.endswith(".weight")
                  and k.count(".") == 1 else k): v for k, v in state.items()}
        for key, shape in shapes.items():
            t = state.get(key)
            if not isinstance(t, torch.Tensor):
                raise LPIPSError(f"LPIPS weights: missing {key!r} (see networks/edit/lpips.py for the key names)")
            if tuple(t.shape) != shape:
                raise LPIPSError(f"LPIPS weights: {key} has shape {list(t.shape)}, expected {list(shape)}")
            if not torch.isfinite(t).all():
                raise LPIPSError(f"LPIPS weights: {key} holds non-finite numbers")
        for key in shapes:
            self.register_buffer(key.replace(".", "_"), state[key].detach().float().clone())
        self.register_buffer("shift", torch.tensor(SHIFT).reshape(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).reshape(1, 3, 1, 1))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five unit-normalised taps of x [N, 3, H, W] in [-1, 1]."""
        x = (x - self.shift) / self.scale
        taps = []
        for i in CONV_INDICES:
            x = F.relu(F.conv2d(x, getattr(self, f"features_{i}_weight"), getattr(self, f"features_{i}_bias"),
                                padding=1))
            if i in TAPS:
                taps.append(x / (x.square().sum(dim=1, keepdim=True).sqrt() + 1e-10))
            if i in POOL_AFTER:
                x = F.max_pool2d(x, 2, 2)
        return taps

    def distance(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
        total = 0
        for k, (a, b) in enumerate(zip(fx, fy)):
            lin = getattr(self, f"lin{k}_model_1_weight")
            total = total + F.conv2d((a - b).square(), lin).mean(dim=(1, 2, 3))
        return total

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.distance(self.features(x), self.features(y))


def load_lpips(path) -> LPIPS:
    """LPIPS from a plain state dict file (weights_only: a file that needs code to load is refused)."""
    name = os.fspath(path)
    try:
        state = torch.load(name, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise LPIPSError(f"{name}: no such file") from None
    except Exception as e:  # weights_only refuses anything but tensors and containers
        raise LPIPSError(f"{name}: not a plain state dict of tensors ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(state, dict):
        raise LPIPSError(f"{name}: expected a state dict {{name: tensor}}, got {type(state).__name__}")
    return LPIPS(state)
