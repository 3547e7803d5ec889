"""Texture-sticking inspector: the mean of N frames along a latent walk or a translation sweep.

Details that stay fixed to the screen while the content moves (StyleGAN2's texture sticking) stay sharp
in the mean; with StyleGAN3 they blur away. A second checkpoint is averaged the same way beside it.
Runs on a helper thread; the UI polls its progress.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import dearpygui.dearpygui as dpg

from explorer.gui.engine_link import sticking_average
from explorer.gui.panels.background import BackgroundJob
from explorer.gui.panels.base import Panel
from explorer.gui.texture import make_texture

VIEW_SIZE = 200
MODES = {"latent walk": "latent_walk", "translation sweep": "translate"}   # label -> engine mode


@dataclass
class StickingSettings:
    frames: int = 16
    mode: str = "latent walk"
    at_layer: bool = False       # average the layer view's image instead of the output
    second_pkl: str = ""


class StickingPanel(Panel):
    title = "Texture sticking"
    Settings = StickingSettings

    def __init__(self, ctx, cache_source):
        """cache_source() -> the NetworkCache to take networks from (the engine locks a network while it
        changes StyleGAN3's transform, so sharing the render worker's cache is safe)."""
        super().__init__(ctx)
        self._cache_source = cache_source
        self.job: Optional[BackgroundJob] = None
        self.images: list = []      # uint8 [H, W, 3] per checkpoint of the last run

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            self.bind(dpg.add_input_int, "frames", label="frames", min_value=2, min_clamped=True, max_value=1024,
                      max_clamped=True, width=110)
            self.bind(dpg.add_combo, "mode", items=list(MODES), label="motion", width=160)
            self.bind(dpg.add_checkbox, "at_layer", label="at the layer view's layer")
            self.bind(dpg.add_input_text, "second_pkl", label="compare with", hint="second checkpoint (optional)", width=250)
            with dpg.group(horizontal=True):
                self.run_button = dpg.add_button(label="Average", callback=lambda *_: self.start())
                dpg.add_button(label="Cancel", callback=lambda *_: self.stop())
                self.progress = dpg.add_progress_bar(default_value=0.0, width=150)
            self.status = dpg.add_text("")
            self.textures = [make_texture(self.ctx.texture_registry, 1, 1) for _ in range(2)]
            with dpg.group(horizontal=True):
                self.image_widgets = [dpg.add_image(t.tag, width=VIEW_SIZE, height=VIEW_SIZE, show=False)
                                      for t in self.textures]

    def start(self) -> bool:
        if self.job is not None and not self.job.done.is_set():
            return False
        state = self.ctx.current_state()
        if not state.checkpoint:
            self.ctx.notify("load a network first")
            return False
        layer = (state.layer or "output") if self.s.at_layer else None
        pkls = [state.checkpoint] + ([self.s.second_pkl.strip()] if self.s.second_pkl.strip() else [])
        cache, n, mode = self._cache_source(), int(self.s.frames), MODES[self.s.mode]

        def work(progress, cancel):
            out = []
            for k, pkl in enumerate(pkls):
                if cancel.is_set():
                    return None
                G = cache.get(pkl, state.which, state.device)
                s = state.replace(checkpoint=pkl, class_idx=state.class_idx if G.c_dim else None)
                out.append(sticking_average(G, s, mode, n, layer))
                progress((k + 1) / len(pkls))
            return out

        self.job = BackgroundJob(work, "sticking-average")
        dpg.set_value(self.status, f"averaging {n} frames of {len(pkls)} network(s) ...")
        return True

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()

    def tick(self, dt: float) -> bool:
        job = self.job
        if job is None:
            return False
        dpg.set_value(self.progress, job.progress)
        if job.done.is_set():
            self.job = None
            if job.error:
                dpg.set_value(self.status, job.error)
                self.ctx.notify(f"texture sticking: {job.error}")
            elif job.result is None:
                dpg.set_value(self.status, "cancelled")
            else:
                self.images = job.result
                for k, (tex, widget) in enumerate(zip(self.textures, self.image_widgets)):
                    if k < len(self.images):
                        tex.show(self.images[k])
                        h, w = self.images[k].shape[:2]
                        dpg.configure_item(widget, texture_tag=tex.tag, show=True,
                                           width=VIEW_SIZE, height=int(VIEW_SIZE * h / w))
                        tex.release_stale()
                    else:
                        dpg.configure_item(widget, show=False)
                dpg.set_value(self.status, "mean of the frames (left: current network" +
                              (", right: the second one)" if len(self.images) > 1 else ")"))
        return False
