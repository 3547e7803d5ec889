"""Images on screen through Dear PyGui raw textures.

A raw texture keeps a reference to its numpy buffer and re-reads it every frame, so an image is shown by
writing into that buffer in place: float32, RGB, contiguous ([H, W, 3] in [0, 1]). The buffer is written
on the main thread only (a write from another thread can tear a frame); two buffers alternate so that a
new image never overwrites the one being drawn, and the image widget is pointed at the fresh one.
"""
from __future__ import annotations

import numpy as np

import dearpygui.dearpygui as dpg


def to_float_rgb(image: np.ndarray, out: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] or [H, W, 1] (or float in [0, 1]) -> `out` float32 [H, W, 3] in [0, 1], in place."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        image = np.broadcast_to(image, image.shape[:2] + (3,))
    elif image.shape[2] > 3:
        image = image[:, :, :3]
    if image.dtype == np.uint8:
        np.multiply(image, np.float32(1.0 / 255.0), out=out, casting="unsafe")
    else:
        np.clip(image, 0.0, 1.0, out=out, casting="unsafe")
    return out


class RawTexture:
    """A double-buffered float RGB raw texture of a fixed size; `show(image)` swaps in a new image.

    The texture is re-created (new tags) when an image of another size arrives; `tag` always names the
    texture holding the most recent image, for `dpg.configure_item(image_widget, texture_tag=...)`.
    """

    def __init__(self, registry: int | str, height: int = 1, width: int = 1):
        self._registry = registry
        self._tags: list[int] = []
        self._buffers: list[np.ndarray] = []
        self._front = 0
        self.height = self.width = 0
        self._allocate(height, width)

    def _allocate(self, height: int, width: int) -> None:
        old = self._tags
        self.height, self.width = height, width
        self._buffers = [np.zeros((height, width, 3), np.float32) for _ in range(2)]
        self._tags = [dpg.add_raw_texture(width, height, buf, format=dpg.mvFormat_Float_rgb, parent=self._registry)
                      for buf in self._buffers]
        self._front = 0
        self._stale = old  # deleted after the image widget points at the new tags (see release_stale)

    @property
    def tag(self) -> int:
        return self._tags[self._front]

    @property
    def front(self) -> np.ndarray:
        """The buffer on screen: float32 [H, W, 3] in [0, 1]."""
        return self._buffers[self._front]

    def show(self, image: np.ndarray) -> bool:
        """Writes `image` ([H, W, C] uint8 or float in [0, 1]) into the back buffer and makes it the front.

        Returns True when the texture was re-created (size change): the caller must re-point image widgets.
        """
        h, w = image.shape[:2]
        resized = (h, w) != (self.height, self.width)
        if resized:
            self._allocate(h, w)
            to_float_rgb(image, self._buffers[0])
            return True
        back = 1 - self._front
        to_float_rgb(image, self._buffers[back])
        self._front = back
        return False

    def release_stale(self) -> None:
        """Deletes textures left over from a size change, once no widget uses them."""
        for tag in self._stale:
            if dpg.does_item_exist(tag):
                dpg.delete_item(tag)
        self._stale = []
