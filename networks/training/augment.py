"""Adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data"), written from the paper's description.

Every image the discriminator sees (real and generated) goes through the same differentiable pipeline;
each enabled op fires per image with probability `p * strength`:
  - geometric: x-flip, quarter turns, integer translation (pixel blitting), isotropic scale, rotation,
    anisotropic scale, fractional translation. All are composed into one 3x3 matrix per image that maps
    output pixel positions to input positions. Images whose matrix holds only blits are moved by exact
    pixel indexing (reflecting at the border); the others are resampled once, band-limited: reflect pad,
    2x upsample with the sym6 wavelet low-pass, bilinear grid_sample, 2x downsample with the same filter.
  - colour: brightness, contrast, luma flip, hue rotation, saturation, composed into one 4x4 matrix
    (RGB channels only; hue and saturation need colour, so a 1-channel image skips them).
  - image-space filter: the image split into 4 frequency bands (a 3-level dyadic split with the
    Daubechies-2 wavelet), each band's gain drawn lognormally, the gains normalised to keep the expected
    power of a 1/f spectrum (band powers 10:1:1:1), applied as one separable filter.
  - corruption (optional): additive Gaussian noise, cutout.
Ops that choose among discrete outcomes (x-flip, quarter turns, luma flip) draw the outcome uniformly
when they fire, identity included: at p = 1 x-flip mirrors half of the images.
Images are [N, C, H, W] floats in about [-1, 1]; translations are fractions of the image size,
angles fractions of pi (rotate_max=1 means uniform in [-180, 180] degrees).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Low-pass decomposition filter of the Symlet-6 wavelet: sum sqrt(2), unit energy, orthogonal to its
# even shifts, so upsampling then downsampling with it reconstructs the input exactly.
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148)

# Daubechies-2 (= Symlet-2) low-pass taps in closed form, (1 - s3, 3 - s3, 3 + s3, 1 + s3) / (4 sqrt 2):
# the wavelet whose half-band pair splits the image-space filter's bands.
DB2 = tuple(float(v) for v in np.array([1 - 3 ** 0.5, 3 - 3 ** 0.5, 3 + 3 ** 0.5, 1 + 3 ** 0.5]) / (4 * 2 ** 0.5))

# Expected power of each filter band (low to high) for a 1/f spectrum: the band gains are normalised to it.
IMGFILTER_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)


def filter_bank(lowpass=DB2, bands: int = 4) -> np.ndarray:
    """[bands, taps] zero-phase filters that split a signal into octave bands, lowest first; they sum to
    a unit impulse. From the wavelet's half-band pair L = H(z) H(1/z) / 2, B = H(-z) H(-1/z) / 2 (L + B = 1
    for an orthogonal wavelet): each level stretches the bands found so far by 2 (zero insertion), passes
    them through L, and adds B as the next-higher band."""
    lo = np.asarray(lowpass, dtype=np.float64)
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2, hi2 = np.convolve(lo, lo[::-1]) / 2, np.convolve(hi, hi[::-1]) / 2
    bank = np.zeros([bands, 1])
    bank[0, 0] = 1
    for i in range(1, bands):
        stretched = np.zeros([bands, 2 * bank.shape[1] - 1])
        stretched[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in stretched])
        start = (bank.shape[1] - hi2.size) // 2
        bank[i, start:start + hi2.size] += hi2
    return bank


# Probability multipliers of the presets NVIDIA's train.py names (--augpipe); 'bgc' is the default.
PRESETS = {
    "blit": dict(xflip=1, rotate90=1, xint=1),
    "geom": dict(scale=1, rotate=1, aniso=1, xfrac=1),
    "color": dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    "bg": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1),
    "bgc": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    "bgcn": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                 brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1, noise=1),
    "filter": dict(imgfilter=1),
    "noise": dict(noise=1),
    "cutout": dict(cutout=1),
    "bgcf": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                 brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1, imgfilter=1),
    "bgcfn": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                  brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1, imgfilter=1, noise=1),
    "bgcfnc": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                   brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1, imgfilter=1, noise=1, cutout=1),
}


# ----------------------------------------------------------------------------- matrices
def _eye(n: int, dim: int, device) -> torch.Tensor:
    return torch.eye(dim, device=device).expand(n, dim, dim).clone()


def _translate2(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(tx.shape[0], 3, tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale2(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(sx.shape[0], 3, sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate2(theta: torch.Tensor) -> torch.Tensor:
    m = _eye(theta.shape[0], 3, theta.device)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _translate3(t: torch.Tensor) -> torch.Tensor:
    m = _eye(t.shape[0], 4, t.device)
    m[:, :3, 3] = t[:, None]
    return m


def _scale3(s: torch.Tensor) -> torch.Tensor:
    m = _eye(s.shape[0], 4, s.device)
    m[:, :3, :3] *= s[:, None, None]
    return m


def _rotate3(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rodrigues rotation about the unit 3-vector `axis` by theta radians, as [N, 4, 4]."""
    n = theta.shape[0]
    k = torch.zeros(3, 3, device=theta.device)
    k[0, 1], k[0, 2], k[1, 0], k[1, 2], k[2, 0], k[2, 1] = -axis[2], axis[1], axis[2], -axis[0], -axis[1], axis[0]
    r = (torch.eye(3, device=theta.device) + torch.sin(theta)[:, None, None] * k
         + (1 - torch.cos(theta))[:, None, None] * (k @ k))
    m = _eye(n, 4, theta.device)
    m[:, :3, :3] = r
    return m


