"""The explorer window, in a real Dear PyGui window on a private Xvfb display.

Widgets are driven through their callbacks on the main thread (manual callback management); what the
window shows is read back from the frame buffer and compared with the engine's own render.
More panels: tests/test_gui_panels.py.
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gui_harness import (ARTIFACTS, REPO, SG2, SG3T, engine_image, fire, image_on_screen, make_app,  # noqa: E402,F401
                         screenshot, wait_idle, xvfb_display)

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]


def test_seed_change_updates_the_window_with_the_engines_image(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    assert app.info is not None and app.info.arch == "stylegan2" and app.info.img_resolution == 32
    before = image_on_screen(app, screenshot(app, str(tmp_path / "a.png")))
    np.testing.assert_array_equal(before, engine_image(SG2, app.last_state))

    fire(app.panels["latent"].seed_input, 7)
    wait_idle(app)
    assert app.last_state.x == 7.0
    after = image_on_screen(app, screenshot(app, str(tmp_path / "b.png")))
    assert np.abs(after.astype(int) - before).mean() > 5          # a different face, not a repaint
    np.testing.assert_array_equal(after, engine_image(SG2, app.last_state))


def test_truncation_zero_shows_the_average_image(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    fire(app.panels["truncation"].psi_slider, 0.0)
    wait_idle(app)
    a = image_on_screen(app, screenshot(app, str(tmp_path / "a.png")))
    fire(app.panels["latent"].seed_input, 3)
    wait_idle(app)
    b = image_on_screen(app, screenshot(app, str(tmp_path / "b.png")))
    np.testing.assert_array_equal(a, b)     # psi 0: every seed maps to w_avg


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/sg-explorer-pwned",))


def test_hostile_and_corrupt_pickles_show_the_error_and_no_network(make_app, tmp_path):
    import dearpygui.dearpygui as dpg
    app = make_app(SG2)
    wait_idle(app)
    shown = app.last_result.image.copy()
    hostile = tmp_path / "hostile.pkl"
    hostile.write_bytes(pickle.dumps({"G_ema": _Boom()}))
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(Path(SG2).read_bytes()[:5000])
    marker = Path("/tmp/sg-explorer-pwned")
    marker.unlink(missing_ok=True)
    net = app.panels["network"]
    for bad in (hostile, corrupt):
        fire(net.path_input, str(bad))
        net.open(str(bad))
        wait_idle(app)
        assert app.step()                                   # the window is still running
        assert net.error.startswith(f"could not load {bad}") and "\n" not in net.error
        assert "Traceback" not in net.error
        # The failed-load rule: the error stays, no network, the view empty and its caption says why.
        assert net.s.path == "" and app.last_state is None and app.info is None and app.main.shown is None
        assert app.main.caption == f"nothing shown: {net.error}"
        assert dpg.get_value(app.error_text) == net.error
        net.open(SG2)                                       # the previous network is one load away
        wait_idle(app)
        np.testing.assert_array_equal(app.last_result.image, shown)
    assert not marker.exists()


def test_missing_file_is_one_line(make_app):
    app = make_app(SG2)
    wait_idle(app)
    app.panels["network"].open("/nonexistent/x.pkl")
    assert app.panels["network"].error == "/nonexistent/x.pkl: no such file"
    assert app.last_state.checkpoint == SG2


@pytest.mark.parametrize("display", ["", ":97"])
def test_no_display_exits_nonzero_with_one_line(display, tmp_path):
    env = dict(os.environ, DISPLAY=display, SG_EXPLORER_CONFIG_DIR=str(tmp_path))
    if not display:
        env.pop("DISPLAY")
    p = subprocess.run([sys.executable, "-m", "explorer", SG2], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "display" in lines[0], p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("args,message", [(["--device", "tpu"], "unknown device"), (["--fps-cap", "-1"], "--fps-cap"),
                                          (["--device", "cuda:1"], "cuda")])
def test_bad_arguments_are_one_line_before_any_window(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)      # the index check, not availability
    monkeypatch.delenv("DISPLAY", raising=False)                        # checked before the display
    from explorer.cli import main
    assert main(args + [SG2]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "display" not in err[0]


def test_stylegan3_rotation_and_class(make_app, tmp_path):
    app = make_app(SG3T)
    wait_idle(app)
    assert app.info.arch == "stylegan3-t" and app.info.c_dim == 3
    a = image_on_screen(app, screenshot(app, str(tmp_path / "a.png")))
    transform = app.panels["transform"]
    fire(transform.widgets["rotate"], 90.0)
    wait_idle(app)
    assert app.last_state.rotate == 90.0
    b = image_on_screen(app, screenshot(app, str(tmp_path / "b.png")))
    assert np.abs(b.astype(int) - a).mean() > 2   # the fixture's random weights give a low-contrast image
    np.testing.assert_array_equal(b, engine_image(SG3T, app.last_state))
    fire(app.panels["latent"].class_input, 2)
    wait_idle(app)
    assert app.last_state.class_idx == 2
    c = image_on_screen(app, screenshot(app, str(tmp_path / "c.png")))
    np.testing.assert_array_equal(c, engine_image(SG3T, app.last_state))


def test_whole_pixel_translation_rounds_to_output_pixels(make_app):
    app = make_app(SG3T)
    wait_idle(app)
    t = app.panels["transform"]
    fire(t.widgets["round_pixels"], True)
    fire(t.widgets["tx"], 0.1)
    wait_idle(app)
    assert app.last_state.translate_x == pytest.approx(3 / 32)


def test_style_mixing_presets_follow_w_resolutions(make_app):
    app = make_app(SG2)
    wait_idle(app)
    mixing = app.panels["mixing"]
    assert len(mixing.toggles) == app.info.num_ws
    mixing.preset("coarse")
    wait_idle(app)
    mask = app.last_state.mix_mask
    assert mask[0] and not mask[-1] and len(mask) == app.info.num_ws
    fire(mixing.toggles[-1], True, app.info.num_ws - 1)
    wait_idle(app)
    assert app.last_state.mix_mask[-1]


def test_layer_view_hooks_only_while_open_and_shows_shapes(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    assert app.last_state.layer is None and app.last_result.layer_image is None
    layers = app.panels["layers"]
    fire(layers.widgets["open"], True)
    wait_idle(app)
    assert layers.shapes and "output" in layers.shapes
    name = next(n for n, s in layers.shapes.items() if n != "output" and len(s) == 4 and s[1] > 3)
    label = next(lab for lab, n in layers.labels.items() if n == name)
    fire(layers.layer_list, label)
    fire(layers.channel_radio, "1 channel")
    wait_idle(app)
    r = app.last_result
    shape = layers.shapes[name]
    assert r.state.layer == name and r.layer_image.shape == (shape[2], shape[3], 3)
    assert (r.layer_image[..., 0] == r.layer_image[..., 1]).all()       # one channel shows grey
    assert r.spectrum is not None
    import dearpygui.dearpygui as dpg
    text = dpg.get_value(layers.stats_text)
    assert name in text and f"{r.stats.all.std:.3f}" in text
    fire(layers.widgets["open"], False)
    wait_idle(app)
    assert app.last_state.layer is None and app.last_result.layer_image is None


def test_capture_png_and_command_line(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    fire(app.panels["latent"].seed_input, 5)
    fire(app.panels["truncation"].psi_slider, 0.5)
    wait_idle(app)
    cap = app.panels["capture"]
    cap.s.folder = str(tmp_path / "caps")
    path = cap.capture("image")
    from PIL import Image
    np.testing.assert_array_equal(np.asarray(Image.open(path)), app.last_result.image)
    assert not [p for p in os.listdir(tmp_path / "caps") if p.startswith(".")]    # no temp file left
    line = cap.copy_command()
    from explorer.cli import build_parser
    import shlex
    args = build_parser("images").parse_args(shlex.split(line)[2:])
    assert args.pkl == SG2 and args.seeds == "5" and args.trunc == 0.5


def test_session_round_trip(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    fire(app.panels["latent"].seed_input, 11)
    fire(app.panels["truncation"].psi_slider, 0.7)
    app.panels["mixing"].preset("fine")
    wait_idle(app)
    state = app.last_state
    from explorer.gui import session
    path = tmp_path / "s.json"
    session.save(path, app.session_data())
    app.close()
    app2 = make_app(session=str(path))
    wait_idle(app2)
    assert app2.last_state == state


def test_last_session_restored_from_config_dir(make_app):
    app = make_app(SG2, save_session_on_close=True)
    wait_idle(app)
    fire(app.panels["latent"].seed_input, 21)
    wait_idle(app)
    app.close()
    app2 = make_app(restore_last_session=True)
    wait_idle(app2)
    assert app2.last_state.checkpoint == SG2 and app2.last_state.x == 21.0


def test_training_run_reloads_newest_snapshot(make_app, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(SG2, run / "network-snapshot-000000.pkl")
    app = make_app(str(run))
    wait_idle(app)
    assert app.info.arch == "stylegan2"
    newer = run / "network-snapshot-000040.pkl"
    shutil.copy(SG3T, newer)
    os.utime(newer, (time.time() + 5, time.time() + 5))
    deadline = time.monotonic() + 60
    while app.info.arch == "stylegan2" and time.monotonic() < deadline:
        app.step()
    assert app.info.arch == "stylegan3-t" and app.info.path == str(newer)


def test_ui_never_waits_for_a_slow_load(make_app):
    import networks

    def slow_loader(path):
        time.sleep(2.0)
        return networks.load_network_pkl(path)

    app = make_app(SG2, loader=slow_loader)
    worst = 0.0
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        t0 = time.perf_counter()
        app.step()
        worst = max(worst, time.perf_counter() - t0)
    assert app.last_result is None           # still loading, yet frames kept coming
    assert worst < 0.25
    wait_idle(app)
    assert app.last_result is not None


def test_keyboard_steps_seed_and_zoom_shows_exact_pixels(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    import dearpygui.dearpygui as dpg
    app.controls.on_key(dpg.mvKey_Right)
    app.controls.on_key(dpg.mvKey_Right)
    wait_idle(app)
    assert app.last_state.x == 2.0
    app.controls.on_key(dpg.mvKey_Spacebar)
    assert app.panels["latent"].s.animate
    app.controls.on_key(dpg.mvKey_Spacebar)
    assert not app.panels["latent"].s.animate
    wait_idle(app)
    app.view.set_zoom(3)
    shot = screenshot(app, str(tmp_path / "z.png"))
    from explorer.gui.viewer import image_rect
    ox, oy = dpg.get_item_rect_min(app.view.drawlist)
    x0, y0, _, _ = image_rect(app.view.width, app.view.height, 32, 32, app.view.s)
    block = shot[oy + y0: oy + y0 + 96, ox + x0: ox + x0 + 96]
    expected = np.repeat(np.repeat(app.last_result.image, 3, 0), 3, 1)
    np.testing.assert_array_equal(block, expected)


def test_video_export_from_keyframes(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    video = app.video
    video.add_current()
    fire(app.panels["latent"].seed_input, 4)
    wait_idle(app)
    video.add_current()
    video.s.frames_between = 2
    video.s.path = str(tmp_path / "walk.mp4")
    assert video.export()
    deadline = time.monotonic() + 120
    while video.job is not None and time.monotonic() < deadline:
        app.step()
    import dearpygui.dearpygui as dpg
    assert dpg.get_value(video.status) == f"wrote {video.s.path}"
    import imageio.v3 as iio
    frames = iio.imread(video.s.path)
    assert frames.shape[0] == 4 and frames.shape[1:3] == (32, 32)


def test_sticking_average_side_by_side(make_app):
    app = make_app(SG2)
    wait_idle(app)
    st = app.panels["sticking"]
    st.s.frames = 4
    st.s.second_pkl = SG3T
    assert st.start()
    deadline = time.monotonic() + 120
    while st.job is not None and time.monotonic() < deadline:
        app.step()
    assert len(st.images) == 2 and st.images[0].shape == (32, 32, 3)
    from explorer.engine.sticking import sticking_average
    import networks
    G = networks.load_network_pkl(SG2)["G_ema"].eval()
    np.testing.assert_array_equal(st.images[0], sticking_average(G, app.last_state, "latent_walk", 4))


def test_full_window_screenshot_artifact(make_app):
    """test-artifacts/gui-window.png: the whole window with the layer view open on a hooked layer, its
    picture and spectrum on screen beside the generated image."""
    app = make_app(SG3T)
    wait_idle(app)
    import dearpygui.dearpygui as dpg
    for key, panel in app.panels.items():
        dpg.set_value(panel.header, key in ("network", "transform", "layers"))
    layers = app.panels["layers"]
    layers.set(open=True)
    wait_idle(app)
    fire(layers.layer_list, next(lab for lab, n in layers.labels.items() if n == "L5_52_64"))
    wait_idle(app)
    for _ in range(3):
        app.step()
    dpg.set_y_scroll(app.left, dpg.get_y_scroll_max(app.left))      # down to the layer pictures
    ARTIFACTS.mkdir(exist_ok=True)
    shot = screenshot(app, str(ARTIFACTS / "gui-window.png"))
    assert shot.shape[0] >= 600 and shot.shape[1] >= 1000
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 50     # a drawn window, not a blank frame
    from gui_harness import widget_pixels
    r = app.last_result
    np.testing.assert_array_equal(widget_pixels(shot, layers.image_widget, 52, 52), r.layer_image)
    np.testing.assert_array_equal(image_on_screen(app, shot), r.image)


def test_bench_gui_measures_a_real_window(xvfb_display):
    from explorer.gui.bench import bench_gui
    lines = []
    res = bench_gui(seconds=1.0, resolution=32, printer=lines.append)
    assert res.ui_fps_while_rendering > 1 and res.renders_per_s > 0 and res.ui_cpu_ms_per_frame > 0
    assert res.latency_frames >= 1 and res.latency_ms >= res.latency_render_ms > 0
    assert res.latency_overhead_ms >= 0 and res.ui_frame_ms > 0 and 0 <= res.latency_overhead_frames
    assert res.texture_path == "opengl"
    assert 0 < res.upload_1024_ms < res.upload_rgb_1024_ms       # packed RGBA: a plain copy in the driver
    assert len(lines) == 5 and "fps" in lines[1] and "seed-pad drag" in lines[3] and "opengl texture" in lines[4]
    assert res.drag_latency_ms >= res.drag_render_ms > 0


def test_bench_gui_times_a_checkpoint_at_its_view_and_the_command_passes_res(xvfb_display, monkeypatch, capsys):
    from explorer.gui.bench import bench_gui
    res = bench_gui(checkpoint=SG2, seconds=0.5, printer=lambda _l: None, view="spectrum")
    assert res.network == SG2 and res.view == "spectrum" and res.view_size == "32x32"   # sg2-32's b32 layer
    # The command hands PKL, --res and --view over (it used to call bench_gui() with neither).
    import explorer.gui.bench as gb
    from explorer.cli import main
    seen = {}
    monkeypatch.setattr(gb, "bench_gui", lambda **kw: seen.update(kw))
    assert main(["bench", "--gui", "--res", "64", "--view", "layer"]) == 0
    assert seen == {"checkpoint": None, "resolution": 64, "view": "layer"}
    assert main(["bench", "--gui", SG2]) == 0 and seen["checkpoint"] == SG2
    assert main(["bench", "--gui", "/nonexistent.pkl"]) == 2
    assert "/nonexistent.pkl: no such file" in capsys.readouterr().err
