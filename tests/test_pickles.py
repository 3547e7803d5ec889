"""networks.pickles.safe_load and networks.tf_convert against NVIDIA's reference fixtures.

Names and shapes come from each fixture's info.json; values are checked by re-computing pieces of
NVIDIA's outputs (expected.npz) with small plain-torch references written here from the papers'
definitions, so a wrong transpose, flip, scale or offset shows up as a number, not a shape.
"""
import collections
import io
import json
import math
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hostile
from networks.errors import CheckpointError, UnknownArchitectureError
from networks.pickles import PersistentRecord, TFNetworkRecord, safe_load
from networks.tf_convert import convert_tf_discriminator, convert_tf_generator

DATA = Path(__file__).parent / "data" / "nvidia-compat"
TORCH_FIXTURES = ["sg2-32", "sg3t-32-cond", "sg3r-32"]


def info(name):
    return json.loads((DATA / name / "info.json").read_text())


def expected(name):
    return np.load(DATA / name / "expected.npz")


def flatten(rec: PersistentRecord, prefix=""):
    """A record tree -> state_dict-ordered {name: tensor}: own parameters, own buffers, then children."""
    st = rec.state
    skip = st.get("_non_persistent_buffers_set") or set()
    out = {prefix + k: v for k, v in st["_parameters"].items() if v is not None}
    out.update({prefix + k: v for k, v in st["_buffers"].items() if v is not None and k not in skip})
    for k, child in st["_modules"].items():
        if child is not None:
            out.update(flatten(child, f"{prefix}{k}."))
    return out


def shapes(sd):
    return [(k, list(v.shape)) for k, v in sd.items()]


# ------------------------------------------------------------------------------------------------
# Plain references (StyleGAN2 / StyleGAN3 definitions), used only to check loaded values.

def lrelu(x, gain=1.0):
    return F.leaky_relu(x, 0.2) * math.sqrt(2) * gain


def norm2(x):
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + 1e-8)


def fc(x, sd, name, lr=1.0, act=False):
    w, b = sd[f"{name}.weight"], sd[f"{name}.bias"]
    y = x @ (w * (lr / math.sqrt(w.shape[1]))).T + b * lr
    return lrelu(y) if act else y


def mapping(sd, z, c, num_layers, psi=1.0):
    """z [N, z_dim], c [N, c_dim] -> w [N, w_dim] with truncation toward mapping.w_avg."""
    x = norm2(z)
    if c.shape[1]:
        x = torch.cat([x, norm2(fc(c, sd, "mapping.embed"))], 1)
    for i in range(num_layers):
        x = fc(x, sd, f"mapping.fc{i}", lr=0.01, act=True)
    w_avg = sd["mapping.w_avg"]
    return w_avg + psi * (x - w_avg)


@pytest.mark.parametrize("name", TORCH_FIXTURES)
def test_pytorch_fixture_records(name):
    inf = info(name)
    data = safe_load(DATA / name / "network.pkl")
    assert set(data) >= {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"}
    for key in ("G", "G_ema"):
        rec = data[key]
        assert isinstance(rec, PersistentRecord) and rec.class_name == "Generator"
        assert len(rec.module_src_hash) == 64
        assert shapes(flatten(rec)) == list(inf["G_state"].items())
        assert rec.state["_init_kwargs"] == inf["G_init_kwargs"]
        assert type(rec.state["_init_kwargs"]) is dict and rec.state["_init_args"] == ()
    assert data["D"].class_name == "Discriminator"
    assert shapes(flatten(data["D"])) == list(inf["D_state"].items())
    sd = flatten(data["G_ema"])
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in sd.values())
    assert all(v.dtype == torch.float32 for v in sd.values())
    # The values are right too: NVIDIA's mapping outputs from the loaded weights.
    e = expected(name)
    z, c = torch.from_numpy(e["z"]), torch.from_numpy(e["c"])
    n = inf["G_init_kwargs"]["mapping_kwargs"]["num_layers"]
    for key, psi in (("ws_psi1", 1.0), ("ws_psi07", 0.7)):
        ref = torch.from_numpy(e[key])
        w = mapping(sd, z, c, n, psi)
        assert (w[:, None] - ref).abs().max() <= 1e-4 * max(1.0, ref.abs().max().item())


