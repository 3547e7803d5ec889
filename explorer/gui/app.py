"""The explorer window: panels on the left, the image on the right, a status bar; a manual frame loop.

Each frame (`App.step`): run queued widget callbacks on this thread, advance animations, send the state
to the render worker when it changed (a newer request replaces an older one), take a finished render if
there is one (its pixels go into a texture), draw the frame, sleep to the frame-rate cap. The UI thread
never waits for a render: networks load and render on the worker thread, which runs at a lower priority
so that drawing wins a contended core.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import dearpygui.dearpygui as dpg
import torch

from explorer.errors import UserError
from explorer.gui import session as session_io
from explorer.gui import theme, userconfig
from explorer.gui.controls import Controls, DragTarget
from explorer.gui.display import display_problem
from explorer.gui.gltexture import pack_rgba
from explorer.gui.engine_link import NetworkCache, RenderResult, RenderState, RenderWorker, default_threads
from explorer.gui.panels.base import NetworkInfo, PanelContext
from explorer.gui.panels.capture import CapturePanel
from explorer.gui.panels.directions import DirectionsPanel
from explorer.gui.panels.latent import LatentPanel
from explorer.gui.panels.layers import LayersPanel
from explorer.gui.panels.mixing import MixingPanel
from explorer.gui.panels.network import NetworkPanel
from explorer.gui.panels.performance import PerformancePanel
from explorer.gui.panels.projection import ProjectionPanel
from explorer.gui.panels.session import SessionPanel
from explorer.gui.panels.sticking import StickingPanel
from explorer.gui.panels.training import TrainingPanel
from explorer.gui.panels.transform import TransformPanel
from explorer.gui.panels.truncation import TruncationPanel
from explorer.gui.panels.video import VideoDialog
from explorer.gui.mainview import TOOLBAR_H, MainView
from explorer.gui.recall import recall_state

LEFT_WIDTH = 440
WORKER_NICE = 5        # render thread's nice increment: on a busy 2-core machine the window keeps its frame rate

# One Dear PyGui context and viewport per process when apps ask to keep it (tests, bench): destroying a
# GLFW window and creating another in the same process let stale focus / cursor-enter events reach
# ImGui's handlers and segfault now and then (measured under Xvfb). Later apps reuse the viewport.
_shared_context = {"alive": False}
_retired_buffers: list = []


@dataclass
class AppOptions:
    checkpoints: list = field(default_factory=list)   # paths, URLs or training run folders
    session: Optional[str] = None                     # JSON session file to load at start
    device: str = "cpu"
    fps_cap: int = 60
    width: int = 1400
    height: int = 900
    restore_last_session: bool = True                 # from the config folder
    save_session_on_close: bool = True
    loader: Optional[Callable] = None                 # checkpoint loader for the network cache (tests)
    default_checkpoint: Optional[str] = None          # opened when nothing else names one
    keep_context: bool = False                        # close() keeps the Dear PyGui context for the next App


def describe(G, path: str, available) -> NetworkInfo:
    """Facts of a generator for the panels (the same for G and G_ema of one file)."""
    syn = G.synthesis
    return NetworkInfo(path=path, arch=str(getattr(G, "arch", "stylegan2")), img_resolution=int(G.img_resolution),
                       z_dim=int(G.z_dim), w_dim=int(G.w_dim), c_dim=int(G.c_dim), num_ws=int(G.num_ws),
                       layer_names=tuple(getattr(syn, "layer_names", ())),
                       w_resolutions=tuple(int(r) for r in getattr(syn, "w_resolutions", [0] * int(G.num_ws))),
                       networks=tuple(available))


def _pack_for_screen(result: RenderResult) -> None:
    """Worker thread: the output image packed as RGBA, which the UI thread then uploads with a plain copy."""
    if result.image is not None:
        result.display = {"image": pack_rgba(result.image)}


class App:
    def __init__(self, options: AppOptions):
        self.opts = options
        self.worker: Optional[RenderWorker] = None
        self.panels: dict = {}
        self.last_state: Optional[RenderState] = None      # last state sent to the worker
        self.last_result: Optional[RenderResult] = None    # last successful render
        self.last_handled: Optional[RenderResult] = None   # last result taken from the worker, good or failed
        self.info: Optional[NetworkInfo] = None
        self.frames = 0
        self._dirty = True
        self._started = False
        self._t_last = time.perf_counter()
        self._frame_times: list = []
        self._main_size = (0, 0)
        self._status = ""

    # ---- set-up ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Creates the window. Raises UserError (one line) when there is no usable display."""
        problem = display_problem()
        if problem:
            raise UserError(problem)
        self.cache = NetworkCache(self.opts.loader) if self.opts.loader else NetworkCache()
        self._described: dict = {}      # path -> NetworkInfo, written by the worker thread
        # Leave a core to the UI: a render thread per remaining core.
        self.worker = RenderWorker(self.cache, loader=self._load_network, torch_threads=default_threads(),
                                   nice=int(os.environ.get("SG_EXPLORER_WORKER_NICE", WORKER_NICE)),
                                   post=_pack_for_screen)
        reuse = _shared_context["alive"]
        if not reuse:
            dpg.create_context()
            dpg.configure_app(manual_callback_management=True)
        self._roots_before = set(dpg.get_all_items())
        self._started = True
        self.font = theme.load_font()        # shipped with the package: nothing is downloaded
        theme.apply_theme()
        self.texture_registry = dpg.add_texture_registry()
        ctx = PanelContext(request_render=self.request_render, current_state=self.current_state, notify=self.notify,
                           open_network=self.open_network, texture_registry=self.texture_registry,
                           open_run=lambda path: self.panels["training"].open_run(path),
                           network_opened=self._network_opened)
        self.ctx = ctx
        cache_source = lambda: self.cache     # the engine locks a network while it changes its transform
        self.video = VideoDialog(ctx, cache_source, recall=lambda state: recall_state(self.panels, state),
                                 pos=(LEFT_WIDTH + 30, 60))
        self.panels = {
            "network": NetworkPanel(ctx),
            "latent": LatentPanel(ctx),
            "truncation": TruncationPanel(ctx),
            "mixing": MixingPanel(ctx),
            "directions": DirectionsPanel(ctx, cache_source),
            "projection": ProjectionPanel(ctx, cache_source, add_keyframe=lambda: self.video.add_current()),
            "transform": TransformPanel(ctx),
            "layers": LayersPanel(ctx),
            "sticking": StickingPanel(ctx, cache_source),
            "capture": CapturePanel(ctx, self._layer_image, self._output_image),
            "performance": PerformancePanel(ctx, self.video.open),
            "training": TrainingPanel(ctx),
            "session": SessionPanel(ctx, self.save_session, self.load_session),
        }
        self.panels["performance"].s.fps_cap = self.opts.fps_cap
        self.panels["performance"].s.device = self.opts.device
        self.main = MainView(self.texture_registry, cache_source, self.panels["layers"], self.panels["sticking"],
                             lambda: self.panels["capture"].s.folder, self.notify)
        self.view = self.main.view
        self._build_window()
        self.video.build()
        if not reuse:
            dpg.create_viewport(title="sg-explorer", width=self.opts.width, height=self.opts.height)
            dpg.setup_dearpygui()
            dpg.show_viewport()
            _shared_context["alive"] = self.opts.keep_context
        theme.apply_viewport_colour()
        self._fit_main_window()
        self._restore_start_state()
        self._t_last = time.perf_counter()

    def _build_window(self) -> None:
        # Not a Dear PyGui "primary window": that one draws its background over the whole viewport every
        # frame (measured: 12 ms a frame at 1400x900 in Mesa's llvmpipe, whatever its theme says). A plain
        # window without background, kept at the viewport's size, costs about 1 ms; the viewport's clear
        # colour is the background.
        with dpg.window(label="sg-explorer", no_title_bar=True, no_background=True, no_move=True, no_resize=True,
                        no_collapse=True, no_bring_to_front_on_focus=True, pos=(0, 0),
                        width=self.opts.width, height=self.opts.height) as self.main_window:
            with dpg.group(horizontal=True):
                with dpg.child_window(width=LEFT_WIDTH, height=-28) as self.left:
                    for key, panel in self.panels.items():
                        with dpg.collapsing_header(label=panel.title, default_open=key in ("network", "latent", "truncation")) as header:
                            panel.build(header)
                        panel.header = header
                with dpg.child_window(height=-28, no_scrollbar=True) as self.right:
                    self.main.build(self.right)
                    self.error_text = dpg.add_text("", color=(255, 110, 110), parent=self.right)
            self.status_text = dpg.add_text("")
        theme.bind_see_through(self.main_window)
        latent = self.panels["latent"]
        self.controls = Controls(step_seed=latent.step_seed, toggle_animations=self.toggle_animations,
                                 zoom_view=self.view.zoom_step, view_hovered=self.view.hovered,
                                 drag_targets=[DragTarget(latent.pad_hovered, latent.drag_pad),
                                               DragTarget(self.view.near_divider, self.view.drag_divider),
                                               DragTarget(self.view.hovered, self.view.drag)],
                                 fit_view=self.view.fit)
        self.controls.register()
        self._update_status()

    def _restore_start_state(self) -> None:
        data, source = None, None
        if self.opts.session:
            data, source = session_io.load(self.opts.session), self.opts.session   # UserError on a bad file
        elif self.opts.restore_last_session:
            source = userconfig.last_session_path()
            data = session_io.load_quiet(source)
        if data:
            notes = session_io.absolutize(data, os.path.dirname(os.path.abspath(source)))
            if self.opts.checkpoints:
                # An explicit checkpoint wins: the session's network and followed run folder are not opened.
                session_io.drop_sources(data)
            self.apply_session(data)
            if notes:
                self.notify("; ".join(notes))
        if self.opts.checkpoints:
            self.open_network(self.opts.checkpoints[0])      # a folder goes to the training panel
            if len(self.opts.checkpoints) > 1:
                self.panels["sticking"].set(second_pkl=os.path.abspath(self.opts.checkpoints[1]))
        elif not self.panels["network"].s.path and not self.panels["network"].requested:
            default = self.opts.default_checkpoint
            if default and os.path.exists(default):
                self.open_network(default)
            else:
                self.panels["network"].show_error("no network loaded: open a checkpoint (.pkl file, URL or run folder)")
        self._show_if_no_network()

    def _show_if_no_network(self) -> None:
        """The one rule for a failed or missing load: no network, an empty view, and the reason in the caption."""
        net = self.panels["network"]
        if not net.s.path and not net.requested:
            self.last_result, self.last_state, self.info = None, None, None
            self._update_status()
            self.main.clear(f"nothing shown: {net.error or 'no network loaded'}")

    def _network_opened(self, path: str) -> None:
        """A network is being opened: a training run it is not part of is no longer followed (else the run's next
        snapshot would replace the user's choice)."""
        training = self.panels["training"]
        run = training.s.run_dir
        if run and not os.path.abspath(path).startswith(os.path.abspath(run) + os.sep):
            training.stop_following()
            self.notify(f"stopped following {run}: {os.path.basename(path)} was opened")

    # ---- services for panels -----------------------------------------------------------------------------
    def _load_network(self, state: RenderState):
        """Worker-thread loader: the network for a state. The file is described first, so that the window
        learns the new network's facts even when this state cannot render on it (wrong class, layer, G)."""
        if state.checkpoint not in self._described:
            data = self.cache.data(state.checkpoint)
            available = tuple(k for k in ("G_ema", "G") if data.get(k) is not None)
            if available:
                self._described[state.checkpoint] = describe(data[available[0]], state.checkpoint, available)
        return self.cache.get(state.checkpoint, state.which, state.device)

    def request_render(self) -> None:
        self._dirty = True

    def current_state(self) -> RenderState:
        return self.last_state or self.build_state()

    def notify(self, message: str) -> None:
        if dpg.does_item_exist(self.error_text):
            dpg.set_value(self.error_text, message)

    def open_network(self, path: str) -> None:
        self.panels["network"].open(path)

    def _output_image(self):
        return None if self.last_result is None else self.last_result.image

    def _layer_image(self):
        view = self.panels["layers"].last_view
        return None if view is None else view.layer_image

    # ---- the frame loop ----------------------------------------------------------------------------------
    def build_state(self) -> RenderState:
        state = RenderState()
        for panel in self.panels.values():
            state = panel.apply(state)
        return state

    def step(self) -> bool:
        """One UI frame; False once the window was closed."""
        if not dpg.is_dearpygui_running():
            return False
        t_frame = time.perf_counter()
        dt, self._t_last = t_frame - self._t_last, t_frame
        jobs = dpg.get_callback_queue()
        if jobs:
            dpg.run_callbacks(jobs)
        for panel in self.panels.values():
            if panel.tick(dt):
                self._dirty = True
        if self._dirty:
            self._submit()
        self.video.tick()
        self.main.tick()
        self._follow_viewport()
        result = self.worker.poll()
        if result is not None:
            self._on_result(result)
        self._update_perf(t_frame)
        dpg.render_dearpygui_frame()
        for texture in self._textures():
            texture.after_frame()
        self.frames += 1
        cap = self.panels["performance"].s.fps_cap
        if cap > 0:
            spare = 1.0 / cap - (time.perf_counter() - t_frame)
            if spare > 0:
                time.sleep(spare)
        return True

    def _submit(self) -> None:
        self._dirty = False
        state = self.build_state()
        if not state.checkpoint:
            self._show_if_no_network()
            return
        if state != self.last_state:
            self.last_state = state
            self.worker.submit(state)

    def _fit_main_window(self) -> None:
        """Keeps the main window at the viewport's client size (what a primary window would do)."""
        size = (dpg.get_viewport_client_width(), dpg.get_viewport_client_height())
        if size[0] > 0 and size != self._main_size:
            self._main_size = size
            dpg.configure_item(self.main_window, width=size[0], height=size[1], pos=(0, 0))

    def _follow_viewport(self) -> None:
        self._fit_main_window()
        size = (dpg.get_item_rect_size(self.right) if dpg.does_item_exist(self.right) else None)
        want = (size[0] - 16, size[1] - 40 - TOOLBAR_H) if size else None
        if size and size[0] > 0 and want != (self.view.width, self.view.height):
            self.view.resize(*want)

    def _on_result(self, result: RenderResult) -> None:
        self.last_handled = result
        info = self._described.get(result.state.checkpoint)
        if info is not None and info != self.info:
            self._on_network_loaded(info)
            if result.error and self.build_state() != result.state:
                # The settings belonged to the previous network (its class, layer, G): they are adjusted now,
                # so render again before calling the load a failure.
                self._submit()
                return
        for panel in self.panels.values():
            panel.on_result(result)
        self._update_status(result)
        if result.error:
            net = self.panels["network"]
            self.notify(net.error if net.error and not net.s.path else result.error)
            self._show_if_no_network()
            return
        self.last_result = result
        self.notify("")
        if result.image is not None:
            self.main.on_result(result)

    def _on_network_loaded(self, info: NetworkInfo) -> None:
        self.info = info
        for panel in self.panels.values():
            panel.on_network(self.info)
        self._dirty = True   # panels may have clamped values (class index, mixing indices, layer)

    def _update_perf(self, t_frame: float) -> None:
        self._frame_times.append(t_frame)
        if len(self._frame_times) > 60:
            self._frame_times.pop(0)
        if self.frames % 15 == 0 and len(self._frame_times) > 1:
            span = self._frame_times[-1] - self._frame_times[0]
            fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0
            render_ms = self.last_result.render_ms if self.last_result else None
            self.panels["performance"].show_stats(render_ms, fps, 1e3 / fps if fps else 0.0)

    def status_line(self, result: Optional[RenderResult] = None) -> str:
        """Device, ops and precision of the last render (of the settings before the first one)."""
        state = result.state if result is not None else (self.last_state or self.build_state())
        ops = (result.ops if result is not None and result.ops else None) or "fast (no render yet)"
        fp16 = state.device == "cuda" and not state.force_fp32
        precision = "float16 layers where the network has them" if fp16 else "float32"
        net = f"{self.info.arch} {self.info.img_resolution}px" if self.info else "no network"
        return (f"device {state.device} | ops: {ops} | precision: {precision} | torch {torch.__version__}, "
                f"{default_threads()} render thread(s) | {net}")

    def _update_status(self, result: Optional[RenderResult] = None) -> None:
        line = self.status_line(result)
        if line != self._status:
            self._status = line
            dpg.set_value(self.status_text, line)

    # ---- input -------------------------------------------------------------------------------------------
    def toggle_animations(self) -> None:
        """Space: stops every animation when one runs, else starts the latent one."""
        latent, transform = self.panels["latent"], self.panels["transform"]
        running = latent.s.animate or transform.s.animate_translate or transform.s.animate_rotate
        latent.set(animate=not running)
        if running:
            transform.set(animate_translate=False, animate_rotate=False)

    # ---- session -----------------------------------------------------------------------------------------
    def session_data(self) -> dict:
        layout = session_io.window_layout(self.panels, self.view)
        layout["main_view"] = self.main.save()
        return session_io.make(self.panels, layout)

    def save_session(self, path: str) -> None:
        """Writes the session JSON atomically; OSError when the file cannot be written."""
        session_io.save(path, self.session_data())

    def load_session(self, path: str) -> None:
        """Applies a session file; UserError (one line) when it is missing or not a session."""
        self.apply_session(session_io.load(path))

    def apply_session(self, data: dict) -> None:
        session_io.apply(data, self.panels)
        layout = data.get("layout")
        session_io.apply_layout(layout if isinstance(layout, dict) else {}, self.panels, self.view)
        self.main.restore((layout or {}).get("main_view") if isinstance(layout, dict) else None)
        self._dirty = True

    # ---- run / close -------------------------------------------------------------------------------------
    def run(self) -> int:
        try:
            while self.step():
                pass
        finally:
            self.close()
        return 0

    def close(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.opts.save_session_on_close:
            try:
                session_io.save(userconfig.last_session_path(), self.session_data())
            except OSError:
                pass
        for panel in self.panels.values():
            stop = getattr(panel, "stop", None)
            if stop:
                stop()
        self.video.stop()
        self.main.stop()
        if self.worker is not None:
            self.worker.close()
        for texture in self._textures():
            texture.close()
        if self.opts.keep_context:
            # Delete only what this app created; raw-texture memory must outlive the textures (see texture.py).
            _retired_buffers[:] = [t.buffer for t in self._textures() if t.buffer is not None]
            for item in dpg.get_all_items():
                if item not in self._roots_before and dpg.does_item_exist(item) and not dpg.get_item_parent(item):
                    dpg.delete_item(item)
            dpg.render_dearpygui_frame()
        else:
            _shared_context["alive"] = False
            dpg.destroy_context()

    def _textures(self) -> list:
        out = [self.view.texture, self.panels["layers"].image_texture, self.panels["layers"].spectrum_texture]
        return out + list(self.panels["sticking"].textures)
