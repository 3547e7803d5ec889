"""Every panel of the explorer window, driven in a real window on Xvfb.

Widgets are set and their callbacks fired (harness.fire / click) or, for what needs real X events (drags,
typing focus, the wheel), driven with xdotool; the result is read back from the window or from the engine
and compared with the engine's own render of the same state.
"""
from __future__ import annotations

import http.server
import json
import math
import os
import shutil
import sys
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gui_harness import (DATA, SG2, SG3T, click, engine_image, fire, image_on_screen, make_app,  # noqa: E402,F401
                         park_pointer, pointer_to, run_callback, screenshot, step_until, wait_idle, widget_pixels, xdo,
                         xvfb_display)

import dearpygui.dearpygui as dpg  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]


def shown(app, tmp_path, name="shot.png") -> np.ndarray:
    return image_on_screen(app, screenshot(app, str(tmp_path / name)))


def assert_screen_is_engine(app, tmp_path, path=None):
    """The window shows exactly what the engine renders for the state it last asked for."""
    np.testing.assert_array_equal(shown(app, tmp_path), engine_image(path or app.last_state.checkpoint, app.last_state))


# ---------------------------------------------------------------------------------------------- network
def test_no_network_asks_for_one_then_file_dialog_typed_path_and_recent_list(make_app, tmp_path):
    app = make_app(default_checkpoint=str(tmp_path / "default-sg3t.pkl"))      # the default is not there
    net = app.panels["network"]
    for _ in range(5):
        assert app.step()
    assert app.last_state is None and app.info is None                      # nothing to render, still running
    assert net.error.startswith("no network loaded") and dpg.get_value(app.error_text) == net.error

    assert net.file_dialog.choose(SG2) == os.path.abspath(SG2)          # folder, name, OK, as a user picks it
    wait_idle(app)
    assert app.info.path == SG2 and net.error == "" and dpg.get_value(app.error_text) == ""
    info = dpg.get_value(net.info_text)
    for fact in ("stylegan2", "32x32", "z 64", "w 64", "c 0", "unconditional", "num_ws 8"):
        assert fact in info

    fire(net.path_input, SG3T)                 # typed, then Enter (the input's callback)
    wait_idle(app)
    assert app.info.path == SG3T and "3 classes" in dpg.get_value(net.info_text)
    recent = json.loads((tmp_path / "config" / "recent.json").read_text())["recent"]
    assert recent == [SG3T, SG2]
    assert dpg.get_item_configuration(net.recent_combo)["items"] == [SG3T, SG2]

    fire(net.recent_combo, SG2)
    wait_idle(app)
    assert app.info.path == SG2 and app.last_state.checkpoint == SG2


def test_url_is_downloaded_by_the_worker(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("SG_EXPLORER_CACHE", str(tmp_path / "downloads"))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(DATA))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/sg2-32/network.pkl"
        app = make_app(url)
        wait_idle(app)
        assert app.info.path == url and app.panels["network"].s.path == url
        np.testing.assert_array_equal(app.last_result.image, engine_image(SG2, app.last_state.replace(checkpoint=SG2)))
        app.panels["network"].open(url[:-4] + "-missing.pkl")
        wait_idle(app)
        # The failed-load rule: the error stays and no network is shown (no silent fall-back).
        assert app.panels["network"].error.startswith("could not load") and app.info is None
        assert app.main.shown is None and app.main.caption.startswith("nothing shown: could not load")
    finally:
        server.shutdown()


def test_g_ema_g_switch_reuses_the_loaded_file(make_app, tmp_path):
    import networks
    import torch
    data = networks.load_network_pkl(SG2)
    with torch.no_grad():
        data["G"].synthesis.b32.torgb.weight.mul_(0.5)      # the fixture's G equals its G_ema
    path = str(tmp_path / "two.pkl")
    networks.save_network_pkl(path, data)
    app = make_app(path)
    wait_idle(app)
    ema = app.last_result.image.copy()
    net = app.panels["network"]
    fire(net.network_radio, "G")
    wait_idle(app)
    assert app.last_state.which == "G" and "(G)" in dpg.get_value(net.info_text)
    assert not np.array_equal(app.last_result.image, ema)
    assert_screen_is_engine(app, tmp_path, path)
    fire(net.network_radio, "G_ema")
    wait_idle(app)
    np.testing.assert_array_equal(app.last_result.image, ema)
    assert app.cache.loads == 1


