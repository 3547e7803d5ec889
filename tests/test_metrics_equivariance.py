"""EQ-T, EQ-T_frac, EQ-R (networks.metrics.equivariance) against analytic images and independent references."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from networks import load_network_pkl
from networks.errors import UnsupportedNetworkError
from networks.metrics import equivariance as E

FIXTURES = "tests/data/nvidia-compat"


def _lanczos(d, a=3):
    """NVIDIA's published kernel (paper, appendix E.2): sinc(d) sinc(d / a) on |d| < a."""
    d = np.asarray(d, dtype=np.float64)
    return np.where(np.abs(d) < a, np.sinc(d) * np.sinc(d / a), 0.0)


def _lanczos_shift_numpy(img, sx, sy, a=3):
    """Output pixel by output pixel: value at (x - sx, y - sy) from the 2a x 2a normalised Lanczos taps."""
    n, c, h, w = img.shape
    out, valid = np.zeros(img.shape), np.zeros((h, w), dtype=bool)
    for y in range(h):
        for x in range(w):
            u, v = x - sx, y - sy
            us = np.arange(math.floor(u) - a + 1, math.floor(u) + a + 1)
            vs = np.arange(math.floor(v) - a + 1, math.floor(v) + a + 1)
            wu, wv = _lanczos(u - us), _lanczos(v - vs)
            wu, wv = wu / wu.sum(), wv / wv.sum()
            valid[y, x] = us[0] >= 0 and us[-1] < w and vs[0] >= 0 and vs[-1] < h
            for j, vv in enumerate(vs):
                for i, uu in enumerate(us):
                    if 0 <= uu < w and 0 <= vv < h:
                        out[:, :, y, x] += img[:, :, vv, uu] * wu[i] * wv[j]
    return out, valid


def _wave(h, w, fx, fy, phase=0.3, shift=(0.0, 0.0), turn=None):
    """cos(2 pi (fx u + fy v) + phase) at pixel centres, u, v from the image centre (cycles per pixel).

    shift: content moved by (sx, sy) pixels; turn: angle -> content as rotation_matrix(angle) moves it, i.e. the
    value at p is the original's at [[c, -s], [s, c]] p (y down).
    """
    v, u = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    u, v = u - shift[0], v - shift[1]
    if turn is not None:
        c, s = math.cos(turn), math.sin(turn)
        u, v = c * u - s * v, s * u + c * v
    img = np.cos(2 * np.pi * (fx * u + fy * v) + phase)
    return torch.from_numpy(img).float()[None, None].repeat(1, 2, 1, 1)


# ------------------------------------------------------------------------------------------- integer shift
def test_integer_shift_moves_pixels_exactly_and_masks_the_uncovered_border():
    x = torch.randn(2, 3, 10, 12)
    out, mask = E.integer_shift(x, 3, -2)
    assert torch.equal(out[:, :, 0:8, 3:12], x[:, :, 2:10, 0:9])         # out[y, x] = x[y + 2, x - 3]
    assert mask[:, :, 0:8, 3:12].eq(1).all() and mask.sum() == 2 * 3 * 8 * 9
    assert out[mask == 0].eq(0).all()
    out, mask = E.integer_shift(x, 12, 0)                                   # moved out entirely
    assert mask.sum() == 0 and out.eq(0).all()


# ------------------------------------------------------------------------------------------- Lanczos-3 shift
@pytest.mark.parametrize("sx, sy", [(2.3, -1.7), (-3.5, 0.25), (0.999, 4.01)])
def test_lanczos3_shift_matches_a_numpy_lanczos3(sx, sy):
    img = torch.randn(1, 2, 14, 16)
    got, mask = E.lanczos3_shift(img, torch.tensor(sx), torch.tensor(sy))
    want, valid = _lanczos_shift_numpy(img.double().numpy(), sx, sy)
    assert np.array_equal(mask[0, 0].numpy() == 1, valid) and valid.sum() > 20
    np.testing.assert_allclose(got.numpy()[..., valid], want[..., valid], atol=2e-6)


