"""Legacy TensorFlow pickles of the progressive-growing lineage -> the project's StyleGAN (v1) and ProGAN modules.

Input: `TFNetworkRecord`s from `networks.pickles.safe_load` (NVlabs/stylegan's `dnnlib.tflib.network.Network`,
state version 3 or 4; tkarras/progressive_growing_of_gans's `tfutil.Network`, version 2). Output: a config
dataclass and a state dict with exactly the names and shapes of `networks.stylegan1` / `networks.progan`.

Sizes are read from the variable shapes: real files keep almost nothing in `static_kwargs`. Layout facts
(tests/data/nvidia-compat/README.md): TF convs are [kh, kw, in, out] (ours [out, in, kh, kw]), dense [in, out];
StyleGAN's fused up-sampling convs (from 128 px with fused_scale 'auto') are flipped in both spatial axes;
ProGAN's fused `Conv0_up` is [kh, kw, OUT, IN], flipped. D's convs are never flipped.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from networks import config as C
from networks.errors import CheckpointError, UnknownArchitectureError
from networks.pickles import TFNetworkRecord
from networks.tf_convert import _Builder, _check, _conv, _dense, tf_variables

__all__ = ["tf_arch", "convert_stylegan1_generator", "convert_stylegan1_discriminator",
           "convert_progan_generator", "convert_progan_discriminator"]

# Settings the converter understands, or that only steer training / sampling.
_HANDLED = {"num_channels", "resolution", "label_size", "latent_size", "dlatent_size", "mapping_layers",
            "mapping_fmaps", "mapping_lrmul", "fmap_base", "fmap_decay", "fmap_max", "fused_scale", "use_noise",
            "dlatent_broadcast", "dlatent_avg_beta", "truncation_psi", "truncation_cutoff", "style_mixing_prob",
            "structure", "is_template_graph", "randomize_noise", "mbstd_group_size", "mbstd_num_features",
            "normalize_latents", "use_wscale", "use_pixelnorm", "dtype", "force_clean_graph", "components",
            "is_validation"}
# Settings with one supported value (the build functions' defaults).
_FIXED = {"use_styles": True, "use_instance_norm": True, "const_input_layer": True, "use_pixel_norm": False,
          "nonlinearity": "lrelu", "mapping_nonlinearity": "lrelu", "blur_filter": [1, 2, 1],
          "use_leakyrelu": True, "pixelnorm_epsilon": 1e-8, "mapping_dlatent_size": None}


def tf_arch(rec: TFNetworkRecord) -> str:
    """'stylegan' | 'progan' | 'stylegan2' for a generator record (G or Gs), told apart by its variable names,
    not its state version (NVlabs/stylegan2 writes version 4 for StyleGAN v1 networks too)."""
    names = tf_variables(rec)
    if "4x4/Dense/weight" in names and not rec.components:
        return "progan"
    if "synthesis/4x4/Const/StyleMod/weight" in names:
        return "stylegan"
    return "stylegan2"


def _check_kwargs(rec: TFNetworkRecord, what: str) -> dict:
    kw = dict(rec.static_kwargs)
    for k, v in kw.items():
        if k in _FIXED:
            want = _FIXED[k]
            same = (list(v) == want) if isinstance(want, list) and isinstance(v, (list, tuple)) else v == want
            if not same:
                raise UnknownArchitectureError(f"TensorFlow {what} has {k}={v!r}; only {want!r} is supported")
        elif k not in _HANDLED:
            raise UnknownArchitectureError(f"TensorFlow {what} has unsupported setting {k!r}")
    return kw


def _version(rec, allowed, what):
    if not isinstance(rec, TFNetworkRecord):
        raise CheckpointError(f"expected a TensorFlow {what} network")
    if rec.version not in allowed:
        raise UnknownArchitectureError(f"TensorFlow {what} network state version {rec.version!r} is not one this "
                                       f"format has ({', '.join(map(str, allowed))})")


def _shape(tf: dict, name: str, what: str, ndim: int) -> tuple:
    if name not in tf:
        raise UnknownArchitectureError(f"TensorFlow {what} lacks variable {name!r}")
    shape = tuple(np.shape(tf[name]))
    _check(len(shape) == ndim, f"TensorFlow {what} variable {name!r} has shape {list(shape)}")
    return shape


def _resolution(tf: dict, kw: dict, what: str) -> int:
    """The top r of the '{r}x{r}/' scopes; must agree with static_kwargs' resolution when given."""
    found = [int(m.group(1)) for n in tf for m in [re.match(r"(?:\w+/)?(\d+)x\1/", n)] if m]
    _check(found, f"TensorFlow {what} has no per-resolution layers")
    res = max(found)
    _check(4 <= res <= (1 << 14) and res & (res - 1) == 0, f"TensorFlow {what} resolution {res} is not a power of two")
    if "resolution" in kw:
        _check(kw["resolution"] == res, f"TensorFlow {what} says resolution {kw['resolution']!r} but its layers "
               f"reach {res}x{res}")
    return res


