"""The training companion's plots: one Dear PyGui plot per PlotGroup of a RunView, x axis kimg.

Each plot sits in its own tree node (a closed one is not drawn, so it costs no frame time) and has a legend
whose entries hide and show their series. Plots and series are created as the run's files first mention
them and only series whose data changed are sent again (decimated by the reader to training_run.MAX_POINTS).
Main thread only.
"""
from __future__ import annotations

import dearpygui.dearpygui as dpg

from explorer.gui.training_run import RunView

PLOT_HEIGHT = 170


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

    def build(self, parent) -> None:
        self.parent = dpg.add_group(parent=parent)
        self.empty_text = dpg.add_text("no stats.jsonl yet", parent=self.parent)

    def clear(self) -> None:
        for node, *_ in self.plots.values():
            if dpg.does_item_exist(node):
                dpg.delete_item(node)
        self.plots, self.series, self.sent = {}, {}, {}
        dpg.configure_item(self.empty_text, show=True)

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
            if changed:
                dpg.fit_axis_data(x_axis)
                dpg.fit_axis_data(y_axis)
        gone = [k for k in self.series if k not in view.display]   # a rewritten file dropped a series
        for key in gone:
            if dpg.does_item_exist(self.series[key]):
                dpg.set_value(self.series[key], [[], []])
            self.sent.pop(key, None)
        dpg.configure_item(self.empty_text, show=not view.groups)
        return sent
