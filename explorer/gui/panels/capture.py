"""Capture: save the image or the layer view as PNG (atomic), and the state as an `sg-explorer images` line."""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import Callable, Optional

import dearpygui.dearpygui as dpg

from explorer.engine.latents import format_seeds
from explorer.gui.panels.base import Panel
from networks.files import save_png


@dataclass
class CaptureSettings:
    folder: str = "captures"


def _num(v: float) -> str:
    """A float as the shortest text that reads back as the same float (so the line renders the same pixels)."""
    return repr(float(v)) if v != int(v) else str(int(v))


def edit_arguments(edits: list, num_ws: int) -> list[str]:
    """`images` arguments for a state's file edits: ['--edit', 'FILE:INDEX:STRENGTH:LAYERS', ...] (layers always
    written out: without them the command would use the file's own). Vector edits have no command-line form."""
    out = []
    for e in edits:
        if "file" in e:
            layers = e.get("layers") if e.get("layers") is not None else list(range(num_ws))
            out += ["--edit", f"{e['file']}:{e['index']}:{float(e['strength'])!r}:{format_seeds(layers)}"]
    return out


def command_line(state, outdir: str = "out", w_file: Optional[Callable] = None,
                 num_ws: Optional[int] = None) -> tuple[str, list[str]]:
    """(`sg-explorer images ...` line that renders the state's image, settings the line cannot express).

    The seed is the seed-plane point rounded to whole seeds (seed = x + y * step_y). Numbers are written
    exactly, so for a state with nothing lost the PNG equals the window's image pixel for pixel. File edits
    become --edit arguments (over all num_ws rows when an edit names none); an explicit w (a projection) becomes
    --w w_file(w [num_ws, w_dim]) when w_file is given.
    """
    import numpy as np
    seed = (int(round(state.x)) + int(round(state.y)) * int(state.step_y)) % 2 ** 32
    num_ws = num_ws or len(state.mix_mask) or 1
    latent = ["--seeds", str(seed)]
    if state.w is not None and w_file is not None:
        w = np.asarray(state.w, np.float32)
        latent = ["--w", w_file(np.tile(w, [num_ws, 1]) if w.ndim == 1 else w)]
    args = ["sg-explorer", "images", state.checkpoint or "PKL", *latent, "--trunc", _num(state.trunc_psi)]
    lost = []
    if state.trunc_cutoff is not None:
        args += ["--trunc-cutoff", str(state.trunc_cutoff)]
    if state.class_idx is not None:          # conditional networks: class 0 must be named too
        args += ["--class", str(state.class_idx)]
    if state.noise_mode != "const":
        args += ["--noise-mode", state.noise_mode]
        if state.noise_mode == "random":
            args += ["--noise-seed", str(state.noise_seed)]
    if state.translate_x or state.translate_y:
        args += ["--translate", f"{_num(state.translate_x)},{_num(state.translate_y)}"]
    if state.rotate:
        args += ["--rotate", _num(state.rotate)]
    if state.which != "G_ema":
        args += ["--net", state.which]
    if state.device != "cpu":
        args += ["--device", state.device]
        if not state.force_fp32:
            args += ["--fp16"]
    mixed = [i for i, v in enumerate(state.mix_mask) if v]
    if mixed:
        args += ["--mix-seed", str(state.mix_seed), "--mix-ws", format_seeds(mixed)]
    if state.untransform and (state.translate_x or state.translate_y or state.rotate):
        args += ["--untransform"]
    args += edit_arguments(state.edits, num_ws)
    args += ["--outdir", outdir]
    if state.w is None and (state.x != round(state.x) or state.y != round(state.y)):
        lost.append("fractional seed-plane point")
    if state.w is not None and w_file is None:
        lost.append("explicit w")
    if any("file" not in e for e in state.edits):
        lost.append("edits not saved to a directions file")
    return shlex.join(args), lost


class CapturePanel(Panel):
    title = "Capture"
    Settings = CaptureSettings

    def __init__(self, ctx, layer_image, output_image):
        super().__init__(ctx)
        self._layer_image, self._output_image = layer_image, output_image
        self.saved: list = []

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            self.bind(dpg.add_input_text, "folder", label="folder", width=250)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Save image", callback=lambda *_: self.capture("image"))
                dpg.add_button(label="Save layer view", callback=lambda *_: self.capture("layer"))
            dpg.add_button(label="Copy command line", callback=lambda *_: self.copy_command())
            self.command_text = dpg.add_input_text(width=-1, readonly=True)
            self.result_text = dpg.add_text("")

    def next_path(self, kind: str) -> str:
        s = self.ctx.current_state()
        stem = f"seed{int(round(s.x)):06d}" if kind == "image" else f"layer-{s.layer or 'output'}"
        n = 0
        while True:
            path = os.path.join(self.s.folder, f"{stem}-{n:03d}.png")
            if not os.path.exists(path):
                return path
            n += 1

    def capture(self, kind: str) -> str | None:
        image = self._output_image() if kind == "image" else self._layer_image()
        if image is None:
            self.ctx.notify(f"nothing to save: no {'image' if kind == 'image' else 'layer view'} rendered yet")
            return None
        path = self.next_path(kind)
        try:
            save_png(path, image)
        except OSError as e:
            self.ctx.notify(f"cannot save {path}: {e.strerror or e}")
            return None
        self.saved.append(path)
        dpg.set_value(self.result_text, f"saved {path}")
        return path

    def copy_command(self) -> str:
        line, lost = command_line(self.ctx.current_state(), self.s.folder, w_file=save_w_for_command,
                                  num_ws=self.info.num_ws if self.info else None)
        dpg.set_value(self.command_text, line)
        dpg.set_value(self.result_text, f"not expressible on the command line: {', '.join(lost)}" if lost else "copied")
        try:
            dpg.set_clipboard_text(line)
        except Exception:  # no clipboard owner under some X servers; the text field still shows it
            pass
        return line


def save_w_for_command(w) -> str:
    """<config>/ws/<content hash>.npz holding w [num_ws, w_dim] as `images --w` reads it ([1, num_ws, w_dim]);
    written once (the hash names the content)."""
    import hashlib

    import numpy as np

    from explorer.commands.project import write_w
    from explorer.gui.userconfig import config_dir
    arr = np.asarray(w, np.float32)
    path = config_dir() / "ws" / f"{hashlib.sha256(arr.tobytes()).hexdigest()[:16]}.npz"
    if not path.exists():
        write_w(path, arr[None])
    return str(path)
