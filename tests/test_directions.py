"""Semantic directions: SeFa against numpy's eigendecomposition of the matrix built here from the state dict,
GANSpace against numpy's covariance eigendecomposition of the same samples, direction files, edits through
`images --edit` against ws + strength * std * direction synthesised here, and the CLI's one-line errors."""
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.cli import main
from networks.edit.directions import (DirectionError, Directions, Edit, apply_edits, ganspace, layer_presets,
                                      load_directions, save_directions, sefa)
from test_engine_toy import load

DATA = "tests/data/nvidia-compat"
SG2 = f"{DATA}/sg2-32/network.pkl"


@pytest.fixture(scope="module")
def sg2():
    return load("sg2-32")


@pytest.fixture(scope="module")
def sg3():
    return load("sg3t-32-cond")


def _numpy_sefa(rows: list[np.ndarray], k: int):
    A = np.concatenate(rows).astype(np.float64)
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    vals, vecs = np.linalg.eigh(A.T @ A)
    order = np.argsort(vals)[::-1][:k]
    return vals[order], vecs[:, order].T


def _assert_same_directions(got, ref_vals, ref_vecs, got_vals):
    np.testing.assert_allclose(got_vals, ref_vals, rtol=1e-5)
    dots = np.abs(np.sum(got * ref_vecs, axis=1))        # eigenvectors are defined up to sign
    np.testing.assert_allclose(dots, 1.0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_sefa_stylegan2_equals_numpy_eigh_of_the_affine_weights(sg2):
    sd = {k: v.numpy() for k, v in sg2.state_dict().items()}
    # NVIDIA's layout: w 0 drives b4.conv1, then b8.conv0 / b8.conv1 (w 1, 2), b16 (3, 4), b32 (5, 6); w 7 = to-RGB.
    order = ["b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0", "b16.conv1", "b32.conv0", "b32.conv1"]
    rows = [sd[f"synthesis.{n}.affine.weight"] for n in order]
    vals, vecs = _numpy_sefa(rows, 6)
    d = sefa(sg2, num=6)
    assert d.layers == list(range(7)) and d.method == "sefa"
    _assert_same_directions(d.directions, vals, vecs, d.values)
    vals, vecs = _numpy_sefa(rows[1:3], 4)                # --layers 1-2: b8's two convolutions only
    d = sefa(sg2, layers=[1, 2], num=4)
    _assert_same_directions(d.directions, vals, vecs, d.values)
    with pytest.raises(DirectionError, match="to-RGB"):
        sefa(sg2, layers=[7])


def test_sefa_stylegan3_skips_input_and_torgb(sg3):
    sd = {k: v.numpy() for k, v in sg3.state_dict().items()}
    names = sg3.synthesis.layer_names[1:-1]               # L0 .. L13; the last layer is to-RGB
    rows = [sd[f"synthesis.{n}.affine.weight"] for n in names]
    vals, vecs = _numpy_sefa(rows, 5)
    d = sefa(sg3, num=5)
    assert d.layers == list(range(1, len(names) + 1))
    _assert_same_directions(d.directions, vals, vecs, d.values)


@pytest.mark.parametrize("name", ["sg1-32", "progan-32"])
def test_sefa_stylegan1_and_progan(name):
    from networks import load_network_pkl
    G = load_network_pkl(f"{DATA}/{name}/network.pkl")["G_ema"]
    sd = {k: v.numpy() for k, v in G.state_dict().items()}
    if name == "sg1-32":
        # StyleGAN v1: each layer's style weight [2C, w_dim] (scale and bias rows), as SeFa's authors use it;
        # row 2 log2(r) - 4 (+1) drives the r x r block's first (second) layer.
        order = [f"b{r}.conv{i}" for r in (4, 8, 16, 32) for i in (0, 1)]
        rows, layers = [sd[f"synthesis.{n}.style.weight"] for n in order], list(range(8))
    else:
        # ProGAN has no styles: SeFa factorises the first layer (latent -> 4x4), as SeFa's authors do.
        rows, layers = [sd["synthesis.b4.conv0.dense.weight"]], [0]
    vals, vecs = _numpy_sefa(rows, 5)
    d = sefa(G, num=5, std_samples=100)
    assert d.layers == layers
    _assert_same_directions(d.directions, vals, vecs, d.values)


def test_state_edits_are_validated_and_added_after_truncation(sg2):
    from explorer.engine import RenderState, compute_ws
    from explorer.errors import UserError
    for bad in [{"index": 0, "strength": 1}, {"file": "a.npz", "index": -1, "strength": 1},
                {"direction": [0.0], "strength": float("nan")}, {"direction": [1.0], "strength": 1, "layers": [-1]},
                {"direction": [1.0], "strength": 1, "extra": 2}]:
        with pytest.raises(UserError):
            RenderState.from_dict({"edits": [bad]})
    v = np.random.RandomState(0).randn(sg2.w_dim)
    plain = compute_ws(sg2, RenderState(x=2, trunc_psi=0.5))
    edited = compute_ws(sg2, RenderState(x=2, trunc_psi=0.5,
                                         edits=[{"direction": v.tolist(), "std": 0.5, "strength": 2.0, "layers": [3]}]))
    expect = plain.clone()
    expect[:, 3] += torch.from_numpy(v).float()          # 2.0 * 0.5 * v: psi does not scale the edit
    assert torch.allclose(edited, expect, atol=1e-6)
    with pytest.raises(DirectionError, match="w has 64"):
        compute_ws(sg2, RenderState(edits=[{"direction": [1.0, 2.0], "strength": 1.0}]))


class _Toy(torch.nn.Module):
    """An architecture SeFa has no table for: found by tracing (w 0, 1 feed styles; w 2 feeds a to-RGB)."""
    arch, w_dim, num_ws, z_dim, c_dim = "toy", 6, 3, 6, 0

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.synthesis = torch.nn.Module()
        self.synthesis.a = torch.nn.Linear(6, 4)
        self.synthesis.b = torch.nn.Linear(6, 5)
        self.synthesis.torgb = torch.nn.Linear(6, 3)
        self.synthesis.forward = lambda ws, **_: (self.synthesis.a(ws[:, 1]).sum() + self.synthesis.b(ws[:, 0]).sum()
                                                  + self.synthesis.torgb(ws[:, 2]).sum())
        self.mapping = lambda z, c, **_: z[:, None].repeat(1, 3, 1)


def test_sefa_traced_architecture():
    G = _Toy()
    vals, vecs = _numpy_sefa([G.synthesis.b.weight.detach().numpy(), G.synthesis.a.weight.detach().numpy()], 3)
    d = sefa(G, num=3, std_samples=50)
    assert d.layers == [0, 1]
    _assert_same_directions(d.directions, vals, vecs, d.values)


def test_ganspace_equals_numpy_pca_of_the_same_samples(sg2):
    z = np.random.RandomState(5).randn(600, sg2.z_dim)
    with torch.no_grad():
        w = sg2.mapping(torch.from_numpy(z).float(), None)[:, 0].double().numpy()
    vals, vecs = np.linalg.eigh(np.cov(w, rowvar=False))
    order = np.argsort(vals)[::-1][:4]
    d = ganspace(sg2, samples=600, num=4, seed=5)
    np.testing.assert_allclose(d.values, np.sqrt(vals[order]), rtol=1e-4)
    np.testing.assert_allclose(d.stds, d.values)
    np.testing.assert_allclose(np.abs(np.sum(d.directions * vecs[:, order].T, axis=1)), 1.0, atol=1e-4)
    # SeFa's strength unit is the same measure: the std of the sampled w along each direction.
    s = sefa(sg2, num=2, std_samples=600, seed=5)
    np.testing.assert_allclose(s.stds, (w @ s.directions.T.astype(np.float64)).std(axis=0, ddof=1), rtol=1e-4)


def test_apply_edits_moves_only_the_chosen_rows():
    ws = torch.randn(2, 5, 4)
    v = np.array([0.6, 0.8, 0, 0], np.float32)
    out = apply_edits(ws, [Edit(v, 2.0, 1.5, [1, 3]), Edit(v, -1.0, 1.0, None)])
    expect = ws.numpy().copy()
    expect[:, [1, 3]] += 3.0 * v
    expect -= v
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-6, atol=1e-6)
    assert apply_edits(ws, []) is ws


