"""The main view: a toolbar (mode, fit, save, the A/B source), a line saying what is shown, the image view and
a pixel readout under the cursor.

The picture of each mode comes from the engine's RenderResult (image, layer_image, spectrum) or the texture-
sticking panel's average; A/B cuts the current render and a second one (another network with the same settings,
or a state kept with "B = this state") at a draggable divider, so both halves share zoom and pan. B renders on
a helper thread from the render worker's network cache.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Callable, Optional

import dearpygui.dearpygui as dpg
import numpy as np

from explorer.gui.engine_link import render
from explorer.gui.panels.background import BackgroundJob
from explorer.gui.viewer import ImageView
from explorer.gui.viewmodes import LAYER_MODES, MODES, capture_stem, readout, seed_of, split_image
from networks.files import save_png

TOOLBAR_H = 54          # px the toolbar and the two text lines take above / below the drawlist


@dataclass
class MainViewSettings:
    mode: str = "output"        # one of viewmodes.MODES
    divider: float = 0.5        # A/B cut, fraction of the image width
    b_checkpoint: str = ""      # A/B: the second network (empty: the kept state, if any)


class MainView:
    def __init__(self, texture_registry, cache_source: Callable, layers_panel, sticking_panel, capture_folder: Callable,
                 notify: Callable[[str], None]):
        self.s = MainViewSettings()
        self.view = ImageView(texture_registry)
        self.view.on_divider = self._on_divider
        self._cache_source, self._layers, self._sticking = cache_source, layers_panel, sticking_panel
        self._folder, self._notify = capture_folder, notify
        self.result = None            # the last good RenderResult of A
        self.b_state = None           # a state kept as B ("B = this state")
        self.b_result = None          # B's last render
        self._b_job: Optional[BackgroundJob] = None
        self._b_wanted = None         # the B state asked for last
        self.shown: Optional[np.ndarray] = None     # uint8 [H, W, 3]: what the view shows now (native size)
        self.caption = ""
        self._readout = ""
        self._sticking_seen = None    # the sticking panel's image list last shown

    # ---- widgets -----------------------------------------------------------------------------------------
    def build(self, parent) -> None:
        with dpg.group(horizontal=True, parent=parent):
            self.mode_combo = dpg.add_combo(list(MODES), default_value=self.s.mode, width=100,
                                            callback=lambda _s, v: self.set_mode(v))
            self.fit_button = dpg.add_button(label="Fit (F)", callback=lambda *_: self.view.fit())
            self.save_button = dpg.add_button(label="Save view", callback=lambda *_: self.capture())
            self.b_input = dpg.add_input_text(hint="B: second checkpoint", width=200, on_enter=True,
                                              callback=lambda _s, v: self.set_b_checkpoint(v))
            self.keep_button = dpg.add_button(label="B = this state", callback=lambda *_: self.keep_b())
        self.caption_text = dpg.add_text("", parent=parent, color=(190, 190, 190))
        self.view.build(parent)
        self.readout_text = dpg.add_text("", parent=parent)

    def sync_widgets(self) -> None:
        dpg.set_value(self.mode_combo, self.s.mode)
        dpg.set_value(self.b_input, self.s.b_checkpoint)

    # ---- settings ----------------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            return
        self.s.mode = mode
        dpg.set_value(self.mode_combo, mode)
        if mode in LAYER_MODES and not self._layers.s.open:
            self._layers.set(open=True)          # the layer must be hooked to have something to show
        self.refresh()

    def set_b_checkpoint(self, path: str) -> None:
        path = (path or "").strip()
        self.s.b_checkpoint = os.path.abspath(path) if path and not path.startswith(("http://", "https://")) else path
        dpg.set_value(self.b_input, self.s.b_checkpoint)
        self.b_state, self.b_result = None, None
        self.refresh()

    def keep_b(self) -> None:
        """B = the current state (the image as it is now, also after A's settings move on)."""
        if self.result is None:
            self._notify("nothing to keep: no image rendered yet")
            return
        self.b_state, self.b_result = self.result.state, self.result
        self.s.b_checkpoint = ""
        dpg.set_value(self.b_input, "")
        if self.s.mode != "a/b":
            self.set_mode("a/b")
        self.refresh()

    def _on_divider(self, frac: float) -> None:
        self.s.divider = frac
        self.refresh(relayout=False)

    def save(self) -> dict:
        return dataclasses.asdict(self.s)

    def restore(self, data: dict) -> None:
        if not isinstance(data, dict):
            return
        if data.get("mode") in MODES:
            self.s.mode = data["mode"]
        if isinstance(data.get("divider"), (int, float)) and 0 <= data["divider"] <= 1:
            self.s.divider = float(data["divider"])
        if isinstance(data.get("b_checkpoint"), str):
            b = data["b_checkpoint"]
            self.s.b_checkpoint = b if not b or b.startswith(("http://", "https://")) or os.path.exists(b) else ""
        self.sync_widgets()

    # ---- per frame ---------------------------------------------------------------------------------------
    def on_result(self, result) -> None:
        """A render of A finished (good ones only)."""
        self.result = result
        self.refresh()

    def clear(self, caption: str) -> None:
        """No network: nothing in the view, and the caption says why."""
        self.result, self.shown = None, None
        self.view.divider = self.view.spectrum_db = None
        self.view.show(np.zeros((1, 1, 3), np.uint8))
        self._set_caption(caption)

    def tick(self) -> None:
        job = self._b_job
        if job is not None and job.done.is_set():
            self._b_job = None
            if job.error:
                self.b_result = None
                self._b_error = job.error
            else:
                self.b_result, self._b_error = job.result, None
            self.refresh()
        if self.s.mode == "sticking" and self._sticking.images is not self._sticking_seen:
            self._sticking_seen = self._sticking.images      # a new average finished
            self.refresh()
        text = ""
        if self.shown is not None and self.view.hovered():
            p = self.view.mouse_pixel()
            if p is not None:
                text = self.readout_at(*p)
        if text != self._readout:
            self._readout = text
            dpg.set_value(self.readout_text, text)

    def readout_at(self, ix: int, iy: int) -> str:
        """The readout line for image pixel (ix, iy) of what is shown."""
        if self.shown is None:
            return ""
        r, mode = self.result, self.s.mode
        side = ""
        if mode == "a/b":
            side = "A " if ix < int(round(self.s.divider * self.shown.shape[1])) else "B "
        return readout(mode, ix, iy, self.shown, values=getattr(r, "layer_values", None),
                       db=getattr(r, "spectrum_db", None), side=side)

    # ---- what is shown -----------------------------------------------------------------------------------
    def _b_request(self):
        """The state B should show, or None when B has no source."""
        if self.b_state is not None:
            return self.b_state
        if self.s.b_checkpoint and self.result is not None:
            return dataclasses.replace(self.result.state, checkpoint=self.s.b_checkpoint, layer=None,
                                       fft_show=False, list_layers=False)
        return None

    def _start_b(self, state) -> None:
        if self._b_job is not None or state == self._b_wanted:
            return
        self._b_wanted = state
        cache = self._cache_source()

        def job(_progress, _cancel):
            return render(cache.get(state.checkpoint, state.which, state.device), state)
        self._b_job = BackgroundJob(job, "ab-render")

    def picture(self):
        """(uint8 [H, W, 3] or None, packed RGBA or None, caption) for the current mode."""
        r, mode = self.result, self.s.mode
        if r is None:
            return None, None, "no image yet"
        name = os.path.basename(r.state.checkpoint)
        what = f"seed {seed_of(r.state)} of {name}"
        if mode == "output":
            return r.image, (r.display or {}).get("image"), f"output: {what}, {r.image.shape[1]}x{r.image.shape[0]}"
        if mode == "layer":
            if r.layer_image is None:
                return None, None, "layer: waiting for the layer render"
            return r.layer_image, None, f"layer {r.state.layer} ({r.state.sel_channels} channel(s) from " \
                                        f"{r.state.base_channel}): {what}"
        if mode == "spectrum":
            if r.spectrum is None:
                return None, None, "spectrum: waiting for the layer render"
            return r.spectrum, None, f"spectrum of layer {r.state.layer}, {r.state.fft_range_db:g} dB range: {what}"
        if mode == "sticking":
            imgs = [im for im in self._sticking.images if im is not None]
            if not imgs:
                return None, None, "sticking: no average yet (Texture sticking panel, Average)"
            if len(imgs) == 2 and imgs[0].shape == imgs[1].shape:
                gap = np.zeros((imgs[0].shape[0], 2, 3), np.uint8)
                return np.concatenate([imgs[0], gap, imgs[1]], axis=1), None, "sticking average: current | second network"
            return imgs[0], None, "sticking average: current network"
        # A/B
        want = self._b_request()
        if want is None:
            return r.image, None, "A/B: no B yet (type a second checkpoint, or press 'B = this state')"
        b = self.b_result
        if b is None or b.state != want:
            self._start_b(want)
            err = getattr(self, "_b_error", None)
            if err and self._b_job is None:
                return r.image, None, f"A/B: B failed: {err}"
            return r.image, None, "A/B: rendering B ..."
        if b.image.shape != r.image.shape:
            return r.image, None, f"A/B: B is {b.image.shape[1]} px, A {r.image.shape[1]} px: one size needed"
        bname = os.path.basename(b.state.checkpoint)
        return (split_image(r.image, b.image, self.s.divider), None,
                f"A/B: A = {what} | B = seed {seed_of(b.state)} of {bname} (drag the yellow line)")

    def refresh(self, relayout: bool = True) -> None:
        image, packed, caption = self.picture()
        self._set_caption(caption)
        if image is None:
            return
        self.view.divider = self.s.divider if (self.s.mode == "a/b" and caption.startswith("A/B: A =")) else None
        r = self.result
        top = float(np.max(r.spectrum_db)) if self.s.mode == "spectrum" and r.spectrum_db is not None else None
        self.view.spectrum_db = (top, float(r.state.fft_range_db)) if top is not None else None
        self.shown = image
        self.view.show(image, packed)
        self.view.layout()

    def _set_caption(self, text: str) -> None:
        if text != self.caption:
            self.caption = text
            dpg.set_value(self.caption_text, text)

    # ---- capture -----------------------------------------------------------------------------------------
    def capture_path(self) -> str:
        r = self.result
        stem = capture_stem(self.s.mode, seed_of(r.state), r.state.layer)
        folder = self._folder()
        path, n = os.path.join(folder, stem + ".png"), 1
        while os.path.exists(path):        # never overwrite an earlier capture
            path, n = os.path.join(folder, f"{stem}-{n}.png"), n + 1
        return path

    def capture(self) -> Optional[str]:
        """Saves what the view shows at its native resolution (one image pixel per PNG pixel)."""
        if self.shown is None or self.result is None:
            self._notify("nothing to save: the view shows no image")
            return None
        path = self.capture_path()
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            save_png(path, self.shown)
        except OSError as e:
            self._notify(f"cannot save {path}: {e.strerror or e}")
            return None
        self._notify(f"saved {path}")
        return path

    def stop(self) -> None:
        if self._b_job is not None:
            self._b_job.stop()
