"""The StyleGAN3 user transform and its undoing on the output image.

Coordinates: the image spans [-0.5, 0.5] in both axes (x to the right, y down), so a translation of 1.0 is one
image width. The user transform m = [[cos a, sin a, tx], [-sin a, cos a, ty], [0, 0, 1]] moves the content at
point p to m @ p; the network buffer `synthesis.input.transform` holds inverse(m).
"""
from __future__ import annotations

import numpy as np
import torch

from networks.ops.lanczos import lanczos_sample

LANCZOS_A = 3  # Lanczos-3: 6 taps per axis, a good band-limited compromise between ringing and blur


def is_identity(m: np.ndarray, eps: float = 1e-12) -> bool:
    return bool(np.abs(np.asarray(m) - np.eye(3)).max() <= eps)


def untransform_image(img: torch.Tensor, m: np.ndarray) -> torch.Tensor:
    """Undoes the user transform m on img [N, C, H, W] (any float range): out(p) = img(m @ p).

    Band-limited resampling (`networks.ops.lanczos`), evaluated per tap so rotations work too; samples falling
    outside the image read as 0. An identity m returns img unchanged; whole-pixel translations move pixels back
    exactly.
    """
    if is_identity(m):
        return img
    n, ch, h, w = img.shape
    dev = img.device
    # Pixel centres in image units (float64 so whole-pixel shifts stay whole).
    xs = (torch.arange(w, dtype=torch.float64, device=dev) + 0.5) / w - 0.5
    ys = (torch.arange(h, dtype=torch.float64, device=dev) + 0.5) / h - 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    mt = torch.as_tensor(np.asarray(m, dtype=np.float64), device=dev)
    sx = mt[0, 0] * gx + mt[0, 1] * gy + mt[0, 2]
    sy = mt[1, 0] * gx + mt[1, 1] * gy + mt[1, 2]
    # Back to pixel indices (pixel i has centre i).
    out, _ = lanczos_sample(img, (sx + 0.5) * w - 0.5, (sy + 0.5) * h - 0.5, LANCZOS_A)
    return out
