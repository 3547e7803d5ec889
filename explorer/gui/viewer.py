"""The image view: the generated image in a drawlist with zoom and pan.

zoom 0 fits the image to the view; an integer zoom k draws each image pixel as k x k screen pixels
(exact pixels, the texture is sampled at texel centres). Pan is in image pixels from the centre.
"""
from __future__ import annotations

from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from explorer.gui.texture import RawTexture

MAX_ZOOM = 16


@dataclass
class ViewSettings:
    zoom: int = 0                # 0 = fit
    pan_x: float = 0.0           # image pixels, + moves the image right
    pan_y: float = 0.0


def image_rect(view_w: int, view_h: int, img_w: int, img_h: int, v: ViewSettings) -> tuple:
    """Screen rectangle (x0, y0, x1, y1) of the image inside a view of view_w x view_h px."""
    scale = min(view_w / img_w, view_h / img_h) if v.zoom == 0 else float(v.zoom)
    if v.zoom == 0:
        # Fit: whole pixels where the image fits at least once, so small networks stay sharp.
        scale = max(int(scale), 1) if scale >= 1 else scale
    w, h = img_w * scale, img_h * scale
    x0 = round((view_w - w) / 2 + v.pan_x * scale)
    y0 = round((view_h - h) / 2 + v.pan_y * scale)
    return x0, y0, x0 + w, y0 + h


class ImageView:
    def __init__(self, texture_registry, width: int = 768, height: int = 768):
        self.s = ViewSettings()
        self.width, self.height = width, height
        self.texture = RawTexture(texture_registry, 1, 1)
        self._drag_origin = None

    def build(self, parent) -> None:
        self.drawlist = dpg.add_drawlist(self.width, self.height, parent=parent)
        self.background = dpg.draw_rectangle((0, 0), (self.width, self.height), fill=(20, 20, 20), color=(20, 20, 20),
                                             parent=self.drawlist)
        self.image_item = dpg.draw_image(self.texture.tag, (0, 0), (1, 1), parent=self.drawlist)
        self.zoom_text = dpg.draw_text((6, 4), "fit", color=(200, 200, 200), size=14, parent=self.drawlist)

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = max(width, 16), max(height, 16)
        dpg.configure_item(self.drawlist, width=self.width, height=self.height)
        dpg.configure_item(self.background, pmax=(self.width, self.height))
        self.layout()

    def show(self, image) -> None:
        """image: uint8 [H, W, 3]."""
        self.texture.show(image)
        dpg.configure_item(self.image_item, texture_tag=self.texture.tag)
        self.texture.release_stale()
        self.layout()

    def layout(self) -> None:
        x0, y0, x1, y1 = image_rect(self.width, self.height, self.texture.width, self.texture.height, self.s)
        dpg.configure_item(self.image_item, pmin=(x0, y0), pmax=(x1, y1))
        dpg.configure_item(self.zoom_text, text="fit" if self.s.zoom == 0 else f"{self.s.zoom}x")

    def set_zoom(self, zoom: int) -> None:
        self.s.zoom = max(0, min(MAX_ZOOM, int(zoom)))
        if self.s.zoom == 0:
            self.s.pan_x = self.s.pan_y = 0.0
        self.layout()

    def zoom_step(self, direction: int) -> None:
        """Mouse wheel: from fit to 1x, 2x, ... and back."""
        if self.s.zoom == 0:
            fit = min(self.width / max(self.texture.width, 1), self.height / max(self.texture.height, 1))
            self.set_zoom(max(1, int(fit)) + (1 if direction > 0 else 0) if direction > 0 else 0)
        else:
            self.set_zoom(self.s.zoom + direction)

    def hovered(self) -> bool:
        return dpg.does_item_exist(self.drawlist) and dpg.is_item_hovered(self.drawlist)

    def drag(self, dx: float, dy: float) -> None:
        """Pans by a mouse drag of (dx, dy) screen pixels."""
        scale = max(self.s.zoom, 1)
        self.s.pan_x += dx / scale
        self.s.pan_y += dy / scale
        self.layout()
