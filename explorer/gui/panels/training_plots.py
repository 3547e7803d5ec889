"""The training companion's plots: one Dear PyGui plot per PlotGroup of a RunView, x axis kimg.

Each plot sits in its own tree node (a closed one is not drawn, so it costs no frame time) and has a legend
whose entries hide and show their series. Plots and series are created as the run's files first mention
them and only series whose data changed are sent again (decimated by the reader to training_run.MAX_POINTS).
A plot fits its data as the run grows until the user pans or zooms it (its limits are no longer those of
the last fit); "Fit" fits every plot and follows the run again. Main thread only.
"""
from __future__ import annotations

import dearpygui.dearpygui as dpg

from explorer.gui.training_run import RunView

PLOT_HEIGHT = 170
SETTLE_FRAMES = 3           # drawn frames after a fit before its limits are taken as the fitted ones


def series_label(key: str) -> str:
    """Legend text: the key without the prefix its plot already says ("Loss/G/loss" -> "G/loss")."""
    for prefix in ("Loss/scores/", "Loss/", "Metrics/"):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


class RunPlots:
    def __init__(self, height: int = PLOT_HEIGHT):
        self.height = height        # px per plot
        self.parent = None
        self.plots: dict = {}       # group title -> (node, plot, x axis, y axis)
        self.series: dict = {}      # key -> line series tag
        self.sent: dict = {}        # key -> revision on screen
        self.fitted: dict = {}      # title -> axis limits after its last fit, or frames drawn since it (int)
        self.user_moved: set = set()   # titles the user panned or zoomed: no more automatic fits

    def build(self, parent) -> None:
        self.parent = dpg.add_group(parent=parent)
        with dpg.group(horizontal=True, parent=self.parent):
            self.fit_button = dpg.add_button(label="Fit", callback=lambda *_: self.fit_all())
            self.empty_text = dpg.add_text("no stats.jsonl yet")

    def clear(self) -> None:
        for node, *_ in self.plots.values():
            if dpg.does_item_exist(node):
                dpg.delete_item(node)
        self.plots, self.series, self.sent, self.fitted, self.user_moved = {}, {}, {}, {}, set()
        dpg.configure_item(self.empty_text, show=True)

    def _limits(self, title: str) -> tuple:
        _node, _plot, x, y = self.plots[title]
        return tuple(dpg.get_axis_limits(x)), tuple(dpg.get_axis_limits(y))

    def _fit(self, title: str) -> None:
        _node, _plot, x, y = self.plots[title]
        dpg.fit_axis_data(x)
        dpg.fit_axis_data(y)
        self.fitted[title] = 0           # the fitted limits are known once the plot was drawn (tick)

    def fit_all(self) -> None:
        """The Fit button: every plot shows all its data again and follows the run."""
        self.user_moved.clear()
        for title in self.plots:
            self._fit(title)

    def tick(self) -> None:
        """Each frame: notes the limits a drawn plot got from its fit; a plot whose limits changed since, without
        a fit, was panned or zoomed by the user."""
        for title, (_node, plot, _x, _y) in self.plots.items():
            if title in self.user_moved or not dpg.is_item_visible(plot):
                continue
            seen = self.fitted.get(title)
            if isinstance(seen, int):            # a fit is applied while drawn: take its limits 3 drawn frames on
                self.fitted[title] = seen + 1 if seen < SETTLE_FRAMES else self._limits(title)
            elif seen is not None and self._limits(title) != seen:
                self.user_moved.add(title)

    def _plot(self, title: str, unit: str) -> tuple:
        if title not in self.plots:
            node = dpg.add_tree_node(label=title, default_open=True, parent=self.parent)
            with dpg.plot(height=self.height, width=-1, parent=node, no_title=True) as plot:
                dpg.add_plot_legend(location=dpg.mvPlot_Location_South, outside=True, horizontal=True)
                x = dpg.add_plot_axis(dpg.mvXAxis, label="kimg")
                y = dpg.add_plot_axis(dpg.mvYAxis, label=unit or None)
            self.plots[title] = (node, plot, x, y)
        return self.plots[title]

    def update(self, view: RunView) -> int:
        """Shows the view's series; returns how many series were (re)sent."""
        sent = 0
        for group in view.groups:
            _node, _plot, x_axis, y_axis = self._plot(group.title, group.unit)
            changed = False
            for key in group.keys:
                revision = view.revisions.get(key)
                if key not in view.display or self.sent.get(key) == revision:
                    continue
                xs, ys = view.display[key]
                data = [xs.tolist(), ys.tolist()]
                if key not in self.series:
                    self.series[key] = dpg.add_line_series(*data, label=series_label(key), parent=y_axis)
                else:
                    dpg.set_value(self.series[key], data)
                self.sent[key] = revision
                changed = True
                sent += 1
            if changed and group.title not in self.user_moved:
                self._fit(group.title)
        gone = [k for k in self.series if k not in view.display]   # a rewritten file dropped a series
        for key in gone:
            if dpg.does_item_exist(self.series[key]):
                dpg.set_value(self.series[key], [[], []])
            self.sent.pop(key, None)
        dpg.configure_item(self.empty_text, show=not view.groups)
        return sent
