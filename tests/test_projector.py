"""Projection into W: the schedule and the noise penalty against their formulas written out here, LPIPS against
a VGG16 assembled here in torchvision's layout, cancel, the CLI's files, and a projection of an image the shipped
StyleGAN2 drew itself reaching a high PSNR (the random-weight fixtures have no smooth W to descend)."""
import math
import pickle
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from explorer.cli import main
from explorer.engine import RenderState, render
from networks import load_network_pkl
from networks.edit.lpips import LPIPS, LPIPSError, expected_shapes, load_lpips
from networks.edit.projector import (ProjectConfig, learning_rate, noise_regularization, project, psnr,
                                     w_noise_scale)
from test_engine_toy import load

SG2 = "tests/data/nvidia-compat/sg2-32/network.pkl"
DEFAULT_SG2 = "assets/default-sg2.pkl"


def _target(G, seed):
    img = render(G, RenderState(x=seed)).image
    return img, torch.from_numpy(img).permute(2, 0, 1).float() / 127.5 - 1


def test_schedule_values():
    cfg = ProjectConfig(steps=1000)
    assert learning_rate(cfg, 0) == 0                                   # ramp-up starts at 0
    assert learning_rate(cfg, 25) == pytest.approx(0.05)                # half way up the 5% ramp-up
    assert learning_rate(cfg, 500) == pytest.approx(0.1)                # plateau
    assert learning_rate(cfg, 875) == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.5 * math.pi)))  # cosine down
    assert w_noise_scale(cfg, 0, 2.0) == pytest.approx(0.1)             # 2.0 * 0.05
    assert w_noise_scale(cfg, 375, 2.0) == pytest.approx(0.1 * 0.25)    # (1 - 0.5)^2
    assert w_noise_scale(cfg, 800, 2.0) == 0


def test_noise_regularization_equals_numpy_reference():
    rng = np.random.RandomState(0)
    bufs = [rng.randn(32, 32), rng.randn(4, 4)]

    def ref(b):
        total = 0.0
        while True:
            total += np.mean(b * np.roll(b, 1, axis=1)) ** 2 + np.mean(b * np.roll(b, 1, axis=0)) ** 2
            if b.shape[0] <= 8:
                return total
            b = b.reshape(b.shape[0] // 2, 2, b.shape[1] // 2, 2).mean(axis=(1, 3))

    got = noise_regularization([torch.from_numpy(b) for b in bufs])
    assert float(got) == pytest.approx(sum(ref(b) for b in bufs), rel=1e-9)
    smooth = np.ones([16, 16])
    assert float(noise_regularization([torch.from_numpy(smooth)])) == pytest.approx(4.0)   # 2 levels x 2 shifts


def _random_lpips_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    # LPIPS heads are non-negative (a distance); VGG weights small enough that activations stay moderate.
    return {k: torch.randn(s, generator=g) * 0.1 if "features" in k else torch.rand(s, generator=g)
            for k, s in expected_shapes().items()}


def _reference_lpips(state, x, y):
    """VGG16 as torchvision's `features` Sequential (conv at the state's indices, ReLU after each, max-pool at 4,
    9, 16, 23, 30), taps after ReLUs 3, 8, 15, 22, 29; LPIPS as in the paper."""
    layers = []
    for i in range(30):
        if f"features.{i}.weight" in state:
            w = state[f"features.{i}.weight"]
            conv = torch.nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
            conv.weight.data, conv.bias.data = w, state[f"features.{i}.bias"]
            layers.append(conv)
        elif i in (4, 9, 16, 23):
            layers.append(torch.nn.MaxPool2d(2))
        else:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    shift = torch.tensor([-0.030, -0.088, -0.188]).reshape(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).reshape(1, 3, 1, 1)
    a, b, total = (x - shift) / scale, (y - shift) / scale, 0
    for i, layer in enumerate(net):
        a, b = layer(a), layer(b)
        if i in (3, 8, 15, 22, 29):
            k = (3, 8, 15, 22, 29).index(i)
            na = a / (a.square().sum(1, keepdim=True).sqrt() + 1e-10)
            nb = b / (b.square().sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + F.conv2d((na - nb).square(), state[f"lin{k}.model.1.weight"]).mean(dim=(1, 2, 3))
    return total


def test_lpips_equals_reference_vgg(tmp_path):
    state = _random_lpips_state()
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    torch.save(state, tmp_path / "lpips.pt")
    model = load_lpips(tmp_path / "lpips.pt")
    with torch.no_grad():
        got, ref = model(x, y), _reference_lpips(state, x, y)
        assert torch.allclose(got, ref, rtol=1e-4, atol=1e-6) and float(got.min()) > 0
        assert float(model(x, x).abs().max()) == 0


def test_lpips_refuses_bad_files(tmp_path):
    bad = _random_lpips_state()
    bad["lin2.model.1.weight"] = torch.zeros(1, 7, 1, 1)
    torch.save(bad, tmp_path / "shape.pt")
    with pytest.raises(LPIPSError, match="lin2.*shape"):
        load_lpips(tmp_path / "shape.pt")

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))
    (tmp_path / "code.pt").write_bytes(pickle.dumps({"x": Payload()}, protocol=2))
    with pytest.raises(LPIPSError, match="plain state dict"):
        load_lpips(tmp_path / "code.pt")
    with pytest.raises(LPIPSError, match="missing"):
        LPIPS({})


