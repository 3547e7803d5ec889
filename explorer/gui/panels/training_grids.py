"""The training companion's fakes grids: a slider over the run's fakes<kimg>.png grids and the chosen grid.

Grids are decoded on a worker thread (a 1024 px run's grid is 8192 x 4096) and kept in a small cache, so
scrubbing the slider never waits on the UI thread; the newest decoded request is shown, older ones are
dropped. The slider follows the newest grid while it sits at the end. Main thread only, except `load_grid`.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from concurrent.futures import Executor
from typing import Optional

import dearpygui.dearpygui as dpg
import numpy as np

from explorer.gui.texture import make_texture
from explorer.gui.training_run import Grid, load_grid

VIEW_WIDTH = 400            # px available in the left column
CACHE = 8                   # decoded grids kept (scrubbing back and forth decodes nothing again)
_retired: list = []         # raw-texture buffers of closed viewers: Dear PyGui may read them after the close


class GridViewer:
    def __init__(self, executor: Executor, registry):
        self.executor = executor
        self.registry = registry
        self.grids: tuple = ()
        self.index = -1                           # grid shown or being shown
        self.cache: OrderedDict = OrderedDict()   # (path, mtime_ns) -> uint8 [H, W, 3]
        self.wanted: Optional[tuple] = None       # (path, mtime_ns) to show next
        self.future: Optional[tuple] = None       # decode in flight: (key, Future)
        self.shown: Optional[tuple] = None        # (path, mtime_ns) on screen
        self.shown_image: Optional[np.ndarray] = None
        self.error = ""

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                self.slider = dpg.add_slider_int(label="", min_value=0, max_value=0, default_value=0, width=200,
                                                 format="kimg", callback=lambda _s, v: self.choose(int(v)), enabled=False)
                self.label = dpg.add_text("no fakes grids yet")
            self.texture = make_texture(self.registry, 1, 1)
            self.image = dpg.add_image(self.texture.tag, width=1, height=1, show=False)

    def clear(self) -> None:
        self.grids, self.index, self.wanted, self.shown, self.shown_image, self.error = (), -1, None, None, None, ""
        self.future = None
        dpg.configure_item(self.slider, max_value=0, enabled=False, format="kimg")
        dpg.set_value(self.slider, 0)
        dpg.set_value(self.label, "no fakes grids yet")
        dpg.configure_item(self.image, show=False)

    def set_grids(self, grids: tuple) -> None:
        """A new listing: the slider keeps its grid, or moves to the newest when it was at the end."""
        at_end = self.index < 0 or self.index >= len(self.grids) - 1
        current = self.grids[self.index].path if 0 <= self.index < len(self.grids) else None
        self.grids = grids
        if not grids:
            self.clear()
            return
        paths = [g.path for g in grids]
        index = len(grids) - 1 if at_end or current not in paths else paths.index(current)
        dpg.configure_item(self.slider, max_value=len(grids) - 1, enabled=len(grids) > 1)
        self.choose(index)

    def choose(self, index: int) -> None:
        """Shows grid `index` (the slider's callback): at once when cached, else after its decode."""
        if not self.grids:
            return
        index = min(max(index, 0), len(self.grids) - 1)
        self.index = index
        dpg.set_value(self.slider, index)
        grid: Grid = self.grids[index]
        # The slider shows the kimg in place of its index (a format without %d is shown as it is).
        dpg.configure_item(self.slider, format=f"kimg {grid.label}")
        dpg.set_value(self.label, f"kimg {grid.label}" + (f" ({index + 1}/{len(self.grids)})" if len(self.grids) > 1 else ""))
        self.wanted = (grid.path, grid.mtime_ns)
        self._next()

    def _next(self) -> None:
        """Shows the wanted grid from the cache, or starts its decode when none is in flight."""
        key = self.wanted
        if key is None or key == self.shown:
            return
        if key in self.cache:
            self.cache.move_to_end(key)
            self._show(key, self.cache[key])
        elif self.future is None:
            self.future = (key, self.executor.submit(load_grid, key[0]))

    def tick(self) -> None:
        """Each frame: takes a finished decode, hands it on, and finds a new texture's GL name (gltexture.py)."""
        self.texture.after_frame()
        if self.future is None or not self.future[1].done():
            return
        key, future = self.future
        self.future = None
        try:
            image = future.result()
        except Exception as e:   # a grid being replaced, or a broken PNG: say so, keep the shown one
            self.error = f"{os.path.basename(key[0])}: cannot read ({e.__class__.__name__})"
            dpg.set_value(self.label, self.error)
            if key == self.wanted:
                self.wanted = None
            return
        self.cache[key] = image
        while len(self.cache) > CACHE:
            self.cache.popitem(last=False)
        self._next()

    def _show(self, key: tuple, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        k = max(1, VIEW_WIDTH // w)             # whole-pixel magnification (a raw texture samples bilinearly)
        self.texture.show(image, repeat=k)
        scale = min(1.0, VIEW_WIDTH / (w * k))
        dpg.configure_item(self.image, texture_tag=self.texture.tag, width=max(1, int(w * k * scale)),
                           height=max(1, int(h * k * scale)), show=True)
        self.texture.release_stale()
        self.shown, self.shown_image, self.error = key, image, ""

    def close(self) -> None:
        self.texture.close()
        if getattr(self.texture, "buffer", None) is not None:
            _retired[:] = [self.texture.buffer]
