"""The window's training companion on a real window (Xvfb): a run's stats and metrics plotted against kimg,
its fakes grids on a slider, its options; a run still being written; a 10k-tick stats file.

References: the run's files read with json / PIL in the test, and the window's own pixels read back.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gui_harness import (click, fire, have_xdotool, make_app, park_pointer, pointer_to, screenshot,  # noqa: E402,F401
                         step_until, widget_pixels, xdo, xvfb_display)
from test_training_run import json_lines, tiny_run  # noqa: E402
from explorer.gui.training_run import MAX_POINTS  # noqa: E402

import dearpygui.dearpygui as dpg  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_run(tmp_path_factory)


def companion(app):
    """The training panel, alone open in the left column (so that its widgets are on screen)."""
    for panel in app.panels.values():
        dpg.set_value(panel.header, False)
    training = app.panels["training"]
    dpg.set_value(training.header, True)
    return training


def open_folder(app, folder) -> object:
    """Types the folder into the panel and presses Open, as a user would; returns the panel once it shows the run."""
    training = companion(app)
    fire(training.dir_input, str(folder))
    click(training.open_button)
    step_until(app, lambda: training.reading is None and training.view is not None, 30)
    app.step()
    return training


def series_value(training, key, plots=None) -> tuple:
    x, y = dpg.get_value((plots or training.plots).series[key])[:2]
    return list(x), list(y)


def test_run_plots_grids_and_options(make_app, run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    rng = np.random.default_rng(3)
    extra = {name: rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) for name in ("fakes000004.png", "fakes000012.png")}
    for name, img in extra.items():
        Image.fromarray(img).save(folder / name)
    app = make_app()
    training = open_folder(app, folder)

    # Every number stats.jsonl holds is a series against kimg, exactly; the metric from metric-pr.jsonl too.
    stats = json_lines(folder / "stats.jsonl")
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/D/real", "Loss/scores/fake", "Loss/r1_penalty", "augment_p"):
        rows = [(r["kimg"], r[key]) for r in stats if key in r]
        assert series_value(training, key) == ([k for k, _ in rows], [v for _, v in rows]), key
    metric = json_lines(folder / "metric-pr.jsonl")
    for key in metric[0]["results"]:
        assert series_value(training, f"Metrics/{key}") == ([r["kimg"] for r in metric], [r["results"][key] for r in metric])
    titles = [dpg.get_item_label(node) for node, *_ in training.plots.plots.values()]
    assert titles[:5] == ["Losses", "D scores", "Regularisers", "Augment p", "Metric pr"]
    _node, _plot, x_axis, y_axis = training.plots.plots["Metric pr"]
    assert dpg.get_item_label(x_axis) == "kimg"

    # The options, one "key: value" line each.
    options = json.loads((folder / "training_options.json").read_text())
    lines = dpg.get_value(training.options_text).splitlines()
    assert f"cfg: {options['cfg']}" in lines and f"batch: {options['batch']}" in lines
    assert f"training_set_kwargs.path: {options['training_set_kwargs']['path']}" in lines

    # The slider steps through the grids by kimg; the window shows each grid's pixels (one uint8 level).
    dpg.set_value(training.tabs, training.grids_tab)
    grids = training.grids
    assert [g.label for g in grids.grids] == ["0", "4", "12"] and grids.index == 2      # follows the newest
    for index, name in ((0, "fakes000000.png"), (1, "fakes000004.png"), (2, "fakes000012.png"), (0, "fakes000000.png")):
        fire(grids.slider, index)
        step_until(app, lambda: grids.shown == grids.wanted, 20)
        expected = np.asarray(Image.open(folder / name).convert("RGB"))
        shot = screenshot(app, str(tmp_path / f"grid{index}.png"))
        h, w = expected.shape[:2]
        on_screen = widget_pixels(shot, grids.image, h, w)
        assert np.abs(on_screen.astype(int) - expected).max() <= 1, name
        assert dpg.get_value(grids.label).startswith(f"kimg {int(name[5:11])}")
        assert dpg.get_item_configuration(grids.slider)["format"] == f"kimg {int(name[5:11])}"


def test_a_run_being_written(make_app, tmp_path):
    stats = tmp_path / "stats.jsonl"
    stats.write_text('{"kimg": 4.0, "Loss/G/loss": 1.5}\n{"kimg": 8.0, "Loss/G/loss": 1.25}\n{"kimg": 12.0, "Loss')
    (tmp_path / "training_options.json").write_text('{"cfg": "stylegan2", "gam')       # still being written
    app = make_app()
    training = open_folder(app, tmp_path)
    assert series_value(training, "Loss/G/loss") == ([4.0, 8.0], [1.5, 1.25])
    assert dpg.get_value(training.options_text) == "no training_options.json yet"
    assert dpg.get_value(training.grids.label) == "no fakes grids yet"
    click(training.window_button)                     # the same plots, larger, in their own window
    app.step()
    big = training.big_plots
    assert dpg.is_item_shown(training.big_window) and series_value(training, "Loss/G/loss", big) == ([4.0, 8.0], [1.5, 1.25])
    # The loop finishes the line, adds a tick with a new metric, and a metric file appears: shown on the next poll.
    with open(stats, "a") as f:
        f.write('/G/loss": 1.0}\nnot json at all\n{"kimg": 16.0, "Loss/G/loss": 0.5, "Metrics/kid50k_full": 0.25}\n')
    (tmp_path / "metric-kid50k_full.jsonl").write_text(json.dumps(
        {"results": {"kid50k_full": 0.25}, "metric": "kid50k_full", "snapshot_pkl": "network-snapshot-000016.pkl"}) + "\n")
    (tmp_path / "training_options.json").write_text('{"cfg": "stylegan2", "gamma": 8.0}')
    step_until(app, lambda: len(series_value(training, "Loss/G/loss")[0]) == 4
               and "Metrics/kid50k_full" in training.plots.series, 10)
    assert series_value(training, "Loss/G/loss") == ([4.0, 8.0, 12.0, 16.0], [1.5, 1.25, 1.0, 0.5])
    assert series_value(training, "Metrics/kid50k_full") == ([16.0], [0.25])
    assert "Metric kid50k_full" in training.plots.plots
    assert series_value(training, "Metrics/kid50k_full", big) == ([16.0], [0.25])
    window = training.big_window
    training.close_plot_window()                      # its close box
    assert not dpg.does_item_exist(window) and training.big_plots is None
    step_until(app, lambda: dpg.get_value(training.options_text) == "cfg: stylegan2\ngamma: 8.0", 5)
    assert "1 unreadable line(s) skipped" in dpg.get_value(training.run_text)
    # Stop following: the run's plots go.
    click(training.stop_button)
    app.step()
    assert training.plots.series == {} and training.view is None


def test_ten_thousand_ticks_keep_the_window_responsive(make_app, tmp_path):
    rng = np.random.default_rng(0)
    with open(tmp_path / "stats.jsonl", "w") as f:
        for i in range(10000):
            f.write(json.dumps({"tick": i, "kimg": 4.0 * i, "augment_p": float(rng.random()),
                                **{f"Loss/{k}": float(v) for k, v in zip(("G/loss", "D/loss", "D/real", "D/fake",
                                   "scores/real", "scores/fake", "r1_penalty"), rng.standard_normal(7))}}) + "\n")
    app = make_app()
    training = companion(app)
    for _ in range(5):
        app.step()                                    # the panel's first frames are not the read's
    fire(training.dir_input, str(tmp_path))
    t0 = time.perf_counter()
    click(training.open_button)
    worst = time.perf_counter() - t0
    # The click only hands the folder to the reader thread: nothing is parsed on the GUI thread (timings are
    # printed, not asserted: the CPU is shared).
    assert training.view is None
    frames = 0
    while training.view is None:
        t1 = time.perf_counter()
        app.step()
        worst, frames = max(worst, time.perf_counter() - t1), frames + 1
        assert time.perf_counter() - t0 < 30
    loaded = time.perf_counter() - t0
    times = []
    for _ in range(40):
        t1 = time.perf_counter()
        app.step()
        times.append(time.perf_counter() - t1)
    dpg.set_value(training.tabs, training.options_tab)
    without = []
    for _ in range(40):
        t1 = time.perf_counter()
        app.step()
        without.append(time.perf_counter() - t1)
    print(f"\n10k ticks: shown after {loaded:.2f} s ({frames} frames meanwhile, worst {worst * 1000:.0f} ms); "
          f"frame median {np.median(times) * 1000:.1f} ms with the plots, {np.median(without) * 1000:.1f} ms without")
    x, y = series_value(training, "Loss/G/loss")
    assert len(x) <= MAX_POINTS and max(y) == max(r for r in _column(tmp_path / "stats.jsonl", "Loss/G/loss"))
    assert x[0] == 0.0 and x[-1] == 39996.0


def _column(path, key) -> list:
    return [json.loads(line)[key] for line in path.read_text().splitlines()]


@pytest.mark.parametrize("kind", ["gl", "raw"])
def test_grids_of_another_size_on_both_texture_paths(make_app, tmp_path, monkeypatch, kind):
    """A grid of another size re-creates the texture (never resized in place); both texture paths show exact
    pixels, and stepping back shows the first grid again from the cache."""
    from explorer.gui.gltexture import GLTexture
    from explorer.gui.texture import RawTexture
    if kind == "raw":
        monkeypatch.setenv("SG_EXPLORER_TEXTURE", "raw")
    rng = np.random.default_rng(5)
    images = {"fakes000040.png": rng.integers(0, 256, (40, 72, 3), dtype=np.uint8),
              "fakes000080.png": rng.integers(0, 256, (24, 56, 3), dtype=np.uint8)}
    for name, img in images.items():
        Image.fromarray(img).save(tmp_path / name)
    app = make_app()
    training = open_folder(app, tmp_path)
    dpg.set_value(training.tabs, training.grids_tab)
    grids = training.grids
    assert isinstance(grids.texture, RawTexture if kind == "raw" else GLTexture)
    tags = set()
    for index, name in ((1, "fakes000080.png"), (0, "fakes000040.png"), (1, "fakes000080.png")):
        fire(grids.slider, index)
        step_until(app, lambda: grids.shown == grids.wanted, 20)
        tags.add(grids.texture.tag)
        expected = images[name]
        shot = screenshot(app, str(tmp_path / f"{kind}{index}.png"))
        on_screen = widget_pixels(shot, grids.image, *expected.shape[:2])
        assert np.abs(on_screen.astype(int) - expected).max() <= 1, (kind, name)
    assert len(tags) >= 2 and all(not dpg.does_item_exist(t) for t in tags - {grids.texture.tag})   # old ones deleted
    if kind == "gl":
        assert grids.texture.gl_name is not None and not grids.texture.fallback


@pytest.mark.skipif(not have_xdotool(), reason="xdotool is not installed")
def test_plots_follow_the_run_until_the_user_zooms(make_app, tmp_path):
    """A plot refits as ticks arrive; once zoomed with the real mouse wheel it keeps the user's view; Fit
    shows all again."""
    stats = tmp_path / "stats.jsonl"
    stats.write_text("".join(json.dumps({"kimg": k, "Loss/G/loss": 1.0 + k / 10, "augment_p": k / 100}) + "\n"
                             for k in (0.0, 4.0, 8.0)))
    app = make_app()
    training = open_folder(app, tmp_path)
    plots = training.plots
    _node, plot, x_axis, _y = plots.plots["Losses"]
    aug_x = plots.plots["Augment p"][2]
    step_until(app, lambda: not isinstance(plots.fitted.get("Losses"), int), 10)
    lo, hi = dpg.get_axis_limits(x_axis)
    assert lo <= 0.0 and hi >= 8.0 and hi < 20
    pointer_to(app, plot, 0.5, 0.4)
    for _ in range(3):
        xdo("click", "4")                                  # the wheel: ImPlot zooms in
        for _ in range(2):
            app.step()
    step_until(app, lambda: "Losses" in plots.user_moved, 5)
    zoomed = dpg.get_axis_limits(x_axis)
    assert zoomed[1] - zoomed[0] < hi - lo
    park_pointer(app)
    with open(stats, "a") as f:
        f.write(json.dumps({"kimg": 100.0, "Loss/G/loss": 5.0, "augment_p": 0.5}) + "\n")
    step_until(app, lambda: len(series_value(training, "Loss/G/loss")[0]) == 4, 10)
    for _ in range(6):
        app.step()
    assert dpg.get_axis_limits(x_axis) == zoomed                      # the user's view stays
    assert dpg.get_axis_limits(aug_x)[1] >= 100.0                     # an untouched plot follows the run
    click(plots.fit_button)
    step_until(app, lambda: dpg.get_axis_limits(x_axis)[1] >= 100.0, 5)
    assert "Losses" not in plots.user_moved


def test_a_run_folder_opened_as_a_checkpoint_opens_the_companion(make_app, tmp_path):
    (tmp_path / "stats.jsonl").write_text('{"kimg": 4.0, "Loss/D/loss": 0.75}\n')
    app = make_app()
    training = app.panels["training"]
    assert not dpg.get_value(training.header)
    app.open_network(str(tmp_path))                   # as typed into the network panel, or given on the command line
    step_until(app, lambda: training.view is not None, 10)
    assert dpg.get_value(training.header) and training.s.run_dir == str(tmp_path)
    assert series_value(training, "Loss/D/loss") == ([4.0], [0.75])