def test_cancel_and_progress_and_lpips_loss():
    G = load("sg2-32")
    _, t = _target(G, 2)
    seen = []
    r = project(G, t, ProjectConfig(steps=50, w_avg_samples=100), lpips=LPIPS(_random_lpips_state()),
                progress=lambda s, n, loss: seen.append((s, n)), cancel=lambda: len(seen) >= 3)
    assert r.cancelled and r.steps_done == 3 and seen == [(1, 50), (2, 50), (3, 50)]
    assert r.w.shape == (1, G.num_ws, G.w_dim) and np.isfinite(r.loss)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    project(G, t, ProjectConfig(steps=2, w_avg_samples=100, w_plus=True))
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())   # the caller's network is untouched


@pytest.mark.slow
def test_projection_of_a_generated_image_reaches_high_psnr():
    G = load_network_pkl(DEFAULT_SG2)["G_ema"]
    target_px, t = _target(G, 5)
    start = project(G, t, ProjectConfig(steps=1, w_avg_samples=2000, optimize_noise=False, initial_lr=0))
    t0 = time.perf_counter()
    r = project(G, t, ProjectConfig(steps=100, w_avg_samples=2000, optimize_noise=False))
    seconds = time.perf_counter() - t0
    got = psnr(r.image, target_px)
    print(f"\nprojection: PSNR {psnr(start.image, target_px):.1f} dB at w_avg -> {got:.2f} dB after 100 steps, "
          f"{r.seconds_per_step * 1000:.1f} ms/step ({seconds:.1f} s)")
    assert got > 24.0 and got > psnr(start.image, target_px) + 8
    # With the network's own noise the state holding the projected w renders exactly proj.png.
    again = render(G, RenderState(w=r.w[0].tolist())).image
    assert np.abs(again.astype(int) - r.image).max() <= 1


def test_project_cli_writes_its_files(tmp_path, capsys):
    G = load("sg2-32")
    px, _ = _target(G, 4)
    Image.fromarray(np.pad(px, ((4, 4), (0, 0), (0, 0)))).save(tmp_path / "t.png")   # not square: cropped
    rc = main(["project", SG2, "--target", str(tmp_path / "t.png"), "--steps", "5", "--w-avg-samples", "100",
               "--video", "--outdir", str(tmp_path / "o")])
    assert rc == 0, capsys.readouterr().err
    o = tmp_path / "o"
    assert np.array_equal(np.asarray(Image.open(o / "target.png")), px)    # centre crop of the padding = px
    with np.load(o / "projected_w.npz") as z:
        assert z["w"].shape == (1, G.num_ws, G.w_dim)
    assert (o / "proj.png").is_file() and (o / "proj.mp4").stat().st_size > 0
    # proj.png is what the saved w draws (with the network's own noise, as NVIDIA's proj.png), also when the
    # projection optimised noise buffers of its own.
    with np.load(o / "projected_w.npz") as z:
        again = render(G, RenderState(w=z["w"][0].tolist())).image
    assert np.abs(again.astype(int) - np.asarray(Image.open(o / "proj.png"))).max() <= 1
    # The video's last frame, decoded back: target | projection (H.264 at 32 px is lossy: compare errors).
    import imageio.v3 as iio
    last = iio.imread(o / "proj.mp4", index=None)[-1].astype(float)
    h = px.shape[0]
    codec = np.abs(last[:h, :h] - px).mean()
    assert np.abs(last[:h, h:2 * h] - again).mean() < codec * 1.5 < np.abs(last[:h, h:2 * h] - px).mean()
    torch.save(_random_lpips_state(), tmp_path / "lpips.pt")
    assert main(["project", SG2, "--target", str(tmp_path / "t.png"), "--steps", "2", "--w-avg-samples", "50",
                 "--lpips", str(tmp_path / "lpips.pt"), "--w-plus", "--outdir", str(tmp_path / "o2")]) == 0
    assert (tmp_path / "o2" / "projected_w.npz").is_file()
    capsys.readouterr()
    (tmp_path / "bad.pt").write_bytes(b"junk")
    assert main(["project", SG2, "--target", str(tmp_path / "t.png"), "--lpips", str(tmp_path / "bad.pt"),
                 "--outdir", str(o)]) == 2
    assert "plain state dict" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["project", SG2, "--target", str(tmp_path / "bad.png"), "--outdir", str(o)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable image" in err and len(err.splitlines()) == 1
