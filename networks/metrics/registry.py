"""Metric names -> functions: the one entry point of `sg-explorer metrics` and of training (`compute`).

fid, kid, pr: NVIDIA's fid50k_full, kid50k_full, pr50k3_full: all images of `data` against `num` generated
images (or against the image set `ref` when there is no generator). pr uses the FID Inception's features where
NVIDIA's uses VGG16's (there is no VGG16 here), so its values are not comparable with NVIDIA's published ones.
eqt, eqt_frac, eqr: NVIDIA's eqt50k_int, eqt50k_frac, eqr50k over `num` images (networks.metrics.equivariance).
Within one `compute_many` call the metrics of Inception features share one set of generated images (NVIDIA's
draws a fresh set per metric: same distribution, half the work).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from networks.metrics import MetricError

FEATURE_METRICS = ("fid", "kid", "pr")
EQUIVARIANCE_METRICS = ("eqt", "eqt_frac", "eqr")
METRICS = FEATURE_METRICS + EQUIVARIANCE_METRICS
DESCRIPTIONS = {
    "fid": "Frechet Inception distance (NVIDIA's fid50k_full)",
    "kid": "kernel Inception distance (NVIDIA's kid50k_full)",
    "pr": "precision / recall, k = 3 (NVIDIA's pr50k3_full, on Inception features, not VGG16)",
    "eqt": "EQ-T, integer translation PSNR dB (NVIDIA's eqt50k_int)",
    "eqt_frac": "EQ-T_frac, fractional translation PSNR dB (NVIDIA's eqt50k_frac)",
    "eqr": "EQ-R, rotation PSNR dB (NVIDIA's eqr50k)",
}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class MetricOptions:
    data: Optional[str] = None          # Reference data set (zip or folder): all its images; its labels for c.
    ref: Optional[str] = None           # Image set compared with `data` when there is no generator.
    num: int = 50000                    # Generated images per metric (NVIDIA's 50k).
    feature_net: Optional[str] = None   # pt_inception-2015-12-05 state-dict file; None = the download cache.
    device: str = "cpu"
    seed: int = 0                       # Seeds z, labels, noise and KID's subsets.
    batch: int = 64                     # Images per feature-network call (NVIDIA's 64).
    progress: bool = True               # Progress bars on stderr.
    log: Callable[[str], None] = _stderr
    memo: dict = field(default_factory=dict)   # Feature network and data-set features, kept between calls.


def parse_names(text) -> list:
    """'fid,kid' or a list -> validated names in order, duplicates dropped; MetricError for an unknown one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = []
    for item in items:
        name = str(item).strip().lower().replace("-", "_")
        if not name:
            continue
        if name not in METRICS:
            raise MetricError(f"unknown metric {name!r} (have {', '.join(METRICS)})")
        if name not in names:
            names.append(name)
    if not names:
        raise MetricError(f"no metric given (have {', '.join(METRICS)})")
    return names


def is_stylegan3(G) -> bool:
    return G is not None and hasattr(getattr(G, "synthesis", None), "input") \
        and hasattr(G.synthesis.input, "transform")


def check(names, G, opts: MetricOptions) -> None:
    """MetricError (one line) for a request that cannot run, before any work is done."""
    if opts.num < 1:
        raise MetricError(f"--num must be at least 1, got {opts.num}")
    for name in names:
        if name in EQUIVARIANCE_METRICS:
            if G is None:
                raise MetricError(f"{name} measures a generator: give a PKL, not 'none'")
            if not is_stylegan3(G):
                raise MetricError(f"{name} needs a StyleGAN3 generator; this one is {getattr(G, 'arch', '?')}")
        elif opts.data is None:
            raise MetricError(f"{name} needs the real images: --data DATASET (zip or folder)")
    if G is None and opts.ref is None:
        raise MetricError("without a generator ('none'), --ref IMAGES is compared with --data")


