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
    assert _opts("stylegan3-t", metrics=("fid10k",)).validate()          # not a metric name
    assert _opts("stylegan2", metrics=("fid", "kid", "pr")).validate() == []   # image metrics: every cfg
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
    """Stand-in with the NVIDIA interface: ws a linear map of z, images a linear map of tanh(ws), so
    the Jacobian (and the path length) depends on both layers."""

    def __init__(self, z_dim=4, num_ws=3, res=8):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.img_resolution = z_dim, 0, z_dim, num_ws, res
        self.lin = torch.nn.Linear(z_dim, z_dim)
        self.out = torch.nn.Linear(num_ws * z_dim, 3 * res * res)
        self.mapping = lambda z, c, update_emas=False: self.lin(z)[:, None].repeat(1, self.num_ws, 1)
        self.synthesis = lambda ws, noise_mode="random", update_emas=False: \
            self.out(torch.tanh(ws.flatten(1))).view(-1, 3, self.img_resolution, self.img_resolution)


class _TinyD(torch.nn.Module):
    def __init__(self, res=8):
        super().__init__()
        self.fc = torch.nn.Linear(3 * res * res, 1)

    def forward(self, img, c, update_emas=False):
        return self.fc(img.flatten(1) ** 2 * 0.1 + img.flatten(1))


def _phase_grads(loss, phase, net, real, z, gain, seed=5):
    """.grad of net's parameters after loss.accumulate(phase) on one chunk, and its stats."""
    for p in net.parameters():
        p.grad = None
    torch.manual_seed(seed)
    c = torch.zeros(z.shape[0], 0)
    stats = loss.accumulate(phase, real, c, z, c, gain=gain, cur_nimg=0)
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in net.parameters()], stats


def _grad(value, params):
    """d value / d params with plain autograd; zeros for parameters it does not depend on."""
    gs = torch.autograd.grad(value, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params)]


def _setup(seed=0):
    torch.manual_seed(seed)
    G, D = _TinyG(), _TinyD()
    return G, D, torch.randn(6, 3, 8, 8), torch.randn(6, 4)


def test_gmain_and_dmain_gradients_are_the_logistic_losses():
    """Non-saturating logistic loss (Goodfellow et al. 2014; StyleGAN2 eq. for L_G, L_D), chunk mean times gain."""
    G, D, real, z = _setup()
    loss = StyleGANLoss(G, D, None, LossOptions(r1_gamma=4.0))
    D.requires_grad_(False)
    got, stats = _phase_grads(loss, "Gmain", G, real, z, gain=1.0)
    fake = G.synthesis(G.mapping(z, None))
    want = torch.autograd.grad(F.softplus(-D(fake, None)).mean(), list(G.parameters()))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
    assert stats["Loss/G/loss"] == pytest.approx(F.softplus(-D(fake, None)).mean().item(), rel=1e-6)

    G.requires_grad_(False)
    D.requires_grad_(True)
    got, stats = _phase_grads(loss, "Dmain", D, real, z, gain=1.0)
    with torch.no_grad():
        fake = G.synthesis(G.mapping(z, None))
    ref = F.softplus(D(fake, None)).mean() + F.softplus(-D(real, None)).mean()
    for a, b in zip(got, torch.autograd.grad(ref, list(D.parameters()))):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
    logits = D(real, None)
    assert stats["_real_sign_sum"] == torch.sign(logits).sum().item() and stats["_real_count"] == 6


def test_r1_gradient_and_its_ada_signal():
    """R1 (Mescheder et al. 2018): gamma / 2 * E|grad_x D(x)|^2 on reals, times the lazy gain; the R1
    pass's D(real) signs feed ADA too (NVIDIA reports Loss/signs/real in both D passes)."""
    G, D, real, z = _setup(1)
    loss = StyleGANLoss(G, D, None, LossOptions(r1_gamma=4.0))
    G.requires_grad_(False)
    got, stats = _phase_grads(loss, "Dreg", D, real, z, gain=16.0)
    x = real.clone().requires_grad_(True)
    gx, = torch.autograd.grad(D(x, None).sum(), x, create_graph=True)
    r1 = gx.square().sum(dim=[1, 2, 3])
    want = _grad((4.0 / 2) * r1.mean() * 16.0, list(D.parameters()))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
    assert stats["Loss/r1_penalty"] == pytest.approx(r1.mean().item(), rel=1e-6)
    assert stats["_real_sign_sum"] == torch.sign(D(real, None)).sum().item() and stats["_real_count"] == 6


