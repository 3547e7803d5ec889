"""Upsample, FIR-filter, downsample (`upfirdn2d`) and the filter helpers built on it.

Semantics follow NVIDIA's StyleGAN2-ADA / StyleGAN3 op exactly, so that checkpoints trained with their code
produce the same numbers here:

1. upsample by inserting ``up - 1`` zeros after every sample along each axis (``[N, C, H*upy, W*upx]``);
2. pad by the positive parts of ``padding = [x0, x1, y0, y1]``, crop by the negative parts;
3. scale the filter by ``gain ** (f.ndim / 2)`` and convolve (a true convolution, i.e. correlation with the
   flipped filter; ``flip_filter=True`` correlates with the filter as given), keeping only 'valid' outputs;
4. keep every ``down``-th sample, starting at index 0.

A 1-D filter is separable: the same taps are applied along W and then along H.

Two implementations: ``impl='ref'`` does literally the four steps above; ``impl='fast'`` never materialises the
zero-inserted tensor. On CPU it runs each separable pass as a banded matrix product (blocked so that the wasted
multiply-adds stay bounded), which is several times faster than depthwise convolutions there; on other devices
(and for non-separable 2-D filters) it uses (transposed) strided depthwise convolutions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .impl import resolve_impl

__all__ = ['setup_filter', 'upfirdn2d', 'filter2d', 'upsample2d', 'downsample2d']

# ----------------------------------------------------------------------------------------------------------------
# Argument parsing shared by the ops in this package.


def _parse_scaling(s) -> tuple[int, int]:
    """int -> (s, s); [sx, sy] -> (sx, sy). Factors must be integers >= 1."""
    if isinstance(s, (int, np.integer)):
        s = [int(s), int(s)]
    s = [int(v) for v in s]
    if len(s) != 2 or s[0] < 1 or s[1] < 1:
        raise ValueError(f'resampling factor must be an int >= 1 or a pair of them, got {s}')
    return s[0], s[1]


def _parse_padding(p) -> tuple[int, int, int, int]:
    """int p -> (p, p, p, p); [px, py] -> (px, px, py, py); [x0, x1, y0, y1] as given."""
    if isinstance(p, (int, np.integer)):
        p = [int(p), int(p)]
    p = [int(v) for v in p]
    if len(p) == 2:
        return p[0], p[0], p[1], p[1]
    if len(p) == 4:
        return p[0], p[1], p[2], p[3]
    raise ValueError(f'padding must be an int, [px, py] or [x0, x1, y0, y1], got {p}')


def _get_filter_size(f) -> tuple[int, int]:
    """(fw, fh) of a filter: None -> (1, 1); a 1-D filter of T taps -> (T, T); 2-D [fh, fw] -> (fw, fh)."""
    if f is None:
        return 1, 1
    if f.ndim == 1:
        return f.shape[0], f.shape[0]
    if f.ndim == 2:
        return f.shape[1], f.shape[0]
    raise ValueError(f'filter must be 1-D or 2-D, got shape {list(f.shape)}')


def _check_filter(f, x: torch.Tensor) -> torch.Tensor:
    if f is None:
        return torch.ones([1, 1], dtype=torch.float32, device=x.device)
    if not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError('filter must be None or a non-empty 1-D or 2-D tensor')
    return f


def _check_input(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f'expected x of shape [N, C, H, W], got {getattr(x, "shape", type(x))}')



def _out_len(n: int, up: int, down: int, p0: int, p1: int, taps: int) -> int:
    return (n * up + p0 + p1 - taps + down) // down


def adjoint_padding(n_in: int, n_out: int, up: int, down: int, p0: int, taps: int) -> tuple[int, int]:
    """Padding (q0, q1) of the transposed pass along one axis.

    A pass maps n_in samples to n_out with (up, down, p0, taps); running upfirdn with up and down swapped,
    the filter flipped and this padding maps n_out samples back to n_in and is the exact adjoint (the
    gradient). q0 aligns the first tap; q1 makes the length come out at n_in.
    """
    q0 = taps - 1 - p0
    q1 = (n_in - 1) * up + taps - n_out * down - q0
    return q0, q1


# ----------------------------------------------------------------------------------------------------------------


def setup_filter(f, device=torch.device('cpu'), normalize=True, flip_filter=False, gain=1, separable=None):
    """Turn filter taps into the float32 tensor the resampling ops expect.

    Args:
        f: None (identity, gives ``[[1.]]``), a scalar, a list / array / tensor of 1-D taps ``[T]`` or 2-D taps
            ``[fh, fw]``.
        device: where to put the result.
        normalize: divide by the sum of the taps (unit DC gain).
        flip_filter: flip along all axes.
        gain: overall gain; the taps are multiplied by ``gain ** (ndim / 2)`` (a 1-D filter is used twice).
        separable: keep a 1-D filter 1-D (applied along W and H). Default: 1-D with at least 8 taps. A 1-D filter
            that is not separable becomes its outer product ``[T, T]``.

    Returns:
        float32 tensor ``[T]`` (separable) or ``[fh, fw]``.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim not in (0, 1, 2) or f.numel() == 0:
        raise ValueError(f'filter taps must be a scalar, 1-D or 2-D and non-empty, got shape {list(f.shape)}')
    if f.ndim == 0:
        f = f.reshape(1)
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if f.ndim != (1 if separable else 2):
        raise ValueError('a 2-D filter cannot be separable')
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


