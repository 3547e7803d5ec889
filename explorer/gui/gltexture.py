"""Images on screen through a Dear PyGui static texture whose pixels are replaced with OpenGL directly.

Why: Dear PyGui re-uploads every raw texture every frame (float RGB, converted by the driver), and samples
every texture bilinearly. In Mesa's llvmpipe a 1024 x 1024 raw texture cost ~8 ms of every frame, and exact
magnified pixels needed the image repeated k x k in the texture, k^2 times the upload. A static texture is
uploaded once; we find its OpenGL name and from then on write a new uint8 image into it with
glTexSubImage2D only when the image changes (~1-2 ms at 1024^2), with nearest-neighbour magnification, so
whole zooms show exact pixels at one texel per image pixel.

Finding the name: Dear PyGui does not expose it. A new texture is created with a unique marker (the alpha of
texel (0, 0)) and, after the frame that created it, the live GL textures of its size are read back until the
marker is found. The first upload rewrites that texel (alpha 1). If the name is never found (another
backend, a driver that refuses), every new image is shown by creating a new static texture: slower, correct.
Only Linux builds of Dear PyGui draw with OpenGL; elsewhere `make_texture` returns a RawTexture.
"""
from __future__ import annotations

import itertools
import os
import sys

import dearpygui.dearpygui as dpg
import numpy as np

_serial = itertools.count()
_claimed: set = set()          # GL names owned by live GLTextures
_highest = [0]                 # highest live GL texture name seen so far
_AHEAD = 512                   # names probed above it (Mesa does not reuse deleted names right away)
_FIND_FRAMES = 3               # frames to look for a new texture before giving up on OpenGL for it


def gl_usable() -> bool:
    """True where Dear PyGui draws with OpenGL and PyOpenGL imports; SG_EXPLORER_TEXTURE=raw turns it off."""
    if os.environ.get("SG_EXPLORER_TEXTURE", "").lower() == "raw" or not sys.platform.startswith("linux"):
        return False
    try:
        from OpenGL import GL  # noqa: F401
    except Exception:   # PyOpenGL missing or no libGL: the raw-texture path still works
        return False
    return True


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """[H, W], [H, W, 1], [H, W, 3] or [H, W, 4]; uint8 or float in [0, 1] -> contiguous uint8 [H, W, 3]."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    image = image[:, :, :3]
    if image.dtype != np.uint8:
        image = np.clip(np.rint(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def pack_rgba(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [H, W, 4] with alpha 255, for the driver's copy-only upload path.

    Measured in llvmpipe at 1024^2: an RGBA upload took 0.2 ms, an RGB one 2.1 ms (converted texel by texel).
    Packing costs ~3 ms, so it belongs on the render thread (RenderWorker's post hook), not the UI thread.
    """
    h, w = image.shape[:2]
    if sys.byteorder != "little":
        out = np.full((h, w, 4), 255, np.uint8)
        out[:, :, :3] = image[:, :, :3]
        return out
    flat = image.reshape(-1, image.shape[2])[:, :3].astype(np.uint32)   # 32-bit words: bytes R, G, B, A
    words = flat[:, 0] | (flat[:, 1] << 8) | (flat[:, 2] << 16) | np.uint32(0xFF000000)
    return words.view(np.uint8).reshape(h, w, 4)


def is_rgba(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[2] == 4 and image.dtype == np.uint8 and image.flags.c_contiguous


def _upload(gl_name: int, image: np.ndarray) -> None:
    """uint8 [H, W, 3] or packed [H, W, 4] -> the whole level 0 of texture gl_name (same size), on the
    thread owning the context."""
    from OpenGL import GL
    previous = GL.glGetIntegerv(GL.GL_TEXTURE_BINDING_2D)
    alignment = GL.glGetIntegerv(GL.GL_UNPACK_ALIGNMENT)
    GL.glBindTexture(GL.GL_TEXTURE_2D, gl_name)
    GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)     # rows of 3 * W bytes need not be 4-byte aligned
    fmt = GL.GL_RGBA if image.shape[2] == 4 else GL.GL_RGB
    GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, image.shape[1], image.shape[0], fmt, GL.GL_UNSIGNED_BYTE, image)
    GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, int(alignment))
    GL.glBindTexture(GL.GL_TEXTURE_2D, int(previous))


def _candidates():
    """GL names to probe, likeliest first: just above the highest seen (new names mostly grow), then below."""
    top = _highest[0]
    yield from range(top + 1, top + 1 + _AHEAD)
    yield from range(top, 0, -1)