def feature_network(opts: MetricOptions):
    """The feature network of opts (loaded once per MetricOptions)."""
    from networks.metrics.features import feature_net
    key = ("fnet", opts.feature_net, str(opts.device))
    if key not in opts.memo:
        opts.memo[key] = feature_net(opts.feature_net, opts.device)
    return opts.memo[key]


def _set_features(path: str, opts: MetricOptions) -> np.ndarray:
    from networks.metrics.features import image_set_features
    fnet = feature_network(opts)
    key = ("set", str(path), fnet.digest)
    if key not in opts.memo:   # in-process only; the disk cache (by content) serves later processes
        opts.memo[key] = image_set_features(path, fnet, opts.device, opts.batch, opts.progress, opts.log)
    return opts.memo[key]


def _labels(G, opts: MetricOptions):
    from networks.metrics.features import LabelSampler
    return LabelSampler(opts.data, G.c_dim, opts.seed)


def _generated(G, opts: MetricOptions, shared: dict) -> np.ndarray:
    if G is None:
        return _set_features(opts.ref, opts)
    if "gen" not in shared:
        from networks.metrics.features import generator_features
        shared["gen"] = generator_features(G, feature_network(opts), opts.num, opts.seed, opts.device, _labels(G, opts),
                                           opts.batch, progress=opts.progress)
    return shared["gen"]


def _fid(G, opts, shared) -> dict:
    from networks.metrics.fid import fid
    return {"fid": fid(_generated(G, opts, shared), _set_features(opts.data, opts))}


def _kid(G, opts, shared) -> dict:
    from networks.metrics.kid import kid
    try:
        return {"kid": kid(_generated(G, opts, shared), _set_features(opts.data, opts), seed=opts.seed)}
    except ValueError as e:
        raise MetricError(f"kid: {e}") from None


def _pr(G, opts, shared) -> dict:
    import torch
    from networks.metrics.precision_recall import precision_recall
    real = _set_features(opts.data, opts)[:200000]   # NVIDIA's max_real for pr50k3_full
    try:
        p, r = precision_recall(real, _generated(G, opts, shared), device=torch.device(opts.device))
    except ValueError as e:
        raise MetricError(f"pr: {e}") from None
    return {"pr_precision": p, "pr_recall": r}


def _equivariance(name: str):
    def run(G, opts, shared) -> dict:
        from networks.metrics import equivariance
        labels = None   # without --data: equivariance draws uniformly random classes
        if G.c_dim and opts.data is not None:
            sampler = _labels(G, opts)
            labels = np.stack([sampler.dataset.get_label(i) for i in range(sampler.dataset.raw_size)])
        bar = _Bar(opts.num, name, opts.progress)
        try:
            value = equivariance.compute(G, name, opts.num, seed=opts.seed, device=opts.device,
                                         progress=bar.update, labels=labels)
        finally:
            bar.close()
        return {name: float(value)}
    return run


class _Bar:
    """progress(done, total) callback -> a tqdm bar on stderr."""

    def __init__(self, total: int, desc: str, enabled: bool):
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit="img", desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False,
                        disable=None if enabled else True)

    def update(self, done: int, total: int) -> None:
        self.bar.update(max(0, min(done, self.bar.total) - self.bar.n))

    def close(self) -> None:
        self.bar.close()


FUNCTIONS = {"fid": _fid, "kid": _kid, "pr": _pr, **{n: _equivariance(n) for n in EQUIVARIANCE_METRICS}}


def compute_many(names, G, opts: MetricOptions) -> dict:
    """{result key: value} of every metric in `names` (G: a generator module, or None to compare opts.ref)."""
    names = parse_names(names)
    check(names, G, opts)
    shared, out = {}, {}
    for name in names:
        out.update(FUNCTIONS[name](G, opts, shared))
    return out


def compute(name: str, G, opts: MetricOptions) -> dict:
    """{result key: value} of one metric: fid -> {'fid'}, kid -> {'kid'}, pr -> {'pr_precision', 'pr_recall'},
    eqt / eqt_frac / eqr -> {name} in dB."""
    return compute_many([name], G, opts)
