"""Is there an X display we can open? Asked before Dear PyGui creates a viewport.

Dear PyGui aborts the whole process (a GLFW assertion, exit 134) when the display is missing or wrong,
so the check must happen first, through libX11 itself: the same call GLFW makes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os


def display_problem(display: str | None = None) -> str | None:
    """None when `display` (default $DISPLAY) accepts an X connection, else a one-line reason."""
    name = os.environ.get("DISPLAY") if display is None else display
    if not name:
        return "no display: DISPLAY is not set (the explorer window needs X; run it under Xvfb or a desktop)"
    lib_path = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        x11 = ctypes.CDLL(lib_path)
    except OSError:
        return "no display: libX11 is not installed"
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    handle = x11.XOpenDisplay(name.encode())
    if not handle:
        return f"no display: cannot open X display {name!r}"
    # GLFW needs at least 16-bit colour; an 8-bit screen aborts too.
    x11.XDefaultDepth.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
    depth = x11.XDefaultDepth(handle, x11.XDefaultScreen(handle))
    x11.XCloseDisplay(handle)
    if depth < 16:
        return f"no usable display: X display {name!r} has {depth}-bit colour (16 or 24 needed)"
    return None