def _fit_fmaps(ch: dict[int, int], kw: dict, what: str) -> tuple[int, float, int]:
    """(fmap_base, fmap_decay, fmap_max) reproducing the channel count of every stage seen in the file."""
    decay = kw.get("fmap_decay", 1.0)
    _check(type(decay) in (int, float) and 0 <= decay <= 8, f"TensorFlow {what} fmap_decay {decay!r} is not supported")
    top = max(ch.values())
    s_min = max(ch, key=lambda s: (ch[s] < top, s))     # the deepest stage below the cap, else the deepest
    candidates = [(kw.get("fmap_base", 8192), kw.get("fmap_max", 512)),
                  (int(round(ch[s_min] * 2 ** (s_min * decay))), top)]
    for base, fmax in candidates:
        if type(base) is int and type(fmax) is int and base > 0 and fmax > 0 and all(
                C.nf(s, base, decay, fmax) == n for s, n in ch.items()):
            return base, float(decay), fmax
    raise UnknownArchitectureError(f"TensorFlow {what} channel counts {sorted(ch.items())} do not follow "
                                   f"nf(s) = min(fmap_base / 2^s, fmap_max)")


def _fused_flag(value, what: str):
    _check(value in (True, False, "auto") and type(value) in (bool, str), f"TensorFlow {what} fused_scale {value!r}")
    return value


def _conv_flip(w):            # [kh, kw, in, out] mirrored in both spatial axes -> [out, in, kh, kw]
    return w[::-1, ::-1].transpose(3, 2, 0, 1)


def _conv_t_flip(w):          # ProGAN's fused [kh, kw, OUT, IN], mirrored -> [OUT, IN, kh, kw]
    return w[::-1, ::-1].transpose(2, 3, 0, 1)


def _lod(b: _Builder, dst: str, src: str):
    if src in b.tf:
        b.take(dst, src, [], lambda v: np.asarray(v, dtype=np.float32).reshape([]))
    else:
        b.state[dst] = torch.zeros([])


# ---------------------------------------------------------------------------------------------- StyleGAN (v1)


