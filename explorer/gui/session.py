"""Sessions: every panel's settings plus the window layout, as JSON.

{"format": "sg-explorer-session", "version": 1, "panels": {key: settings}, "layout": {...}}.
Saved atomically; a bad file is a one-line UserError when the user named it, ignored when it is the
automatic last session. Paths are stored absolute, so a session opened from another folder finds the same
files; a relative path in an older file is resolved against the session file's folder, or dropped with a note.
"""
from __future__ import annotations

import json
import os

from explorer.errors import UserError
from explorer.gui.userconfig import read_json, write_json

FORMAT = "sg-explorer-session"
VERSION = 1


# (panel, field) of every setting that names a file or folder.
PATH_FIELDS = (("network", "path"), ("sticking", "second_pkl"), ("training", "run_dir"), ("directions", "file"),
               ("projection", "target"), ("capture", "folder"), ("video", "path"))
# Fields that make a restored session open something: an explicit command-line checkpoint replaces them.
SOURCE_FIELDS = (("network", "path"), ("training", "run_dir"))


def _is_url(p: str) -> bool:
    return p.startswith(("http://", "https://"))


def make(panels: dict, layout: dict) -> dict:
    data = {"format": FORMAT, "version": VERSION, "panels": {k: p.save() for k, p in panels.items()}, "layout": layout}
    for key, name in PATH_FIELDS:
        settings = data["panels"].get(key)
        value = settings.get(name) if isinstance(settings, dict) else None
        if isinstance(value, str) and value and not _is_url(value):
            settings[name] = os.path.abspath(value)
    return data


def absolutize(data: dict, folder: str) -> list:
    """Makes the session's relative paths absolute, against `folder` (the session file's); a relative path
    that names nothing there is dropped. Returns one note per dropped path."""
    notes = []
    saved = data.get("panels") if isinstance(data.get("panels"), dict) else {}
    for key, name in PATH_FIELDS:
        settings = saved.get(key)
        value = settings.get(name) if isinstance(settings, dict) else None
        if not isinstance(value, str) or not value or _is_url(value) or os.path.isabs(value):
            continue
        resolved = os.path.normpath(os.path.join(folder, value))
        if os.path.exists(resolved) or (key, name) in (("capture", "folder"), ("video", "path")):
            settings[name] = resolved       # outputs need not exist yet
        else:
            settings[name] = ""
            notes.append(f"session: dropped relative path {value!r} ({key}): not found beside the session file")
    return notes


def drop_sources(data: dict) -> None:
    """Forgets what the session would open (its network, its followed run), keeping every other setting."""
    saved = data.get("panels") if isinstance(data.get("panels"), dict) else {}
    for key, name in SOURCE_FIELDS:
        if isinstance(saved.get(key), dict):
            saved[key].pop(name, None)


def apply(data: dict, panels: dict) -> None:
    saved = data.get("panels")
    for key, settings in (saved if isinstance(saved, dict) else {}).items():
        if key in panels and isinstance(settings, dict):
            panels[key].restore(settings)


def window_layout(panels: dict, view) -> dict:
    """Viewport size (px), which panels are open, the image view's zoom and pan (image px)."""
    import dearpygui.dearpygui as dpg
    return {"viewport": [dpg.get_viewport_width(), dpg.get_viewport_height()],
            "open_panels": [k for k, p in panels.items() if dpg.get_value(p.header)],
            "view": {"zoom": view.s.zoom, "pan_x": view.s.pan_x, "pan_y": view.s.pan_y}}


def apply_layout(layout: dict, panels: dict, view) -> None:
    """Inverse of window_layout; values a hand-edited file got wrong are left as they are."""
    import dearpygui.dearpygui as dpg
    if isinstance(layout.get("open_panels"), list):
        for key, panel in panels.items():
            dpg.set_value(panel.header, key in layout["open_panels"])
    v = layout.get("view") or {}
    try:
        view.s.zoom = int(v.get("zoom", 0))
        view.s.pan_x, view.s.pan_y = float(v.get("pan_x", 0)), float(v.get("pan_y", 0))
    except (TypeError, ValueError, AttributeError):
        pass
    view.layout()
    if "viewport" in layout and dpg.is_viewport_ok():
        try:
            w, h = (int(x) for x in layout["viewport"])
        except (TypeError, ValueError):
            return
        dpg.set_viewport_width(max(w, 400))
        dpg.set_viewport_height(max(h, 300))


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
