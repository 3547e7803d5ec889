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
