"""StyleGAN (v1): NVIDIA's TF outputs on the sg1-32 fixture, and the format facts of the fixtures' README on
synthetic files (conditional, other mapping depth, 128 px fused up-sampling, mid-fade lod), re-computed here
with numpy from the README's definitions.

Tolerances (README): max |ours - ref| <= 1e-4 * max(1, max|ref|) for ws, 1e-3 for images, activations, scores.
"""
from __future__ import annotations

import functools
import json
import math
import pathlib

import numpy as np
import pytest
import torch

from networks import config as C
from networks import load_network_pkl, save_network_pkl
from networks.build import build_network
from networks.ops.blur import blur3
from networks.ops.resample_conv import conv2d_downsample, upsample_conv2d, upsample_conv2d_transposed
from networks.pickles import TFNetworkRecord
from networks.progressive import set_lod
from networks.tf_progressive import convert_stylegan1_discriminator, convert_stylegan1_generator

DATA = pathlib.Path(__file__).parent / "data" / "nvidia-compat" / "sg1-32"


@functools.lru_cache(maxsize=None)
def fixture():
    return (json.loads((DATA / "info.json").read_text()), dict(np.load(DATA / "expected.npz")),
            load_network_pkl(DATA / "network.pkl"))


def close(ours, ref, rel, what):
    ours = ours.detach().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    err, bound = np.abs(ours - ref).max(), rel * max(1.0, float(np.abs(ref).max()))
    assert err <= bound, f"{what}: max error {err:.3g} > {bound:.3g}"


def hooked(module, names):
    """Runs nothing; returns (outputs dict, remove()) for forward hooks on the named sub-modules."""
    out, handles = {}, []
    mods = dict(module.named_modules())
    for name in names:
        handles.append(mods[name].register_forward_hook(lambda m, i, o, n=name: out.__setitem__(n, o)))
    return out, lambda: [h.remove() for h in handles]


# ------------------------------------------------------------------------------------------ the fixture


def test_fixture_is_stylegan_v1():
    info, e, nets = fixture()
    G, D = nets["G_ema"], nets["D"]
    assert nets["format"] == "nvidia-tensorflow"
    assert (G.arch, D.arch, G.cfg.arch) == ("stylegan", "stylegan", "stylegan")
    assert (G.z_dim, G.w_dim, G.c_dim, G.num_ws, G.img_resolution) == (64, 64, 0, info["num_ws"], 32)
    assert G.synthesis.w_resolutions == [4, 4, 8, 8, 16, 16, 32, 32]
    assert float(G.synthesis.lod) == 0.0 and float(D.lod) == 0.0
    assert G.cfg.fmap_base == 512 and G.cfg.fmap_max == 64 and G.cfg.mapping_layers == 8
    # G is Gs with its trainable variables perturbed: a different network.
    assert not torch.equal(nets["G"].synthesis.b8.conv1.conv.weight, G.synthesis.b8.conv1.conv.weight)
    assert set(G.synthesis.layer_shapes()) == set(G.synthesis.layer_names)


@pytest.mark.parametrize("key, psi, cutoff", [("psi1", 1, None), ("psi07_cut8", 0.7, 8), ("psi05_cut4", 0.5, 4)])
def test_ws_and_images(key, psi, cutoff):
    _, e, nets = fixture()
    G = nets["G_ema"]
    z = torch.from_numpy(e["z"])
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=psi, truncation_cutoff=cutoff)
        close(ws, e[f"ws_{key}"], 1e-4, f"ws_{key}")
        close(G.synthesis(ws, noise_mode="const"), e[f"img_{key}"], 1e-3, f"img_{key}")
        close(G(z, None, psi, cutoff, noise_mode="const"), e[f"img_{key}"], 1e-3, f"G() {key}")