def test_settings_of_the_previous_network_do_not_fail_the_next(make_app, tmp_path):
    """Class 2 of a conditional StyleGAN3 and one of its layers: opening an unconditional StyleGAN2 works."""
    app = make_app(SG3T)
    wait_idle(app)
    fire(app.panels["latent"].class_input, 2)
    layers = app.panels["layers"]
    fire(layers.widgets["open"], True)
    wait_idle(app)
    fire(layers.layer_list, next(lab for lab, n in layers.labels.items() if n == "L3_36_64"))
    wait_idle(app)
    app.open_network(SG2)
    wait_idle(app)
    wait_idle(app)
    assert app.info.path == SG2 and app.panels["network"].error == ""
    assert app.last_state.class_idx is None and app.last_state.layer == "output"
    assert app.last_result.state.checkpoint == SG2 and app.last_result.ok


def test_default_checkpoint_opens_when_present(make_app, tmp_path):
    from explorer.commands.gui import DEFAULT_CHECKPOINT      # the shipped StyleGAN3-T model
    app = make_app(default_checkpoint=str(DEFAULT_CHECKPOINT))
    wait_idle(app)
    assert app.info.path == str(DEFAULT_CHECKPOINT) and app.info.arch == "stylegan3-t" and app.last_result.ok
    assert_screen_is_engine(app, tmp_path)


def test_command_opens_the_default_model(xvfb_display, tmp_path, monkeypatch):
    """`sg-explorer` with no arguments opens explorer/commands/gui.py's DEFAULT_CHECKPOINT when it exists."""
    import signal
    monkeypatch.setenv("SG_EXPLORER_CONFIG_DIR", str(tmp_path / "config"))
    import explorer.commands.gui as gui_cmd
    from explorer.cli import main
    from explorer.gui.app import App
    seen = {}

    def run(self):
        for _ in range(10):
            self.step()
        if self.last_state is not None:
            wait_idle(self)
        seen["path"] = self.info.path if self.info else None
        self.close()
        return 0
    monkeypatch.setattr(App, "run", run)
    original_init = App.__init__

    def init(self, options):
        options.keep_context = True            # one Dear PyGui context per test process
        original_init(self, options)
    monkeypatch.setattr(App, "__init__", init)
    saved = signal.getsignal(signal.SIGTERM)
    try:
        monkeypatch.setattr(gui_cmd, "DEFAULT_CHECKPOINT", Path(SG2))
        assert main([]) == 0 and seen["path"] == SG2
        monkeypatch.setattr(gui_cmd, "DEFAULT_CHECKPOINT", tmp_path / "absent.pkl")
        monkeypatch.setenv("SG_EXPLORER_CONFIG_DIR", str(tmp_path / "config2"))   # no last session either
        assert main([]) == 0 and seen["path"] is None   # opened and asked for a network instead
    finally:
        signal.signal(signal.SIGTERM, saved)


