"""Reading a training run folder for the window's training companion (explorer/gui/training_run.py).

References: the run's own files parsed line by line with the json module (what the loop wrote), hand-written
lines (partial, garbage, rewritten files), PIL / numpy for the grids. No window here.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from explorer.gui.training_run import (MAX_POINTS, JsonlTail, RunReader, decimate, load_grid, options_lines,  # noqa: E402
                                       plot_groups, run_folder)

_RUNS: dict = {}


def tiny_run(tmp_path_factory) -> Path:
    """A real run folder from the training loop (StyleGAN2 16 px, 2 ticks, a snapshot and the `pr` metric at
    each), made once per test session and shared with test_gui_training.py.

    The metric's computation is stubbed (two known numbers per snapshot, no feature network): its values are
    networks.metrics' tests' business; here what matters is how the loop writes them to metric-pr.jsonl and
    stats.jsonl."""
    if "run" not in _RUNS:
        from unittest import mock
        from test_train import make_zip, tiny_options
        from networks.metrics import registry
        from networks.training.loop import Trainer
        calls = []

        def fake_pr(G, opts, shared):
            calls.append(1)
            return {"pr_precision": 0.5 + 0.125 * len(calls), "pr_recall": 0.25 * len(calls)}

        base = tmp_path_factory.mktemp("trainrun")
        opts = tiny_options(make_zip(base / "d16.zip"), base / "out", metrics=["pr"], metric_samples=2)
        run_dir = base / "out" / "00000-stylegan2-d16"
        with mock.patch.dict(registry.FUNCTIONS, {"pr": fake_pr}), \
                mock.patch.object(registry, "feature_network", lambda opts: None):
            Trainer(opts, run_dir=run_dir, log=lambda m: None).run()
        _RUNS["run"] = run_dir
    return _RUNS["run"]


def json_lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_run(tmp_path_factory)


# ------------------------------------------------------------------------------------------- a real run
def test_real_run_series_equal_the_files(run):
    view = RunReader(str(run.parent)).refresh()          # the OUTDIR: its (only) run is read
    assert view.folder == str(run)
    stats = json_lines(run / "stats.jsonl")
    assert view.records == len(stats) == 2 and view.bad_lines == 0
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/r1_penalty", "augment_p", "sec_per_kimg"):
        rows = [(r["kimg"], r[key]) for r in stats if key in r]
        xs, ys = view.series[key]
        assert rows and list(zip(xs.tolist(), ys.tolist())) == rows
    metric = json_lines(run / "metric-pr.jsonl")
    result_keys = sorted(metric[0]["results"])
    for key in result_keys:                          # whatever the metric names its results
        xs, ys = view.series[f"Metrics/{key}"]
        assert xs.tolist() == [r["kimg"] for r in metric] and ys.tolist() == [r["results"][key] for r in metric]
        assert view.series[f"Metrics/{key}"][1].tolist() == [r[f"Metrics/{key}"] for r in stats]   # same numbers
    titles = {g.title: g for g in view.groups}
    assert len(metric) == 2 and len(result_keys) == 2
    assert titles["Metric pr"].unit == "" and titles["Metric pr"].keys == tuple(f"Metrics/{k}" for k in result_keys)
    assert {"Loss/G/loss", "Loss/D/loss"} <= set(titles["Losses"].keys)
    assert "Loss/r1_penalty" in titles["Regularisers"].keys and titles["Augment p"].keys == ("augment_p",)
    # Grids: every fakes<kimg>.png the loop wrote, none of fakes.png / reals.png; the options, key: value.
    written = sorted(p.name for p in run.glob("fakes[0-9]*.png"))
    assert [os.path.basename(g.path) for g in view.grids] == written and view.reals == str(run / "reals.png")
    options = json.loads((run / "training_options.json").read_text())
    assert f"cfg: {options['cfg']}" in view.options and f"batch: {options['batch']}" in view.options
    assert f"training_set_kwargs.resolution: {options['training_set_kwargs']['resolution']}" in view.options


def test_nothing_changed_gives_no_new_view_and_an_append_reads_only_the_new_bytes(run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    reader = RunReader(str(folder))
    first = reader.refresh()
    assert first is not None and reader.refresh() is None
    stats = folder / "stats.jsonl"
    size = stats.stat().st_size
    new = dict(json_lines(stats)[-1], kimg=1.5, **{"Loss/G/loss": 7.25})
    with open(stats, "a") as f:
        f.write(json.dumps(new) + "\n")
    restarted, records = JsonlTail(str(stats)).read_new()
    assert len(records) == 3 and not restarted
    tail = reader.stats
    assert tail.offset == size
    view = reader.refresh()
    assert tail.offset == stats.stat().st_size and view.records == 3
    assert view.series["Loss/G/loss"][0][-1] == 1.5 and view.series["Loss/G/loss"][1][-1] == 7.25
    assert view.revisions["Loss/G/loss"] != first.revisions["Loss/G/loss"]
    assert view.revisions["Metrics/pr_recall"] == first.revisions["Metrics/pr_recall"]      # untouched series keep theirs


# ------------------------------------------------------------------------------------------- hand-written lines
def write(path: Path, text: str, mode: str = "a") -> None:
    with open(path, mode + "b") as f:
        f.write(text.encode() if isinstance(text, str) else text)


def test_partial_garbage_and_odd_values(tmp_path):
    path = tmp_path / "stats.jsonl"
    write(path, '{"kimg": 0.0, "Loss/G/loss": 1.0}\n{"kimg": 4.0, "Loss/G/lo', "w")
    tail = JsonlTail(str(path))
    assert tail.read_new() == (False, [{"kimg": 0.0, "Loss/G/loss": 1.0}])          # the half line waits
    assert tail.read_new() == (False, [])
    write(path, 'ss": 2.0}\n')
    assert tail.read_new() == (False, [{"kimg": 4.0, "Loss/G/loss": 2.0}])
    write(path, 'not json\n[1, 2]\n\n   \n{"kimg": 8.0, "x": NaN, "y": "text", "z": true, "w": 3}\n')
    write(path, b'\xff\xfe{"kimg": 9}\n')
    restarted, records = tail.read_new()
    assert not restarted and len(records) == 1 and math.isnan(records[0].pop("x"))
    assert records == [{"kimg": 8.0, "y": "text", "z": True, "w": 3}]
    assert tail.bad_lines == 3                                   # not json, a list, bad UTF-8; blanks are not bad
    # A complete object without its newline is taken at once (a hand-written file), and not taken twice.
    write(path, '{"kimg": 12.0, "Loss/G/loss": 5.0}')
    assert tail.read_new() == (False, [{"kimg": 12.0, "Loss/G/loss": 5.0}])
    write(path, "\n")
    assert tail.read_new() == (False, [])
    view = RunReader(str(tmp_path)).refresh()
    assert view.series["Loss/G/loss"][0].tolist() == [0.0, 4.0, 12.0]
    assert view.series["w"][1].tolist() == [3.0] and "x" not in view.series and "y" not in view.series
    assert "z" not in view.series                                # a boolean is not a number to plot
    assert view.bad_lines == 3 and view.records == 4


def test_rewritten_shrunk_replaced_and_removed_files_are_read_again(tmp_path):
    path = tmp_path / "stats.jsonl"
    write(path, '{"kimg": 1}\n{"kimg": 2}\n', "w")
    tail = JsonlTail(str(path))
    assert len(tail.read_new()[1]) == 2
    write(path, '{"kimg": 7}\n', "w")                             # shorter: a new run in the same folder
    assert tail.read_new() == (True, [{"kimg": 7}])
    write(path, '{"kimg": 8}\n', "w")                             # same size, other bytes
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10 ** 9))
    assert tail.read_new() == (True, [{"kimg": 8}])
    other = tmp_path / "other.jsonl"
    write(other, '{"kimg": 9}\n{"kimg": 10}\n', "w")
    os.replace(other, path)                                       # replaced by another file (another inode)
    assert tail.read_new() == (True, [{"kimg": 9}, {"kimg": 10}])
    path.unlink()
    assert tail.read_new() == (True, []) and tail.read_new() == (False, [])
    assert JsonlTail(str(tmp_path / "never.jsonl")).read_new() == (False, [])


def test_over_long_garbage_line_is_dropped_to_its_newline(tmp_path, monkeypatch):
    import explorer.gui.training_run as tr
    monkeypatch.setattr(tr, "MAX_LINE", 100)
    path = tmp_path / "stats.jsonl"
    write(path, "x" * 150, "w")
    tail = JsonlTail(str(path))
    assert tail.read_new() == (False, []) and tail.pending == b""
    write(path, 'yyy\n{"kimg": 3}\n')
    assert tail.read_new() == (False, [{"kimg": 3}]) and tail.bad_lines == 1


def test_nvidia_style_metric_files(tmp_path):
    """NVIDIA's metric-*.jsonl: no kimg field (the snapshot name has it), several results per line, any name."""
    write(tmp_path / "metric-pr50k3_full.jsonl", "".join(json.dumps(
        {"results": {"pr50k3_full_precision": p, "pr50k3_full_recall": r}, "metric": "pr50k3_full",
         "total_time": 1.0, "snapshot_pkl": f"network-snapshot-{k:06d}.pkl", "timestamp": 0.0}) + "\n"
        for k, p, r in ((200, 0.5, 0.1), (400, 0.6, 0.2))), "w")
    write(tmp_path / "metric-fid50k_full.jsonl", json.dumps({"results": {"fid50k_full": 12.5},
                                                             "snapshot_pkl": "network-snapshot-000400.pkl"}) + "\n"
          + '{"results": "broken"}\n{"results": {"fid50k_full": 3.0}}\n', "w")
    write(tmp_path / "stats.jsonl", json.dumps({"kimg": 400.0, "Metrics/fid50k_full": 12.5, "Metrics/kid": 0.01}) + "\n", "w")
    write(tmp_path / "metric-sharpness.jsonl", json.dumps({"results": {"sharpness": 2.0}, "metric": "sharpness",
                                                           "unit": "px", "kimg": 4.0}) + "\n", "w")
    view = RunReader(str(tmp_path)).refresh()
    assert view.series["Metrics/pr50k3_full_precision"][0].tolist() == [200.0, 400.0]
    assert view.series["Metrics/pr50k3_full_recall"][1].tolist() == [0.1, 0.2]
    assert view.series["Metrics/fid50k_full"][0].tolist() == [400.0]       # from the file; 2 lines skipped
    assert view.bad_lines == 2
    groups = {g.title: g for g in view.groups}
    assert groups["Metric pr50k3_full"].keys == ("Metrics/pr50k3_full_precision", "Metrics/pr50k3_full_recall")
    assert groups["Metric fid50k_full"].keys == ("Metrics/fid50k_full",) and groups["Metric fid50k_full"].unit == ""
    assert groups["Metric kid"].keys == ("Metrics/kid",)                    # in stats.jsonl only: still plotted
    assert groups["Metric sharpness"].unit == "px"                          # the unit the file names


