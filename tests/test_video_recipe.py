"""Keyframe recipes: full explorer states (seed or w, psi, mixing, class, transform, layer view) interpolated between
keyframes, rendered exactly as the engine renders each state; the recipe JSON beside an export re-runs it."""
import json

import numpy as np
import pytest

from explorer.cli import main
from explorer.engine import RenderState, render
from explorer.errors import UserError
from explorer.video import Keyframe, Recipe, VideoSpec, export_video, sidecar_paths
from explorer.video.frames import _resize
from test_video_helpers import SG2, SG3, cache, decode, mean_diff  # noqa: F401


def test_seed_and_psi_keyframes(tmp_path, cache):
    G = cache.get(SG2)
    recipe = Recipe(keyframes=[Keyframe(RenderState(checkpoint=SG2, x=1), frames=4),
                               Keyframe(RenderState(checkpoint=SG2, x=2, trunc_psi=0.5), frames=4)], loop=False)
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    path = tmp_path / "r.json"
    recipe.save(path)
    frames = decode(export_video(VideoSpec(output=str(tmp_path / "rv/"), keyframes=str(path)), cache=cache))
    assert frames.shape[0] == recipe.total_frames == 5
    # Each frame is one engine render of its state: exactly equal.
    np.testing.assert_array_equal(frames[0], render(G, RenderState(x=1)).image)
    np.testing.assert_array_equal(frames[-1], render(G, RenderState(x=2, trunc_psi=0.5)).image)
    mid = recipe.state_at(0.5)
    assert mid.x == pytest.approx(1.5) and mid.trunc_psi == pytest.approx(0.75)
    np.testing.assert_array_equal(frames[2], render(G, mid).image)
    # A plain list of {state, frames} is a recipe too.
    assert Recipe.from_dict([k.to_dict() for k in recipe.keyframes]).total_frames == 5


def test_full_states_mixing_class_transform_and_w(tmp_path, cache):
    G = cache.get(SG3)
    mix = dict(mix_seed=9, mix_mask=[False] * 8 + [True] * 8, class_idx=2)
    a = RenderState(checkpoint=SG3, x=3, translate_x=0.0, rotate=0.0, **mix)
    b = a.replace(x=4, translate_x=0.2, rotate=40.0, trunc_psi=0.6)
    recipe = Recipe(keyframes=[Keyframe(a, 4), Keyframe(b, 4)], loop=True, fps=12)
    frames = decode(export_video(VideoSpec(output=str(tmp_path / "v/"), keyframes=_save(tmp_path, recipe)),
                                 cache=cache))
    assert frames.shape[0] == 8                     # looped: 4 + 4, the last frame leads back to a
    half = a.replace(x=3.5, translate_x=0.1, rotate=20.0, trunc_psi=0.8)
    np.testing.assert_array_equal(frames[2], render(G, half).image)
    np.testing.assert_array_equal(frames[6], render(G, half).image)   # on the way back
    assert mean_diff(frames[2], render(G, half.replace(mix_mask=[])).image) > 0.5   # mixing is in the frame
    # Keyframes holding explicit ws blend the ws.
    w1 = np.random.RandomState(0).randn(G.num_ws, G.w_dim).astype(np.float32) * 0.5
    w2 = np.random.RandomState(1).randn(G.num_ws, G.w_dim).astype(np.float32) * 0.5
    ka, kb = RenderState(checkpoint=SG3, w=w1.tolist()), RenderState(checkpoint=SG3, w=w2.tolist())
    recipe = Recipe(keyframes=[Keyframe(ka, 2), Keyframe(kb, 2)])
    frames = decode(export_video(VideoSpec(output=str(tmp_path / "w/"), keyframes=_save(tmp_path, recipe, "w.json")),
                                 cache=cache))
    np.testing.assert_array_equal(frames[1], render(G, ka.replace(w=((w1 + w2) / 2).tolist())).image)


