"""Bias + activation + gain + clamp in one call (`bias_act`), NVIDIA-compatible semantics.

``y = clamp(act(x + b, alpha) * gain, -clamp, clamp)``, with b broadcast along ``dim``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .impl import resolve_impl

__all__ = ['bias_act', 'activation_funcs', 'activation_gain']


@dataclass(frozen=True)
class _ActSpec:
    func: Callable  # out-of-place: (x, alpha) -> y
    def_alpha: float
    def_gain: float
    inplace: Callable | None = None  # in-place variant for tensors we own: (x, alpha) -> x
    homogeneous: bool = False  # act(g * x) == g * act(x) for g > 0


def _swish(x, alpha):
    return torch.sigmoid(x) * x


activation_funcs = {
    'linear': _ActSpec(lambda x, a: x, 0.0, 1.0, lambda x, a: x, True),
    'relu': _ActSpec(lambda x, a: F.relu(x), 0.0, math.sqrt(2), lambda x, a: x.relu_(), True),
    'lrelu': _ActSpec(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2), lambda x, a: F.leaky_relu_(x, a), True),
    'tanh': _ActSpec(lambda x, a: torch.tanh(x), 0.0, 1.0, lambda x, a: x.tanh_()),
    'sigmoid': _ActSpec(lambda x, a: torch.sigmoid(x), 0.0, 1.0, lambda x, a: x.sigmoid_()),
    'elu': _ActSpec(lambda x, a: F.elu(x), 0.0, 1.0, lambda x, a: F.elu_(x)),
    'selu': _ActSpec(lambda x, a: F.selu(x), 0.0, 1.0, lambda x, a: F.selu_(x)),
    'softplus': _ActSpec(lambda x, a: F.softplus(x), 0.0, 1.0, None),
    'swish': _ActSpec(_swish, 0.0, 1.0, lambda x, a: F.silu(x, inplace=True)),
}


def activation_gain(act: str) -> float:
    """The default gain of an activation (sqrt(2) for relu / lrelu: keeps unit variance through the layer)."""
    if act not in activation_funcs:
        raise ValueError(f'unknown activation {act!r}; expected one of {sorted(activation_funcs)}')
    return activation_funcs[act].def_gain


def _resolve(act, alpha, gain, clamp):
    if act not in activation_funcs:
        raise ValueError(f'unknown activation {act!r}; expected one of {sorted(activation_funcs)}')
    spec = activation_funcs[act]
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    if clamp is not None:
        clamp = float(clamp)
        if clamp < 0:
            raise ValueError(f'clamp must be None or >= 0, got {clamp}')
    return spec, alpha, gain, clamp


def _bias_shape(x, b, dim):
    if b.ndim != 1 or b.shape[0] != x.shape[dim]:
        raise ValueError(f'bias must have shape [{x.shape[dim]}] (x.shape[{dim}]), got {list(b.shape)}')
    return [-1 if i == dim else 1 for i in range(x.ndim)]


def _bias_act_ref(x, b, dim, spec, alpha, gain, clamp):
    if b is not None:
        x = x + b.to(x.dtype).reshape(_bias_shape(x, b, dim))
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def _bias_act_fast(x, b, dim, spec, alpha, gain, clamp):
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad))
    if needs_grad or spec.inplace is None:
        return _bias_act_ref(x, b, dim, spec, alpha, gain, clamp)
    # From here on every op works in place on a tensor this function created.
    fold_gain = spec.homogeneous and gain > 0 and gain != 1
    if b is not None:
        bb = b.to(x.dtype).reshape(_bias_shape(x, b, dim))
        # gain*(x + b) in one pass when the activation commutes with positive scaling
        y = torch.add(bb * gain, x, alpha=gain) if fold_gain else x + bb
    elif fold_gain:
        y = x * gain
    else:
        y = None
    if y is None:
        if spec is activation_funcs['linear'] and gain == 1 and clamp is None:
            return x
        y = x.clone()
    y = spec.inplace(y, alpha)
    if gain != 1 and not fold_gain:
        y.mul_(gain)
    if clamp is not None:
        y.clamp_(-clamp, clamp)
    return y


def bias_act(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None, impl=None):
    """Add a bias, apply an activation, scale, clamp.

    Args:
        x: any shape, e.g. ``[N, C, H, W]`` or ``[N, C]``.
        b: None or ``[x.shape[dim]]``, added along ``dim``.
        dim: axis of x that b runs along.
        act: 'linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', 'softplus' or 'swish'.
        alpha: negative slope of 'lrelu' (default 0.2); the other activations ignore it.
        gain: multiplier after the activation; None = the activation's default (sqrt(2) for relu/lrelu, else 1).
        clamp: None, or clamp the result to ``[-clamp, clamp]`` (clamp >= 0).
        impl: 'fast' (in-place/fused where autograd allows) or 'ref'.

    Returns:
        Tensor of x's shape and dtype.
    """
    impl = resolve_impl(impl)
    spec, alpha, gain, clamp = _resolve(act, alpha, gain, clamp)
    if impl == 'ref':
        return _bias_act_ref(x, b, dim, spec, alpha, gain, clamp)
    return _bias_act_fast(x, b, dim, spec, alpha, gain, clamp)