def test_groups_order_and_leftovers():
    keys = ["tick", "kimg", "timestamp", "Loss/G/loss", "Loss/D/loss", "Loss/pl_penalty", "Loss/scores/real",
            "augment_p", "lod", "cpu_mem_gb", "sec_per_kimg", "something_new", "Metrics/eqr"]
    groups = plot_groups(keys, {}, {})
    assert [g.title for g in groups] == ["Losses", "D scores", "Regularisers", "Augment p", "Metric eqr", "Speed",
                                         "Memory", "Progressive growing", "Other"]
    assert groups[4].unit == "dB" and groups[-1].keys == ("something_new",)
    assert all("tick" not in g.keys and "kimg" not in g.keys for g in groups)


def test_outdir_reads_its_highest_numbered_run_and_missing_folders_read_empty(tmp_path):
    for name in ("00001-a", "00010-b", "00002-c"):
        (tmp_path / name).mkdir()
    (tmp_path / "99999-file").write_text("")            # a file, not a run folder
    assert run_folder(str(tmp_path)) == str(tmp_path / "00010-b")
    view = RunReader(str(tmp_path / "gone")).refresh()
    assert view.series == {} and view.groups == () and view.grids == () and view.options == ()


def test_options_lines_flatten_nested_objects():
    lines = options_lines({"cfg": "stylegan2", "batch": 32, "metrics": ["fid50k_full"], "resume": None,
                           "G_kwargs": {"mapping_kwargs": {"num_layers": 2}, "z_dim": 512}, "empty": {}})
    assert lines == ["cfg: stylegan2", "batch: 32", 'metrics: ["fid50k_full"]', "resume: null",
                     "G_kwargs.mapping_kwargs.num_layers: 2", "G_kwargs.z_dim: 512", "empty: {}"]


