"""Training options and the per-cfg defaults of NVIDIA's public train.py (stylegan3 repository).

Facts taken from NVIDIA's documented defaults (not their code):
  - channel_base 32768, channel_max 512 (both doubled in G for stylegan3-r), mapping depth 8 for stylegan2
    and 2 for stylegan3, minibatch-stddev group 4, conv_clamp 256 and 4 fp16 resolutions (CUDA only);
  - Adam betas (0, 0.99), eps 1e-8; G lr 0.002 (stylegan2) / 0.0025 (stylegan3), D lr 0.002;
  - stylegan2: style mixing 0.9, path-length weight 2 with lazy interval 4, 'inference_only' fused modconv;
  - stylegan3: magnitude EMA beta 0.5 ** (batch / 20000); -R adds 1x1 convolutions, radial filters and a
    discriminator-input blur of sigma 10 px fading out over batch * 200 / 32 kimg;
  - R1 on reals with lazy interval 16; G EMA half-life batch * 10 / 32 kimg with a 0.05 ramp-up.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from networks.config import DiscriminatorConfig, MappingConfig, StyleGAN2Config, StyleGAN3Config

CFGS = ("stylegan2", "stylegan3-t", "stylegan3-r", "stylegan", "progan")
PROGRESSIVE_CFGS = ("stylegan", "progan")   # Grown progressively (networks.training.progressive).
AUG_MODES = ("ada", "noaug", "fixed")
METRICS = ("fid", "kid", "pr", "eqt", "eqt_frac", "eqr")   # networks.metrics.registry's names
EQUIVARIANCE_METRICS = ("eqt", "eqt_frac", "eqr")          # StyleGAN3 only


@dataclass(frozen=True)
class LossOptions:
    r1_gamma: float = 10.0               # R1 weight (gamma); the penalty is gamma / 2 * |grad D(real)|^2.
    style_mixing_prob: float = 0.0       # Probability of mixing two latents per sample.
    pl_weight: float = 0.0               # Path-length regularisation weight; 0 = off.
    pl_batch_shrink: int = 2             # The path-length pass uses batch // shrink samples.
    pl_decay: float = 0.01               # EMA rate of the running mean path length.
    pl_no_weight_grad: bool = False      # Accepted for compatibility; the PL pass only differentiates ws.
    blur_init_sigma: float = 0.0         # Gaussian blur (pixels) of D's input at the start; 0 = off.
    blur_fade_kimg: float = 0.0          # The blur fades linearly to 0 over this many kimg.


@dataclass(frozen=True)
class TrainOptions:
    """Everything that defines a run; stored in each snapshot so a resume continues it exactly."""
    cfg: str
    data: str
    outdir: str
    batch: int
    gamma: float
    batch_gpu: Optional[int] = None       # Per-process chunk; batch // nproc when None.
    mirror: bool = False
    cond: bool = False
    aug: str = "ada"
    augpipe: str = "bgc"
    target: float = 0.6
    p: float = 0.2                        # Fixed p for --aug fixed; initial p is 0 for ada.
    ada_interval: int = 4
    ada_kimg: float = 500
    resume: Optional[str] = None
    kimg: float = 25000
    tick: float = 4
    snap: int = 50                        # Ticks between snapshots.
    cbase: Optional[int] = None           # Channels at r = min(cbase / r, cmax); None = 32768 (16384: stylegan, progan).
    cmax: int = 512
    map_depth: Optional[int] = None
    num_layers: Optional[int] = None      # StyleGAN3 synthesis layers; None = 14, as NVIDIA's configs.
    glr: Optional[float] = None
    dlr: Optional[float] = None           # D learning rate; None = 0.002, or 0.001 for stylegan / progan (set below).
    freezed: int = 0                      # Freeze D's first N layers (fromrgb, conv0, conv1, skip per block, top down).
    mbstd_group: int = 4
    seed: int = 0
    nproc: int = 1
    device: str = "cpu"
    workers: Optional[int] = None         # DataLoader workers per process; None = min(3, cores per process - 1).
    metrics: tuple = ()
    metric_samples: int = 0               # Generated images per metric; 0 = 1000 on CUDA, 64 on CPU.
    feature_net: Optional[str] = None     # FID Inception state dict for fid / kid / pr; None = download cache.
    fp32: bool = False
    z_dim: int = 512
    w_dim: int = 512
    ema_kimg: Optional[float] = None      # batch * 10 / 32 when None.
    ema_rampup: Optional[float] = 0.05
    desc: str = ""
    finetune: bool = False                # Started from foreign weights; set by fine_tuning().
    start_res: Optional[int] = None       # Progressive cfgs: first trained resolution; None = 8 stylegan, 4 progan.
    grow_kimg: float = 600                # Progressive cfgs: kimg per fade-in and per stable phase.

    def __post_init__(self):
        if self.cbase is None:   # 16384 = the papers' fmap_base 8192 (nf(log2 r - 1) = 2 fmap_base / r).
            object.__setattr__(self, "cbase", 16384 if self.cfg in PROGRESSIVE_CFGS else 32768)
        if self.dlr is None:
            object.__setattr__(self, "dlr", 0.001 if self.cfg in PROGRESSIVE_CFGS else 0.002)
        if self.cfg in PROGRESSIVE_CFGS and self.ema_rampup is not None:
            object.__setattr__(self, "ema_rampup", None)   # NVIDIA's v1 loop has no EMA ramp-up.

    def fine_tuning(self) -> "TrainOptions":
        """These options for a start from a pretrained (NVIDIA's or exported) network, as NVIDIA's
        train.py sets them on --resume: no EMA ramp-up (the pretrained G_ema is kept, not replaced by
        G), ADA reacting over 100 kimg, and no StyleGAN3-R blur of D's input."""
        return dataclasses.replace(self, finetune=True, ema_rampup=None, ada_kimg=100)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["metrics"] = list(self.metrics)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d["metrics"] = tuple(d.get("metrics") or ())
        return cls(**d)

    # ------------------------------------------------------------------ derived values
    @property
    def g_lr(self) -> float:
        if self.glr is not None:
            return self.glr
        return 0.001 if self.cfg in PROGRESSIVE_CFGS else (0.002 if self.cfg == "stylegan2" else 0.0025)

    def progressive_options(self):
        """The growing schedule of a progressive cfg (papers' tables), None for the others."""
        if self.cfg not in PROGRESSIVE_CFGS:
            return None
        from networks.training import progressive as P
        start = self.start_res or (8 if self.cfg == "stylegan" else 4)
        lrs = P.STYLEGAN_LR if self.cfg == "stylegan" else P.PROGAN_LR
        return P.ProgressiveOptions(start_res=start, stable_kimg=self.grow_kimg, fade_kimg=self.grow_kimg, lr_table=lrs)

    @property
    def ema_nimg(self) -> float:
        if self.ema_kimg is None and self.cfg in PROGRESSIVE_CFGS:
            return 10 * 1000                               # NVIDIA's G_smoothing_kimg of the v1 loop.
        return (self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32) * 1000

    @property
    def g_reg_interval(self) -> Optional[int]:
        return 4 if self.cfg == "stylegan2" else None

    @property
    def d_reg_interval(self) -> Optional[int]:
        return None if self.cfg in PROGRESSIVE_CFGS else 16   # NVIDIA's v1 loop regularises every step.

    def loss_options(self) -> LossOptions:
        if self.cfg == "stylegan2":
            return LossOptions(r1_gamma=self.gamma, style_mixing_prob=0.9, pl_weight=2.0, pl_no_weight_grad=True)
        if self.cfg == "stylegan":
            return LossOptions(r1_gamma=self.gamma, style_mixing_prob=0.9)
        if self.cfg == "stylegan3-r":
            return LossOptions(r1_gamma=self.gamma, blur_init_sigma=0.0 if self.finetune else 10.0,
                               blur_fade_kimg=self.batch * 200 / 32)
        return LossOptions(r1_gamma=self.gamma)

    def validate(self) -> list[str]:
        """One-line problems with these options (empty when usable)."""
        errs = []
        if self.cfg not in CFGS:
            errs.append(f"--cfg must be one of {', '.join(CFGS)}")
        if self.aug not in AUG_MODES:
            errs.append(f"--aug must be one of {', '.join(AUG_MODES)}")
        from networks.training.augment import PRESETS
        if self.augpipe not in PRESETS:
            errs.append(f"--augpipe must be one of {', '.join(PRESETS)}")
        if self.batch <= 0:
            errs.append("--batch must be positive")
        elif self.batch % self.nproc:
            errs.append(f"--batch {self.batch} must be a multiple of --nproc {self.nproc}")
        elif self.batch_gpu is not None and (self.batch // self.nproc) % self.batch_gpu:
            errs.append(f"--batch-gpu {self.batch_gpu} must divide batch per process {self.batch // self.nproc}")
        if self.workers is not None and self.workers < 0:
            errs.append("--workers must be >= 0")
        if self.gamma < 0:
            errs.append("--gamma must be >= 0")
        if self.kimg <= 0 or self.tick <= 0 or self.snap < 1:
            errs.append("--kimg and --tick must be positive, --snap >= 1")
        if not 0 <= self.p <= 1:
            errs.append("--p must be in [0, 1]")
        if self.device not in ("cpu", "cuda"):
            errs.append("--device must be cpu or cuda")
        bad = [m for m in self.metrics if m not in METRICS]
        if bad:
            errs.append(f"--metrics: unknown {', '.join(bad)}; expected {', '.join(METRICS)}")
        eq = [m for m in self.metrics if m in EQUIVARIANCE_METRICS]
        if eq and self.cfg in ("stylegan2",) + PROGRESSIVE_CFGS:
            errs.append(f"--metrics {', '.join(eq)}: equivariance needs a StyleGAN3 cfg")
        if self.start_res is not None and (self.start_res < 4 or self.start_res & (self.start_res - 1)):
            errs.append("--start-res must be a power of two >= 4")
        if self.grow_kimg <= 0:
            errs.append("--grow-kimg must be positive (for no growing, --start-res = the data resolution)")
        if self.num_layers is not None and (self.cfg in ("stylegan2",) + PROGRESSIVE_CFGS or self.num_layers < 3):
            errs.append("--num-layers takes a StyleGAN3 cfg and at least 3 layers")
        return errs

    @property
    def num_workers(self) -> int:
        from networks.training.dataset import default_workers
        return default_workers(self.nproc) if self.workers is None else self.workers

    @property
    def per_process_batch(self) -> int:
        return self.batch // self.nproc

    @property
    def chunk(self) -> int:
        """Images per forward pass in one process (NVIDIA's batch_gpu)."""
        return self.batch_gpu or self.per_process_batch


def network_configs(opts: TrainOptions, resolution: int, channels: int, c_dim: int):
    """(G config, D config) for a fresh run, per NVIDIA's cfg defaults."""
    fp16 = 0 if (opts.fp32 or opts.device != "cuda") else 4
    clamp = None if opts.fp32 else 256
    depth = opts.map_depth if opts.map_depth is not None else (8 if opts.cfg in ("stylegan2", "stylegan") else 2)
    if opts.cfg in PROGRESSIVE_CFGS:
        return _progressive_configs(opts, resolution, channels, c_dim, depth)
    common = dict(z_dim=opts.z_dim, c_dim=c_dim, w_dim=opts.w_dim, img_resolution=resolution,
                  img_channels=channels, num_fp16_res=fp16, conv_clamp=clamp)
    if opts.cfg == "stylegan2":
        g = StyleGAN2Config(mapping=MappingConfig(num_layers=depth), channel_base=opts.cbase,
                            channel_max=opts.cmax, fused_modconv_default="inference_only", **common)
    else:
        radial = opts.cfg == "stylegan3-r"
        layers = {} if opts.num_layers is None else {"num_layers": opts.num_layers}
        g = StyleGAN3Config(mapping=MappingConfig(num_layers=depth), **layers,
                            channel_base=opts.cbase * (2 if radial else 1),
                            channel_max=opts.cmax * (2 if radial else 1),
                            conv_kernel=1 if radial else 3, use_radial_filters=radial,
                            magnitude_ema_beta=0.5 ** (opts.batch / 20000), **common)
    d = DiscriminatorConfig(c_dim=c_dim, img_resolution=resolution, img_channels=channels,
                            channel_base=opts.cbase, channel_max=opts.cmax, num_fp16_res=fp16,
                            conv_clamp=clamp, mbstd_group_size=opts.mbstd_group)
    return g, d


def _progressive_configs(opts: TrainOptions, resolution: int, channels: int, c_dim: int, depth: int):
    """(G, D) configs of StyleGAN v1 / ProGAN: NVIDIA's fmap_base is cbase / 2 (same channels per resolution)."""
    from networks.config import (ProGANConfig, ProGANDiscriminatorConfig, StyleGAN1Config,
                                 StyleGAN1DiscriminatorConfig)
    fmaps = dict(fmap_base=opts.cbase // 2, fmap_max=opts.cmax)
    io = dict(label_size=c_dim, resolution=resolution, num_channels=channels)
    if opts.cfg == "stylegan":
        g = StyleGAN1Config(latent_size=opts.z_dim, dlatent_size=opts.w_dim, mapping_layers=depth,
                            mapping_fmaps=opts.w_dim, **io, **fmaps)
        return g, StyleGAN1DiscriminatorConfig(mbstd_group_size=opts.mbstd_group, **io, **fmaps)
    g = ProGANConfig(latent_size=opts.z_dim, **io, **fmaps)
    return g, ProGANDiscriminatorConfig(mbstd_group_size=opts.mbstd_group, **io, **fmaps)