def test_cutoff_none_means_every_row():
    # The PyTorch tools' meaning; at 32 px num_ws is 8, so TF's cutoff 8 is every row too.
    _, e, nets = fixture()
    with torch.no_grad():
        ws = nets["G_ema"].mapping(torch.from_numpy(e["z"]), None, truncation_psi=0.7, truncation_cutoff=None)
    close(ws, e["ws_psi07_cut8"], 1e-4, "cutoff None")


def test_style_mix_uint8_and_d():
    _, e, nets = fixture()
    G, D = nets["G_ema"], nets["D"]
    z = torch.from_numpy(e["z"])
    with torch.no_grad():
        ws = G.mapping(z, None)
        mix = ws[:1].clone()
        mix[:, :4] = ws[1:2, :4]
        close(mix, e["ws_mix"], 1e-4, "ws_mix")
        close(G.synthesis(mix, noise_mode="const"), e["img_mix"], 1e-3, "img_mix")
        img = G(z, None, 0.7, 8, noise_mode="const")
        # pretrained_example.py: floor(x * 127.5 + 128) saturated to 0..255, NHWC.
        u8 = np.clip(np.floor(img.numpy() * 127.5 + 128), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
        assert np.abs(u8.astype(int) - e["img_psi07_cut8_uint8"]).max() <= 1
        close(D(G(z, None, noise_mode="const").clamp(-1, 1), None), e["d_scores"], 1e-3, "d_scores")


# TF activation name -> our module (sub-module outputs; the steps between them are not modules).
def _activation_map(G, D):
    m = {}
    for i in range(G.cfg.mapping_layers):
        m[f"map__Dense{i}/Bias"] = (G.mapping, f"fc{i}.dense")
        m[f"map__Dense{i}/LeakyReLU"] = (G.mapping, f"fc{i}")
    for r in G.synthesis.block_resolutions:
        names = (("Const", "conv0"), ("Conv", "conv1")) if r == 4 else (("Conv0_up", "conv0"), ("Conv1", "conv1"))
        for tf, ours in names:
            p = f"act__{r}x{r}/{tf}"
            m[f"{p}/StyleMod"] = (G.synthesis, f"b{r}.{ours}")
            m[f"{p}/StyleMod/Bias"] = (G.synthesis, f"b{r}.{ours}.style")
            m[f"{p}/InstanceNorm"] = (G.synthesis, f"b{r}.{ours}.norm")
            if tf != "Const":
                m[f"{p}/{'Upscale2DConv2D' if tf == 'Conv0_up' else 'Conv2D'}"] = (G.synthesis, f"b{r}.{ours}.conv")
            if tf == "Conv0_up":
                m[f"{p}/Blur2D"] = (G.synthesis, f"b{r}.{ours}.blur")
    top = G.img_resolution
    m["act__ToRGB_lod0/Conv2D"] = (G.synthesis, f"b{top}.torgb.conv")
    m["act__ToRGB_lod0/Bias"] = (G.synthesis, f"b{top}.torgb")
    m["dact__FromRGB_lod0/Conv2D"] = (D, f"b{top}.fromrgb.conv")
    m["dact__FromRGB_lod0/LeakyReLU"] = (D, f"b{top}.fromrgb")
    for r in D.block_resolutions:
        m[f"dact__{r}x{r}/Conv0/Conv2D"] = (D, f"b{r}.conv0.conv")
        m[f"dact__{r}x{r}/Conv0/LeakyReLU"] = (D, f"b{r}.conv0")
        m[f"dact__{r}x{r}/Conv1_down/Blur2D"] = (D, f"b{r}.conv1.blur")
        m[f"dact__{r}x{r}/Conv1_down/Conv2DDownscale2D"] = (D, f"b{r}.conv1.conv")
        m[f"dact__{r}x{r}/Conv1_down/LeakyReLU"] = (D, f"b{r}.conv1")
    m["dact__4x4/MinibatchStddev"] = (D, "b4.mbstd")
    m["dact__4x4/Conv/Conv2D"] = (D, "b4.conv.conv")
    m["dact__4x4/Conv/LeakyReLU"] = (D, "b4.conv")
    m["dact__4x4/Dense0/Bias"] = (D, "b4.fc")
    m["dact__4x4/Dense1/Bias"] = (D, "b4.out")
    return m


def test_activations():
    info, e, nets = fixture()
    G, D = nets["G_ema"], nets["D"]
    amap = _activation_map(G, D)
    assert set(amap) <= set(e) and len(amap) >= 70
    hooks = {}
    for net in (G.mapping, G.synthesis, D):
        hooks[id(net)] = hooked(net, [n for (owner, n) in amap.values() if owner is net])
    z = torch.from_numpy(e["z"])
    with torch.no_grad():
        img = G(z, None, noise_mode="const")
        D(img.clamp(-1, 1), None)
    for _, remove in hooks.values():
        remove()
    for key, (net, name) in amap.items():
        ours = hooks[id(net)][0][name][0]                  # sample 0
        if ours.ndim == 3 and key != "dact__4x4/MinibatchStddev":
            ours = ours[:4]                                # first 4 channels (after the stddev: all)
        close(ours, e[key], 1e-3, key)


def test_noise_modes():
    _, e, nets = fixture()
    G = nets["G_ema"]
    z = torch.from_numpy(e["z"][:2])
    with torch.no_grad():
        const, none = G(z, None, noise_mode="const"), G(z, None, noise_mode="none")
        r1, r2 = G(z, None, noise_mode="random"), G(z, None, noise_mode="random")
    close(const, e["img_psi1"][:2], 1e-3, "const")
    assert (const - none).abs().max() > 1e-2 and (r1 - r2).abs().max() > 1e-2
    with pytest.raises(AssertionError):
        G(z, None, noise_mode="bogus")


# ------------------------------------------------------------------------------------------ synthetic files


def _nf(s, base, fmax):
    return min(int(base / 2 ** s), fmax)


def sg1_tf_records(res=32, z_dim=8, w_dim=8, c_dim=0, map_layers=2, fmaps=8, base=64, fmax=16, seed=0, lod=0.0):
    """A random (G_style, D_basic) pair of TFNetworkRecords with the README's variable names and shapes."""
    rng = np.random.RandomState(seed)
    r32 = lambda *s: rng.randn(*s).astype(np.float32)  # noqa: E731
    log2 = int(math.log2(res))
    mp = {}
    if c_dim:
        mp["LabelConcat/weight"] = r32(c_dim, z_dim)
    feats = [z_dim * (2 if c_dim else 1)] + [fmaps] * (map_layers - 1) + [w_dim]
    for i in range(map_layers):
        mp[f"Dense{i}/weight"] = r32(feats[i], feats[i + 1]) * 100
        mp[f"Dense{i}/bias"] = r32(feats[i + 1]) * 20
    syn = {"lod": np.float32(lod)}
    for k in range(2 * log2 - 2):
        n = 2 ** (k // 2 + 2)
        syn[f"noise{k}"] = r32(1, 1, n, n)

    def layer(scope, cin, cout):
        if cin:
            syn[f"{scope}/weight"] = r32(3, 3, cin, cout)
        syn[f"{scope}/Noise/weight"] = r32(cout) * 0.2
        syn[f"{scope}/bias"] = r32(cout) * 0.2
        syn[f"{scope}/StyleMod/weight"] = r32(w_dim, 2 * cout)
        syn[f"{scope}/StyleMod/bias"] = r32(2 * cout) * 0.2
    for k in range(2, log2 + 1):
        r, c = 2 ** k, _nf(k - 1, base, fmax)
        if r == 4:
            syn["4x4/Const/const"] = r32(1, c, 4, 4)
            layer("4x4/Const", 0, c)
            layer("4x4/Conv", c, c)
        else:
            layer(f"{r}x{r}/Conv0_up", _nf(k - 2, base, fmax), c)
            layer(f"{r}x{r}/Conv1", c, c)
        syn[f"ToRGB_lod{log2 - k}/weight"] = r32(1, 1, c, 3)
        syn[f"ToRGB_lod{log2 - k}/bias"] = r32(3) * 0.2
    kw = {"num_channels": 3, "resolution": res, "label_size": c_dim}
    rec = lambda name, v, comps, fn: TFNetworkRecord(name, 3, dict(kw), comps, v, fn)  # noqa: E731
    G = rec("Gs", {"lod": np.float32(lod), "dlatent_avg": r32(w_dim)},
            {"mapping": rec("G_mapping", mp, {}, "G_mapping"), "synthesis": rec("G_synthesis", syn, {}, "G_synthesis")},
            "G_style")
    d = {"lod": np.float32(lod)}
    for k in range(log2, 1, -1):
        r, c = 2 ** k, _nf(k - 1, base, fmax)
        d[f"FromRGB_lod{log2 - k}/weight"], d[f"FromRGB_lod{log2 - k}/bias"] = r32(1, 1, 3, c), r32(c) * 0.2
        if r > 4:
            d[f"{r}x{r}/Conv0/weight"], d[f"{r}x{r}/Conv0/bias"] = r32(3, 3, c, c), r32(c) * 0.2
            c2 = _nf(k - 2, base, fmax)
            d[f"{r}x{r}/Conv1_down/weight"], d[f"{r}x{r}/Conv1_down/bias"] = r32(3, 3, c, c2), r32(c2) * 0.2
    c1, c0 = _nf(1, base, fmax), _nf(0, base, fmax)
    d["4x4/Conv/weight"], d["4x4/Conv/bias"] = r32(3, 3, c1 + 1, c1), r32(c1) * 0.2
    d["4x4/Dense0/weight"], d["4x4/Dense0/bias"] = r32(16 * c1, c0), r32(c0) * 0.2
    d["4x4/Dense1/weight"], d["4x4/Dense1/bias"] = r32(c0, max(c_dim, 1)), r32(max(c_dim, 1)) * 0.2
    return G, rec("D", d, {}, "D_basic")


def _load(rec, convert):
    cfg, state = convert(rec)
    net = build_network(cfg)
    net.load_state_dict(state)
    return net.eval()


def _lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def test_conditional_mapping_and_scores_vs_numpy():
    Gr, Dr = sg1_tf_records(c_dim=3, map_layers=3, fmaps=12)
    G, D = _load(Gr, convert_stylegan1_generator), _load(Dr, convert_stylegan1_discriminator)
    assert (G.c_dim, G.cfg.mapping_layers, G.cfg.mapping_fmaps, D.c_dim) == (3, 3, 12, 3)
    rng = np.random.RandomState(5)
    z, c = rng.randn(4, 8).astype(np.float32), np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]
    mp = Gr.components["mapping"].variables
    x = np.concatenate([z, c @ mp["LabelConcat/weight"]], 1).astype(np.float64)
    x = x / np.sqrt((x ** 2).mean(1, keepdims=True) + 1e-8)
    for i in range(3):
        w = mp[f"Dense{i}/weight"]
        x = _lrelu(x @ (w * math.sqrt(2) / math.sqrt(w.shape[0]) * 0.01) + mp[f"Dense{i}/bias"] * 0.01)
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(z), torch.from_numpy(c))
        close(ws, np.repeat(x[:, None], G.num_ws, 1), 1e-4, "conditional ws")
        img = G(torch.from_numpy(z), torch.from_numpy(c))
        outs, rm = hooked(D, ["b4.out"])
        scores = D(img, torch.from_numpy(c))
        rm()
    close(scores, (outs["b4.out"].numpy() * c).sum(1, keepdims=True), 1e-5, "label score")


