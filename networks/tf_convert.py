"""Legacy TensorFlow StyleGAN2 / StyleGAN2-ADA networks -> NVIDIA PyTorch kwargs and state dicts.

Input: `TFNetworkRecord`s from `networks.pickles.safe_load` (G or Gs, and D). Output: the kwargs
NVIDIA's PyTorch constructors take (synthesis kwargs flattened in, as in the stylegan3 repository)
and a state dict with exactly the names, shapes and order of that constructor's `state_dict()`.

Layout facts (checked against tests/data/nvidia-compat/sg2-tf-32):
  * TF conv weights are [kh, kw, in, out], PyTorch [out, in, kh, kw]; dense weights are [in, out].
  * G's up-sampling convs (`Conv0_up`) and G's `Skip` are stored for TF's transposed convolution and
    are flipped in both spatial axes; D's convs (Conv0, Conv1_down, Skip, FromRGB) are not flipped.
  * Learning-rate multipliers need no rescaling: both implementations store weight / lr_multiplier
    (the mapping weights of a fresh network have std 1 / 0.01 = 100 in either format) and apply
    lr_multiplier / sqrt(fan_in) at run time; biases are stored divided by lr_multiplier in both.
  * The style affine's bias is stored without its +1 initialisation offset in TF (`mod_bias`).
  * Channel counts: TF `fmap_base` is half of PyTorch's `channel_base`.
  * FIR filters (`resample_filter` buffers) are not stored by TF; they are rebuilt from
    `resample_kernel` exactly as the PyTorch constructors do (outer product, normalised to sum 1).
"""
from __future__ import annotations

import re

import numpy as np
import torch

from networks.errors import CheckpointError, UnknownArchitectureError
from networks.pickles import TFNetworkRecord

__all__ = ["convert_tf_generator", "convert_tf_discriminator", "tf_variables"]

# TF static kwargs that only affect training or sampling, not the network's weights or forward pass.
_IGNORED = {"truncation_psi", "truncation_cutoff", "style_mixing_prob", "structure", "conditioning",
            "fused_modconv"}


class _Kwargs:
    """Reads TF static kwargs with defaults and remembers which ones were understood."""

    def __init__(self, rec: TFNetworkRecord):
        self.src, self.used = dict(rec.static_kwargs), set()

    def __call__(self, name, default=None, none=None):
        self.used.add(name)
        value = self.src.get(name, default)
        return none if value is None else value

    def check_all_used(self, what: str):
        unknown = sorted(set(self.src) - self.used - _IGNORED)
        if unknown:
            raise UnknownArchitectureError(f"TensorFlow {what} has unsupported setting {unknown[0]!r} "
                                           f"(only StyleGAN2 config E/F and StyleGAN2-ADA networks are supported)")


def tf_variables(rec: TFNetworkRecord, prefix: str = "") -> dict[str, np.ndarray]:
    """All variables of a network and its components, named 'component/.../variable'."""
    out = {prefix + k: v for k, v in rec.variables.items()}
    for name, comp in rec.components.items():
        out.update(tf_variables(comp, f"{prefix}{name}/"))
    return out


def _filter(kernel) -> torch.Tensor:
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float32))
    _check(k.ndim == 1 and k.numel() > 0 and float(k.sum()) != 0, f"unsupported resample_kernel {kernel!r}")
    f = k[:, None] * k[None, :]
    return f / f.sum()


def _check(cond, msg):
    if not cond:
        raise CheckpointError(msg)


class _Builder:
    """Collects state-dict entries in constructor order, checking every TF variable's shape."""

    def __init__(self, tf: dict[str, np.ndarray], what: str):
        self.tf, self.used, self.what = tf, set(), what
        self.state: dict[str, torch.Tensor] = {}

    def take(self, dst: str, src: str, shape, fn=None):
        if src not in self.tf:
            raise UnknownArchitectureError(f"TensorFlow {self.what} lacks variable {src!r} (needed for {dst}); "
                                           "not a StyleGAN2 network this project can convert")
        value = np.asarray(self.tf[src])
        self.used.add(src)
        value = fn(value) if fn is not None else value
        _check(tuple(value.shape) == tuple(shape), f"TensorFlow {self.what} variable {src!r} has shape "
               f"{list(np.asarray(self.tf[src]).shape)}; expected {list(shape)} for {dst}")
        self.state[dst] = torch.from_numpy(np.array(value, dtype=np.float32, order="C"))  # a copy, 0-d kept

    def put(self, dst: str, value: torch.Tensor):
        self.state[dst] = value.clone()

    def check_all_used(self, ignore=("lod",)):
        unused = [k for k in self.tf if k not in self.used and k.rsplit("/", 1)[-1] not in ignore]
        if unused:
            raise UnknownArchitectureError(f"TensorFlow {self.what} has unexpected variable {unused[0]!r}; "
                                           "not a StyleGAN2 network this project can convert")


