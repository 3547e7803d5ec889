"""Bias, upsample, leaky ReLU, downsample in one op (`filtered_lrelu`), StyleGAN3's alias-free nonlinearity.

Definition (``impl='ref'``)::

    x = x + b                                                   # per channel
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up**2, flip_filter=flip_filter)
    x = leaky_relu(x, slope) * gain
    x = clamp(x, -clamp, clamp)                                 # if clamp is not None
    x = upfirdn2d(x, fd, down=down, flip_filter=flip_filter)

``impl='fast'`` computes the same thing without ever holding the whole upsampled tensor: on CPU it walks over
groups of channels small enough for the intermediates to stay in cache (and out of the allocator's mmap path),
upsamples with polyphase banded matrix products (no zero insertion), applies the nonlinearity in place when
autograd does not need the inputs, and downsamples with strided banded products (or a strided depthwise
convolution for a non-separable 2-D filter). The output gain is folded into the up filter since
``leaky_relu(g * v) == g * leaky_relu(v)`` for g > 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .impl import resolve_impl
from .upfirdn2d import (_as_separable, _check_input, _get_filter_size, _parse_padding, _pass2d_conv, _pass_conv,
                        _pass_matmul, _trivial_or, adjoint_padding, upfirdn2d)

__all__ = ['filtered_lrelu']

# Target number of elements of the largest per-chunk intermediate on CPU (~8 MB in float32): well below glibc's
# 32 MB mmap ceiling, so buffers are recycled instead of page-faulted in on every call.
_CHUNK_ELEMS = 2 ** 21


def _filter_parts(f, gain, x):
    """Split a filter (None, 1-D or 2-D, gain applied) into ('sep', fx, fy) or ('2d', f2)."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    if f is None:
        one = torch.full([1], float(gain) ** 0.5, dtype=dtype, device=x.device)
        return 'sep', one, one
    f = f.to(dtype)
    if f.ndim == 1:
        g = f * (gain ** 0.5)
        return 'sep', g, g
    f2 = f * gain
    sep = _as_separable(f2)
    if sep is not None:
        fy, fx = sep
        return 'sep', fx, fy
    return '2d', f2


def _resample(x, parts, up, down, x0, x1, y0, y1, flip_filter, method):
    if parts[0] == '2d':
        return _pass2d_conv(x, parts[1], up, up, down, down, x0, x1, y0, y1, flip_filter)
    one_pass = _pass_matmul if method == 'matmul' else _pass_conv
    x = _trivial_or(one_pass, x, parts[1], 3, up, down, x0, x1, flip_filter)
    x = _trivial_or(one_pass, x, parts[2], 2, up, down, y0, y1, flip_filter)
    return x


def _filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2, flip_filter=flip_filter, impl='ref')
    x = F.leaky_relu(x, slope) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter, impl='ref')


