"""`sg-explorer video`: bad arguments fail fast with exit 2 and one line; a run shows a progress bar with ETA and
writes a decodable file with its sidecars; Ctrl-C stops it cleanly, leaving no file and no encoder process."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer.cli import main
from test_video_helpers import SG2, decode

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv,needle", [
    (["--output", "{d}/x.avi"], "unknown output format"),
    (["--output", "{d}/nope/x.mp4"], "does not exist"),
    (["--output", "/proc/x.mp4"], "not writable"),
    (["--output", "{d}/x.mp4", "--seeds", "0-2", "--grid", "2x1"], "divide evenly"),
    (["--output", "{d}/x.mp4", "--seeds", "3-1"], "seed range"),
    (["--output", "{d}/x.mp4", "--grid", "2by2"], "--grid"),
    (["--output", "{d}/x.mp4", "--size", "0x10"], "--size"),
    (["--output", "{d}/x.mp4", "--translate-anim", "0.1"], "--translate-anim"),
    (["--output", "{d}/x.mp4", "--translate-anim", "0.1,0"], "period"),
    (["--output", "{d}/x.mp4", "--crf", "20", "--bitrate", "5M"], "not both"),
    (["--output", "{d}/x.mp4", "--crf", "55"], "between 0 and 51"),
    (["--output", "{d}/x.mp4", "--bitrate", "lots"], "--bitrate"),
    (["--output", "{d}/x.gif", "--crf", "20"], "apply to .mp4"),
    (["--output", "{d}/x.mp4", "--kind", "slerp", "--space", "w"], "slerp"),
    (["--output", "{d}/x.mp4", "--layer", "b4.conv1", "--channels", "0,1"], "--channels"),
    (["--output", "{d}/x.mp4", "--layer", "b4.conv1", "--channels", "0,x,1"], "--channels"),
    (["--output", "{d}/x.mp4", "--w-frames", "0"], "--w-frames"),
    (["--output", "{d}/x.mp4", "--fps", "-1"], "--fps"),
    (["--output", "{d}/x.mp4", "--num-keyframes", "0"], "--num-keyframes"),
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
    assert capsys.readouterr().err.count("\n") == 2


def test_missing_checkpoint_exits_with_one_line_without_output(tmp_path, capsys):
    rc = main(["video", str(tmp_path / "missing.pkl"), "--output", str(tmp_path / "x.mp4")])
    assert rc in (1, 2)
    assert capsys.readouterr().err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv,needle", [
    (["--layer", "nope"], "unknown layer"),
    (["--layer", "b8"], "several tensors"),
    (["--layer", "b8.conv1", "--channels", "64"], "out of range"),
    (["--class", "1"], "unconditional"),
    (["--rotate-anim", "5"], "StyleGAN3"),
])
def test_errors_that_need_the_network_are_one_line_and_leave_nothing(tmp_path, capsys, argv, needle):
    assert main(["video", SG2, "--output", str(tmp_path / "x.mp4")] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_video_and_sidecars_with_a_progress_bar(tmp_path, capsys):
    out = tmp_path / "walk.mp4"
    assert main(["video", SG2, "--seeds", "0-3", "--grid", "2x1", "--w-frames", "4", "--output", str(out)]) == 0
    assert decode(out).shape == (2 * 4, 32, 64, 3)
    assert (tmp_path / "walk.mp4.recipe.json").exists()
    cmd = (tmp_path / "walk.mp4.command.txt").read_text()
    assert "--grid 2x1" in cmd and "--seeds 0-3" in cmd
    captured = capsys.readouterr()
    # tqdm's bar: count of total, then [elapsed<remaining] (the ETA).
    assert re.search(r"\b8/8 \[\d\d:\d\d<\d\d:\d\d", captured.err), captured.err
    assert captured.out.startswith(f"wrote {out} (sg-explorer video ")


def _default_signals() -> None:
    """In the child before exec: default SIGINT / SIGTERM. A suite started from a background job inherits an ignored
    SIGINT, exec keeps an ignored signal ignored, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_ctrl_c_stops_cleanly_leaving_no_file(tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it (ffmpeg gets it too)."""
    out = tmp_path / "long.mp4"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "explorer.cli", "video", SG2, "--seeds", "0-7", "--w-frames",
                             "2000", "--batch", "2", "--output", str(out)], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_default_signals)
    try:
        deadline = time.time() + 120
        # The bar has drawn frames: generation and encoding are under way.
        while time.time() < deadline and proc.poll() is None:
            if any(".partial-" in p.name and p.stat().st_size > 0 for p in tmp_path.iterdir()):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the export ended before it could be interrupted"
        encoders = _children(proc.pid)   # ffmpeg runs in a process group of its own (imageio-ffmpeg's setpgrp)
        assert encoders, "no encoder process was found"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].endswith("sg-explorer: error: interrupted"), err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # nothing of the group outlived the export
        os.killpg(proc.pid, 0)
    assert not [pid for pid in encoders if _alive(pid)]   # and ffmpeg was stopped, not left encoding
