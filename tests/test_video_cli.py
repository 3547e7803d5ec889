"""`sg-explorer video`: bad arguments fail fast with exit 2 and one line; a run writes a decodable file."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import pytest

from explorer.cli import main
from test_engine_toy import fixture_path, have_networks

SG2 = str(fixture_path("sg2-32"))
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv,needle", [
    (["--output", "{d}/x.avi"], "unknown output format"),
    (["--output", "{d}/nope/x.mp4"], "does not exist"),
    (["--output", "{d}/x.mp4", "--seeds", "0-2", "--grid", "2x1"], "divide evenly"),
    (["--output", "{d}/x.mp4", "--seeds", "3-1"], "seed range"),
    (["--output", "{d}/x.mp4", "--grid", "2by2"], "--grid"),
    (["--output", "{d}/x.mp4", "--size", "0x10"], "--size"),
    (["--output", "{d}/x.mp4", "--translate-anim", "0.1"], "--translate-anim"),
    (["--output", "{d}/x.mp4", "--translate-anim", "0.1,0"], "period"),
    (["--output", "{d}/x.mp4", "--crf", "20", "--bitrate", "5M"], "not both"),
    (["--output", "{d}/x.gif", "--crf", "20"], "apply to .mp4"),
    (["--output", "{d}/x.mp4", "--kind", "slerp", "--space", "w"], "slerp"),
    (["--output", "{d}/x.mp4", "--layer", "b4.conv1", "--channels", "0,1"], "--channels"),
    (["--output", "{d}/x.mp4", "--w-frames", "0"], "--w-frames"),
    (["--output", "{d}/x.mp4", "--fps", "-1"], "--fps"),
])
def test_bad_arguments_exit_2_with_one_line_before_any_work(tmp_path, capsys, argv, needle):
    argv = [a.format(d=tmp_path) for a in argv]
    t0 = time.perf_counter()
    # A checkpoint that does not exist: the argument error must come first, without trying to load it.
    assert main(["video", str(tmp_path / "missing.pkl")] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sg-explorer: error:") and needle in err and "\n" not in err
    assert time.perf_counter() - t0 < 5
    assert list(tmp_path.iterdir()) == []


def test_argparse_errors_exit_2(capsys):
    assert main(["video", "x.pkl", "--output", "a.mp4", "--kind", "spline"]) == 2
    assert main(["video", "x.pkl"]) == 2  # --output is required


def test_missing_checkpoint_exits_1_without_output(tmp_path, capsys):
    rc = main(["video", str(tmp_path / "missing.pkl"), "--output", str(tmp_path / "x.mp4")])
    assert rc in (1, 2)
    assert capsys.readouterr().err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not have_networks(), reason="needs networks.load_network_pkl")
def test_cli_writes_video_and_sidecars(tmp_path, capsys):
    out = tmp_path / "walk.mp4"
    assert main(["video", SG2, "--seeds", "0-3", "--grid", "2x1", "--w-frames", "4", "--output", str(out)]) == 0
    frames = iio.imread(out, index=None)
    assert frames.shape == (2 * 4, 32, 64, 3)
    assert (tmp_path / "walk.mp4.recipe.json").exists()
    cmd = (tmp_path / "walk.mp4.command.txt").read_text()
    assert "--grid 2x1" in cmd and "--seeds 0-3" in cmd
    assert main(["video", SG2, "--output", str(tmp_path / "l.mp4"), "--layer", "nope"]) == 2
    assert "unknown layer" in capsys.readouterr().err
    assert not (tmp_path / "l.mp4").exists()


@pytest.mark.skipif(not have_networks(), reason="needs networks.load_network_pkl")
def test_ctrl_c_stops_cleanly_leaving_no_file(tmp_path):
    out = tmp_path / "long.mp4"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "explorer.cli", "video", SG2, "--seeds", "0-7", "--w-frames",
                             "2000", "--output", str(out)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not any(".partial-" in p.name for p in tmp_path.iterdir()):
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert list(tmp_path.iterdir()) == []