# ----------------------------------------------------------------------------------------------------------------
# Reference: the definition, step by step.


def _upfirdn2d_ref(x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, gain):
    N, C, H, W = x.shape
    # (1) zero insertion
    if upx > 1 or upy > 1:
        z = x.new_zeros([N, C, H * upy, W * upx])
        z[:, :, ::upy, ::upx] = x
        x = z
    # (2) pad with zeros / crop
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    # (3) convolve ('valid'); a separable filter is the outer product of its taps with themselves
    f = f.to(x.dtype) * (gain ** (f.ndim / 2))
    f2 = torch.outer(f, f) if f.ndim == 1 else f
    if not flip_filter:
        f2 = f2.flip([0, 1])
    x = F.conv2d(x, f2[None, None].expand(C, 1, -1, -1), groups=C)
    # (4) decimate
    return x[:, :, ::downy, ::downx]


# ----------------------------------------------------------------------------------------------------------------
# Fast path building blocks. A "pass" resamples along one axis (dim 2 = H, dim 3 = W) of a 4-D tensor.


def _band_blocks(f, n_in, up, down, p0, taps, flip_filter, j_starts, block_out, span):
    """Matrices of one axis pass, block by block.

    Output sample j of the pass is ``sum_i x[i] * f[down*j - up*i + taps - 1 - p0]`` (or, with flip_filter,
    ``f[up*i + p0 - down*j]``); indices outside [0, taps) contribute nothing. Block b covers outputs
    ``j_starts[b] + [0, block_out)`` and inputs ``lo_b + [0, span)`` with ``lo_b = ceil((down*j0 - p0) / up)``.

    Returns (lo [nb] int64, M [nb, span, block_out]) with M[b, r, c] the weight of input lo_b + r in output
    j0_b + c.
    """
    dev = f.device
    j0 = torch.as_tensor(j_starts, dtype=torch.int64, device=dev)
    lo = -((p0 - down * j0) // up)  # ceil((down*j0 - p0) / up)
    i = lo[:, None, None] + torch.arange(span, device=dev)[None, :, None]
    j = j0[:, None, None] + torch.arange(block_out, device=dev)[None, None, :]
    if flip_filter:
        k = up * i + p0 - down * j
    else:
        k = down * j - up * i + (taps - 1 - p0)
    valid = (k >= 0) & (k < taps) & (i >= 0) & (i < n_in)
    m = f[k.clamp(0, taps - 1)] * valid.to(f.dtype)
    return lo, m


def _pick_block(n_out, up, down, taps, device):
    """Outputs per block of a banded matrix pass.

    A block of B outputs reads about B*down/up + taps/up inputs, so it costs that many multiply-adds per output
    where only ~taps/up are useful. BLAS is roughly 8-10x faster per multiply-add than a depthwise convolution on
    CPU, so blocks are sized to keep the overhead around 3-4x, with a floor so that each GEMM stays efficient.
    """
    if device.type != 'cpu':
        return n_out
    per_out = max(1.0, taps / up)
    target_in = max(24.0, 3.5 * per_out)  # inputs read per block
    b = int((target_in - per_out) * up / down)
    step = up // math.gcd(up, down)  # keeps every block's band identical
    b = max(step, (b // step) * step)
    return min(b, n_out)


def _pass_sizes(x, f, dim, up, down, p0, p1):
    """(input length, taps, output length, f on x's device and dtype) of a pass along `dim`."""
    n_in, taps = x.shape[dim], f.shape[0]
    n_out = _out_len(n_in, up, down, p0, p1, taps)
    if n_out < 1:
        raise ValueError('upfirdn2d: padding/cropping leaves no output samples')
    return n_in, taps, n_out, f.to(device=x.device, dtype=x.dtype)


def _pass_matmul(x, f, dim, up, down, p0, p1, flip_filter):
    """One separable pass as a (blocked) banded matrix product. f: 1-D taps, already gain-scaled."""
    n_in, taps, n_out, f = _pass_sizes(x, f, dim, up, down, p0, p1)
    bo = _pick_block(n_out, up, down, taps, x.device)
    nb = (n_out + bo - 1) // bo
    span = (down * (bo - 1) + taps - 1) // up + 2
    lo, mats = _band_blocks(f, n_in, up, down, p0, taps, flip_filter, [b * bo for b in range(nb)], bo, span)
    lo = lo.tolist()
    outs = []
    for b in range(nb):
        j0, j1 = b * bo, min(n_out, (b + 1) * bo)
        a, e = max(lo[b], 0), min(lo[b] + span, n_in)
        if e <= a:
            shape = list(x.shape)
            shape[dim] = j1 - j0
            outs.append(x.new_zeros(shape))
            continue
        m = mats[b, a - lo[b]:e - lo[b], :j1 - j0]
        xs = x.narrow(dim, a, e - a)
        outs.append(xs @ m if dim == 3 else torch.matmul(m.t(), xs))
    return outs[0] if nb == 1 else torch.cat(outs, dim=dim)


def _pass_conv(x, f, dim, up, down, p0, p1, flip_filter):
    """One separable pass with a depthwise (transposed) convolution. f: 1-D taps, already gain-scaled."""
    C = x.shape[1]
    n_in, taps, n_out, f = _pass_sizes(x, f, dim, up, down, p0, p1)
    shape = [C, 1, 1, taps] if dim == 3 else [C, 1, taps, 1]
    if up == 1:
        # correlation with the flipped taps (= true convolution) on the padded input, strided
        w = (f if flip_filter else f.flip(0)).reshape(1, 1, *shape[2:]).expand(shape)
        pad = [p0, p1, 0, 0] if dim == 3 else [0, 0, p0, p1]
        x = F.pad(x, pad)
        stride = (1, down) if dim == 3 else (down, 1)
        return F.conv2d(x, w, stride=stride, groups=C)
    # conv_transpose computes z[m] = sum_i x[i] * w[m - up*i]; the pass wants z[j + taps - 1 - p0].
    w = (f.flip(0) if flip_filter else f).reshape(1, 1, *shape[2:]).expand(shape)
    stride = (1, up) if dim == 3 else (up, 1)
    z = F.conv_transpose2d(x, w, stride=stride, groups=C)
    start = taps - 1 - p0
    n_full = n_in * up + p0 + p1 - taps + 1
    extra = n_full + start - z.shape[dim]
    pad = [-start, extra, 0, 0] if dim == 3 else [0, 0, -start, extra]
    z = F.pad(z, pad)
    if down > 1:
        z = z[:, :, :, ::down] if dim == 3 else z[:, :, ::down, :]
    return z


def _pass2d_conv(x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter):
    """Non-separable 2-D filter [fh, fw] (already gain-scaled) with a depthwise (transposed) convolution."""
    C = x.shape[1]
    fh, fw = f.shape
    f = f.to(device=x.device, dtype=x.dtype)
    H, W = x.shape[2], x.shape[3]
    if upx == 1 and upy == 1:
        w = (f if flip_filter else f.flip([0, 1]))[None, None].expand(C, 1, fh, fw)
        x = F.pad(x, [x0, x1, y0, y1])
        return F.conv2d(x, w, stride=(downy, downx), groups=C)
    w = (f.flip([0, 1]) if flip_filter else f)[None, None].expand(C, 1, fh, fw)
    z = F.conv_transpose2d(x, w, stride=(upy, upx), groups=C)
    sx, sy = fw - 1 - x0, fh - 1 - y0
    nx = W * upx + x0 + x1 - fw + 1
    ny = H * upy + y0 + y1 - fh + 1
    z = F.pad(z, [-sx, nx + sx - z.shape[3], -sy, ny + sy - z.shape[2]])
    if downx > 1 or downy > 1:
        z = z[:, :, ::downy, ::downx]
    return z


def _as_separable(f: torch.Tensor):
    """(fy, fx) with outer(fy, fx) == f to float precision, or None. Only attempted on CPU (needs a host sync)."""
    if f.device.type != 'cpu' or f.ndim != 2 or f.requires_grad:
        return None
    fd = f.detach().double()
    im, jm = divmod(int(fd.abs().argmax()), fd.shape[1])
    piv = fd[im, jm]
    if piv == 0:
        return None
    fy, fx = fd[:, jm], fd[im, :] / piv
    err = (torch.outer(fy, fx) - fd).abs().max()
    if err > 1e-6 * abs(float(piv)):
        return None
    return fy.to(f.dtype), fx.to(f.dtype)


def _use_matmul(x: torch.Tensor) -> bool:
    return x.device.type == 'cpu'


def _separable_passes(x, fx, fy, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, method=None):
    """W pass then H pass. fx/fy: 1-D taps with their gains applied. method: None (auto), 'matmul' or 'conv'."""
    if method is None:
        method = 'matmul' if _use_matmul(x) else 'conv'
    one_pass = _pass_matmul if method == 'matmul' else _pass_conv
    x = _trivial_or(one_pass, x, fx, 3, upx, downx, x0, x1, flip_filter)
    x = _trivial_or(one_pass, x, fy, 2, upy, downy, y0, y1, flip_filter)
    return x


def _trivial_or(one_pass, x, f, dim, up, down, p0, p1, flip_filter):
    """A single-tap filter without resampling is a scale plus pad/crop; anything else goes to one_pass."""
    if f.shape[0] == 1 and up == 1 and down == 1:
        pad = [p0, p1, 0, 0] if dim == 3 else [0, 0, p0, p1]
        if p0 == 0 and p1 == 0 and float(f[0]) == 1.0:
            return x
        return F.pad(x * f[0].to(x.dtype), pad) if float(f[0]) != 1.0 else F.pad(x, pad)
    return one_pass(x, f, dim, up, down, p0, p1, flip_filter)


class _UpFirDn2d(torch.autograd.Function):
    """The fast path under autograd: the backward pass is upfirdn2d itself, transposed (see adjoint_padding).

    Recording the fast path's many narrow/cat steps would cost more in the backward pass than the work itself.
    The backward calls upfirdn2d again, so it is differentiable in turn (double backward for R1 or path length).
    """

    @staticmethod
    def forward(ctx, x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, gain):
        ctx.save_for_backward(f)
        ctx.params = (upx, upy, downx, downy, x0, y0, flip_filter, gain, x.shape[2], x.shape[3])
        return _upfirdn2d_fast(x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, gain)

    @staticmethod
    def backward(ctx, gy):
        f, = ctx.saved_tensors
        upx, upy, downx, downy, x0, y0, flip_filter, gain, H, W = ctx.params
        fw, fh = _get_filter_size(f)
        qx0, qx1 = adjoint_padding(W, gy.shape[3], upx, downx, x0, fw)
        qy0, qy1 = adjoint_padding(H, gy.shape[2], upy, downy, y0, fh)
        gx = upfirdn2d(gy, f, up=[downx, downy], down=[upx, upy], padding=[qx0, qx1, qy0, qy1],
                       flip_filter=not flip_filter, gain=gain, impl='fast')
        return (gx,) + (None,) * 11


def _upfirdn2d_fast(x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, gain, method=None):
    if x.dtype == torch.float64:
        f = f.double()
    if f.ndim == 1:
        g = gain ** 0.5
        fs = f * g if g != 1 else f
        return _separable_passes(x, fs, fs, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, method)
    f = f * gain if gain != 1 else f
    sep = _as_separable(f)
    if sep is not None:
        fy, fx = sep
        return _separable_passes(x, fx, fy, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, method)
    return _pass2d_conv(x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter)


# ----------------------------------------------------------------------------------------------------------------


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl=None):
    """Upsample, pad, FIR-filter and downsample a batch of images.

    Args:
        x: ``[N, C, H, W]``.
        f: float32 filter, 1-D ``[T]`` (separable, same taps along W and H), 2-D ``[fh, fw]``, or None
            (identity ``[[1]]``). See `setup_filter`.
        up: integer upsampling factor, int or ``[upx, upy]``.
        down: integer downsampling factor, int or ``[downx, downy]``.
        padding: int p, ``[px, py]`` or ``[x0, x1, y0, y1]`` (in upsampled pixels; negative values crop).
        flip_filter: False = convolution (the filter is flipped before correlating), True = correlation.
        gain: overall gain; the taps are scaled by ``gain ** (f.ndim / 2)``.
        impl: 'fast', 'ref' or None (the current default, see `networks.ops.default_impl`).

    Returns:
        ``[N, C, Ho, Wo]`` with ``Wo = (W*upx + x0 + x1 - fw + downx) // downx`` (likewise Ho).
    """
    impl = resolve_impl(impl)
    _check_input(x)
    f = _check_filter(f, x)
    upx, upy = _parse_scaling(up)
    downx, downy = _parse_scaling(down)
    x0, x1, y0, y1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    if (_out_len(x.shape[3], upx, downx, x0, x1, fw) < 1 or _out_len(x.shape[2], upy, downy, y0, y1, fh) < 1):
        raise ValueError('upfirdn2d: padding/cropping leaves no output samples')
    if impl == 'ref':
        return _upfirdn2d_ref(x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, gain)
    if torch.is_grad_enabled() and x.requires_grad and not f.requires_grad:
        return _UpFirDn2d.apply(x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, gain)
    return _upfirdn2d_fast(x, f, upx, upy, downx, downy, x0, x1, y0, y1, flip_filter, gain)


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl=None):
    """Filter ``[N, C, H, W]`` with f; with padding 0 the output has the input's size (centered filter)."""
    x0, x1, y0, y1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    p = [x0 + fw // 2, x1 + (fw - 1) // 2, y0 + fh // 2, y1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl=None):
    """Upsample ``[N, C, H, W]`` to ``[N, C, H*upy, W*upx]`` (with padding 0), filtering with f.

    The gain is multiplied by ``upx * upy`` to make up for the inserted zeros.
    """
    upx, upy = _parse_scaling(up)
    x0, x1, y0, y1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    p = [x0 + (fw + upx - 1) // 2, x1 + (fw - upx) // 2, y0 + (fh + upy - 1) // 2, y1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl=None):
    """Filter with f and downsample ``[N, C, H, W]`` to ``[N, C, H//downy, W//downx]`` (padding 0, even sizes)."""
    downx, downy = _parse_scaling(down)
    x0, x1, y0, y1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    p = [x0 + (fw - downx + 1) // 2, x1 + (fw - downx) // 2, y0 + (fh - downy + 1) // 2, y1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)
