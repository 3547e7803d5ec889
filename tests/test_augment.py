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


def test_xflip_only_is_torch_flip():
    x = torch.randn(4, 3, 8, 16)
    assert torch.equal(_pipe(xflip=1)(x), torch.flip(x, dims=[3]))


def test_geometric_ops_keep_shape_and_change_pixels():
    torch.manual_seed(0)
    for op in GEOM_OPS:
        for shape in [(4, 3, 16, 16), (2, 1, 8, 8)]:
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


def test_probability_is_per_image():
    torch.manual_seed(7)
    x = torch.randn(400, 3, 4, 4)
    y = _pipe(p=0.3, xflip=1)(x)
    changed = (y != x).flatten(1).any(1).float().mean().item()
    assert 0.2 < changed < 0.4


def test_gradients_flow_through_bgc():
    torch.manual_seed(8)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = AugmentPipe(**PRESETS["bgc"])(x)
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
