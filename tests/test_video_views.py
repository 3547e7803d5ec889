"""What a frame shows besides a plain seed walk: StyleGAN3 transform animations (circle, rotation, untransform),
layer videos and a second checkpoint side by side, each frame compared with the engine's render of that state."""
import math

import numpy as np
import pytest
import torch

from explorer.engine import RenderState, render
from explorer.engine import layers as L
from explorer.engine.renderer import map_seeds, synthesize
from explorer.errors import UserError
from explorer.video import VideoSpec, export_video
from test_video_helpers import SG2, SG3, SG3R, assert_close_image, cache, decode, mean_diff  # noqa: F401


def test_translate_anim_follows_a_circle_with_the_given_radius_and_period(tmp_path, cache):
    G = cache.get(SG3)
    # One seed, 8 frames at 4 fps = 2 s = one period: quarter turns at frames 0, 2, 4, 6.
    spec = VideoSpec(checkpoint=SG3, output=str(tmp_path / "t/"), seeds=[4], w_frames=8, translate_anim=(0.1, 2.0),
                     fps=4)
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape == (8, 32, 32, 3)
    for k, (tx, ty) in zip([0, 2, 4, 6], [(0.1, 0.0), (0.0, 0.1), (-0.1, 0.0), (0.0, -0.1)]):
        assert_close_image(frames[k], render(G, RenderState(x=4, translate_x=tx, translate_y=ty)).image)
    a = 2 * math.pi * 1 / 8
    assert_close_image(frames[1], render(G, RenderState(x=4, translate_x=0.1 * math.cos(a),
                                                        translate_y=0.1 * math.sin(a))).image)
    assert mean_diff(frames[0], frames[4]) > 1


def test_rotate_anim_turns_at_degrees_per_second_during_a_walk(tmp_path, cache):
    G = cache.get(SG3)
    spec = VideoSpec(checkpoint=SG3, output=str(tmp_path / "r/"), seeds=[4, 5], w_frames=4, kind="linear",
                     rotate_anim=30.0, fps=2, class_idx=1)
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape[0] == 8
    assert_close_image(frames[0], render(G, RenderState(x=4, class_idx=1)).image)
    # Frame 4 is seed 5 at t = 2 s: 60 degrees.
    assert_close_image(frames[4], render(G, RenderState(x=5, class_idx=1, rotate=60.0)).image)
    # Frame 2, halfway between the seeds, at 30 degrees.
    with torch.no_grad():
        ws = map_seeds(G, [4, 5], 1)
    w = (ws[0] + (ws[1] - ws[0]) * 0.5).numpy().tolist()
    assert_close_image(frames[2], render(G, RenderState(w=w, class_idx=1, rotate=30.0)).image)


def test_untransform_resamples_the_output_back(tmp_path, cache):
    G = cache.get(SG3)
    spec = VideoSpec(checkpoint=SG3, output=str(tmp_path / "u/"), seeds=[4], w_frames=4, translate_anim=(0.125, 2.0),
                     rotate_anim=20.0, fps=4, untransform=True)
    frames = decode(export_video(spec, cache=cache))
    plain = decode(export_video(VideoSpec.from_dict({**spec.to_dict(), "output": str(tmp_path / "p/"),
                                                     "untransform": False}), cache=cache))
    for k in range(4):
        s = 0.25 * k
        state = RenderState(x=4, translate_x=0.125 * math.cos(math.pi * s), translate_y=0.125 * math.sin(math.pi * s),
                            rotate=20.0 * s)
        assert_close_image(frames[k], render(G, state.replace(untransform=True)).image)
        assert_close_image(plain[k], render(G, state).image)
    assert mean_diff(frames[2], plain[2]) > 1


def test_transform_options_need_stylegan3(tmp_path, cache):
    for kw in ({"translate_anim": (0.1, 2.0)}, {"rotate_anim": 10.0}, {"untransform": True}):
        with pytest.raises(UserError, match="StyleGAN3"):
            export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "x.mp4"), **kw), cache=cache)
    assert list(tmp_path.iterdir()) == []