def test_tf_fixture_records():
    G, D, Gs = safe_load(DATA / "sg2-tf-32" / "network.pkl")
    for rec, name in ((G, "G"), (D, "D"), (Gs, "Gs")):
        assert isinstance(rec, TFNetworkRecord) and rec.name == name and rec.version == 4
    assert set(Gs.components) == {"mapping", "synthesis"} and D.components == {}
    assert Gs.static_kwargs["fmap_base"] == 1024 and Gs.build_func_name == "G_main"
    syn = Gs.components["synthesis"]
    assert isinstance(syn, TFNetworkRecord) and syn.name == "G_synthesis"
    assert syn.variables["4x4/Conv/weight"].shape == (3, 3, 64, 64)
    assert syn.variables["4x4/Conv/weight"].dtype == np.float32
    assert Gs.variables["dlatent_avg"].shape == (64,)
    assert list(D.variables)[0] == "32x32/FromRGB/weight"


# ------------------------------------------------------------------------------------------------
# tf_convert

@pytest.fixture(scope="module")
def tf_converted():
    G, D, Gs = safe_load(DATA / "sg2-tf-32" / "network.pkl")
    return convert_tf_generator(Gs), convert_tf_discriminator(D), convert_tf_generator(G)


def test_tf_convert_names_shapes_kwargs(tf_converted):
    (g_kwargs, g_sd), (d_kwargs, d_sd), (_, g_train_sd) = tf_converted
    inf = info("sg2-tf-32")
    assert shapes(g_sd) == list(inf["G_state"].items())
    assert shapes(g_train_sd) == list(inf["G_state"].items())
    assert shapes(d_sd) == list(inf["D_state"].items())
    for k, v in inf["G_init_kwargs"].items():
        if k == "mapping_kwargs":
            assert {kk: g_kwargs[k][kk] for kk in v} == v
        else:
            assert g_kwargs[k] == v, k
    assert g_kwargs["architecture"] == "skip" and g_kwargs["mapping_kwargs"]["lr_multiplier"] == 0.01
    assert d_kwargs["channel_base"] == 2048 and d_kwargs["architecture"] == "resnet"
    assert d_kwargs["epilogue_kwargs"]["mbstd_group_size"] == 4
    filt = torch.tensor([1.0, 3, 3, 1])
    assert torch.allclose(g_sd["synthesis.b8.conv0.resample_filter"], torch.outer(filt, filt) / 64)
    # The same buffers NVIDIA's constructor made for the PyTorch fixture.
    pt = flatten(safe_load(DATA / "sg2-32" / "network.pkl")["G_ema"])
    assert torch.equal(pt["synthesis.b16.resample_filter"], g_sd["synthesis.b16.resample_filter"])


def _styles(sd, name, w):
    a = sd[f"{name}.affine.weight"]
    return w @ (a / math.sqrt(a.shape[1])).T + sd[f"{name}.affine.bias"]


def _modulated(sd, name, w):
    """Weight [O, I, k, k] scaled by the sample's styles and demodulated (one sample)."""
    wt = sd[f"{name}.weight"] * _styles(sd, name, w)[0][None, :, None, None]
    return wt * torch.rsqrt(wt.square().sum([1, 2, 3], keepdim=True) + 1e-8)


def _layer_out(sd, name, y):
    y = y + sd[f"{name}.noise_const"] * sd[f"{name}.noise_strength"]
    return lrelu(y + sd[f"{name}.bias"][None, :, None, None])


def _up_conv(x, weight, filt):
    """NVIDIA's up-sampling conv for a stored weight: transposed conv (stride 2), then the FIR filter (gain 4)."""
    y = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    ch = y.shape[1]
    y = F.conv2d(y, (filt * 4)[None, None].repeat(ch, 1, 1, 1), padding=3, groups=ch)
    n = x.shape[-1] * 2
    return y[..., 2:2 + n, 2:2 + n]


