"""Keyboard and mouse of the explorer window.

Arrows step the seed (left / right: x, up / down: the plane's y), space starts or stops the animations, F fits
the main view; none of
them act while a text or number field is being typed in. The mouse wheel zooms the image view; a left drag that
begins on a drag target (the image view pans, the latent panel's seed pad moves the seed-plane point) goes to
that target until the button is released.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import dearpygui.dearpygui as dpg

# Widgets that take typed keys: arrows and space belong to them while one is active.
TYPING_TYPES = ("mvAppItemType::mvInputText", "mvAppItemType::mvInputInt", "mvAppItemType::mvInputFloat",
                "mvAppItemType::mvInputDouble", "mvAppItemType::mvDragFloat", "mvAppItemType::mvDragInt",
                "mvAppItemType::mvSliderFloat", "mvAppItemType::mvSliderInt")


class DragTarget:
    """hovered() -> bool decides where a drag starts; drag(dx, dy) receives screen-pixel deltas."""

    def __init__(self, hovered: Callable[[], bool], drag: Callable[[float, float], None]):
        self.hovered, self.drag = hovered, drag


def typing_item_active() -> bool:
    """True while a text / number field (or a slider being ctrl-typed) has keyboard focus."""
    for item in dpg.get_all_items():
        if dpg.get_item_info(item)["type"] in TYPING_TYPES and dpg.is_item_active(item):
            return True
    return False


class Controls:
    def __init__(self, step_seed: Callable[[int, int], None], toggle_animations: Callable[[], None],
                 zoom_view: Callable[[int], None], view_hovered: Callable[[], bool],
                 drag_targets: Sequence[DragTarget], fit_view: Optional[Callable[[], None]] = None):
        """step_seed(dx, dy) moves the seed-plane point by whole seeds; zoom_view(+1 | -1) zooms; fit_view()
        is the F key."""
        self._fit = fit_view
        self._step_seed, self._toggle = step_seed, toggle_animations
        self._zoom, self._view_hovered = zoom_view, view_hovered
        self._targets = list(drag_targets)
        self._drag: Optional[DragTarget] = None
        self._dragging = False              # a drag is under way (maybe one that began on no target)
        self._drag_last = (0.0, 0.0)
        self._pressed: Optional[DragTarget] = None   # target under the pointer when the button went down

    def register(self) -> None:
        with dpg.handler_registry():
            dpg.add_key_press_handler(callback=lambda _s, key: self.on_key(key))
            dpg.add_mouse_wheel_handler(callback=lambda _s, delta: self.on_wheel(delta))
            dpg.add_mouse_drag_handler(button=dpg.mvMouseButton_Left, threshold=1,
                                       callback=lambda _s, data: self.on_drag(data[1], data[2]))
            dpg.add_mouse_click_handler(button=dpg.mvMouseButton_Left, callback=lambda *_: self.on_press())
            dpg.add_mouse_release_handler(callback=lambda *_: self.end_drag())

    def on_key(self, key: int) -> bool:
        """Handles a key press; True when it did something."""
        steps = {dpg.mvKey_Right: (1, 0), dpg.mvKey_Left: (-1, 0), dpg.mvKey_Up: (0, 1), dpg.mvKey_Down: (0, -1)}
        fit = self._fit is not None and key == dpg.mvKey_F
        if key not in steps and key != dpg.mvKey_Spacebar and not fit:
            return False
        if typing_item_active():
            return False
        if fit:
            self._fit()
        elif key == dpg.mvKey_Spacebar:
            self._toggle()
        else:
            self._step_seed(*steps[key])
        return True

    def on_wheel(self, delta: float) -> None:
        if self._view_hovered():
            self._zoom(1 if delta > 0 else -1)

    def on_press(self) -> None:
        """The left button went down: the drag target is where it went down (a fast first move may already
        have left a small target, such as the A/B divider, by the first drag event)."""
        self._pressed = next((t for t in self._targets if t.hovered()), None)

    def on_drag(self, total_dx: float, total_dy: float) -> None:
        """A drag event: (total_dx, total_dy) screen pixels since the button went down."""
        if not self._dragging:
            self._dragging = True
            self._drag = self._pressed or next((t for t in self._targets if t.hovered()), None)
            self._drag_last = (0.0, 0.0)
        if self._drag is None:
            return
        last = self._drag_last
        self._drag.drag(total_dx - last[0], total_dy - last[1])
        self._drag_last = (total_dx, total_dy)

    def end_drag(self) -> None:
        self._drag, self._dragging, self._pressed = None, False, None
