"""ADA augmentation pipeline (networks.training.augment)."""
import math

import numpy as np
import pytest
import torch

from networks.training.augment import PRESETS, AdaController, AugmentPipe

GEOM_OPS = ["xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac"]
COLOR_OPS = ["brightness", "contrast", "lumaflip", "hue", "saturation"]


def _pipe(p=1.0, **ops):
    pipe = AugmentPipe(**ops)
    pipe.p.fill_(p)
    return pipe


def _blob(n, h, w, centre, sigma=2.5):
    """Smooth test pattern: a Gaussian at `centre` (x, y) in pixels from the top-left corner."""
    ys = torch.arange(h, dtype=torch.float32) + 0.5
    xs = torch.arange(w, dtype=torch.float32) + 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    img = torch.exp(-((gx - centre[0]) ** 2 + (gy - centre[1]) ** 2) / (2 * sigma ** 2))
    return img.expand(n, 3, h, w).clone()


def test_p_zero_is_exact_identity():
    x = torch.randn(6, 3, 16, 16)
    pipe = AugmentPipe(**PRESETS["bgcn"])
    pipe.p.zero_()
    assert torch.equal(pipe(x), x)
    assert set(PRESETS["bgc"]) == set(GEOM_OPS + COLOR_OPS)


def _within_binomial(count, n, q, sigmas=4.5):
    """count of n trials is within `sigmas` standard deviations of a Binomial(n, q)."""
    return abs(count - n * q) <= sigmas * math.sqrt(n * q * (1 - q)) + 1e-9


@pytest.mark.parametrize("p", [1.0, 0.4])
def test_xflip_fires_with_p_and_then_mirrors_half(p):
    """NVIDIA: i = floor(2 * U) is applied where U' < p * xflip, so P(mirrored) = p / 2."""
    torch.manual_seed(10)
    n = 4000
    x = torch.randn(n, 1, 2, 4)
    y = _pipe(p=p, xflip=1)(x)
    same = (y == x).flatten(1).all(1)
    flipped = (y == torch.flip(x, dims=[3])).flatten(1).all(1)
    assert bool((same | flipped).all())                                  # nothing but mirror images
    assert _within_binomial(int(flipped.sum()), n, p / 2)


@pytest.mark.parametrize("p", [1.0, 0.5])
def test_rotate90_and_lumaflip_outcomes_are_uniform_once_fired(p):
    torch.manual_seed(11)
    n = 4000
    x = torch.randn(n, 1, 3, 3)
    y = _pipe(p=p, rotate90=1)(x)
    counts = [int((y == torch.rot90(x, k, dims=(2, 3))).flatten(1).all(1).sum()) for k in range(4)]
    assert sum(counts) == n
    assert _within_binomial(counts[0], n, 1 - p * 3 / 4)                # i = floor(4 U): i = 0 is no turn
    for k in (1, 2, 3):
        assert _within_binomial(counts[k], n, p / 4)
    flipped = (_pipe(p=p, lumaflip=1).color_matrix(n, "cpu")[:, 0, 0] != 1).sum()
    assert _within_binomial(int(flipped), n, p / 2)


@pytest.mark.parametrize("op", ["scale", "aniso", "xfrac", "rotate", "xint"])
def test_continuous_geometric_ops_fire_with_probability_p(op):
    """P(the op changes the map) = p; rotation is drawn twice with p_rot = 1 - sqrt(1 - p) so either
    draw fires with p; an integer translation uniform in +-xint_max * 16 px rounds to (0, 0) with
    probability (0.5 / 2)^2, so it moves an image with p * 15 / 16."""
    torch.manual_seed(12)
    n, p = 4000, 0.3
    m, _ = _pipe(p=p, **{op: 1}).geometric_matrix(n, 16, 16, "cpu")
    moved = int(((m - torch.eye(3)).abs().amax(dim=(1, 2)) > 1e-7).sum())
    assert _within_binomial(moved, n, p * (15 / 16 if op == "xint" else 1))