def convert_stylegan1_generator(rec: TFNetworkRecord):
    """TF G_style (G or Gs) -> (StyleGAN1Config, state dict of networks.stylegan1.Generator)."""
    what = "StyleGAN generator"
    _version(rec, (3, 4), what)
    _check(set(rec.components) == {"mapping", "synthesis"}, f"TensorFlow {what} lacks its mapping / synthesis")
    kw = _check_kwargs(rec, what)
    for comp in rec.components.values():
        _version(comp, (3, 4), what)
        kw.update({k: v for k, v in _check_kwargs(comp, what).items() if k not in kw})
    tf = tf_variables(rec)
    res = _resolution(tf, kw, what)
    log2 = res.bit_length() - 1
    # Mapping sizes from its dense layers.
    n_map = 0
    while f"mapping/Dense{n_map}/weight" in tf:
        n_map += 1
    _check(n_map >= 1, f"TensorFlow {what} has no mapping layers")
    d0_in, fmaps = _shape(tf, "mapping/Dense0/weight", what, 2)
    w_dim = _shape(tf, f"mapping/Dense{n_map - 1}/weight", what, 2)[1]
    if "mapping/LabelConcat/weight" in tf:
        c_dim, z_dim = _shape(tf, "mapping/LabelConcat/weight", what, 2)
        _check(d0_in == 2 * z_dim, f"TensorFlow {what}: mapping/Dense0 takes {d0_in} inputs, not 2 x {z_dim}")
    else:
        c_dim, z_dim = 0, d0_in
    _check(kw.get("label_size", c_dim) == c_dim, f"TensorFlow {what} label_size {kw.get('label_size')!r} does not "
           f"match its variables ({c_dim})")
    ch = {k - 1: _shape(tf, f"synthesis/{2 ** k}x{2 ** k}/Conv1/weight" if k > 2 else "synthesis/4x4/Conv/weight",
                        what, 4)[3] for k in range(2, log2 + 1)}
    fmap_base, fmap_decay, fmap_max = _fit_fmaps(ch, kw, what)
    cfg = C.StyleGAN1Config(
        latent_size=z_dim, label_size=c_dim, dlatent_size=w_dim, resolution=res,
        num_channels=_shape(tf, "synthesis/ToRGB_lod0/weight", what, 4)[3],
        mapping_layers=n_map, mapping_fmaps=fmaps if n_map > 1 else kw.get("mapping_fmaps", 512),
        mapping_lrmul=float(kw.get("mapping_lrmul", 0.01)),
        fmap_base=fmap_base, fmap_decay=fmap_decay, fmap_max=fmap_max,
        fused_scale=_fused_flag(kw.get("fused_scale", "auto"), what),
        use_noise="synthesis/4x4/Const/Noise/weight" in tf,
        dlatent_avg_beta=kw.get("dlatent_avg_beta", 0.995))
    b = _Builder(tf, what)
    mw = cfg.z_dim * (2 if c_dim else 1)
    feats = [mw] + [cfg.mapping_fmaps] * (n_map - 1) + [w_dim]
    if c_dim:
        b.take("mapping.embed", "mapping/LabelConcat/weight", [c_dim, z_dim])
    for i in range(n_map):
        b.take(f"mapping.fc{i}.dense.weight", f"mapping/Dense{i}/weight", [feats[i + 1], feats[i]], _dense)
        b.take(f"mapping.fc{i}.dense.bias", f"mapping/Dense{i}/bias", [feats[i + 1]])
    b.take("mapping.w_avg", "dlatent_avg", [w_dim])
    noise_k = 0

    def layer(dst, src, cin, cout, r, fused):
        nonlocal noise_k
        if cin:
            b.take(f"{dst}.conv.weight", f"{src}/weight", [cout, cin, 3, 3], _conv_flip if fused else _conv)
        if cfg.use_noise:
            b.take(f"{dst}.noise_strength", f"{src}/Noise/weight", [cout])
            b.take(f"{dst}.noise_const", f"synthesis/noise{noise_k}", [r, r], lambda v: v.reshape(v.shape[-2:]))
        noise_k += 1
        b.take(f"{dst}.bias", f"{src}/bias", [cout])
        b.take(f"{dst}.style.weight", f"{src}/StyleMod/weight", [2 * cout, w_dim], _dense)
        b.take(f"{dst}.style.bias", f"{src}/StyleMod/bias", [2 * cout])

    for k in range(2, log2 + 1):
        r = 2 ** k
        dst, src = f"synthesis.b{r}", f"synthesis/{r}x{r}"
        cout = ch[k - 1]
        if r == 4:
            b.take(f"{dst}.const", f"{src}/Const/const", [cout, 4, 4], lambda v: v.reshape(v.shape[-3:]))
            layer(f"{dst}.conv0", f"{src}/Const", 0, cout, 4, False)
            layer(f"{dst}.conv1", f"{src}/Conv", cout, cout, 4, False)
        else:
            fused = cfg.fused_scale is True or (cfg.fused_scale == "auto" and r >= 128)
            layer(f"{dst}.conv0", f"{src}/Conv0_up", ch[k - 2], cout, r, fused)
            layer(f"{dst}.conv1", f"{src}/Conv1", cout, cout, r, False)
        lod = log2 - k
        b.take(f"{dst}.torgb.conv.weight", f"synthesis/ToRGB_lod{lod}/weight", [cfg.num_channels, cout, 1, 1], _conv)
        b.take(f"{dst}.torgb.bias", f"synthesis/ToRGB_lod{lod}/bias", [cfg.num_channels])
    _lod(b, "synthesis.lod", "lod")   # G_style's own lod decides; the synthesis copy is overwritten per run
    b.used.add("synthesis/lod")
    b.check_all_used()
    return cfg, b.state


