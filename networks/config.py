"""Typed network configurations.

Field names equal the keyword arguments of NVIDIA's constructors, so a
checkpoint's `_init_kwargs` maps onto these dataclasses one to one
(`from_nvidia_kwargs`) and back (`to_nvidia_kwargs`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

ARCHS = ("stylegan2", "stylegan3-t", "stylegan3-r")
LEGACY_ARCHS = ("stylegan", "progan")          # progressive-growing lineage (StyleGAN v1, ProGAN)


@dataclass(frozen=True)
class MappingConfig:
    num_layers: int = 8                      # Fully connected layers after the z/c embedding.
    embed_features: Optional[int] = None     # Label embedding width; None = w_dim.
    layer_features: Optional[int] = None     # Hidden width; None = w_dim.
    activation: str = "lrelu"                # Activation of every layer.
    lr_multiplier: float = 0.01              # Learning-rate multiplier (equalized lr).
    w_avg_beta: Optional[float] = 0.998      # EMA decay of w_avg while training; None = no tracking.


@dataclass(frozen=True)
class StyleGAN2Config:
    z_dim: int = 512                         # Latent z size.
    c_dim: int = 0                           # Label size; 0 = unconditional.
    w_dim: int = 512                         # Intermediate latent w size.
    img_resolution: int = 1024               # Output resolution (power of two).
    img_channels: int = 3                    # Output channels.
    mapping: MappingConfig = field(default_factory=MappingConfig)
    channel_base: int = 32768                # Channels at resolution r = min(channel_base // r, channel_max).
    channel_max: int = 512
    num_fp16_res: int = 4                    # Highest resolutions that run in fp16 on CUDA; 0 = none.
    architecture: str = "skip"               # 'orig' | 'skip' | 'resnet'.
    resample_filter: Tuple[int, ...] = (1, 3, 3, 1)
    conv_clamp: Optional[float] = None       # Clamp conv outputs to +-conv_clamp; None = no clamp.
    fp16_channels_last: bool = False
    fused_modconv_default: Any = True        # True | False | 'inference_only'.
    use_noise: bool = True                   # Per-pixel noise inputs.

    arch = "stylegan2"

    @property
    def num_ws(self) -> int:
        log2 = self.img_resolution.bit_length() - 1
        # Each block past 4x4 has conv0, conv1 and torgb; torgb shares the next block's first w.
        return (log2 - 2) * 2 + 2


@dataclass(frozen=True)
class StyleGAN3Config:
    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 1024
    img_channels: int = 3
    mapping: MappingConfig = field(default_factory=lambda: MappingConfig(num_layers=2))
    channel_base: int = 32768                # Overall multiplier for the number of channels.
    channel_max: int = 512
    num_layers: int = 14                     # Synthesis layers, excluding the ToRGB layer.
    num_critical: int = 2                    # Critically sampled layers at the end.
    first_cutoff: float = 2                  # Cutoff frequency of the first layer (f_{c,0}).
    first_stopband: float = 2 ** 2.1         # Stopband of the first layer (f_{t,0}).
    last_stopband_rel: float = 2 ** 0.3      # Stopband of the last layer, relative to its cutoff.
    margin_size: int = 10                    # Extra pixels kept around the image on each side.
    output_scale: float = 0.25               # Scale of the output image.
    num_fp16_res: int = 4
    conv_kernel: int = 3                     # 3 for -T, 1 for -R.
    filter_size: int = 6                     # Low-pass taps relative to the up/down factor.
    lrelu_upsampling: int = 2                # Oversampling factor around the leaky ReLU.
    use_radial_filters: bool = False         # True for -R: radially symmetric down filters.
    conv_clamp: Optional[float] = 256
    magnitude_ema_beta: float = 0.999        # Decay of the input-magnitude EMA.

    @property
    def arch(self) -> str:
        return "stylegan3-r" if self.use_radial_filters else "stylegan3-t"

    @property
    def num_ws(self) -> int:
        return self.num_layers + 2


@dataclass(frozen=True)
class DiscriminatorConfig:
    c_dim: int = 0
    img_resolution: int = 1024
    img_channels: int = 3
    architecture: str = "resnet"             # 'orig' | 'skip' | 'resnet'.
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 4
    conv_clamp: Optional[float] = 256
    cmap_dim: Optional[int] = None           # Label projection width; None = channels at 4x4.
    mapping: MappingConfig = field(default_factory=lambda: MappingConfig(num_layers=8, w_avg_beta=None))
    mbstd_group_size: Optional[int] = 4      # Minibatch-stddev group; None = whole batch.
    mbstd_num_channels: int = 1


def nf(stage: int, fmap_base: int, fmap_decay: float, fmap_max: int) -> int:
    """Feature maps at a progressive-growing stage (ProGAN / StyleGAN v1): the r x r block has nf(log2 r - 1)."""
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


@dataclass(frozen=True)
class StyleGAN1Config:
    """StyleGAN (v1) generator, NVlabs/stylegan's G_style + G_mapping + G_synthesis kwargs."""
    latent_size: int = 512                   # z size.
    label_size: int = 0                      # Label size; 0 = unconditional.
    dlatent_size: int = 512                  # w size.
    resolution: int = 1024                   # Output resolution (power of two).
    num_channels: int = 3                    # Output channels.
    mapping_layers: int = 8                  # Dense layers of the mapping network.
    mapping_fmaps: int = 512                 # Hidden width of the mapping network.
    mapping_lrmul: float = 0.01              # Learning-rate multiplier of the mapping network.
    fmap_base: int = 8192                    # Feature maps nf(s) = min(fmap_base / 2^(s * fmap_decay), fmap_max).
    fmap_decay: float = 1.0                  # See fmap_base.
    fmap_max: int = 512                      # See fmap_base.
    fused_scale: Any = "auto"                # Up-sampling conv stored fused: True | False | 'auto' (from 128 px).
    use_noise: bool = True                   # Per-layer noise inputs.
    dlatent_avg_beta: Optional[float] = 0.995  # EMA decay of w_avg while training; None = no tracking.

    arch = "stylegan"

    z_dim = property(lambda self: self.latent_size)
    c_dim = property(lambda self: self.label_size)
    w_dim = property(lambda self: self.dlatent_size)
    img_resolution = property(lambda self: self.resolution)
    img_channels = property(lambda self: self.num_channels)

    @property
    def num_ws(self) -> int:
        return 2 * (self.resolution.bit_length() - 1) - 2   # two layers per resolution