def test_lanczos3_shift_of_a_sampled_wave_is_the_shifted_wave_within_the_kernels_error():
    fx, fy, sx, sy = 0.11, -0.07, 2.3, -1.6
    got, mask = E.lanczos3_shift(_wave(32, 32, fx, fy), torch.tensor(sx), torch.tensor(sy))
    want = _wave(32, 32, fx, fy, shift=(sx, sy))

    # A separable interpolator scales exp(2 pi i f x) by H(f) = sum_k w_k exp(-2 pi i f (k - frac)) per axis.
    def response(f, s):
        k = np.arange(-2, 4)
        wts = _lanczos(k - (s - math.floor(s)))
        return np.sum(wts / wts.sum() * np.exp(-2j * np.pi * f * (k - (s - math.floor(s)))))
    tol = abs(response(fx, sx) * response(fy, sy) - 1) + 1e-5
    err = (got - want)[mask == 1].abs().max().item()
    assert err <= tol and tol < 0.02, (err, tol)
    assert (_wave(32, 32, fx, fy) - want)[mask == 1].abs().max() > 0.3     # the shift did something


# ------------------------------------------------------------------------------------------- rotations
def test_rotate_turns_a_low_frequency_wave_about_the_image_centre():
    h = w = 48
    fx, fy, angle = 0.07, 0.03, 0.7
    got, mask = E.rotate(_wave(h, w, fx, fy), angle)
    want = _wave(h, w, fx, fy, turn=angle)
    inside = mask == 1
    assert inside.float().mean() > 0.2
    # Bound: bilinear reads on the 4x grid (h^2 / 8 max|f''| with h = 1/4 px) plus the band limit's ripple at
    # 0.08 cycles/px, 0.42 cycles/px from the band edge (beyond the Lanczos-3 window's 1/3 main lobe): < 0.5%.
    bilinear = (1 / 4) ** 2 / 8 * (2 * np.pi * math.hypot(fx, fy)) ** 2
    err = (got - want)[inside].abs().max().item()
    assert err < bilinear + 0.005, err
    wrong = _wave(h, w, fx, fy, turn=-angle)
    assert (got - wrong)[inside].abs().max() > 0.3                         # the direction is not a guess


def test_pseudo_rotation_keeps_the_band_both_grids_share_and_does_not_move():
    h = w = 48
    low, _ = E.pseudo_rotate(_wave(h, w, 0.1, 0.0), math.pi / 4)
    _, mask = E.pseudo_rotate(_wave(h, w, 0.1, 0.0), math.pi / 4)
    inside = mask == 1
    assert (low - _wave(h, w, 0.1, 0.0))[inside].abs().max() < 0.005       # passband, unmoved
    corner = _wave(h, w, 0.42, 0.42)                                         # |f| = 0.59: outside the 45-degree box
    at45, _ = E.pseudo_rotate(corner, math.pi / 4)
    at90, _ = E.pseudo_rotate(corner, math.pi / 2)                           # the box turned by 90 is the box
    rms = lambda t: t[inside].square().mean().sqrt().item()
    assert rms(at45) < 0.2 * rms(corner) and rms(at90) > 2.5 * rms(at45)


# ------------------------------------------------------------------------------------------- PSNR
def test_psnr_of_a_known_mse():
    assert E.psnr(0.04 * 250, 250) == pytest.approx(20.0, abs=1e-9)      # 10 log10(2^2 / 0.04)
    assert E.psnr(4.0 * 7, 7) == pytest.approx(0.0, abs=1e-12)
    assert E.psnr(0.0, 10) == math.inf
    with pytest.raises(ValueError):
        E.psnr(1.0, 0)


