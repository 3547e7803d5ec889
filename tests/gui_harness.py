"""GUI test harness: a private Xvfb display (session fixture in tests/test_gui.py) and helpers that drive a
started explorer App on the main thread and read its pixels back."""
from __future__ import annotations

import os
import time

from explorer.gui.xvfb import XServer, start_xvfb  # noqa: F401


# ------------------------------------------------------------------------------------------------
# Driving a started explorer App from a test (all on the main thread).

def fire(tag, value, user_data=None) -> None:
    """Sets a widget's value and runs its callback, as a user edit would (set_value alone fires nothing)."""
    import dearpygui.dearpygui as dpg
    dpg.set_value(tag, value)
    callback = dpg.get_item_callback(tag)
    if callback is None:
        return
    args = (tag, value, user_data if user_data is not None else dpg.get_item_user_data(tag))
    # Like Dear PyGui, pass only as many of (sender, app_data, user_data) as the callback takes.
    import inspect
    params = inspect.signature(callback).parameters.values()
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        callback(*args)
    else:
        callback(*args[:len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])])


def wait_idle(app, timeout_s: float = 60.0, min_frames: int = 3) -> None:
    """Steps frames until the newest state has been rendered and shown (or raises TimeoutError)."""
    deadline = time.monotonic() + timeout_s
    frames = 0
    while True:
        app.step()
        frames += 1
        settled = (not app._dirty and app.worker.idle and app.last_handled is not None
                   and app.last_handled.state == app.last_state)
        if settled and frames >= min_frames:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the explorer did not settle")


def screenshot(app, path: str):
    """The window as pixels: uint8 [H, W, 3] (also written to `path`), after the last change is drawn."""
    import dearpygui.dearpygui as dpg
    import numpy as np
    from PIL import Image
    for _ in range(4):   # a new texture is filled again two frames after it was created (texture.py)
        app.step()
    if os.path.exists(path):
        os.unlink(path)
    dpg.output_frame_buffer(file=path)
    for _ in range(20):
        app.step()
        if os.path.exists(path) and os.path.getsize(path) > 0:
            break
    return np.asarray(Image.open(path).convert("RGB"))
