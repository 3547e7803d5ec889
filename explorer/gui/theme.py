"""Look of the window: the bundled font and a few colours."""
from __future__ import annotations

from pathlib import Path

import dearpygui.dearpygui as dpg

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
FONT_FILE = FONT_DIR / "DejaVuSans.ttf"
BACKGROUND = (30, 31, 34, 255)


def load_font(size: int = 15) -> int | None:
    """Binds the bundled DejaVu Sans (accents, degree sign, arrows); None when the file is missing."""
    if not FONT_FILE.exists():
        return None
    with dpg.font_registry():
        font = dpg.add_font(str(FONT_FILE), size)   # Dear PyGui 2 loads the glyphs a string needs on demand
    dpg.bind_font(font)
    return font


def apply_theme() -> None:
    with dpg.theme() as theme:
        with dpg.theme_component(dpg.mvAll):
            dpg.add_theme_style(dpg.mvStyleVar_FrameRounding, 3)
            dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, 6, 4)
            dpg.add_theme_color(dpg.mvThemeCol_WindowBg, BACKGROUND)
            dpg.add_theme_color(dpg.mvThemeCol_ChildBg, BACKGROUND)
    dpg.bind_theme(theme)


def bind_see_through(window: int | str) -> None:
    """No background quads in `window` and its child windows: ImGui skips a fully transparent fill, and
    llvmpipe would otherwise shade every pixel of each one every frame. The viewport's clear colour (set by
    apply_viewport_colour) shows through instead. Dialogs keep the opaque theme."""
    with dpg.theme() as theme:
        with dpg.theme_component(dpg.mvAll):
            dpg.add_theme_color(dpg.mvThemeCol_WindowBg, (0, 0, 0, 0))
            dpg.add_theme_color(dpg.mvThemeCol_ChildBg, (0, 0, 0, 0))
    dpg.bind_item_theme(window, theme)


def apply_viewport_colour() -> None:
    """The window background (call after create_viewport)."""
    dpg.set_viewport_clear_color(BACKGROUND)
