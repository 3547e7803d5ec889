"""The image view: the generated image in a drawlist with zoom and pan.

zoom 0 fits the image to the view (whole multiples when it fits at least once); an integer zoom k draws
each image pixel as exactly k x k screen pixels. With a nearest-sampled texture (GLTexture) the whole
image is uploaded once per new image and zoom / pan only move the quad. A bilinear one (RawTexture,
uploaded by Dear PyGui every frame) gets the visible part repeated k times in numpy, drawn 1:1 at
whole-pixel positions. Pan is in image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from explorer.gui.texture import make_texture

import numpy as np

MAX_ZOOM = 16                 # whole zooms up to this (or twice the fit, if more)


@dataclass
class ViewSettings:
    zoom: int = 0                # 0 = fit
    pan_x: float = 0.0           # image pixels, + moves the image right
    pan_y: float = 0.0


def view_scale(view_w: int, view_h: int, img_w: int, img_h: int, v: ViewSettings) -> float:
    """Screen pixels per image pixel: the zoom, or for fit the largest whole number that fits (or a
    fraction below 1 when the image is larger than the view)."""
    if v.zoom:
        return float(v.zoom)
    fit = min(view_w / img_w, view_h / img_h)
    return float(int(fit)) if fit >= 1 else fit


def image_rect(view_w: int, view_h: int, img_w: int, img_h: int, v: ViewSettings) -> tuple:
    """Screen rectangle (x0, y0, x1, y1) of the image inside a view of view_w x view_h px."""
    scale = view_scale(view_w, view_h, img_w, img_h, v)
    w, h = img_w * scale, img_h * scale
    x0 = round((view_w - w) / 2 + v.pan_x * scale)
    y0 = round((view_h - h) / 2 + v.pan_y * scale)
    return x0, y0, x0 + w, y0 + h


class ImageView:
    def __init__(self, texture_registry, width: int = 768, height: int = 768):
        self.s = ViewSettings()
        self.width, self.height = width, height
        self.texture = make_texture(texture_registry, 1, 1)
        self.source: np.ndarray = np.zeros((1, 1, 3), np.uint8)   # the image, uint8 [H, W, 3]
        self.repeat = 1                                           # texture = source repeated this often

    def build(self, parent) -> None:
        self.drawlist = dpg.add_drawlist(self.width, self.height, parent=parent)
        # No background rectangle: the window's clear colour shows around the image (a filled rectangle
        # of the view's size cost ~8 ms a frame in llvmpipe).
        self.image_item = dpg.draw_image(self.texture.tag, (0, 0), (1, 1), parent=self.drawlist)
        self.zoom_text = dpg.draw_text((6, 4), "fit", color=(200, 200, 200), size=14, parent=self.drawlist)

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = max(width, 16), max(height, 16)
        dpg.configure_item(self.drawlist, width=self.width, height=self.height)
        self.layout()

    def show(self, image, packed=None) -> None:
        """image: uint8 [H, W, 3]; packed: the same pixels as gltexture.pack_rgba made them (optional: the
        fastest upload for a nearest-sampled texture)."""
        self.source = image
        if self.texture.nearest:
            self.texture.show(packed if packed is not None else image)
        self._upload()

    def _upload(self) -> None:
        """Places the image; for a bilinear texture, first writes the visible part into it (repeated k x k)."""
        h, w = self.source.shape[:2]
        if self.texture.nearest:
            x0, y0, x1, y1 = image_rect(self.width, self.height, w, h, self.s)
            self.repeat, self.crop = 1, (0, 0, w, h)
            dpg.configure_item(self.image_item, texture_tag=self.texture.tag, pmin=(x0, y0), pmax=(x1, y1))
            dpg.configure_item(self.zoom_text, text="fit" if self.s.zoom == 0 else f"{self.s.zoom}x")
            self.texture.release_stale()
            return
        scale = view_scale(self.width, self.height, w, h, self.s)
        x0, y0, x1, y1 = image_rect(self.width, self.height, w, h, self.s)
        k = self._wanted_repeat()
        # Only the visible image pixels: the texture never exceeds the view, whatever the zoom.
        ix0, iy0 = max(0, int((0 - x0) // scale)), max(0, int((0 - y0) // scale))
        ix1, iy1 = min(w, int(-(-(self.width - x0) // scale))), min(h, int(-(-(self.height - y0) // scale)))
        if ix1 <= ix0 or iy1 <= iy0:
            ix0, iy0, ix1, iy1 = 0, 0, 1, 1            # panned out of view: draw one pixel off-screen
        self.repeat, self.crop = k, (ix0, iy0, ix1, iy1)
        self.texture.show(self.source[iy0:iy1, ix0:ix1], repeat=k)
        dpg.configure_item(self.image_item, texture_tag=self.texture.tag,
                           pmin=(x0 + ix0 * scale, y0 + iy0 * scale), pmax=(x0 + ix1 * scale, y0 + iy1 * scale))
        dpg.configure_item(self.zoom_text, text="fit" if self.s.zoom == 0 else f"{self.s.zoom}x")
        self.texture.release_stale()

    @property
    def image_size(self) -> tuple:
        """(width, height) of the image shown, image pixels."""
        return self.source.shape[1], self.source.shape[0]

    def layout(self) -> None:
        self._upload()

    def _wanted_repeat(self) -> int:
        w, h = self.image_size
        scale = view_scale(self.width, self.height, w, h, self.s)
        return int(scale) if scale >= 2 and scale == int(scale) else 1

    def max_zoom(self) -> int:
        """At least MAX_ZOOM, and twice the fit so that a small image can still be magnified past it."""
        w, h = self.image_size
        return max(MAX_ZOOM, 2 * int(min(self.width / w, self.height / h)))

    def set_zoom(self, zoom: int) -> None:
        self.s.zoom = max(0, min(self.max_zoom(), int(zoom)))
        if self.s.zoom == 0:
            self.s.pan_x = self.s.pan_y = 0.0
        self.layout()

    def zoom_step(self, direction: int) -> None:
        """Mouse wheel: from fit to the next whole zoom up (1x for an image larger than the view), or back to
        fit; from a zoom k to k +- 1 (1x - 1 = fit)."""
        if self.s.zoom == 0:
            if direction > 0:
                w, h = self.image_size
                self.set_zoom(int(min(self.width / w, self.height / h)) + 1)
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
