"""Images on screen: `make_texture` picks the OpenGL fast path (gltexture.GLTexture) where it works, else a
Dear PyGui raw texture (RawTexture, below).

A raw texture keeps a reference to its numpy buffer and re-reads (re-uploads) it every frame, so an image is
shown by writing into that buffer in place: float32, RGB, contiguous ([H, W, 3] in [0, 1]); no set_value.
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


def make_texture(registry: int | str, height: int = 1, width: int = 1):
    """The fastest texture this platform offers: a GLTexture (OpenGL upload on change, exact magnified
    pixels) where Dear PyGui draws with OpenGL, else a RawTexture."""
    from explorer.gui.gltexture import GLTexture, gl_usable
    return GLTexture(registry, height, width) if gl_usable() else RawTexture(registry, height, width)


class RawTexture:
    """A float RGB raw texture of a fixed size; `show(image)` writes a new image into it.

    Dear PyGui re-uploads a raw texture's buffer every frame, so every extra buffer costs upload time:
    there is one buffer per texture, written only on the main thread between two frames (so a frame
    never sees half an image). The render worker's result array is the other half of the double buffer:
    the worker fills its own array, the main thread copies it over here. The texture is re-created (new
    tag) when an image of another size arrives; `tag` names the current one, for
    `dpg.configure_item(image_widget, texture_tag=...)`.
    """

    nearest = False     # sampled bilinearly: exact magnified pixels need show(..., repeat=k)

    def __init__(self, registry: int | str, height: int = 1, width: int = 1):
        self._registry = registry
        self.tag = None
        self.buffer = np.zeros((1, 1, 3), np.float32)
        self._stale: list = []      # (tag, buffer) of textures replaced by a size change
        self._graveyard: list = []  # (frame, buffer) of deleted textures, kept two more frames
        self.height = self.width = 0
        self._replay = None         # (image, repeat) to write again after a new texture's first frames
        self._allocate(height, width)

    def _allocate(self, height: int, width: int) -> None:
        if self.tag is not None:
            # Dear PyGui reads a raw texture's memory without owning it: the old buffer must outlive the
            # old texture (freeing it first crashed the renderer), see release_stale.
            self._stale.append((self.tag, self.buffer))
        self.height, self.width = height, width
        self.buffer = np.zeros((height, width, 3), np.float32)
        self.tag = dpg.add_raw_texture(width, height, self.buffer, format=dpg.mvFormat_Float_rgb, parent=self._registry)

    @property
    def front(self) -> np.ndarray:
        """The buffer on screen: float32 [H, W, 3] in [0, 1]."""
        return self.buffer

    def show(self, image: np.ndarray, repeat: int = 1) -> bool:
        """Writes `image` ([H, W, C] uint8 or float in [0, 1]) into the texture.

        repeat k > 1 stores every pixel as a k x k block (texture [H*k, W*k, 3]) in the same single pass, for
        exact magnified pixels despite bilinear sampling. Returns True when the texture was re-created
        (size change): the caller must re-point image widgets.
        """
        h, w = image.shape[0] * repeat, image.shape[1] * repeat
        resized = (h, w) != (self.height, self.width)
        if resized:
            self._allocate(h, w)
            # Measured: pixels written into a new raw texture before its first frame may never be shown
            # (black until the next write), so the image is written again after two frames (after_frame).
            self._replay = (image, repeat, dpg.get_frame_count())
        elif self._replay is not None:
            self._replay = (image, repeat, self._replay[2])   # replay the newest image, not an older one
        self._write(image, repeat)
        return resized

    def after_frame(self) -> None:
        """Call after each rendered frame: repeats the write into a texture created two frames ago."""
        if self._replay is not None and dpg.get_frame_count() >= self._replay[2] + 2:
            image, repeat, _ = self._replay
            self._replay = None
            self._write(image, repeat)

    def _write(self, image: np.ndarray, repeat: int) -> None:
        buf = self.buffer
        if repeat == 1:
            to_float_rgb(image, buf)
        else:
            blocks = buf.reshape(image.shape[0], repeat, image.shape[1], repeat, 3)
            if image.ndim == 2:
                image = image[:, :, None]
            src = image[:, None, :, None, :3] if image.shape[2] >= 3 else image[:, None, :, None, :1]
            if image.dtype == np.uint8:
                np.multiply(src, np.float32(1.0 / 255.0), out=blocks, casting="unsafe")
            else:
                np.clip(src, 0.0, 1.0, out=blocks, casting="unsafe")

    def close(self) -> None:
        pass

    def release_stale(self) -> None:
        """Deletes textures left over from a size change, once no widget uses them; their buffers are
        freed two frames later, after the deletion has surely reached the renderer."""
        frame = dpg.get_frame_count()
        self._graveyard = [(f, b) for f, b in self._graveyard if f + 2 > frame] + [(frame, b) for _t, b in self._stale]
        for tag, _buf in self._stale:
            if dpg.does_item_exist(tag):
                dpg.delete_item(tag)
        self._stale = []
