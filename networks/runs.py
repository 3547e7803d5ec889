"""Training run folders and their snapshots, as the loader, the trainer and the GUI all find them.

A training OUTDIR holds run folders `NNNNN-<desc>/`; each holds `network-snapshot-<kimg>.pkl` files, written
to a temporary name and renamed, so every file with that exact name is complete.
"""
from __future__ import annotations

import os
import pathlib
import re

from networks.errors import CheckpointError

RUN_DIR = re.compile(r"^(\d{5})-")
SNAPSHOT = re.compile(r"^network-snapshot-(\d+)\.pkl$")


def _snapshots(folder: pathlib.Path) -> list[pathlib.Path]:
    """snapshots_newest_first, but an unlistable FOLDER raises OSError (a run folder inside it is skipped)."""
    found = []

    def collect(run_id: int, entries) -> None:
        for p in entries:
            m = SNAPSHOT.match(p.name)
            if m and p.is_file():
                found.append(((run_id, int(m.group(1)), p.name), p))

    entries = list(folder.iterdir())
    collect(-1, entries)
    for p in entries:
        m = RUN_DIR.match(p.name)
        if m and p.is_dir():
            try:
                collect(int(m.group(1)), list(p.iterdir()))
            except OSError:
                continue   # removed or unreadable meanwhile
    return [p for _, p in sorted(found, key=lambda t: t[0], reverse=True)]


def snapshots_newest_first(folder: str | os.PathLike) -> list[pathlib.Path]:
    """Every snapshot in FOLDER (a run folder) or in its run folders (an OUTDIR), newest first: highest run
    id, then highest kimg (numerically). Temp files of interrupted writes never match; [] if unreadable."""
    try:
        return _snapshots(pathlib.Path(folder))
    except OSError:
        return []


def newest_snapshot(folder: str | os.PathLike) -> pathlib.Path:
    """The newest snapshot of a run folder or an OUTDIR (see snapshots_newest_first); CheckpointError if none."""
    try:
        snaps = _snapshots(pathlib.Path(folder))
    except OSError as e:
        raise CheckpointError(f"{folder}: cannot list the folder ({e.strerror or e})") from None
    if not snaps:
        raise CheckpointError(f"{folder}: no network-snapshot-*.pkl in this folder or its run folders")
    return snaps[0]
