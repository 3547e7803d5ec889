"""Each op's fast implementation against its plain reference: values, gradients, double gradients.

Float64 keeps rounding out of the comparison, so the bounds are tight; a wrong tap, offset or gain
moves the result by O(1).
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from networks import ops
from networks.ops.bias_act import activation_funcs, bias_act
from networks.ops.conv2d_resample import conv2d_resample
from networks.ops.filtered_lrelu import filtered_lrelu
from networks.ops.filters import design_lowpass_filter, design_lowpass_filter_ref
from networks.ops.modulated_conv import modulated_conv2d, modulated_conv2d_sg3
from networks.ops.upfirdn2d import setup_filter, upfirdn2d

D = torch.float64


def rnd(*shape, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=D).requires_grad_(grad)


def close(a, b, tol=1e-10):
    err = (a - b).abs().max().item()
    assert err <= tol * max(1.0, b.abs().max().item()), err


def grads(fn, *inputs, seed=1):
    """(output, d<out, g>/d inputs) for a fixed random cotangent g."""
    out = fn(*inputs)
    g = rnd(*out.shape, seed=seed)
    return out, torch.autograd.grad(out, inputs, g)


# ------------------------------------------------------------------------------------------------ upfirdn2d

UPFIRDN_CASES = [
    # up, down, padding, filter shape, flip
    (1, 1, 0, [4], False),
    (2, 1, [2, 1, 3, 0], [4], False),
    (1, 2, [1, 1, 2, 2], [4], True),
    (2, 2, [9, 8, 9, 8], [12], False),
    (4, 2, [-6, -9, -6, -9], [24], False),        # StyleGAN3's 4x layers crop with negative padding
    (1, 2, [5, 6, 5, 6], [12, 12], False),        # 2-D (radial) filter
    (3, 2, [1, -2, 0, 3], [5, 4], True),          # non-square 2-D filter, odd factors
    ([2, 1], [1, 3], [1, 2, 0, 1], [3, 3], False),  # different factors per axis
]


@pytest.mark.parametrize("up,down,padding,fshape,flip", UPFIRDN_CASES)
def test_upfirdn2d_fast_equals_ref_with_gradients(up, down, padding, fshape, flip):
    x = rnd(2, 3, 13, 11, grad=True)
    f = rnd(*fshape, seed=2)
    fn = lambda impl: (lambda t: upfirdn2d(t, f, up, down, padding, flip, gain=1.7, impl=impl))  # noqa: E731
    yf, (gf,) = grads(fn("fast"), x)
    yr, (gr,) = grads(fn("ref"), x)
    close(yf, yr)
    close(gf, gr)
    small = rnd(1, 1, 13, 11, grad=True)  # gradgradcheck costs a backward pass per input element
    assert torch.autograd.gradgradcheck(lambda t: fn("fast")(t) ** 2, (small,))


def test_upfirdn2d_ref_is_the_textbook_definition():
    # 1-D signal through zero insertion, the filter and decimation, written out by hand.
    x = torch.tensor([[[[1.0, 2.0, 3.0]]]], dtype=D)
    f = torch.tensor([1.0, 2.0], dtype=D)
    y = upfirdn2d(x, f[None, :], up=[2, 1], padding=[1, 0, 0, 0], impl="ref")
    z = [0, 1, 0, 2, 0, 3, 0]  # pad 1 on the left, then x with zeros inserted
    expect = [z[i] * 2 + z[i + 1] * 1 for i in range(len(z) - 1)]  # convolution: the filter is flipped
    assert y.flatten().tolist() == expect


def test_setup_filter_normalises_and_keeps_long_filters_separable():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and abs(f.sum().item() - 1) < 1e-6
    g = setup_filter(np.ones(12))
    assert g.shape == (12,) and abs(g.sum().item() - 1) < 1e-6


# ------------------------------------------------------------------------------------------------ bias_act

@pytest.mark.parametrize("act", sorted(activation_funcs))
@pytest.mark.parametrize("clamp", [None, 0.5])
def test_bias_act_fast_equals_ref(act, clamp):
    x = rnd(4, 5, 3, 3, grad=True)
    b = rnd(5, seed=3, grad=True)
    fn = lambda impl: (lambda t, bb: bias_act(t, bb, act=act, gain=1.3, clamp=clamp, impl=impl))  # noqa: E731
    yf, gf = grads(fn("fast"), x, b)
    yr, gr = grads(fn("ref"), x, b)
    close(yf, yr)
    for a, r in zip(gf, gr):
        close(a, r)
    with torch.no_grad():  # the in-place inference path
        close(fn("fast")(x, b), yr)


def test_bias_act_defaults():
    x = torch.tensor([-1.0, 2.0], dtype=D)
    y = bias_act(x, act="lrelu", dim=0)
    close(y, torch.tensor([-0.2, 2.0], dtype=D) * np.sqrt(2))


# ------------------------------------------------------------------------------------------------ conv2d_resample

@pytest.mark.parametrize("up,down,kernel,groups,flip_weight", [
    (1, 1, 3, 1, True), (2, 1, 3, 1, False), (1, 2, 3, 1, True), (1, 2, 1, 1, True), (2, 1, 1, 2, True),
    (1, 1, 3, 2, False),
])
def test_conv2d_resample_fast_equals_ref(up, down, kernel, groups, flip_weight):
    x = rnd(2, 4, 8, 8, grad=True)
    w = rnd(6, 4 // groups, kernel, kernel, seed=4, grad=True)
    f = setup_filter([1, 3, 3, 1])  # float32 by contract; its taps are exact
    fn = lambda impl: (lambda t, ww: conv2d_resample(t, ww, f=f, up=up, down=down, padding=kernel // 2,  # noqa
                                                     groups=groups, flip_weight=flip_weight, impl=impl))
    yf, gf = grads(fn("fast"), x, w)
    yr, gr = grads(fn("ref"), x, w)
    close(yf, yr)
    for a, r in zip(gf, gr):
        close(a, r)


# ------------------------------------------------------------------------------------------------ modulated conv

@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv2d_fused_nonfused_ref_agree(up, demodulate):
    x = rnd(3, 4, 8, 8, grad=True)
    w = rnd(5, 4, 3, 3, seed=5, grad=True)
    s = rnd(3, 4, seed=6, grad=True)
    noise = rnd(3, 1, 8 * up, 8 * up, seed=7)
    f = setup_filter([1, 3, 3, 1])  # float32 by contract; its taps are exact
    kw = dict(noise=noise, up=up, padding=1, resample_filter=f, demodulate=demodulate, flip_weight=up == 1)
    assert_forms_agree(lambda *a, fused: modulated_conv2d(*a, fused_modconv=fused, **kw),
                       lambda *a: modulated_conv2d(*a, impl="ref", **kw), x, w, s)


def assert_forms_agree(fast, ref, *inputs):
    """Fused and non-fused forms of FAST equal REF, values and input gradients."""
    yr, gr = grads(ref, *inputs)
    for fused in (True, False):
        yf, gf = grads(lambda *a: fast(*a, fused=fused), *inputs)
        close(yf, yr)
        for a, r in zip(gf, gr):
            close(a, r)


def test_modulated_conv2d_demodulation_normalises_each_output_channel():
    # A per-sample 1x1 "image" of ones makes the output equal the modulated, demodulated weight itself.
    w = rnd(5, 4, 1, 1)
    s = rnd(2, 4, seed=1)
    y = modulated_conv2d(torch.ones(2, 4, 1, 1, dtype=D), w, s, padding=0)  # [2, 5, 1, 1]
    wm = w[None, :, :, 0, 0] * s[:, None, :]
    expect = wm.sum(2) / (wm.square().sum(2) + 1e-8).sqrt()
    close(y[:, :, 0, 0], expect)


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv2d_sg3_forms_agree(demodulate):
    x = rnd(3, 4, 7, 7, grad=True)
    w = rnd(5, 4, 3, 3, seed=5, grad=True)
    s = rnd(3, 4, seed=6, grad=True)
    gain = torch.tensor(0.7, dtype=D)
    kw = dict(demodulate=demodulate, padding=2, input_gain=gain)
    assert_forms_agree(lambda *a, fused: modulated_conv2d_sg3(*a, fused=fused, **kw),
                       lambda *a: modulated_conv2d_sg3(*a, impl="ref", **kw), x, w, s)


# ------------------------------------------------------------------------------------------------ filtered_lrelu

FLRELU_CASES = [
    # up, down, padding, up taps, down taps, radial down filter, clamp
    (2, 2, [9, 8, 9, 8], 12, 12, False, 0.8),
    (4, 2, [-6, -9, -6, -9], 24, 12, False, None),
    (2, 2, [9, 8, 9, 8], 12, 12, True, 0.5),
    (2, 1, [5, 6, 5, 6], 12, 1, False, None),   # the last layers: no down filter
    (1, 1, [0, 0, 0, 0], 1, 1, False, None),    # ToRGB: no filters, linear
]


@pytest.mark.parametrize("up,down,padding,tu,td,radial,clamp", FLRELU_CASES)
def test_filtered_lrelu_fast_equals_ref_with_gradients(up, down, padding, tu, td, radial, clamp):
    fu = design_lowpass_filter(tu, 2.5, 2, 16)
    fd = design_lowpass_filter(td, 2.5, 2, 16, radial=radial)
    fu, fd = (None if f is None else f.to(D) for f in (fu, fd))
    slope = 1.0 if tu == 1 else 0.2
    x = rnd(2, 3, 16, 16, grad=True)
    b = rnd(3, seed=3, grad=True)
    fn = lambda impl: (lambda t, bb: filtered_lrelu(t, fu, fd, bb, up, down, padding, slope=slope,  # noqa
                                                    clamp=clamp, impl=impl))
    yf, gf = grads(fn("fast"), x, b)
    yr, gr = grads(fn("ref"), x, b)
    close(yf, yr)
    if clamp is not None:
        assert (yr.abs() >= clamp - 1e-12).any(), "the case must exercise the clamp"
    for a, r in zip(gf, gr):
        close(a, r)
    with torch.no_grad():
        close(fn("fast")(x, b), yr)


def test_filtered_lrelu_double_backward():
    fu = design_lowpass_filter(12, 2.5, 2, 16).to(D)
    fd = design_lowpass_filter(12, 2.5, 2, 16, radial=True).to(D)
    x = rnd(1, 2, 8, 8, grad=True)
    b = rnd(2, seed=3, grad=True)
    assert torch.autograd.gradgradcheck(
        lambda t, bb: filtered_lrelu(t, fu, fd, bb, 2, 2, [9, 8, 9, 8], clamp=0.9) ** 2, (x, b))


# ------------------------------------------------------------------------------------------------ filter design

@pytest.mark.parametrize("numtaps,cutoff,width,fs,radial", [
    (12, 2.0, 2.5, 16, False), (24, 4.5, 3.0, 32, False), (6, 1.5, 1.0, 8, False),
    (12, 2.0, 2.5, 16, True), (8, 3.0, 2.0, 16, True),
])
def test_filter_design_matches_its_reference(numtaps, cutoff, width, fs, radial):
    fast = design_lowpass_filter(numtaps, cutoff, width, fs, radial=radial)
    ref = design_lowpass_filter_ref(numtaps, cutoff, width, fs, radial=radial)
    assert fast.shape == ((numtaps, numtaps) if radial else (numtaps,))
    np.testing.assert_allclose(fast.numpy(), ref.numpy(), atol=1e-7)
    assert abs(fast.double().sum().item() - 1) < 1e-6


def _response(f: np.ndarray, freq: float, fs: float, angle: float = 0.0) -> float:
    """|frequency response| of a 1-D or 2-D filter at `freq` (units of fs) in direction `angle` (radians)."""
    n = f.shape[0]
    t = (np.arange(n) - (n - 1) / 2) / fs
    if f.ndim == 1:
        return abs(np.sum(f * np.exp(-2j * np.pi * freq * t)))
    fx, fy = freq * np.cos(angle), freq * np.sin(angle)
    phase = np.exp(-2j * np.pi * (fx * t[None, :] + fy * t[:, None]))
    return abs(np.sum(f * phase))


def test_filters_pass_below_cutoff_and_stop_above_the_transition():
    fs, cutoff, width = 32, 4.0, 4.0
    sep = design_lowpass_filter(24, cutoff, width, fs).double().numpy()
    assert abs(_response(sep, 0.0, fs) - 1) < 1e-6
    assert abs(_response(sep, 1.0, fs) - 1) < 0.02
    assert _response(sep, cutoff + width, fs) < 0.02
    rad = design_lowpass_filter(24, cutoff, width, fs, radial=True).double().numpy()
    np.testing.assert_allclose(rad, rad.T, atol=1e-9)  # mirror symmetric
    # Radially symmetric: the same response along the axis and the diagonal; a separable filter is not.
    assert abs(_response(rad, cutoff + 1, fs, 0.0) - _response(rad, cutoff + 1, fs, np.pi / 4)) < 0.03
    outer = np.outer(sep, sep)
    assert abs(_response(outer, cutoff + 1, fs, 0.0) - _response(outer, cutoff + 1, fs, np.pi / 4)) > 0.05
    assert _response(rad, cutoff + width, fs, np.pi / 4) < 0.02


def test_single_tap_means_no_filter():
    assert design_lowpass_filter(1, 2.0, 2.0, 16) is None


# ------------------------------------------------------------------------------------------------ default_impl

def test_default_impl_switches_ops_in_this_thread_only():
    seen = {}
    with ops.default_impl("ref"):
        assert ops.current_impl() == "ref"
        t = threading.Thread(target=lambda: seen.setdefault("other", ops.current_impl()))
        t.start()
        t.join()
    assert ops.current_impl() == "fast" and seen["other"] == "fast"
    with pytest.raises(ValueError, match="impl"):
        with ops.default_impl("fastest"):
            pass


# ------------------------------------------------------------------------------------------------ whole networks

@pytest.mark.parametrize("name", ["sg2-32", "sg3r-32"])
def test_network_gradients_fast_equal_ref(name):
    """The training path: gradients of a real fixture's image w.r.t. ws and every weight, fast vs reference."""
    from pathlib import Path
    from networks import load_network_pkl
    G = load_network_pkl(Path(__file__).parent / "data" / "nvidia-compat" / name / "network.pkl")["G_ema"]
    G = G.train().requires_grad_(True)  # the networks compute in float32
    ws = rnd(2, G.num_ws, G.w_dim).float().requires_grad_(True)
    params = [ws] + list(G.synthesis.parameters())
    results = {}
    for impl in ("fast", "ref"):
        with ops.default_impl(impl):
            img = G.synthesis(ws, noise_mode="const", force_fp32=True)
            g = rnd(*img.shape, seed=9).float()
            results[impl] = (img, torch.autograd.grad((img * g).sum(), params))
    close(results["fast"][0], results["ref"][0], 1e-5)
    for a, r in zip(results["fast"][1], results["ref"][1]):
        close(a, r, 1e-3)  # float32 sums over many pixels, in different orders


# ------------------------------------------------------------------------------------------------ lanczos

@pytest.mark.parametrize("a", [3, 4])
def test_lanczos_sample_equals_its_reference(a):
    from networks.ops.lanczos import lanczos_sample, lanczos_sample_ref
    img = rnd(1, 2, 9, 11)
    g = torch.Generator().manual_seed(5)
    px = torch.rand(6, 7, generator=g, dtype=D) * 14 - 2      # some positions off the image
    py = torch.rand(6, 7, generator=g, dtype=D) * 12 - 2
    px[0, 0], py[0, 0] = 4.0, 3.0 + 1e-9                        # (almost) a pixel centre: copied exactly
    out, valid = lanczos_sample(img, px, py, a)
    close(out, lanczos_sample_ref(img, px, py, a))
    assert out[0, :, 0, 0].tolist() == img[0, :, 3, 4].tolist()
    inside = (px.floor() - a + 1 >= 0) & (px.floor() + a <= 10) & (py.floor() - a + 1 >= 0) & (py.floor() + a <= 8)
    assert torch.equal(valid, inside)