def convert_stylegan1_discriminator(rec: TFNetworkRecord):
    """TF D_basic -> (StyleGAN1DiscriminatorConfig, state dict of networks.stylegan1.Discriminator)."""
    what = "StyleGAN discriminator"
    _version(rec, (3, 4), what)
    kw = _check_kwargs(rec, what)
    tf = tf_variables(rec)
    res = _resolution(tf, kw, what)
    cfg, ch, extra = _d_sizes(tf, kw, res, what)
    out = _shape(tf, "4x4/Dense1/weight", what, 2)[1]
    c_dim = kw.get("label_size", 0 if out == 1 else out)
    _check(type(c_dim) is int and max(c_dim, 1) == out, f"TensorFlow {what}: 4x4/Dense1 has {out} outputs for "
           f"label_size {c_dim!r}")
    groups = kw.get("mbstd_group_size", 4)
    cfg = C.StyleGAN1DiscriminatorConfig(
        label_size=c_dim, resolution=res, num_channels=cfg["num_channels"], fmap_base=cfg["fmap_base"],
        fmap_decay=cfg["fmap_decay"], fmap_max=cfg["fmap_max"],
        fused_scale=_fused_flag(kw.get("fused_scale", "auto"), what),
        mbstd_group_size=groups if (extra and type(groups) is int and groups > 1) else 0,
        mbstd_num_features=extra or kw.get("mbstd_num_features", 1))
    return cfg, _d_state(tf, cfg, ch, extra, out, what, down="Conv1_down")


def _d_sizes(tf, kw, res, what):
    log2 = res.bit_length() - 1
    ch = {k - 1: _shape(tf, f"{2 ** k}x{2 ** k}/Conv0/weight", what, 4)[3] for k in range(3, log2 + 1)}
    conv4 = _shape(tf, "4x4/Conv/weight", what, 4)
    ch[1] = conv4[3]
    ch[0] = _shape(tf, "4x4/Dense0/weight", what, 2)[1]
    extra = conv4[2] - ch[1]
    _check(0 <= extra <= 1024, f"TensorFlow {what}: 4x4/Conv has {conv4[2]} inputs for {ch[1]} channels")
    base, decay, fmax = _fit_fmaps(ch, kw, what)
    nch = _shape(tf, "FromRGB_lod0/weight", what, 4)[2]
    return dict(num_channels=nch, fmap_base=base, fmap_decay=decay, fmap_max=fmax), ch, extra


def _d_state(tf, cfg, ch, extra, out, what, down: str):
    b = _Builder(tf, what)
    log2 = cfg.resolution.bit_length() - 1

    def conv(dst, src, cin, cout, k):
        b.take(f"{dst}.conv.weight", f"{src}/weight", [cout, cin, k, k], _conv)
        b.take(f"{dst}.{'b.' if cfg.arch == 'progan' else ''}bias", f"{src}/bias", [cout])

    for k in range(log2, 1, -1):
        r = 2 ** k
        conv(f"b{r}.fromrgb", f"FromRGB_lod{log2 - k}", cfg.num_channels, ch[k - 1], 1)
        if r > 4:
            conv(f"b{r}.conv0", f"{r}x{r}/Conv0", ch[k - 1], ch[k - 1], 3)
            conv(f"b{r}.conv1", f"{r}x{r}/{down}", ch[k - 1], ch[k - 2], 3)
    conv("b4.conv", "4x4/Conv", ch[1] + extra, ch[1], 3)
    b.take("b4.fc.weight", "4x4/Dense0/weight", [ch[0], ch[1] * 16], _dense)
    b.take("b4.fc.bias", "4x4/Dense0/bias", [ch[0]])
    b.take("b4.out.weight", "4x4/Dense1/weight", [out, ch[0]], _dense)
    b.take("b4.out.bias", "4x4/Dense1/bias", [out])
    _lod(b, "lod", "lod")
    b.check_all_used()
    return b.state


# ---------------------------------------------------------------------------------------------- ProGAN


