"""RenderState: everything one render depends on, as plain data.

The renderer is a pure function of (network, RenderState); the GUI edits a state, the worker renders it, video
export interpolates between states. `to_dict` / `from_dict` round-trip through JSON (recipes, saved sessions).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from explorer.errors import UserError

NETS = ("G_ema", "G")
DEVICES = ("cpu", "cuda")
NOISE_MODES = ("const", "random", "none")


@dataclass
class RenderState:
    """One frame's settings. Units: translate in image widths (1.0 = the whole image), rotate in degrees,
    amplification and spectrum range in dB."""

    # Network
    checkpoint: str = ""                    # .pkl path or URL ('' = none loaded)
    which: str = "G_ema"                    # 'G_ema' | 'G'
    device: str = "cpu"                     # 'cpu' | 'cuda'
    force_fp32: bool = False                # disable fp16 layers on CUDA

    # Latent: a point of the seed plane, or an explicit w
    x: float = 0.0                          # seed plane x; integer (x, y) = a single seed x + y*step_y
    y: float = 0.0                          # seed plane y
    step_y: int = 100                       # seed distance between rows of the plane
    w: Optional[list] = None                # explicit untruncated w: [w_dim] or [num_ws][w_dim]; replaces the seeds
    class_idx: Optional[int] = None         # label for conditional networks (None: class 0 / unconditional)
    trunc_psi: float = 1.0                  # truncation psi; 1 = none
    trunc_cutoff: Optional[int] = None      # truncate only the first `cutoff` ws; None = all

    # Noise
    noise_mode: str = "const"               # 'const' | 'random' | 'none'
    noise_seed: int = 0                     # RNG seed for noise_mode='random'

    # Style mixing: ws at indices i with mix_mask[i] come from mix_seed
    mix_seed: int = 0
    mix_mask: list = field(default_factory=list)  # [num_ws] bools; shorter lists mean False beyond their end

    # Semantic edits added to ws after truncation and mixing (networks.edit.directions.apply_edits), each
    # {"file": npz, "index": k, "strength": s, "layers": [w indices] | None} or {"direction": [w_dim], "std": u, ...}
    edits: list = field(default_factory=list)

    # Input transform (StyleGAN3 only; ignored for StyleGAN2, which has no input transform)
    translate_x: float = 0.0                # image widths; positive moves content right
    translate_y: float = 0.0                # image heights; positive moves content down
    rotate: float = 0.0                     # degrees; positive turns content counter-clockwise
    untransform: bool = False               # resample the output back so an equivariant network shows a still image

    # Layer view
    layer: Optional[str] = None             # synthesis layer name (G.synthesis.layer_names, 'name:i' for tuple outputs)
    base_channel: int = 0                   # first channel shown
    sel_channels: int = 3                   # 1 (grey) or 3 (RGB) channels shown
    amplify_db: float = 0.0                 # gain applied to the shown channels, dB (20*log10)
    normalize: bool = False                 # divide each shown channel by its max |value| first
    fft_show: bool = False                  # also compute the power spectrum of the layer
    fft_all: bool = True                    # spectrum of all channels (True) or of the shown ones
    fft_beta: float = 8.0                   # Kaiser window beta
    fft_range_db: float = 50.0              # spectrum dB range shown (max - range .. max)
    list_layers: bool = False               # return every layer's name and shape

    # ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RenderState":
        """Inverse of to_dict; missing keys take defaults. Unknown keys or wrong types raise UserError."""
        if not isinstance(d, dict):
            raise UserError(f"render state must be a JSON object, not {type(d).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise UserError(f"unknown render state field(s): {', '.join(unknown)}")
        state = cls(**{k: _coerce(k, v, getattr(cls(), k)) for k, v in d.items()})
        state.validate()
        return state

    def replace(self, **changes: Any) -> "RenderState":
        return dataclasses.replace(self, **changes)

    def validate(self) -> "RenderState":
        """Raises UserError (one line) for values no network could render."""
        if self.which not in NETS:
            raise UserError(f"which must be one of {NETS}, not {self.which!r}")
        if self.device not in DEVICES:
            raise UserError(f"device must be one of {DEVICES}, not {self.device!r}")
        if self.noise_mode not in NOISE_MODES:
            raise UserError(f"noise mode must be one of {NOISE_MODES}, not {self.noise_mode!r}")
        if self.sel_channels not in (1, 3):
            raise UserError(f"sel_channels must be 1 or 3, not {self.sel_channels}")
        for name in ("x", "y", "trunc_psi", "translate_x", "translate_y", "rotate", "amplify_db", "fft_beta",
                     "fft_range_db"):
            if not math.isfinite(float(getattr(self, name))):
                raise UserError(f"{name} must be a finite number")
        if self.fft_range_db <= 0:
            raise UserError("fft_range_db must be positive")
        if self.trunc_cutoff is not None and self.trunc_cutoff < 0:
            raise UserError("truncation cutoff must be >= 0")
        if self.base_channel < 0:
            raise UserError("base_channel must be >= 0")
        if self.class_idx is not None and self.class_idx < 0:
            raise UserError("class index must be >= 0")
        for e in self.edits:
            _check_edit(e)
        return self


def _check_edit(e) -> None:
    from networks.edit.directions import DirectionError, check_edit_dict
    try:
        check_edit_dict(e)
    except DirectionError as err:
        raise UserError(str(err)) from None


_NUMERIC = (int, float)
_OPTIONAL_TYPES = {"w": [], "class_idx": 0, "trunc_cutoff": 0, "layer": ""}


def _coerce(name: str, value: Any, default: Any) -> Any:
    """JSON gives ints for floats and lists for everything: accept those, reject the rest."""
    if value is None:
        return value
    if default is None:  # Optional fields: check against the type they hold when set
        default = _OPTIONAL_TYPES[name]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"render state field {name!r} must be true or false")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, _NUMERIC):
            raise UserError(f"render state field {name!r} must be a number")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"render state field {name!r} must be an integer")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise UserError(f"render state field {name!r} must be a string")
        return value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise UserError(f"render state field {name!r} must be a list")
        return list(value)
    return value
