"""Training companion: follow a training run folder, load its newest network-snapshot-*.pkl, and show the run:
its stats.jsonl and metric-*.jsonl plotted against kimg, its fakes grids on a kimg slider, its options.

"Newest" is as `networks.load_network_pkl(run_dir)` picks it (networks.runs): highest run id, then kimg. The folder
is polled once a second (names and mtimes); a new snapshot, or the newest one rewritten, is loaded through
the network panel like any other checkpoint (a broken one is reported there and the shown network stays).
On the same poll a worker thread reads what the run's files gained (explorer/gui/training_run.py) and hands
an immutable RunView back; the UI thread only sends changed series to the plots.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

import dearpygui.dearpygui as dpg

from explorer.gui.panels.base import Panel
from explorer.gui.panels.training_grids import GridViewer
from explorer.gui.panels.training_plots import RunPlots
from explorer.gui.training_run import RunReader, RunView
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
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="training-run")  # reads, decodes
        self.reader: Optional[RunReader] = None  # of s.run_dir; used by one worker job at a time
        self.reading = None                      # (reader, Future) of the refresh in flight
        self.view: Optional[RunView] = None      # the run as shown
        self.plots = RunPlots()
        self.big_plots: Optional[RunPlots] = None   # the same plots in their own, larger window
        self.big_window = None

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                self.dir_input = self.bind(dpg.add_input_text, "run_dir", hint="training run folder", width=-120)
                self.open_button = dpg.add_button(label="Open", callback=lambda *_: self.open_run(self.s.run_dir))
            with dpg.group(horizontal=True):
                self.bind(dpg.add_checkbox, "follow", label="reload when a new snapshot appears")
                self.stop_button = dpg.add_button(label="Stop following", callback=lambda *_: self.stop_following())
            self.following_text = dpg.add_text("not following a run", wrap=0)
            self.status = dpg.add_text("")
            self.run_text = dpg.add_text("", wrap=0)
            with dpg.tab_bar() as self.tabs:
                with dpg.tab(label="Plots") as self.plots_tab:
                    self.window_button = dpg.add_button(label="Plots in a window",
                                                        callback=lambda *_: self.open_plot_window())
                    self.plots.build(self.plots_tab)
                with dpg.tab(label="Fakes") as self.grids_tab:
                    self.grids = GridViewer(self.executor, self.ctx.texture_registry)
                    self.grids.build(self.grids_tab)
                with dpg.tab(label="Options") as self.options_tab:
                    self.options_text = dpg.add_input_text(multiline=True, readonly=True, width=-1, height=320,
                                                           default_value="no training_options.json yet")

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
        header = getattr(self, "header", None)      # set by the app: a run opened is a run to look at
        if header is not None and dpg.does_item_exist(header):
            dpg.set_value(header, True)
        self._follow_files(self.s.run_dir)
        self.reading = (self.reader, self.executor.submit(self.reader.refresh))
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
        self.grids.tick()
        self.plots.tick()
        if self.big_plots is not None:
            self.big_plots.tick()
        if (self.reader.root if self.reader else "") != self.s.run_dir:
            self._follow_files(self.s.run_dir)
        if self.reading is not None and self.reading[1].done():
            self._take_view()
        now = time.monotonic()
        if self.s.run_dir and now >= self._next_poll:
            self._next_poll = now + POLL_S
            self.poll()
            if self.reading is None and self.reader is not None:
                self.reading = (self.reader, self.executor.submit(self.reader.refresh))
        return False

    # -- the run's files -------------------------------------------------------------------------------
    def _follow_files(self, run_dir: str) -> None:
        """Starts reading another folder ("" for none): what was shown of the last one goes."""
        self.reader = RunReader(run_dir) if run_dir else None
        self.reading, self.view = None, None      # a refresh in flight for the old reader is ignored
        self.plots.clear()
        if self.big_plots is not None:
            self.big_plots.clear()
        self.grids.clear()
        dpg.set_value(self.options_text, "no training_options.json yet")
        dpg.set_value(self.run_text, "")

    def _take_view(self) -> None:
        reader, future = self.reading
        self.reading = None
        if reader is not self.reader:
            return
        try:
            view = future.result()
        except Exception as e:   # a reader bug must not end the window: say it, keep what is shown
            dpg.set_value(self.run_text, f"cannot read the run: {e.__class__.__name__}: {e}")
            return
        if view is not None:
            self.show_view(view)

    def show_view(self, view: RunView) -> None:
        """Puts a RunView on screen: changed series, the grid listing, the options, a summary line."""
        if self.view is not None and view.folder != self.view.folder:
            self.plots.clear()            # a newer run started in the OUTDIR: none of the old run's plots stay
        if self.view is not None and view.folder != self.view.folder and self.big_plots is not None:
            self.big_plots.clear()
        self.view = view
        self.plots.update(view)
        if self.big_plots is not None:
            self.big_plots.update(view)
        self.grids.set_grids(view.grids)
        dpg.set_value(self.options_text, "\n".join(view.options) if view.options else "no training_options.json yet")
        line = f"{os.path.basename(view.folder)}: {view.records} ticks"
        last = max((x[-1] for x, _y in view.series.values() if len(x)), default=None)
        if last is not None:
            line += f" to kimg {last:g}"
        if view.bad_lines:
            line += f", {view.bad_lines} unreadable line(s) skipped"
        dpg.set_value(self.run_text, line)

    def open_plot_window(self) -> None:
        """The plots again, larger, in a window of their own (closing it deletes it: no frame cost left)."""
        if self.big_window is not None and dpg.does_item_exist(self.big_window):
            dpg.focus_item(self.big_window)
            return
        self.big_window = dpg.add_window(label="Training run plots", width=900, height=700, pos=(470, 60),
                                         on_close=lambda *_: self.close_plot_window())
        self.big_plots = RunPlots(height=300)
        self.big_plots.build(self.big_window)
        if self.view is not None:
            self.big_plots.update(self.view)

    def close_plot_window(self) -> None:
        if self.big_window is not None and dpg.does_item_exist(self.big_window):
            dpg.delete_item(self.big_window)
        self.big_window, self.big_plots = None, None

    def stop(self) -> None:
        """At close: no more reads; the worker threads end after their current file."""
        self.reader, self.reading = None, None
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.grids.close()

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
