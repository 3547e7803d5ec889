"""Style mixing: a second seed replaces the chosen w indices; presets pick coarse, middle or fine ones.

Each toggle shows the output resolution its w index drives (G.synthesis.w_resolutions).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import dearpygui.dearpygui as dpg

from explorer.gui.panels.base import Panel, replace


@dataclass
class MixingSettings:
    mix_seed: int = 1
    ws: list = field(default_factory=list)    # w indices taken from mix_seed


def preset_indices(num_ws: int, which: str, w_resolutions=None) -> list[int]:
    """w indices of a preset by position in the synthesis order (t = i / (num_ws - 1)).

    Coarse t < 0.2, middle 0.2 <= t < 0.45, fine the rest: for a 1024 px StyleGAN2 (18 ws) that is
    4-8 px, 16-32 px and 64-1024 px, the paper's bands; positions also suit StyleGAN3, whose layers
    do not double in resolution. Given `w_resolutions` (StyleGAN v1), the StyleGAN paper's bands by
    resolution instead: coarse 4-8 px, middle 16-32 px, fine 64 px and up (empty below 64 px).
    """
    if w_resolutions is not None:
        lo, hi = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1 << 30)}[which]
        return [i for i, r in enumerate(w_resolutions) if lo <= r <= hi]
    lo, hi = {"coarse": (0.0, 0.2), "middle": (0.2, 0.45), "fine": (0.45, 1.01)}[which]
    span = max(num_ws - 1, 1)
    return [i for i in range(num_ws) if lo <= i / span < hi]


class MixingPanel(Panel):
    title = "Style mixing"
    Settings = MixingSettings

    def __init__(self, ctx):
        super().__init__(ctx)
        self.toggles: list[int] = []

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            self.bind(dpg.add_input_int, "mix_seed", label="mix seed", min_value=0, min_clamped=True, width=140)
            with dpg.group(horizontal=True):
                self.preset_buttons = {name: dpg.add_button(label=name, callback=lambda *_a, n=name: self.preset(n))
                                       for name in ("coarse", "middle", "fine")}
                self.preset_buttons["none"] = dpg.add_button(label="none", callback=lambda *_: self.set(ws=[]))
            self.no_mixing = dpg.add_text("ProGAN has no styles to mix (one latent row)", show=False)
            self.toggle_group = dpg.add_group()
            dpg.add_text("(load a network)", parent=self.toggle_group)

    def on_network(self, info) -> None:
        super().on_network(info)
        dpg.delete_item(self.toggle_group, children_only=True)
        self.toggles = []
        self.s.ws = [i for i in self.s.ws if i < info.num_ws] if info.has_styles else []
        dpg.configure_item(self.no_mixing, show=not info.has_styles)
        for tag in self.preset_buttons.values():
            dpg.configure_item(tag, enabled=info.has_styles)
        if not info.has_styles:
            return
        for i, res in enumerate(info.w_resolutions):
            self.toggles.append(dpg.add_checkbox(label=f"w{i:<2d} {res} px", default_value=i in self.s.ws,
                                                 parent=self.toggle_group, callback=self._on_toggle, user_data=i))

    def _on_toggle(self, _sender, value, index) -> None:
        ws = set(self.s.ws)
        (ws.add if value else ws.discard)(index)
        self.s.ws = sorted(ws)
        self.ctx.request_render()

    def preset(self, which: str) -> None:
        if self.info is not None and self.info.has_styles:
            bands = self.info.w_resolutions if self.info.arch == "stylegan" else None
            self.set(ws=preset_indices(self.info.num_ws, which, bands))

    def restore(self, data: dict) -> None:
        super().restore(data)
        self.s.ws = sorted({i for i in self.s.ws if isinstance(i, int) and not isinstance(i, bool) and i >= 0})
        self.sync_widgets()

    def sync_widgets(self) -> None:
        super().sync_widgets()
        for i, tag in enumerate(self.toggles):
            dpg.set_value(tag, i in self.s.ws)

    def apply(self, state):
        n = self.info.num_ws if self.info else (max(self.s.ws) + 1 if self.s.ws else 0)
        return replace(state, mix_seed=int(self.s.mix_seed), mix_mask=[i in self.s.ws for i in range(n)])