def _filtered_lrelu_fast(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, method=None,
                         chunk=None, keep_codes=False):
    """The fast forward pass. With keep_codes it also returns, per upsampled sample, what the nonlinearity did
    (uint8: 1 = positive side, 2 = negative side, 0 = clamped) for `_FilteredLReLU.backward`."""
    N, C, H, W = x.shape
    x0, x1, y0, y1 = padding
    fold = gain > 0  # leaky_relu(g*v) = g*leaky_relu(v) for g > 0
    up_parts = _filter_parts(fu, up ** 2 * (gain if fold else 1.0), x)
    down_parts = _filter_parts(fd, 1.0, x)
    if method is None:
        method = 'matmul' if x.device.type == 'cpu' else 'conv'
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad)
                                              or any(f is not None and f.requires_grad for f in (fu, fd)))

    fuw, fuh = _get_filter_size(fu)
    wu = W * up + x0 + x1 - fuw + 1
    hu = H * up + y0 + y1 - fuh + 1
    if chunk is None:
        chunk = C if x.device.type != 'cpu' else max(1, _CHUNK_ELEMS // max(1, N * max(wu * hu, H * W)))
    bias = None if b is None else b.to(x.dtype)

    outs, codes = [], []
    for c0 in range(0, C, chunk):
        c1 = min(C, c0 + chunk)
        xc = x[:, c0:c1]
        if bias is not None:
            xc = xc + bias[c0:c1].reshape(1, -1, 1, 1)
        u = _resample(xc, up_parts, up, 1, x0, x1, y0, y1, flip_filter, method)
        if needs_grad or u.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
            u = F.leaky_relu(u, slope)
            if not fold and gain != 1:
                u = u * gain
            if clamp is not None:
                u = u.clamp(-clamp, clamp)
        else:
            negative = u <= 0 if keep_codes else None
            if slope != 1:
                F.leaky_relu_(u, slope)
            if not fold and gain != 1:
                u.mul_(gain)
            if keep_codes:
                code = negative.to(torch.uint8).add_(1)
                if clamp is not None:
                    code.masked_fill_(u.abs() > clamp, 0)
                codes.append(code)
            if clamp is not None:
                u.clamp_(-clamp, clamp)
        outs.append(_resample(u, down_parts, 1, down, 0, 0, 0, 0, flip_filter, method))
    y = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
    if keep_codes:
        return y, codes[0] if len(codes) == 1 else torch.cat(codes, dim=1)
    return y


class _FilteredLReLU(torch.autograd.Function):
    """The fast path under autograd. Saves one byte per upsampled sample (which side of the leaky ReLU it fell
    on, or clamped) instead of the float intermediates; the backward pass is the two resamplings transposed
    (`upfirdn2d` with `adjoint_padding`) around that mask, and is itself differentiable."""

    @staticmethod
    def forward(ctx, x, b, fu, fd, up, down, padding, gain, slope, clamp, flip_filter):
        y, codes = _filtered_lrelu_fast(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter,
                                        keep_codes=True)
        ctx.save_for_backward(fu, fd, codes)
        ctx.params = (up, down, padding, gain, slope, flip_filter, x.shape[2], x.shape[3], b is not None)
        return y

    @staticmethod
    def backward(ctx, gy):
        fu, fd, codes = ctx.saved_tensors
        up, down, (x0, _, y0, _), gain, slope, flip_filter, H, W, has_bias = ctx.params
        N, C, hu, wu = codes.shape
        fdw, fdh = _get_filter_size(fd)
        fuw, fuh = _get_filter_size(fu)
        # Transposed down-sampling (the act gain folded in), mask, transposed up-sampling: chunk by chunk of
        # channels as in the forward pass, so that the upsampled intermediates stay in cache.
        qd = adjoint_padding(wu, gy.shape[3], 1, down, 0, fdw) + adjoint_padding(hu, gy.shape[2], 1, down, 0, fdh)
        qu = adjoint_padding(W, wu, up, 1, x0, fuw) + adjoint_padding(H, hu, up, 1, y0, fuh)
        down_t = _filter_parts(fd, gain, gy)
        up_t = _filter_parts(fu, up ** 2, gy)
        method = 'matmul' if gy.device.type == 'cpu' else 'conv'
        chunk = C if gy.device.type != 'cpu' else max(1, _CHUNK_ELEMS // max(1, N * hu * wu))
        if torch.is_grad_enabled():
            chunk = C  # double backward: keep the graph short
        gxs = []
        for c0 in range(0, C, chunk):
            c1 = min(C, c0 + chunk)
            gu = _resample(gy[:, c0:c1], down_t, down, 1, *qd, not flip_filter, method)
            code = codes[:, c0:c1]
            gu = torch.where(code == 1, gu, gu * slope)
            gu = gu.masked_fill(code == 0, 0)
            gxs.append(_resample(gu, up_t, 1, up, *qu, not flip_filter, method))
        gx = gxs[0] if len(gxs) == 1 else torch.cat(gxs, dim=1)
        gb = gx.sum(dim=[0, 2, 3]) if has_bias and ctx.needs_input_grad[1] else None
        return (gx, gb) + (None,) * 9


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=math.sqrt(2), slope=0.2, clamp=None,
                   flip_filter=False, impl=None):
    """Bias, FIR upsample, leaky ReLU (scaled, clamped), FIR downsample.

    Args:
        x: ``[N, C, H, W]``.
        fu: upsampling filter: None, 1-D ``[T]`` (separable) or 2-D ``[fh, fw]`` (float32, see `setup_filter`).
        fd: downsampling filter, same forms (StyleGAN3-R uses a 2-D radial one).
        b: None or bias ``[C]``, added before upsampling.
        up: integer upsampling factor (the up filter gets gain ``up**2``).
        down: integer downsampling factor.
        padding: int, ``[px, py]`` or ``[x0, x1, y0, y1]`` applied to the upsampled image (negative crops).
        gain: multiplier after the leaky ReLU.
        slope: negative slope of the leaky ReLU (1 = linear).
        clamp: None or clamp to ``[-clamp, clamp]`` after the gain.
        flip_filter: correlate with the filters as given instead of convolving.
        impl: 'fast', 'ref' or None (the current default, see `networks.ops.default_impl`).

    Returns:
        ``[N, C, Ho, Wo]`` with ``Wo = (W*up + x0 + x1 - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down`` (likewise
        Ho with the filter heights).
    """
    impl = resolve_impl(impl)
    _check_input(x)
    for name, v in (('up', up), ('down', down)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f'{name} must be an int >= 1, got {v!r}')
    for name, f in (('fu', fu), ('fd', fd)):
        if f is not None and (not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or f.numel() == 0):
            raise ValueError(f'{name} must be None or a non-empty 1-D or 2-D tensor')
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f'bias must have shape [{x.shape[1]}], got {list(b.shape)}')
    if clamp is not None:
        clamp = float(clamp)
        if clamp < 0:
            raise ValueError(f'clamp must be None or >= 0, got {clamp}')
    gain = float(gain)
    slope = float(slope)
    padding = _parse_padding(padding)
    x0, x1, y0, y1 = padding
    fuw, fuh = _get_filter_size(fu)
    fdw, fdh = _get_filter_size(fd)
    wo = (x.shape[3] * up + x0 + x1 - (fuw - 1) - (fdw - 1) + (down - 1)) // down
    ho = (x.shape[2] * up + y0 + y1 - (fuh - 1) - (fdh - 1) + (down - 1)) // down
    if (wo < 1 or ho < 1 or x.shape[3] * up + x0 + x1 - fuw + 1 < 1 or x.shape[2] * up + y0 + y1 - fuh + 1 < 1):
        raise ValueError('filtered_lrelu: padding/cropping leaves no output samples')
    if impl == 'ref':
        return _filtered_lrelu_ref(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
    wants_grad = torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad))
    if wants_grad and gain > 0 and not any(f is not None and f.requires_grad for f in (fu, fd)):
        return _FilteredLReLU.apply(x, b, fu, fd, up, down, padding, gain, slope, clamp, flip_filter)
    return _filtered_lrelu_fast(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)