def test_direction_file_round_trip_and_bad_files(tmp_path, sg2):
    d = sefa(sg2, num=3, std_samples=100)
    d.names = ["age", "smile", "pose"]
    path = save_directions(tmp_path / "d.npz", d)
    back = load_directions(path)
    np.testing.assert_array_equal(back.directions, d.directions)
    np.testing.assert_array_equal(back.values, d.values)
    np.testing.assert_array_equal(back.stds, d.stds)
    assert (back.method, back.layers, back.names) == ("sefa", d.layers, d.names)
    np.savez(tmp_path / "obj.npz", directions=np.array([object()], dtype=object), values=[1.0], method="sefa")
    np.savez(tmp_path / "nan.npz", directions=np.full([2, 3], np.nan), values=[1.0, 2.0], method="sefa")
    np.savez(tmp_path / "short.npz", directions=np.ones([2, 3]), values=[1.0], method="sefa")
    (tmp_path / "junk.npz").write_bytes(pickle.dumps({"a": 1}))
    for name, msg in [("obj", "not a direction file"), ("nan", "finite"), ("short", "values"),
                      ("junk", "not a direction file"), ("missing", "no such file")]:
        with pytest.raises(DirectionError, match=msg):
            load_directions(tmp_path / f"{name}.npz")


def test_layer_presets(sg2, sg3):
    # StyleGAN2 32 px: ws drive 4, 8, 8, 16, 16, 32, 32, 32 px.
    assert layer_presets(sg2) == {"coarse": [0, 1, 2], "middle": [3, 4, 5, 6, 7], "fine": []}
    p = layer_presets(sg3)                               # 16 ws split as 4 : 4 : 10 of 18: cuts at 3.6, 7.1
    assert p["coarse"] == [0, 1, 2, 3] and p["middle"] == [4, 5, 6] and p["fine"] == list(range(7, 16))


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_images_edit_equals_edited_ws_synthesised_here(tmp_path, sg2, capsys):
    assert main(["directions", SG2, "--method", "sefa", "--num", "3", "--samples", "200",
                 "-o", str(tmp_path / "d.npz")]) == 0
    d = load_directions(tmp_path / "d.npz")
    assert main(["images", SG2, "--seeds", "3", "--edit", f"{tmp_path}/d.npz:1:2.5:0-2",
                 "--edit", f"{tmp_path}/d.npz:0:-1", "--outdir", str(tmp_path / "out")]) == 0
    z = torch.from_numpy(np.random.RandomState(3).randn(1, sg2.z_dim))
    with torch.no_grad():
        ws = sg2.mapping(z.float(), None).double()
        ws[:, 0:3] += torch.from_numpy(2.5 * float(d.stds[1]) * d.directions[1].astype(np.float64))
        ws[:, d.layers] -= torch.from_numpy(float(d.stds[0]) * d.directions[0].astype(np.float64))  # file's layers
        img = sg2.synthesis(ws.float(), noise_mode="const")
    want = (img[0].permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    got = _png(tmp_path / "out" / "seed0003.png")
    assert np.abs(got.astype(int) - want).max() <= 1
    plain = tmp_path / "plain"
    assert main(["images", SG2, "--seeds", "3", "--outdir", str(plain)]) == 0
    assert np.abs(_png(plain / "seed0003.png").astype(int) - got).mean() > 1   # the edit did change the image


def test_images_w_renders_a_w_file(tmp_path, sg2):
    w = np.random.RandomState(1).randn(2, sg2.num_ws, sg2.w_dim).astype(np.float32) * 0.5
    np.savez(tmp_path / "w.npz", w=w)
    assert main(["images", SG2, "--w", str(tmp_path / "w.npz"), "--outdir", str(tmp_path / "o")]) == 0
    with torch.no_grad():
        img = sg2.synthesis(torch.from_numpy(w), noise_mode="const")
    want = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    for i in range(2):
        assert np.abs(_png(tmp_path / "o" / f"w{i:04d}.png").astype(int) - want[i]).max() <= 1


@pytest.mark.parametrize("argv,msg", [
    (["directions", SG2, "--method", "sefa", "-o", "x.txt"], "ends in .npz"),
    (["directions", SG2, "--method", "sefa", "--layers", "99", "-o", "{tmp}/d.npz"], "out of range"),
    (["directions", SG2, "--method", "sefa", "--layers", "7", "-o", "{tmp}/d.npz"], "to-RGB"),
    (["directions", SG2, "--method", "ganspace", "--num", "0", "-o", "{tmp}/d.npz"], "--num"),
    (["directions", SG2, "--method", "pca", "-o", "{tmp}/d.npz"], "invalid choice"),
    (["images", SG2, "--seeds", "1", "--edit", "{tmp}/nope.npz:0:1", "--outdir", "{tmp}/o"], "no such file"),
    (["images", SG2, "--seeds", "1", "--edit", "{tmp}/d0.npz:x", "--outdir", "{tmp}/o"], "expected FILE"),
    (["images", SG2, "--seeds", "1", "--edit", "{tmp}/d0.npz:5:1", "--outdir", "{tmp}/o"], "directions 0..1"),
    (["images", SG2, "--seeds", "1", "--edit", "{tmp}/d0.npz:0:1:50", "--outdir", "{tmp}/o"], "out of range"),
    (["images", SG2, "--outdir", "{tmp}/o"], "--seeds or --w"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, msg):
    save_directions(tmp_path / "d0.npz", Directions(np.eye(2, 64, dtype=np.float32), np.ones(2), np.ones(2),
                                                    "sefa", [0]))
    rc = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and msg in err, err


def test_video_edit_sweep_frames_equal_images_edit(tmp_path, capsys):
    save_directions(tmp_path / "d.npz", Directions(np.eye(3, 64, dtype=np.float32), np.ones(3),
                                                   np.array([1.0, 0.7, 1.0], np.float32), "ganspace", list(range(8))))
    assert main(["video", SG2, "--seeds", "4", "--w-frames", "3", "--edit-sweep", f"{tmp_path}/d.npz:1:-2:2:0-3",
                 "--output", str(tmp_path / "frames/")]) == 0
    frames = sorted((tmp_path / "frames").glob("*.png"))
    assert len(frames) == 3
    for frame, strength in zip(frames, (-2, 0, 2)):
        out = tmp_path / f"s{strength}"
        assert main(["images", SG2, "--seeds", "4", "--edit", f"{tmp_path}/d.npz:1:{strength}:0-3",
                     "--outdir", str(out)]) == 0
        assert np.abs(_png(frame).astype(int) - _png(out / "seed0004.png")).max() <= 1
    assert np.abs(_png(frames[0]).astype(int) - _png(frames[2])).mean() > 1
    capsys.readouterr()
    assert main(["video", SG2, "--keyframes", "r.json", "--edit-sweep", f"{tmp_path}/d.npz:1:-2:2",
                 "--output", str(tmp_path / "x.mp4")]) == 2
    assert "--edit-sweep" in capsys.readouterr().err