def test_tf_convert_generator_values(tf_converted):
    (_, sd), _, _ = tf_converted
    e = expected("sg2-tf-32")
    z, c = torch.from_numpy(e["z"]), torch.from_numpy(e["c"])
    # Mapping: the TF weights need no learning-rate rescaling, only a transpose.
    for key, psi in (("ws_psi1", 1.0), ("ws_psi07", 0.7)):
        assert (mapping(sd, z, c, 8, psi)[:, None] - torch.from_numpy(e[key])).abs().max() < 1e-5
    ws = torch.from_numpy(e["ws_psi1"])[:1]
    # b4.conv1: const -> modulated 3x3 conv -> noise -> bias -> lrelu (mod_bias + 1, noise0, transposes).
    x4 = _layer_out(sd, "synthesis.b4.conv1",
                    F.conv2d(sd["synthesis.b4.const"][None], _modulated(sd, "synthesis.b4.conv1", ws[:, 0]), padding=1))
    assert (x4[0, :4] - torch.from_numpy(e["act__b4.conv1"])).abs().max() < 1e-4
    # b8.conv0: the up-sampling conv, whose TF weight must be flipped in both spatial axes.
    ref = torch.from_numpy(e["act__b8.conv0"])
    wt = _modulated(sd, "synthesis.b8.conv0", ws[:, 1])
    filt = sd["synthesis.b8.resample_filter"]
    good = _layer_out(sd, "synthesis.b8.conv0", _up_conv(x4, wt, filt))
    assert (good[0, :4] - ref).abs().max() < 1e-4
    unflipped = _layer_out(sd, "synthesis.b8.conv0", _up_conv(x4, wt.flip([2, 3]), filt))
    assert (unflipped[0, :4] - ref).abs().max() > 0.1  # the check above can tell the two apart


def _d_conv(x, sd, name, padding=0, stride=1, bias=True, flip=False):
    w = sd[f"{name}.weight"]
    w = w.flip([2, 3]) if flip else w
    y = F.conv2d(x, w / math.sqrt(w[0].numel()), padding=padding, stride=stride)
    return y + sd[f"{name}.bias"][None, :, None, None] if bias else y


def _d_down(x, sd, name, offset, bias=True, flip=False):
    """FIR low-pass (filter sum 1), then the conv at stride 2."""
    ch, n = x.shape[1], x.shape[-1] // 2
    filt = sd[f"{name}.resample_filter"]
    x = F.conv2d(x, filt[None, None].repeat(ch, 1, 1, 1), padding=3, groups=ch)[..., offset:, offset:]
    return _d_conv(x, sd, name, stride=2, bias=bias, flip=flip)[..., :n, :n]


def _discriminator(sd, img, flip=False):
    """StyleGAN2 resnet D (32x32, unconditional): blocks, minibatch stddev (group 4), conv, fc, out."""
    x = lrelu(_d_conv(img, sd, "b32.fromrgb"))
    for r in (32, 16, 8):
        y = _d_down(x, sd, f"b{r}.skip", 2, bias=False) * math.sqrt(0.5)
        x = lrelu(_d_conv(x, sd, f"b{r}.conv0", padding=1, flip=flip))
        x = lrelu(_d_down(x, sd, f"b{r}.conv1", 1, flip=flip), math.sqrt(0.5)) + y
    n, ch, h, w = x.shape
    s = x.reshape(4, -1, 1, ch, h, w)
    s = (s - s.mean(0)).square().mean(0).add(1e-8).sqrt().mean([2, 3, 4]).reshape(-1, 1, 1, 1).repeat(4, 1, h, w)
    x = lrelu(_d_conv(torch.cat([x, s], 1), sd, "b4.conv", padding=1, flip=flip))
    x = fc(x.flatten(1), sd, "b4.fc", act=True)
    return fc(x, sd, "b4.out")


def test_tf_convert_discriminator_values(tf_converted):
    _, (_, sd), _ = tf_converted
    e = expected("sg2-tf-32")
    img, ref = torch.from_numpy(e["img_psi1"]).clamp(-1, 1), torch.from_numpy(e["d_logits"])
    assert (_discriminator(sd, img) - ref).abs().max() < 1e-4          # D's convs are not flipped
    assert (_discriminator(sd, img, flip=True) - ref).abs().max() > 1e-2


