"""Truncation and noise: psi, cutoff (w indices truncated; 0 = all), noise mode and seed (StyleGAN2)."""
from __future__ import annotations

from dataclasses import dataclass

import dearpygui.dearpygui as dpg

from explorer.gui.panels.base import Panel, replace

NOISE_MODES = ("const", "random", "none")


@dataclass
class TruncationSettings:
    psi: float = 1.0
    cutoff: int = 0             # 0 = truncate every w index
    noise_mode: str = "const"
    noise_seed: int = 0


class TruncationPanel(Panel):
    title = "Truncation & noise"
    Settings = TruncationSettings

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            self.psi_slider = self.bind(dpg.add_slider_float, "psi", label="psi", min_value=-1.0, max_value=2.0, width=200)
            self.bind(dpg.add_input_int, "cutoff", label="cutoff (0 = all)", min_value=0, min_clamped=True, width=120)
            self.no_truncation = dpg.add_text("ProGAN has no truncation (no w space)", show=False)
            with dpg.group() as self.noise_group:
                self.bind(dpg.add_combo, "noise_mode", items=NOISE_MODES, label="noise", width=120)
                self.bind(dpg.add_input_int, "noise_seed", label="noise seed", min_value=0, min_clamped=True, width=120)

    def on_network(self, info) -> None:
        super().on_network(info)
        dpg.configure_item(self.noise_group, show=info.has_noise)   # StyleGAN3 and ProGAN have no noise inputs
        for field in ("psi", "cutoff"):
            dpg.configure_item(self.widgets[field], enabled=info.has_styles)
        dpg.configure_item(self.no_truncation, show=not info.has_styles)

    def apply(self, state):
        return replace(state, trunc_psi=float(self.s.psi), trunc_cutoff=int(self.s.cutoff) or None,
                       noise_mode=self.s.noise_mode, noise_seed=int(self.s.noise_seed))
