"""Latent panel: seed, the fractional seed plane (x, y) with drag and animation, class label.

The seed plane point (x, y) blends the four integer seeds around it; the engine does the math
(explorer.engine.latents.seed_plane_weights). The seed field is the plane's x with y = 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from explorer.gui.panels.base import Panel, replace


@dataclass
class LatentSettings:
    x: float = 0.0              # seed plane, seeds per unit
    y: float = 0.0
    animate: bool = False
    speed: float = 0.25         # seeds per second along x
    class_idx: int = 0


class LatentPanel(Panel):
    title = "Latent"
    Settings = LatentSettings

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            self.seed_input = dpg.add_input_int(label="seed", default_value=int(self.s.x), min_value=0, min_clamped=True,
                                                callback=self._on_seed, width=160)
            with dpg.group(horizontal=True):
                self.bind(dpg.add_drag_float, "x", label="x", speed=0.01, width=110, format="%.3f")
                self.bind(dpg.add_drag_float, "y", label="y", speed=0.01, width=110, format="%.3f")
            with dpg.group(horizontal=True):
                self.bind(dpg.add_checkbox, "animate", label="animate")
                self.bind(dpg.add_drag_float, "speed", label="speed", speed=0.01, width=90, format="%.2f /s")
                dpg.add_button(label="snap", callback=lambda *_: self.snap())
                dpg.add_button(label="reset", callback=lambda *_: self.set(x=0.0, y=0.0, animate=False))
            self.class_input = self.bind(dpg.add_input_int, "class_idx", label="class", min_value=0, min_clamped=True,
                                         width=160, show=False)

    def on_setting(self, field: str) -> None:
        if field in ("x", "y"):
            dpg.set_value(self.seed_input, int(math.floor(self.s.x)))

    def _on_seed(self, _sender, value) -> None:
        self.set(x=float(max(0, value)), y=0.0)

    def sync_widgets(self) -> None:
        super().sync_widgets()
        dpg.set_value(self.seed_input, int(math.floor(self.s.x)))

    def step_seed(self, delta: int) -> None:
        """Keyboard arrows: to the next / previous whole seed."""
        self.set(x=float(max(0, math.floor(self.s.x) + delta)), y=float(round(self.s.y)))

    def snap(self) -> None:
        self.set(x=float(round(self.s.x)), y=float(round(self.s.y)))

    def on_network(self, info) -> None:
        super().on_network(info)
        dpg.configure_item(self.class_input, show=info.c_dim > 0, max_value=max(info.c_dim - 1, 0), max_clamped=True)
        if info.c_dim and self.s.class_idx >= info.c_dim:
            self.s.class_idx = 0
            self.sync_widgets()

    def tick(self, dt: float) -> bool:
        if not self.s.animate or self.s.speed == 0:
            return False
        self.s.x = max(0.0, self.s.x + self.s.speed * dt)
        self.sync_widgets()
        return True

    def apply(self, state):
        c_dim = self.info.c_dim if self.info else 0
        return replace(state, x=float(self.s.x), y=float(self.s.y), class_idx=int(self.s.class_idx) if c_dim else None)