@pytest.mark.parametrize("op", ["brightness", "contrast", "hue", "saturation"])
def test_colour_ops_fire_with_probability_p(op):
    torch.manual_seed(13)
    n, p = 4000, 0.3
    cm = _pipe(p=p, **{op: 1}).color_matrix(n, "cpu")
    changed = int(((cm - torch.eye(4)).abs().amax(dim=(1, 2)) > 1e-7).sum())
    assert _within_binomial(changed, n, p)
    gray = _pipe(p=1, **{op: 1}).color_matrix(n, "cpu", channels=1)
    assert torch.equal(gray, torch.eye(4).expand(n, 4, 4)) == (op in ("hue", "saturation"))  # need colour


def test_noise_and_cutout_fire_with_probability_p():
    torch.manual_seed(14)
    n, p = 2000, 0.3
    x = torch.ones(n, 1, 4, 4)
    for op in ("noise", "cutout"):
        changed = int(((_pipe(p=p, **{op: 1})(x) != x).flatten(1).any(1)).sum())
        assert _within_binomial(changed, n, p), op


def test_db2_taps_and_the_band_split():
    from networks.training.augment import DB2, filter_bank
    h = np.array(DB2)
    np.testing.assert_allclose(h, [-0.12940952255092145, 0.22414386804185735, 0.836516303737469,
                                   0.48296291314469025], atol=1e-15)   # published Daubechies-2 taps
    assert h.sum() == pytest.approx(math.sqrt(2)) and (h ** 2).sum() == pytest.approx(1)
    assert np.dot(h[:2], h[2:]) == pytest.approx(0, abs=1e-15)          # orthogonal to its even shift
    bank = filter_bank()
    assert bank.shape == (4, 43)
    impulse = np.zeros(43)
    impulse[21] = 1
    np.testing.assert_allclose(bank.sum(0), impulse, atol=1e-12)       # the bands add back up
    np.testing.assert_allclose(bank, bank[:, ::-1], atol=1e-15)          # zero phase
    w = np.linspace(0, np.pi, 1025)
    resp = np.abs(np.exp(-1j * np.outer(w, np.arange(43) - 21)) @ bank.T)  # [freq, band]
    np.testing.assert_allclose(resp[0], [1, 0, 0, 0], atol=1e-12)        # DC: lowest band only
    np.testing.assert_allclose(resp[-1], [0, 0, 0, 1], atol=1e-12)       # Nyquist: highest band only
    for i, (lo, hi) in enumerate([(0, np.pi / 8), (np.pi / 8, np.pi / 4), (np.pi / 4, np.pi / 2),
                                  (np.pi / 2, np.pi)]):
        peak = w[np.argmax(resp[:, i])]
        assert lo <= peak <= hi, (i, peak)                               # one octave each


def test_imgfilter_band_probabilities_and_gains():
    """A band fires with p * imgfilter * band_strength; its gain is 2 ** N(0, std^2) relative to the
    other bands; one firing keeps the expected power sum(power * g^2) = 1 (powers 10:1:1:1 / 13)."""
    torch.manual_seed(15)
    n, p = 8000, 0.5
    g = _pipe(p=p, imgfilter=1, imgfilter_bands=[1, 0, 0.5, 0]).imgfilter_gains(n, "cpu")
    unchanged = int((g == 1).all(1).sum())
    assert _within_binomial(unchanged, n, (1 - p) * (1 - p * 0.5))
    single = _pipe(p=1, imgfilter=1, imgfilter_bands=[0, 0, 1, 0], imgfilter_std=0.7).imgfilter_gains(n, "cpu")
    power = torch.tensor([10, 1, 1, 1]) / 13
    torch.testing.assert_close((power * single.square()).sum(1), torch.ones(n), rtol=1e-5, atol=0)
    log_gain = torch.log2(single[:, 2] / single[:, 0])
    assert torch.equal(single[:, 0], single[:, 1]) and torch.equal(single[:, 0], single[:, 3])
    assert log_gain.mean().abs() < 4.5 * 0.7 / math.sqrt(n)
    assert log_gain.std().item() == pytest.approx(0.7, rel=0.05)


