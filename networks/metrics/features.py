"""Inception features of generated images and of image sets, as NVIDIA's metric_utils gathers them.

Images reach the feature network as uint8 (generated ones quantised as NVIDIA's: x * 127.5 + 128, clamped),
grey ones repeated to 3 channels, then mapped to [-1, 1] (x / 127.5 - 1, pytorch-fid's range). The features of
an image set are cached in the download cache (`metric-features/`), keyed by the set's content (SHA-256 of
the zip, or of a folder's image names and bytes) and the feature network's weights: the second metric
against the same data reads no image.
"""
from __future__ import annotations

import hashlib
import io
import os
import pathlib
import sys
import zipfile
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch

from networks.metrics import MetricError
from networks.metrics.inception import FEATURES, WEIGHTS_URL, load_inception
from networks.training.dataset import _is_image   # the training set's rule for which names are images

WEIGHTS_NAME = os.path.basename(WEIGHTS_URL)
CACHE_VERSION = 1   # bump when the way features are computed changes: old cache entries are then ignored


@dataclass
class FeatureNet:
    """The network plus what identifies its weights in cache keys."""
    net: Callable           # images [N, 3, H, W] float in [-1, 1] -> features [N, D]
    digest: str             # SHA-256 of the weights file
    dim: int = FEATURES


def _sha256_file(path, h=None) -> "hashlib._Hash":
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h


def feature_net(path: Optional[str] = None, device="cpu") -> FeatureNet:
    """The FID Inception from `path`, else from the download cache, fetched there once if online.

    Offline without the file: MetricError saying where to get it.
    """
    from networks.download import cached_path, open_url
    from networks.errors import CheckpointError
    if path is None:
        path = cached_path(WEIGHTS_URL)
        if not path.is_file():
            try:
                path = open_url(WEIGHTS_URL)
            except CheckpointError as e:
                raise MetricError(f"the FID feature network {WEIGHTS_NAME} is not here and could not be fetched "
                                  f"({e}); download it from {WEIGHTS_URL} and pass --feature-net FILE") from None
    try:
        net = load_inception(path, device)
    except ValueError as e:
        raise MetricError(str(e)) from None
    return FeatureNet(net=net, digest=_sha256_file(path).hexdigest())


# ---------------------------------------------------------------------------------------------- image sets
class ImageSet:
    """The images of a folder or zip (any sizes), sorted by name. read(i) -> uint8 [3, H, W]."""

    def __init__(self, path: str):
        self.path = str(path)
        if os.path.isdir(self.path):
            self._zip = None
            names = [os.path.relpath(os.path.join(root, f), self.path).replace(os.sep, "/")
                     for root, _dirs, files in os.walk(self.path) for f in files]
        elif os.path.isfile(self.path) and zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            names = self._zip.namelist()
        elif not os.path.exists(self.path):
            raise MetricError(f"{self.path}: no such file or folder")
        else:
            raise MetricError(f"{self.path}: not a folder or a zip file")
        self.names = sorted(n for n in names if _is_image(n))
        if not self.names:
            raise MetricError(f"{self.path}: no images found")

    def __len__(self) -> int:
        return len(self.names)

    def raw(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        with open(os.path.join(self.path, name), "rb") as f:
            return f.read()

    def content_hash(self) -> str:
        """SHA-256 of the zip file, or of each image's name and bytes for a folder."""
        if self._zip is not None:
            return _sha256_file(self.path).hexdigest()
        h = hashlib.sha256()
        for name in self.names:
            data = self.raw(name)
            h.update(f"{name}\0{len(data)}\0".encode())
            h.update(data)
        return h.hexdigest()

    def read(self, i: int) -> np.ndarray:
        from PIL import Image
        name = self.names[i]
        try:
            with Image.open(io.BytesIO(self.raw(name))) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)   # grey -> 3 equal channels, as NVIDIA's
        except Exception as e:
            raise MetricError(f"{self.path}: cannot read {name} ({type(e).__name__}: {e})") from None
        return arr.transpose(2, 0, 1)


# ---------------------------------------------------------------------------------------------- features
def _bar(total: int, desc: str, progress: bool):
    from tqdm import tqdm
    return tqdm(total=total, unit="img", desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False,
                disable=None if progress else True)


@torch.no_grad()
def features_of_uint8(fnet: FeatureNet, images: torch.Tensor, device) -> np.ndarray:
    """uint8 [N, C, H, W] (C 1 or 3) -> float32 features [N, D]."""
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    x = images.to(device).to(torch.float32) / 127.5 - 1
    return fnet.net(x).float().cpu().numpy()


