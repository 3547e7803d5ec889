"""render(G, state): latents, truncation, mixing, layers, spectrum, transforms, untransform, sticking."""
import json
import math

import numpy as np
import pytest
import torch

from explorer.engine import RenderState, compute_ws, render
from explorer.engine.latents import seed_to_z
from explorer.engine.renderer import has_transform
from explorer.engine.spectrum import power_spectrum_db, spectrum_picture
from explorer.engine.sticking import sticking_average, sticking_states
from explorer.engine.untransform import untransform_image
from networks.stylegan3 import make_transform
from explorer.errors import UserError
from test_engine_toy import ToyGenerator, load


@pytest.fixture(scope="module")
def sg2():
    return load("sg2-32")


@pytest.fixture(scope="module")
def sg3():
    return load("sg3t-32-cond")


def _z(G, seed):
    return torch.from_numpy(seed_to_z(seed, G.z_dim))[None]


def _c(G, idx=0):
    c = torch.zeros(1, G.c_dim)
    if G.c_dim:
        c[0, idx] = 1
    return c


# ---------------------------------------------------------------------------------------------- state
def test_state_json_round_trip_and_errors():
    s = RenderState(checkpoint="a.pkl", x=1.25, w=None, mix_mask=[True, False], layer="b8.conv1", trunc_cutoff=4)
    assert RenderState.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert RenderState.from_dict({}) == RenderState()
    with pytest.raises(UserError, match="unknown"):
        RenderState.from_dict({"nope": 1})
    with pytest.raises(UserError):
        RenderState.from_dict({"trunc_psi": "high"})
    with pytest.raises(UserError):
        RenderState.from_dict({"noise_mode": "loud"})
    with pytest.raises(UserError):
        RenderState(sel_channels=2).validate()


# ---------------------------------------------------------------------------------------------- latents
@pytest.mark.parametrize("psi,cutoff", [(1.0, None), (0.7, None), (0.5, 4)])
def test_integer_seed_ws_equal_mapping_exactly(sg2, sg3, psi, cutoff):
    for G, cls in ((sg2, None), (sg3, 2)):
        got = compute_ws(G, RenderState(x=7, trunc_psi=psi, trunc_cutoff=cutoff, class_idx=cls))
        ref = G.mapping(_z(G, 7), _c(G, cls or 0), truncation_psi=psi, truncation_cutoff=cutoff)
        assert torch.equal(got, ref)  # the same ops in the same order in one process: exactness is the claim


def test_seed_plane_blend_then_truncate(sg2):
    G = sg2
    w_avg = G.mapping.w_avg
    w0, w1 = (G.mapping(_z(G, s), _c(G)) for s in (3, 4))
    got = compute_ws(G, RenderState(x=3.25, trunc_psi=0.5))
    blend = w_avg + 0.75 * (w0 - w_avg) + 0.25 * (w1 - w_avg)
    torch.testing.assert_close(got, w_avg + 0.5 * (blend - w_avg), atol=1e-5, rtol=0)
    # Rows of the plane: y=1 is seed + step_y.
    torch.testing.assert_close(compute_ws(G, RenderState(x=3, y=1, step_y=10)), G.mapping(_z(G, 13), _c(G)))


def test_style_mixing_takes_toggled_ws_from_the_mix_seed(sg2):
    G = sg2
    mask = [False] * G.num_ws
    mask[1] = mask[-1] = True
    ws = compute_ws(G, RenderState(x=1, mix_seed=2, mix_mask=mask, trunc_psi=0.7))
    a = G.mapping(_z(G, 1), _c(G), truncation_psi=0.7)
    b = G.mapping(_z(G, 2), _c(G), truncation_psi=0.7)
    for i in range(G.num_ws):
        assert torch.equal(ws[0, i], (b if mask[i] else a)[0, i])


def test_explicit_w(sg2):
    G = sg2
    w = G.mapping(_z(G, 5), _c(G))[0]
    assert torch.equal(compute_ws(G, RenderState(w=w.tolist())), w[None])
    assert torch.equal(compute_ws(G, RenderState(w=w[0].tolist())), w[None])
    with pytest.raises(UserError, match="shape"):
        compute_ws(G, RenderState(w=[0.0, 1.0]))


def test_image_is_nvidia_quantisation_of_the_generator(sg2):
    G = sg2
    r = render(G, RenderState(x=11, trunc_psi=0.7))
    img = G(_z(G, 11), _c(G), truncation_psi=0.7, noise_mode="const")
    ref = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert r.image.dtype == np.uint8 and r.image.shape == (G.img_resolution, G.img_resolution, 3)
    # Exact: the engine must run G's own call on the same inputs in this process (any other arithmetic would show
    # here); against NVIDIA's stored outputs, from another machine, one level is allowed (next test).
    np.testing.assert_array_equal(r.image, ref)
    assert r.render_ms > 0


