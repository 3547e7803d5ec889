"""Session panel: save the whole explorer state (every panel and the window layout) to a JSON file, and
load one back. The same data is written to the config folder at close and restored at the next start."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import dearpygui.dearpygui as dpg

from explorer.errors import UserError
from explorer.gui.panels.base import Panel, file_dialog


@dataclass
class SessionSettings:
    path: str = "session.json"


class SessionPanel(Panel):
    title = "Session"
    Settings = SessionSettings

    def __init__(self, ctx, save_to: Callable[[str], None], load_from: Callable[[str], None]):
        """save_to(path) writes the session (atomically); load_from(path) applies one (UserError if bad)."""
        super().__init__(ctx)
        self._save_to, self._load_from = save_to, load_from

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            self.bind(dpg.add_input_text, "path", label="file", width=260)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Save", callback=lambda *_: self.save_file(self.s.path))
                dpg.add_button(label="Load", callback=lambda *_: self.load_file(self.s.path))
                dpg.add_button(label="Browse...", callback=lambda *_: self.file_dialog.show())
            self.status = dpg.add_text("")
        self.file_dialog = file_dialog(".json", lambda path: self.set(path=path), must_exist=False)

    def save_file(self, path: str) -> bool:
        path = (path or "").strip()
        if not path:
            return self._say("no file name given")
        try:
            self._save_to(path)
        except OSError as e:
            return self._say(f"cannot save {path}: {e.strerror or e}")
        dpg.set_value(self.status, f"saved {path}")
        return True

    def load_file(self, path: str) -> bool:
        path = (path or "").strip()
        try:
            self._load_from(path)
        except UserError as e:
            return self._say(str(e))
        dpg.set_value(self.status, f"loaded {path}")
        return True

    def _say(self, message: str) -> bool:
        dpg.set_value(self.status, message)
        self.ctx.notify(message)
        return False

    def save(self) -> dict:
        return {}      # where sessions go is not part of a session

    def restore(self, data: dict) -> None:
        pass