def test_layer_view_keyframes_are_shown_at_the_output_size(tmp_path, cache):
    G = cache.get(SG2)
    view = RenderState(checkpoint=SG2, x=1, layer="b8.conv1", base_channel=4, sel_channels=3)
    recipe = Recipe(keyframes=[Keyframe(view, 2), Keyframe(view.replace(x=2, amplify_db=6.0), 2)])
    frames = decode(export_video(VideoSpec(output=str(tmp_path / "l/"), keyframes=_save(tmp_path, recipe)),
                                 cache=cache))
    assert frames.shape == (3, 32, 32, 3)
    small = render(G, view.replace(x=1.5, amplify_db=3.0)).layer_image
    np.testing.assert_array_equal(frames[1], np.repeat(np.repeat(small, 4, 0), 4, 1))


def test_fps_comes_from_the_recipe_unless_given(tmp_path, cache):
    recipe = Recipe(keyframes=[Keyframe(RenderState(checkpoint=SG2, x=1), 2), Keyframe(RenderState(x=2), 2)],
                    fps=12.5)
    path = _save(tmp_path, recipe)
    for name, fps, want in (("a.gif", None, 12.5), ("b.gif", 25.0, 25.0)):
        spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / name), keyframes=path, fps=fps)
        export_video(spec, cache=cache)
        doc = json.loads(sidecar_paths(spec.output)[0].read_text())
        assert doc["video"]["fps"] == want and doc["recipe"]["fps"] == want


def test_the_recipe_json_beside_a_keyframe_export_re_runs_it(tmp_path, cache):
    recipe = Recipe(keyframes=[Keyframe(RenderState(checkpoint=SG2, x=1, trunc_psi=0.7), 3),
                               Keyframe(RenderState(checkpoint=SG2, x=5), 3)], kind="cubic", loop=True, fps=10)
    first = tmp_path / "first/"
    export_video(VideoSpec(output=str(first)), recipe=recipe, cache=cache)   # as the GUI calls it: no recipe file
    recipe_json, command_txt = sidecar_paths(str(first))
    assert Recipe.load(recipe_json) == recipe
    command = command_txt.read_text().split()
    assert command[:2] == ["sg-explorer", "video"] and command[command.index("--keyframes") + 1] == str(recipe_json)
    command[command.index("--output") + 1] = str(tmp_path / "again/")
    assert main(command[1:]) == 0
    np.testing.assert_array_equal(decode(first), decode(tmp_path / "again"))
    assert decode(first).shape[0] == 6


def test_a_seed_walk_sidecar_is_not_a_recipe(tmp_path, cache):
    export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "w/"), seeds=[1], w_frames=1), cache=cache)
    with pytest.raises(UserError, match="seed-walk export.*command line: sg-explorer video"):
        Recipe.load(sidecar_paths(str(tmp_path / "w/"))[0])


def test_recipe_errors_are_one_line_before_any_file(tmp_path, cache):
    for bad in ({"keyframes": []}, [{"state": {"x": "one"}, "frames": 3}], [{"state": {}, "frames": 0}],
                {"keyframes": [{"state": {}}], "fps": "fast"}, {"keyframes": [{"state": {}}], "loop": "yes"},
                {"keyframes": [{"state": {}}], "kind": "slerp"}, {"keyframes": [{"state": {}}], "speed": 2}):
        with pytest.raises(UserError):
            Recipe.from_dict(bad)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        Recipe.load(bad)
    with pytest.raises(UserError, match="cannot read recipe"):
        Recipe.load(tmp_path / "missing.json")
    out = tmp_path / "out"
    out.mkdir()
    cases = [([Keyframe(RenderState(x=1), 2)], "name no checkpoint"),
             ([Keyframe(RenderState(checkpoint=SG2, layer="b8"), 2)], "several tensors"),
             ([Keyframe(RenderState(checkpoint=SG2, class_idx=1), 2)], "unconditional"),
             ([Keyframe(RenderState(checkpoint=SG2, w=[0.0] * 3), 2)], "explicit w has shape")]
    for keys, match in cases:
        with pytest.raises(UserError, match=match):
            export_video(VideoSpec(output=str(out / "x.mp4")), recipe=Recipe(keyframes=keys), cache=cache)
    assert list(out.iterdir()) == []


def test_resize_is_nearest_for_layer_pictures():
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    np.testing.assert_array_equal(_resize(img, (8, 8), nearest=True), np.repeat(np.repeat(img, 2, 0), 2, 1))


def _save(tmp_path, recipe: Recipe, name: str = "recipe.json") -> str:
    path = tmp_path / name
    recipe.save(path)
    return str(path)