@dataclass(frozen=True)
class StyleGAN1DiscriminatorConfig:
    """StyleGAN (v1) discriminator, NVlabs/stylegan's D_basic kwargs."""
    label_size: int = 0                      # Label size; 0 = unconditional.
    resolution: int = 1024                   # Input resolution (power of two).
    num_channels: int = 3                    # Input channels.
    fmap_base: int = 8192                    # See StyleGAN1Config.
    fmap_decay: float = 1.0                  # See StyleGAN1Config.
    fmap_max: int = 512                      # See StyleGAN1Config.
    fused_scale: Any = "auto"                # Down-sampling conv stored fused: True | False | 'auto' (from 128 px).
    mbstd_group_size: int = 4                # Minibatch-stddev group size; 0 = no stddev feature.
    mbstd_num_features: int = 1              # Stddev features appended.

    arch = "stylegan"
    c_dim = property(lambda self: self.label_size)
    img_resolution = property(lambda self: self.resolution)
    img_channels = property(lambda self: self.num_channels)


@dataclass(frozen=True)
class ProGANConfig:
    """ProGAN generator, tkarras/progressive_growing_of_gans's G_paper kwargs."""
    latent_size: int = 512                   # z size (TF's None = nf(0); resolved when read from a file).
    label_size: int = 0                      # Label size; 0 = unconditional.
    resolution: int = 1024                   # Output resolution (power of two).
    num_channels: int = 3                    # Output channels.
    fmap_base: int = 8192                    # Feature maps nf(s) = min(fmap_base / 2^(s * fmap_decay), fmap_max).
    fmap_decay: float = 1.0                  # See fmap_base.
    fmap_max: int = 512                      # See fmap_base.
    normalize_latents: bool = True           # Pixel-normalise [z, c] before the first layer.
    use_wscale: bool = True                  # Equalized learning rate.
    use_pixelnorm: bool = True               # Pixel norm after every conv layer.
    fused_scale: bool = True                 # Up-sampling conv stored fused (Conv0_up) or not (Conv0).

    arch = "progan"

    z_dim = property(lambda self: self.latent_size)
    c_dim = property(lambda self: self.label_size)
    w_dim = property(lambda self: self.latent_size + self.label_size)   # "w" = normalised [z, c]
    img_resolution = property(lambda self: self.resolution)
    img_channels = property(lambda self: self.num_channels)
    num_ws = 1