def _tf_conv2d_transpose_up(x, w):
    """README: [3, 3, in, out] weight, in/out swapped, zero-padded to 5x5, four shifts summed, then a
    stride-2 'SAME' conv2d_transpose; x [N, in, H, W] (numpy, float64) -> [N, out, 2H, 2W]."""
    k = np.pad(w.transpose(0, 1, 3, 2), [(1, 1), (1, 1), (0, 0), (0, 0)])
    k = k[1:, 1:] + k[:-1, 1:] + k[1:, :-1] + k[:-1, :-1]             # [4, 4, out, in]
    n, _, h, wd = x.shape
    y = np.zeros([n, k.shape[2], 2 * h + 4, 2 * wd + 4])
    for a in range(4):
        for b in range(4):   # input pixel i lands on output 2i + a - 1 (TF 'SAME' pads 1 on each side)
            y[:, :, a:a + 2 * h:2, b:b + 2 * wd:2] += np.einsum("nihw,oi->nohw", x, k[a, b])
    return y[:, :, 1:1 + 2 * h, 1:1 + 2 * wd]


def _nearest_up_conv(x, w):
    """Nearest 2x, then a 3x3 'SAME' correlation with the stored [3, 3, in, out] weight (numpy)."""
    up = x.repeat(2, 2).repeat(2, 3)
    p = np.pad(up, [(0, 0), (0, 0), (1, 1), (1, 1)])
    h, wd = up.shape[2:]
    return sum(np.einsum("nihw,io->nohw", p[:, :, a:a + h, b:b + wd], w[a, b]) for a in range(3) for b in range(3))


