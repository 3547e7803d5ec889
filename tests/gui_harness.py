"""GUI test harness: one private Xvfb display per test process, fixtures that start explorer Apps on it, and
helpers that drive an App on the main thread (widget callbacks, real X input through xdotool) and read its
pixels back from the window.

Test modules use it with `from gui_harness import *` (the fixtures must be in the module's namespace).
"""
from __future__ import annotations

import atexit
import inspect
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from explorer.gui.xvfb import XServer, start_xvfb  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "nvidia-compat"
SG2 = str(DATA / "sg2-32" / "network.pkl")
SG3T = str(DATA / "sg3t-32-cond" / "network.pkl")
ARTIFACTS = REPO / "test-artifacts"

_server: dict = {}


def shared_display() -> str:
    """The display of this process's Xvfb, started on first use (Dear PyGui keeps one viewport per process)."""
    if "x" not in _server:
        if shutil.which("Xvfb") is None:
            pytest.skip("Xvfb is not installed")
        server = start_xvfb()
        _server["x"] = server
        atexit.register(server.stop)
    return _server["x"].display


@pytest.fixture
def xvfb_display(monkeypatch):
    monkeypatch.setenv("DISPLAY", shared_display())
    return os.environ["DISPLAY"]


@pytest.fixture
def make_app(xvfb_display, tmp_path, monkeypatch):
    """make_app(*checkpoints, **options) -> a started App (config folder in tmp_path); closed after the test."""
    monkeypatch.setenv("SG_EXPLORER_CONFIG_DIR", str(tmp_path / "config"))
    from explorer.gui.app import App, AppOptions
    apps = []

    def make(*checkpoints, **kw):
        kw.setdefault("restore_last_session", False)
        kw.setdefault("fps_cap", 0)
        kw.setdefault("keep_context", True)      # one window per process (see explorer/gui/app.py)
        app = App(AppOptions(checkpoints=list(checkpoints), **kw))
        app.start()
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


# ------------------------------------------------------------------------------------------------
# Driving a started explorer App from a test (all on the main thread).

def fire(tag, value, user_data=None) -> None:
    """Sets a widget's value and runs its callback, as a user edit would (set_value alone fires nothing)."""
    import dearpygui.dearpygui as dpg
    dpg.set_value(tag, value)
    run_callback(tag, value, user_data)


def run_callback(tag, app_data, user_data=None) -> None:
    """Runs an item's callback with app_data, as Dear PyGui would (file dialogs: {'file_path_name': ...})."""
    import dearpygui.dearpygui as dpg
    value = app_data
    callback = dpg.get_item_callback(tag)
    if callback is None:
        return
    args = (tag, value, user_data if user_data is not None else dpg.get_item_user_data(tag))
    # Like Dear PyGui, pass only as many of (sender, app_data, user_data) as the callback takes.
    params = inspect.signature(callback).parameters.values()
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        callback(*args)
    else:
        callback(*args[:len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])])


def click(tag) -> None:
    """Runs a button's callback as a click would."""
    import dearpygui.dearpygui as dpg
    dpg.get_item_callback(tag)(tag, None, dpg.get_item_user_data(tag))


def wait_idle(app, timeout_s: float = 60.0, min_frames: int = 3) -> None:
    """Steps frames until the newest state has been rendered and shown (or raises TimeoutError)."""
    deadline = time.monotonic() + timeout_s
    frames = 0
    while True:
        app.step()
        frames += 1
        # No network (a failed load) is settled too: nothing is sent to the worker then.
        settled = (not app._dirty and app.worker.idle and (app.last_state is None or (
                   app.last_handled is not None and app.last_handled.state == app.last_state)))
        if settled and frames >= min_frames:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the explorer did not settle")


def step_until(app, condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        app.step()
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")


def screenshot(app, path: str) -> np.ndarray:
    """The window as pixels: uint8 [H, W, 3] (also written to `path`), after the last change is drawn."""
    import dearpygui.dearpygui as dpg
    from PIL import Image
    for _ in range(4):   # a new texture's GL name is found after its first frame (gltexture.py)
        app.step()
    if os.path.exists(path):
        os.unlink(path)
    dpg.output_frame_buffer(file=path)
    for _ in range(20):
        app.step()
        if os.path.exists(path) and os.path.getsize(path) > 0:
            break
    return np.asarray(Image.open(path).convert("RGB"))


def image_on_screen(app, shot: np.ndarray) -> np.ndarray:
    """The generated image as drawn in the view, one sample at the centre of every image pixel: uint8 [H, W, 3]."""
    import dearpygui.dearpygui as dpg
    from explorer.gui.viewer import image_rect
    view = app.view
    ox, oy = dpg.get_item_rect_min(view.drawlist)
    w, h = view.image_size
    x0, y0, x1, y1 = image_rect(view.width, view.height, w, h, view.s)
    sx, sy = (x1 - x0) / w, (y1 - y0) / h
    ys = (oy + y0 + (np.arange(h) + 0.5) * sy).astype(int)
    xs = (ox + x0 + (np.arange(w) + 0.5) * sx).astype(int)
    return shot[ys][:, xs]


def widget_pixels(shot: np.ndarray, tag, height: int, width: int) -> np.ndarray:
    """An image widget's picture, one sample per image pixel: uint8 [height, width, 3]."""
    import dearpygui.dearpygui as dpg
    ox, oy = dpg.get_item_rect_min(tag)
    sw, sh = dpg.get_item_rect_size(tag)
    ys = (oy + (np.arange(height) + 0.5) * sh / height).astype(int)
    xs = (ox + (np.arange(width) + 0.5) * sw / width).astype(int)
    return shot[ys][:, xs]


_networks: dict = {}


def engine_image(path: str, state) -> np.ndarray:
    """What the engine renders for `state` on a fresh copy of the checkpoint's network."""
    import networks
    from explorer.engine import render
    key = (path, state.which)
    if key not in _networks:
        _networks[key] = networks.load_network_pkl(path)[state.which].eval()
    return render(_networks[key], state).image


# ------------------------------------------------------------------------------------------------
# Real X input (xdotool), for what only real events exercise: drags, typing focus, the mouse wheel.

def have_xdotool() -> bool:
    return shutil.which("xdotool") is not None


def xdo(*args) -> None:
    subprocess.run(["xdotool", *[str(a) for a in args]], check=True, timeout=10)


def pointer_to(app, tag, fx: float = 0.5, fy: float = 0.5) -> tuple:
    """Moves the X pointer to the point (fx, fy) of a widget's rectangle; returns that screen point."""
    import dearpygui.dearpygui as dpg
    vx, vy = dpg.get_viewport_pos()
    x, y = dpg.get_item_rect_min(tag)
    w, h = dpg.get_item_rect_size(tag)
    point = (int(vx + x + fx * w), int(vy + y + fy * h))
    xdo("mousemove", *point)
    for _ in range(3):
        app.step()
    return point


def park_pointer(app) -> None:
    """Back outside the window (see explorer/gui/xvfb.py: a pointer inside it when windows are re-created)."""
    xdo("mousemove", 3100, 1950)
    for _ in range(2):
        app.step()
