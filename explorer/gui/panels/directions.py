"""Semantic directions: compute SeFa (instant) or GANSpace (sampled, with progress) for the loaded network, or
load a direction file; one slider per direction in units of its std (networks/edit/directions.py); the ws the
edits apply to (coarse / middle / fine / all or a free list like 0-5); names; save. The edits become the render
state's `edits`, so they combine with seeds, mixing and transforms and reach images, video and the copied command.

Computed directions are written at once to <config>/directions/<network>-<method>.npz: an edit always names a
file, so the copied `images --edit` line reproduces it. "Save as" moves the edits to the chosen file.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Optional

import dearpygui.dearpygui as dpg

from explorer.engine.latents import format_seeds, parse_seeds
from explorer.errors import UserError
from explorer.gui.panels.background import BackgroundJob
from explorer.gui.panels.base import file_dialog, replace
from explorer.gui.panels.jobpanel import JobPanel
from networks.edit.directions import (DirectionError, Directions, ganspace, load_directions, presets_from_resolutions,
                                      save_directions, sefa)

METHODS = ("sefa", "ganspace")
PRESETS = ("all", "coarse", "middle", "fine")
SLIDER_RANGE = 5.0          # stds either way


@dataclass
class DirectionsSettings:
    method: str = "sefa"                              # 'sefa' | 'ganspace'
    num: int = 10                                     # directions computed
    samples: int = 10000                              # GANSpace: mapped w sampled
    layers: str = "all"                               # ws edited (and factorised by SeFa): preset name or '0-5,9'
    file: str = ""                                    # direction file the edits refer to
    strengths: list = field(default_factory=list)     # [K] slider values, stds
    names: list = field(default_factory=list)         # [K] names ('' = unnamed)


class DirectionsPanel(JobPanel):
    title = "Semantic directions"
    Settings = DirectionsSettings

    def __init__(self, ctx, cache_source):
        super().__init__(ctx)
        self._cache_source = cache_source
        self.directions: Optional[Directions] = None
        self.sliders: list = []
        self.name_inputs: list = []
        self._dialogs: dict = {}

    # ---- widgets ----------------------------------------------------------------------------------------
    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                self.bind(dpg.add_combo, "method", items=METHODS, label="method", width=100)
                self.bind(dpg.add_input_int, "num", label="K", min_value=1, min_clamped=True, max_value=64,
                          max_clamped=True, width=80)
            self.bind(dpg.add_input_int, "samples", label="GANSpace samples", min_value=100, min_clamped=True,
                      width=120)
            with dpg.group(horizontal=True):
                self.layers_input = self.bind(dpg.add_input_text, "layers", label="ws", width=110, on_enter=True)
                self.preset_buttons = {p: dpg.add_button(label=p, callback=lambda *_a, p=p: self.set(layers=p))
                                       for p in PRESETS}
            with dpg.group(horizontal=True):
                self.compute_button = dpg.add_button(label="Compute", callback=lambda *_: self.start())
                self.cancel_button = dpg.add_button(label="Cancel", callback=lambda *_: self.cancel())
                self.progress = dpg.add_progress_bar(default_value=0.0, width=150)
            with dpg.group(horizontal=True):
                self.load_button = dpg.add_button(label="Load...", callback=lambda *_: self._dialog("load").show())
                self.save_button = dpg.add_button(label="Save as...", callback=lambda *_: self._dialog("save").show())
                self.reset_button = dpg.add_button(label="Reset", callback=lambda *_: self.reset())
                self.copy_button = dpg.add_button(label="Copy command", callback=lambda *_: self.copy_command())
            self.status = dpg.add_text("", wrap=420)
            self.slider_group = dpg.add_group()

    def _dialog(self, kind: str):
        if kind not in self._dialogs:
            self._dialogs[kind] = file_dialog(".npz", self.load if kind == "load" else self.save_as,
                                              must_exist=(kind == "load"))
        return self._dialogs[kind]

    def _rebuild_sliders(self) -> None:
        dpg.delete_item(self.slider_group, children_only=True)
        self.sliders, self.name_inputs = [], []
        d = self.directions
        if d is None:
            return
        for k in range(len(d.directions)):
            with dpg.group(horizontal=True, parent=self.slider_group):
                self.name_inputs.append(dpg.add_input_text(default_value=self.s.names[k], hint=f"#{k}", width=80,
                                                           callback=self._on_name, user_data=k))
                self.sliders.append(dpg.add_slider_float(label=f"{k}", default_value=float(self.s.strengths[k]),
                                                         min_value=-SLIDER_RANGE, max_value=SLIDER_RANGE, width=220,
                                                         callback=self._on_slider, user_data=k))

    def _on_slider(self, _sender, value, k) -> None:
        self.s.strengths[k] = float(value)
        self.ctx.request_render()

    def _on_name(self, _sender, value, k) -> None:
        self.s.names[k] = str(value)

    def sync_widgets(self) -> None:
        super().sync_widgets()
        for k, tag in enumerate(self.sliders):
            if k < len(self.s.strengths):
                dpg.set_value(tag, float(self.s.strengths[k]))

    # ---- directions -------------------------------------------------------------------------------------
    def start(self) -> bool:
        """Computes the directions of the current network on a helper thread."""
        if self.job is not None and not self.job.done.is_set():
            return False
        state = self.ctx.current_state()
        if not state.checkpoint or self.info is None:
            self.ctx.notify("load a network first")
            return False
        try:
            layers = self.layer_list() if self.s.method == "sefa" and self.s.layers != "all" else None
        except UserError as e:
            dpg.set_value(self.status, str(e))
            return False
        method, num, samples, cache = self.s.method, int(self.s.num), int(self.s.samples), self._cache_source()
        path = self.auto_path(state.checkpoint, method)

        def work(progress, cancel):
            G = cache.get(state.checkpoint, state.which, state.device)

            def report(done, total):
                progress(done / total)
                if cancel.is_set():
                    raise _Cancelled()
            try:
                d = sefa(G, layers, num=num) if method == "sefa" else ganspace(G, samples, num, progress=report)
            except _Cancelled:
                return None
            save_directions(path, d)
            return path, d
        self.job = BackgroundJob(work, "directions")
        dpg.set_value(self.status, f"computing {method} ...")
        return True

    @staticmethod
    def auto_path(checkpoint: str, method: str) -> str:
        from explorer.gui.userconfig import config_dir
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.splitext(os.path.basename(checkpoint.rstrip("/")))[0])
        return str(config_dir() / "directions" / f"{stem or 'network'}-{method}.npz")

    def tick(self, dt: float) -> bool:
        job = self.finished_job()
        if job is None:
            return False
        if job.error:
            dpg.set_value(self.status, job.error)
            return False
        if job.result is None:
            dpg.set_value(self.status, "cancelled")
            return False
        path, d = job.result
        dpg.set_value(self.progress, 1.0)
        self._use(path, d)
        return True

    def _use(self, path: str, d: Directions) -> None:
        self.directions, self.s.file = d, os.path.abspath(path)
        k = len(d.directions)
        self.s.strengths = [0.0] * k
        self.s.names = list(d.names) if d.names else [""] * k
        if d.method == "sefa" and d.layers and self.s.layers == "all" and self.info is not None \
                and len(d.layers) < self.info.num_ws:
            self.s.layers = format_seeds(d.layers)     # SeFa's edits belong to the layers it factorised
        self.sync_widgets()
        self._rebuild_sliders()
        dpg.set_value(self.status, f"{d.method}: {k} directions ({os.path.basename(path)})")

    def load(self, path: str) -> bool:
        try:
            d = load_directions(path)
        except DirectionError as e:
            dpg.set_value(self.status, str(e))
            return False
        if self.info is not None and d.directions.shape[1] != self.info.w_dim:
            dpg.set_value(self.status, f"{path}: directions have w_dim {d.directions.shape[1]}, this network "
                                       f"{self.info.w_dim}")
            return False
        self._use(path, d)
        self.ctx.request_render()
        return True

    def save_as(self, path: str) -> bool:
        """Writes the directions with their names to path; the edits then refer to that file."""
        if self.directions is None:
            dpg.set_value(self.status, "nothing to save: compute or load directions first")
            return False
        d = Directions(self.directions.directions, self.directions.values, self.directions.stds,
                       self.directions.method, self.directions.layers,
                       [n for n in self.s.names] if any(self.s.names) else None)
        try:
            save_directions(path, d)
        except OSError as e:
            dpg.set_value(self.status, f"cannot write {path}: {e.strerror or e}")
            return False
        self.directions, self.s.file = d, os.path.abspath(path)
        dpg.set_value(self.status, f"saved {path}")
        self.ctx.request_render()
        return True

    def reset(self) -> None:
        self.set(strengths=[0.0] * len(self.s.strengths))

    # ---- state ------------------------------------------------------------------------------------------
    def layer_list(self) -> Optional[list]:
        """The ws edited: a preset of the loaded network or a list like '0-5,9'; None = all."""
        text = (self.s.layers or "all").strip()
        if self.info is None or text == "all":
            return None
        presets = presets_from_resolutions(list(self.info.w_resolutions), self.info.num_ws)
        layers = presets[text] if text in presets else parse_seeds(text)
        if bad := [i for i in layers if i >= self.info.num_ws]:
            raise UserError(f"w {bad[0]} is out of range: this network has ws 0..{self.info.num_ws - 1}")
        return layers

    def edits(self) -> list:
        if not self.s.file or self.directions is None:
            return []
        try:
            layers = self.layer_list()
        except UserError as e:
            dpg.set_value(self.status, str(e))
            layers = None
        return [{"file": self.s.file, "index": k, "strength": float(s), "layers": layers}
                for k, s in enumerate(self.s.strengths) if s != 0]

    def apply(self, state):
        return replace(state, edits=self.edits())

    def on_network(self, info) -> None:
        super().on_network(info)
        if self.directions is not None and self.directions.directions.shape[1] != info.w_dim:
            self.directions, self.s.file, self.s.strengths, self.s.names = None, "", [], []
            self._rebuild_sliders()
            dpg.set_value(self.status, "directions cleared: they belong to a network of another w size")

    def restore(self, data: dict) -> None:
        super().restore(data)
        if self.s.file and os.path.exists(self.s.file):
            strengths, names = list(self.s.strengths), list(self.s.names)
            if self.load(self.s.file):
                k = len(self.s.strengths)
                self.s.strengths = [float(v) if isinstance(v, (int, float)) else 0.0 for v in strengths][:k] \
                    + [0.0] * max(0, k - len(strengths))
                self.s.names = ([str(n) for n in names] + [""] * k)[:k]
                self._rebuild_sliders()
        else:
            self.s.file, self.s.strengths, self.s.names = "", [], []

    # ---- the command line -------------------------------------------------------------------------------
    def command(self) -> str:
        """The capture panel's `sg-explorer images` line for the current state: an --edit per slider, and --w FILE
        instead of --seeds when the state holds an explicit w (e.g. a projection)."""
        from explorer.gui.panels.capture import command_line, save_w_for_command
        line, _lost = command_line(self.ctx.current_state(), w_file=save_w_for_command,
                                   num_ws=self.info.num_ws if self.info else None)
        return line

    def copy_command(self) -> str:
        line = self.command()
        dpg.set_clipboard_text(line)
        dpg.set_value(self.status, line)
        return line


class _Cancelled(Exception):
    pass
