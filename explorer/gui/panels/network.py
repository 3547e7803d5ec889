"""Network panel: open a checkpoint (file dialog, typed path or URL, recent list), G_ema / G, its facts.

A load happens on the render worker; the panel keeps the previous network on screen until the new one
rendered. One rule for a failed load (a missing file, a refused or broken pickle, at start or later): the
one-line error stays, no network is shown (never a silent fall-back to another network, never a black
image passed off as a render) and the main view says so; the previous network is one click away in the
recent list. A folder is handed to the training panel, which follows its newest snapshot. Paths are made
absolute; the recent list lives in the per-user config folder (explorer.gui.userconfig).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import dearpygui.dearpygui as dpg

from explorer.gui import userconfig
from explorer.gui.panels.base import NetworkInfo, Panel, file_dialog, replace


@dataclass
class NetworkSettings:
    path: str = ""              # the network shown (last one that loaded)
    network: str = "G_ema"      # 'G_ema' | 'G'


class NetworkPanel(Panel):
    title = "Network"
    Settings = NetworkSettings

    def __init__(self, ctx):
        super().__init__(ctx)
        self.requested: Optional[str] = None    # a path being loaded, not yet confirmed
        self.error: str = ""

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                self.path_input = dpg.add_input_text(hint="checkpoint .pkl, URL or training run folder", width=-150,
                                                     on_enter=True, callback=lambda *_: self.open(dpg.get_value(self.path_input)))
                self.load_button = dpg.add_button(label="Load", callback=lambda *_: self.open(dpg.get_value(self.path_input)))
                dpg.add_button(label="Browse...", callback=lambda *_: self.file_dialog.show())
            self.recent_combo = dpg.add_combo(userconfig.load_recent(), label="recent", width=-150,
                                              callback=lambda _s, v: self.open(v))
            self.network_radio = dpg.add_radio_button(["G_ema", "G"], default_value=self.s.network, horizontal=True,
                                                      callback=self._on_network_choice)
            self.info_text = dpg.add_text("no network loaded", wrap=0)   # wraps at the panel's edge, never clipped
            dropped = userconfig.dropped_recent()
            if dropped:
                dpg.add_text(f"recent list: {len(dropped)} relative path(s) of an older version left out "
                             f"(open those files once more)", wrap=0, color=(200, 170, 90))
            self.error_text = dpg.add_text("", color=(255, 110, 110), wrap=0)
        self.file_dialog = file_dialog(".pkl", self.open)

    def _on_network_choice(self, _sender, value) -> None:
        self.s.network = value
        self._show_info()
        self.ctx.request_render()

    def open(self, path: str) -> None:
        """Starts loading `path` (the render worker loads it); the current network stays until it works."""
        path = (path or "").strip()
        if not path:
            self.show_error("no checkpoint given: type a path or URL, or pick a file")
            return
        if not path.startswith(("http://", "https://")):
            path = os.path.abspath(os.path.expanduser(path))
            if not os.path.exists(path):
                self._failed(f"{path}: no such file")
                return
        if os.path.isdir(path) and self.ctx.open_run is not None:
            self.ctx.open_run(path)        # it calls open() again with the newest snapshot
            return
        if self.ctx.network_opened is not None:
            self.ctx.network_opened(path)
        self.requested = path
        dpg.set_value(self.path_input, path)
        self.show_error("")
        dpg.set_value(self.info_text, f"loading {os.path.basename(path)} ...")
        self.ctx.request_render()

    def show_error(self, message: str) -> None:
        self.error = message
        dpg.set_value(self.error_text, message)
        if message:
            self.ctx.notify(message)

    def _failed(self, message: str) -> None:
        """The failed-load rule: no network, the error kept on screen."""
        self.requested, self.s.path, self.info = None, "", None
        self.show_error(message)
        self._show_info()
        self.ctx.request_render()   # the app sees no checkpoint and empties the view

    def apply(self, state):
        return replace(state, checkpoint=self.requested or self.s.path or "", which=self.s.network)

    def on_result(self, result) -> None:
        """Confirms or rejects a pending load once the worker answered for it."""
        if self.requested is None or result.state.checkpoint != self.requested:
            return
        if result.error:
            self._failed(f"could not load {result.state.checkpoint}: {result.error}")
            return
        self.s.path, self.requested = result.state.checkpoint, None
        dpg.configure_item(self.recent_combo, items=userconfig.add_recent(self.s.path))

    def on_network(self, info: NetworkInfo) -> None:
        super().on_network(info)
        available = [n for n in ("G_ema", "G") if n in info.networks] or ["G_ema"]
        dpg.configure_item(self.network_radio, items=available)
        if self.s.network not in available:      # e.g. a file with G_ema only, after G was chosen
            self.s.network = available[0]
            dpg.set_value(self.network_radio, self.s.network)
        self._show_info()

    def _show_info(self) -> None:
        info = self.info
        if info is None:
            dpg.set_value(self.info_text, "no network loaded")
            return
        classes = f"{info.c_dim} classes" if info.c_dim else "unconditional"
        dpg.set_value(self.info_text,
                      f"{os.path.basename(info.path)} ({self.s.network})\n{info.arch}, "
                      f"{info.img_resolution}x{info.img_resolution}, z {info.z_dim}, w {info.w_dim}, "
                      f"c {info.c_dim} ({classes}), num_ws {info.num_ws}")

    def restore(self, data: dict) -> None:
        super().restore(data)
        dpg.set_value(self.network_radio, self.s.network)
        if self.s.path:
            saved, self.s.path = self.s.path, ""
            if saved.startswith(("http://", "https://")) or os.path.exists(saved):
                self.open(saved)