def test_imgfilter_applies_the_gained_bank_separably():
    """Against scipy: each image convolved along x then y with sum_i g_i * band_i, mirror padded."""
    from scipy.ndimage import convolve1d
    from networks.training.augment import filter_bank
    torch.manual_seed(16)
    pipe = _pipe(p=1, imgfilter=1)
    x = torch.randn(3, 3, 24, 24, dtype=torch.float64)
    g = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.5, 2.0, 1.0, 0.25], [1.1, 0.3, 3.0, 1.0]])
    y = pipe.apply_band_gains(x, g)
    taps = g.double().numpy() @ filter_bank()
    want = np.stack([convolve1d(convolve1d(xi, t, axis=2, mode="mirror"), t, axis=1, mode="mirror")
                     for xi, t in zip(x.numpy(), taps)])
    np.testing.assert_allclose(y.numpy(), want, atol=1e-6)              # float32 bank taps
    np.testing.assert_allclose(y[0].numpy(), x[0].numpy(), atol=1e-6)   # unit gains: identity
    z = _pipe(p=1, imgfilter=1)(torch.randn(4, 3, 16, 16))               # pads wider than the image
    assert z.shape == (4, 3, 16, 16) and torch.isfinite(z).all()


def test_geometric_ops_keep_shape_and_change_pixels():
    torch.manual_seed(0)
    for op in GEOM_OPS:
        for shape in [(4, 3, 16, 16), (16, 1, 8, 8)]:  # 16: some of them flip
            x = torch.randn(*shape)
            y = _pipe(**{op: 1})(x)
            assert y.shape == x.shape and torch.isfinite(y).all(), op
        assert not torch.equal(y, x), op


def test_integer_translation_moves_a_pattern_exactly():
    torch.manual_seed(1)
    x = torch.zeros(32, 3, 16, 16)
    x[:, :, 8, 7] = torch.tensor([1.0, 2.0, 3.0])
    y = _pipe(xint=1, xint_max=0.125)(x)
    shifts = set()
    for img in y:
        ys, xs = torch.nonzero(img[0], as_tuple=True)
        assert len(ys) == 1                                   # moved, not blurred
        assert img[:, ys[0], xs[0]].tolist() == [1.0, 2.0, 3.0]
        dy, dx = int(ys[0]) - 8, int(xs[0]) - 7
        assert abs(dx) <= 2 and abs(dy) <= 2                  # 0.125 of 16 pixels
        shifts.add((dx, dy))
    assert len(shifts) > 5


def test_rotate90_turns_the_image():
    torch.manual_seed(2)
    x = torch.randn(16, 3, 8, 8)
    y = _pipe(rotate90=1)(x)
    seen = set()
    for a, b in zip(x, y):
        k = [j for j in range(4) if torch.equal(torch.rot90(a, j, dims=(1, 2)), b)]
        assert len(k) == 1
        seen.add(k[0])
    assert seen == {0, 1, 2, 3}


