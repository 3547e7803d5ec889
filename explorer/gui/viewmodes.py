"""The main view's modes, zoom steps, pixel readout and capture names: pure functions, no Dear PyGui.

Modes: the output image, the layer view's channels, their power spectrum (cycles/px axes, dB colour bar),
the texture-sticking average, and an A/B split of two renders cut at a divider (same zoom and pan).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

MODES = ("output", "layer", "spectrum", "sticking", "a/b")
LAYER_MODES = ("layer", "spectrum")            # modes that need the layer hooked
# Whole zooms, about x1.4 apart: from fit to any level takes a few notches whatever the image size.
ZOOM_LEVELS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def fit_scale(view_w: int, view_h: int, img_w: int, img_h: int) -> float:
    """Screen px per image px at fit: the largest whole number that fits, or a fraction below 1."""
    fit = min(view_w / img_w, view_h / img_h)
    return float(int(fit)) if fit >= 1 else fit


def next_zoom(zoom: int, fit: float, direction: int, max_zoom: int) -> int:
    """The zoom after one wheel notch (0 = fit): the next of ZOOM_LEVELS and the fit scale above / below the
    current scale; landing on the fit scale returns 0 (fit)."""
    scale = fit if zoom == 0 else float(zoom)
    levels = sorted({float(k) for k in ZOOM_LEVELS if k <= max_zoom} | {fit})
    nxt = [k for k in levels if k > scale] if direction > 0 else [k for k in levels if k < scale][::-1]
    if not nxt:
        return zoom
    return 0 if nxt[0] == fit else int(nxt[0])


def split_image(a: np.ndarray, b: np.ndarray, frac: float) -> np.ndarray:
    """A/B: columns left of round(frac * W) from a, the rest from b (both uint8 [H, W, 3], same size)."""
    cut = int(round(min(max(frac, 0.0), 1.0) * a.shape[1]))
    out = b.copy()
    out[:, :cut] = a[:, :cut]
    return out


def spectrum_frequency(ix: int, iy: int, w: int, h: int) -> tuple:
    """(fx, fy) in cycles/px of spectrum pixel (ix, iy), DC at (w//2, h//2) as fftshift puts it; fy grows
    downwards like the image rows."""
    return (ix - w // 2) / w, (iy - h // 2) / h


def frequency_ticks(n: int) -> list:
    """[(index, label)] for the axis of an n-point shifted spectrum: -0.5, -0.25, 0, 0.25 cycles/px (and
    +0.5's position, one past the last bin) as centred bin positions."""
    return [(n // 2 + f * n, f"{f:+.2f}" if f else "0") for f in (-0.5, -0.25, 0.0, 0.25, 0.5)]


def readout(mode: str, ix: int, iy: int, image: np.ndarray, values: Optional[np.ndarray] = None,
            db: Optional[np.ndarray] = None, side: str = "") -> str:
    """One line for the pixel (ix, iy) under the cursor of what `mode` shows (image uint8 [H, W, 3]; values the
    raw activations [C, H, W] for 'layer'; db [H, W] for 'spectrum')."""
    h, w = image.shape[:2]
    if not (0 <= ix < w and 0 <= iy < h):
        return ""
    if mode == "spectrum" and db is not None and db.shape == (h, w):
        fx, fy = spectrum_frequency(ix, iy, w, h)
        return (f"({ix}, {iy})  fx {fx:+.4f} fy {fy:+.4f} cycles/px  |f| {math.hypot(fx, fy):.4f}  "
                f"{float(db[iy, ix]):.2f} dB")
    if mode == "layer" and values is not None and values.shape[1:] == (h, w):
        vals = ", ".join(f"{float(v):+.4f}" for v in values[:, iy, ix])
        return f"({ix}, {iy})  activation {vals}"
    r, g, b = (int(v) for v in image[iy, ix, :3])
    return f"{side}({ix}, {iy})  RGB {r} {g} {b}"


def seed_of(state) -> int:
    """The whole seed of a state's seed-plane point, as capture.command_line computes it."""
    return (int(round(state.x)) + int(round(state.y)) * int(state.step_y)) % 2 ** 32


def capture_stem(mode: str, seed: int, layer: Optional[str]) -> str:
    """File stem of a capture, as `sg-explorer images` names its files (seedNNNN), plus what the view shows."""
    base = f"seed{seed:04d}"
    safe = (layer or "output").replace(":", "_").replace("/", "_")
    return {"output": base, "layer": f"{base}-{safe}", "spectrum": f"{base}-{safe}-spectrum",
            "sticking": f"{base}-sticking", "a/b": f"{base}-ab"}[mode]
