"""Performance: render time, UI frame rate, frame-rate cap, device, float32; opens the video export."""
from __future__ import annotations

from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from explorer.gui.engine_link import DEVICES
from explorer.gui.panels.base import Panel, replace


@dataclass
class PerformanceSettings:
    fps_cap: int = 60           # UI frames per second; 0 = uncapped
    force_fp32: bool = False    # no float16 layers (they only run on CUDA)
    device: str = "cpu"         # 'cpu' | 'cuda'; an unavailable device is an error in the window


class PerformancePanel(Panel):
    title = "Performance"
    Settings = PerformanceSettings

    def __init__(self, ctx, open_video_dialog=None):
        super().__init__(ctx)
        self._open_video = open_video_dialog

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            self.render_text = dpg.add_text("render: -")
            self.fps_text = dpg.add_text("UI: -")
            self.bind(dpg.add_input_int, "fps_cap", label="fps cap (0 = none)", min_value=0, min_clamped=True, width=110)
            self.bind(dpg.add_combo, "device", items=list(DEVICES), label="device", width=110)
            self.bind(dpg.add_checkbox, "force_fp32", label="force float32")
            self.video_button = dpg.add_button(label="Export video...", callback=lambda *_: self.open_video())

    def open_video(self) -> None:
        if self._open_video is not None:
            self._open_video()

    def show_stats(self, render_ms: float | None, ui_fps: float, ui_frame_ms: float) -> None:
        """render_ms: the last render's time; ui_fps and ui_frame_ms: measured over the last frames."""
        if render_ms is not None:
            dpg.set_value(self.render_text, f"render: {render_ms:.1f} ms ({1e3 / max(render_ms, 1e-3):.1f} /s)")
        dpg.set_value(self.fps_text, f"UI: {ui_fps:.0f} fps, frame {ui_frame_ms:.1f} ms")

    def apply(self, state):
        return replace(state, force_fp32=bool(self.s.force_fp32), device=self.s.device.strip() or "cpu")
