"""The directions and projection panels in the real window (Xvfb): a direction slider changes the image on screen
exactly as `images --edit` draws the same edit; GANSpace reports progress; a projection started in the window
finishes, becomes the state's w and a keyframe, and the state renders the projected image."""
import shlex
import time

import numpy as np
import pytest
from PIL import Image

from gui_harness import *  # noqa: F401,F403
from gui_harness import SG2, click, engine_image, fire, image_on_screen, screenshot, step_until, wait_idle

pytestmark = pytest.mark.gui


def test_direction_slider_equals_images_edit(make_app, tmp_path, capsys):
    import dearpygui.dearpygui as dpg
    from explorer.cli import main
    app = make_app(SG2)
    wait_idle(app)
    fire(app.panels["latent"].seed_input, 7)
    fire(app.panels["mixing"].widgets["mix_seed"], 3)
    app.panels["mixing"].preset("fine")                  # edits combine with style mixing
    d = app.panels["directions"]
    fire(d.widgets["num"], 4)
    assert d.start()
    step_until(app, lambda: d.job is None, 60)
    assert len(d.sliders) == 4 and d.s.file.endswith("-sefa.npz")
    wait_idle(app)
    before = app.last_result.image.copy()
    fire(d.widgets["layers"], "coarse")
    fire(d.sliders[1], 3.0)
    wait_idle(app)
    assert app.last_state.edits == [{"file": d.s.file, "index": 1, "strength": 3.0, "layers": [0, 1, 2]}]
    shown = image_on_screen(app, screenshot(app, str(tmp_path / "shot.png")))
    line = d.copy_command()
    assert "--edit" in line and dpg.get_value(d.status) == line
    argv = shlex.split(line)
    cap = shlex.split(app.panels["capture"].copy_command())   # the capture panel's line carries the edits too
    assert cap[:cap.index("--outdir")] == argv[:argv.index("--outdir")]
    argv[argv.index("--outdir") + 1] = str(tmp_path / "out")
    assert main(argv[1:]) == 0
    capsys.readouterr()
    cli = np.asarray(Image.open(tmp_path / "out" / "seed0007.png"))
    assert np.abs(shown.astype(int) - cli).max() <= 1
    assert np.abs(app.last_result.image.astype(int) - cli).max() <= 1
    assert np.abs(before.astype(int) - cli).mean() > 1             # the slider did change the image

    # GANSpace: progress bar, then sliders; saving with names keeps the edits on the saved file.
    fire(d.widgets["method"], "ganspace")
    fire(d.widgets["samples"], 1000)
    assert d.start()
    step_until(app, lambda: d.job is None, 60)
    assert dpg.get_value(d.progress) == 1.0 and d.directions.method == "ganspace"
    fire(d.name_inputs[0], "tone")
    fire(d.sliders[0], -1.5)
    assert d.save_as(str(tmp_path / "mine.npz"))
    wait_idle(app)
    assert app.last_state.edits[0]["file"] == str(tmp_path / "mine.npz")
    from networks.edit.directions import load_directions
    assert load_directions(tmp_path / "mine.npz").names[0] == "tone"


def test_projection_in_the_window(make_app, tmp_path):
    import dearpygui.dearpygui as dpg
    from explorer.engine import RenderState
    target = engine_image(SG2, RenderState(checkpoint=SG2, x=5))
    Image.fromarray(target).save(tmp_path / "photo.png")
    app = make_app(SG2)
    wait_idle(app)
    p = app.panels["projection"]
    fire(p.widgets["target"], str(tmp_path / "photo.png"))
    fire(p.widgets["steps"], 15)
    p.s.w_avg_samples = 500                               # no widget: the start point needs few samples here
    assert p.start()
    frames, t0 = 0, time.perf_counter()
    while p.job is not None:                              # the window keeps drawing while it works
        app.step()
        frames += 1
        assert time.perf_counter() - t0 < 120
    # A frame that waited for the job would see it finished after one frame (no wall-clock limit: CPUs are shared).
    assert "PSNR" in dpg.get_value(p.status) and frames >= 3
    wait_idle(app)
    assert app.last_state.w == p.w and len(p.w) == 8
    np.testing.assert_allclose(np.abs(app.last_result.image.astype(int) - engine_image(SG2, app.last_state)).max(),
                               0, atol=1)
    line = app.panels["directions"].copy_command()         # the projected w travels as --w FILE
    argv = shlex.split(line)
    assert "--w" in argv and "--seeds" not in argv
    cap = shlex.split(app.panels["capture"].copy_command())
    assert cap[:cap.index("--outdir")] == argv[:argv.index("--outdir")]
    argv[argv.index("--outdir") + 1] = str(tmp_path / "out")
    from explorer.cli import main
    assert main(argv[1:]) == 0
    assert np.abs(np.asarray(Image.open(tmp_path / "out" / "w0000.png")).astype(int)
                  - app.last_result.image).max() <= 1
    for _ in range(3):
        app.step()
    assert len(app.video.keyframes) == 1 and app.video.keyframes[0].w == p.w
    fire(p.use_box, False)                                # back to the seeds
    wait_idle(app)
    assert app.last_state.w is None
    # Cancel never waits for the job.
    fire(p.widgets["steps"], 100000)
    assert p.start()
    app.step()
    t = time.perf_counter()
    click(p.cancel_button)
    assert time.perf_counter() - t < 0.1
    step_until(app, lambda: p.job is None, 60)