@pytest.mark.slow
def test_128px_fused_upsampling_is_tf_conv2d_transpose():
    Gr, _ = sg1_tf_records(res=128, base=512, fmax=4, map_layers=1)
    G = _load(Gr, convert_stylegan1_generator)
    syn = Gr.components["synthesis"].variables
    ins, handles = {}, []
    for r in (64, 128):
        mod = G.synthesis.get_submodule(f"b{r}.conv0.conv")
        handles.append(mod.register_forward_pre_hook(lambda m, a, r=r: ins.__setitem__(r, a[0])))
    outs, rm = hooked(G.synthesis, ["b64.conv0.conv", "b128.conv0.conv"])
    with torch.no_grad():
        G(torch.randn(2, 8), None)
    rm()
    [h.remove() for h in handles]
    for r, ref_fn in ((64, _nearest_up_conv), (128, _tf_conv2d_transpose_up)):
        w = syn[f"{r}x{r}/Conv0_up/weight"].astype(np.float64)
        w = w * math.sqrt(2) / math.sqrt(9 * w.shape[2])
        ref = ref_fn(ins[r].double().numpy(), w)
        close(outs[f"b{r}.conv0.conv"], ref.astype(np.float32), 1e-4, f"{r}x{r}/Conv0_up")
    # And the two forms differ (the flip matters): the 128 px weight read unflipped is wrong.
    w = syn["128x128/Conv0_up/weight"].astype(np.float64) * math.sqrt(2) / math.sqrt(9 * 4)
    assert np.abs(_nearest_up_conv(ins[128].double().numpy(), w) - outs["b128.conv0.conv"].numpy()).max() > 1e-2
    # D's fused Conv1_down at 128 px = 3x3 correlation with the weight as stored (no flip), then the 2x2 average.
    _, Dr = sg1_tf_records(res=128, base=512, fmax=4, map_layers=1)
    D = _load(Dr, convert_stylegan1_discriminator)
    got = {}
    D.b128.conv1.conv.register_forward_pre_hook(lambda m, a: got.__setitem__("in", a[0]))
    D.b128.conv1.conv.register_forward_hook(lambda m, a, o: got.__setitem__("out", o))
    with torch.no_grad():
        D(torch.randn(2, 3, 128, 128), None)
    w = Dr.variables["128x128/Conv1_down/weight"].astype(np.float64)
    x = got["in"].double().numpy()
    p = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    y = sum(np.einsum("nihw,io->nohw", p[:, :, a:a + 128, b:b + 128], w[a, b]) for a in range(3) for b in range(3))
    y = (y * math.sqrt(2) / math.sqrt(9 * w.shape[2])).reshape(2, -1, 64, 2, 64, 2).mean(axis=(3, 5))
    close(got["out"], y.astype(np.float32), 1e-4, "128x128/Conv1_down")


