"""The render engine against NVIDIA's own outputs (tests/data/nvidia-compat/*/expected.npz).

Each case builds the RenderState a user would set in the window and checks what the engine computes (ws,
the float synthesis output, the uint8 image, layer activations) against the arrays NVIDIA's code produced.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import networks
from explorer.engine import RenderState, compute_ws, render
from explorer.engine import layers as L
from explorer.engine.renderer import state_transform, synthesize

DATA = Path(__file__).parent / "data" / "nvidia-compat"
_loaded: dict = {}


def _load(name: str):
    if name not in _loaded:
        G = networks.load_network_pkl(DATA / name / "network.pkl")["G_ema"].eval()
        _loaded[name] = (name, G, dict(np.load(DATA / name / "expected.npz")))
    return _loaded[name]


# StyleGAN3-R renders ~5x slower on a CPU than -T: it joins only the transform cases, where rotation matters.
@pytest.fixture(scope="module", params=["sg2-32", "sg3t-32-cond"])
def case(request):
    return _load(request.param)


@pytest.fixture(scope="module", params=["sg3t-32-cond", "sg3r-32"])
def sg3_case(request):
    return _load(request.param)


def _batch(G, states) -> torch.Tensor:
    """The float synthesis output [N, C, H, W] of several states that share a transform, in one pass."""
    ws = torch.cat([compute_ws(G, s) for s in states])
    m = state_transform(states[0]) if G.arch != "stylegan2" else None
    return synthesize(G, ws, m, states[0].noise_mode, force_fp32=True)


def _classes(ref) -> list:
    c = ref["c"]
    return [int(np.argmax(row)) if c.shape[1] else None for row in c]


def _close(got: torch.Tensor, ref: np.ndarray, rel: float) -> None:
    ref_t = torch.from_numpy(ref).to(torch.float32)
    tol = rel * max(1.0, float(ref_t.abs().max()))
    err = float((got.to(torch.float32) - ref_t).abs().max())
    assert err <= tol, f"max |ours - NVIDIA| = {err:.3g} > {tol:.3g}"


def _quantised(img: np.ndarray) -> np.ndarray:
    """NVIDIA's float [C, H, W] -> uint8 [H, W, C] the way its tools save PNGs."""
    return (torch.from_numpy(img) * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def _state(ref, i: int, **kw) -> RenderState:
    return RenderState(x=float(ref["seeds"][i]), class_idx=_classes(ref)[i], force_fp32=True, **kw)


@pytest.mark.parametrize("key,psi,cutoff", [("psi1", 1.0, None), ("psi07", 0.7, None), ("psi05_cut4", 0.5, 4)])
def test_seed_psi_cutoff_ws_and_images(case, key, psi, cutoff):
    _name, G, ref = case
    states = [_state(ref, i, trunc_psi=psi, trunc_cutoff=cutoff) for i in range(len(ref["seeds"]))]
    for i, state in enumerate(states):
        _close(compute_ws(G, state)[0], ref[f"ws_{key}"][i], 1e-4)
    _close(_batch(G, states), ref[f"img_{key}"], 1e-3)
    # The uint8 image is NVIDIA's quantisation of the same float image (one step of round-off allowed).
    shown = render(G, states[-1]).image.astype(int)
    assert np.abs(shown - _quantised(ref[f"img_{key}"][-1])).max() <= 1


def test_stylegan2_noise_mode_none():
    _name, G, ref = _load("sg2-32")      # StyleGAN3 has no noise inputs
    states = [_state(ref, i, noise_mode="none") for i in range(len(ref["seeds"]))]
    _close(_batch(G, states), ref["img_psi1_noise_none"], 1e-3)
    assert not np.allclose(ref["img_psi1_noise_none"], ref["img_psi1"], atol=1e-2)   # the mode matters here


@pytest.mark.parametrize("band,row", [("coarse", 0), ("middle", 1), ("fine", 2)])
def test_style_mixing_images(case, band, row):
    """NVIDIA's case: sample i takes ws [lo, hi) from sample N-1-i; here, as the mixing panel sets it."""
    _name, G, ref = case
    lo, hi = (int(v) for v in ref["mix_ranges"][row])
    seeds, n = ref["seeds"], len(ref["seeds"])
    mask = [lo <= k < hi for k in range(G.num_ws)]
    states = []
    for i in range(n):
        assert _classes(ref)[i] == _classes(ref)[n - 1 - i]   # a mix seed renders with the state's class
        states.append(_state(ref, i, mix_seed=int(seeds[n - 1 - i]), mix_mask=mask))
    _close(_batch(G, states), ref[f"img_mix_{band}"], 1e-3)


@pytest.mark.parametrize("kind", ["tx", "rot", "both"])
def test_stylegan3_transform_cases(sg3_case, kind):
    """The transform panel's translate / rotate give NVIDIA's user-transform images."""
    _name, G, ref = sg3_case
    m = ref[f"transform_{kind}"]
    angle = math.degrees(math.atan2(m[0, 1], m[0, 0]))
    states = [_state(ref, i, translate_x=float(m[0, 2]), translate_y=float(m[1, 2]), rotate=angle)
              for i in range(len(ref["seeds"]))]
    np.testing.assert_allclose(state_transform(states[0]), m, atol=1e-7)
    _close(_batch(G, states), ref[f"img_transform_{kind}"], 1e-3)
    shown = render(G, states[0]).image.astype(int)
    assert np.abs(shown - _quantised(ref[f"img_transform_{kind}"][0])).max() <= 1


def test_every_layer_capture_equals_nvidia_activations(case):
    """The layer view's capture: every synthesis sub-module (tuple outputs as name:i), first 4 channels."""
    _name, G, ref = case
    state = _state(ref, 0)
    expected_names = [k[len("act__"):] for k in ref if k.startswith("act__")]
    with L.capture(G, None) as store:
        synthesize(G, compute_ws(G, state), state_transform(state) if G.arch != "stylegan2" else None,
                   force_fp32=True)
    assert list(store) + [L.OUTPUT] == expected_names
    for name in expected_names[:-1]:
        act = ref[f"act__{name}"]
        _close(store[name][0, : act.shape[0]], act, 1e-3)
    assert all(len(h) == 0 for m in G.synthesis.modules() for h in (m._forward_hooks,))   # hooks removed
    # The list the layer panel shows, and one layer's picture: its first three channels, quantised.
    listed = render(G, state.replace(list_layers=True)).layers
    assert [n for n, _ in listed] == expected_names
    name = expected_names[len(expected_names) // 2]
    r = render(G, state.replace(layer=name, sel_channels=3, base_channel=1))
    pic = L.shown_picture(torch.from_numpy(ref[f"act__{name}"][1:4]))
    assert np.abs(r.layer_image.astype(int) - pic.numpy().astype(int)).max() <= 1
