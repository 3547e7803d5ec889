"""Equivariance metrics (EQ-T, EQ-T_frac, EQ-R) of networks.training.metrics."""
import math

import pytest
import torch

from networks.ops.lanczos import lanczos_sample
from networks.training import metrics as M


def _pattern(h, w, shift_x=0.0, shift_y=0.0, angle=0.0):
    """A smooth (band-limited) test image sampled at pixel centres, optionally moved/turned (like an image)."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # Content at output pixel p comes from the source point R(-angle) (p - c) + c - shift.
    u, v = xs - cx - shift_x, ys - cy - shift_y
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * u - s * v, s * u + c * v
    img = torch.sin(0.35 * u + 0.2 * v) + 0.5 * torch.cos(0.25 * v - 0.15 * u + 1.0)
    return img.float()[None, None].repeat(2, 3, 1, 1)


def test_reference_warp_integer_shift_is_exact():
    img = torch.randn(2, 3, 20, 24)
    sx, sy = M.reference_source("eqt", 20, 24, 0.0, 3 / 24, -2 / 20, "cpu")
    out, valid = lanczos_sample(img, sx, sy, M.REFERENCE_TAPS)
    # Content moves by (+3, -2) pixels: out[y, x] = img[y + 2, x - 3].
    torch.testing.assert_close(out[:, :, 4:14, 6:20], img[:, :, 6:16, 3:17], rtol=0, atol=1e-6)
    assert valid.sum() > 0 and not valid[0, 0]


def test_reference_warp_fractional_shift_and_rotation_match_analytic_images():
    h = w = 40
    base = _pattern(h, w)
    sx, sy = M.reference_source("eqt_frac", h, w, 0.0, 0.3 / w * 10, -0.45 / h * 10, "cpu")
    out, valid = lanczos_sample(base, sx, sy, M.REFERENCE_TAPS)
    want = _pattern(h, w, shift_x=3.0, shift_y=-4.5)
    assert (out - want)[..., valid].abs().max() < 0.02
    angle = 0.4
    sx, sy = M.reference_source("eqr", h, w, angle, 0, 0, "cpu")
    out, valid = lanczos_sample(base, sx, sy, M.REFERENCE_TAPS)
    want = _pattern(h, w, angle=angle)
    assert valid.sum() > 100
    assert (out - want)[..., valid].abs().max() < 0.02
    assert (base - want)[..., valid].abs().max() > 0.5           # the rotation did something


def test_equivariance_of_a_stylegan3_fixture():
    from networks import load_network_pkl
    G = load_network_pkl("tests/data/nvidia-compat/sg3t-32-cond/network.pkl")["G_ema"]
    before = G.synthesis.input.transform.clone()
    got = M.equivariance(G, ["eqt", "eqt_frac", "eqr"], num_samples=8, batch=4, seed=1)
    assert torch.equal(G.synthesis.input.transform, before)         # works on a copy
    assert set(got) == {"eqt", "eqt_frac", "eqr"} and all(math.isfinite(v) for v in got.values())
    # The convention check: the metric against the image moved the other way must be clearly worse.
    flipped = M.reference_source
    try:
        M.reference_source = lambda kind, h, w, a, tx, ty, dev: flipped(kind, h, w, -a, -tx, -ty, dev)
        wrong = M.equivariance(G, ["eqt", "eqr"], num_samples=8, batch=4, seed=1)
    finally:
        M.reference_source = flipped
    assert got["eqt"] > wrong["eqt"] + 3 and got["eqr"] > wrong["eqr"] + 3, (got, wrong)
    with pytest.raises(ValueError):
        M.equivariance(load_network_pkl("tests/data/nvidia-compat/sg2-32/network.pkl")["G_ema"], ["eqt"])
