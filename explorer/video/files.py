"""Atomic outputs that ffmpeg or a frame folder write by name: a temporary sibling, then `finalize` renames it.

Whole files written from Python use `networks.files` (atomic_open, atomic_write_text).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from networks.files import current_umask, fsync_path


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
