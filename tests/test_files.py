"""networks.files: the one atomic writer behind checkpoints, PNGs, recipes, data set zips and downloads."""
import os
import stat

import numpy as np
import pytest
from PIL import Image

from networks.files import atomic_open, atomic_write_bytes, check_writable_dir, current_umask, save_png


def test_written_files_get_the_umask_permissions_not_mkstemps(tmp_path):
    old = os.umask(0o027)
    try:
        path = atomic_write_bytes(tmp_path / "a.bin", b"abc")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640 and current_umask() == 0o027
    finally:
        os.umask(old)
    assert path.read_bytes() == b"abc"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write("half of the new")
            raise RuntimeError("killed")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    with pytest.raises(ValueError):
        with atomic_open(path, "a"):
            pass


def test_save_png_round_trips_rgb_and_grey(tmp_path):
    rgb = np.random.RandomState(0).randint(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(save_png(tmp_path / "c.png", rgb))), rgb)
    grey = rgb[..., :1]
    np.testing.assert_array_equal(np.asarray(Image.open(save_png(tmp_path / "g.png", grey))), grey[..., 0])
    with pytest.raises(ValueError):
        save_png(tmp_path / "f.png", rgb.astype(np.float32))


def test_check_writable_dir_creates_and_probes(tmp_path):
    assert check_writable_dir(tmp_path / "new" / "dir").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        check_writable_dir(tmp_path / "file", create=False)
    with pytest.raises(OSError):
        check_writable_dir("/proc/sg-explorer-test")   # root passes os.access here; a real file is refused
    assert [p.name for p in (tmp_path / "new" / "dir").iterdir()] == []   # the probe is gone
