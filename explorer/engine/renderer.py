"""render_batch(G, states) -> [RenderResult]: the one function every view of a network goes through (the window's
worker, `sg-explorer images`, video export and the texture-sticking job); render(G, state) is its batch of one.

One seed-to-z (latents.seed_to_z), one truncation (networks.layers.truncate, the mapping network's own), one
quantisation (layers.to_uint8: NVIDIA's v*127.5 + 128, clamped).

Pure apart from StyleGAN3's transform buffer, which is set and restored under a per-network lock so that two
threads rendering with one cached network never see each other's transform.
"""
from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from explorer.engine import layers as L
from explorer.engine.latents import seed_plane_weights, seed_to_z
from explorer.engine.spectrum import power_spectrum_db, spectrum_picture
from explorer.engine.state import RenderState
from explorer.engine.untransform import untransform_image
from networks.layers import truncate as truncate_ws
from networks.stylegan3 import make_transform
from networks.edit.directions import apply_edits, resolve_edits
from explorer.errors import UserError


@dataclass
class RenderResult:
    """What one render produced. Images are uint8 numpy arrays [H, W, 3]."""
    image: Optional[np.ndarray] = None            # the generator's output
    layer_image: Optional[np.ndarray] = None      # the selected layer's shown channels
    spectrum: Optional[np.ndarray] = None         # power spectrum of the layer (state.fft_show)
    layer_values: Optional[np.ndarray] = None     # float32 [C, H, W]: the shown channels before quantisation (readout)
    spectrum_db: Optional[np.ndarray] = None      # float32 [H, W]: the spectrum in dB, DC at [H//2, W//2] (readout)
    stats: Optional[L.LayerStats] = None          # statistics of the selected layer
    layers: Optional[list] = None                 # [(name, (N, C, H, W))] when state.list_layers
    render_ms: float = 0.0                        # wall time of the render, milliseconds
    ops: str = ""                                 # networks.ops implementation the render ran on: 'fast' | 'ref'
    error: Optional[str] = None                   # one-line message when the render failed
    state: Optional[RenderState] = None           # the state this result belongs to
    serial: int = 0                               # the worker's request number (0 outside a worker)
    display: Optional[dict] = None                # what a worker's post hook prepared for showing (GUI)

    @property
    def ok(self) -> bool:
        return self.error is None


# ------------------------------------------------------------------------------------------------
# Network facts

def has_transform(G) -> bool:
    """True for StyleGAN3 (an input layer with a user-transform buffer)."""
    inp = getattr(G.synthesis, "input", None)
    return isinstance(getattr(inp, "transform", None), torch.Tensor)


def network_device(G) -> torch.device:
    for p in G.parameters():
        return p.device
    return torch.device("cpu")


_LOCKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def network_lock(G) -> threading.RLock:
    """The lock to hold while G's transform buffer is changed and used."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(G)
        if lock is None:
            lock = _LOCKS[G] = threading.RLock()
        return lock


# ------------------------------------------------------------------------------------------------
# Latents

def class_vector(G, class_idx: Optional[int], n: int = 1) -> torch.Tensor:
    """One-hot labels [n, c_dim] (empty [n, 0] for unconditional networks)."""
    c = torch.zeros([n, G.c_dim], device=network_device(G))
    if G.c_dim > 0:
        idx = 0 if class_idx is None else int(class_idx)
        if not 0 <= idx < G.c_dim:
            raise UserError(f"class {idx} is out of range; this network has {G.c_dim} classes (0..{G.c_dim - 1})")
        c[:, idx] = 1
    elif class_idx not in (None, 0):
        raise UserError("this network is unconditional; it takes no class")
    return c


def has_styles(G) -> bool:
    """Truncation and style mixing apply: not to ProGAN, whose one "w" row is the normalised z (no w_avg)."""
    return getattr(G, "arch", "") != "progan"


def truncate(G, ws: torch.Tensor, psi: float, cutoff: Optional[int]) -> torch.Tensor:
    """ws [N, num_ws, w_dim] pulled toward G's w_avg by psi on the first `cutoff` ws (all if None), by the mapping
    network's own function; psi = 1 returns ws untouched (as the mapping does), so seeds give bit-identical ws.
    ProGAN has no truncation: its ws are returned untouched for every psi."""
    return ws if psi == 1 or not has_styles(G) else truncate_ws(ws, G.mapping.w_avg, psi, cutoff)


def map_seeds(G, seeds: list[int], class_idx: Optional[int]) -> torch.Tensor:
    """Untruncated ws [len(seeds), num_ws, w_dim] for integer seeds."""
    dev = network_device(G)
    z = torch.from_numpy(np.stack([seed_to_z(s, G.z_dim) for s in seeds])).to(dev)
    return G.mapping(z, class_vector(G, class_idx, len(seeds)), truncation_psi=1)


def blend_seed_ws(G, weights: list[tuple[int, float]], class_idx: Optional[int]) -> torch.Tensor:
    """Bilinear blend of seed ws around w_avg: w_avg + sum_k weight_k (w_k - w_avg) -> [1, num_ws, w_dim].
    A single seed of weight 1 is returned as mapped (no round-off from the blend)."""
    ws = map_seeds(G, [s for s, _ in weights], class_idx)
    if len(weights) == 1 and weights[0][1] == 1.0:
        return ws[:1]
    w_avg = G.mapping.w_avg
    wts = torch.tensor([w for _, w in weights], dtype=ws.dtype, device=ws.device).reshape(-1, 1, 1)
    return (w_avg + ((ws - w_avg) * wts).sum(dim=0, keepdim=True))


def explicit_ws(G, w: list) -> torch.Tensor:
    """A user-supplied w ([w_dim] or [num_ws][w_dim]) as [1, num_ws, w_dim]."""
    t = torch.as_tensor(np.asarray(w, dtype=np.float32), device=network_device(G))
    if t.shape == (G.w_dim,):
        t = t.unsqueeze(0).repeat(G.num_ws, 1)
    if t.shape != (G.num_ws, G.w_dim):
        raise UserError(f"explicit w has shape {list(t.shape)}; this network needs [{G.w_dim}] or "
                        f"[{G.num_ws}, {G.w_dim}]")
    return t.unsqueeze(0)


def compute_ws(G, state: RenderState) -> torch.Tensor:
    """The ws [1, num_ws, w_dim] a state renders: seeds blended (or explicit w), truncated, style-mixed, then edited."""
    if state.w is not None:
        ws = explicit_ws(G, state.w)
    else:
        ws = blend_seed_ws(G, seed_plane_weights(state.x, state.y, state.step_y), state.class_idx)
    ws = truncate(G, ws, state.trunc_psi, state.trunc_cutoff)
    mask = [bool(v) for v in list(state.mix_mask)[:G.num_ws]]
    if any(mask) and has_styles(G):     # ProGAN: nothing to mix (its single row is the whole latent)
        mix = truncate(G, map_seeds(G, [state.mix_seed], state.class_idx), state.trunc_psi, state.trunc_cutoff)
        idx = torch.tensor([i for i, v in enumerate(mask) if v], device=ws.device)
        ws = ws.clone()
        ws[:, idx] = mix[:, idx]
    return apply_edits(ws, resolve_edits(G, state.edits))   # edits move the final ws: psi does not scale them


def state_transform(state: RenderState) -> np.ndarray:
    return make_transform((state.translate_x, state.translate_y), state.rotate)


# ------------------------------------------------------------------------------------------------
# Synthesis

def synthesize(G, ws: torch.Tensor, m: Optional[np.ndarray] = None, noise_mode: str = "const", noise_seed: int = 0,
               force_fp32: bool = False) -> torch.Tensor:
    """G.synthesis(ws) with the user transform m [3, 3] (StyleGAN3; ignored when G has none) -> [N, C, H, W].

    The transform buffer is restored afterwards. Random noise draws from a generator seeded by noise_seed without
    disturbing the global torch RNG.
    """
    with network_lock(G):
        buf = G.synthesis.input.transform if has_transform(G) else None
        saved = buf.clone() if buf is not None else None
        try:
            if buf is not None and m is not None:
                buf.copy_(torch.as_tensor(np.linalg.inv(m), dtype=buf.dtype))
            devices = [ws.device] if ws.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(int(noise_seed))
                return G.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32)
        finally:
            if buf is not None:
                buf.copy_(saved)


def _ops_in_use() -> str:
    """The ops implementation of this thread (a context variable: each render thread has its own)."""
    try:
        from networks.ops import current_impl
    except ImportError:   # a stand-in network without the project's ops
        return ""
    return current_impl()


def _group_key(G, state: RenderState) -> tuple:
    """States with equal keys share one synthesis call: same transform, noise, precision and layer capture.
    Random noise is drawn once per call from its noise_seed, so states of different noise seeds never share one."""
    transform = (state.translate_x, state.translate_y, state.rotate, state.untransform) if has_transform(G) else None
    noise = (state.noise_mode, state.noise_seed) if state.noise_mode == "random" else (state.noise_mode,)
    return (transform, noise, state.force_fp32, state.layer, state.list_layers)


def _groups(G, states: Sequence[RenderState]) -> list[list[int]]:
    """Indices of states grouped by _group_key, each group in the order given."""
    groups: dict = {}
    for i, s in enumerate(states):
        groups.setdefault(_group_key(G, s), []).append(i)
    return list(groups.values())


def _layer_view(result: RenderResult, state: RenderState, x: torch.Tensor, channels: Optional[list]) -> None:
    """Fills the result's layer picture, stats and spectrum from one sample's activations x [C, H, W]."""
    if channels is not None:  # an explicit channel list (video): indices past the end repeat the last channel
        sel = x[[min(c, x.shape[0] - 1) for c in channels]]
        result.layer_image = L.shown_picture(sel, state.amplify_db, state.normalize).cpu().numpy()
        return
    pic, result.stats = L.layer_picture(x, state.base_channel, state.sel_channels, state.amplify_db, state.normalize)
    result.layer_image = pic.cpu().numpy()
    result.layer_values = L.select_channels(x.float(), state.base_channel, state.sel_channels).cpu().numpy()
    if state.fft_show:
        chans = x if state.fft_all else L.select_channels(x, state.base_channel, state.sel_channels)
        db = power_spectrum_db(chans, state.fft_beta)
        result.spectrum_db = db.cpu().numpy()
        result.spectrum = spectrum_picture(chans, state.fft_beta, state.fft_range_db, db=db).cpu().numpy()


@torch.no_grad()
def render_batch(G, states: Sequence[RenderState], ws: Optional[torch.Tensor] = None,
                 channels: Optional[list] = None) -> list[RenderResult]:
    """Renders states with network G (already on their device) -> one RenderResult per state, in order.

    ws [len(states), num_ws, w_dim], when given, replaces compute_ws (video walks interpolate ws themselves);
    channels, when given, lists the layer channels shown instead of base_channel / sel_channels. States that can
    share a synthesis call (see _group_key) are rendered as one batch. Raises UserError for bad settings.
    """
    t0 = time.perf_counter()
    for state in states:
        state.validate()
        if state.layer is not None:
            L.check_layer(G, state.layer)
    if ws is None:
        ws = torch.cat([compute_ws(G, s) for s in states]) if len(states) else None
    results: list = [None] * len(states)
    ops = _ops_in_use()
    for idx in _groups(G, states):
        first = states[idx[0]]
        m = state_transform(first) if has_transform(G) else None
        wanted = None if first.list_layers else ([first.layer] if first.layer else [])
        part = ws if len(idx) == len(states) else ws[idx]
        with L.capture(G, wanted) as acts:
            img = synthesize(G, part, m, first.noise_mode, first.noise_seed, first.force_fp32)
        acts[L.OUTPUT] = img
        if first.untransform and m is not None:
            img = untransform_image(img, m)
        if img.shape[1] == 1:
            img = img.repeat(1, 3, 1, 1)
        pixels = L.to_uint8(img[:, :3]).cpu().numpy()
        if first.layer and first.layer not in acts:
            raise UserError(f"layer {first.layer!r} produced no tensor (a tuple output is named like "
                            f"'{L.hook_base(first.layer)}:0')")
        for j, i in enumerate(idx):
            result = results[i] = RenderResult(state=states[i], ops=ops, image=pixels[j])
            if first.list_layers:
                result.layers = [(name, (1,) + tuple(t.shape[1:])) for name, t in acts.items()]
            if first.layer:
                _layer_view(result, states[i], acts[first.layer][j], channels)
    ms = (time.perf_counter() - t0) * 1000.0
    for result in results:
        result.render_ms = ms
    return results


def render(G, state: RenderState) -> RenderResult:
    """Renders one state with network G (already on the state's device). Raises UserError for bad settings."""
    return render_batch(G, [state])[0]
