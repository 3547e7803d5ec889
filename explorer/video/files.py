"""Atomic file writing: temp name in the destination folder, flush, fsync, rename."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (os.umask can only be read by setting it, so set it back at once under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def fsync_path(path: Path) -> None:
    """fsync a file or folder (folders so that a rename inside them is durable)."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the data itself was synced
    finally:
        os.close(fd)


def temp_sibling(path: Path, folder: bool = False) -> Path:
    """A fresh hidden name beside `path` that keeps its extension (ffmpeg picks the container from it).

    mkstemp/mkdtemp create 0600/0700 entries; the rename would carry that over, so the temporary gets the
    permissions an ordinary new file (or folder) would have under the umask: videos are made to be shared.
    """
    path = Path(path)
    if folder:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
        os.chmod(tmp, 0o777 & ~current_umask())
        return tmp
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.partial-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~current_umask())
    return Path(name)


def sidecar_paths(output) -> tuple[Path, Path]:
    """(recipe JSON, command line text) beside an export: 'out.mp4' -> out.mp4.recipe.json, out.mp4.command.txt;
    a frame folder 'frames/' -> frames.recipe.json, frames.command.txt."""
    out = Path(str(output).rstrip("/" + os.sep) or ".")
    return out.parent / f"{out.name}.recipe.json", out.parent / f"{out.name}.command.txt"


def finalize(tmp: Path, final: Path) -> None:
    """fsync tmp (file, or every file of a folder) and rename it to final; an empty folder at final is replaced."""
    tmp, final = Path(tmp), Path(final)
    if tmp.is_dir():
        for p in tmp.iterdir():
            fsync_path(p)
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()
    fsync_path(tmp)
    os.replace(tmp, final)
    fsync_path(final.parent)


def remove(path: Path) -> None:
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
