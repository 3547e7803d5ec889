"""Video export: files decoded back and checked for frame count, size, continuity and exactness."""
import json
import os
import threading
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from explorer.engine import NetworkCache, RenderState, render
from explorer.errors import UserError
from explorer.video import ExportCancelled, Keyframe, Recipe, VideoSpec, export_video, sidecar_paths
from explorer.video.frames import seed_layout
from test_engine_toy import ToyGenerator, fixture_path, have_networks

SG2 = str(fixture_path("sg2-32"))
SG3 = str(fixture_path("sg3t-32-cond"))


def _loader(path):
    if have_networks():
        import networks
        return networks.load_network_pkl(path)
    flavour = "stylegan2" if "sg2" in str(path) else "stylegan3-t"
    return {"G_ema": ToyGenerator(flavour=flavour, c_dim=3 if "cond" in str(path) else 0)}


@pytest.fixture(scope="module")
def cache():
    return NetworkCache(loader=_loader, max_files=4)


def _frames(path) -> np.ndarray:
    """Decoded frames [N, H, W, 3] of any output format."""
    p = Path(path)
    if p.is_dir():
        return np.stack([iio.imread(f) for f in sorted(p.glob("frame_*.png"))])
    arr = iio.imread(p, index=None)
    return arr[..., :3]


def _steps(frames: np.ndarray) -> np.ndarray:
    """Mean |difference| between consecutive frames, including last -> first."""
    f = frames.astype(np.float64)
    return np.abs(np.roll(f, -1, axis=0) - f).mean(axis=(1, 2, 3))


@pytest.mark.parametrize("ext", [".mp4", ".webm", ".gif", "/"])
def test_formats_decode_with_the_right_count_and_size(tmp_path, cache, ext):
    out = str(tmp_path / "walk") + ext
    spec = VideoSpec(checkpoint=SG2, output=out, seeds=list(range(8)), grid=(2, 2), w_frames=5, kind="linear")
    path = export_video(spec, cache=cache)
    frames = _frames(path)
    assert frames.shape == (2 * 5, 64, 64, 3)  # 8 seeds / 4 cells = 2 keyframes, x 5 frames, loop
    recipe, command = sidecar_paths(out)
    doc = json.loads(recipe.read_text())
    assert doc["frames"] == 10 and doc["video"]["seeds"] == list(range(8))
    assert command.read_text().startswith("sg-explorer video ")
    leftovers = [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert leftovers == []


def test_no_loop_count_and_size_option(tmp_path, cache):
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=[1, 2, 3], w_frames=4, loop=False,
                     size=(48, 40), kind="linear")
    frames = _frames(export_video(spec, cache=cache))
    assert frames.shape == ((3 - 1) * 4 + 1, 40, 48, 3)


def test_linear_keyframes_reproduce_seed_images_exactly(tmp_path, cache):
    G = cache.get(SG2)
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=[5, 9], w_frames=4, kind="linear",
                     trunc_psi=0.7)
    frames = _frames(export_video(spec, cache=cache))
    np.testing.assert_array_equal(frames[0], render(G, RenderState(x=5, trunc_psi=0.7)).image)
    np.testing.assert_array_equal(frames[4], render(G, RenderState(x=9, trunc_psi=0.7)).image)
    assert not np.array_equal(frames[1], frames[0])


@pytest.mark.skipif(not have_networks(), reason="needs networks.load_network_pkl and `sg-explorer images`")
def test_first_frame_equals_sg_explorer_images(tmp_path):
    from explorer.cli import main
    assert main(["images", SG2, "--seeds", "7", "--trunc", "0.8", "--outdir", str(tmp_path / "img")]) == 0
    assert main(["video", SG2, "--seeds", "7,8", "--w-frames", "3", "--kind", "linear", "--trunc", "0.8",
                 "--output", str(tmp_path / "frames/")]) == 0
    ref = iio.imread(tmp_path / "img" / "seed0007.png")
    np.testing.assert_array_equal(iio.imread(tmp_path / "frames" / "frame_000000.png"), ref)


def _kinks(frames: np.ndarray) -> np.ndarray:
    """Mean |second difference| at every frame (cyclic): small on a smooth path, large at a corner."""
    f = frames.astype(np.float64)
    return np.abs(np.roll(f, -1, axis=0) + np.roll(f, 1, axis=0) - 2 * f).mean(axis=(1, 2, 3))


