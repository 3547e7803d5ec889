"""The GUI's export dialog: keyframe timeline (add the current state, reorder, delete, frames between), export
through export_video with progress, and cancel that leaves no file.

The dialog runs in a child process with its own Dear PyGui context (no window is needed to drive its widgets):
the explorer keeps one context per process, which the window tests in this process own.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_timeline_export_progress_and_cancel(tmp_path):
    proc = subprocess.run([sys.executable, __file__, str(tmp_path)], cwd=HERE.parent, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["order"] == [2.0, 3.0, 1.0]
    assert report["frames"] == 2 * 3 + 1
    assert report["progress_seen"] and report["progress_final"] == 1.0
    assert report["cancel_call_s"] < 0.5 and report["status_cancelled"] == "cancelled"


def _drive(tmp: Path) -> dict:
    """Runs the dialog against the sg2-32 fixture; asserts as it goes, returns what the parent checks again."""
    import dearpygui.dearpygui as dpg
    import numpy as np

    sys.path.insert(0, str(HERE))
    from test_video_helpers import SG2, decode, leftovers

    from explorer.engine import NetworkCache, RenderState
    from explorer.gui.panels.video import VideoDialog
    from explorer.video import VideoSpec, export_video, sidecar_paths

    class Ctx:
        state = RenderState()

        def current_state(self):
            return self.state

    ctx, cache = Ctx(), NetworkCache()
    dpg.create_context()
    dialog = VideoDialog(ctx, lambda: cache)
    dialog.build()

    def edit(tag, value):  # as a user edit: the value, then the widget's callback
        dpg.set_value(tag, value)
        dpg.get_item_callback(tag)(tag, value)

    def wait(timeout=120.0):
        seen, deadline = [], time.monotonic() + timeout
        while dialog.job is not None and time.monotonic() < deadline:
            dialog.tick()
            seen.append(dpg.get_value(dialog.progress))
            time.sleep(0.01)
        assert dialog.job is None, "export did not finish"
        return seen

    # Timeline: add three states, reorder, delete.
    for x in (1.0, 2.0, 3.0):
        ctx.state = RenderState(checkpoint=SG2, x=x, list_layers=True)
        dialog.add_current()
    assert [k.x for k in dialog.keyframes] == [1.0, 2.0, 3.0] and not any(k.list_layers for k in dialog.keyframes)
    assert dialog.selected() == 2                              # the newest keyframe is selected
    dialog.select(0)
    dialog.move(+1)
    assert [k.x for k in dialog.keyframes] == [2.0, 1.0, 3.0] and dialog.selected() == 1
    dialog.move(+1)
    dialog.move(+1)                                            # already last: nothing happens
    assert [k.x for k in dialog.keyframes] == [2.0, 3.0, 1.0] and dialog.selected() == 2
    ctx.state = RenderState(checkpoint=SG2, x=9.0)
    dialog.add_current()
    dialog.delete()
    order = [k.x for k in dialog.keyframes]
    assert order == [2.0, 3.0, 1.0] and dialog.selected() == 2
    assert dpg.get_item_configuration(dialog.list)["items"] == dialog.labels()

    # Frames between, then export to a PNG folder: the same frames export_video writes for that recipe.
    edit(dialog.frames_input, 2)
    out = tmp / "gui"
    edit(dialog.path_input, str(out) + "/")
    assert dialog.export()
    assert not dialog.export()                                 # one export at a time
    seen = wait()
    assert dpg.get_value(dialog.status) == f"wrote {out}/", dpg.get_value(dialog.status)
    frames = decode(out)
    recipe = dialog.recipe()
    assert [k.frames for k in recipe.keyframes] == [3, 3, 3] and not recipe.loop
    ref = export_video(VideoSpec(output=str(tmp / "ref/")), recipe=recipe, cache=cache)
    np.testing.assert_array_equal(frames, decode(ref))
    assert sidecar_paths(str(out) + "/")[1].exists()

    # A long export, cancelled from the UI thread without waiting for it.
    edit(dialog.frames_input, 2000)
    edit(dialog.path_input, str(tmp / "long.mp4"))
    assert dialog.export()
    deadline = time.monotonic() + 120
    while dialog.job.progress == 0 and time.monotonic() < deadline:
        dialog.tick()
        time.sleep(0.01)
    assert dialog.job.progress > 0
    dialog.tick()
    assert "ETA" in dpg.get_item_configuration(dialog.progress)["overlay"]
    t0 = time.perf_counter()
    dialog.cancel()
    cancel_call_s = time.perf_counter() - t0
    wait()
    assert not (tmp / "long.mp4").exists() and leftovers(tmp) == []
    report = {"order": order, "frames": int(frames.shape[0]), "progress_seen": any(0 < p < 1 for p in seen),
              "progress_final": float(seen[-1]), "cancel_call_s": cancel_call_s,
              "status_cancelled": dpg.get_value(dialog.status)}
    dpg.destroy_context()
    return report


if __name__ == "__main__":
    print(json.dumps(_drive(Path(sys.argv[1]))))