def test_layer_video_shows_the_gui_layer_view_enlarged(tmp_path, cache):
    G = cache.get(SG2)
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "l/"), seeds=[1, 2], w_frames=2, kind="linear",
                     layer="b8.conv1", channels=[2, 3, 4], amplify_db=6.0)
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape == (4, 32, 32, 3)
    for k, seed in ((0, 1), (2, 2)):
        view = render(G, RenderState(x=seed, layer="b8.conv1", base_channel=2, sel_channels=3,
                                     amplify_db=6.0)).layer_image
        assert view.shape == (8, 8, 3)
        assert_close_image(frames[k], np.repeat(np.repeat(view, 4, 0), 4, 1))  # nearest-neighbour enlargement
    # The layer, not the output image.
    assert mean_diff(frames[0], render(G, RenderState(x=1)).image) > 10


def test_layer_video_takes_any_channels_in_the_given_order(tmp_path, cache):
    G = cache.get(SG2)
    frames = decode(export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "l/"), seeds=[1], w_frames=1,
                                           layer="b16:0", channels=[40, 7, 13], normalize=True), cache=cache))
    with torch.no_grad(), L.capture(G, ["b16:0"]) as acts:
        synthesize(G, map_seeds(G, [1], None))
    want = L.shown_picture(acts["b16:0"][0, [40, 7, 13]], 0.0, True).numpy()
    assert_close_image(frames[0], np.repeat(np.repeat(want, 2, 0), 2, 1))
    grey = decode(export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "g/"), seeds=[1], w_frames=1,
                                         layer="b16:0", channels=[7], normalize=True), cache=cache))
    np.testing.assert_array_equal(grey[0][..., 0], grey[0][..., 2])
    assert_close_image(grey[0][..., 0], frames[0][..., 1])


def test_bad_layer_views_fail_before_any_file(tmp_path, cache):
    def bad(match, **kw):
        with pytest.raises(UserError, match=match):
            export_video(VideoSpec(**{"checkpoint": SG2, "output": str(tmp_path / "x.mp4"), "seeds": [1], **kw}),
                         cache=cache)

    bad("unknown layer", layer="b64.conv1")
    bad("several tensors; choose one of b8:0, b8:1", layer="b8")   # a block returns (features, image)
    bad("out of range; layer b8.conv1 has 64 channels", layer="b8.conv1", channels=[0, 64, 1])
    bad("1 or 3 channel", layer="b8.conv1", channels=[0, 1])
    bad("untransform", layer="L2_36_64", untransform=True, checkpoint=SG3)
    bad(f"{SG3R}: unknown layer 'L2_36_64'", layer="L2_36_64", checkpoint=SG3, side_by_side=SG3R)
    assert list(tmp_path.iterdir()) == []


def test_side_by_side_puts_the_second_checkpoint_on_the_right(tmp_path, cache):
    G3, G3R = cache.get(SG3), cache.get(SG3R)
    spec = VideoSpec(checkpoint=SG3, side_by_side=SG3R, output=str(tmp_path / "s/"), seeds=[4], w_frames=4,
                     translate_anim=(0.1, 1.0), fps=4)
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape == (4, 32, 64, 3)
    state = RenderState(x=4, translate_x=0.0, translate_y=0.1)  # frame 1: a quarter period
    assert_close_image(frames[1][:, :32], render(G3, state).image)
    assert_close_image(frames[1][:, 32:], render(G3R, state).image)
    # The texture-sticking comparison as a layer video: both networks' layer view, same channels.
    layer = decode(export_video(VideoSpec(checkpoint=SG3, side_by_side=SG3R, output=str(tmp_path / "l/"), seeds=[4],
                                          w_frames=1, layer="input", channels=[1]), cache=cache))
    assert layer.shape == (1, 32, 64, 3)
    view = RenderState(x=4, layer="input", base_channel=1, sel_channels=1)
    left, right = render(G3, view).layer_image, render(G3R, view).layer_image
    assert left.shape == (36, 36, 3)  # the input layer carries a margin; the video shows it at the output's size
    pick = ((np.arange(32) + 0.5) * 36 / 32).astype(int)  # nearest neighbour of each pixel centre, 36 -> 32
    assert_close_image(layer[0][:, :32], left[pick][:, pick])
    assert_close_image(layer[0][:, 32:], right[pick][:, pick])
