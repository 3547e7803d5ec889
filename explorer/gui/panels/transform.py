"""StyleGAN3 input transform: translate x/y (image widths), rotate (degrees), animations, untransform.

Translation is in units of the output image width (the input grid's visible part spans one unit), so
'whole pixels' rounds to multiples of 1 / img_resolution. Only StyleGAN3 networks use this panel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from explorer.gui.panels.base import Panel, replace

DRAG_FAST, DRAG_SLOW = 0.005, 0.0005      # image widths per dragged pixel
ROT_FAST, ROT_SLOW = 0.5, 0.05            # degrees per dragged pixel


@dataclass
class TransformSettings:
    tx: float = 0.0
    ty: float = 0.0
    rotate: float = 0.0           # degrees
    slow_drag: bool = False
    animate_translate: bool = False
    translate_speed: float = 0.1  # turns of the circle per second
    translate_radius: float = 0.1 # image widths
    animate_rotate: bool = False
    rotate_speed: float = 10.0    # degrees per second
    round_pixels: bool = False
    untransform: bool = False
    phase: float = 0.0            # position on the translation circle, turns


def round_to_pixels(value: float, img_resolution: int) -> float:
    """Nearest whole output pixel (1 / img_resolution image widths)."""
    return round(value * img_resolution) / img_resolution


class TransformPanel(Panel):
    title = "Transform (StyleGAN3)"
    Settings = TransformSettings

    def build(self, parent) -> None:
        with dpg.group(parent=parent) as self.group:
            self.note = dpg.add_text("StyleGAN3 only", show=True)
            with dpg.group() as self.controls:
                with dpg.group(horizontal=True):
                    self.bind(dpg.add_drag_float, "tx", label="x", speed=DRAG_FAST, width=110, format="%.4f")
                    self.bind(dpg.add_drag_float, "ty", label="y", speed=DRAG_FAST, width=110, format="%.4f")
                self.bind(dpg.add_drag_float, "rotate", label="rotate (deg)", speed=ROT_FAST, width=150, format="%.2f")
                with dpg.group(horizontal=True):
                    self.bind(dpg.add_checkbox, "slow_drag", label="slow drag")
                    self.bind(dpg.add_checkbox, "round_pixels", label="whole pixels")
                    self.bind(dpg.add_checkbox, "untransform", label="untransform")
                with dpg.group(horizontal=True):
                    self.bind(dpg.add_checkbox, "animate_translate", label="circle")
                    self.bind(dpg.add_drag_float, "translate_speed", label="turns/s", speed=0.01, width=70)
                    self.bind(dpg.add_drag_float, "translate_radius", label="radius", speed=0.005, width=70)
                with dpg.group(horizontal=True):
                    self.bind(dpg.add_checkbox, "animate_rotate", label="spin")
                    self.bind(dpg.add_drag_float, "rotate_speed", label="deg/s", speed=0.5, width=70)
                dpg.add_button(label="reset", callback=lambda *_: self.set(tx=0.0, ty=0.0, rotate=0.0, phase=0.0,
                                                                             animate_translate=False, animate_rotate=False))
        self._set_drag_speed()

    def on_setting(self, field: str) -> None:
        if field == "slow_drag":
            self._set_drag_speed()

    def _set_drag_speed(self) -> None:
        slow = self.s.slow_drag
        for f in ("tx", "ty"):
            dpg.configure_item(self.widgets[f], speed=DRAG_SLOW if slow else DRAG_FAST)
        dpg.configure_item(self.widgets["rotate"], speed=ROT_SLOW if slow else ROT_FAST)

    def on_network(self, info) -> None:
        super().on_network(info)
        dpg.configure_item(self.controls, show=info.is_sg3)
        dpg.configure_item(self.note, show=not info.is_sg3)
        if not info.is_sg3:
            dpg.set_value(self.note, f"StyleGAN3 only: {info.arch} has no input transform")

    def tick(self, dt: float) -> bool:
        changed = False
        if self.s.animate_translate and self.s.translate_speed:
            self.s.phase = (self.s.phase + self.s.translate_speed * dt) % 1.0
            a = 2 * math.pi * self.s.phase
            self.s.tx, self.s.ty = self.s.translate_radius * math.cos(a), self.s.translate_radius * math.sin(a)
            changed = True
        if self.s.animate_rotate and self.s.rotate_speed:
            self.s.rotate = (self.s.rotate + self.s.rotate_speed * dt + 180.0) % 360.0 - 180.0
            changed = True
        if changed:
            self.sync_widgets()
        return changed and self.info is not None and self.info.is_sg3

    def apply(self, state):
        tx, ty = self.s.tx, self.s.ty
        if self.s.round_pixels and self.info is not None:
            tx, ty = round_to_pixels(tx, self.info.img_resolution), round_to_pixels(ty, self.info.img_resolution)
        return replace(state, translate_x=float(tx), translate_y=float(ty), rotate=float(self.s.rotate),
                       untransform=bool(self.s.untransform))