def _gate(x: torch.Tensor, fire: torch.Tensor, identity: float) -> torch.Tensor:
    """Per-image parameter: the sampled value where the op fires, the identity value elsewhere."""
    return torch.where(fire, x, torch.full_like(x, identity))


# ----------------------------------------------------------------------------- resampling
def _reflect_index(idx: torch.Tensor, n: int) -> torch.Tensor:
    """Mirror integer indices into [0, n) without repeating the edge pixel (torch 'reflect' padding)."""
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= n, period - idx, idx)


def _reflect_pad(x: torch.Tensor, m: int) -> torch.Tensor:
    """Reflect-pads the last two dims by m on every side, in steps when m exceeds the image size."""
    h, w = x.shape[-2:]
    rows = _reflect_index(torch.arange(-m, h + m, device=x.device), h)
    cols = _reflect_index(torch.arange(-m, w + m, device=x.device), w)
    return x.index_select(-2, rows).index_select(-1, cols)


def _filter_1d(x: torch.Tensor, f: torch.Tensor, dim: int, pad: int) -> torch.Tensor:
    """Full 1-D convolution of [N, C, H, W] along dim (2 or 3) with taps f, zero padded by `pad`."""
    n, c, h, w = x.shape
    taps = f.flip(0).to(x.dtype)  # conv2d correlates; flip for a true convolution.
    if dim == 3:
        k = taps.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous()
        return F.conv2d(F.pad(x, [pad, pad, 0, 0]), k, groups=c)
    k = taps.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous()
    return F.conv2d(F.pad(x, [0, 0, pad, pad]), k, groups=c)


def _upsample2(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, 2H+L-2, 2W+L-2]: zero insertion then full convolution with f (per axis)."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h - 1, 2 * w - 1)
    up[:, :, ::2, ::2] = x
    L = f.numel()
    up = _filter_1d(up, f, 3, L - 1)
    return _filter_1d(up, f, 2, L - 1)


def _downsample2(y: torch.Tensor, f: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Adjoint of _upsample2: correlate with f, keep every second sample -> [N, C, h, w]."""
    ff = f.flip(0)  # Correlation with f == convolution with reversed f.
    y = _filter_1d(y, ff, 3, 0)[:, :, :, ::2][:, :, :, :w]
    return _filter_1d(y, ff, 2, 0)[:, :, ::2, :][:, :, :h, :]


def _blit(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Exact pixel move of [N, C, H, W] by integer-valued maps m [N, 3, 3] (output -> input, centred px)."""
    n, c, h, w = x.shape
    ys = torch.arange(h, device=x.device, dtype=m.dtype) + 0.5 - h / 2
    xs = torch.arange(w, device=x.device, dtype=m.dtype) + 0.5 - w / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy, torch.ones_like(gx)], 0).reshape(3, -1)  # [3, H*W]
    src = m @ pts                                                        # [N, 3, H*W]
    sx = _reflect_index(torch.round(src[:, 0] + w / 2 - 0.5).long(), w)
    sy = _reflect_index(torch.round(src[:, 1] + h / 2 - 0.5).long(), h)
    idx = (sy * w + sx)[:, None, :].expand(n, c, h * w)
    return x.reshape(n, c, h * w).gather(2, idx).reshape(n, c, h, w)


