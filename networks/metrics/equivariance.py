"""Equivariance metrics of StyleGAN3 generators: EQ-T, EQ-T_frac, EQ-R (Karras et al. 2021, appendix E).

NVIDIA's eqt50k_int, eqt50k_frac and eqr50k. For each batch of 4 latents: render g(z) with the identity input
transform, draw one transform for the batch, render again with the transform's inverse in
`synthesis.input.transform`, and compare with g(z) warped by the same transform on the pixel grid:
- eqt: shift t uniform in +-translate_max of the image per axis, rounded to whole pixels; reference g(z) shifted,
  the uncovered border masked.
- eqt_frac: t not rounded; reference g(z) interpolated with the normalised Lanczos-3 kernel sinc(x) sinc(x/3),
  masked where the 6-tap footprint leaves the image.
- eqr: angle uniform in +-rotate_max * 180 degrees; reference g(z) rotated through 4x band-limited upsampling
  (R_alpha), and the rendered image passed through the same band limit unrotated (R*_alpha), so that both
  have the same spectrum; the mask is the product of the two masks.
PSNR = 20 log10(2) - 10 log10(MSE) dB (2: the range of [-1, 1] images), MSE pooled over the masked pixels and
channels of all images. Higher is better.

Random stream: one CPU torch.Generator seeded with `seed`, drawn in NVIDIA's order (noise buffers, z, labels,
then the transform) so a seed gives the same images on any device; NVIDIA draws from the device's unseeded global
stream, so values agree with NVIDIA's in distribution, not sample for sample.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from networks.errors import UnsupportedNetworkError
from networks.ops.bandlimit import affine_resample, oriented_bandlimit, sinc

__all__ = ["NAMES", "EquivarianceConfig", "compute", "psnr", "rotation_matrix", "integer_shift",
           "lanczos3_shift", "rotate", "pseudo_rotate"]

NAMES = {"eqt": "EQ-T", "eqt_frac": "EQ-T_frac", "eqr": "EQ-R"}
LANCZOS_A = 3   # NVIDIA's interpolation kernel radius for EQ-T_frac and the EQ-R band limit


@dataclass(frozen=True)
class EquivarianceConfig:
    batch: int = 4                   # images per transform draw (NVIDIA's metric_main uses 4)
    translate_max: float = 0.125     # max |shift| per axis, in image sizes
    rotate_max: float = 1.0          # max |angle|, in units of pi radians (1 = +-180 degrees)


# ---------------------------------------------------------------------------------------------- image operators
def rotation_matrix(angle) -> torch.Tensor:
    """[3, 3] float32 [[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]]: the user transform `make_transform` builds."""
    a = torch.as_tensor(angle, dtype=torch.float32)
    cos, sin = a.cos(), a.sin()
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([torch.stack([cos, sin, zero]), torch.stack([-sin, cos, zero]),
                        torch.stack([zero, zero, one])])


def _moved(x: torch.Tensor, d: int, dim: int) -> torch.Tensor:
    """x with its content moved by d whole pixels along dim (toward higher indices for d > 0); zeros enter."""
    size = x.shape[dim]
    out = torch.zeros_like(x)
    if abs(d) < size:
        out.narrow(dim, max(d, 0), size - abs(d)).copy_(x.narrow(dim, max(-d, 0), size - abs(d)))
    return out


def integer_shift(x: torch.Tensor, dx: int, dy: int):
    """T_x of appendix E.1: x [N, C, H, W] moved by (dx, dy) pixels -> (image, mask), both [N, C, H, W].

    out[.., y, x] = x[.., y - dy, x - dx]; mask 1 where that source pixel exists, 0 (and image 0) elsewhere.
    """
    mask = _moved(_moved(torch.ones_like(x), dx, 3), dy, 2)
    return _moved(_moved(x, dx, 3), dy, 2), mask


def _lanczos_weights(frac: torch.Tensor, a: int) -> torch.Tensor:
    """[2a] weights of taps k = 1-a..a for a shift with fractional part frac: L(k - frac) / sum, L = sinc sinc(/a)."""
    k = torch.arange(1 - a, a + 1, dtype=torch.float32, device=frac.device)
    w = sinc(k - frac) * sinc((k - frac) / a)
    return w / w.sum()


def lanczos3_shift(x: torch.Tensor, sx, sy, a: int = LANCZOS_A):
    """T_x of appendix E.2: x [N, C, H, W] moved by (sx, sy) pixels (float32 scalars) -> (image, mask).

    With s = i + f (i whole, 0 <= f < 1) per axis: out[q] = sum_{k=1-a..a} w_k x[q - i - k], w_k ~ L(k - f)
    normalised to sum 1, separably in x then y; mask 1 where all 2a taps of both axes lie inside the image.
    """
    _, _, h, w = x.shape
    out = x
    masks = []
    for s, dim, size in ((sx, 3, w), (sy, 2, h)):
        s = torch.as_tensor(s, dtype=torch.float32)
        whole = int(s.floor())
        weights = _lanczos_weights((s - whole).to(x.device), a)
        out = sum(weights[j] * _moved(out, whole + k, dim) for j, k in enumerate(range(1 - a, a + 1)))
        q = torch.arange(size, device=x.device)
        masks.append(((q - whole - a >= 0) & (q - whole + a - 1 <= size - 1)).to(x.dtype))
    mask = (masks[1][:, None] * masks[0][None, :]).expand_as(x).contiguous()
    return out, mask


def rotate(x: torch.Tensor, angle, a: int = LANCZOS_A):
    """R_alpha of appendix E.3: x rotated as the user transform rotation_matrix(angle) moves content -> (image, mask)."""
    return affine_resample(x, rotation_matrix(angle), a=a, amax=2 * a)


def pseudo_rotate(x: torch.Tensor, angle, a: int = LANCZOS_A):
    """R*_alpha of appendix E.3: x given the spectrum a rotation by `angle` would leave, not rotated -> (image, mask)."""
    return oriented_bandlimit(x, rotation_matrix(-torch.as_tensor(angle, dtype=torch.float32)), a=a, amax=2 * a)


def psnr(sq_err_sum: float, mask_sum: float) -> float:
    """dB of the pooled masked MSE sq_err_sum / mask_sum, for images of dynamic range 2."""
    if mask_sum <= 0:
        raise ValueError("no pixel survived the equivariance mask")
    return 20 * math.log10(2) - 10 * math.log10(sq_err_sum / mask_sum) if sq_err_sum > 0 else math.inf


# ---------------------------------------------------------------------------------------------------- sampling
def _require_stylegan3(G) -> torch.Tensor:
    transform = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    if not isinstance(transform, torch.Tensor):
        arch = getattr(G, "arch", None) or type(G).__name__
        raise UnsupportedNetworkError(f"equivariance metrics need a StyleGAN3 generator (an input transform to "
                                      f"move); this network is {arch}")
    return transform


def _label_sampler(G, labels, gen: torch.Generator) -> Callable[[int], torch.Tensor]:
    """n -> [n, c_dim]: rows of `labels` drawn uniformly (NVIDIA draws data-set labels so), else random one-hot."""
    if G.c_dim == 0:
        return lambda n: torch.zeros([n, 0])
    if labels is not None:
        table = torch.as_tensor(np.asarray(labels, dtype=np.float32))
        if table.ndim != 2 or table.shape[1] != G.c_dim or len(table) == 0:
            raise ValueError(f"labels must be [K, {G.c_dim}] for this generator, got {list(table.shape)}")
        return lambda n: table[torch.randint(len(table), (n,), generator=gen)]
    eye = torch.eye(G.c_dim)
    return lambda n: eye[torch.randint(G.c_dim, (n,), generator=gen)]


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def compute(G, name: str, num: int, seed: int = 0, device=None,
            progress: Optional[Callable[[int, int], None]] = None, labels=None,
            cfg: EquivarianceConfig = EquivarianceConfig()) -> float:
    """PSNR in dB of metric `name` ('eqt', 'eqt_frac', 'eqr') over `num` images of the StyleGAN3 generator G.

    Images come in whole batches of cfg.batch (num rounded up, as NVIDIA's loop). labels: optional [K, c_dim]
    data-set labels for a conditional G (default: uniformly random classes, one-hot). progress(done, num) after
    each batch. G is copied; its transform buffer is not touched. Runs in float32 without TF32, as NVIDIA's.
    """
    if name not in NAMES:
        raise ValueError(f"unknown equivariance metric {name!r} (have {', '.join(NAMES)})")
    if int(num) < 1:
        raise ValueError(f"the number of images must be at least 1, got {num}")
    _require_stylegan3(G)
    device = torch.device(device) if device is not None else _default_device()
    G = copy.deepcopy(G).eval().requires_grad_(False).to(device)
    transform = G.synthesis.input.transform
    gen = torch.Generator().manual_seed(int(seed))
    draw_labels = _label_sampler(G, labels, gen)
    noise = [buf for key, buf in G.named_buffers() if key.endswith(".noise_const") or key == "noise_const"]
    res, b = G.img_resolution, cfg.batch
    sq_err, count, done = 0.0, 0.0, 0
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        while done < num:
            for buf in noise:
                buf.copy_(torch.randn(buf.shape, generator=gen))
            z = torch.randn([b, G.z_dim], generator=gen)
            ws = G.mapping(z.to(device), draw_labels(b).to(device))

            def render(inverse_user_transform: torch.Tensor) -> torch.Tensor:
                transform.copy_(inverse_user_transform)
                return G.synthesis(ws, noise_mode="const", force_fp32=True).float()

            orig = render(torch.eye(3))
            if name in ("eqt", "eqt_frac"):
                t = (torch.rand(2, generator=gen) * 2 - 1) * cfg.translate_max     # image sizes
                if name == "eqt":
                    t = (t * res).round() / res
                inverse = torch.eye(3)
                inverse[:2, 2] = -t                       # a translation's inverse: the negated shift
                img = render(inverse)
                pixels = t * res
                if name == "eqt":
                    ref, mask = integer_shift(orig, int(pixels[0].round()), int(pixels[1].round()))
                else:
                    ref, mask = lanczos3_shift(orig, pixels[0], pixels[1])
            else:
                angle = (torch.rand([], generator=gen) * 2 - 1) * (cfg.rotate_max * math.pi)
                img = render(rotation_matrix(-angle))     # a rotation's inverse: the opposite angle
                ref, ref_mask = rotate(orig, angle)
                img, img_mask = pseudo_rotate(img, angle)
                mask = ref_mask * img_mask
            sq_err += float(((ref - img).square() * mask).double().sum())
            count += float(mask.double().sum())
            done += b
            if progress is not None:
                progress(min(done, num), num)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    return psnr(sq_err, count)
