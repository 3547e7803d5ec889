"""The main view (issue 11) in a real window under Xvfb: each mode shows what the engine returns for it, the pixel
readout, zoom / fit, the A/B divider, captures; the state-trust rules; the smaller window defects.

References: the engine's render on a fresh copy of the network (gui_harness), numpy's FFT of the layer's
activations for the spectrum's dB, the fftshift bin formula for cycles/px. Pixels read back from the window
may differ by one uint8 level.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gui_harness import (SG2, SG3T, click, fire, have_xdotool, image_on_screen, make_app,  # noqa: E402,F401
                         park_pointer, screenshot, step_until, wait_idle, xdo, xvfb_display)

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]

_nets: dict = {}


def engine(path: str, state):
    """The engine's RenderResult for `state` on a fresh copy of the network (not the window's cache)."""
    import networks
    from explorer.engine import render
    if path not in _nets:
        _nets[path] = networks.load_network_pkl(path)["G_ema"].eval()
    return render(_nets[path], state)


def near(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def numpy_spectrum_db(x: np.ndarray, beta: float) -> np.ndarray:
    """Independent reference: mean power spectrum over channels, dB, fftshifted, of mean-free Kaiser-windowed maps."""
    x = x.astype(np.float64) - x.mean(axis=(1, 2), keepdims=True)
    x = x * np.outer(np.kaiser(x.shape[1], beta), np.kaiser(x.shape[2], beta))
    power = (np.abs(np.fft.fft2(x)) ** 2).mean(axis=0)
    return 10 * np.log10(np.maximum(np.fft.fftshift(power), 1e-20))


def pointer_on_pixel(app, ix: int, iy: int) -> None:
    import dearpygui.dearpygui as dpg
    view = app.view
    vx, vy = dpg.get_viewport_pos()
    ox, oy = dpg.get_item_rect_min(view.drawlist)
    x0, y0, x1, _ = view.screen_rect()
    scale = (x1 - x0) / view.image_size[0]
    xdo("mousemove", int(vx + ox + x0 + (ix + 0.5) * scale), int(vy + oy + y0 + (iy + 0.5) * scale))
    for _ in range(3):
        app.step()


def test_modes_show_the_engines_pictures_and_the_readout_reports_them(make_app, tmp_path):
    import dearpygui.dearpygui as dpg
    app = make_app(SG2)
    wait_idle(app)
    main, layers = app.main, app.panels["layers"]
    main.set_mode("layer")                       # opens (hooks) the layer view by itself
    wait_idle(app)
    assert layers.s.open
    name = next(n for n, s in layers.shapes.items() if n != "output" and s[2] == 32 and s[1] > 3)
    fire(layers.layer_list, next(lab for lab, n in layers.labels.items() if n == name))
    wait_idle(app)
    ref = engine(SG2, app.last_state)
    near(image_on_screen(app, screenshot(app, str(tmp_path / "layer.png"))), ref.layer_image)
    assert main.caption.startswith(f"layer {name}")
    try:
        pointer_on_pixel(app, 5, 9)
        vals = ", ".join(f"{v:+.4f}" for v in ref.layer_values[:, 9, 5])
        assert dpg.get_value(main.readout_text) == f"(5, 9)  activation {vals}"

        main.set_mode("spectrum")
        for _ in range(3):
            app.step()
        near(image_on_screen(app, screenshot(app, str(tmp_path / "spec.png"))), ref.spectrum)
        acts = engine_activations(app.last_state, name)
        db = numpy_spectrum_db(acts, app.last_state.fft_beta)
        assert app.view.spectrum_db[0] == pytest.approx(db.max(), abs=1e-3)     # the colour bar's top label
        pointer_on_pixel(app, 24, 4)
        fx, fy = (24 - 16) / 32, (4 - 16) / 32                               # fftshift: bin k is (k - N/2) / N
        text = dpg.get_value(main.readout_text)
        assert text.startswith(f"(24, 4)  fx {fx:+.4f} fy {fy:+.4f} cycles/px")
        assert float(text.split()[-2]) == pytest.approx(db[4, 24], abs=0.02)

        main.set_mode("output")
        for _ in range(3):
            app.step()
        near(image_on_screen(app, screenshot(app, str(tmp_path / "out.png"))), ref.image)
        pointer_on_pixel(app, 30, 1)
        r, g, b = ref.image[1, 30]
        assert dpg.get_value(main.readout_text) == f"(30, 1)  RGB {r} {g} {b}"
    finally:
        park_pointer(app)


def engine_activations(state, name: str) -> np.ndarray:
    """The layer's activations [C, H, W] of `state`, hooked on the fresh network."""
    from explorer.engine import layers as L
    from explorer.engine.renderer import compute_ws, synthesize
    G = _nets[SG2]
    import torch
    with torch.no_grad(), L.capture(G, [name]) as acts:
        synthesize(G, compute_ws(G, state), None, state.noise_mode, state.noise_seed, state.force_fp32)
    return acts[name][0].float().numpy()


