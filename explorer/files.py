"""Writing files users keep: always atomically (temporary name in the same folder, fsync, rename)."""
from __future__ import annotations

import io
import os
import pathlib

import numpy as np
from PIL import Image

from networks.checkpoint import atomic_write_bytes

__all__ = ["atomic_write_bytes", "save_png", "check_writable_dir"]


def save_png(path: str | os.PathLike, pixels: np.ndarray) -> pathlib.Path:
    """pixels: uint8 [H, W, 3] or [H, W] -> PNG file, written atomically."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ValueError(f"expected uint8 [H, W(, C)] pixels, got {pixels.dtype} {pixels.shape}")
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def check_writable_dir(path: str | os.PathLike) -> pathlib.Path:
    """Creates `path` if needed and checks that files can be written there; raises OSError otherwise."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: not writable")
    return path
