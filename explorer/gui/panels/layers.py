"""Layer view: any synthesis layer's activations (1 or 3 channels), its power spectrum and statistics.

The engine hooks layers only while this view is open (state.layer is None otherwise). Amplification is
in dB (x 10^(dB/20)); the spectrum uses a 2-D Kaiser window of parameter beta and shows `db_range` dB
below its peak.
"""
from __future__ import annotations

from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from explorer.gui.panels.base import Panel, replace
from explorer.gui.texture import make_texture

VIEW_SIZE = 200   # on-screen size of the layer image and the spectrum, px


@dataclass
class LayerSettings:
    open: bool = False
    layer: str = "output"
    channels: int = 3           # 1 | 3
    base_channel: int = 0
    amp_db: float = 0.0
    normalize: bool = False
    beta: float = 8.0
    db_range: float = 50.0
    spectrum_all: bool = True


def layer_label(name: str, shape) -> str:
    return f"{name}  {list(shape[1:])}" if shape else name


class LayersPanel(Panel):
    title = "Layer view"
    Settings = LayerSettings

    def __init__(self, ctx):
        super().__init__(ctx)
        self.shapes: dict = {}
        self.labels: dict = {}       # label -> layer name
        self.last_view = None        # the last RenderResult that carried a layer image

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            self.bind(dpg.add_checkbox, "open", label="show layer view (hooks the network)")
            self.layer_list = dpg.add_listbox(["output"], num_items=8, width=-1, callback=self._on_layer)
            self.channel_radio = dpg.add_radio_button(["1 channel", "3 channels"], horizontal=True,
                                                      default_value="3 channels", callback=self._on_channels)
            self.bind(dpg.add_input_int, "base_channel", label="base channel", min_value=0, min_clamped=True, width=120)
            self.bind(dpg.add_slider_float, "amp_db", label="amplify dB", min_value=-40, max_value=40, width=200)
            self.bind(dpg.add_checkbox, "normalize", label="normalise channels (by max |x|)")
            self.bind(dpg.add_slider_float, "beta", label="Kaiser beta", min_value=0, max_value=20, width=200)
            self.bind(dpg.add_slider_float, "db_range", label="spectrum dB range", min_value=10, max_value=120, width=200)
            self.bind(dpg.add_checkbox, "spectrum_all", label="spectrum of all channels (else the shown ones)")
            self.stats_text = dpg.add_text("")
            self.image_texture = make_texture(self.ctx.texture_registry, 1, 1)
            self.spectrum_texture = make_texture(self.ctx.texture_registry, 1, 1)
            with dpg.group(horizontal=True):
                self.image_widget = dpg.add_image(self.image_texture.tag, width=VIEW_SIZE, height=VIEW_SIZE)
                self.spectrum_widget = dpg.add_image(self.spectrum_texture.tag, width=VIEW_SIZE, height=VIEW_SIZE)

    def _on_layer(self, _sender, label) -> None:
        self.s.layer = self.labels.get(label, label)
        self.ctx.request_render()

    def _on_channels(self, _sender, value) -> None:
        self.s.channels = 1 if value.startswith("1") else 3
        self.ctx.request_render()

    def _refresh_list(self) -> None:
        # Names from the engine's full capture ('b8:0' for tuple outputs) once known, else the network's list.
        names = list(self.shapes) if self.shapes else list(self.info.layer_names if self.info else []) + ["output"]
        self.labels = {layer_label(n, self.shapes.get(n)): n for n in names}
        dpg.configure_item(self.layer_list, items=list(self.labels))
        current = next((lab for lab, n in self.labels.items() if n == self.s.layer), None)
        if current is None:
            self.s.layer, current = "output", next(iter(self.labels))
        dpg.set_value(self.layer_list, current)

    def on_network(self, info) -> None:
        super().on_network(info)
        self.shapes = {}
        self._refresh_list()

    def sync_widgets(self) -> None:
        super().sync_widgets()
        dpg.set_value(self.channel_radio, "1 channel" if self.s.channels == 1 else "3 channels")
        if self.info is not None:
            self._refresh_list()

    def apply(self, state):
        if not self.s.open:
            return replace(state, layer=None, fft_show=False, list_layers=False)
        # Every layer is hooked once per network, to learn the names and shapes for the list.
        return replace(state, layer=self.s.layer, base_channel=int(self.s.base_channel),
                       sel_channels=int(self.s.channels), amplify_db=float(self.s.amp_db),
                       normalize=bool(self.s.normalize), fft_show=True, fft_beta=float(self.s.beta),
                       fft_range_db=max(float(self.s.db_range), 1.0), fft_all=bool(self.s.spectrum_all),
                       list_layers=not self.shapes)

    def on_result(self, result) -> None:
        if result.error:
            return
        if result.layers and not self.shapes:
            self.shapes = {name: tuple(shape) for name, shape in result.layers}
            self._refresh_list()
            self.ctx.request_render()          # next render without the full capture
        if result.layer_image is None or result.state.layer is None:
            return
        self.last_view = result
        pictures = [(self.image_widget, self.image_texture, result.layer_image)]
        if result.spectrum is not None:
            pictures.append((self.spectrum_widget, self.spectrum_texture, result.spectrum))
        for widget, tex, img in pictures:
            h, w = img.shape[:2]
            k = max(1, VIEW_SIZE // max(h, w))   # whole-pixel magnification (textures are sampled bilinearly)
            tex.show(img, repeat=k)
            scale = min(1.0, VIEW_SIZE / max(h * k, w * k))
            dpg.configure_item(widget, texture_tag=tex.tag, width=int(w * k * scale), height=int(h * k * scale))
            tex.release_stale()
        st = result.stats
        shape = self.shapes.get(result.state.layer)
        dpg.set_value(self.stats_text, f"{result.state.layer} {list(shape) if shape else ''}\n"
                                       f"all:      mean {st.all.mean:+.3f} std {st.all.std:.3f} max|x| {st.all.max:.3f}\n"
                                       f"selected: mean {st.selected.mean:+.3f} std {st.selected.std:.3f} "
                                       f"max|x| {st.selected.max:.3f}")
