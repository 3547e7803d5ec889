"""Writing files users keep: atomically, so that a crash or a kill at any moment leaves either the old file
or the complete new one.

The data goes to a temporary name in the destination folder, is flushed and fsynced, gets the permissions
an ordinary new file would have under the umask (mkstemp makes 0600 files, and a rename keeps them), and is
renamed over the destination.
"""
from __future__ import annotations

import contextlib
import io
import os
import pathlib
import tempfile
import threading
from typing import Union

import numpy as np

PathLike = Union[str, os.PathLike]
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (os.umask can only be read by setting it, so it is set back at once under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def fsync_path(path: PathLike) -> None:
    """fsync a file or folder (a folder so that a rename inside it is durable)."""
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the data itself was synced
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "wb"):
    """`with atomic_open(path) as f: f.write(...)`: the file appears at `path` only when the block succeeds."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files: mode 'wb' or 'w', not {mode!r}")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_path(path.parent)


def atomic_write_bytes(path: PathLike, blob: bytes) -> pathlib.Path:
    with atomic_open(path) as f:
        f.write(blob)
    return pathlib.Path(path)


def atomic_write_text(path: PathLike, text: str) -> pathlib.Path:
    with atomic_open(path, "w") as f:
        f.write(text)
    return pathlib.Path(path)


def save_png(path: PathLike, pixels: np.ndarray) -> pathlib.Path:
    """pixels: uint8 [H, W, 3] (RGB), [H, W, 1] or [H, W] (grey) -> PNG file, written atomically."""
    from PIL import Image
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (1, 3)):
        raise ValueError(f"expected uint8 [H, W], [H, W, 1] or [H, W, 3] pixels, got {pixels.dtype} {pixels.shape}")
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def check_writable_dir(path: PathLike, create: bool = True) -> pathlib.Path:
    """The folder `path` (created when `create`), after proving that a file can be made in it.

    A real probe file, not os.access: root passes access checks that a read-only mount then refuses.
    Raises OSError (PermissionError, FileNotFoundError, ...) otherwise.
    """
    path = pathlib.Path(path)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    if not path.is_dir():
        raise NotADirectoryError(f"{path}: not a folder")
    fd, probe = tempfile.mkstemp(prefix=".sg-explorer-probe-", dir=path)
    os.close(fd)
    os.unlink(probe)
    return path
