"""Training images from a zip or a folder of square RGB images, as a torch Dataset.

The layout is the one `sg-explorer dataset` writes (and NVIDIA's dataset tool): image files
anywhere in the archive plus an optional `dataset.json` {"labels": [["00000/img00000000.png", 3], ...]}.
Items are `(image uint8 [C, H, W], label float32 [c_dim])`; integer labels become one-hot vectors.
The zip is opened lazily and per process id: a forked DataLoader worker inherits the parent's ZipFile
object, whose file offset it would share with the parent and its siblings (interleaved reads of one
descriptor are what made `--workers 3` fail with "Bad magic number"), so each process opens its own.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass
from typing import Iterator, Optional

import numpy as np
import torch

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


class DatasetError(ValueError):
    """The data set cannot be used for training; the message is one line for the user."""


def one_line(error: BaseException) -> str:
    """The user's line of a DatasetError, also when a DataLoader worker re-raised it.

    torch re-raises a worker's exception with the worker's whole traceback as the message; its last
    line is `<module>.DatasetError: <our message>`.
    """
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    last = lines[-1] if lines else type(error).__name__
    head, sep, tail = last.partition("DatasetError: ")
    return tail if sep and " " not in head.strip() else last


def default_workers(nproc: int = 1) -> int:
    """DataLoader workers per training process: min(3, cores per process - 1).

    3 is NVIDIA's default; one core per process is left to the training process itself (PNG decoding
    of a minibatch is far cheaper than a G and D step, so more workers than that only compete with it).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(3, cores // max(nproc, 1) - 1))


@dataclass(frozen=True)
class DatasetOptions:
    """What a snapshot's `training_set_kwargs` records, so a resumed run reopens the same data."""
    path: str
    use_labels: bool = False
    xflip: bool = False              # Doubles the length: items >= raw length are mirrored left-right.
    max_size: Optional[int] = None   # Use only the first max_size images (after a seeded shuffle).
    random_seed: int = 0
    resolution: Optional[int] = None  # Expected side in pixels; None = take it from the first image.

    def to_kwargs(self) -> dict:
        """NVIDIA-shaped `training_set_kwargs` dict (class_name + constructor kwargs)."""
        return {"class_name": "training.dataset.ImageFolderDataset", **asdict(self)}


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not os.path.basename(name).startswith(".")


class ImageDataset(torch.utils.data.Dataset):
    """Square images of one size from a zip or a folder. Items: (uint8 [C, H, W], float32 [c_dim])."""

    def __init__(self, options: DatasetOptions):
        self.options = options
        self._path = options.path
        self._zipfile: Optional[zipfile.ZipFile] = None
        self._zip_pid: Optional[int] = None   # Process that opened _zipfile.
        if os.path.isdir(self._path):
            self._kind = "dir"
            names = [os.path.relpath(os.path.join(root, f), self._path).replace(os.sep, "/")
                     for root, _dirs, files in os.walk(self._path) for f in files]
        elif os.path.isfile(self._path) and zipfile.is_zipfile(self._path):
            self._kind = "zip"
            names = self._zip().namelist()
        else:
            raise DatasetError(f"{self._path}: not a folder or a zip file")
        self._names = sorted(n for n in names if _is_image(n))
        if not self._names:
            raise DatasetError(f"{self._path}: no images found")
        self._all_labels = self._read_labels(names)

        order = np.arange(len(self._names))
        if options.max_size is not None and options.max_size < len(order):
            np.random.RandomState(options.random_seed).shuffle(order)
            order = np.sort(order[:options.max_size])
        self._order = order

        first = self._load_raw(0)
        self.image_shape = list(first.shape)  # [C, H, W]
        c, h, w = self.image_shape
        if h != w:
            raise DatasetError(f"{self._path}: images must be square, the first is {w}x{h}")
        if h < 4 or h & (h - 1):
            raise DatasetError(f"{self._path}: resolution must be a power of two >= 4, got {h}")
        if options.resolution is not None and options.resolution != h:
            raise DatasetError(f"{self._path}: images are {h}x{h}, expected {options.resolution}x{options.resolution}")
        self._close()  # Never pickle an open zip into worker processes.

    # ------------------------------------------------------------------ raw access
    def _zip(self) -> zipfile.ZipFile:
        if self._zipfile is None or self._zip_pid != os.getpid():
            # A handle inherited through fork shares its file offset with the parent's: open our own.
            self._zipfile = zipfile.ZipFile(self._path)
            self._zip_pid = os.getpid()
        return self._zipfile

    def _close(self) -> None:
        if self._zipfile is not None and self._zip_pid == os.getpid():
            self._zipfile.close()
        self._zipfile = None
        self._zip_pid = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_zipfile"] = None
        state["_zip_pid"] = None
        return state

    def __del__(self):
        try:
            self._close()
        except Exception:
            pass

    def _open(self, name: str) -> bytes:
        if self._kind == "zip":
            return self._zip().read(name)
        with open(os.path.join(self._path, name), "rb") as f:
            return f.read()

    def _read_labels(self, all_names: list[str]) -> Optional[np.ndarray]:
        if "dataset.json" not in all_names:
            return None
        try:
            meta = json.loads(self._open("dataset.json"))
        except (ValueError, OSError) as e:
            raise DatasetError(f"{self._path}: dataset.json is unreadable ({e})") from None
        pairs = meta.get("labels") if isinstance(meta, dict) else None
        if pairs is None:
            return None
        by_name = {str(name).replace("\\", "/"): label for name, label in pairs}
        missing = [n for n in self._names if n not in by_name]
        if missing:
            raise DatasetError(f"{self._path}: dataset.json has no label for {missing[0]} "
                               f"({len(missing)} image(s) unlabelled)")
        labels = np.array([by_name[n] for n in self._names])
        if labels.ndim == 1:
            if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
                raise DatasetError(f"{self._path}: class labels must be non-negative integers")
            return labels.astype(np.int64)
        return labels.astype(np.float32)

    def _load_raw(self, raw_index: int) -> np.ndarray:
        """uint8 [C, H, W] of image number raw_index (after max_size selection)."""
        from PIL import Image
        name = self._names[self._order[raw_index]]
        try:
            with Image.open(io.BytesIO(self._open(name))) as im:
                im = im.convert("RGB") if im.mode not in ("RGB", "L") else im
                arr = np.asarray(im, dtype=np.uint8)
        except Exception as e:
            raise DatasetError(f"{self._path}: cannot read {name} ({e})") from None
        if arr.ndim == 2:
            arr = arr[:, :, None]
        return arr.transpose(2, 0, 1).copy()

    # ------------------------------------------------------------------ public
    @property
    def raw_size(self) -> int:
        return len(self._order)

    @property
    def resolution(self) -> int:
        return self.image_shape[1]

    @property
    def num_channels(self) -> int:
        return self.image_shape[0]

    @property
    def has_labels(self) -> bool:
        return self._all_labels is not None

    @property
    def label_dim(self) -> int:
        """c_dim: 0 without labels (or use_labels off), number of classes for integer labels."""
        if not self.options.use_labels or self._all_labels is None:
            return 0
        if self._all_labels.ndim == 1:
            return int(self._all_labels.max()) + 1
        return int(self._all_labels.shape[1])

    def get_label(self, index: int) -> np.ndarray:
        """float32 [c_dim] label of item index (one-hot for class labels)."""
        raw = index % self.raw_size
        out = np.zeros([self.label_dim], dtype=np.float32)
        if self.label_dim == 0:
            return out
        lab = self._all_labels[self._order[raw]]
        if self._all_labels.ndim == 1:
            out[int(lab)] = 1
            return out
        return lab.astype(np.float32)

    def __len__(self) -> int:
        return self.raw_size * (2 if self.options.xflip else 1)

    def __getitem__(self, index: int):
        raw = index % self.raw_size
        img = self._load_raw(raw)
        if list(img.shape) != self.image_shape:
            raise DatasetError(f"{self._path}: {self._names[self._order[raw]]} is "
                               f"{img.shape[2]}x{img.shape[1]}x{img.shape[0]}, expected the size of the first image")
        if index >= self.raw_size:  # The mirrored half of an x-flip data set.
            img = img[:, :, ::-1].copy()
        return torch.from_numpy(img), torch.from_numpy(self.get_label(index))


class InfiniteSampler(torch.utils.data.Sampler):
    """Endless, seeded, shard-aware index stream over one shuffled order.

    The stream is cut into global batches of `global_batch` items; rank r takes the r-th contiguous
    slice of each (global_batch // world items), so N processes see exactly the images one process
    would see with the same global batch. Reshuffling swaps items within a sliding window, so the
    stream never ends. `start` skips that many of this rank's items (exact resume).
    """

    def __init__(self, size: int, rank: int = 0, world: int = 1, shuffle: bool = True, seed: int = 0,
                 window: float = 0.5, start: int = 0, global_batch: Optional[int] = None):
        global_batch = world if global_batch is None else global_batch
        assert size > 0 and 0 <= rank < world and global_batch % world == 0
        self.size, self.rank, self.world = size, rank, world
        self.shuffle, self.seed, self.window, self.start = shuffle, seed, window, start
        self.global_batch, self.per_rank = global_batch, global_batch // world

    def __iter__(self) -> Iterator[int]:
        order = np.arange(self.size)
        rnd = None
        window = 0
        if self.shuffle:
            rnd = np.random.RandomState(self.seed)
            rnd.shuffle(order)
            window = int(np.rint(order.size * self.window))
        idx = 0
        emitted = 0
        while True:
            i = idx % order.size
            if (idx % self.global_batch) // self.per_rank == self.rank:
                if emitted >= self.start:
                    yield int(order[i])
                emitted += 1
            if window >= 2:
                j = (i - rnd.randint(window)) % order.size
                order[i], order[j] = order[j], order[i]
            idx += 1