# ---------------------------------------------------------------------------------------------- latent
def test_fractional_seed_plane_point_shows_the_blend(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    latent = app.panels["latent"]
    fire(latent.widgets["x"], 3.25)
    fire(latent.widgets["y"], 0.5)
    wait_idle(app)
    assert (app.last_state.x, app.last_state.y) == (3.25, 0.5)
    assert dpg.get_value(latent.seed_input) == 3
    text = dpg.get_value(latent.weights_text)
    assert "seed 3: 0.375" in text and "seed 104: 0.125" in text     # (1-.25)(1-.5), .25 * .5; row step 100
    assert_screen_is_engine(app, tmp_path)
    whole = engine_image(SG2, app.last_state.replace(x=3.0, y=0.0))
    assert not np.array_equal(app.last_result.image, whole)


def test_dragging_the_seed_pad_moves_the_point(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    latent = app.panels["latent"]
    try:
        x0, y0 = pointer_to(app, latent.pad, 0.3, 0.3)
        assert latent.pad_hovered()
        xdo("mousedown", 1)
        for k in range(1, 7):                       # 60 px right, 30 px down = half a seed, a quarter row
            xdo("mousemove", x0 + 10 * k, y0 + 5 * k)
            app.step()
            app.step()
        xdo("mouseup", 1)
        wait_idle(app)
    finally:
        park_pointer(app)
    from explorer.gui.panels.latent import PAD
    assert latent.s.x == pytest.approx(60 / PAD) and latent.s.y == pytest.approx(30 / PAD)
    assert app.last_state.x == latent.s.x
    assert_screen_is_engine(app, tmp_path)


def test_animate_speed_snap_reset(make_app):
    app = make_app(SG2)
    wait_idle(app)
    latent = app.panels["latent"]
    fire(latent.widgets["speed"], 2.0)
    done = app.worker.renders_done
    fire(latent.widgets["animate"], True)
    t0 = time.perf_counter()
    x_start = latent.s.x
    while time.perf_counter() - t0 < 0.6:
        app.step()
    elapsed = time.perf_counter() - t0
    assert latent.s.x - x_start == pytest.approx(2.0 * elapsed, abs=0.15)
    assert app.worker.renders_done > done + 1                 # the animation kept the worker busy
    fire(latent.widgets["animate"], False)
    latent.set(x=2.6, y=0.4)
    click(latent.snap_button)
    wait_idle(app)
    assert (app.last_state.x, app.last_state.y) == (3.0, 0.0)
    latent.set(animate=True)
    click(latent.reset_button)
    wait_idle(app)
    assert (app.last_state.x, app.last_state.y, latent.s.animate) == (0.0, 0.0, False)


def test_class_field_only_for_conditional_networks(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    latent = app.panels["latent"]
    assert not dpg.is_item_shown(latent.class_input) and app.last_state.class_idx is None
    app.open_network(SG3T)
    wait_idle(app)
    assert dpg.is_item_shown(latent.class_input) and app.last_state.class_idx == 0
    fire(latent.class_input, 1)
    wait_idle(app)
    assert app.last_state.class_idx == 1
    assert_screen_is_engine(app, tmp_path)


# ---------------------------------------------------------------------------------------------- truncation, noise
def test_cutoff_and_noise(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    tr = app.panels["truncation"]
    assert dpg.is_item_shown(tr.noise_group)
    fire(tr.psi_slider, 0.5)
    fire(tr.widgets["cutoff"], 2)
    wait_idle(app)
    assert (app.last_state.trunc_psi, app.last_state.trunc_cutoff) == (0.5, 2)
    assert_screen_is_engine(app, tmp_path)
    const = app.last_result.image.copy()
    fire(tr.widgets["noise_mode"], "random")
    fire(tr.widgets["noise_seed"], 3)
    wait_idle(app)
    assert (app.last_state.noise_mode, app.last_state.noise_seed) == ("random", 3)
    assert not np.array_equal(app.last_result.image, const)
    assert_screen_is_engine(app, tmp_path)          # seeded noise: the same pixels on every render
    app.open_network(SG3T)
    wait_idle(app)
    assert not dpg.is_item_shown(tr.noise_group)    # StyleGAN3 has no noise inputs


# ---------------------------------------------------------------------------------------------- mixing
def test_mixing_toggles_show_resolutions_and_presets_render(make_app, tmp_path):
    from explorer.gui.panels.mixing import preset_indices
    app = make_app(SG2)
    wait_idle(app)
    mixing = app.panels["mixing"]
    res = app.info.w_resolutions
    assert [dpg.get_item_label(t).split()[-2:] for t in mixing.toggles] == [[str(r), "px"] for r in res]
    fire(mixing.widgets["mix_seed"], 9)
    for name in ("coarse", "middle", "fine"):
        click(mixing.preset_buttons[name])
        wait_idle(app)
        want = preset_indices(app.info.num_ws, name)
        assert [i for i, v in enumerate(app.last_state.mix_mask) if v] == want and want
        assert [dpg.get_value(t) for t in mixing.toggles] == [i in want for i in range(app.info.num_ws)]
    assert app.last_state.mix_seed == 9
    assert_screen_is_engine(app, tmp_path)
    click(mixing.preset_buttons["none"])
    wait_idle(app)
    assert not any(app.last_state.mix_mask)


# ---------------------------------------------------------------------------------------------- transform
def test_transform_typed_drag_speeds_and_untransform(make_app, tmp_path):
    from explorer.gui.panels.transform import DRAG_FAST, DRAG_SLOW, ROT_SLOW
    app = make_app(SG3T)
    wait_idle(app)
    t = app.panels["transform"]
    assert dpg.is_item_shown(t.controls)
    fire(t.widgets["tx"], 0.125)
    fire(t.widgets["ty"], -0.0625)
    fire(t.widgets["rotate"], 30.0)
    wait_idle(app)
    s = app.last_state
    assert (s.translate_x, s.translate_y, s.rotate) == (0.125, -0.0625, 30.0)
    assert_screen_is_engine(app, tmp_path)
    speed = lambda f: dpg.get_item_configuration(t.widgets[f])["speed"]     # stored as float32
    assert speed("tx") == pytest.approx(DRAG_FAST)
    fire(t.widgets["slow_drag"], True)
    assert speed("tx") == pytest.approx(DRAG_SLOW) and speed("rotate") == pytest.approx(ROT_SLOW)
    fire(t.widgets["untransform"], True)
    wait_idle(app)
    assert app.last_state.untransform
    assert_screen_is_engine(app, tmp_path)
    app.open_network(SG2)
    wait_idle(app)
    assert not dpg.is_item_shown(t.controls)


def test_transform_animations(make_app):
    app = make_app(SG3T)
    wait_idle(app)
    t = app.panels["transform"]
    fire(t.widgets["translate_radius"], 0.1)
    fire(t.widgets["translate_speed"], 0.5)
    fire(t.widgets["rotate_speed"], 20.0)
    phase0, rot0 = t.s.phase, t.s.rotate
    fire(t.widgets["animate_translate"], True)
    fire(t.widgets["animate_rotate"], True)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.5:
        app.step()
    elapsed = time.perf_counter() - t0
    assert math.hypot(t.s.tx, t.s.ty) == pytest.approx(0.1)               # on the circle
    assert (t.s.phase - phase0) % 1.0 == pytest.approx(0.5 * elapsed, abs=0.05)
    assert t.s.rotate - rot0 == pytest.approx(20.0 * elapsed, abs=2.0)
    app.toggle_animations()                                               # space stops them all
    assert not (t.s.animate_translate or t.s.animate_rotate)
    wait_idle(app)
    s = app.last_state
    assert (s.translate_x, s.translate_y, s.rotate) == pytest.approx((t.s.tx, t.s.ty, t.s.rotate))


# ---------------------------------------------------------------------------------------------- layer view
def test_layer_view_channels_gain_normalise_spectrum_on_screen(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    layers = app.panels["layers"]
    for key, panel in app.panels.items():          # only the layer view open: its pictures are on screen
        dpg.set_value(panel.header, key == "layers")
    fire(layers.widgets["open"], True)
    wait_idle(app)
    fire(layers.layer_list, next(lab for lab, n in layers.labels.items() if n == "b16.conv1"))
    assert "b16.conv1  [" in next(lab for lab, n in layers.labels.items() if n == "b16.conv1")   # with its shape
    fire(layers.widgets["base_channel"], 5)
    fire(layers.widgets["amp_db"], 12.0)
    fire(layers.widgets["normalize"], True)
    fire(layers.widgets["beta"], 4.0)
    fire(layers.widgets["db_range"], 30.0)
    fire(layers.widgets["spectrum_all"], False)
    wait_idle(app)
    s = app.last_state
    assert (s.layer, s.base_channel, s.amplify_db, s.normalize, s.fft_beta, s.fft_range_db, s.fft_all) == \
        ("b16.conv1", 5, 12.0, True, 4.0, 30.0, False)
    import networks
    from explorer.engine import render
    G = networks.load_network_pkl(SG2)["G_ema"].eval()
    ref = render(G, s)
    r = app.last_result
    np.testing.assert_array_equal(r.layer_image, ref.layer_image)
    np.testing.assert_array_equal(r.spectrum, ref.spectrum)
    assert (r.stats.selected.mean, r.stats.all.max) == pytest.approx((ref.stats.selected.mean, ref.stats.all.max))
    shot = screenshot(app, str(tmp_path / "layers.png"))
    np.testing.assert_array_equal(widget_pixels(shot, layers.image_widget, 16, 16), r.layer_image)
    np.testing.assert_array_equal(widget_pixels(shot, layers.spectrum_widget, 16, 16), r.spectrum)


# ---------------------------------------------------------------------------------------------- sticking
def test_sticking_translation_sweep_at_a_layer_and_a_stylegan2_beside(make_app):
    app = make_app(SG3T)
    wait_idle(app)
    layers, st = app.panels["layers"], app.panels["sticking"]
    fire(layers.widgets["open"], True)
    wait_idle(app)
    fire(layers.layer_list, next(lab for lab, n in layers.labels.items() if n == "L13_32_64"))
    wait_idle(app)
    fire(st.widgets["frames"], 3)
    fire(st.widgets["mode"], "translation sweep")
    fire(st.widgets["at_layer"], True)
    fire(st.widgets["second_pkl"], SG2)
    assert st.start()
    step_until(app, lambda: st.job is None, 120)
    import networks
    from explorer.engine.sticking import sticking_average
    G = networks.load_network_pkl(SG3T)["G_ema"].eval()
    np.testing.assert_array_equal(st.images[0], sticking_average(G, app.last_state, "translate", 3, "L13_32_64"))
    assert st.images[1] is None and "StyleGAN3" in st.notes[1]           # StyleGAN2 has no input translation
    assert dpg.is_item_shown(st.image_widgets[0]) and not dpg.is_item_shown(st.image_widgets[1])


def test_sticking_cancel_never_blocks_the_window(make_app):
    app = make_app(SG3T)
    wait_idle(app)
    st = app.panels["sticking"]
    fire(st.widgets["frames"], 500)
    assert st.start()
    for _ in range(3):
        app.step()
    t0 = time.perf_counter()
    click(st.cancel_button)
    assert time.perf_counter() - t0 < 0.1
    worst = 0.0
    while st.job is not None:
        t = time.perf_counter()
        app.step()
        worst = max(worst, time.perf_counter() - t)
        assert time.perf_counter() - t0 < 30
    assert dpg.get_value(st.status) == "cancelled" and worst < 0.5


# ---------------------------------------------------------------------------------------------- capture
@pytest.mark.parametrize("net", ["sg2", "sg3t"])
def test_copied_command_line_reproduces_the_pixels(make_app, tmp_path, net, capsys):
    import shlex
    from explorer.cli import main
    from PIL import Image
    app = make_app(SG2 if net == "sg2" else SG3T)
    wait_idle(app)
    fire(app.panels["latent"].seed_input, 5)
    fire(app.panels["truncation"].psi_slider, 0.5)
    tr = app.panels["truncation"]
    if net == "sg2":
        fire(tr.widgets["cutoff"], 3)
        fire(tr.widgets["noise_mode"], "random")
        fire(tr.widgets["noise_seed"], 7)
        fire(app.panels["mixing"].widgets["mix_seed"], 9)
        app.panels["mixing"].preset("coarse")                 # mixing travels as --mix-seed / --mix-ws
    else:
        t = app.panels["transform"]
        fire(t.widgets["tx"], 0.1234567)
        fire(t.widgets["ty"], -0.05)
        fire(t.widgets["rotate"], 17.25)        # class stays 0: the line must still name it
        fire(t.widgets["untransform"], True)
    wait_idle(app)
    assert any(app.last_state.mix_mask) if net == "sg2" else app.last_state.untransform
    cap = app.panels["capture"]
    line = cap.copy_command()
    assert dpg.get_value(cap.command_text) == line and dpg.get_value(cap.result_text) == "copied"
    argv = shlex.split(line)
    assert argv[:2] == ["sg-explorer", "images"]
    out = tmp_path / "out"
    argv[argv.index("--outdir") + 1] = str(out)
    assert main(argv[1:]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(np.asarray(Image.open(out / "seed0005.png")), app.last_result.image)
    fire(app.panels["latent"].widgets["x"], 5.5)
    wait_idle(app)
    cap.copy_command()
    assert "fractional seed-plane point" in dpg.get_value(cap.result_text)


def test_save_image_and_layer_view_png(make_app, tmp_path):
    from PIL import Image
    app = make_app(SG2)
    wait_idle(app)
    cap = app.panels["capture"]
    cap.s.folder = str(tmp_path / "caps")
    assert cap.capture("layer") is None                      # no layer view yet: a message, no file
    assert "no layer view" in dpg.get_value(app.error_text)
    fire(app.panels["layers"].widgets["open"], True)
    wait_idle(app)
    layer_png = cap.capture("layer")
    image_png = cap.capture("image")
    np.testing.assert_array_equal(np.asarray(Image.open(layer_png)), app.panels["layers"].last_view.layer_image)
    np.testing.assert_array_equal(np.asarray(Image.open(image_png)), app.last_result.image)
    assert sorted(os.listdir(tmp_path / "caps")) == sorted(os.path.basename(p) for p in (layer_png, image_png))
    umask = os.umask(0o022)
    os.umask(umask)
    assert os.stat(image_png).st_mode & 0o777 == 0o666 & ~umask      # an ordinary file, not mkstemp's 0600


# ---------------------------------------------------------------------------------------------- performance
def test_performance_panel(make_app, tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    app = make_app(SG2)
    wait_idle(app)
    perf = app.panels["performance"]
    for _ in range(20):
        app.step()
    assert f"render: {app.last_result.render_ms:.1f} ms" in dpg.get_value(perf.render_text)
    assert dpg.get_value(perf.fps_text).startswith("UI: ")
    fire(perf.widgets["fps_cap"], 20)
    t0 = time.perf_counter()
    for _ in range(10):
        app.step()
    assert time.perf_counter() - t0 >= 0.45                   # 10 frames at 20 fps
    fire(perf.widgets["fps_cap"], 0)
    fire(perf.widgets["force_fp32"], True)
    wait_idle(app)
    assert app.last_state.force_fp32
    image = app.last_result.image.copy()
    fire(perf.widgets["device"], "cuda")
    wait_idle(app)
    assert "CUDA is not available" in dpg.get_value(app.error_text)
    assert app.last_result.state.device == "cpu"               # the last good image stays on screen
    np.testing.assert_array_equal(shown(app, tmp_path), image)
    fire(perf.widgets["device"], "cpu")
    wait_idle(app)
    assert dpg.get_value(app.error_text) == "" and app.last_result.state.device == "cpu"
    assert not dpg.is_item_shown(app.video.window)
    click(perf.video_button)
    app.step()
    assert dpg.is_item_shown(app.video.window)


def test_status_bar_names_device_ops_and_precision(make_app):
    from explorer.engine import RenderResult
    app = make_app(SG2)
    wait_idle(app)
    text = dpg.get_value(app.status_text)
    assert app.last_result.ops == "fast"
    for part in ("device cpu", "ops: fast", "precision: float32", "stylegan2 32px"):
        assert part in text
    other = app.status_line(RenderResult(ops="ref", state=app.last_state.replace(device="cuda")))
    assert "ops: ref" in other and "device cuda" in other and "float16" in other


def test_fonts_ship_with_the_app(make_app):
    from explorer.gui import theme
    app = make_app()
    assert app.font is not None and dpg.does_item_exist(app.font)
    package = Path(__import__("explorer").__file__).resolve().parent
    assert theme.FONT_FILE.is_file() and package in theme.FONT_FILE.resolve().parents
    assert (theme.FONT_DIR / "LICENSE-DejaVu.txt").is_file()


# ---------------------------------------------------------------------------------------------- keyboard, mouse
def test_keys_step_the_seed_except_while_typing(make_app):
    app = make_app(SG2)
    wait_idle(app)
    latent = app.panels["latent"]
    try:
        pointer_to(app, app.view.drawlist)
        for key in ("Right", "Right", "Up", "Left"):
            xdo("key", key)
            for _ in range(3):
                app.step()
        assert (latent.s.x, latent.s.y) == (1.0, 1.0)
        xdo("key", "space")
        for _ in range(3):
            app.step()
        assert latent.s.animate
        xdo("key", "space")
        for _ in range(3):
            app.step()
        assert not latent.s.animate
        latent.set(x=1.0)                        # the animation ran between the two presses
        pointer_to(app, latent.seed_input, 0.2)
        xdo("click", 1)
        for _ in range(3):
            app.step()
        xdo("key", "Right")
        for _ in range(3):
            app.step()
        assert latent.s.x == 1.0                 # the arrow moved the caret in the field, not the seed
    finally:
        park_pointer(app)
    wait_idle(app)
    assert (app.last_state.x, app.last_state.y) == (1.0, 1.0)


def test_wheel_zooms_and_drag_pans_with_exact_pixels(make_app, tmp_path):
    from explorer.gui.viewer import image_rect
    app = make_app(SG2)
    wait_idle(app)
    view = app.view
    try:
        x, y = pointer_to(app, view.drawlist)
        fit = int(min(view.width, view.height) // 32)
        xdo("click", 4)                           # wheel up: from fit to the next zoom level above it
        for _ in range(3):
            app.step()
        from explorer.gui.viewmodes import ZOOM_LEVELS
        assert view.s.zoom == min(k for k in ZOOM_LEVELS if k > fit)
        xdo("mousedown", 1)
        for k in range(1, 5):
            xdo("mousemove", x + 10 * k, y + 5 * k)
            app.step()
            app.step()
        xdo("mouseup", 1)
        for _ in range(3):
            app.step()
    finally:
        park_pointer(app)
    k = view.s.zoom
    assert (view.s.pan_x, view.s.pan_y) == pytest.approx((40 / k, 20 / k))
    shot = screenshot(app, str(tmp_path / "pan.png"))
    ox, oy = dpg.get_item_rect_min(view.drawlist)
    x0, y0, _, _ = image_rect(view.width, view.height, 32, 32, view.s)
    assert (x0, y0) == (round((view.width - 32 * k) / 2 + 40), round((view.height - 32 * k) / 2 + 20))
    # Image pixels 8..23 lie inside the view at this zoom: each must be an exact k x k block.
    top, left = int(oy + y0 + 8 * k), int(ox + x0 + 8 * k)
    block = shot[top: top + 16 * k, left: left + 16 * k]
    np.testing.assert_array_equal(block, np.repeat(np.repeat(app.last_result.image[8:24, 8:24], k, 0), k, 1))


# ---------------------------------------------------------------------------------------------- session, training
def test_session_panel_saves_and_loads_json(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    fire(app.panels["latent"].seed_input, 12)
    fire(app.panels["truncation"].psi_slider, 0.6)
    fire(app.panels["layers"].widgets["open"], True)
    dpg.set_value(app.panels["mixing"].header, True)
    app.view.set_zoom(2)
    wait_idle(app)
    saved_state = app.last_state
    sess = app.panels["session"]
    path = tmp_path / "mine.json"
    sess.file_dialog.choose(str(path))          # a new name: the session dialog saves to files that need not exist
    assert dpg.get_value(sess.widgets["path"]) == str(path)
    assert sess.save_file(sess.s.path) and dpg.get_value(sess.status) == f"saved {path}"
    data = json.loads(path.read_text())
    assert data["panels"]["network"]["path"] == SG2 and "mixing" in data["layout"]["open_panels"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]          # written atomically
    fire(app.panels["latent"].seed_input, 1)
    fire(app.panels["layers"].widgets["open"], False)
    app.view.set_zoom(0)
    dpg.set_value(app.panels["mixing"].header, False)
    wait_idle(app)
    assert sess.load_file(str(path))
    wait_idle(app)
    assert app.last_state == saved_state and app.view.s.zoom == 2 and dpg.get_value(app.panels["mixing"].header)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert not sess.load_file(str(bad))
    assert "not valid JSON" in dpg.get_value(sess.status) and "\n" not in dpg.get_value(sess.status)
    assert app.last_state == saved_state
    # Wrong types in a hand-edited file are ignored field by field; the window keeps rendering.
    data["panels"]["latent"].update(x="far", y=None, animate="yes")
    data["panels"]["mixing"]["ws"] = ["a", -1, 2]
    data["panels"]["truncation"]["psi"] = float("nan")
    data["layout"] = {"open_panels": "all", "view": {"zoom": "max"}, "viewport": ["wide"]}
    path.write_text(json.dumps(data))
    assert sess.load_file(str(path))
    wait_idle(app)
    s = app.last_state
    assert app.last_result.ok and (s.x, s.trunc_psi) == (saved_state.x, saved_state.trunc_psi)
    assert [i for i, v in enumerate(s.mix_mask) if v] == [2]


def test_training_run_takes_the_highest_snapshot_number(make_app, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(SG3T, run / "network-snapshot-000080.pkl")
    shutil.copy(SG2, run / "network-snapshot-000040.pkl")      # copied last: newer mtime, lower number
    (run / "network-snapshot-000999.pkl.tmp").write_bytes(b"half written")
    app = make_app()
    app.panels["network"].open(str(run))                        # a folder typed into the network panel
    wait_idle(app)
    assert app.panels["training"].s.run_dir == str(run)
    assert app.info.path == str(run / "network-snapshot-000080.pkl")
    (run / "network-snapshot-000120.pkl").write_bytes(b"not a pickle")
    step_until(app, lambda: app.panels["network"].error.startswith("could not load"), 60)
    assert app.info is None and app.main.shown is None     # a broken snapshot: the one failed-load rule


# ---------------------------------------------------------------------------------------------- textures
@pytest.mark.parametrize("kind", ["gl", "raw"])
def test_both_texture_paths_show_exact_pixels(make_app, tmp_path, monkeypatch, kind):
    """The OpenGL fast path (found its texture, no fallback) and the raw-texture fallback both show the
    image exactly, at fit and at a whole zoom, after several new images."""
    from explorer.gui.gltexture import GLTexture
    from explorer.gui.texture import RawTexture
    if kind == "raw":
        monkeypatch.setenv("SG_EXPLORER_TEXTURE", "raw")
    app = make_app(SG2)
    wait_idle(app)
    for seed in (4, 9):
        fire(app.panels["latent"].seed_input, seed)
        wait_idle(app)
        assert_screen_is_engine(app, tmp_path)
    tex = app.view.texture
    if kind == "raw":
        assert isinstance(tex, RawTexture)
    else:
        assert isinstance(tex, GLTexture) and tex.gl_name is not None and not tex.fallback
    app.view.set_zoom(5)
    shot = screenshot(app, str(tmp_path / "zoom.png"))
    from explorer.gui.viewer import image_rect
    ox, oy = dpg.get_item_rect_min(app.view.drawlist)
    x0, y0, _, _ = image_rect(app.view.width, app.view.height, 32, 32, app.view.s)
    block = shot[int(oy + y0): int(oy + y0) + 160, int(ox + x0): int(ox + x0) + 160]
    np.testing.assert_array_equal(block, np.repeat(np.repeat(app.last_result.image, 5, 0), 5, 1))
