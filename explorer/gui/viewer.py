"""The image view: the main view's picture (output, layer, spectrum, sticking or A/B, see viewmodes.py) in a
drawlist with zoom and pan, a pixel position under the cursor, the A/B divider and the spectrum's axes.

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
from explorer.gui.viewmodes import fit_scale, frequency_ticks, next_zoom

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
    return float(v.zoom) if v.zoom else fit_scale(view_w, view_h, img_w, img_h)


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
        self.divider = None          # A/B: fraction of the image width left of the cut, None = no split
        self.spectrum_db = None      # (top dB, range dB) to draw frequency axes and a colour bar, None = none

    def build(self, parent) -> None:
        self.drawlist = dpg.add_drawlist(self.width, self.height, parent=parent)
        # No background rectangle: the window's clear colour shows around the image (a filled rectangle
        # of the view's size cost ~8 ms a frame in llvmpipe).
        self.image_item = dpg.draw_image(self.texture.tag, (0, 0), (1, 1), parent=self.drawlist)
        self.overlay = dpg.add_draw_layer(parent=self.drawlist)
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
        self._draw_overlay()

    def screen_rect(self) -> tuple:
        """(x0, y0, x1, y1) of the image in drawlist pixels."""
        w, h = self.image_size
        return image_rect(self.width, self.height, w, h, self.s)

    def pixel_at(self, x: float, y: float):
        """(ix, iy) of the image pixel at drawlist point (x, y), or None outside the image."""
        w, h = self.image_size
        x0, y0, x1, y1 = self.screen_rect()
        scale = (x1 - x0) / w
        ix, iy = int((x - x0) // scale), int((y - y0) // scale)
        return (ix, iy) if 0 <= ix < w and 0 <= iy < h else None

    def mouse_pixel(self):
        """The image pixel under the mouse pointer, or None."""
        if not dpg.does_item_exist(self.drawlist):
            return None
        mx, my = dpg.get_mouse_pos(local=False)
        ox, oy = dpg.get_item_rect_min(self.drawlist)
        return self.pixel_at(mx - ox, my - oy)

    def divider_x(self):
        """The A/B divider's x in drawlist pixels, or None."""
        if self.divider is None:
            return None
        x0, _, x1, _ = self.screen_rect()
        return x0 + self.divider * (x1 - x0)

    def near_divider(self) -> bool:
        """The pointer is within 6 px of the divider (a drag there moves it instead of panning)."""
        dx = self.divider_x()
        if dx is None or not self.hovered():
            return False
        mx, _ = dpg.get_mouse_pos(local=False)
        return abs(mx - dpg.get_item_rect_min(self.drawlist)[0] - dx) <= 6

    def drag_divider(self, dx: float, _dy: float) -> None:
        x0, _, x1, _ = self.screen_rect()
        self.divider = min(1.0, max(0.0, self.divider + dx / max(x1 - x0, 1)))
        if self.on_divider is not None:
            self.on_divider(self.divider)

    on_divider = None            # callback(fraction) when the divider was dragged

    def _draw_overlay(self) -> None:
        """The divider line; for a spectrum, cycles/px ticks under and left of the image and a dB colour bar."""
        if not dpg.does_item_exist(self.overlay):
            return
        dpg.delete_item(self.overlay, children_only=True)
        x0, y0, x1, y1 = self.screen_rect()
        dx = self.divider_x()
        if dx is not None:
            dpg.draw_line((dx, max(y0, 0)), (dx, min(y1, self.height)), color=(255, 220, 0), thickness=2, parent=self.overlay)
            if y0 >= 16:                 # labels above the image only: never over its pixels
                dpg.draw_text((dx + 4, y0 - 16), "B", color=(255, 220, 0), size=14, parent=self.overlay)
                dpg.draw_text((dx - 14, y0 - 16), "A", color=(255, 220, 0), size=14, parent=self.overlay)
        if self.spectrum_db is None:
            return
        w, h = self.image_size
        scale = (x1 - x0) / w
        grey = (170, 170, 170)
        ax_y, ax_x = min(y1, self.height - 18), max(x0, 44)
        for idx, label in frequency_ticks(w):
            x = x0 + (idx + 0.5) * scale
            if 0 <= x <= self.width:
                dpg.draw_line((x, ax_y), (x, ax_y + 5), color=grey, parent=self.overlay)
                dpg.draw_text((x - 12, ax_y + 4), label, color=grey, size=12, parent=self.overlay)
        for idx, label in frequency_ticks(h):
            y = y0 + (idx + 0.5) * scale
            if 0 <= y <= self.height:
                dpg.draw_line((ax_x - 5, y), (ax_x, y), color=grey, parent=self.overlay)
                dpg.draw_text((ax_x - 40, y - 6), label, color=grey, size=12, parent=self.overlay)
        dpg.draw_text((min(x1, self.width) - 70, ax_y - 16), "cycles/px", color=grey, size=12, parent=self.overlay)
        top, rng = self.spectrum_db
        bx, by0, by1, steps = self.width - 70, 30, min(self.height - 30, 330), 32
        for k in range(steps):                       # top = white = the peak, bottom = black = peak - range
            level = int(round(255 * (1 - k / (steps - 1))))
            ya, yb = by0 + k * (by1 - by0) / steps, by0 + (k + 1) * (by1 - by0) / steps
            dpg.draw_rectangle((bx, ya), (bx + 14, yb), fill=(level, level, level), color=(level, level, level),
                               parent=self.overlay)
        dpg.draw_text((bx + 18, by0 - 6), f"{top:.1f} dB", color=grey, size=12, parent=self.overlay)
        dpg.draw_text((bx + 18, by1 - 6), f"{top - rng:.1f} dB", color=grey, size=12, parent=self.overlay)

    def _wanted_repeat(self) -> int:
        w, h = self.image_size
        scale = view_scale(self.width, self.height, w, h, self.s)
        return int(scale) if scale >= 2 and scale == int(scale) else 1

    def max_zoom(self) -> int:
        """At least MAX_ZOOM, and four times the fit so that a small image can still be magnified past it."""
        w, h = self.image_size
        return max(MAX_ZOOM, 4 * int(min(self.width / w, self.height / h)))

    def fit(self) -> None:
        """The fit button and key: zoom 0, no pan."""
        self.set_zoom(0)

    def set_zoom(self, zoom: int) -> None:
        self.s.zoom = max(0, min(self.max_zoom(), int(zoom)))
        if self.s.zoom == 0:
            self.s.pan_x = self.s.pan_y = 0.0
        self.layout()

    def zoom_step(self, direction: int) -> None:
        """Mouse wheel: one multiplicative step (viewmodes.ZOOM_LEVELS, about x1.4) up or down from the current
        scale, fit being one of the stops; the pan is kept in image pixels."""
        w, h = self.image_size
        zoom = next_zoom(self.s.zoom, fit_scale(self.width, self.height, w, h), direction, self.max_zoom())
        self.set_zoom(zoom)

    def hovered(self) -> bool:
        return dpg.does_item_exist(self.drawlist) and dpg.is_item_hovered(self.drawlist)

    def drag(self, dx: float, dy: float) -> None:
        """Pans by a mouse drag of (dx, dy) screen pixels."""
        w, h = self.image_size
        scale = view_scale(self.width, self.height, w, h, self.s)
        self.s.pan_x += dx / scale
        self.s.pan_y += dy / scale
        self.layout()
