"""export_video(spec): frames generated in batches on the calling thread, encoded concurrently by a writer
thread behind a bounded queue; the output appears under its name only when complete, beside its recipe JSON and
the equivalent command line."""
from __future__ import annotations

import dataclasses
import json
import queue
import threading
from pathlib import Path
from typing import Callable, Optional

from explorer.engine.cache import NetworkCache
from explorer.video import files
from explorer.video.files import sidecar_paths
from networks.files import atomic_write_text
from explorer.video.frames import open_frames
from explorer.video.recipe import Recipe
from explorer.video.spec import DEFAULT_FPS, VideoSpec, command_line
from explorer.video.writers import make_writer

QUEUE_BATCHES = 3  # generation may run this many batches ahead of the encoder


class ExportCancelled(Exception):
    """The export was cancelled; no output file was left behind."""


class _Encoder(threading.Thread):
    """Takes batches of frames from a bounded queue and writes them; None ends the stream."""

    def __init__(self, writer, total: int, progress: Optional[Callable[[int, int], None]]):
        super().__init__(name="video-encoder", daemon=True)
        self.writer, self.total, self.progress = writer, total, progress
        self.queue: "queue.Queue" = queue.Queue(maxsize=QUEUE_BATCHES)
        self.error: Optional[BaseException] = None
        self.done = 0
        self.abort = threading.Event()

    def run(self):
        try:
            while True:
                batch = self.queue.get()
                if batch is None or self.abort.is_set():
                    break
                for frame in batch:
                    self.writer.write(frame)
                    self.done += 1
                    if self.progress:
                        self.progress(self.done, self.total)
            if not self.abort.is_set():
                self.writer.close()
        except BaseException as e:  # reported to the generating thread, which cleans up
            self.error = e
        finally:
            if self.abort.is_set() or self.error is not None:
                self.writer.abort()

    def put(self, batch, cancel: threading.Event) -> None:
        """Blocks while the queue is full, but wakes up for a writer error or a cancel."""
        while True:
            if self.error is not None:
                raise self.error
            if cancel.is_set():
                raise ExportCancelled("export cancelled")
            try:
                self.queue.put(batch, timeout=0.1)
                return
            except queue.Full:
                continue

    def stop(self) -> None:
        self.abort.set()
        while True:  # make room for the end marker; the thread drops whatever is left
            try:
                self.queue.put_nowait(None)
                break
            except queue.Full:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    pass
        self.join()


def export_video(spec: VideoSpec, progress: Optional[Callable[[int, int], None]] = None,
                 cancel: Optional[threading.Event] = None, cache: Optional[NetworkCache] = None,
                 recipe: Optional[Recipe] = None, sidecars: bool = True) -> Path:
    """Renders and writes the video described by spec; returns the output path.

    recipe: keyframes given as an object (the GUI's timeline) instead of spec.keyframes' file. progress(done_frames,
    total_frames) is called from the encoder thread after each written frame. Setting `cancel` stops the export
    (ExportCancelled); so does KeyboardInterrupt. Either way, and on any error, the temporary output is removed and
    nothing appears under the output name. Bad input raises UserError before any file is created.

    Fills in spec.fps when it is None (the recipe's, else DEFAULT_FPS) and spec.command: the command line that
    re-runs the export; for keyframe videos it reads the recipe JSON written beside the video. sidecars=False
    writes only the video (no recipe JSON, no command file).
    """
    cancel = cancel or threading.Event()
    recipe_path, _ = sidecar_paths(spec.output)
    if recipe is not None:
        spec.keyframes = str(recipe_path)    # where the recipe will live, for the record and the command line
    spec.validate()
    if recipe is None and spec.keyframes:
        recipe = Recipe.load(spec.keyframes)
    if spec.fps is None:
        spec.fps = recipe.fps if recipe is not None else DEFAULT_FPS
    if recipe is not None:
        recipe = dataclasses.replace(recipe, fps=float(spec.fps))
    spec.command = command_line(spec, keyframes=str(recipe_path) if recipe is not None else None)
    source = open_frames(spec, cache or NetworkCache(), recipe)
    fmt = spec.format
    final = Path(str(spec.output).rstrip("/")) if fmt == "png" else Path(spec.output)
    tmp = files.temp_sibling(final, folder=(fmt == "png"))
    encoder = None
    try:
        writer = make_writer(fmt, tmp, source.size, spec.fps, spec.crf, spec.bitrate,
                             loop=recipe.loop if recipe is not None else spec.loop)
        encoder = _Encoder(writer, source.total, progress)
        encoder.start()
        for batch in source.batches():
            encoder.put(batch, cancel)
        encoder.put(None, cancel)
        encoder.join()
        if encoder.error is not None:
            raise encoder.error
        if cancel.is_set():
            raise ExportCancelled("export cancelled")
        files.finalize(tmp, final)
    except BaseException:
        if encoder is not None and encoder.is_alive():
            encoder.stop()
        files.remove(tmp)
        raise
    if sidecars:
        _write_sidecars(spec, source, recipe)
    return final


def _write_sidecars(spec: VideoSpec, source, recipe: Optional[Recipe]) -> None:
    """<output>.recipe.json (the spec, and the keyframes of a keyframe video: a valid --keyframes input) and
    <output>.command.txt."""
    recipe_path, command_path = sidecar_paths(spec.output)
    doc = {"video": spec.to_dict(), "command": spec.command, "frames": source.total, "size": list(source.size)}
    if recipe is not None:
        doc["recipe"] = recipe.to_dict()
    atomic_write_text(recipe_path, json.dumps(doc, indent=1))
    atomic_write_text(command_path, spec.command + "\n")
