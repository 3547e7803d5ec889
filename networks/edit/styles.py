"""Which style (affine) weights of a generator each w index drives, for SeFa.

Architectures (`G.arch`):
- 'stylegan2': every SynthesisLayer's `affine`; block b consumes ws[w_idx .. w_idx + num_conv] in order (conv0,
  conv1); ToRGB affines are excluded (SeFa's directions are about the convolution styles).
- 'stylegan3-t' / 'stylegan3-r': layer L{i} takes ws[i + 1]; the input layer's affine (ws[0]) sets the Fourier
  features' rotation / translation, not a style, and the last layer is ToRGB: both are excluded.
- anything else (StyleGAN v1, ProGAN, ...): found by tracing one synthesis pass in which w row i is filled with the
  constant i + 1; every module with a weight [out, w_dim] (or [out, w_dim, kh, kw]) whose input is such a row is a
  style layer of that row, except modules named like to-RGB. StyleGAN v1 ('stylegan'): each layer's `style`
  weight [2C, w_dim] is used whole (scale and bias rows), as SeFa's authors do. ProGAN ('progan') has no styles:
  its first layer's dense weight (latent -> 4x4) is factorised, again as the authors do for PGGAN.
"""
from __future__ import annotations

import torch

_RGB_NAMES = ("torgb", "to_rgb", "trgb")


def _rows(weight: torch.Tensor) -> torch.Tensor:
    """A weight [out, in] or [out, in, kh, kw] as rows over the input (w) dimension: [out (* kh * kw), in]."""
    w = weight.detach().to(torch.float64)
    if w.ndim == 4:
        w = w.permute(0, 2, 3, 1).reshape(-1, w.shape[1])
    return w


def style_weights(G) -> list[tuple[str, int, torch.Tensor]]:
    """[(module name, w index, rows [R, w_dim] float64)] for every style layer of G.synthesis, in w order."""
    arch = str(getattr(G, "arch", ""))
    syn = G.synthesis
    if arch == "stylegan2":
        out, w_idx = [], 0
        for r in syn.block_resolutions:
            block = getattr(syn, f"b{r}")
            names = [n for n in ("conv0", "conv1") if hasattr(block, n)]
            for k, n in enumerate(names):
                out.append((f"b{r}.{n}", w_idx + k, _rows(getattr(block, n).affine.weight)))
            w_idx += block.num_conv
        return out
    if arch.startswith("stylegan3"):
        names = syn.layer_names[1:]
        return [(n, i + 1, _rows(getattr(syn, n).affine.weight)) for i, n in enumerate(names)
                if not getattr(syn, n).is_torgb]
    return _traced_style_weights(G)


@torch.no_grad()
def _traced_style_weights(G) -> list[tuple[str, int, torch.Tensor]]:
    syn, w_dim, num_ws = G.synthesis, G.w_dim, G.num_ws
    dev = next(iter(G.parameters())).device
    ws = torch.arange(1, num_ws + 1, dtype=torch.float32, device=dev).reshape(1, num_ws, 1).repeat(1, 1, w_dim)
    found: dict[str, int] = {}
    hooks = []
    for name, mod in syn.named_modules():
        weight = getattr(mod, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.ndim not in (2, 4) or weight.shape[1] != w_dim:
            continue
        if any(t in name.lower() for t in _RGB_NAMES):
            continue

        def hook(module, inputs, _name=name):
            x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            if x is None or x.numel() != w_dim:
                return
            v = x.flatten()
            if num_ws == 1:
                found.setdefault(_name, 0)
            elif torch.all(v == v[0]) and float(v[0]).is_integer() and 1 <= v[0] <= num_ws:
                found.setdefault(_name, int(v[0]) - 1)
        hooks.append(mod.register_forward_pre_hook(hook))
    try:
        syn(ws, noise_mode="const", force_fp32=True)
    finally:
        for h in hooks:
            h.remove()
    mods = dict(syn.named_modules())
    return sorted(((n, i, _rows(mods[n].weight)) for n, i in found.items()), key=lambda t: t[1])
