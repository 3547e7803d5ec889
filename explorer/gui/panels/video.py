"""Video export dialog: a keyframe timeline (add the current state, reorder, delete, frames between),
export with progress and cancel on a helper thread."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

import dearpygui.dearpygui as dpg

from explorer.gui.engine_link import ExportCancelled, Keyframe, NetworkCache, Recipe, VideoSpec, export_video
from explorer.gui.userconfig import config_dir
from explorer.gui.panels.background import BackgroundJob


def export_recipe(cache: NetworkCache, recipe: Recipe, path: str, progress, cancel) -> bool:
    """Writes the recipe's video with the engine's export_video; False when cancelled.

    The recipe goes to a JSON file in the config folder first: export_video reads keyframes from a file
    (and copies them into its sidecar beside the video).
    """
    recipe_path = config_dir() / "video-export-recipe.json"
    recipe_path.parent.mkdir(parents=True, exist_ok=True)
    recipe.save(recipe_path)
    first = recipe.keyframes[0].state
    spec = VideoSpec(checkpoint=first.checkpoint, output=path, keyframes=str(recipe_path), fps=recipe.fps,
                     which=first.which, device=first.device, batch=1)
    try:
        export_video(spec, progress=lambda done, total: progress(done / max(total, 1)), cancel=cancel, cache=cache)
    except ExportCancelled:
        return False
    return True


@dataclass
class VideoSettings:
    frames_between: int = 30
    fps: int = 30
    path: str = "explorer-video.mp4"


def keyframe_label(i: int, state) -> str:
    return (f"{i + 1}. seed ({state.x:.2f}, {state.y:.2f}) psi {state.trunc_psi:.2f}"
            + (f" t ({state.translate_x:.3f}, {state.translate_y:.3f}) r {state.rotate:.1f}"
               if state.translate_x or state.translate_y or state.rotate else ""))


class VideoDialog:
    def __init__(self, ctx, cache_source: Callable):
        self.ctx = ctx
        self.s = VideoSettings()
        self.keyframes: list = []
        self.job: Optional[BackgroundJob] = None
        self._cache_source = cache_source      # () -> the NetworkCache to render with

    def build(self) -> None:
        with dpg.window(label="Export video", show=False, width=520, height=420) as self.window:
            with dpg.group(horizontal=True):
                dpg.add_button(label="Add current state", callback=lambda *_: self.add_current())
                dpg.add_button(label="Up", callback=lambda *_: self.move(-1))
                dpg.add_button(label="Down", callback=lambda *_: self.move(+1))
                dpg.add_button(label="Delete", callback=lambda *_: self.delete())
            self.list = dpg.add_listbox([], num_items=8, width=-1)
            self.frames_input = dpg.add_input_int(label="frames between keys", default_value=self.s.frames_between,
                                                  min_value=0, min_clamped=True, width=120,
                                                  callback=lambda _s, v: setattr(self.s, "frames_between", v))
            self.fps_input = dpg.add_input_int(label="fps", default_value=self.s.fps, min_value=1, min_clamped=True,
                                               width=120, callback=lambda _s, v: setattr(self.s, "fps", v))
            self.path_input = dpg.add_input_text(label="file", default_value=self.s.path, width=300,
                                                 callback=lambda _s, v: setattr(self.s, "path", v))
            with dpg.group(horizontal=True):
                dpg.add_button(label="Export", callback=lambda *_: self.export())
                dpg.add_button(label="Cancel", callback=lambda *_: self.stop())
                self.progress = dpg.add_progress_bar(default_value=0.0, width=200)
            self.status = dpg.add_text("")

    def open(self) -> None:
        dpg.configure_item(self.window, show=True)
        dpg.focus_item(self.window)

    def _refresh(self, selected: Optional[int] = None) -> None:
        labels = [keyframe_label(i, k) for i, k in enumerate(self.keyframes)]
        dpg.configure_item(self.list, items=labels)
        if labels:
            dpg.set_value(self.list, labels[min(selected if selected is not None else len(labels) - 1, len(labels) - 1)])

    def selected(self) -> Optional[int]:
        value = dpg.get_value(self.list)
        labels = [keyframe_label(i, k) for i, k in enumerate(self.keyframes)]
        return labels.index(value) if value in labels else None

    def add_current(self) -> None:
        self.keyframes.append(self.ctx.current_state().replace(list_layers=False, fft_show=False))
        self._refresh()

    def move(self, delta: int) -> None:
        i = self.selected()
        if i is None or not 0 <= i + delta < len(self.keyframes):
            return
        k = self.keyframes
        k[i], k[i + delta] = k[i + delta], k[i]
        self._refresh(i + delta)

    def delete(self) -> None:
        i = self.selected()
        if i is not None:
            del self.keyframes[i]
            self._refresh(i)

    def export(self) -> bool:
        if self.job is not None and not self.job.done.is_set():
            return False
        if len(self.keyframes) < 2:
            dpg.set_value(self.status, "add at least two keyframes")
            return False
        path = self.s.path.strip()
        if not path or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            dpg.set_value(self.status, f"{path or '(empty)'}: its folder does not exist")
            return False
        keys = self.keyframes
        if len({(k.checkpoint, k.which) for k in keys}) > 1:
            dpg.set_value(self.status, "all keyframes must use the same network")
            return False
        recipe = Recipe(keyframes=[Keyframe(state=k, frames=max(1, int(self.s.frames_between) + 1)) for k in keys],
                        fps=float(self.s.fps))
        try:
            recipe.validate()
        except Exception as e:
            dpg.set_value(self.status, str(e))
            return False
        cache = self._cache_source()
        self.job = BackgroundJob(lambda progress, cancel: export_recipe(cache, recipe, path, progress, cancel),
                                 "video-export")
        dpg.set_value(self.status, f"exporting to {path} ...")
        return True

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()

    def tick(self) -> None:
        job = self.job
        if job is None:
            return
        dpg.set_value(self.progress, job.progress)
        if job.done.is_set():
            self.job = None
            dpg.set_value(self.status, job.error or ("cancelled" if not job.result else f"wrote {self.s.path}"))
