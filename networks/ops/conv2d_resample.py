"""2-D convolution with optional FIR up/downsampling (`conv2d_resample`), NVIDIA-compatible semantics.

Definition (``impl='ref'``), with fw, fh the filter size and padding ``[x0, x1, y0, y1]``:

* if up > 1: x0 += (fw + up - 1) // 2, x1 += (fw - up) // 2 (likewise y with fh);
* if down > 1: x0 += (fw - down + 1) // 2, x1 += (fw - down) // 2 (likewise y);
* ``x = upfirdn2d(x, f if up > 1 else None, up=up, padding=[x0, x1, y0, y1], gain=up**2, flip_filter)``;
* ``x = conv2d(x, w, groups)`` ('valid');
* if down > 1: ``x = upfirdn2d(x, f, down=down, flip_filter)``.

``impl='fast'`` reorders these linear, shift-invariant steps so that the convolution never sees zero-inserted
or to-be-discarded pixels (transposed convolution for up, strided convolution for down, 1x1 kernels moved to the
low-resolution side). Both agree to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .impl import resolve_impl
from .upfirdn2d import _get_filter_size, _parse_padding, upfirdn2d

__all__ = ['conv2d_resample']


def _conv(x, w, stride=1, padding=0, groups=1, flip_weight=True, transpose=False):
    """conv2d / conv_transpose2d. flip_weight=True: correlation with w (torch's conv2d)."""
    kh, kw = w.shape[2], w.shape[3]
    if not flip_weight and (kh > 1 or kw > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def _check_args(x, w, f, up, down, groups):
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f'expected x of shape [N, C, H, W], got {getattr(x, "shape", type(x))}')
    if not isinstance(w, torch.Tensor) or w.ndim != 4:
        raise ValueError(f'expected w of shape [O, I/groups, kh, kw], got {getattr(w, "shape", type(w))}')
    if f is not None and (f.ndim not in (1, 2) or f.dtype != torch.float32):
        raise ValueError('filter must be None or a float32 1-D / 2-D tensor (see setup_filter)')
    for name, v in (('up', up), ('down', down), ('groups', groups)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f'{name} must be an int >= 1, got {v!r}')
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups != 0:
        raise ValueError(f'channel mismatch: x {list(x.shape)}, w {list(w.shape)}, groups {groups}')


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False,
                    impl=None):
    """Convolve with optional upsampling before and downsampling after, each with FIR filter f.

    Args:
        x: ``[N, C, H, W]`` with C = I (input channels, a multiple of groups).
        w: ``[O, I/groups, kh, kw]`` (cast to x's dtype).
        f: None or a `setup_filter` filter (float32, 1-D ``[T]`` or 2-D ``[fh, fw]``).
        up: integer upsampling factor (applied before the convolution).
        down: integer downsampling factor (applied after the convolution).
        padding: int, ``[px, py]`` or ``[x0, x1, y0, y1]``, in pixels of the upsampled image.
        groups: convolution groups.
        flip_weight: True = correlation with w (torch.nn.functional.conv2d), False = true convolution.
        flip_filter: passed to upfirdn2d.
        impl: 'fast', 'ref' or None (the current default, see `networks.ops.default_impl`).

    Returns:
        ``[N, O, Ho, Wo]``.
    """
    impl = resolve_impl(impl)
    _check_args(x, w, f, up, down, groups)
    w = w.to(x.dtype)
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = _get_filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2
    pad = [px0, px1, py0, py1]

    if impl == 'ref':
        x = upfirdn2d(x, f if up > 1 else None, up=up, padding=pad, gain=up ** 2, flip_filter=flip_filter, impl='ref')
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter, impl='ref')
        return x

    # 1x1 kernel: the convolution only mixes channels, so do it at the lower resolution.
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up ** 2, flip_filter=flip_filter)

    # Downsampling only: filter first, then let the convolution skip the discarded outputs (stride).
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    # Upsampling: a transposed convolution with stride up is zero insertion followed by a 'full' convolution, so
    # the FIR filter can come after it with the padding shifted by the kernel size.
    if up > 1:
        if groups == 1:
            wt = w.transpose(0, 1)
        else:
            wt = w.reshape(groups, out_channels // groups, in_per_group, kh, kw)
            wt = wt.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        # crop the part both sides agree on inside the transposed convolution (it crops symmetrically)
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv(x, wt, stride=up, padding=[pyt, pxt], groups=groups, flip_weight=not flip_weight, transpose=True)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2,
                      flip_filter=flip_filter)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x

    # No resampling.
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
    x = F.pad(x, pad)
    return _conv(x, w, groups=groups, flip_weight=flip_weight)
