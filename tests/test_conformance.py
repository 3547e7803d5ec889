"""Number-for-number conformance with NVIDIA's own outputs (tests/data/nvidia-compat).

Tolerances from the fixtures' README: max |ours - ref| <= 1e-4 * max(1, max|ref|) for ws,
<= 1e-3 * max(1, max|ref|) for images, activations and logits.
"""
from __future__ import annotations

import functools
import json
import pathlib

import numpy as np
import pytest
import torch

from networks import build_discriminator, build_generator, load_network_pkl
from networks import config as C
from networks.stylegan3 import inverse_transform

DATA = pathlib.Path(__file__).parent / "data" / "nvidia-compat"
FIXTURES = ["sg2-32", "sg3t-32-cond", "sg3r-32", "sg2-tf-32"]
MANIFESTS = sorted(p.stem for p in (DATA / "manifests").glob("*.json"))


@functools.lru_cache(maxsize=None)
def fixture(name: str):
    info = json.loads((DATA / name / "info.json").read_text())
    expected = dict(np.load(DATA / name / "expected.npz"))
    nets = load_network_pkl(DATA / name / "network.pkl")
    return info, expected, nets


def assert_close(ours: torch.Tensor, ref: np.ndarray, rel: float, what: str):
    ours = ours.detach().cpu().numpy()
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    err = np.abs(ours - ref).max()
    bound = rel * max(1.0, float(np.abs(ref).max()))
    assert err <= bound, f"{what}: max error {err:.3g} > {bound:.3g}"


def inputs(expected):
    return torch.from_numpy(expected["z"]), torch.from_numpy(expected["c"].astype(np.float32))


@pytest.mark.parametrize("name", FIXTURES)
def test_mapping(name):
    info, e, nets = fixture(name)
    G = nets["G_ema"]
    z, c = inputs(e)
    assert (G.z_dim, G.c_dim, G.num_ws, G.img_resolution) == (info["z_dim"], info["c_dim"], info["num_ws"],
                                                              info["img_resolution"])
    for key, psi, cutoff in (("ws_psi1", 1, None), ("ws_psi07", 0.7, None), ("ws_psi05_cut4", 0.5, 4)):
        assert_close(G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff), e[key], 1e-4, key)


@pytest.mark.parametrize("name", FIXTURES)
def test_images(name):
    _, e, nets = fixture(name)
    G = nets["G_ema"]
    cases = ["img_psi1", "img_psi07", "img_psi05_cut4"]
    for key in cases:
        ws = torch.from_numpy(e["ws" + key[3:]])
        assert_close(G.synthesis(ws, noise_mode="const", force_fp32=True), e[key], 1e-3, key)
    if "img_psi1_noise_none" in e:
        img = G.synthesis(torch.from_numpy(e["ws_psi1"]), noise_mode="none", force_fp32=True)
        assert_close(img, e["img_psi1_noise_none"], 1e-3, "noise none")
        # The noise really is applied in 'const' mode: the two must differ.
        assert not np.allclose(e["img_psi1_noise_none"], e["img_psi1"])


@pytest.mark.parametrize("name", FIXTURES)
def test_full_generator_call(name):
    _, e, nets = fixture(name)
    z, c = inputs(e)
    img = nets["G_ema"](z, c, truncation_psi=0.7, noise_mode="const", force_fp32=True)
    assert_close(img, e["img_psi07"], 1e-3, "G(z, c, 0.7)")


@pytest.mark.parametrize("name", FIXTURES)
def test_style_mixing(name):
    _, e, nets = fixture(name)
    ws = torch.from_numpy(e["ws_psi1"])
    for (lo, hi), key in zip(e["mix_ranges"], ("img_mix_coarse", "img_mix_middle", "img_mix_fine")):
        mixed = ws.clone()
        mixed[:, lo:hi] = ws.flip(0)[:, lo:hi]
        assert_close(nets["G_ema"].synthesis(mixed, noise_mode="const", force_fp32=True), e[key], 1e-3, key)


