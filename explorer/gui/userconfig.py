"""Per-user files of the explorer: recent checkpoints and the last session.

They live in ~/.config/sg-explorer/ ($SG_EXPLORER_CONFIG_DIR overrides it, for tests) and are written
atomically (temp name in the same folder, flush, fsync, rename), so a crash never leaves half a file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from networks.files import atomic_write_text

MAX_RECENT = 12


def config_dir() -> Path:
    override = os.environ.get("SG_EXPLORER_CONFIG_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "sg-explorer"


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object in `path`, or None when it is missing or unreadable (a bad file is not fatal)."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def write_json(path: str | os.PathLike, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))


def _usable(p) -> bool:
    return isinstance(p, str) and (os.path.isabs(p) or p.startswith(("http://", "https://")))


def load_recent() -> list[str]:
    """Absolute paths and URLs, newest first; relative entries of older versions are left out (they named a
    file relative to wherever the explorer was started: see dropped_recent)."""
    data = read_json(config_dir() / "recent.json") or {}
    return [p for p in data.get("recent", []) if _usable(p)]


def dropped_recent() -> list[str]:
    """The recent list's relative entries, which load_recent leaves out."""
    data = read_json(config_dir() / "recent.json") or {}
    return [p for p in data.get("recent", []) if isinstance(p, str) and not _usable(p)]


def add_recent(path: str) -> list[str]:
    """Moves `path` (made absolute) to the top of the recent list and saves it; returns the new list."""
    path = path if path.startswith(("http://", "https://")) else os.path.abspath(path)
    recent = [path] + [p for p in load_recent() if p != path]
    recent = recent[:MAX_RECENT]
    try:
        write_json(config_dir() / "recent.json", {"recent": recent})
    except OSError:
        pass  # a read-only config folder must not stop the explorer
    return recent


def last_session_path() -> Path:
    return config_dir() / "last-session.json"
