"""Texture-sticking inspector: the average of many frames in which the content should move.

Where details stay sharp in the average, they are glued to pixel coordinates instead of moving with the content
(StyleGAN2's texture sticking, the Alias-Free GAN paper's Figure 1); an equivariant network's average is a
smooth blur for both motions. The frames are averaged as rendered (never untransformed), so "sharp = stuck"
holds for the output and for every layer alike.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from explorer.engine.renderer import has_transform, render
from explorer.engine.state import RenderState
from explorer.errors import UserError

MODES = ("latent_walk", "translate")


def sticking_states(G, state: RenderState, mode: str = "latent_walk", frames: int = 32, layer: Optional[str] = None,
                    radius: float = 0.25, sweep: float = 0.25) -> list[RenderState]:
    """The frames averaged by sticking_average.

    latent_walk: a circle of `radius` (seed-plane units) around (state.x, state.y).
    translate: StyleGAN3 only; translate_x sweeps state.translate_x +- sweep/2 (image widths), untransform off:
    content that moves with the input blurs in the average, details stuck to the pixel grid do not.
    """
    if mode not in MODES:
        raise UserError(f"unknown sticking mode {mode!r}; expected one of {', '.join(MODES)}")
    if frames < 1:
        raise UserError("sticking average needs at least one frame")
    base = state.replace(layer=layer, list_layers=False, fft_show=False)
    out = []
    if mode == "latent_walk":
        if state.w is not None:
            raise UserError("the latent walk circles a seed-plane point; this state has an explicit w")
        for k in range(frames):
            a = 2 * math.pi * k / frames
            out.append(base.replace(x=state.x + radius * math.cos(a), y=state.y + radius * math.sin(a)))
    else:
        if not has_transform(G):
            raise UserError(f"the translation sweep needs a StyleGAN3 network (input transform); this one is "
                            f"{getattr(G, 'arch', 'stylegan2')}")
        for k in range(frames):
            f = 0.0 if frames == 1 else k / (frames - 1) - 0.5
            out.append(base.replace(translate_x=state.translate_x + sweep * f, untransform=False))
    return out


def sticking_average(G, state: RenderState, mode: str = "latent_walk", frames: int = 32,
                     layer: Optional[str] = None, radius: float = 0.25, sweep: float = 0.25,
                     progress: Optional[Callable[[float], None]] = None,
                     cancelled: Optional[Callable[[], bool]] = None) -> Optional[np.ndarray]:
    """Mean of the rendered frames (output image, or the layer view of `layer`): uint8 [H, W, 3], rounded.

    progress(fraction done) is called after each frame; when cancelled() turns true between frames the
    average stops and None is returned (the GUI's Cancel never waits for the remaining frames).
    """
    acc = None
    states = sticking_states(G, state, mode, frames, layer, radius, sweep)
    for k, s in enumerate(states):
        if cancelled is not None and cancelled():
            return None
        r = render(G, s)
        img = (r.layer_image if layer else r.image).astype(np.float64)
        acc = img if acc is None else acc + img
        if progress is not None:
            progress((k + 1) / len(states))
    return np.clip(np.rint(acc / len(states)), 0, 255).astype(np.uint8)