def _cache_file(content: str, fnet: FeatureNet) -> pathlib.Path:
    from networks.download import cache_dir
    return cache_dir() / "metric-features" / f"{content[:32]}-{fnet.digest[:16]}-v{CACHE_VERSION}.npy"


def image_set_features(path: str, fnet: FeatureNet, device="cpu", batch: int = 64, progress: bool = True,
                       log: Callable[[str], None] = lambda m: None) -> np.ndarray:
    """float32 features [N, D] of every image of the folder or zip at `path`, cached by content."""
    from networks.files import atomic_open
    images = ImageSet(path)
    cache = _cache_file(images.content_hash(), fnet)
    if cache.is_file():
        try:
            feats = np.load(cache, allow_pickle=False)
            if feats.shape == (len(images), fnet.dim):
                log(f"{path}: features of {len(images)} images from the cache")
                return feats
        except (OSError, ValueError):
            pass   # a damaged cache entry is recomputed and replaced
    out = []
    with _bar(len(images), f"features {os.path.basename(str(path).rstrip('/'))}", progress) as bar:
        pending = []
        for i in range(len(images)):
            pending.append(images.read(i))
            if len(pending) == batch or i == len(images) - 1:
                # one network call per run of equal sizes (each image is resized to 299 inside the network)
                out += [features_of_uint8(fnet, torch.from_numpy(np.stack(g)), device) for g in _same_size(pending)]
                bar.update(len(pending))
                pending = []
    feats = np.concatenate(out).astype(np.float32)
    try:
        with atomic_open(cache) as f:
            np.save(f, feats, allow_pickle=False)
    except OSError as e:
        log(f"warning: features not cached ({e.strerror or e})")
    return feats


def _same_size(images: list) -> list:
    """Consecutive runs of equal-shaped arrays."""
    groups = []
    for im in images:
        if groups and groups[-1][-1].shape == im.shape:
            groups[-1].append(im)
        else:
            groups.append([im])
    return groups


class LabelSampler:
    """Labels c for generated images as NVIDIA's: the label of a data-set image drawn uniformly, per image."""

    def __init__(self, dataset_path: Optional[str], c_dim: int, seed: int):
        self.c_dim = c_dim
        self.rnd = np.random.RandomState(seed)
        self.dataset = None
        if c_dim:
            from networks.training.dataset import DatasetError, DatasetOptions, ImageDataset
            if dataset_path is None:
                raise MetricError(f"the generator is conditional (c_dim {c_dim}): --data gives its labels")
            try:
                self.dataset = ImageDataset(DatasetOptions(path=dataset_path, use_labels=True))
            except DatasetError as e:
                raise MetricError(str(e)) from None
            if self.dataset.label_dim != c_dim:
                raise MetricError(f"{dataset_path}: labels have {self.dataset.label_dim} dimensions, "
                                  f"the generator's c_dim is {c_dim}")

    def __call__(self, n: int) -> torch.Tensor:
        if not self.c_dim:
            return torch.zeros([n, 0])
        return torch.from_numpy(np.stack([self.dataset.get_label(self.rnd.randint(self.dataset.raw_size))
                                          for _ in range(n)]))


@torch.no_grad()
def generator_features(G, fnet: FeatureNet, num: int, seed: int = 0, device="cpu", labels: Optional[LabelSampler] = None,
                       batch: int = 64, batch_gen: int = 4, progress: bool = True) -> np.ndarray:
    """float32 features [num, D] of `num` images of G, as NVIDIA's compute_feature_stats_for_generator.

    z ~ N(0, I) drawn in chunks of batch_gen from a generator seeded with `seed` (the CPU stream torch.randn
    gives after torch.manual_seed(seed)), truncation 1, noise_mode 'random' (NVIDIA's default; its noise
    from torch's RNG seeded the same), images quantised to uint8 before the feature network.
    """
    import copy
    device = torch.device(device)
    G = copy.deepcopy(G).eval().requires_grad_(False).to(device)
    labels = labels or LabelSampler(None, G.c_dim, seed)
    gen = torch.Generator().manual_seed(seed)
    out = []
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), _bar(num, "generated", progress) as bar:
        torch.manual_seed(seed)
        done = 0
        while done < num:
            imgs = []
            for _ in range(-(-min(batch, num - done) // batch_gen)):
                z = torch.randn([batch_gen, G.z_dim], generator=gen).to(device)
                img = G(z, labels(batch_gen).to(device), truncation_psi=1, noise_mode="random")
                imgs.append((img.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8))
            imgs = torch.cat(imgs)[:num - done]
            out.append(features_of_uint8(fnet, imgs, device))
            done += len(imgs)
            bar.update(len(imgs))
    return np.concatenate(out).astype(np.float32)