def test_mid_fade_lod():
    Gr, Dr = sg1_tf_records(lod=0.5)
    G, D = _load(Gr, convert_stylegan1_generator), _load(Dr, convert_stylegan1_discriminator)
    assert float(G.synthesis.lod) == 0.5 and float(D.lod) == 0.5
    z = torch.randn(4, 8)
    outs, rm = hooked(G.synthesis, ["b32.torgb", "b16.torgb"])
    with torch.no_grad():
        img = G(z, None)
    rm()
    up = outs["b16.torgb"].repeat_interleave(2, 2).repeat_interleave(2, 3)
    close(img, (0.5 * (outs["b32.torgb"] + up)).numpy(), 1e-5, "lod 0.5 = mean of the two ToRGBs")
    set_lod(G, 2.0)   # integer lod: the 8x8 image repeated 4x4
    outs, rm = hooked(G.synthesis, ["b8.torgb"])
    with torch.no_grad():
        img = G(z, None)
    rm()
    assert img.shape == (4, 3, 32, 32)
    close(img, outs["b8.torgb"].repeat_interleave(4, 2).repeat_interleave(4, 3).numpy(), 1e-6, "lod 2")
    # D at lod 1 never looks at its 32x32 block; at lod 0.5 it does.
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        set_lod(D, 1.0)
        a = D(x, None)
        D.b32.conv0.conv.weight.mul_(3)
        assert torch.equal(a, D(x, None))
        set_lod(D, 0.5)
        b = D(x, None)
        D.b32.conv0.conv.weight.div_(3)
        assert (b - D(x, None)).abs().max() > 1e-4