def test_zoom_steps_scale_with_the_image_and_fit_button_and_key(make_app):
    import dearpygui.dearpygui as dpg
    app = make_app(SG2)
    wait_idle(app)
    view = app.view
    fit = int(min(view.width, view.height) // 32)
    assert fit >= 8
    view.zoom_step(+1)
    assert view.s.zoom > fit and view.s.zoom <= 1.5 * fit + 1              # one multiplicative notch
    view.set_zoom(1)
    notches = 0
    while view.s.zoom != 0:
        view.zoom_step(+1)
        notches += 1
        assert notches < 12
    assert notches <= 9                                                      # 1x -> fit: not `fit` notches
    view.set_zoom(4)
    view.drag(30, 0)
    click(app.main.fit_button)
    assert (view.s.zoom, view.s.pan_x) == (0, 0.0)
    view.set_zoom(4)
    assert app.controls.on_key(dpg.mvKey_F) and view.s.zoom == 0


def test_ab_split_of_two_networks_and_a_kept_state_with_a_draggable_divider(make_app, tmp_path):
    app = make_app(SG2)
    wait_idle(app)
    main = app.main
    main.set_mode("a/b")
    assert main.caption.startswith("A/B: no B yet")
    main.set_b_checkpoint(SG3T)
    step_until(app, lambda: main.caption.startswith("A/B: A ="))
    a, b = engine(SG2, app.last_state).image, engine(SG3T, main.b_result.state).image
    expected = np.concatenate([a[:, :16], b[:, 16:]], axis=1)                 # divider at 0.5 of 32 columns
    shot = image_on_screen(app, screenshot(app, str(tmp_path / "ab.png")))
    near(shot, expected)
    assert np.abs(a.astype(int) - b).mean() > 5                               # two different pictures
    if have_xdotool():
        import dearpygui.dearpygui as dpg
        view = app.view
        vx, vy = dpg.get_viewport_pos()
        ox, oy = dpg.get_item_rect_min(view.drawlist)
        x0, y0, x1, y1 = view.screen_rect()
        scale = (x1 - x0) / 32
        px, py = int(vx + ox + view.divider_x()), int(vy + oy + (y0 + y1) / 2)
        try:
            xdo("mousemove", px, py)
            for _ in range(3):
                app.step()
            xdo("mousedown", 1)
            for k in range(1, 5):
                xdo("mousemove", px + int(2 * scale) * k, py)
                app.step()
                app.step()
            xdo("mouseup", 1)
            for _ in range(3):
                app.step()
        finally:
            park_pointer(app)
        assert main.s.divider == pytest.approx(0.75, abs=0.02) and app.view.s.pan_x == 0   # moved, not panned
        shot = image_on_screen(app, screenshot(app, str(tmp_path / "ab2.png")))
        near(shot, np.concatenate([a[:, :24], b[:, 24:]], axis=1))
    # B = this state: B keeps seed 0 while A moves on to seed 4.
    main.keep_b()
    fire(app.panels["latent"].seed_input, 4)
    wait_idle(app)
    step_until(app, lambda: main.caption.startswith("A/B: A = seed 4"))
    cut = int(round(main.s.divider * 32))
    a4 = engine(SG2, app.last_state).image
    near(image_on_screen(app, screenshot(app, str(tmp_path / "ab3.png"))),
         np.concatenate([a4[:, :cut], a[:, cut:]], axis=1))


def test_captures_save_what_the_view_shows_at_native_size(make_app, tmp_path):
    from PIL import Image
    app = make_app(SG2)
    wait_idle(app)
    app.panels["capture"].s.folder = str(tmp_path / "caps")
    fire(app.panels["latent"].seed_input, 7)
    wait_idle(app)
    first = app.main.capture()
    assert os.path.basename(first) == "seed0007.png"                          # as `images --seeds 7` names it
    assert os.path.basename(app.main.capture()) == "seed0007-1.png"           # never overwritten
    np.testing.assert_array_equal(np.asarray(Image.open(first)), engine(SG2, app.last_state).image)
    app.main.set_mode("spectrum")
    wait_idle(app)
    path = app.main.capture()
    layer = app.last_state.layer.replace(":", "_")
    assert os.path.basename(path) == f"seed0007-{layer}-spectrum.png"
    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), engine(SG2, app.last_state).spectrum)


