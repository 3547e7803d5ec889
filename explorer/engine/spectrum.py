"""2-D power spectrum of feature maps, for seeing aliasing in the layer view."""
from __future__ import annotations

import torch


def kaiser_window_2d(h: int, w: int, beta: float, device=None) -> torch.Tensor:
    """Separable Kaiser window [H, W] (beta 0 = rectangular)."""
    wy = torch.kaiser_window(h, periodic=False, beta=float(beta), device=device) if h > 1 else torch.ones(1, device=device)
    wx = torch.kaiser_window(w, periodic=False, beta=float(beta), device=device) if w > 1 else torch.ones(1, device=device)
    return wy[:, None] * wx[None, :]


def power_spectrum_db(x: torch.Tensor, beta: float = 8.0) -> torch.Tensor:
    """x [C, H, W] -> mean power spectrum over channels in dB [H, W], DC at the centre (fftshifted).

    Each channel is mean-subtracted (the DC term would dwarf everything) and Kaiser-windowed (fewer edge leaks).
    """
    x = x.to(torch.float32)
    x = x - x.mean(dim=(1, 2), keepdim=True)
    x = x * kaiser_window_2d(x.shape[1], x.shape[2], beta, device=x.device)
    power = torch.fft.fft2(x).abs().square().mean(dim=0)
    power = torch.fft.fftshift(power)
    return 10.0 * torch.log10(power.clamp(min=1e-20))


def spectrum_picture(x: torch.Tensor, beta: float, range_db: float, db: torch.Tensor | None = None) -> torch.Tensor:
    """x [C, H, W] -> uint8 [H, W, 3] grey: the spectrum's max is white, max - range_db and below black.
    db: power_spectrum_db(x, beta) when the caller has it already (not computed twice)."""
    db = power_spectrum_db(x, beta) if db is None else db
    top = db.max()
    level = ((db - (top - range_db)) / range_db).clamp(0, 1)
    grey = (level * 255 + 0.5).to(torch.uint8)
    return grey.unsqueeze(-1).repeat(1, 1, 3)