# ------------------------------------------------------------------------------------------ ops, training, saving


@pytest.mark.parametrize("size", [8, 16])   # the fast up-sampling conv switches algorithm at 16x16 inputs
def test_blur_and_resampling_fast_equals_reference(size):
    x = torch.randn(2, 5, size, size, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 5, 3, 3, dtype=torch.float64, requires_grad=True)
    k = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    p = np.pad(x.detach().numpy(), [(0, 0), (0, 0), (1, 1), (1, 1)])
    ref = sum(p[:, :, a:a + size, b:b + size] * k[a, b] for a in range(3) for b in range(3))
    for impl in ("fast", "ref"):
        close(blur3(x, impl=impl), ref, 1e-12, f"blur {impl}")
    close(upsample_conv2d_transposed(x, w), upsample_conv2d(x, w, impl="ref").detach().numpy(), 1e-12,
          "TF's fused form")
    for op in (upsample_conv2d, conv2d_downsample):
        fast, slow = op(x, w, impl="fast"), op(x, w, impl="ref")
        close(fast, slow.detach().numpy(), 1e-12, op.__name__)
        g = torch.randn_like(fast)
        gf = torch.autograd.grad(fast, (x, w), g)
        gr = torch.autograd.grad(slow, (x, w), g)
        for a, b in zip(gf, gr):
            close(a, b.numpy(), 1e-12, f"{op.__name__} gradient")


