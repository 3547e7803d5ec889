"""Frame writers: H.264 .mp4 / VP9 .webm (imageio-ffmpeg), .gif (Pillow), folder of numbered PNGs.

Each writes to a temporary path given by the caller; export.py renames it into place only when complete.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

DEFAULT_CRF = {"mp4": 18, "webm": 32}  # visually near-lossless H.264; VP9's usual constant-quality point


class FrameWriter:
    def write(self, frame: np.ndarray) -> None:
        """frame: uint8 [H, W, 3]; every frame of one video has the same size."""
        raise NotImplementedError

    def close(self) -> None:
        """Finishes the file (all data flushed)."""

    def abort(self) -> None:
        """Stops without finishing; the caller deletes the temporary output."""
        try:
            self.close()
        except Exception:
            pass


class PngFolderWriter(FrameWriter):
    """frame_000000.png, frame_000001.png, ... (lossless: pixel-exact frames)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.count = 0

    def write(self, frame):
        path = self.folder / f"frame_{self.count:06d}.png"
        with open(path, "wb") as f:
            Image.fromarray(frame).save(f, format="PNG", compress_level=4)
            f.flush()
            os.fsync(f.fileno())
        self.count += 1


class GifWriter(FrameWriter):
    """Pillow GIF; frames are kept (palette-quantised) until close, as GIF needs them all at once."""

    def __init__(self, path: Path, fps: float, loop: bool = True):
        self.path = Path(path)
        self.duration_ms = max(10, int(round(1000.0 / fps / 10.0)) * 10)  # GIF delays are in 1/100 s
        self.loop = loop
        self.frames: list = []

    def write(self, frame):
        self.frames.append(Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                                           dither=Image.Dither.NONE))

    def close(self):
        if not self.frames:
            return
        with open(self.path, "wb") as f:
            extra = {"loop": 0} if self.loop else {}
            self.frames[0].save(f, format="GIF", save_all=True, append_images=self.frames[1:],
                                duration=self.duration_ms, disposal=1, optimize=False, **extra)
            f.flush()
            os.fsync(f.fileno())
        self.frames = []

    def abort(self):
        self.frames = []


class FfmpegWriter(FrameWriter):
    """H.264 (.mp4, yuv420p) or VP9 (.webm) through imageio-ffmpeg's ffmpeg binary; odd sizes are padded by one
    edge pixel (4:2:0 chroma needs even width and height)."""

    def __init__(self, path: Path, fmt: str, size: tuple[int, int], fps: float, crf: Optional[int] = None,
                 bitrate: Optional[str] = None):
        import imageio_ffmpeg
        w, h = size
        self.pad = (w % 2, h % 2)
        out_size = (w + self.pad[0], h + self.pad[1])
        params: list[str] = []
        if bitrate is None:
            params += ["-crf", str(DEFAULT_CRF[fmt] if crf is None else crf)]
        if fmt == "mp4":
            codec = "libx264"
            params += ["-preset", "medium", "-movflags", "+faststart"]
        else:
            codec = "libvpx-vp9"
            params += (["-b:v", "0"] if bitrate is None else []) + ["-deadline", "good", "-cpu-used", "4",
                                                                     "-row-mt", "1"]
        self.path = Path(path)
        self._gen = imageio_ffmpeg.write_frames(str(path), out_size, fps=fps, codec=codec, quality=None,
                                                bitrate=bitrate, macro_block_size=1, ffmpeg_log_level="error",
                                                output_params=params)
        self._gen.send(None)
        self._open = True

    def write(self, frame):
        if self.pad != (0, 0):
            frame = np.pad(frame, ((0, self.pad[1]), (0, self.pad[0]), (0, 0)), mode="edge")
        self._gen.send(np.ascontiguousarray(frame))

    def close(self):
        if self._open:
            self._open = False
            self._gen.close()
            with open(self.path, "rb") as f:
                os.fsync(f.fileno())

    def abort(self):
        """Kills ffmpeg at once instead of letting it encode what it holds and finish the file: the frames are
        thrown away, and a finishing ffmpeg (+faststart reopens the output by name) could outlive the cleanup."""
        if self._open:
            self._open = False
            try:
                self._gen.throw(_Abort())   # imageio-ffmpeg kills its ffmpeg on a BaseException
            except BaseException:
                pass


class _Abort(BaseException):
    """Thrown into imageio-ffmpeg's writer generator to stop ffmpeg without waiting."""


def make_writer(fmt: str, tmp: Path, size: tuple[int, int], fps: float, crf=None, bitrate=None,
                loop: bool = True) -> FrameWriter:
    if fmt == "png":
        return PngFolderWriter(tmp)
    if fmt == "gif":
        return GifWriter(tmp, fps, loop)
    return FfmpegWriter(tmp, fmt, size, fps, crf, bitrate)
