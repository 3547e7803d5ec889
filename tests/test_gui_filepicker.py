"""The window's file chooser: sizes in binary units (Dear PyGui's built-in dialog wrote "Mo" / "Ko"), folders first,
only matching files, and a network picked in it opens."""
from __future__ import annotations

import os
import shutil

import pytest

from explorer.gui.filepicker import human_size, listing
from gui_harness import SG2, click, fire, have_xdotool, make_app, pointer_to, wait_idle, xdo, xvfb_display  # noqa: F401 (fixtures)


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
                                     (3 * 2 ** 20, "3.0 MiB"), (int(2.25 * 2 ** 30), "2.2 GiB")])
def test_sizes_in_binary_units(n, text):
    # 2.25 GiB: Python's round-half-even formatting gives 2.2 (the one decimal is a display figure)
    assert human_size(n) == text


def test_listing_folders_first_matching_files_no_hidden(tmp_path):
    (tmp_path / "zeta").mkdir()
    (tmp_path / "Alpha").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b.PKL").write_bytes(b"x" * 2048)
    (tmp_path / "a.pkl").write_bytes(b"x" * 10)
    (tmp_path / "notes.txt").write_text("n")
    (tmp_path / ".secret.pkl").write_bytes(b"x")
    got = listing(str(tmp_path), [".pkl"])
    assert [e.label for e in got] == ["[folder] Alpha/", "[folder] zeta/", "a.pkl    10 B", "b.PKL    2.0 KiB"]
    assert "notes.txt    1 B" in [e.label for e in listing(str(tmp_path), [".pkl"], show_all=True)]
    with pytest.raises(OSError):
        listing(str(tmp_path / "missing"), [".pkl"])


@pytest.mark.gui
@pytest.mark.timeout(180)
def test_browse_lists_the_folder_and_opens_the_picked_network(make_app, tmp_path):
    import dearpygui.dearpygui as dpg
    folder = tmp_path / "nets"
    (folder / "older").mkdir(parents=True)
    shutil.copy(SG2, folder / "mine.pkl")
    (folder / "readme.txt").write_text("not a network")
    app = make_app(SG2)
    wait_idle(app)
    net = app.panels["network"]
    picker = net.file_dialog
    browse = next(c for c in dpg.get_item_children(dpg.get_item_parent(net.load_button), 1)
                  if dpg.get_item_label(c) == "Browse...")
    if have_xdotool():                     # a real click on Browse..., as a user opens it
        pointer_to(app, browse)
        xdo("click", 1)
        for _ in range(3):
            app.step()
    else:
        click(browse)
    assert dpg.is_item_shown(picker.window)
    fire(picker.folder_input, str(folder))                 # typed folder, then Enter
    items = dpg.get_item_configuration(picker.list)["items"]
    size = human_size(os.path.getsize(folder / "mine.pkl"))
    assert items == ["[folder] older/", f"mine.pkl    {size}"] and size.endswith("MiB")   # the 4 MB fixture
    fire(picker.list, "[folder] older/")                   # a folder opens
    assert picker.folder == str(folder / "older") and dpg.get_item_configuration(picker.list)["items"] == []
    click(next(c for c in dpg.get_item_children(dpg.get_item_children(picker.window, 1)[0], 1)
               if dpg.get_item_label(c) == "Up"))
    assert picker.folder == str(folder)
    fire(picker.list, f"mine.pkl    {size}")               # a file: its name goes to the name field
    assert dpg.get_value(picker.name_input) == "mine.pkl"
    fire(picker.name_input, "nope.pkl")                    # Enter on a name that is not there: said, kept open
    assert "no such file" in dpg.get_value(picker.status) and dpg.is_item_shown(picker.window)
    fire(picker.name_input, "mine.pkl")
    wait_idle(app)
    assert not dpg.is_item_shown(picker.window)
    assert app.info.path == str(folder / "mine.pkl") and net.error == ""