# ---------------------------------------------------------------------------------------------- state you can trust
def _session_naming(tmp_path, network: str, run_dir: str = "") -> dict:
    return {"format": "sg-explorer-session", "version": 1, "layout": {},
            "panels": {"network": {"path": network}, "training": {"run_dir": run_dir, "follow": True},
                       "latent": {"x": 5.0}}}


def test_explicit_checkpoint_wins_over_the_restored_run(make_app, tmp_path):
    from explorer.gui.userconfig import config_dir, write_json
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(SG2, run / "network-snapshot-000000.pkl")
    os.makedirs(config_dir(), exist_ok=True)
    write_json(config_dir() / "last-session.json", _session_naming(tmp_path, str(run / "network-snapshot-000000.pkl"),
                                                                   str(run)))
    app = make_app(SG3T, restore_last_session=True)
    t_end = time.monotonic() + 2.5                                            # the run is polled once a second
    while time.monotonic() < t_end:
        app.step()
    wait_idle(app)
    assert app.panels["network"].s.path == SG3T and app.info.path == SG3T
    assert app.panels["training"].s.run_dir == "" and app.panels["latent"].s.x == 5.0   # other settings kept
    # A restored companion says which folder it follows; a network from elsewhere stops it.
    app.panels["training"].open_run(str(run))
    wait_idle(app)
    import dearpygui.dearpygui as dpg
    assert dpg.get_value(app.panels["training"].following_text) == f"following {run}"
    app.open_network(SG3T)
    assert app.panels["training"].s.run_dir == ""
    assert dpg.get_value(app.error_text).startswith(f"stopped following {run}")


def test_paths_are_stored_absolute_and_old_relative_ones_resolved_or_dropped(make_app, tmp_path, monkeypatch):
    import json
    from explorer.gui.userconfig import config_dir, load_recent, write_json
    folder = tmp_path / "sessions"
    folder.mkdir()
    shutil.copy(SG2, folder / "net.pkl")
    monkeypatch.chdir(Path(SG2).parent.parent)
    app = make_app("sg2-32/network.pkl")                                       # relative on the command line
    wait_idle(app)
    app.save_session(str(tmp_path / "s.json"))
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["panels"]["network"]["path"] == SG2 and os.path.isabs(saved["panels"]["capture"]["folder"])
    assert load_recent()[0] == SG2
    write_json(config_dir() / "recent.json", {"recent": ["old/relative.pkl", SG3T]})
    assert load_recent() == [SG3T]
    app.close()
    # An older session with relative paths: resolved against its own folder, from wherever the window starts.
    old = _session_naming(tmp_path, "net.pkl", "gone-run")
    write_json(folder / "old.json", old)
    monkeypatch.chdir(tmp_path)
    app2 = make_app(session=str(folder / "old.json"))
    wait_idle(app2)
    assert app2.panels["network"].s.path == str(folder / "net.pkl") and app2.info is not None
    import dearpygui.dearpygui as dpg
    assert "dropped relative path 'gone-run'" in dpg.get_value(app2.error_text) or app2.panels["training"].s.run_dir == ""