def test_image_matches_nvidia_reference():
    from pathlib import Path
    G = load("sg2-32")
    ref = np.load(Path(__file__).parent / "data/nvidia-compat/sg2-32/expected.npz")
    seed = int(ref["seeds"][0])
    r = render(G, RenderState(x=seed, trunc_psi=0.7, force_fp32=True))
    exp = (torch.from_numpy(ref["img_psi07"][:1]) * 127.5 + 128).clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0)
    assert np.abs(r.image.astype(int) - exp.numpy().astype(int)).max() <= 1


def test_random_noise_is_seeded_and_leaves_the_global_rng_alone(sg2):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = render(sg2, RenderState(noise_mode="random", noise_seed=1)).image
    assert torch.equal(torch.rand(1), expected_next)
    b = render(sg2, RenderState(noise_mode="random", noise_seed=1)).image
    c = render(sg2, RenderState(noise_mode="random", noise_seed=2)).image
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_class_out_of_range(sg3):
    with pytest.raises(UserError, match="out of range"):
        render(sg3, RenderState(class_idx=3))


# ---------------------------------------------------------------------------------------------- layers
def test_layer_capture_view_stats_and_hooks_removed(sg2):
    G = sg2
    name = G.synthesis.layer_names[0]
    captured = {}
    h = G.synthesis.get_submodule(name).register_forward_hook(lambda m, i, o: captured.setdefault("x", o))
    try:
        r = render(G, RenderState(x=1, layer=name, base_channel=2, sel_channels=3, list_layers=True))
    finally:
        h.remove()
    for n in G.synthesis.layer_names:
        assert len(G.synthesis.get_submodule(n)._forward_hooks) == 0
    x = captured["x"][0]
    sel = x[2:5]
    ref = (sel * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(r.layer_image, ref)
    assert r.stats.selected.mean == pytest.approx(float(sel.mean()), abs=1e-5)
    assert r.stats.all.max == pytest.approx(float(x.abs().max()), abs=1e-5)
    assert r.stats.all.std == pytest.approx(float(x.std(unbiased=False)), abs=1e-5)
    names = [n for n, _ in r.layers]
    assert names[-1] == "output" and r.layers[-1][1] == (1, 3, G.img_resolution, G.img_resolution)
    assert names.index(name) == 0


def test_layer_amplify_normalise_and_grey(sg2):
    G = sg2
    name = G.synthesis.layer_names[0]
    a = render(G, RenderState(layer=name, sel_channels=1, amplify_db=20.0, normalize=True))
    assert a.layer_image.shape[2] == 3
    np.testing.assert_array_equal(a.layer_image[..., 0], a.layer_image[..., 1])
    # Normalised to max |v| = 1 then +20 dB (x10): the extreme pixel saturates.
    assert a.layer_image.max() == 255 or a.layer_image.min() == 0


def test_unknown_layer_is_a_one_line_user_error(sg2):
    with pytest.raises(UserError, match="unknown layer 'nope'"):
        render(sg2, RenderState(layer="nope"))


def test_spectrum_of_a_sinusoid_peaks_at_its_frequency():
    h = w = 32
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    x = torch.cos(2 * math.pi * (5 * xx / w + 3 * yy / h)).float()[None]
    db = power_spectrum_db(x, beta=8)
    peak = np.unravel_index(int(db.argmax()), db.shape)
    assert tuple(int(p) for p in peak) in {(16 + 3, 16 + 5), (16 - 3, 16 - 5)}
    pic = spectrum_picture(x, beta=8, range_db=40)
    assert pic.shape == (32, 32, 3) and pic.dtype == torch.uint8 and int(pic.max()) == 255
    assert int(pic[0, 0, 0]) < 64  # far from the peak: dark


def test_render_spectrum_all_vs_selected(sg2):
    name = sg2.synthesis.layer_names[0]
    a = render(sg2, RenderState(layer=name, fft_show=True, fft_all=True)).spectrum
    b = render(sg2, RenderState(layer=name, fft_show=True, fft_all=False, sel_channels=1)).spectrum
    assert a.shape == b.shape and a.dtype == np.uint8 and not np.array_equal(a, b)


# ---------------------------------------------------------------------------------------------- transforms
def test_untransform_identity_and_whole_pixel_shift():
    img = torch.rand(2, 3, 16, 16)
    assert torch.equal(untransform_image(img, make_transform()), img)
    out = untransform_image(img, make_transform((3 / 16, -2 / 16), 0))
    # out(p) = img(p + t): out[y, x] = img[y - 2, x + 3]; the uncovered border reads 0.
    assert torch.equal(out[:, :, 2:, :13], img[:, :, :14, 3:])
    assert out[:, :, :2].abs().max() < 1e-6 and out[:, :, :, 13:].abs().max() < 1e-6


def test_untransform_rotation_round_trip_is_close_in_the_centre():
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    img = torch.cos(2 * math.pi * (3 * xx + 2 * yy) / 64)[None, None]
    there = untransform_image(img, make_transform((0, 0), 20))
    back = untransform_image(there, make_transform((0, 0), -20))
    c = slice(20, 44)
    assert (back[..., c, c] - img[..., c, c]).abs().max() < 0.05


def test_equivariant_network_untransformed_is_still():
    G = ToyGenerator(flavour="stylegan3-t")
    base = render(G, RenderState(x=4)).image.astype(int)
    moved = render(G, RenderState(x=4, translate_x=4 / 32, translate_y=-2 / 32)).image.astype(int)
    assert np.abs(moved[:-2, 4:] - base[2:, :-4]).max() <= 1  # content moved right 4 px, up 2 px
    still = render(G, RenderState(x=4, translate_x=4 / 32, translate_y=-2 / 32, untransform=True)).image.astype(int)
    assert np.abs(still[4:-4, 4:-4] - base[4:-4, 4:-4]).max() <= 1
    rot = render(G, RenderState(x=4, rotate=15, untransform=True)).image.astype(int)
    assert np.abs(rot[8:-8, 8:-8] - base[8:-8, 8:-8]).mean() < 3


def test_transform_buffer_is_restored_and_sg2_ignores_transform(sg2, sg3):
    before = sg3.synthesis.input.transform.clone()
    a = render(sg3, RenderState(x=1, class_idx=0))
    b = render(sg3, RenderState(x=1, class_idx=0, translate_x=0.2, rotate=30))
    assert torch.equal(sg3.synthesis.input.transform, before)
    assert not np.array_equal(a.image, b.image)
    assert not has_transform(sg2)
    np.testing.assert_array_equal(render(sg2, RenderState(x=1)).image,
                                  render(sg2, RenderState(x=1, translate_x=0.2)).image)


# ---------------------------------------------------------------------------------------------- sticking
def test_sticking_average_is_the_mean_of_its_frames(sg2):
    state = RenderState(x=2)
    frames = sticking_states(sg2, state, "latent_walk", frames=4)
    assert len({(s.x, s.y) for s in frames}) == 4
    mean = np.mean([render(sg2, s).image.astype(np.float64) for s in frames], axis=0)
    got = sticking_average(sg2, state, "latent_walk", frames=4)
    np.testing.assert_array_equal(got, np.clip(np.rint(mean), 0, 255).astype(np.uint8))
    name = sg2.synthesis.layer_names[1]
    lay = sticking_average(sg2, state, "latent_walk", frames=3, layer=name)
    mean = np.mean([render(sg2, s).layer_image.astype(np.float64)
                    for s in sticking_states(sg2, state, "latent_walk", 3, name)], axis=0)
    np.testing.assert_array_equal(lay, np.rint(mean).astype(np.uint8))


def test_sticking_translate_needs_stylegan3(sg2):
    with pytest.raises(UserError, match="StyleGAN3"):
        sticking_average(sg2, RenderState(), "translate", frames=2)


class StuckToy(ToyGenerator):
    """The equivariant toy plus a fixed checkerboard that ignores the input transform: texture sticking."""

    def forward(self, z, c, **kw):
        return super().forward(z, c, **kw)

    def __init__(self):
        super().__init__()
        yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
        self.register_buffer("board", (((xx // 2 + yy // 2) % 2) * 2 - 1).float() * 0.4)
        inner = self.synthesis.forward
        self.synthesis.forward = lambda ws, **kw: (inner(ws, **kw) * 0.6 + self.board).clamp(-1, 1)


def _high_pass_energy(img: np.ndarray) -> float:
    """Mean |difference| of horizontal neighbours (the translation sweep moves content along x)."""
    return float(np.abs(np.diff(img.astype(np.float64).mean(axis=2), axis=1)).mean())


def test_sticking_average_separates_moving_content_from_stuck_detail():
    """Sharp in the average = stuck to pixels: the equivariant toy blurs, the checkerboard added after the
    transform (ignoring it) stays."""
    state = RenderState(x=1)
    for mode, kw in (("translate", {"sweep": 8 / 32}), ("latent_walk", {"radius": 1.0})):
        free = ToyGenerator()
        frame = render(free, state).image
        avg = sticking_average(free, state, mode, frames=9, **kw)
        assert _high_pass_energy(avg) < 0.6 * _high_pass_energy(frame)        # moving content blurs
        stuck = StuckToy()
        avg = sticking_average(stuck, state, mode, frames=9, **kw).astype(np.float64).mean(axis=2)
        board = stuck.board.numpy()
        corr = np.corrcoef(avg.ravel(), board.ravel())[0, 1]
        assert corr > 0.9                                                       # the stuck pattern stays


def test_sticking_translate_frames_sweep_x_without_untransform(sg3):
    states = sticking_states(sg3, RenderState(translate_x=0.1, untransform=True), "translate", frames=5, sweep=0.2)
    assert [round(s.translate_x, 6) for s in states] == [0.0, 0.05, 0.1, 0.15, 0.2]
    assert not any(s.untransform for s in states)


def test_sticking_progress_and_cancel(sg2):
    seen = []
    out = sticking_average(sg2, RenderState(), "latent_walk", frames=4, progress=seen.append)
    assert out is not None and seen == [0.25, 0.5, 0.75, 1.0]
    calls = []
    stopped = sticking_average(sg2, RenderState(), "latent_walk", frames=10,
                               progress=calls.append, cancelled=lambda: len(calls) >= 2)
    assert stopped is None and calls == [0.1, 0.2]


# ---------------------------------------------------------------------------------------------- hooks, ops
def test_hooks_only_for_the_layer_view(sg2, monkeypatch):
    """No forward hook is attached unless a layer is asked for; then only that layer's module is hooked."""
    hooked = []
    original = torch.nn.Module.register_forward_hook

    def spy(module, hook, *a, **kw):
        hooked.append(module)
        return original(module, hook, *a, **kw)
    monkeypatch.setattr(torch.nn.Module, "register_forward_hook", spy)
    render(sg2, RenderState(x=1))
    assert hooked == []
    name = next(n for n in sg2.synthesis.layer_names if "." in n)     # a sub-module returning one tensor
    render(sg2, RenderState(x=1, layer=name))
    assert hooked == [sg2.synthesis.get_submodule(name)]
    hooked.clear()
    render(sg2, RenderState(x=1, layer="output"))          # the output needs no hook
    assert hooked == []
    assert all(len(m._forward_hooks) == 0 for m in sg2.modules())


def test_result_names_the_ops_it_ran_on(sg2):
    from networks.ops import default_impl
    assert render(sg2, RenderState()).ops == "fast"
    with default_impl("ref"):
        assert render(sg2, RenderState()).ops == "ref"


def test_spectrum_beta_and_range_change_the_picture(sg2):
    name = sg2.synthesis.layer_names[-3]
    base = RenderState(layer=name, fft_show=True)
    a = render(sg2, base).spectrum
    narrow = render(sg2, base.replace(fft_range_db=10.0)).spectrum
    rect = render(sg2, base.replace(fft_beta=0.0)).spectrum
    assert (narrow == 0).mean() > (a == 0).mean()           # a smaller dB range leaves more of it black
    assert not np.array_equal(a, rect)
    x = torch.zeros(1, 8, 8)
    x[0, 4, 4] = 1.0                                         # an impulse has a flat spectrum before windowing
    flat = power_spectrum_db(x, beta=0.0).flatten()
    flat = torch.cat([flat[:4 * 8 + 4], flat[4 * 8 + 5:]])  # the mean (DC, at the centre) is subtracted first
    assert float(flat.max() - flat.min()) < 1e-3


# ---------------------------------------------------------------------------------------------- one render path
def test_explorer_has_one_synthesis_call_one_quantisation_one_seed_to_z():
    """Every view (window, images, video, sticking) renders through engine.render_batch: the synthesis call, the
    uint8 conversion and the seed-to-z convention each live in one place, so the three cannot drift apart."""
    import io
    import re
    import tokenize
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent / "explorer"
    synthesis, quantise = r"\.\s*synthesis\s*\(", r"\*\s*127\.5\s*\+\s*128"
    rules = {synthesis: {"engine/renderer.py"},
             quantise: {"engine/layers.py"},
             r"RandomState\s*\(.{0,80}?\)\s*\.\s*randn": {"engine/latents.py"},
             r"w_avg\s*\.\s*lerp": set()}
    def code_of(path) -> str:  # the source without comments and strings (docstrings name the formulas)
        toks = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        return " ".join(t.string for t in toks if t.type not in (tokenize.COMMENT, tokenize.STRING))
    codes = {path.relative_to(root).as_posix(): code_of(path) for path in root.rglob("*.py")}
    for pattern, allowed in rules.items():
        found = {name for name, code in codes.items() if re.search(pattern, code)}
        assert allowed <= found, (pattern, sorted(found))     # the pattern sees the one true place
        assert found <= allowed, (pattern, sorted(found))
