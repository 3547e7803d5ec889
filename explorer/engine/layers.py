"""Capturing synthesis-layer activations with forward hooks, and turning them into pictures and statistics.

Layer names are those of `G.synthesis.layer_names`; a sub-module that returns a tuple (a StyleGAN2 block returns
(features, image)) is named `<name>:<index>` per element; the synthesis output itself is `output`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from explorer.errors import UserError

OUTPUT = "output"


@dataclass
class ChannelStats:
    """Statistics of a feature map over channels and pixels."""
    mean: float
    std: float
    max: float  # max |value|


@dataclass
class LayerStats:
    all: ChannelStats        # every channel of the layer
    selected: ChannelStats   # the channels shown


def hook_base(name: str) -> str:
    """'b4:0' -> 'b4' (the sub-module to hook); plain names unchanged."""
    return name.split(":", 1)[0]


def available_layers(G) -> list[str]:
    """The base names that may be hooked, plus 'output'."""
    return list(G.synthesis.layer_names) + [OUTPUT]


def check_layer(G, name: str) -> None:
    """Raises UserError (one line) when `name` is not a layer of G."""
    base = hook_base(name)
    names = available_layers(G)
    if base not in names:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise UserError(f"unknown layer {name!r}; this network has {shown}")


def _record(store: dict, name: str, out) -> None:
    if isinstance(out, (tuple, list)):
        for i, t in enumerate(out):
            if isinstance(t, torch.Tensor):
                store[f"{name}:{i}"] = t.detach()
    elif isinstance(out, torch.Tensor):
        store[name] = out.detach()


@contextlib.contextmanager
def capture(G, names: Optional[list[str]]) -> Iterator[dict]:
    """Hooks the given layers (None = all) of G.synthesis for the duration of the block.

    Yields a dict that fills with name -> tensor [N, C, H, W] during the forward pass; hooks are removed on exit,
    also on error, so the network is left as it was.
    """
    store: dict = {}
    wanted = list(G.synthesis.layer_names) if names is None else sorted({hook_base(n) for n in names} - {OUTPUT})
    handles = []
    try:
        for base in wanted:
            module = G.synthesis.get_submodule(base)
            handles.append(module.register_forward_hook(lambda _m, _i, out, _n=base: _record(store, _n, out)))
        yield store
    finally:
        for h in handles:
            h.remove()


def select_channels(x: torch.Tensor, base_channel: int, count: int) -> torch.Tensor:
    """x [C, H, W] -> count channels starting at base_channel, shifted down so they fit inside C.
    With fewer than `count` channels the last one repeats."""
    c = x.shape[0]
    start = max(0, min(base_channel, c - count))
    idx = [min(start + i, c - 1) for i in range(count)]
    return x[idx]


def channel_stats(x: torch.Tensor) -> ChannelStats:
    x = x.to(torch.float32)
    return ChannelStats(mean=float(x.mean()), std=float(x.std(unbiased=False)), max=float(x.abs().max()))


def layer_picture(x: torch.Tensor, base_channel: int, sel_channels: int, amplify_db: float,
                  normalize: bool) -> tuple[torch.Tensor, LayerStats]:
    """One sample's activations x [C, H, W] -> (uint8 [H, W, 3], stats) for the channels the GUI shows."""
    x = x.to(torch.float32)
    sel = select_channels(x, base_channel, sel_channels)
    stats = LayerStats(all=channel_stats(x), selected=channel_stats(sel))
    return shown_picture(sel, amplify_db, normalize), stats


def shown_picture(sel: torch.Tensor, amplify_db: float = 0.0, normalize: bool = False) -> torch.Tensor:
    """Chosen channels sel [1 or 3, H, W] -> uint8 [H, W, 3] (RGB, or grey for one channel).

    Optionally each channel is divided by its max |value|; then multiplied by 10**(amplify_db/20) and quantised
    like the output image (v*127.5 + 128, clamped).
    """
    sel = sel.to(torch.float32)
    if normalize:
        sel = sel / sel.abs().amax(dim=(1, 2), keepdim=True).clamp(min=1e-8)
    sel = sel * (10.0 ** (amplify_db / 20.0))
    if sel.shape[0] == 1:
        sel = sel.repeat(3, 1, 1)
    return to_uint8(sel.unsqueeze(0))[0]


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] in about [-1, 1] -> uint8 [N, H, W, C], as NVIDIA's tools quantise: v*127.5 + 128, clamped."""
    return (img.to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
