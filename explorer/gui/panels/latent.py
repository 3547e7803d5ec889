"""Latent panel: seed, the fractional seed plane (x, y) with drag and animation, class label.

The seed plane point (x, y) blends the w of the four integer seeds around it bilinearly; the engine does
the math (explorer.engine.latents.seed_plane_weights). The seed field is the plane's x with y = 0. The pad
shows the plane's cell around the point, its corner seeds and the point; dragging on it moves the point
by one seed per pad width.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from explorer.gui.engine_link import RenderState, seed_plane_weights
from explorer.gui.panels.base import Panel, replace

PAD = 120                   # pad size, screen px = one seed
PAD_MARGIN = 12             # px left and right of the pad's square
PAD_TOP = 16                # px above and below it: the corner seeds sit there, inside the drawlist
CHAR_W = 7.0                # width of a digit of the 12 px corner labels, px (generous: labels never clip)


def corner_label_pos(dx: int, dy: int, text: str) -> tuple:
    """Drawlist position of corner (dx, dy)'s seed label: above the top corners, below the bottom ones, left-
    aligned at the left corners and right-aligned at the right ones, so the whole number stays inside."""
    o, top = PAD_MARGIN, PAD_TOP
    x = o if dx == 0 else o + PAD - len(text) * CHAR_W
    y = top - 14 if dy == 0 else top + PAD + 1
    return (max(0.0, x), y)


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
                self.snap_button = dpg.add_button(label="snap", callback=lambda *_: self.snap())
                self.reset_button = dpg.add_button(label="reset", callback=lambda *_: self.set(x=0.0, y=0.0, animate=False))
            self.class_input = self.bind(dpg.add_input_int, "class_idx", label="class", min_value=0, min_clamped=True,
                                         width=160, show=False)
            with dpg.group(horizontal=True):
                self.pad = dpg.add_drawlist(PAD + 2 * PAD_MARGIN, PAD + 2 * PAD_TOP)
                self.weights_text = dpg.add_text("")
        self._draw_pad()

    def _draw_pad(self) -> None:
        """The cell of the seed plane around (x, y): corner seeds, the point, and the bilinear weights.
        Items are made once and moved afterwards (this runs every frame of an animation)."""
        o, top = PAD_MARGIN, PAD_TOP
        if not getattr(self, "_pad_items", None):
            dpg.draw_rectangle((o, top), (o + PAD, top + PAD), color=(150, 150, 150), parent=self.pad)
            corners = [dpg.draw_text((0, 0), "", size=12, color=(170, 170, 170), parent=self.pad) for _ in range(4)]
            dot = dpg.draw_circle((0, 0), 4, fill=(255, 200, 60), color=(255, 200, 60), parent=self.pad)
            self._pad_items = (corners, dot)
        corners, dot = self._pad_items
        fx, fy = math.floor(self.s.x), math.floor(self.s.y)
        step = RenderState().step_y
        for k, (dx, dy) in enumerate(((0, 0), (1, 0), (0, 1), (1, 1))):
            seed = ((fx + dx) + (fy + dy) * step) % 2 ** 32
            dpg.configure_item(corners[k], pos=corner_label_pos(dx, dy, str(seed)), text=str(seed))
        dpg.configure_item(dot, center=(o + (self.s.x - fx) * PAD, top + (self.s.y - fy) * PAD))
        weights = seed_plane_weights(self.s.x, self.s.y, step)
        dpg.set_value(self.weights_text, "\n".join(f"seed {sd}: {w:.3f}" for sd, w in weights))

    def pad_hovered(self) -> bool:
        return dpg.does_item_exist(self.pad) and dpg.is_item_hovered(self.pad)

    def drag_pad(self, dx: float, dy: float) -> None:
        """A drag on the pad by (dx, dy) screen px moves the point by (dx, dy) / PAD seeds (not below 0)."""
        self.set(x=max(0.0, self.s.x + dx / PAD), y=max(0.0, self.s.y + dy / PAD))

    def on_setting(self, field: str) -> None:
        if field in ("x", "y"):
            self.s.x, self.s.y = max(0.0, self.s.x), max(0.0, self.s.y)
            self.sync_widgets()

    def _on_seed(self, _sender, value) -> None:
        self.set(x=float(max(0, value)), y=0.0)

    def sync_widgets(self) -> None:
        super().sync_widgets()
        dpg.set_value(self.seed_input, int(math.floor(self.s.x)))
        self._draw_pad()

    def step_seed(self, dx: int, dy: int = 0) -> None:
        """Keyboard arrows: to the neighbouring whole seed along x (dx) or the plane's y (dy), not below 0."""
        x = math.floor(self.s.x) + dx if dx else round(self.s.x)
        y = math.floor(self.s.y) + dy if dy else round(self.s.y)
        self.set(x=float(max(0, x)), y=float(max(0, y)))

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
