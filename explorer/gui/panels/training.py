"""Training companion: follow a training run folder and load its newest network-snapshot-*.pkl.

"Newest" is as `networks.load_network_pkl(run_dir)` picks it (networks.runs): highest run id, then kimg. The folder
is polled once a second (names and mtimes); a new snapshot, or the newest one rewritten, is loaded through
the network panel like any other checkpoint (a broken one is reported there and the shown network stays).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

import dearpygui.dearpygui as dpg

from explorer.gui.panels.base import Panel
from networks.runs import snapshots_newest_first

POLL_S = 1.0


@dataclass
class TrainingSettings:
    run_dir: str = ""
    follow: bool = True


def newest_snapshot(run_dir: str) -> Optional[tuple]:
    """(path, mtime) of the newest snapshot (networks.runs' order) in run_dir or its run folders; None if none."""
    for path in snapshots_newest_first(run_dir):
        try:
            return str(path), path.stat().st_mtime
        except OSError:
            continue   # removed between the listing and the stat
    return None


class TrainingPanel(Panel):
    title = "Training run"
    Settings = TrainingSettings

    def __init__(self, ctx):
        super().__init__(ctx)
        self.loaded: Optional[tuple] = None      # (path, mtime) last handed to the network panel
        self._next_poll = 0.0

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                self.dir_input = self.bind(dpg.add_input_text, "run_dir", hint="training run folder", width=-120)
                dpg.add_button(label="Open", callback=lambda *_: self.open_run(self.s.run_dir))
            with dpg.group(horizontal=True):
                self.bind(dpg.add_checkbox, "follow", label="reload when a new snapshot appears")
                self.stop_button = dpg.add_button(label="Stop following", callback=lambda *_: self.stop_following())
            self.following_text = dpg.add_text("not following a run", wrap=0)
            self.status = dpg.add_text("")

    def on_setting(self, field: str) -> None:
        pass  # typing a folder does not open it; the button does

    def open_run(self, run_dir: str) -> bool:
        run_dir = (run_dir or "").strip()
        if not os.path.isdir(run_dir):
            self.ctx.notify(f"{run_dir or '(empty)'}: not a folder")
            return False
        self.s.run_dir = os.path.abspath(run_dir)
        self.sync_widgets()
        dpg.set_value(self.following_text, f"following {self.s.run_dir}")
        self.loaded = None
        found = self.poll(force=True)
        if not found:
            dpg.set_value(self.status, "no network-snapshot-*.pkl yet; watching")
        return True

    def poll(self, force: bool = False) -> bool:
        """Loads the newest snapshot if it changed since the last load; True when it started a load."""
        if not self.s.run_dir or not (self.s.follow or force):
            return False
        newest = newest_snapshot(self.s.run_dir)
        if newest is None or newest == self.loaded:
            return False
        self.loaded = newest
        dpg.set_value(self.status, f"{os.path.basename(newest[0])} ({time.strftime('%H:%M:%S', time.localtime(newest[1]))})")
        self.ctx.open_network(newest[0])
        return True

    def tick(self, dt: float) -> bool:
        now = time.monotonic()
        if self.s.run_dir and now >= self._next_poll:
            self._next_poll = now + POLL_S
            self.poll()
        return False

    def stop_following(self) -> None:
        """Forgets the run folder: no more polling, no more loads from it (the shown network stays)."""
        self.s.run_dir, self.loaded = "", None
        self.sync_widgets()
        dpg.set_value(self.following_text, "not following a run")
        dpg.set_value(self.status, "")

    def restore(self, data: dict) -> None:
        super().restore(data)
        self.loaded = None   # the network panel restores the network itself
        dpg.set_value(self.following_text, f"following {self.s.run_dir} (restored session)" if self.s.run_dir
                      else "not following a run")