def _resample(x: torch.Tensor, m: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Band-limited warp of [N, C, H, W] by m [N, 3, 3] (output -> input, centred pixel units)."""
    n, c, h, w = x.shape
    L = f.numel()
    centroid = float((torch.arange(L, dtype=torch.float64) * f.double()).sum() / f.double().sum())
    # Margin: how far outside the image the output corners reach in the input, plus filter support.
    corners = torch.tensor([[-w / 2, -h / 2, 1], [w / 2, -h / 2, 1], [-w / 2, h / 2, 1], [w / 2, h / 2, 1]],
                           device=x.device, dtype=m.dtype).T
    reach = (m @ corners)[:, :2].abs().amax(dim=(0, 2)).detach()
    margin = int(math.ceil(float(max(reach[0] - w / 2, reach[1] - h / 2, 0)))) + L // 2 + 1
    margin = min(margin, 2 * max(h, w))  # Beyond this the sample reads zeros; only extreme zooms get there.
    xp = _reflect_pad(x, margin)
    hp, wp = h + 2 * margin, w + 2 * margin
    up = _upsample2(xp, f)                                       # [N, C, Hu, Wu]
    hu, wu = up.shape[-2:]
    # Upsampled index k holds the padded-image coordinate (k - centroid) / 2 + 0.5 (pixel centres at i + 0.5).
    ky = torch.arange(hu, device=x.device, dtype=m.dtype)
    kx = torch.arange(wu, device=x.device, dtype=m.dtype)
    gy, gx = torch.meshgrid(ky, kx, indexing="ij")
    u = (gx - centroid) / 2 + 0.5 - wp / 2
    v = (gy - centroid) / 2 + 0.5 - hp / 2
    pts = torch.stack([u, v, torch.ones_like(u)], 0).reshape(3, -1)
    src = m @ pts                                                # [N, 3, Hu*Wu]
    kx_in = (src[:, 0] + wp / 2 - 0.5) * 2 + centroid
    ky_in = (src[:, 1] + hp / 2 - 0.5) * 2 + centroid
    grid = torch.stack([(2 * kx_in + 1) / wu - 1, (2 * ky_in + 1) / hu - 1], -1).reshape(n, hu, wu, 2)
    warped = F.grid_sample(up, grid.to(up.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
    out = _downsample2(warped, f, hp, wp)
    return out[:, :, margin:margin + h, margin:margin + w]


# ----------------------------------------------------------------------------- the pipeline
class AugmentPipe(nn.Module):
    """ADA pipeline. forward(images [N, C, H, W]) -> same shape; `p` (scalar buffer) is the strength.

    Constructor kwargs are NVIDIA's names; each op's value multiplies p (0 = off, 1 = on);
    imgfilter_bands multiplies it once more per band.
    """

    def __init__(self,
                 xflip=0, rotate90=0, xint=0, xint_max=0.125,
                 scale=0, rotate=0, aniso=0, xfrac=0, scale_std=0.2, rotate_max=1, aniso_std=0.2, xfrac_std=0.125,
                 brightness=0, contrast=0, lumaflip=0, hue=0, saturation=0,
                 brightness_std=0.2, contrast_std=0.5, hue_max=1, saturation_std=1,
                 imgfilter=0, imgfilter_bands=(1, 1, 1, 1), imgfilter_std=1,
                 noise=0, cutout=0, noise_std=0.1, cutout_size=0.5):
        super().__init__()
        self.register_buffer("p", torch.ones([]))
        self.xflip, self.rotate90, self.xint, self.xint_max = float(xflip), float(rotate90), float(xint), float(xint_max)
        self.scale, self.rotate, self.aniso, self.xfrac = float(scale), float(rotate), float(aniso), float(xfrac)
        self.scale_std, self.rotate_max = float(scale_std), float(rotate_max)
        self.aniso_std, self.xfrac_std = float(aniso_std), float(xfrac_std)
        self.brightness, self.contrast, self.lumaflip = float(brightness), float(contrast), float(lumaflip)
        self.hue, self.saturation = float(hue), float(saturation)
        self.brightness_std, self.contrast_std = float(brightness_std), float(contrast_std)
        self.hue_max, self.saturation_std = float(hue_max), float(saturation_std)
        self.imgfilter, self.imgfilter_bands, self.imgfilter_std = float(imgfilter), list(imgfilter_bands), float(imgfilter_std)
        self.noise, self.cutout, self.noise_std, self.cutout_size = float(noise), float(cutout), float(noise_std), float(cutout_size)
        self.register_buffer("filter", torch.tensor(SYM6, dtype=torch.float32))
        self.register_buffer("imgfilter_bank", torch.tensor(filter_bank(), dtype=torch.float32))
        self.register_buffer("imgfilter_power", torch.tensor(IMGFILTER_POWER, dtype=torch.float32))
        # Unit luma axis in homogeneous RGB: the hue rotation axis and the luma-flip mirror normal.
        self.register_buffer("luma_axis", torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3))

    @classmethod
    def from_preset(cls, name: str) -> "AugmentPipe":
        if name not in PRESETS:
            raise ValueError(f"unknown augment preset {name!r}; expected one of {sorted(PRESETS)}")
        return cls(**PRESETS[name])

    @property
    def init_kwargs(self) -> dict:
        """The constructor kwargs (what a checkpoint stores to rebuild this module)."""
        names = ["xflip", "rotate90", "xint", "xint_max", "scale", "rotate", "aniso", "xfrac", "scale_std",
                 "rotate_max", "aniso_std", "xfrac_std", "brightness", "contrast", "lumaflip", "hue",
                 "saturation", "brightness_std", "contrast_std", "hue_max", "saturation_std", "imgfilter",
                 "imgfilter_bands", "imgfilter_std", "noise", "cutout", "noise_std", "cutout_size"]
        return {k: getattr(self, k) for k in names}

    def _fires(self, n: int, strength: float, device, p: Optional[float] = None) -> torch.Tensor:
        prob = (self.p if p is None else torch.as_tensor(p, device=device)) * strength
        return torch.rand(n, device=device) < prob

    # --------------------------------------------------------------- geometric
    def geometric_matrix(self, n: int, h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """([N, 3, 3] output->input map in centred pixels, [N] bool: needs resampling (not a pure blit))."""
        m = _eye(n, 3, device)
        smooth = torch.zeros(n, dtype=torch.bool, device=device)
        size = torch.tensor([w, h], device=device, dtype=torch.float32)
        if self.xflip > 0:
            fire = self._fires(n, self.xflip, device)
            flip = torch.randint(0, 2, [n], device=device).bool() & fire   # Mirrored or not, evenly.
            m = m @ _scale2(1 - 2 * flip.float(), torch.ones(n, device=device))
        if self.rotate90 > 0:
            fire = self._fires(n, self.rotate90, device)
            quarter = torch.randint(0, 4, [n], device=device).float()
            m = m @ _rotate2(_gate(quarter * (math.pi / 2), fire, 0))
            m = torch.round(m)  # Quarter turns: keep the blit matrix exactly integer.
        if self.xint > 0:
            fire = self._fires(n, self.xint, device)
            t = (torch.rand(n, 2, device=device) * 2 - 1) * self.xint_max
            t = torch.round(t * size) * fire[:, None]
            m = m @ _translate2(t[:, 0], t[:, 1])
        if self.scale > 0:
            fire = self._fires(n, self.scale, device)
            s = _gate(torch.exp2(torch.randn(n, device=device) * self.scale_std), fire, 1)
            m = m @ _scale2(s, s)
            smooth |= fire
        # Rotation is drawn twice (around the anisotropic scale) so that the total probability stays p.
        p_rot = 1 - torch.sqrt((1 - self.p * self.rotate).clamp(0, 1)) if self.rotate > 0 else None
        if self.rotate > 0:
            fire = self._fires(n, 1.0, device, p_rot)
            m = m @ _rotate2(_gate((torch.rand(n, device=device) * 2 - 1) * math.pi * self.rotate_max, fire, 0))
            smooth |= fire
        if self.aniso > 0:
            fire = self._fires(n, self.aniso, device)
            s = _gate(torch.exp2(torch.randn(n, device=device) * self.aniso_std), fire, 1)
            m = m @ _scale2(s, 1 / s)
            smooth |= fire
        if self.rotate > 0:
            fire = self._fires(n, 1.0, device, p_rot)
            m = m @ _rotate2(_gate((torch.rand(n, device=device) * 2 - 1) * math.pi * self.rotate_max, fire, 0))
            smooth |= fire
        if self.xfrac > 0:
            fire = self._fires(n, self.xfrac, device)
            t = torch.randn(n, 2, device=device) * self.xfrac_std * size * fire[:, None]
            m = m @ _translate2(t[:, 0], t[:, 1])
            smooth |= fire
        return m, smooth

    # --------------------------------------------------------------- colour
    def color_matrix(self, n: int, device, channels: int = 3) -> torch.Tensor:
        """[N, 4, 4] homogeneous RGB transform (applied as out = M[:3, :3] rgb + M[:3, 3]).

        With one channel, hue and saturation are skipped: they leave gray unchanged."""
        c = _eye(n, 4, device)
        v = self.luma_axis
        if self.brightness > 0:
            fire = self._fires(n, self.brightness, device)
            c = _translate3(_gate(torch.randn(n, device=device) * self.brightness_std, fire, 0)) @ c
        if self.contrast > 0:
            fire = self._fires(n, self.contrast, device)
            c = _scale3(_gate(torch.exp2(torch.randn(n, device=device) * self.contrast_std), fire, 1)) @ c
        if self.lumaflip > 0:
            fire = self._fires(n, self.lumaflip, device)
            flip = (torch.randint(0, 2, [n], device=device) * fire).float()
            householder = torch.eye(4, device=device) - 2 * torch.outer(v, v)
            c = (torch.eye(4, device=device) + flip[:, None, None] * (householder - torch.eye(4, device=device))) @ c
        if self.hue > 0 and channels > 1:
            fire = self._fires(n, self.hue, device)
            theta = _gate((torch.rand(n, device=device) * 2 - 1) * math.pi * self.hue_max, fire, 0)
            c = _rotate3(v[:3], theta) @ c
        if self.saturation > 0 and channels > 1:
            fire = self._fires(n, self.saturation, device)
            s = _gate(torch.exp2(torch.randn(n, device=device) * self.saturation_std), fire, 1)
            vv = torch.outer(v[:3], v[:3])
            sat = _eye(n, 4, device)
            sat[:, :3, :3] = vv + (torch.eye(3, device=device) - vv) * s[:, None, None]
            c = sat @ c
        return c

    # --------------------------------------------------------------- image-space filter
    def imgfilter_gains(self, n: int, device) -> torch.Tensor:
        """[N, bands] amplitude gains. Band i fires with probability p * imgfilter * imgfilter_bands[i];
        its gain t is 2 ** N(0, imgfilter_std^2) and each firing rescales all bands by
        1 / sqrt(sum_j power_j t_j^2) (t_j = 1 for the others), so the expected power stays 1."""
        bands = self.imgfilter_bank.shape[0]
        if len(self.imgfilter_bands) != bands:
            raise ValueError(f"imgfilter_bands needs {bands} values, got {len(self.imgfilter_bands)}")
        power = self.imgfilter_power.to(device)
        g = torch.ones(n, bands, device=device)
        for i, strength in enumerate(self.imgfilter_bands):
            fire = self._fires(n, self.imgfilter * float(strength), device)
            t = torch.ones(n, bands, device=device)
            t[:, i] = _gate(torch.exp2(torch.randn(n, device=device) * self.imgfilter_std), fire, 1)
            g = g * (t / (power * t.square()).sum(dim=1, keepdim=True).sqrt())
        return g

    def apply_band_gains(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] filtered by sum_i g[n, i] * band_i (separably, reflect padded) -> same shape."""
        n, c, h, w = x.shape
        taps = (g @ self.imgfilter_bank.to(g.device)).to(x.dtype)             # [N, T], symmetric
        k = taps.repeat_interleave(c, dim=0)                                   # [N * C, T]
        pad = taps.shape[1] // 2
        y = _reflect_pad(x, pad).reshape(1, n * c, h + 2 * pad, w + 2 * pad)
        y = F.conv2d(y, k[:, None, None, :], groups=n * c)
        y = F.conv2d(y, k[:, None, :, None], groups=n * c)
        return y.reshape(n, c, h, w)

    # --------------------------------------------------------------- forward
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert images.ndim == 4, "expected [N, C, H, W]"
        n, ch, h, w = images.shape
        device = images.device
        x = images
        if any(v > 0 for v in (self.xflip, self.rotate90, self.xint, self.scale, self.rotate, self.aniso, self.xfrac)):
            m, smooth = self.geometric_matrix(n, h, w, device)
            moved = (m - torch.eye(3, device=device)).abs().amax(dim=(1, 2)) > 0
            blit = moved & ~smooth
            out = x
            if blit.any():
                idx = blit.nonzero()[:, 0]
                out = out.index_copy(0, idx, _blit(x[idx], m[idx]))
            if smooth.any():
                idx = smooth.nonzero()[:, 0]
                out = out.index_copy(0, idx, _resample(x[idx], m[idx], self.filter))
            x = out
        if any(v > 0 for v in (self.brightness, self.contrast, self.lumaflip, self.hue, self.saturation)):
            cm = self.color_matrix(n, device, ch)
            changed = (cm - torch.eye(4, device=device)).abs().amax(dim=(1, 2)) > 0
            if changed.any():
                idx = changed.nonzero()[:, 0]
                sub, cmi = x[idx], cm[idx].to(x.dtype)
                if ch in (3, 4):  # RGBA: the alpha channel is kept.
                    rgb = torch.einsum("nij,njhw->nihw", cmi[:, :3, :3], sub[:, :3]) + cmi[:, :3, 3, None, None]
                    y = torch.cat([rgb, sub[:, 3:]], dim=1)
                elif ch == 1:  # Grayscale: the mean response of the RGB matrix to a gray input.
                    y = sub * cmi[:, :3, :3].mean(dim=(1, 2))[:, None, None, None] * 3 \
                        + cmi[:, :3, 3].mean(dim=1)[:, None, None, None]
                else:
                    raise ValueError(f"colour augmentation needs 1, 3 or 4 channels, got {ch}")
                x = x.index_copy(0, idx, y)
        if self.imgfilter > 0:
            g = self.imgfilter_gains(n, device)
            changed = (g != 1).any(dim=1)
            if changed.any():
                idx = changed.nonzero()[:, 0]
                x = x.index_copy(0, idx, self.apply_band_gains(x[idx], g[idx]))
        if self.noise > 0:
            fire = self._fires(n, self.noise, device)
            sigma = torch.randn(n, device=device).abs() * self.noise_std * fire
            x = x + torch.randn_like(x) * sigma[:, None, None, None].to(x.dtype)
        if self.cutout > 0:
            fire = self._fires(n, self.cutout, device)
            centre = torch.rand(n, 2, device=device)
            ys = (torch.arange(h, device=device) + 0.5) / h
            xs = (torch.arange(w, device=device) + 0.5) / w
            inside = (((xs[None, None, :] - centre[:, 0, None, None]).abs() < self.cutout_size / 2)
                      & ((ys[None, :, None] - centre[:, 1, None, None]).abs() < self.cutout_size / 2))
            keep = ~(inside & fire[:, None, None])
            x = x * keep[:, None].to(x.dtype)
        return x


# ----------------------------------------------------------------------------- adaptive p
@dataclass
class AdaController:
    """Adjusts pipe.p from the overfitting heuristic r_t = E[sign(D(real))] (ADA, section 3).

    Every `interval` minibatches: p += sign(r_t - target) * (batch * interval) / (kimg * 1000),
    so p can move from 0 to 1 in `kimg` thousand images; p is clamped to >= 0.
    """
    target: float = 0.6
    interval: int = 4          # Minibatches between updates (ada_interval).
    kimg: float = 500          # Thousands of images for p to go 0 -> 1 (ada_kimg).
    sign_sum: float = 0.0      # Running sum of sign(D(real)) since the last update.
    count: float = 0.0         # Number of logits in sign_sum.
    last_rt: Optional[float] = None

    def accumulate(self, real_logits: torch.Tensor) -> None:
        self.sign_sum += float(torch.sign(real_logits.detach()).sum())
        self.count += real_logits.numel()

    def maybe_update(self, pipe: AugmentPipe, step: int, global_batch: int,
                     all_reduce=None) -> Optional[float]:
        """Call after minibatch number `step` (0-based); returns r_t when p was updated.

        all_reduce(tensor) sums across processes so every rank applies the same change.
        """
        if (step + 1) % self.interval != 0:
            return None
        stats = torch.tensor([self.sign_sum, self.count], dtype=torch.float64)
        if all_reduce is not None:
            stats = all_reduce(stats)
        self.sign_sum, self.count = 0.0, 0.0
        if stats[1] == 0:
            return None
        rt = float(stats[0] / stats[1])
        adjust = np.sign(rt - self.target) * (global_batch * self.interval) / (self.kimg * 1000)
        with torch.no_grad():
            pipe.p.copy_((pipe.p + float(adjust)).clamp(min=0))
        self.last_rt = rt
        return rt
