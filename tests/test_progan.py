"""ProGAN: NVIDIA's TF outputs on the progan-32 fixture, and the README's format facts on synthetic files
(labels and D's label logits, non-fused up/down-sampling, lod blending), re-computed with numpy.

Tolerances (README): max |ours - ref| <= 1e-3 * max(1, max|ref|) for images, activations and scores.
"""
from __future__ import annotations

import functools
import math
import pathlib

import numpy as np
import pytest
import torch

from networks import config as C
from networks import load_network_pkl, save_network_pkl
from networks.build import build_network
from networks.checkpoint import load_bytes
from networks.errors import CheckpointError, UnknownArchitectureError
from networks.pickles import TFNetworkRecord
from networks.progressive import set_lod
from networks.tf_progressive import convert_progan_discriminator, convert_progan_generator

from gui_harness import make_app, xvfb_display  # noqa: F401  (fixtures of the window test)
from test_stylegan1 import close, hooked

DATA = pathlib.Path(__file__).parent / "data" / "nvidia-compat" / "progan-32"


@functools.lru_cache(maxsize=None)
def fixture():
    return dict(np.load(DATA / "expected.npz")), load_network_pkl(DATA / "network.pkl")


def test_fixture_is_progan():
    e, nets = fixture()
    G, D = nets["G_ema"], nets["D"]
    assert (G.arch, D.arch) == ("progan", "progan") and nets["format"] == "nvidia-tensorflow"
    # latent_size was not in static_kwargs: nf(0) = min(fmap_base, fmap_max) = 64, read from the shapes.
    assert (G.z_dim, G.c_dim, G.w_dim, G.num_ws, G.img_resolution) == (64, 0, 64, 1, 32)
    assert G.cfg.fused_scale and D.cfg.fused_scale and float(G.synthesis.lod) == float(e["lod"]) == 0.0
    assert torch.equal(G.mapping.w_avg, torch.zeros(64)) and G.synthesis.w_resolutions == [32]


def test_images_uint8_and_scores():
    e, nets = fixture()
    G, D = nets["G_ema"], nets["D"]
    z = torch.from_numpy(e["z"])
    with torch.no_grad():
        img = G(z, None)
        close(img, e["img"], 1e-3, "img")
        # Truncation does not apply to ProGAN: psi is accepted and ignored.
        assert torch.equal(G(z, None, truncation_psi=0.5, truncation_cutoff=4), img)
        close(G.synthesis(G.mapping(z, None)), e["img"], 1e-3, "mapping + synthesis")
        # util_scripts.py: x * 127.5 + 127.5, round half to even, saturate; NCHW.
        u8 = np.clip(np.rint(img.numpy() * 127.5 + 127.5), 0, 255).astype(np.uint8)
        assert np.abs(u8.astype(int) - e["img_uint8"]).max() <= 1
        close(D(img.clamp(-1, 1), None), e["d_scores"], 1e-3, "d_scores")
        score, labels = D.forward_with_labels(img.clamp(-1, 1))
        assert labels.shape == (4, 0) and torch.equal(score, D(img.clamp(-1, 1)))