@pytest.mark.parametrize("name", ["sg3t-32-cond", "sg3r-32"])
def test_input_transform(name):
    _, e, nets = fixture(name)
    G = nets["G_ema"]
    ws = torch.from_numpy(e["ws_psi1"])
    buf = G.synthesis.input.transform
    saved = buf.clone()
    try:
        for case in ("tx", "rot", "both"):
            buf.copy_(torch.from_numpy(inverse_transform(e[f"transform_{case}"])).float())
            img = G.synthesis(ws, noise_mode="const", force_fp32=True)
            assert_close(img, e[f"img_transform_{case}"], 1e-3, case)
    finally:
        buf.copy_(saved)


def capture_activations(G, ws) -> dict[str, torch.Tensor]:
    """Every synthesis sub-module's output, named as in info.json ('<name>' or '<name>:<index>')."""
    acts: dict[str, torch.Tensor] = {}
    handles = []

    def hook(name):
        def fn(_module, _inputs, out):
            if isinstance(out, (tuple, list)):
                for i, t in enumerate(out):
                    acts[f"{name}:{i}"] = t
            else:
                acts[name] = out
        return fn

    for name, module in G.synthesis.named_modules():
        if name:
            handles.append(module.register_forward_hook(hook(name)))
    try:
        acts["output"] = G.synthesis(ws, noise_mode="const", force_fp32=True)
    finally:
        for h in handles:
            h.remove()
    return acts


@pytest.mark.parametrize("name", FIXTURES)
def test_layer_activations(name):
    info, e, nets = fixture(name)
    acts = capture_activations(nets["G_ema"], torch.from_numpy(e["ws_psi1"]))
    layers = info["synthesis_layers"]
    assert len(layers) == len([k for k in e if k.startswith("act__")])
    for layer in layers:
        key = layer["name"]
        assert key in acts, f"no activation {key}"
        assert list(acts[key][:1].shape) == layer["shape"], key
        assert_close(acts[key][0, :4], e["act__" + key], 1e-3, key)
    # The public list of hookable layers covers every module-level entry of the reference.
    listed = set(nets["G_ema"].synthesis.layer_names)
    assert {l["name"].split(":")[0] for l in layers} - {"output"} <= listed


@pytest.mark.parametrize("name", FIXTURES)
def test_discriminator(name):
    _, e, nets = fixture(name)
    _, c = inputs(e)
    logits = nets["D"](torch.from_numpy(e["img_psi1"]).clamp(-1, 1), c)
    assert_close(logits, e["d_logits"], 1e-3, "D logits")


@pytest.mark.parametrize("name", FIXTURES)
def test_designed_filters_match_checkpoint(name):
    """Our filter design and layer schedule reproduce the buffers NVIDIA's code stored."""
    info, _, nets = fixture(name)
    cfg = nets["G_ema"].cfg
    fresh = build_generator(cfg)
    ours, theirs = fresh.state_dict(), nets["G_ema"].state_dict()
    keys = [k for k in theirs if k.endswith(("up_filter", "down_filter", "resample_filter"))]
    assert keys
    for k in keys:
        assert ours[k].shape == theirs[k].shape, k
        assert torch.allclose(ours[k], theirs[k], atol=1e-6, rtol=1e-5), k


def _state_shapes(module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_names_and_shapes(name):
    m = json.loads((DATA / "manifests" / f"{name}.json").read_text())
    G = build_generator(C.generator_config_from_nvidia(m["cfg"], m["G_init_kwargs"]))
    assert _state_shapes(G) == m["G_state"]
    assert G.num_ws == m["num_ws"]
    D = build_discriminator(C.discriminator_config_from_nvidia(m["D_init_kwargs"]))
    assert _state_shapes(D) == m["D_state"]
    # Layer list and shapes, as NVIDIA's hooks saw them (batch 1), known without running the network.
    # (The manifests name both outputs of a block 'b4' where info.json says 'b4:0', 'b4:1'.)
    expected = [(l["name"].split(":")[0], l["shape"][1:]) for l in m["synthesis_layers"] if l["name"] != "output"]
    assert [(n.split(":")[0], s) for n, s in G.synthesis.layer_shapes().items()] == expected
    modules = list(dict.fromkeys(n for n, _ in expected))
    assert G.synthesis.layer_names == modules


@pytest.mark.parametrize("name", ["sg3t-32-cond", "sg3r-32", "sg2-32"])
def test_state_names_match_info(name):
    info, _, nets = fixture(name)
    assert _state_shapes(nets["G_ema"]) == info["G_state"]
    assert _state_shapes(nets["D"]) == info["D_state"]
