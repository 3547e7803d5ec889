"""Video export dialog: a keyframe timeline (add the current state, reorder, delete, frames between) exported
through the same export_video as `sg-explorer video`, on a helper thread, with progress, ETA and cancel."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

import dearpygui.dearpygui as dpg

from explorer.gui.engine_link import ExportCancelled, Keyframe, NetworkCache, Recipe, VideoSpec, export_video
from explorer.gui.panels.background import BackgroundJob

KINDS = ("linear", "cubic")


def export_recipe(cache: NetworkCache, recipe: Recipe, path: str, progress, cancel, size=None) -> bool:
    """Writes the recipe's video with export_video (beside it: the recipe JSON and the command line that re-runs
    it); size (width, height) resizes the frames as `video --size` does, None = the network's size;
    progress(fraction 0..1). False when cancelled, in which case no file is left."""
    first = recipe.keyframes[0].state
    spec = VideoSpec(output=path, fps=recipe.fps, which=first.which, device=first.device, batch=1, size=size)
    try:
        export_video(spec, progress=lambda done, total: progress(done / max(total, 1)), cancel=cancel, cache=cache,
                     recipe=recipe)
    except ExportCancelled:
        return False
    return True


@dataclass
class VideoSettings:
    frames_between: int = 30           # in-between frames from one keyframe to the next
    fps: int = 30
    path: str = "explorer-video.mp4"   # .mp4 | .webm | .gif | folder/ (numbered PNGs)
    loop: bool = False                 # the last keyframe leads back into the first
    kind: str = "linear"               # 'linear' | 'cubic' (smooth through the keyframes)
    width: int = 0                     # output frame size, px (as `video --size WxH`); 0 = the network's size
    height: int = 0


def keyframe_label(i: int, state) -> str:
    latent = "w" if state.w is not None else f"seed ({state.x:.2f}, {state.y:.2f})"
    extra = ""
    if state.translate_x or state.translate_y or state.rotate:
        extra += f" t ({state.translate_x:.3f}, {state.translate_y:.3f}) r {state.rotate:.1f}"
    if state.class_idx is not None:
        extra += f" class {state.class_idx}"
    if state.layer:
        extra += f" layer {state.layer}"
    return f"{i + 1}. {latent} psi {state.trunc_psi:.2f}{extra}"


def format_eta(seconds: float) -> str:
    s = int(round(max(seconds, 0.0)))
    return f"{s // 60}:{s % 60:02d}"


class VideoDialog:
    """Public interface (the app and its tests): build, open, tick, stop; add_current, move, delete, select;
    s (VideoSettings), keyframes (RenderStates in order), recipe(), export(), cancel(), job, status, progress."""

    def __init__(self, ctx, cache_source: Callable, recall: Optional[Callable] = None, pos=(460, 60)):
        """recall(state) puts a selected keyframe's state back into the window; pos: where the dialog opens
        (beside the controls, over the image)."""
        self.ctx = ctx
        self._recall, self._pos = recall, pos
        self.s = VideoSettings()
        self.keyframes: list = []
        self.job: Optional[BackgroundJob] = None
        self._cache_source = cache_source      # () -> the NetworkCache to render with
        self._path = ""                        # the running export's output
        self._t_start = 0.0

    def build(self) -> None:
        with dpg.window(label="Export video", show=False, width=560, height=470, pos=self._pos) as self.window:
            with dpg.group(horizontal=True):
                dpg.add_button(label="Add current state", callback=lambda *_: self.add_current())
                dpg.add_button(label="Up", callback=lambda *_: self.move(-1))
                dpg.add_button(label="Down", callback=lambda *_: self.move(+1))
                dpg.add_button(label="Delete", callback=lambda *_: self.delete())
            self.list = dpg.add_listbox([], num_items=8, width=-1, callback=lambda *_: self.recall_selected())
            self.frames_input = dpg.add_input_int(label="frames between keys", default_value=self.s.frames_between,
                                                  min_value=0, min_clamped=True, width=120,
                                                  callback=lambda _s, v: setattr(self.s, "frames_between", v))
            self.fps_input = dpg.add_input_int(label="fps", default_value=self.s.fps, min_value=1, min_clamped=True,
                                               width=120, callback=lambda _s, v: setattr(self.s, "fps", v))
            with dpg.group(horizontal=True):
                self.loop_input = dpg.add_checkbox(label="loop", default_value=self.s.loop,
                                                   callback=lambda _s, v: setattr(self.s, "loop", v))
                self.kind_input = dpg.add_combo(list(KINDS), label="interpolation", default_value=self.s.kind,
                                                width=100, callback=lambda _s, v: setattr(self.s, "kind", v))
            self.path_input = dpg.add_input_text(label="file (.mp4 .webm .gif or folder/)", default_value=self.s.path,
                                                 width=300, callback=lambda _s, v: setattr(self.s, "path", v))
            with dpg.group(horizontal=True):
                self.width_input = dpg.add_input_int(label="x", default_value=self.s.width, min_value=0,
                                                     min_clamped=True, max_value=8192, max_clamped=True, width=100,
                                                     callback=lambda _s, v: setattr(self.s, "width", v))
                self.height_input = dpg.add_input_int(label="output size px (0 = network's)", default_value=self.s.height,
                                                      min_value=0, min_clamped=True, max_value=8192, max_clamped=True,
                                                      width=100, callback=lambda _s, v: setattr(self.s, "height", v))
            with dpg.group(horizontal=True):
                self.export_button = dpg.add_button(label="Export", callback=lambda *_: self.export())
                self.cancel_button = dpg.add_button(label="Cancel", callback=lambda *_: self.cancel())
                self.progress = dpg.add_progress_bar(default_value=0.0, width=220)
            self.status = dpg.add_text("")

    def open(self) -> None:
        dpg.configure_item(self.window, show=True)
        dpg.focus_item(self.window)

    # ---- the timeline ------------------------------------------------------------------------------------
    def labels(self) -> list[str]:
        return [keyframe_label(i, k) for i, k in enumerate(self.keyframes)]

    def _refresh(self, selected: Optional[int] = None) -> None:
        labels = self.labels()
        dpg.configure_item(self.list, items=labels)
        if labels:
            i = len(labels) - 1 if selected is None else max(0, min(selected, len(labels) - 1))
            dpg.set_value(self.list, labels[i])

    def selected(self) -> Optional[int]:
        value = dpg.get_value(self.list)
        labels = self.labels()
        return labels.index(value) if value in labels else None

    def select(self, i: int) -> None:
        """Selects keyframe i and shows its state in the window."""
        self._refresh(i)
        self.recall_selected()

    def recall_selected(self) -> None:
        i = self.selected()
        if i is not None and self._recall is not None:
            note = self._recall(self.keyframes[i])
            dpg.set_value(self.status, note or f"keyframe {i + 1} shown")

    def size(self) -> Optional[tuple]:
        """(width, height) of the output, None for the network's own size; a 0 side keeps the aspect (square)."""
        w, h = int(self.s.width), int(self.s.height)
        if not w and not h:
            return None
        return (w or h, h or w)

    def add_current(self) -> None:
        """Appends the state the window shows now and selects it."""
        self.keyframes.append(self.ctx.current_state().replace(list_layers=False, fft_show=False))
        self._refresh()

    def move(self, delta: int) -> None:
        """Moves the selected keyframe delta places (the selection follows it)."""
        i = self.selected()
        if i is None or not 0 <= i + delta < len(self.keyframes):
            return
        k = self.keyframes
        k[i], k[i + delta] = k[i + delta], k[i]
        self._refresh(i + delta)

    def delete(self) -> None:
        """Removes the selected keyframe; the one after it (or the new last) becomes selected."""
        i = self.selected()
        if i is not None:
            del self.keyframes[i]
            self._refresh(i)

    def recipe(self) -> Recipe:
        """The timeline as a recipe: frames_between in-between frames from each keyframe to the next."""
        frames = max(1, int(self.s.frames_between) + 1)
        return Recipe(keyframes=[Keyframe(state=k, frames=frames) for k in self.keyframes], loop=bool(self.s.loop),
                      kind=self.s.kind, fps=float(self.s.fps))

    # ---- export ------------------------------------------------------------------------------------------
    def running(self) -> bool:
        return self.job is not None and not self.job.done.is_set()

    def export(self) -> bool:
        """Starts the export on a helper thread; False (with the reason in the status line) when it cannot."""
        if self.running():
            return False
        if len(self.keyframes) < 2:
            dpg.set_value(self.status, "add at least two keyframes")
            return False
        path = self.s.path.strip()
        if not path or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            dpg.set_value(self.status, f"{path or '(empty)'}: its folder does not exist")
            return False
        if len({(k.checkpoint, k.which) for k in self.keyframes}) > 1:
            dpg.set_value(self.status, "all keyframes must use the same network")
            return False
        recipe = self.recipe()
        try:
            recipe.validate()
        except Exception as e:
            dpg.set_value(self.status, str(e))
            return False
        cache, size = self._cache_source(), self.size()
        self._path, self._t_start = path, time.monotonic()
        self.job = BackgroundJob(lambda progress, cancel: export_recipe(cache, recipe, path, progress, cancel, size),
                                 "video-export")
        dpg.set_value(self.progress, 0.0)
        dpg.configure_item(self.progress, overlay="")
        dpg.set_value(self.status, f"exporting to {path} ...")
        return True

    def cancel(self) -> None:
        """Asks the running export to stop without waiting for it (tick reports when it has)."""
        if self.running():
            self.job.cancel.set()
            dpg.set_value(self.status, "cancelling ...")

    def stop(self) -> None:
        """Cancels and waits (the window is closing)."""
        if self.job is not None:
            self.job.stop()

    def tick(self) -> None:
        job = self.job
        if job is None:
            return
        p = job.progress
        dpg.set_value(self.progress, p)
        if 0 < p < 1 and not job.cancel.is_set():
            elapsed = time.monotonic() - self._t_start
            dpg.configure_item(self.progress, overlay=f"{p * 100:.0f}%  ETA {format_eta(elapsed * (1 - p) / p)}")
        if job.done.is_set():
            self.job = None
            if job.error:
                message = job.error
            elif not job.result:
                message = "cancelled"
            else:
                message = f"wrote {self._path}"
                dpg.configure_item(self.progress, overlay="100%")
            dpg.set_value(self.status, message)