def test_options_being_written_keep_the_last_good_ones(tmp_path):
    path = tmp_path / "training_options.json"
    path.write_text('{"cfg": "stylegan2"}')
    reader = RunReader(str(tmp_path))
    assert reader.refresh().options == ("cfg: stylegan2",)
    path.write_text('{"cfg": "styleg')
    assert reader.refresh() is None                     # half written: nothing new to show
    path.write_text('{"cfg": "stylegan3-r"}')
    assert reader.refresh().options == ("cfg: stylegan3-r",)


def test_grids_sorted_by_kimg_with_nvidia_init_first(tmp_path):
    for name in ("fakes000400.png", "fakes000040.png", "fakes_init.png", "fakes.png", "reals.png", "fakes12.txt"):
        (tmp_path / name).write_bytes(b"")
    view = RunReader(str(tmp_path)).refresh()
    assert [g.label for g in view.grids] == ["init", "40", "400"] and [g.kimg for g in view.grids] == [0.0, 40.0, 400.0]


# ------------------------------------------------------------------------------------------- decimation, grids
@pytest.mark.parametrize("n", [10, 800, 801, 4001, 10000, 123457])
def test_decimate_keeps_every_buckets_extremes(n):
    rng = np.random.default_rng(n)
    x, y = np.cumsum(rng.random(n)), rng.standard_normal(n)
    dx, dy = decimate(x, y, 800)
    if n <= 800:
        assert dx is x and dy is y
        return
    assert len(dx) <= 800 and np.all(np.diff(dx) > 0)
    assert set(zip(dx.tolist(), dy.tolist())) <= set(zip(x.tolist(), y.tolist()))      # original points only
    assert (dx[0], dx[-1]) == (x[0], x[-1])                        # the x range stays
    size = -(-n // 399)
    for start in range(0, n, size):                                # each bucket's min and max are kept
        seg = slice(start, start + size)
        for pick in (np.argmin(y[seg]), np.argmax(y[seg])):
            assert x[start + pick] in set(dx.tolist())
    assert dy.max() == y.max() and dy.min() == y.min()


def test_load_grid_box_reduces_a_large_grid(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (96, 160, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_grid(str(tmp_path / "g.png")), img)
    small = load_grid(str(tmp_path / "g.png"), max_side=64)           # factor ceil(160 / 64) = 3
    reference = img[:96, :159].reshape(32, 3, 53, 3, 3).astype(float).mean(axis=(1, 3))
    assert small.shape == (32, 54, 3)
    assert np.abs(small[:, :53].astype(float) - reference).max() <= 1.0
    Image.fromarray(img[:, :, 0]).save(tmp_path / "grey.png")
    assert load_grid(str(tmp_path / "grey.png")).shape == (96, 160, 3)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG half")
    with pytest.raises(OSError):
        load_grid(str(tmp_path / "bad.png"))


def test_ten_thousand_line_stats_parse_time(tmp_path):
    rng = np.random.default_rng(0)
    keys = ["Loss/G/loss", "Loss/D/loss", "Loss/D/real", "Loss/D/fake", "Loss/D/reg", "Loss/scores/fake",
            "Loss/scores/real", "Loss/r1_penalty", "Loss/pl_penalty", "augment_p", "sec_per_kimg", "cpu_mem_gb"]
    with open(tmp_path / "stats.jsonl", "w") as f:
        for i in range(10000):
            f.write(json.dumps({"tick": i, "kimg": 4.0 * i, "step": i, "timestamp": 1e9 + i,
                                **{k: float(v) for k, v in zip(keys, rng.random(len(keys)))}}) + "\n")
    reader = RunReader(str(tmp_path))
    t0 = time.perf_counter()
    view = reader.refresh()
    full = time.perf_counter() - t0
    with open(tmp_path / "stats.jsonl", "a") as f:
        f.write(json.dumps({"kimg": 40000.0, "Loss/G/loss": 1.0}) + "\n")
    t0 = time.perf_counter()
    assert reader.refresh().records == 10001
    append = time.perf_counter() - t0
    print(f"\n10k-line stats.jsonl: first read {full * 1000:.0f} ms, one appended line {append * 1000:.1f} ms")
    assert view.records == 10000 and len(view.display["Loss/G/loss"][0]) <= MAX_POINTS
    assert full < 5.0 and append < 0.5       # loose: a shared 2-core machine; the figures are printed