def test_fresh_networks_train_and_round_trip(tmp_path):
    cfg = C.StyleGAN1Config(latent_size=8, dlatent_size=8, mapping_layers=2, mapping_fmaps=8, resolution=16,
                            fmap_base=32, fmap_max=8)
    dcfg = C.StyleGAN1DiscriminatorConfig(resolution=16, fmap_base=32, fmap_max=8)
    G, D = build_network(cfg), build_network(dcfg)
    assert all(p.requires_grad for p in list(G.parameters()) + list(D.parameters()))
    set_lod(G, 0.3)
    set_lod(D, 0.3)
    z = torch.randn(4, 8)
    D(G(z, None, noise_mode="random"), None).sum().backward()
    # At lod 0.3 only levels 0 and 1 are blended (the 4x4 level's alpha is 0): its ToRGB / FromRGB get no gradient.
    unused = {n for n, p in list(G.named_parameters()) + list(D.named_parameters()) if p.grad is None}
    assert unused == {"synthesis.b4.torgb.conv.weight", "synthesis.b4.torgb.bias",
                      "b4.fromrgb.conv.weight", "b4.fromrgb.bias"}
    assert all(torch.isfinite(p.grad).all() for p in list(G.parameters()) + list(D.parameters()) if p.grad is not None)
    path = save_network_pkl(tmp_path / "sg1.pkl", {"G_ema": G, "D": D})
    back = load_network_pkl(path)
    assert back["G_ema"].cfg == cfg and back["D"].cfg == dcfg and float(back["G_ema"].synthesis.lod) == \
        pytest.approx(0.3)
    with torch.no_grad():
        assert torch.equal(back["G_ema"](z, None), G(z, None)) and torch.equal(back["D"](G(z, None), None),
                                                                                D(G(z, None), None))


def test_version_4_and_errors():
    G, D = sg1_tf_records()
    G.version = 4                      # NVlabs/stylegan2 writes 4 for the same v1 networks
    for comp in G.components.values():
        comp.version = 4
    assert convert_stylegan1_generator(G)[0].arch == "stylegan"
    G.static_kwargs["use_styles"] = False
    with pytest.raises(Exception, match="use_styles"):
        convert_stylegan1_generator(G)
    G.static_kwargs.pop("use_styles")
    G.components["synthesis"].variables.pop("8x8/Conv1/bias")
    with pytest.raises(Exception, match="8x8/Conv1/bias"):
        convert_stylegan1_generator(G)
    D.variables["4x4/Dense0/weight"] = D.variables["4x4/Dense0/weight"][:5]
    with pytest.raises(Exception, match="4x4/Dense0"):
        convert_stylegan1_discriminator(D)


# ------------------------------------------------------------------------------------------ the render engine


def test_engine_seed_truncation_mixing_and_layers():
    from explorer.engine import RenderState, compute_ws, render
    from explorer.engine import layers as L
    from explorer.gui.panels.mixing import preset_indices
    _, e, nets = fixture()
    G = nets["G_ema"]
    # A seed is NVIDIA's seed (RandomState(seed).randn), G_style's truncation (psi 0.7, first 8 rows).
    for i, seed in enumerate(e["seeds"]):
        state = RenderState(x=float(seed), trunc_psi=0.7, trunc_cutoff=8, force_fp32=True)
        close(compute_ws(G, state)[0], e["ws_psi07_cut8"][i], 1e-4, f"seed {seed} ws")
        assert np.abs(render(G, state).image.astype(int) - e["img_psi07_cut8_uint8"][i]).max() <= 1
    # generate_figures.py's mix: seed 0 with rows 0-3 from seed 1 = the coarse preset (4-8 px) at 32 px.
    mask = preset_indices(G.num_ws, "coarse", G.synthesis.w_resolutions)
    assert mask == [0, 1, 2, 3] and preset_indices(G.num_ws, "fine", G.synthesis.w_resolutions) == []
    state = RenderState(x=0.0, mix_seed=1, mix_mask=[i in mask for i in range(G.num_ws)], force_fp32=True)
    close(compute_ws(G, state), e["ws_mix"], 1e-4, "mixed ws")
    # The layer view captures each layer's epilogue output, NVIDIA's StyleMod activation.
    with L.capture(G, ["b8.conv1", "b32.torgb"]) as store:
        render(G, RenderState(x=0.0, force_fp32=True))
    close(store["b8.conv1"][0, :4], e["act__8x8/Conv1/StyleMod"], 1e-3, "captured b8.conv1")
    close(store["b32.torgb"][0], e["img_psi1"][0], 1e-3, "captured b32.torgb")