# ------------------------------------------------------------------------------------------- toy generators
class _Input(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("transform", torch.eye(3))


class _WaveSynthesis(nn.Module):
    """Sum of low-frequency waves evaluated at T p (T: the transform buffer): translation/rotation-equivariant."""

    def __init__(self, res, sign):
        super().__init__()
        self.res, self.sign, self.input = res, sign, _Input()
        g = torch.Generator().manual_seed(5)
        ang = torch.rand(6, generator=g) * 2 * math.pi
        self.freqs = torch.stack([ang.cos(), ang.sin()], 1) * 0.09 * res   # cycles per image: 0.09 cycles/px

    def forward(self, ws, noise_mode="const", force_fp32=False):
        t = self.input.transform if self.sign > 0 else torch.linalg.inv(self.input.transform)
        c = (torch.arange(self.res, dtype=torch.float32) + 0.5) / self.res - 0.5
        v, u = torch.meshgrid(c, c, indexing="ij")
        pu, pv = t[0, 0] * u + t[0, 1] * v + t[0, 2], t[1, 0] * u + t[1, 1] * v + t[1, 2]
        arg = 2 * math.pi * (pu[..., None] * self.freqs[:, 0] + pv[..., None] * self.freqs[:, 1])  # [H, W, 6]
        img = torch.cos(arg[None] + ws[:, None, None, :6] * 3).mean(-1) * 1.5              # [N, H, W]
        return img[:, None].repeat(1, 3, 1, 1)


class _ToyG(nn.Module):
    z_dim, c_dim, img_resolution = 8, 0, 32

    def __init__(self, sign=1):
        super().__init__()
        self.synthesis = _WaveSynthesis(self.img_resolution, sign)

    def mapping(self, z, c):
        return z


def test_an_exactly_equivariant_toy_scores_high_and_a_wrong_sign_one_low():
    good, bad = _ToyG(1), _ToyG(-1)
    eqt = E.compute(good, "eqt", 8, device="cpu")
    frac = E.compute(good, "eqt_frac", 8, device="cpu")
    eqr = E.compute(good, "eqr", 4, device="cpu")
    assert eqt > 100, eqt                   # whole-pixel shifts are exact: float32 round-off only
    assert 35 < frac < eqt, frac            # bounded by Lanczos-3 interpolation at 0.09 cycles/px
    assert eqr > 30, eqr
    assert E.compute(bad, "eqt", 8, device="cpu") < 20
    assert E.compute(bad, "eqr", 4, device="cpu") < 20


class _OffsetSynthesis(nn.Module):
    """Flat images: 0 on each batch's first render (the untransformed one), ws[i, 0] on its second."""
    offsets = []        # a class attribute: shared with the copy compute() makes

    def __init__(self):
        super().__init__()
        self.input, self.calls = _Input(), 0

    def forward(self, ws, noise_mode="const", force_fp32=False):
        self.calls += 1
        if self.calls % 2:
            return torch.zeros(len(ws), 3, 32, 32)
        self.offsets.extend(ws[:, 0].tolist())
        return ws[:, 0, None, None, None].expand(-1, 3, 32, 32).clone()


def test_psnr_pools_the_squared_error_of_all_images_before_the_log():
    toy = _ToyG()
    toy.synthesis = _OffsetSynthesis()
    _OffsetSynthesis.offsets.clear()
    # translate_max 0: every mask is the whole image, so MSE = mean of the squared offsets.
    got = E.compute(toy, "eqt", 12, device="cpu", cfg=E.EquivarianceConfig(translate_max=0.0))
    d = np.array(_OffsetSynthesis.offsets)
    assert len(d) == 12
    pooled = 20 * np.log10(2) - 10 * np.log10(np.mean(d ** 2))
    per_image = np.mean(20 * np.log10(2) - 10 * np.log10(d ** 2))
    assert got == pytest.approx(pooled, abs=1e-4) and abs(pooled - per_image) > 0.5


# ------------------------------------------------------------------------------------------- real networks
@pytest.fixture
def one_thread():
    """The real networks on one intra-op thread: on a shared 2-core machine two threads run 5x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_fixtures_give_finite_plausible_values_deterministically(one_thread):
    G = load_network_pkl(f"{FIXTURES}/sg3t-32-cond/network.pkl")["G_ema"]
    before = G.synthesis.input.transform.clone()
    got = {k: E.compute(G, k, 4, seed=1, device="cpu") for k in E.NAMES}
    assert torch.equal(G.synthesis.input.transform, before)                 # worked on a copy
    assert all(math.isfinite(v) and 5 < v < 150 for v in got.values()), got
    assert got["eqt"] > got["eqt_frac"] - 3                                  # int shifts need no interpolation
    assert E.compute(G, "eqt_frac", 4, seed=1, device="cpu") == got["eqt_frac"]
    calls = []
    labelled = E.compute(G, "eqt", 6, seed=1, device="cpu", labels=np.eye(3)[[2, 2, 0]],
                         progress=lambda d, n: calls.append((d, n)))
    assert calls == [(4, 6), (6, 6)]                                         # whole batches of 4, as NVIDIA's
    assert math.isfinite(labelled)
    R = load_network_pkl(f"{FIXTURES}/sg3r-32/network.pkl")["G_ema"]
    assert math.isfinite(E.compute(R, "eqr", 4, device="cpu"))


def test_refuses_what_it_cannot_measure():
    G2 = load_network_pkl(f"{FIXTURES}/sg2-32/network.pkl")["G_ema"]
    with pytest.raises(UnsupportedNetworkError, match="stylegan2"):
        E.compute(G2, "eqt", 4, device="cpu")
    with pytest.raises(ValueError, match="unknown equivariance metric"):
        E.compute(_ToyG(), "eq_x", 4, device="cpu")
    with pytest.raises(ValueError, match="at least 1"):
        E.compute(_ToyG(), "eqt", 0, device="cpu")