@dataclass(frozen=True)
class ProGANDiscriminatorConfig:
    """ProGAN discriminator, tkarras/progressive_growing_of_gans's D_paper kwargs."""
    label_size: int = 0                      # Label logits D outputs beside its score; 0 = none.
    resolution: int = 1024                   # Input resolution (power of two).
    num_channels: int = 3                    # Input channels.
    fmap_base: int = 8192                    # See ProGANConfig.
    fmap_decay: float = 1.0                  # See ProGANConfig.
    fmap_max: int = 512                      # See ProGANConfig.
    use_wscale: bool = True                  # Equalized learning rate.
    fused_scale: bool = True                 # Down-sampling fused (Conv1_down) or conv, act, then average (Conv1).
    mbstd_group_size: int = 4                # Minibatch-stddev group size; 0 = no stddev feature.

    arch = "progan"
    c_dim = property(lambda self: self.label_size)
    img_resolution = property(lambda self: self.resolution)
    img_channels = property(lambda self: self.num_channels)


LEGACY_CONFIGS = (StyleGAN1Config, StyleGAN1DiscriminatorConfig, ProGANConfig, ProGANDiscriminatorConfig)


GeneratorConfig = Any  # StyleGAN2Config | StyleGAN3Config | StyleGAN1Config | ProGANConfig


# --------------------------------------------------------------------------------------------
# Conversion to and from NVIDIA's constructor kwargs.

def _mapping_from(kwargs: dict, default: MappingConfig) -> MappingConfig:
    names = {f.name for f in dataclasses.fields(MappingConfig)}
    picked = {k: v for k, v in (kwargs or {}).items() if k in names}
    return dataclasses.replace(default, **picked)


def _pick(cls, kwargs: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)} - {"mapping"}
    out = {}
    for k, v in kwargs.items():
        if k in names:
            out[k] = tuple(v) if k == "resample_filter" else v
    return out


def generator_config_from_nvidia(arch: str, kwargs: dict) -> StyleGAN2Config | StyleGAN3Config:
    """Builds a config from a Generator's `_init_kwargs` (synthesis kwargs flattened in)."""
    kwargs = dict(kwargs)
    mapping_kwargs = dict(kwargs.pop("mapping_kwargs", None) or {})
    # Some pickles nest the synthesis kwargs instead of flattening them.
    kwargs.update(kwargs.pop("synthesis_kwargs", None) or {})
    if arch == "stylegan2":
        return StyleGAN2Config(mapping=_mapping_from(mapping_kwargs, MappingConfig()), **_pick(StyleGAN2Config, kwargs))
    if arch in ("stylegan3-t", "stylegan3-r"):
        if arch == "stylegan3-r":
            kwargs.setdefault("use_radial_filters", True)
            kwargs.setdefault("conv_kernel", 1)
        return StyleGAN3Config(mapping=_mapping_from(mapping_kwargs, MappingConfig(num_layers=2)),
                               **_pick(StyleGAN3Config, kwargs))
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHS}")


def discriminator_config_from_nvidia(kwargs: dict) -> DiscriminatorConfig:
    kwargs = dict(kwargs)
    kwargs.update(kwargs.pop("block_kwargs", None) or {})
    mapping_kwargs = kwargs.pop("mapping_kwargs", None) or {}
    epilogue = kwargs.pop("epilogue_kwargs", None) or {}
    kwargs.update({k: v for k, v in epilogue.items() if k in ("mbstd_group_size", "mbstd_num_channels")})
    return DiscriminatorConfig(mapping=_mapping_from(mapping_kwargs, DiscriminatorConfig().mapping),
                               **_pick(DiscriminatorConfig, kwargs))


def to_nvidia_kwargs(cfg) -> dict:
    """The inverse of the `*_from_nvidia` functions: a plain, JSON-able dict."""
    d = dataclasses.asdict(cfg)
    mapping = d.pop("mapping")
    if "resample_filter" in d:
        d["resample_filter"] = list(d["resample_filter"])
    d["mapping_kwargs"] = mapping
    return d


def config_to_dict(cfg) -> dict:
    """Serialisable form used by the project's own checkpoints: {'type': ..., 'fields': ...}."""
    return {"type": type(cfg).__name__, "fields": dataclasses.asdict(cfg)}


def config_from_dict(d: dict):
    types = {c.__name__: c for c in (StyleGAN2Config, StyleGAN3Config, DiscriminatorConfig) + LEGACY_CONFIGS}
    if not isinstance(d, dict) or d.get("type") not in types:
        raise ValueError(f"unknown config type {d.get('type') if isinstance(d, dict) else d!r}")
    cls = types[d["type"]]
    fields = dict(d["fields"])
    if cls in LEGACY_CONFIGS:
        return cls(**fields)
    fields["mapping"] = MappingConfig(**fields.get("mapping", {}))
    if "resample_filter" in fields:
        fields["resample_filter"] = tuple(fields["resample_filter"])
    return cls(**fields)
