"""What every panel shares: typed settings, widget binding, the session round trip."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional

import dearpygui.dearpygui as dpg

from explorer.gui.engine_link import RenderResult, RenderState


@dataclass(frozen=True)
class NetworkInfo:
    """What the panels need to know about the loaded generator."""
    path: str
    arch: str                         # 'stylegan2' | 'stylegan3-t' | 'stylegan3-r' | 'stylegan' | 'progan'
    img_resolution: int
    z_dim: int
    w_dim: int
    c_dim: int
    num_ws: int
    layer_names: tuple                # hookable synthesis layers, forward order
    w_resolutions: tuple              # output resolution each w index drives
    networks: tuple                   # which of 'G_ema', 'G' the file holds

    @property
    def is_sg3(self) -> bool:
        return self.arch.startswith("stylegan3")

    @property
    def has_styles(self) -> bool:
        """Truncation and style mixing apply: ProGAN's one "w" is the normalised z, without w_avg or styles."""
        return self.arch != "progan"

    @property
    def has_noise(self) -> bool:
        """Per-layer noise inputs: StyleGAN (v1) and StyleGAN2 only."""
        return not self.is_sg3 and self.arch != "progan"


@dataclass
class PanelContext:
    """The app's services a panel may call; a panel never holds the app itself."""
    request_render: Callable[[], None]             # state changed: render again
    current_state: Callable[[], RenderState]       # the state of the last request
    notify: Callable[[str], None]                  # one line in the status bar
    open_network: Callable[[str], None]            # ask the network panel to load a path
    texture_registry: Any = None
    open_run: Optional[Callable[[str], bool]] = None   # follow a training run folder (training panel)
    network_opened: Optional[Callable[[str], None]] = None   # a network load starts (the app stops a stale follow)


class Panel:
    """Base panel. Subclasses set `title` and `Settings` (a dataclass of JSON-friendly fields)."""
    title = ""
    Settings: type = type(None)

    def __init__(self, ctx: PanelContext):
        self.ctx = ctx
        self.s = self.Settings()
        self.widgets: dict[str, int] = {}
        self.info: Optional[NetworkInfo] = None

    # -- widgets bound to settings fields ---------------------------------------------------------------
    def bind(self, add: Callable, field: str, **kw) -> int:
        """Creates a widget whose value is settings field `field`; editing it updates the field and re-renders."""
        tag = add(default_value=getattr(self.s, field), callback=self._on_widget, user_data=field, **kw)
        self.widgets[field] = tag
        return tag

    def _on_widget(self, sender, value, field) -> None:
        setattr(self.s, field, type(getattr(self.s, field))(value) if getattr(self.s, field) is not None else value)
        self.on_setting(field)
        self.ctx.request_render()

    def on_setting(self, field: str) -> None:
        """Hook: a bound setting changed (the render is requested afterwards)."""

    def sync_widgets(self) -> None:
        for field, tag in self.widgets.items():
            if dpg.does_item_exist(tag):
                dpg.set_value(tag, getattr(self.s, field))

    def set(self, **values) -> None:
        """Changes settings from code (keyboard, animations, tests) and shows them in the widgets."""
        for k, v in values.items():
            setattr(self.s, k, v)
        self.sync_widgets()
        self.ctx.request_render()

    # -- life cycle -------------------------------------------------------------------------------------
    def build(self, parent: int | str) -> None:
        raise NotImplementedError

    def apply(self, state: RenderState) -> RenderState:
        """Writes this panel's part of the render state."""
        return state

    def tick(self, dt: float) -> bool:
        """Advances animations by dt seconds; True when the state changed."""
        return False

    def on_network(self, info: NetworkInfo) -> None:
        self.info = info

    def on_result(self, result: RenderResult) -> None:
        pass

    # -- session ----------------------------------------------------------------------------------------
    def save(self) -> dict:
        return dataclasses.asdict(self.s)

    def restore(self, data: dict) -> None:
        """Takes the saved settings that still exist and have the right type; a hand-edited or older session
        never puts a string where a number belongs (that would fail every frame)."""
        names = {f.name for f in dataclasses.fields(self.s)}
        for k, v in (data if isinstance(data, dict) else {}).items():
            if k in names:
                ok, value = _same_kind(getattr(self.s, k), v)
                if ok:
                    setattr(self.s, k, value)
        self.sync_widgets()


def _same_kind(current: Any, value: Any) -> tuple:
    """(True, value converted) when `value` may replace `current` (JSON gives ints for floats, lists for tuples)."""
    import math
    if isinstance(current, bool) or isinstance(value, bool):
        return (isinstance(current, bool) and isinstance(value, bool)), value
    if isinstance(current, float):
        ok = isinstance(value, (int, float)) and math.isfinite(value)
        return ok, float(value) if ok else value
    if isinstance(current, int):
        return isinstance(value, int), value
    if isinstance(current, str):
        return isinstance(value, str), value
    if isinstance(current, (list, tuple)):
        ok = isinstance(value, list)
        return ok, (type(current)(value) if ok else value)
    return current is None, value


def replace(state: RenderState, **changes) -> RenderState:
    return dataclasses.replace(state, **changes)


def file_dialog(extension, on_path: Callable[[str], None], must_exist: bool = True):
    """A hidden file chooser (explorer.gui.filepicker.FilePicker) listing `extension` files (a suffix or a list of
    them); on_path(chosen absolute path) on OK; .show() opens it. must_exist False: saving to a new name."""
    from explorer.gui.filepicker import FilePicker
    return FilePicker([extension] if isinstance(extension, str) else extension, on_path, must_exist)