def test_path_length_gradient_uses_the_freshly_blended_mean():
    """StyleGAN2 path-length regulariser E(|J_w^T y|_2 - a)^2, y ~ N(0, I) / sqrt(H W), |.| the rms over
    the ws of each sample, a = lerp(running mean, batch mean, decay) with its gradient (NVIDIA's), on
    batch // shrink samples, weight 2, lazy gain 4."""
    G, D, real, z = _setup(2)
    loss = StyleGANLoss(G, D, None, LossOptions(pl_weight=2.0, pl_batch_shrink=2, pl_decay=0.01))
    loss.pl_mean.fill_(0.3)
    D.requires_grad_(False)
    got, stats = _phase_grads(loss, "Greg", G, real, z, gain=4.0, seed=7)

    def reference(detach_target):
        torch.manual_seed(7)
        ws = G.mapping(z[:3], None)
        img = G.synthesis(ws)
        y = torch.randn_like(img) / math.sqrt(8 * 8)
        jty, = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = jty.square().sum(2).mean(1).sqrt()
        target = 0.3 + 0.01 * (lengths.mean() - 0.3)
        target = target.detach() if detach_target else target
        penalty = (lengths - target).square()
        return _grad(penalty.mean() * 2.0 * 4.0, list(G.parameters())), lengths, penalty

    want, lengths, penalty = reference(False)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-9)
    stale, _, _ = reference(True)                                    # the detached mean: visibly different
    rel = max(float((a - b).abs().max() / b.abs().max().clamp(min=1e-12)) for a, b in zip(got, stale))
    assert rel > 1e-3                                                # (1.1% here)
    assert stats["_pl_length"] == pytest.approx(lengths.mean().item(), rel=1e-6)
    assert stats["Loss/pl_penalty"] == pytest.approx(penalty.mean().item(), rel=1e-5)
    loss.update_pl_mean([stats["_pl_length"]])
    assert loss.pl_mean.item() == pytest.approx(0.3 + 0.01 * (lengths.mean().item() - 0.3), rel=1e-6)
    loss.update_pl_mean([1.0, 2.0])                                  # chunks in order
    m = 0.3 + 0.01 * (lengths.mean().item() - 0.3)
    m = m + 0.01 * (1.0 - m)
    assert loss.pl_mean.item() == pytest.approx(m + 0.01 * (2.0 - m), rel=1e-6)
    # StyleGAN3 has no PL term: Greg does nothing.
    assert StyleGANLoss(G, D, None, LossOptions()).accumulate("Greg", None, torch.zeros(6, 0), z,
                                                              torch.zeros(6, 0), gain=4, cur_nimg=0) == {}


def test_freeze_d_counts_layers_as_nvidia():
    """Freeze-D layer order (NVIDIA's DiscriminatorBlock): per block from the top resolution, fromrgb
    (first block of a resnet D), conv0, conv1, skip."""
    from networks import build_discriminator
    from networks.config import DiscriminatorConfig
    from networks.training.loop import _freeze_d_layers
    D = build_discriminator(DiscriminatorConfig(c_dim=0, img_resolution=16, img_channels=3,
                                                channel_base=256, channel_max=32))
    order = ["b16.fromrgb", "b16.conv0", "b16.conv1", "b16.skip", "b8.conv0", "b8.conv1", "b8.skip"]
    for k in range(len(order) + 2):
        frozen = _freeze_d_layers(D, k)
        want = {n for n, _ in D.named_parameters() if n.rsplit(".", 1)[0] in order[:k]}
        assert frozen == want, k
        assert all(not n.startswith("b4.") for n in frozen)          # the epilogue never freezes


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