def _conv(w):                 # [kh, kw, in, out] -> [out, in, kh, kw]
    return w.transpose(3, 2, 0, 1)


def _conv_flip(w):            # the same, mirrored in both spatial axes
    return w[::-1, ::-1].transpose(3, 2, 0, 1)


def _dense(w):                # [in, out] -> [out, in]
    return w.T


def _version_check(rec, what):
    if not isinstance(rec, TFNetworkRecord):
        raise CheckpointError(f"expected a TensorFlow {what} network")
    if rec.version < 4:
        raise UnknownArchitectureError(f"TensorFlow {what} pickle version {rec.version} is too old "
                                       "(StyleGAN1 / early StyleGAN2); not supported")


def _log2(res: int, what: str) -> int:
    _check(isinstance(res, int) and res >= 4 and res & (res - 1) == 0,
           f"TensorFlow {what} resolution {res!r} is not a power of two >= 4")
    return res.bit_length() - 1


def _rename_lod_layers(tf: dict, prefix: str, layer: str, resolution: int) -> bool:
    """Progressive-growing files name a per-resolution layer '<layer>_lod<k>' (k = levels below the top);
    renames those to '<r>x<r>/<layer>' in place. True when there were any."""
    found = False
    for name in list(tf):
        m = re.fullmatch(rf"{re.escape(prefix)}{layer}_lod(\d+)/(.*)", name)
        if m:
            r = resolution >> int(m.group(1))
            tf[f"{prefix}{r}x{r}/{layer}/{m.group(2)}"] = tf.pop(name)
            found = True
    return found


def _resolve_architecture(kwargs: dict, tf: dict, prefix: str, layer: str, what: str) -> tuple[int, str]:
    """(log2 of the resolution, architecture): 'orig' when the file names its image layers per LOD."""
    res_log2 = _log2(kwargs["img_resolution"], what)
    if _rename_lod_layers(tf, prefix, layer, kwargs["img_resolution"]):
        kwargs["architecture"] = "orig"
    arch = kwargs["architecture"]
    _check(arch in ("orig", "skip", "resnet"), f"unknown {what} architecture {arch!r}")
    return res_log2, arch