@pytest.mark.parametrize("op", ["scale", "rotate", "aniso", "xfrac"])
def test_smooth_geometric_ops_warp_a_blob_by_their_matrix(op):
    """out(p) = in(M p) for the sampled map M (output -> input, centred pixel coordinates)."""
    h = w = 32
    centre = (13.0, 18.0)
    x = _blob(4, h, w, centre)
    pipe = _pipe(**{op: 1})
    torch.manual_seed(3)
    m, smooth = pipe.geometric_matrix(4, h, w, "cpu")
    torch.manual_seed(3)
    y = pipe(x)
    assert smooth.all()
    ys = torch.arange(h, dtype=torch.float32) + 0.5 - h / 2
    xs = torch.arange(w, dtype=torch.float32) + 0.5 - w / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy, torch.ones_like(gx)]).reshape(3, -1)
    src = (m @ pts)[:, :2].reshape(4, 2, h, w)
    sx, sy = src[:, 0] + w / 2, src[:, 1] + h / 2
    expect = torch.exp(-((sx - centre[0]) ** 2 + (sy - centre[1]) ** 2) / (2 * 2.5 ** 2))
    inner = (slice(None), slice(6, -6), slice(6, -6))  # away from border reflections
    err = (y[:, 0] - expect)[inner].abs().max()
    assert err < 0.03, err
    assert (x[:, 0] - expect)[inner].abs().max() > 0.05      # the op did move the blob


def test_brightness_adds_and_contrast_scales():
    torch.manual_seed(4)
    x = torch.randn(8, 3, 8, 8)
    d = _pipe(brightness=1)(x) - x
    per_image = d.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)
    assert per_image[:, 0].abs().min() > 0
    r = _pipe(contrast=1)(x) / x
    flat = r.flatten(1)
    assert torch.allclose(flat, flat[:, :1].expand_as(flat), atol=1e-4)


def test_lumaflip_negates_luma_and_is_an_involution():
    torch.manual_seed(5)
    x = torch.randn(16, 3, 8, 8)
    y = _pipe(lumaflip=1)(x)
    flipped = 0
    for a, b in zip(x, y):
        if torch.equal(a, b):
            continue
        flipped += 1
        torch.testing.assert_close(b.mean(0), -a.mean(0), atol=1e-5, rtol=0)      # luma negated
        torch.testing.assert_close(b - b.mean(0), a - a.mean(0), atol=1e-5, rtol=0)  # chroma kept
    assert 0 < flipped < 16
    pipe = _pipe(lumaflip=1)
    cm = pipe.color_matrix(8, "cpu")
    torch.testing.assert_close(cm @ cm, torch.eye(4).expand(8, 4, 4), atol=1e-6, rtol=0)


def test_hue_keeps_luma_and_saturation_keeps_grays():
    torch.manual_seed(6)
    x = torch.randn(8, 3, 8, 8)
    y = _pipe(hue=1)(x)
    torch.testing.assert_close(y.mean(1), x.mean(1), atol=1e-5, rtol=0)
    chroma = lambda t: (t - t.mean(1, keepdim=True)).norm(dim=1)
    torch.testing.assert_close(chroma(y), chroma(x), atol=1e-4, rtol=0)
    assert (y - x).abs().max() > 0.1
    gray = torch.randn(8, 1, 8, 8).expand(8, 3, 8, 8)
    torch.testing.assert_close(_pipe(saturation=1)(gray), gray, atol=1e-5, rtol=0)
    assert (_pipe(saturation=1)(x) - x).abs().max() > 0.1


def test_gradients_flow_through_bgc():
    torch.manual_seed(8)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = AugmentPipe(**PRESETS["bgcfnc"])(x)
    (y * torch.randn_like(y)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_ada_controller_steps_p():
    pipe = AugmentPipe(**PRESETS["bgc"])
    pipe.p.zero_()
    ada = AdaController(target=0.6, interval=4, kimg=500)
    batch = 32
    for step in range(8):
        ada.accumulate(torch.ones(batch, 1))                 # D is sure every real is real: overfitting
        rt = ada.maybe_update(pipe, step, batch)
        assert (rt is None) == (step % 4 != 3)
    assert pipe.p.item() == pytest.approx(2 * batch * 4 / 500_000)
    for step in range(8, 20):
        ada.accumulate(-torch.ones(batch, 1))
        ada.maybe_update(pipe, step, batch)
    assert pipe.p.item() == 0.0                              # clamped at zero
    assert ada.last_rt == -1.0