def test_tf_convert_errors():
    G, D, Gs = safe_load(DATA / "sg2-tf-32" / "network.pkl")
    Gs.components["synthesis"].variables.pop("16x16/Conv1/weight")
    with pytest.raises(UnknownArchitectureError, match="16x16/Conv1/weight"):
        convert_tf_generator(Gs)
    G.version = 3
    with pytest.raises(UnknownArchitectureError, match="too old"):
        convert_tf_generator(G)
    D.static_kwargs["unknown_setting"] = 1
    with pytest.raises(UnknownArchitectureError, match="unknown_setting"):
        convert_tf_discriminator(D)
    _, D2, _ = safe_load(DATA / "sg2-tf-32" / "network.pkl")
    D2.variables["Output/weight"] = D2.variables["Output/weight"][:32]
    with pytest.raises(CheckpointError, match="Output/weight"):
        convert_tf_discriminator(D2)


# ------------------------------------------------------------------------------------------------
# The project's own checkpoint contents round-trip

def _project_objects():
    base = torch.arange(24.0).reshape(4, 6)
    return {
        "meta": {"step": 12, "lr": 2.5e-3, "name": "run", "flags": [True, False, None], "pair": (1, "a")},
        "f32": torch.randn(3, 4), "bf16": torch.randn(5, 2).to(torch.bfloat16), "f16": torch.randn(7).half(),
        "i64": torch.arange(-5, 5), "bool": torch.tensor([True, False, True]), "u8": torch.arange(256).to(torch.uint8),
        "view": base[:, 1::2], "transposed": base.t(), "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.ones(2)),
        "ema": collections.OrderedDict(w=torch.ones(3)),
        "np": np.arange(12, dtype=np.float32).reshape(3, 4), "np_f": np.asfortranarray(np.ones((2, 3))),
        "np_scalar": np.float64(0.25), "np_int": np.int64(-3),
        "rng": np.random.RandomState(7).get_state(), "rng_dict": np.random.default_rng(1).bit_generator.state,
        "shared": [base, base], "bytes": b"\x00\xff" * 3, "size": torch.Size([2, 3]), "dtype": torch.bfloat16,
    }


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return (type(b) is torch.Tensor and a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride()
                and torch.equal(a.detach(), b) and not b.requires_grad)
    if isinstance(a, np.ndarray):
        return type(b) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_round_trip_pickle(protocol):
    obj = _project_objects()
    back = safe_load(pickle.dumps(obj, protocol=protocol))
    for k in obj:
        assert _same(obj[k], back[k]), k
    assert back["view"].is_contiguous() is False


@pytest.mark.parametrize("zip_format", [True, False])
def test_round_trip_torch_save(zip_format, tmp_path):
    obj = _project_objects()
    path = tmp_path / "ckpt.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    back = safe_load(path)
    for k in obj:
        assert _same(obj[k], back[k]), k


def test_file_object_and_path(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"a": torch.ones(2)}, protocol=4))
    with open(path, "rb") as f:
        assert torch.equal(safe_load(f)["a"], torch.ones(2))
    assert torch.equal(safe_load(str(path))["a"], torch.ones(2))


# ------------------------------------------------------------------------------------------------
# Malformed input

def test_not_a_pickle(tmp_path):
    for data in (b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, b"hello world\n", b"\x80\x09junk"):
        with pytest.raises(CheckpointError, match="not a pickle file"):
            safe_load(data)
    with pytest.raises(CheckpointError, match="cannot read"):
        safe_load(tmp_path / "missing.pkl")


