"""The default models' data set recipe: scripts/emoji_images.py renders the font's emoji, and
`sg-explorer dataset` turns them into the training zip the README's commands use."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"

if not os.path.isfile(FONT):
    if os.environ.get("CI"):
        raise RuntimeError(f"{FONT} missing: scripts/test.sh installs fonts-noto-color-emoji")
    pytest.skip("fonts-noto-color-emoji is not installed (scripts/test.sh installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def emoji_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("emoji")
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "emoji_images.py"), "--outdir", str(out),
                        "--size", "64"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def test_every_emoji_is_a_centred_glyph_on_white(emoji_dir):
    files = sorted(emoji_dir.glob("*.png"))
    assert len(files) > 1500                                   # single code points, skin tones, flags
    names = {f.stem for f in files}
    assert "u1f600" in names and "flag_fr" in names and "u1f44d_1f3fd" in names  # grin, a flag, a skin tone
    for f in files[::97]:
        img = np.asarray(Image.open(f).convert("RGB"))
        assert img.shape == (64, 64, 3)
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        assert (border == 255).all(), f.name                   # the glyph fits inside the white square
        assert (img < 200).any(), f.name                       # and something is drawn
    pixels = [np.asarray(Image.open(f)).tobytes() for f in files]
    assert len(set(pixels)) == len(pixels)                     # no duplicates (tones the font lacks)


def test_the_dataset_command_builds_the_training_zip(emoji_dir, tmp_path):
    dest = tmp_path / "emoji-32.zip"
    r = subprocess.run([sys.executable, "-m", "explorer", "dataset", "--source", str(emoji_dir), "--dest", str(dest),
                        "--resolution", "32x32"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(dest) as zf:
        pngs = [n for n in zf.namelist() if n.endswith(".png")]
        assert len(pngs) == len(list(emoji_dir.glob("*.png")))
        with zf.open(pngs[0]) as fh:
            assert Image.open(fh).size == (32, 32)


def test_missing_font_is_a_one_line_error(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "emoji_images.py"), "--font", str(tmp_path / "x.ttf"),
                        "--outdir", str(tmp_path / "o")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "no such font" in r.stderr