@pytest.mark.parametrize("bad", ["nope.pkl", "fake.pkl"])
def test_a_failed_load_at_start_shows_the_error_and_no_network(make_app, tmp_path, bad):
    from explorer.gui.userconfig import config_dir, write_json
    os.makedirs(config_dir(), exist_ok=True)
    write_json(config_dir() / "last-session.json", _session_naming(tmp_path, SG2))     # a recent network exists
    path = tmp_path / bad
    if bad == "fake.pkl":
        path.write_bytes(b"not a pickle at all")
    app = make_app(str(path), restore_last_session=True)
    t_end = time.monotonic() + 1.0
    while time.monotonic() < t_end:
        app.step()
    wait_idle(app)
    net = app.panels["network"]
    assert net.error.startswith(f"{path}: no such file" if bad == "nope.pkl" else f"could not load {path}")
    assert net.s.path == "" and app.info is None and app.last_state is None and app.main.shown is None
    assert app.main.caption == f"nothing shown: {net.error}"
    import dearpygui.dearpygui as dpg
    assert dpg.get_value(app.error_text) == net.error


# ---------------------------------------------------------------------------------------------- smaller defects
def test_sticking_progress_reaches_the_end_when_the_second_network_cannot_sweep(make_app, tmp_path):
    import dearpygui.dearpygui as dpg
    app = make_app(SG3T)
    wait_idle(app)
    st = app.panels["sticking"]
    st.set(frames=2, mode="translation sweep", second_pkl=SG2)               # StyleGAN2: no translation input
    assert st.start()
    step_until(app, lambda: st.job is None, 120)
    assert st.images[0] is not None and st.images[1] is None and st.notes[1]
    assert dpg.get_value(st.progress) == 1.0
    app.main.set_mode("sticking")
    for _ in range(3):
        app.step()
    assert app.main.caption == "sticking average: current network"
    near(image_on_screen(app, screenshot(app, str(tmp_path / "sticking.png"))), st.images[0])


def test_labels_are_not_clipped(make_app):
    import dearpygui.dearpygui as dpg
    from explorer.gui.app import LEFT_WIDTH
    from explorer.gui.panels.latent import CHAR_W
    app = make_app(SG3T)
    wait_idle(app)
    latent = app.panels["latent"]
    latent.set(x=143.0, y=4e6)                                                # 10-digit corner seeds
    for _ in range(3):
        app.step()
    width = dpg.get_item_width(latent.pad)
    for item in latent._pad_items[0]:
        cfg = dpg.get_item_configuration(item)
        assert cfg["pos"][0] >= 0 and cfg["pos"][0] + len(cfg["text"]) * CHAR_W <= width, cfg["text"]
    info = app.panels["network"].info_text
    assert dpg.get_item_rect_size(info)[0] <= LEFT_WIDTH                     # wrapped, not cut at the edge
    assert "num_ws" in dpg.get_value(info)


def test_video_dialog_size_keyframe_recall_and_placement(make_app, tmp_path):
    import dearpygui.dearpygui as dpg
    from PIL import Image
    from explorer.gui.app import LEFT_WIDTH
    app = make_app(SG2)
    wait_idle(app)
    video, latent = app.video, app.panels["latent"]
    video.open()
    assert dpg.get_item_pos(video.window)[0] >= LEFT_WIDTH                    # beside the controls, not over them
    fire(latent.seed_input, 3)
    wait_idle(app)
    video.add_current()
    fire(latent.seed_input, 5)
    wait_idle(app)
    video.add_current()
    video.select(0)
    wait_idle(app)
    assert latent.s.x == 3.0
    dpg.configure_item(video.window, show=False)                              # it lies over the image
    near(image_on_screen(app, screenshot(app, str(tmp_path / "k.png"))), engine(SG2, app.last_state).image)
    fire(video.frames_input, 0)
    fire(video.width_input, 48)
    fire(video.height_input, 40)
    out = tmp_path / "frames"
    fire(video.path_input, str(out) + "/")
    assert video.export()
    step_until(app, lambda: video.job is None, 120)
    pngs = sorted(out.glob("*.png"))
    assert pngs and Image.open(pngs[0]).size == (48, 40)