def _activation_map(G, D):
    m = {"act__4x4/Dense/Dense": (G.synthesis, "b4.conv0.dense"), "act__4x4/Dense/PixelNorm": (G.synthesis, "b4.conv0")}
    for r in G.synthesis.block_resolutions:
        k = int(math.log2(G.img_resolution // r))
        if r == 4:
            m["act__4x4/Conv/Conv2D"], m["act__4x4/Conv/PixelNorm"] = (G.synthesis, "b4.conv1.conv"), (G.synthesis,
                                                                                                      "b4.conv1")
        else:
            m[f"act__{r}x{r}/Conv0_up/Upscale2DConv2D"] = (G.synthesis, f"b{r}.conv0.conv")
            m[f"act__{r}x{r}/Conv0_up/PixelNorm"] = (G.synthesis, f"b{r}.conv0")
            m[f"act__{r}x{r}/Conv1/Conv2D"] = (G.synthesis, f"b{r}.conv1.conv")
            m[f"act__{r}x{r}/Conv1/PixelNorm"] = (G.synthesis, f"b{r}.conv1")
        m[f"act__ToRGB_lod{k}/Conv2D"] = (G.synthesis, f"b{r}.torgb.conv")
        m[f"act__ToRGB_lod{k}/Bias"] = (G.synthesis, f"b{r}.torgb")
    top = D.img_resolution
    m["dact__FromRGB_lod0/Conv2D"] = (D, f"b{top}.fromrgb.conv")
    m["dact__FromRGB_lod0/LeakyReLU"] = (D, f"b{top}.fromrgb")
    for r in D.block_resolutions:
        m[f"dact__{r}x{r}/Conv0/Conv2D"] = (D, f"b{r}.conv0.conv")
        m[f"dact__{r}x{r}/Conv0/LeakyReLU"] = (D, f"b{r}.conv0")
        m[f"dact__{r}x{r}/Conv1_down/Conv2DDownscale2D"] = (D, f"b{r}.conv1.conv")
        m[f"dact__{r}x{r}/Conv1_down/LeakyReLU"] = (D, f"b{r}.conv1")
    m["dact__4x4/MinibatchStddev"] = (D, "b4.mbstd")
    m["dact__4x4/Conv/Conv2D"], m["dact__4x4/Conv/LeakyReLU"] = (D, "b4.conv.conv"), (D, "b4.conv")
    m["dact__4x4/Dense0/Bias"], m["dact__4x4/Dense1/Bias"] = (D, "b4.fc"), (D, "b4.out")
    return m


def test_activations():
    e, nets = fixture()
    G, D = nets["G_ema"], nets["D"]
    amap = _activation_map(G, D)
    assert set(amap) <= set(e) and len(amap) >= 40
    hooks = {id(net): hooked(net, [n for owner, n in amap.values() if owner is net]) for net in (G.synthesis, D)}
    z = torch.from_numpy(e["z"])
    with torch.no_grad():
        ws = G.mapping(z, None)
        D(G.synthesis(ws).clamp(-1, 1))
    for _, remove in hooks.values():
        remove()
    close(ws[0, 0], e["act__4x4/PixelNorm"], 1e-4, "act__4x4/PixelNorm (the 'w')")
    for key, (net, name) in amap.items():
        ours = hooks[id(net)][0][name][0]
        if ours.ndim == 3 and key != "dact__4x4/MinibatchStddev":
            ours = ours[:4]
        close(ours, e[key], 1e-3, key)


def test_lod_blending_on_the_fixture():
    _, nets = fixture()
    G = load_network_pkl(DATA / "network.pkl")["G_ema"]   # a private copy: lod is changed below
    z = torch.from_numpy(np.random.RandomState(3).randn(2, 64).astype(np.float32))
    for lod, lo in ((0.5, "b16"), (1.25, "b8")):
        set_lod(G, lod)
        outs, rm = hooked(G.synthesis, [f"{lo}.torgb", f"b{int(lo[1:]) * 2}.torgb"])
        with torch.no_grad():
            img = G(z, None)
        rm()
        frac = lod - math.floor(lod)
        hi = outs[f"b{int(lo[1:]) * 2}.torgb"]
        up = outs[f"{lo}.torgb"].repeat_interleave(2, 2).repeat_interleave(2, 3)
        blend = hi + (up - hi) * frac
        scale = 32 // hi.shape[2]
        close(img, blend.repeat_interleave(scale, 2).repeat_interleave(scale, 3).numpy(), 1e-5, f"lod {lod}")
    set_lod(G, 0)
    with torch.no_grad():
        assert torch.equal(G(z, None), nets["G_ema"](z, None))


# ------------------------------------------------------------------------------------------ synthetic files


def _nf(s, base, fmax):
    return min(int(base / 2 ** s), fmax)


def progan_tf_records(res=16, c_dim=0, fused=True, base=64, fmax=16, seed=0, version=2):
    rng = np.random.RandomState(seed)
    r32 = lambda *s: rng.randn(*s).astype(np.float32)  # noqa: E731
    log2 = int(math.log2(res))
    z_dim = _nf(0, base, fmax)
    g = {"lod": np.float32(0), "4x4/Dense/weight": r32(z_dim + c_dim, 16 * _nf(1, base, fmax)),
         "4x4/Dense/bias": r32(_nf(1, base, fmax)) * 0.2}
    for k in range(2, log2 + 1):
        r, c, cp = 2 ** k, _nf(k - 1, base, fmax), _nf(k - 2, base, fmax)
        if r == 4:
            g["4x4/Conv/weight"], g["4x4/Conv/bias"] = r32(3, 3, c, c), r32(c) * 0.2
        else:
            name = "Conv0_up" if fused else "Conv0"
            g[f"{r}x{r}/{name}/weight"] = r32(3, 3, c, cp) if fused else r32(3, 3, cp, c)
            g[f"{r}x{r}/{name}/bias"] = r32(c) * 0.2
            g[f"{r}x{r}/Conv1/weight"], g[f"{r}x{r}/Conv1/bias"] = r32(3, 3, c, c), r32(c) * 0.2
        g[f"ToRGB_lod{log2 - k}/weight"], g[f"ToRGB_lod{log2 - k}/bias"] = r32(1, 1, c, 3), r32(3) * 0.2
    d = {"lod": np.float32(0)}
    for k in range(log2, 1, -1):
        r, c = 2 ** k, _nf(k - 1, base, fmax)
        d[f"FromRGB_lod{log2 - k}/weight"], d[f"FromRGB_lod{log2 - k}/bias"] = r32(1, 1, 3, c), r32(c) * 0.2
        if r > 4:
            c2 = _nf(k - 2, base, fmax)
            down = "Conv1_down" if fused else "Conv1"
            d[f"{r}x{r}/Conv0/weight"], d[f"{r}x{r}/Conv0/bias"] = r32(3, 3, c, c), r32(c) * 0.2
            d[f"{r}x{r}/{down}/weight"], d[f"{r}x{r}/{down}/bias"] = r32(3, 3, c, c2), r32(c2) * 0.2
    c1, c0 = _nf(1, base, fmax), _nf(0, base, fmax)
    d["4x4/Conv/weight"], d["4x4/Conv/bias"] = r32(3, 3, c1 + 1, c1), r32(c1) * 0.2
    d["4x4/Dense0/weight"], d["4x4/Dense0/bias"] = r32(16 * c1, c0), r32(c0) * 0.2
    d["4x4/Dense1/weight"], d["4x4/Dense1/bias"] = r32(c0, 1 + c_dim), r32(1 + c_dim) * 0.2
    kw = {"num_channels": 3, "resolution": res, "label_size": c_dim}
    if not fused:
        kw["fused_scale"] = False
    return (TFNetworkRecord("Gs", version, dict(kw), {}, g, "G_paper"),
            TFNetworkRecord("D", version, dict(kw), {}, d, "D_paper"))


def _load(rec, convert):
    cfg, state = convert(rec)
    net = build_network(cfg)
    net.load_state_dict(state)
    return net.eval()


def _lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def _corr3(x, w):
    """3x3 'SAME' correlation, x [N, in, H, W], w [3, 3, in, out] (numpy)."""
    p = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    h, wd = x.shape[2:]
    return sum(np.einsum("nihw,io->nohw", p[:, :, a:a + h, b:b + wd], w[a, b]) for a in range(3) for b in range(3))


def test_conditional_generator_and_label_logits():
    Gr, Dr = progan_tf_records(c_dim=3)
    G, D = _load(Gr, convert_progan_generator), _load(Dr, convert_progan_discriminator)
    assert (G.z_dim, G.c_dim, G.w_dim, D.c_dim) == (16, 3, 19, 3)
    rng = np.random.RandomState(1)
    z, c = rng.randn(4, 16).astype(np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    x = np.concatenate([z, c], 1).astype(np.float64)        # labels are pixel-normalised with z
    x = x / np.sqrt((x ** 2).mean(1, keepdims=True) + 1e-8)
    w = Gr.variables["4x4/Dense/weight"]
    y = (x @ w) * (math.sqrt(2) / 4 / math.sqrt(w.shape[0]))
    y = _lrelu(y.reshape(4, -1, 4, 4) + Gr.variables["4x4/Dense/bias"][None, :, None, None])
    y = y / np.sqrt((y ** 2).mean(1, keepdims=True) + 1e-8)
    outs, rm = hooked(G.synthesis, ["b4.conv0"])
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(z), torch.from_numpy(c))
        img = G.synthesis(ws)
        rm()
        close(ws[:, 0], x.astype(np.float32), 1e-5, "normalised [z, c]")
        close(outs["b4.conv0"], y.astype(np.float32), 1e-4, "4x4/Dense")
        outs, rm = hooked(D, ["b4.out"])
        score, logits = D.forward_with_labels(img)
        rm()
    assert logits.shape == (4, 3)
    close(torch.cat([score, logits], 1), outs["b4.out"].numpy(), 0, "D output = [score, label logits]")
    assert torch.equal(D(img, torch.from_numpy(c)), score)


def test_non_fused_files():
    Gr, Dr = progan_tf_records(fused=False)
    G, D = _load(Gr, convert_progan_generator), _load(Dr, convert_progan_discriminator)
    assert not G.cfg.fused_scale and not D.cfg.fused_scale
    ins, hs = {}, []
    for net, name in ((G.synthesis, "b8.conv0"), (D, "b16.conv1")):
        hs.append(net.get_submodule(name).register_forward_pre_hook(lambda m, a, n=name: ins.__setitem__(n, a[0])))
    go, rg = hooked(G.synthesis, ["b8.conv0.conv"])
    do, rd = hooked(D, ["b16.conv1"])
    with torch.no_grad():
        D(G(torch.randn(4, 16), None))
    rg(), rd(), [h.remove() for h in hs]
    # G: nearest 2x, then Conv0 as stored (no flip, no transpose).
    w = Gr.variables["8x8/Conv0/weight"].astype(np.float64)
    x = ins["b8.conv0"].double().numpy().repeat(2, 2).repeat(2, 3)
    close(go["b8.conv0.conv"], _corr3(x, w * math.sqrt(2) / math.sqrt(9 * w.shape[2])).astype(np.float32), 1e-4,
          "non-fused Conv0")
    # D: Conv1 + bias + leaky ReLU, and only then the 2x2 average.
    w = Dr.variables["16x16/Conv1/weight"].astype(np.float64)
    y = _lrelu(_corr3(ins["b16.conv1"].double().numpy(), w * math.sqrt(2) / math.sqrt(9 * w.shape[2]))
               + Dr.variables["16x16/Conv1/bias"][None, :, None, None])
    y = y.reshape(4, -1, 8, 2, 8, 2).mean(axis=(3, 5))
    close(do["b16.conv1"], y.astype(np.float32), 1e-4, "non-fused Conv1 then average")


def test_fresh_networks_train_and_round_trip(tmp_path):
    cfg = C.ProGANConfig(latent_size=8, label_size=2, resolution=16, fmap_base=32, fmap_max=8)
    dcfg = C.ProGANDiscriminatorConfig(label_size=2, resolution=16, fmap_base=32, fmap_max=8, fused_scale=False)
    G, D = build_network(cfg), build_network(dcfg)
    set_lod(G, 1.5)
    set_lod(D, 1.5)
    z, c = torch.randn(4, 8), torch.eye(2)[[0, 1, 1, 0]]
    score, logits = D.forward_with_labels(G(z, c))
    (score.sum() + logits.square().sum()).backward()
    used = [p for p in list(G.parameters()) + list(D.parameters()) if p.grad is not None]
    assert len(used) > 10 and all(torch.isfinite(p.grad).all() for p in used)
    assert G.synthesis.b16.conv1.conv.weight.grad is None      # lod 1.5: the 16x16 block is faded out entirely
    path = save_network_pkl(tmp_path / "pg.pkl", {"G_ema": G, "D": D})
    back = load_network_pkl(path)
    assert back["G_ema"].cfg == cfg and back["D"].cfg == dcfg and float(back["D"].lod) == 1.5
    with torch.no_grad():
        assert torch.equal(back["G_ema"](z, c), G(z, c))


def test_refusals():
    Gr, Dr = progan_tf_records(version=3)
    with pytest.raises(UnknownArchitectureError, match="version 3"):
        convert_progan_generator(Gr)
    Gr, _ = progan_tf_records()
    Gr.static_kwargs["use_leakyrelu"] = False
    with pytest.raises(UnknownArchitectureError, match="use_leakyrelu"):
        convert_progan_generator(Gr)
    # A Theano-era file reaches network.Network: refused in one line, nothing run.
    theano = b"\x80\x02cnetwork\nNetwork\nq\x00)\x81q\x01}q\x02b."
    with pytest.raises(CheckpointError, match="Theano-era ProGAN"):
        load_bytes(theano)


# ------------------------------------------------------------------------------------------ the render engine


def test_engine_seeds_and_inapplicable_controls():
    from explorer.engine import RenderState, render
    e, nets = fixture()
    G = nets["G_ema"]
    for i, seed in enumerate(e["seeds"]):
        shown = render(G, RenderState(x=float(seed), force_fp32=True)).image     # [H, W, 3]
        assert np.abs(shown.transpose(2, 0, 1).astype(int) - e["img_uint8"][i]).max() <= 1
    # Truncation and mixing do not apply to ProGAN: the engine leaves the image as it is.
    plain = render(G, RenderState(x=2.0)).image
    assert np.array_equal(render(G, RenderState(x=2.0, trunc_psi=0.3, mix_seed=5, mix_mask=[True])).image, plain)
    # The seed plane blends the normalised latents between seeds.
    assert not np.array_equal(render(G, RenderState(x=2.5)).image, plain)


@pytest.mark.parametrize("argv", [["images", "--seeds", "0", "--trunc", "0.5"],
                                  ["images", "--seeds", "0", "--mix-seed", "3", "--mix-ws", "0"],
                                  ["video", "--seeds", "0-1", "--trunc", "0.7"]])
def test_cli_refuses_truncation_and_mixing(argv, tmp_path, capsys):
    """images / video with --trunc or mixing on ProGAN: one line saying they do not apply, nothing written
    (silently ignoring them would return an image the user did not ask for)."""
    from explorer.cli import main
    out = tmp_path / ("out.mp4" if argv[0] == "video" else "out")
    target = ["--output", str(out)] if argv[0] == "video" else ["--outdir", str(out)]
    assert main([argv[0], str(DATA / "network.pkl"), *argv[1:], *target]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "do not apply: progan has no truncation" in err[0]
    assert not out.exists()


# ------------------------------------------------------------------------------------------ the window


@pytest.mark.gui
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_window_controls_for_stylegan_v1_and_progan(make_app, tmp_path, capsys):
    import shlex

    import dearpygui.dearpygui as dpg
    from PIL import Image

    from explorer.cli import main
    from gui_harness import engine_image, fire, image_on_screen, screenshot, wait_idle
    sg1 = str(DATA.parent / "sg1-32" / "network.pkl")
    app = make_app(sg1)
    wait_idle(app)
    tr, mixing, transform = app.panels["truncation"], app.panels["mixing"], app.panels["transform"]
    assert app.info.arch == "stylegan" and dpg.is_item_shown(tr.noise_group)
    assert dpg.get_item_configuration(tr.widgets["psi"])["enabled"]
    assert "stylegan has no input transform" in dpg.get_value(transform.note)
    fire(app.panels["latent"].seed_input, 2)
    fire(tr.psi_slider, 0.7)
    fire(mixing.widgets["mix_seed"], 1)
    mixing.preset("coarse")                       # StyleGAN's band: the 4-8 px rows
    wait_idle(app)
    assert [i for i, v in enumerate(app.last_state.mix_mask) if v] == [0, 1, 2, 3]
    np.testing.assert_array_equal(image_on_screen(app, screenshot(app, str(tmp_path / "a.png"))),
                                  engine_image(sg1, app.last_state))
    line = app.panels["capture"].copy_command()
    argv = shlex.split(line)
    argv[argv.index("--outdir") + 1] = str(tmp_path / "out")
    assert main(argv[1:]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "seed0002.png")), app.last_result.image)
    # ProGAN: no truncation, no styles to mix, no noise: disabled or hidden, each with its reason.
    pg = str(DATA / "network.pkl")
    app.open_network(pg)
    wait_idle(app)
    assert app.info.arch == "progan" and not dpg.is_item_shown(tr.noise_group)
    assert not dpg.get_item_configuration(tr.widgets["psi"])["enabled"] and dpg.is_item_shown(tr.no_truncation)
    assert dpg.is_item_shown(mixing.no_mixing) and mixing.toggles == [] and not any(app.last_state.mix_mask)
    np.testing.assert_array_equal(image_on_screen(app, screenshot(app, str(tmp_path / "b.png"))),
                                  engine_image(pg, app.last_state))
