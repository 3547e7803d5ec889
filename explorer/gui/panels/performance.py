"""Performance: render time, UI frame rate, frame-rate cap, device, float32; opens the video export."""
from __future__ import annotations

from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from explorer.gui.panels.base import Panel, replace


@dataclass
class PerformanceSettings:
    fps_cap: int = 60           # UI frames per second; 0 = uncapped
    force_fp32: bool = False
    device: str = "cpu"


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
            self.bind(dpg.add_input_text, "device", label="device", width=110, on_enter=True)
            self.bind(dpg.add_checkbox, "force_fp32", label="force float32")
            dpg.add_button(label="Export video...", callback=lambda *_: self._open_video and self._open_video())

    def show_stats(self, render_s: float | None, ui_fps: float, ui_frame_ms: float) -> None:
        if render_s is not None:
            dpg.set_value(self.render_text, f"render: {render_s * 1e3:.1f} ms ({1 / max(render_s, 1e-6):.1f} /s)")
        dpg.set_value(self.fps_text, f"UI: {ui_fps:.0f} fps, frame {ui_frame_ms:.1f} ms")

    def apply(self, state):
        return replace(state, force_fp32=bool(self.s.force_fp32), device=self.s.device.strip() or "cpu")