def test_loop_wraps_smoothly_and_cubic_has_no_jumps(tmp_path, cache):
    base = dict(checkpoint=SG2, seeds=[1, 2, 3], w_frames=12)
    cubic = _frames(export_video(VideoSpec(output=str(tmp_path / "a/"), kind="cubic", **base), cache=cache))
    boundaries = [0, 12, 24]  # frame 0 is also where the loop wraps from the last frame
    k = _kinks(cubic)
    # A C1 path through the keyframes bends no more at a seed than between seeds, the wrap included.
    assert k[boundaries].max() <= 1.5 * np.median(k), (k[boundaries], np.median(k))
    assert _steps(cubic).max() <= 8 * np.median(_steps(cubic))
    # Linear interpolation turns a corner at every seed: the same measure sees it, so the check can fail.
    linear = _frames(export_video(VideoSpec(output=str(tmp_path / "b/"), kind="linear", **base), cache=cache))
    kl = _kinks(linear)
    assert kl[boundaries].min() > 2 * np.median(kl), (kl[boundaries], np.median(kl))
    # Without loop the last frame is the last keyframe, not a step before the first: a jump back.
    open_ = _frames(export_video(VideoSpec(output=str(tmp_path / "c/"), loop=False, kind="cubic", **base),
                                 cache=cache))
    osteps = _steps(open_)
    assert osteps[-1] > 4 * np.median(osteps[:-1])


def test_seed_layout_matches_gen_video_rules():
    lay = seed_layout([0, 1, 2, 3, 4, 5, 6, 7], cells=4, keyframes=2, shuffle_seed=None)
    assert lay.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    lay = seed_layout([0, 1, 2], cells=2, keyframes=3, shuffle_seed=None)  # seeds repeat with --num-keyframes
    assert lay.tolist() == [[0, 1, 2], [0, 1, 2]]
    shuffled = seed_layout(list(range(8)), 4, 2, shuffle_seed=1)
    assert sorted(shuffled.reshape(-1).tolist()) == list(range(8)) and shuffled.tolist() != lay.tolist()


def test_num_keyframes_and_grid_cells_walk_their_own_seeds(tmp_path, cache):
    G = cache.get(SG2)
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=[3, 4, 5], grid=(2, 1), num_keyframes=2,
                     w_frames=2, kind="linear")
    frames = _frames(export_video(spec, cache=cache))
    assert frames.shape == (4, 32, 64, 3)
    # cells: [3, 4] and [5, 3]
    np.testing.assert_array_equal(frames[0][:, :32], render(G, RenderState(x=3)).image)
    np.testing.assert_array_equal(frames[0][:, 32:], render(G, RenderState(x=5)).image)
    np.testing.assert_array_equal(frames[2][:, 32:], render(G, RenderState(x=3)).image)


def test_slerp_in_z(tmp_path, cache):
    G = cache.get(SG2)
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=[3, 4], w_frames=3, kind="slerp")
    frames = _frames(export_video(spec, cache=cache))
    assert frames.shape[0] == 6
    assert np.abs(frames[0].astype(int) - render(G, RenderState(x=3)).image).max() <= 1


def test_cancel_leaves_no_output(tmp_path, cache):
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(threading.current_thread() is threading.main_thread())
        if done >= 3:
            cancel.set()

    out = tmp_path / "c.mp4"
    with pytest.raises(ExportCancelled):
        export_video(VideoSpec(checkpoint=SG2, output=str(out), seeds=list(range(4)), w_frames=30, batch=2),
                     progress=progress, cancel=cancel, cache=cache)
    assert list(tmp_path.iterdir()) == []
    assert seen and not any(seen)  # frames were encoded off the generating thread


