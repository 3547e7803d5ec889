"""A file chooser window, in place of Dear PyGui's built-in dialog (it writes sizes in French units, "Mo" / "Ko",
and cannot be driven from tests).

`listing` is a pure function of a folder; `FilePicker` is the window: the folder (editable), Up, folders and
matching files with sizes in KiB / MiB / GiB, a name field (a new name is allowed for saving), OK and Cancel.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import dearpygui.dearpygui as dpg

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_size(n: int) -> str:
    """Bytes as binary units with one decimal above bytes: 512 -> '512 B', 1536 -> '1.5 KiB'."""
    value, unit = float(n), 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{int(value)} B" if unit == 0 else f"{value:.1f} {UNITS[unit]}"


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    size: int                   # bytes; 0 for folders

    @property
    def label(self) -> str:
        return f"[folder] {self.name}/" if self.is_dir else f"{self.name}    {human_size(self.size)}"


def listing(folder: str, extensions: Sequence[str], show_all: bool = False) -> list[Entry]:
    """Folders, then files whose suffix is in `extensions` (case-insensitive; every file with show_all), each group
    sorted by name; hidden (dot) entries left out. Raises OSError when the folder cannot be read."""
    exts = tuple(e.lower() for e in extensions)
    dirs, files = [], []
    with os.scandir(folder) as it:
        for e in it:
            if e.name.startswith("."):
                continue
            try:
                if e.is_dir():
                    dirs.append(Entry(e.name, True, 0))
                elif show_all or e.name.lower().endswith(exts):
                    files.append(Entry(e.name, False, e.stat().st_size))
            except OSError:
                continue     # removed or unreadable between the listing and the stat
    key = lambda x: x.name.lower()  # noqa: E731
    return sorted(dirs, key=key) + sorted(files, key=key)


class FilePicker:
    """A hidden window; show() opens it on the last folder. on_path(absolute path) when OK picks a file."""

    def __init__(self, extensions: Sequence[str], on_path: Callable[[str], None], must_exist: bool = True,
                 title: str = "Choose a file"):
        self.extensions = tuple(extensions)
        self.on_path = on_path
        self.must_exist = must_exist     # False: a name typed for saving need not exist yet
        self.folder = os.getcwd()
        self.entries: list[Entry] = []
        with dpg.window(label=title, show=False, width=640, height=430, no_collapse=True) as self.window:
            with dpg.group(horizontal=True):
                dpg.add_button(label="Up", callback=lambda *_: self.go(os.path.dirname(self.folder)))
                self.folder_input = dpg.add_input_text(width=-1, on_enter=True,
                                                       callback=lambda _s, v: self.go(v))
            self.list = dpg.add_listbox([], num_items=14, width=-1, callback=lambda _s, v: self.pick(v))
            with dpg.group(horizontal=True):
                self.name_input = dpg.add_input_text(hint="file name", width=-260, on_enter=True,
                                                     callback=lambda *_: self.ok())
                dpg.add_button(label="OK", callback=lambda *_: self.ok())
                dpg.add_button(label="Cancel", callback=lambda *_: dpg.hide_item(self.window))
                self.all_box = dpg.add_checkbox(label="all files", callback=lambda *_: self.go(self.folder))
            self.status = dpg.add_text("", color=(255, 110, 110))

    def add_extension(self, ext: str) -> None:
        self.extensions += (ext,)

    def show(self) -> None:
        self.go(self.folder)
        dpg.show_item(self.window)
        dpg.focus_item(self.window)

    def go(self, folder: str) -> bool:
        """Lists `folder` (~ and relative paths allowed); an unreadable one keeps the current listing."""
        folder = os.path.abspath(os.path.expanduser(folder.strip() or self.folder))
        try:
            entries = listing(folder, self.extensions, bool(dpg.get_value(self.all_box)))
        except OSError as e:
            dpg.set_value(self.status, f"cannot open {folder}: {e.strerror or e}")
            dpg.set_value(self.folder_input, self.folder)
            return False
        self.folder, self.entries = folder, entries
        dpg.set_value(self.folder_input, folder)
        dpg.configure_item(self.list, items=[e.label for e in entries])
        dpg.set_value(self.status, "" if entries else f"no {' / '.join(self.extensions)} files here")
        return True

    def pick(self, label: str) -> None:
        """A click in the list: a folder opens, a file's name goes to the name field."""
        entry = next((e for e in self.entries if e.label == label), None)
        if entry is None:
            return
        if entry.is_dir:
            self.go(os.path.join(self.folder, entry.name))
        else:
            dpg.set_value(self.name_input, entry.name)

    def ok(self) -> Optional[str]:
        name = dpg.get_value(self.name_input).strip()
        if not name:
            dpg.set_value(self.status, "choose or type a file name")
            return None
        path = os.path.join(self.folder, os.path.expanduser(name))
        if os.path.isdir(path):
            self.go(path)
            return None
        if self.must_exist and not os.path.isfile(path):
            dpg.set_value(self.status, f"no such file: {path}")
            return None
        dpg.hide_item(self.window)
        self.on_path(os.path.abspath(path))
        return os.path.abspath(path)

    def choose(self, path: str) -> Optional[str]:
        """Picks `path` as a user would: its folder, then its name, then OK."""
        self.show()
        if not self.go(os.path.dirname(os.path.abspath(path))):
            return None
        dpg.set_value(self.name_input, os.path.basename(path))
        return self.ok()
