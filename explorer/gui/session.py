"""Sessions: every panel's settings plus the window layout, as JSON.

{"format": "sg-explorer-session", "version": 1, "panels": {key: settings}, "layout": {...}}.
Saved atomically; a bad file is a one-line UserError when the user named it, ignored when it is the
automatic last session.
"""
from __future__ import annotations

import json
import os

from explorer.errors import UserError
from explorer.gui.userconfig import read_json, write_json

FORMAT = "sg-explorer-session"
VERSION = 1


def make(panels: dict, layout: dict) -> dict:
    return {"format": FORMAT, "version": VERSION, "panels": {k: p.save() for k, p in panels.items()}, "layout": layout}


def apply(data: dict, panels: dict) -> None:
    for key, settings in (data.get("panels") or {}).items():
        if key in panels and isinstance(settings, dict):
            panels[key].restore(settings)


def save(path: str | os.PathLike, data: dict) -> None:
    write_json(path, data)


def load(path: str | os.PathLike) -> dict:
    """The session in `path`; UserError when it is missing or not a session file."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise UserError(f"cannot read session {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise UserError(f"session {path} is not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path} is not an sg-explorer session file")
    return data


def load_quiet(path: str | os.PathLike) -> dict | None:
    data = read_json(path)
    return data if data and data.get("format") == FORMAT else None
