"""Texture-sticking inspector: the mean of N frames along a latent walk or a translation sweep.

Details that stay sharp in the mean are stuck to pixel coordinates instead of moving with the content
(StyleGAN2's texture sticking, the Alias-Free GAN paper's Figure 1); an equivariant network blurs them away.
A second checkpoint (e.g. StyleGAN2 vs StyleGAN3 of the same data) is averaged the same way beside the first.
Runs on a helper thread; the UI polls its progress and Cancel never waits for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import dearpygui.dearpygui as dpg

from explorer.gui.engine_link import sticking_average
from explorer.gui.panels.background import BackgroundJob
from explorer.gui.panels.jobpanel import JobPanel
from explorer.gui.texture import make_texture

VIEW_SIZE = 200
MODES = {"latent walk": "latent_walk", "translation sweep": "translate"}   # label -> engine mode


@dataclass
class StickingSettings:
    frames: int = 16
    mode: str = "latent walk"
    at_layer: bool = False       # average the layer view's layer instead of the output
    second_pkl: str = ""


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def average_networks(cache, state, pkls: list, mode: str, frames: int, layer: Optional[str], progress, cancel):
    """[(uint8 [H, W, 3] or None, note)] per checkpoint: one network failing (a StyleGAN2 has no translation
    sweep; a layer name it lacks) leaves the others standing. None overall when cancelled."""
    out = []
    for k, pkl in enumerate(pkls):
        try:
            G = cache.get(pkl, state.which, state.device)
            s = state.replace(checkpoint=pkl, class_idx=(min(state.class_idx or 0, G.c_dim - 1) if G.c_dim else None),
                              mix_mask=list(state.mix_mask)[:G.num_ws])
            use_layer, note = layer, ""
            if layer and layer != "output" and layer not in _layer_names(G):
                use_layer, note = None, f"no layer {layer}: the output instead"
            image = sticking_average(G, s, mode, frames, use_layer,
                                     progress=lambda f, k=k: progress((k + f) / len(pkls)),
                                     cancelled=cancel.is_set)
        except Exception as e:   # shown beside the other network's average
            image, note = None, _one_line(e)
        if cancel.is_set():
            return None
        progress((k + 1) / len(pkls))      # this network's share is done, also when it could not run the sweep
        out.append((image, note))
    return out


def _layer_names(G) -> set:
    from explorer.engine.layers import available_layers
    names = set(available_layers(G))
    return names | {f"{n}:{i}" for n in names for i in range(2)}   # tuple outputs ('b8:0', 'b8:1')


class StickingPanel(JobPanel):
    title = "Texture sticking"
    Settings = StickingSettings

    def __init__(self, ctx, cache_source):
        """cache_source() -> the NetworkCache to take networks from (the engine locks a network while it
        changes StyleGAN3's transform, so sharing the render worker's cache is safe)."""
        super().__init__(ctx)
        self._cache_source = cache_source
        self.images: list = []      # uint8 [H, W, 3] or None per checkpoint of the last run
        self.notes: list = []       # one line per checkpoint ('' when fine)

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            self.bind(dpg.add_input_int, "frames", label="frames", min_value=2, min_clamped=True, max_value=1024,
                      max_clamped=True, width=110)
            self.bind(dpg.add_combo, "mode", items=list(MODES), label="motion", width=160)
            self.bind(dpg.add_checkbox, "at_layer", label="at the layer view's layer")
            self.bind(dpg.add_input_text, "second_pkl", label="compare with", hint="second checkpoint (optional)", width=250)
            with dpg.group(horizontal=True):
                self.run_button = dpg.add_button(label="Average", callback=lambda *_: self.start())
                self.cancel_button = dpg.add_button(label="Cancel", callback=lambda *_: self.cancel())
                self.progress = dpg.add_progress_bar(default_value=0.0, width=150)
            self.status = dpg.add_text("", wrap=VIEW_SIZE * 2)
            self.textures = [make_texture(self.ctx.texture_registry, 1, 1) for _ in range(2)]
            with dpg.group(horizontal=True):
                self.image_widgets = [dpg.add_image(t.tag, width=VIEW_SIZE, height=VIEW_SIZE, show=False)
                                      for t in self.textures]

    def start(self) -> bool:
        if self.job is not None and not self.job.done.is_set():
            return False
        state = self.ctx.current_state()
        if not state.checkpoint:
            self.ctx.notify("load a network first")
            return False
        layer = (state.layer or "output") if self.s.at_layer else None
        pkls = [state.checkpoint] + ([self.s.second_pkl.strip()] if self.s.second_pkl.strip() else [])
        cache, n, mode = self._cache_source(), int(self.s.frames), MODES[self.s.mode]
        self.job = BackgroundJob(lambda progress, cancel: average_networks(cache, state, pkls, mode, n, layer,
                                                                           progress, cancel), "sticking-average")
        dpg.set_value(self.status, f"averaging {n} frames of {len(pkls)} network(s) ...")
        return True

    def tick(self, dt: float) -> bool:
        job = self.finished_job()
        if job is None:
            return False
        dpg.set_value(self.progress, 1.0 if job.result is not None and not job.error else job.progress)
        if job.error:
            dpg.set_value(self.status, job.error)
            self.ctx.notify(f"texture sticking: {job.error}")
        elif job.result is None:
            dpg.set_value(self.status, "cancelled")
        else:
            self._show(job.result)
        return False

    def _show(self, results: list) -> None:
        self.images = [img for img, _ in results]
        self.notes = [note for _, note in results]
        for k, (tex, widget) in enumerate(zip(self.textures, self.image_widgets)):
            img = self.images[k] if k < len(self.images) else None
            if img is None:
                dpg.configure_item(widget, show=False)
                continue
            tex.show(img)
            h, w = img.shape[:2]
            dpg.configure_item(widget, texture_tag=tex.tag, show=True, width=VIEW_SIZE, height=int(VIEW_SIZE * h / w))
            tex.release_stale()
        names = ["current network", "second network"]
        lines = [f"{names[k]}: {note or 'mean of the frames'}" for k, note in enumerate(self.notes)]
        dpg.set_value(self.status, "sharp = stuck to pixels. " + "; ".join(lines))