def convert_tf_generator(rec: TFNetworkRecord) -> tuple[dict, dict[str, torch.Tensor]]:
    """TF G or Gs -> (NVIDIA Generator kwargs, state dict)."""
    _version_check(rec, "generator")
    kw = _Kwargs(rec)
    mapping_kwargs = dict(
        num_layers=kw("mapping_layers", 8),
        embed_features=kw("label_fmaps", None),
        layer_features=kw("mapping_fmaps", None),
        activation=kw("mapping_nonlinearity", "lrelu"),
        lr_multiplier=kw("mapping_lrmul", 0.01),
        w_avg_beta=kw("w_avg_beta", 0.995, none=1),
    )
    kwargs = dict(
        z_dim=kw("latent_size", 512), c_dim=kw("label_size", 0), w_dim=kw("dlatent_size", 512),
        img_resolution=kw("resolution", 1024), img_channels=kw("num_channels", 3),
        mapping_kwargs=mapping_kwargs,
        channel_base=kw("fmap_base", 16384) * 2, channel_max=kw("fmap_max", 512),
        num_fp16_res=kw("num_fp16_res", 0), conv_clamp=kw("conv_clamp", None),
        architecture=kw("architecture", "skip"), resample_filter=list(kw("resample_kernel", [1, 3, 3, 1])),
        use_noise=kw("use_noise", True), activation=kw("nonlinearity", "lrelu"),
        # Run-time choice only (same numbers either way); NVIDIA's training configs use this value.
        fused_modconv_default="inference_only",
    )
    kw.check_all_used("generator")
    tf = dict(tf_variables(rec))
    # Progressive-growing-style output names: only the last block's ToRGB exists ('orig' architecture).
    res_log2, arch = _resolve_architecture(kwargs, tf, "synthesis/", "ToRGB", "generator")

    z_dim, c_dim, w_dim = kwargs["z_dim"], kwargs["c_dim"], kwargs["w_dim"]
    img_ch = kwargs["img_channels"]
    ch = {2 ** i: min(kwargs["channel_base"] // 2 ** i, kwargs["channel_max"]) for i in range(2, res_log2 + 1)}
    filt = _filter(kwargs["resample_filter"])
    b = _Builder(tf, "generator")
    noise_index = 0  # TF numbers the noise inputs in layer order: b4.conv1, then conv0, conv1 per block

    def layer(dst, src, cin, cout, res, up):
        nonlocal noise_index
        b.take(f"{dst}.weight", f"{src}/weight", [cout, cin, 3, 3], _conv_flip if up else _conv)
        if kwargs["use_noise"]:
            b.take(f"{dst}.noise_strength", f"{src}/noise_strength", [])
        b.take(f"{dst}.bias", f"{src}/bias", [cout])
        b.put(f"{dst}.resample_filter", filt)
        if kwargs["use_noise"]:
            b.take(f"{dst}.noise_const", f"synthesis/noise{noise_index}", [res, res],
                   lambda v: v[0, 0] if v.ndim == 4 else v)
        noise_index += 1
        affine(dst, src, cin)

    def affine(dst, src, cin):
        b.take(f"{dst}.affine.weight", f"{src}/mod_weight", [cin, w_dim], _dense)
        b.take(f"{dst}.affine.bias", f"{src}/mod_bias", [cin], lambda v: v + 1)

    for i in range(2, res_log2 + 1):
        res = 2 ** i
        dst, src = f"synthesis.b{res}", f"synthesis/{res}x{res}"
        cin, cout = (0 if res == 4 else ch[res // 2]), ch[res]
        if res == 4:
            b.take(f"{dst}.const", f"{src}/Const/const", [cout, 4, 4], lambda v: v[0])
        b.put(f"{dst}.resample_filter", filt)
        if res == 4:
            layer(f"{dst}.conv1", f"{src}/Conv", cout, cout, res, up=False)
        else:
            layer(f"{dst}.conv0", f"{src}/Conv0_up", cin, cout, res, up=True)
            layer(f"{dst}.conv1", f"{src}/Conv1", cout, cout, res, up=False)
        if res == kwargs["img_resolution"] or arch == "skip":
            b.take(f"{dst}.torgb.weight", f"{src}/ToRGB/weight", [img_ch, cout, 1, 1], _conv)
            b.take(f"{dst}.torgb.bias", f"{src}/ToRGB/bias", [img_ch])
            affine(f"{dst}.torgb", f"{src}/ToRGB", cout)
        if res > 4 and arch == "resnet":
            b.take(f"{dst}.skip.weight", f"{src}/Skip/weight", [cout, cin, 1, 1], _conv_flip)
            b.put(f"{dst}.skip.resample_filter", filt)

    _mapping(b, "mapping", "mapping/Dense", "mapping/LabelEmbed", z_dim, c_dim, w_dim, mapping_kwargs,
             w_avg="dlatent_avg")
    b.check_all_used()
    return kwargs, b.state


def _mapping(b: _Builder, dst: str, dense: str, embed: str, z_dim, c_dim, w_dim, mk: dict, w_avg=None):
    embed_features = 0 if c_dim == 0 else (mk["embed_features"] or w_dim)
    layer_features = mk["layer_features"] or w_dim
    n = mk["num_layers"]
    features = [z_dim + embed_features] + [layer_features] * (n - 1) + [w_dim]
    if w_avg is not None:
        b.take(f"{dst}.w_avg", w_avg, [w_dim])
    if c_dim > 0:
        b.take(f"{dst}.embed.weight", f"{embed}/weight", [embed_features, c_dim], _dense)
        b.take(f"{dst}.embed.bias", f"{embed}/bias", [embed_features])
    for i in range(n):
        b.take(f"{dst}.fc{i}.weight", f"{dense}{i}/weight", [features[i + 1], features[i]], _dense)
        b.take(f"{dst}.fc{i}.bias", f"{dense}{i}/bias", [features[i + 1]])


def convert_tf_discriminator(rec: TFNetworkRecord) -> tuple[dict, dict[str, torch.Tensor]]:
    """TF D -> (NVIDIA Discriminator kwargs, state dict)."""
    _version_check(rec, "discriminator")
    kw = _Kwargs(rec)
    kwargs = dict(
        c_dim=kw("label_size", 0), img_resolution=kw("resolution", 1024), img_channels=kw("num_channels", 3),
        architecture=kw("architecture", "resnet"),
        channel_base=kw("fmap_base", 16384) * 2, channel_max=kw("fmap_max", 512),
        num_fp16_res=kw("num_fp16_res", 0), conv_clamp=kw("conv_clamp", None),
        cmap_dim=kw("mapping_fmaps", None),
        block_kwargs=dict(activation=kw("nonlinearity", "lrelu"),
                          resample_filter=list(kw("resample_kernel", [1, 3, 3, 1])),
                          freeze_layers=kw("freeze_layers", 0)),
        mapping_kwargs=dict(num_layers=kw("mapping_layers", 0), embed_features=kw("mapping_fmaps", None),
                            layer_features=kw("mapping_fmaps", None), activation=kw("nonlinearity", "lrelu"),
                            lr_multiplier=kw("mapping_lrmul", 0.1)),
        epilogue_kwargs=dict(mbstd_group_size=kw("mbstd_group_size", None),
                             mbstd_num_channels=kw("mbstd_num_features", 1),
                             activation=kw("nonlinearity", "lrelu")),
    )
    kw.check_all_used("discriminator")
    tf = dict(tf_variables(rec))
    res_log2, arch = _resolve_architecture(kwargs, tf, "", "FromRGB", "discriminator")

    c_dim, img_ch = kwargs["c_dim"], kwargs["img_channels"]
    ch = {2 ** i: min(kwargs["channel_base"] // 2 ** i, kwargs["channel_max"]) for i in range(2, res_log2 + 1)}
    cmap_dim = 0 if c_dim == 0 else (kwargs["cmap_dim"] or ch[4])
    filt = _filter(kwargs["block_kwargs"]["resample_filter"])
    mbstd_ch = kwargs["epilogue_kwargs"]["mbstd_num_channels"]
    b = _Builder(tf, "discriminator")

    def conv(dst, src, cin, cout, k, bias=True):
        b.take(f"{dst}.weight", f"{src}/weight", [cout, cin, k, k], _conv)
        if bias:
            b.take(f"{dst}.bias", f"{src}/bias", [cout])
        b.put(f"{dst}.resample_filter", filt)

    for i in range(res_log2, 2, -1):
        res = 2 ** i
        dst, src = f"b{res}", f"{res}x{res}"
        tmp, out = ch[res], ch[res // 2]
        b.put(f"{dst}.resample_filter", filt)
        if res == kwargs["img_resolution"] or arch == "skip":
            conv(f"{dst}.fromrgb", f"{src}/FromRGB", img_ch, tmp, 1)
        conv(f"{dst}.conv0", f"{src}/Conv0", tmp, tmp, 3)
        conv(f"{dst}.conv1", f"{src}/Conv1_down", tmp, out, 3)
        if arch == "resnet":
            conv(f"{dst}.skip", f"{src}/Skip", tmp, out, 1, bias=False)
    if c_dim > 0:
        _mapping(b, "mapping", "Mapping", "LabelEmbed", 0, c_dim, cmap_dim, kwargs["mapping_kwargs"])
    c4 = ch[4]
    if arch == "skip":
        conv("b4.fromrgb", "4x4/FromRGB", img_ch, c4, 1)
    conv("b4.conv", "4x4/Conv", c4 + mbstd_ch, c4, 3)
    b.take("b4.fc.weight", "4x4/Dense0/weight", [c4, c4 * 16], _dense)
    b.take("b4.fc.bias", "4x4/Dense0/bias", [c4])
    b.take("b4.out.weight", "Output/weight", [cmap_dim or 1, c4], _dense)
    b.take("b4.out.bias", "Output/bias", [cmap_dim or 1])
    b.check_all_used()
    return kwargs, b.state