def test_truncated_is_one_line_error():
    data = (DATA / "sg2-32" / "network.pkl").read_bytes()
    for cut in (3, 1000, len(data) // 2, len(data) - 1):
        with pytest.raises(CheckpointError) as e:
            safe_load(data[:cut])
        assert "\n" not in str(e.value) and len(str(e.value)) < 300


def test_declared_sizes_are_checked_before_allocating():
    # A storage that claims 2**40 floats (4 TiB) in a 100-byte stream: refused before any allocation.
    for numel, data in ((2**40, b""), (4, struct.pack("<q", 4) + b"\0" * 15)):
        stream = hostile.legacy_torch_stream(hostile.assemble(hostile.storage_pid(numel=numel), 2),
                                             keys=pickle.dumps(["0"], protocol=2), data=data)
        with pytest.raises(CheckpointError, match="more than the file holds|truncated"):
            safe_load(hostile.assemble(hostile.tensor_from_stream(stream), 4))


def test_tensor_view_outside_its_storage():
    data = pickle.dumps(torch.arange(4.0), protocol=2)
    # size (4,) -> (5,): the view would read past the storage.
    bad = data.replace(b"K\x04\x85q", b"K\x05\x85q", 1)
    assert bad != data
    with pytest.raises(CheckpointError, match="runs past its storage"):
        safe_load(bad)


def test_deep_nesting_is_an_error():
    with pytest.raises(CheckpointError, match="nested too deeply"):
        safe_load(b"\x80\x04]" + b"\x85" * 100_000 + b".")  # a tuple inside a tuple ... 100000 deep


# ------------------------------------------------------------------------------------------------
# load_network_pkl: sources, partial files, extras, unknown architectures, bad files

from networks import load_network_pkl  # noqa: E402
from networks.checkpoint import load_bytes  # noqa: E402


@pytest.fixture(scope="module")
def sg2_records():
    return safe_load(DATA / "sg2-32" / "network.pkl")


@pytest.fixture(scope="module")
def sg2_reference():
    return load_network_pkl(DATA / "sg2-32" / "network.pkl")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_full_fixture_contents(sg2_reference):
    out = sg2_reference
    assert set(out) == {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs", "format"}
    assert out["format"] == "nvidia-pytorch" and out["augment_pipe"] is None  # the file holds None
    assert out["training_set_kwargs"]["class_name"] == "training.dataset.ImageFolderDataset"
    assert out["training_set_kwargs"]["resolution"] == 32 and out["training_set_kwargs"]["use_labels"] is False
    assert type(out["D"]).__name__ == "Discriminator" and out["G_ema"].arch == "stylegan2"
    assert not any(p.requires_grad for p in out["G_ema"].parameters()) and not out["G_ema"].training


def test_sources_path_str_file_object_and_bytes_path(tmp_path, monkeypatch, sg2_reference):
    path = DATA / "sg2-32" / "network.pkl"
    ref = sg2_reference["G_ema"]
    for source in (path, str(path), os.fsencode(path)):
        assert _same_weights(load_network_pkl(source)["G_ema"], ref), type(source)
    with open(path, "rb") as f:
        assert _same_weights(load_network_pkl(f)["G_ema"], ref)
        assert not f.closed  # the caller's file stays the caller's
    with open(path, "r", encoding="latin1") as f, pytest.raises(CheckpointError, match="binary"):
        load_network_pkl(f)
    home = tmp_path / "home"
    (home / "nets").mkdir(parents=True)
    os.symlink(path, home / "nets" / "x.pkl")
    monkeypatch.setenv("HOME", str(home))
    assert _same_weights(load_network_pkl("~/nets/x.pkl")["G_ema"], ref)
    with pytest.raises(CheckpointError, match="only http"):
        load_network_pkl("ftp://example.invalid/x.pkl")
    with pytest.raises(CheckpointError, match="cannot load a checkpoint from a int"):
        load_network_pkl(3)


def test_run_folder_opens_the_newest_snapshot(tmp_path):
    run = tmp_path / "00003-stylegan3-r-run"
    run.mkdir()
    os.symlink(DATA / "sg2-32" / "network.pkl", run / "network-snapshot-000040.pkl")
    os.symlink(DATA / "sg3r-32" / "network.pkl", run / "network-snapshot-000100.pkl")
    # Decoys a loose match would pick (all newer-numbered, none loadable): a partial write, a copy, a folder.
    (run / ".network-snapshot-000900.pkl.x1y2.tmp").write_bytes(b"partial")
    (run / "network-snapshot-000800.pkl.bak").write_bytes(b"junk")
    (run / "old-network-snapshot-000700.pkl").write_bytes(b"junk")
    (run / "network-snapshot-000600.pkl").mkdir()
    (run / "stats.jsonl").write_text("{}\n")
    os.utime(run / "network-snapshot-000100.pkl", (1, 1), follow_symlinks=False)  # number, not mtime, decides
    assert load_network_pkl(run)["G_ema"].arch == "stylegan3-r"
    assert load_network_pkl(str(run))["G_ema"].arch == "stylegan3-r"
    # 100 > 40 numerically even where 40 sorts later as text.
    os.rename(run / "network-snapshot-000100.pkl", run / "network-snapshot-100.pkl")
    assert load_network_pkl(run)["G_ema"].arch == "stylegan3-r"
    empty = tmp_path / "empty-run"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no network-snapshot"):
        load_network_pkl(empty)


def test_training_outdir_opens_the_newest_runs_newest_snapshot(tmp_path):
    # `train --outdir OUT` makes OUT/00000-.../, OUT/00001-.../ (a resumed run): OUT itself opens the latest.
    for run, snaps in (("00000-stylegan3-r-a", {"000900": "sg3r-32"}), ("00001-stylegan2-a", {"000020": "sg2-32"}),
                       ("00002-stylegan3-t-a", {})):
        (tmp_path / run).mkdir()
        for kimg, fixture in snaps.items():
            os.symlink(DATA / fixture / "network.pkl", tmp_path / run / f"network-snapshot-{kimg}.pkl")
    (tmp_path / "notes-00003").mkdir()
    assert load_network_pkl(tmp_path)["G_ema"].arch == "stylegan2"   # run 1 beats run 0's higher kimg
    with pytest.raises(CheckpointError, match=r"^\S*empty: no network-snapshot-\*\.pkl in this folder or its run"):
        (tmp_path / "empty").mkdir()
        load_network_pkl(tmp_path / "empty")


@pytest.mark.parametrize("keys", [("G_ema",), ("G",), ("G", "D"), ("D", "G_ema")])
def test_a_file_with_only_some_networks(sg2_records, sg2_reference, keys):
    blob = hostile.nvidia_pickle({k: sg2_records[k] for k in keys})
    out = load_bytes(blob)
    assert set(out) == set(keys) | {"format"}  # absent networks are absent, not None
    for k in keys:
        assert _same_weights(out[k], sg2_reference[k]), k


def test_only_g_ema_renders_like_the_full_file(sg2_records):
    out = load_bytes(hostile.nvidia_pickle({"G_ema": sg2_records["G_ema"]}, protocol=2))
    e = expected("sg2-32")
    img = out["G_ema"](torch.from_numpy(e["z"]), None, truncation_psi=0.7, noise_mode="const", force_fp32=True)
    ref = e["img_psi07"]
    assert np.abs(img.numpy() - ref).max() <= 1e-3 * max(1.0, np.abs(ref).max())


def _augment_record(p=0.3, **extra_kwargs):
    kwargs = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1,
                  lumaflip=1, hue=1, saturation=1, **extra_kwargs)  # NVIDIA's 'bgc' preset
    buffers = collections.OrderedDict(p=torch.tensor(p), Hz_geom=torch.randn(12), Hz_fbank=torch.randn(4, 64))
    return PersistentRecord("AugmentPipe", {"_parameters": collections.OrderedDict(), "_buffers": buffers,
                                            "_modules": collections.OrderedDict(), "_init_args": (),
                                            "_init_kwargs": kwargs}, "0" * 64)


def test_augment_pipe_and_training_set_kwargs_and_extra_keys(sg2_records):
    tsk = {"class_name": "training.dataset.ImageFolderDataset", "path": "x.zip", "resolution": 32, "xflip": True}
    blob = hostile.nvidia_pickle({"G_ema": sg2_records["G_ema"], "augment_pipe": _augment_record(0.3),
                                  "training_set_kwargs": tsk, "progress": {"cur_nimg": 123}, "version": 7})
    out = load_bytes(blob)
    assert set(out) == {"G_ema", "augment_pipe", "training_set_kwargs", "format"}  # unknown keys ignored
    pipe = out["augment_pipe"]
    assert type(pipe).__name__ == "AugmentPipe" and float(pipe.p) == pytest.approx(0.3)
    assert pipe.init_kwargs["xflip"] == 1 and pipe.init_kwargs["saturation"] == 1 and pipe.init_kwargs["noise"] == 0
    assert out["training_set_kwargs"] == tsk
    with pytest.raises(UnknownArchitectureError, match="AugmentPipe option 'warp'"):
        load_bytes(hostile.nvidia_pickle({"G_ema": sg2_records["G_ema"], "augment_pipe": _augment_record(warp=1)}))


def _renamed(rec: PersistentRecord, path: str, class_name: str) -> PersistentRecord:
    """A copy of `rec` (state shared) whose module at dotted `path` ('' = itself) has another class name."""
    if not path:
        return PersistentRecord(class_name, rec.state, rec.module_src_hash)
    head, _, rest = path.partition(".")
    modules = collections.OrderedDict(rec.state["_modules"])
    modules[head] = _renamed(modules[head], rest, class_name)
    return PersistentRecord(rec.class_name, dict(rec.state, _modules=modules), rec.module_src_hash)


def test_unknown_architecture_names_the_class(sg2_records):
    g = sg2_records["G_ema"]
    cases = [
        ({"G_ema": _renamed(g, "", "StyleGANXLGenerator")}, "StyleGANXLGenerator"),
        ({"D": _renamed(sg2_records["D"], "", "ProjectedDiscriminator")}, "ProjectedDiscriminator"),
    ]
    # A Generator whose synthesis network has neither StyleGAN2 blocks nor a StyleGAN3 input.
    syn = g.state["_modules"]["synthesis"]
    odd = PersistentRecord("SuperresSynthesis", dict(syn.state, _modules=collections.OrderedDict(
        (k.replace("b", "sr"), v) for k, v in syn.state["_modules"].items())), syn.module_src_hash)
    cases.append(({"G_ema": PersistentRecord("Generator", dict(g.state, _modules=collections.OrderedDict(
        g.state["_modules"], synthesis=odd)), g.module_src_hash)}, "SuperresSynthesis"))
    for data, name in cases:
        with pytest.raises(UnknownArchitectureError) as e:
            load_bytes(hostile.nvidia_pickle(data))
        assert name in str(e.value) and "\n" not in str(e.value)


def _with_kwargs(rec: PersistentRecord, **changes) -> PersistentRecord:
    kwargs = dict(rec.state["_init_kwargs"])
    for k, v in changes.items():
        if "." in k:
            outer, inner = k.split(".")
            kwargs[outer] = dict(kwargs.get(outer) or {}, **{inner: v})
        else:
            kwargs[k] = v
    return PersistentRecord(rec.class_name, dict(rec.state, _init_kwargs=kwargs), rec.module_src_hash)


@pytest.mark.parametrize("changes, message", [
    ({"z_dim": 2**31}, "z_dim=2147483648"),                        # would allocate 512 GiB
    ({"mapping_kwargs.num_layers": 10**6}, "num_layers=1000000"),  # would loop for minutes
    ({"img_resolution": 48}, "power of two"),
    ({"img_resolution": 2**20}, "img_resolution"),
    ({"w_dim": 0}, "w_dim=0"),
    ({"w_dim": 64.5}, "w_dim=64.5"),
    ({"channel_base": 2**26, "channel_max": 2**16}, "far larger than the tensors"),  # 38e9-element convs
    ({"channel_max": 128}, "has shape"),
    ({"conv_clamp": float("nan")}, "conv_clamp=nan"),
    ({"architecture": "weird"}, "weird"),
])
def test_bad_constructor_settings_fail_fast_in_one_line(sg2_records, changes, message):
    import time
    blob = hostile.nvidia_pickle({"G_ema": _with_kwargs(sg2_records["G_ema"], **changes)})
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError) as e:
        load_bytes(blob)
    assert time.perf_counter() - t0 < 10
    assert message in str(e.value) and "\n" not in str(e.value) and str(e.value).startswith("<file>: G_ema: ")