def convert_progan_generator(rec: TFNetworkRecord):
    """TF G_paper (G or Gs) -> (ProGANConfig, state dict of networks.progan.Generator)."""
    what = "ProGAN generator"
    _version(rec, (2,), what)
    kw = _check_kwargs(rec, what)
    tf = tf_variables(rec)
    res = _resolution(tf, kw, what)
    log2 = res.bit_length() - 1
    d_in, d_out = _shape(tf, "4x4/Dense/weight", what, 2)
    c_dim = kw.get("label_size", 0)
    _check(type(c_dim) is int and 0 <= c_dim < d_in, f"TensorFlow {what} label_size {c_dim!r} does not fit its "
           f"{d_in} inputs")
    _check(d_out % 16 == 0, f"TensorFlow {what}: 4x4/Dense has {d_out} outputs, not 16 per channel")
    ch = {1: d_out // 16}
    fused = "8x8/Conv0_up/weight" in tf if res > 4 else kw.get("fused_scale", True)
    for k in range(3, log2 + 1):
        ch[k - 1] = _shape(tf, f"{2 ** k}x{2 ** k}/Conv1/weight", what, 4)[3]
    base, decay, fmax = _fit_fmaps(ch, kw, what)
    cfg = C.ProGANConfig(
        latent_size=d_in - c_dim, label_size=c_dim, resolution=res,
        num_channels=_shape(tf, "ToRGB_lod0/weight", what, 4)[3], fmap_base=base, fmap_decay=decay, fmap_max=fmax,
        normalize_latents=bool(kw.get("normalize_latents", True)), use_wscale=bool(kw.get("use_wscale", True)),
        use_pixelnorm=bool(kw.get("use_pixelnorm", True)), fused_scale=bool(fused))
    b = _Builder(tf, what)
    b.take("synthesis.b4.conv0.dense.weight", "4x4/Dense/weight", [d_out, d_in], _dense)
    b.take("synthesis.b4.conv0.b.bias", "4x4/Dense/bias", [ch[1]])
    for k in range(2, log2 + 1):
        r, cout = 2 ** k, ch[k - 1]
        dst, src = f"synthesis.b{r}", f"{r}x{r}"
        if r == 4:
            b.take(f"{dst}.conv1.conv.weight", f"{src}/Conv/weight", [cout, cout, 3, 3], _conv)
            b.take(f"{dst}.conv1.b.bias", f"{src}/Conv/bias", [cout])
        else:
            if cfg.fused_scale:
                b.take(f"{dst}.conv0.conv.weight", f"{src}/Conv0_up/weight", [cout, ch[k - 2], 3, 3], _conv_t_flip)
                b.take(f"{dst}.conv0.b.bias", f"{src}/Conv0_up/bias", [cout])
            else:
                b.take(f"{dst}.conv0.conv.weight", f"{src}/Conv0/weight", [cout, ch[k - 2], 3, 3], _conv)
                b.take(f"{dst}.conv0.b.bias", f"{src}/Conv0/bias", [cout])
            b.take(f"{dst}.conv1.conv.weight", f"{src}/Conv1/weight", [cout, cout, 3, 3], _conv)
            b.take(f"{dst}.conv1.b.bias", f"{src}/Conv1/bias", [cout])
        b.take(f"{dst}.torgb.conv.weight", f"ToRGB_lod{log2 - k}/weight", [cfg.num_channels, cout, 1, 1], _conv)
        b.take(f"{dst}.torgb.b.bias", f"ToRGB_lod{log2 - k}/bias", [cfg.num_channels])
    b.put("mapping.w_avg", torch.zeros([cfg.w_dim]))
    _lod(b, "synthesis.lod", "lod")
    b.check_all_used()
    return cfg, b.state


def convert_progan_discriminator(rec: TFNetworkRecord):
    """TF D_paper -> (ProGANDiscriminatorConfig, state dict of networks.progan.Discriminator)."""
    what = "ProGAN discriminator"
    _version(rec, (2,), what)
    kw = _check_kwargs(rec, what)
    tf = tf_variables(rec)
    res = _resolution(tf, kw, what)
    sizes, ch, extra = _d_sizes(tf, kw, res, what)
    _check(extra in (0, 1), f"TensorFlow {what}: 4x4/Conv has {extra} extra inputs (one stddev feature at most)")
    out = _shape(tf, "4x4/Dense1/weight", what, 2)[1]
    fused = res == 4 or f"{res}x{res}/Conv1_down/weight" in tf
    groups = kw.get("mbstd_group_size", 4)
    cfg = C.ProGANDiscriminatorConfig(
        label_size=out - 1, resolution=res, num_channels=sizes["num_channels"], fmap_base=sizes["fmap_base"],
        fmap_decay=sizes["fmap_decay"], fmap_max=sizes["fmap_max"], use_wscale=bool(kw.get("use_wscale", True)),
        fused_scale=bool(fused), mbstd_group_size=groups if (extra and type(groups) is int and groups > 1) else 0)
    _check(extra == 0 or cfg.mbstd_group_size > 1, f"TensorFlow {what}: a stddev feature but mbstd_group_size "
           f"{groups!r}")
    return cfg, _d_state(tf, cfg, ch, extra, out, what, down="Conv1_down" if fused else "Conv1")

