"""Style-modulated convolutions of StyleGAN2 (`modulated_conv2d`) and StyleGAN3 (`modulated_conv2d_sg3`).

Both scale the convolution weight per sample by the style vector (input channels), optionally "demodulate"
(normalise every output channel of the per-sample weight to unit L2 norm), and convolve each sample with its own
weight. Since ``sum_{i,k} (w[o,i,k] * s[n,i])**2 == sum_i s[n,i]**2 * sum_k w[o,i,k]**2``, the same result comes
from scaling the input channels by s, one shared convolution, and scaling the output channels by the
demodulation coefficients ("non-fused"); that avoids building N weight tensors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .conv2d_resample import conv2d_resample
from .impl import resolve_impl

__all__ = ['modulated_conv2d', 'modulated_conv2d_sg3']


def _check_mod_args(x, weight, styles):
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f'expected x of shape [N, I, H, W], got {getattr(x, "shape", type(x))}')
    if weight.ndim != 4 or weight.shape[1] != x.shape[1]:
        raise ValueError(f'weight must be [O, {x.shape[1]}, kh, kw], got {list(weight.shape)}')
    if styles.ndim != 2 or list(styles.shape) != [x.shape[0], x.shape[1]]:
        raise ValueError(f'styles must be [{x.shape[0]}, {x.shape[1]}], got {list(styles.shape)}')


def prefer_fused(x: torch.Tensor, weight: torch.Tensor, up: int = 1) -> bool:
    """Whether the fused (per-sample weight) form is cheaper for this call.

    On the GPU it is (one grouped convolution). On the CPU the fused form spends a few passes over N weight
    tensors [O, I, kh, kw], the non-fused one a pass over the input and one over the output: the smaller
    wins, so low-resolution layers with many channels run non-fused and high-resolution ones fused.
    """
    if x.device.type != 'cpu':
        return True
    O, I, kh, kw = weight.shape
    H, W = x.shape[2], x.shape[3]
    return O * I * kh * kw < I * H * W + O * H * W * up * up


def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None, demodulate=True,
                     flip_weight=True, fused_modconv=True, impl=None):
    """StyleGAN2 modulated convolution.

    Args:
        x: ``[N, I, H, W]``.
        weight: ``[O, I, kh, kw]``.
        styles: ``[N, I]`` per-sample input-channel scales.
        noise: None or a tensor broadcastable to the output ``[N, O, Ho, Wo]``, added last.
        up, down, padding, resample_filter, flip_weight: as in `conv2d_resample`.
        demodulate: normalise each output channel of the modulated weight to unit norm (+1e-8).
        fused_modconv: True = one grouped convolution with per-sample weights; False = scale input, shared
            convolution, scale output; None = whichever `prefer_fused` says is cheaper. Same result up to rounding.
        impl: 'fast', 'ref' or None (the current default, see `networks.ops.default_impl`) (selects the implementation of the underlying ops).

    Returns:
        ``[N, O, Ho, Wo]`` in x's dtype.

    For float16 x with demodulation the weight is first scaled to max-abs ``1/sqrt(I*kh*kw)`` per output channel
    and the styles to max-abs 1 per sample; demodulation cancels both, and the products stay in fp16 range.
    """
    impl = resolve_impl(impl)
    _check_mod_args(x, weight, styles)
    N = x.shape[0]
    O, I, kh, kw = weight.shape
    if fused_modconv is None:
        fused_modconv = prefer_fused(x, weight, up)

    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / math.sqrt(I * kh * kw) / weight.abs().amax(dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.abs().amax(dim=1, keepdim=True)

    w = None
    dcoefs = None
    if fused_modconv or (demodulate and impl == 'ref'):
        w = weight.unsqueeze(0) * styles.reshape(N, 1, I, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        if w is not None:
            dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
        else:
            dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(N, O, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(N, I, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight, impl=impl)
        if demodulate and noise is not None:
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(N, O, 1, 1))
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(N, O, 1, 1)
        if noise is not None:
            return x + noise.to(x.dtype)
        return x

    x = x.reshape(1, N * I, *x.shape[2:])
    w = w.reshape(N * O, I, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding, groups=N,
                        flip_weight=flip_weight, impl=impl)
    x = x.reshape(N, O, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def _sg3_gain(input_gain, N, I, ref):
    """input_gain (None, scalar, [I] or [N, I]) -> [N, I] tensor or None."""
    if input_gain is None:
        return None
    g = torch.as_tensor(input_gain, dtype=ref.dtype, device=ref.device)
    return g.expand(N, I)


def modulated_conv2d_sg3(x, w, s, demodulate=True, padding=0, input_gain=None, fused=None, impl=None):
    """StyleGAN3 modulated convolution (no resampling).

    Args:
        x: ``[N, I, H, W]``.
        w: ``[O, I, kh, kw]``.
        s: ``[N, I]`` styles.
        demodulate: pre-normalise w (RMS 1 per output channel) and s (RMS 1 over the whole tensor, all samples),
            then normalise each output channel of the modulated weight to unit norm (+1e-8).
        padding: int, ``[py, px]``... any form conv2d accepts: int or (ph, pw) symmetric padding.
        input_gain: None, a scalar (0-D tensor or float), ``[I]`` or ``[N, I]``; scales the input channels of the
            modulated weight after demodulation (StyleGAN3 passes ``magnitude_ema.rsqrt()``).
        fused: True = grouped convolution with per-sample weights, False = scale input / shared conv / scale
            output, None = pick the faster for the device, batch and sizes (see `prefer_fused`).
        impl: 'fast', 'ref' or None (the current default, see `networks.ops.default_impl`) ('ref' always builds the per-sample weights).

    Returns:
        ``[N, O, H + 2*ph - kh + 1, W + 2*pw - kw + 1]``.
    """
    impl = resolve_impl(impl)
    _check_mod_args(x, w, s)
    N, I = s.shape
    O, _, kh, kw = w.shape
    if isinstance(padding, (list, tuple)) and len(padding) not in (1, 2):
        raise ValueError('modulated_conv2d_sg3 takes symmetric padding: an int or [ph, pw]')

    if demodulate:
        s = s * s.square().mean().rsqrt()
    gain = _sg3_gain(input_gain, N, I, s)

    if fused is None:
        # Several samples on the CPU: one shared convolution batches better than N small ones.
        fused = x.device.type != 'cpu' or (N == 1 and prefer_fused(x, w))
    if impl == 'ref' or fused:
        if demodulate:
            w = w * w.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        wm = w.unsqueeze(0) * s.reshape(N, 1, I, 1, 1)  # [N, O, I, kh, kw]
        if demodulate:
            wm = wm * (wm.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(N, O, 1, 1, 1)
        if gain is not None:
            wm = wm * gain.reshape(N, 1, I, 1, 1)
        y = F.conv2d(x.reshape(1, N * I, *x.shape[2:]), wm.reshape(N * O, I, kh, kw).to(x.dtype),
                     padding=padding, groups=N)
        return y.reshape(N, O, *y.shape[2:])

    # Non-fused: convolve with the raw weight and fold both normalisations into one output scale. With
    # wsq = sum_k w^2 [O, I], the pre-normalised weight has sum_k w'^2 = wsq / mean_o, mean_o = mean(w_o^2).
    scale = s if gain is None else s * gain
    y = F.conv2d(x * scale.to(x.dtype).reshape(N, I, 1, 1), w.to(x.dtype), padding=padding)
    if demodulate:
        wsq = w.square().sum(dim=[2, 3])                                    # [O, I]
        inv_mean = (I * kh * kw) / wsq.sum(dim=1)                           # [O] = 1 / mean_o
        dcoefs = (s.square() @ (wsq * inv_mean[:, None]).t() + 1e-8).rsqrt()  # [N, O]
        y = y * (dcoefs * inv_mean.sqrt()).to(x.dtype).reshape(N, O, 1, 1)
    return y
