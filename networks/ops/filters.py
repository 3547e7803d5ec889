"""Low-pass FIR filter design for StyleGAN3's up- and down-sampling.

Two designs, both Kaiser-windowed ideal low-pass filters (Alias-Free GAN, Appendix C and E):
  - separable (StyleGAN3-T): a 1-D windowed sinc, applied along x and then y;
  - radial (StyleGAN3-R, down-sampling only): a 2-D windowed jinc, whose pass band is a disc,
    so that the filter commutes with rotations.
The Kaiser window's beta follows Kaiser's empirical formulas from the transition width,
so a narrower transition band (for the same number of taps) gives a weaker window.

`*_ref` functions evaluate the definitions sample by sample; the public ones are vectorised.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

__all__ = ["design_lowpass_filter", "design_lowpass_filter_ref", "kaiser_beta", "kaiser_attenuation"]


def kaiser_attenuation(numtaps: int, width: float) -> float:
    """Stop-band attenuation (dB) a Kaiser-windowed filter of `numtaps` reaches for a transition `width`
    (a fraction of the Nyquist frequency)."""
    return 2.285 * (numtaps - 1) * math.pi * width + 7.95


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser's window parameter beta for a stop-band attenuation in dB."""
    a = attenuation_db
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a > 21:
        return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    return 0.0


def _window(numtaps: int, width: float, fs: float) -> np.ndarray:
    """Kaiser window [numtaps] for a transition `width` in the units of `fs`."""
    beta = kaiser_beta(kaiser_attenuation(numtaps, width / (fs / 2)))
    return np.kaiser(numtaps, beta)


def _taps(numtaps: int, fs: float) -> np.ndarray:
    """Tap positions [numtaps] in the units of 1 / fs, centred on 0."""
    return (np.arange(numtaps) - (numtaps - 1) / 2) / fs


def _jinc(r: np.ndarray, cutoff: float) -> np.ndarray:
    """Ideal disc low-pass kernel 2 fc J1(2 pi fc r) / r (up to scale) at radii r, finite at r = 0."""
    out = np.full_like(r, 2 * cutoff ** 2)  # the limit at r = 0, since J1(x) ~ x / 2
    big = r >= 1e-12
    rr = r[big]
    j1 = torch.special.bessel_j1(torch.as_tensor(2 * math.pi * cutoff * rr, dtype=torch.float64)).numpy()
    out[big] = j1 / (math.pi * rr) * 2 * cutoff
    return out


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> Optional[torch.Tensor]:
    """A low-pass filter normalised to unit DC gain, or None for a single tap (no filtering).

    Args:
        numtaps: filter length (taps per axis).
        cutoff: cutoff frequency, in the units of fs (cycles per unit length).
        width: transition band width, in the units of fs.
        fs: sampling rate at which the filter runs.
        radial: False: 1-D separable filter [numtaps]; True: 2-D radial filter [numtaps, numtaps].

    Returns:
        float32 tensor [numtaps] or [numtaps, numtaps], summing to 1; None when numtaps == 1.
    """
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    if not 0 < cutoff < fs / 2 + 1e-9 and not radial:
        raise ValueError(f"cutoff {cutoff} must lie in (0, fs/2 = {fs / 2}]")
    x = _taps(numtaps, fs)
    window = _window(numtaps, width, fs)
    if not radial:
        h = np.sinc(2 * cutoff * x) * window  # 2 fc sinc(2 fc x): the constant factor goes with normalisation
        return torch.as_tensor(h / h.sum(), dtype=torch.float32)
    r = np.hypot(x[None, :], x[:, None])
    h = _jinc(r, cutoff) * np.outer(window, window)
    return torch.as_tensor(h / h.sum(), dtype=torch.float32)


def design_lowpass_filter_ref(numtaps: int, cutoff: float, width: float, fs: float,
                              radial: bool = False) -> Optional[torch.Tensor]:
    """The same filter, tap by tap from the textbook definitions (Kaiser window via the Bessel I0 series)."""
    if numtaps == 1:
        return None

    def i0(v: float) -> float:
        total, term, k = 1.0, 1.0, 1
        while term > 1e-17 * total:
            term *= (v / (2 * k)) ** 2
            total += term
            k += 1
        return total

    beta = kaiser_beta(kaiser_attenuation(numtaps, width / (fs / 2)))
    m = numtaps - 1
    win = [i0(beta * math.sqrt(max(0.0, 1 - (2 * n / m - 1) ** 2))) / i0(beta) for n in range(numtaps)]
    pos = [(n - m / 2) / fs for n in range(numtaps)]
    if not radial:
        h = [(1.0 if p == 0 else math.sin(2 * math.pi * cutoff * p) / (2 * math.pi * cutoff * p)) * w
             for p, w in zip(pos, win)]
        s = sum(h)
        return torch.tensor([v / s for v in h], dtype=torch.float32)
    def j1(v: float, steps: int = 256) -> float:
        # Bessel's integral, J1(v) = 1/pi * int_0^pi cos(t - v sin t) dt; the trapezoid rule converges fast on it.
        return sum(math.cos(t - v * math.sin(t)) * (0.5 if k in (0, steps) else 1.0)
                   for k, t in ((k, math.pi * k / steps) for k in range(steps + 1))) / steps

    h = [[0.0] * numtaps for _ in range(numtaps)]
    for i in range(numtaps):
        for j in range(numtaps):
            r = math.hypot(pos[i], pos[j])
            base = 2 * cutoff ** 2 if r == 0 else j1(2 * math.pi * cutoff * r) / (math.pi * r) * 2 * cutoff
            h[i][j] = base * win[i] * win[j]
    s = sum(map(sum, h))
    return torch.tensor([[v / s for v in row] for row in h], dtype=torch.float32)