def test_engine_sticking_average():
    from explorer.engine import RenderState, render
    from explorer.engine.sticking import sticking_average
    from explorer.errors import UserError
    _, _, nets = fixture()
    G = nets["G_ema"]
    state = RenderState(x=1.0, force_fp32=True)
    avg = sticking_average(G, state, "latent_walk", frames=4, radius=0.5)
    frames = [render(G, state.replace(x=1.0 + 0.5 * math.cos(a), y=0.5 * math.sin(a))).image.astype(float)
              for a in (0.0, math.pi / 2, math.pi, 3 * math.pi / 2)]
    assert np.abs(avg.astype(int) - np.rint(np.mean(frames, 0))).max() <= 1
    with pytest.raises(UserError, match="stylegan"):       # the translation sweep needs StyleGAN3's input transform
        sticking_average(G, state, "translate", frames=2)


@pytest.mark.parametrize("folder, module", [("sg1-32", "dnnlib.tflib.network"), ("progan-32", "tfutil")])
def test_protocol_5_and_numpy_2_names(folder, module, monkeypatch):
    """The same networks re-pickled the way a Python 3.8+ / NumPy 2 process would write them (protocol 5,
    `numpy._core` names) load to the same weights."""
    import pickle
    import pickletools
    import types

    from networks.checkpoint import load_bytes
    from networks.pickles import safe_load

    class Network:     # a stand-in with the global's name; pickled as NEWOBJ + BUILD of its state dict
        pass
    Network.__module__, Network.__qualname__ = module, "Network"
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        monkeypatch.setitem(__import__("sys").modules, ".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    monkeypatch.setattr(__import__("sys").modules[module], "Network", Network, raising=False)

    def rebuild(rec):
        net = Network()
        net.__dict__.update(version=rec.version, name=rec.name, static_kwargs=rec.static_kwargs,
                            components={k: rebuild(v) for k, v in rec.components.items()},
                            build_module_src="# omitted", build_func_name=rec.build_func_name,
                            variables=list(rec.variables.items()))
        if module == "tfutil":
            del net.__dict__["components"]          # tfutil.Network has no components
        return net
    path = DATA.parent / folder / "network.pkl"
    blob = pickle.dumps(tuple(rebuild(r) for r in safe_load(path)), protocol=5)
    names = {a for op, a, _ in pickletools.genops(blob) if op.name == "SHORT_BINUNICODE"}
    assert blob[1] == 5 and module in names and not any(str(n).startswith("numpy.core") for n in names)
    ours, theirs = load_bytes(blob), load_network_pkl(path)
    for key in ("G", "D", "G_ema"):
        a, b = ours[key].state_dict(), theirs[key].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("folder, arch", [("sg1-32", "stylegan"), ("progan-32", "progan")])
def test_info_and_export_in_the_projects_format(folder, arch, tmp_path, capsys):
    from explorer.cli import main
    path = DATA.parent / folder / "network.pkl"
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["architecture"], info["lod"], info["resolution"]) == (arch, 0.0, 32)
    assert main(["info", str(path)]) == 0
    assert "lod           0 (fully grown)" in capsys.readouterr().out
    nets = load_network_pkl(path)
    back = load_network_pkl(save_network_pkl(tmp_path / "export.pkl", {k: nets[k] for k in ("G", "D", "G_ema")}))
    assert back["format"] == "sg-explorer"
    for key in ("G", "D", "G_ema"):
        assert back[key].cfg == nets[key].cfg and type(back[key]) is type(nets[key])
        a, b = back[key].state_dict(), nets[key].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