def test_bad_tensors_in_a_well_formed_file(sg2_records):
    g = sg2_records["G_ema"]
    w = g.state["_modules"]["mapping"].state["_modules"]["fc0"].state["_parameters"]["weight"]

    def with_fc0_weight(t):
        fc0 = g.state["_modules"]["mapping"].state["_modules"]["fc0"]
        fc0 = PersistentRecord(fc0.class_name, dict(fc0.state, _parameters=collections.OrderedDict(
            fc0.state["_parameters"], weight=t)), fc0.module_src_hash)
        mapping = g.state["_modules"]["mapping"]
        mapping = PersistentRecord(mapping.class_name, dict(mapping.state, _modules=collections.OrderedDict(
            mapping.state["_modules"], fc0=fc0)), mapping.module_src_hash)
        return {"G_ema": PersistentRecord("Generator", dict(g.state, _modules=collections.OrderedDict(
            g.state["_modules"], mapping=mapping)), g.module_src_hash)}

    bad = w.clone()
    bad[0, 0] = float("nan")
    for t, message in ((bad, "non-finite"), (w[:-1], "has shape"), (w.to(torch.int32), "is int32, expected float32"),
                       (w.double(), None)):
        blob = hostile.nvidia_pickle(with_fc0_weight(t))
        if message is None:
            assert torch.equal(load_bytes(blob)["G_ema"].mapping.fc0.weight, w)  # float64 is cast, not refused
            continue
        with pytest.raises(CheckpointError, match=message):
            load_bytes(blob)