def test_interrupt_leaves_no_output(tmp_path, cache):
    def progress(done, total):
        if done == 2:
            raise KeyboardInterrupt

    for out in (tmp_path / "i.gif", tmp_path / "frames/"):
        with pytest.raises(KeyboardInterrupt):
            export_video(VideoSpec(checkpoint=SG2, output=str(out), seeds=[1, 2], w_frames=10, batch=2),
                         progress=progress, cache=cache)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_fails_before_any_file(tmp_path, cache):
    def bad(**kw):
        base = dict(checkpoint=SG2, output=str(tmp_path / "x.mp4"), seeds=[1, 2])
        base.update(kw)
        with pytest.raises(UserError):
            export_video(VideoSpec(**base), cache=cache)

    bad(layer="no_such_layer")
    bad(translate_anim=(0.1, 2.0))          # StyleGAN2 has no input transform
    bad(untransform=True)
    bad(class_idx=1)                        # unconditional
    bad(output=str(tmp_path / "missing" / "x.mp4"))
    bad(output=str(tmp_path / "x.avi"))
    bad(grid=(3, 1))                        # 2 seeds among 3 cells
    bad(kind="slerp", space="w")
    bad(crf=20, bitrate="4M")
    bad(layer=cache.get(SG2).synthesis.layer_names[0], channels=[0, 1])
    bad(checkpoint=SG3, class_idx=7)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("user data")
    bad(output=str(tmp_path / "full/"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
    assert (tmp_path / "full" / "keep.txt").read_text() == "user data"


def test_layer_video_grey_channel(tmp_path, cache):
    G = cache.get(SG2)
    layer = G.synthesis.layer_names[1]
    frames = _frames(export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "l/"), seeds=[1], w_frames=2,
                                            layer=layer, channels=[2]), cache=cache))
    assert frames.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(frames[..., 0], frames[..., 1])
    r = render(G, RenderState(x=1, layer=layer, base_channel=2, sel_channels=1))
    small = r.layer_image
    step = 32 // small.shape[0]
    np.testing.assert_array_equal(frames[0][::step, ::step], small)  # nearest-neighbour enlargement


def test_side_by_side_and_transform_animation(tmp_path, cache):
    G3 = cache.get(SG3)
    spec = VideoSpec(checkpoint=SG3, side_by_side=SG3, output=str(tmp_path / "t/"), seeds=[4], w_frames=4,
                     class_idx=1, translate_anim=(0.1, 1.0), rotate_anim=45.0, fps=4)
    frames = _frames(export_video(spec, cache=cache))
    assert frames.shape == (4, 32, 64, 3)
    np.testing.assert_array_equal(frames[:, :, :32], frames[:, :, 32:])
    # Frame 1 is at t = 0.25 s: translation on the circle at a quarter period, rotated 11.25 degrees.
    import math
    s = RenderState(x=4, class_idx=1, translate_x=0.1 * math.cos(math.pi / 2), translate_y=0.1 * math.sin(math.pi / 2),
                    rotate=11.25)
    np.testing.assert_array_equal(frames[1][:, :32], render(G3, s).image)
    assert not np.array_equal(frames[0], frames[1])


def test_keyframe_recipe_video(tmp_path, cache):
    G = cache.get(SG2)
    recipe = Recipe(keyframes=[Keyframe(RenderState(checkpoint=SG2, x=1), frames=4),
                               Keyframe(RenderState(checkpoint=SG2, x=2, trunc_psi=0.5), frames=4)], loop=False)
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    path = tmp_path / "r.json"
    recipe.save(path)
    frames = _frames(export_video(VideoSpec(output=str(tmp_path / "rv/"), keyframes=str(path)), cache=cache))
    assert frames.shape[0] == recipe.total_frames == 5
    np.testing.assert_array_equal(frames[0], render(G, RenderState(x=1)).image)
    np.testing.assert_array_equal(frames[-1], render(G, RenderState(x=2, trunc_psi=0.5)).image)
    mid = recipe.state_at(0.5)
    assert mid.x == pytest.approx(1.5) and mid.trunc_psi == pytest.approx(0.75)
    np.testing.assert_array_equal(frames[2], render(G, mid.replace(checkpoint=SG2)).image)
    doc = json.loads(sidecar_paths(str(tmp_path / "rv/"))[0].read_text())
    assert Recipe.from_dict(doc["recipe"]) == recipe
    # A plain list of {state, frames} is a recipe too.
    assert Recipe.from_dict([k.to_dict() for k in recipe.keyframes]).total_frames == 5


def test_recipe_errors(tmp_path):
    with pytest.raises(UserError):
        Recipe.from_dict({"keyframes": []})
    with pytest.raises(UserError):
        Recipe.from_dict([{"state": {"x": "one"}, "frames": 3}])
    with pytest.raises(UserError):
        Recipe.from_dict([{"state": {}, "frames": 0}])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        Recipe.load(bad)


def test_bench_case_measures_both_rates():
    from explorer.video.bench import bench_case
    r = bench_case("toy", ToyGenerator(res=32), (2, 1), frames=6, batch=3)
    assert r.frames == 2 * 3 and r.frame_size == (64, 32)
    assert r.gen_fps > 0 and r.total_fps > 0
    assert r.overhead_pct == pytest.approx((r.gen_fps / r.total_fps - 1) * 100)
    assert "encoding overhead" in r.line()
