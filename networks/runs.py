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


def snapshots_newest_first(folder: str | os.PathLike) -> list[pathlib.Path]:
    """Every snapshot in FOLDER (a run folder) or in its run folders (an OUTDIR), newest first: highest run
    id, then highest kimg (numerically). Temp files of interrupted writes never match; [] if unreadable."""
    folder = pathlib.Path(folder)
    found = []
    try:
        runs = [(int(m.group(1)), p) for p in folder.iterdir() if (m := RUN_DIR.match(p.name)) and p.is_dir()]
    except OSError:
        return []
    for run_id, run in runs + [(-1, folder)]:
        try:
            entries = list(run.iterdir())
        except OSError:
            continue   # removed or unreadable meanwhile
        for p in entries:
            m = SNAPSHOT.match(p.name)
            if m and p.is_file():
                found.append(((run_id, int(m.group(1)), p.name), p))
    return [p for _, p in sorted(found, key=lambda t: t[0], reverse=True)]


def newest_snapshot(folder: str | os.PathLike) -> pathlib.Path:
    """The newest snapshot of a run folder or an OUTDIR (see snapshots_newest_first); CheckpointError if none."""
    if not os.access(folder, os.R_OK | os.X_OK):
        raise CheckpointError(f"{folder}: cannot list the folder (permission denied)")
    snaps = snapshots_newest_first(folder)
    if not snaps:
        raise CheckpointError(f"{folder}: no network-snapshot-*.pkl in this folder or its run folders")
    return snaps[0]