def test_truncated_or_corrupt_files_through_load_network_pkl(tmp_path):
    data = (DATA / "sg2-32" / "network.pkl").read_bytes()
    cases = {"empty": b"", "garbage": b"not a pickle at all\n", "png": b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
             "zip": b"PK\x03\x04" + b"\0" * 64, "a number": pickle.dumps(12345), "a dict": pickle.dumps({"a": 1}),
             "a list of nets": pickle.dumps([1, 2])}
    cases.update({f"cut at {n}": data[:n] for n in (1, 2, 100, 5000, len(data) // 3, len(data) - 1)})
    for name, blob in cases.items():
        path = tmp_path / "bad.pkl"
        path.write_bytes(blob)
        for source in (path, io.BytesIO(blob)):
            with pytest.raises(CheckpointError) as e:
                load_network_pkl(source)
            text = str(e.value)
            assert "\n" not in text and 0 < len(text) < 500, (name, text)
    with pytest.raises(CheckpointError, match="no such file"):
        load_network_pkl(tmp_path / "missing.pkl")


def test_own_format_round_trip(tmp_path, sg2_reference):
    from networks import save_network_pkl
    from networks.training.augment import AugmentPipe
    pipe = AugmentPipe.from_preset("bgc")
    with torch.no_grad():
        pipe.p.fill_(0.125)
    path = save_network_pkl(tmp_path / "own.pkl", {"G_ema": sg2_reference["G_ema"], "D": sg2_reference["D"],
                                                    "augment_pipe": pipe, "training_set_kwargs": {"xflip": True},
                                                    "resume": {"counters": {"cur_nimg": 64}}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own.pkl"]  # no temporary left behind
    out = load_network_pkl(path)
    assert set(out) == {"G_ema", "D", "augment_pipe", "training_set_kwargs", "resume", "format"}
    assert out["format"] == "sg-explorer" and out["resume"]["counters"]["cur_nimg"] == 64
    assert _same_weights(out["G_ema"], sg2_reference["G_ema"]) and _same_weights(out["D"], sg2_reference["D"])
    assert float(out["augment_pipe"].p) == 0.125 and out["augment_pipe"].init_kwargs == pipe.init_kwargs
    # What load_network_pkl returns saves again as it is (its 'format' says what the file was, not a payload).
    again = load_network_pkl(save_network_pkl(tmp_path / "again.pkl", out))
    assert again["format"] == "sg-explorer" and _same_weights(again["G_ema"], sg2_reference["G_ema"])
    nvidia = load_network_pkl(save_network_pkl(tmp_path / "from-nvidia.pkl", sg2_reference))
    assert nvidia["format"] == "sg-explorer" and _same_weights(nvidia["D"], sg2_reference["D"])


def test_progressive_growing_layer_names_are_renamed_per_resolution():
    from networks.tf_convert import _rename_lod_layers
    tf = {"synthesis/ToRGB_lod0/weight": 1, "synthesis/ToRGB_lod2/bias": 2, "synthesis/64x64/Conv0_up/weight": 3}
    assert _rename_lod_layers(tf, "synthesis/", "ToRGB", 64)
    assert tf == {"synthesis/64x64/ToRGB/weight": 1, "synthesis/16x16/ToRGB/bias": 2,
                  "synthesis/64x64/Conv0_up/weight": 3}
    d = {"FromRGB_lod1/weight": 4, "4x4/Conv/weight": 5}
    assert _rename_lod_layers(d, "", "FromRGB", 32) and d == {"16x16/FromRGB/weight": 4, "4x4/Conv/weight": 5}
    assert not _rename_lod_layers({"32x32/FromRGB/weight": 6}, "", "FromRGB", 32)
