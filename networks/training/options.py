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

CFGS = ("stylegan2", "stylegan3-t", "stylegan3-r")
AUG_MODES = ("ada", "noaug", "fixed")
METRICS = ("eqt", "eqt_frac", "eqr")


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
    cbase: int = 32768
    cmax: int = 512
    map_depth: Optional[int] = None
    num_layers: Optional[int] = None      # StyleGAN3 synthesis layers; None = 14, as NVIDIA's configs.
    glr: Optional[float] = None
    dlr: float = 0.002
    freezed: int = 0                      # Freeze D's first N layers (fromrgb, conv0, conv1, skip per block, top down).
    mbstd_group: int = 4
    seed: int = 0
    nproc: int = 1
    device: str = "cpu"
    workers: Optional[int] = None         # DataLoader workers per process; None = min(3, cores per process - 1).
    metrics: tuple = ()
    metric_samples: int = 0               # Images per equivariance metric; 0 = 1000 on CUDA, 64 on CPU.
    fp32: bool = False
    z_dim: int = 512
    w_dim: int = 512
    ema_kimg: Optional[float] = None      # batch * 10 / 32 when None.
    ema_rampup: Optional[float] = 0.05
    desc: str = ""
    finetune: bool = False                # Started from foreign weights; set by fine_tuning().

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
        return self.glr if self.glr is not None else (0.002 if self.cfg == "stylegan2" else 0.0025)

    @property
    def ema_nimg(self) -> float:
        return (self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32) * 1000

    @property
    def g_reg_interval(self) -> Optional[int]:
        return 4 if self.cfg == "stylegan2" else None

    @property
    def d_reg_interval(self) -> int:
        return 16

    def loss_options(self) -> LossOptions:
        if self.cfg == "stylegan2":
            return LossOptions(r1_gamma=self.gamma, style_mixing_prob=0.9, pl_weight=2.0, pl_no_weight_grad=True)
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
        if self.metrics and self.cfg == "stylegan2":
            errs.append("--metrics eqt/eqr need a StyleGAN3 cfg")
        if self.num_layers is not None and (self.cfg == "stylegan2" or self.num_layers < 3):
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
    depth = opts.map_depth if opts.map_depth is not None else (8 if opts.cfg == "stylegan2" else 2)
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