def _find(width: int, height: int, first_texel: np.ndarray) -> int | None:
    """The unclaimed GL texture of this size whose texel (0, 0) reads back as first_texel (uint8 RGBA)."""
    from OpenGL import GL
    previous = GL.glGetIntegerv(GL.GL_TEXTURE_BINDING_2D)
    found = None
    try:
        for name in _candidates():
            if not GL.glIsTexture(name):
                continue
            _highest[0] = max(_highest[0], name)
            if name in _claimed:
                continue
            GL.glBindTexture(GL.GL_TEXTURE_2D, name)
            if (GL.glGetTexLevelParameteriv(GL.GL_TEXTURE_2D, 0, GL.GL_TEXTURE_WIDTH) != width or
                    GL.glGetTexLevelParameteriv(GL.GL_TEXTURE_2D, 0, GL.GL_TEXTURE_HEIGHT) != height):
                continue
            data = GL.glGetTexImage(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE)
            texel = np.frombuffer(data, np.uint8, count=4)
            if texel[3] == first_texel[3] and np.abs(texel[:3].astype(int) - first_texel[:3]).max() <= 1:
                found = name
                break
    finally:
        GL.glBindTexture(GL.GL_TEXTURE_2D, int(previous))
    if found is not None:
        GL.glBindTexture(GL.GL_TEXTURE_2D, found)
        # Nearest when magnified (exact pixels at whole zooms), bilinear when shrunk (less aliasing).
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_NEAREST)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
        GL.glBindTexture(GL.GL_TEXTURE_2D, int(previous))
    return found


class GLTexture:
    """Same interface as RawTexture: `tag`, `show(image, repeat)`, `after_frame()`, `release_stale()`.

    `nearest` is True: magnification shows exact pixels, so callers pass repeat=1 (a larger repeat is ignored,
    the image widget's size does the magnification). Call show() and after_frame() on the main thread only.
    """
    nearest = True

    def __init__(self, registry: int | str, height: int = 1, width: int = 1):
        self._registry = registry
        self.tag = None
        self.gl_name: int | None = None
        self.height = self.width = 0
        self._stale: list = []          # tags of textures replaced by a size change
        self._pending = None            # newest image shown before the GL name was known
        self._frames_searching = 0
        self.fallback = False           # the GL name was never found: every image makes a static texture
        self.buffer = None              # (RawTexture has one; the app keeps raw buffers alive on close)
        self._create(np.zeros((max(height, 1), max(width, 1), 3), np.uint8))
        # (a packed RGBA image's alpha is 255 everywhere, so uploading it also clears the marker)

    def _create(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self.tag is not None:
            self._stale.append(self.tag)
        self._drop_name()
        data = np.ones((h, w, 4), np.float32)
        np.multiply(image[:, :, :3], np.float32(1.0 / 255.0), out=data[:, :, :3], casting="unsafe")
        self._marker = np.array([*image[0, 0, :3], 254 - 2 * (next(_serial) % 60)], np.uint8)
        if not self.fallback:    # the fallback never rewrites the texel: no marker there
            data[0, 0, 3] = self._marker[3] / 255.0
        self.tag = dpg.add_static_texture(w, h, data.reshape(-1), parent=self._registry)
        self.height, self.width = h, w
        self._pending = image
        self._frames_searching = 0

    def _drop_name(self) -> None:
        if self.gl_name is not None:
            _claimed.discard(self.gl_name)
            self.gl_name = None

    def show(self, image: np.ndarray, repeat: int = 1) -> bool:
        """Shows `image` (any form as_rgb_uint8 takes, or pack_rgba's output: the fastest). Returns True when
        `tag` changed (size change, or the fallback), so the caller re-points its image widget."""
        if not is_rgba(image):
            image = as_rgb_uint8(image)
        if image.shape[:2] != (self.height, self.width) or self.fallback:
            self._create(image)
            return True
        if self.gl_name is None:
            self._pending = image            # uploaded once the name is known (after_frame)
            return False
        try:
            _upload(self.gl_name, image)
        except Exception:   # a GL error: show this and later images through new static textures
            self.fallback = True
            self._create(image)
            return True
        return False

    def after_frame(self) -> None:
        """After each rendered frame: finds the GL name of a texture created before that frame."""
        if self.gl_name is not None or self.fallback or self.tag is None:
            return
        try:
            name = _find(self.width, self.height, self._marker)
        except Exception:   # no usable GL context after all: give up on the fast path for this texture
            name = None
            self._frames_searching = _FIND_FRAMES
        if name is None:
            self._frames_searching += 1
            if self._frames_searching >= _FIND_FRAMES:
                self.fallback = True
            return
        self.gl_name = name
        _claimed.add(name)
        _upload(name, self._pending)          # also clears the marker (RGB uploads set alpha to 1)
        self._pending = None

    def release_stale(self) -> None:
        """Deletes textures replaced by a size change; call after the image widget shows the new tag."""
        for tag in self._stale:
            if dpg.does_item_exist(tag):
                dpg.delete_item(tag)
        self._stale = []

    def close(self) -> None:
        self._drop_name()
