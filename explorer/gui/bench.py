"""`sg-explorer bench --gui`: the explorer window's own figures, measured in a real window.

- UI frames per second while the render worker renders without pause (the latent animation changes the
  state every frame, so a new request is always waiting);
- latency from a changed slider to the new image on screen, as render time + what the UI adds (goal: at most
  two UI frames);
- latency from a drag on the seed pad to the new image on screen (the seed-plane point moves 1/10 seed);
- the time to put a new 1024 x 1024 image into the texture the window uses (for the OpenGL path: the
  glTexSubImage2D upload itself; for the raw-texture fallback: the float conversion, since Dear PyGui then
  uploads it inside every frame), and one frame showing it.
The main view can show the output, the layer view or its spectrum (view='spectrum': the largest layer's power
spectrum, computed with every render). Starts its own Xvfb when DISPLAY is unset.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

import numpy as np


@dataclass
class GuiBenchResult:
    network: str
    ui_fps_while_rendering: float      # UI frames per second with the worker busy all the time
    ui_cpu_ms_per_frame: float         # CPU time of a frame, all threads but the render worker's
    renders_per_s: float               # renders the worker finished per second meanwhile
    latency_ms: float                  # slider change -> new image drawn, median
    latency_render_ms: float           # of which the render itself, median
    latency_frames: float              # UI frames from the change to the image on screen, median
    latency_overhead_ms: float         # latency minus render time, median (goal: <= 2 UI frames)
    latency_overhead_frames: float     # the same in UI frames of that moment (latency / frames it took), median
    drag_latency_ms: float             # seed-pad drag -> new image drawn, median
    drag_render_ms: float              # of which the render itself, median
    view: str                          # main view mode during the measurements
    view_size: str                     # size of the picture the main view showed, 'WxH'
    ui_frame_ms: float                 # one UI frame while idle, median
    upload_1024_ms: float              # a new 1024 x 1024 image into the texture on the UI thread, median
    upload_rgb_1024_ms: float          # the same from unpacked RGB (what the UI thread would pay unpacked)
    pack_1024_ms: float                # RGB -> RGBA packing, done on the render thread
    frame_1024_ms: float               # one UI frame showing a 1024 x 1024 texture, median
    texture_path: str                  # 'opengl' (static texture rewritten on change) | 'raw' (re-uploaded per frame)


def _bench_network(resolution: int):
    """A StyleGAN2 generator with random weights (the figures depend on its size, not on its weights)."""
    import torch
    import networks
    from networks.config import StyleGAN2Config
    torch.manual_seed(0)
    G = networks.build_generator(StyleGAN2Config(z_dim=512, w_dim=512, img_resolution=resolution,
                                                 channel_base=8192, channel_max=256, num_fp16_res=0))
    return {"G_ema": G.eval()}


def bench_gui(checkpoint: str | None = None, seconds: float = 5.0, resolution: int = 256,
              fps_cap: int = 0, printer=print, view: str = "output") -> GuiBenchResult:
    """Runs the measurements and prints them; checkpoint None = a random StyleGAN2 of `resolution` px; view: the
    main view's mode ('output' | 'layer' | 'spectrum': the network's largest layer)."""
    server = None
    if not os.environ.get("DISPLAY"):
        from explorer.gui.xvfb import start_xvfb
        server = start_xvfb()
        os.environ["DISPLAY"] = server.display
    import tempfile
    saved_config = os.environ.get("SG_EXPLORER_CONFIG_DIR")
    os.environ["SG_EXPLORER_CONFIG_DIR"] = tempfile.mkdtemp(prefix="sg-explorer-bench-")   # not the user's session
    from explorer.gui.app import App, AppOptions
    from explorer.gui.gltexture import pack_rgba
    from explorer.gui.texture import make_texture
    import dearpygui.dearpygui as dpg

    path = checkpoint or f"<random StyleGAN2 {resolution}px>"
    loader = None if checkpoint else (lambda _p: _bench_network(resolution))
    app = App(AppOptions(checkpoints=[path] if checkpoint else [], restore_last_session=False,
                         save_session_on_close=False, fps_cap=fps_cap, loader=loader, keep_context=True))
    try:
        app.start()
        display_name = os.environ.get("DISPLAY")
        if not checkpoint:
            net = app.panels["network"]
            net.requested = path       # a made-up name: the bench loader ignores it
            app.request_render()
        _settle(app)
        if app.last_result is None:
            raise RuntimeError(app.panels["network"].error or "the network did not render")
        if view != "output":
            _show_largest_layer(app, view)

        def wait_for(pred) -> None:
            deadline = time.monotonic() + 120
            while not pred():
                app.step()
                if time.monotonic() > deadline:
                    raise TimeoutError("the explorer did not render the change")

        # 1. UI frame rate while the worker renders continuously.
        latent = app.panels["latent"]
        latent.set(animate=True, speed=0.5)
        done0, frames0, t0 = app.worker.renders_done, app.frames, time.perf_counter()
        cpu0, worker0 = time.process_time(), app.worker.cpu_seconds()
        while time.perf_counter() - t0 < seconds:
            app.step()
        span = time.perf_counter() - t0
        ui_fps = (app.frames - frames0) / span
        # The window's own CPU per frame (UI thread + the GL driver's threads): what decides its frame rate
        # on a machine with a core to spare, whatever else runs.
        ui_cpu_ms = ((time.process_time() - cpu0) - (app.worker.cpu_seconds() - worker0)) * 1e3 / (app.frames - frames0)
        renders = (app.worker.renders_done - done0) / span
        latent.set(animate=False)
        _settle(app)

        # 2. Slider -> image on screen.
        idle = []
        for _ in range(30):
            t = time.perf_counter()
            app.step()
            idle.append((time.perf_counter() - t) * 1e3)
        psi = app.panels["truncation"]
        lat, lat_render, lat_frames = [], [], []
        for k in range(7):
            _settle(app)
            value = 0.3 + 0.1 * k
            t_change = time.perf_counter()
            frames_start = app.frames
            dpg.set_value(psi.psi_slider, value)
            dpg.get_item_callback(psi.psi_slider)(psi.psi_slider, value, "psi")
            # The step that takes the result from the worker also draws it (poll, texture write, render).
            while not (app.last_result is not None and app.last_result.state.trunc_psi == value):
                app.step()
            lat.append((time.perf_counter() - t_change) * 1e3)
            lat_render.append(app.last_result.render_ms)
            lat_frames.append(app.frames - frames_start)

        # 2b. Seed-pad drag -> image on screen (one drag event of a tenth of the pad).
        from explorer.gui.panels.latent import PAD
        drag, drag_render = [], []
        for _ in range(5):
            _settle(app)
            t_change = time.perf_counter()
            latent.drag_pad(PAD / 10, 0)
            x = latent.s.x
            wait_for(lambda: app.last_result is not None and app.last_result.state.x == x)
            drag.append((time.perf_counter() - t_change) * 1e3)
            drag_render.append(app.last_result.render_ms)
        shown = app.main.shown
        view_size = f"{shown.shape[1]}x{shown.shape[0]}" if shown is not None else "?"

        # 3. Texture upload for a 1024 x 1024 image, and a frame that shows one.
        bigs = [np.random.RandomState(i).randint(0, 256, (1024, 1024, 3), dtype=np.uint8) for i in range(2)]
        packs, pack_times = [], []
        for k in range(10):                    # done on the render thread in the window (App's post hook)
            t = time.perf_counter()
            packed = pack_rgba(bigs[k % 2])
            pack_times.append((time.perf_counter() - t) * 1e3)
            packs.append(packed)
        pack_ms = statistics.median(pack_times)
        tex = make_texture(app.texture_registry, 1024, 1024)
        for _ in range(3):                     # an OpenGL texture is found after its first frame
            dpg.render_dearpygui_frame()
            tex.after_frame()
        path_name = "opengl" if getattr(tex, "gl_name", None) is not None else "raw"
        uploads, uploads_rgb = [], []
        for k in range(30):
            t = time.perf_counter()
            tex.show(packs[k % 2] if path_name == "opengl" else bigs[k % 2])
            uploads.append((time.perf_counter() - t) * 1e3)
        for k in range(10):
            t = time.perf_counter()
            tex.show(bigs[k % 2])
            uploads_rgb.append((time.perf_counter() - t) * 1e3)
        tex.close()
        big = bigs[0]
        app.view.show(big)
        frame_ms = []
        for _ in range(30):
            t = time.perf_counter()
            dpg.render_dearpygui_frame()
            frame_ms.append((time.perf_counter() - t) * 1e3)
        res = GuiBenchResult(network=path if checkpoint else f"random StyleGAN2 {resolution}px",
                             ui_fps_while_rendering=ui_fps, renders_per_s=renders, ui_cpu_ms_per_frame=ui_cpu_ms,
                             latency_ms=statistics.median(lat), latency_render_ms=statistics.median(lat_render),
                             latency_frames=statistics.median(lat_frames),
                             drag_latency_ms=statistics.median(drag), drag_render_ms=statistics.median(drag_render),
                             view=view, view_size=view_size,
                             latency_overhead_ms=statistics.median(a - b for a, b in zip(lat, lat_render)),
                             latency_overhead_frames=statistics.median((a - b) / (a / n)
                                                                       for a, b, n in zip(lat, lat_render, lat_frames)),
                             ui_frame_ms=statistics.median(idle),
                             upload_1024_ms=statistics.median(uploads), frame_1024_ms=statistics.median(frame_ms),
                             upload_rgb_1024_ms=statistics.median(uploads_rgb), pack_1024_ms=pack_ms,
                             texture_path=path_name)
    finally:
        app.close()
        if saved_config is None:
            os.environ.pop("SG_EXPLORER_CONFIG_DIR", None)
        else:
            os.environ["SG_EXPLORER_CONFIG_DIR"] = saved_config
        if server is not None:
            server.stop()
            os.environ.pop("DISPLAY", None)
    printer(f"gui bench ({res.network}, main view: {res.view} {res.view_size}, {os.cpu_count()} cores, "
            f"display {display_name})")
    printer(f"  UI while rendering continuously : {res.ui_fps_while_rendering:.1f} fps "
            f"(worker {res.renders_per_s:.1f} renders/s; a frame costs {res.ui_cpu_ms_per_frame:.1f} ms CPU, "
            f"{1e3 / max(res.ui_cpu_ms_per_frame, 1e-3):.0f} fps on a free core; load {_load()})")
    printer(f"  slider -> new image on screen   : {res.latency_ms:.0f} ms median = render "
            f"{res.latency_render_ms:.0f} ms + {res.latency_overhead_ms:.0f} ms = "
            f"{res.latency_overhead_frames:.1f} UI frames ({res.latency_frames:.0f} frames in all; an idle frame "
            f"{res.ui_frame_ms:.1f} ms)")
    printer(f"  seed-pad drag -> new image      : {res.drag_latency_ms:.0f} ms median = render "
            f"{res.drag_render_ms:.0f} ms + {res.drag_latency_ms - res.drag_render_ms:.0f} ms")
    printer(f"  1024x1024 texture upload        : {res.upload_1024_ms:.2f} ms median on the UI thread "
            f"({res.texture_path} texture; packing to RGBA {res.pack_1024_ms:.1f} ms on the render thread, "
            f"unpacked RGB upload {res.upload_rgb_1024_ms:.2f} ms); frame showing it {res.frame_1024_ms:.1f} ms")
    return res


def _show_largest_layer(app, view: str) -> None:
    """Puts the main view in `view` mode on the network's largest-resolution synthesis layer."""
    layers = app.panels["layers"]
    app.main.set_mode(view)
    _settle(app)
    big = max((n for n in layers.shapes if n != "output"), key=lambda n: (layers.shapes[n][2], -layers.shapes[n][1]),
              default="output")
    layers.s.layer = big
    app.request_render()
    _settle(app)


def _load() -> str:
    """The 1-minute load average: other processes on a shared machine set the frame rate too."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def _settle(app, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.step()
        if (not app._dirty and app.worker.idle and app.last_handled is not None
                and app.last_handled.state == app.last_state):
            return
    raise TimeoutError("the explorer did not settle")
