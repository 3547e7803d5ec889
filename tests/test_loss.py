"""Losses, regularisers and per-cfg training defaults (networks.training.loss / options)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from networks.training.loss import StyleGANLoss, gaussian_blur
from networks.training.loop import _lazy_optimizer
from networks.training.options import LossOptions, TrainOptions, network_configs


def _opts(cfg, **kw):
    return TrainOptions(cfg=cfg, data="x.zip", outdir="o", batch=kw.pop("batch", 32), gamma=kw.pop("gamma", 8.0), **kw)


def test_cfg_defaults_follow_nvidia():
    sg2, sg3t, sg3r = _opts("stylegan2"), _opts("stylegan3-t"), _opts("stylegan3-r")
    assert (sg2.g_lr, sg2.dlr, sg3t.g_lr, sg3t.dlr) == (0.002, 0.002, 0.0025, 0.002)
    assert sg2.g_reg_interval == 4 and sg3t.g_reg_interval is None and sg2.d_reg_interval == 16
    assert sg2.ema_nimg == 10_000 and _opts("stylegan2", batch=64).ema_nimg == 20_000
    l2, l3t, l3r = sg2.loss_options(), sg3t.loss_options(), sg3r.loss_options()
    assert (l2.style_mixing_prob, l2.pl_weight, l2.pl_decay, l2.pl_batch_shrink) == (0.9, 2.0, 0.01, 2)
    assert (l3t.style_mixing_prob, l3t.pl_weight, l3t.blur_init_sigma) == (0, 0, 0)
    assert (l3r.blur_init_sigma, l3r.blur_fade_kimg) == (10, 200)
    assert l2.r1_gamma == 8.0

    g2, d2 = network_configs(sg2, 64, 3, 0)
    assert g2.mapping.num_layers == 8 and g2.channel_base == 32768 and g2.channel_max == 512
    assert g2.num_fp16_res == 0 and g2.conv_clamp == 256          # fp16 only on CUDA
    assert d2.mbstd_group_size == 4 and d2.channel_base == 32768
    g3r, d3r = network_configs(sg3r, 64, 3, 5)
    assert (g3r.channel_base, g3r.channel_max, g3r.conv_kernel, g3r.use_radial_filters) == (65536, 1024, 1, True)
    assert g3r.mapping.num_layers == 2 and g3r.c_dim == 5 and d3r.c_dim == 5 and d3r.channel_max == 512
    assert g3r.magnitude_ema_beta == pytest.approx(0.5 ** (32 / 20000))
    g3t, _ = network_configs(_opts("stylegan3-t", device="cuda"), 64, 3, 0)
    assert g3t.num_fp16_res == 4 and g3t.conv_kernel == 3 and not g3t.use_radial_filters
    assert network_configs(_opts("stylegan2", map_depth=3, fp32=True), 64, 3, 0)[0].mapping.num_layers == 3
    assert network_configs(_opts("stylegan2", fp32=True), 64, 3, 0)[0].conv_clamp is None


def test_option_validation():
    assert _opts("stylegan2").validate() == []
    assert "multiple of --nproc" in _opts("stylegan2", batch=6, nproc=4).validate()[0]
    assert _opts("stylegan2", metrics=("eqt",)).validate()              # needs StyleGAN3
    assert _opts("stylegan3-t", metrics=("fid",)).validate()
    assert _opts("stylegan3-t", metrics=("eqt", "eqr")).validate() == []
    assert TrainOptions.from_dict(_opts("stylegan2", metrics=("eqt",)).to_dict()) == _opts("stylegan2", metrics=("eqt",))


def test_lazy_regularisation_correction():
    p = [torch.nn.Parameter(torch.zeros(3))]
    opt = _lazy_optimizer(p, 0.002, 16)
    c = 16 / 17
    g = opt.param_groups[0]
    assert g["lr"] == pytest.approx(0.002 * c)
    assert g["betas"][0] == 0 and g["betas"][1] == pytest.approx(0.99 ** c) and g["eps"] == 1e-8
    assert _lazy_optimizer(p, 0.002, None).param_groups[0]["lr"] == 0.002


def _nvidia_blur_reference(img, sigma):
    """numpy/scipy: taps 2 ** -(t / sigma) ** 2, t in [-floor(3 sigma), floor(3 sigma)], normalised,
    as one 2-D kernel (outer product) convolved with zeros outside the image (NVIDIA's run_D blur)."""
    from scipy.signal import convolve2d
    r = int(np.floor(sigma * 3))
    t = np.arange(-r, r + 1, dtype=np.float64)
    f = 2.0 ** (-(t / sigma) ** 2)
    k = np.outer(f, f) / f.sum() ** 2
    return np.stack([[convolve2d(ch, k, mode="same", boundary="fill") for ch in im] for im in img])


@pytest.mark.parametrize("sigma, size", [(2.5, 20), (10.0, 16), (0.34, 8)])
def test_d_input_blur_is_nvidias(sigma, size):
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    want = _nvidia_blur_reference(x.numpy(), sigma)
    torch.testing.assert_close(gaussian_blur(x, sigma), torch.from_numpy(want), rtol=0, atol=1e-12)
    assert not np.allclose(want, x.numpy(), atol=1e-3)                 # it did blur
    y = torch.randn(1, 1, 8, 8)
    assert torch.equal(gaussian_blur(y, 0.33), y) and torch.equal(gaussian_blur(y, 0), y)  # floor(3 sigma) = 0


class _TinyG(torch.nn.Module):
    """Stand-in with the NVIDIA interface: ws are a linear map of z, images a linear map of ws."""

    def __init__(self, z_dim=4, num_ws=3, res=8):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.img_resolution = z_dim, 0, z_dim, num_ws, res
        self.lin = torch.nn.Linear(z_dim, z_dim)
        self.out = torch.nn.Linear(num_ws * z_dim, 3 * res * res)
        self.mapping = lambda z, c, update_emas=False: self.lin(z)[:, None].repeat(1, self.num_ws, 1)
        self.synthesis = lambda ws, noise_mode="random", update_emas=False: \
            self.out(ws.flatten(1)).view(-1, 3, self.img_resolution, self.img_resolution)


class _TinyD(torch.nn.Module):
    def __init__(self, res=8):
        super().__init__()
        self.fc = torch.nn.Linear(3 * res * res, 1)

    def forward(self, img, c, update_emas=False):
        return self.fc(img.flatten(1) ** 2 * 0.1 + img.flatten(1))


def test_d_losses_and_r1_against_hand_computation():
    torch.manual_seed(0)
    G, D = _TinyG(), _TinyD()
    loss = StyleGANLoss(G, D, None, LossOptions(r1_gamma=4.0))
    real = torch.randn(4, 3, 8, 8)
    c = torch.zeros(4, 0)
    z = torch.randn(4, 4)
    stats = loss.accumulate("Dreg", real, c, z, c, gain=16, cur_nimg=0)
    x = real.clone().requires_grad_(True)
    grad, = torch.autograd.grad(D(x, c).sum(), x)
    expect = grad.square().sum(dim=[1, 2, 3]).mean().item()
    assert stats["Loss/r1_penalty"] == pytest.approx(expect, rel=1e-5)
    assert stats["Loss/D/reg"] == pytest.approx(expect * 2.0, rel=1e-5)   # gamma / 2

    D.zero_grad()
    stats = loss.accumulate("Dmain", real, c, z, c, gain=1, cur_nimg=0)
    with torch.no_grad():
        fake = G.synthesis(G.mapping(z, c))
    assert stats["Loss/D/fake"] == pytest.approx(F.softplus(D(fake, c)).mean().item(), rel=1e-5)
    assert stats["Loss/D/real"] == pytest.approx(F.softplus(-D(real, c)).mean().item(), rel=1e-5)
    assert stats["_real_count"] == 4 and stats["_real_sign_sum"] == torch.sign(D(real, c)).sum().item()
    assert D.fc.weight.grad is not None and G.out.weight.grad is None      # D phase leaves G alone


def test_g_loss_and_path_length():
    torch.manual_seed(1)
    G, D = _TinyG(), _TinyD()
    loss = StyleGANLoss(G, D, None, LossOptions(pl_weight=2.0, pl_batch_shrink=2))
    c = torch.zeros(8, 0)
    z = torch.randn(8, 4)
    stats = loss.accumulate("Gmain", None, c, z, c, gain=1, cur_nimg=0)
    fake = G.synthesis(G.mapping(z, c))
    assert stats["Loss/G/loss"] == pytest.approx(F.softplus(-D(fake, c)).mean().item(), rel=1e-5)
    torch.manual_seed(5)
    stats = loss.accumulate("Greg", None, c, z, c, gain=4, cur_nimg=0)
    # Linear synthesis: |J^T y| is the norm of out.weight^T y per w, y ~ N(0, I) / sqrt(H W).
    torch.manual_seed(5)
    ws = G.mapping(z[:4], c[:4]).detach().requires_grad_(True)
    img = G.synthesis(ws)
    noise = torch.randn_like(img) / math.sqrt(64)
    g, = torch.autograd.grad((img * noise).sum(), ws)
    lengths = g.square().sum(2).mean(1).sqrt()
    assert stats["_pl_length"] == pytest.approx(lengths.mean().item(), rel=1e-5)
    assert stats["Loss/pl_penalty"] == pytest.approx(lengths.square().mean().item(), rel=1e-5)  # pl_mean 0
    loss.update_pl_mean(3.0)
    assert loss.pl_mean.item() == pytest.approx(0.03)
    # StyleGAN3 has no PL term: Greg does nothing, Gboth is Gmain.
    loss3 = StyleGANLoss(G, D, None, LossOptions())
    assert loss3.accumulate("Greg", None, c, z, c, gain=4, cur_nimg=0) == {}


def test_blur_schedule_and_style_mixing():
    G, D = _TinyG(num_ws=6), _TinyD()
    loss = StyleGANLoss(G, D, None, LossOptions(blur_init_sigma=10, blur_fade_kimg=200))
    assert loss.blur_sigma(0) == 10 and loss.blur_sigma(100_000) == pytest.approx(5) and loss.blur_sigma(300_000) == 0
    assert StyleGANLoss(G, D, None, LossOptions(blur_init_sigma=10, blur_fade_kimg=0)).blur_sigma(0) == 0  # no fade: off
    mix = StyleGANLoss(G, D, None, LossOptions(style_mixing_prob=1.0))
    torch.manual_seed(2)
    z = torch.randn(3, 4)
    _, ws = mix.run_G(z, torch.zeros(3, 0))
    base = G.mapping(z, None)
    same = (ws - base).abs().amax(dim=(0, 2)) == 0
    cut = int(same.float().sum())
    assert 1 <= cut < 6 and same[:cut].all() and not same[cut:].any()   # a suffix of ws comes from another z
