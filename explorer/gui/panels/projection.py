"""Projection: find the w that draws a photo (networks/edit/projector.py) on a helper thread, with progress and
cancel; the result becomes the state's explicit w (and a video keyframe), so every other panel works on it.

The window keeps the network's own noise (noise 'fixed'): a state holds only w, so what it renders is exactly
the projection. Dear PyGui 2.3 has no OS drag-and-drop: type or paste the photo's path, or browse.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Callable, Optional

import dearpygui.dearpygui as dpg

from explorer.engine.renderer import network_lock
from explorer.gui.panels.background import BackgroundJob
from explorer.gui.panels.base import file_dialog, replace
from explorer.gui.panels.jobpanel import JobPanel
from networks.edit.projector import ProjectConfig, load_target, project, psnr


@dataclass
class ProjectionSettings:
    target: str = ""                # photo path
    steps: int = 200                # optimisation steps
    w_plus: bool = False            # one w per layer (W+)
    w_avg_samples: int = 10000      # mapped samples for the start point
    use_result: bool = False        # render the projected w instead of the seeds
    add_keyframe: bool = True       # append the result to the video timeline


class ProjectionPanel(JobPanel):
    title = "Projection"
    Settings = ProjectionSettings

    def __init__(self, ctx, cache_source: Callable, add_keyframe: Optional[Callable[[], None]] = None):
        super().__init__(ctx)
        self._cache_source = cache_source
        self._add_keyframe = add_keyframe
        self.w: Optional[list] = None          # projected ws [num_ws][w_dim]
        self.step_text = ""
        self._keyframe_due = False
        self._dialog = None

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                self.bind(dpg.add_input_text, "target", label="photo", hint="path of an image", width=250)
                self.browse_button = dpg.add_button(label="Browse...", callback=lambda *_: self.dialog().show())
            with dpg.group(horizontal=True):
                self.bind(dpg.add_input_int, "steps", label="steps", min_value=1, min_clamped=True, width=100)
                self.bind(dpg.add_checkbox, "w_plus", label="W+")
                self.bind(dpg.add_checkbox, "add_keyframe", label="add keyframe")
            with dpg.group(horizontal=True):
                self.run_button = dpg.add_button(label="Project", callback=lambda *_: self.start())
                self.cancel_button = dpg.add_button(label="Cancel", callback=lambda *_: self.cancel())
                self.progress = dpg.add_progress_bar(default_value=0.0, width=150)
            self.use_box = self.bind(dpg.add_checkbox, "use_result", label="show the projected w")
            self.status = dpg.add_text("", wrap=420)

    def dialog(self):
        if self._dialog is None:
            self._dialog = file_dialog([".png", ".jpg", ".jpeg", ".webp"], lambda path: self.set(target=path))
        return self._dialog

    def start(self) -> bool:
        if self.job is not None and not self.job.done.is_set():
            return False
        state = self.ctx.current_state()
        if not state.checkpoint or self.info is None:
            self.ctx.notify("load a network first")
            return False
        path = self.s.target.strip()
        if not os.path.isfile(path):
            dpg.set_value(self.status, f"{path or '(no photo)'}: no such file")
            return False
        cfg = ProjectConfig(steps=int(self.s.steps), w_plus=bool(self.s.w_plus),
                            w_avg_samples=int(self.s.w_avg_samples), optimize_noise=False)
        cache = self._cache_source()

        def work(progress, cancel):
            G = cache.get(state.checkpoint, state.which, state.device)
            with network_lock(G):             # a render may be changing StyleGAN3's transform buffer right now
                G = copy.deepcopy(G)
            target = load_target(path, G.img_resolution, G.img_channels)

            def report(step, steps, loss):
                progress(step / steps)
                self.step_text = f"step {step}/{steps}, loss {loss:.4g}"
            result = project(G, target, cfg, progress=report, cancel=cancel.is_set)
            px = ((target.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
            return result, psnr(result.image, px)
        self.job = BackgroundJob(work, "projection")
        dpg.set_value(self.status, "projecting ...")
        return True

    def tick(self, dt: float) -> bool:
        if self._keyframe_due:                # the state with the result went out last frame
            self._keyframe_due = False
            if self._add_keyframe is not None:
                self._add_keyframe()
        job = self.finished_job()       # cancel() keeps the w reached so far
        if job is None:
            if self.job is not None and self.step_text:
                dpg.set_value(self.status, self.step_text)
            return False
        if job.error:
            dpg.set_value(self.status, job.error)
            return False
        result, quality = job.result
        self.w = result.w[0].tolist()
        note = "cancelled at" if result.cancelled else "done:"
        dpg.set_value(self.status, f"{note} {result.steps_done} steps, PSNR {quality:.2f} dB, "
                                   f"{result.seconds_per_step * 1000:.0f} ms/step")
        self.s.use_result = True
        self.sync_widgets()
        self._keyframe_due = bool(self.s.add_keyframe)
        return True

    def apply(self, state):
        if self.s.use_result and self.w is not None and self.info is not None and len(self.w) == self.info.num_ws \
                and len(self.w[0]) == self.info.w_dim:
            return replace(state, w=self.w)
        return state

    def save(self) -> dict:
        d = super().save()
        d["w"] = self.w
        return d

    def restore(self, data: dict) -> None:
        super().restore(data)
        w = data.get("w") if isinstance(data, dict) else None
        ok = isinstance(w, list) and w and all(isinstance(r, list) and all(isinstance(v, (int, float))
                                                                            for v in r) for r in w)
        self.w = w if ok else None
        if self.w is None:
            self.s.use_result = False
            self.sync_widgets()
